"""The nightly top 12 driven like a user: select, note, approve / veto by button and key."""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import Qt

from tests.gui.fake_engine import FakeEngine
from workstation.core.models import ApprovalState
from workstation.ui import theme
from workstation.ui.chart_data import ChartConfig
from workstation.ui.panels.candidates import CandidatesPanel

pytestmark = pytest.mark.gui


@pytest.fixture
def panel(qtbot, engine: FakeEngine) -> CandidatesPanel:
    p = CandidatesPanel(engine, chart_config=lambda: ChartConfig.of(engine.config))
    qtbot.addWidget(p)
    p.resize(1000, 800)
    p.show()
    qtbot.waitExposed(p)
    p.activateWindow()
    return p


def test_lists_the_twelve_by_rank(panel: CandidatesPanel, engine: FakeEngine) -> None:
    rows = panel.table.visible_rows()
    assert [c.rank for c in rows] == list(range(1, 13))
    assert [c.symbol for c in rows] == [c.symbol for c in engine.candidates()]
    m = panel.table.proxy
    titles = [m.headerData(i, Qt.Orientation.Horizontal) for i in range(m.columnCount())]
    assert titles[:9] == [
        "#",
        "Symbol",
        "Sector",
        "Strategy",
        "Side",
        "Group",
        "Score",
        "Approval",
        "Decide by",
    ]
    assert m.index(0, 7).data() == "pending"
    assert "12 pending" in panel.summary.text()


def test_approve_button_sends_the_note(qtbot, panel: CandidatesPanel, engine: FakeEngine) -> None:
    panel.table.select_row(2)
    target = panel.table.current_row()
    qtbot.keyClicks(panel.note, "strong setup")
    qtbot.mouseClick(panel.approve_btn, Qt.MouseButton.LeftButton)
    assert engine.calls[-1] == ("approve", (target.id, "strong setup"))
    assert panel.note.text() == ""
    shown = {c.id: c for c in panel.table.visible_rows()}
    assert shown[target.id].approval is ApprovalState.APPROVED
    assert shown[target.id].note == "strong setup"
    # The selection moves on to the next pending candidate.
    assert panel.table.current_row().rank == target.rank + 1


def test_veto_button(qtbot, panel: CandidatesPanel, engine: FakeEngine) -> None:
    panel.table.select_row(0)
    first = panel.table.current_row()
    qtbot.mouseClick(panel.veto_btn, Qt.MouseButton.LeftButton)
    assert engine.calls[-1] == ("veto", (first.id, ""))
    assert engine.candidates()[0].approval is ApprovalState.VETOED


def _focus(qtbot, widget) -> None:
    widget.setFocus()
    qtbot.waitUntil(widget.hasFocus, timeout=1000)


CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


def test_decision_keys_are_chords(qtbot, panel: CandidatesPanel, engine: FakeEngine) -> None:
    panel.table.select_row(4)
    fifth = panel.table.current_row()
    _focus(qtbot, panel.table)
    qtbot.keyClick(panel.table, Qt.Key.Key_A, CTRL_SHIFT)
    assert engine.calls[-1] == ("approve", (fifth.id, ""))
    sixth = panel.table.current_row()
    assert sixth.rank == 6
    qtbot.keyClick(panel.table, Qt.Key.Key_V, CTRL_SHIFT)
    assert engine.calls[-1] == ("veto", (sixth.id, ""))
    states = {c.rank: c.approval for c in engine.candidates()}
    assert states[5] is ApprovalState.APPROVED and states[6] is ApprovalState.VETOED


def test_typing_in_the_table_goes_to_the_note(
    qtbot, panel: CandidatesPanel, engine: FakeEngine
) -> None:
    """The trial's accident: the table had the focus and "a" approved. Now letters typed
    there land in the note field, and nothing is approved, vetoed or re-selected."""
    panel.table.select_row(0)
    sel = panel.table.selectionModel()
    for r in (1, 2):  # three selected, as in the trial
        sel.select(panel.table.proxy.index(r, 0), sel.SelectionFlag.Select | sel.SelectionFlag.Rows)
    _focus(qtbot, panel.table)
    qtbot.keyClicks(panel.table, "a")
    assert panel.note.hasFocus()
    qtbot.keyClicks(panel.note, "void a v-shaped day")
    qtbot.keyClick(panel.note, Qt.Key.Key_V)
    qtbot.keyClick(panel.note, Qt.Key.Key_A)
    assert engine.calls == []
    assert panel.note.text() == "avoid a v-shaped dayva"
    assert panel.table.current_row().rank == 1
    assert len(panel.table.selected_rows()) == 3
    assert {c.approval for c in engine.candidates()} == {ApprovalState.PENDING}


