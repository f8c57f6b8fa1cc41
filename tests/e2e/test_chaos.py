"""Chaos: a simulated 5-session run killed at 10 random moments, with a second instance
started against the same home each time, ends exactly where an uninterrupted run ends
(issue 12, "Done when").

The uninterrupted run is made first, in this process, noting the engines' time at each of its
store commits (a run's moments are its writes: an order's row written and not yet sent, a fill
stored and not yet applied, a step's bookkeeping, a restart's reconciliation...). Ten commits
are drawn with a fixed seed (a failure names their moments, and the same seed reruns them).

Each round starts ``workstation run --headless`` on the chaos home armed with the test-only
crash hook ``WORKSTATION_CRASH_AT=commit@<moment>`` (the first commit at or after that moment
of the engines' clock: the same moment of the run however often it was restarted before) and
``WORKSTATION_CRASH_HOW=stop``: at the moment it freezes itself (SIGSTOP), still holding the
home. It takes the home over from the one killed in the round before (reconciliation with the
exchange, resuming the simulated run). As soon as it holds the home a SECOND instance is
started against it, while the first runs or is frozen at its moment: it must be refused with
one line naming the first (pid), exit code 2, having sent nothing. Only then does the test
SIGKILL the first. (Freezing rather than dying at the moment makes the order certain: a first
one whose moment comes a few milliseconds after its start could otherwise be dead before the
second one has even imported Python, and the second would take over instead of being refused.)

After the ten kills, spread over at least four of the five days, a last run (unarmed)
finishes the account, which must hold exactly the trades, positions and cash of the
uninterrupted run, with no client order id used twice at the exchange (checked after every
round too), the store and the exchange knowing the same orders and fills, and every open
position with one resting protective stop covering it (``check_safety``).

Cost: about 33 s of CPU in all, measured (the in-process uninterrupted run ~3 s, each round
~2.5 s for its two processes, the first's run and the second's start; the last run ~1.5 s).
The rounds run one after another and a round's refused instance starts while the first runs,
on CI's second core, so on two idle cores the wall time is about the CPU time, well inside the
minute this test may cost; on a machine shared by many processes it stretches with the load
(about 140 s at a load of 10 on two cores). This is the whole test as the issue asks for it,
ten kills, and CI runs it as it is: there is no shorter CI variant. For a longer soak,
``WORKSTATION_CHAOS_SEEDS=1,2,3`` (opt-in) runs it once per listed seed instead of the fixed
one.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_crash_restart import (
    REPO,
    SEED,
    _home,
    _run,
    check_safety,
    exchange,
    final_state,
)
from workstation.cli import main
from workstation.instance import InstanceLock

SESSIONS = "5"
KILLS = 10
SEEDS = [
    int(s) for s in os.environ.get("WORKSTATION_CHAOS_SEEDS", "20240311").split(",") if s.strip()
]
#: Generous bounds for one process on a loaded machine; a hang fails, it never blocks CI.
WAIT_S = 180.0


def _uninterrupted(home: Path, monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The whole run, in this process; returns the engines' time at each of its commits."""
    from workstation.engine.crashpoints import CrashHook

    times: list[datetime] = []

    def record(_hook: CrashHook, store: Any, clock: Any) -> None:
        store.after_commit(lambda: times.append(clock.now()))

    monkeypatch.setattr(CrashHook, "attach_store", record)
    for name in [k for k in os.environ if k.startswith("WORKSTATION_")]:
        monkeypatch.delenv(name)
    argv = ["--home", str(home), "--seed", SEED, "run", "--headless", "--sessions", SESSIONS]
    assert main([*argv, "--speed", "max", "--json"]) == 0
    monkeypatch.undo()
    return times


