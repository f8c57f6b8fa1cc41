"""Benchmark the markets: time and peak memory of the work the workstation does at start-up.

Run from the repository root:  .venv/bin/python bench/market.py [--repeat N]

Every measurement runs in a fresh Python subprocess, so its peak memory is honest: the
figure is the growth of the process's peak resident set (``ru_maxrss``) during the measured
step, on top of what the imports already took. Times are wall-clock, the median of
``--repeat`` subprocesses.

Measured:
* ``history``   -- SimMarket construction: the S&P 500 universe, the NYSE calendar and the
  factor model's daily bars for 504 symbols x (history + future) sessions;
* ``calendar``  -- the NYSE calendar alone (its first build, included in ``history``);
* ``model``     -- the daily factor model alone (``generate_daily``);
* ``intraday``  -- one session's intraday for every symbol (minute paths + pre-market prints);
* ``replay``    -- loading the real 2011-2022 parquet (ReplayMarket if present, else
  ``pandas.read_parquet`` + ``DailyBars.from_long``);
* ``baseline``  -- a naive per-symbol pure-Python loop generating the same number of
  random-walk OHLCV bars: the yardstick the ratios are measured against, on this machine.

Targets (issue 2): the history in under 3 s and under 500 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REAL_PARQUET = ROOT.parent / "shared" / "data" / "sp500_daily_2011_2022.parquet"
TODAY = "2024-06-14"
SEED = 7
TARGET_SECONDS = 3.0
TARGET_MB = 500.0


def _status_mb(key: str) -> float | None:
    """A memory figure of /proc/self/status (Linux), in MB; None elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the peak-RSS mark (Linux: writing 5 to clear_refs resets VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _ru_maxrss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class PeakMemory:
    """Peak resident memory of a step above the resident memory at its start.

    On Linux the kernel's peak mark (VmHWM) is reset just before the step, so the figure is
    exact. Elsewhere it falls back to the growth of ``ru_maxrss``, which can read low (0)
    when the process had a higher peak before the step.
    """

    def __enter__(self) -> PeakMemory:
        self.exact = _reset_peak() and _status_mb("VmHWM") is not None
        self.start = (_status_mb("VmRSS") if self.exact else _ru_maxrss_mb()) or 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.peak = (_status_mb("VmHWM") if self.exact else _ru_maxrss_mb()) or 0.0
        self.growth = max(0.0, self.peak - self.start)


# ------------------------------------------------------------------ the measured steps
# Each returns (prepare, run): prepare's work is not measured (imports, set-up), run's is.


def _sim_parts() -> tuple[Any, Any, Any, Any]:
    from datetime import datetime
    from datetime import time as dtime

    from workstation.core.calendar import ET
    from workstation.core.config import SimConfig
    from workstation.market.sim import SimMarket
    from workstation.market.universe import sp500_universe

    class _Clock:
        def now(self) -> datetime:
            return datetime.combine(datetime.fromisoformat(TODAY).date(), dtime(8), tzinfo=ET)

        async def sleep_until(self, t: datetime) -> None:  # pragma: no cover - unused
            return None

    return SimMarket, SimConfig, sp500_universe, _Clock


def step_history() -> tuple[Callable[[], Any], str]:
    sim_market, sim_config, sp500_universe, clock = _sim_parts()

    def run() -> Any:
        return sim_market(sp500_universe(), sim_config(seed=SEED, today=TODAY), clock())

    return run, "SimMarket(sp500_universe(), SimConfig(seed=7)): universe + calendar + model"


def step_calendar() -> tuple[Callable[[], Any], str]:
    import pandas  # noqa: F401  -- as in ``history``, where the market's imports bring it

    from workstation.core.calendar import get_calendar

    def run() -> Any:
        return get_calendar()

    return run, "get_calendar(): exchange_calendars import + XNYS 2000-2040 (part of history)"


def step_model() -> tuple[Callable[[], Any], str]:
    import numpy as np

    from workstation.market.sim import generate_daily
    from workstation.market.symbol_facts import facts_for
    from workstation.market.universe import sp500_universe

    symbols = [*sp500_universe().symbols, "SPY"]
    codes = np.array([i % 11 for i in range(503)] + [0])
    facts = facts_for(symbols)

    def run() -> Any:
        return generate_daily(580, codes, 503, 319, SEED, facts)

    return run, "generate_daily(580 sessions, 504 symbols with their facts)"


def step_intraday() -> tuple[Callable[[], Any], str]:
    sim_market, sim_config, sp500_universe, clock = _sim_parts()
    market = sim_market(sp500_universe(), sim_config(seed=SEED, today=TODAY), clock())
    session = market.history_end

    def run() -> Any:
        return market.intraday(session)

    return run, f"SimMarket.intraday({session}): 390 x 504 minute bars + pre-market prints"


def step_replay() -> tuple[Callable[[], Any], str]:
    if not REAL_PARQUET.is_file():
        raise FileNotFoundError(f"{REAL_PARQUET} is absent")
    try:
        from workstation.market.replay import ReplayMarket
    except ImportError:
        import pandas as pd

        from workstation.core.bars import DailyBars

        def run_pandas() -> Any:
            df = pd.read_parquet(REAL_PARQUET)
            return DailyBars.from_long(df)

        return run_pandas, "pandas.read_parquet + DailyBars.from_long (no ReplayMarket yet)"

    def run() -> Any:
        return ReplayMarket(REAL_PARQUET)

    return run, "ReplayMarket(sp500_daily_2011_2022.parquet)"


def step_baseline() -> tuple[Callable[[], Any], str]:
    import math
    import random

    def run() -> Any:
        rng = random.Random(SEED)
        out = []
        for _ in range(504):
            price = 100.0
            bars = []
            for _ in range(580):
                o = price * math.exp(rng.gauss(0.0, 0.005))
                c = o * math.exp(rng.gauss(0.0, 0.015))
                h = max(o, c) * math.exp(abs(rng.gauss(0.0, 0.007)))
                lo = min(o, c) * math.exp(-abs(rng.gauss(0.0, 0.007)))
                bars.append((o, h, lo, c, float(rng.randint(100_000, 5_000_000))))
                price = c
            out.append(bars)
        return out

    return run, "naive pure-Python loop: 504 symbols x 580 random-walk OHLCV bars"


STEPS: dict[str, Callable[[], tuple[Callable[[], Any], str]]] = {
    "history": step_history,
    "calendar": step_calendar,
    "model": step_model,
    "intraday": step_intraday,
    "replay": step_replay,
    "baseline": step_baseline,
}


def measure_here(name: str, trace: bool) -> dict[str, Any]:
    """Run one step in this process (the child). With ``trace``, only the tracemalloc peak
    (numpy reports its buffers to tracemalloc) -- tracing slows Python code, so timing runs
    never trace."""
    sys.path.insert(0, str(ROOT))
    run, note = STEPS[name]()
    if trace:
        import tracemalloc

        tracemalloc.start()
        result = run()
        _, traced = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del result
        return {"name": name, "traced_mb": traced / 2**20}
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        result = run()
        seconds = time.perf_counter() - t0
    del result
    return {
        "name": name,
        "seconds": seconds,
        "peak_mb": mem.growth,
        "rss_mb": mem.peak,
        "exact": mem.exact,
        "note": note,
    }


def _child(name: str, trace: bool) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", name, *(["--trace"] if trace else [])]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    if proc.returncode != 0:
        lines = (proc.stderr.strip() or proc.stdout.strip() or "failed").splitlines()
        return {"error": lines[-1]}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def measure(name: str, repeat: int) -> dict[str, Any]:
    """Median time and largest peak-RSS growth over ``repeat`` fresh subprocesses, plus the
    tracemalloc peak from one more."""
    runs = []
    for _ in range(repeat):
        r = _child(name, trace=False)
        if "error" in r:
            return {"name": name, **r}
        runs.append(r)
    traced = _child(name, trace=True)
    return {
        "name": name,
        "seconds": statistics.median(r["seconds"] for r in runs),
        "peak_mb": max(r["peak_mb"] for r in runs),
        "rss_mb": max(r["rss_mb"] for r in runs),
        "exact": all(r["exact"] for r in runs),
        "traced_mb": traced.get("traced_mb", float("nan")),
        "note": runs[0]["note"],
        "runs": len(runs),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="subprocesses per measurement")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(measure_here(args.child, args.trace)))
        return 0

    # No numpy/pandas import here: children are forked from this process, and a big parent
    # would inflate what a child's memory counters start from on some systems.
    print(
        f"bench/market.py  python {platform.python_version()}, numpy {version('numpy')}, "
        f"pandas {version('pandas')}, {os.cpu_count()} CPUs, {platform.machine()}"
    )
    print(
        "each figure from fresh subprocesses: time = median wall clock; 'peak +MB' = peak "
        "RSS during\nthe step above the RSS at its start; 'traced MB' = tracemalloc peak of "
        "the step's own\nallocations; 'peak RSS MB' = the process's whole peak (imports "
        "included)\n"
    )
    results = {}
    for name in STEPS:
        repeat = 1 if name == "replay" else max(1, args.repeat)
        results[name] = measure(name, repeat)
    if not all(r.get("exact", True) for r in results.values()):
        print("note: no /proc/self/clear_refs here: 'peak +MB' is the growth of ru_maxrss\n")

    base = results["baseline"]
    head = f"{'step':<10} {'time s':>8} {'x baseline':>11} {'peak +MB':>9} {'traced MB':>10}"
    print(f"{head} {'peak RSS MB':>12}  what")
    for name, r in results.items():
        if "error" in r:
            print(
                f"{name:<10} {'-':>8} {'-':>11} {'-':>9} {'-':>10} {'-':>12}  skipped: {r['error']}"
            )
            continue
        ratio = r["seconds"] / base["seconds"] if "seconds" in base else float("nan")
        print(
            f"{name:<10} {r['seconds']:>8.3f} {ratio:>10.2f}x {r['peak_mb']:>9.1f} "
            f"{r['traced_mb']:>10.1f} {r['rss_mb']:>12.1f}  {r['note']}"
        )

    print("\ntargets (history = SimMarket construction, the stricter reading):")
    ok = True
    hist = results["history"]
    if "error" in hist:
        print(f"  history: FAIL ({hist['error']})")
        return 1
    for label, value, limit, unit in (
        ("history time", hist["seconds"], TARGET_SECONDS, "s"),
        ("history memory", hist["peak_mb"], TARGET_MB, "MB"),
    ):
        passed = value < limit
        ok &= passed
        print(
            f"  {label:<15} {value:8.3f} {unit:<3} < {limit:g} {unit:<3} "
            f"{'PASS' if passed else 'FAIL'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
