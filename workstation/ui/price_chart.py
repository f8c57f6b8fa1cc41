"""A daily chart a trader can read: candles with SMA50 / SMA200 / EMA20 and the Bollinger
bands, volume, RSI and ADX panes with the strategies' thresholds, a crosshair with an
OHLC/value readout, and labelled price levels (planned or live SL / TP, the entry).

The indicator series come from :func:`workstation.ui.chart_data.chart_data` (the scanner's own
``compute_indicators``), computed in a worker thread (:class:`ChartWorker`): asking for a chart
never runs the indicators on the Qt loop. The panes share one x axis (bar positions, labelled
with their dates). Titles and the readout are labels ABOVE the plot that wrap (never cut);
level and threshold labels close to each other are put on opposite sides, so they never
overlap; the top of the price pane leaves room for the highest label.
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from workstation.ui import theme
from workstation.ui.chart_data import ChartData, Threshold
from workstation.ui.charts import CandlestickItem, IndexDateAxis

if TYPE_CHECKING:
    import pandas as pd

    from workstation.core.config import IndicatorConfig, RegimeConfig

LEFT_AXIS_PX = 64  # the same width in every pane, so the bars line up
LABEL_PX = 26  # a level label's height and a margin: closer labels go to opposite sides
MIN_PANE_PX = 40  # a pane is never shorter than its (rotated) axis label
#: Pane heights relative to each other (price, volume, RSI, ADX; strip for a regime strip).
STRETCH = {"price": 6, "volume": 1.4, "rsi": 1.8, "adx": 1.8, "strip": 0.5}

_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    """One worker thread for every chart's computations (they are short; order is kept)."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chart-data")
    return _executor


