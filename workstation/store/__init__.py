"""SQLite persistence (sqlite-utils, WAL): the app's memory of scans, decisions, orders,
fills, positions, trades, equity, the audit log and a daily-bar cache.

Usage::

    store = Store.open(home / "workstation.db")
    scan_id = store.record_scan(session=..., param_hash=..., status="ok", ...)
    store.close()

Every write commits before the method returns. A ``Store`` serialises its calls with a lock
(any thread may call it); long reads in an executor should use ``store.reopen()``, a second
connection, so they do not hold up the loop thread. Problems with the file itself (corrupt,
locked by another process, from a newer app version) raise ``StoreError`` with a one-line
message for the user. Details: ``workstation/store/base.py`` and ``schema.py``.
"""

from __future__ import annotations

from workstation.store.base import DEFAULT_BUSY_TIMEOUT_S, migrate
from workstation.store.errors import StoreError
from workstation.store.rows import (
    TERMINAL_ORDER_STATUSES,
    ApprovalRow,
    AuditRow,
    BacktestRow,
    CandidateRow,
    CarriedDecision,
    DailyPerformanceRow,
    EntryCheckRow,
    EquityMarkRow,
    EquitySnapshotRow,
    FillResult,
    FillRow,
    GapResultRow,
    MfeMaeRow,
    NewCandidate,
    OfficialOpenRow,
    OrderEventRow,
    OrderRow,
    OrderUpsert,
    PaperTrackRow,
    ParamSetRow,
    PositionRow,
    ScanRow,
    SearchRow,
    SessionEquityRow,
    TradeRow,
)
from workstation.store.schema import SCHEMA_VERSION
from workstation.store.store import Store

__all__ = [
    "DEFAULT_BUSY_TIMEOUT_S",
    "SCHEMA_VERSION",
    "TERMINAL_ORDER_STATUSES",
    "ApprovalRow",
    "AuditRow",
    "BacktestRow",
    "CandidateRow",
    "CarriedDecision",
    "DailyPerformanceRow",
    "EntryCheckRow",
    "EquityMarkRow",
    "EquitySnapshotRow",
    "FillResult",
    "FillRow",
    "GapResultRow",
    "MfeMaeRow",
    "NewCandidate",
    "OfficialOpenRow",
    "OrderEventRow",
    "OrderRow",
    "OrderUpsert",
    "PaperTrackRow",
    "ParamSetRow",
    "PositionRow",
    "ScanRow",
    "SearchRow",
    "SessionEquityRow",
    "Store",
    "StoreError",
    "TradeRow",
    "migrate",
]
