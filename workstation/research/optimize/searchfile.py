"""A search's own file: ``<data>/optimize/<id>.db`` (SQLite), written as trials finish.

It holds what the search was (its spec, the base configuration, the data's fingerprint, the
market and universe) and every trial: its parameters, state, objective value, and the daily
returns and trades its backtest produced. Each finished trial is committed before the next
result is read, so a search stopped at any moment (Ctrl-C, a crash, a lost scheduler) resumes
from its file: finished trials are replayed, the rest run.

Trial states: ``running`` (submitted; a search that died leaves them so), ``complete``,
``failed`` (the trial itself could not run: final), ``interrupted`` (a ``running`` trial of a
search that stopped, closed as failed when the search resumes; it is asked again).

The home's main store lists every search (``searches`` table) with its status and best trial.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from workstation.research.optimize.objective import trade_from_json, trade_to_json
from workstation.store import TradeRow

FORMAT = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    stage INTEGER NOT NULL,
    number INTEGER NOT NULL,
    params TEXT NOT NULL,
    state TEXT NOT NULL,
    value REAL,
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    queued_at TEXT,
    finished_at TEXT,
    wall_s REAL,
    worker TEXT,
    scans_hit INTEGER,
    scans_computed INTEGER,
    sessions BLOB,
    returns BLOB,
    trades TEXT,
    PRIMARY KEY (stage, number)
);
"""

FINAL = ("complete", "failed")


class SearchFileError(RuntimeError):
    """The file is not a search file this version can read (one line)."""


@dataclass(frozen=True)
class StoredTrial:
    stage: int
    number: int
    params: dict[str, Any]
    state: str
    value: float | None
    reason: str | None
    attempts: int
    wall_s: float | None
    worker: str | None
    scans_hit: int | None
    scans_computed: int | None
    sessions: np.ndarray | None  # datetime64[D]
    returns: np.ndarray | None
    trades: tuple[TradeRow, ...]

    @property
    def final(self) -> bool:
        return self.state in FINAL


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class SearchFile:
    """One search's SQLite file; any thread may call it (one lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.executescript(_SCHEMA)
        self._conn.commit()
        fmt = self.get("format")
        if fmt is None:
            self.put("format", FORMAT)
        elif int(fmt) > FORMAT:
            raise SearchFileError(
                f"{path} was written by a newer workstation (search file format {fmt})"
            )

    @staticmethod
    def open_existing(path: Path) -> SearchFile:
        if not path.is_file():
            raise SearchFileError(f"the search file {path} is missing")
        try:
            return SearchFile(path)
        except sqlite3.DatabaseError as exc:
            raise SearchFileError(f"{path} is not a readable search file: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- meta ------------------------------------------------------------------------------
    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value))
            )
            self._conn.commit()

    def get(self, key: str) -> Any:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    # -- trials ----------------------------------------------------------------------------
    def queued(self, stage: int, number: int, params: Mapping[str, Any]) -> int:
        """Record a trial as submitted (``running``); returns its attempt number."""
        with self._lock:
            self._conn.execute(
                """
                INSERT INTO trials (stage, number, params, state, attempts, queued_at)
                VALUES (?, ?, ?, 'running', 1, ?)
                ON CONFLICT (stage, number) DO UPDATE SET
                    state = 'running', attempts = attempts + 1, queued_at = excluded.queued_at,
                    reason = NULL
                """,
                (stage, number, json.dumps(dict(params)), _now()),
            )
            self._conn.commit()
            row = self._conn.execute(
                "SELECT attempts FROM trials WHERE stage = ? AND number = ?", (stage, number)
            ).fetchone()
        return int(row[0])

    def completed(
        self,
        stage: int,
        number: int,
        *,
        value: float | None,
        reason: str | None,
        wall_s: float,
        worker: str,
        scans_hit: int,
        scans_computed: int,
        sessions: np.ndarray,
        returns: np.ndarray,
        trades: tuple[TradeRow, ...],
    ) -> None:
        days = np.asarray(sessions, dtype="datetime64[D]").astype(np.int32)
        with self._lock:
            self._conn.execute(
                """
                UPDATE trials SET state = 'complete', value = ?, reason = ?, finished_at = ?,
                    wall_s = ?, worker = ?, scans_hit = ?, scans_computed = ?, sessions = ?,
                    returns = ?, trades = ?
                WHERE stage = ? AND number = ?
                """,
                (
                    value,
                    reason,
                    _now(),
                    wall_s,
                    worker,
                    scans_hit,
                    scans_computed,
                    days.tobytes(),
                    np.asarray(returns, dtype=np.float64).tobytes(),
                    json.dumps([trade_to_json(t) for t in trades]),
                    stage,
                    number,
                ),
            )
            self._conn.commit()

    def failed(self, stage: int, number: int, reason: str, *, final: bool = True) -> None:
        """The trial could not run (``final``), or was cut off and must run again."""
        with self._lock:
            self._conn.execute(
                "UPDATE trials SET state = ?, reason = ?, finished_at = ? "
                "WHERE stage = ? AND number = ?",
                ("failed" if final else "interrupted", reason, _now(), stage, number),
            )
            self._conn.commit()

    def close_running(self, reason: str) -> int:
        """Every ``running`` trial becomes ``interrupted`` (a search that stopped); how many."""
        with self._lock:
            cur = self._conn.execute(
                "UPDATE trials SET state = 'interrupted', reason = ?, finished_at = ? "
                "WHERE state = 'running'",
                (reason, _now()),
            )
            self._conn.commit()
        return cur.rowcount

    def trials(self) -> Iterator[StoredTrial]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT stage, number, params, state, value, reason, attempts, wall_s, worker, "
                "scans_hit, scans_computed, sessions, returns, trades FROM trials "
                "ORDER BY stage, number"
            ).fetchall()
        for r in rows:
            sessions = None if r[11] is None else np.frombuffer(r[11], dtype=np.int32)
            yield StoredTrial(
                stage=r[0],
                number=r[1],
                params=json.loads(r[2]),
                state=r[3],
                value=r[4],
                reason=r[5],
                attempts=r[6],
                wall_s=r[7],
                worker=r[8],
                scans_hit=r[9],
                scans_computed=r[10],
                sessions=None if sessions is None else sessions.astype("datetime64[D]"),
                returns=None if r[12] is None else np.frombuffer(r[12], dtype=np.float64).copy(),
                trades=tuple(trade_from_json(t) for t in json.loads(r[13] or "[]")),
            )

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._conn.execute("SELECT state, COUNT(*) FROM trials GROUP BY state")
            return {state: n for state, n in rows}


def session_dates(days: np.ndarray) -> tuple[date, ...]:
    return tuple(d.astype(object) for d in np.asarray(days, dtype="datetime64[D]"))


__all__ = ["FINAL", "FORMAT", "SearchFile", "SearchFileError", "StoredTrial", "session_dates"]