class ChartWorker(QObject):
    """Runs a computation in the chart thread; ``done(token, result, error)`` arrives on the
    GUI thread (a queued signal)."""

    done = Signal(object, object, str)

    def submit(self, token: object, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        fut = _pool().submit(fn, *args)

        def finished(f: Future[Any]) -> None:
            exc = f.exception()
            try:
                if exc is not None:
                    self.done.emit(token, None, f"{type(exc).__name__}: {exc}")
                else:
                    self.done.emit(token, f.result(), "")
            except RuntimeError:  # the chart was closed meanwhile
                pass

        fut.add_done_callback(finished)
        return fut


@dataclass(frozen=True)
class ChartLevel:
    """A labelled horizontal price level on the price pane."""

    value: float
    label: str
    role: str  # a theme role: "pos", "neg", "warn", "accent" or "fg"
    dashed: bool = False


def compact(v: float) -> str:
    """1234567 -> 1.2M, 12345 -> 12.3K (volumes)."""
    if not math.isfinite(v):
        return ""
    a = abs(v)
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if a >= div:
            return f"{v / div:.1f}{unit}"
    return f"{v:,.0f}"


class CompactAxis(pg.AxisItem):
    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [compact(v * scale) for v in values]


#: Where a label can sit along its line: (position along the line, anchor x), in the order
#: they are tried: the left edge, the right edge, the middle.
LABEL_COLUMNS = ((0.01, 0.0), (0.99, 1.0), (0.5, 0.5))


def place_labels(
    items: Sequence[tuple[float, float, float]], width: float, height: float, gap: float = 2.0
) -> list[int | None]:
    """Columns (see :data:`LABEL_COLUMNS`) for labels centred on their lines, given as
    ``(y, text width, text height)`` in the pane's pixels, in order of importance: each takes
    the first column where it stays inside the pane and touches no label placed before it;
    None (hide it) where there is none."""
    placed: list[tuple[float, float, float, float]] = []  # (y0, y1, x0, x1)
    out: list[int | None] = []
    for y, w, h in items:
        w, half = w + 2 * gap, h / 2 + gap
        if not (half <= y <= height - half) or w > width:
            out.append(None)
            continue
        spans = [
            (0.0, w),  # left
            (width - w, width),  # right
            (width / 2 - w / 2, width / 2 + w / 2),  # middle
        ]
        col = None
        for c, (x0, x1) in enumerate(spans):
            if all(
                y + half <= py0 or y - half >= py1 or x1 <= px0 or x0 >= px1
                for py0, py1, px0, px1 in placed
            ):
                col = c
                placed.append((y - half, y + half, x0, x1))
                break
        out.append(col)
    return out


def _fg(role: str) -> str:
    return theme.current().chart_fg if role == "fg" else theme.hex_color(role)


class PriceChart(QWidget):
    """A daily chart of one symbol (see the module doc). ``drawn`` is emitted after each draw."""

    drawn = Signal()
    hovered_bar = Signal(int)  # the bar the readout shows (the crosshair's, or the last)
    _tokens = itertools.count(1)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        strip: bool = False,
        compact: bool = False,
        rsi: bool = True,
    ) -> None:
        """``strip``: a thin pane under the prices colours each bar (the regime strip);
        ``compact``: no volume pane (a chart that shares its panel with other things);
        ``rsi``: False leaves the RSI pane out (a chart about the trend only)."""
        super().__init__(parent)
        self.setObjectName("priceChart")
        self.title = QLabel()
        self.title.setObjectName("chartTitle")
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.readout = QLabel()
        self.readout.setObjectName("chartReadout")
        self.readout.setWordWrap(True)
        self.readout.setTextFormat(Qt.TextFormat.RichText)
        self.readout.setToolTip("Move the mouse over the chart: the bar under the crosshair")
        self.compact = compact
        line = self.readout.fontMetrics().lineSpacing()
        # Fixed lines (two, or one when compact): the layout does not jump as it changes.
        self.readout.setMinimumHeight((1 if compact else 2) * line + 2)
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        self.legend = QLabel()
        self.legend.setObjectName("muted")
        self.legend.setWordWrap(True)
        self.legend.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        self.legend.setToolTip("The thresholds the strategies test, drawn as dashed lines")
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        self.view = pg.GraphicsLayoutWidget()
        self.view.setMinimumHeight(120)
        self.axis = IndexDateAxis("bottom", "%Y-%m-%d")
        ci = self.view.ci
        ci.setSpacing(0)
        self.price = pg.PlotItem()
        self.volume = pg.PlotItem(axisItems={"left": CompactAxis("left")})
        self.rsi = pg.PlotItem()
        self.adx = pg.PlotItem(axisItems={"bottom": self.axis})
        self.strip: pg.PlotItem | None = pg.PlotItem() if strip else None
        self.panes: dict[str, pg.PlotItem] = {"price": self.price}
        if self.strip is not None:  # right under the prices it classifies
            self.panes["strip"] = self.strip
        if not compact:
            self.panes["volume"] = self.volume
        if rsi:
            self.panes["rsi"] = self.rsi
        self.panes["adx"] = self.adx
        for r, plot in enumerate(self.panes.values()):
            ci.addItem(plot, row=r, col=0)
        # Short names: an axis label longer than its pane would run into the next pane's.
        names = {"price": "Price", "volume": "Vol", "rsi": "RSI", "adx": "ADX", "strip": ""}
        for i, (name, plot) in enumerate(self.panes.items()):
            ci.layout.setRowStretchFactor(i, int(STRETCH[name] * 10))
            plot.setMenuEnabled(False)
            plot.hideButtons()
            axis = plot.getAxis("left")
            axis.setWidth(LEFT_AXIS_PX)
            axis.enableAutoSIPrefix(False)  # "1.2M", never "(x1e+09)"
            if names[name]:
                plot.setLabel("left", names[name])
                plot.setMinimumHeight(MIN_PANE_PX)
            if plot is not self.price:
                plot.setXLink(self.price)
            if plot is not self.adx:
                plot.getAxis("bottom").setStyle(showValues=False)
                plot.getAxis("bottom").setHeight(4)
        if self.strip is not None:
            self.strip.setMaximumHeight(18)  # a band of colour, whatever the chart's height
            self.strip.getAxis("left").setStyle(showValues=False)
            self.strip.getAxis("left").setTicks([[], []])  # a band: no ticks to read
            self.strip.setYRange(0, 1, padding=0)
            self.strip.setMouseEnabled(x=True, y=False)
        for plot in (self.rsi, self.adx, self.volume):
            plot.setMouseEnabled(x=True, y=False)
        self.price.vb.sigResized.connect(self._fit_price)
        self._price_range: tuple[float, float] | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.title)
        lay.addWidget(self.readout)
        lay.addWidget(self.legend)
        lay.addWidget(self.view, 1)

        self.data: ChartData | None = None
        self.levels: tuple[ChartLevel, ...] = ()
        self.thresholds: dict[str, tuple[Threshold, ...]] = {}
        self.hovered: int | None = None
        self._pending: tuple[int, str, tuple[ChartLevel, ...], dict[str, Any]] | None = None
        self._cross: dict[str, pg.InfiniteLine] = {}
        self._strip_colors: list[str] | None = None
        self._build_items()
        self.worker = ChartWorker(self)
        self.worker.done.connect(self._computed)
        self._mouse = pg.SignalProxy(
            self.view.scene().sigMouseMoved, rateLimit=60, slot=self._mouse_moved
        )
        self.style_panes()
        self.clear("Select a symbol")

    # ------------------------------------------------------------------ requests
    def request(
        self,
        symbol: str,
        bars: pd.DataFrame,
        indicators: IndicatorConfig,
        show: int,
        *,
        title: str,
        levels: Sequence[ChartLevel] = (),
        thresholds: dict[str, tuple[Threshold, ...]] | None = None,
        regime: RegimeConfig | None = None,
    ) -> None:
        """Draw ``symbol`` from its daily ``bars`` once its indicators (and, with ``regime``,
        the regime of each session) are computed in the chart thread; a newer request
        supersedes one still computing."""
        from workstation.ui.chart_data import chart_data

        token = next(self._tokens)
        self._pending = (token, title, tuple(levels), dict(thresholds or {}))
        self.title.setText(f"{title} <span style='color:{theme.hex_color('muted')}'>…</span>")
        self.worker.submit(token, chart_data, symbol, bars, indicators, show, regime)

    def _computed(self, token: object, data: object, error: str) -> None:
        pending = self._pending
        if pending is None or pending[0] != token:
            return  # superseded
        self._pending = None
        _, title, levels, thresholds = pending
        if error or not isinstance(data, ChartData):
            self.clear(f"{title}: the chart could not be computed ({error})")
            return
        self.draw(data, title=title, levels=levels, thresholds=thresholds)

    # ------------------------------------------------------------------ items
    def _build_items(self) -> None:
        """Every item the chart ever shows, made once: a draw only feeds them new data
        (creating pyqtgraph items costs tens of milliseconds; setting their data does not)."""
        self.candles = CandlestickItem()
        self.price.addItem(self.candles)
        self.curves: dict[str, pg.PlotDataItem] = {}
        for key, pane in (
            ("bb_up", self.price),
            ("bb_low", self.price),
            ("sma200", self.price),
            ("sma50", self.price),
            ("ema20", self.price),
            ("rsi14", self.rsi),
            ("pdi", self.adx),
            ("mdi", self.adx),
            ("adx14", self.adx),
        ):
            curve = pg.PlotDataItem(connect="finite")
            pane.addItem(curve)
            self.curves[key] = curve
        self.volume_bars = pg.BarGraphItem(x=[0.0], height=[0.0], width=0.7)
        self.volume_bars.setOpacity(0.7)
        self.volume.addItem(self.volume_bars)
        self.strip_bars: pg.BarGraphItem | None = None
        if self.strip is not None:
            self.strip_bars = pg.BarGraphItem(x=[0.0], height=[0.0], width=1.0)
            self.strip.addItem(self.strip_bars)
        self._lines: dict[str, list[pg.InfiniteLine]] = {name: [] for name in self.panes}
        self._shown_lines: dict[str, int] = {}
        for plot in self.panes.values():
            plot.vb.sigResized.connect(self._relayout)
            plot.vb.sigYRangeChanged.connect(self._relayout)
        for name, plot in self.panes.items():
            v = pg.InfiniteLine(angle=90, movable=False)
            v.setVisible(False)
            v.setZValue(50)
            plot.addItem(v, ignoreBounds=True)
            self._cross[name] = v
        self._hline = pg.InfiniteLine(angle=0, movable=False)
        self._hline.setVisible(False)
        self._hline.setZValue(50)
        self.price.addItem(self._hline, ignoreBounds=True)

    def style_panes(self) -> None:
        """Theme colours on axes, grids, curves and the crosshair (again after a switch)."""
        t = theme.current()
        self.view.setBackground(t.chart_bg)
        for plot in self.panes.values():
            for name in ("left", "bottom"):
                ax = plot.getAxis(name)
                ax.setPen(pg.mkPen(t.chart_fg))
                ax.setTextPen(pg.mkPen(t.chart_fg))
            plot.showGrid(x=True, y=plot is not self.strip, alpha=t.grid_alpha)
        dotted, solid = Qt.PenStyle.DotLine, Qt.PenStyle.SolidLine
        for key, color, width, style in (
            ("bb_up", "bb", 1.0, dotted),
            ("bb_low", "bb", 1.0, dotted),
            ("sma200", "sma200", 1.6, solid),
            ("sma50", "sma50", 1.4, solid),
            ("ema20", "ema20", 1.2, solid),
            ("rsi14", "rsi", 1.3, solid),
            ("pdi", "pdi", 0.9, solid),
            ("mdi", "mdi", 0.9, solid),
            ("adx14", "adx", 1.5, solid),
        ):
            self.curves[key].setPen(pg.mkPen(theme.series_color(color), width=width, style=style))
        cross = pg.mkPen(theme.series_color("crosshair"), style=Qt.PenStyle.DashLine)
        for line in (*self._cross.values(), self._hline):
            line.setPen(cross)
        if self.data is not None:
            self.draw(
                self.data, title=self.title.text(), levels=self.levels, thresholds=self.thresholds
            )

    def clear(self, message: str) -> None:
        self.data, self.levels, self.hovered = None, (), None
        self.candles.set_data(*(np.array([]),) * 4)
        for curve in self.curves.values():
            curve.setData([], [])
        self.volume_bars.setOpts(x=[], height=[])
        if self.strip_bars is not None:
            self.strip_bars.setOpts(x=[], height=[])
        for pane in self._lines:
            self._set_lines(pane, [])
        for line in (*self._cross.values(), self._hline):
            line.setVisible(False)
        self.title.setText(html.escape(message))
        self.readout.setText("")
        self.legend.setText("")

    def set_strip(self, colors: Sequence[str] | None) -> None:
        """Colour each bar's slot of the strip pane (a regime strip): ``colors[i]`` for bar i."""
        self._strip_colors = list(colors) if colors is not None else None
        if self.data is not None:
            self._draw_strip()

    # ------------------------------------------------------------------ drawing
    def draw(
        self,
        data: ChartData,
        *,
        title: str,
        levels: Sequence[ChartLevel] = (),
        thresholds: dict[str, tuple[Threshold, ...]] | None = None,
    ) -> None:
        self.data, self.levels, self.thresholds = data, tuple(levels), dict(thresholds or {})
        n = len(data)
        self.title.setText(title)
        if n == 0:
            self.clear(f"{_plain(title)}: no daily bars")
            return
        self.axis.set_times(data.times, "%Y-%m-%d")
        legend = threshold_legend(self.thresholds)
        if self.compact:  # one line less: the thresholds follow the title
            self.title.setText(f"{title} · {legend}" if legend else title)
            legend = ""
        self.legend.setText(legend)
        self.legend.setVisible(bool(legend))
        x = np.arange(n, dtype=float)
        self._draw_price(data, x)
        self._draw_volume(data, x)
        self._draw_rsi(data, x)
        self._draw_adx(data, x)
        self._draw_strip()
        self.price.setXRange(-1, n, padding=0)
        self.show_bar(n - 1, cross=False)  # the last bar until the mouse points elsewhere
        self.drawn.emit()

    def _curve(self, key: str, x: np.ndarray, y: np.ndarray | None) -> None:
        curve = self.curves[key]
        if y is None or not np.isfinite(y).any():
            curve.setData([], [])
        else:
            curve.setData(x, y)

    def _draw_price(self, d: ChartData, x: np.ndarray) -> None:
        self.candles.set_data(d.open, d.high, d.low, d.close)
        lines = d.lines
        for key in ("bb_up", "bb_low", "sma200", "sma50", "ema20"):
            self._curve(key, x, lines.get(key))
        values = [float(np.nanmin(d.low)), float(np.nanmax(d.high))]
        for key in ("sma50", "sma200", "ema20"):
            y = lines.get(key)
            if y is not None and np.isfinite(y).any():
                values += [float(np.nanmin(y)), float(np.nanmax(y))]
        values += [lv.value for lv in self.levels if math.isfinite(lv.value)]
        self._price_range = (min(values), max(values))
        self._fit_price()
        levels = self.levels  # in order of importance: the first placed keep their labels
        self._set_lines(
            "price",
            [
                (lv.value, f"{lv.label} {lv.value:,.2f}", _fg(lv.role), lv.dashed, 1.2)
                for lv in levels
            ],
        )

    def _fit_price(self, *_args: object) -> None:
        """Every bar, line and level in view, with room at the top and the bottom for half a
        label (labels sit centred on their lines), measured in pixels of the pane as it is."""
        if self._price_range is None:
            return
        lo, hi = self._price_range
        span = (hi - lo) or 1.0
        px = self.price.vb.height()
        f = (LABEL_PX / 2 + 2) / px if px > 1 else 0.1  # half a label, as a share of the pane
        pad = span * max(0.05, f / max(1.0 - 2.0 * f, 0.3))
        self.price.setYRange(lo - pad, hi + pad, padding=0)

    def _draw_volume(self, d: ChartData, x: np.ndarray) -> None:
        up_brush = pg.mkBrush(theme.hex_color("pos"))
        down_brush = pg.mkBrush(theme.hex_color("neg"))
        brushes = [up_brush if u else down_brush for u in d.close >= d.open]
        self.volume_bars.setOpts(x=x, height=np.nan_to_num(d.volume), brushes=brushes)
        top = float(np.nanmax(d.volume)) if np.isfinite(d.volume).any() else 1.0
        self.volume.setYRange(0, (top or 1.0) * 1.05, padding=0)

    def _thresholds(self, pane: str, lo: float, hi: float) -> None:
        """Each threshold a dashed line with its value at the edge (who tests it is in the
        legend line above the chart: long names do not fit between close lines)."""
        items = self.thresholds.get(pane, ())
        color = theme.series_color("threshold")
        self._set_lines(pane, [(t.value, f"{t.value:g}", color, True, 1.0) for t in items])

    def _draw_rsi(self, d: ChartData, x: np.ndarray) -> None:
        if "rsi" not in self.panes:
            return
        self._curve("rsi14", x, d.lines.get("rsi14"))
        self.rsi.setYRange(0, 100, padding=0.02)
        self.rsi.getAxis("left").setTicks([[(v, f"{v:g}") for v in (0, 50, 100)]])
        self._thresholds("rsi", 0.0, 100.0)

    def _draw_adx(self, d: ChartData, x: np.ndarray) -> None:
        top = 40.0
        for key in ("pdi", "mdi", "adx14"):
            y = d.lines.get(key)
            self._curve(key, x, y)
            if y is not None and np.isfinite(y).any():
                top = max(top, float(np.nanmax(y)))
        thresholds = [t.value for t in self.thresholds.get("adx", ())]
        hi = max([top, *thresholds]) * 1.1
        self.adx.setYRange(0, hi, padding=0.02)
        self._thresholds("adx", 0.0, hi)

    def _draw_strip(self) -> None:
        if self.strip is None or self.strip_bars is None or self.data is None:
            return
        colors = self._strip_colors or []
        n = min(len(colors), len(self.data))
        if n == 0:  # (pyqtgraph fails on empty per-bar brush lists)
            self.strip_bars.setOpts(x=[], height=[])
            return
        brush = {c: pg.mkBrush(c) for c in set(colors[:n])}  # a few colours, many bars
        self.strip_bars.setOpts(
            x=np.arange(n, dtype=float),
            height=np.ones(n),
            brushes=[brush[c] for c in colors[:n]],
            pen=pg.mkPen(None),
        )
        self.strip.setYRange(0, 1, padding=0)

    def _set_lines(self, pane: str, specs: Sequence[tuple[float, str, str, bool, float]]) -> None:
        """Show ``specs`` (value, label, colour, dashed, width) as the pane's labelled
        horizontal lines, reusing the lines already made; then place their labels."""
        pool = self._lines[pane]
        plot = self.panes[pane]
        while len(pool) < len(specs):
            line = _labelled_line(small=pane != "price")
            plot.addItem(line, ignoreBounds=True)
            pool.append(line)
        for line, (value, text, color, dashed, width) in zip(pool, specs, strict=False):
            _restyle(line, value, text, color, dashed, width)
            line.setVisible(True)
            line.label.setVisible(True)
        for line in pool[len(specs) :]:
            line.setVisible(False)
            line.label.setVisible(False)
        self._shown_lines[pane] = len(specs)
        self._place_labels(pane)

    def _place_labels(self, pane: str) -> None:
        """Put each shown line's label where it touches no other label and stays inside the
        pane (:func:`place_labels`, in the pane's pixels as it is now; again whenever it is
        resized or its range changes). A label that fits nowhere is hidden, never drawn over
        another; its line stays."""
        lines = self._lines[pane][: self._shown_lines.get(pane, 0)]
        if not lines:
            return
        vb = self.panes[pane].vb
        lo, hi = vb.viewRange()[1]
        height, width = vb.height(), vb.width()
        if height <= 1 or width <= 1 or hi <= lo:
            return  # not laid out yet: placed when it is
        items = []
        for line in lines:
            y = (hi - line.value()) / (hi - lo) * height
            rect = line.label.boundingRect()
            items.append((y, rect.width(), rect.height()))
        for line, col in zip(lines, place_labels(items, width, height), strict=True):
            if col is None:
                line.label.setVisible(False)
                continue
            position, ax = LABEL_COLUMNS[col]
            line.label.anchors = [(ax, 0.5), (ax, 0.5)]
            if not line.label.isVisible():
                line.label.setVisible(True)
            line.label.setPosition(position)

    def _relayout(self, *_args: object) -> None:
        for pane in self._lines:
            self._place_labels(pane)

    # ------------------------------------------------------------------ crosshair
    def _mouse_moved(self, args: tuple[QPointF]) -> None:
        pos = args[0]
        if self.data is None or not len(self.data):
            return
        for name, plot in self.panes.items():
            if plot.sceneBoundingRect().contains(pos):
                p = plot.vb.mapSceneToView(pos)
                i = round(p.x())
                if 0 <= i < len(self.data):
                    self.show_bar(i, p.y() if name == "price" else None)
                return

    def show_bar(self, i: int, price: float | None = None, *, cross: bool = True) -> None:
        """Show bar ``i``'s values in the readout and (``cross``) point the crosshair at it
        (and at ``price`` on the price pane)."""
        d = self.data
        if d is None or not 0 <= i < len(d):
            return
        self.hovered = i
        for line in self._cross.values():
            line.setValue(i)
            line.setVisible(cross)
        self._hline.setVisible(cross and price is not None)
        if price is not None:
            self._hline.setValue(price)
        self.readout.setText(readout_html(d, i, price, brief=self.compact))
        if self.compact:  # every value is still one hover away
            self.readout.setToolTip(readout_html(d, i, price))
        self.hovered_bar.emit(i)


