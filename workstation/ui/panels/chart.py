"""Chart: the daily chart of any symbol (the symbol box) or of the symbol selected in the
other panels, with its indicators, the strategies' thresholds and the levels that matter
for it (a held position's entry, SL and TP; a candidate's planned SL and TP)."""

from __future__ import annotations

import html
import math
from collections.abc import Callable

from PySide6.QtCore import QStringListModel, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workstation.engine.api import EngineAPI
from workstation.engine.views import CandidateView, PositionView, ViewName
from workstation.ui.chart_data import ChartConfig
from workstation.ui.panels.base import Panel
from workstation.ui.price_chart import ChartLevel, PriceChart
from workstation.ui.selection import SymbolSelection

#: (text, sessions shown); the indicators are computed on WARMUP more sessions before them.
SPANS = (("6M", 126), ("1Y", 252), ("3M", 63))
WARMUP = 260  # SMA200 and the Wilder smoothers need this much history before the first bar


def candidate_levels(c: CandidateView) -> list[ChartLevel]:
    """A candidate's planned SL and TP, from the scan's close (the real ones come from the fill)."""
    if not (math.isfinite(c.close) and math.isfinite(c.atr14)):
        return []
    sign = c.side.sign
    return [
        ChartLevel(c.close - sign * c.planned_sl_distance, "planned SL", "neg", True),
        ChartLevel(c.close + sign * c.planned_tp_distance, "planned TP", "pos", True),
    ]


def position_levels(p: PositionView) -> list[ChartLevel]:
    off = " (off day 1)" if p.day_one else ""
    out = [
        ChartLevel(p.fill_price, "Entry", "fg"),
        ChartLevel(p.sl, f"SL{' (moved)' if p.sl_moved else ''}{off}", "neg", p.day_one),
        ChartLevel(p.tp, f"TP{' (moved)' if p.tp_moved else ''}{off}", "pos", p.day_one),
    ]
    if p.day_one:
        out.append(ChartLevel(p.emergency, "Emergency", "warn", True))
    return out


class ChartPanel(Panel):
    TITLE = "Chart"
    OBJECT_NAME = "chart"
    VIEWS = frozenset({ViewName.CANDIDATES, ViewName.POSITIONS})

    def __init__(
        self,
        engine: EngineAPI,
        parent: QWidget | None = None,
        *,
        chart_config: Callable[[], ChartConfig] | None = None,
        selection: SymbolSelection | None = None,
    ) -> None:
        super().__init__(engine, parent)
        self._config = chart_config or ChartConfig
        self.selection = selection or SymbolSelection(self)
        self.symbol = ""
        self._drawn_key: object = None
        self._known: tuple[str, ...] = ()

        self.box = QLineEdit()
        self.box.setObjectName("symbolBox")
        self.box.setPlaceholderText("Symbol, e.g. SPY")
        self.box.setToolTip("Type any symbol of the universe (or the benchmark) and press Enter")
        self.box.setMaximumWidth(160)
        self._symbols = QStringListModel(self)
        completer = QCompleter(self._symbols, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.box.setCompleter(completer)
        self.box.returnPressed.connect(self.chart_from_box)
        self.go = QToolButton()
        self.go.setText("Chart")
        self.go.setToolTip("Chart the symbol typed in the box")
        self.go.clicked.connect(self.chart_from_box)
        self.span = QComboBox()
        for text, n in SPANS:
            self.span.addItem(text, n)
        self.span.setToolTip("How many sessions the chart shows: 6 months, 1 year, 3 months")
        self.span.currentIndexChanged.connect(lambda _i: self.show_symbol(self.symbol, force=True))
        self.source = ""  # the panel the shown symbol was selected in
        self.chart = PriceChart()

        top = QHBoxLayout()
        top.addWidget(QLabel("Symbol"))
        top.addWidget(self.box)
        top.addWidget(self.go)
        top.addWidget(self.span)
        top.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.chart, 1)
        self.selection.changed.connect(self._selected)
        self.refresh()

    # ------------------------------------------------------------------ input
    def chart_from_box(self) -> None:
        symbol = self.box.text().strip().upper()
        if not symbol:
            return
        known = self.engine.symbols()
        if known and symbol not in known:
            self.message.emit(f"{symbol} is not in the universe; no chart", "warning")
            return
        self.selection.select(symbol, self.OBJECT_NAME)
        self.show_symbol(symbol)

    def _selected(self, symbol: str, source: str) -> None:
        self.show_symbol(symbol)

    # ------------------------------------------------------------------ display
    def refresh(self) -> None:
        symbols = self.engine.symbols()
        if symbols is not self._known and symbols != self._known:
            self._known = symbols
            self._symbols.setStringList(list(symbols))
        if self.symbol:
            self.show_symbol(self.symbol)

    def _context(self, symbol: str) -> tuple[str, list[ChartLevel], str | None]:
        """The title's context, the levels and the strategy whose thresholds to draw."""
        pos = next((p for p in self.engine.positions() if p.symbol == symbol), None)
        cand = next((c for c in self.engine.candidates() if c.symbol == symbol), None)
        parts = [f"<b>{html.escape(symbol)}</b>"]
        sector = (pos.sector if pos else "") or (cand.sector if cand else "")
        if sector:
            parts.append(html.escape(sector))
        levels: list[ChartLevel] = []
        strategy = None
        if pos is not None:
            parts.append(
                f"held {pos.side} {pos.qty:,d} @ {pos.fill_price:,.2f}, day {pos.day} "
                f"({html.escape(pos.strategy)})"
            )
            levels = position_levels(pos)
            strategy = pos.strategy
        elif cand is not None:
            parts.append(
                f"candidate #{cand.rank} {html.escape(cand.strategy)} {cand.side} · score "
                f"{cand.score:.1f} · {cand.approval}"
            )
            levels = candidate_levels(cand)
            strategy = cand.strategy
        parts.append(f"daily, last {self.span.currentData()} sessions")
        src = self.selection.source if self.selection.symbol == symbol else ""
        if src and src != self.OBJECT_NAME:
            parts.append(f"selected in {html.escape(src)}")
        return " · ".join(parts), levels, strategy

    def show_symbol(self, symbol: str, force: bool = False) -> None:
        """Chart ``symbol`` (again only if what it shows changed, or ``force``)."""
        if not symbol:
            return
        self.symbol = symbol
        if self.box.text().strip().upper() != symbol:
            self.box.setText(symbol)
        cfg = self._config()
        show = int(self.span.currentData())
        df = self.engine.daily_bars(symbol, show + WARMUP)
        title, levels, strategy = self._context(symbol)
        last = df.index[-1] if len(df) else None
        key = (symbol, show, len(df), last, title, tuple(levels), strategy, cfg)
        if not force and key == self._drawn_key:
            return
        self._drawn_key = key
        if df.empty:
            self.chart.clear(f"{symbol}: no daily bars (yet)")
            return
        self.chart.request(
            symbol,
            df,
            cfg.indicators,
            show,
            title=title,
            levels=levels,
            thresholds=cfg.thresholds(strategy),
        )

    def apply_theme(self) -> None:
        self.chart.style_panes()
