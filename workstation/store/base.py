"""Opening, checking, migrating and closing the database; the transaction helpers.

Threading: a ``Store`` wraps one SQLite connection opened with ``check_same_thread=False`` and
serialises every call with its own lock, so it is safe (not fast) to call it from any thread.
The engines use it from the asyncio loop thread; writes are short. A long read (a report, a bar
history for the scanner) that should run in an executor should use its own connection,
``store.reopen()``, so it neither blocks nor is blocked by the loop thread's writes: in WAL mode
readers and the single writer do not wait for each other.

Durability: each write method commits before it returns (``synchronous=NORMAL`` in WAL mode:
a commit survives an application crash; only an OS crash or power loss can lose the last
commits, never corrupt the file). Callers write first, then act.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote

from sqlite_utils import Database

from workstation.store import convert as cv
from workstation.store.database import StoreDatabase
from workstation.store.errors import StoreError
from workstation.store.file_watch import (
    HEADER_SIZE,
    SQLITE_MAGIC,
    FileWatch,
    StoreUnusable,
    sqlite_problem,
    writable,
)
from workstation.store.rows import AUDIT_ACTORS
from workstation.store.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger(__name__)

DEFAULT_BUSY_TIMEOUT_S = 5.0


def _is_locked(exc: BaseException) -> bool:
    msg = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in msg or "busy" in msg)


def _is_corrupt(exc: BaseException) -> bool:
    msg = str(exc).lower()
    return isinstance(exc, sqlite3.DatabaseError) and (
        "not a database" in msg or "malformed" in msg or "corrupt" in msg
    )


def corrupt_error(path: Path, reason: str) -> StoreError:
    return StoreError(
        f"{path} is not a valid workstation database ({reason}); move it aside or restore a backup"
    )


def locked_error(path: Path, busy_timeout_s: float) -> StoreError:
    return StoreError(
        f"{path} is locked by another process (still busy after {busy_timeout_s:g} s); "
        "probably another workstation is running on the same home: close it, "
        "or start this one with a different --home"
    )


def _check_header(path: Path) -> None:
    """Refuse a file that is not SQLite before SQLite gets to touch it.

    SQLite treats a file shorter than its 100-byte header as an empty database and would
    happily write a fresh schema over it, so an emptied store would silently become a new,
    empty one. The store is created whole (:func:`_create`), so a 0-byte store file is never
    ours to fill: it is refused, unless its write-ahead log holds the data (a store of an
    older version killed before its first checkpoint; SQLite recovers it from the log).
    Random bytes SQLite rejects itself, but reading the header here gives the same clear
    message for both.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if size == 0:
        wal = path.with_name(path.name + "-wal")
        if wal.is_file() and wal.stat().st_size > 0:
            return
        raise StoreError(
            f"{path} is empty (0 bytes): it was emptied or replaced; restore a backup "
            "('workstation store restore'), or delete the file to start a new, empty store"
        )
    try:
        with path.open("rb") as fh:
            head = fh.read(HEADER_SIZE)
    except OSError as exc:
        raise StoreError(f"cannot read {path} ({exc.strerror}); check its permissions") from exc
    if len(head) < HEADER_SIZE:
        raise corrupt_error(path, f"truncated: {size} bytes, shorter than a database header")
    if not head.startswith(SQLITE_MAGIC):
        raise corrupt_error(path, "file is not a database")


def _create(path: Path, busy_timeout_s: float) -> None:
    """A new store, built under a temporary name and renamed into place: a store file is
    either absent or a whole database with its schema, never an empty file."""
    tmp = path.with_name(f".{path.name}.new-{os.getpid()}")
    for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
        leftover.unlink(missing_ok=True)
    try:
        conn = sqlite3.connect(str(tmp), timeout=busy_timeout_s)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot create {path} ({exc}); check the folder's permissions") from exc
    try:
        db = StoreDatabase(conn, execute_plugins=False)
        _configure_and_migrate(path, db, busy_timeout_s, False)  # messages name the store
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as exc:
        conn.close()
        tmp.unlink(missing_ok=True)
        raise _translate(exc, path, busy_timeout_s) from exc
    except BaseException:
        conn.close()
        tmp.unlink(missing_ok=True)
        raise
    conn.close()  # the last connection: the -wal and -shm files go with it
    os.replace(tmp, path)


def _backup_path(path: Path, version: int) -> Path:
    """``<name>.v{version}.bak``; if that exists (an earlier attempt), the next free number."""
    target = path.with_name(f"{path.name}.v{version}.bak")
    n = 2
    while target.exists():
        target = path.with_name(f"{path.name}.v{version}.{n}.bak")
        n += 1
    return target


