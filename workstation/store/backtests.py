"""The list of backtests made from a home: one row per run, pointing at its own store file."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from workstation.store import convert as cv
from workstation.store.base import StoreCore
from workstation.store.rows import BacktestRow


class BacktestsRepo(StoreCore):
    def record_backtest(
        self,
        id: str,
        *,
        at: datetime,
        scenario: str,
        first: date,
        last: date,
        market: str,
        data_source: str,
        param_hash: str,
        universe_mode: str,
        fill_model: str,
        path: str,
        overrides: Mapping[str, Any],
        summary: Mapping[str, Any],
    ) -> BacktestRow:
        """List a finished backtest (its store is at ``path``)."""
        with self._tx() as db:
            self._insert(
                db,
                "backtests",
                {
                    "id": id,
                    "created_at": cv.ts(at),
                    "scenario": scenario,
                    "first_session": first.isoformat(),
                    "last_session": last.isoformat(),
                    "market": market,
                    "data_source": data_source,
                    "param_hash": param_hash,
                    "universe_mode": universe_mode,
                    "fill_model": fill_model,
                    "path": path,
                    "overrides": cv.to_json(dict(overrides)),
                    "summary": cv.to_json(dict(summary)),
                },
            )
            self._audit_in(db, at, "user", "backtest.recorded", f"backtest:{id}", {"path": path})
        row = self.backtest(id)
        assert row is not None
        return row

    def backtest(self, id: str) -> BacktestRow | None:
        rows = self._rows("SELECT * FROM backtests WHERE id = ?", [id])
        return cv.from_row(BacktestRow, rows[0]) if rows else None

    def backtests(self, *, param_hash: str | None = None) -> list[BacktestRow]:
        """The listed backtests, newest first (only those of ``param_hash`` if given)."""
        if param_hash is None:
            rows = self._rows("SELECT * FROM backtests ORDER BY created_at DESC, id DESC", [])
        else:
            rows = self._rows(
                "SELECT * FROM backtests WHERE param_hash = ? ORDER BY created_at DESC, id DESC",
                [param_hash],
            )
        return [cv.from_row(BacktestRow, r) for r in rows]