def readout_html(d: ChartData, i: int, price: float | None = None, *, brief: bool = False) -> str:
    """The crosshair's readout of bar ``i``: date, OHLC and change, volume, every indicator
    (``brief``: one line, the date, the close and the RSI and ADX)."""
    v = d.at(i)
    prev = float(d.close[i - 1]) if i > 0 else math.nan
    change = v["close"] / prev - 1 if math.isfinite(prev) and prev else math.nan
    muted = theme.hex_color("muted")

    def num(x: float, digits: int = 2) -> str:
        return f"{x:,.{digits}f}" if math.isfinite(x) else "n/a"

    def colored(key: str, text: str) -> str:
        # One value never breaks across lines: the readout wraps between values only.
        style = f"color:{theme.series_color(key)}; white-space:nowrap"
        return f"<span style='{style}'>{text}</span>"

    w = d.windows
    chg = f" ({change:+.2%})" if math.isfinite(change) else ""
    role = "pos" if not math.isfinite(change) or change >= 0 else "neg"
    first = (
        f"<b>{d.times[i]:%a %Y-%m-%d}</b> &nbsp;O {num(v['open'])} H {num(v['high'])} "
        f"L {num(v['low'])} C <b>{num(v['close'])}</b>"
        f"<span style='color:{theme.hex_color(role)}'>{chg}</span> &nbsp;V {compact(v['volume'])}"
    )
    if brief:
        return (
            f"<b>{d.times[i]:%a %Y-%m-%d}</b> &nbsp;C <b>{num(v['close'])}</b>"
            f"<span style='color:{theme.hex_color(role)}'>{chg}</span> &nbsp;"
            + colored("rsi", f"RSI {num(v.get('rsi14', math.nan), 1)}")
            + " &nbsp;"
            + colored("adx", f"ADX {num(v.get('adx14', math.nan), 1)}")
        )
    if price is not None:
        first += f" &nbsp;<span style='color:{muted}'>cursor {num(price)}</span>"
    parts = [
        colored("sma50", f"SMA{w.get('sma_fast', 50)} {num(v.get('sma50', math.nan))}"),
        colored("sma200", f"SMA{w.get('sma_slow', 200)} {num(v.get('sma200', math.nan))}"),
        colored("ema20", f"EMA{w.get('ema_window', 20)} {num(v.get('ema20', math.nan))}"),
        colored(
            "bb",
            f"BB({w.get('bb_window', 20)}, {w.get('bb_dev', 2):g}) "
            f"{num(v.get('bb_low', math.nan))}-{num(v.get('bb_up', math.nan))}",
        ),
        colored("rsi", f"RSI{w.get('rsi_window', 14)} {num(v.get('rsi14', math.nan), 1)}"),
        colored(
            "adx",
            f"ADX{w.get('adx_window', 14)} {num(v.get('adx14', math.nan), 1)}"
            f" (+DI {num(v.get('pdi', math.nan), 1)} −DI {num(v.get('mdi', math.nan), 1)})",
        ),
    ]
    return first + "<br>" + " &nbsp;".join(parts)


