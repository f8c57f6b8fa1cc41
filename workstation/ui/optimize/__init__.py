"""The Optimize window of the app (issue 10 item 5): *Research > Optimize...*.

:func:`attach_optimize` adds the menu item to a main window (under *Research*, made if the
window has none yet); the window is made the first time it is opened and kept (hidden when
closed, so a search goes on) until the app quits, which stops a running search.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QAction, QKeySequence

from workstation.ui.optimize.launch import OptimizeLaunch
from workstation.ui.tool_window import (
    close_window,
    follow_theme,
    research_menu,
    show_window,
    stop_on_close,
)

if TYPE_CHECKING:
    from workstation.ui.main_window import MainWindow
    from workstation.ui.optimize.window import OptimizeWindow

OPEN_KEY = "Ctrl+Shift+O"


def apply_in_editor(win: MainWindow, values: dict[tuple[str, ...], Any], origin: str) -> bool:
    """The chosen values in the parameter editor's review; the user saves (or not)."""
    editor = win.parameter_editor()
    opened = editor.propose(values, origin)
    if not opened and not editor.last_errors:  # nothing differs from the files in force
        win.show_message(editor.info.text(), "info")
        editor.deleteLater()
        return False
    win.exec_dialog(editor)
    return opened


def optimize_window(win: MainWindow) -> OptimizeWindow:
    """The main window's Optimize window (made on first use)."""
    from workstation.ui.optimize.window import OptimizeWindow

    ow: OptimizeWindow | None = getattr(win, "optimize_window", None)
    if ow is None:
        assert win.config is not None
        launch: OptimizeLaunch = win.optimize_launch  # type: ignore[attr-defined]
        ow = OptimizeWindow(
            launch,
            win.config,
            win,
            message=win.show_message,
            apply=lambda values, origin: apply_in_editor(win, values, origin),
        )
        win.optimize_window = ow  # type: ignore[attr-defined]
    return ow


def open_optimize(win: MainWindow) -> OptimizeWindow:
    return show_window(optimize_window(win))


def close_optimize(win: MainWindow) -> None:
    """Stop a search in progress and close the window (idempotent; safe after Qt deleted it)."""
    close_window(win, "optimize_window")


def attach_optimize(win: MainWindow, launch: OptimizeLaunch) -> QAction:
    """Add *Research > Optimize...* to ``win``; returns the action."""
    win.optimize_launch = launch  # type: ignore[attr-defined]
    win.optimize_window = None  # type: ignore[attr-defined]
    action = QAction("Optimize...", win)
    action.setShortcut(QKeySequence(OPEN_KEY))
    action.setToolTip("Search parameters over backtests, judged out of sample; apply the choice")
    action.setStatusTip(action.toolTip())
    action.triggered.connect(lambda _=False: open_optimize(win))
    action.setEnabled(win.config is not None)
    research_menu(win).addAction(action)
    win.addAction(action)
    win.optimize_action = action  # type: ignore[attr-defined]
    follow_theme(win, "optimize_window")
    stop_on_close(win, close_optimize)
    return action


__all__ = [
    "OPEN_KEY",
    "OptimizeLaunch",
    "apply_in_editor",
    "attach_optimize",
    "open_optimize",
    "optimize_window",
]
