"""The Optimize window's pieces that need no search process: the parameters it offers, the
trials as rows, the heatmap, a result as the window shows it, and Apply through the parameter
editor's review. A real search through the window is tests/gui/test_optimize_search.py."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QDialog

from tests.gui.fake_engine import FakeEngine
from workstation.core.config_files import ConfigManager
from workstation.core.config_origins import origin_of
from workstation.core.paths import Paths
from workstation.ui.dialogs.params import ParameterEditor
from workstation.ui.optimize import OPEN_KEY, attach_optimize
from workstation.ui.optimize.launch import OptimizeForm, OptimizeLaunch
from workstation.ui.optimize.model import (
    MAX_CELLS,
    TrialRow,
    heatmap,
    proposal,
    searchable,
    update_rows,
)
from workstation.ui.optimize.window import OptimizeWindow, origin_text

pytestmark = pytest.mark.gui

DAY, PCT = "risk.exits.time_exit_day", "risk.exits.emergency_pct"


def test_the_parameters_offered_are_the_numbers_of_the_rule_files(manager: ConfigManager) -> None:
    got = {s.key: s for s in searchable(manager.current)}
    sl = got["strategies.bb_squeeze.sl_atr"]
    assert sl.current == 2.5 and not sl.whole and sl.allowed.startswith(("[", "("))
    assert got[DAY].whole and got[DAY].current == 5
    assert "scanner.ranking.top_n" in got
    assert not any(k.endswith(".enabled") for k in got)  # booleans are not ranges
    assert not any(k.startswith(("app.", "schedule.")) for k in got)
    # Apply hands the editor each value in its parameter's type, by the editor's key path.
    assert proposal(manager.current, {DAY: 4.0, "strategies.bb_squeeze.sl_atr": 2.0}) == {
        ("risk.yaml", "exits", "time_exit_day"): 4,
        ("strategies.yaml", "bb_squeeze", "sl_atr"): 2.0,
    }


def _row(n: int, day: Any, pct: Any, value: float | None, **extra: Any) -> TrialRow:
    data = {"params": {DAY: day, PCT: pct, **extra}, "state": "complete", "value": value}
    return TrialRow(0, n, data)


def test_the_heatmap_shows_the_best_trial_of_each_pair() -> None:
    rows = [
        _row(0, 3, 0.03, 1.0, other=1),
        _row(1, 3, 0.03, 2.5, other=2),  # the same pair, better: this one
        _row(2, 4, 0.03, -0.5),
        _row(3, 3, 0.07, None),  # too few trades: counted, no value
        TrialRow(0, 4, {"params": {DAY: 4, PCT: 0.07}, "state": "failed", "value": None}),
    ]
    hm = heatmap(rows, DAY, PCT)
    assert hm.x_labels == ("3", "4") and hm.y_labels == ("0.03", "0.07")
    assert hm.values == ((2.5, -0.5), (None, None))
    assert hm.trials[0][0] == (0, 1)
    assert hm.counts == ((2, 1), (1, 1))
    assert hm.value_range() == (-0.5, 2.5)
    # A continuous search (tpe over a range): values binned into MAX_CELLS columns.
    cont = [_row(i, 3, 0.03 + i * 0.0007, float(i)) for i in range(60)]
    hm = heatmap(cont, PCT, DAY)
    assert len(hm.x_labels) == MAX_CELLS and sum(hm.counts[0]) == 60
    assert hm.values[0][-1] == 59.0 and hm.values[0][0] == 5.0


def test_events_and_the_result_update_the_same_rows() -> None:
    rows: dict[tuple[int, int], TrialRow] = {}
    update_rows(rows, {"event": "queued", "stage": 0, "number": 2, "params": {DAY: 3}})
    assert rows[(0, 2)].state == "queued"
    done = {"event": "trial", "stage": 0, "number": 2, "params": {DAY: 3}, "state": "complete",
            "value": 1.2, "wall_s": 3.0, "worker": "w1"}  # fmt: skip
    update_rows(rows, done)
    update_rows(rows, {"stage": 0, "number": 2, "params": {DAY: 3}, "state": "complete",
                       "value": 1.2, "figures": {"n_trades": 14}})  # fmt: skip
    r = rows[(0, 2)]
    assert (r.state, r.value, r.worker, r.figures) == ("complete", 1.2, "w1", {"n_trades": 14})


def test_the_command_shares_the_apps_home_market_and_seed(paths: Paths) -> None:
    launch = OptimizeLaunch(paths, "sim", 7, "/tmp/u.csv")
    args = launch.arguments(
        OptimizeForm(params=(f"{DAY}=3,4",), first="2024-01-02", walk_forward="3y:1y", seed=5)
    )
    cut = args.index("optimize")
    assert args[:cut] == ["--home", str(paths.home), "--market", "sim", "--seed", "7",
                          "--universe", "/tmp/u.csv"]  # fmt: skip
    rest = args[cut:]
    assert rest[:4] == ["optimize", "--json", "--progress", "json"]
    assert rest[rest.index("--param") + 1] == f"{DAY}=3,4"
    assert rest[rest.index("--walk-forward") + 1] == "3y:1y"
    assert rest[rest.index("--seed") + 1] == "5"  # the search's seed, after the command
    assert "--search" not in rest and "--to" not in rest  # defaults left to the command
    resume = launch.arguments(OptimizeForm(params=(f"{DAY}=3,4",), resume="S1", workers=2))
    assert resume[resume.index("optimize") :] == [
        "optimize", "--json", "--progress", "json", "--workers", "2", "--resume", "S1"
    ]  # fmt: skip


def _figures(ret: float, trades: int) -> dict[str, Any]:
    return {"total_return": ret, "max_drawdown": -0.02, "n_trades": trades, "small_sample": False}


def result_doc() -> dict[str, Any]:
    """A finished walk-forward search in the shape of ``workstation optimize --json``."""
    trials = []
    values = {(3, 0.03): 0.8, (3, 0.07): 1.1, (4, 0.03): 1.9, (4, 0.07): 0.2}
    for n, ((day, pct), v) in enumerate(values.items()):
        trials.append({"stage": 0, "number": n, "params": {DAY: day, PCT: pct},
                       "state": "complete", "value": v, "reason": None, "wall_s": 2.0,
                       "worker": "w1", "figures": _figures(v / 100, 20)})  # fmt: skip
    best = {
        "stage": 0, "number": 2, "params": {DAY: 4, PCT: 0.03}, "value": 1.9,
        "chosen_on": {"first": "2024-02-15", "last": "2024-03-28", "sessions": 30},
        "figures": _figures(0.019, 24),
        "deflated_sharpe": {"dsr": 0.62, "n_trials": 4},
        "overfitting": {"pbo": 0.25}, "overfitting_reason": None,
    }  # fmt: skip
    window = {
        "window": 0,
        "train": {"first": "2024-01-02", "last": "2024-02-13", "sessions": 30},
        "test": {"first": "2024-02-14", "last": "2024-02-28", "sessions": 10},
        "chosen": {**best, "value": 2.4}, "in_sample_value": 2.4,
        "out_of_sample_value": 0.7, "out_of_sample_reason": None,
    }  # fmt: skip
    live = {**window, "window": "live", "test": None, "chosen": best, "in_sample_value": 1.9,
            "out_of_sample_value": None}  # fmt: skip
    return {
        "id": "20261207-2140-ab12", "status": "finished", "search": "grid",
        "objective": {"name": "sharpe", "min_trades": 10}, "counts": {"complete": 4},
        "space": [{"key": DAY}, {"key": PCT}], "plan": {"trials": 4}, "trials": trials,
        "best": best,
        "walk_forward": {
            "spec": "30:10", "windows": [window], "live": live,
            "out_of_sample": {"figures": _figures(0.011, 9), "value": 0.7, "reason": None,
                              "equity": [["2024-02-14", 100100.0], ["2024-02-15", 100350.5],
                                         ["2024-02-16", 100210.0]]},
            "in_sample_mean_value": 2.4, "out_of_sample_mean_value": 0.7, "efficiency": 0.29,
        },
    }  # fmt: skip


@pytest.fixture
def window(qtbot, make_window, paths: Paths) -> tuple[Any, OptimizeWindow, list[QDialog]]:
    w = make_window(FakeEngine())
    attach_optimize(w, OptimizeLaunch(paths))
    seen: list[QDialog] = []
    w.exec_dialog = seen.append  # type: ignore[method-assign] # replaced per test
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=3000)
    target = w.focusWidget() or w
    qtbot.keyClick(target, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)  # the menu's shortcut  # fmt: skip
    ow = w.optimize_window
    assert ow is not None and ow.isVisible()
    qtbot.addWidget(ow)
    return w, ow, seen


def test_the_menu_opens_the_window_and_dimensions_are_typed(qtbot, window) -> None:
    w, ow, _ = window
    assert OPEN_KEY == "Ctrl+Shift+O" and w.optimize_action in w.research_menu.actions()
    s = ow.setup
    s.key_box.setFocus()
    qtbot.keyClicks(s.key_box, DAY)
    assert "now 5; allowed [1 .. 100]; a whole number" in s.key_info.text()
    qtbot.keyClicks(s.values_edit, "3,4")
    qtbot.keyClick(s.values_edit, Qt.Key.Key_Return)
    s.key_box.setEditText("")
    qtbot.keyClicks(s.key_box, PCT)
    qtbot.keyClicks(s.values_edit, "0.03:0.07:0.02")
    qtbot.mouseClick(s.add_btn, Qt.MouseButton.LeftButton)
    assert s.dimensions() == (f"{DAY}=3,4", f"{PCT}=0.03:0.07:0.02")
    s.key_box.setEditText(DAY)  # the same key again replaces its values
    qtbot.keyClicks(s.values_edit, "int:2:6")
    qtbot.keyClick(s.values_edit, Qt.Key.Key_Return)
    assert s.dimensions() == (f"{PCT}=0.03:0.07:0.02", f"{DAY}=int:2:6")
    s.dims.setCurrentRow(0)
    s.dims.setFocus()
    qtbot.keyClick(s.dims, Qt.Key.Key_Delete)
    assert s.dimensions() == (f"{DAY}=int:2:6",)
    qtbot.mouseClick(s.add_btn, Qt.MouseButton.LeftButton)  # nothing typed: one line
    assert s.problem.isVisible() and "Choose a parameter" in s.problem.text()
    assert not s.cancel_btn.isEnabled() and not s.resume_btn.isEnabled()


def test_a_result_shows_trials_heatmap_out_of_sample_and_apply_opens_the_review(
    qtbot, window, manager: ConfigManager
) -> None:
    w, ow, _ = window
    doc = result_doc()
    ow.process.finished.emit(doc)  # as the process hands over a parsed result
    assert ow.tabs.currentIndex() == 3  # the out-of-sample tab
    text = ow.results.summary.toPlainText()
    assert "Chosen: exits.time_exit_day=4, exits.emergency_pct=0.03" in text
    assert "Deflated Sharpe ratio 0.62" in text and "best of 4 tries" in text
    assert "Probability of backtest overfitting 25%" in text
    assert "the out-of-sample kept 29% of it" in text
    assert ow.results.curve_values == [100100.0, 100350.5, 100210.0]
    assert [r["window"] for r in ow.results.windows.visible_rows()] == [0, "live"]
    assert [r.value for r in ow.trials.table.visible_rows()] == [0.8, 1.1, 1.9, 0.2]

    # The heatmap: the best cell is (4, 0.03); a click selects its trial in the table.
    ow.tabs.setCurrentIndex(2)
    canvas = ow.heatmap.canvas
    qtbot.waitExposed(canvas)
    assert canvas.map is not None and canvas.map.values == ((0.8, 1.9), (1.1, 0.2))
    cell = canvas.cell_rect(1, 1).center()  # drawn with the larger 0.07 on top
    assert "best sharpe 1.900 (trial 0.2)" in canvas.tooltip_at(cell)
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=QPoint(int(cell.x()), int(cell.y())))
    assert ow.tabs.currentIndex() == 1 and ow.trials.table.current_row().key == (0, 2)

    # Apply: the values in the parameter editor's review; only Save writes them.
    risk = manager.config_dir / "risk.yaml"
    before = risk.read_text()

    def review_then_save(d: QDialog) -> int:
        assert isinstance(d, ParameterEditor)
        assert d.main_stack.currentIndex() == 1
        diff = d.review_view.toPlainText()
        assert "+  time_exit_day: 4" in diff and "+  emergency_pct: 0.03" in diff
        assert risk.read_text() == before
        qtbot.mouseClick(d.save_btn, Qt.MouseButton.LeftButton)
        return QDialog.DialogCode.Accepted

    w.exec_dialog = review_then_save  # type: ignore[method-assign]
    assert ow.apply_btn.isEnabled()
    qtbot.mouseClick(ow.apply_btn, Qt.MouseButton.LeftButton)
    assert manager.current.risk.exits.time_exit_day == 4
    assert manager.current.risk.exits.emergency_pct == 0.03
    origin = origin_of(manager.history_dir, "risk.yaml", risk)
    assert origin == origin_text(doc) and origin.startswith(
        "optimize search 20261207-2140-ab12 (trial 0.2: walk-forward 30:10, sharpe 1.900"
    )


def test_a_cancelled_search_offers_resume_not_apply(window) -> None:
    _, ow, _ = window
    doc = {**result_doc(), "status": "cancelled", "counts": {"complete": 2, "interrupted": 2}}
    ow.process.finished.emit(doc)
    assert not ow.apply_btn.isEnabled()
    assert "resume it to finish" in ow.chosen.text()
    assert ow.setup.resume_btn.isEnabled() and ow.setup.resumable == "20261207-2140-ab12"
    assert "2 interrupted" in ow.results.summary.toPlainText()
