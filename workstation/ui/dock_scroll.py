"""A dock's panel that never makes the window taller than a laptop's screen.

A ``QDockWidget`` cannot be smaller than its widget's minimum size, and a main window cannot
be smaller than its docks: a few tall panels (the candidates' chart and story, the regime's
chart, the drift and edge figures) stacked in tab groups made a 1280x800 window 840 px tall
or more. In a :class:`DockScroll` the panel keeps its own minimum (its layout is never
squeezed), but the dock may be shorter: then the panel scrolls vertically. (The same holds
a part of a panel that must keep its layout, such as the candidates' track record.) Otherwise the
panel fills the dock exactly, as it would without the scroll area (no height-for-width
growth: a scroll area that resizes its widget would grow a panel of wrapped labels to their
preferred height and scroll for nothing).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QFrame, QScrollArea, QWidget

#: The least height of a dock's content: the panel's first lines and a scroll bar.
MIN_HEIGHT = 96


class DockScroll(QScrollArea):
    def __init__(self, panel: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"{panel.objectName()}Scroll")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWidgetResizable(False)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.panel = panel
        self.setWidget(panel)
        panel.installEventFilter(self)

    def _need(self) -> QSize:
        return self.panel.minimumSizeHint().expandedTo(self.panel.minimumSize())

    def _fit(self) -> None:
        """The panel fills the viewport; never below its minimum (then it scrolls)."""
        need = self._need()
        avail = self.maximumViewportSize()  # the viewport's size without scroll bars
        width = avail.width()
        if need.height() > avail.height():
            width -= self.verticalScrollBar().sizeHint().width()
        size = QSize(max(width, need.width()), max(avail.height(), need.height()))
        if self.panel.size() != size:
            self.panel.resize(size)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.panel and event.type() == QEvent.Type.LayoutRequest:
            self._fit()
        return super().eventFilter(watched, event)

    def sizeHint(self) -> QSize:
        return self.panel.sizeHint()

    def minimumSizeHint(self) -> QSize:
        need = self._need()
        bar = self.verticalScrollBar().sizeHint().width()
        return QSize(need.width() + bar, min(need.height(), MIN_HEIGHT))


__all__ = ["MIN_HEIGHT", "DockScroll"]
