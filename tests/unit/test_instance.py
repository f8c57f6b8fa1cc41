"""The instance lock: one workstation per home (issue 12 item 1).

Which commands hold the home, and which run beside a running workstation, is a decision made
per command (docs/reliability.md); the table below runs each with the home held by another
instance (an InstanceLock held in this process: flock refuses a second open file of the same
process as it refuses another process).
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from workstation.cli import main
from workstation.instance import INFO_FILE, HomeBusy, InstanceLock, hold_home


def test_a_second_lock_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    first = InstanceLock(tmp_path / "data", tmp_path)
    assert first.acquire("workstation run --headless") is None
    second = InstanceLock(tmp_path / "data", tmp_path)
    with pytest.raises(HomeBusy) as busy:
        second.acquire("workstation")
    assert busy.value.exit_code == 2
    text = str(busy.value)
    assert "\n" not in text
    assert f"another workstation is running on the home {tmp_path} (pid " in text
    assert "'workstation run --headless', since " in text
    assert second.probe() == first.holder
    first.release()
    assert not (tmp_path / "data" / INFO_FILE).exists()
    assert second.probe() is None
    assert second.acquire("workstation") is None, "a clean release leaves nothing to take over"
    second.release()


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    data = tmp_path / "data"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from pathlib import Path
                from workstation.instance import InstanceLock
                lock = InstanceLock(Path({str(data)!r}))
                lock.acquire("workstation run --headless")
                print("held", flush=True)
                time.sleep(60)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        lock = InstanceLock(data)
        with pytest.raises(HomeBusy, match=f"pid {holder.pid} on "):
            lock.acquire("workstation")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    previous = lock.acquire("workstation")
    assert previous is not None and previous.pid == holder.pid
    assert previous.command == "workstation run --headless"
    assert lock.read_holder() == lock.holder and lock.holder is not None
    assert lock.holder.pid != holder.pid
    lock.release()


def test_hold_home_says_when_it_takes_over(tmp_path: Path, capsys: Any) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / INFO_FILE).write_text(
        json.dumps({"pid": 4242, "host": "h", "command": "workstation", "since": "2024-03-11T09"})
    )
    with hold_home(data, "workstation scan"):
        pass
    err = capsys.readouterr().err
    assert err == (
        "workstation: the previous workstation on this home (pid 4242 on h, 'workstation', "
        "since 2024-03-11 09:00:00) ended without releasing it (killed or crashed); "
        "taking over\n"
    )


def _universe(tmp_path: Path) -> Path:
    csv = tmp_path / "universe.csv"
    csv.write_text("symbol,sector\nAAPL,Information Technology\nXOM,Energy\nJPM,Financials\n")
    return csv


@pytest.mark.parametrize(
    ("argv", "code", "saved"),
    [
        (["config", "check"], 0, None),
        (["market", "bars", "AAPL", "--days", "3"], 0, None),
        (["scan", "--json"], 0, False),
        (["--no-gui"], 0, False),
        (["run", "--headless", "--speed", "max"], 2, None),
    ],
    ids=["config-check", "market-bars", "scan", "no-gui", "run-headless"],
)
def test_what_runs_beside_a_running_workstation(
    home: Path, tmp_path: Path, capsys: Any, argv: list[str], code: int, saved: bool | None
) -> None:
    running = InstanceLock(home / "data", home)
    running.acquire("workstation run --headless --sessions 5")
    try:
        got = main(["--home", str(home), "--universe", str(_universe(tmp_path)), *argv])
    finally:
        running.release()
    out, err = capsys.readouterr()
    assert got == code, err
    if code == 2:
        assert err.count("\n") == 1 and "another workstation is running on the home" in err
        assert "'workstation run --headless --sessions 5'" in err
    if saved is False:
        assert "this scan is shown, not saved: the workstation running on this home" in err
        if "--json" in argv:
            assert json.loads(out)["saved"] is False
    db = home / "data" / "workstation.db"
    assert not db.exists(), "nothing beside a running workstation opens its store"


def test_a_scan_with_nobody_running_is_saved_and_holds_the_home_meanwhile(
    home: Path, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workstation.commands import scan_cmd

    seen: list[Any] = []
    real = scan_cmd._scan

    def spy(ctx: Any, args: Any, store: Any) -> int:
        seen.append(InstanceLock(home / "data").probe())
        return real(ctx, args, store)

    monkeypatch.setattr(scan_cmd, "_scan", spy)
    got = main(["--home", str(home), "--universe", str(_universe(tmp_path)), "scan", "--json"])
    out, err = capsys.readouterr()
    assert got == 0, err
    assert json.loads(out)["saved"] is True
    assert seen and seen[0] is not None and "scan --json" in seen[0].command
    assert InstanceLock(home / "data").probe() is None, "released at the end"
    con = sqlite3.connect(home / "data" / "workstation.db")
    assert con.execute("SELECT COUNT(*) FROM scans").fetchone()[0] == 1
    con.close()
