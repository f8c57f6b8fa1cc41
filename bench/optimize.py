"""Benchmark of parameter searches: how they scale on workers, what the scan cache saves, what
the scheduler costs per trial.

Run from the repository root:  .venv/bin/python bench/optimize.py [--trials 8] [--sessions 40]

The data: the simulated market's S&P 500 (503 symbols + SPY, sim.seed 7, "today"
2024-06-14) or, with ``--market replay:FILE[,BENCH]``, a file of daily bars. Every search is
the same grid over two exit parameters (``risk.exits.time_exit_day`` and
``risk.exits.emergency_pct``, ``--trials`` points), each trial a backtest of the last
``--sessions`` sessions, run through the package's own API
(:func:`workstation.research.optimize.prepare_search`) on a LocalCluster. Measured in one run:

* **serial baseline**: the same trials one after the other in this process, no Dask
  (``worker.run_trial`` with the scans from the cache);
* **1 worker** and **2 workers**: trials per minute over the trials' phase (the first trial
  submitted to the last result, the cluster's start and the scans computed ahead left out;
  both shown), and the ratio (target: 2 workers >= 1.7x one worker on the 2-core machine);
* **scheduler overhead per trial**: (1 worker's trial phase - the serial baseline) / trials:
  what shipping a task, running it on a worker and bringing its result back adds; and the
  same within the one search: (its trial phase - the time its trials took on the worker) /
  trials, which a load changing between runs does not skew;
* **the scan cache's saving**: the same 2-worker search with ``scan_cache=False`` (every trial
  scans every session itself, as a search over scan parameters must) against the cached one
  (its scans computed once, ahead, spread over the workers; the trials read them).

Also printed: the bytes a trial's task carries against the market data shipped once per worker.
"""

from __future__ import annotations

import argparse
import os
import pickle
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _home(tmp: Path, name: str) -> Path:
    home = tmp / name
    (home / "config").mkdir(parents=True)
    for f in (ROOT / "config").glob("*.yaml"):
        shutil.copy(f, home / "config" / f.name)
    app = home / "config" / "app.yaml"
    app.write_text(app.read_text().replace('today: ""', 'today: "2024-06-14"'))
    return home


