""" "What would this change do?" in the parameter editor (issue 11.2).

The editor's edits become ``--set KEY=VALUE`` options of ``workstation report change``, run in
a child process by the :class:`~workstation.research.evidence.service.EvidenceService` (its two
backtests and their scan workers never touch the Qt loop); this page shows its progress, then
both equity curves, the figures side by side and the trades that differ. The editor keeps the
last result and stores it with the versions it saves (:mod:`workstation.research.evidence.
change_notes`).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from workstation.ui import theme
from workstation.ui.charts import style_plot
from workstation.ui.evidence.job_view import (
    finished_doc,
    headline,
    job_bar,
    job_progress,
    session_plot,
    show_progress,
)
from workstation.ui.tables import Column, DataTable, signed_money

if TYPE_CHECKING:
    from workstation.research.evidence.jobs import ChildJob, JobResult
    from workstation.research.evidence.service import EvidenceService

#: The figures shown side by side: (key, label, percent?).
FIGURES: tuple[tuple[str, str, bool], ...] = (
    ("total_return", "Total return", True),
    ("cagr", "CAGR", True),
    ("sharpe", "Sharpe", False),
    ("sortino", "Sortino", False),
    ("max_drawdown", "Max drawdown", True),
    ("n_trades", "Trades", False),
    ("win_rate", "Win rate", True),
    ("profit_factor", "Profit factor", False),
    ("expectancy_r", "Expectancy (R)", False),
    ("trades_per_year", "Trades a year", False),
)
#: The period a preview covers unless the trader chooses another (issue 11.2).
DEFAULT_YEARS = 3.0
KIND_TEXT = {
    "both": "both, differs",
    "current_only": "current only",
    "edited_only": "edited only",
}


def override_key(path: tuple[str, ...]) -> str:
    """The editor's (file, key, ...) as an override key: ``risk.exits.time_exit_day``."""
    return ".".join((path[0].removesuffix(".yaml"), *path[1:]))


def set_options(edits: Mapping[tuple[str, ...], Any]) -> list[str]:
    """``--set KEY=VALUE`` options for the edits (values as JSON, which YAML reads)."""
    out: list[str] = []
    for path, value in edits.items():
        out += ["--set", f"{override_key(path)}={json.dumps(value)}"]
    return out


def _fmt(v: Any, pct: bool) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if pct:
        return f"{v:+.1%}" if v else "0.0%"
    if isinstance(v, float) and abs(v) >= 100:  # trades a year: no cents
        return f"{v:,.0f}"
    return f"{v:,.2f}" if isinstance(v, float) else f"{v:,}"


def figures_html(doc: Mapping[str, Any]) -> str:
    """The figures side by side, the difference coloured by whether it is better."""
    a, b, d = doc["current"]["stats"], doc["edited"]["stats"], doc["difference"]
    muted = theme.hex_color("muted")
    rows = []
    for key, label, pct in FIGURES:
        diff = d.get(key)
        color = theme.hex_color("text")
        if isinstance(diff, int | float) and diff and key not in ("n_trades", "trades_per_year"):
            color = theme.hex_color("pos" if diff > 0 else "neg")
        rows.append(
            f"<tr><td>{label}</td><td align='right'>{_fmt(a.get(key), pct)}</td>"
            f"<td align='right'>{_fmt(b.get(key), pct)}</td>"
            f"<td align='right' style='color:{color}'>{_fmt(diff, pct)}</td></tr>"
        )
    small = ""
    if a.get("small_sample") or b.get("small_sample"):
        small = (
            f"<p style='color:{theme.hex_color('warn')}'>Small sample: fewer trades than the "
            "backtest's minimum; the difference may be noise.</p>"
        )
    return (
        f"<table cellspacing='0' cellpadding='3'><tr style='color:{muted}'><td></td>"
        "<td align='right'>current</td><td align='right'>edited</td>"
        "<td align='right'>difference</td></tr>" + "".join(rows) + "</table>" + small
    )


