"""Chart building blocks on pyqtgraph: candlesticks, an index-based date axis, bands.

Bars are plotted at integer x positions (0, 1, 2, ...) with the axis labelling each
position with its time: weekends, holidays and the night leave no gaps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QFontMetrics, QPainter, QPicture

from workstation.ui import theme

if TYPE_CHECKING:  # imported where used: the window opens before pandas is loaded
    import pandas as pd


class IndexDateAxis(pg.AxisItem):
    """Labels integer positions with the times they stand for."""

    def __init__(self, orientation: str = "bottom", fmt: str = "%m-%d") -> None:
        super().__init__(orientation)
        self._times: Sequence[datetime] = ()
        self._fmt = fmt

    def set_times(self, times: Sequence[datetime], fmt: str | None = None) -> None:
        self._times = list(times)
        if fmt is not None:
            self._fmt = fmt
        self.picture = None
        self.update()

    #: Bar steps a label may be put at: sessions (a week, a month, a quarter, ...) for
    #: daily bars, minutes for intraday ones.
    DAILY_STEPS = (1, 2, 5, 10, 21, 42, 63, 126, 252, 504, 1008)
    MINUTE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 240, 390)

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, float]]:
        """Whole bars, far enough apart that two date labels never touch: the step is the
        first one whose labels, at this width, leave room for the text and a gap."""
        span = maxVal - minVal
        if span <= 0 or size <= 0:
            return [(1.0, 0.0)]
        sample = self._times[0].strftime(self._fmt) if self._times else "0000-00-00"
        text_px = QFontMetrics(self.font()).horizontalAdvance(sample) + 24
        px_per_bar = size / span
        steps = self.MINUTE_STEPS if "%H" in self._fmt else self.DAILY_STEPS
        step = next((s for s in steps if s * px_per_bar >= text_px), steps[-1])
        return [(float(step), 0.0)]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        out = []
        for v in values:
            i = round(v)
            out.append(self._times[i].strftime(self._fmt) if 0 <= i < len(self._times) else "")
        return out


class CandlestickItem(pg.GraphicsObject):
    """OHLC candles at x = 0..n-1 (green up, red down in the current theme)."""

    def __init__(self) -> None:
        super().__init__()
        self._picture = QPicture()
        self._rect = QRectF()

    def set_data(self, o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray) -> None:
        pic = QPicture()
        p = QPainter(pic)
        up, down = theme.color("pos"), theme.color("neg")
        w = 0.35
        for i in range(len(c)):
            col = up if c[i] >= o[i] else down
            p.setPen(pg.mkPen(col, width=1))
            p.drawLine(QPointF(i, lo[i]), QPointF(i, h[i]))
            p.setBrush(pg.mkBrush(col))
            top, bottom = max(o[i], c[i]), min(o[i], c[i])
            p.drawRect(QRectF(i - w, bottom, 2 * w, max(top - bottom, 1e-9)))
        p.end()
        self.prepareGeometryChange()
        self._picture = pic
        if len(c):
            self._rect = QRectF(
                -1, float(np.nanmin(lo)), len(c) + 1, float(np.nanmax(h) - np.nanmin(lo))
            )
        else:
            self._rect = QRectF()
        self.update()

    def paint(self, p: QPainter, *args: object) -> None:
        self._picture.play(p)

    def boundingRect(self) -> QRectF:
        return QRectF(self._rect)


def make_plot(axis_fmt: str = "%m-%d") -> tuple[pg.PlotWidget, IndexDateAxis]:
    axis = IndexDateAxis("bottom", axis_fmt)
    w = pg.PlotWidget(axisItems={"bottom": axis})
    style_plot(w)
    w.setMenuEnabled(False)
    w.getPlotItem().hideButtons()
    return w, axis


def style_plot(w: pg.PlotWidget) -> None:
    t = theme.current()
    w.setBackground(t.chart_bg)
    item = w.getPlotItem()
    for name in ("left", "bottom", "right", "top"):
        ax = item.getAxis(name)
        ax.setPen(pg.mkPen(t.chart_fg))
        ax.setTextPen(pg.mkPen(t.chart_fg))
    item.showGrid(x=True, y=True, alpha=t.grid_alpha)


def hline(
    plot: pg.PlotItem,
    y: float,
    label: str,
    color: str,
    dashed: bool = False,
    width: float = 1.2,
    label_at: float = 0.04,
) -> pg.InfiniteLine | None:
    """A labelled horizontal level (skipped when ``y`` is not a finite number)."""
    if y is None or not math.isfinite(y):
        return None
    style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
    line = pg.InfiniteLine(
        pos=y,
        angle=0,
        pen=pg.mkPen(color, width=width, style=style),
        label=f"{label} {y:,.2f}",
        labelOpts={"position": label_at, "color": color, "anchors": [(0, 1), (0, 1)]},
    )
    plot.addItem(line)
    return line


def fake_utc_seconds(times: pd.DatetimeIndex | Sequence[datetime]) -> np.ndarray:
    """Wall-clock times as if they were UTC: a DateAxisItem(utcOffset=0) then shows ET times."""
    import pandas as pd

    idx = pd.DatetimeIndex(times)
    if idx.tz is not None:
        idx = idx.tz_localize(None)
    if not len(idx):
        return np.array([])
    # Not asi8: pandas 3 may store seconds or microseconds instead of nanoseconds.
    return np.asarray((idx - pd.Timestamp("1970-01-01")) / pd.Timedelta(seconds=1), dtype=float)


def fit_y(plot: pg.PlotItem, values: Sequence[float], padding: float = 0.08) -> None:
    """Show every finite value of ``values`` (bars and levels: lines do not auto-range).

    The top gets room for a label: a level's label sits above its line, and the highest
    level's would otherwise be cut by the frame."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if vals:
        lo, hi = min(vals), max(vals)
        if hi == lo:
            hi, lo = hi + 1.0, lo - 1.0
        span = hi - lo
        plot.enableAutoRange(x=True, y=False)
        plot.setYRange(lo - padding * span, hi + (padding + 0.08) * span, padding=0)
