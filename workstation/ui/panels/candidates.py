"""The nightly top 12: approve / veto with a note, why each was picked, its daily chart."""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence, QResizeEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from workstation.core.bar_problems import problems_text
from workstation.core.config import IndicatorConfig, RankingConfig
from workstation.core.models import ApprovalState, Side
from workstation.core.numbers import dollars_compact
from workstation.engine.api import EngineAPI
from workstation.engine.outcomes import ENTERED, SKIPPED, VETOED, WORKING
from workstation.engine.views import CandidateView, ScanReportView, ViewName
from workstation.engine.words import words
from workstation.ui import theme
from workstation.ui.chart_data import ChartConfig
from workstation.ui.dock_scroll import DockScroll
from workstation.ui.evidence.track_record import TrackRecordView
from workstation.ui.panels.base import Panel
from workstation.ui.panels.chart import WARMUP, candidate_levels
from workstation.ui.price_chart import PriceChart
from workstation.ui.tables import CENTER, Column, DataTable

#: The decision keys: chords, never plain letters, so that text typed while the table has
#: the focus (a note meant for the note field) can never approve or veto anything.
APPROVE_KEY = "Ctrl+Shift+A"
VETO_KEY = "Ctrl+Shift+V"
UNDO_KEY = "Ctrl+Shift+P"

APPROVAL_ROLE = {
    ApprovalState.PENDING: "warn",
    ApprovalState.APPROVED: "pos",
    ApprovalState.VETOED: "neg",
    ApprovalState.SKIPPED: "muted",
}

CHART_SESSIONS = 120


def candidate_columns() -> list[Column]:
    return [
        Column("#", lambda c: c.rank, "{:d}", tooltip="Rank in the nightly top 12"),
        Column("Symbol", lambda c: c.symbol),
        Column("Sector", lambda c: c.sector),
        Column("Strategy", lambda c: c.strategy),
        Column(
            "Side",
            lambda c: c.side,
            align=CENTER,
            color_fn=lambda c: theme.color("pos" if c.side is Side.LONG else "neg"),
        ),
        Column(
            "Group",
            lambda c: c.group,
            align=CENTER,
            tooltip="A: market-on-open at 09:30; B: market order after the 09:50 confirmation",
        ),
        Column("Score", lambda c: c.score, "{:.1f}", tooltip="Composite score 0..100"),
        Column(
            "Approval",
            lambda c: c.approval,
            align=CENTER,
            color_fn=lambda c: theme.color(APPROVAL_ROLE.get(c.approval, "text")),
            tooltip="pending until you approve or veto (or the entry time passes)",
        ),
        Column(
            "Decide by",
            lambda c: c.decide_by,
            _decide_by_text,
            align=CENTER,
            color_fn=lambda c: None if c.decidable else theme.color("muted"),
            tooltip="The entry time: approve, veto or undo until then (ET)",
        ),
        Column(
            "Entry",
            lambda c: c.outcome_text,
            color_fn=_outcome_color,
            tooltip=lambda c: c.outcome_detail or c.outcome_text or "not at its entry time yet",
        ),
        Column("Note", lambda c: c.note, tooltip=lambda c: c.note),
    ]


def _outcome_color(c: CandidateView) -> Any:
    """Entered green; kept out by a rule or the market amber; your veto or skip muted."""
    if not c.outcome:
        return None
    if c.outcome in (ENTERED, WORKING):
        return theme.color("pos")
    if c.outcome in (VETOED, SKIPPED):
        return theme.color("muted")
    return theme.color("warn")


def _decide_by_text(t: Any) -> str:
    return "" if t is None else t.strftime("%a %H:%M")


#: The candidates' rows a short window still shows, and a tall one (the nightly top 12).
MIN_ROWS = 4
MAX_ROWS = 12


class _NoteKeys(QObject):
    """Sends text typed while the table has the focus to the note field: what a user types
    there is a note they meant to write, never a command (and never a jump in the table)."""

    def __init__(self, note: QLineEdit, on_redirect: Callable[[], None]) -> None:
        super().__init__(note)
        self.note = note
        self.on_redirect = on_redirect

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.KeyPress:
            return False
        assert isinstance(event, QKeyEvent)
        commands = (
            Qt.KeyboardModifier.ControlModifier
            | Qt.KeyboardModifier.AltModifier
            | Qt.KeyboardModifier.MetaModifier
        )
        text = event.text()
        if not text or not text.isprintable() or event.modifiers() & commands:
            return False
        self.note.setFocus(Qt.FocusReason.OtherFocusReason)
        self.note.insert(text)
        self.on_redirect()
        return True


