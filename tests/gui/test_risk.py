"""The risk view (a dock) and why each candidate was not entered, driven with real clicks and
keys: the Risk tab, the kill switch's shortcut and its dialog, a row of the risk table that
selects its symbol everywhere, the candidates' Entry column."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QTabBar

from tests.gui.fake_engine import FakeEngine
from tests.gui.test_position_control import when
from workstation.ui.main_window import MainWindow

pytestmark = pytest.mark.gui


def click_tab(w: MainWindow, title: str) -> None:
    bar = next(
        b
        for b in w.findChildren(QTabBar)
        if b.parent() is w and b.isVisible() and title in [b.tabText(i) for i in range(b.count())]
    )
    i = [bar.tabText(k) for k in range(bar.count())].index(title)
    QTest.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(i).center())


def click_row(table: Any, r: int, col: int = 0) -> None:
    rect = table.visualRect(table.proxy.index(r, col))
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_the_risk_view_shows_the_engines_figures(
    qtbot: Any, make_window: Callable[..., MainWindow], session_engine: FakeEngine
) -> None:
    w = make_window(session_engine)
    qtbot.waitUntil(lambda: w._hide_stale_tab_bars() is None, timeout=1000)
    click_tab(w, "Risk")
    panel = w.panels["risk"]
    qtbot.waitUntil(panel.isVisible, timeout=2000)
    r = session_engine.risk()
    assert panel.values["equity"].text() == f"${r.equity:,.2f}"
    assert panel.values["buying_power"].text() == f"${r.buying_power:,.2f}"
    assert f"${r.gross_exposure:,.2f}" in panel.values["gross"].text()
    heat = panel.heat.text.text()
    assert f"${r.open_risk:,.2f}" in heat and f"{r.open_risk_r:.2f} R" in heat
    cap = panel.cap.text.text()
    assert f"= <b>{r.open_positions}</b> of <b>{r.position_cap}</b>" in cap
    assert "the RANGING regime's cap" in cap and panel.cap.used >= 1.0  # at the cap: red
    assert f"${r.loss_room:,.2f}</b> to go" in panel.kill.text.text()
    assert [s.sector for s in panel.sectors.visible_rows()] == [s.sector for s in r.sectors]
    rows = panel.table.visible_rows()
    assert [x.symbol for x in rows] == [x.symbol for x in r.positions]
    assert rows[0].risk >= rows[-1].risk  # largest risk first


def test_the_kill_switch_shows_in_the_risk_view(
    qtbot: Any, make_window: Callable[..., MainWindow], session_engine: FakeEngine
) -> None:
    w = make_window(session_engine)
    click_tab(w, "Risk")
    seen: list[Any] = []

    def engage(d: Any) -> None:
        QTest.mouseClick(d.ok_button, Qt.MouseButton.LeftButton)

    table = w.panels["risk"].table
    w.activateWindow()
    table.setFocus()
    qtbot.waitUntil(table.hasFocus, timeout=2000)
    when("modal", engage, seen)
    QTest.keyClick(
        table,
        Qt.Key.Key_K,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    qtbot.waitUntil(lambda: bool(seen) and not seen[0].isVisible(), timeout=3000)
    assert ("engage_kill_switch", ()) in session_engine.calls
    qtbot.waitUntil(lambda: "ENGAGED" in w.panels["risk"].kill.text.text(), timeout=2000)
    assert "no new entries this session" in w.panels["risk"].kill.text.text()


def test_a_row_of_the_risk_table_selects_its_symbol_everywhere(
    qtbot: Any, make_window: Callable[..., MainWindow], session_engine: FakeEngine
) -> None:
    w = make_window(session_engine)
    click_tab(w, "Risk")
    table = w.panels["risk"].table
    qtbot.waitUntil(table.isVisible, timeout=2000)
    rows = table.visible_rows()
    r = next(i for i, x in enumerate(rows) if x.symbol != w.selection.symbol)
    click_row(table, r)
    sym = rows[r].symbol
    assert w.selection.symbol == sym and w.selection.source == "risk"
    assert w.panels["positions"].table.current_row().symbol == sym


def test_the_candidates_say_why_each_was_not_entered(
    qtbot: Any, make_window: Callable[..., MainWindow], session_engine: FakeEngine
) -> None:
    w = make_window(session_engine)
    cand = w.panels["candidates"]
    table = cand.table
    rows = table.visible_rows()
    col = [c.title for c in table.source.columns].index("Entry")
    by_symbol = {c.symbol: i for i, c in enumerate(rows)}
    capped = next(c for c in rows if c.outcome == "MAX_POSITIONS")
    r = by_symbol[capped.symbol]
    table.scrollTo(table.proxy.index(r, col))
    click_row(table, r, col)
    assert table.current_row().symbol == capped.symbol
    cell = table.proxy.index(r, col)
    assert cell.data() == "not entered: position limit reached"
    assert "reaches the regime's maximum" in cell.data(Qt.ItemDataRole.ToolTipRole)
    text = cand.detail.toPlainText()
    assert "At its entry: not entered: position limit reached" in text
    words = {c.outcome: table.proxy.index(i, col).data() for i, c in enumerate(rows)}
    assert words["GAP_TOO_LARGE"].startswith("dropped at 09:25: gap too large")
    assert words["VETOED"] == "vetoed: followed on paper"
    assert words["NOT_CONFIRMED"].startswith("not entered: not confirmed at 09:50")
    assert words["ENTERED"].startswith("entered: ")
    assert all("_" not in t for t in words.values())  # words, never a code


@pytest.mark.parametrize("width", [520, 613, 920])
def test_no_figure_is_cut_at_any_dock_width(
    qtbot: Any, session_engine: FakeEngine, width: int
) -> None:
    """The account's figures re-flow (four columns when wide, fewer when narrow): every figure
    has the width it needs and the figures never scroll sideways."""
    from workstation.ui.panels.risk import RiskPanel

    panel = RiskPanel(session_engine)
    qtbot.addWidget(panel)
    panel.resize(width, 487)
    panel.show()
    qtbot.waitExposed(panel)
    qtbot.wait(50)
    for key, label in panel.values.items():
        assert label.width() >= label.sizeHint().width(), (key, label.text())
    assert not panel.upper.horizontalScrollBar().isVisible()
    assert panel._columns == (4 if width >= 760 else 3)


def test_the_gauges_keep_their_colours_through_a_theme_switch(
    qtbot: Any, make_window: Callable[..., MainWindow], session_engine: FakeEngine
) -> None:
    """Green under 80% of a limit, red at it, in the theme in use (not the style's blue):
    the pixels drawn at the start of each bar, after the tab is shown and after each switch."""
    from workstation.ui import theme

    w = make_window(session_engine)
    click_tab(w, "Risk")
    panel = w.panels["risk"]
    qtbot.waitUntil(panel.isVisible, timeout=2000)

    def drawn(g: Any) -> str:
        img = g.bar.grab().toImage()
        return str(img.pixelColor(3, img.height() // 2).name())

    for name in (theme.current().name, "light" if theme.current().name == "dark" else "dark"):
        if name != theme.current().name:
            w.theme_actions[name].trigger()
        qtbot.wait(20)
        assert panel.cap.used >= 1.0 and drawn(panel.cap) == theme.hex_color("neg"), name
        assert panel.heat.used < 0.8 and drawn(panel.heat) == theme.hex_color("pos"), name
