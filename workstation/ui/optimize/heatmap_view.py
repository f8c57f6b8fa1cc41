"""The heatmap over any two of a search's parameters: each cell the best objective value of the
trials with that pair of values, coloured from the worst (the theme's loss colour) through
neutral to the best (its gain colour); a cell no trial scored is hatched. Hovering names the
cell's best trial; clicking it selects that trial in the table.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QToolTip, QVBoxLayout, QWidget

from workstation.ui import theme
from workstation.ui.optimize.model import Heatmap, TrialRow, heatmap, short

_MARGIN_L, _MARGIN_B, _MARGIN_T, _MARGIN_R = 90, 56, 12, 16


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    t = min(max(t, 0.0), 1.0)
    return QColor(
        round(a.red() + (b.red() - a.red()) * t),
        round(a.green() + (b.green() - a.green()) * t),
        round(a.blue() + (b.blue() - a.blue()) * t),
    )


class HeatmapCanvas(QWidget):
    """Paints one :class:`Heatmap`. ``cell_clicked((stage, number))`` on a scored cell."""

    cell_clicked = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.map: Heatmap | None = None
        self.objective = "value"
        self.setMouseTracking(True)
        self.setMinimumSize(360, 260)

    def set_map(self, hm: Heatmap | None, objective: str) -> None:
        self.map, self.objective = hm, objective
        self.update()

    def _grid(self) -> QRectF:
        r = QRectF(self.rect())
        return r.adjusted(_MARGIN_L, _MARGIN_T, -_MARGIN_R, -_MARGIN_B)

    def cell_at(self, pos: QPointF) -> tuple[int, int] | None:
        """(row, column) under ``pos``; rows counted from the top."""
        hm = self.map
        g = self._grid()
        if hm is None or not hm.x_labels or not hm.y_labels or not g.contains(pos):
            return None
        j = int((pos.x() - g.left()) / (g.width() / len(hm.x_labels)))
        i = int((pos.y() - g.top()) / (g.height() / len(hm.y_labels)))
        return min(i, len(hm.y_labels) - 1), min(j, len(hm.x_labels) - 1)

    def cell_rect(self, i: int, j: int) -> QRectF:
        hm = self.map
        assert hm is not None
        g = self._grid()
        w, h = g.width() / len(hm.x_labels), g.height() / len(hm.y_labels)
        return QRectF(g.left() + j * w, g.top() + i * h, w, h)

    def _row_index(self, i: int) -> int:
        """Rows are drawn with the largest value of the y parameter on top."""
        assert self.map is not None
        return len(self.map.y_labels) - 1 - i

    def color_of(self, v: float | None) -> QColor:
        t = theme.current()
        base = QColor(t.alt_base)
        hm = self.map
        rng = None if hm is None else hm.value_range()
        if v is None or rng is None:
            return base
        lo, hi = rng
        if hi == lo:
            return _mix(base, QColor(t.pos), 0.6)
        x = (v - lo) / (hi - lo)
        # worst -> loss colour, middle -> the table's background, best -> gain colour
        if x < 0.5:
            return _mix(QColor(t.neg), base, x * 2)
        return _mix(base, QColor(t.pos), (x - 0.5) * 2)

    def paintEvent(self, event: QPaintEvent) -> None:
        t = theme.current()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(t.base))
        hm = self.map
        fg = QColor(t.text)
        if hm is None or not hm.x_labels or not hm.y_labels:
            p.setPen(QColor(t.muted))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No trials with a value yet.")
            p.end()
            return
        for i in range(len(hm.y_labels)):
            r = self._row_index(i)
            for j in range(len(hm.x_labels)):
                rect = self.cell_rect(i, j)
                v = hm.values[r][j]
                p.fillRect(rect, self.color_of(v))
                p.setPen(QPen(QColor(t.border)))
                p.drawRect(rect)
                if v is None:
                    p.setPen(QColor(t.muted))
                    text = "-" if hm.counts[r][j] else ""
                else:
                    p.setPen(fg)
                    text = f"{v:.2f}"
                p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        p.setPen(fg)
        fm = p.fontMetrics()
        g = self._grid()
        for j, label in enumerate(hm.x_labels):
            rect = self.cell_rect(0, j)
            p.drawText(
                QRectF(rect.left(), g.bottom() + 2, rect.width(), fm.height()),
                Qt.AlignmentFlag.AlignHCenter,
                fm.elidedText(label, Qt.TextElideMode.ElideRight, int(rect.width()) - 2),
            )
        for i in range(len(hm.y_labels)):
            rect = self.cell_rect(i, 0)
            label = hm.y_labels[self._row_index(i)]
            p.drawText(
                QRectF(0, rect.top(), _MARGIN_L - 6, rect.height()),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                fm.elidedText(label, Qt.TextElideMode.ElideRight, _MARGIN_L - 8),
            )
        p.drawText(
            QRectF(g.left(), g.bottom() + fm.height() + 6, g.width(), fm.height()),
            Qt.AlignmentFlag.AlignHCenter,
            f"{short(hm.x_key)} →",
        )
        p.save()
        p.translate(12, g.center().y())
        p.rotate(-90)
        p.drawText(
            QRectF(-g.height() / 2, -fm.height(), g.height(), fm.height() + 4),
            Qt.AlignmentFlag.AlignHCenter,
            f"{short(hm.y_key)} →",
        )
        p.restore()
        p.end()

    def tooltip_at(self, pos: QPointF) -> str:
        hm = self.map
        cell = self.cell_at(pos)
        if hm is None or cell is None:
            return ""
        i, j = cell
        r = self._row_index(i)
        v, n = hm.values[r][j], hm.counts[r][j]
        where = f"{short(hm.x_key)} {hm.x_labels[j]}, {short(hm.y_key)} {hm.y_labels[r]}"
        if v is None:
            return f"{where}: {n} trial(s), none with a {self.objective} value"
        stage, number = hm.trials[r][j]  # type: ignore[misc]
        return (
            f"{where}: best {self.objective} {v:.3f} (trial {stage}.{number}) of {n} trial(s)"
            " - click to select it"
        )

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        text = self.tooltip_at(event.position())
        if text:
            QToolTip.showText(event.globalPosition().toPoint(), text, self)
        else:
            QToolTip.hideText()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        hm = self.map
        cell = self.cell_at(event.position())
        if hm is None or cell is None or event.button() != Qt.MouseButton.LeftButton:
            return
        i, j = cell
        key = hm.trials[self._row_index(i)][j]
        if key is not None:
            self.cell_clicked.emit(key)


class HeatmapView(QWidget):
    """Two parameter choosers over a :class:`HeatmapCanvas`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[TrialRow] = []
        self.objective = "value"
        self.x_box = QComboBox()
        self.y_box = QComboBox()
        self.x_box.setToolTip("The parameter across")
        self.y_box.setToolTip("The parameter up")
        self.x_box.currentIndexChanged.connect(lambda _i: self.redraw())
        self.y_box.currentIndexChanged.connect(lambda _i: self.redraw())
        self.canvas = HeatmapCanvas()
        self.note = QLabel("")
        self.note.setObjectName("muted")
        self.note.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(QLabel("Across"))
        top.addWidget(self.x_box, 1)
        top.addWidget(QLabel("Up"))
        top.addWidget(self.y_box, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.canvas, 1)
        lay.addWidget(self.note)

    def set_keys(self, keys: list[str], objective: str) -> None:
        self.objective = objective
        for box, pick in ((self.x_box, 0), (self.y_box, 1)):
            box.blockSignals(True)
            box.clear()
            for k in keys:
                box.addItem(short(k), k)
            box.setCurrentIndex(min(pick, len(keys) - 1))
            box.blockSignals(False)
        self.redraw()

    def set_rows(self, rows: list[TrialRow]) -> None:
        self.rows = rows
        self.redraw()

    def redraw(self) -> None:
        x, y = self.x_box.currentData(), self.y_box.currentData()
        if x is None or y is None:
            self.canvas.set_map(None, self.objective)
            self.note.setText("")
            return
        hm = heatmap(self.rows, x, y)
        self.canvas.set_map(hm, self.objective)
        others = self.x_box.count() > 2 or (self.x_box.count() == 2 and x == y)
        self.note.setText(
            f"Each cell: the best {self.objective} among the trials with that pair of values"
            + ("; the other parameters at whatever those trials had." if others else ".")
            + " Green is the best, red the worst; '-' marks trials without a value (too few "
            "trades, or failed)."
        )


__all__ = ["HeatmapCanvas", "HeatmapView"]
