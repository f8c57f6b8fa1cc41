"""The store deleted while ``workstation run --headless`` trades (issue 12 item 2), end to end:
a real process, a real SQLite file removed under it while it holds open positions.

It used to finish "fine" (exit 0), its records written into a file nobody could open again.
Now the first write after the deletion (or the watch, within a second) finds the file gone:
no order is sent any more, the run stops with one line saying what happened and what to do
(exit 4), and what the open store held is saved as the newest backup; ``store restore`` puts
it back, and the next run continues the account to exactly where an uninterrupted one ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from tests.e2e.test_crash_restart import REPO, SEED, _home, check_safety, exchange, final_state


def _cli(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKSTATION_")}
    return subprocess.run(
        [sys.executable, "-m", "workstation", "--home", str(home), "--seed", SEED, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _wait_for(cond: Callable[[], bool], proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_store_deleted_during_a_run_stops_trading_and_is_restored_whole(
    tmp_path: Path,
) -> None:
    # The uninterrupted account: one session, then two more.
    base = _home(tmp_path / "base")
    for n in ("1", "2"):
        ran = _cli(base, "run", "--headless", "--sessions", n, "--speed", "max")
        assert ran.returncode == 0, ran.stderr
    baseline = final_state(base)

    home = _home(tmp_path / "home")
    db = home / "data" / "workstation.db"
    backups = home / "data" / "backups"
    first = _cli(home, "run", "--headless", "--sessions", "1", "--speed", "max")
    assert first.returncode == 0, first.stderr
    assert exchange(home).positions_sync(), "the account holds positions overnight"
    before = len(list(backups.glob("*.db")))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKSTATION_")}
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "workstation", "--home", str(home), "--seed", SEED),
            *("run", "--headless", "--sessions", "2", "--speed", "5000", "--json"),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # running: its start backup is taken; the simulated evening passes at 5000x
        _wait_for(lambda: len(list(backups.glob("*.db"))) > before, proc)
        time.sleep(0.3)
        db.unlink()  # as a user (or a cleaning script) would
        deleted_at = time.monotonic()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert time.monotonic() - deleted_at < 10, "noticed within seconds"
    assert proc.returncode == 4, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith(f"workstation: the store {db} was deleted while the workstation ran")
    assert "trading stopped at 2024-03-1" in line
    assert "(open positions keep their protective stops at the broker)" in line
    assert "; restore the backup workstation-" in line
    assert ", which holds everything it had, with 'workstation store restore', then start " in line
    assert out == "", "no session finished after the store was gone"
    assert not db.exists(), "nothing recreated the deleted store"

    # No order after the store went away (the simulated time is named in the line).
    stopped = datetime.fromisoformat(line.split("trading stopped at ")[1][:19])
    orders = exchange(home).orders()
    assert orders and all(
        o.created_at is None or o.created_at.replace(tzinfo=None) <= stopped for o in orders
    )

    # The next run refuses to start from an empty store while the backups exist.
    refused = _cli(home, "run", "--headless", "--sessions", "2", "--speed", "max")
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.count("\n") == 1
    assert f"the store {db} is missing, but its backups are in" in refused.stderr
    assert "restore it with 'workstation store restore'" in refused.stderr
    assert not db.exists()

    listed = _cli(home, "store", "backups")
    assert listed.returncode == 0, listed.stderr
    newest = listed.stdout.splitlines()[1].split()[0]
    restored = _cli(home, "store", "restore")
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.startswith(f"restored {newest} (taken ")
    # the deleted store's -wal and -shm were moved aside with the restore, never deleted,
    # and never left beside the restored file (SQLite would replay a stale log onto it)
    assert "the previous store is kept as" in restored.stdout
    aside = Path(restored.stdout.split("kept as ")[1].split(". The next")[0])
    assert aside.with_name(aside.name + "-wal").exists()
    assert not db.with_name(db.name + "-wal").exists()

    # What the deleted store held came back whole: the run resumes, the store and the
    # exchange agree, and the account ends exactly as the uninterrupted one.
    done = _cli(home, "run", "--headless", "--sessions", "2", "--speed", "max")
    assert done.returncode == 0, done.stderr
    assert "resuming the simulated run 2024-03-12..2024-03-13" in done.stderr
    check_safety(home)
    assert final_state(home) == baseline
