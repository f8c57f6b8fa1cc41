"""The results' *SL / TP advice* page: per strategy, the SL and TP multipliers that would have
given the run's trades the best expectancy, beside the current ones, with the trade count,
the intervals and the verdict (advise, keep, too few trades); for the selected strategy, the
expectancy over the whole grid searched as a heat map, with the current and the best pair
marked. The advice is computed in a worker thread when the page is first shown for a run
(:mod:`workstation.research.sltp_advice`).
"""

from __future__ import annotations

import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from workstation.research.sltp_advice import (
    ADVISE,
    COVERAGE,
    KEEP,
    MISMATCH,
    THIN,
    Advice,
    Candidate,
    Interval,
    StrategyAdvice,
)
from workstation.research.sltp_trades import AdviceSource
from workstation.ui import theme
from workstation.ui.research.charts import ChartBox, legend_html
from workstation.ui.research.widgets import note
from workstation.ui.tables import LEFT, RIGHT, Column, DataTable

VERDICTS = {
    ADVISE: "advise",
    KEEP: "keep current",
    THIN: "too few trades",
    MISMATCH: "bars do not match",
}


def _r(v: float | None) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:+.2f} R"


def _interval(i: Interval | None) -> str:
    return "" if i is None else f"{i.lo:+.2f} to {i.hi:+.2f}"


def _pair(c: Candidate | None) -> str:
    return "" if c is None else f"{c.sl:g} / {c.tp:g}"


def _exits(c: Candidate | None) -> str:
    if c is None:
        return ""
    e = c.exits
    text = f"{e['STOP_LOSS']} stops, {e['TAKE_PROFIT']} targets, {e['TIME_EXIT']} time exits"
    if e["KEPT"]:
        text += f", {e['KEPT']} ended on the entry day"
    if c.ambiguous:
        text += f"; {c.ambiguous} decided on a day whose range spanned both levels"
    return text


def _verdict_color(a: StrategyAdvice) -> str | None:
    return {ADVISE: "pos", THIN: "muted", MISMATCH: "warn"}.get(a.verdict)


def _with_interval(c: Candidate | None) -> str:
    if c is None:
        return ""
    ci = "" if c.interval is None else f" ({_interval(c.interval)})"
    return f"{_r(c.expectancy)}{ci}"


def advice_columns() -> list[Column]:
    return [
        Column("Strategy", lambda a: a.strategy, width=130),
        Column("Trades", lambda a: a.n_trades, "{:d}", align=RIGHT),
        Column(
            "Verdict",
            lambda a: VERDICTS.get(a.verdict, a.verdict),
            align=LEFT,
            color_fn=lambda a: (c := _verdict_color(a)) and theme.color(c),
            tooltip=lambda a: a.message,
        ),
        Column(
            "Now SL / TP",
            lambda a: _pair(a.current),
            align=RIGHT,
            tooltip="The multipliers of the configuration in force (ATRs)",
        ),
        Column(
            f"Expectancy now ({COVERAGE:.0%})",
            lambda a: _with_interval(a.current),
            align=RIGHT,
            tooltip=lambda a: _exits(a.current),
        ),
        Column("Best SL / TP", lambda a: _pair(a.best), align=RIGHT),
        Column(
            f"Expectancy best ({COVERAGE:.0%})",
            lambda a: _with_interval(a.best),
            align=RIGHT,
            tooltip=lambda a: _exits(a.best),
        ),
        Column(
            "Gain out of the bag",
            lambda a: _interval(a.improvement_oob),
            align=RIGHT,
            tooltip="The best pair chosen on each bootstrap resample and judged, against the "
            "current values, on the trades that resample left out: advice only when all of "
            "this interval is above zero",
        ),
        Column(
            "Check",
            lambda a: a.agreement,
            lambda v: "" if v is None else f"{v:.0%} same exit",
            align=RIGHT,
            tooltip=lambda a: (
                ""
                if a.agreement is None
                else f"The trades re-simulated with the values they were made with: "
                f"{_r(a.simulated_expectancy)} per trade against {_r(a.recorded_expectancy)} "
                f"recorded (R of the stop); {a.agreement:.0%} with the recorded exit reason "
                "(how far the daily-bar model is from what the run did)"
            ),
        ),
    ]


