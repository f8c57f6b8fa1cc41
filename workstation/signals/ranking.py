"""Percentiles, the composite score and the sector-capped top 12 (trading rules §4, §6).

For each fired, permitted (symbol, strategy)::

    score = 100 * (w_s*strength + w_l*liquidity + w_rr*min(1, (tp/sl)/rr_full) + w_fit*fit)

``liquidity`` is the ``dv20`` percentile among the eligible symbols, ``fit`` 1.0 when
the strategy is preferred in the regime, 0.5 when merely allowed. One candidate per
symbol (its highest score; on a tie, the strategy listed first); ordered by score
desc, ``dv20`` desc, symbol asc; walked, taking a candidate unless its sector
already has ``max_per_sector`` taken, stopping at ``top_n``.

"A tie" is judged with the rules' float tolerance (:mod:`workstation.engine.rules.numeric`):
scores that are equal as fractions can differ in their last bits as floats
(``64.5`` vs ``64.49999999999999``), and letting that noise order them would bypass the
spec's tie-breaks. Scores (and ``dv20`` values) within ``REL_TOL`` of each other are equal.

Everything up to the walk is vectorised over symbols; the walk itself only visits
the (few) candidates, so a 503-symbol ranking takes well under a millisecond or so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from workstation.core.config import RankingConfig, RegimeConfig, RegimeLimits, StrategyParams
from workstation.core.models import Candidate, Regime, ScoreParts
from workstation.engine.rules.numeric import REL_TOL, below

if TYPE_CHECKING:
    from workstation.signals.strategy_api import Explanation, StrategyInputs, StrategyResult

PREFERRED = "preferred"
ALLOWED = "allowed"
NOT_PERMITTED = "not permitted"


def permission_in(strategy: str, limits: RegimeLimits) -> str:
    """Whether ``strategy`` may fire in a regime (trading rules §5): PREFERRED, ALLOWED or
    NOT_PERMITTED (it produces no candidate)."""
    if strategy in limits.preferred:
        return PREFERRED
    if strategy in limits.allowed:
        return ALLOWED
    return NOT_PERMITTED


def percentile_rank(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``rank(pct=True, method="max")`` of ``values`` among the symbols where ``mask`` is true.

    Equal to pandas' ``s[mask].rank(pct=True, method="max")``: the share of the
    masked (non-NaN) values that are ``<=`` each value. NaN outside the mask and
    for NaN values.
    """
    v = np.asarray(values, dtype=np.float64)
    m = np.asarray(mask, dtype=bool) & ~np.isnan(v)
    out = np.full(v.shape, np.nan)
    sel = v[m]
    if sel.size:
        # side="right": ties all get the highest rank (method="max").
        out[m] = np.searchsorted(np.sort(sel), sel, side="right") / sel.size
    return out


@dataclass(frozen=True)
class Scored:
    """A (symbol, strategy) with its score: the unit the walk orders."""

    position: int  # 1-based place in the score order (one entry per symbol)
    symbol: str
    sector: str
    strategy: str
    score: float
    parts: ScoreParts
    dv20: float
    fit: str  # "preferred" or "allowed"

    def as_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "symbol": self.symbol,
            "sector": self.sector,
            "strategy": self.strategy,
            "score": self.score,
            "parts": {
                "strength": self.parts.strength,
                "liquidity": self.parts.liquidity,
                "reward_risk": self.parts.reward_risk,
                "fit": self.parts.fit,
            },
            "dv20": self.dv20,
            "fit": self.fit,
        }


@dataclass(frozen=True)
class PassedOver:
    """A candidate that was not taken, and why."""

    entry: Scored
    kind: str  # "sector_cap" (skipped in the walk) or "below_cut" (top_n already taken)
    reason: str
    blocked_by: tuple[str, ...] = ()  # sector_cap: the symbols already taken in the sector

    @property
    def symbol(self) -> str:
        return self.entry.symbol

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.entry.as_dict(),
            "kind": self.kind,
            "reason": self.reason,
            "blocked_by": list(self.blocked_by),
        }


@dataclass(frozen=True)
class Superseded:
    """A strategy that fired for a symbol whose candidate is another strategy's."""

    symbol: str
    strategy: str
    score: float
    kept_strategy: str
    kept_score: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "strategy": self.strategy,
            "score": self.score,
            "kept_strategy": self.kept_strategy,
            "kept_score": self.kept_score,
        }


