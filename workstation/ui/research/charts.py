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
from workstation.ui.charts import CandlestickItem, IndexDateAxis, fit_y, style_plot

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
LEVEL_COLORS = {"sl": "neg", "tp": "pos", "emergency": "warn"}


class TradeChartView(ChartBox):
    """A trade on the daily bars of its symbol: the entry and the exit marked on their
    sessions, the stop loss and take profit over the days they applied, the emergency level
    over the days before."""

    def __init__(self) -> None:
        super().__init__(
            "Trade on the chart",
            "Daily bars of the symbol around the trade; ▲/▼ the entry, ✕ the exit. Each level "
            "is solid on the sessions it applied (the stop loss and take profit from day 2, the "
            "emergency exit on day 1) and dotted over the rest of the holding",
        )
        self.candles = CandlestickItem()
        self.chart: TradeChart | None = None
        self.legend.setText("Select a trade in the list (or a dot of the MFE/MAE chart).")

    def show_trade(self, chart: TradeChart | None) -> None:
        self.chart = chart
        self.redraw()

    def redraw(self) -> None:
        t = theme.current()
        item = self.plot.getPlotItem()
        item.clear()
        c = self.chart
        if c is None or c.bars.empty:
            self.axis.set_times([])
            if c is not None:
                self.legend.setText(
                    f"The run kept no daily bars of {c.trade.symbol}: it was made before "
                    "runs kept them. Run it again to see its trades on the chart."
                )
            return
        tr = c.trade
        bars = c.bars
        self.axis.set_times([datetime.combine(d, datetime.min.time()) for d in c.dates])
        o, h, lo, cl = (bars[k].to_numpy(dtype=float) for k in ("open", "high", "low", "close"))
        self.candles = CandlestickItem()
        self.candles.set_data(o, h, lo, cl)
        item.addItem(self.candles)
        levels: list[float] = [float(np.nanmin(lo)), float(np.nanmax(h))]
        legend: list[tuple[str, str]] = []

        def level(key: str, name: str, y: float | None, active: tuple[int, int]) -> None:
            """The level over the whole holding, solid where it applied, dotted elsewhere."""
            if y is None or not math.isfinite(y):
                return
            col = theme.hex_color(LEVEL_COLORS[key])
            a0, a1 = active
            for x0, x1, style, width in (
                (c.entry_index, c.exit_index, Qt.PenStyle.DotLine, 1.0),
                (a0, a1, Qt.PenStyle.SolidLine, 2.0),
            ):
                if x1 >= x0:
                    pen = pg.mkPen(col, width=width, style=style)
                    item.addItem(pg.PlotDataItem([x0 - 0.45, x1 + 0.45], [y, y], pen=pen))
            levels.append(y)
            legend.append((f"{name} {y:,.2f}", col))

        long = tr.side == "long"
        day_one = (c.entry_index, c.sltp_index - 1)
        level("emergency", "emergency exit (day 1)", c.emergency, day_one)
        level("sl", "stop loss", c.sl, (c.sltp_index, c.exit_index))
        level("tp", "take profit", c.tp, (c.sltp_index, c.exit_index))
        entry_col, exit_col = t.accent, t.text
        item.addItem(
            pg.ScatterPlotItem(
                [c.entry_index],
                [tr.entry_price],
                symbol="t1" if long else "t",
                size=16,
                brush=pg.mkBrush(entry_col),
                pen=pg.mkPen(t.chart_bg, width=1),
            )
        )
        item.addItem(
            pg.ScatterPlotItem(
                [c.exit_index],
                [tr.exit_price],
                symbol="x",
                size=16,
                brush=pg.mkBrush(exit_col),
                pen=pg.mkPen(exit_col, width=1),
            )
        )
        levels += [tr.entry_price, tr.exit_price]
        legend = [
            (f"{'▲' if long else '▼'} entry {tr.entry_session} @ {tr.entry_price:,.2f}", entry_col),
            *legend,
            (f"✕ exit {tr.exit_session} @ {tr.exit_price:,.2f} ({tr.exit_reason})", exit_col),
        ]
        self.title.setText(
            f"<b>{html.escape(tr.symbol)}</b> {tr.side} · {html.escape(tr.strategy)} · "
            f"{tr.qty:,.0f} shares · {tr.days_held} day(s) · "
            f"<span style='color:{t.pos if tr.pnl >= 0 else t.neg}'>{tr.pnl:+,.2f} "
            f"({tr.r_multiple:+.2f} R)</span>"
        )
        self.legend.setText(legend_html(legend))
        fit_y(item, levels)
        item.setXRange(-1, len(bars), padding=0)
        item.setLabel("left", "Price", color=t.chart_fg)

    def apply_theme(self) -> None:
        super().apply_theme()
        self.redraw()


__all__ = [
    "PALETTE",
    "SECOND_COLOR",
    "ExcursionScatter",
    "LineChart",
    "Series",
    "TradeChartView",
    "legend_html",
]
