"""The research window of the app (issue 9 item 7): *Research > Backtest...*.

:func:`attach_research` adds the menu to a main window; the window itself is made the first
time it is opened and kept (hidden when closed, so a run goes on) until the app quits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

from workstation.ui.research.launch import BacktestLaunch

if TYPE_CHECKING:
    from workstation.ui.main_window import MainWindow
    from workstation.ui.research.window import ResearchWindow

OPEN_KEY = "Ctrl+Shift+B"


class _CloseWatch(QObject):
    """Stops a run in progress when the main window has really closed."""

    def __init__(self, win: MainWindow) -> None:
        super().__init__(win)
        self.win = win

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.Hide, QEvent.Type.Close) and (
            getattr(self.win, "_shutdown_state", "") == "stopped"
        ):
            close_research(self.win)
        return False


def research_window(win: MainWindow) -> ResearchWindow:
    """The main window's research window (made on first use)."""
    from workstation.ui.research.window import ResearchWindow

    rw: ResearchWindow | None = getattr(win, "research_window", None)
    if rw is None:
        assert win.config is not None
        launch: BacktestLaunch = win.research_launch  # type: ignore[attr-defined]
        rw = ResearchWindow(launch, win.config, win, message=win.show_message)
        win.research_window = rw  # type: ignore[attr-defined]
    return rw


def open_research(win: MainWindow) -> ResearchWindow:
    rw = research_window(win)
    rw.show()
    rw.raise_()
    rw.activateWindow()
    return rw


def close_research(win: MainWindow) -> None:
    """Stop a run in progress and close the window (idempotent; safe after Qt deleted it)."""
    import shiboken6

    rw = getattr(win, "research_window", None)
    if rw is not None and shiboken6.isValid(rw):
        rw.shutdown()
        rw.close()


def attach_research(win: MainWindow, launch: BacktestLaunch) -> QAction:
    """Add *Research > Backtest...* to ``win`` (before *Help*); returns the action."""
    win.research_launch = launch  # type: ignore[attr-defined]
    win.research_window = None  # type: ignore[attr-defined]
    action = QAction("Backtest...", win)
    action.setShortcut(QKeySequence(OPEN_KEY))
    action.setToolTip("Backtest the rules over history, read and compare the results")
    action.setStatusTip(action.toolTip())
    action.triggered.connect(lambda _=False: open_research(win))
    action.setEnabled(win.config is not None)
    bar = win.menuBar()
    menu = QMenu("&Research", bar)
    menu.addAction(action)
    help_ = next((a for a in bar.actions() if a.text().replace("&", "") == "Help"), None)
    if help_ is not None:
        bar.insertMenu(help_, menu)
    else:
        bar.addMenu(menu)
    win.addAction(action)
    win.research_action = action  # type: ignore[attr-defined]
    win.research_menu = menu  # type: ignore[attr-defined]
    # The window's charts follow the theme the main window switches to.
    for theme_action in getattr(win, "theme_actions", {}).values():
        theme_action.triggered.connect(lambda _=False: _retheme(win))
    # Not QApplication.aboutToQuit: qasync emits it whenever run_until_complete returns. A
    # run still going when the process exits is ended by the process module's atexit hook.
    win.installEventFilter(_CloseWatch(win))
    return action


def _retheme(win: Any) -> None:
    rw = getattr(win, "research_window", None)
    if rw is not None:
        rw.apply_theme()


__all__ = ["OPEN_KEY", "BacktestLaunch", "attach_research", "open_research", "research_window"]
