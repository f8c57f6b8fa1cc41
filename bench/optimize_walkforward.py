"""The acceptance run of issue 10: a grid search of 24 trials over two exit parameters with a
3y:1y walk-forward, from the CLI and from the app's Optimize window, with the same seed, which
must give the same trials, values and choices either way.

Run from the repository root:  .venv/bin/python bench/optimize_walkforward.py [--symbols N]

The data: the real S&P 500 file and the ETF file (../shared/data), the last five years of the
file (2017-09-11 .. 2022-09-09: two judged windows of three years' training and one year's
test, and the live window), the file's symbols (``--symbols N``: only the first N, for a
quicker run on a busy machine). The first run is ``workstation optimize`` typed as a command
(a real process with ``--json``, 2 workers) in a fresh home; it fills the home's scan cache
(the scans computed once, ahead of the trials). The second is the same search set up in the
app's Optimize window (offscreen), its fields typed and Start clicked with real key and mouse
events, on the same home (it reads the cached scans) and 2 workers; the window starts its own
``workstation optimize`` process and shows its result. ``--one-worker`` adds a third run from
the CLI on 1 worker. Printed: each run's wall time and trials per minute, the first run's text
report (each window's choice, in-sample beside out-of-sample, the stitched out-of-sample
result, the deflated Sharpe ratio and the PBO), and whether the runs agree.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
STOCKS = DATA / "sp500_daily_2011_2022.parquet"
ETF = DATA / "etf_daily_1993_2024.csv"
PARAMS = (
    "--param", "risk.exits.time_exit_day=3,4,5,6,8,10",
    "--param", "risk.exits.emergency_pct=0.05,0.07,0.09,0.12",
)  # fmt: skip


def _home(tmp: Path) -> Path:
    home = tmp / "home"
    (home / "config").mkdir(parents=True)
    for f in (ROOT / "config").glob("*.yaml"):
        shutil.copy(f, home / "config" / f.name)
    return home


def _universe(tmp: Path, n: int) -> Path:
    import pandas as pd

    from workstation.market.universe import sp500_universe

    symbols = sorted(pd.read_parquet(STOCKS, columns=["symbol"])["symbol"].dropna().unique())
    u = sp500_universe()
    rows = []
    for s in symbols:
        dotted = s.replace("-", ".")
        if dotted in u.symbols:
            rows.append(f"{dotted},{u.sector(dotted)}")
    csv = tmp / "universe.csv"
    csv.write_text("symbol,sector\n" + "\n".join(rows[:n]) + "\n", encoding="utf-8")
    return csv


def _run(home: Path, universe: Path | None, args: argparse.Namespace, workers: int) -> Any:
    cmd = [sys.executable, "-m", "workstation", "--home", str(home),
           "--market", f"replay:{STOCKS},{ETF}"]  # fmt: skip
    if universe is not None:
        cmd += ["--universe", str(universe)]
    cmd += ["optimize", *PARAMS, "--from", args.first, "--to", args.last, "--walk-forward",
            "3y:1y", "--min-trades", str(args.min_trades), "--seed", "7", "--workers",
            str(workers), "--json", "--progress", "none"]  # fmt: skip
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"workstation optimize failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout), wall


def _run_in_app(home: Path, universe: Path | None, args: argparse.Namespace) -> Any:
    """The same search from the Optimize window: typed and clicked as a user would."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from workstation.core.config_files import ConfigManager
    from workstation.core.paths import Paths
    from workstation.ui.optimize.launch import OptimizeLaunch
    from workstation.ui.optimize.window import OptimizeWindow

    app = QApplication.instance() or QApplication([])
    paths = Paths.resolve(home).ensure()
    launch = OptimizeLaunch(
        paths,
        market=f"replay:{STOCKS},{ETF}",
        universe_csv=str(universe) if universe is not None else None,
    )
    ow = OptimizeWindow(launch, ConfigManager(paths.config_dir, paths.config_history_dir))
    ow.show()
    s = ow.setup

    def type_into(widget: Any, text: str, *, replace: bool = False) -> None:
        widget.setFocus()
        if replace:
            widget.selectAll()
        QTest.keyClicks(widget, text)

    for spec in PARAMS[1::2]:
        key, values = spec.split("=", 1)
        s.key_box.setEditText("")
        type_into(s.key_box, key)
        type_into(s.values_edit, values)
        QTest.keyClick(s.values_edit, Qt.Key.Key_Return)
    type_into(s.first_edit, args.first)
    type_into(s.last_edit, args.last)
    type_into(s.wf_edit, "3y:1y")
    type_into(s.min_trades_spin, str(args.min_trades), replace=True)
    type_into(s.seed_spin, "7", replace=True)
    type_into(s.workers_spin, "2", replace=True)
    t0 = time.perf_counter()
    QTest.mouseClick(s.start_btn, Qt.MouseButton.LeftButton)
    print(f"the window runs: {s.command.text()}", flush=True)
    try:
        while ow.result is None and not s.problem.isVisible():
            app.processEvents()
            time.sleep(0.05)
    finally:
        ow.shutdown()
    wall = time.perf_counter() - t0
    if ow.result is None:
        sys.exit(f"the Optimize window's search failed: {s.problem.text()}")
    return ow.result, wall


