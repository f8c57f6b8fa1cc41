"""Return-based figures from end-of-day equity (rules §15), through empyrical.

Daily simple returns come from the end-of-day equity of each session, the starting equity
being the first value: the first session's return is its end equity over the equity it
started with. Sharpe and Sortino are annualised with 252 sessions; the risk-free rate is an
annual rate turned into its daily equivalent ((1 + rf) ** (1/252) - 1), which is what
empyrical's ``risk_free`` / ``required_return`` expect. Drawdown is measured from the running
peak *including the starting equity* (empyrical counts the initial 1.0 as a peak, as the spec
asks): a first session that loses 5% is a 5% drawdown.

empyrical computes every ratio (why a kept library: docs/backtesting.md). What it has no
function for (the drawdown's duration and dates) is an index walk over the same wealth curve,
here.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np
import pandas as pd

from workstation.research.figures import FigureBuilder, Figures


def empyrical() -> ModuleType:
    """empyrical, loaded when a figure is computed: it imports scipy.stats and scipy.optimize
    at its top (~0.5 s of CPU), which every process importing the research package paid (each
    optimizer worker, each CLI command) whether or not it computed a figure."""
    import empyrical as ep

    return ep


TRADING_DAYS = 252

# The figures of :func:`return_figures`, in order.
RETURN_FIGURES: tuple[str, ...] = (
    "sessions",
    "total_return",
    "cagr",
    "annual_volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_duration",
    "max_drawdown_peak",
    "max_drawdown_trough",
    "max_drawdown_recovery",
    "longest_drawdown",
    "calmar",
)


def daily_risk_free(annual_rate: float) -> float:
    """The daily rate that compounds to ``annual_rate`` over 252 sessions."""
    return float((1.0 + annual_rate) ** (1.0 / TRADING_DAYS) - 1.0)


@dataclass(frozen=True)
class EquityCurve:
    """The equity before the first session and at the end of each session.

    ``end_of_day`` is indexed by session (a DatetimeIndex of dates, ascending)."""

    start_equity: float
    end_of_day: pd.Series

    @property
    def sessions(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.end_of_day.index)

    def returns(self) -> pd.Series:
        """Daily simple returns, one per session (empyrical's ``simple_returns`` of the
        values with the starting equity first)."""
        values = np.concatenate([[self.start_equity], self.end_of_day.to_numpy(dtype=float)])
        r = np.asarray(empyrical().simple_returns(values), dtype=float)
        return pd.Series(r, index=self.sessions, name="return")


def drawdown_series(returns: pd.Series) -> pd.Series:
    """Drawdown at each session's end from the running peak (the start counts as a peak)."""
    wealth = _wealth(returns)
    dd = wealth / np.maximum.accumulate(wealth) - 1.0
    return pd.Series(dd[1:], index=returns.index, name="drawdown")


def _wealth(returns: pd.Series) -> np.ndarray:
    """1.0 at the start, then the compounded value after each session."""
    r = np.nan_to_num(returns.to_numpy(dtype=float))  # empyrical counts a NaN day as 0
    return np.concatenate([[1.0], np.cumprod(1.0 + r)])


@dataclass(frozen=True)
class DrawdownEpisode:
    """The deepest drawdown: positions in the wealth curve (0 = the starting equity, k = the
    end of session k), and whether equity came back to the peak before the end."""

    depth: float
    peak: int
    trough: int
    recovery: int | None
    longest: int  # the longest stretch of sessions spent below a previous peak (any episode)
    last: int  # the position of the last session

    @property
    def duration(self) -> int:
        """Sessions from the peak to the recovery, or to the last session if none."""
        if self.depth == 0:
            return 0
        return (self.last if self.recovery is None else self.recovery) - self.peak


def deepest_drawdown(returns: pd.Series) -> DrawdownEpisode:
    wealth = _wealth(returns)
    end = len(wealth) - 1
    running_peak = np.maximum.accumulate(wealth)
    dd = wealth / running_peak - 1.0
    trough = int(np.argmin(dd))
    depth = float(dd[trough])
    longest, run = 0, 0
    for below in dd < 0:
        run = run + 1 if below else 0
        longest = max(longest, run)
    if depth == 0:
        return DrawdownEpisode(0.0, 0, 0, None, 0, end)
    peak = int(np.flatnonzero(wealth[: trough + 1] == running_peak[trough])[-1])
    after = np.flatnonzero(wealth[trough:] >= running_peak[trough])
    recovery = None if len(after) == 0 else trough + int(after[0])
    return DrawdownEpisode(depth, peak, trough, recovery, longest, end)


def _position_label(sessions: pd.DatetimeIndex, pos: int | None) -> str | None:
    if pos is None:
        return None
    return "start" if pos == 0 else sessions[pos - 1].date().isoformat()


def return_figures(returns: pd.Series, *, risk_free_rate: float = 0.0) -> Figures:
    """Total return, CAGR, volatility, Sharpe, Sortino, max drawdown (depth, duration, dates)
    and Calmar of daily ``returns``, each ratio from empyrical with 252 sessions a year."""
    ep = empyrical()
    r = returns.astype(float)
    n = len(r)
    rf = daily_risk_free(risk_free_rate)
    f = FigureBuilder()
    f.add("sessions", n)
    if n == 0:
        for name in RETURN_FIGURES[1:]:
            f.add(name, float("nan"), "no sessions in the period")
        return f.build()
    few = "fewer than 2 sessions: a spread needs at least 2 daily returns"
    flat = "daily returns do not vary (standard deviation 0)"
    f.add("total_return", float(ep.cum_returns_final(r)))
    f.add("cagr", float(ep.annual_return(r, annualization=TRADING_DAYS)))
    f.add(
        "annual_volatility",
        float(ep.annual_volatility(r, annualization=TRADING_DAYS)),
        few,
    )
    sharpe = float(ep.sharpe_ratio(r, risk_free=rf, annualization=TRADING_DAYS))
    f.add("sharpe", sharpe, few if n < 2 else flat)
    sortino = float(ep.sortino_ratio(r, required_return=rf, annualization=TRADING_DAYS))
    no_downside = (
        "no session returned less than the risk-free rate: downside deviation is 0"
        if risk_free_rate
        else "no losing session: downside deviation is 0"
    )
    f.add("sortino", sortino, few if n < 2 else no_downside)
    mdd = float(ep.max_drawdown(r))
    f.add("max_drawdown", mdd)
    episode = deepest_drawdown(r)
    sessions = pd.DatetimeIndex(r.index)
    f.add("max_drawdown_duration", episode.duration)
    never = "no drawdown in the period"
    f.add("max_drawdown_peak", _position_label(sessions, episode.peak) if mdd else None, never)
    f.add("max_drawdown_trough", _position_label(sessions, episode.trough) if mdd else None, never)
    f.add(
        "max_drawdown_recovery",
        _position_label(sessions, episode.recovery),
        never if not mdd else "equity had not regained its peak by the end of the period",
    )
    f.add("longest_drawdown", episode.longest)
    f.add(
        "calmar",
        float(ep.calmar_ratio(r, annualization=TRADING_DAYS)),
        never + ": Calmar divides by the max drawdown",
    )
    return f.build()


__all__ = [
    "RETURN_FIGURES",
    "TRADING_DAYS",
    "DrawdownEpisode",
    "EquityCurve",
    "daily_risk_free",
    "deepest_drawdown",
    "drawdown_series",
    "return_figures",
]