@dataclass(frozen=True, eq=False)
class RankingResult:
    """The top candidates and the story of how they were chosen."""

    session: date
    regime: Regime
    candidates: tuple[Candidate, ...]
    passed_over: tuple[PassedOver, ...]  # sector cap, in walk order
    runners_up: tuple[PassedOver, ...]  # not reached: top_n were already taken
    superseded: tuple[Superseded, ...]
    fired: Mapping[str, int]  # strategy -> eligible symbols it fired for
    suppressed: Mapping[str, int]  # strategy (not permitted in the regime) -> fires dropped
    permission: Mapping[str, str]  # strategy -> "preferred" / "allowed" / "not permitted"
    _results: Mapping[str, StrategyResult] = field(repr=False, default_factory=dict)
    _index: Mapping[str, int] = field(repr=False, default_factory=dict)

    def explain(self, symbol: str, strategy: str | None = None) -> Explanation:
        """Why ``strategy`` (default: the symbol's candidate's) fired for ``symbol``."""
        if strategy is None:
            strategy = next((c.strategy for c in self.candidates if c.symbol == symbol), None)
            if strategy is None:
                strategy = next(
                    (
                        p.entry.strategy
                        for p in (*self.passed_over, *self.runners_up)
                        if p.symbol == symbol
                    ),
                    None,
                )
        if strategy is None or strategy not in self._results or symbol not in self._index:
            raise KeyError(f"no ranked entry for {symbol}" + (f" / {strategy}" if strategy else ""))
        return self._results[strategy].explain(self._index[symbol])

    def report_dict(self) -> dict[str, Any]:
        """Everything but the candidates, as plain data for the scan report."""
        return {
            "regime": str(self.regime),
            "fired": dict(self.fired),
            "suppressed": dict(self.suppressed),
            "permission": dict(self.permission),
            "passed_over": [p.as_dict() for p in self.passed_over],
            "runners_up": [p.as_dict() for p in self.runners_up],
            "superseded": [s.as_dict() for s in self.superseded],
        }


def tie_classes_desc(values: np.ndarray) -> np.ndarray:
    """Per value, a class number that orders ``values`` descending with float noise as ties.

    Values are visited from the largest; each class is anchored at its largest member and
    holds every following value not :func:`~workstation.engine.rules.numeric.below` that
    anchor, so a class never spans more than the tolerance (no chaining of small gaps).
    Class 0 is the largest; sort ascending on the class for "descending, ties equal".
    """
    v = np.asarray(values, dtype=np.float64)
    out = np.empty(v.shape, dtype=np.int64)
    klass, anchor = -1, 0.0
    for k in np.argsort(-v, kind="stable").tolist():
        x = float(v[k])
        if klass < 0 or below(x, anchor):
            klass, anchor = klass + 1, x
        out[k] = klass
    return out


def _sector_list(symbols: Sequence[str], sectors: Sequence[str] | Mapping[str, str]) -> list[str]:
    if isinstance(sectors, Mapping):
        return [sectors.get(s, "Unknown") for s in symbols]
    out = list(sectors)
    if len(out) != len(symbols):
        raise ValueError(f"{len(out)} sectors given for {len(symbols)} symbols")
    return out


