"""Each panel driven on its own: what it shows, its filters, its controls."""

from __future__ import annotations

import csv
import math
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from tests.gui.fake_engine import FakeEngine
from workstation.core.events import LogEvent
from workstation.engine.views import Mode, VetoView
from workstation.ui.panels.gaps import GapsPanel
from workstation.ui.panels.journal import JournalPanel
from workstation.ui.panels.log import LogPanel
from workstation.ui.panels.mfe_mae import MfeMaePanel
from workstation.ui.panels.orders import OrdersPanel
from workstation.ui.panels.performance import TOTAL, PerformancePanel, strategy_stats
from workstation.ui.panels.positions import PositionsPanel
from workstation.ui.panels.status import StatusPanel, countdown_text
from workstation.ui.tables import ROW_ROLE

pytestmark = pytest.mark.gui

W = TypeVar("W", bound=QWidget)


def shown(qtbot: QtBot, widget: W) -> W:
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.show()
    return widget


# ------------------------------------------------------------------- status


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "in 0m 00s"), (59, "in 0m 59s"), (3600, "in 1h 00m 00s"), (90061, "in 1d 01h 01m")],
    ids=["zero", "seconds", "hour", "day"],
)
def test_countdown_text(seconds: float, text: str) -> None:
    assert countdown_text(seconds) == text


def test_status_shows_the_state(qtbot, engine: FakeEngine) -> None:
    p = shown(qtbot, StatusPanel(engine))
    assert p.badge.text() == "SIM"
    assert "Gap filter 09:25" in p.next_step.value.text()
    assert "in 13m 00s" in p.next_step.value.text()  # 09:12 -> 09:25
    assert p.regime.value.text() == "RANGING"
    assert "off" in p.kill.value.text()
    assert "market-data" in p.conn.value.text()
    engine.advance(60)
    p.refresh()
    assert "in 12m 00s" in p.next_step.value.text()


def test_status_clock_controls_reach_the_engine(qtbot, engine: FakeEngine) -> None:
    p = shown(qtbot, StatusPanel(engine))
    assert p.speed_buttons[60.0].isChecked()
    qtbot.mouseClick(p.speed_buttons[math.inf], Qt.MouseButton.LeftButton)
    assert engine.calls[-1] == ("set_speed", (math.inf,))
    assert p.speed_label.text() == "max" and p.speed_buttons[math.inf].isChecked()
    qtbot.mouseClick(p.pause_btn, Qt.MouseButton.LeftButton)
    assert engine.calls[-1] == ("pause", ())
    assert p.speed_label.text() == "paused" and p.pause_btn.text() == "Resume"
    qtbot.mouseClick(p.speed_buttons[1.0], Qt.MouseButton.LeftButton)  # a speed also resumes
    assert engine.calls[-2:] == [("set_speed", (1.0,)), ("resume", ())]
    before = engine.now
    qtbot.mouseClick(p.jump_btn, Qt.MouseButton.LeftButton)
    assert engine.calls[-1] == ("jump_to_next", ())
    assert engine.now - before == timedelta(minutes=13)


def test_live_badge_is_unmistakable(qtbot) -> None:
    p = shown(qtbot, StatusPanel(FakeEngine(mode=Mode.LIVE)))
    assert "LIVE" in p.badge.text()
    assert "#c62828" in p.badge.styleSheet()  # red, in both themes
    assert not p.speed_box.isVisibleTo(p)  # no clock controls outside sim


def test_status_paper_mode_has_no_clock_controls(qtbot) -> None:
    p = shown(qtbot, StatusPanel(FakeEngine(mode=Mode.PAPER)))
    assert p.badge.text() == "PAPER"
    assert not p.speed_box.isVisibleTo(p)
    assert "data-stream" in p.conn.value.text()
    assert "degraded" in p.conn.toolTip()


# --------------------------------------------------------------------- gaps


