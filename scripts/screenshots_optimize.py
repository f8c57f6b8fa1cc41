"""Screenshots of the Optimize window (*Research > Optimize...*) for the user guide, offscreen.

    .venv/bin/python scripts/screenshots_optimize.py [--out docs/screenshots]

A real search, run through the window as a user would start it: the simulated market (30
symbols, "today" 2024-06-14), a 5 x 3 grid over two exit parameters, January to May 2024
walked forward 40:20, on a local Dask cluster of two workers (a few minutes). Saved: the
running search (``optimize-running-1280x800-dark.png``); then each tab of the finished search
(``optimize-{setup,trials,heatmap,oos}-WxH-THEME.png``) at 1280x800 and 1920x1080 in the dark
and light themes; and the parameter editor's review that *Apply* opens
(``dialog-parameters-apply-THEME.png``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PySide6.QtCore import QEventLoop  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from tests.research.optimize.support import small_home  # noqa: E402
from workstation.core.config_files import ConfigManager  # noqa: E402
from workstation.core.paths import Paths  # noqa: E402
from workstation.ui import theme  # noqa: E402
from workstation.ui.dialogs.params import ParameterEditor  # noqa: E402
from workstation.ui.gc_guard import GuiThreadCollector  # noqa: E402
from workstation.ui.optimize.launch import OptimizeLaunch  # noqa: E402
from workstation.ui.optimize.window import OptimizeWindow  # noqa: E402

SIZES = ((1280, 800), (1920, 1080))
TABS = ("setup", "trials", "heatmap", "oos")
DIMENSIONS = (
    ("risk.exits.time_exit_day", "int:2:6"),
    ("risk.exits.emergency_pct", "0.03,0.05,0.07"),
)


def pump(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.02)


def grab(app: QApplication, widget: QWidget, path: Path) -> None:
    pump(app, 0.3)
    if not widget.grab().save(str(path)):
        raise SystemExit(f"could not save {path}")
    print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}", flush=True)


def set_up(w: OptimizeWindow) -> None:
    s = w.setup
    for key, values in DIMENSIONS:
        s.key_box.setEditText(key)
        s.values_edit.setText(values)
        s.add_dimension()
    s.first_edit.setText("2024-01-02")
    s.last_edit.setText("2024-05-31")
    s.wf_edit.setText("40:20")
    s.min_trades_spin.setValue(5)
    s.workers_spin.setValue(2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    collector = GuiThreadCollector()  # as the app runs: cyclic GC on this thread only
    with tempfile.TemporaryDirectory(prefix="ws-shots-") as tmp:
        home, csv = small_home(Path(tmp), n_symbols=30)
        paths = Paths.resolve(home).ensure()
        manager = ConfigManager(paths.config_dir, paths.config_history_dir)
        theme.apply(app, "dark")
        applied: list[tuple[dict, str]] = []
        w = OptimizeWindow(
            OptimizeLaunch(paths, universe_csv=str(csv)),
            manager,
            apply=lambda values, origin: applied.append((values, origin)),
        )
        w.resize(*SIZES[0])
        w.show()
        set_up(w)
        if not w.start_search(w.setup.form()):
            raise SystemExit(f"the search did not start: {w.setup.problem.text()}")
        started = time.monotonic()
        shot_running = False
        while w.process.running and time.monotonic() - started < 1800:
            pump(app, 0.5)
            done = sum(1 for r in w.rows.values() if r.state == "complete")
            if not shot_running and w.total and done >= w.total // 2:
                w.tabs.setCurrentIndex(1)
                grab(app, w, out / "optimize-running-1280x800-dark.png")
                shot_running = True
        pump(app, 2.0)
        if w.result is None or w.result.get("status") != "finished":
            raise SystemExit(f"the search did not finish: {w.setup.problem.text()}")
        print(f"search {w.search_id} finished in {time.monotonic() - started:.0f} s", flush=True)
        for name in ("dark", "light"):
            theme.apply(app, name)
            w.apply_theme()
            for width, height in SIZES:
                w.resize(width, height)
                for i, tab in enumerate(TABS):
                    w.tabs.setCurrentIndex(i)
                    grab(app, w, out / f"optimize-{tab}-{width}x{height}-{name}.png")
            w.apply_best()
            values, origin = applied[-1]
            editor = ParameterEditor(manager)
            editor.resize(1100, 640)
            editor.show()
            editor.propose(values, origin)
            grab(app, editor, out / f"dialog-parameters-apply-{name}.png")
            editor.close()
            editor.deleteLater()
        w.shutdown()
        w.close()
    collector.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