def _is_dollar_volume(name: object) -> bool:
    """dv20 and the like: the 20-session average dollar volume (shown as $1.23B)."""
    return str(name).lower().startswith("dv")


def _value(name: object, v: Any, digits: int = 2) -> str:
    """A value named ``name``: dollar volumes in $ with a unit, everything else as a number."""
    if _is_dollar_volume(name) and isinstance(v, int | float) and not isinstance(v, bool):
        return dollars_compact(v) or "n/a"
    return _num(v, digits)


def _num(v: Any, digits: int = 2) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        if not math.isfinite(v):
            return "n/a"
        if abs(v) >= 1e6:
            return f"{v:,.0f}"
        return f"{v:,.{digits}f}" if abs(v) >= 1 else f"{v:.4g}"
    return html.escape(str(v)) if v is not None else "n/a"


def decision_message(what: str, done: list[CandidateView], note: str) -> str:
    """The status line after a decision: what was done, and until when it can be undone."""
    names = ", ".join(f"{c.symbol} (group {c.group})" for c in done)
    with_note = f" with the note \u201c{note}\u201d" if note else ""
    if what == "Back to pending":
        return f"{names}: back to pending (the decision is undone)"
    verb = "Approved" if what == "Approve" else "Vetoed"
    deadlines = sorted({c.decide_by for c in done if c.decide_by is not None})
    until = f" until {deadlines[0]:%H:%M} ET" if deadlines else ""
    return f"{verb} {names}{with_note} · {UNDO_KEY} undoes it{until}"


def history_html(c: CandidateView) -> str:
    """The candidate's decisions, oldest first (the audit trail of its approval)."""
    muted = theme.hex_color("muted")
    if not c.history:
        return f"<p style='margin:6px 0 2px;color:{muted}'>No decision yet.</p>"
    rows = "".join(
        f"<tr><td>{d.at:%a %H:%M:%S}</td>"
        f"<td style='color:{theme.hex_color(APPROVAL_ROLE.get(d.state, 'text'))}'>"
        f"{'back to pending' if d.state is ApprovalState.PENDING else d.state}</td>"
        f"<td>by {'you' if d.source == 'user' else 'the rules'}</td>"
        f"<td>{html.escape(d.note)}</td></tr>"
        for d in c.history
    )
    return (
        "<p style='margin:8px 0 2px'><b>Decisions</b></p>"
        f"<table cellspacing='0' cellpadding='3'>{rows}</table>"
    )


