"""The store's file under faults (issue 12 item 2): created whole, never silently replaced,
its loss noticed at the next write, rotating online backups, restore that deletes nothing.

Real SQLite files throughout; the end-to-end case (a real run whose store is deleted) is in
tests/e2e/test_store_lost.py.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from workstation.cli import main
from workstation.core.config import StoreConfig
from workstation.core.paths import Paths
from workstation.engine.store_keeper import StoreKeeper
from workstation.errors import UserError
from workstation.instance import InstanceLock
from workstation.store import Store, StoreError
from workstation.store.backups import Backups, check_database, restore
from workstation.store.file_watch import StoreUnusable, sqlite_problem
from workstation.store.home_store import open_home_store

T0 = datetime(2024, 3, 12, 14, 0, tzinfo=UTC)


def _write(store: Store, n: int = 1) -> None:
    for i in range(n):
        store.audit("engine", "test.write", f"n:{i}", {"i": i}, at=T0)


def _count(path: Path) -> int:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(con.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0])
    finally:
        con.close()


# ------------------------------------------------------------------ opening
def test_a_new_store_is_created_whole(tmp_path: Path) -> None:
    path = tmp_path / "workstation.db"
    with Store.open(path):
        # the file has its header and schema at once, not only in a -wal beside it
        assert path.stat().st_size >= 4096
        assert path.read_bytes()[:16] == b"SQLite format 3\x00"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["workstation.db"]


def test_an_empty_store_file_is_refused_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "workstation.db"
    path.write_bytes(b"")
    with pytest.raises(StoreError) as err:
        Store.open(path)
    msg = str(err.value)
    assert msg == (
        f"{path} is empty (0 bytes): it was emptied or replaced; restore a backup "
        "('workstation store restore'), or delete the file to start a new, empty store"
    )
    assert path.stat().st_size == 0, "left exactly as it was"


def test_a_missing_store_with_backups_is_not_replaced_by_an_empty_one(tmp_path: Path) -> None:
    paths = Paths.resolve(tmp_path / "home").ensure()
    cfg = StoreConfig()
    open_home_store(paths, cfg).close()  # nothing yet: a new store
    Backups(paths.data_dir / "backups").take(paths.db_path)
    paths.db_path.unlink()
    with pytest.raises(UserError) as err:
        open_home_store(paths, cfg)
    assert err.value.exit_code == 2
    assert f"the store {paths.db_path} is missing, but its backups are in" in str(err.value)
    assert not paths.db_path.exists()


# ------------------------------------------------------------------ the file goes away
@pytest.mark.parametrize("how", ["deleted", "replaced", "emptied"])
def test_a_store_whose_file_goes_away_refuses_every_later_write(tmp_path: Path, how: str) -> None:
    path = tmp_path / "workstation.db"
    store = Store.open(path)
    told: list[StoreUnusable] = []
    store.on_problem(told.append)
    _write(store)
    if how == "deleted":
        path.unlink()
    elif how == "replaced":
        other = tmp_path / "other.db"
        Store.open(other).close()
        os.replace(other, path)
    else:
        path.write_bytes(b"")
    with pytest.raises(StoreUnusable) as err:
        _write(store)
    assert err.value.kind == how and str(path) in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(StoreUnusable):  # and every write after it
        _write(store)
    assert [p.kind for p in told] == [how], "listeners are told once"
    assert store.problem is told[0]
    store.close()


def test_the_checkpointer_never_recreates_a_deleted_store(tmp_path: Path) -> None:
    path = tmp_path / "workstation.db"
    store = Store.open(path)
    store._checkpointer._interval_s = 0.05  # type: ignore[attr-defined]
    _write(store, 5)
    path.unlink()
    time.sleep(2.5)  # past the checkpointer's wait (it wakes every 2 s)
    assert not path.exists()
    store.close()


def test_the_full_check_sees_an_overwritten_header(tmp_path: Path) -> None:
    path = tmp_path / "workstation.db"
    store = Store.open(path)
    assert store.check() is None
    with path.open("r+b") as fh:
        fh.write(b"not a database!!")
    problem = store.check()
    assert problem is not None and problem.kind == "damaged"
    with pytest.raises(StoreUnusable):
        _write(store)
    store.close()


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("attempt to write a readonly database", "read_only"),
        ("database or disk is full", "disk_full"),
        ("disk I/O error", "io_error"),
        ("no such table: x", None),
    ],
)
def test_sqlite_errors_that_mean_the_file_cannot_be_written(message: str, kind: str) -> None:
    problem = sqlite_problem(Path("/x/ws.db"), sqlite3.OperationalError(message))
    assert (problem.kind if problem else None) == kind


# ------------------------------------------------------------------ backups
def test_backups_are_consistent_copies_and_rotate(tmp_path: Path) -> None:
    path = tmp_path / "workstation.db"
    store = Store.open(path)
    backups = Backups(tmp_path / "backups", keep=3)
    taken = []
    for i in range(5):
        _write(store)
        taken.append(backups.take(path, now=datetime(2024, 3, 12, 10, i)))
    kept = backups.paths()
    assert kept == list(reversed(taken[2:])), "the newest 3, newest first"
    assert [_count(p) for p in kept] == [5, 4, 3]
    assert check_database(kept[0]) == ""
    # self-contained: no -wal beside a backup
    assert sorted(p.name for p in backups.folder.iterdir()) == sorted(p.name for p in kept)
    same_second = backups.take(path, now=datetime(2024, 3, 12, 10, 4))
    assert same_second.name == "workstation-20240312-100400-2.db"
    assert backups.latest() == same_second
    info = backups.describe(same_second)
    assert (info.orders, info.trades, info.open_positions) == (0, 0, 0) and not info.problem
    store.close()


def test_a_bad_copy_is_not_kept_and_rotates_nothing_away(tmp_path: Path) -> None:
    path = tmp_path / "workstation.db"
    Store.open(path).close()
    backups = Backups(tmp_path / "backups", keep=1)
    good = backups.take(path)

    def broken(target: Path) -> None:
        target.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)

    with pytest.raises(StoreError, match="it was not kept"):
        backups.take_with(broken, now=datetime(2099, 1, 1))
    assert backups.paths() == [good]


def test_the_keeper_backs_up_at_start_periodically_and_at_stop(tmp_path: Path) -> None:
    path = tmp_path / "workstation.db"
    store = Store.open(path)
    keeper = StoreKeeper(store, Backups(tmp_path / "backups", keep=10), every_s=0.2, watch_s=0.05)

    async def scenario() -> None:
        await keeper.start()
        assert len(keeper.taken) == 1
        await asyncio.sleep(0.5)
        assert len(keeper.taken) >= 2
        await keeper.stop()

    asyncio.run(scenario())
    assert len(keeper.taken) >= 3 and keeper.taken == list(reversed(keeper.backups.paths()))
    store.close()


def test_the_keeper_saves_what_a_deleted_store_held_and_backs_up_nothing_after(
    tmp_path: Path,
) -> None:
    path = tmp_path / "workstation.db"
    store = Store.open(path)
    backups = Backups(tmp_path / "backups", keep=10)
    keeper = StoreKeeper(store, backups, every_s=3600, watch_s=0.05)

    async def scenario() -> None:
        await keeper.start()
        _write(store, 7)  # after the start backup: only the open store has these
        path.unlink()
        await asyncio.sleep(0.3)  # the watch finds it
        assert store.problem is not None and store.problem.kind == "deleted"
        await keeper.stop()  # no backup of an unusable store at stop

    asyncio.run(scenario())
    assert keeper.rescued is not None and keeper.rescued == backups.latest()
    assert _count(keeper.rescued) == 7, "everything the deleted store held"
    assert len(backups.paths()) == 2
    store.close()


# ------------------------------------------------------------------ restore
def test_restore_moves_the_current_store_aside_and_deletes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "workstation.db"
    store = Store.open(path)
    _write(store, 2)
    backups = Backups(tmp_path / "backups")
    backup = backups.take(path)
    _write(store, 3)  # 5 now; committed in the -wal, not checkpointed
    store.close()
    done = restore(backup, path, now=datetime(2024, 3, 13, 9, 0))
    assert done.kept_aside == tmp_path / "workstation-replaced-20240313-090000.db"
    assert _count(done.kept_aside) == 5, "the store moved aside holds all it had"
    assert _count(path) == 2
    assert backup.exists()
    with Store.open(path) as again:
        assert again.schema_version >= 1


def test_a_damaged_backup_is_not_restored(tmp_path: Path) -> None:
    path = tmp_path / "workstation.db"
    Store.open(path).close()
    bad = tmp_path / "workstation-20240101-000000.db"
    bad.write_bytes(b"junk" * 100)
    with pytest.raises(StoreError, match="choose another one"):
        restore(bad, path)
    assert check_database(path) == "", "the store is untouched"


def test_store_commands(home: Path, capsys: Any) -> None:
    assert main(["--home", str(home), "store", "backups"]) == 0
    assert "no backups in " in capsys.readouterr().out
    Store.open(home / "data" / "workstation.db").close()
    Backups(home / "data" / "backups").take(home / "data" / "workstation.db")
    assert main(["--home", str(home), "store", "backups"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("1 backups of ") and "0 orders, 0 trades, 0 open positions" in out[1]

    running = InstanceLock(home / "data", home)
    running.acquire("workstation run --headless")
    try:
        assert main(["--home", str(home), "store", "restore"]) == 2
    finally:
        running.release()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "another workstation is running on the home" in err
    assert err.rstrip().endswith("stop it first (nothing was restored)")
    assert not list((home / "data").glob("workstation-replaced-*"))

    assert main(["--home", str(home), "store", "restore", "nope.db"]) == 2
    assert "no backup 'nope.db' in " in capsys.readouterr().err
    assert main(["--home", str(home), "store", "restore"]) == 0
    assert "the previous store is kept as " in capsys.readouterr().out
    assert len(list((home / "data").glob("workstation-replaced-*.db"))) == 1


def test_a_read_only_store_is_one_line_not_a_crash(home: Path) -> None:
    """It used to end in 'unexpected error: OperationalError' (exit 70)."""
    import subprocess
    import sys

    from tests.unprivileged import as_ordinary_user

    db = home / "data" / "workstation.db"
    Store.open(db).close()
    db.chmod(0o444)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "workstation", "--home", str(home), "scan"],
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=as_ordinary_user(),
            env={k: v for k, v in os.environ.items() if not k.startswith("WORKSTATION_")},
        )
    finally:
        db.chmod(0o644)
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"workstation: cannot write to {db}: the file or its folder is read-only; make both "
        "writable again (check their permissions and owner), or restore a backup\n"
    )
