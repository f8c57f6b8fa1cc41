"""A real search through the Optimize window: set up with the keyboard, started with the mouse,
``workstation optimize`` as its own process on a local Dask cluster (two worker processes);
Cancel stops it (its process group gone, its finished trials kept), Resume finishes it, the
trials, heatmap and out-of-sample equity are those of the search's own result, and Apply opens
the chosen values in the parameter editor's review, saved by the user with the search named.

One test (about a minute): the simulated market on 10 symbols, a 2 x 2 grid over two exit
parameters (no re-scan), 40 sessions walked forward 20:10."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from tests.gui.fake_engine import FakeEngine
from tests.research.optimize.support import small_home
from workstation.core.config_files import ConfigManager
from workstation.core.config_origins import origin_of
from workstation.core.paths import Paths
from workstation.ui.dialogs.params import ParameterEditor
from workstation.ui.optimize import attach_optimize
from workstation.ui.optimize.launch import OptimizeLaunch
from workstation.ui.optimize.window import OptimizeWindow, origin_text

pytestmark = [pytest.mark.gui, pytest.mark.slow, pytest.mark.timeout(600)]

DAY, PCT = "risk.exits.time_exit_day", "risk.exits.emergency_pct"


@pytest.fixture
def small(tmp_path: Path) -> tuple[Paths, str]:
    home, csv = small_home(tmp_path, n_symbols=10)
    return Paths.resolve(home).ensure(), str(csv)


def _type(qtbot: Any, widget: Any, text: str) -> None:
    widget.setFocus()
    qtbot.keyClicks(widget, text)


def _group_gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_search_runs_cancels_resumes_and_applies_through_the_window(
    qtbot, small: tuple[Paths, str], settings_path: Path
) -> None:
    from PySide6.QtCore import QSettings

    from tests.gui.conftest import MemorySecrets
    from workstation.ui.main_window import MainWindow

    paths, csv = small
    manager = ConfigManager(paths.config_dir, paths.config_history_dir)
    w = MainWindow(FakeEngine(), manager, paths=paths, secrets=MemorySecrets(),
                   settings=QSettings(str(settings_path), QSettings.Format.IniFormat))  # fmt: skip
    qtbot.addWidget(w)
    attach_optimize(w, OptimizeLaunch(paths, universe_csv=csv))
    w.show()
    w.optimize_action.trigger()
    ow: OptimizeWindow = w.optimize_window
    qtbot.addWidget(ow)
    s = ow.setup
    try:
        # A mistake is one line in the form, before anything starts.
        _type(qtbot, s.key_box, DAY)
        _type(qtbot, s.values_edit, "0,3")
        qtbot.keyClick(s.values_edit, Qt.Key.Key_Return)
        qtbot.mouseClick(s.start_btn, Qt.MouseButton.LeftButton)
        assert "time_exit_day = 0 is out of range" in s.problem.text()
        assert not ow.process.running
        # The search: 2 x 2 over two exit parameters, walked forward.
        s.key_box.setEditText("")
        _type(qtbot, s.key_box, DAY)
        _type(qtbot, s.values_edit, "2,4")
        qtbot.keyClick(s.values_edit, Qt.Key.Key_Return)
        s.key_box.setEditText("")
        _type(qtbot, s.key_box, PCT)
        _type(qtbot, s.values_edit, "0.03,0.07")
        qtbot.keyClick(s.values_edit, Qt.Key.Key_Return)
        _type(qtbot, s.first_edit, "2024-02-01")
        _type(qtbot, s.last_edit, "2024-03-28")
        _type(qtbot, s.wf_edit, "20:10")
        s.min_trades_spin.selectAll()
        _type(qtbot, s.min_trades_spin, "3")
        s.workers_spin.selectAll()
        _type(qtbot, s.workers_spin, "2")
        qtbot.mouseClick(s.start_btn, Qt.MouseButton.LeftButton)
        assert ow.process.running and not s.problem.isVisible()
        assert "--walk-forward 20:10" in s.command.text()

        # Watch it: the first trial done, the workers connected; then Cancel.
        qtbot.waitUntil(lambda: any(r.state == "complete" for r in ow.rows.values()),
                        timeout=240_000)  # fmt: skip
        assert ow.total == 4 and ow.keys == [DAY, PCT]
        assert ow.trials.workers.text() == "Workers connected: 2"
        assert ow.trials.best.text().startswith("Best so far: sharpe")
        pid = ow.process.pid
        assert pid is not None
        qtbot.mouseClick(s.cancel_btn, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: ow.result is not None or s.problem.isVisible(), timeout=60_000)
        assert ow.result is not None and ow.result["status"] == "cancelled", s.problem.text()
        assert not ow.process.running
        qtbot.waitUntil(lambda: _group_gone(pid), timeout=10_000)  # no worker left behind
        search_id = ow.search_id
        kept = {t["number"] for t in ow.result["trials"] if t["state"] == "complete"}
        assert kept and not ow.apply_btn.isEnabled()
        assert s.resume_btn.isEnabled() and search_id in s.resume_btn.text()

        # Resume: the kept trials are read back, the rest run; the search finishes.
        qtbot.mouseClick(s.resume_btn, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: ow.process.pid is not None, timeout=10_000)
        resumed_pid = ow.process.pid
        qtbot.waitUntil(lambda: ow.result is not None and not ow.process.running,
                        timeout=300_000)  # fmt: skip
        doc = ow.result
        assert doc["status"] == "finished" and doc["id"] == search_id, s.problem.text()
        assert doc["counts"] == {"complete": 4}
        assert {t["number"] for t in doc["trials"]} >= kept
    finally:
        ow.shutdown()

    # What the window shows is the search's own result.
    shown = {(r.params[DAY], r.params[PCT]): r.value for r in ow.trials.table.visible_rows()}
    assert shown == {(t["params"][DAY], t["params"][PCT]): t["value"] for t in doc["trials"]}
    hm = ow.heatmap.canvas.map
    assert hm is not None and hm.x_labels == ("2", "4") and hm.y_labels == ("0.03", "0.07")
    equity = doc["walk_forward"]["out_of_sample"]["equity"]
    assert ow.results.curve_values == [v for _, v in equity] and len(equity) >= 10
    assert "Out of sample (walk-forward 20:10)" in ow.results.summary.toPlainText()

    # Apply: the review of the chosen values; the user's Save writes them, naming the search.
    best = doc["best"]
    risk = paths.config_dir / "risk.yaml"

    def review_then_save(d: QDialog) -> int:
        assert isinstance(d, ParameterEditor) and d.main_stack.currentIndex() == 1
        qtbot.mouseClick(d.save_btn, Qt.MouseButton.LeftButton)
        return QDialog.DialogCode.Accepted

    w.exec_dialog = review_then_save  # type: ignore[method-assign]
    qtbot.mouseClick(ow.apply_btn, Qt.MouseButton.LeftButton)
    assert manager.current.risk.exits.time_exit_day == best["params"][DAY]
    assert manager.current.risk.exits.emergency_pct == best["params"][PCT]
    assert origin_of(manager.history_dir, "risk.yaml", risk) == origin_text(doc)
    assert f"optimize search {search_id}" in origin_text(doc)
    # The search is listed in the home's store, finished.
    from workstation.store import Store

    store = Store.open(paths.db_path)
    try:
        row = next(r for r in store.searches() if r.id == search_id)
    finally:
        store.close()
    assert (row.status, row.trials_done, row.trials_total) == ("finished", 4, 4)

    # The set-up lists it; Open reads it again from its file (no trial runs twice).
    listed = f"{search_id}  finished    4/4 trials  {DAY}=2,4 {PCT}=0.03,0.07  best sharpe"
    qtbot.waitUntil(lambda: s.listed.count() == 1 and s.listed.item(0).text().startswith(listed),
                    timeout=10_000)  # fmt: skip
    item = s.listed.item(0)
    ow.tabs.setCurrentIndex(0)
    qtbot.mouseClick(s.listed.viewport(), Qt.MouseButton.LeftButton,
                     pos=s.listed.visualItemRect(item).center())  # fmt: skip
    ow.result = None
    qtbot.mouseClick(s.open_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: ow.result is not None or s.problem.isVisible(), timeout=120_000)
    again = ow.result
    assert again is not None and again["status"] == "finished", s.problem.text()
    assert [(t["params"], t["value"], t["wall_s"]) for t in again["trials"]] == [
        (t["params"], t["value"], t["wall_s"]) for t in doc["trials"]
    ]
    assert again["best"]["params"] == best["params"] and ow.apply_btn.isEnabled()
    qtbot.waitUntil(lambda: _group_gone(resumed_pid), timeout=10_000)  # nothing left either
    w._shutdown_state = "stopped"
    w.close()
