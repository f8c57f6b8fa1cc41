"""One run's results: what it was, the equity against SPY and the drawdown, the figures, the
breakdowns, MFE against MAE, the trades (a trade opens on its symbol's chart) and the SL/TP
advice from the trades (computed when its page is first shown)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workstation.research.benchmark import benchmark_drawdown
from workstation.research.figures import Figures
from workstation.research.runs import OpenedRun, TradeChart
from workstation.research.sltp_advice import Advice
from workstation.research.sltp_trades import AdviceSource
from workstation.store import TradeRow
from workstation.ui import theme
from workstation.ui.chart_data import ChartConfig
from workstation.ui.research.advice_view import AdviceView
from workstation.ui.research.charts import ExcursionScatter, LineChart, Series, TradeChartView
from workstation.ui.research.tables import (
    GROUP_FIGURES,
    YEAR_FIGURES,
    excursion_columns,
    excursion_rows,
    figure_columns,
    figure_rows,
    group_columns,
    group_rows,
    reasons_text,
    trade_columns,
)
from workstation.ui.research.widgets import note, stacked
from workstation.ui.tables import DataTable

BREAKDOWNS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("by_strategy", "By strategy", "Strategy", GROUP_FIGURES),
    ("by_regime", "By regime (of the scan the trade came from)", "Regime", GROUP_FIGURES),
    ("by_exit_reason", "By exit reason", "Exit reason", GROUP_FIGURES),
    ("by_year", "By year (trades that exited in it; its sessions' returns)", "Year", YEAR_FIGURES),
)


def fixed_table(table: DataTable) -> DataTable:
    """A table that shows its rows in the order given (figures, breakdowns)."""
    table.setSortingEnabled(False)
    table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    return table


def fit_height(table: DataTable, rows: int) -> None:
    """As tall as its rows (the page scrolls, not each table)."""
    header = table.horizontalHeader().sizeHint().height()
    table.setFixedHeight(header + max(rows, 1) * table.verticalHeader().defaultSectionSize() + 6)


def run_header(run: OpenedRun) -> str:
    """What the run was, in two lines of rich text."""
    info, st = run.result.info, run.result.stats
    cov = info.coverage
    coverage = (
        "coverage not recorded"
        if cov is None
        else f"{cov.with_data:,} of {cov.members:,} members with data"
    )
    overrides = ", ".join(f"{k} = {v}" for k, v in info.overrides.items()) or "none"
    costs = ", ".join(f"{k} {v:g}" for k, v in info.costs.items()) or "not recorded"
    e = html.escape
    return (
        f"<b>{e(info.name)}</b> · {st.period.start} to {st.period.end} "
        f"({len(st.returns):,} sessions) · {e(info.data_source or info.market)} · universe "
        f"{e(info.universe_mode)} ({coverage}) · parameters {e(run.result.param_hash or '?')}"
        f"<br><span style='color:{theme.hex_color('muted')}'>scenario overrides: {e(overrides)}"
        f" · fills {e(info.fill_model)} · costs: {e(costs)} · small sample: under "
        f"{st.options.min_trades} trades · run {e(run.id)}</span>"
    )


#: The pages (tabs), in order.
OVERVIEW_TAB, BREAKDOWNS_TAB, EXCURSIONS_TAB, TRADES_TAB, ADVICE_TAB = range(5)


class ResultsView(QWidget):
    """Signals: ``trade_selected(TradeRow)`` (open it on the chart), ``export_requested()``,
    ``advice_requested(OpenedRun)`` (the advice page is shown without the run's advice)."""

    trade_selected = Signal(object)
    export_requested = Signal()
    advice_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run: OpenedRun | None = None
        self.header = QLabel("Open a backtest (Set up tab) or run one.")
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setWordWrap(True)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.export_button = QPushButton("Export HTML report…")
        self.export_button.setToolTip(
            "Write the run's report (one HTML file that opens offline) and its CSVs to a folder"
        )
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.export_requested.emit)
        self.report_link = QLabel()
        self.report_link.setOpenExternalLinks(True)
        self.report_link.setToolTip("Open the report in the browser")
        self.report_link.hide()
        side = QVBoxLayout()
        side.addWidget(self.export_button)
        side.addWidget(self.report_link)
        side.addStretch(1)
        top = QHBoxLayout()
        top.addWidget(self.header, 1)
        top.addLayout(side)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._overview(), "Overview")
        self.tabs.addTab(self._breakdowns(), "Breakdowns")
        self.tabs.addTab(self._excursions(), "MFE / MAE")
        self.tabs.addTab(self._trades(), "Trades")
        self.advice = AdviceView()
        self.tabs.addTab(self.advice, "SL / TP advice")
        self.tabs.setTabToolTip(
            ADVICE_TAB,
            "The stop and target multipliers that would have given each strategy's trades the "
            "best expectancy, beside the current ones (too few trades: no advice)",
        )
        self._advice_for: str | None = None  # the run whose advice was asked for
        self.tabs.currentChanged.connect(lambda _i: self._want_advice())
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(top)
        lay.addWidget(self.tabs, 1)

    # ------------------------------------------------------------------ pages
    def _overview(self) -> QWidget:
        self.equity = LineChart(
            "Equity against SPY buy-and-hold",
            "The account's equity at the end of each session, and SPY bought with the same "
            "starting equity at the close before the first session",
            "Equity ($)",
        )
        self.drawdown = LineChart(
            "Drawdown from the running peak",
            "How far equity was below its highest value so far (the starting equity counts "
            "as a peak), and the same for SPY",
            "Drawdown",
            percent=True,
        )
        self.drawdown.plot.setXLink(self.equity.plot)
        charts = QSplitter(Qt.Orientation.Vertical)
        charts.addWidget(self.equity)
        charts.addWidget(self.drawdown)
        charts.setSizes([330, 200])
        self.figures = fixed_table(
            DataTable(figure_columns(), key=lambda r: r.name, export_name="figures")
        )
        self.figures_note = note()
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(charts)
        split.addWidget(stacked(self.figures, self.figures_note))
        split.setSizes([560, 520])
        self.overview_split = split
        return split

    def _breakdowns(self) -> QWidget:
        page = QWidget()
        lay = QVBoxLayout(page)
        self.breakdowns: dict[str, tuple[DataTable, QLabel]] = {}
        for key, title, first, names in BREAKDOWNS:
            table = fixed_table(
                DataTable(group_columns(first, names), key=lambda r: r.group, export_name=key)
            )
            reasons = note()
            lay.addWidget(QLabel(f"<b>{html.escape(title)}</b>"))
            lay.addWidget(table)
            lay.addWidget(reasons)
            self.breakdowns[key] = (table, reasons)
        lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(page)
        return scroll

    def _excursions(self) -> QWidget:
        self.scatter = ExcursionScatter()
        self.scatter.trade_clicked.connect(self.trade_selected.emit)
        self.percentiles = fixed_table(
            DataTable(excursion_columns(), key=lambda r: (r.strategy, r.kind), export_name="mfe")
        )
        title = QLabel("<b>MFE and MAE per strategy, in R</b> (percentiles of the trades)")
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.scatter)
        split.addWidget(stacked(self.percentiles, title))
        split.setSizes([420, 200])
        return split

    def _trades(self) -> QWidget:
        self.trades = DataTable(trade_columns(), key=lambda t: t.id, export_name="trades")
        self.trades.setToolTip("Every closed trade; select one to see it on the chart")
        self.trades.row_selected.connect(self._trade_row)
        self.trades_note = note()
        self.chart = TradeChartView()
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(stacked(self.trades, self.trades_note))
        split.addWidget(self.chart)
        split.setSizes([560, 560])
        self.trades_split = split
        return split

    # ------------------------------------------------------------------ content
    def show_run(self, run: OpenedRun) -> None:
        self.run = run
        res = run.result
        st = res.stats
        self.header.setText(run_header(run))
        assumptions = "\n• ".join(res.info.assumptions)
        self.header.setToolTip(
            f"What daily bars cannot say, and how it is modelled:\n• {assumptions}"
        )
        self.export_button.setEnabled(True)
        self.report_link.hide()
        sessions = [d.to_pydatetime() for d in st.curve.sessions]
        start = st.curve.start_equity
        t = theme.current()
        eq = [Series(f"equity ({res.name})", [start, *st.curve.end_of_day], t.accent)]
        dd = [Series("drawdown", [0.0, *st.drawdown], t.neg, fill=True)]
        bench = st.benchmark_curve
        if bench is not None:
            eq.append(Series("SPY buy-and-hold", [start, *bench], t.muted, dashed=True))
            bdd = benchmark_drawdown(start, bench)
            dd.append(Series("SPY drawdown", [0.0, *bdd], t.muted, dashed=True))
        self.equity.set_series(sessions, eq)
        self.drawdown.set_series(sessions, dd)
        self.figures.set_rows(figure_rows(res))
        notes = [f"{len(st.returns)} sessions, {st.stats.get('n_trades')} trades."]
        if st.stats.get("small_sample"):
            notes.append(
                f"Fewer than {st.options.min_trades} trades: the trade figures are a small "
                "sample (greyed), an anecdote rather than a finding."
            )
        if bench is None:
            notes.append(f"No SPY figures: {_first_reason(st.benchmark)}.")
        self.figures_note.setText(" ".join(notes))
        for key, _title, _first, names in BREAKDOWNS:
            groups: Mapping[str, Figures] = getattr(st, key)
            table, note = self.breakdowns[key]
            table.set_rows(group_rows(groups))
            fit_height(table, len(groups))
            note.setText(reasons_text(groups, names) or ("" if groups else "No trades."))
            note.setVisible(bool(note.text()))
        self.scatter.set_trades(st.trades)
        self.percentiles.set_rows(excursion_rows(st.excursions))
        self.trades.set_rows(list(st.trades))
        self.trades_note.setText(
            f"{len(st.trades)} closed trades (exit inside the period); select one to open it "
            "on the chart"
        )
        self.chart.clear()
        if self._advice_for != run.id:
            self._advice_for = None
            self.advice.clear()
            self._want_advice()

    def _want_advice(self) -> None:
        """Ask for the run's advice when its page is shown and does not hold it."""
        run = self.run
        if run is None or self.tabs.currentIndex() != ADVICE_TAB or self._advice_for == run.id:
            return
        self._advice_for = run.id
        self.advice.clear()
        self.advice_requested.emit(run)

    def show_advice(self, run_id: str, advice: Advice, source: AdviceSource) -> None:
        """The advice computed for run ``run_id`` (dropped when another run is shown now)."""
        if self.run is not None and self.run.id == run_id:
            self.advice.show_advice(advice, source)

    def advice_failed(self, run_id: str, line: str) -> None:
        if self.run is not None and self.run.id == run_id:
            self.advice.clear(f"No advice: {line}")

    def show_report(self, path: Path) -> None:
        url = QUrl.fromLocalFile(str(path)).toString()
        self.report_link.setText(f"<a href='{html.escape(url)}'>{html.escape(path.name)}</a>")
        self.report_link.show()

    def show_trade_chart(self, chart: TradeChart) -> None:
        self.tabs.setCurrentIndex(TRADES_TAB)
        config = self.run.config if self.run is not None else None
        self.chart.show_trade(chart, ChartConfig.of(config) if config is not None else None)
        rows = self.trades.visible_rows()
        i = next((k for k, t in enumerate(rows) if t.id == chart.trade.id), None)
        if i is not None and self.trades.current_row() is not chart.trade:
            self.trades.blockSignals(True)
            self.trades.select_row(i)
            self.trades.blockSignals(False)

    def _trade_row(self, trade: TradeRow | None) -> None:
        if trade is not None:
            self.trade_selected.emit(trade)

    def apply_theme(self) -> None:
        for chart in (self.equity, self.drawdown, self.scatter, self.chart, self.advice):
            chart.apply_theme()
        if self.run is not None:
            self.show_run(self.run)


def _first_reason(f: Figures) -> str:
    return next(iter(f.null_reasons.values()), "no SPY closes")


__all__ = ["BREAKDOWNS", "ResultsView", "fit_height", "fixed_table", "run_header"]
