"""One process per home, end to end with real processes (issue 12 item 1).

Two ``workstation run --headless`` on one home used to both trade (two filled sells per
position on day 5). Now the first holds the home's lock: the second refuses with one line
naming the first and exit code 2, and sends nothing. The first is then killed with SIGKILL
(its lock dies with it, its info file stays): the next run recognises the crash, takes the
home over, resumes the run and ends exactly where an uninterrupted run ends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.test_crash_restart import REPO, SEED, _home, _run, check_safety, final_state


def _start(home: Path, speed: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKSTATION_")}
    cmd = [sys.executable, "-m", "workstation", "--home", str(home), "--seed", SEED]
    return subprocess.Popen(
        [*cmd, "run", "--headless", "--sessions", "2", "--speed", speed, "--json"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def test_a_second_run_refuses_and_a_killed_ones_home_is_taken_over(tmp_path: Path) -> None:
    base = _home(tmp_path / "base")
    done = _run(base)
    assert done.returncode == 0, done.stderr
    baseline = final_state(base)

    home = _home(tmp_path / "home")
    first = _start(home, "2000")  # slow enough to be running while the second one starts
    try:
        _wait_for(home / "data" / "sim_exchange.json", first)
        info = json.loads((home / "data" / "instance.json").read_text())
        assert info["pid"] == first.pid
        assert "run --headless" in info["command"]

        second = _run(home)
        assert second.returncode == 2, second.stderr
        lines = second.stderr.splitlines()
        assert len(lines) == 1, second.stderr
        assert lines[0].startswith("workstation: another workstation is running on the home")
        assert f"pid {first.pid} on " in lines[0] and "run --headless" in lines[0]
        assert second.stdout == ""
        assert first.poll() is None, "the refused run must not disturb the running one"
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
    assert first.returncode == -signal.SIGKILL
    # the kill left the info file (not the lock: the kernel released it)
    assert json.loads((home / "data" / "instance.json").read_text())["pid"] == first.pid

    taker = _run(home)
    assert taker.returncode == 0, taker.stderr
    assert f"the previous workstation on this home (pid {first.pid} on " in taker.stderr
    assert "ended without releasing it (killed or crashed); taking over" in taker.stderr
    assert "resuming the simulated run 2024-03-11..2024-03-12" in taker.stderr
    assert not (home / "data" / "instance.json").exists(), "a clean exit removes its info"
    check_safety(home)
    assert final_state(home) == baseline