class AdviceHeatmap(ChartBox):
    """Expectancy (R per trade) over the grid of SL (x) and TP (y) multipliers."""

    def __init__(self) -> None:
        super().__init__(
            "Expectancy over the SL and TP multipliers searched (R per trade)",
            "Each cell: the strategy's trades followed with that stop (x) and target (y), in "
            "ATRs; green is a gain per trade, red a loss. ○ the current values, ✕ the best.",
            dates=False,
        )
        self.image = pg.ImageItem()
        self._advice: StrategyAdvice | None = None
        self._axes: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())

    def show_advice(
        self, a: StrategyAdvice | None, sl: tuple[float, ...] = (), tp: tuple[float, ...] = ()
    ) -> None:
        self._advice, self._axes = a, (sl, tp)
        self.redraw()

    def redraw(self) -> None:
        t = theme.current()
        item = self.plot.getPlotItem()
        item.clear()
        a = self._advice
        sl, tp = self._axes
        if a is None or a.surface is None or not sl or not tp:
            self.legend.setText(
                "No heat map: too few trades to search." if a is not None else "No strategy."
            )
            return
        z = np.asarray(a.surface, dtype=float)
        lim = float(np.nanmax(np.abs(z))) or 1.0
        cmap = pg.ColorMap([0.0, 0.5, 1.0], [t.neg, t.chart_bg, t.pos])
        self.image = pg.ImageItem(z)
        self.image.setLookupTable(cmap.getLookupTable(nPts=256))
        self.image.setLevels((-lim, lim))
        # one cell per pair at its index along each axis (the current values may add a cell
        # between the grid's even steps), labelled with the multipliers
        self.image.setRect(-0.5, -0.5, len(sl), len(tp))
        item.addItem(self.image)
        marks = [(a.current, "o", t.chart_fg, "current")]
        if a.best is not None:
            marks.append((a.best, "x", t.accent, "best"))
        legend = []
        for c, symbol, color, name in marks:
            if c is None or c.sl not in sl or c.tp not in tp:
                continue
            item.addItem(
                pg.ScatterPlotItem(
                    [sl.index(c.sl)],
                    [tp.index(c.tp)],
                    symbol=symbol,
                    size=16,
                    pen=pg.mkPen(color, width=2.5),
                    brush=None,
                )
            )
            legend.append((f"{name}: SL {c.sl:g} / TP {c.tp:g} ({c.expectancy:+.2f} R)", color))
        for side, axis in (("bottom", sl), ("left", tp)):
            every = max(math.ceil(len(axis) / 8), 1)
            ticks = [(float(i), f"{v:g}") for i, v in enumerate(axis) if i % every == 0]
            item.getAxis(side).setTicks([ticks])
        item.setLabel("bottom", "SL (ATRs)", color=t.chart_fg)
        item.setLabel("left", "TP (ATRs)", color=t.chart_fg)
        self.legend.setText(
            legend_html(legend)
            + f"<br><span style='color:{t.muted}'>colour: −{lim:.2f} R (red) to "
            f"+{lim:.2f} R (green) per trade</span>"
        )
        item.enableAutoRange()

    def apply_theme(self) -> None:
        super().apply_theme()
        self.redraw()


class AdviceView(QWidget):
    """Signal ``wanted()``: the page is shown and holds no advice for the run yet."""

    wanted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.advice: Advice | None = None
        self.source: AdviceSource | None = None
        self.header = QLabel("The advice is computed when this page is first shown for a run.")
        self.header.setWordWrap(True)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.table = DataTable(advice_columns(), key=lambda a: a.strategy, export_name="advice")
        self.table.setSortingEnabled(False)
        self.table.row_selected.connect(self._selected)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.RichText)
        self.assumptions = note()
        self.heatmap = AdviceHeatmap()
        left = QWidget()
        col = QVBoxLayout(left)
        col.setContentsMargins(0, 0, 0, 0)
        for w in (self.table, self.message, self.assumptions):
            col.addWidget(w)
        col.addStretch(1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.heatmap)
        split.setSizes([780, 420])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 4, 0, 0)
        lay.addWidget(self.header)
        lay.addWidget(split, 1)

    def clear(self, text: str = "Computing the advice…") -> None:
        self.advice = self.source = None
        self.header.setText(html.escape(text))
        self.table.set_rows([])
        self.message.clear()
        self.assumptions.clear()
        self.heatmap.show_advice(None)

    def show_advice(self, advice: Advice, source: AdviceSource) -> None:
        self.advice, self.source = advice, source
        s = advice.settings
        muted = theme.hex_color("muted")
        self.header.setText(
            f"<b>SL / TP advice</b> from the {source.trades} closed trades of run "
            f"{html.escape(source.name)}: each trade followed day by day on its daily bars "
            f"with {len(s.grid.sl)} stops x {len(s.grid.tp)} targets (ATRs); expectancy in R "
            "(per unit of the money a trade risks, the position cap included), "
            f"{COVERAGE:.0%} bootstrap intervals ({s.resamples} resamples). "
            f"<span style='color:{muted}'>Advice needs at least {s.min_trades} trades and a "
            "gain that holds on the trades each resample left out; otherwise it says so.</span>"
        )
        self.assumptions.setText("Assumptions: " + " ".join(advice.assumptions))
        self.table.set_rows(list(advice.strategies))
        self._fit()
        with_trades = [i for i, a in enumerate(advice.strategies) if a.best is not None]
        self.table.select_row(with_trades[0] if with_trades else 0)

    def _fit(self) -> None:
        """The table as tall as its rows: the advice's words follow right under it."""
        t = self.table
        rows = max(t.source.rowCount(), 1)
        header = t.horizontalHeader().sizeHint().height()
        scroll = t.horizontalScrollBar().sizeHint().height()
        t.setFixedHeight(header + rows * t.verticalHeader().defaultSectionSize() + scroll + 6)

    def _selected(self, a: StrategyAdvice | None) -> None:
        if a is None or self.advice is None:
            return
        self.message.setText(f"<b>{html.escape(a.strategy)}</b>: {html.escape(a.message)}")
        self.heatmap.show_advice(a, *a.axes)

    def apply_theme(self) -> None:
        self.heatmap.apply_theme()


__all__ = ["AdviceHeatmap", "AdviceView", "advice_columns"]
