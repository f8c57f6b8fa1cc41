"""Performance per strategy (trades, win rate, P&L, average R) and the equity curve."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from workstation.engine.api import EngineAPI
from workstation.engine.views import TradeView, ViewName
from workstation.ui import theme
from workstation.ui.charts import fake_utc_seconds, style_plot
from workstation.ui.panels.base import Panel
from workstation.ui.tables import Column, DataTable, r_mult, signed_money

TOTAL = "All strategies"


@dataclass(frozen=True)
class StrategyStats:
    strategy: str
    trades: int
    wins: int
    pnl: float
    avg_r: float
    best_r: float
    worst_r: float
    vetoed: int
    vetoed_pnl: float

    @property
    def win_rate(self) -> float:
        return self.wins / self.trades if self.trades else math.nan

    @staticmethod
    def of(name: str, trades: list[TradeView]) -> StrategyStats:
        real = [t for t in trades if not t.vetoed]
        vet = [t for t in trades if t.vetoed]
        rs = [t.r for t in real if math.isfinite(t.r)]
        return StrategyStats(
            strategy=name,
            trades=len(real),
            wins=sum(t.is_win for t in real),
            pnl=sum(t.pnl for t in real),
            avg_r=sum(rs) / len(rs) if rs else math.nan,
            best_r=max(rs) if rs else math.nan,
            worst_r=min(rs) if rs else math.nan,
            vetoed=len(vet),
            vetoed_pnl=sum(t.pnl for t in vet),
        )


def strategy_stats(trades: tuple[TradeView, ...]) -> list[StrategyStats]:
    by: dict[str, list[TradeView]] = {}
    for t in trades:
        by.setdefault(t.strategy, []).append(t)
    rows = [StrategyStats.of(name, ts) for name, ts in sorted(by.items())]
    if rows:
        rows.append(StrategyStats.of(TOTAL, list(trades)))
    return rows


def _sign_color(v: float) -> QColor | None:
    return None if not math.isfinite(v) else theme.color("pos" if v >= 0 else "neg")


def stats_columns() -> list[Column]:
    is_total = lambda s: s.strategy == TOTAL  # noqa: E731
    return [
        Column("Strategy", lambda s: s.strategy, sort_key=lambda s: (is_total(s), s.strategy)),
        Column("Trades", lambda s: s.trades, "{:d}"),
        Column("Wins", lambda s: s.wins, "{:d}"),
        Column("Win rate", lambda s: s.win_rate, "{:.0%}"),
        Column("P&L", lambda s: s.pnl, signed_money, color_fn=lambda s: _sign_color(s.pnl)),
        Column("Avg R", lambda s: s.avg_r, r_mult, color_fn=lambda s: _sign_color(s.avg_r)),
        Column("Best", lambda s: s.best_r, r_mult),
        Column("Worst", lambda s: s.worst_r, r_mult),
        Column("Vetoed", lambda s: s.vetoed, "{:d}", tooltip="Vetoed candidates (paper-tracked)"),
        Column(
            "Vetoed P&L",
            lambda s: s.vetoed_pnl,
            signed_money,
            color_fn=lambda s: _sign_color(s.vetoed_pnl),
            tooltip="What the vetoed candidates would have made: positive means vetoes cost money",
        ),
    ]


class PerformancePanel(Panel):
    TITLE = "Performance"
    OBJECT_NAME = "performance"
    VIEWS = frozenset({ViewName.TRADES, ViewName.EQUITY})

    def __init__(self, engine: EngineAPI, parent: QWidget | None = None) -> None:
        super().__init__(engine, parent)
        self.table = DataTable(stats_columns(), key=lambda s: s.strategy, export_name="performance")
        self.axis = pg.DateAxisItem(orientation="bottom", utcOffset=0)
        self.plot = pg.PlotWidget(axisItems={"bottom": self.axis})
        self.plot.setMenuEnabled(False)
        self.plot.getPlotItem().hideButtons()
        self.plot.setToolTip("Account equity")
        style_plot(self.plot)
        self.summary = QLabel()
        self.summary.setObjectName("muted")
        split = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.table)
        ll.addWidget(self.summary)
        split.addWidget(left)
        split.addWidget(self.plot)
        split.setSizes([560, 480])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(split)
        self.refresh()

    def refresh(self) -> None:
        stats = strategy_stats(self.engine.trades())
        self.table.set_rows(stats)
        curve = self.engine.equity_curve()
        t = theme.current()
        item = self.plot.getPlotItem()
        item.clear()
        if len(curve):
            x = fake_utc_seconds(curve.index)
            y = curve.to_numpy(float)
            self.plot.plot(
                x,
                y,
                pen=pg.mkPen(t.accent, width=2),
                fillLevel=float(y.min()),
                brush=pg.mkBrush(t.accent + "30"),
            )
            peak = float(curve.cummax().iloc[-1])
            dd = float((curve / curve.cummax() - 1).min())
            self.summary.setText(f"Equity {y[-1]:,.2f} · peak {peak:,.2f} · max drawdown {dd:.2%}")
        else:
            self.summary.setText("No equity history yet.")
        item.setLabel("left", "Equity", color=t.chart_fg)
        item.enableAutoRange()

    def apply_theme(self) -> None:
        style_plot(self.plot)
        self.refresh()
