"""The inputs of entry decisions: every run of the §9 checks, and the sessions' official opens.

An ``entry_checks`` row holds everything :func:`workstation.engine.rules.entries.check_entry`
and :func:`workstation.engine.rules.sizing.position_size` read (the equity and peak the size
came from, buying power, exposure, the counts, the broker's shortable and easy-to-borrow flags,
the parameter set by hash) and what they decided, so a decision can be re-checked from the
store alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from workstation.store import convert as cv
from workstation.store.base import StoreCore
from workstation.store.rows import GROUPS, SIDES, EntryCheckRow, OfficialOpenRow

_FLOATS = (
    "price",
    "atr14",
    "sl_mult",
    "equity",
    "peak_equity",
    "drawdown",
    "buying_power",
    "gross_exposure",
    "risk_per_trade",
)
_INTS = (
    "candidate_id",
    "open_positions",
    "pending_entries",
    "sector_count",
    "regime_max_positions",
    "check_number",
    "qty",
)
_FLAGS = ("kill_switch", "already_held", "exited_today", "ok")
_OPTIONAL_FLAGS = ("shortable", "easy_to_borrow")


def _flag(value: Any) -> int:
    return 1 if value else 0


class EntriesRepo(StoreCore):
    def record_entry_check(
        self, *, at: datetime, session: date, values: Mapping[str, Any]
    ) -> EntryCheckRow:
        """Append one run of the entry checks (``values``: the other columns by name)."""
        v = dict(values)
        record: dict[str, Any] = {"at": cv.ts(at), "session": cv.day(session)}
        record["symbol"] = cv.text(v.pop("symbol"))
        record["grp"] = cv.choice("grp", v.pop("grp"), GROUPS)
        record["side"] = cv.choice("side", v.pop("side"), SIDES)
        for name in ("sector", "param_hash", "reason", "detail"):
            record[name] = cv.text(v.pop(name))
        for name in _FLOATS:
            record[name] = cv.finite(name, v.pop(name))
        for name in _INTS:
            record[name] = cv.integer(v.pop(name))
        for name in _FLAGS:
            record[name] = _flag(v.pop(name))
        for name in _OPTIONAL_FLAGS:
            raw = v.pop(name)
            record[name] = None if raw is None else _flag(raw)
        record["client_order_id"] = cv.opt_text(v.pop("client_order_id", None))
        if v:
            raise ValueError(f"unknown entry check columns: {', '.join(sorted(v))}")
        with self._tx() as db:
            rid = self._insert(db, "entry_checks", record)
            row = next(iter(db.query("SELECT * FROM entry_checks WHERE id = ?", [rid])))
            return cv.from_row(EntryCheckRow, row)

    def entry_checks(
        self, session: date | None = None, *, candidate_id: int | None = None
    ) -> list[EntryCheckRow]:
        where, params = [], []
        if session is not None:
            where.append("session = ?")
            params.append(cv.day(session))
        if candidate_id is not None:
            where.append("candidate_id = ?")
            params.append(candidate_id)
        sql = "SELECT * FROM entry_checks"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [cv.from_row(EntryCheckRow, r) for r in self._rows(sql + " ORDER BY id", params)]

    def record_official_open(
        self, session: date, symbol: str, price: float, *, at: datetime
    ) -> OfficialOpenRow:
        """The session's official open of ``symbol`` as the engine read it; the first one
        recorded stays (the open does not change)."""
        record = {
            "session": cv.day(session),
            "symbol": cv.text(symbol),
            "price": cv.finite("price", price),
            "at": cv.ts(at),
        }
        with self._tx() as db:
            db.execute(
                "INSERT INTO official_opens (session, symbol, price, at) "
                "VALUES (:session, :symbol, :price, :at) "
                "ON CONFLICT (session, symbol) DO NOTHING",
                record,
            )
            row = next(
                iter(
                    db.query(
                        "SELECT * FROM official_opens WHERE session = ? AND symbol = ?",
                        [record["session"], record["symbol"]],
                    )
                )
            )
            return cv.from_row(OfficialOpenRow, row)

    def official_opens(self, session: date) -> dict[str, OfficialOpenRow]:
        rows = self._rows(
            "SELECT * FROM official_opens WHERE session = ? ORDER BY symbol", [cv.day(session)]
        )
        return {r["symbol"]: cv.from_row(OfficialOpenRow, r) for r in rows}
