"""Control of each position from the positions table, with real keys and mouse clicks: the
context menu (a right-click through the window), F2 and Delete, the modal confirmations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

from tests.gui.fake_engine import FakeEngine
from workstation.ui.dialogs.position import ClosePositionDialog, MoveLevelsDialog
from workstation.ui.main_window import MainWindow

pytestmark = pytest.mark.gui


def when(kind: str, handler: Callable[[Any], None], seen: list[Any]) -> None:
    """Run ``handler`` on the next modal dialog (``kind="modal"``) or popup menu ("popup")
    as soon as it shows (it runs inside that widget's own event loop)."""

    def poll() -> None:
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        w = app.activeModalWidget() if kind == "modal" else app.activePopupWidget()
        if w is None or not w.isVisible():
            QTimer.singleShot(10, poll)
            return
        seen.append(w)
        handler(w)

    QTimer.singleShot(0, poll)


def right_click(widget: QWidget, pos: QPoint) -> None:
    """A right-click through the window system (what makes Qt open a context menu)."""
    win = widget.window()
    QTest.mouseClick(
        win.windowHandle(),
        Qt.MouseButton.RightButton,
        Qt.KeyboardModifier.NoModifier,
        widget.mapTo(win, pos),
    )


def replace_text(edit: QWidget, text: str) -> None:
    QTest.keyClick(edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(edit, text)


def positions_window(make_window: Callable[..., MainWindow], engine: FakeEngine) -> Any:
    w = make_window(engine)
    w.docks["positions"].raise_()
    panel = w.panels["positions"]
    return w, panel


def select(qtbot: Any, panel: Any, symbol: str) -> Any:
    table = panel.table
    rows = table.visible_rows()
    r = next(i for i, p in enumerate(rows) if p.symbol == symbol)
    rect = table.visualRect(table.proxy.index(r, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    table.window().activateWindow()
    table.setFocus()
    qtbot.waitUntil(table.hasFocus, timeout=2000)
    assert table.current_row().symbol == symbol
    return rect


def test_f2_moves_the_stop_with_the_rules_verdict_as_you_type(
    qtbot: Any, make_window: Callable[..., MainWindow], session_engine: FakeEngine
) -> None:
    _w, panel = positions_window(make_window, session_engine)
    hd = next(p for p in session_engine.positions() if p.symbol == "HD")  # day 4, long
    select(qtbot, panel, "HD")
    seen: list[Any] = []
    verdicts: list[str] = []
    new_sl = round(hd.sl + 0.5 * (hd.last - hd.sl), 2)

    def drive(d: MoveLevelsDialog) -> None:
        assert isinstance(d, MoveLevelsDialog) and d.position.symbol == "HD"
        assert not d.ok_button.isEnabled()  # nothing changed yet
        replace_text(d.sl_edit, f"{hd.last + 1:.2f}")  # through the market: refused
        verdicts.append(d.verdict.text())
        assert not d.ok_button.isEnabled()
        replace_text(d.sl_edit, f"{new_sl:.2f}")
        verdicts.append(d.verdict.text())
        QTest.keyClicks(d.note, "lock in half")
        assert d.ok_button.isEnabled()
        QTest.mouseClick(d.ok_button, Qt.MouseButton.LeftButton)

    when("modal", drive, seen)
    QTest.keyClick(panel.table, Qt.Key.Key_F2)
    qtbot.waitUntil(lambda: bool(seen) and not seen[0].isVisible(), timeout=3000)
    assert "would exit at once" in verdicts[0]
    assert "Allowed" in verdicts[1] and f"stop {hd.sl:,.2f} -&gt; {new_sl:,.2f}" in verdicts[1]
    assert session_engine.calls == [("move_levels", ("HD", new_sl, None, False, "lock in half"))]
    row = next(p for p in panel.table.visible_rows() if p.symbol == "HD")
    assert row.sl == new_sl and row.sl_moved
    sl_col = [c.title for c in panel.table.source.columns].index("SL")
    r = panel.table.visible_rows().index(row)
    assert panel.table.proxy.index(r, sl_col).data().endswith("✎")

    def labels() -> list[str]:
        items = panel.plot.getPlotItem().items
        return [i.label.format for i in items if getattr(i, "label", None) is not None]

    qtbot.waitUntil(lambda: any(t.startswith("SL (moved)") for t in labels()), timeout=2000)


def test_a_day_1_position_has_no_stop_to_move_and_escape_sends_nothing(
    qtbot: Any, make_window: Callable[..., MainWindow], session_engine: FakeEngine
) -> None:
    _w, panel = positions_window(make_window, session_engine)
    day1 = next(p for p in session_engine.positions() if p.day_one)
    select(qtbot, panel, day1.symbol)
    seen: list[Any] = []
    texts: list[str] = []

    def drive(d: MoveLevelsDialog) -> None:
        replace_text(d.sl_edit, f"{day1.fill_price * 0.99:.2f}")
        texts.append(d.verdict.text())
        assert not d.ok_button.isEnabled()
        QTest.keyClick(d, Qt.Key.Key_Escape)

    when("modal", drive, seen)
    QTest.keyClick(panel.table, Qt.Key.Key_F2)
    qtbot.waitUntil(lambda: bool(seen) and not seen[0].isVisible(), timeout=3000)
    assert "SL and TP are off until day 2" in texts[0]
    assert session_engine.calls == []


def test_a_stop_beyond_the_emergency_level_needs_the_box_ticked(
    qtbot: Any, make_window: Callable[..., MainWindow], session_engine: FakeEngine
) -> None:
    _w, panel = positions_window(make_window, session_engine)
    ko = next(p for p in session_engine.positions() if p.symbol == "KO")  # long, day 3
    select(qtbot, panel, "KO")
    wide = round(ko.emergency - 1.0, 2)
    seen: list[Any] = []
    states: list[tuple[bool, bool]] = []

    def drive(d: MoveLevelsDialog) -> None:
        replace_text(d.sl_edit, f"{wide:.2f}")
        states.append((d.beyond.isVisible(), d.ok_button.isEnabled()))
        QTest.mouseClick(d.beyond, Qt.MouseButton.LeftButton, pos=QPoint(8, d.beyond.height() // 2))
        states.append((d.beyond.isChecked(), d.ok_button.isEnabled()))
        QTest.mouseClick(d.ok_button, Qt.MouseButton.LeftButton)

    when("modal", drive, seen)
    QTest.keyClick(panel.table, Qt.Key.Key_F2)
    qtbot.waitUntil(lambda: bool(seen) and not seen[0].isVisible(), timeout=3000)
    assert states == [(True, False), (True, True)]
    assert session_engine.calls == [("move_levels", ("KO", wide, None, True, ""))]


def test_delete_asks_first_enter_cancels_and_the_button_closes(
    qtbot: Any, make_window: Callable[..., MainWindow], session_engine: FakeEngine
) -> None:
    w, panel = positions_window(make_window, session_engine)
    select(qtbot, panel, "BAC")
    seen: list[Any] = []

    def press_enter(d: ClosePositionDialog) -> None:
        assert isinstance(d, ClosePositionDialog) and d.ok_button.text() == "Close BAC"
        QTest.keyClick(d, Qt.Key.Key_Return)  # the default button is Cancel

    when("modal", press_enter, seen)
    QTest.keyClick(panel.table, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: bool(seen) and not seen[0].isVisible(), timeout=3000)
    assert session_engine.calls == []

    def click_close(d: ClosePositionDialog) -> None:
        QTest.mouseClick(d.ok_button, Qt.MouseButton.LeftButton)

    when("modal", click_close, seen)
    select(qtbot, panel, "BAC")
    QTest.keyClick(panel.table, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: len(seen) == 2 and not seen[1].isVisible(), timeout=3000)
    assert session_engine.calls == [("close_position", ("BAC",))]
    assert "BAC" not in [p.symbol for p in panel.table.visible_rows()]
    assert "Closing BAC" in w.statusBar().currentMessage()


def test_the_context_menu_offers_both_and_acts_on_the_row_clicked(
    qtbot: Any, make_window: Callable[..., MainWindow], session_engine: FakeEngine
) -> None:
    _w, panel = positions_window(make_window, session_engine)
    table = panel.table
    rect = select(qtbot, panel, "HD")
    rows = table.visible_rows()
    ko = table.proxy.index([p.symbol for p in rows].index("KO"), 0)
    table.scrollTo(ko)  # as a user would: the dock may be too short to show every row
    ko_rect = table.visualRect(ko)
    assert table.viewport().rect().contains(ko_rect.center())
    menus: list[Any] = []
    dialogs: list[Any] = []
    texts: list[list[str]] = []

    def in_menu(m: Any) -> None:
        texts.append([a.text() for a in m.actions() if not a.isSeparator()])
        # The second entry, "Close position...", by keyboard: down, down, enter.
        when("modal", lambda d: QTest.mouseClick(d.ok_button, Qt.MouseButton.LeftButton), dialogs)
        QTest.keyClick(m, Qt.Key.Key_Down)
        QTest.keyClick(m, Qt.Key.Key_Down)
        QTest.keyClick(m, Qt.Key.Key_Return)

    when("popup", in_menu, menus)
    right_click(table.viewport(), ko_rect.center())  # right-click on KO, HD was selected
    qtbot.waitUntil(lambda: bool(dialogs) and not dialogs[0].isVisible(), timeout=3000)
    assert texts[0] == ["Move stop / target...", "Close position...", "Copy", "Export CSV..."]
    assert isinstance(dialogs[0], ClosePositionDialog) and dialogs[0].position.symbol == "KO"
    assert session_engine.calls == [("close_position", ("KO",))]
    assert rect.isValid()


def test_the_trading_menu_lists_the_keys_and_refusals_are_shown(
    qtbot: Any, make_window: Callable[..., MainWindow], session_engine: FakeEngine
) -> None:
    w, panel = positions_window(make_window, session_engine)
    texts = [a.text() for a in w.menuBar().actions()[2].menu().actions()]
    assert "Move stop / target...\tF2" in texts and "Close position...\tDel" in texts
    select(qtbot, panel, "HD")
    session_engine.refuse_next = "the engines are stopping"
    seen: list[Any] = []
    when("modal", lambda d: QTest.mouseClick(d.ok_button, Qt.MouseButton.LeftButton), seen)
    w.close_position_action.trigger()
    qtbot.waitUntil(lambda: bool(seen) and not seen[0].isVisible(), timeout=3000)
    assert "Close HD refused: the engines are stopping" in w.statusBar().currentMessage()
    assert "HD" in [p.symbol for p in panel.table.visible_rows()]
