"""What every dock panel has: the engine, the views it shows, refresh, messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QLabel, QWidget

from workstation.core.events import Event
from workstation.engine.api import CommandRefused, EngineAPI
from workstation.engine.views import ViewName


class Panel(QWidget):
    """A dock's content. Subclasses set ``TITLE``, ``OBJECT_NAME`` and ``VIEWS`` and
    implement :meth:`refresh` (fetch the views from the engine and show them)."""

    TITLE: ClassVar[str] = ""
    OBJECT_NAME: ClassVar[str] = ""  # the dock's objectName: the key of the saved layout
    VIEWS: ClassVar[frozenset[ViewName]] = frozenset()
    #: 0: refresh as soon as the views change. Otherwise at most once per this many ms, in a
    #: turn of the loop of its own (not within the burst of panels refreshed together when
    #: the views change): for views that change with every price and are costly to show.
    REFRESH_MS: ClassVar[int] = 0

    #: (text, level) for the window's status bar; level is "info", "warning" or "error".
    message = Signal(str, str)

    def __init__(self, engine: EngineAPI, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.setObjectName(f"{self.OBJECT_NAME}Panel")
        self._stale = False  # views changed while hidden: refresh when shown
        self._soon: QTimer | None = None  # the coalescing timer (REFRESH_MS)
        self._stopped = False  # the window closed: views are no longer refreshed

    def refresh(self) -> None:
        raise NotImplementedError

    def on_views_changed(self, views: frozenset[ViewName]) -> None:
        """Refresh now if shown; a panel hidden (a dock tab behind another, a closed dock)
        refreshes when it shows again: prices change the views every second, and repainting
        what nobody sees only steals time from the loop."""
        if not views & self.VIEWS:
            return
        if self.REFRESH_MS > 0:
            if self._soon is None:
                self._soon = QTimer(self)
                self._soon.setSingleShot(True)
                self._soon.setInterval(self.REFRESH_MS)
                self._soon.timeout.connect(self._refresh_due)
            if not self._soon.isActive():
                self._soon.start()
            return
        self._refresh_due()

    def stop_refreshing(self) -> None:
        """The window is closing and the engines stop: no refresh is due any more."""
        self._stopped = True
        if self._soon is not None:
            self._soon.stop()

    def _refresh_due(self) -> None:
        if self._stopped:
            return
        if self.isHidden() or (self.window().isVisible() and not self.isVisible()):
            self._stale = True
            return
        self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self._stale = False
            self.refresh()

    def on_event(self, ev: Event) -> None:
        """Every (non market data) engine event, on the GUI thread."""

    def on_quotes(self, prices: dict[str, float]) -> None:
        """Latest prices (coalesced), on the GUI thread."""

    def apply_theme(self) -> None:
        """Re-style what the palette does not reach (charts, rich text)."""
        self.refresh()

    def command(self, what: str, fn: Callable[..., Any], *args: Any) -> bool:
        """Send a command to the engine; a refusal becomes a message, never an exception."""
        try:
            fn(*args)
        except CommandRefused as exc:
            self.message.emit(f"{what} refused: {exc}", "error")
            return False
        return True


def detail_line(placeholder: str) -> QLabel:
    """A line under a table that shows the selected row's reasons in full: what a column
    has no room for is never lost (the cell's tooltip has it too)."""
    label = QLabel()
    label.setObjectName("detailLine")
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setToolTip(placeholder)
    return label
