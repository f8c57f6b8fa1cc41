"""The parameter editor against a real ConfigManager on a temporary home."""

from __future__ import annotations

import pytest
import yaml
from PySide6.QtCore import Qt

from tests.gui.fake_engine import FakeEngine
from workstation.core.config_files import ConfigManager, load_config
from workstation.ui.dialogs.params import FieldEditor, ParameterEditor
from workstation.ui.yaml_edit import scalar_text, set_values

pytestmark = pytest.mark.gui


def snapshot(manager: ConfigManager) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in manager.config_dir.glob("*.yaml")}


def test_every_parameter_has_an_editor(editor: ParameterEditor, manager: ConfigManager) -> None:
    cfg = manager.current
    paths = set(editor.field_paths())
    for name in cfg.strategies:
        for field in ("enabled", "side", "group", "sl_atr", "tp_atr"):
            assert ("strategies.yaml", name, field) in paths
    assert ("strategies.yaml", "rsi_reversion", "rsi_below") in paths
    assert ("scanner.yaml", "regime", "trend", "max_positions") in paths
    assert ("risk.yaml", "exits", "time_exit_at") in paths
    assert ("schedule.yaml", "scan_at") in paths
    assert ("app.yaml", "sim", "seed") in paths
    assert ("app.yaml", "mode") in paths
    # Grouped per file, then per section / strategy.
    top = [editor.tree.topLevelItem(i).text(0) for i in range(editor.tree.topLevelItemCount())]
    assert [t.split()[0] for t in top] == [
        "Strategies",
        "Risk",
        "Schedule",
        "Scanner",
        "Application",
    ]
    strategies = editor.tree.topLevelItem(0)
    assert strategies.childCount() == len(cfg.strategies)


@pytest.mark.parametrize(
    ("path", "kind", "allowed"),
    [
        (("scanner.yaml", "indicators", "rsi_window"), "int", "whole number [2 .. 100]"),
        (("risk.yaml", "sizing", "risk_per_trade"), "float", "(0 .. 0.1]"),
        (("risk.yaml", "gap", "on_no_premarket"), "choice", "one of keep, drop"),
        (("strategies.yaml", "overbought_short", "side"), "enum", "one of long, short"),
        (("strategies.yaml", "rsi_reversion", "above_sma200"), "bool", "true / false"),
        (("schedule.yaml", "group_b_at"), "time", "HH:MM (24 h, New York time)"),
        (("scanner.yaml", "regime", "ranging", "allowed"), "list", "comma-separated names"),
    ],
    ids=["int", "float-open-low", "choice", "enum", "bool", "time", "list"],
)
def test_typed_editor_shows_the_allowed_range(editor: ParameterEditor, path, kind, allowed) -> None:
    ed: FieldEditor = editor.field(*path)
    assert ed.kind() == kind
    assert ed.allowed.text() == allowed
    assert not ed.is_modified()


@pytest.mark.parametrize(
    ("path", "text", "problem"),
    [
        (("scanner.yaml", "indicators", "rsi_window"), "1", "out of range: allowed [2 .. 100]"),
        (("scanner.yaml", "indicators", "rsi_window"), "14.5", "expected a whole number"),
        (("risk.yaml", "sizing", "risk_per_trade"), "0", "out of range: allowed (0 .. 0.1]"),
        (("risk.yaml", "sizing", "risk_per_trade"), "abc", "expected a number"),
        (("schedule.yaml", "scan_at"), "25:00", 'expected a time of day as "HH:MM"'),
        (("risk.yaml", "sizing", "risk_per_trade"), "0.01", ""),
    ],
    ids=["below", "fraction-for-int", "open-bound", "text", "bad-time", "fine"],
)
def test_field_marks_problems_as_you_type(editor: ParameterEditor, path, text, problem) -> None:
    ed = editor.show_field(path)
    ed.set_text(text)
    assert ed.check().startswith(problem) if problem else ed.check() == ""
    assert ed.problem.isVisibleTo(editor) == bool(problem)
    assert ed.is_modified()


