"""The research window's charts (pyqtgraph): equity against SPY, drawdown, MFE against MAE,
and one trade on the daily chart of its symbol.

Sessions sit at integer x positions (0 = the equity before the first session, then one per
session) under a date axis, so weekends leave no gaps. Each chart's legend is a line of text
above it, never on the plot: it must not hide a curve or a trade.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from workstation.research.runs import TradeChart
from workstation.store import TradeRow
from workstation.ui import theme
from workstation.ui.chart_data import ChartConfig
from workstation.ui.charts import IndexDateAxis, style_plot
from workstation.ui.price_chart import ChartLevel, PriceChart

#: Strategy colours of the scatter (readable on both themes), in order of first use.
PALETTE = ("#4c8dff", "#e5534b", "#2da44e", "#d29922", "#a371f7", "#db61a2", "#39c5cf")
#: The second run of a comparison.
SECOND_COLOR = "#d29922"
#: Pixels of the left axis (tick labels and its title) of every chart.
AXIS_WIDTH = 72


@dataclass(frozen=True)
class Series:
    """A line over the sessions: ``values[0]`` at x = 0 (the start), then one per session."""

    name: str
    values: Sequence[float]
    color: str
    dashed: bool = False
    fill: bool = False


def legend_html(items: Sequence[tuple[str, str]], sep: str = "&nbsp;&nbsp;&nbsp; ") -> str:
    """Coloured squares and names; a line breaks between items, never inside one."""
    return sep.join(
        f"<span style='color:{c}'>&#9632;</span>&nbsp;{html.escape(t).replace(' ', '&nbsp;')}"
        for t, c in items
    )


class ChartBox(QWidget):
    """A plot with its title and legend above it (and the date axis under it)."""

    def __init__(self, title: str, tip: str, *, dates: bool = True) -> None:
        super().__init__()
        self.axis = IndexDateAxis("bottom", "%Y-%m-%d")
        bottom = self.axis if dates else pg.AxisItem("bottom")
        self.plot = pg.PlotWidget(axisItems={"bottom": bottom})
        self.plot.setMenuEnabled(False)
        self.plot.getPlotItem().hideButtons()
        self.plot.setToolTip(tip)
        self.title = QLabel(f"<b>{html.escape(title)}</b>")
        self.legend = QLabel()
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.title)
        lay.addWidget(self.legend)
        lay.addWidget(self.plot, 1)
        # One width for every chart's price axis: charts stacked under each other then put
        # the same session at the same x.
        self.plot.getPlotItem().getAxis("left").setWidth(AXIS_WIDTH)
        style_plot(self.plot)

    def apply_theme(self) -> None:
        style_plot(self.plot)


class LineChart(ChartBox):
    """Lines over sessions (equity, drawdown); ``percent``: the y axis in %. Each series
    has one value more than there are sessions: the first (at x = -1) is the start, before
    the first session."""

    def __init__(self, title: str, tip: str, y_label: str, percent: bool = False) -> None:
        super().__init__(title, tip)
        self.y_label = y_label
        self.percent = percent
        self._series: list[Series] = []
        self._times: list[datetime] = []

    def set_series(self, times: Sequence[datetime], series: Sequence[Series]) -> None:
        self._times, self._series = list(times), list(series)
        self.redraw()

    def redraw(self) -> None:
        t = theme.current()
        item = self.plot.getPlotItem()
        item.clear()
        self.axis.set_times(self._times)
        scale = 100.0 if self.percent else 1.0
        for s in self._series:
            y = np.asarray(s.values, dtype=float) * scale
            x = np.arange(-1, len(y) - 1, dtype=float)
            style = Qt.PenStyle.DashLine if s.dashed else Qt.PenStyle.SolidLine
            pen = pg.mkPen(s.color, width=2 if not s.dashed else 1.5, style=style)
            kw = {"fillLevel": 0.0, "brush": pg.mkBrush(s.color + "40")} if s.fill else {}
            item.addItem(pg.PlotDataItem(x, y, pen=pen, connect="finite", **kw))
        self.legend.setText(legend_html([(s.name, s.color) for s in self._series]))
        item.setLabel("left", self.y_label + (" (%)" if self.percent else ""), color=t.chart_fg)
        item.enableAutoRange()

    def apply_theme(self) -> None:
        super().apply_theme()
        self.redraw()


class ExcursionScatter(ChartBox):
    """Each trade's MFE (y) against its MAE (x), in R, coloured by strategy; a click on a
    dot emits ``trade_clicked(trade)``."""

    trade_clicked = Signal(object)

    def __init__(self) -> None:
        super().__init__(
            "MFE against MAE per trade (R)",
            "Each dot is a closed trade: how far it went against the entry at worst (MAE, x) "
            "and in its favour at best (MFE, y), in R (1 R = the stop distance it was sized on). "
            "Click a dot to open the trade on the chart.",
            dates=False,
        )
        self._trades: list[TradeRow] = []

    def set_trades(self, trades: Sequence[TradeRow]) -> None:
        self._trades = [t for t in trades if _finite(t.mfe_r) and _finite(t.mae_r)]
        self.redraw()

    def colors(self) -> dict[str, str]:
        names = sorted({t.strategy for t in self._trades})
        return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}

    def redraw(self) -> None:
        t = theme.current()
        item = self.plot.getPlotItem()
        item.clear()
        colors = self.colors()
        legend = []
        for name, col in colors.items():
            rows = [tr for tr in self._trades if tr.strategy == name]
            scatter = pg.ScatterPlotItem(
                x=[r.mae_r for r in rows],
                y=[r.mfe_r for r in rows],
                size=9,
                brush=pg.mkBrush(col),
                pen=pg.mkPen(t.chart_bg, width=0.5),
                data=rows,
                hoverable=True,
                tip=lambda x, y, data: _trade_tip(data),
            )
            scatter.sigClicked.connect(self._clicked)
            item.addItem(scatter)
            legend.append((f"{name} ({len(rows)})", col))
        grid = pg.mkPen(t.muted, width=1, style=Qt.PenStyle.DashLine)
        item.addItem(pg.InfiniteLine(pos=-1.0, angle=90, pen=grid))
        item.addItem(pg.InfiniteLine(pos=1.0, angle=0, pen=grid))
        item.setLabel("bottom", "MAE (R)", color=t.chart_fg)
        item.setLabel("left", "MFE (R)", color=t.chart_fg)
        self.legend.setText(
            legend_html(legend)
            + f"<br><span style='color:{t.muted}'>dashed: MAE of −1 R (the stop distance), "
            "MFE of +1 R</span>"
            if legend
            else "No closed trade has an excursion to show."
        )
        item.enableAutoRange()

    def _clicked(self, _item: object, points: Sequence[object]) -> None:
        if len(points):
            self.trade_clicked.emit(points[0].data())  # type: ignore[attr-defined]

    def apply_theme(self) -> None:
        super().apply_theme()
        self.redraw()


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


def _trade_tip(t: TradeRow) -> str:
    return (
        f"{t.symbol} {t.side} {t.strategy}, entered {t.entry_session}: MFE {t.mfe_r:+.2f} R, "
        f"MAE {t.mae_r:+.2f} R, result {t.r_multiple:+.2f} R ({t.exit_reason})"
    )


# ------------------------------------------------------------------ one trade
def trade_levels(c: TradeChart) -> list[ChartLevel]:
    """The levels the trade was managed by, most important first (their labels are placed
    first): the entry, the stop loss and take profit."""
    tr = c.trade
    # The exit is its mark on its bar (✕), not a line: it is mostly at the stop or the target,
    # whose lines are drawn.
    out = [ChartLevel(tr.entry_price, "Entry", "accent")]
    if c.sl is not None:
        out.append(ChartLevel(c.sl, "SL", "neg", True))
    if c.tp is not None:
        out.append(ChartLevel(c.tp, "TP", "pos", True))
    # The day-1 emergency exit, when it was the only exit rule the trade met (its line would
    # otherwise run through the stop loss's label: the two are close).
    day_one_only = c.exit_index < c.sltp_index or tr.exit_reason == "EMERGENCY"
    if c.emergency is not None and day_one_only:
        out.append(ChartLevel(c.emergency, "Emergency (day 1)", "warn", True))
    return out


class TradeChartView(QWidget):
    """A trade on the app's daily chart of its symbol (candles, averages, bands, volume, RSI
    and ADX with the thresholds its strategy tested, the crosshair readout): the entry and
    exit marked on their bars, the holding shaded, the levels it was managed by labelled."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.chart = PriceChart()
        self.chart.setToolTip(
            "The trade on the daily chart: ▲/▼ the entry, ✕ the exit, the holding shaded; the "
            "stop loss and take profit applied from day 2 (the emergency exit on day 1)"
        )
        self.note = QLabel()
        self.note.setObjectName("muted")
        self.note.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.chart, 1)
        lay.addWidget(self.note)
        self.trade_chart: TradeChart | None = None
        self._marks: list[pg.GraphicsObject] = []
        self.chart.drawn.connect(self._mark)

    def show_trade(self, c: TradeChart, config: ChartConfig | None) -> None:
        self.trade_chart = c
        tr = c.trade
        if c.bars.empty:
            self.chart.clear(
                f"The run kept no daily bars of {tr.symbol}: it was made before runs kept "
                "them. Run it again to see its trades on the chart."
            )
            return
        cfg = config or ChartConfig()
        color = theme.hex_color("pos" if tr.pnl >= 0 else "neg")
        title = (
            f"<b>{html.escape(tr.symbol)}</b> {tr.side} · {html.escape(tr.strategy)} · "
            f"{tr.qty:,.0f} shares · {tr.days_held} day(s) · <span style='color:{color}'>"
            f"{tr.pnl:+,.2f} ({tr.r_multiple:+.2f} R)</span>"
        )
        self.note.setText(
            f"{'▲' if tr.side == 'long' else '▼'} entry {tr.entry_session} at "
            f"{tr.entry_price:,.2f} · ✕ exit {tr.exit_session} at {tr.exit_price:,.2f} "
            f"({tr.exit_reason}) · stop loss and take profit from day "
            f"{c.sltp_index - c.entry_index + 1}"
        )
        self.chart.request(
            tr.symbol,
            c.bars,
            cfg.indicators,
            c.show,
            title=title,
            levels=trade_levels(c),
            thresholds=cfg.thresholds(tr.strategy),
        )

    def clear(self) -> None:
        self.trade_chart = None
        self.chart.clear("Select a trade in the list (or a dot of the MFE/MAE chart).")
        self.note.setText("")

    def _mark(self) -> None:
        """The entry and exit on their bars, the holding shaded (after each draw)."""
        price = self.chart.price
        for item in self._marks:
            price.removeItem(item)
        self._marks = []
        c = self.trade_chart
        if c is None or self.chart.data is None:
            return
        t = theme.current()
        tr = c.trade
        region = pg.LinearRegionItem(
            (c.entry_index - 0.5, c.exit_index + 0.5),
            movable=False,
            brush=pg.mkBrush(t.accent + "22"),
            pen=pg.mkPen(None),
        )
        region.setZValue(-10)
        entry = pg.ScatterPlotItem(
            [c.entry_index],
            [tr.entry_price],
            symbol="t1" if tr.side == "long" else "t",
            size=15,
            brush=pg.mkBrush(t.accent),
            pen=pg.mkPen(t.chart_bg, width=1),
        )
        exit_ = pg.ScatterPlotItem(
            [c.exit_index],
            [tr.exit_price],
            symbol="x",
            size=15,
            brush=pg.mkBrush(t.text),
            pen=pg.mkPen(t.chart_bg, width=1),
        )
        for item in (region, entry, exit_):
            price.addItem(item, ignoreBounds=True)
            self._marks.append(item)
        self.chart.show_bar(c.entry_index, cross=False)  # the readout: the entry's bar

    def apply_theme(self) -> None:
        self.chart.style_panes()


__all__ = [
    "PALETTE",
    "SECOND_COLOR",
    "ExcursionScatter",
    "LineChart",
    "Series",
    "TradeChartView",
    "legend_html",
    "trade_levels",
]
