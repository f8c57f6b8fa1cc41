"""Screenshots of the evidence views (issue 11) for the user guide, on planted stores.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/evidence_screenshots.py

The window runs on the fake engine (its candidates); the track record reads a backtest store
planted through the real store API and listed in the home's store (as in
tests/gui/test_track_record.py); the human edge reads decisions planted in the home's store
(tests/unit/test_human_edge.py); the drift panel shows a report of the drift comparison of a
planted manual exit (tests/unit/test_drift_causes.py). Every figure on screen is computed by the
app's own code from those stores. Writes docs/screenshots/panel-track-record.png and
panel-drift-edge-{drift,edge}.png.

The change preview (dialog-parameters-change-preview.png, dialog-parameters-expected.png) is
run for real: the parameter editor on the simulated market with 40 symbols, time_exit_day
edited from 5 to 2, both backtests over the last half year in a child process, then saved (the
History tab with what the change was expected to do).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    import qasync
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from scripts.screenshots import _NoSecrets, grab, settle
    from tests.gui.fake_engine import FakeEngine
    from tests.gui.test_track_record import plant_reference
    from tests.unit.test_drift_causes import DAY, _records, _signal, _trade
    from tests.unit.test_human_edge import _plant
    from workstation.core.calendar import get_calendar
    from workstation.core.config_files import ConfigManager
    from workstation.core.paths import Paths
    from workstation.research.evidence.drift import DriftReport, compare
    from workstation.research.evidence.service import EvidenceService
    from workstation.research.evidence.status import RecordState
    from workstation.ui.main_window import MainWindow

    out = REPO / "docs" / "screenshots"
    app = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory(prefix="ws-evidence-") as tmp:
        paths = Paths.resolve(Path(tmp) / "home").ensure()
        manager = ConfigManager(paths.config_dir, paths.config_history_dir)
        engine = FakeEngine("session")
        first = engine.candidates()[0]
        last = max(c.session for c in engine.candidates())
        plant_reference(
            paths, manager.current.param_hash, first.strategy, str(first.side), first.sector, last
        )
        _plant(paths.db_path)
        win = MainWindow(
            engine,
            manager,
            settings=QSettings(str(Path(tmp) / "ui.ini"), QSettings.Format.IniFormat),
            paths=paths,
            secrets=_NoSecrets(),
            theme_name="dark",
        )
        service = EvidenceService(paths, "sim", get_calendar(), lambda: manager.current)
        panel = win.panel("candidates")
        evidence = win.panel("evidence")
        evidence.set_period(date(2024, 3, 1), date(2024, 4, 30))

        async def ready() -> None:
            win.set_evidence(service)
            panel.table.select_row(0)
            for _ in range(400):
                st = panel.track.status
                if st is not None and st.state is RecordState.READY and evidence.edge_doc:
                    return
                await asyncio.sleep(0.05)
            raise SystemExit("the track record or the edge did not come")

        win.resize(1600, 1000)
        win.show()
        settle(app, 20)
        loop.run_until_complete(ready())
        live = _trade(exit_reason="MANUAL", exit_price=51.0)
        diffs = compare(_records(_signal(), live), _records(_signal(), _trade()))
        evidence.show_drift(
            DriftReport(
                DAY, DAY, 1, "sim", ("d0cf40df2c6e8cb3",), tuple(diffs), 100.0, 200.0
            ).as_json()
        )
        dock = win.docks["candidates"]
        dock.setFloating(True)
        dock.resize(1200, 900)
        settle(app, 20)
        grab(dock, out / "panel-track-record.png", app)
        dock.setFloating(False)
        dock = win.docks["evidence"]
        dock.setFloating(True)
        dock.resize(1300, 560)
        dock.show()
        settle(app, 10)
        grab(dock, out / "panel-drift-edge-drift.png", app)
        evidence.tabs.setCurrentIndex(1)
        settle(app, 10)
        grab(dock, out / "panel-drift-edge-edge.png", app)
        service.shutdown()
        win._shutdown_state = "stopped"
        win.close()
        settle(app)
    with tempfile.TemporaryDirectory(prefix="ws-change-") as tmp:
        shoot_change_preview(app, loop, Path(tmp), out)
    return 0


def shoot_change_preview(app: Any, loop: Any, tmp: Path, out: Path) -> None:
    from scripts.screenshots import grab, settle, show_dialog
    from tests.gui.test_change_preview import TIME_EXIT, small_home
    from workstation.core.calendar import get_calendar
    from workstation.core.config_files import ConfigManager
    from workstation.core.paths import Paths
    from workstation.research.evidence.service import EvidenceService
    from workstation.ui.dialogs.params import ParameterEditor

    paths = Paths.resolve(tmp / "home").ensure()
    manager = ConfigManager(paths.config_dir, paths.config_history_dir)
    csv = small_home(paths, manager, n_symbols=40)
    service = EvidenceService(
        paths, "sim", get_calendar(), lambda: manager.current, universe_csv=str(csv)
    )
    ed = ParameterEditor(manager, confirm_live=lambda: False, evidence=service)
    show_dialog(ed, (1200, 820), app)
    ed.show_field(TIME_EXIT).set_text("2")
    ed.preview.years.setValue(0.5)

    async def run() -> None:
        ed.open_preview()
        for _ in range(3000):
            if not ed.preview.running:
                return
            await asyncio.sleep(0.1)
        raise SystemExit("the change preview did not finish")

    loop.run_until_complete(run())
    if ed.preview.doc is None:
        raise SystemExit(f"the change preview failed: {ed.preview.head.text()}")
    settle(app, 20)
    grab(ed, out / "dialog-parameters-change-preview.png", app)
    ed.review()
    ed.save()
    ed.tabs.setCurrentIndex(1)
    ed.history_file.setCurrentIndex(ed.history_file.findData("risk.yaml"))
    settle(app, 10)
    grab(ed, out / "dialog-parameters-expected.png", app)
    service.shutdown()
    ed.close()
    settle(app)


if __name__ == "__main__":
    raise SystemExit(main())