def explanation_html(c: CandidateView, ranking: RankingConfig) -> str:
    """The detail view's text: the rule, each check, the score parts, who was passed over."""
    pos, neg, muted = theme.hex_color("pos"), theme.hex_color("neg"), theme.hex_color("muted")
    ex = c.explanation
    parts = [
        f"<h3 style='margin:0'>#{c.rank} {html.escape(c.symbol)} "
        f"<span style='color:{muted}'>· {html.escape(c.sector)}</span></h3>",
        f"<p style='margin:2px 0'><b>{html.escape(c.strategy)}</b> · {c.side} · group {c.group}"
        f" · score <b>{c.score:.1f}</b> · regime {html.escape(c.regime)}"
        f" · approval <b>{c.approval}</b>"
        + (f" · note: <i>{html.escape(c.note)}</i>" if c.note else "")
        + (f" · decide by {c.decide_by:%a %H:%M} ET" if c.decide_by and c.decidable else "")
        + "</p>",
        history_html(c),
    ]
    if c.outcome_text:
        why = f" <span style='color:{muted}'>({html.escape(c.outcome_detail)})</span>"
        parts.append(
            f"<p style='margin:4px 0'><b>At its entry:</b> {html.escape(c.outcome_text)}"
            + (why if c.outcome_detail else "")
            + "</p>"
        )
    if ex:
        fired = ex.get("fired")
        parts.append(
            f"<p style='margin:6px 0 2px'><b>Rule</b> "
            f"<span style='color:{pos if fired else neg}'>{'fired' if fired else 'did not fire'}"
            f"</span>{'' if ex.get('eligible', True) else ' (not eligible)'} · strength = "
            f"{html.escape(str(ex.get('strength_formula', '')))} = "
            f"<b>{_num(ex.get('strength'), 3)}</b></p>"
        )
        rows = []
        for chk in ex.get("checks", ()):
            ok = bool(chk.get("passed"))
            left, right = str(chk.get("left", "")), str(chk.get("right", ""))
            value = _value(left, chk.get("value"))
            threshold = _value(left, chk.get("threshold"))
            verdict = f"<b style='color:{pos if ok else neg}'>{'PASS' if ok else 'FAIL'}</b>"
            rows.append(
                f"<tr><td>{html.escape(str(chk.get('label', '')))}</td>"
                f"<td align='right' title='{html.escape(left)}'><b>{value}</b></td>"
                f"<td align='right' title='{html.escape(right)}'>{threshold}</td>"
                f"<td>{verdict}</td></tr>"
            )
        parts.append(
            "<table cellspacing='0' cellpadding='3' border='0'>"
            f"<tr style='color:{muted}'><td>condition</td><td align='right'>value</td>"
            "<td align='right'>threshold</td><td>result</td></tr>" + "".join(rows) + "</table>"
        )
    else:
        parts.append(f"<p style='color:{muted}'>No explanation recorded for this pick.</p>")

    weights = (
        ("strength", c.parts.strength, ranking.w_strength),
        ("liquidity (dv20 pct)", c.parts.liquidity, ranking.w_liquidity),
        ("reward/risk", c.parts.reward_risk, ranking.w_reward_risk),
        ("regime fit", c.parts.fit, ranking.w_fit),
    )
    rows = "".join(
        f"<tr><td>{name}</td><td align='right'>{v:.3f}</td><td align='right'>× {w:.2f}</td>"
        f"<td align='right'><b>{100 * v * w:.1f}</b></td></tr>"
        for name, v, w in weights
    )
    parts.append(
        "<p style='margin:8px 0 2px'><b>Score parts</b></p>"
        "<table cellspacing='0' cellpadding='3'>"
        f"<tr style='color:{muted}'><td>part</td><td align='right'>value</td>"
        "<td align='right'>weight</td><td align='right'>points</td></tr>"
        + rows
        + f"<tr><td colspan='3'>score</td><td align='right'><b>{c.score:.1f}</b></td></tr></table>"
    )
    if math.isfinite(c.close) and math.isfinite(c.atr14):
        sign = c.side.sign
        parts.append(
            f"<p style='margin:8px 0 2px'><b>Plan</b> (from the close; the real levels come from "
            f"the fill): close {c.close:,.2f} · ATR14 {c.atr14:,.2f} · "
            f"SL {c.close - sign * c.planned_sl_distance:,.2f} ({c.sl_mult:g} ATR) · "
            f"TP {c.close + sign * c.planned_tp_distance:,.2f} ({c.tp_mult:g} ATR)</p>"
        )
    if c.indicators:
        vals = " · ".join(f"{html.escape(k)} {_value(k, v)}" for k, v in c.indicators.items())
        parts.append(f"<p style='margin:4px 0;color:{muted}'>Indicators: {vals}</p>")
    if c.passed_over:
        rows = "".join(
            f"<tr><td>{html.escape(p.symbol)}</td><td>{html.escape(p.strategy)}</td>"
            f"<td align='right'>{p.score:.1f}</td><td>{html.escape(words(p.kind))}</td>"
            f"<td>{html.escape(p.reason)}</td></tr>"
            for p in c.passed_over
        )
        parts.append(
            "<p style='margin:8px 0 2px'><b>Passed over</b></p>"
            "<table cellspacing='0' cellpadding='3'>"
            f"<tr style='color:{muted}'><td>symbol</td><td>strategy</td><td align='right'>score"
            "</td><td>why</td><td></td></tr>" + rows + "</table>"
        )
    else:
        parts.append(f"<p style='color:{muted}'>Nobody was passed over for this pick.</p>")
    return "".join(parts)


