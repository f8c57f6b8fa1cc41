"""Chaos: a simulated 5-session run killed at 10 random moments, with a second instance
started against the same home each time, ends exactly where an uninterrupted run ends
(issue 12, "Done when").

The uninterrupted run is made first (in this process, counting its store commits: a run's
moments are its writes). Ten distinct commit numbers are drawn from a seeded generator (a
failure names them, and reruns the same). Each round then starts TWO ``workstation run
--headless`` processes on the chaos home at once, both armed to SIGKILL themselves right after
their N-th store commit (the test-only crash hook ``WORKSTATION_CRASH_AT=commit@N``, N the gap
to the next drawn number): whichever takes the home first runs from where the last one was
killed (a take-over: reconciliation with the exchange, resuming the simulated run) and is
killed there, mid-write-sequence (an order's row written and not yet sent, a fill stored and
not yet applied, a step's bookkeeping, the restart's own reconciliation...); the other must be
refused with one line naming it and exit code 2, having sent nothing. A last run, unarmed,
finishes the account, which must hold exactly the trades, positions and cash of the
uninterrupted run, with no client order id used twice at the exchange, the store and the
exchange knowing the same orders and fills, and every open position with one resting
protective stop (``check_safety``).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
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

SESSIONS = "5"
KILLS = 10


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


def _start(home: Path, crash_at: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKSTATION_")}
    env["WORKSTATION_CRASH_AT"] = crash_at
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "workstation", "--home", str(home), "--seed", SEED),
            *("run", "--headless", "--sessions", SESSIONS, "--speed", "max", "--json"),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("seed", [20240311])
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
    moments = [times[i] for i in picks]
    home = _home(tmp_path / "home")
    resumed: list[str] = []
    for i, at in enumerate(moments):
        a, b = _start(home, f"commit@{at.isoformat()}"), _start(home, f"commit@{at.isoformat()}")
        done = [(p, *p.communicate(timeout=180)) for p in (a, b)]
        where = f"round {i + 1}, moments {[m.isoformat() for m in moments]}"
        codes = sorted(p.returncode for p, _out, _err in done)
        assert codes == [-signal.SIGKILL, 2], (
            where,
            [(p.returncode, e[-800:]) for p, *_, e in done],
        )
        killed, _out, err = next(d for d in done if d[0].returncode == -signal.SIGKILL)
        resumed += [line for line in err.splitlines() if "resuming" in line]
        refused_out, refused_err = next((o, e) for p, o, e in done if p.returncode == 2)
        assert refused_out == "" and refused_err.count("\n") == 1, (where, refused_err)
        assert f"(pid {killed.pid} on " in refused_err, (where, refused_err)
        ids = [o.client_order_id for o in exchange(home).orders()]
        assert len(ids) == len(set(ids)), f"{where}: a client order id was used twice"
    finished = _run(home, sessions=SESSIONS)
    assert finished.returncode == 0, finished.stderr
    assert "ended without releasing it (killed or crashed); taking over" in finished.stderr
    resumed += [line for line in finished.stderr.splitlines() if "resuming" in line]
    # the kills spread over the days of the run (each restart says where it resumes)
    assert len(resumed) == KILLS
    assert len({line.split(" at ")[1][:10] for line in resumed}) >= 4, resumed
    check_safety(home)
    assert final_state(home) == baseline, f"kills at {[m.isoformat() for m in moments]}"
