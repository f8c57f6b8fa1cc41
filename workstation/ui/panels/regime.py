"""Regime: today's market regime with what decided it (the benchmark's volatility, ADX14 and
the order of its close and SMAs), its history as a strip over the benchmark's chart, and which
strategies each regime prefers, allows or turns off (trading rules §5)."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import shiboken6
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from workstation.core.models import Regime
from workstation.engine.api import EngineAPI
from workstation.engine.views import RegimeView, StrategyFit, ViewName
from workstation.signals.ranking import ALLOWED, PREFERRED
from workstation.signals.regime import RegimeResult
from workstation.ui import theme
from workstation.ui.chart_data import ChartConfig, thresholds
from workstation.ui.panels.base import Panel
from workstation.ui.panels.chart import WARMUP
from workstation.ui.price_chart import PriceChart
from workstation.ui.tables import CENTER, Column, DataTable

#: (text, sessions shown) of the benchmark's chart; the regime needs WARMUP sessions before
#: (as the chart's indicators do).
SPANS = (("1Y", 252), ("6M", 126), ("2Y", 504))

FIT_WORDS = {PREFERRED: "preferred", ALLOWED: "allowed"}  # anything else: "off"

STACK_WORDS = {
    "above": "close > SMA50 > SMA200 (stacked up)",
    "below": "close < SMA50 < SMA200 (stacked down)",
    "none": "not stacked",
}


def fit_word(permission: str) -> str:
    return FIT_WORDS.get(permission, "off")


def _fit_color(permission: str) -> Any:
    if permission == PREFERRED:
        return theme.color("pos")
    if permission == ALLOWED:
        return theme.color("warn")
    return theme.color("muted")


@dataclass(frozen=True)
class FitRow:
    """A strategy's fit in every regime, and today's regime (whose column is marked)."""

    fit: StrategyFit
    today: str


def fit_columns() -> list[Column]:
    def per_regime(r: str) -> Column:
        return Column(
            r,
            lambda row: fit_word(row.fit.fits.get(r, "")) if row.fit.enabled else "disabled",
            align=CENTER,
            color_fn=lambda row: _fit_color(row.fit.fits.get(r, "")),
            background_fn=lambda row: theme.color("alt_base") if row.today == r else None,
            tooltip=f"Whether the {r} regime lets the strategy fire (scanner.yaml: regime)",
        )

    return [
        Column(
            "Strategy",
            lambda row: row.fit.strategy,
            color_fn=lambda row: None if row.fit.enabled else theme.color("muted"),
            tooltip=lambda row: "" if row.fit.enabled else "disabled in strategies.yaml",
        ),
        Column(
            "Today",
            lambda row: (
                (fit_word(row.fit.fits.get(row.today, "")) if row.today else "no scan yet")
                if row.fit.enabled
                else "disabled"
            ),
            align=CENTER,
            color_fn=lambda row: _fit_color(row.fit.fits.get(row.today, "")),
            tooltip="In today's regime: preferred (fit 1.0), allowed (fit 0.5) or off (no "
            "candidate)",
        ),
        *(per_regime(str(r)) for r in Regime),
    ]


def regime_badge(regime: str) -> str:
    """The regime's name in its strip colour."""
    if not regime:
        return "<b>no scan yet</b>"
    return f"<b style='color:{theme.series_color(regime)}'>{html.escape(regime)}</b>"


def _num(x: float, spec: str = ",.2f") -> str:
    return format(x, spec) if math.isfinite(x) else "n/a"


def input_cells(r: RegimeResult, vol_window: int) -> list[tuple[str, str, str]]:
    """(caption, value, the rule it is held against) for each input of the regime."""
    high = r.high_vol
    adx_ok = r.adx >= r.adx_threshold
    return [
        (
            f"{r.benchmark} volatility ({vol_window} sessions, annualized)",
            _num(r.vol, ".1%"),
            f"{'above' if high else 'not above'} {_num(r.vol_threshold, '.0%')}: "
            + ("HIGH_VOL" if high else "not HIGH_VOL"),
        ),
        (
            f"{r.benchmark} ADX14",
            _num(r.adx, ".1f"),
            f"{'at or above' if adx_ok else 'below'} {r.adx_threshold:g}: "
            + ("trending" if adx_ok else "no trend"),
        ),
        (
            "SMA order",
            f"{_num(r.close)} · {_num(r.sma50)} · {_num(r.sma200)}",
            STACK_WORDS.get(r.stacked, r.stacked),
        ),
    ]