def test_gaps_panel(qtbot, session_engine: FakeEngine) -> None:
    p = shown(qtbot, GapsPanel(session_engine))
    rows = p.table.visible_rows()
    assert len(rows) == 12
    dropped = [g for g in rows if not g.passed]
    assert {g.reason for g in dropped} == {"GAP_TOO_LARGE"}
    assert p.summary.text() == "10 passed · 2 dropped"
    r = next(i for i, g in enumerate(rows) if not g.passed)
    m = p.table.proxy
    col = {m.headerData(i, Qt.Orientation.Horizontal): i for i in range(m.columnCount())}
    assert m.index(r, col["Result"]).data() == "DROP"
    assert m.index(r, col["Gap"]).data() in ("+4.12%", "-3.35%")
    assert m.index(r, col["Source"]).data() == "trade"


def test_gaps_empty_before_the_filter(qtbot, engine: FakeEngine) -> None:
    p = shown(qtbot, GapsPanel(engine))
    assert p.table.visible_rows() == []
    assert "09:25" in p.summary.text()


# ------------------------------------------------------------------- orders


def test_orders_panel_and_filter(qtbot, session_engine: FakeEngine) -> None:
    p = shown(qtbot, OrdersPanel(session_engine))
    all_rows = p.table.visible_rows()
    assert len(all_rows) == len(session_engine.orders())
    p.filter.setCurrentText("Rejected / canceled")
    bad = p.table.visible_rows()
    assert bad and all(o.sent for o in bad)  # an entry never sent is not a rejected order
    rejected = next(o for o in bad if o.status.value == "rejected")
    assert rejected.reject_reason == "insufficient buying power"
    p.filter.setCurrentText("Entries only")
    assert all(o.intent.value == "entry" for o in p.table.visible_rows())
    # The broker's own word beside the engine's state (issue 12.8): a routed stop is "new".
    p.filter.setCurrentText("All orders")
    rows = p.table.visible_rows()
    m = p.table.proxy
    col = {m.headerData(i, Qt.Orientation.Horizontal): i for i in range(m.columnCount())}
    r = next(i for i, o in enumerate(rows) if o.intent.value == "stop")
    assert m.index(r, col["Status"]).data() == "accepted"
    assert m.index(r, col["At broker"]).data() == "new"