def threshold_legend(thresholds: dict[str, tuple[Threshold, ...]]) -> str:
    """One line naming who tests each dashed threshold (RSI and ADX panes)."""
    parts = []
    for key, name in (("rsi", "RSI"), ("adx", "ADX")):
        items = thresholds.get(key, ())
        if items:
            parts.append(f"{name} " + "; ".join(t.label for t in items))
    return ("Thresholds: " + " · ".join(parts)) if parts else ""


def _labelled_line(small: bool = False) -> pg.InfiniteLine:
    """A horizontal line with a label (``small``: a smaller font, for the indicator panes'
    thresholds, which are short and sit in short panes)."""
    line = pg.InfiniteLine(pos=0.0, angle=0, movable=False, label="", labelOpts={})
    line.setZValue(20)
    if small:
        font = QFont(line.label.textItem.font())
        font.setPointSizeF(max(6.0, font.pointSizeF() - 2.0))
        line.label.setFont(font)
    return line


def _restyle(
    line: pg.InfiniteLine, value: float, text: str, color: str, dashed: bool, width: float
) -> None:
    """A level with its label on the line, at the left or the right edge (inside), on the
    chart's background so it reads over the bars and the other lines."""
    style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
    line.setPen(pg.mkPen(color, width=width, style=style))
    line.setValue(value)
    label = line.label
    bg = pg.mkColor(theme.current().chart_bg)
    bg.setAlpha(215)
    label.fill = pg.mkBrush(bg)
    label.setColor(color)
    label.setFormat(text)


def _plain(text: str) -> str:
    import re

    return re.sub(r"<[^>]+>", "", text)


__all__ = [
    "ChartLevel",
    "ChartWorker",
    "CompactAxis",
    "PriceChart",
    "compact",
    "place_labels",
    "readout_html",
    "threshold_legend",
]
