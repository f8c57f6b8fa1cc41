"""Rotating online backups of the store, and restoring one (issue 12 item 2).

A backup is a consistent copy made with SQLite's backup API from a read-only connection of
its own: the engines keep writing meanwhile (WAL readers and the writer do not wait for each
other), and the copy is one self-contained file (no -wal), written under a temporary name and
renamed into place. Files are ``workstation-YYYYMMDD-HHMMSS.db`` (local time of the copy) in
the backup folder (``store.backup_dir`` in app.yaml, default ``<data>/backups``); the newest
``store.backups_kept`` are kept. When they are taken is the engines' business
(:mod:`workstation.engine.store_keeper`): at start, every ``store.backup_every_min`` minutes
and at a clean stop.

:func:`restore` never deletes anything: the current store (with its -wal, if any) is moved
aside to ``workstation-replaced-YYYYMMDD-HHMMSS.db`` in the data folder before the backup is
copied into place.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from workstation.store.base import copy_database
from workstation.store.errors import StoreError
from workstation.store.schema import APPLICATION_ID, SCHEMA_VERSION

PREFIX = "workstation"
_NAME = re.compile(rf"^{PREFIX}-(\d{{8}}-\d{{6}})(?:-(\d+))?\.db$")
_STAMP = "%Y%m%d-%H%M%S"


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=5.0)


@dataclass(frozen=True)
class BackupInfo:
    """What a backup holds, read from the file (read-only)."""

    path: Path
    taken: datetime
    size: int
    schema: int | None = None
    orders: int | None = None
    trades: int | None = None
    open_positions: int | None = None
    last_activity: str | None = None  # the newest audit row's time, as stored
    problem: str = ""  # why it cannot be restored ("" = it can)

    @property
    def name(self) -> str:
        return self.path.name


def check_database(path: Path) -> str:
    """Why ``path`` is not a restorable workstation store ("" when it is)."""
    try:
        con = _read_only(path)
    except sqlite3.Error as exc:
        return f"cannot be opened ({exc})"
    try:
        app_id = int(con.execute("PRAGMA application_id").fetchone()[0])
        version = int(con.execute("PRAGMA user_version").fetchone()[0])
        if app_id != APPLICATION_ID:
            return "is not a workstation database"
        if version > SCHEMA_VERSION:
            return f"was written by a newer version (schema v{version})"
        found = [str(r[0]) for r in con.execute("PRAGMA quick_check(1)").fetchall()]
        if found != ["ok"]:
            return f"is damaged ({found[0].splitlines()[0]})"
    except sqlite3.Error as exc:
        return f"is not a valid database ({exc})"
    finally:
        con.close()
    return ""


class Backups:
    """The backup folder of one store."""

    def __init__(self, folder: Path, keep: int = 10) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        self.folder = folder
        self.keep = keep

    def paths(self) -> list[Path]:
        """The backups, newest first (by the time in their names)."""
        if not self.folder.is_dir():
            return []
        found: list[tuple[str, int, Path]] = []
        for p in self.folder.iterdir():
            m = _NAME.match(p.name)
            if m and p.is_file():
                found.append((m.group(1), int(m.group(2) or 1), p))
        return [p for *_k, p in sorted(found, reverse=True)]

    def latest(self) -> Path | None:
        paths = self.paths()
        return paths[0] if paths else None

    def take(self, source: Path, now: datetime | None = None) -> Path:
        """A consistent copy of the store at ``source`` (its own read-only connection), then
        the oldest beyond ``keep`` go. Raises StoreError when it cannot be made."""

        def copy(target: Path) -> None:
            src = _read_only(source)
            try:
                copy_database(src, target)
            finally:
                src.close()

        return self.take_with(copy, now, what=str(source))

    def take_with(
        self, copy: Callable[[Path], None], now: datetime | None = None, what: str = "the store"
    ) -> Path:
        """A backup written by ``copy(target)`` (e.g. through the store's own connection when
        its file was deleted under it). It is checked before anything is pruned: a copy that
        is not a whole database is removed again and never rotates a good backup away."""
        now = now or datetime.now()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the backup folder {self.folder} ({exc.strerror}); check "
                "store.backup_dir in app.yaml"
            ) from exc
        target = self._free_name(now)
        try:
            copy(target)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot back up {what} to {target} ({exc})") from exc
        problem = check_database(target)
        if problem:
            target.unlink(missing_ok=True)
            raise StoreError(f"the backup of {what} {problem}; it was not kept")
        self.prune()
        return target

    def _free_name(self, now: datetime) -> Path:
        stamp = now.strftime(_STAMP)
        target = self.folder / f"{PREFIX}-{stamp}.db"
        n = 2
        while target.exists():
            target = self.folder / f"{PREFIX}-{stamp}-{n}.db"
            n += 1
        return target

    def prune(self) -> list[Path]:
        """Delete the backups beyond the newest ``keep``; returns what was deleted."""
        gone = self.paths()[self.keep :]
        for p in gone:
            with contextlib.suppress(OSError):
                p.unlink()
        return gone

    def resolve(self, which: str | None) -> Path:
        """A backup by name (as listed), by path, or the newest (None)."""
        if which is None:
            latest = self.latest()
            if latest is None:
                raise StoreError(f"there is no backup in {self.folder} to restore")
            return latest
        given = Path(which).expanduser()
        for candidate in (given, self.folder / which):
            if candidate.is_file():
                return candidate
        names = ", ".join(p.name for p in self.paths()[:3]) or "none"
        raise StoreError(
            f"no backup {which!r} in {self.folder} (newest: {names}); "
            "'workstation store backups' lists them"
        )

    @staticmethod
    def describe(path: Path) -> BackupInfo:
        m = _NAME.match(path.name)
        st = path.stat()
        taken = (
            datetime.strptime(m.group(1), _STAMP)
            if m
            else datetime.fromtimestamp(st.st_mtime).replace(microsecond=0)
        )
        problem = check_database(path)
        if problem:
            return BackupInfo(path, taken, st.st_size, problem=problem)
        con = _read_only(path)
        try:

            def one(sql: str) -> int | str | None:
                try:
                    row = con.execute(sql).fetchone()
                except sqlite3.Error:
                    return None
                return row[0] if row else None

            return BackupInfo(
                path,
                taken,
                st.st_size,
                schema=int(one("PRAGMA user_version") or 0),
                orders=_int(one("SELECT COUNT(*) FROM orders")),
                trades=_int(one("SELECT COUNT(*) FROM trades")),
                open_positions=_int(one("SELECT COUNT(*) FROM positions WHERE status = 'open'")),
                last_activity=_str(one("SELECT MAX(at) FROM audit_log")),
            )
        finally:
            con.close()


def _int(v: object) -> int | None:
    return int(v) if isinstance(v, int) else None


def _str(v: object) -> str | None:
    return str(v) if v is not None else None


@dataclass(frozen=True)
class Restored:
    backup: BackupInfo
    store: Path
    kept_aside: Path | None  # where the replaced store went (None: there was none)


def restore(backup: Path, store: Path, now: datetime | None = None) -> Restored:
    """Put ``backup`` in place of the store at ``store``; the current store is moved aside
    (never deleted). The caller holds the home's instance lock."""
    info = Backups.describe(backup)
    if info.problem:
        raise StoreError(f"the backup {backup} {info.problem}; choose another one")
    now = now or datetime.now()
    aside = _move_aside(store, now)
    tmp = store.with_name(f".{store.name}.restoring-{os.getpid()}")
    try:
        src = _read_only(backup)
        try:
            copy_database(src, tmp)
        finally:
            src.close()
        os.replace(tmp, store)
    except (sqlite3.Error, OSError) as exc:
        tmp.unlink(missing_ok=True)
        where = f"; the previous store is in {aside}" if aside else ""
        raise StoreError(f"restoring {backup} failed ({exc}){where}") from exc
    return Restored(info, store, aside)


def _move_aside(store: Path, now: datetime) -> Path | None:
    """Move the store and its -wal/-shm to ``workstation-replaced-<time>.db`` beside it. A
    readable store is checkpointed first, so the file moved aside holds all its data."""
    files = [store, store.with_name(store.name + "-wal"), store.with_name(store.name + "-shm")]
    if not any(f.exists() for f in files):
        return None
    if store.exists() and store.stat().st_size > 0:
        with contextlib.suppress(sqlite3.Error):
            con = sqlite3.connect(f"file:{quote(str(store))}?mode=rw", uri=True, timeout=5.0)
            try:
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                con.close()
    stamp = now.strftime(_STAMP)
    aside = store.with_name(f"{PREFIX}-replaced-{stamp}.db")
    n = 2
    while aside.exists():
        aside = store.with_name(f"{PREFIX}-replaced-{stamp}-{n}.db")
        n += 1
    for f in files:
        if f.exists():
            os.replace(f, aside.with_name(aside.name + f.name[len(store.name) :]))
    return aside


__all__ = ["BackupInfo", "Backups", "Restored", "check_database", "restore"]