def day_html(r: RegimeResult | None, when: Any, close: float = math.nan) -> str:
    """One line for the session under the crosshair: its close, its regime and the rule's
    values."""
    day = f"<b>{when:%a %Y-%m-%d}</b>" if when is not None else ""
    if math.isfinite(close):
        day += f" close {close:,.2f}"
    if r is None:
        return f"{day}: not enough history for a regime (SMA200 needs 200 sessions)"
    return f"{day}: {regime_badge(str(r.regime))} · {html.escape(r.explain())}"


class RegimePanel(Panel):
    TITLE = "Regime"
    OBJECT_NAME = "regime"
    VIEWS = frozenset({ViewName.CANDIDATES})  # a scan decides the regime
    REFRESH_MS = 250  # not within the burst of panels a new scan refreshes

    def __init__(
        self,
        engine: EngineAPI,
        parent: QWidget | None = None,
        *,
        chart_config: Callable[[], ChartConfig] | None = None,
    ) -> None:
        super().__init__(engine, parent)
        self._config = chart_config or ChartConfig
        self.last: RegimeView | None = None
        self._drawn_key: object = None

        self.head = QLabel()
        self.head.setTextFormat(Qt.TextFormat.RichText)
        self.head.setWordWrap(True)
        self.head.setObjectName("regimeHead")
        self.inputs: list[tuple[QLabel, QLabel, QLabel]] = []
        grid = QGridLayout()
        grid.setHorizontalSpacing(18)
        grid.setVerticalSpacing(0)
        for col in range(3):
            cap, val, rule = QLabel(), QLabel(), QLabel()
            cap.setObjectName("muted")
            val.setObjectName("statusValue")
            rule.setWordWrap(True)
            for w in (cap, val, rule):
                w.setTextFormat(Qt.TextFormat.RichText)
            grid.addWidget(cap, 0, col)
            grid.addWidget(val, 1, col)
            grid.addWidget(rule, 2, col)
            grid.setColumnStretch(col, 1)
            self.inputs.append((cap, val, rule))
        self.decided = QLabel()
        self.decided.setObjectName("muted")
        self.decided.setWordWrap(True)

        self.fits = DataTable(fit_columns(), key=lambda row: row.fit.strategy, export_name="fits")
        self.fits.setToolTip(
            "Which strategies each regime prefers (fit 1.0), allows (fit 0.5) or turns off; "
            "today's regime is shaded"
        )
        self.caps = QLabel()
        self.caps.setObjectName("muted")
        self.caps.setWordWrap(True)
        fits = QWidget()
        fl = QVBoxLayout(fits)
        fl.setContentsMargins(0, 0, 0, 0)
        fl.addWidget(self.fits, 1)
        fl.addWidget(self.caps)

        self.span = QComboBox()
        for text, n in SPANS:
            self.span.addItem(text, n)
        self.span.setToolTip("How many sessions of the benchmark's history are shown")
        self.span.currentIndexChanged.connect(lambda _i: self.draw_history(force=True))
        self.legend = QLabel()
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.day = QLabel()
        self.day.setTextFormat(Qt.TextFormat.RichText)
        self.day.setWordWrap(True)
        self.day.setToolTip("The session under the crosshair: its regime and what decided it")
        # Made when the panel first shows (a chart costs tens of milliseconds; the window
        # opens with this panel behind another tab).
        self.chart: PriceChart | None = None
        bar = QHBoxLayout()
        bar.addWidget(self.legend, 1)
        bar.addWidget(self.span)
        history = QWidget()
        hl = QVBoxLayout(history)
        hl.setContentsMargins(0, 0, 0, 0)
        hl.setSpacing(2)
        hl.addLayout(bar)
        hl.addWidget(self.day)
        self._history = hl

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(history)
        split.addWidget(fits)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([400, 170])
        self.split = split
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.head)
        lay.addLayout(grid)
        lay.addWidget(self.decided)
        lay.addWidget(split, 1)
        self.refresh()

    # ------------------------------------------------------------------ today
    def refresh(self) -> None:
        view = self.engine.regime()
        if view is None:  # the engines are starting
            self.head.setText("Waiting for the engines...")
            return
        self.last = view
        self._show_today(view)
        self.fits.set_rows([FitRow(f, view.regime) for f in view.fits])
        caps = " · ".join(f"{r} {n}" for r, n in view.caps.items())
        self.caps.setText(f"Max open positions by regime: {caps} (risk.yaml caps any regime)")
        if self.isVisible():
            self.draw_history()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        # In a turn of its own, and only if still shown then: while the window lays out its
        # docks at start, a tab behind another shows for an instant, and making the chart
        # then (~100 ms) delayed the window's first appearance for nothing.
        QTimer.singleShot(0, self._draw_if_shown)

    def _draw_if_shown(self) -> None:
        if shiboken6.isValid(self) and self.isVisible():
            self.draw_history()

    def _show_today(self, view: RegimeView) -> None:
        when = f" · scan of {view.session:%a %Y-%m-%d}" if view.session else ""
        cap = view.caps.get(view.regime)
        limit = f" · at most {cap} open positions" if cap is not None else ""
        self.head.setText(
            f"<span style='font-size:14pt'>Regime {regime_badge(view.regime)}</span>"
            f"{when} · from {html.escape(view.benchmark)}{limit}"
        )
        result = _result(view.values)
        if result is None:
            for cap_l, val, rule in self.inputs:
                cap_l.setText("")
                val.setText("")
                rule.setText("")
            self.decided.setText(
                "The latest scan did not record what decided its regime."
                if view.regime
                else "The nightly scan decides the regime from the benchmark's daily bars."
            )
            self.decided.setVisible(True)
            return
        # What decided it reads in the cells (and, for any session, on the line over the chart).
        self.decided.setVisible(False)
        for (cap_l, val, rule), (c, v, r) in zip(
            self.inputs, input_cells(result, view.vol_window), strict=True
        ):
            cap_l.setText(html.escape(c))
            val.setText(html.escape(v))
            rule.setText(html.escape(r))

    # ------------------------------------------------------------------ history
    def draw_history(self, force: bool = False) -> None:
        """The benchmark's chart with the regime of each session as a strip (computed in the
        chart thread by the scan's own rule)."""
        view = self.last
        if view is None:
            return
        chart = self._chart()
        symbol = view.benchmark
        cfg = self._config()
        show = int(self.span.currentData())
        df = self.engine.daily_bars(symbol, show + WARMUP)
        last = df.index[-1] if len(df) else None
        key = (symbol, show, len(df), last, cfg)
        if not force and key == self._drawn_key:
            return
        self._drawn_key = key
        if df.empty:
            chart.clear(f"{symbol}: no daily bars (yet)")
            return
        chart.request(
            symbol,
            df,
            cfg.indicators,
            show,
            title=f"<b>{html.escape(symbol)}</b> · daily, last {show} sessions",
            thresholds=thresholds({}, cfg.regime),  # the regime's own: ADX >= 20
            regime=cfg.regime,
        )

    def _chart(self) -> PriceChart:
        if self.chart is None:
            self.chart = PriceChart(strip=True, compact=True, rsi=False)
            # The line above says the session, its close and its regime; the legend line
            # what is shown: the chart's own title and readout would only repeat them.
            self.chart.title.hide()
            self.chart.readout.hide()
            self.chart.legend.hide()
            self.chart.view.setMinimumHeight(90)
            self.chart.drawn.connect(self._color_strip)
            self.chart.hovered_bar.connect(self._show_day)
            self._history.addWidget(self.chart, 1)
        return self.chart

    def _color_strip(self) -> None:
        if self.chart is None:
            return
        data = self.chart.data
        regimes = data.regimes if data is not None else ()
        none = theme.hex_color("border")
        self.chart.set_strip(
            [theme.series_color(str(r.regime)) if r is not None else none for r in regimes]
        )
        counts = {
            str(r): sum(1 for x in regimes if x is not None and x.regime is r) for r in Regime
        }
        swatches = [
            f"<span style='color:{theme.series_color(r)}'>&#9632;</span> {r} {n}"
            for r, n in counts.items()
        ]
        short = sum(1 for x in regimes if x is None)
        if short:  # SMA200 needs 200 sessions: the first ones have no regime
            swatches.append(f"<span style='color:{none}'>&#9632;</span> too little history {short}")
        muted = theme.hex_color("muted")
        symbol = html.escape(data.symbol) if data is not None else ""
        adx = self._config().regime.trend_adx_min
        self.legend.setText(
            f"<b>{symbol}</b> daily: "
            + " &nbsp; ".join(swatches)
            + f" <span style='color:{muted}'>sessions · dashed: TREND needs ADX &ge; {adx:g}</span>"
        )
        if data is not None and len(data):
            self._show_day(len(data) - 1 if self.chart.hovered is None else self.chart.hovered)

    def _show_day(self, i: int) -> None:
        data = self.chart.data if self.chart is not None else None
        if data is None or not 0 <= i < len(data) or not data.regimes:
            return
        self.day.setText(day_html(data.regimes[i], data.times[i], float(data.close[i])))

    def apply_theme(self) -> None:
        if self.chart is not None:
            self.chart.style_panes()
        if self.last is not None:
            self._show_today(self.last)
            self.fits.set_rows([FitRow(f, self.last.regime) for f in self.last.fits])
        self._color_strip()


def _result(values: Mapping[str, Any]) -> RegimeResult | None:
    try:
        return RegimeResult.from_dict(values) if values else None
    except (KeyError, ValueError):
        return None


__all__ = ["FitRow", "RegimePanel", "day_html", "fit_columns", "input_cells"]
