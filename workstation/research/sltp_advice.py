"""SL/TP advice from MFE/MAE (issue 10 item 4): per strategy, the stop and target multipliers
(in ATRs) that would have given its trades the best expectancy, beside the current ones, with
the trade count and intervals; and when the evidence is thin, a plain "too few" instead.

How (the what-if itself and what daily bars cannot say: :mod:`.sltp_paths`):

1. Every trade is followed under every candidate of a grid of SL x TP multipliers, and under
   the current values. Expectancy is the mean result per unit of the money the sizing risks
   (§10 risks the same money whatever the stop, so a tighter stop buys more shares), with the
   position cap (``max_position_pct``) included: below ``fill / (max_position_pct /
   risk_per_trade)`` a tighter stop buys no more shares, and a plain R of the stop would
   flatter it. Where the cap does not bind this is the trade record's R.
2. **Thin evidence**: with fewer trades than ``min_trades`` (the app's small-sample
   threshold, 30) there is no advice, only the count and the current values' expectancy.
3. **Intervals** come from a bootstrap over the trades (``resamples`` draws, seeded):
   90% intervals (5th to 95th percentile) of the expectancy at the current values and at the
   best candidate.
4. **Better beyond chance?** The best of hundreds of candidates, chosen on the same trades,
   always looks better than the current values: its in-sample edge is partly luck. So the
   improvement is judged out of the bag: in each resample the best candidate is chosen on the
   trades drawn and judged, against the current values, on the trades left out. Advice is
   given only when the 5th percentile of that out-of-bag improvement is above zero; otherwise
   the verdict is "keep" (no candidate is better beyond chance). ``stability`` says how often
   a resample's choice lands within one grid step of the advice.
5. **Agreement**: each trade is also re-simulated with the multipliers it was made with; the
   share of its rule exits (stop, target, time) whose simulated reason matches the recorded
   one, and the two expectancies, say how far the daily-bar model is from what the backtest
   (or the app) actually did. Under ``min_agreement`` (80%) the bars are not the ones the
   trades were made on (a simulated market regenerated from another start): no advice.

Pure: numpy only, no Qt, no store (the trades come in as :class:`~.sltp_paths.TradePath`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from workstation.research.sltp_paths import (
    KEPT,
    REASONS,
    STOP_LOSS,
    TAKE_PROFIT,
    TIME_EXIT,
    ExitRules,
    Outcomes,
    Touch,
    TradePath,
    simulate,
)
from workstation.research.trade_stats import DEFAULT_MIN_TRADES

ADVISE, KEEP, THIN, MISMATCH = "advise", "keep", "thin", "mismatch"
#: Exit reasons a re-simulation can reproduce (a manual exit or the kill switch cannot be).
RULE_EXITS = frozenset(REASONS.values())
#: The two-sided coverage of every interval (5th to 95th percentile).
COVERAGE = 0.90


@dataclass(frozen=True)
class Grid:
    """The candidate multipliers (ATRs), each axis ascending."""

    sl: tuple[float, ...]
    tp: tuple[float, ...]

    @staticmethod
    def steps(lo: float, hi: float, step: float) -> tuple[float, ...]:
        """``lo, lo + step, ... <= hi`` (rounded to 1e-6, so 0.1 steps stay 0.1 steps)."""
        if not (0 < lo <= hi) or step <= 0:
            raise ValueError(f"a grid needs 0 < lo <= hi and step > 0, got {lo}:{hi}:{step}")
        count = int(np.floor((hi - lo) / step + 1e-9)) + 1
        return tuple(round(lo + i * step, 6) for i in range(count))

    def with_point(self, sl: float, tp: float) -> Grid:
        """This grid with ``sl`` and ``tp`` on its axes (the current values are always
        candidates, so "keep them" can win)."""
        return Grid(tuple(sorted({*self.sl, sl})), tuple(sorted({*self.tp, tp})))

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """The candidates as two flat arrays, SL-major."""
        s, t = np.meshgrid(np.array(self.sl), np.array(self.tp), indexing="ij")
        return s.ravel(), t.ravel()


#: SL 0.5 to 4 ATR and TP 0.5 to 8 ATR by quarter ATRs (15 x 31 = 465 candidates).
DEFAULT_GRID = Grid(Grid.steps(0.5, 4.0, 0.25), Grid.steps(0.5, 8.0, 0.25))


@dataclass(frozen=True)
class Settings:
    grid: Grid = DEFAULT_GRID
    touch: Touch = Touch.PESSIMISTIC
    min_trades: int = DEFAULT_MIN_TRADES
    resamples: int = 1000
    seed: int = 0
    #: Below this share of exits reproduced, the bars are not the ones the trades were made on.
    min_agreement: float = 0.8


@dataclass(frozen=True)
class Interval:
    lo: float
    hi: float


@dataclass(frozen=True)
class Candidate:
    """One SL/TP pair over a strategy's trades."""

    sl: float
    tp: float
    expectancy: float  # mean result per unit risked (R, the position cap included)
    interval: Interval | None  # bootstrap, COVERAGE
    win_rate: float
    exits: Mapping[str, int]  # STOP_LOSS / TAKE_PROFIT / TIME_EXIT / KEPT: how many
    ambiguous: int  # trades decided on a day whose range spanned both levels


