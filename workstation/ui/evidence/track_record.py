"""The candidate detail's track record: how the same strategy did in the backtest history, in
the same regime and sector (issue 11.1).

The view asks the :class:`~workstation.research.evidence.service.EvidenceService` for the
selected candidate's record; the answer is immediate (computed from the reference backtest in
memory) or says what is being done meanwhile (finding, loading or building the backtest, with
its progress), and the view draws again when the service says something changed. It never
waits: the reference is read in a worker thread and built in a child process.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QLabel, QProgressBar, QTextBrowser, QVBoxLayout, QWidget

from workstation.research.evidence.status import BIN_EDGES, RecordState, RecordStatus
from workstation.ui import theme
from workstation.ui.evidence.outcomes import OutcomeBars

if TYPE_CHECKING:  # the research stack is imported when the first record is computed
    from workstation.engine.views import CandidateView
    from workstation.research.evidence.service import EvidenceService
    from workstation.research.evidence.track_record import Scope, TrackRecord


def _pct(v: Any) -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.0%}"


def _num(v: Any, fmt: str = "{:+.2f}") -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else fmt.format(v)


def scope_row(s: Scope) -> str:
    f = s.figures
    muted = theme.hex_color("muted")
    style = f" style='color:{muted}'" if s.small else ""
    pf = f["profit_factor"]
    pf_text = (
        "no loss"
        if pf is not None and isinstance(pf, float) and math.isinf(pf)
        else _num(pf, "{:.2f}")
    )
    tag = " <i>small sample</i>" if s.small else ""
    return (
        f"<tr{style}><td>{html.escape(s.label)}{tag}</td><td align='right'>{s.n}</td>"
        f"<td align='right'>{_pct(f['win_rate'])}</td>"
        f"<td align='right'>{_num(f['expectancy_r'])}</td>"
        f"<td align='right'>{pf_text}</td>"
        f"<td align='right'>{_num(s.r_quantiles['p10'])} / {_num(s.r_quantiles['p50'])} / "
        f"{_num(s.r_quantiles['p90'])}</td></tr>"
    )


def record_html(r: TrackRecord) -> str:
    """The record as rich text: where it comes from, the three scopes, the verdict, the last
    comparable signals."""
    muted, pos, neg = theme.hex_color("muted"), theme.hex_color("pos"), theme.hex_color("neg")
    b = r.book
    regime = r.scope("regime")
    head = (
        "<p style='margin:0'><b>Track record</b> of "
        f"<b>{html.escape(r.strategy)}</b> ({r.side}) in <b>{html.escape(r.regime)}</b>, "
        f"sector {html.escape(r.sector)}</p>"
        f"<p style='margin:0;color:{muted}'>From the backtest "
        + ("being built, so far " if b.partial else "")
        + f"{b.first} .. {b.last} of the parameters in force ({html.escape(b.param_hash)}, "
        f"{html.escape(b.market)}, {len(b.trades)} trades)"
        + (f"; trades that exited before {r.before}" if r.before else "")
        + "</p>"
    )
    table = (
        "<table cellspacing='0' cellpadding='3' width='100%'>"
        f"<tr style='color:{muted}'><td>trades of</td><td align='right'>n</td>"
        "<td align='right'>win rate</td><td align='right'>avg R</td>"
        "<td align='right'>profit factor</td><td align='right'>R p10 / p50 / p90</td></tr>"
        + "".join(scope_row(s) for s in r.scopes)
        + "</table>"
    )
    color = theme.hex_color("warn") if regime.small else theme.hex_color("text")
    verdict = f"<p style='margin:4px 0;color:{color}'>{html.escape(regime.verdict())}</p>"
    if r.recent:
        rows = "".join(
            f"<tr><td>{c.entry_session}</td><td>{html.escape(c.symbol)}</td>"
            f"<td>{html.escape(c.sector)}</td><td>{html.escape(c.exit_reason)}</td>"
            f"<td align='right' style='color:{pos if c.r > 0 else neg}'>{c.r:+.2f} R</td>"
            f"<td align='right'>{c.pnl:+,.0f}</td><td align='right'>{c.days_held} d</td></tr>"
            for c in r.recent
        )
        recent = (
            f"<p style='margin:6px 0 2px'><b>Last {len(r.recent)} comparable signals</b> "
            f"<span style='color:{muted}'>({html.escape(r.strategy)} in "
            f"{html.escape(r.regime)}, newest first)</span></p>"
            f"<table cellspacing='0' cellpadding='2'>{rows}</table>"
        )
    else:
        recent = f"<p style='color:{muted}'>No comparable signal in the backtest.</p>"
    return head + table + verdict + recent


class TrackRecordView(QWidget):
    """The track record of the selected candidate (see the module docstring)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trackRecord")
        self.service: EvidenceService | None = None
        self.candidate: CandidateView | None = None
        self.status: RecordStatus | None = None
        self._unsubscribe: Any = None
        self.text = QTextBrowser()
        self.text.setOpenLinks(False)
        self.text.setToolTip(
            "How this strategy did in the backtest of the parameters in force: in every "
            "regime, in the candidate's regime, and in its sector too"
        )
        self.bars = OutcomeBars()
        self.state = QLabel("")
        self.state.setObjectName("muted")
        self.state.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setMaximumHeight(14)
        self.progress.setVisible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.state)
        lay.addWidget(self.progress)
        lay.addWidget(self.text, 1)
        lay.addWidget(self.bars)
        # Showing a record (while its backtest is built, then the finished one) must not move
        # the candidate detail around it: a re-layout re-renders the chart beside it, tens of
        # ms on the loop. The state line, the progress bar and the bars keep their place.
        for w in (self.state, self.progress, self.bars):
            policy = w.sizePolicy()
            policy.setRetainSizeWhenHidden(True)
            w.setSizePolicy(policy)
        self.state.setFixedHeight(2 * self.state.fontMetrics().lineSpacing() + 2)
        self.show_candidate(None)

    def set_service(self, service: EvidenceService | None) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.service = service
        if service is not None:
            self._unsubscribe = service.subscribe(self.refresh)
        self.refresh()

    def show_candidate(self, c: CandidateView | None) -> None:
        self.candidate = c
        self.refresh()

    def refresh(self) -> None:
        c = self.candidate
        if c is None:
            self._show_state("Select a candidate to see its track record.")
            return
        if self.service is None:
            self._show_state("Track record: not available here (no home to read backtests from).")
            return
        status = self.service.track_record(
            c.strategy, str(c.side), c.regime, c.sector, needed_for=c.session
        )
        self.status = status
        working = status.state is RecordState.WORKING
        self.progress.setVisible(working and status.progress is not None)
        if status.progress is not None:
            self.progress.setValue(int(1000 * status.progress))
            self.progress.setFormat(f"backtest {status.progress:.0%}")
        if status.record is None:
            self._show_state(status.message, failed=status.state is RecordState.FAILED)
            return
        self.state.setText(status.message)
        self.state.setVisible(bool(status.message))
        self.text.setHtml(record_html(status.record))
        regime = status.record.scope("regime")
        self.bars.set_bins(
            BIN_EDGES,
            regime.bins,
            f"Outcomes of {regime.label}, in R ({regime.n} trades)",
        )
        self.bars.setVisible(True)

    def _show_state(self, text: str, *, failed: bool = False) -> None:
        self.state.setVisible(False)
        color = theme.hex_color("neg" if failed else "muted")
        self.text.setHtml(f"<p style='color:{color}'>{html.escape(text)}</p>")
        self.bars.setVisible(False)

    def apply_theme(self) -> None:
        self.refresh()


__all__ = ["TrackRecordView", "record_html", "scope_row"]
