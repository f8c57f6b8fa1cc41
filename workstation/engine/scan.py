"""The nightly scan as one pure function: daily bars in, ranked top 12 out (rules §2-§6).

No I/O and no clock here: :mod:`workstation.engine.scanner` loads the bars, runs this in
an executor, persists the result and publishes events; the backtester calls it directly.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from workstation.core.bars import BarFlag, DailyBars
from workstation.core.config import Config
from workstation.core.models import Candidate, Regime, Universe
from workstation.market.validation import (
    DUPLICATE_CONFLICT,
    INVALID_BAR,
    SPIKE,
    BarReport,
    problems_in,
    validate_bars,
)
from workstation.signals.indicators import IndicatorParams, Indicators, compute_indicators
from workstation.signals.ranking import RankingResult, rank_candidates
from workstation.signals.regime import RegimeError, RegimeResult, classify_regime
from workstation.signals.strategy_api import StrategyInputs, evaluate_all


class ScanError(RuntimeError):
    """The scan cannot produce a result (the message says what is missing)."""


@dataclass(frozen=True)
class ScanReport:
    """Counts of the scan report (§6): loaded / eligible / stale / failed, and why."""

    session: date
    regime: str
    universe: int
    loaded: int
    eligible: int
    stale: tuple[str, ...]
    failed: tuple[str, ...]
    ineligible: dict[str, int]
    duration_s: float
    param_hash: str
    regime_values: dict[str, Any] = field(default_factory=dict)
    # §14: every problem in the bars the scan read, by kind and symbol (with sessions).
    data_problems: BarReport = field(default_factory=BarReport)

    def as_dict(self) -> dict[str, Any]:
        return {
            "session": self.session.isoformat(),
            "regime": self.regime,
            "universe": self.universe,
            "loaded": self.loaded,
            "eligible": self.eligible,
            "stale": len(self.stale),
            "stale_symbols": list(self.stale),
            "failed": len(self.failed),
            "failed_symbols": list(self.failed),
            "ineligible": dict(self.ineligible),
            "duration_s": round(self.duration_s, 4),
            "param_hash": self.param_hash,
            "regime_values": self.regime_values,
            "data_problems": self.data_problems.as_dict(),
        }


@dataclass(frozen=True, eq=False)
class ScanResult:
    session: date
    regime: RegimeResult
    ranking: RankingResult
    report: ScanReport
    indicators: Indicators = field(repr=False)

    @property
    def candidates(self) -> tuple[Candidate, ...]:
        return self.ranking.candidates


def indicator_params(cfg: Config) -> IndicatorParams:
    i = cfg.scanner.indicators
    return IndicatorParams(
        rsi_window=i.rsi_window,
        bb_window=i.bb_window,
        bb_dev=i.bb_dev,
        bw_pct_window=i.bw_pct_window,
        adx_window=i.adx_window,
        atr_window=i.atr_window,
        sma_fast=i.sma_fast,
        sma_slow=i.sma_slow,
        ema_window=i.ema_window,
        roc_window=i.roc_window,
        dv_window=i.dv_window,
    )


def scan_session(
    bars: DailyBars, universe: Universe, session: date, cfg: Config, *, failed: tuple[str, ...] = ()
) -> ScanResult:
    """Scan ``session``: indicators, eligibility, regime, strategies, ranking.

    ``bars`` must hold the universe and the benchmark (extra columns are ignored);
    bars after ``session`` are ignored. ``failed`` names symbols whose data could not
    be loaded at all (they are counted, never scanned).

    The indicators read every bar given up to ``session`` (the Wilder smoothers and the EMA
    start at a symbol's first one), so a symbol with a bar that is not served anywhere in them
    (trading rules §14: ``invalid_bar``, ``duplicate_conflict``, ``spike``) is ineligible.
    Bars that did not come through a market's validation (``bars.flags`` None) are validated
    here, without spike detection (that needs the next session).
    """
    started = time.perf_counter()
    bench = universe.benchmark
    if bench not in bars:
        raise ScanError(
            f"the benchmark {bench} has no data: the regime cannot be classified "
            f"(add {bench} to the market data)"
        )
    # ``failed`` symbols are counted, never scanned, even if the bars hold a column for them.
    wanted = [s for s in universe.symbols if s in bars and s != bench and s not in failed]
    missing = tuple(sorted({s for s in universe.symbols if s not in bars} | set(failed)))
    bars = bars.upto(session).select([*wanted, bench])
    if bars.n_sessions == 0 or bars.dates[-1] != np.datetime64(session, "D"):
        raise ScanError(f"no bars for the session {session} in the market data")
    if bars.flags is None:
        bars = validate_bars(bars).bars

    ind = compute_indicators(bars, indicator_params(cfg))
    n = len(wanted)
    last = ind.last_date[:n]
    unserved = {
        INVALID_BAR: bars.flagged(BarFlag.INVALID).any(axis=0)[:n],
        DUPLICATE_CONFLICT: bars.flagged(BarFlag.DUPLICATE_CONFLICT).any(axis=0)[:n],
        SPIKE: bars.flagged(BarFlag.SPIKE).any(axis=0)[:n],
    }
    has_bad_bar = np.logical_or.reduce(list(unserved.values()))
    # A symbol whose bars were all bad, or whose scan-session bar is bad, is named for the bad
    # bars, not counted as failed or stale.
    has_bars = (ind.n_bars[:n] > 0) | has_bad_bar
    stale_mask = has_bars & (last != np.datetime64(session, "D")) & ~has_bad_bar
    no_data = ~has_bars

    j_bench = n
    if ind.last_date[j_bench] != np.datetime64(session, "D"):
        raise ScanError(f"the benchmark {bench} has no bar for {session}: its data is stale")
    regime = _regime(ind, j_bench, cfg, bench)

    e = cfg.scanner.eligibility
    today = {name: ind.last(name)[:n] for name in ind.names}
    checks = {
        **unserved,
        "too_few_bars": ind.n_bars[:n] < e.min_bars,
        "close_below_min": ~(today["close"] >= e.min_close),
        "dollar_volume_below_min": ~(today["dv20"] >= e.min_dv20),
        "indicator_not_finite": ~ind.all_finite()[:n],
    }
    eligible = has_bars & ~stale_mask
    ineligible: dict[str, int] = {}
    for reason, bad in checks.items():
        # Count each symbol once, under the first rule it fails (the order above).
        hit = eligible & bad
        ineligible[reason] = int(hit.sum())
        eligible &= ~bad

    symbols = tuple(wanted)
    inputs = StrategyInputs.from_arrays(
        symbols, today, ind.prev("bw_pct")[:n], eligible, regime.regime
    )
    results = evaluate_all(inputs, cfg.strategies)
    ranking = rank_candidates(
        session,
        inputs,
        universe.sectors,
        results,
        cfg.strategies,
        cfg.scanner.regime,
        cfg.scanner.ranking,
    )
    stale = tuple(s for s, m in zip(symbols, stale_mask, strict=True) if m)
    failed_all = tuple(
        sorted(set(missing) | {s for s, m in zip(symbols, no_data, strict=True) if m})
    )
    report = ScanReport(
        session=session,
        regime=str(regime.regime),
        universe=len(universe.symbols),
        loaded=int(has_bars.sum()),
        eligible=int(eligible.sum()),
        stale=stale,
        failed=failed_all,
        ineligible=ineligible,
        duration_s=time.perf_counter() - started,
        param_hash=cfg.param_hash,
        regime_values=_finite_dict(regime.as_dict()),
        data_problems=problems_in(bars),
    )
    return ScanResult(session, regime, ranking, report, ind)


def _regime(ind: Indicators, j: int, cfg: Config, bench: str) -> RegimeResult:
    closes = ind["close"][:, j]
    closes = closes[np.isfinite(closes)]
    try:
        return classify_regime(
            closes,
            float(ind.last("adx14")[j]),
            float(ind.last("sma50")[j]),
            float(ind.last("sma200")[j]),
            cfg.scanner.regime,
            benchmark=bench,
        )
    except RegimeError as exc:
        raise ScanError(str(exc)) from exc


def regime_history(bars: DailyBars, cfg: Config, benchmark: str = "SPY") -> list[Regime | None]:
    """The regime of every session of ``bars``, as the scan of that session classifies it
    (section 5, from ``benchmark``'s bars up to the session); None where its indicators do
    not exist yet (before sma200). One indicator pass for the whole history: a replay, a
    backtest or the simulated market's own checks, instead of one scan per session."""
    if benchmark not in bars:
        raise ScanError(f"the benchmark {benchmark} has no data: no regimes to classify")
    ind = compute_indicators(bars.select([benchmark]), indicator_params(cfg))
    rows = {d: i for i, d in enumerate(bars.dates)}
    out: list[Regime | None] = [None] * bars.n_sessions
    n = int(ind.n_bars[0])
    first = ind.n_rows - n
    close = ind["close"][first:, 0]
    finite = np.isfinite(close)
    closes, upto = close[finite], np.cumsum(finite)  # the finite closes, as _regime takes them
    adx, sma50, sma200 = (ind[k][first:, 0] for k in ("adx14", "sma50", "sma200"))
    for k, day in enumerate(ind.row_dates[first:, 0]):
        if not (math.isfinite(adx[k]) and math.isfinite(sma50[k]) and math.isfinite(sma200[k])):
            continue
        try:
            res = classify_regime(
                closes[: upto[k]], adx[k], sma50[k], sma200[k], cfg.scanner.regime, benchmark
            )
        except RegimeError:
            continue  # a missing close in the volatility window: no regime that session
        out[rows[day]] = res.regime
    return out


def _finite_dict(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def regime_of(result: ScanResult) -> Regime:
    return result.regime.regime