@dataclass(frozen=True)
class StrategyAdvice:
    strategy: str
    verdict: str  # ADVISE, KEEP, THIN or MISMATCH
    message: str  # one sentence for the trader
    n_trades: int  # trades the advice is computed on
    left_out: int  # trades without the bars to follow them to their exit
    current: Candidate | None  # at the current values (None: no trades)
    made_with: tuple[float, float] | None  # the run's multipliers, when not the current ones
    recorded_expectancy: float | None  # mean recorded R of the trades used
    simulated_expectancy: float | None  # the same trades re-simulated with their own values
    agreement: float | None  # share of the rule exits re-simulated with the recorded reason
    best: Candidate | None = None
    improvement: float | None = None  # best - current, in-sample
    improvement_oob: Interval | None = None  # out of the bag (see module doc)
    stability: float | None = None
    at_edge: tuple[str, ...] = ()  # the best on the grid's edge: "SL low", "TP high", ...
    other_touch_expectancy: float | None = None  # the best under the other touch assumption
    surface: np.ndarray | None = field(default=None, repr=False, compare=False)  # (SL, TP)
    axes: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())  # the surface's SL and TP


@dataclass(frozen=True)
class Advice:
    """The advice for each strategy, and what it was computed with."""

    strategies: tuple[StrategyAdvice, ...]
    settings: Settings
    rules: ExitRules
    assumptions: tuple[str, ...]

    def get(self, strategy: str) -> StrategyAdvice | None:
        return next((a for a in self.strategies if a.strategy == strategy), None)

    def only(self, strategies: Sequence[str]) -> Advice:
        """The advice for ``strategies`` alone."""
        return replace(
            self, strategies=tuple(a for a in self.strategies if a.strategy in strategies)
        )


def assumptions(rules: ExitRules, touch: Touch) -> tuple[str, ...]:
    """What the advice assumes where daily bars are silent, in the trader's words."""
    first = "the stop" if touch is Touch.PESSIMISTIC else "the target"
    return (
        f"A day whose range spans both the stop and the target is taken to touch {first} "
        f"first ({touch.value}; daily bars do not say which came first).",
        "A level the open gapped through exits at the open; a level touched during the day "
        "exits at the level.",
        f"The time exit on day {rules.time_exit_day} is taken at that day's close.",
        "The entry day is not re-simulated (its bar includes prices from before the entry): "
        "a trade that ended on it keeps its exit.",
        f"Each simulated exit pays {rules.slippage_bps:g} bps of slippage; commission and "
        "fees are left out.",
        "Expectancy is per unit of the money a trade risks (R), with each candidate's own "
        "stop sizing the trade and the position cap included; the drawdown halving, the "
        "portfolio limits and the effect of one trade on the next are not re-simulated.",
    )


def _candidate(
    out: Outcomes, rows: np.ndarray, g: int, sl: float, tp: float, boot: np.ndarray | None
) -> Candidate:
    r = out.risked[rows, g]
    code = out.code[rows, g]
    exits = {
        "STOP_LOSS": int((code == STOP_LOSS).sum()),
        "TAKE_PROFIT": int((code == TAKE_PROFIT).sum()),
        "TIME_EXIT": int((code == TIME_EXIT).sum()),
        "KEPT": int((code == KEPT).sum()),
    }
    interval = None
    if boot is not None:
        lo, hi = np.percentile(boot[:, g], [50 * (1 - COVERAGE), 50 * (1 + COVERAGE)])
        interval = Interval(float(lo), float(hi))
    return Candidate(
        sl=sl,
        tp=tp,
        expectancy=float(r.mean()) if len(r) else float("nan"),
        interval=interval,
        win_rate=float((r > 0).mean()) if len(r) else float("nan"),
        exits=exits,
        ambiguous=int(out.ambiguous[rows, g].sum()),
    )