def test_edit_writes_valid_yaml_that_reloads(qtbot, manager: ConfigManager) -> None:
    engine = FakeEngine()
    from workstation.ui.main_window import MainWindow

    # Through the window: a save asks the engine to reload at its next safe point.
    w = MainWindow(engine, manager)
    qtbot.addWidget(w)
    editor = w.parameter_editor()
    qtbot.addWidget(editor)
    risk = manager.config_dir / "risk.yaml"
    before = risk.read_text()

    editor.show_field(("risk.yaml", "gap", "max_abs_gap")).set_text("0.04")
    editor.field("risk.yaml", "exits", "time_exit_at").set_text("15:45")
    editor.field("strategies.yaml", "rsi_reversion", "rsi_below").set_text("28")
    assert editor.review_btn.isEnabled()
    qtbot.mouseClick(editor.review_btn, Qt.MouseButton.LeftButton)
    assert editor.main_stack.currentIndex() == 1  # the diff page
    diff = editor.review_view.toPlainText()
    assert "-  max_abs_gap: 0.03" in diff and "+  max_abs_gap: 0.04" in diff
    assert '+  time_exit_at: "15:45"' in diff
    assert risk.read_text() == before  # reviewing writes nothing
    qtbot.mouseClick(editor.save_btn, Qt.MouseButton.LeftButton)

    text = risk.read_text()
    assert "max_abs_gap: 0.04" in text
    assert "# dropped when |premarket / prev_close - 1|" in text  # the comments survive
    assert yaml.safe_load(text)["exits"]["time_exit_at"] == "15:45"
    fresh = load_config(manager.config_dir)  # what a reload reads
    assert fresh.risk.gap.max_abs_gap == 0.04
    assert fresh.risk.exits.time_exit_at.strftime("%H:%M") == "15:45"
    assert fresh.strategies["rsi_reversion"].rsi_below == 28.0
    assert manager.current.risk.gap.max_abs_gap == 0.04
    assert engine.calls == [("reload_params", ())]
    # The previous versions are kept and listed.
    assert len(editor.versions("risk.yaml")) == 1
    assert len(editor.versions("strategies.yaml")) == 1
    assert not editor.modified()  # the saved values are the new originals


def test_invalid_value_is_refused_and_nothing_is_written(
    qtbot, editor: ParameterEditor, manager: ConfigManager
) -> None:
    before = snapshot(manager)
    editor.show_field(("scanner.yaml", "indicators", "rsi_window")).set_text("1")
    editor.field("risk.yaml", "gap", "max_abs_gap").set_text("0.05")  # valid, same save
    qtbot.mouseClick(editor.review_btn, Qt.MouseButton.LeftButton)
    assert editor.main_stack.currentIndex() == 0  # no diff page
    assert editor.error_box.isVisibleTo(editor)
    msg = "scanner.yaml: indicators.rsi_window = 1 is out of range: allowed [2 .. 100]"
    assert msg in editor.last_errors
    assert msg in editor.error_box.text()
    assert editor.save() is False  # nothing pending
    assert snapshot(manager) == before  # neither file written
    assert not manager.history_dir.exists() or not list(manager.history_dir.iterdir())
    assert editor.saved_calls == []  # type: ignore[attr-defined]


def test_the_banner_lists_what_is_still_wrong_and_goes_once_it_is_fixed(
    qtbot, editor: ParameterEditor, manager: ConfigManager
) -> None:
    rsi = editor.show_field(("scanner.yaml", "indicators", "rsi_window"))
    rsi.widget.selectAll()
    qtbot.keyClicks(rsi.widget, "1")
    gap = editor.show_field(("risk.yaml", "gap", "max_abs_gap"))
    gap.widget.selectAll()
    qtbot.keyClicks(gap.widget, "3")
    qtbot.mouseClick(editor.review_btn, Qt.MouseButton.LeftButton)
    assert editor.error_box.isVisibleTo(editor) and len(editor.last_errors) == 2
    # the gap fixed by typing: the banner now names only the RSI window
    qtbot.keyClick(gap.widget, Qt.Key.Key_Backspace)
    qtbot.keyClicks(gap.widget, "0.04")
    assert editor.error_box.isVisibleTo(editor)
    assert [e.split(" = ")[0] for e in editor.last_errors] == [
        "scanner.yaml: indicators.rsi_window"
    ]
    assert "max_abs_gap" not in editor.error_box.text()
    # the RSI window fixed too: the banner goes without another review
    editor.show_field(("scanner.yaml", "indicators", "rsi_window"))
    qtbot.keyClicks(rsi.widget, "4")  # "1" -> "14"
    assert not editor.error_box.isVisibleTo(editor) and editor.last_errors == []
    qtbot.mouseClick(editor.review_btn, Qt.MouseButton.LeftButton)
    assert editor.main_stack.currentIndex() == 1  # the diff page: nothing is wrong


def test_cross_field_rule_is_refused(editor: ParameterEditor, manager: ConfigManager) -> None:
    before = snapshot(manager)
    editor.field("scanner.yaml", "ranking", "w_strength").set_text("0.6")  # weights sum 1.1
    assert editor.field("scanner.yaml", "ranking", "w_strength").check() == ""
    assert editor.review() is False
    assert any("must add up to 1.0" in e for e in editor.last_errors)
    assert snapshot(manager) == before