def scan_report_html(r: ScanReportView | None) -> tuple[str, str]:
    """The latest scan's report as one line (rich text) and its tooltip: counts, and every data
    problem the scan met by kind and symbol (trading rules §14), in the warning colour when a
    bar was not served."""
    if r is None:
        return "", ""
    if r.status != "ok":
        err = html.escape(r.error or "failed")
        return f"<span style='color:{theme.hex_color('neg')}'>Scan failed: {err}</span>", ""
    line = (
        f"{r.loaded} loaded · {r.eligible} eligible · {len(r.stale)} stale · {len(r.failed)} failed"
    )
    problems = problems_text(r.data_problems, symbols_shown=5)
    if problems:
        role = "warn" if r.unserved else "muted"
        line += (
            f" · <span style='color:{theme.hex_color(role)}'>data problems: "
            f"{html.escape(problems)}</span>"
        )
    tips = [f"Scan of {r.session:%Y-%m-%d}: {r.loaded} symbols loaded, {r.eligible} eligible"]
    skipped = {k: n for k, n in r.ineligible.items() if n}
    if skipped:
        tips.append("Ineligible: " + ", ".join(f"{k} {n}" for k, n in skipped.items()))
    for what, names in (("Stale", r.stale), ("Failed", r.failed)):
        if names:
            tips.append(f"{what}: {', '.join(names[:30])}{' ...' if len(names) > 30 else ''}")
    full = problems_text(r.data_problems, symbols_shown=50)
    if full:
        tips.append(f"Data problems (a bar not served makes its symbol ineligible): {full}")
    return line, "\n".join(tips)