def test_an_entry_never_sent_reads_not_sent_with_why_in_words(
    qtbot, session_engine: FakeEngine
) -> None:
    """The trial: orders never sent were listed as "rejected" with qty 0, and the reasons
    as codes (NOT_CONFIRMED)."""
    p = shown(qtbot, OrdersPanel(session_engine))
    p.resize(1600, 600)
    qtbot.mouseClick(p.filter, Qt.MouseButton.LeftButton)
    p.filter.setCurrentText("Not sent (decided against)")
    rows = p.table.visible_rows()
    assert rows and not any(o.sent for o in rows)
    m = p.table.proxy
    col = {m.headerData(i, Qt.Orientation.Horizontal): i for i in range(m.columnCount())}
    unconfirmed = next(i for i, o in enumerate(rows) if o.confirmed is False)
    cell = lambda name: m.index(unconfirmed, col[name])  # noqa: E731
    assert cell("Status").data() == "not sent"
    assert cell("Qty").data() == "" and cell("Filled").data() == ""
    assert cell("Why").data() == "not confirmed at 09:50"
    assert "(NOT_CONFIRMED)" in cell("Why").data(Qt.ItemDataRole.ToolTipRole)
    assert cell("Confirmation").data() == "not confirmed"
    # A click on the row shows the whole reason below the table.
    rect = p.table.visualRect(p.table.proxy.index(unconfirmed, col["Symbol"]))
    qtbot.mouseClick(p.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    text = p.detail.text()
    assert "not confirmed at 09:50" in text and "NOT_CONFIRMED" in text
    assert rows[unconfirmed].reject_reason.split(": ", 1)[1] in text
    assert "entries not sent" in p.summary.text()


def test_gap_reasons_read_as_words(qtbot, session_engine: FakeEngine) -> None:
    p = shown(qtbot, GapsPanel(session_engine))
    m = p.table.proxy
    col = {m.headerData(i, Qt.Orientation.Horizontal): i for i in range(m.columnCount())}
    texts = {m.index(r, col["Reason"]).data() for r in range(m.rowCount())}
    assert texts <= {"gap within the limit", "gap too large"} and "gap too large" in texts
    tip = m.index(0, col["Reason"]).data(Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith(("GAP_WITHIN_LIMIT", "GAP_TOO_LARGE"))
    rect = p.table.visualRect(m.index(3, 0))
    qtbot.mouseClick(p.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert "gap too large" in p.detail.text() and "GAP_TOO_LARGE" in p.detail.text()


# ---------------------------------------------------------------- positions


def test_positions_day_one_badge_and_chart(qtbot, session_engine: FakeEngine) -> None:
    p = shown(qtbot, PositionsPanel(session_engine))
    rows = p.table.visible_rows()
    m = p.table.proxy
    col = {m.headerData(i, Qt.Orientation.Horizontal): i for i in range(m.columnCount())}
    for r, pos in enumerate(rows):
        day = m.index(r, col["Day"]).data()
        assert day == ("1 · SL/TP off" if pos.day_one else str(pos.day))
        assert (
            m.index(r, col["Day"]).data(Qt.ItemDataRole.BackgroundRole) is not None
        ) == pos.day_one
    day1 = next(r for r, pos in enumerate(rows) if pos.day_one)
    p.table.select_row(day1)
    labels = _line_labels(p)
    assert any(t.startswith("SL (off day 1)") for t in labels)
    assert any(t.startswith("Emergency") for t in labels)
    assert any(t.startswith("Entry") for t in labels)
    texts = [i.toPlainText() for i in p.plot.getPlotItem().items if hasattr(i, "toPlainText")]
    assert any(t.startswith("MFE") for t in texts) and any(t.startswith("MAE") for t in texts)
    older = next(r for r, pos in enumerate(rows) if pos.day >= 2)
    p.table.select_row(older)
    labels = _line_labels(p)
    assert any(t.startswith("SL ") and "off" not in t for t in labels)
    assert not any(t.startswith("Emergency") for t in labels)


def _line_labels(p: PositionsPanel) -> list[str]:
    return [
        i.label.toPlainText()
        for i in p.plot.getPlotItem().items
        if type(i).__name__ == "InfiniteLine" and i.label is not None
    ]


def test_positions_chart_follows_live_quotes(qtbot, session_engine: FakeEngine) -> None:
    p = shown(qtbot, PositionsPanel(session_engine))
    p.table.select_row(0)
    sym = p.table.current_row().symbol
    p.on_quotes({sym: 999.5, "OTHER": 1.0})
    _, y = p._line.getData()
    assert y[-1] == 999.5
    p.span.setCurrentText("Daily")
    kinds = {type(i).__name__ for i in p.plot.getPlotItem().items}
    assert "CandlestickItem" in kinds


# ------------------------------------------------------------------ MFE/MAE


def test_mfe_mae_scatter_by_exit_reason_and_strategy(qtbot, engine: FakeEngine) -> None:
    p = shown(qtbot, MfeMaePanel(engine))
    real = [t for t in engine.trades() if not t.vetoed]
    scatters = [i for i in p.plot.getPlotItem().items if type(i).__name__ == "ScatterPlotItem"]
    assert sum(len(s.data) for s in scatters) == len(real)
    assert len(scatters) == len({t.exit_reason for t in real})  # one colour per reason
    assert "take profit" in p.legend.text() and "TAKE_PROFIT" not in p.legend.text()
    p.strategy.setCurrentText("bb_squeeze")
    assert {t.strategy for t in p.shown_trades()} == {"bb_squeeze"}
    assert len(p.shown_trades()) == sum(t.strategy == "bb_squeeze" for t in real)
    p.strategy.setCurrentIndex(0)
    p.vetoed.setChecked(True)
    assert sum(t.vetoed for t in p.shown_trades()) == sum(t.vetoed for t in engine.trades())


# ------------------------------------------------------------------ journal


def test_journal_filters_and_export(qtbot, engine: FakeEngine, tmp_path: Path) -> None:
    p = shown(qtbot, JournalPanel(engine))
    trades = engine.trades()
    unclosed = [v for v in engine.vetoes() if str(v.state) != "closed"]
    assert len(p.table.visible_rows()) == len(trades) + len(unclosed)
    p.kind.setCurrentIndex(2)  # vetoed only
    assert p.table.visible_rows() and all(t.vetoed for t in p.table.visible_rows())
    p.kind.setCurrentIndex(1)
    # the reasons read as words; the filter still matches the code
    assert "STOP_LOSS" not in [p.reason.itemText(i) for i in range(p.reason.count())]
    p.reason.setCurrentText("stop loss")
    rows = p.table.visible_rows()
    assert rows and all(t.exit_reason == "STOP_LOSS" and not t.vetoed for t in rows)
    p.reason.setCurrentIndex(0)
    p.search.setText(trades[0].symbol.lower())
    assert {t.symbol for t in p.table.visible_rows()} == {trades[0].symbol}
    out = tmp_path / "journal.csv"
    p.table.ask_export_path = lambda: str(out)  # type: ignore[method-assign]
    qtbot.mouseClick(p.export_btn, Qt.MouseButton.LeftButton)
    with out.open() as fh:
        data = list(csv.DictReader(fh))
    assert len(data) == len(p.table.visible_rows())
    assert {d["Symbol"] for d in data} == {trades[0].symbol}
    assert float(data[0]["P&L"]) == pytest.approx(p.table.visible_rows()[0].pnl)


def test_journal_lists_every_veto_with_its_paper_outcome_or_why_not(
    qtbot, engine: FakeEngine
) -> None:
    p = shown(qtbot, JournalPanel(engine))
    closed = [t for t in engine.trades() if t.vetoed]
    # "Vetoed only", chosen with the keyboard as a trader would
    p.kind.setFocus()
    qtbot.keyClick(p.kind, Qt.Key.Key_Down)
    qtbot.keyClick(p.kind, Qt.Key.Key_Down)
    assert p.kind.currentIndex() == 2
    rows = p.table.visible_rows()
    assert all(t.vetoed for t in rows)
    by_symbol = {t.symbol: t for t in rows if isinstance(t, VetoView)}
    assert set(by_symbol) == {"NVDA", "TSLA", "AMD"}  # the closed ones are trade rows
    assert len(rows) == len(closed) + 3
    cols = {c.title: c for c in p.table.source.columns}
    texts = {
        t.symbol: (cols["Exit reason"].text(t), cols["Kind"].text(t)) for t in by_symbol.values()
    }
    assert texts["TSLA"] == ("dropped at the gap filter: gap too large", "vetoed (not followed)")
    assert texts["NVDA"] == ("followed on paper from 131.20", "vetoed (on paper)")
    assert texts["AMD"][1] == "vetoed (waiting)"
    # nothing is shown for what a veto without a paper exit has not got (no -0.00, no nan)
    for col in p.table.source.columns:
        assert "nan" not in col.text(by_symbol["TSLA"]).lower()
    would = sum(t.pnl for t in closed)
    assert p.summary.text() == (
        f"0 trades, P&L +0.00 · {len(closed) + 3} vetoed: {len(closed)} closed on paper, "
        f"would have made {would:+,.2f}, 1 still followed on paper, "
        "1 waiting for the entry time, 1 not followed"
    )
    # a reason filter (words, matched on the code) leaves only closed outcomes
    qtbot.keyClick(p.kind, Qt.Key.Key_Up)
    qtbot.keyClick(p.kind, Qt.Key.Key_Up)
    assert "" not in [p.reason.itemData(i) for i in range(1, p.reason.count())]


# -------------------------------------------------------------- performance


def test_performance_per_strategy(qtbot, engine: FakeEngine) -> None:
    p = shown(qtbot, PerformancePanel(engine))
    stats = {s.strategy: s for s in p.table.visible_rows()}
    real = [t for t in engine.trades() if not t.vetoed]
    total = stats[TOTAL]
    assert total.trades == len(real)
    assert total.wins == sum(t.pnl > 0 for t in real)
    assert total.pnl == pytest.approx(sum(t.pnl for t in real))
    assert total.avg_r == pytest.approx(sum(t.r for t in real) / len(real))
    assert sum(s.trades for n, s in stats.items() if n != TOTAL) == len(real)
    curves = [i for i in p.plot.getPlotItem().items if type(i).__name__ == "PlotDataItem"]
    assert len(curves) == 1 and len(curves[0].getData()[0]) == len(engine.equity_curve())
    assert "max drawdown" in p.summary.text()


def test_strategy_stats_empty() -> None:
    assert strategy_stats(()) == []


# ---------------------------------------------------------------------- log


def test_log_filter_by_level_and_text(qtbot, engine: FakeEngine) -> None:
    p = shown(qtbot, LogPanel(engine))
    initial = engine.recent_logs()
    assert p.table.source.rowCount() == len(initial)
    assert all(e.level != "DEBUG" for e in p.table.visible_rows())  # INFO and above by default
    p.level.setCurrentIndex(0)  # DEBUG and above
    assert len(p.table.visible_rows()) == len(initial)
    p.level.setCurrentIndex(3)  # ERROR only
    assert [e.level for e in p.table.visible_rows()] == ["ERROR"]
    engine.log("ERROR", "broker", "order rejected: insufficient buying power")
    p.on_event(engine.recent_logs()[-1])
    assert len(p.table.visible_rows()) == 2
    p.level.setCurrentIndex(0)
    p.search.setText("buying power")
    assert [e.source for e in p.table.visible_rows()] == ["broker"]
    assert p.count.text() == f"1 of {len(initial) + 1}"
    p.clear()
    assert p.table.source.rowCount() == 0


def test_log_keeps_a_bounded_number_of_lines(qtbot, engine: FakeEngine, monkeypatch) -> None:
    import workstation.ui.panels.log as log_mod

    monkeypatch.setattr(log_mod, "MAX_ROWS", 20)
    p = shown(qtbot, LogPanel(engine))
    for i in range(50):
        p.add(LogEvent(engine.now, "INFO", "t", f"line {i}"))
    rows = p.table.source.rows
    assert len(rows) == 20 and rows[-1].message == "line 49"


def test_no_minus_zero_and_exit_reasons_in_words(qtbot, engine: FakeEngine) -> None:
    from dataclasses import replace

    t = engine._trades[0]
    engine._trades = (replace(t, pnl=-0.004, r=-0.001), *engine._trades[1:])
    p = shown(qtbot, JournalPanel(engine))
    m = p.table.proxy
    col = {m.headerData(i, Qt.Orientation.Horizontal): i for i in range(m.columnCount())}
    row = next(r for r in range(m.rowCount()) if m.index(r, 0).data(ROW_ROLE).id == t.id)
    assert m.index(row, col["P&L"]).data() == "+0.00"
    assert m.index(row, col["R"]).data() == "+0.00 R"
    reasons = {m.index(r, col["Exit reason"]).data() for r in range(m.rowCount())}
    assert "stop loss" in reasons and "STOP_LOSS" not in reasons
    assert m.index(row, col["Exit reason"]).data(Qt.ItemDataRole.ToolTipRole) == t.exit_reason