def _edges(grid: Grid, sl: float, tp: float) -> tuple[str, ...]:
    edges = []
    if len(grid.sl) > 1 and sl == grid.sl[0]:
        edges.append("SL low")
    if len(grid.sl) > 1 and sl == grid.sl[-1]:
        edges.append("SL high")
    if len(grid.tp) > 1 and tp == grid.tp[0]:
        edges.append("TP low")
    if len(grid.tp) > 1 and tp == grid.tp[-1]:
        edges.append("TP high")
    return tuple(edges)


def advise_strategy(
    strategy: str,
    paths: Sequence[TradePath],
    current: tuple[float, float],
    rules: ExitRules,
    settings: Settings = Settings(),
) -> StrategyAdvice:
    """The advice for one strategy's trades (``current``: its SL and TP multipliers now)."""
    cur_sl, cur_tp = current
    grid = settings.grid.with_point(cur_sl, cur_tp)
    s, t = grid.pairs()
    out = simulate(paths, s.reshape(1, -1), t.reshape(1, -1), rules, settings.touch)
    own = simulate(
        paths,
        np.array([p.sl_mult for p in paths]).reshape(-1, 1),
        np.array([p.tp_mult for p in paths]).reshape(-1, 1),
        rules,
        settings.touch,
    )
    rows = np.flatnonzero(out.complete & own.complete & np.isfinite(out.risked).all(axis=1))
    n = len(rows)
    left_out = len(paths) - n
    cur = int(np.flatnonzero((s == cur_sl) & (t == cur_tp))[0])
    made = {(p.sl_mult, p.tp_mult) for p in paths}
    made_with = next(iter(made)) if len(made) == 1 and made != {current} else None
    if n == 0:
        return StrategyAdvice(
            strategy, THIN, _thin_message(0, left_out, settings), 0, left_out,
            None, made_with, None, None, None,
        )  # fmt: skip
    used = [paths[i] for i in rows]
    recorded = float(np.mean([p.r for p in used]))
    own_r = own.r[rows, 0]
    checked = [i for i in rows if own.code[i, 0] != KEPT and paths[i].reason in RULE_EXITS]
    agree = (
        float(np.mean([REASONS.get(int(own.code[i, 0])) == paths[i].reason for i in checked]))
        if checked
        else None
    )
    common = dict(
        strategy=strategy,
        n_trades=n,
        left_out=left_out,
        made_with=made_with,
        recorded_expectancy=recorded,
        simulated_expectancy=float(own_r.mean()),
        agreement=agree,
    )
    if agree is not None and agree < settings.min_agreement:
        return StrategyAdvice(
            verdict=MISMATCH, message=_mismatch_message(agree, len(checked)), current=None,
            **common,
        )  # fmt: skip
    if n < _needed(settings):
        return StrategyAdvice(
            verdict=THIN,
            message=_thin_message(n, left_out, settings),
            current=_candidate(out, rows, cur, cur_sl, cur_tp, None),
            **common,
        )
    r = out.risked[rows]
    rng = np.random.default_rng(settings.seed)
    draws = rng.multinomial(n, np.full(n, 1.0 / n), size=settings.resamples).astype(float)
    boot = draws @ r / n  # (resamples, candidates): each resample's expectancy
    mean = r.mean(axis=0)
    best = int(np.argmax(mean))  # ties: the first, i.e. the tightest pair
    left = draws == 0  # out of the bag: the trades a resample did not draw
    n_left = left.sum(axis=1)
    ok = n_left > 0
    chosen = np.argmax(boot, axis=1)
    oob = (left.astype(float) @ r)[ok] / n_left[ok, None]
    gain = oob[np.arange(len(oob)), chosen[ok]] - oob[:, cur]
    lo, hi = np.percentile(gain, [50 * (1 - COVERAGE), 50 * (1 + COVERAGE)])
    n_tp = len(grid.tp)
    near = (np.abs(chosen // n_tp - best // n_tp) <= 1) & (np.abs(chosen % n_tp - best % n_tp) <= 1)
    current_c = _candidate(out, rows, cur, cur_sl, cur_tp, boot)
    best_c = _candidate(out, rows, best, float(s[best]), float(t[best]), boot)
    other = Touch.OPTIMISTIC if settings.touch is Touch.PESSIMISTIC else Touch.PESSIMISTIC
    other_out = simulate(
        used, np.array([[s[best]]]), np.array([[t[best]]]), rules, other
    )  # the same pair under the other assumption: how much the assumption matters
    verdict = ADVISE if (best != cur and lo > 0) else KEEP
    advice = StrategyAdvice(
        verdict=verdict,
        message="",
        current=current_c,
        best=best_c,
        improvement=float(mean[best] - mean[cur]),
        improvement_oob=Interval(float(lo), float(hi)),
        stability=float(near.mean()),
        at_edge=_edges(grid, float(s[best]), float(t[best])),
        other_touch_expectancy=float(other_out.risked[:, 0].mean()),
        surface=mean.reshape(len(grid.sl), n_tp),
        axes=(grid.sl, grid.tp),
        **common,
    )
    return _with_message(advice, settings)


def _mismatch_message(agreement: float, checked: int) -> str:
    return (
        f"No advice: the daily bars at hand do not reproduce these trades (followed with the "
        f"values they were made with, only {agreement:.0%} of {checked} exits come out as "
        "recorded). A what-if needs the bars the trades were made on: a backtest keeps them, "
        "a replay file or Alpaca serves them again, but a simulated market's history "
        "depends on the date it starts from (sim.today, or run --from)."
    )


def _needed(settings: Settings) -> int:
    """The fewest trades advised on: ``min_trades``, and never one (a bootstrap of one trade
    leaves none out of the bag to judge a choice on)."""
    return max(settings.min_trades, 2)


def _thin_message(n: int, left_out: int, settings: Settings) -> str:
    extra = f" ({left_out} more without the bars to follow them)" if left_out else ""
    return (
        f"{n} trades{extra}: too few to advise (at least {_needed(settings)} are needed); "
        "the expectancy of so few trades is an anecdote, not evidence."
    )


def _with_message(a: StrategyAdvice, settings: Settings) -> StrategyAdvice:
    assert a.best is not None and a.current is not None and a.improvement_oob is not None
    b, c, oob = a.best, a.current, a.improvement_oob
    edge = (
        f" It lies on the edge of the grid searched ({', '.join(a.at_edge)})." if a.at_edge else ""
    )
    if a.verdict == ADVISE:
        text = (
            f"SL {b.sl:g} / TP {b.tp:g} ATR would have given {b.expectancy:+.2f}R per trade "
            f"over {a.n_trades} trades, against {c.expectancy:+.2f}R at the current "
            f"SL {c.sl:g} / TP {c.tp:g}; judged on trades left out of each resample it "
            f"improves by {oob.lo:+.2f}R to {oob.hi:+.2f}R.{edge}"
        )
    elif b.sl == c.sl and b.tp == c.tp:
        text = (
            f"Keep SL {c.sl:g} / TP {c.tp:g}: no other pair did better over "
            f"{a.n_trades} trades ({c.expectancy:+.2f}R per trade)."
        )
    else:
        text = (
            f"Keep SL {c.sl:g} / TP {c.tp:g}: the best pair, SL {b.sl:g} / TP {b.tp:g} "
            f"({b.expectancy:+.2f}R against {c.expectancy:+.2f}R), is not better beyond "
            f"chance (out of the bag {oob.lo:+.2f}R to {oob.hi:+.2f}R).{edge}"
        )
    return replace(a, message=text)


def advise(
    paths: Sequence[TradePath],
    current: Mapping[str, tuple[float, float]],
    rules: ExitRules,
    settings: Settings = Settings(),
) -> Advice:
    """The advice for every strategy of ``current`` (its current SL and TP multipliers) and
    every strategy that has trades, in ``current``'s order."""
    by: dict[str, list[TradePath]] = {}
    for p in paths:
        by.setdefault(p.strategy, []).append(p)
    names = [*current, *sorted(set(by) - set(current))]
    out = []
    for name in names:
        trades = by.get(name, [])
        now = current.get(name) or (trades[0].sl_mult, trades[0].tp_mult)
        out.append(advise_strategy(name, trades, now, rules, settings))
    return Advice(tuple(out), settings, rules, assumptions(rules, settings.touch))


__all__ = [
    "ADVISE",
    "COVERAGE",
    "DEFAULT_GRID",
    "KEEP",
    "MISMATCH",
    "THIN",
    "Advice",
    "Candidate",
    "Grid",
    "Interval",
    "Settings",
    "StrategyAdvice",
    "advise",
    "advise_strategy",
    "assumptions",
]
