"""Screenshots of the workstation for the user guide, taken offscreen.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--theme dark|light]

Opens the main window on the in-memory FakeEngine (the engines' stand-in with realistic
data; ``--engine`` is where the simulated engine plugs in), resizes it to 1600x1000 and
saves the window, every dock panel and every dialog as PNG files.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication, QDialog, QWidget  # noqa: E402

from workstation.core.config_files import ConfigManager  # noqa: E402
from workstation.core.paths import Paths  # noqa: E402
from workstation.engine.api import EngineAPI  # noqa: E402
from workstation.ui.dialogs.confirm import (  # noqa: E402
    FlattenAllDialog,
    KillSwitchDialog,
    LiveModeDialog,
)
from workstation.ui.main_window import MainWindow  # noqa: E402

PANEL_SIZES = {
    "status": (1600, 80),
    "candidates": (1000, 760),
    "positions": (1000, 700),
    "journal": (1400, 520),
    "log": (1200, 420),
}


class _NoSecrets:
    def has(self, name: str) -> bool:
        return name.startswith("paper:")

    def set(self, name: str, value: str) -> None:
        raise RuntimeError("screenshots never store keys")


def make_engine(kind: str) -> EngineAPI:
    if kind == "fake":
        from tests.gui.fake_engine import FakeEngine

        return FakeEngine("session")
    raise SystemExit(f"unknown engine {kind!r}: only 'fake' is available")


def settle(app: QApplication, rounds: int = 5) -> None:
    for _ in range(rounds):
        app.processEvents()


def grab(widget: QWidget, path: Path, app: QApplication) -> None:
    settle(app)
    pix = widget.grab()
    if pix.isNull() or not pix.save(str(path)):
        raise SystemExit(f"could not save {path}")
    print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")


def show_dialog(dlg: QDialog, size: tuple[int, int | None], app: QApplication) -> None:
    """Show ``dlg`` at ``size``; a height of None keeps the dialog's natural height."""
    w, h = size
    dlg.adjustSize()
    dlg.resize(w, h if h is not None else dlg.sizeHint().height())
    dlg.show()
    settle(app)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    ap.add_argument("--theme", default="dark", choices=("dark", "light"))
    ap.add_argument("--engine", default="fake")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    with tempfile.TemporaryDirectory(prefix="ws-shots-") as tmp:
        paths = Paths.resolve(Path(tmp) / "home").ensure()
        manager = ConfigManager(paths.config_dir, paths.config_history_dir)
        # One saved version so the History tab has something to show.
        risk = paths.config_dir / "risk.yaml"
        manager.save(
            "risk.yaml", risk.read_text().replace("max_abs_gap: 0.03", "max_abs_gap: 0.035")
        )
        manager.save(
            "risk.yaml", risk.read_text().replace("max_abs_gap: 0.035", "max_abs_gap: 0.03")
        )
        settings = QSettings(str(Path(tmp) / "ui.ini"), QSettings.Format.IniFormat)
        engine = make_engine(args.engine)
        win = MainWindow(
            engine,
            manager,
            settings=settings,
            paths=paths,
            secrets=_NoSecrets(),
            theme_name=args.theme,
        )
        win.resize(1600, 1000)
        win.show()
        settle(app, 20)
        suffix = "" if args.theme == "dark" else "-light"
        grab(win, out / f"main-window{suffix}.png", app)
        if args.theme != "dark":
            win.close()
            return 0

        # Each dock on its own, floated at a readable size (the layout was grabbed above).
        win.panels["positions"].table.select_row(3)  # a day-1 position: emergency level
        for name, dock in win.docks.items():
            dock.setFloating(True)
            dock.resize(*PANEL_SIZES.get(name, (1200, 560)))
            dock.show()
            settle(app, 10)
            grab(dock, out / f"panel-{name.replace('_', '-')}.png", app)
            dock.setFloating(False)
        win.reset_layout()

        shots: list[tuple[str, Callable[[], QDialog], tuple[int, int | None]]] = [
            ("dialog-kill-switch", lambda: KillSwitchDialog(engine.positions(), win), (560, 420)),
            ("dialog-flatten-all", lambda: FlattenAllDialog(engine.positions(), win), (560, 400)),
            ("dialog-live-mode", lambda: LiveModeDialog(win), (460, None)),
            ("dialog-settings", win.settings_dialog, (560, None)),
        ]
        for name, make, size in shots:
            dlg = make()
            show_dialog(dlg, size, app)
            if name == "dialog-kill-switch":
                dlg.flatten.setChecked(True)  # type: ignore[attr-defined]
            grab(dlg, out / f"{name}.png", app)
            dlg.close()

        ed = win.parameter_editor()
        show_dialog(ed, (1100, 720), app)
        ed.show_field(("strategies.yaml", "rsi_reversion", "rsi_below"))
        grab(ed, out / "dialog-parameters.png", app)
        ed.field("risk.yaml", "gap", "max_abs_gap").set_text("0.04")
        ed.field("risk.yaml", "exits", "time_exit_at").set_text("15:45")
        ed.show_field(("risk.yaml", "gap", "max_abs_gap"))
        ed.review()
        grab(ed, out / "dialog-parameters-review.png", app)
        ed.revert()
        ed.field("scanner.yaml", "indicators", "rsi_window").set_text("1")
        ed.show_field(("scanner.yaml", "indicators", "rsi_window"))
        ed.review()
        grab(ed, out / "dialog-parameters-invalid.png", app)
        ed.revert()
        ed.tabs.setCurrentIndex(1)
        ed.history_file.setCurrentIndex(ed.history_file.findData("risk.yaml"))
        grab(ed, out / "dialog-parameters-history.png", app)
        ed.close()
        win.close()
        settle(app)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
