"""The benchmark: buy-and-hold of SPY over the same sessions, with the same return figures.

Bought at the close of the last session *before* the period (what the strategy's starting
equity is worth at that moment too) and valued at each session's close, so both series
start from the same instant and have one return per session. Without a close before the
period, the buy is at the first session's close and that session's return is 0 (stated in
``base_note``). A session the closes do not cover keeps the last
close (counted in ``missing_closes``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workstation.research.figures import FigureBuilder, Figures
from workstation.research.returns import EquityCurve, drawdown_series, empyrical, return_figures


def _normalised(closes: pd.Series) -> pd.Series:
    c = pd.Series(closes.to_numpy(dtype=float), index=pd.to_datetime(closes.index))
    if c.index.tz is not None:
        c.index = c.index.tz_localize(None)
    c.index = c.index.normalize()
    c = c[np.isfinite(c.to_numpy()) & (c.to_numpy() > 0)]
    return c[~c.index.duplicated(keep="last")].sort_index()


def benchmark_figures(
    closes: pd.Series | None,
    curve: EquityCurve,
    *,
    symbol: str = "SPY",
    risk_free_rate: float = 0.0,
) -> tuple[Figures, pd.Series | None]:
    """The benchmark's figures over ``curve``'s sessions, and its value scaled to the
    strategy's starting equity (for the chart); (figures with reasons, None) without data."""
    sessions = curve.sessions
    c = _normalised(closes) if closes is not None else pd.Series(dtype=float)
    at = c.reindex(sessions)
    f = FigureBuilder()
    f.add("symbol", symbol)
    if at.isna().all():
        why = (
            f"no {symbol} closes were given"
            if closes is None
            else f"no {symbol} close in {sessions[0].date()}..{sessions[-1].date()}"
        )
        for name in ("base_date", "base_close", "end_close"):
            f.add(name, None, why)
        f.add("missing_closes", len(sessions))
        for name, value in return_figures(pd.Series(dtype=float)).items():
            f.add(name, value, why)
        return f.build(), None
    missing = int(at.isna().sum())
    at = at.ffill().bfill()
    before = c[c.index < sessions[0]]
    if len(before):
        base_date, base = before.index[-1], float(before.iloc[-1])
    else:
        base_date, base = sessions[0], float(at.iloc[0])
    values = np.concatenate([[base], at.to_numpy(dtype=float)])
    returns = pd.Series(np.asarray(empyrical().simple_returns(values), dtype=float), index=sessions)
    f.add("base_date", base_date.date().isoformat())
    f.add("base_close", base)
    f.add("end_close", float(at.iloc[-1]))
    f.add("missing_closes", missing)
    if not len(before):
        f.add(
            "base_note",
            f"no {symbol} close before the first session: bought at its close, so its first "
            "return is 0",
        )
    f.update(return_figures(returns, risk_free_rate=risk_free_rate))
    scaled = pd.Series(values[1:] / base * curve.start_equity, index=sessions, name=symbol)
    return f.build(), scaled


def benchmark_drawdown(start_equity: float, scaled: pd.Series) -> pd.Series:
    """The drawdown of the benchmark's value ``scaled`` (from :func:`benchmark_figures`),
    measured like the strategy's: from the same starting equity, which counts as a peak."""
    values = np.concatenate([[start_equity], scaled.to_numpy(dtype=float)])
    r = values[1:] / values[:-1] - 1
    return drawdown_series(pd.Series(r, index=scaled.index))


__all__ = ["benchmark_drawdown", "benchmark_figures"]
