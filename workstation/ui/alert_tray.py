"""The window's side of the alerts: the tray carries the same alerts the channels get.

Every :class:`~workstation.notify.alert.AlertRaised` on the engines' bus (it arrives through
the window's event bridge, on the GUI thread) becomes

* a tray message (where the desktop has a tray), with the icon of its level;
* an entry at the top of the **Alerts** menu (the window's menu bar and the tray icon's
  context menu), which keeps the last :data:`RECENT` alerts;
* a status-bar line.

Clicking the tray message or a menu entry opens what the alert is about: the window comes to
the front, the alert's panel is raised and its row selected (the scan's candidates, the
position, the closed trade in the journal).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from workstation.core.calendar import ET
from workstation.notify.alert import Alert, AlertRaised, Level, Panel

if TYPE_CHECKING:
    from workstation.ui.main_window import MainWindow

RECENT = 20
TRAY_MS = 10_000
BODY_CHARS = 240  # a tray balloon shows a few lines; the channels get the whole text

_ICON = {
    Level.FAILURE: QSystemTrayIcon.MessageIcon.Critical,
    Level.WARNING: QSystemTrayIcon.MessageIcon.Warning,
}


class AlertTray(QObject):
    """See the module docstring. ``opened`` is emitted with the alert a click opened."""

    opened = Signal(object)

    def __init__(self, win: MainWindow) -> None:
        super().__init__(win)
        self.win = win
        self.recent: deque[Alert] = deque(maxlen=RECENT)
        self.last_shown: Alert | None = None
        self.menu = QMenu("&Alerts", win)
        self.menu.setObjectName("alertsMenu")
        self.menu.setToolTipsVisible(True)
        self._empty = QAction("No alerts yet", self.menu)
        self._empty.setEnabled(False)
        self.menu.addAction(self._empty)
        bar = win.menuBar()
        help_menu = next((a for a in bar.actions() if a.text().replace("&", "") == "Help"), None)
        if help_menu is not None:
            bar.insertMenu(help_menu, self.menu)
        else:
            bar.addMenu(self.menu)
        tray = win.tray
        if tray is not None:
            tray.setContextMenu(self.menu)
            tray.messageClicked.connect(self._message_clicked)
        win.bridge.event.connect(self._on_event)

    # ------------------------------------------------------------------ in
    def _on_event(self, ev: object) -> None:
        if isinstance(ev, AlertRaised):
            self.show(ev.alert)

    def show(self, alert: Alert) -> None:
        self.recent.appendleft(alert)
        self.last_shown = alert
        self._rebuild_menu()
        tray = self.win.tray
        if tray is not None:
            body = alert.body if len(alert.body) <= BODY_CHARS else alert.body[:BODY_CHARS] + "…"
            icon = _ICON.get(alert.level, QSystemTrayIcon.MessageIcon.Information)
            tray.showMessage(alert.title, body, icon, TRAY_MS)
        level = {Level.FAILURE: "error", Level.WARNING: "warning"}.get(alert.level, "info")
        self.win.show_message(alert.title, level)

    def _rebuild_menu(self) -> None:
        self.menu.clear()
        for alert in self.recent:
            at = alert.at.astimezone(ET)
            title = alert.title.replace("&", "&&")  # "P&L", not a mnemonic
            action = QAction(f"{at:%m-%d %H:%M}  {title}", self.menu)
            action.setToolTip(alert.body or alert.title)
            action.setEnabled(alert.panel is not Panel.NONE)
            action.triggered.connect(lambda _=False, a=alert: self.open(a))
            self.menu.addAction(action)

    # ------------------------------------------------------------------ out
    def _message_clicked(self) -> None:
        if self.last_shown is not None:
            self.open(self.last_shown)

    def open(self, alert: Alert) -> None:
        """Bring the window forward with the alert's panel raised and its row selected."""
        win = self.win
        if win.isMinimized():
            win.showNormal()
        win.show()
        win.raise_()
        win.activateWindow()
        name = str(alert.panel)
        if name in win.docks:
            dock = win.docks[name]
            dock.show()
            dock.raise_()
            panel = win.panels[name]
            panel.refresh()  # the alert may be ahead of the (coalesced) view update
            _select(panel, alert)
        self.opened.emit(alert)


def _select(panel: Any, alert: Alert) -> None:
    """Select the alert's row: its symbol (the latest of it in the journal), else the first."""
    table = getattr(panel, "table", None)
    if table is None:
        return
    rows = table.visible_rows()
    if not rows:
        return
    index = 0
    if alert.item:
        matches = [i for i, r in enumerate(rows) if getattr(r, "symbol", None) == alert.item]
        if matches:
            index = max(matches, key=lambda i: _when(rows[i]))
    table.select_row(index)
    table.setFocus()


def _when(row: Any) -> Any:
    at = getattr(row, "exit_at", None) or getattr(row, "entry_at", None)
    return (at is not None, at.timestamp() if at is not None else 0.0)


__all__ = ["AlertTray"]
