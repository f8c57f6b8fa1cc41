"""The rest of the trial's list (issue 13 item 10), driven with keys and the mouse: quitting
with positions asks, the clock's speed and pause come back on relaunch, Settings shows the
theme in use, Help opens the guide and lists the keys, parameter history times in ET."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QLabel

from tests.gui.fake_engine import FakeEngine
from workstation.core.events import EventBus
from workstation.engine.proxy import EngineProxy
from workstation.ui.dialogs.confirm import QuitDialog
from workstation.ui.dialogs.help import ShortcutsDialog
from workstation.ui.dialogs.params import _stamp_of
from workstation.ui.main_window import MainWindow

pytestmark = pytest.mark.gui


def answering(result: QDialog.DialogCode, seen: list[QDialog]) -> Callable[[QDialog], int]:
    def run(dialog: QDialog) -> int:
        seen.append(dialog)
        return result

    return run


def press(qtbot, w: MainWindow, key: Qt.Key, mods=Qt.KeyboardModifier.NoModifier) -> None:
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=2000)
    qtbot.keyClick(w, key, mods)


def test_quitting_with_positions_asks_first(qtbot, make_window) -> None:
    engine = FakeEngine("session")
    w: MainWindow = make_window(engine)
    n = len(engine.positions())
    assert n
    seen: list[QDialog] = []
    w.exec_dialog = answering(QDialog.DialogCode.Rejected, seen)  # type: ignore[method-assign]
    press(qtbot, w, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)  # File > Quit
    [dlg] = seen
    assert isinstance(dlg, QuitDialog)
    words = " ".join(label.text() for label in dlg.findChildren(QLabel))
    assert f"Quit while {n} positions are managed?" in words
    assert "stops stay at the broker" not in words  # simulated: the market waits instead
    assert w.isVisible() and engine.shutdown_called == 0
    assert "positions stay managed" in w.statusBar().currentMessage()
    w.exec_dialog = answering(QDialog.DialogCode.Accepted, seen)  # type: ignore[method-assign]
    press(qtbot, w, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=3000)
    assert len(seen) == 2 and engine.shutdown_called == 1


def test_quitting_without_positions_does_not_ask(qtbot, make_window) -> None:
    engine = FakeEngine("session")
    engine._positions = ()
    w: MainWindow = make_window(engine)
    seen: list[QDialog] = []
    w.exec_dialog = answering(QDialog.DialogCode.Rejected, seen)  # type: ignore[method-assign]
    press(qtbot, w, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=3000)
    assert seen == [] and engine.shutdown_called == 1


def test_the_clock_speed_and_pause_come_back_on_relaunch(qtbot, make_window) -> None:
    engine = FakeEngine("session")
    w: MainWindow = make_window(engine)
    status = w.panels["status"]
    qtbot.mouseClick(status.speed_buttons[1.0], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(status.pause_btn, Qt.MouseButton.LeftButton)
    assert (engine.speed, engine.paused) == (1.0, True)
    w.close()

    again = FakeEngine("session")
    make_window(again)
    assert (again.speed, again.paused) == (1.0, True)
    # ...and through the proxy the app opens the window on, before the engines are there
    proxy = EngineProxy(EventBus())
    make_window(proxy)
    late = FakeEngine("session")
    proxy.attach(late)
    assert (late.speed, late.paused) == (1.0, True)


def test_a_given_speed_is_not_overridden_by_the_last_one(qtbot, make_window) -> None:
    engine = FakeEngine("session")
    w: MainWindow = make_window(engine)
    qtbot.mouseClick(w.panels["status"].speed_buttons[1.0], Qt.MouseButton.LeftButton)
    w.close()
    again = FakeEngine("session")
    make_window(again, restore_clock=False)
    assert ("set_speed", (1.0,)) not in again.calls


def test_settings_shows_the_theme_in_use(qtbot, make_window) -> None:
    w: MainWindow = make_window(FakeEngine(), theme_name="dark")
    assert w.config is not None and w.config.current.app.theme == "dark"
    w.theme_actions["light"].trigger()  # View > Theme > Light: app.yaml still says dark
    try:
        dlg = w.settings_dialog()
        qtbot.addWidget(dlg)
        assert dlg.theme.currentText() == "light"
    finally:
        w.set_theme("dark")


def test_help_opens_the_user_guide_and_lists_the_keys(qtbot, make_window) -> None:
    w: MainWindow = make_window(FakeEngine("session"))
    press(qtbot, w, Qt.Key.Key_F1)
    guide = w.guide
    assert guide is not None and guide.isVisible()
    text = guide.browser.toPlainText()
    assert "Orders and entries" in text and "not sent" in text  # the real guide, rendered
    seen: list[QDialog] = []
    w.exec_dialog = answering(QDialog.DialogCode.Accepted, seen)  # type: ignore[method-assign]
    press(qtbot, w, Qt.Key.Key_Slash, Qt.KeyboardModifier.ControlModifier)
    [dlg] = seen
    assert isinstance(dlg, ShortcutsDialog)
    keys = dict((what, k) for k, what in dlg.rows)
    assert keys["Quit"] == "Ctrl+Q"
    assert keys["User guide"] == "F1"
    assert any(what.startswith("Approve") for what in keys)  # the candidates' chords
    guide.close()


def test_parameter_history_times_are_in_eastern_time(tmp_path: Path) -> None:
    saved = datetime(2025, 3, 12, 18, 30, 5, tzinfo=UTC).astimezone()  # the computer's time
    version = tmp_path / f"risk.{saved:%Y%m%d-%H%M%S-%f}.yaml"
    assert _stamp_of(version) == "2025-03-12 14:30:05 ET"  # EDT (UTC-4) since 03-09
