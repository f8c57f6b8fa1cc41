"""Equity: each session's starting equity, intraday marks, end-of-day snapshots, the peak,
and the per-session performance row."""

from __future__ import annotations

from datetime import date, datetime

from workstation.store import convert as cv
from workstation.store.base import StoreCore
from workstation.store.rows import (
    DailyPerformanceRow,
    EquityMarkRow,
    EquitySnapshotRow,
    SessionEquityRow,
)

SESSION_EQUITY_SOURCES = ("previous_close", "broker")


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
        """The highest equity recorded at a session boundary: every session's starting
        equity and every end-of-day equity (the drawdown rule's peak; None if none yet).

        Intraday marks are left out on purpose: how often equity is sampled during a day
        differs between live, simulated and backtested runs, and the peak must not."""
        row = self._one(
            "SELECT MAX(peak) AS peak FROM ("
            "SELECT MAX(equity) AS peak FROM equity_snapshots "
            "UNION ALL SELECT MAX(start_equity) FROM session_equity)"
        )
        return None if row is None or row["peak"] is None else float(row["peak"])

    # -- the session's starting equity ----------------------------------------------------------
    def record_session_start(
        self, session: date, *, start_equity: float, source: str, at: datetime
    ) -> SessionEquityRow:
        """Fix ``session``'s starting equity; the first one recorded stays (a restart gets
        the stored row back, whatever it passes)."""
        record = {
            "session": cv.day(session),
            "start_equity": cv.finite("start_equity", start_equity),
            "source": cv.choice("source", source, SESSION_EQUITY_SOURCES),
            "at": cv.ts(at),
        }
        if record["start_equity"] <= 0:
            raise ValueError(f"start_equity must be positive, got {start_equity}")
        with self._tx() as db:
            db.execute(
                "INSERT INTO session_equity (session, start_equity, source, at) "
                "VALUES (:session, :start_equity, :source, :at) ON CONFLICT (session) DO NOTHING",
                record,
            )
            found = db.query("SELECT * FROM session_equity WHERE session = ?", [record["session"]])
            row = next(iter(found))
            return cv.from_row(SessionEquityRow, row)

    def session_start(self, session: date) -> SessionEquityRow | None:
        row = self._one("SELECT * FROM session_equity WHERE session = ?", [cv.day(session)])
        return None if row is None else cv.from_row(SessionEquityRow, row)

    # -- intraday marks of the daily-loss check --------------------------------------------------
    def record_equity_mark(
        self,
        *,
        at: datetime,
        session: date,
        equity: float,
        start_equity: float,
        loss_limit: float,
        engaged: bool,
    ) -> None:
        """Append what one daily-loss check saw (one INSERT: this is on the print path)."""
        with self._tx() as db:
            self._insert(
                db,
                "equity_marks",
                {
                    "at": cv.ts(at),
                    "session": cv.day(session),
                    "equity": cv.finite("equity", equity),
                    "start_equity": cv.finite("start_equity", start_equity),
                    "loss_limit": cv.finite("loss_limit", loss_limit),
                    "engaged": 1 if engaged else 0,
                },
            )

    def equity_marks(self, session: date) -> list[EquityMarkRow]:
        rows = self._rows(
            "SELECT * FROM equity_marks WHERE session = ? ORDER BY at, id", [cv.day(session)]
        )
        return [cv.from_row(EquityMarkRow, r) for r in rows]

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