def _params(trials: int) -> tuple[str, ...]:
    days = [3, 4, 5, 6, 7, 8, 9, 10]
    pcts = [0.05, 0.07, 0.09]
    n_days = min(len(days), trials) if trials <= len(days) else len(days)
    n_pct = max(1, -(-trials // n_days))
    return (
        f"risk.exits.time_exit_day={','.join(str(d) for d in days[:n_days])}",
        f"risk.exits.emergency_pct={','.join(str(p) for p in pcts[:n_pct])}",
    )


class Timeline:
    """The events of one search with their times."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.first_queued: float | None = None
        self.finished: float | None = None
        self.scans_done: float | None = None
        self.trials: list[Any] = []
        self.workers = 0

    def __call__(self, e: Any) -> None:
        now = time.perf_counter()
        if e.name == "queued" and self.first_queued is None:
            self.first_queued = now
        elif e.name == "scans" and e.done == e.total:
            self.scans_done = now
        elif e.name == "cluster":
            self.workers = e.workers
        elif e.name == "trial":
            self.trials.append(e)
        elif e.name == "finished":
            self.finished = now

    @property
    def trial_phase(self) -> float:
        assert self.first_queued is not None and self.finished is not None
        return self.finished - self.first_queued

    @property
    def whole(self) -> float:
        assert self.finished is not None
        return self.finished - self.t0


def _search(ctx: Any, args: argparse.Namespace, first: str, *, workers: int, cache: bool) -> Any:
    from workstation.research.optimize import SearchRequest, prepare_search

    req = SearchRequest(
        params=_params(args.trials),
        start=first,
        end=args.last,
        search="grid",
        trials=args.trials,
        min_trades=0,
        workers=workers,
        scan_cache=cache,
    )
    search = prepare_search(ctx, req)
    timeline = Timeline()
    result = search.run(timeline)
    assert result.status == "finished", result.status
    return search, result, timeline


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--sessions", type=int, default=40, help="sessions each trial backtests")
    ap.add_argument("--last", default="2024-05-31", help="last session of the period")
    ap.add_argument("--market", default=None, help="replay:FILE[,BENCH] (default: sim)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from workstation.core.calendar import get_calendar

    cal = get_calendar()
    from datetime import date

    last = date.fromisoformat(args.last)
    sessions = cal.sessions_in_range(date(last.year - 1, 1, 1), last)[-args.sessions :]
    first = sessions[0].isoformat()
    print(f"bench/optimize.py  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; load average at start: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-optimize-") as tmp:
        from workstation.context import open_context

        home = _home(Path(tmp), "home")
        ns = argparse.Namespace(home=str(home), market=args.market, universe=None, seed=None,
                                mode=None)  # fmt: skip
        ctx = open_context(ns)
        print(f"data: {ctx.market_spec}; trials: {args.trials} (grid over two exit parameters), "
              f"each {args.sessions} sessions {first} .. {args.last}")  # fmt: skip

        # 2 workers, cache on: fills the home's scan cache (scans computed ahead, once).
        search2, res2, tl2 = _search(ctx, args, first, workers=2, cache=True)
        shared = search2.shared
        data_mb = len(pickle.dumps(shared, protocol=pickle.HIGHEST_PROTOCOL)) / 1e6
        from workstation.research.optimize.worker import TrialTask, run_trial

        t = res2.trials[0]
        stage = res2.plan.stages[0]
        task = TrialTask(0, t.number, t.params, stage.first, stage.last)
        task_bytes = len(pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL))
        scans_ahead = (tl2.scans_done or tl2.first_queued or 0) - tl2.t0

        # The serial baseline: the same trials in this process, scans from the cache.
        serial_walls = []
        t0 = time.perf_counter()
        for t in res2.trials:
            task = TrialTask(0, t.number, t.params, stage.first, stage.last)
            out = run_trial(shared, None, task)
            serial_walls.append(out.wall_s)
            assert out.scans_computed == 0
        serial = time.perf_counter() - t0

        _, res1, tl1 = _search(ctx, args, first, workers=1, cache=True)
        again2 = _search(ctx, args, first, workers=2, cache=True)[2]  # the cache now warm
        _, res_nc, tl_nc = _search(ctx, args, first, workers=2, cache=False)

    n = args.trials
    same = {tuple(t.params.items()): t.value for t in res1.trials} == {
        tuple(t.params.items()): t.value for t in res2.trials
    }
    tpm1 = n / tl1.trial_phase * 60
    tpm2 = n / again2.trial_phase * 60
    speedup = tpm2 / tpm1
    overhead = (tl1.trial_phase - serial) / n
    # the same, within one search (less exposed to the load changing between runs): the trial
    # phase on 1 worker minus the time its trials took on the worker
    worker_s = sum(t.wall_s or 0.0 for t in res1.trials)
    overhead_in = (tl1.trial_phase - worker_s) / n
    nc_trial = statistics.median(t.wall_s for t in res_nc.trials)
    c_trial = statistics.median(t.wall_s for t in res2.trials)
    saving = tl_nc.whole / tl2.whole
    computed = sum(t.scans_computed or 0 for t in res_nc.trials)
    hits = sum(t.scans_hit or 0 for t in res2.trials)

    print("\n== Scaling: trials per minute (trial phase; whole search incl. cluster start) ==")
    print(f"serial, no Dask (baseline):   {n / serial * 60:6.1f} /min   {serial:7.1f} s "
          f"(median trial {statistics.median(serial_walls):.2f} s)")  # fmt: skip
    print(f"1 worker:                     {tpm1:6.1f} /min   {tl1.trial_phase:7.1f} s "
          f"(whole {tl1.whole:.1f} s)")  # fmt: skip
    print(f"2 workers (cache warm):       {tpm2:6.1f} /min   {again2.trial_phase:7.1f} s "
          f"(whole {again2.whole:.1f} s)")  # fmt: skip
    print(f"speed-up, 2 workers / 1:      {speedup:6.2f}x")
    print(f"same trials and values on 1 and 2 workers: {same}")
    print("\n== Scheduler overhead per trial ==")
    print(f"(1 worker's trial phase - serial baseline) / trials: {overhead * 1000:8.0f} ms "
          f"({overhead / (serial / n):.1%} of a trial)")  # fmt: skip
    share = overhead_in / (worker_s / n)
    print(f"(1 worker's trial phase - its trials' time on the worker) / trials: "
          f"{overhead_in * 1000:5.0f} ms ({share:.1%} of a trial)")  # fmt: skip
    print(f"a trial's task: {task_bytes} bytes; the market data shipped once per worker: "
          f"{data_mb:.1f} MB pickled")  # fmt: skip
    print("\n== The scan cache: a search over exit parameters vs one that re-scans ==")
    print(f"cached (2 workers, first search of the home): whole {tl2.whole:7.1f} s, of which "
          f"{scans_ahead:.1f} s cluster start + scans computed once ahead; median trial "
          f"{c_trial:.2f} s; scans read by trials {hits}, computed by trials 0")  # fmt: skip
    print(f"re-scanning (2 workers, scan_cache off):        whole {tl_nc.whole:7.1f} s; median "
          f"trial {nc_trial:.2f} s; scans computed by trials {computed}")  # fmt: skip
    print(f"saving: {saving:.2f}x the whole search, {nc_trial / c_trial:.2f}x per trial")
    targets = [
        ("2 workers vs 1 worker, trials per minute", speedup >= 1.7, f"{speedup:.2f}x >= 1.7x"),
        ("same results on 1 and 2 workers", same, str(same)),
    ]
    print("\n== Targets ==")
    for name, ok, what in targets:
        print(f"{'PASS' if ok else 'MISS'}  {name}: {what}")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if all(ok for _, ok, _ in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
