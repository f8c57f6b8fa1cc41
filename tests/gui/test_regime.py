"""The regime panel (issue 13 item 8), driven with real keys and the real mouse: today's
regime with its inputs, the strategies each regime prefers, allows or turns off, and the
regime of every session as a strip over the benchmark's chart."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from tests.gui.conftest import shown
from tests.gui.fake_engine import FakeEngine
from workstation.core.models import Regime
from workstation.ui import theme
from workstation.ui.chart_data import ChartConfig
from workstation.ui.main_window import MainWindow
from workstation.ui.panels.regime import RegimePanel

pytestmark = pytest.mark.gui


def regime_panel(qtbot: Any, engine: FakeEngine, size: tuple[int, int] = (900, 760)) -> Any:
    panel = RegimePanel(engine, chart_config=lambda: ChartConfig.of(engine.config))
    return shown(qtbot, panel, size)


def wait_strip(qtbot: Any, p: RegimePanel, n: int) -> None:
    qtbot.waitUntil(
        lambda: (
            p.chart is not None  # made in the turn after the panel shows
            and p.chart.data is not None
            and len(p.chart.data) == n
            and len(p.chart._strip_colors or []) == n
        ),
        timeout=5000,
    )


def test_today_its_inputs_and_the_strategies_it_lets_fire(qtbot: Any, engine: FakeEngine) -> None:
    p = regime_panel(qtbot, engine)
    v = engine.regime()
    assert v.regime == "RANGING"
    head = p.head.text()
    assert "RANGING" in head and "scan of Tue 2025-03-11" in head and "at most 6 open" in head
    caps = [cap.text() for cap, _, _ in p.inputs]
    values = [val.text() for _, val, _ in p.inputs]
    rules = [rule.text() for _, _, rule in p.inputs]
    assert caps[0] == "SPY volatility (20 sessions, annualized)"
    assert values[0] == f"{v.values['vol']:.1%}" and rules[0] == "not above 25%: not HIGH_VOL"
    assert values[1] == f"{v.values['adx14']:.1f}" and rules[1].startswith("at or above 20")
    assert rules[2] == "not stacked"  # why a trending ADX still gives RANGING
    wait_strip(qtbot, p, 252)
    assert "closes not stacked: RANGING" in p.day.text()  # the last session: the scan's
    col = {c.title: i for i, c in enumerate(p.fits.source.columns)}
    rows = {r.fit.strategy: i for i, r in enumerate(p.fits.visible_rows())}
    cell = lambda s, c: p.fits.proxy.index(rows[s], col[c]).data()  # noqa: E731
    assert cell("rsi_reversion", "Today") == "preferred"
    assert cell("bb_squeeze", "Today") == "allowed"
    assert cell("regime_momentum", "Today") == "off"
    assert cell("regime_momentum", "TREND") == "preferred"
    assert cell("overbought_short", "HIGH_VOL") == "allowed"
    shaded = p.fits.proxy.index(0, col["RANGING"]).data(Qt.ItemDataRole.BackgroundRole)
    assert (
        shaded is not None
        and p.fits.proxy.index(0, col["TREND"]).data(Qt.ItemDataRole.BackgroundRole) is None
    )
    assert "TREND 8 · RANGING 6 · HIGH_VOL 4" in p.caps.text()


def test_the_strip_is_each_sessions_regime_and_the_mouse_reads_it(
    qtbot: Any, engine: FakeEngine
) -> None:
    p = regime_panel(qtbot, engine)
    wait_strip(qtbot, p, 252)
    # A longer span with the keyboard: the sell-off and the calm uptrend before it show.
    p.span.setFocus()
    qtbot.waitUntil(p.span.hasFocus, timeout=2000)
    QTest.keyClick(p.span, Qt.Key.Key_Down)
    QTest.keyClick(p.span, Qt.Key.Key_Down)
    assert p.span.currentText() == "2Y"
    n = len(engine.daily_bars("SPY", 10_000))  # all of it: fewer than 2Y + the warm-up
    qtbot.waitUntil(
        lambda: p.chart is not None and p.chart.data is not None and len(p.chart.data) > 252,
        timeout=5000,
    )
    d = p.chart.data
    assert d is not None and len(d) == min(n, 504)
    colors = p.chart._strip_colors or []
    assert len(colors) == len(d) == len(d.regimes)
    for r, c in zip(d.regimes, colors, strict=True):
        assert c == (theme.series_color(str(r.regime)) if r else theme.hex_color("border"))
    assert {r.regime for r in d.regimes if r} == set(Regime)
    assert str(d.regimes[-1].regime) == engine.regime().regime  # the strip ends in today's
    for r in Regime:
        assert f"{r} {sum(1 for x in d.regimes if x and x.regime is r)}" in p.legend.text()
    # The real mouse on a HIGH_VOL session: the line above the chart says so, and why.
    i = next(k for k, r in enumerate(d.regimes) if r and r.regime is Regime.HIGH_VOL)
    chart = p.chart
    scene = chart.price.vb.mapViewToScene(QPointF(i, float(d.close[i])))
    at = chart.view.viewport().mapTo(p.window(), chart.view.mapFromScene(scene))
    QTest.mouseMove(p.window().windowHandle(), at)
    qtbot.waitUntil(lambda: chart.hovered == i, timeout=3000)
    text = p.day.text()
    assert f"{d.times[i]:%a %Y-%m-%d}" in text and "HIGH_VOL" in text and "&gt; 0.25" in text


def test_the_regime_tab_of_the_window(
    qtbot: Any, make_window: Callable[..., MainWindow], session_engine: FakeEngine
) -> None:
    from tests.gui.test_risk import click_tab

    w = make_window(session_engine)
    click_tab(w, "Regime")
    p = w.panels["regime"]
    qtbot.waitUntil(p.isVisible, timeout=2000)
    assert "RANGING" in p.head.text()
    wait_strip(qtbot, p, 252)
    # It never makes the window taller than its tab group needs (a laptop's screen).
    lowest = w.docks["regime"].minimumSizeHint().height()
    assert lowest <= w.docks["candidates"].minimumSizeHint().height()