def rank_candidates(
    session: date,
    data: StrategyInputs,
    sectors: Sequence[str] | Mapping[str, str],
    results: Mapping[str, StrategyResult],
    params: Mapping[str, StrategyParams],
    regime_cfg: RegimeConfig,
    ranking_cfg: RankingConfig,
    strategy_order: Sequence[str] | None = None,
) -> RankingResult:
    """The ranked top ``top_n`` of one scan (trading rules §6).

    ``sectors``: per symbol (aligned with ``data.symbols``) or a symbol -> sector
    mapping (missing symbols: ``Unknown``, itself capped like any sector).
    ``results``: the strategies' results by name; ``params`` their parameters
    (SL/TP multipliers, side, group; disabled ones are ignored).
    ``strategy_order``: the tie-break order (default: the order of ``params``,
    i.e. of strategies.yaml).
    """
    regime = data.regime
    symbols = data.symbols
    n = len(symbols)
    sector_of = _sector_list(symbols, sectors)
    order = list(strategy_order) if strategy_order is not None else list(params)
    order += [k for k in results if k not in order]
    names = [k for k in order if k in results and k in params and params[k].enabled]

    limits = regime_cfg.limits(regime)
    permission: dict[str, str] = {}
    fired: dict[str, int] = {}
    suppressed: dict[str, int] = {}
    rows: list[str] = []
    fits: list[float] = []
    for name in names:
        count = int(np.count_nonzero(results[name].fires))
        fired[name] = count
        permission[name] = fit = permission_in(name, limits)
        if fit == PREFERRED:
            fits.append(ranking_cfg.fit_preferred)
        elif fit == ALLOWED:
            fits.append(ranking_cfg.fit_allowed)
        else:
            suppressed[name] = count
            continue
        rows.append(name)

    liquidity = data.dv20_pct
    s = len(rows)
    scores = np.full((max(s, 1), n), -np.inf)
    strengths = np.zeros((max(s, 1), n))
    rr_parts = np.zeros(max(s, 1))
    for r, name in enumerate(rows):
        res, p = results[name], params[name]
        rr_parts[r] = min(1.0, (p.tp_atr / p.sl_atr) / ranking_cfg.reward_risk_full)
        sc = 100.0 * (
            ranking_cfg.w_strength * res.strength
            + ranking_cfg.w_liquidity * liquidity
            + ranking_cfg.w_reward_risk * rr_parts[r]
            + ranking_cfg.w_fit * fits[r]
        )
        ok = res.fires & np.isfinite(sc)
        scores[r] = np.where(ok, sc, -np.inf)
        strengths[r] = res.strength

    # The first strategy (in the listed order) whose score ties the maximum within the rules'
    # tolerance wins; argmax over the boolean "ties the maximum" picks the first such row.
    top = scores.max(axis=0)
    with np.errstate(invalid="ignore"):
        ties_top = scores >= top - REL_TOL * np.maximum(np.abs(scores), np.abs(top))
    best_row = np.argmax(ties_top & (scores > -np.inf), axis=0)
    cols = np.arange(n)
    best = scores[best_row, cols]
    idx = np.flatnonzero(best > -np.inf)

    superseded: list[Superseded] = []
    if s > 1 and idx.size:
        multi = idx[np.count_nonzero(scores[:, idx] > -np.inf, axis=0) > 1]
        for i in multi:
            kept = int(best_row[i])
            for r in range(s):
                if r != kept and scores[r, i] > -np.inf:
                    superseded.append(
                        Superseded(
                            symbols[i], rows[r], float(scores[r, i]), rows[kept], float(best[i])
                        )
                    )

    # Order: score desc, dv20 desc, symbol asc (np.lexsort: last key is the primary one),
    # scores and dv20 compared as tie classes so float noise falls through to the tie-breaks.
    sym_rank = np.empty(n, dtype=np.int64)
    sym_rank[np.argsort(np.array(symbols, dtype=str), kind="stable")] = cols
    keys = (sym_rank[idx], tie_classes_desc(data.dv20[idx]), tie_classes_desc(best[idx]))
    ordered = idx[np.lexsort(keys)]

    def scored(pos: int, i: int) -> Scored:
        r = int(best_row[i])
        return Scored(
            position=pos,
            symbol=symbols[i],
            sector=sector_of[i],
            strategy=rows[r],
            score=float(best[i]),
            parts=ScoreParts(
                float(strengths[r, i]), float(liquidity[i]), float(rr_parts[r]), fits[r]
            ),
            dv20=float(data.dv20[i]),
            fit=permission[rows[r]],
        )

    taken: list[tuple[Scored, int]] = []
    by_sector: dict[str, list[str]] = {}
    passed_over: list[PassedOver] = []
    runners_up: list[PassedOver] = []
    cap, top_n = ranking_cfg.max_per_sector, ranking_cfg.top_n
    for pos, i in enumerate(ordered.tolist(), start=1):
        if len(taken) >= top_n:
            runners_up.append(
                PassedOver(scored(pos, i), "below_cut", f"the top {top_n} were already taken")
            )
            continue
        sec = sector_of[i]
        held = by_sector.setdefault(sec, [])
        if len(held) >= cap:
            passed_over.append(
                PassedOver(
                    scored(pos, i),
                    "sector_cap",
                    f"sector {sec} already has {len(held)} taken: {', '.join(held)}",
                    tuple(held),
                )
            )
            continue
        held.append(symbols[i])
        taken.append((scored(pos, i), i))

    candidates = []
    for rank, (e, i) in enumerate(taken, start=1):
        p = params[e.strategy]
        used = results[e.strategy].indicators(i)
        used.update(
            close=float(data.close[i]),
            atr14=float(data.atr14[i]),
            dv20=float(data.dv20[i]),
            dv20_pct=float(liquidity[i]),
        )
        candidates.append(
            Candidate(
                session=session,
                rank=rank,
                symbol=e.symbol,
                sector=e.sector,
                strategy=e.strategy,
                side=p.side,
                group=p.group,
                score=e.score,
                parts=e.parts,
                strength=e.parts.strength,
                close=float(data.close[i]),
                atr14=float(data.atr14[i]),
                sl_mult=p.sl_atr,
                tp_mult=p.tp_atr,
                regime=regime,
                indicators=MappingProxyType(used),
            )
        )

    return RankingResult(
        session=session,
        regime=regime,
        candidates=tuple(candidates),
        passed_over=tuple(passed_over),
        runners_up=tuple(runners_up),
        superseded=tuple(superseded),
        fired=MappingProxyType(fired),
        suppressed=MappingProxyType(suppressed),
        permission=MappingProxyType(permission),
        _results=MappingProxyType(dict(results)),
        _index=MappingProxyType({sym: k for k, sym in enumerate(symbols)}),
    )
