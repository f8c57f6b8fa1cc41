"""``Store``: the application's SQLite memory, one object with the query API of every concern.

The methods live in small per-concern modules (scans, orders, positions, performance, entry
decisions, audit, bars); connection handling, threading and durability rules are in :mod:`.base`.
"""

from __future__ import annotations

from workstation.store.audit import AuditRepo
from workstation.store.backtests import BacktestsRepo
from workstation.store.bars import BarsRepo
from workstation.store.entries import EntriesRepo
from workstation.store.orders import OrdersRepo
from workstation.store.performance import PerformanceRepo
from workstation.store.positions import PositionsRepo
from workstation.store.scans import ScansRepo
from workstation.store.searches import SearchesRepo


class Store(
    ScansRepo,
    OrdersRepo,
    PositionsRepo,
    PerformanceRepo,
    EntriesRepo,
    AuditRepo,
    BarsRepo,
    BacktestsRepo,
    SearchesRepo,
):
    """Open with ``Store.open(path)``; see :mod:`workstation.store.base` for threading."""
