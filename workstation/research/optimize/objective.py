"""What a search maximises, measured on any stretch of sessions of a trial's run.

A trial is one backtest over the search's whole span. Its daily returns and closed trades
come back from the worker; the figures of any segment (the whole period, a window's training
sessions, its test sessions) are computed here from that one run with the backtester's own
functions (:func:`~workstation.research.returns.return_figures` through empyrical,
:func:`~workstation.research.trade_stats.trade_figures`), so a search's Sharpe is the Sharpe
``workstation backtest`` reports.

A segment's daily returns are the run's returns over its sessions: the account carries its
positions and drawdown state in from the sessions before, as it would have if the parameters
had been traded all along; nothing after the segment is read.

``--min-trades N``: a segment with fewer closed trades than N has no objective value (too few
to say anything); the trial is kept, its value is null with the reason, and it is never
chosen. A figure that is not defined for the sample (a Sharpe of flat returns, a profit factor
without losing trades) is null the same way, with the backtester's reason.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from workstation.research.figures import FigureBuilder, Figures, json_value
from workstation.research.returns import return_figures
from workstation.research.trade_stats import trade_figures
from workstation.store import TradeRow
from workstation.store import convert as cv

#: --objective name -> the figure it maximises.
OBJECTIVES: Mapping[str, str] = {
    "sharpe": "sharpe",
    "sortino": "sortino",
    "calmar": "calmar",
    "profit_factor": "profit_factor",
    "expectancy": "expectancy_r",
}

#: The figures kept for every segment of every trial (the trial table and the JSON).
SEGMENT_FIGURES: tuple[str, ...] = (
    "sessions",
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "n_trades",
    "win_rate",
    "profit_factor",
    "expectancy_r",
    "small_sample",
)


@dataclass(frozen=True)
class Objective:
    name: str  # sharpe, sortino, calmar, profit_factor, expectancy
    min_trades: int = 0

    def __post_init__(self) -> None:
        if self.name not in OBJECTIVES:
            raise ValueError(
                f"--objective {self.name!r} is not known: choose from {', '.join(OBJECTIVES)}"
            )
        if self.min_trades < 0:
            raise ValueError("--min-trades must be 0 or more")

    @property
    def figure(self) -> str:
        return OBJECTIVES[self.name]

    def score(self, figures: Figures) -> tuple[float | None, str | None]:
        """(value, None), or (None, why there is no value)."""
        n = int(figures["n_trades"])
        if n < self.min_trades:
            return None, f"{n} trades, fewer than --min-trades {self.min_trades}"
        value = figures[self.figure]
        if value is None or not math.isfinite(float(value)):
            return None, figures.null_reasons.get(self.figure, "not defined for this sample")
        return float(value), None

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "figure": self.figure, "min_trades": self.min_trades}


@dataclass(frozen=True)
class TrialRun:
    """What a trial's backtest produced: one daily return per session of its span (the first
    over the equity it started with) and the trades closed in it."""

    first: date
    sessions: tuple[date, ...]
    returns: np.ndarray  # float64, len(sessions)
    trades: tuple[TradeRow, ...]

    def slice(self, first: date, last: date) -> tuple[pd.Series, list[TradeRow]]:
        index = pd.DatetimeIndex([pd.Timestamp(s) for s in self.sessions])
        r = pd.Series(self.returns, index=index, name="return")
        part = r[(index >= pd.Timestamp(first)) & (index <= pd.Timestamp(last))]
        trades = [t for t in self.trades if first <= t.exit_session <= last]
        return part, trades

    def returns_between(self, first: date, last: date) -> np.ndarray:
        return self.slice(first, last)[0].to_numpy(dtype=float)


def segment_figures(
    returns: pd.Series,
    trades: Sequence[TradeRow],
    *,
    risk_free_rate: float = 0.0,
    min_trades: int = 30,
) -> Figures:
    """The return and trade figures of one segment (those of :data:`SEGMENT_FIGURES`)."""
    every = FigureBuilder()
    every.update(return_figures(returns, risk_free_rate=risk_free_rate))
    every.update(trade_figures(trades, min_trades=min_trades))
    full = every.build()
    kept = FigureBuilder()
    for name in SEGMENT_FIGURES:
        kept.add(name, full[name], full.null_reasons.get(name))
    return kept.build()


def figures_json(f: Figures) -> dict[str, Any]:
    return f.as_json()


def figures_from_json(d: Mapping[str, Any]) -> Figures:
    """The inverse of :func:`figures_json` (nulls back to NaN with their reasons)."""
    reasons = dict(d.get("null_reasons") or {})
    b = FigureBuilder()
    for k, v in d.items():
        if k == "null_reasons":
            continue
        b.add(k, float("nan") if v is None else v, reasons.get(k))
    return b.build()


def trade_to_json(t: TradeRow) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(t):
        v = getattr(t, f.name)
        if isinstance(v, date):
            v = cv.ts(v) if hasattr(v, "hour") else v.isoformat()
        out[f.name] = json_value(v)
    return out


def trade_from_json(d: Mapping[str, Any]) -> TradeRow:
    return cv.from_row(TradeRow, d)


__all__ = [
    "OBJECTIVES",
    "SEGMENT_FIGURES",
    "Objective",
    "TrialRun",
    "figures_from_json",
    "figures_json",
    "segment_figures",
    "trade_from_json",
    "trade_to_json",
]