class CandidatesPanel(Panel):
    TITLE = "Nightly top 12"
    OBJECT_NAME = "candidates"
    VIEWS = frozenset({ViewName.CANDIDATES})

    def __init__(
        self,
        engine: EngineAPI,
        parent: QWidget | None = None,
        *,
        ranking: Callable[[], RankingConfig] | None = None,
        indicators: Callable[[], IndicatorConfig] | None = None,
        chart_config: Callable[[], ChartConfig] | None = None,
    ) -> None:
        super().__init__(engine, parent)
        self._ranking = ranking or RankingConfig
        if chart_config is None:
            ind = indicators or IndicatorConfig
            chart_config = lambda: ChartConfig(indicators=ind())  # noqa: E731
        self._chart_config = chart_config
        self._shown: CandidateView | None = None
        self._charted: str | None = None  # the symbol whose bars the chart has

        self.table = DataTable(candidate_columns(), key=lambda c: c.id, export_name="candidates")
        self.table.setToolTip(
            f"Select a candidate; {APPROVE_KEY} approves, {VETO_KEY} vetoes, {UNDO_KEY} puts it "
            "back to pending (text you type goes to the note)"
        )
        self.table.row_selected.connect(self._show)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._enable())

        self.note = QLineEdit()
        self.note.setPlaceholderText("Note for the approval / veto (optional)")
        self.note.setToolTip("Stored with the decision; shown in the journal")
        self.table.installEventFilter(
            _NoteKeys(self.note, lambda: self._hint("Typing goes to the note field"))
        )
        # The keys are in the tooltips, the menu and the guide: short labels leave the note
        # field room on a laptop screen.
        self.approve_btn = QPushButton("Approve")
        self.approve_btn.setObjectName("approve")
        self.approve_btn.setToolTip(
            f"Approve the selected candidate(s): they may be entered ({APPROVE_KEY})"
        )
        self.veto_btn = QPushButton("Veto")
        self.veto_btn.setObjectName("veto")
        self.veto_btn.setToolTip(
            "Veto the selected candidate(s): not entered, but paper-tracked in the journal "
            f"({VETO_KEY})"
        )
        self.undo_btn = QPushButton("Back to pending")
        self.undo_btn.setObjectName("undoDecision")
        self.undo_btn.setToolTip(
            "Undo the approval or veto of the selected candidate(s), until their entry time "
            f"({UNDO_KEY})"
        )
        self.approve_btn.clicked.connect(self.approve_selected)
        self.veto_btn.clicked.connect(self.veto_selected)
        self.undo_btn.clicked.connect(self.undo_selected)
        self.summary = QLabel()
        self.summary.setObjectName("muted")
        self.summary.setWordWrap(True)
        self.report = QLabel()
        self.report.setObjectName("muted")
        self.report.setWordWrap(True)
        self.report.setTextFormat(Qt.TextFormat.RichText)

        # The keys act only while the focus is in this panel (the table or the note), so a
        # key pressed elsewhere never trades; they are chords, so typing never does either.
        self.approve_action = self._shortcut("Approve", APPROVE_KEY, self.approve_selected)
        self.veto_action = self._shortcut("Veto", VETO_KEY, self.veto_selected)
        self.undo_action = self._shortcut("Back to pending", UNDO_KEY, self.undo_selected)

        bar = QHBoxLayout()
        bar.addWidget(self.note, 1)
        bar.addWidget(self.approve_btn)
        bar.addWidget(self.veto_btn)
        bar.addWidget(self.undo_btn)

        # At least four of the twelve rows show, whatever the dock's height: the story and
        # the chart below give way first (and in a very short window the panel scrolls).
        t = self.table
        t.setMinimumHeight(
            t.horizontalHeader().sizeHint().height()
            + MIN_ROWS * t.verticalHeader().defaultSectionSize()
            + t.horizontalScrollBar().sizeHint().height()
            + 2 * t.frameWidth()
        )
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.summary)
        tl.addWidget(self.report)
        tl.addWidget(self.table, 1)
        tl.addLayout(bar)

        self.detail = QTextBrowser()
        self.detail.setOpenLinks(False)
        self.detail.setToolTip("Why this candidate was picked")
        self.chart = PriceChart(compact=True)  # the Chart panel has the volume
        self.chart.setToolTip(
            "Daily bars with SMA50, SMA200, EMA20 and the Bollinger bands; volume; RSI and ADX "
            "with the thresholds this candidate's strategy tested; dashed: planned SL / TP"
        )

        # Under the pick's story, its strategy's track record in the backtest history.
        self.track = TrackRecordView()
        story = QSplitter(Qt.Orientation.Vertical)
        story.addWidget(self.detail)
        # The track record keeps its layout (its bars' room too): in a short panel it
        # scrolls rather than making the panel, and the window, taller.
        story.addWidget(DockScroll(self.track))
        story.setSizes([240, 260])
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(story)
        bottom.addWidget(self.chart)
        bottom.setSizes([440, 380])
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(bottom)
        split.setSizes([300, 380])
        self.splitter = split
        self._split_moved = False  # the user dragged the divider: their sizes stay
        split.splitterMoved.connect(self._user_split)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(split)
        self.refresh()
        if self.table.proxy.rowCount():
            self.table.select_row(0)

    def _user_split(self, _pos: int, _index: int) -> None:
        self._split_moved = True

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._share_height()

    def _share_height(self) -> None:
        """Until the divider is dragged: the list gets the height that shows all twelve rows
        when the panel has it (at most 60%), the story and the chart the rest, and neither
        less than its minimum."""
        sizes = self.splitter.sizes()
        total = sum(sizes)
        if self._split_moved or total <= 0:
            return
        top_w, bottom_w = self.splitter.widget(0), self.splitter.widget(1)
        top_min = top_w.minimumSizeHint().height()
        t = self.table
        # (one row more than the rows: the wrapped lines above the list may need it)
        want = top_min + (MAX_ROWS - MIN_ROWS + 1) * t.verticalHeader().defaultSectionSize()
        top = min(want, total - bottom_w.minimumSizeHint().height(), int(total * 0.6))
        top = max(top, top_min)
        if sizes[0] != top:
            self.splitter.setSizes([top, total - top])

    # ---------------------------------------------------------------- actions
    def _targets(self) -> list[CandidateView]:
        rows = self.table.selected_rows()
        if not rows and self.table.current_row() is not None:
            rows = [self.table.current_row()]
        return rows

    def _shortcut(self, text: str, key: str, slot: Callable[[], None]) -> QAction:
        a = QAction(text, self)
        a.setShortcut(QKeySequence(key))
        a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        a.triggered.connect(lambda _=False: slot())
        self.addAction(a)
        return a

    def _hint(self, text: str) -> None:
        self.message.emit(text, "info")

    def approve_selected(self) -> None:
        self._decide("Approve", lambda c, note: self.engine.approve(c.id, note))

    def veto_selected(self) -> None:
        self._decide("Veto", lambda c, note: self.engine.veto(c.id, note))

    def undo_selected(self) -> None:
        self._decide("Back to pending", lambda c, _note: self.engine.undo_decision(c.id))

    def _decide(self, what: str, fn: Callable[[CandidateView, str], None]) -> None:
        targets = self._targets()
        if not targets:
            self.message.emit(f"{what}: select a candidate first", "warning")
            return
        undo = what == "Back to pending"
        note = "" if undo else self.note.text().strip()
        done = [c for c in targets if self.command(f"{what} {c.symbol}", fn, c, note)]
        if done:
            if not undo:
                self.note.clear()
            self.message.emit(decision_message(what, done, note), "info")
        self.refresh()
        if len(targets) == 1 and done and not undo:
            self._select_next_pending()

    def _select_next_pending(self) -> None:
        cur = self.table.currentIndex().row()
        rows = self.table.visible_rows()
        for r in list(range(cur + 1, len(rows))) + list(range(0, cur + 1)):
            if rows[r].approval is ApprovalState.PENDING:
                self.table.select_row(r)
                return

    # ---------------------------------------------------------------- display
    def refresh(self) -> None:
        cands = self.engine.candidates()
        self.table.set_rows(cands)
        if cands:
            counts = {s: 0 for s in ApprovalState}
            for c in cands:
                counts[c.approval] += 1
            self.summary.setText(
                f"Scan of {cands[0].session:%a %Y-%m-%d} · regime {cands[0].regime} · "
                + " · ".join(f"{n} {s}" for s, n in counts.items() if n)
            )
        else:
            report = self.engine.scan_report()
            self.summary.setText(
                "No candidates: the nightly scan has not run yet."
                if report is None
                else f"Scan of {report.session:%a %Y-%m-%d}: no candidates."
            )
        line, tip = scan_report_html(self.engine.scan_report())
        self.report.setText(line)
        self.report.setToolTip(tip)
        self.report.setVisible(bool(line))
        cur = self.table.current_row()
        self._show(cur, force=False)
        self._enable()

    def _enable(self) -> None:
        """Buttons for what the selection allows (the engine still checks every command)."""
        rows = [c for c in self._targets() if c is not None]
        decidable = [c for c in rows if c.decidable]
        self.approve_btn.setEnabled(bool(decidable))
        self.veto_btn.setEnabled(bool(decidable))
        self.undo_btn.setEnabled(
            any(c.approval in (ApprovalState.APPROVED, ApprovalState.VETOED) for c in decidable)
        )

    def _show(self, c: CandidateView | None, force: bool = True) -> None:
        if c is None:
            self.detail.setHtml("<p>Select a candidate to see why it was picked.</p>")
            self.chart.clear("Select a candidate")
            self.track.show_candidate(None)
            self._shown = None
            return
        same_symbol = self._shown is not None and self._shown.symbol == c.symbol
        if not force and self._shown == c and self._charted == c.symbol:
            return
        self.detail.setHtml(explanation_html(c, self._ranking()))
        self.track.show_candidate(c)
        if not same_symbol or force or self._charted != c.symbol:
            self._chart(c)
        self._shown = c

    def _chart(self, c: CandidateView) -> None:
        """The candidate's daily chart with the thresholds its strategy tested (the
        indicators are computed off the Qt loop; the chart draws when they are ready)."""
        cfg = self._chart_config()
        df = self.engine.daily_bars(c.symbol, CHART_SESSIONS + WARMUP)
        if df.empty:  # an async market fetches them: the view change after it draws again
            self._charted = None
            self.chart.clear(f"{c.symbol}: no daily bars (yet)")
            return
        self._charted = c.symbol
        self.chart.request(
            c.symbol,
            df,
            cfg.indicators,
            CHART_SESSIONS,
            title=(
                f"<b>{html.escape(c.symbol)}</b> daily · #{c.rank} {html.escape(c.strategy)} "
                f"{c.side} · planned SL / TP from the close {c.close:,.2f}"
            ),
            levels=candidate_levels(c),
            thresholds=cfg.thresholds(c.strategy),
        )

    def set_evidence(self, service: Any) -> None:
        """The track records' source (the window gets it once the engines run)."""
        self.track.set_service(service)

    def apply_theme(self) -> None:
        self.chart.style_panes()
        self._shown = None
        self.refresh()
        cur = self.table.current_row()
        if cur is not None:
            self._show(cur)
