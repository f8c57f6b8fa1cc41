"""The "Drift & edge" panel: the traded sessions against the backtest, and the trader's edge
(issue 11, parts 3 and 4).

* **Drift**: for a period, ``workstation report drift --json`` runs in a child process (a
  backtest of the same sessions with the parameters then in force; progress and Cancel here);
  the panel shows the headline (trades and P&L live, in the backtest, the difference), the
  totals by cause, and every trade that differs with its slippage and what explains it.
* **Human edge**: what the approvals and vetoes did against the rules alone (a few queries in
  a worker thread): by kind of decision, by strategy, and the running total over time.
"""

from __future__ import annotations

import asyncio
import html
import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import pyqtgraph as pg
from PySide6.QtCore import QDate, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QDateEdit,
    QLabel,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workstation.engine.api import EngineAPI
from workstation.ui import theme
from workstation.ui.charts import style_plot
from workstation.ui.evidence.job_view import (
    failure,
    finished_doc,
    headline,
    job_bar,
    job_progress,
    session_plot,
    show_progress,
)
from workstation.ui.panels.base import Panel
from workstation.ui.tables import Column, DataTable, signed_money

if TYPE_CHECKING:
    from workstation.research.evidence.jobs import ChildJob, JobResult
    from workstation.research.evidence.service import EvidenceService

KIND_TEXT = {"both": "both", "live_only": "live only", "backtest_only": "backtest only"}
DEFAULT_DAYS = 30


def _sign(v: float | None) -> QColor | None:
    if v is None or not math.isfinite(v) or v == 0:
        return None
    return theme.color("pos" if v > 0 else "neg")


@dataclass(frozen=True)
class CauseRow:
    cause: str
    label: str
    count: int
    pnl: float


@dataclass(frozen=True)
class DriftRow:
    entry_session: str
    symbol: str
    strategy: str
    kind: str
    live_exit: str
    backtest_exit: str
    entry_slippage: float | None
    exit_slippage: float | None
    pnl: float
    causes: str
    why: str

    @staticmethod
    def of(t: dict[str, Any]) -> DriftRow:
        def exit_of(side: dict[str, Any] | None) -> str:
            if side is None:
                return ""
            if side["open"]:
                return "open"
            return f"{side['exit_reason']} {side['exit_price']:,.2f}"

        return DriftRow(
            t["entry_session"],
            t["symbol"],
            t["strategy"],
            KIND_TEXT[t["kind"]],
            exit_of(t["live"]),
            exit_of(t["backtest"]),
            t["entry_slippage"],
            t["exit_slippage"],
            float(t["pnl_difference"]),
            ", ".join(a["cause"].replace("_", "-") for a in t["attributions"]),
            "; ".join(a["why"] for a in t["attributions"]),
        )


def cause_columns() -> list[Column]:
    return [
        Column("Cause", lambda c: c.label, tooltip="What explains the differences"),
        Column("Trades", lambda c: c.count, "{:d}"),
        Column("P&L", lambda c: c.pnl, signed_money, color_fn=lambda c: _sign(c.pnl)),
    ]


def drift_columns() -> list[Column]:
    slip = "{:+.3f}"
    return [
        Column("Entry", lambda r: r.entry_session),
        Column("Symbol", lambda r: r.symbol),
        Column("Strategy", lambda r: r.strategy),
        Column("Where", lambda r: r.kind, tooltip="In both, only live, or only in the backtest"),
        Column("Live exit", lambda r: r.live_exit),
        Column("Backtest exit", lambda r: r.backtest_exit),
        Column(
            "Entry slip",
            lambda r: r.entry_slippage,
            slip,
            tooltip="Per share, live fill against the modelled fill; + is worse for you",
        ),
        Column("Exit slip", lambda r: r.exit_slippage, slip, tooltip="Per share; + is worse"),
        Column(
            "P&L diff",
            lambda r: r.pnl,
            signed_money,
            color_fn=lambda r: _sign(r.pnl),
            tooltip="Live P&L minus the backtest's",
        ),
        Column("Cause", lambda r: r.causes),
        Column("Why", lambda r: r.why, tooltip=lambda r: r.why),
    ]


@dataclass(frozen=True)
class EdgeRow:
    name: str
    decisions: int
    with_outcome: int
    outcome_pnl: float
    outcome_r: float
    edge_pnl: float
    edge_r: float
    small: bool


