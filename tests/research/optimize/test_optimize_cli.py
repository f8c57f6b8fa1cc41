"""`workstation optimize` end to end, as real processes on a local Dask cluster: bad input is
one line before anything starts; a walk-forward grid search over two exit parameters gives the
same result for the same seed on 1 and 2 workers, reads its scans from the shared cache, and
is listed in the home's store; a cancelled search (a real process, interrupted) resumes where
it stopped and ends where an uninterrupted one ends (test_driver.py: a tpe search asks the
same trials whatever order its results come back in). Most runs go through ``main()`` in this
process to spare the imports; their trials still run on worker processes of a real local
cluster."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.research.optimize.support import (
    EXIT_PARAMS,
    FIRST,
    LAST,
    by_params,
    choices,
    env,
    optimize_cmd,
    optimize_here,
    small_home,
)
from tests.research.support import REPO
from workstation.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return small_home(tmp_path_factory.mktemp("optimize"), n_symbols=10)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--param", "risk.exits.time_exit_day=int:0:5"],
         "--param risk.exits.time_exit_day=int:0:5: risk.yaml: exits.time_exit_day = 0 is out "
         "of range: allowed [1 .. 100]"),
        (["--param", "risk.exits.nope=1,2"], "unknown key 'exits.nope'"),
        (["--param", "strategies.bb_squeeze.sl_atr=1.0:3.0", "--search", "grid"],
         "a grid search needs points"),
        (["--param", "risk.exits.time_exit_day=3,4", "--search", "annealing"],
         "--search 'annealing': choose from grid, random, tpe"),
        (["--param", "risk.exits.time_exit_day=3,4", "--objective", "alpha"],
         "--objective 'alpha': choose from sharpe, sortino, calmar, profit_factor, expectancy"),
        (["--param", "risk.exits.time_exit_day=3,4", "--trials", "many"],
         "--trials 'many' is not a whole number"),
        (["--param", "risk.exits.time_exit_day=3,4", "--walk-forward", "3y"],
         "--walk-forward 3y: write TRAIN:TEST"),
        (["--param", "risk.exits.time_exit_day=3,4", "--walk-forward", "1y:1y"],
         "the period has 20 sessions; 252 to train and 252 to test need at least 504"),
        (["--param", "risk.exits.time_exit_day=3,4", "--from", "2024-03-02"],
         "--from 2024-03-02 is not an NYSE session"),
        ([], "give at least one --param KEY=SPEC"),
        (["--resume", "nope"], "--resume nope: no such search"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2_before_anything_starts(
    small: tuple[Path, Path], capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    home, csv = small
    before = sorted((home / "data").rglob("*.db")) if (home / "data").exists() else []
    rc = main(["--home", str(home), "--universe", str(csv), "optimize", "--from", FIRST,
               "--to", LAST, *args])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert err.count("\n") == 0 and err.startswith("workstation: ")
    assert message in err
    after = sorted((home / "data").rglob("optimize/*.db")) if (home / "data").exists() else []
    assert not [p for p in after if p not in before]  # no search file was created


def test_grid_walk_forward_same_result_on_1_and_2_workers(
    small: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    home, csv = small
    args = (*EXIT_PARAMS, "--from", FIRST, "--to", LAST, "--walk-forward", "10:5",
            "--min-trades", "0", "--seed", "3")  # fmt: skip
    rc, one, events, err = optimize_here(capsys, home, csv, *args, "--workers", "1")
    assert rc == 0, err
    assert "Traceback" not in err  # no worker's log on the console
    rc, two, events2, err = optimize_here(capsys, home, csv, *args, "--workers", "2")
    assert rc == 0, err
    assert "Traceback" not in err
    assert one is not None and two is not None
    assert one["search"] == "grid" and len(one["trials"]) == 4
    assert one["counts"] == {"complete": 4} and two["counts"] == {"complete": 4}
    assert one["workers"] == 1 and two["workers"] == 2
    assert by_params(one) == by_params(two)
    assert choices(one) == choices(two)
    assert one["best"]["params"] == two["best"]["params"]
    # the walk-forward: 20 sessions, 10 train : 5 test -> windows [0-9 | 10-14], [5-14 | 15-19]
    wf = one["walk_forward"]
    assert [(w["train"]["sessions"], w["test"]["sessions"]) for w in wf["windows"]] == [
        (10, 5),
        (10, 5),
    ]
    assert len(wf["out_of_sample"]["equity"]) == 10
    assert wf["live"]["train"] == {"first": "2024-03-15", "last": "2024-03-28", "sessions": 10}
    best = one["best"]
    assert best["chosen_on"] == wf["live"]["train"]
    assert 0.0 <= best["deflated_sharpe"]["dsr"] <= 1.0 and best["deflated_sharpe"]["n_trials"] == 4
    assert best["overfitting"]["trials"] == 4
    for t in one["trials"]:  # every trial has its value on every window
        assert [w["window"] for w in t["windows"]] == [0, 1, "live"]
    # exit parameters do not change the scan: computed once before the trials (by the first
    # search; the second found them in the home's scan cache), never inside a trial
    scans = [e for e in events if e["event"] == "scans"]
    assert scans[-1]["done"] == scans[-1]["total"] == 20
    assert next(e for e in events2 if e["event"] == "scans")["cached"] == 20
    assert all(t["scans"] == {"cached": 20, "computed": 0} for t in one["trials"] + two["trials"])
    # the order of events: planned, cluster, scans, queued/trial..., finished
    names = [e["event"] for e in events]
    assert names[:2] == ["planned", "cluster"] and names[-1] == "finished"
    assert names.count("trial") == 4 and names.count("queued") == 4
    # both listed in the home's store
    assert main(["--home", str(home), "--universe", str(csv), "optimize", "--list", "--json"]) == 0
    listed = {s["id"]: s for s in json.loads(capsys.readouterr().out)}
    for doc in (one, two):
        row = listed[doc["id"]]
        assert (row["status"], row["trials_done"], row["trials_total"]) == ("finished", 4, 4)
        assert row["best"]["params"] == doc["best"]["params"]
        assert Path(row["path"]).is_file()


def _until_first_trial(proc: subprocess.Popen[str]) -> list[dict[str, Any]]:
    assert proc.stderr is not None
    events = []
    for line in proc.stderr:
        if line.startswith("{"):
            events.append(json.loads(line))
            if events[-1]["event"] == "trial":
                return events
    raise AssertionError(f"the search ended before a trial finished: {events}")


def test_a_cancelled_search_resumes_where_it_stopped(
    small: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    home, csv = small
    args = ("--param", "risk.exits.time_exit_day=int:2:7", "--from", "2024-03-18", "--to",
            LAST, "--min-trades", "0", "--workers", "1")  # fmt: skip
    proc = subprocess.Popen(
        optimize_cmd(home, csv, *args, "--json", "--progress", "json"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), cwd=REPO,
    )  # fmt: skip
    try:
        events = _until_first_trial(proc)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == 130, err
    stopped = json.loads(out)
    search_id = stopped["id"]
    assert stopped["status"] == "cancelled"
    done = stopped["counts"].get("complete", 0)
    assert 1 <= done < 6
    assert stopped["counts"].get("interrupted", 0) == 6 - done  # closed, to run again
    assert f"continue it with 'workstation optimize --resume {search_id}'" in err
    assert events[0]["event"] == "planned"
    rc, resumed, events, err = optimize_here(capsys, home, csv, "--resume", search_id)
    assert rc == 0, err
    assert resumed is not None and resumed["id"] == search_id
    assert resumed["counts"] == {"complete": 6}
    replayed = [e for e in events if e["event"] == "trial" and e["replayed"]]
    assert len(replayed) == done  # the finished trials were read, not run again
    assert next(e for e in events if e["event"] == "planned")["resumed"] is True
    # an uninterrupted search of the same spec ends in the same place
    rc, whole, _, err = optimize_here(capsys, home, csv, *args, "--workers", "2")
    assert rc == 0, err
    assert whole is not None and by_params(whole) == by_params(resumed)
    assert whole["best"]["params"] == resumed["best"]["params"]
    # a finished search read again starts no cluster
    rc, again, events, err = optimize_here(capsys, home, csv, "--resume", search_id)
    assert rc == 0 and again is not None and by_params(again) == by_params(resumed)
    assert "cluster" not in [e["event"] for e in events]