def _signature(doc: dict[str, Any]) -> Any:
    trials = sorted(
        (
            json.dumps(t["params"], sort_keys=True),
            t["state"],
            t["value"],
            json.dumps(t.get("windows"), sort_keys=True),
        )
        for t in doc["trials"]
    )
    wf = doc["walk_forward"]
    picks = [(w["window"], w["chosen"] and w["chosen"]["params"], w["out_of_sample_value"])
             for w in wf["windows"]]  # fmt: skip
    best = doc["best"] and (doc["best"]["params"], doc["best"]["deflated_sharpe"]["dsr"])
    return trials, picks, wf["out_of_sample"]["value"], best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--first", default="2017-09-11")
    ap.add_argument("--last", default="2022-09-09")
    ap.add_argument("--symbols", type=int, default=0, help="only the first N symbols (0: all)")
    ap.add_argument("--min-trades", type=int, default=20)
    ap.add_argument("--one-worker", action="store_true", help="a third run, CLI on 1 worker")
    args = ap.parse_args()
    if not STOCKS.is_file() or not ETF.is_file():
        print(f"bench/optimize_walkforward.py needs the real data in {DATA}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    print(f"bench/optimize_walkforward.py  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; load average at start: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-optimize-wf-") as tmp:
        home = _home(Path(tmp))
        universe = _universe(Path(tmp), args.symbols) if args.symbols else None
        print(
            f"data: {STOCKS.name} + {ETF.name}, {args.first} .. {args.last}, "
            f"{args.symbols or 'all'} symbols; 24 trials (grid), --walk-forward 3y:1y"
        )
        cli, wall_cli = _run(home, universe, args, 2)
        n = len(cli["trials"])
        print(f"\nCLI, 2 workers, scans computed ahead: {wall_cli:7.1f} s  "
              f"({n / wall_cli * 60:.1f} trials/min, whole process)", flush=True)  # fmt: skip
        app, wall_app = _run_in_app(home, universe, args)
        print(f"app, 2 workers, scans from the cache: {wall_app:7.1f} s  "
              f"({n / wall_app * 60:.1f} trials/min, Start to result)", flush=True)  # fmt: skip
        runs = {"the app": app}
        if args.one_worker:
            runs["the CLI on 1 worker"], wall1 = _run(home, universe, args, 1)
            print(f"CLI, 1 worker, scans from the cache: {wall1:7.1f} s  "
                  f"({n / wall1 * 60:.1f} trials/min, whole process)")  # fmt: skip
    print()
    from workstation.research.optimize.report import print_text

    print_text(cli, sys.stdout)
    ok = n >= 24 and cli["counts"] == {"complete": n}
    print(f"\n{'PASS' if ok else 'MISS'}  {n} trials (at least 24), all complete: {cli['counts']}")
    for name, doc in runs.items():
        same = _signature(doc) == _signature(cli)
        ok = ok and same
        print(f"{'PASS' if same else 'MISS'}  the same trials, values and choices with the same "
              f"seed from {name} as from the CLI: {same}")  # fmt: skip
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
