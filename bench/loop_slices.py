"""What the loop does in its longest slices: the responsiveness load (``tests/gui/load_rig.py``,
the desk's chart, risk and regime panels open) under a heartbeat that profiles each gap.

Run from the repository root:  .venv/bin/python bench/loop_slices.py [--rounds N] [--top K]

Each 10 ms beat of the heartbeat stops one ``cProfile`` profile of the loop thread and starts
the next, so every gap between two beats has its own profile; the gaps where the loop thread
used the most CPU (``time.thread_time``: what the program did, not what the machine's other
processes took) are printed with their most expensive calls. Robust to a loaded machine: a
gap the operating system stretched but the loop did not fill does not rank. (cProfile slows
Python code down about twofold: the CPU figures are the profiled program's, compare them
with one another, not with the 50 ms target.)
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import ClassVar

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import qasync  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from tests.gui.load_rig import (  # noqa: E402
    build_engines,
    measure,
    open_desk,
    plant_positions,
    window_settled,
)
from workstation.app import make_window  # noqa: E402
from workstation.ui import heartbeat as hb  # noqa: E402
from workstation.ui.gc_guard import collection_on_gui_thread  # noqa: E402


class _NoSecrets:
    def has(self, name: str) -> bool:
        return False

    def set(self, name: str, value: str) -> None:
        raise RuntimeError("no keys here")


class ProfilingHeartbeat(hb.Heartbeat):
    """A heartbeat whose every gap is profiled; the ``keep`` busiest gaps are kept."""

    slices: ClassVar[list[tuple[float, float, cProfile.Profile]]] = []  # (CPU ms, wall ms, profile)
    keep: ClassVar[int] = 8

    def start(self) -> None:
        self._prof = cProfile.Profile()
        super().start()
        self._prof.enable()

    def _beat(self) -> None:
        prof = getattr(self, "_prof", None)
        if prof is not None:
            prof.disable()
        before = len(self.gaps_ms)
        super()._beat()
        if prof is not None and len(self.gaps_ms) > before:
            cpu, wall = self.cpu_ms[-1], self.gaps_ms[-1]
            kept = ProfilingHeartbeat.slices
            if len(kept) < ProfilingHeartbeat.keep or cpu > kept[-1][0]:
                kept.append((cpu, wall, prof))
                kept.sort(key=lambda s: -s[0])
                del kept[ProfilingHeartbeat.keep :]
        if self._timer.isActive():
            self._prof = cProfile.Profile()
            self._prof.enable()

    def stop(self) -> None:
        super().stop()
        self._prof = None


def _report(top: int) -> None:
    for cpu, wall, prof in ProfilingHeartbeat.slices:
        out = io.StringIO()
        st = pstats.Stats(prof, stream=out)
        st.sort_stats("cumulative").print_stats(top)
        lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
        print(f"\n=== slice: loop CPU {cpu:.1f} ms, wall {wall:.1f} ms ===")
        print("\n".join(lines[3:]))


async def _run(rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="ws-loop-slices-") as tmp:
        engines = build_engines(Path(tmp) / "home")
        await plant_positions(engines)
        settings = QSettings(str(Path(tmp) / "ui.ini"), QSettings.Format.IniFormat)
        win = make_window(engines, settings=settings, secrets=_NoSecrets())
        print("desk panels open:", ", ".join(open_desk(win)), flush=True)
        win.show()
        try:
            await window_settled(win)
            hb.Heartbeat = ProfilingHeartbeat  # type: ignore[misc]  # measure() makes one
            for i in range(rounds):
                r = await measure(engines)
                print(r.line(f"round {i + 1} (profiled)"), flush=True)
        finally:
            win._shutdown_state = "stopped"
            win.close()
            await engines.facade.shutdown()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--top", type=int, default=25, help="calls shown per slice")
    ap.add_argument("--keep", type=int, default=6, help="slices shown")
    args = ap.parse_args()
    ProfilingHeartbeat.keep = args.keep
    print(f"load average {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)", flush=True)
    app = QApplication.instance() or QApplication(sys.argv)
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    t = time.perf_counter()
    with loop, collection_on_gui_thread(app):  # as the app runs
        loop.run_until_complete(_run(args.rounds))
    print(f"ran {time.perf_counter() - t:.1f} s")
    _report(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