def headline_html(doc: Mapping[str, Any]) -> str:
    p, t = doc["period"], doc["trades"]
    changes = ", ".join(
        f"{html.escape(c['key'])} {html.escape(str(c['current']))} &rarr; "
        f"<b>{html.escape(str(c['edited']))}</b>"
        for c in doc["changes"]
    )
    return (
        f"<p style='margin:0'><b>{p['start']} .. {p['end']}</b> ({p['sessions']} sessions, "
        f"{html.escape(str(doc.get('data_source') or doc['market']))}): {changes}</p>"
        f"<p style='margin:0'>Trades: {t['same']} the same, <b>{t['differing']}</b> differ, "
        f"<b>{t['current_only']}</b> only with the current values, <b>{t['edited_only']}</b> "
        f"only with the edited ones (P&amp;L {t['pnl_difference']:+,.2f}).</p>"
    )


@dataclass(frozen=True)
class DiffRow:
    entry_session: str
    symbol: str
    strategy: str
    kind: str
    what: str
    current_pnl: float | None
    edited_pnl: float | None
    difference: float

    @staticmethod
    def of(t: Mapping[str, Any]) -> DiffRow:
        a, b = t["current"], t["edited"]
        return DiffRow(
            t["entry_session"],
            t["symbol"],
            t["strategy"],
            KIND_TEXT[t["kind"]],
            t["what"],
            None if a is None else a["pnl"],
            None if b is None else b["pnl"],
            float(t["pnl_difference"]),
        )


def _sign(v: float | None) -> QColor | None:
    if v is None or not v:
        return None
    return theme.color("pos" if v > 0 else "neg")


def diff_columns() -> list[Column]:
    return [
        Column("Entry", lambda r: r.entry_session),
        Column("Symbol", lambda r: r.symbol),
        Column("Strategy", lambda r: r.strategy),
        Column("Where", lambda r: r.kind),
        Column("What differs", lambda r: r.what, tooltip=lambda r: r.what),
        Column("P&L current", lambda r: r.current_pnl, signed_money),
        Column("P&L edited", lambda r: r.edited_pnl, signed_money),
        Column(
            "Difference",
            lambda r: r.difference,
            signed_money,
            color_fn=lambda r: _sign(r.difference),
            tooltip="Edited P&L minus current P&L",
        ),
    ]


def _x(session: str) -> float:
    return datetime.fromisoformat(session).replace(hour=16).timestamp()


