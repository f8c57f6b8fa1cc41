"""The Optimize window of the app (issue 10 item 5): *Research > Optimize...*.

:func:`attach_optimize` adds the menu item to a main window (under *Research*, made if the
window has none yet); the window is made the first time it is opened and kept (hidden when
closed, so a search goes on) until the app quits, which stops a running search.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

from workstation.ui.optimize.launch import OptimizeLaunch

if TYPE_CHECKING:
    from workstation.ui.main_window import MainWindow
    from workstation.ui.optimize.window import OptimizeWindow

OPEN_KEY = "Ctrl+Shift+O"


class _CloseWatch(QObject):
    """Stops a search in progress when the main window has really closed."""

    def __init__(self, win: MainWindow) -> None:
        super().__init__(win)
        self.win = win

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.Hide, QEvent.Type.Close) and (
            getattr(self.win, "_shutdown_state", "") == "stopped"
        ):
            close_optimize(self.win)
        return False


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
    ow = optimize_window(win)
    ow.show()
    ow.raise_()
    ow.activateWindow()
    return ow


def close_optimize(win: MainWindow) -> None:
    """Stop a search in progress and close the window (idempotent; safe after Qt deleted it)."""
    import shiboken6

    ow = getattr(win, "optimize_window", None)
    if ow is not None and shiboken6.isValid(ow):
        ow.shutdown()
        ow.close()


def research_menu(win: MainWindow) -> QMenu:
    """The main window's *Research* menu (made before *Help* if it has none yet)."""
    bar = win.menuBar()
    for a in bar.actions():
        if a.text().replace("&", "") == "Research" and a.menu() is not None:
            return a.menu()
    menu = QMenu("&Research", bar)
    help_ = next((a for a in bar.actions() if a.text().replace("&", "") == "Help"), None)
    if help_ is not None:
        bar.insertMenu(help_, menu)
    else:
        bar.addMenu(menu)
    win.research_menu = menu  # type: ignore[attr-defined]
    return menu


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
    for theme_action in getattr(win, "theme_actions", {}).values():
        theme_action.triggered.connect(lambda _=False: _retheme(win))
    win.installEventFilter(_CloseWatch(win))
    return action


def _retheme(win: Any) -> None:
    ow = getattr(win, "optimize_window", None)
    if ow is not None:
        ow.apply_theme()


__all__ = [
    "OPEN_KEY",
    "OptimizeLaunch",
    "apply_in_editor",
    "attach_optimize",
    "open_optimize",
    "optimize_window",
]