def test_text_in_a_number_field_is_refused_with_the_schema_message(
    editor: ParameterEditor, manager: ConfigManager
) -> None:
    before = snapshot(manager)
    editor.field("strategies.yaml", "bb_squeeze", "tp_atr").set_text("four")
    assert editor.review() is False
    assert editor.last_errors == [
        "strategies.yaml: bb_squeeze.tp_atr = 'four' is not valid: expected a number, "
        "allowed [0.1 .. 50]"
    ]
    assert snapshot(manager) == before


def test_revert_and_back(editor: ParameterEditor) -> None:
    ed = editor.field("risk.yaml", "portfolio", "max_open_positions")
    ed.set_text("6")
    assert editor.review() is True
    editor.back()
    assert editor.main_stack.currentIndex() == 0 and ed.is_modified()
    editor.revert()
    assert not ed.is_modified() and ed.text() == "8"
    assert not editor.review_btn.isEnabled()


def test_restore_a_previous_version(qtbot, editor: ParameterEditor, manager: ConfigManager) -> None:
    editor.field("risk.yaml", "gap", "max_abs_gap").set_text("0.04")
    assert editor.review() and editor.save()
    editor.field("risk.yaml", "gap", "max_abs_gap").set_text("0.02")
    assert editor.review() and editor.save()
    assert manager.current.risk.gap.max_abs_gap == 0.02
    editor.tabs.setCurrentIndex(1)
    editor.history_file.setCurrentIndex(editor.history_file.findData("risk.yaml"))
    assert editor.history_list.count() == 2
    editor.history_list.setCurrentRow(1)  # the oldest: the shipped 0.03
    assert "max_abs_gap: 0.03" in editor.history_diff.toPlainText()
    qtbot.mouseClick(editor.restore_btn, Qt.MouseButton.LeftButton)
    assert manager.current.risk.gap.max_abs_gap == 0.03
    assert load_config(manager.config_dir).risk.gap.max_abs_gap == 0.03
    assert editor.field("risk.yaml", "gap", "max_abs_gap").text() == "0.03"
    assert editor.history_list.count() == 3  # the restore kept the replaced version too
    assert editor.saved_calls[-1] == ["risk.yaml"]  # type: ignore[attr-defined]


def test_live_mode_needs_confirmation(editor: ParameterEditor, manager: ConfigManager) -> None:
    before = snapshot(manager)
    editor.field("app.yaml", "mode").set_text("live")
    assert editor.review() is True
    assert editor.save() is False  # confirm_live said no
    assert "not confirmed" in editor.error_box.text()
    assert snapshot(manager) == before
    editor.confirm_live = lambda: True
    editor.back()
    assert editor.review() and editor.save()
    assert load_config(manager.config_dir).app.mode == "live"


# ------------------------------------------------------------- yaml editing


@pytest.mark.parametrize(
    ("value", "style", "text"),
    [
        (0.04, None, "0.04"),
        (12, None, "12"),
        (True, None, "true"),
        ("20:00", None, "'20:00'"),  # would read back as a number (YAML 1.1 base 60)
        ("15:45", '"', '"15:45"'),  # keeps the file's quotes
        (["a", "b"], None, "[a, b]"),
        ("abc", None, "abc"),
    ],
    ids=["float", "int", "bool", "sexagesimal", "quoted", "list", "text"],
)
def test_scalar_text(value, style, text) -> None:
    assert scalar_text(value, style) == text
    assert yaml.safe_load(f"k: {text}")["k"] == value


def test_set_values_keeps_comments_and_adds_missing_keys() -> None:
    text = "# head\na:\n  x: 1      # the x\n  y: [p, q]\nb: 2\n"
    out = set_values(text, {("a", "x"): 10, ("a", "y"): ["r"], ("a", "z"): 3, ("c", "d"): 4})
    assert yaml.safe_load(out) == {"a": {"x": 10, "y": ["r"], "z": 3}, "b": 2, "c": {"d": 4}}
    assert "  x: 10     # the x\n" in out  # the comment keeps its column
    assert out.startswith("# head\n")


def test_set_values_falls_back_to_a_full_dump_for_flow_mappings() -> None:
    out = set_values("# keep me\na: {x: 1}\n", {("a", "x"): 2})
    assert yaml.safe_load(out) == {"a": {"x": 2}}
    assert out.startswith("# keep me\n")