def edge_columns(first: str) -> list[Column]:
    return [
        Column(first, lambda r: r.name + (" (small sample)" if r.small else "")),
        Column("Decisions", lambda r: r.decisions, "{:d}"),
        Column("With outcome", lambda r: r.with_outcome, "{:d}"),
        Column(
            "Outcome $",
            lambda r: r.outcome_pnl,
            signed_money,
            tooltip="What the trades (real, or paper for vetoes) made",
        ),
        Column("Outcome R", lambda r: r.outcome_r, "{:+.2f}"),
        Column(
            "Edge $",
            lambda r: r.edge_pnl,
            signed_money,
            color_fn=lambda r: _sign(r.edge_pnl),
            tooltip="What the decisions added against the rules alone",
        ),
        Column("Edge R", lambda r: r.edge_r, "{:+.2f}", color_fn=lambda r: _sign(r.edge_r)),
    ]


def _edge_row(name: str, g: dict[str, Any]) -> EdgeRow:
    return EdgeRow(
        name,
        int(g["decisions"]),
        int(g["with_outcome"]),
        float(g["outcome_pnl"]),
        float(g["outcome_r"]),
        float(g["edge_pnl"]),
        float(g["edge_r"]),
        bool(g["small_sample"]),
    )


def drift_headline(doc: dict[str, Any]) -> str:
    """The report's first lines as rich text."""
    p, s = doc["period"], doc["summary"]
    muted = theme.hex_color("muted")
    hashes = html.escape(", ".join(doc["param_hashes"]))
    diff = s["difference"]
    color = theme.hex_color("pos" if diff >= 0 else "neg")
    verdict = (
        f"<b style='color:{theme.hex_color('pos')}'>No drift</b>: every trade matches the "
        "backtest to the cent and the second."
        if not doc["drift"]
        else f"<b style='color:{theme.hex_color('warn')}'>Drift</b>: "
        f"{s['both_differing']} trade(s) in both differ, {s['live_only']} only live, "
        f"{s['backtest_only']} only in the backtest."
    )
    return (
        f"<p style='margin:0'><b>{p['start']} .. {p['end']}</b> ({p['sessions']} sessions) · "
        f"trades {s['trades_live']} live, {s['trades_backtest']} in the backtest · P&amp;L live "
        f"{s['live_pnl']:+,.2f}, backtest {s['backtest_pnl']:+,.2f}, difference "
        f"<b style='color:{color}'>{diff:+,.2f}</b></p><p style='margin:0'>{verdict}</p>"
        f"<p style='margin:0;color:{muted}'>parameters {hashes}"
        f" · {html.escape(str(doc.get('data_source', doc['market'])))}</p>"
    )


