"""The alerts waiting to be delivered, on disk: ``<data>/notify_outbox.db`` (SQLite).

An alert is written here (one short commit) at the moment it is raised, before any channel
is tried; a channel's delivery is recorded when it succeeds. So an alert raised just before
the process was killed goes out after the restart, and an alert raised twice (a step run
again after a restart) is delivered once: the key is the primary key.

The file holds the alerts' texts and the channels' ids (hashes), never a URL. It is separate
from the trading store: it is transient (delivered alerts are kept a week, for "what was
sent"), and a locked or broken outbox must never stop trading.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from workstation.notify.alert import Alert

FILE_NAME = "notify_outbox.db"
KEEP_S = 7 * 86400.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    level TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    at TEXT NOT NULL,           -- the engine clock's time of the fact (ISO)
    queued REAL NOT NULL,       -- wall-clock time it was queued (epoch seconds)
    pending TEXT NOT NULL,      -- JSON list of channel ids still to deliver to
    attempts INTEGER NOT NULL DEFAULT 0,
    done REAL,                  -- wall-clock time it was finished (delivered or dropped)
    outcome TEXT                -- "sent" or "dropped: why"
);
CREATE INDEX IF NOT EXISTS alerts_open ON alerts (done, queued);
"""


@dataclass(frozen=True)
class Queued:
    key: str
    kind: str
    level: str
    title: str
    body: str
    at: str
    queued: float
    pending: tuple[str, ...]
    attempts: int


class Outbox:
    """Thread-safe: the engine thread queues, the sender thread delivers."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._con = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("PRAGMA synchronous=NORMAL")  # survives a killed process
        self._con.execute("PRAGMA busy_timeout=2000")
        self._con.executescript(_SCHEMA)
        with self._lock:
            self._con.execute(
                "DELETE FROM alerts WHERE done IS NOT NULL AND done < ?", (clock() - KEEP_S,)
            )

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def put(self, alert: Alert, channels: Iterable[str]) -> bool:
        """Queue ``alert`` for ``channels``; False when its key was queued before."""
        pending = sorted(set(channels))
        if not pending:
            return False
        with self._lock:
            cur = self._con.execute(
                "INSERT OR IGNORE INTO alerts (key, kind, level, title, body, at, queued, "
                "pending) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    alert.key,
                    str(alert.kind),
                    str(alert.level),
                    alert.title,
                    alert.body,
                    alert.at.isoformat(),
                    self._clock(),
                    json.dumps(pending),
                ),
            )
            return cur.rowcount == 1

    def undelivered(self) -> list[Queued]:
        with self._lock:
            rows = self._con.execute(
                "SELECT key, kind, level, title, body, at, queued, pending, attempts "
                "FROM alerts WHERE done IS NULL ORDER BY queued, rowid"
            ).fetchall()
        return [Queued(*r[:7], tuple(json.loads(r[7])), r[8]) for r in rows]  # type: ignore[misc]

    def delivered(self, key: str, channel: str) -> None:
        """``channel`` has it; the alert is done when no channel is left."""
        with self._lock:
            row = self._con.execute("SELECT pending FROM alerts WHERE key = ?", (key,)).fetchone()
            if row is None:
                return
            left = [c for c in json.loads(row[0]) if c != channel]
            self._con.execute(
                "UPDATE alerts SET pending = ?, attempts = attempts + 1, done = ?, outcome = ? "
                "WHERE key = ?",
                (
                    json.dumps(left),
                    None if left else self._clock(),
                    None if left else "sent",
                    key,
                ),
            )

    def attempted(self, key: str) -> None:
        with self._lock:
            self._con.execute("UPDATE alerts SET attempts = attempts + 1 WHERE key = ?", (key,))

    def drop(self, key: str, why: str, channels: Iterable[str] | None = None) -> None:
        """Give up on ``channels`` of ``key`` (all when None)."""
        with self._lock:
            row = self._con.execute("SELECT pending FROM alerts WHERE key = ?", (key,)).fetchone()
            if row is None:
                return
            gone = None if channels is None else set(channels)
            left = [] if gone is None else [c for c in json.loads(row[0]) if c not in gone]
            self._con.execute(
                "UPDATE alerts SET pending = ?, done = ?, outcome = ? WHERE key = ?",
                (
                    json.dumps(left),
                    None if left else self._clock(),
                    None if left else f"dropped: {why}",
                    key,
                ),
            )

    def outcomes(self) -> dict[str, str | None]:
        """key -> outcome (None: still pending), for tests and diagnostics."""
        with self._lock:
            return dict(self._con.execute("SELECT key, outcome FROM alerts").fetchall())


__all__ = ["FILE_NAME", "Outbox", "Queued"]