def test_typing_a_note_never_approves(qtbot, panel: CandidatesPanel, engine: FakeEngine) -> None:
    panel.table.select_row(0)
    _focus(qtbot, panel.note)
    qtbot.keyClicks(panel.note, "avoid a v-shaped day")
    for key in (Qt.Key.Key_A, Qt.Key.Key_V, Qt.Key.Key_P, Qt.Key.Key_Return, Qt.Key.Key_Space):
        qtbot.keyClick(panel.note, key)
    assert engine.calls == []
    # ... and the chord with a note typed approves with that note.
    qtbot.keyClick(panel.note, Qt.Key.Key_A, CTRL_SHIFT)
    assert engine.calls[-1][0] == "approve"
    assert engine.calls[-1][1][1] == "avoid a v-shaped dayavp"  # stripped of the space


def test_undo_returns_to_pending(qtbot, panel: CandidatesPanel, engine: FakeEngine) -> None:
    messages: list[tuple[str, str]] = []
    panel.message.connect(lambda text, level: messages.append((text, level)))
    panel.table.select_row(2)
    target = panel.table.current_row()
    assert not panel.undo_btn.isEnabled()  # nothing decided yet
    qtbot.keyClicks(panel.note, "strong")
    qtbot.mouseClick(panel.approve_btn, Qt.MouseButton.LeftButton)
    assert f"Approved {target.symbol}" in messages[-1][0]
    assert f"Ctrl+Shift+P undoes it until {target.decide_by:%H:%M} ET" in messages[-1][0]
    # back on the approved row: the undo key returns it to pending
    row = [c.id for c in panel.table.visible_rows()].index(target.id)
    panel.table.select_row(row)
    assert panel.undo_btn.isEnabled()
    _focus(qtbot, panel.table)
    qtbot.keyClick(panel.table, Qt.Key.Key_P, CTRL_SHIFT)
    assert engine.calls[-1] == ("undo_decision", (target.id,))
    shown = {c.id: c for c in panel.table.visible_rows()}
    assert shown[target.id].approval is ApprovalState.PENDING
    assert "back to pending" in messages[-1][0]
    assert panel.table.current_row().id == target.id  # the selection stays on it
    text = panel.detail.toPlainText()
    assert "Decisions" in text and "approved" in text and "back to pending" in text
    # the button does the same for a veto
    qtbot.mouseClick(panel.veto_btn, Qt.MouseButton.LeftButton)
    panel.table.select_row(row)
    qtbot.mouseClick(panel.undo_btn, Qt.MouseButton.LeftButton)
    assert [c[0] for c in engine.calls] == ["approve", "undo_decision", "veto", "undo_decision"]
    assert engine.candidates()[2].approval is ApprovalState.PENDING


def test_multi_select_approves_each(qtbot, panel: CandidatesPanel, engine: FakeEngine) -> None:
    panel.table.select_row(0)
    sel = panel.table.selectionModel()
    sel.select(panel.table.proxy.index(1, 0), sel.SelectionFlag.Select | sel.SelectionFlag.Rows)
    panel.approve_selected()
    assert [c[0] for c in engine.calls] == ["approve", "approve"]
    assert {c[1][0] for c in engine.calls} == {101, 102}


def test_refusal_is_shown_not_raised(qtbot, panel: CandidatesPanel, engine: FakeEngine) -> None:
    messages: list[tuple[str, str]] = []
    panel.message.connect(lambda text, level: messages.append((text, level)))
    engine.refuse_next = "entry time passed"
    panel.table.select_row(0)
    panel.veto_selected()
    assert messages and messages[-1][1] == "error"
    assert "entry time passed" in messages[-1][0]
    assert engine.candidates()[0].approval is ApprovalState.PENDING


def test_detail_explains_the_pick(panel: CandidatesPanel, engine: FakeEngine) -> None:
    panel.table.select_row(0)
    c = engine.candidates()[0]
    text = panel.detail.toPlainText()
    assert c.symbol in text and c.strategy in text
    for chk in c.explanation["checks"]:
        assert chk["label"] in text
    assert text.count("PASS") == len(c.explanation["checks"])
    assert "FAIL" not in text  # a fired rule passed every check
    for part in ("strength", "liquidity", "reward/risk", "regime fit"):
        assert part in text
    assert f"{c.score:.1f}" in text


def test_detail_lists_who_was_passed_over(panel: CandidatesPanel, engine: FakeEngine) -> None:
    blocked = next(c for c in engine.candidates() if c.passed_over)
    row = [c.id for c in panel.table.visible_rows()].index(blocked.id)
    panel.table.select_row(row)
    text = panel.detail.toPlainText()
    assert "Passed over" in text
    for p in blocked.passed_over:
        assert p.symbol in text


