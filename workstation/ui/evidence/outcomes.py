"""A distribution of trade outcomes in R, drawn as bars (losses red, gains green)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from workstation.ui import theme


class OutcomeBars(QWidget):
    """Counts per bin of R. ``edges`` are the bins' inner boundaries; the first and last
    bins are open ("below the first edge", "from the last edge")."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edges: tuple[float, ...] = ()
        self.counts: tuple[int, ...] = ()
        self.caption = ""
        self.setMinimumHeight(96)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:
        return QSize(360, 110)

    def set_bins(self, edges: Sequence[float], counts: Sequence[int], caption: str = "") -> None:
        self.edges, self.counts, self.caption = tuple(edges), tuple(counts), caption
        tips = []
        for i, n in enumerate(self.counts):
            if n:
                tips.append(f"{self._label(i)}: {n} trade{'s' if n != 1 else ''}")
        self.setToolTip("Outcomes in R\n" + "\n".join(tips) if tips else "No trades")
        self.update()

    def _label(self, i: int) -> str:
        e = self.edges
        if i == 0:
            return f"below {e[0]:+g} R"
        if i == len(e):
            return f"{e[-1]:+g} R and more"
        return f"{e[i - 1]:+g} .. {e[i]:+g} R"

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        w, h = self.width(), self.height()
        top, bottom, left = 16, 18, 4
        muted = theme.color("muted")
        p.setPen(muted)
        if self.caption:
            p.drawText(QRectF(left, 0, w - left, top), Qt.AlignmentFlag.AlignLeft, self.caption)
        n = len(self.counts)
        if not n or not any(self.counts):
            p.drawText(QRectF(0, top, w, h - top), Qt.AlignmentFlag.AlignCenter, "no trades")
            p.end()
            return
        peak = max(self.counts)
        slot = (w - 2 * left) / n
        base = h - bottom
        for i, c in enumerate(self.counts):
            if not c:
                continue
            bar_h = (base - top) * c / peak
            x = left + i * slot
            negative = i < len(self.edges) and self.edges[i] <= 0
            p.fillRect(
                QRectF(x + 1, base - bar_h, max(1.0, slot - 2), bar_h),
                theme.color("neg" if negative else "pos"),
            )
        p.setPen(QPen(muted))
        p.drawLine(left, base, w - left, base)
        for i, edge in enumerate(self.edges):  # whole-R ticks under the bars
            if float(edge).is_integer():
                x = left + (i + 1) * slot
                p.drawLine(int(x), base, int(x), base + 3)
                p.drawText(
                    QRectF(x - 20, base + 3, 40, bottom - 3),
                    Qt.AlignmentFlag.AlignHCenter,
                    f"{edge:+g}" if edge else "0",
                )
        p.end()


__all__ = ["OutcomeBars"]
