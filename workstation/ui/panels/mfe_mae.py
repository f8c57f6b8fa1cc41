"""MFE vs MAE of closed trades, in R, coloured by exit reason, per strategy."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from workstation.core.models import ExitReason
from workstation.core.numbers import signed
from workstation.engine.api import EngineAPI
from workstation.engine.views import TradeView, ViewName
from workstation.engine.words import exit_words
from workstation.ui import theme
from workstation.ui.charts import style_plot
from workstation.ui.panels.base import Panel

ALL = "All strategies"

# Distinct, readable on dark and light backgrounds.
REASON_COLORS = {
    str(ExitReason.TAKE_PROFIT): "#2da44e",
    str(ExitReason.STOP_LOSS): "#e5534b",
    str(ExitReason.TIME_EXIT): "#4c8dff",
    str(ExitReason.EMERGENCY): "#d29922",
    str(ExitReason.MANUAL): "#a371f7",
    str(ExitReason.KILL_SWITCH): "#db61a2",
}


class MfeMaePanel(Panel):
    TITLE = "MFE / MAE"
    OBJECT_NAME = "mfe_mae"
    VIEWS = frozenset({ViewName.TRADES})

    def __init__(self, engine: EngineAPI, parent: QWidget | None = None) -> None:
        super().__init__(engine, parent)
        self.strategy = QComboBox()
        self.strategy.setToolTip("Show one strategy's trades")
        self.strategy.addItem(ALL)
        self.strategy.currentIndexChanged.connect(lambda _i: self.redraw())
        self.vetoed = QCheckBox("Include vetoed (paper)")
        self.vetoed.setToolTip("Also plot what vetoed candidates would have done")
        self.vetoed.toggled.connect(lambda _b: self.redraw())
        self.summary = QLabel()
        self.summary.setObjectName("muted")
        # The legend sits beside the chart, not on it: it must never hide a trade.
        self.legend = QLabel()
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.legend.setToolTip("Exit reasons (count); x: a vetoed candidate's paper outcome")
        top = QHBoxLayout()
        top.addWidget(self.strategy)
        top.addWidget(self.vetoed)
        top.addWidget(self.legend, 1)
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.getPlotItem().hideButtons()
        self.plot.setToolTip(
            "Each dot is a closed trade: how far it went against you (MAE) and for you (MFE), "
            "in R (1 R = the planned stop distance)"
        )
        style_plot(self.plot)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.summary)
        self._trades: tuple[TradeView, ...] = ()
        self.refresh()

    def refresh(self) -> None:
        self._trades = self.engine.trades()
        names = sorted({t.strategy for t in self._trades})
        current = self.strategy.currentText()
        if [self.strategy.itemText(i) for i in range(1, self.strategy.count())] != names:
            self.strategy.blockSignals(True)
            self.strategy.clear()
            self.strategy.addItems([ALL, *names])
            i = self.strategy.findText(current)
            self.strategy.setCurrentIndex(max(i, 0))
            self.strategy.blockSignals(False)
        self.redraw()

    def shown_trades(self) -> list[TradeView]:
        s = self.strategy.currentText()
        return [
            t
            for t in self._trades
            if (s == ALL or t.strategy == s)
            and (self.vetoed.isChecked() or not t.vetoed)
            and math.isfinite(t.mfe_r)
            and math.isfinite(t.mae_r)
        ]

    def redraw(self) -> None:
        t = theme.current()
        item = self.plot.getPlotItem()
        item.clear()
        legend = []
        trades = self.shown_trades()
        groups: dict[str, list[TradeView]] = {}
        for tr in trades:
            groups.setdefault(tr.exit_reason, []).append(tr)
        for reason in [*REASON_COLORS, *sorted(set(groups) - set(REASON_COLORS))]:
            rows = groups.get(reason)
            if not rows:
                continue
            col = REASON_COLORS.get(reason, t.muted)
            scatter = pg.ScatterPlotItem(
                x=[r.mae_r for r in rows],
                y=[r.mfe_r for r in rows],
                size=9,
                brush=pg.mkBrush(col),
                pen=pg.mkPen(t.chart_bg, width=0.5),
                symbol=["x" if r.vetoed else "o" for r in rows],
                data=[
                    f"{r.symbol} {r.strategy} {exit_words(r.exit_reason)} {signed(r.r, 2, ' R')}"
                    for r in rows
                ],
                hoverable=True,
                tip=lambda x, y, data: str(data),
            )
            item.addItem(scatter)
            legend.append(f"<span style='color:{col}'>●</span> {exit_words(reason)} ({len(rows)})")
        self.legend.setText("&nbsp;&nbsp;&nbsp;".join(legend))
        grid = pg.mkPen(t.muted, width=1, style=Qt.PenStyle.DashLine)
        item.addItem(pg.InfiniteLine(pos=-1.0, angle=90, pen=grid))
        item.addItem(pg.InfiniteLine(pos=0.0, angle=0, pen=pg.mkPen(t.muted, width=1)))
        item.setLabel("bottom", "MAE (R)", color=t.chart_fg)
        item.setLabel("left", "MFE (R)", color=t.chart_fg)
        item.enableAutoRange()
        n = len(trades)
        stopped_early = sum(tr.mae_r <= -1.0 for tr in trades)
        self.summary.setText(
            f"{n} trades · {stopped_early} went 1 R or more against the entry (left of the dashed "
            "line: the planned stop distance) · hover a dot for the trade"
            if n
            else "No closed trades yet."
        )

    def apply_theme(self) -> None:
        style_plot(self.plot)
        self.redraw()
