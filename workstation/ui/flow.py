"""A layout that wraps its items onto further lines when the width runs out.

Qt's "flow layout" example with height-for-width: a strip of status cells that never clips
and never needs a scroll bar. An item wider than the whole line gets the line's width (a
word-wrapping label inside it then wraps), so nothing is ever cut, at any width.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QLabel, QLayout, QLayoutItem, QWidget


class FlowLayout(QLayout):
    """Items left to right, a new line when the next one does not fit; each line as tall as
    its tallest item."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 4) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._gap = spacing
        self.setContentsMargins(0, 0, 0, 0)

    # ------------------------------------------------------------------ QLayout API
    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:  # type: ignore[override]
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:  # type: ignore[override]
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._arrange(QRect(0, 0, width, 0), apply=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._arrange(rect, apply=True)

    def sizeHint(self) -> QSize:
        """Everything on one line."""
        items = self._shown()
        m = self.contentsMargins()
        w = sum(i.sizeHint().width() for i in items) + self._gap * max(0, len(items) - 1)
        h = max((i.sizeHint().height() for i in items), default=0)
        return QSize(w + m.left() + m.right(), h + m.top() + m.bottom())

    def minimumSize(self) -> QSize:
        """As narrow as the narrowest item: everything else wraps."""
        m = self.contentsMargins()
        w = max((i.minimumSize().width() for i in self._shown()), default=0)
        w += m.left() + m.right()
        return QSize(w, self.heightForWidth(w))

    # ------------------------------------------------------------------ layout
    def _shown(self) -> list[QLayoutItem]:
        out = []
        for item in self._items:
            w = item.widget()
            if w is None or not w.isHidden():
                out.append(item)
        return out

    def _arrange(self, rect: QRect, *, apply: bool) -> int:
        """Place the items (``apply``) or only measure; returns the height used."""
        m = self.contentsMargins()
        area = rect.adjusted(m.left(), m.top(), -m.right(), -m.bottom())
        width = max(area.width(), 1)
        x, y, line_h = area.x(), area.y(), 0
        line: list[tuple[QLayoutItem, int, int]] = []  # item, x, width

        def place() -> None:
            if apply:
                for item, ix, iw in line:
                    item.setGeometry(QRect(QPoint(ix, y), QSize(iw, line_h)))
            line.clear()

        for item in self._shown():
            hint = item.sizeHint()
            w = max(min(hint.width(), width), min(item.minimumSize().width(), width))
            h = item.heightForWidth(w) if item.hasHeightForWidth() else hint.height()
            if line and x + w > area.x() + width:
                place()
                x, y, line_h = area.x(), y + line_h + self._gap, 0
            line.append((item, x, w))
            line_h = max(line_h, h)
            x += w + self._gap
        place()
        return y + line_h - rect.y() + m.bottom()


class WrapLabel(QLabel):
    """A label that asks for its whole text on one line and wraps only when given less.

    (A word-wrapping QLabel guesses a "nice" narrower width for itself and wraps even when
    there is room; in a flow layout that reads as text cut into pieces for nothing.)"""

    MIN_WIDTH = 60

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setWordWrap(True)
        self._natural: tuple[str, int] | None = None

    def natural_width(self) -> int:
        text = self.text()
        if self._natural is None or self._natural[0] != text:
            doc = QTextDocument()
            doc.setDefaultFont(self.font())
            doc.setDocumentMargin(0)
            if self.textFormat() == Qt.TextFormat.PlainText:
                doc.setPlainText(text)
            else:
                doc.setHtml(text)
            self._natural = (text, int(doc.idealWidth()) + 2)
        return self._natural[1]

    def sizeHint(self) -> QSize:
        m = self.contentsMargins()
        w = self.natural_width() + m.left() + m.right() + 2 * self.margin()
        return QSize(w, self.heightForWidth(w))

    def minimumSizeHint(self) -> QSize:
        w = min(self.sizeHint().width(), self.MIN_WIDTH)
        return QSize(w, self.heightForWidth(w))

    def setText(self, text: str) -> None:
        if text != self.text():
            super().setText(text)
            self.updateGeometry()


__all__ = ["FlowLayout", "WrapLabel"]
