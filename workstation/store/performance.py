"""Equity snapshots and the per-session performance row."""

from __future__ import annotations

from datetime import date, datetime

from workstation.store import convert as cv
from workstation.store.base import StoreCore
from workstation.store.rows import DailyPerformanceRow, EquitySnapshotRow


class PerformanceRepo(StoreCore):
    def record_equity(
        self,
        *,
        at: datetime,
        session: date,
        equity: float,
        cash: float,
        day_pnl: float,
        peak_equity: float,
        drawdown: float,
    ) -> EquitySnapshotRow:
        """Append an equity snapshot (values computed by the caller's risk rules)."""
        record = {
            "at": cv.ts(at),
            "session": cv.day(session),
            "equity": cv.finite("equity", equity),
            "cash": cv.finite("cash", cash),
            "day_pnl": cv.finite("day_pnl", day_pnl),
            "peak_equity": cv.finite("peak_equity", peak_equity),
            "drawdown": cv.finite("drawdown", drawdown),
        }
        with self._tx() as db:
            sid = self._insert(db, "equity_snapshots", record)
            row = next(iter(db.query("SELECT * FROM equity_snapshots WHERE id = ?", [sid])))
            return cv.from_row(EquitySnapshotRow, row)

    def latest_equity(self) -> EquitySnapshotRow | None:
        row = self._one("SELECT * FROM equity_snapshots ORDER BY at DESC, id DESC LIMIT 1")
        return None if row is None else cv.from_row(EquitySnapshotRow, row)

    def peak_equity(self) -> float | None:
        """The highest equity ever recorded (for the drawdown rule after a restart)."""
        row = self._one("SELECT MAX(equity) AS peak FROM equity_snapshots")
        return None if row is None or row["peak"] is None else float(row["peak"])

    def equity_snapshots(
        self, session: date | None = None, *, since: datetime | None = None
    ) -> list[EquitySnapshotRow]:
        where, params = [], []
        if session is not None:
            where.append("session = ?")
            params.append(cv.day(session))
        if since is not None:
            where.append("at >= ?")
            params.append(cv.ts(since))
        sql = "SELECT * FROM equity_snapshots"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._rows(sql + " ORDER BY at, id", params)
        return [cv.from_row(EquitySnapshotRow, r) for r in rows]

    def record_daily_performance(
        self,
        session: date,
        *,
        start_equity: float,
        end_equity: float,
        trades: int,
        wins: int,
        at: datetime,
    ) -> DailyPerformanceRow:
        """Write (or rewrite, if bookkeeping runs again) the session's row.

        ``pnl = end - start`` and ``pnl_pct = pnl / start``.
        """
        start = cv.finite("start_equity", start_equity)
        end = cv.finite("end_equity", end_equity)
        if start <= 0:
            raise ValueError(f"start_equity must be positive, got {start_equity}")
        record = {
            "session": cv.day(session),
            "start_equity": start,
            "end_equity": end,
            "pnl": end - start,
            "pnl_pct": (end - start) / start,
            "trades": cv.integer(trades),
            "wins": cv.integer(wins),
            "updated_at": cv.ts(at),
        }
        cols = ", ".join(record)
        vals = ", ".join(f":{k}" for k in record)
        sets = ", ".join(f"{k} = excluded.{k}" for k in record if k != "session")
        with self._tx() as db:
            db.execute(
                f"INSERT INTO daily_performance ({cols}) VALUES ({vals}) "
                f"ON CONFLICT (session) DO UPDATE SET {sets}",
                record,
            )
            row = next(
                iter(
                    db.query(
                        "SELECT * FROM daily_performance WHERE session = ?", [record["session"]]
                    )
                )
            )
            return cv.from_row(DailyPerformanceRow, row)

    def daily_performance(
        self, start: date | None = None, end: date | None = None
    ) -> list[DailyPerformanceRow]:
        where, params = [], []
        if start is not None:
            where.append("session >= ?")
            params.append(cv.day(start))
        if end is not None:
            where.append("session <= ?")
            params.append(cv.day(end))
        sql = "SELECT * FROM daily_performance"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._rows(sql + " ORDER BY session", params)
        return [cv.from_row(DailyPerformanceRow, r) for r in rows]
