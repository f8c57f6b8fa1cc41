"""Values proposed from elsewhere (the Optimize window's Apply) in the parameter editor:
the review shows them with their diff and validation, only the user's Save writes them, and
the history names where the saved version came from."""

from __future__ import annotations

import pytest
import yaml
from PySide6.QtCore import Qt

from workstation.core.config_files import ConfigManager
from workstation.core.config_origins import ORIGINS_FILE, origin_of, record_origin
from workstation.ui.dialogs.params import ParameterEditor

pytestmark = pytest.mark.gui

SL = ("strategies.yaml", "bb_squeeze", "sl_atr")
TP = ("strategies.yaml", "bb_squeeze", "tp_atr")
DAY = ("risk.yaml", "exits", "time_exit_day")
ORIGIN = "optimize search 20261207-2140-ab12 (trial 7, sharpe 1.31)"


def _texts(manager: ConfigManager) -> dict[str, str]:
    return {p.name: p.read_text() for p in manager.config_dir.glob("*.yaml")}


def _history_of(qtbot, editor: ParameterEditor, filename: str) -> list[str]:
    qtbot.mouseClick(editor.tabs.tabBar(), Qt.MouseButton.LeftButton,
                     pos=editor.tabs.tabBar().tabRect(1).center())  # fmt: skip
    editor.history_file.setCurrentIndex(editor.history_file.findData(filename))
    return [editor.history_list.item(i).text() for i in range(editor.history_list.count())]


def test_a_proposal_is_reviewed_saved_by_the_user_and_named_in_the_history(
    qtbot, editor: ParameterEditor, manager: ConfigManager
) -> None:
    before = _texts(manager)
    assert editor.propose({SL: 2.0, TP: 4.0, DAY: 4}, ORIGIN)  # tp_atr 4.0 is unchanged
    assert editor.main_stack.currentIndex() == 1  # the review, with its diff
    diff = editor.review_view.toPlainText()
    assert "-  sl_atr: 2.5" in diff and "+  sl_atr: 2.0" in diff
    assert "+  time_exit_day: 4" in diff and "+  tp_atr" not in diff
    assert "from optimize search 20261207-2140-ab12" in editor.review_title.text()
    assert _texts(manager) == before  # proposing writes nothing

    qtbot.mouseClick(editor.save_btn, Qt.MouseButton.LeftButton)
    assert manager.current.strategies["bb_squeeze"].sl_atr == 2.0
    assert manager.current.risk.exits.time_exit_day == 4
    strategies = manager.config_dir / "strategies.yaml"
    assert "# Long, group A (market-on-open)" in strategies.read_text()  # comments kept
    assert origin_of(manager.history_dir, "strategies.yaml", strategies) == ORIGIN
    _history_of(qtbot, editor, "strategies.yaml")
    assert editor.history_current.text() == f"In force: from {ORIGIN}"

    # A later edit by hand: the version in force no longer claims the search; the search's
    # version is the newest in the history and says where it came from.
    qtbot.mouseClick(editor.tabs.tabBar(), Qt.MouseButton.LeftButton,
                     pos=editor.tabs.tabBar().tabRect(0).center())  # fmt: skip
    editor.field(*SL).set_text("2.25")
    assert editor.review() and editor.save()
    listed = _history_of(qtbot, editor, "strategies.yaml")
    assert editor.history_current.text() == "In force: as last edited"
    assert listed[0].endswith(f"from {ORIGIN}") and "from" not in listed[1]


def test_a_proposal_edited_before_saving_says_so(
    editor: ParameterEditor, manager: ConfigManager
) -> None:
    assert editor.propose({SL: 2.0}, ORIGIN)
    editor.back()
    editor.field(*TP).set_text("5.0")
    assert editor.review() and editor.save()
    saved = manager.config_dir / "strategies.yaml"
    assert origin_of(manager.history_dir, "strategies.yaml", saved) == (
        f"{ORIGIN}, then edited by hand"
    )
    # Revert forgets a proposal: the next save is the user's own.
    assert editor.propose({SL: 1.5}, ORIGIN)
    editor.revert()
    editor.field(*SL).set_text("3.0")
    assert editor.review() and editor.save()
    assert origin_of(manager.history_dir, "strategies.yaml", saved) is None


def test_a_proposal_that_breaks_a_rule_is_refused_and_writes_nothing(
    editor: ParameterEditor, manager: ConfigManager
) -> None:
    before = _texts(manager)
    assert editor.propose({SL: 0.0}, ORIGIN) is False  # below the schema's range
    assert any("sl_atr" in e for e in editor.last_errors)
    assert editor.main_stack.currentIndex() == 0
    assert editor.save() is False and _texts(manager) == before
    # Values already in force: nothing to review, and it says so.
    assert editor.propose({SL: 2.5}, ORIGIN) is False
    assert "already in force" in editor.info.text()
    with pytest.raises(KeyError, match=r"no such parameter: strategies\.yaml\.nope"):
        editor.propose({("strategies.yaml", "nope"): 1}, ORIGIN)


def test_a_damaged_origins_line_loses_only_its_caption(manager: ConfigManager) -> None:
    path = manager.config_dir / "risk.yaml"
    text = path.read_text()
    record_origin(manager.history_dir, "risk.yaml", text, "search A")
    with open(manager.history_dir / ORIGINS_FILE, "a", encoding="utf-8") as fh:
        fh.write('{"file": "risk.yaml", "sha2')  # a crash half-way through an append
    assert origin_of(manager.history_dir, "risk.yaml", path) == "search A"
    assert yaml.safe_load(path.read_text())  # the file itself is untouched
