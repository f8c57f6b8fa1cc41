"""The research window of the app (issue 9 item 7): *Research > Backtest...*.

:func:`attach_research` adds the menu to a main window; the window itself is made the first
time it is opened and kept (hidden when closed, so a run goes on) until the app quits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence

from workstation.ui.research.launch import BacktestLaunch
from workstation.ui.tool_window import (
    close_window,
    follow_theme,
    research_menu,
    show_window,
    stop_on_close,
)

if TYPE_CHECKING:
    from workstation.ui.main_window import MainWindow
    from workstation.ui.research.window import ResearchWindow

OPEN_KEY = "Ctrl+Shift+B"


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
    return show_window(research_window(win))


def close_research(win: MainWindow) -> None:
    """Stop a run in progress and close the window (idempotent; safe after Qt deleted it)."""
    close_window(win, "research_window")


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
    research_menu(win).addAction(action)
    win.addAction(action)
    win.research_action = action  # type: ignore[attr-defined]
    follow_theme(win, "research_window")
    stop_on_close(win, close_research)
    return action


__all__ = ["OPEN_KEY", "BacktestLaunch", "attach_research", "open_research", "research_window"]
