"""The list of parameter searches made from a home: one row per search, pointing at its file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from workstation.store import convert as cv
from workstation.store.base import StoreCore
from workstation.store.rows import SearchRow


class SearchesRepo(StoreCore):
    def record_search(
        self,
        id: str,
        *,
        at: datetime,
        search: str,
        objective: str,
        params: Sequence[str],
        first: date,
        last: date,
        walk_forward: str | None,
        market: str,
        data_source: str,
        param_hash: str,
        trials_total: int,
        path: str,
    ) -> SearchRow:
        """List a search that is starting (status ``running``)."""
        with self._tx() as db:
            self._insert(
                db,
                "searches",
                {
                    "id": id,
                    "created_at": cv.ts(at),
                    "updated_at": cv.ts(at),
                    "status": "running",
                    "search": search,
                    "objective": objective,
                    "params": cv.to_json(list(params)),
                    "first_session": first.isoformat(),
                    "last_session": last.isoformat(),
                    "walk_forward": walk_forward,
                    "market": market,
                    "data_source": data_source,
                    "param_hash": param_hash,
                    "trials_total": trials_total,
                    "trials_done": 0,
                    "path": path,
                    "best": None,
                },
            )
            self._audit_in(db, at, "user", "search.started", f"search:{id}", {"path": path})
        row = self.search(id)
        assert row is not None
        return row

    def update_search(
        self,
        id: str,
        *,
        at: datetime,
        status: str,
        trials_done: int,
        best: Mapping[str, Any] | None = None,
    ) -> None:
        """A search's progress or end (its status, finished trials, best trial so far)."""
        with self._tx() as db:
            db.execute(
                "UPDATE searches SET updated_at = ?, status = ?, trials_done = ?, "
                "best = COALESCE(?, best) WHERE id = ?",
                [cv.ts(at), status, trials_done, cv.opt_json(best), id],
            )
            if status != "running":
                self._audit_in(db, at, "user", f"search.{status}", f"search:{id}", {})

    def search(self, id: str) -> SearchRow | None:
        rows = self._rows("SELECT * FROM searches WHERE id = ?", [id])
        return _row(rows[0]) if rows else None

    def searches(self) -> list[SearchRow]:
        """Every listed search, newest first."""
        rows = self._rows("SELECT * FROM searches ORDER BY created_at DESC, id DESC", [])
        return [_row(r) for r in rows]


def _row(r: Mapping[str, Any]) -> SearchRow:
    return cv.from_row(SearchRow, r)
