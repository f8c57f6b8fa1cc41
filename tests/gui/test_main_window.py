"""The main window: docks and layout persistence, menus, kill switch / flatten dialogs,
notifications, About, and a clean quit through the shutdown hook."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QLabel,
    QMessageBox,
)

from tests.gui.fake_engine import FakeEngine
from workstation.core.calendar import ET
from workstation.core.events import LogEvent, OrderFilled
from workstation.core.models import (
    ApprovalState,
    Fill,
    Order,
    OrderRequest,
    OrderSide,
    OrderStatus,
)
from workstation.engine.views import ViewName, ViewsChanged
from workstation.ui.dialogs.confirm import (
    FlattenAllDialog,
    KillSwitchDialog,
    LiveModeDialog,
    RescanDialog,
)
from workstation.ui.main_window import MainWindow, versions

pytestmark = pytest.mark.gui

CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier

PANELS = {
    "status",
    "candidates",
    "gaps",
    "orders",
    "positions",
    "chart",
    "risk",
    "regime",
    "mfe_mae",
    "journal",
    "performance",
    "evidence",
    "log",
}


def driver(answer: Callable[[QDialog], int]) -> Callable[[QDialog], int]:
    """A stand-in for exec(): inspect/fill the dialog, return its result."""
    seen: list[QDialog] = []

    def run(dialog: QDialog) -> int:
        seen.append(dialog)
        return answer(dialog)

    run.seen = seen  # type: ignore[attr-defined]
    return run


def test_docks_view_menu_and_reset(qtbot, make_window, engine: FakeEngine) -> None:
    w: MainWindow = make_window(engine)
    assert set(w.docks) == PANELS
    view = next(a.menu() for a in w.menuBar().actions() if a.text() == "&View")
    titles = {a.text() for a in view.actions()}
    for name, dock in w.docks.items():
        assert isinstance(dock, QDockWidget)
        assert dock.isVisible() or w.tabifiedDockWidgets(dock)
        assert w.panels[name].TITLE in titles
    menus = [a.text() for a in w.menuBar().actions()]
    assert menus == ["&File", "&View", "&Trading", "T&ools", "&Alerts", "&Help"]
    # A closed dock comes back from the View menu ...
    dock = w.docks["journal"]
    dock.close()
    assert not dock.isVisible()
    dock.toggleViewAction().trigger()
    qtbot.waitUntil(dock.isVisible, timeout=1000)
    # ... and "Reset layout" brings every one back.
    for d in w.docks.values():
        d.close()
    w.reset_layout()
    assert all(not d.isHidden() for d in w.docks.values())


def test_kill_switch_engage_then_release(make_window, session_engine) -> None:
    w: MainWindow = make_window(session_engine)
    w.exec_dialog = driver(lambda d: QDialog.DialogCode.Rejected)  # type: ignore[method-assign]
    w.kill_action.trigger()
    assert session_engine.calls == []  # cancel does nothing

    def accept(d: QDialog) -> int:
        assert isinstance(d, KillSwitchDialog)
        assert not d.flatten.isChecked()  # flattening is never the default
        assert d.flatten.isEnabled()
        return QDialog.DialogCode.Accepted

    w.exec_dialog = driver(accept)  # type: ignore[method-assign]
    w.kill_action.trigger()
    assert [c[0] for c in session_engine.calls] == ["engage_kill_switch"]
    assert session_engine.positions()  # positions stay open
    assert "ENGAGED" in w.panels["status"].kill.value.text()

    # Engaged: the same action offers to release it.
    run = driver(lambda d: QDialog.DialogCode.Accepted)
    w.exec_dialog = run  # type: ignore[method-assign]
    w.kill_action.trigger()
    assert type(run.seen[0]).__name__ == "ReleaseKillSwitchDialog"  # type: ignore[attr-defined]
    assert session_engine.calls[-1] == ("release_kill_switch", ())
    assert "off" in w.panels["status"].kill.value.text()


def test_kill_switch_with_flatten(make_window, session_engine) -> None:
    w: MainWindow = make_window(session_engine)

    def flatten_too(d: QDialog) -> int:
        d.flatten.setChecked(True)  # type: ignore[attr-defined]
        assert d.ok_button.text() == "Engage and flatten all"  # type: ignore[attr-defined]
        return QDialog.DialogCode.Accepted

    w.exec_dialog = driver(flatten_too)  # type: ignore[method-assign]
    w.kill_action.trigger()
    assert [c[0] for c in session_engine.calls] == ["engage_kill_switch", "flatten_all"]
    assert w.panels["positions"].table.visible_rows() == []


def test_layout_survives_a_restart(qtbot, make_window, engine: FakeEngine, settings_path) -> None:
    w: MainWindow = make_window(engine)
    w.resize(780, 700)  # the offscreen screen is 800x800: restoreGeometry keeps it on screen
    w.docks["log"].close()
    w.removeDockWidget(w.docks["orders"])
    w.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, w.docks["orders"])
    w.docks["orders"].show()
    w.resizeDocks([w.docks["orders"]], [333], Qt.Orientation.Horizontal)
    qtbot.wait(20)
    area_before = w.dockWidgetArea(w.docks["orders"])
    size_before = (w.width(), w.height())
    orders_width = w.docks["orders"].width()
    assert size_before != (1600, 1000)  # not the default size
    w.close()  # closeEvent saves the layout to the settings file
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=2000)
    assert settings_path.exists()

    again: MainWindow = make_window(FakeEngine())
    assert (again.width(), again.height()) == size_before
    assert again.docks["orders"].width() == orders_width
    assert not again.docks["log"].isVisible()
    assert again.dockWidgetArea(again.docks["orders"]) == area_before
    assert again.dockWidgetArea(again.docks["orders"]) == Qt.DockWidgetArea.BottomDockWidgetArea
    assert again.docks["journal"].isVisible() or again.tabifiedDockWidgets(again.docks["journal"])


def test_flatten_all_needs_confirmation(make_window, session_engine) -> None:
    w: MainWindow = make_window(session_engine)
    n = len(session_engine.positions())
    run = driver(lambda d: QDialog.DialogCode.Rejected)
    w.exec_dialog = run  # type: ignore[method-assign]
    w.flatten_action.trigger()
    dlg = run.seen[0]  # type: ignore[attr-defined]
    assert isinstance(dlg, FlattenAllDialog)
    assert dlg.ok_button.text() == f"Flatten {n} positions"
    assert session_engine.calls == []
    w.exec_dialog = driver(lambda d: QDialog.DialogCode.Accepted)  # type: ignore[method-assign]
    w.flatten_action.trigger()
    assert session_engine.calls == [("flatten_all", ())]


def test_trading_menu_commands_and_refusals(make_window, engine: FakeEngine) -> None:
    w: MainWindow = make_window(engine)
    w.scan_action.trigger()
    w.jump_action.trigger()
    w.pause_action.trigger()
    assert [c[0] for c in engine.calls] == ["run_scan_now", "jump_to_next", "pause"]
    w.panels["candidates"].table.select_row(0)
    w.approve_action.trigger()
    assert engine.calls[-1] == ("approve", (101, ""))
    w.veto_action.trigger()  # the selection moved on to #2
    assert engine.calls[-1] == ("veto", (102, ""))
    engine.refuse_next = "no scan while the market is open"
    w.scan_action.trigger()
    assert "no scan while the market is open" in w.statusBar().currentMessage()
    log_rows = w.panels["log"].table.source.rows
    assert log_rows[-1].level == "ERROR" and "no scan" in log_rows[-1].message


def clicking(button: str) -> Callable[[QDialog], int]:
    """A stand-in for exec() that shows the dialog and clicks one of its buttons with the
    mouse ("ok" or "cancel"), returning what the dialog returns."""

    def answer(dialog: QDialog) -> int:
        dialog.show()
        box = dialog.findChild(QDialogButtonBox)
        target = (
            dialog.ok_button  # type: ignore[attr-defined]
            if button == "ok"
            else box.button(QDialogButtonBox.StandardButton.Cancel)
        )
        QTest.mouseClick(target, Qt.MouseButton.LeftButton)
        return dialog.result()

    return driver(answer)


def test_a_rescan_over_decisions_asks_first(qtbot, make_window, engine: FakeEngine) -> None:
    w: MainWindow = make_window(engine)
    w.activateWindow()  # window shortcuts (Ctrl+R) need the active window
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=2000)
    cand = w.panels["candidates"]
    cand.table.select_row(0)
    cand.table.setFocus()
    qtbot.keyClick(cand.table, Qt.Key.Key_A, CTRL_SHIFT)
    qtbot.keyClick(cand.table, Qt.Key.Key_V, CTRL_SHIFT)
    assert [c[0] for c in engine.calls] == ["approve", "veto"]
    # Cancel: nothing is re-run, the decisions stay.
    w.exec_dialog = clicking("cancel")  # type: ignore[method-assign]
    qtbot.keyClick(w, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    [dlg] = w.exec_dialog.seen  # type: ignore[attr-defined]
    assert (
        isinstance(dlg, RescanDialog) and "already has 2 decisions" in dlg.findChild(QLabel).text()
    )
    assert engine.calls[-1] == ("run_scan_now", ())
    assert "Scan not re-run" in w.statusBar().currentMessage()
    # Re-run: confirmed, and the decisions are still there afterwards.
    w.exec_dialog = clicking("ok")  # type: ignore[method-assign]
    said: list[str] = []
    w.statusBar().messageChanged.connect(said.append)
    qtbot.keyClick(w, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert engine.calls[-1] == ("run_scan_now", (True,))
    w.bridge.flush()
    assert any("2 decisions carried over" in m for m in said), said
    states = [c.approval for c in cand.table.visible_rows()[:2]]
    assert states == [ApprovalState.APPROVED, ApprovalState.VETOED]


def test_a_rescan_while_the_list_is_traded_is_refused(make_window, session_engine) -> None:
    w: MainWindow = make_window(session_engine)
    w.exec_dialog = driver(lambda d: QDialog.DialogCode.Accepted)  # type: ignore[method-assign]
    w.scan_action.trigger()
    assert w.exec_dialog.seen == []  # type: ignore[attr-defined]
    assert "is traded from" in w.statusBar().currentMessage()


def test_text_typed_anywhere_never_decides(qtbot, make_window, engine: FakeEngine) -> None:
    """Letters typed into the journal's filter, the log's filter or the candidates' note
    (or into the candidates table itself) never approve or veto: only the chords do."""
    w: MainWindow = make_window(engine)
    cand = w.panels["candidates"]
    cand.table.select_row(0)
    for field in (w.panels["journal"].search, cand.note, cand.table):
        w.docks["journal"].raise_()
        field.setFocus()
        qtbot.keyClicks(field, "a v pa")
    assert engine.calls == []
    assert "a v pa" in cand.note.text()
    assert {c.approval for c in engine.candidates()} == {ApprovalState.PENDING}
    # the menu names the chords
    assert w.approve_action.text().endswith("Ctrl+Shift+A")
    assert w.undo_action.text().endswith("Ctrl+Shift+P")


def test_engine_events_reach_the_right_panels(qtbot, make_window, engine: FakeEngine) -> None:
    w: MainWindow = make_window(engine)
    counts = {name: 0 for name in w.panels}
    for name, p in w.panels.items():
        orig = p.refresh

        def counted(orig=orig, name=name) -> None:
            counts[name] += 1
            orig()

        p.refresh = counted  # type: ignore[method-assign]
    engine.events.publish(ViewsChanged.of(engine.now, ViewName.CANDIDATES))
    w.bridge.flush()
    assert counts["candidates"] == 1
    assert counts["journal"] == 1  # a veto or a step changes where the vetoes stand
    assert counts["positions"] == counts["orders"] == 0

    t = datetime(2025, 3, 12, 9, 30, 1, tzinfo=ET)
    req = OrderRequest("cid-1", "GS", OrderSide.BUY, 25)
    fill = Fill("f1", "cid-1", "GS", OrderSide.BUY, 25, 331.33, t)
    order = Order(req, OrderStatus.FILLED, filled_qty=25, avg_fill_price=331.33)
    engine.events.publish(OrderFilled(t, order, fill))
    assert "BUY 25 GS @ 331.33" in w.statusBar().currentMessage()
    engine.events.publish(LogEvent(t, "WARNING", "orders", "a warning from the engine"))
    assert w.panels["log"].table.source.rows[-1].message == "a warning from the engine"


def test_about_lists_versions(make_window, engine: FakeEngine) -> None:
    w: MainWindow = make_window(engine)
    v = versions()
    assert set(v) == {"AutoTrader Workstation", "Python", "Qt", "PySide6", "pyqtgraph", "alpaca-py"}
    assert v["alpaca-py"].startswith("0.")
    text = w.about_text()
    for value in v.values():
        assert value in text
    run = driver(lambda d: QDialog.DialogCode.Accepted)
    w.exec_dialog = run  # type: ignore[method-assign]
    w.about()
    assert isinstance(run.seen[0], QMessageBox)  # type: ignore[attr-defined]


def test_theme_switch_applies_and_is_saved(make_window, engine: FakeEngine) -> None:
    from workstation.ui import theme

    w: MainWindow = make_window(engine)
    w.theme_actions["light"].trigger()
    assert theme.current().name == "light"
    assert w.settings.value("ui/theme") == "light"
    w.theme_actions["dark"].trigger()
    assert theme.current().name == "dark"


def test_live_mode_dialog_needs_the_word(qtbot) -> None:
    d = LiveModeDialog()
    qtbot.addWidget(d)
    assert not d.ok_button.isEnabled()
    qtbot.keyClicks(d.word, "live")
    assert not d.ok_button.isEnabled()  # capital letters
    d.accept()
    assert d.result() != QDialog.DialogCode.Accepted
    d.word.clear()
    qtbot.keyClicks(d.word, "LIVE")
    assert d.ok_button.isEnabled()
    d.ok_button.click()
    assert d.result() == QDialog.DialogCode.Accepted


def test_close_calls_the_shutdown_hook_once(qtbot, make_window, engine: FakeEngine) -> None:
    w: MainWindow = make_window(engine)
    w.close()
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=2000)
    assert engine.shutdown_called == 1
    w.close()
    assert engine.shutdown_called == 1


def test_async_shutdown_hook_runs_on_the_running_loop(qtbot, make_window, engine) -> None:
    stopped: list[str] = []

    async def stop() -> None:
        await asyncio.sleep(0.01)
        stopped.append("engines")

    w: MainWindow = make_window(engine, shutdown=stop)

    async def scenario() -> None:
        w.close()  # returns at once: the window waits for the task
        assert w.isVisible() and w._shutdown_state == "stopping"
        for _ in range(100):
            await asyncio.sleep(0.01)
            qtbot.wait(1)
            if not w.isVisible():
                break

    asyncio.run(scenario())
    assert stopped == ["engines"]
    assert not w.isVisible()


def test_no_stray_tab_bars_at_any_size(make_window, session_engine) -> None:
    """Qt leaves the tab bar of a two-dock group behind when a third dock joins it before the
    window is shown; it painted as a stray "Positions | Orders" strip between the panels."""
    from PySide6.QtWidgets import QApplication, QTabBar

    w: MainWindow = make_window(session_engine)
    for size in ((1280, 800), (1920, 1080)):
        w.resize(*size)
        QApplication.processEvents()
        w._hide_stale_tab_bars()  # (the window runs it when shown; resizing makes none)
        bars = [b for b in w.findChildren(QTabBar) if b.parent() is w and b.isVisible()]
        groups = [frozenset(b.tabText(i) for i in range(b.count())) for b in bars]
        assert len(groups) == len(set(groups)) == 3, groups  # left, right and bottom groups
        assert all(not (a < b) for a in groups for b in groups), groups
    w.reset_layout()
    for _ in range(3):
        QApplication.processEvents()
    bars = [b for b in w.findChildren(QTabBar) if b.parent() is w and b.isVisible()]
    assert len(bars) == 3
    # The bars left are the working ones: a click on the Chart tab shows the chart.
    from PySide6.QtTest import QTest

    bar = next(b for b in bars if "Chart" in [b.tabText(i) for i in range(b.count())])
    i = [bar.tabText(k) for k in range(bar.count())].index("Chart")
    QTest.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(i).center())
    QApplication.processEvents()
    assert w.docks["chart"].isVisible() and bar.currentIndex() == i


@pytest.mark.parametrize("theme_name", ["dark", "light"])
def test_the_window_fits_a_1280x800_screen(qtbot, make_window, session_engine, theme_name) -> None:
    """Every default dock open (the drift and edge figures, the regime's chart, the
    candidates' story and chart): the window may still be as small as a laptop's screen, the
    docks giving way (a panel shorter than its minimum scrolls) instead of making the window
    taller; at that size the candidates' list shows several of its rows."""
    from PySide6.QtWidgets import QApplication

    w: MainWindow = make_window(session_engine, theme_name=theme_name)
    assert len(w.docks) >= 13 and not any(d.isHidden() or d.isFloating() for d in w.docks.values())
    hint = w.minimumSizeHint()
    # Room left on the screen for the window's title bar and a desktop panel.
    assert hint.width() <= 1280 and hint.height() <= 800 - 60, hint
    for _ in range(2):  # the status strip re-flows to the new width after the first
        w.resize(1280, 800)
        for _ in range(3):
            QApplication.processEvents()
    w.size_docks()
    for _ in range(3):
        QApplication.processEvents()
    assert (w.width(), w.height()) == (1280, 800)
    table = w.panels["candidates"].table
    rows = table.viewport().height() // table.verticalHeader().defaultSectionSize()
    assert rows >= 4, rows
    # ... and the whole panel, its story, track record and chart, without scrolling
    assert not w.docks["candidates"].widget().verticalScrollBar().isVisible()
    # The dock content is the whole panel width: never a sideways scroll bar.
    for name, dock in w.docks.items():
        assert dock.widget().width() <= dock.width(), name