def test_the_chart_shows_indicators_and_the_strategys_own_thresholds(
    qtbot, panel: CandidatesPanel
) -> None:
    """The trial saw BB(20, 2) only: now SMA50/SMA200/EMA20, volume, RSI and ADX panes with
    the thresholds of the candidate's strategy, read from the configuration."""
    rows = panel.table.visible_rows()
    r = next(i for i, c in enumerate(rows) if c.strategy == "adx_pullback")
    panel.table.select_row(r)
    c = panel.table.current_row()
    chart = panel.chart
    qtbot.waitUntil(lambda: chart.data is not None and chart.data.symbol == c.symbol, timeout=5000)
    assert c.symbol in chart.title.text() and "adx_pullback" in chart.title.text()
    kinds = {type(i).__name__ for i in chart.price.items}
    assert "CandlestickItem" in kinds
    drawn = {k for k, curve in chart.curves.items() if curve.xData is not None and len(curve.xData)}
    assert {"sma50", "sma200", "ema20", "bb_up", "bb_low", "rsi14", "adx14"} <= drawn
    assert len(chart.volume_bars.opts["height"]) == len(chart.data)
    # adx_pullback tests 40 <= RSI <= 55 and ADX >= 25: exactly those lines, nothing else.
    assert [t.value for t in chart.thresholds["rsi"]] == [40.0, 55.0]
    assert [t.value for t in chart.thresholds["adx"]] == [25.0]
    assert "adx_pullback >= 25" in chart.title.text()  # compact: the legend joins the title
    labels = {line.label.format for line in chart._lines["price"] if line.isVisible()}
    assert any(t.startswith("planned SL") for t in labels)
    assert any(t.startswith("planned TP") for t in labels)


def test_not_decidable_disables_buttons(qtbot, session_engine: FakeEngine) -> None:
    p = CandidatesPanel(session_engine)
    qtbot.addWidget(p)
    p.table.select_row(0)
    assert not p.approve_btn.isEnabled() and not p.veto_btn.isEnabled()
    assert not p.undo_btn.isEnabled()
    approvals = {c.approval for c in p.table.visible_rows()}
    assert ApprovalState.VETOED in approvals and ApprovalState.APPROVED in approvals


def test_failed_check_is_shown_as_fail(engine: FakeEngine) -> None:
    from dataclasses import replace

    from workstation.core.config import RankingConfig
    from workstation.ui.panels.candidates import explanation_html

    c = engine.candidates()[0]
    ex = dict(c.explanation)
    ex["checks"] = [
        {**ex["checks"][0], "value": 0.31, "passed": False},
        *ex["checks"][1:],
    ]
    ex["fired"] = False
    html_text = explanation_html(replace(c, explanation=ex), RankingConfig())
    assert "FAIL" in html_text and "did not fire" in html_text
    assert "0.31" in html_text


def test_the_scan_report_names_its_data_problems(
    qtbot, panel: CandidatesPanel, engine: FakeEngine
) -> None:
    """§14: the app shows what the scan met, by kind and symbol, not only "stale"."""
    text = panel.report.text()
    assert panel.report.isVisible()
    assert "502 loaded · 471 eligible · 1 stale · 0 failed" in text
    assert "1 spike (not served): MRNA 2025-02-26" in text
    assert "2 repaired bars (high/low widened): AAPL 2024-09-17; AMD 2024-09-10" in text
    assert theme.hex_color("warn") in text  # a bar was not served: the warning colour
    tip = panel.report.toolTip()
    assert "Ineligible: spike 1, too_few_bars 2, dollar_volume_below_min 27" in tip
    assert "Stale: BRK.B" in tip
    # Hovering shows it (a real mouse move over the label).
    qtbot.mouseMove(panel.report)

    engine._scan_report = dataclasses.replace(engine._scan_report, data_problems={}, ineligible={})
    panel.refresh()
    assert "data problems" not in panel.report.text()
    engine._scan_report = dataclasses.replace(engine._scan_report, status="failed", error="boom")
    panel.refresh()
    assert "Scan failed: boom" in panel.report.text()
    engine._scan_report = None
    panel.refresh()
    assert not panel.report.isVisible()


def test_dollar_volumes_read_in_dollars(panel: CandidatesPanel, engine: FakeEngine) -> None:
    panel.table.select_row(0)
    c = engine.candidates()[0]
    text = panel.detail.toPlainText()
    assert "dv20 $" in text
    assert f"{c.indicators['dv20']:,.0f}" not in text  # not a bare 10-digit number