class EvidencePanel(Panel):
    TITLE = "Drift & edge"
    OBJECT_NAME = "evidence"
    VIEWS = frozenset()

    def __init__(self, engine: EngineAPI, parent: QWidget | None = None) -> None:
        super().__init__(engine, parent)
        self.service: EvidenceService | None = None
        self.job: ChildJob | None = None
        self.drift_doc: dict[str, Any] | None = None
        self.edge_doc: dict[str, Any] | None = None
        self._edge_task: asyncio.Task[None] | None = None

        today = date.today()
        self.start = QDateEdit(_qdate(today - timedelta(days=DEFAULT_DAYS)))
        self.end = QDateEdit(_qdate(today))
        for w, tip in ((self.start, "First session"), (self.end, "Last session")):
            w.setCalendarPopup(True)
            w.setDisplayFormat("yyyy-MM-dd")
            w.setToolTip(tip + " of the period (sessions the app traded)")
        self.run_btn = QPushButton("&Run drift report")
        self.run_btn.setObjectName("runDrift")
        self.run_btn.setToolTip(
            "Backtest the sessions traded in the period with the parameters then in force, and "
            "compare trade by trade (in a worker process)"
        )
        self.run_btn.clicked.connect(self.run_drift)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.clicked.connect(self.cancel)
        self.cancel_btn.setEnabled(False)
        self.edge_btn = QPushButton("Refresh &edge")
        self.edge_btn.setToolTip("What approvals and vetoes did in the period")
        self.edge_btn.clicked.connect(self.refresh_edge)
        self.progress = job_progress(220)
        bar = job_bar(
            "From",
            self.start,
            "to",
            self.end,
            self.run_btn,
            self.cancel_btn,
            self.edge_btn,
            self.progress,
        )

        # --- drift
        self.drift_head = headline("Choose a period the app traded and run the drift report.")
        self.causes = DataTable(cause_columns(), key=lambda c: c.cause, export_name="drift-causes")
        self.trades = DataTable(
            drift_columns(),
            key=lambda r: (r.entry_session, r.symbol, r.strategy),
            export_name="drift",
        )
        self.drift_notes = _notes()
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.causes)
        split.addWidget(self.trades)
        split.setSizes([300, 900])
        drift = _page(self.drift_head, split, self.drift_notes)

        # --- human edge
        self.edge_head = headline()
        self.kinds = DataTable(edge_columns("Decision"), key=lambda r: r.name, export_name="edge")
        self.strategies = DataTable(
            edge_columns("Strategy"), key=lambda r: r.name, export_name="edge-strategies"
        )
        self.curve = session_plot("The running total of the decisions' edge ($), by entry session")
        tables = QWidget()
        tl = QVBoxLayout(tables)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.kinds)
        tl.addWidget(self.strategies)
        esplit = QSplitter(Qt.Orientation.Horizontal)
        esplit.addWidget(tables)
        esplit.addWidget(self.curve)
        esplit.setSizes([700, 500])
        self.edge_notes = _notes()
        edge = _page(self.edge_head, esplit, self.edge_notes)

        self.tabs = QTabWidget()
        self.tabs.addTab(drift, "Drift")
        self.tabs.addTab(edge, "Human edge")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(bar)
        lay.addWidget(self.tabs, 1)
        self._enable()

    # ------------------------------------------------------------ wiring
    def set_evidence(self, service: EvidenceService | None) -> None:
        self.service = service
        self._enable()
        if service is not None:
            self.refresh_edge()

    def _enable(self) -> None:
        running = self.job is not None and self.job.running
        self.run_btn.setEnabled(self.service is not None and not running)
        self.edge_btn.setEnabled(self.service is not None)
        self.cancel_btn.setEnabled(running)
        if self.service is None:
            self.drift_head.setText("Drift and edge reports need the engines (starting...).")

    def period(self) -> tuple[date, date]:
        return _pydate(self.start.date()), _pydate(self.end.date())

    def set_period(self, start: date, end: date) -> None:
        self.start.setDate(_qdate(start))
        self.end.setDate(_qdate(end))

    def refresh(self) -> None:  # no engine view: the reports are run on demand
        pass

    # ------------------------------------------------------------ drift
    def run_drift(self) -> None:
        if self.service is None or (self.job is not None and self.job.running):
            return
        start, end = self.period()
        if start > end:
            self.message.emit("Drift: the period starts after it ends", "warning")
            return
        args = ["report", "drift", "--from", start.isoformat(), "--to", end.isoformat()]
        self.job = self.service.run(
            [*args, "--json", "--progress", "json"], self._drift_progress, self._drift_done
        )
        self.progress.setRange(0, 0)  # busy until the first session is done
        self.progress.setVisible(True)
        self.drift_head.setText(
            f"Backtesting the sessions traded from {start} to {end} with the parameters then "
            "in force (a worker process)..."
        )
        self.tabs.setCurrentIndex(0)
        self._enable()

    def _drift_progress(self, doc: dict[str, Any]) -> None:
        show_progress(self.progress, doc, f"session %v of %m ({doc.get('session', '')})")

    def _drift_done(self, result: JobResult) -> None:
        self._enable()
        doc = finished_doc(
            result,
            self.progress,
            self.drift_head,
            canceled="Drift report canceled.",
            failed="Drift report failed",
        )
        if doc is None:
            if not result.canceled:
                self.message.emit(f"Drift report failed: {failure(result)}", "error")
            return
        self.show_drift(doc)
        self.message.emit("Drift report ready", "info")

    def show_drift(self, doc: dict[str, Any]) -> None:
        self.drift_doc = doc
        self.drift_head.setText(drift_headline(doc))
        self.causes.set_rows(
            [
                CauseRow(c["cause"], c["label"].split(" (")[0], c["count"], c["pnl"])
                for c in doc["causes"]
            ]
        )
        rows = [DriftRow.of(t) for t in doc["trades"] if t["attributions"]]
        self.trades.set_rows(rows)
        notes = list(doc.get("notes", []))
        if doc.get("backtest_store"):
            notes.append(f"Backtest store: {doc['backtest_store']}.")
        notes.append("Follow-on differences are consequences of the others, not causes.")
        self.drift_notes.setText(" ".join(notes))

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    # ------------------------------------------------------------ edge
    def refresh_edge(self) -> None:
        if self.service is None or (self._edge_task is not None and not self._edge_task.done()):
            return
        start, end = self.period()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = asyncio.get_event_loop()
        self._edge_task = loop.create_task(self._edge(start, end))

    async def _edge(self, start: date, end: date) -> None:
        assert self.service is not None
        try:
            report = await self.service.edge(start, end)
        except Exception as exc:  # a store that cannot be read: said, never raised
            self.edge_head.setText(f"Human edge: {html.escape(str(exc))}")
            return
        self.show_edge(report.as_json())

    def show_edge(self, doc: dict[str, Any]) -> None:
        self.edge_doc = doc
        t = doc["total"]
        muted = theme.hex_color("muted")
        edge = t["edge_pnl"]
        color = theme.hex_color("pos" if edge >= 0 else "neg")
        small = (
            f" <span style='color:{theme.hex_color('warn')}'>small sample: "
            f"{t['with_outcome']} decision(s) with an outcome, {doc['min_trades']} needed</span>"
            if t["small_sample"]
            else ""
        )
        policies = ", ".join(f"{m}: {p}" for m, p in doc["policies"].items()) or "none yet"
        self.edge_head.setText(
            f"<p style='margin:0'><b>Your decisions</b> {doc['period']['start'] or ''} .. "
            f"{doc['period']['end'] or ''}: {t['decisions']} · edge against the rules alone "
            f"<b style='color:{color}'>{edge:+,.2f}</b> ({t['edge_r']:+.2f} R){small}</p>"
            f"<p style='margin:0;color:{muted}'>A veto's edge is minus what its paper trade "
            "made; an approval's is what its trade made when the policy would have skipped it "
            f"(on_pending: {html.escape(policies)}).</p>"
        )
        self.kinds.set_rows(
            [_edge_row(g["label"], g) for g in doc["by_kind"].values()]  # fixed order
        )
        self.strategies.set_rows([_edge_row(k, g) for k, g in doc["by_strategy"].items()])
        self.edge_notes.setText(" ".join(doc.get("notes", [])))
        self._draw_curve(doc["curve"])

    def _draw_curve(self, curve: list[dict[str, Any]]) -> None:
        from datetime import datetime

        item = self.curve.getPlotItem()
        item.clear()
        t = theme.current()
        if not curve:
            return
        xs = [datetime.fromisoformat(p["session"]).replace(hour=16).timestamp() for p in curve]
        ys = [p["edge_pnl"] for p in curve]
        self.curve.plot(
            xs, ys, pen=pg.mkPen(t.accent, width=2), symbol="o", symbolSize=5,
            symbolBrush=t.accent,
        )  # fmt: skip
        item.addLine(y=0, pen=pg.mkPen(t.muted, style=Qt.PenStyle.DashLine))
        item.setLabel("left", "Edge $", color=t.chart_fg)
        item.enableAutoRange()

    def apply_theme(self) -> None:
        style_plot(self.curve)
        if self.drift_doc is not None:
            self.show_drift(self.drift_doc)
        if self.edge_doc is not None:
            self.show_edge(self.edge_doc)


def _notes() -> QLabel:
    label = QLabel("")
    label.setObjectName("muted")
    label.setWordWrap(True)
    return label


def _page(head: QWidget, body: QWidget, notes: QWidget) -> QWidget:
    """A tab: the headline, what it is about (stretched), the notes under it."""
    page = QWidget()
    lay = QVBoxLayout(page)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(head)
    lay.addWidget(body, 1)
    lay.addWidget(notes)
    return page


def _qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


def _pydate(q: QDate) -> date:
    return date(q.year(), q.month(), q.day())


__all__ = ["CauseRow", "DriftRow", "EdgeRow", "EvidencePanel", "drift_headline"]
