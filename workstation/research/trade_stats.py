"""Figures from closed trades: win rate, profit factor, expectancy in R, MFE/MAE quantiles.

A trade wins when its P&L is above zero (the same test as the daily performance row's
``wins``); a trade at exactly zero is neither a win nor a loss but counts in the total. R is
the trade's P&L per share over its initial risk (``sl_mult * atr14``), as the store keeps it.

Every group of trades carries its count and ``small_sample``: below ``min_trades`` trades a
win rate or a profit factor says little (30 trades give a win rate of 50% a 95% interval of
roughly +/-18 points), and the report says so instead of letting a figure from 4 trades look
like a finding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from workstation.research.figures import FigureBuilder, Figures
from workstation.store import TradeRow

DEFAULT_MIN_TRADES = 30
QUANTILES: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9)


def trade_figures(trades: Sequence[TradeRow], *, min_trades: int = DEFAULT_MIN_TRADES) -> Figures:
    """Count, wins, losses, win rate, P&L, profit factor, expectancy and average R of winners
    and losers, best/worst R, average days held; ``small_sample`` below ``min_trades``."""
    n = len(trades)
    pnl = np.array([t.pnl for t in trades], dtype=float)
    r = np.array([t.r_multiple for t in trades], dtype=float)
    wins, losses = pnl > 0, pnl < 0
    gross_profit = float(pnl[wins].sum())
    gross_loss = float(-pnl[losses].sum())
    none = "no trades"
    f = FigureBuilder()
    f.add("n_trades", n)
    f.add("small_sample", n < min_trades)
    f.add("wins", int(wins.sum()))
    f.add("losses", int(losses.sum()))
    f.add("win_rate", float(wins.mean()) if n else float("nan"), none)
    f.add("net_pnl", float(pnl.sum()))
    f.add("gross_profit", gross_profit)
    f.add("gross_loss", gross_loss)
    if gross_loss > 0:
        pf = gross_profit / gross_loss
    else:
        pf = float("inf") if gross_profit > 0 else float("nan")
    f.add(
        "profit_factor",
        pf,
        "no losing trade: profit factor divides by a gross loss of 0"
        if gross_profit > 0
        else (none if n == 0 else "no winning or losing trade (all at 0)"),
    )
    f.add("expectancy_r", float(r.mean()) if n else float("nan"), none)
    f.add("avg_win_r", float(r[wins].mean()) if wins.any() else float("nan"), "no winning trade")
    f.add(
        "avg_loss_r", float(r[losses].mean()) if losses.any() else float("nan"), "no losing trade"
    )
    f.add("best_r", float(r.max()) if n else float("nan"), none)
    f.add("worst_r", float(r.min()) if n else float("nan"), none)
    days = np.array([t.days_held for t in trades], dtype=float)
    f.add("avg_days_held", float(days.mean()) if n else float("nan"), none)
    return f.build()


def quantiles(values: Sequence[float]) -> Figures:
    """The count, mean and the 10/25/50/75/90th percentiles of ``values`` (linear
    interpolation, numpy's default)."""
    a = np.array(values, dtype=float)
    f = FigureBuilder()
    f.add("n", len(a))
    why = "no values"
    f.add("mean", float(a.mean()) if len(a) else float("nan"), why)
    qs = np.quantile(a, QUANTILES) if len(a) else [float("nan")] * len(QUANTILES)
    for q, v in zip(QUANTILES, qs, strict=True):
        f.add(f"p{round(q * 100)}", float(v), why)
    return f.build()


def excursion_figures(trades: Sequence[TradeRow]) -> dict[str, Figures]:
    """MFE and MAE in R of ``trades`` as distributions; a trade without a recorded
    excursion (no price seen after its fill) is left out of that distribution."""
    return {
        "mfe_r": quantiles([t.mfe_r for t in trades if t.mfe_r is not None]),
        "mae_r": quantiles([t.mae_r for t in trades if t.mae_r is not None]),
    }


__all__ = [
    "DEFAULT_MIN_TRADES",
    "QUANTILES",
    "excursion_figures",
    "quantiles",
    "trade_figures",
]
