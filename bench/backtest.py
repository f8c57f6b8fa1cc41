"""Benchmark of the backtester: five years of the S&P 500 from the real file.

Run from the repository root:  .venv/bin/python bench/backtest.py [--years 5] [--baseline 8]

Measured, each as a real process (``workstation ...`` in a fresh home):

* **backtest** -- ``workstation backtest --market replay:SP500,ETF --from F --to L --no-cache
  --json``: about 1,260 sessions (five years up to the file's end), the combined scenario, the
  scan cache off (every session scanned). Wall time from launch to exit (target: under 60 s),
  and peak memory of the whole process tree, the main process plus its scan workers, sampled
  from /proc every 50 ms (target: under 1.5 GB).
* **baseline**, measured in the same run: ``workstation run --headless`` on the same replay
  market for ``--baseline`` sessions (the same engine with the full stream: every watched
  symbol every 5 seconds), timed per session from the moment each session's summary is
  printed (its start-up and data load left out). The ratio is the headless engine's time per
  session over the backtest's (target: at least 50x), with the backtest's whole wall time,
  start-up and scans included.
* **warm** -- the same backtest again with the scan cache filled by a first cached run: what
  a second scenario or an optimizer trial over exit parameters costs.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
STOCKS = DATA / "sp500_daily_2011_2022.parquet"
ETF = DATA / "etf_daily_1993_2024.csv"
MARKET = f"replay:{STOCKS},{ETF}"
LAST = date(2022, 9, 9)


def _home(tmp: Path, name: str) -> Path:
    home = tmp / name
    (home / "config").mkdir(parents=True)
    for f in (ROOT / "config").glob("*.yaml"):
        shutil.copy(f, home / "config" / f.name)
    return home


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants (MB), from /proc."""
    total = 0
    todo = [pid]
    seen = set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            with open(f"/proc/{p}/task/{p}/children", encoding="ascii") as fh:
                todo += [int(c) for c in fh.read().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total / 1024


def _children_cpu() -> float:
    """CPU seconds of every finished child process and its own children (its scan workers)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _run(args: list[str]) -> tuple[float, float, str, str, float]:
    """(wall s, peak tree RSS MB, stdout, stderr, CPU s) of ``workstation *args``."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    cpu0 = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "workstation", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    peak = 0.0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_mb(proc.pid))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"workstation {' '.join(args)} failed ({proc.returncode}): {err}")
    return wall, peak, out, err, _children_cpu() - cpu0


def _baseline(home: Path, first: date, sessions: int) -> tuple[list[float], float]:
    """Seconds per session of run --headless, from the times its summaries appear, and the
    CPU seconds of the whole run."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONUNBUFFERED": "1"}
    cpu0 = _children_cpu()
    proc = subprocess.Popen(
        [sys.executable, "-m", "workstation", "--home", str(home), "--market", MARKET, "run",
         "--headless", "--from", first.isoformat(), "--sessions", str(sessions), "--speed",
         "max", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    stamps = []
    for line in proc.stdout:
        if line.strip():
            stamps.append(time.perf_counter())
    proc.wait()
    if proc.returncode != 0:
        raise SystemExit(f"run --headless failed: {proc.stderr.read() if proc.stderr else ''}")
    return [b - a for a, b in itertools.pairwise(stamps)], _children_cpu() - cpu0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--years", type=float, default=5.0)
    ap.add_argument("--baseline", type=int, default=8, help="headless sessions to time")
    opts = ap.parse_args()
    if not STOCKS.exists() or not ETF.exists():
        print(f"bench/backtest.py needs the real data in {DATA}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    from workstation.core.calendar import get_calendar

    first = get_calendar().session_on_or_after(LAST - timedelta(days=round(opts.years * 365.25)))
    print(f"bench/backtest.py  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; load average at start: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(f"data: {STOCKS.name} + SPY from {ETF.name}")
    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as tmp:
        t = Path(tmp)
        per, cpu_n = _baseline(_home(t, "baseline"), date(2019, 6, 4), opts.baseline + 1)
        _, cpu_1 = _baseline(_home(t, "baseline1"), date(2019, 6, 4), 1)
        base = sorted(per)[len(per) // 2]
        base_cpu = (cpu_n - cpu_1) / opts.baseline  # its start-up and data load left out
        home = _home(t, "backtest")
        args = ["--home", str(home), "--market", MARKET, "backtest", "--from",
                first.isoformat(), "--to", LAST.isoformat(), "--json"]  # fmt: skip
        wall, peak, out, _, cpu = _run([*args, "--no-cache"])
        doc = json.loads(out)
        sessions = doc["period"]["sessions"]
        engine = doc["runs"][0]["wall_s"]
        _run(args)  # fills the scan cache
        warm, warm_peak, _, _, warm_cpu = _run(args)
    per_session = wall / sessions
    ratio = base / per_session
    cpu_ratio = base_cpu / (cpu / sessions)
    s = doc["stats"]
    print(
        f"\n== Backtest: {doc['period']['start']} .. {doc['period']['end']}, {sessions} sessions =="
    )
    print(f"universe {doc['universe']['mode']}, trades {len(doc['trades'])}, "
          f"scans cold (cache off)")  # fmt: skip
    print(
        f"wall time, whole command:          {wall:8.1f} s   ({per_session * 1000:.1f} ms/session)"
    )
    print(f"  of which the engine's run:       {engine:8.1f} s")
    print(f"peak memory, process + workers:    {peak:8.0f} MB")
    cpu_ms = cpu / sessions * 1000
    print(f"CPU, process + workers:            {cpu:8.1f} s   ({cpu_ms:.1f} ms/session)")
    print(
        f"warm (scan cache filled):          {warm:8.1f} s   "
        f"({warm / sessions * 1000:.1f} ms/session), peak {warm_peak:.0f} MB, "
        f"CPU {warm_cpu:.1f} s"
    )
    print("\n== Baseline: run --headless on the same replay market ==")
    print(f"sessions timed: {len(per)}; per session: median {base:.2f} s "
          f"(min {min(per):.2f}, max {max(per):.2f})")  # fmt: skip
    n = opts.baseline + 1
    print(f"CPU per session (slope of a {n}- and a 1-session run): {base_cpu:.2f} s")
    print(f"ratio, headless per session / backtest per session: {ratio:.0f}x wall, "
          f"{cpu_ratio:.0f}x CPU")  # fmt: skip
    print(f"\nreturn {s.get('total_return')}, sharpe {s.get('sharpe')}, trades {s.get('n_trades')}")
    targets = [
        ("5 years of the S&P 500, whole command", wall < 60, f"{wall:.1f} s < 60 s"),
        ("peak memory of the process tree", peak < 1536, f"{peak:.0f} MB < 1536 MB"),
        ("ratio to the headless engine per session", ratio >= 50, f"{ratio:.0f}x >= 50x"),
    ]
    print("\n== Targets ==")
    for name, ok, what in targets:
        print(f"{'PASS' if ok else 'MISS'}  {name}: {what}")
    return 0 if all(ok for _, ok, _ in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
