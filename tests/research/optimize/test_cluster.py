"""A search on a real Dask cluster reached by address (issue 10 item 6): a scheduler and two
workers as separate processes on 127.0.0.1, started and stopped here (workers first, then the
scheduler; nothing left running). One worker is SIGKILLed mid-search, with its nanny: the
search still completes, every trial accounted for."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.research.optimize.support import EXIT_PARAMS, env, optimize_cmd, small_home
from tests.research.support import REPO

pytestmark = pytest.mark.slow


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    # Each in its own session (process group): a worker is three processes (the nanny, the
    # worker it spawns, a resource tracker), killed or stopped together.
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "dask", *args],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env(), cwd=REPO,
        )  # fmt: skip


def _alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def _stop(proc: subprocess.Popen[bytes], how: int = signal.SIGTERM, wait: float = 30) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, how)
    try:
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    deadline = time.monotonic() + wait
    while _alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(proc.pid):
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[dict[str, Any]]:
    sched_file = tmp_path / "scheduler.json"
    scheduler = _start(
        ["scheduler", "--host", "127.0.0.1", "--port", "0", "--scheduler-file", str(sched_file),
         "--dashboard-address", "127.0.0.1:0"],
        tmp_path / "scheduler.log",
    )  # fmt: skip
    workers: dict[str, subprocess.Popen[bytes]] = {}
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            assert scheduler.poll() is None, (tmp_path / "scheduler.log").read_text()
            time.sleep(0.1)
        time.sleep(0.2)  # the file is written whole, then read
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for name in ("wA", "wB"):
            workers[name] = _start(
                ["worker", "--scheduler-file", str(sched_file), "--nthreads", "1", "--name",
                 name, "--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0",
                 "--local-directory", str(tmp_path / name)],
                tmp_path / f"{name}.log",
            )  # fmt: skip
        from distributed import Client

        with Client(address, timeout="30s", set_as_default=False) as c:
            c.wait_for_workers(2, timeout=120)
            names = {w["name"]: a for a, w in c.scheduler_info(n_workers=-1)["workers"].items()}
        yield {"address": address, "workers": workers, "names": names, "dir": tmp_path}
    finally:
        for proc in workers.values():  # the workers first, then the scheduler
            _stop(proc)
        _stop(scheduler)
    for proc in (*workers.values(), scheduler):
        assert not _alive(proc.pid), f"{proc.args} left processes running"


def test_a_search_survives_a_worker_killed_mid_search(
    cluster: dict[str, Any], tmp_path: Path
) -> None:
    home, csv = small_home(tmp_path)
    args = (*EXIT_PARAMS, "--param", "risk.gap.max_abs_gap=0.02,0.05", "--from", "2024-03-18",
            "--to", "2024-03-28", "--min-trades", "0", "--scheduler", cluster["address"],
            "--json", "--progress", "json")  # fmt: skip
    proc = subprocess.Popen(
        optimize_cmd(home, csv, *args),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), cwd=REPO,
    )  # fmt: skip
    events: list[dict[str, Any]] = []
    killed_at = None
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if not line.startswith("{"):
                continue
            events.append(json.loads(line))
            if events[-1]["event"] == "trial" and killed_at is None:
                # both workers are busy with trials: kill one, nanny and all
                victim = cluster["workers"]["wA"]
                os.killpg(victim.pid, signal.SIGKILL)
                victim.wait(timeout=30)
                killed_at = events[-1]["done"]
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    doc = json.loads(out)
    total = 8
    assert killed_at is not None and killed_at < total
    assert doc["status"] == "finished"
    assert doc["counts"] == {"complete": total}  # every trial accounted for
    assert sorted(t["number"] for t in doc["trials"]) == list(range(total))
    assert all(t["value"] is not None or t["reason"] for t in doc["trials"])
    cluster_event = next(e for e in events if e["event"] == "cluster")
    assert cluster_event["local"] is False and cluster_event["workers"] == 2
    assert cluster_event["address"] == cluster["address"]
    # the scheduler saw the worker go; the survivor ran the rest
    assert {"event": "workers", "workers": 1} in events
    survivor = cluster["names"]["wB"]
    after = [e for e in events if e["event"] == "trial" and e["done"] > killed_at + 1]
    assert after and all(e["worker"] == survivor for e in after)
    finished = [e for e in events if e["event"] == "trial"]
    assert [e["done"] for e in finished] == list(range(1, total + 1))
