"""The audit log: one row for every decision and user action, in the order they happened."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from workstation.store import convert as cv
from workstation.store.base import StoreCore
from workstation.store.rows import AuditRow


class AuditRepo(StoreCore):
    def audit(
        self,
        actor: str,
        action: str,
        subject: str = "",
        detail: Mapping[str, Any] | None = None,
        *,
        at: datetime,
    ) -> int:
        """Append an audit row; returns its id.

        ``actor`` is ``user``, ``engine``, ``policy`` or ``system``; ``action`` a dotted verb
        (``kill_switch.engaged``, ``entry.rejected``); ``subject`` what it is about
        (``candidate:12``, ``order:<client id>``, ``AAPL``); ``detail`` any JSON-able mapping.
        """
        with self._tx() as db:
            return self._audit_in(db, at, actor, action, subject, detail)

    def audit_log(
        self,
        *,
        subject: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        limit: int | None = 1000,
    ) -> list[AuditRow]:
        """Audit rows, newest last; filtered by exact subject/action and start time.

        ``limit`` keeps the newest rows.
        """
        where, params = [], []
        if subject is not None:
            where.append("subject = ?")
            params.append(subject)
        if action is not None:
            # With a subject too, SQLite picked the action's index (every ``step.done`` of
            # every session, a growing walk) over the subject's, which finds the few rows
            # of one subject; the unary + keeps the action out of the index choice.
            where.append("action = ?" if subject is None else "+action = ?")
            params.append(action)
        if since is not None:
            where.append("at >= ?")
            params.append(cv.ts(since))
        sql = "SELECT * FROM audit_log"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = self._rows(sql, params)
        return [cv.from_row(AuditRow, r) for r in reversed(rows)]
