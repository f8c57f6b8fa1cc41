"""How much of the time, and how much of the account, was in the market.

A position counts as held on every session from its entry session to its exit session,
both included (it was in the market during each of them); one still open at the end of the
store is held to the last session. The store keeps no daily price of each held position, so
the gross exposure of a session values every held position at its entry price
(``qty * entry_price``, longs and shorts alike) over that session's end-of-day equity: a
measure of the capital committed, not a mark-to-market.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from workstation.research.figures import FigureBuilder, Figures
from workstation.research.returns import TRADING_DAYS, EquityCurve
from workstation.store import PositionRow, TradeRow


@dataclass(frozen=True)
class Holding:
    symbol: str
    notional: float
    first: date
    last: date | None  # None: still open


def holdings(trades: Sequence[TradeRow], open_positions: Sequence[PositionRow]) -> list[Holding]:
    held = [
        Holding(t.symbol, abs(t.qty * t.entry_price), t.entry_session, t.exit_session)
        for t in trades
    ]
    held += [
        Holding(p.symbol, abs(p.qty * p.avg_entry), p.entry_session, None) for p in open_positions
    ]
    return held


def exposure_figures(held: Sequence[Holding], curve: EquityCurve, n_trades: int) -> Figures:
    """Share of sessions with a position, average and maximum gross exposure, trades a year."""
    sessions = np.array([d.date() for d in curve.sessions], dtype="datetime64[D]")
    n = len(sessions)
    any_held = np.zeros(n, dtype=bool)
    gross = np.zeros(n, dtype=float)
    for h in held:
        mask = sessions >= np.datetime64(h.first)
        if h.last is not None:
            mask &= sessions <= np.datetime64(h.last)
        any_held |= mask
        gross[mask] += h.notional
    equity = curve.end_of_day.to_numpy(dtype=float)
    # equity <= 0 (a wiped-out account) has no meaningful share: left out, not a division by 0
    share = np.divide(gross, equity, out=np.full(n, np.nan), where=equity > 0)
    valid = share[np.isfinite(share)]
    none = "no sessions in the period"
    f = FigureBuilder()
    f.add("exposure_sessions", float(any_held.mean()) if n else float("nan"), none)
    f.add("avg_gross_exposure", float(valid.mean()) if len(valid) else float("nan"), none)
    f.add("max_gross_exposure", float(valid.max()) if len(valid) else float("nan"), none)
    f.add("trades_per_year", n_trades * TRADING_DAYS / n if n else float("nan"), none)
    return f.build()


__all__ = ["Holding", "exposure_figures", "holdings"]