class _Instance:
    """One ``run --headless`` process, its output in files (a frozen process never blocks on
    a full pipe)."""

    def __init__(self, home: Path, name: str, crash_at: str, how: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WORKSTATION_")}
        env["WORKSTATION_CRASH_AT"] = crash_at
        env["WORKSTATION_CRASH_HOW"] = how
        self.out_path = home.parent / f"{name}.out"
        self.err_path = home.parent / f"{name}.err"
        with self.out_path.open("w") as out, self.err_path.open("w") as err:
            self.proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "workstation", "--home", str(home), "--seed", SEED),
                    *("run", "--headless", "--sessions", SESSIONS, "--speed", "max", "--json"),
                ],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=err,
            )
        self.pid = self.proc.pid

    @property
    def out(self) -> str:
        return self.out_path.read_text()

    @property
    def err(self) -> str:
        return self.err_path.read_text()

    def ended(self) -> bool:
        return self.proc.poll() is not None

    def wait_stopped(self) -> None:
        """Until it froze itself at its moment (a child's stop is seen without reaping it)."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WUNTRACED | os.WNOHANG)
            if pid == 0:
                time.sleep(0.01)
                continue
            if os.WIFSTOPPED(status):
                return
            # it ended instead (reaped here: tell Popen what it was)
            self.proc.returncode = os.waitstatus_to_exitcode(status)
            raise AssertionError(f"ended ({self.proc.returncode}) before its moment: {self.err}")
        raise AssertionError(f"did not reach its moment within {WAIT_S:.0f} s: {self.err}")

    def kill(self) -> int:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # ended meanwhile
                os.kill(self.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        return self.proc.returncode


def _wait_holding(home: Path, first: _Instance) -> None:
    """Until ``first`` holds the home (the lock's info file names it)."""
    lock = InstanceLock(home / "data", home)
    deadline = time.monotonic() + WAIT_S
    while True:
        holder = lock.read_holder()
        if holder is not None and holder.pid == first.pid:
            return
        assert not first.ended(), f"it ended before holding the home: {first.err}"
        assert time.monotonic() < deadline, f"it did not take the home: {first.err}"
        time.sleep(0.005)


@pytest.mark.parametrize("seed", SEEDS)
def test_ten_kills_with_a_second_instance_each_time_end_as_an_uninterrupted_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, seed: int
) -> None:
    base = _home(tmp_path / "base")
    times = _uninterrupted(base, monkeypatch)
    capsys.readouterr()
    baseline = final_state(base)
    assert baseline["trades"] and baseline["positions"]

    # Ten of its commits drawn at random: each round kills the run at the first commit at or
    # after that commit's time (the same moment of the run, however often it was restarted).
    picks = sorted(random.Random(seed).sample(range(len(times)), KILLS))
    moments = [times[i].isoformat() for i in picks]
    home = _home(tmp_path / "home")
    resumed: list[str] = []
    started: list[_Instance] = []
    try:
        for i, at in enumerate(moments):
            where = f"seed {seed}, round {i + 1}, moments {moments}"
            first = _Instance(home, f"round{i + 1}-first", f"commit@{at}", "stop")
            started.append(first)
            _wait_holding(home, first)
            # The second instance, armed to die at the same moment should it (wrongly) get
            # the home, starts while the first holds it: running, or frozen at its moment.
            second = _Instance(home, f"round{i + 1}-second", f"commit@{at}", "kill")
            started.append(second)
            second.proc.wait(timeout=WAIT_S)
            assert second.proc.returncode == 2, (where, second.proc.returncode, second.err)
            assert second.out == "" and second.err.count("\n") == 1, (where, second.err)
            assert "another workstation is running on the home" in second.err, where
            assert f"(pid {first.pid} on " in second.err, (where, second.err)

            first.wait_stopped()
            assert first.kill() == -signal.SIGKILL, where
            if i > 0:  # the round before left its info file: a take-over, said as such
                assert "ended without releasing it (killed or crashed)" in first.err, where
            resumed += [line for line in first.err.splitlines() if "resuming" in line]
            ids = [o.client_order_id for o in exchange(home).orders()]
            assert len(ids) == len(set(ids)), f"{where}: a client order id was used twice"
    finally:
        for instance in started:  # leave nothing running, whatever failed
            instance.kill()
    finished = _run(home, sessions=SESSIONS)
    assert finished.returncode == 0, finished.stderr
    assert "ended without releasing it (killed or crashed); taking over" in finished.stderr
    resumed += [line for line in finished.stderr.splitlines() if "resuming" in line]
    # the kills spread over the days of the run (each restart says where it resumes)
    assert len(resumed) == KILLS, resumed
    assert len({line.split(" at ")[1][:10] for line in resumed}) >= 4, resumed
    check_safety(home)
    assert final_state(home) == baseline, f"seed {seed}: kills at {moments}"
