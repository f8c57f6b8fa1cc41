"""Benchmark of the evidence views (issue 11): time to a candidate's track record and to a
change preview over a 3-year period, and the Qt loop meanwhile, against baselines measured in
the same run.

Run from the repository root:  .venv/bin/python bench/evidence.py [--years 3]

A fresh home (the shipped configuration, the simulated S&P 500: 503 symbols + SPY) and the
app's own pieces on a qasync loop: the :class:`EvidenceService`, the candidate detail's
:class:`TrackRecordView` and the parameter editor's :class:`ChangePreview`, with a 10 ms
heartbeat timer on the loop (longest stall = the largest gap between beats beyond 10 ms, wall
clock; longest busy = the most CPU time the loop's thread used between two beats beyond 10 ms,
the stall the app causes itself whatever else the machine runs). In order:

1. **Track record, nothing built yet** (no reference backtest, an empty scan cache): a
   candidate is shown; the service builds the reference (``workstation backtest`` in a child
   process). Measured: time to the first record on screen (the build's trades so far) and to
   the finished one. Baseline: before this work the first record appeared only with the
   finished backtest, i.e. the second figure.
2. **Change preview** of an exit parameter (``risk.exits.time_exit_day``) with the reference
   present: the current side is read from the stored reference, the edited side runs with the
   scans cached. Baseline: the same preview with ``--rerun`` (both sides run, as before).
3. ``--yardstick``: **a plain backtest** of the same period (``workstation backtest``, scans
   cached): what one 3-year backtest costs on this machine now.

CPU figures are the children's (the child and its scan workers, ``RUSAGE_CHILDREN``); wall
times depend on the machine's load, printed at the start and the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import qasync  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from workstation.core.calendar import get_calendar  # noqa: E402
from workstation.core.config_files import ConfigManager  # noqa: E402
from workstation.core.paths import Paths  # noqa: E402
from workstation.research.evidence.service import EvidenceService  # noqa: E402
from workstation.research.evidence.status import RecordState  # noqa: E402
from workstation.ui.evidence.change import ChangePreview  # noqa: E402
from workstation.ui.evidence.track_record import TrackRecordView  # noqa: E402
from workstation.ui.heartbeat import Heartbeat  # noqa: E402

EDIT = {("risk.yaml", "exits", "time_exit_day"): 3}


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class Phase:
    """Wall clock, the children's CPU and the loop's heartbeat over one measured phase."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.beat = Heartbeat(10)
        self.marks: dict[str, float] = {}

    def __enter__(self) -> Phase:
        self.t0 = time.perf_counter()
        self.cpu0 = _children_cpu()
        self.beat.start()
        return self

    def mark(self, what: str) -> None:
        self.marks.setdefault(what, time.perf_counter() - self.t0)

    def __exit__(self, *exc: Any) -> None:
        self.beat.stop()
        self.wall = time.perf_counter() - self.t0
        self.cpu = _children_cpu() - self.cpu0

    def line(self) -> str:
        b = self.beat
        marks = ", ".join(f"{k} {v:6.1f} s" for k, v in self.marks.items())
        return (
            f"{self.name:<34} {marks}\n{'':<34} children CPU {self.cpu:6.1f} s; loop: longest "
            f"stall {b.worst_stall_ms:5.1f} ms, longest busy {b.worst_busy_ms:5.1f} ms, p99 gap "
            f"{b.percentile_ms(0.99):5.1f} ms ({b.beats} beats)"
        )


