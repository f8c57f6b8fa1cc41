"""What the app's tool windows under *Research* share (the backtest's and the search's).

Each is made the first time it is opened and kept (hidden when closed, so its run goes on)
until the main window really closes, which stops the run (:func:`stop_on_close`); its charts
follow the theme the main window switches to (:func:`follow_theme`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QMenu, QWidget

if TYPE_CHECKING:
    from workstation.ui.main_window import MainWindow

W = TypeVar("W", bound=QWidget)


class _CloseWatch(QObject):
    """Stops a run in progress when the main window has really closed."""

    def __init__(self, win: MainWindow, close: Callable[[MainWindow], None]) -> None:
        super().__init__(win)
        self.win = win
        self.close = close

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.Hide, QEvent.Type.Close) and (
            getattr(self.win, "_shutdown_state", "") == "stopped"
        ):
            self.close(self.win)
        return False


def stop_on_close(win: MainWindow, close: Callable[[MainWindow], None]) -> None:
    """Call ``close(win)`` when the main window has really closed. (Not
    QApplication.aboutToQuit: qasync emits it whenever run_until_complete returns. A run still
    going when the process exits is ended by the process module's atexit hook.)"""
    win.installEventFilter(_CloseWatch(win, close))


def show_window(w: W) -> W:
    w.show()
    w.raise_()
    w.activateWindow()
    return w


def close_window(win: MainWindow, attr: str) -> None:
    """Stop the run in progress of the main window's tool window ``attr`` and close it
    (idempotent; safe after Qt deleted it)."""
    import shiboken6

    w = getattr(win, attr, None)
    if w is not None and shiboken6.isValid(w):
        w.shutdown()
        w.close()


def follow_theme(win: MainWindow, attr: str) -> None:
    """The tool window ``attr`` re-themes when the main window switches its theme."""

    def retheme(_: Any = False) -> None:
        w = getattr(win, attr, None)
        if w is not None:
            w.apply_theme()

    for theme_action in getattr(win, "theme_actions", {}).values():
        theme_action.triggered.connect(retheme)


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


__all__ = ["close_window", "follow_theme", "research_menu", "show_window", "stop_on_close"]