class StoreCore:
    """Connection handling shared by the repository mixins (see :class:`Store`)."""

    def __init__(self, path: Path, db: Database, busy_timeout_s: float) -> None:
        self._path = path
        self._db: Database | None = db
        self._busy_timeout_s = busy_timeout_s
        self._lock = threading.RLock()
        self._watch = FileWatch(path, APPLICATION_ID)
        self._problem: StoreUnusable | None = None
        self._problem_listeners: list[Callable[[StoreUnusable], None]] = []
        self._after_commit: list[Callable[[], None]] = []
        # WAL checkpoints (an fsync of the database) run in a background thread, never
        # inside a commit on the engine's path: a checkpoint landing in the commit of an
        # exit order made the quote-to-exit latency's tail several ms longer.
        db.conn.execute("PRAGMA wal_autocheckpoint = 0")
        self._checkpointer = _Checkpointer(self, path)

    # -- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        integrity_check: bool = True,
    ) -> Self:
        """Open (creating it if needed) the database at ``path`` and bring its schema up to date.

        Enables WAL, foreign keys, ``synchronous=NORMAL`` and a busy timeout of
        ``busy_timeout_s``. An existing database of an older schema is first copied to
        ``<name>.v{old}.bak``, then migrated one version per transaction.
        ``integrity_check`` runs SQLite's ``quick_check`` (a few ms per MB) so a damaged file
        is reported at start instead of in the middle of a trading day.

        Raises :class:`StoreError` (the file is never modified, deleted or replaced) when the
        file is not a SQLite database or is damaged or empty, belongs to another application,
        comes from a newer version of the app, cannot be written, or is locked by another
        process. A new store is created whole (see :func:`_create`).
        """
        path = Path(path).expanduser()
        if path.is_dir():
            raise StoreError(f"{path} is a folder, not a database file; choose a file path")
        _check_header(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the folder {path.parent} ({exc.strerror}); check the path"
            ) from exc
        if not path.exists():
            _create(path, busy_timeout_s)
        elif not writable(path):
            raise StoreError(
                f"cannot write to {path}: the file or its folder is read-only; make both "
                "writable again (check their permissions and owner), or restore a backup"
            )
        try:
            conn = sqlite3.connect(str(path), timeout=busy_timeout_s, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot open {path} ({exc}); check the path and its permissions"
            ) from exc
        try:
            db = StoreDatabase(conn, execute_plugins=False)
            _configure_and_migrate(path, db, busy_timeout_s, integrity_check)
        except StoreError:
            conn.close()
            raise
        except sqlite3.Error as exc:
            conn.close()
            raise _translate(exc, path, busy_timeout_s) from exc
        except BaseException:
            conn.close()
            raise
        return cls(path, db, busy_timeout_s)

    def reopen(self) -> Self:
        """A second, independent ``Store`` on the same file (its own connection).

        For long reads in an executor thread; close it when done. The schema is already
        current, so this skips the integrity check.
        """
        return type(self).open(
            self._path, busy_timeout_s=self._busy_timeout_s, integrity_check=False
        )

    def close(self) -> None:
        """Close the connection (idempotent); later calls raise :class:`StoreError`."""
        self._checkpointer.stop()
        with self._lock:
            if self._db is not None:
                self._db.close()  # the last connection to close checkpoints the WAL
                self._db = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def closed(self) -> bool:
        return self._db is None

    @property
    def schema_version(self) -> int:
        with self._read() as db:
            return int(db.conn.execute("PRAGMA user_version").fetchone()[0])

    @property
    def db(self) -> Database:
        """The underlying sqlite-utils ``Database`` (for ad-hoc reads and tests)."""
        return self._require_open()

    # -- is the file still ours? (see workstation.store.file_watch) --------------------------
    @property
    def problem(self) -> StoreUnusable | None:
        """Why the store became unusable while open (None: it is fine)."""
        return self._problem

    def on_problem(self, listener: Callable[[StoreUnusable], None]) -> None:
        """Call ``listener`` once, from the thread that found it, when the store becomes
        unusable (the engines stop trading on it)."""
        self._problem_listeners.append(listener)
        if self._problem is not None:
            listener(self._problem)

    def check(self) -> StoreUnusable | None:
        """The full check of the file (header, writable); a problem makes the store unusable."""
        if self._problem is None:
            problem = self._watch.full_check()
            if problem is not None:
                self._fail(problem)
        return self._problem

    def after_commit(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` right after every write transaction commits (the chaos test's
        crash hook: a kill at any write of a run)."""
        self._after_commit.append(listener)

    def copy_to(self, target: Path) -> None:
        """A consistent copy of the database through this store's own connection: what it
        holds even when its file was deleted or replaced under it (see :func:`copy_database`)."""
        with self._lock:
            copy_database(self._require_open().conn, target)

    def _fail(self, problem: StoreUnusable) -> StoreUnusable:
        with self._lock:
            if self._problem is not None:
                return self._problem
            self._problem = problem
        log.critical("%s", problem)
        for listener in list(self._problem_listeners):
            try:
                listener(problem)
            except Exception:
                log.exception("a store-problem listener failed")
        return problem

    def _guard_write(self) -> None:
        """Before every write: the file is still ours (one stat), else StoreUnusable."""
        problem = self._problem or self._watch.quick_check()
        if problem is not None:
            raise self._fail(problem)

    # -- helpers for the repositories ----------------------------------------------------------
    def _require_open(self) -> Database:
        if self._db is None:
            raise StoreError(f"the store {self._path} is closed; open it again")
        return self._db

    def _translated(self, exc: sqlite3.Error) -> StoreError | None:
        if _is_locked(exc):
            return locked_error(self._path, self._busy_timeout_s)
        if _is_corrupt(exc):
            return corrupt_error(self._path, str(exc))
        problem = sqlite_problem(self._path, exc)
        if problem is not None:
            return self._fail(problem)
        return None

    @contextmanager
    def _tx(self) -> Iterator[Database]:
        """One write transaction (``BEGIN IMMEDIATE``); nested use becomes a savepoint.

        Committed when the block ends, rolled back on any exception. Lock and corruption
        errors become :class:`StoreError`; other errors (constraints, bad SQL) propagate.
        """
        with self._lock:
            db = self._require_open()
            self._guard_write()
            try:
                if db.conn.in_transaction:
                    with db.atomic():
                        yield db
                    return
                # IMMEDIATE takes the write lock up front, so a competing writer makes us wait
                # for busy_timeout instead of failing half-way through with SQLITE_BUSY.
                db.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    if db.conn.in_transaction:
                        db.conn.execute("ROLLBACK")
                    raise
                db.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                translated = self._translated(exc)
                if translated is None:
                    raise
                raise translated from exc
            for listener in self._after_commit:
                listener()

    @contextmanager
    def _read(self) -> Iterator[Database]:
        with self._lock:
            db = self._require_open()
            try:
                yield db
            except sqlite3.Error as exc:
                translated = self._translated(exc)
                if translated is None:
                    raise
                raise translated from exc

    def _rows(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[dict[str, Any]]:
        with self._read() as db:
            return list(db.query(sql, params))

    def _one(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> dict[str, Any] | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _audit_in(
        self,
        db: Database,
        at: datetime,
        actor: str,
        action: str,
        subject: str,
        detail: Mapping[str, Any] | None,
    ) -> int:
        """Append an audit row inside the caller's transaction; returns its id."""
        return self._insert(
            db,
            "audit_log",
            {
                "at": cv.ts(at),
                "actor": cv.choice("audit actor", actor, AUDIT_ACTORS),
                "action": action,
                "subject": subject,
                "detail": cv.opt_json(None if detail is None else dict(detail)),
            },
        )

    @staticmethod
    def _insert(db: Database, table: str, record: Mapping[str, Any]) -> int:
        """Insert one row and return its rowid.

        A plain parameterised INSERT (its text cached per table and column set): sqlite-
        utils' ``table.insert`` re-reads the table's schema on every call, ~0.25 ms that
        sat several times on the quote-to-exit-order path. Values are converted as
        sqlite-utils would (dates and times to ISO text, containers to JSON)."""
        keys = tuple(record)
        sql = _INSERT_SQL.get((table, keys))
        if sql is None:
            cols = ", ".join(f"[{k}]" for k in keys)
            marks = ", ".join("?" for _ in keys)
            sql = _INSERT_SQL[(table, keys)] = f"INSERT INTO [{table}] ({cols}) VALUES ({marks})"
        cur = db.conn.execute(sql, [_sql_value(record[k]) for k in keys])
        assert cur.lastrowid is not None
        return int(cur.lastrowid)


_INSERT_SQL: dict[tuple[str, tuple[str, ...]], str] = {}


class _Checkpointer:
    """Checkpoints a store's WAL every ``interval_s`` from its own thread and connection.

    PASSIVE checkpoints never wait for readers or writers. The thread holds no connection
    between checkpoints and ends when the store is closed or garbage collected.
    """

    def __init__(self, store: StoreCore, path: Path, interval_s: float = 2.0) -> None:
        self._store = weakref.ref(store)
        self._path = path
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"wal-checkpoint:{path.name}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            store = self._store()
            if store is None or store.closed:
                return
            del store
            try:
                # mode=rw: never create the file (a deleted store must stay visibly gone)
                conn = sqlite3.connect(
                    f"file:{quote(str(self._path))}?mode=rw", uri=True, timeout=0
                )
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                finally:
                    conn.close()
            except sqlite3.Error as exc:  # busy, or the file went away: try again later
                log.debug("WAL checkpoint of %s skipped: %s", self._path, exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)


def _sql_value(v: Any) -> Any:
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v)
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    return v


def _translate(exc: sqlite3.Error, path: Path, busy_timeout_s: float) -> StoreError:
    """The one-line StoreError for a SQLite error met while opening ``path``."""
    if _is_locked(exc):
        return locked_error(path, busy_timeout_s)
    if _is_corrupt(exc):
        return corrupt_error(path, str(exc))
    if "readonly" in str(exc).lower() or "read-only" in str(exc).lower():
        return StoreError(f"cannot write to {path} ({exc}); check the file's permissions")
    return StoreError(f"cannot use {path} ({exc}); move it aside or restore a backup")


def _configure_and_migrate(
    path: Path, db: Database, busy_timeout_s: float, integrity_check: bool
) -> None:
    conn = db.conn
    conn.execute(f"PRAGMA busy_timeout = {max(0, int(busy_timeout_s * 1000))}")
    # Per connection, and only outside a transaction: set before anything else runs.
    conn.execute("PRAGMA foreign_keys = ON")

    # Reading the header fields is the first real access: a damaged file fails here.
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
    has_tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0

    if integrity_check and has_tables:
        found = [str(r[0]) for r in conn.execute("PRAGMA quick_check(3)").fetchall()]
        if found != ["ok"]:
            # quick_check reports several lines per problem; the message stays one line
            lines = [ln.strip() for f in found for ln in f.splitlines()]
            problems = [ln for ln in lines if ln and not ln.startswith("***")][:2]
            raise corrupt_error(path, "damaged: " + "; ".join(problems))

    if app_id not in (0, APPLICATION_ID) or (app_id == 0 and (version > 0 or has_tables)):
        raise StoreError(
            f"{path} is a SQLite database of another application, not a workstation database; "
            "move it aside or choose another --home"
        )
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} was written by a newer version of the workstation (schema v{version}; "
            f"this version knows up to v{SCHEMA_VERSION}); upgrade the app to open it"
        )

    if version > 0 and version < SCHEMA_VERSION:
        backup = _backup_path(path, version)
        copy_database(conn, backup)
        log.info("backed up %s (schema v%d) to %s before migrating", path, version, backup)

    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        # e.g. a file system without shared memory: still correct, only less concurrent
        log.warning("%s: WAL mode not available (journal_mode=%s)", path, mode)
    conn.execute("PRAGMA synchronous = NORMAL")

    migrate(db, SCHEMA_VERSION, path=path)

    # Readers never wait in WAL mode, so a database that another process is writing to would
    # only fail later, in the middle of a write. Take and release the write lock now so a
    # second app on the same home is reported at start.
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("ROLLBACK")


def copy_database(conn: sqlite3.Connection, target: Path) -> None:
    """A consistent copy through SQLite's backup API, written under a temporary name first."""
    tmp = target.with_name(target.name + ".tmp")
    tmp.unlink(missing_ok=True)
    dst = sqlite3.connect(str(tmp))
    try:
        conn.backup(dst)
        # A self-contained single file: no -wal/-shm companions next to the backup.
        dst.execute("PRAGMA journal_mode = DELETE")
    finally:
        dst.close()
    os.replace(tmp, target)


def migrate(db: Database, target: int, *, path: Path | None = None) -> int:
    """Apply ``MIGRATIONS`` up to version ``target``, one transaction per version.

    Returns the version reached. Exposed (with ``target``) so tests can build an old database.
    """
    if not 0 <= target <= SCHEMA_VERSION:
        raise ValueError(f"target schema version must be 0..{SCHEMA_VERSION}, got {target}")
    conn = db.conn
    where = path if path is not None else "the database"
    while True:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version >= target:
            return version
        step = MIGRATIONS[version]
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated between our read and our lock: re-check.
            if int(conn.execute("PRAGMA user_version").fetchone()[0]) != version:
                conn.execute("ROLLBACK")
                continue
            step(db)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error) and (_is_locked(exc) or _is_corrupt(exc)):
                raise
            if isinstance(exc, Exception):
                raise StoreError(
                    f"upgrading {where} from schema v{version} to v{version + 1} failed "
                    f"({exc}); the file was left at v{version}: report this as a bug"
                ) from exc
            raise
        log.info("%s: migrated schema v%d -> v%d", where, version, version + 1)
