"""The tray carries the alerts the channels get, and an alert opens its panel.

The engine's real event types go through a real AlertCenter on the engine's bus, reach the
window through its event bridge, and show in the tray and the Alerts menu. A click on the tray
message (Qt's ``messageClicked``: the offscreen platform has no balloon to click) or a real
mouse click on the menu entry raises the panel and selects the row.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QSystemTrayIcon

from tests.gui.fake_engine import FakeEngine
from workstation.core.calendar import ET, get_calendar
from workstation.core.config import Config
from workstation.core.events import ScanFinished
from workstation.engine.events import PositionOpened, PositionState
from workstation.engine.session_events import KillSwitchChanged
from workstation.notify.alert import AlertRaised
from workstation.notify.center import AlertCenter

pytestmark = pytest.mark.gui


@pytest.fixture
def tray_window(make_window, monkeypatch):
    """A window whose desktop has a system tray (offscreen Qt reports none)."""
    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(
        QSystemTrayIcon, "showMessage", lambda self, t, b, *_a: shown.append((t, b))
    )
    engine = FakeEngine("session")
    w = make_window(engine)
    center = AlertCenter(engine.events, Config, get_calendar())
    yield w, engine, shown
    center.close()


def on_top(w, name: str) -> bool:
    """The panel's tab is the current one of its dock area (a hidden tab's widget keeps
    isVisible() True; it just has no visible region)."""
    return not w.docks[name].visibleRegion().isEmpty()


def opened_position(engine: FakeEngine, symbol: str) -> PositionOpened:
    p = next(v for v in engine.positions() if v.symbol == symbol)
    at = datetime(2025, 3, 12, 9, 50, 1, tzinfo=ET)
    state = PositionState(
        position_id=99,
        symbol=p.symbol,
        side=p.side,
        qty=p.qty,
        open_qty=p.qty,
        fill_price=p.fill_price,
        entry_session=at.date(),
        entry_at=at,
        strategy=p.strategy,
        atr14=p.r_per_share / 2,
        sl_mult=2.0,
        tp_mult=3.0,
        sl=p.sl,
        tp=p.tp,
        candidate_id=None,
        stop_client_order_id=None,
        stop_price=None,
        stop_qty=0,
        exiting=False,
        exit_reason=None,
        last_price=p.last,
        last_at=at,
        mfe_price=p.fill_price,
        mfe_at=at,
        mae_price=p.fill_price,
        mae_at=at,
        mfe_pct=0.0,
        mae_pct=0.0,
        mfe_r=0.0,
        mae_r=0.0,
    )
    return PositionOpened(at, state)


def test_an_entry_alert_in_the_tray_opens_the_position(qtbot, tray_window) -> None:
    w, engine, shown = tray_window
    assert w.tray is not None
    symbol = engine.positions()[-1].symbol  # not the row selected by default
    w.docks["orders"].raise_()  # the positions tab is hidden behind the orders tab
    qtbot.waitUntil(lambda: not on_top(w, "positions"))
    engine.events.publish(opened_position(engine, symbol))
    qtbot.waitUntil(lambda: w.alerts.last_shown is not None)
    alert = w.alerts.last_shown
    assert shown == [(alert.title, alert.body)]
    assert alert.title.startswith(f"Entered {symbol}: ")
    with qtbot.waitSignal(w.alerts.opened, timeout=2000):
        w.tray.messageClicked.emit()  # the user clicks the tray message
    qtbot.waitUntil(lambda: on_top(w, "positions"))
    assert not on_top(w, "orders")
    assert w.panels["positions"].table.current_row().symbol == symbol


def test_the_alerts_menu_keeps_them_and_a_click_opens_the_candidates(qtbot, tray_window) -> None:
    w, engine, _shown = tray_window
    w.docks["gaps"].raise_()
    qtbot.waitUntil(lambda: not on_top(w, "candidates"))
    r = engine.ranking
    engine.events.publish(ScanFinished(engine.now, r.session, 1, str(r.regime), r.candidates))
    engine.events.publish(KillSwitchChanged(engine.now, True, "USER", "engaged by the user"))
    qtbot.waitUntil(lambda: len(w.alerts.recent) == 2)
    menu = w.alerts.menu
    titles = [a.text().split("  ", 1)[1].replace("&&", "&") for a in menu.actions()]
    assert titles[0] == "KILL SWITCH engaged (USER)"  # newest first
    assert titles[1].startswith(f"Scan ready: {len(r.candidates)} candidates, approve by")
    assert w.tray.contextMenu() is menu  # the same list from the tray icon

    menu.popup(w.mapToGlobal(QPoint(100, 100)))
    qtbot.waitExposed(menu)
    scan_action = menu.actions()[1]
    with qtbot.waitSignal(w.alerts.opened, timeout=2000) as opened:
        qtbot.mouseClick(
            menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(scan_action).center()
        )
    assert opened.args[0].title == titles[1]
    qtbot.waitUntil(lambda: on_top(w, "candidates"))
    assert not on_top(w, "gaps")
    assert w.panels["candidates"].table.current_row() is not None


def test_switched_off_alerts_stay_out_of_the_tray(qtbot, make_window, monkeypatch) -> None:
    engine = FakeEngine("session")
    w = make_window(engine)
    cfg = Config()
    off = dataclasses.replace(cfg.app.notify, kill_switch=False)
    config = dataclasses.replace(cfg, app=dataclasses.replace(cfg.app, notify=off))
    center = AlertCenter(engine.events, lambda: config, get_calendar())
    seen: list[object] = []
    engine.events.subscribe(AlertRaised, seen.append)
    engine.events.publish(KillSwitchChanged(engine.now, True, "USER", "engaged by the user"))
    qtbot.wait(50)
    center.close()
    assert seen == [] and len(w.alerts.recent) == 0