class ChangePreview(QWidget):
    """The preview page (see the module docstring). ``edits()`` gives the editor's changes
    at the moment the button is pressed; ``on_result`` hears each finished preview."""

    def __init__(
        self,
        edits: Callable[[], Mapping[tuple[str, ...], Any]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("changePreview")
        self.edits = edits
        self.service: EvidenceService | None = None
        self.job: ChildJob | None = None
        self.doc: dict[str, Any] | None = None
        self.for_edits: dict[tuple[str, ...], Any] = {}
        self.on_result: Callable[[dict[str, Any]], None] | None = None
        self.years = QDoubleSpinBox()
        self.years.setObjectName("previewYears")
        self.years.setRange(0.1, 20.0)  # backtest.years' range from 0.1; 20 years is plenty
        self.years.setDecimals(1)
        self.years.setSingleStep(0.5)
        self.years.setValue(DEFAULT_YEARS)
        self.years.setSuffix(" years")
        self.years.setToolTip("The period: the last N years the market has data for")
        self.run_btn = QPushButton("Run")
        self.run_btn.setToolTip("Backtest the current and the edited values (worker processes)")
        self.run_btn.clicked.connect(self.run)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.clicked.connect(self.cancel)
        self.progress = job_progress(280)
        bar = job_bar(
            "<b>What would this change do?</b> Backtest over the last",
            self.years,
            "with data",
            self.run_btn,
            self.cancel_btn,
            self.progress,
        )
        self.head = headline()
        self.figures = QLabel("")
        self.figures.setTextFormat(Qt.TextFormat.RichText)
        self.figures.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.curves = session_plot("Equity at each session's end: current values and edited ones")
        self.curves.addLegend(offset=(10, 10))
        self.trades = DataTable(
            diff_columns(),
            key=lambda r: (r.entry_session, r.symbol, r.strategy),
            export_name="change-preview",
        )
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.figures)
        top.addWidget(self.curves)
        top.setSizes([300, 640])
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(self.trades)
        split.setSizes([300, 220])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.head)
        lay.addWidget(split, 1)
        self._show_idle()

    def set_service(self, service: EvidenceService | None) -> None:
        self.service = service
        self._enable()

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def _enable(self) -> None:
        self.run_btn.setEnabled(self.service is not None and not self.running)
        self.cancel_btn.setEnabled(self.running)

    def _show_idle(self) -> None:
        if self.service is None:
            text = "The change preview needs the engines' backtester (starting...)."
        else:
            text = "Press Run to backtest the current and the edited values side by side."
        self.head.setText(f"<span style='color:{theme.hex_color('muted')}'>{text}</span>")

    def result_for(self, edits: Mapping[tuple[str, ...], Any]) -> dict[str, Any] | None:
        """The last preview if it was run for exactly these edits."""
        return self.doc if self.doc is not None and dict(edits) == self.for_edits else None

    def run(self) -> None:
        edits = dict(self.edits())
        if self.service is None or self.running:
            return
        if not edits:
            self.head.setText("No edits to preview: change a parameter first.")
            return
        years = f"{self.years.value():g}"
        args = ["report", "change", *set_options(edits), "--years", years]
        self.for_edits = edits
        self.doc = None
        self.job = self.service.run(
            [*args, "--json", "--progress", "json"], self._progress, self._done
        )
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.head.setText(
            f"Backtesting the current and the edited values over the last {years} years with "
            "data, in worker processes..."
        )
        self._enable()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _progress(self, doc: Mapping[str, Any]) -> None:
        which = "current values" if doc.get("scenario") == "preview-current" else "edited values"
        show_progress(self.progress, doc, f"{which}: %v of %m sessions")

    def _done(self, result: JobResult) -> None:
        self.job = None
        self._enable()
        doc = finished_doc(
            result,
            self.progress,
            self.head,
            canceled="Preview canceled.",
            failed="The preview failed",
        )
        if doc is None:
            return
        self.show_result(doc)
        if self.on_result is not None:
            self.on_result(doc)

    def show_result(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.head.setText(headline_html(doc))
        self.figures.setText(figures_html(doc))
        self._draw(doc)
        self.trades.set_rows([DiffRow.of(t) for t in doc["differing_trades"]])

    def _draw(self, doc: Mapping[str, Any]) -> None:
        item = self.curves.getPlotItem()
        item.clear()
        t = theme.current()
        for side, name, color, style in (
            ("current", "current", t.muted, Qt.PenStyle.SolidLine),
            ("edited", "edited", t.accent, Qt.PenStyle.SolidLine),
        ):
            points = [p for p in doc[side]["equity"] if p[0] != "start"]
            if not points:
                continue
            xs = [_x(p[0]) for p in points]
            ys = [p[1] for p in points]
            self.curves.plot(xs, ys, pen=pg.mkPen(color, width=2, style=style), name=name)
        item.setLabel("left", "Equity $", color=t.chart_fg)
        item.enableAutoRange()

    def apply_theme(self) -> None:
        style_plot(self.curves)
        if self.doc is not None:
            self.show_result(self.doc)


def expected_html(doc: Mapping[str, Any] | None, stamp: str = "") -> str:
    """For the parameter history: what the change saved at ``stamp`` (from this version to
    the next) was expected to do, by the preview run before saving it."""
    if doc is None:
        return ""
    from workstation.research.evidence.change import summary_line

    when = f" at {html.escape(stamp)}" if stamp else ""
    return (
        f"<p style='margin:0 0 6px'><b>Expected of the change saved{when}</b> (from this "
        f"version to the next; the preview run before saving): "
        f"{html.escape(summary_line(doc))}</p>"
    )


__all__ = [
    "ChangePreview",
    "DiffRow",
    "expected_html",
    "figures_html",
    "override_key",
    "set_options",
]