async def _until(cond: Any, timeout: float, what: str, tick: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        if tick is not None:
            tick()
        await asyncio.sleep(0.05)


def _home(tmp: Path, years: float) -> Paths:
    home = tmp / "home"
    (home / "config").mkdir(parents=True)
    for f in (ROOT / "config").glob("*.yaml"):
        shutil.copy(f, home / "config" / f.name)
    app = home / "config" / "app.yaml"
    text = app.read_text(encoding="utf-8")
    app.write_text(text.replace("  years: 3 ", f"  years: {years:g} "), encoding="utf-8")
    return Paths.resolve(home).ensure()


class Lines(list[str]):
    """The report's lines, each printed as soon as it is known."""

    def append(self, line: str) -> None:
        super().append(line)
        print(line, flush=True)


async def run(years: float, tmp: Path, yardstick: bool) -> list[str]:
    # The research stack (the store, numpy, the trade statistics) as the running app has it
    # loaded (its engines use it); imported here, its first import is not counted as a stall.
    import workstation.research.evidence.change
    import workstation.research.evidence.track_record  # noqa: F401

    paths = _home(tmp, years)
    manager = ConfigManager(paths.config_dir, paths.config_history_dir)
    assert manager.current.app.backtest.years == years
    service = EvidenceService(paths, "sim", get_calendar(), lambda: manager.current)
    strategy = manager.current.strategy_order()[0]
    out = Lines()

    # 1. the track record with nothing built
    view = TrackRecordView()
    view.resize(600, 500)
    view.show()
    view.set_service(service)
    candidate = SimpleNamespace(
        strategy=strategy, side="long", regime="RANGING", sector="Information Technology",
        session=None,
    )  # fmt: skip
    with Phase("1. track record, nothing built") as p:
        view.show_candidate(candidate)  # type: ignore[arg-type]

        def seen() -> None:
            s = view.status
            if s is not None and s.record is not None:
                p.mark("first record")
                if s.state is RecordState.READY:
                    p.mark("finished record")

        await _until(
            lambda: view.status is not None and view.status.state is RecordState.READY,
            3600,
            "the track record",
            seen,
        )
        seen()
    record = view.status.record  # type: ignore[union-attr]
    out.append(p.line())
    out.append(
        f"{'':<34} reference {record.book.first} .. {record.book.last}, "
        f"{len(record.book.trades)} trades"
    )

    # 2. the change preview with the reference present, then the baseline (--rerun)
    preview = ChangePreview(lambda: EDIT)
    preview.resize(900, 600)
    preview.show()
    preview.set_service(service)
    preview.years.setValue(years)
    with Phase("2. change preview (reference kept)") as p:
        preview.run()
        await _until(lambda: not preview.running, 3600, "the preview")
        p.mark("preview shown")
    doc = preview.doc
    assert doc is not None, preview.head.text()
    out.append(p.line())
    out.append(f"{'':<34} sides read from a stored run: {doc.get('reused')}")

    results: list[Any] = []
    args = ["report", "change", "--set", "risk.exits.time_exit_day=3", "--years", f"{years:g}"]
    with Phase("   baseline: both sides run") as p:
        service.run([*args, "--rerun", "--json", "--progress", "none"], None, results.append)
        await _until(lambda: results, 3600, "the baseline preview")
        preview.show_result(results[0].doc)  # drawn as the page draws it
        p.mark("preview shown")
    assert results[0].ok, results[0].error
    out.append(p.line())
    same = (
        results[0].doc["current"]["stats"] == doc["current"]["stats"]
        and results[0].doc["edited"]["stats"] == doc["edited"]["stats"]
        and results[0].doc["differing_trades"] == doc["differing_trades"]
    )
    out.append(f"{'':<34} same figures and trades as the preview above: {same}")

    if not yardstick:
        service.shutdown()
        return out
    # 3. a plain backtest, the yardstick
    t0, c0 = time.perf_counter(), _children_cpu()
    cmd = [sys.executable, "-m", "workstation", *service.global_args, "backtest", "--json"]
    subprocess.run([*cmd, "--progress", "none"], check=True, capture_output=True, timeout=3600)
    out.append(
        f"{'3. workstation backtest (cached)':<34} wall {time.perf_counter() - t0:6.1f} s, "
        f"CPU {_children_cpu() - c0:6.1f} s"
    )
    service.shutdown()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--years", type=float, default=3.0, help="the period (default 3 years)")
    ap.add_argument("--yardstick", action="store_true", help="also time a plain backtest")
    args = ap.parse_args()
    print(f"bench/evidence.py  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; load average at start: {_load()}"
    )
    print(f"data: the simulated market, default universe; period: the last {args.years:g} years")
    app = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory(prefix="bench-evidence-") as tmp:
        loop.run_until_complete(run(args.years, Path(tmp), args.yardstick))
        loop.run_until_complete(asyncio.sleep(0.5))  # the job threads hand over their ends
    print(f"load average at the end: {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
