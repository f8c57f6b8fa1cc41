"""The stored backtest a track record reads: the parameter set in force, the app's market.

A backtest is listed in the home's store with its parameter-set hash (``Store.backtests``).
The reference for a parameter set is its newest plain run (the ``combined`` scenario, no
overrides) on the same market whose store file is still there. It is **stale** when its last
session is more than ``stale_sessions`` sessions before the session the app needs it for (the
scan of tonight's list); a stale or missing one is built again in the background, with the
backtest's default period (the last ``backtest.years`` years the market has data for).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from workstation.store import BacktestRow, Store

if TYPE_CHECKING:
    from workstation.core.calendar import TradingCalendar

#: A reference whose last session is this many sessions before the one needed is stale.
STALE_SESSIONS = 21


@dataclass(frozen=True)
class Reference:
    """The reference backtest found for a parameter set (``row`` None: there is none)."""

    param_hash: str
    row: BacktestRow | None
    stale: bool

    @property
    def usable(self) -> bool:
        return self.row is not None


def find_reference(store: Store, param_hash: str, market: str) -> BacktestRow | None:
    """The newest plain backtest of ``param_hash`` on ``market`` with its store file."""
    rows = [
        r
        for r in store.backtests(param_hash=param_hash)
        if r.scenario == "combined"
        and not r.overrides
        and r.market == market
        and Path(r.path).is_file()
    ]
    return max(rows, key=lambda r: (r.last_session, r.created_at), default=None)


def is_stale(
    row: BacktestRow,
    needed_for: date | None,
    calendar: TradingCalendar,
    stale_sessions: int = STALE_SESSIONS,
) -> bool:
    """Whether ``row`` ends more than ``stale_sessions`` sessions before ``needed_for``."""
    if needed_for is None or row.last_session >= needed_for:
        return False
    try:
        between = len(calendar.sessions_in_range(row.last_session, needed_for)) - 1
    except ValueError:
        return True
    return between > stale_sessions


def reference(
    store_path: Path,
    param_hash: str,
    market: str,
    needed_for: date | None,
    calendar: TradingCalendar,
) -> Reference:
    """Find the reference in the home's store (a worker thread: it opens the store)."""
    if not store_path.is_file():
        return Reference(param_hash, None, False)
    with Store.open(store_path) as store:
        row = find_reference(store, param_hash, market)
    if row is None:
        return Reference(param_hash, None, False)
    return Reference(param_hash, row, is_stale(row, needed_for, calendar))


__all__ = ["STALE_SESSIONS", "Reference", "find_reference", "is_stale", "reference"]
