"""Charts a trader can read (issue 13 item 6): the scanner's indicator values computed off the Qt
loop, the strategies' thresholds from the configuration, a crosshair readout driven by the real
mouse, any symbol from the symbol box, one selected symbol shared by the panels, and labels
that never overlap or leave the plot."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from tests.gui.conftest import shown
from tests.gui.fake_engine import FakeEngine
from workstation.core.bars import DailyBars
from workstation.core.config import IndicatorConfig
from workstation.signals.indicators import IndicatorParams, compute_indicators
from workstation.ui import chart_data as chart_data_module
from workstation.ui.chart_data import ChartConfig, chart_data, thresholds
from workstation.ui.main_window import MainWindow
from workstation.ui.panels.chart import ChartPanel
from workstation.ui.price_chart import PriceChart, place_labels

pytestmark = pytest.mark.gui


# ----------------------------------------------------------------------- the data
def test_the_chart_values_are_the_scanners(engine: FakeEngine) -> None:
    """Three symbols computed together (as the scan does) give each symbol exactly the series
    its chart shows: the chart calls the same compute_indicators."""
    symbols = ("NVDA", "KO", "XOM")
    frames = {s: engine.daily_bars(s, 320) for s in symbols}
    dates = frames["NVDA"].index.tz_localize(None).to_numpy().astype("datetime64[D]")
    stack = {
        f: np.column_stack([frames[s][f].to_numpy(float) for s in symbols])
        for f in ("open", "high", "low", "close", "volume")
    }
    universe = compute_indicators(DailyBars(dates=dates, symbols=symbols, **stack))
    for s in symbols:
        d = chart_data(s, frames[s], IndicatorConfig(), 120)
        assert len(d) == 120 and d.times[-1] == frames[s].index[-1].to_pydatetime()
        for name in ("sma50", "sma200", "ema20", "rsi14", "adx14", "pdi", "mdi", "bb_up"):
            expected = universe.series(name, s).to_numpy()[-120:]
            np.testing.assert_allclose(d.lines[name], expected, rtol=1e-12, equal_nan=True)
        np.testing.assert_array_equal(d.close, frames[s]["close"].to_numpy()[-120:])


def test_the_windows_are_the_configurations(engine: FakeEngine) -> None:
    df = engine.daily_bars("NVDA", 320)
    fast = dataclasses.replace(IndicatorConfig(), sma_fast=20, rsi_window=7)
    d = chart_data("NVDA", df, fast, 100)
    close = df["close"].to_numpy(float)
    assert d.lines["sma50"][-1] == pytest.approx(close[-20:].mean(), rel=1e-12)
    assert d.windows["sma_fast"] == 20 and d.windows["rsi_window"] == 7
    # IndicatorConfig and IndicatorParams share every field name (the chart maps one onto
    # the other by name).
    names = {f.name for f in dataclasses.fields(IndicatorConfig)}
    assert names == {f.name for f in dataclasses.fields(IndicatorParams)}


def test_thresholds_come_from_the_configuration(engine: FakeEngine) -> None:
    cfg = engine.config
    every = thresholds(cfg.strategies, cfg.scanner.regime)
    assert [t.value for t in every["rsi"]] == [30.0, 40.0, 55.0, 75.0]
    assert [t.value for t in every["adx"]] == [20.0, 25.0]
    assert every["adx"][0].label == "regime_momentum >= 20 · TREND regime >= 20"
    moved = dict(cfg.strategies)
    moved["rsi_reversion"] = dataclasses.replace(moved["rsi_reversion"], rsi_below=27.5)
    moved["overbought_short"] = dataclasses.replace(moved["overbought_short"], enabled=False)
    got = thresholds(moved, cfg.scanner.regime)
    assert [t.value for t in got["rsi"]] == [27.5, 40.0, 55.0]
    assert got["rsi"][0].label == "rsi_reversion < 27.5"
    assert thresholds(cfg.strategies, cfg.scanner.regime, only="bb_squeeze") == {
        "rsi": (),
        "adx": (),
    }


@pytest.mark.parametrize(
    ("items", "width", "height", "columns"),
    [
        # far apart: all on the left
        ([(20, 60, 20), (60, 60, 20), (100, 60, 20)], 400, 200, [0, 0, 0]),
        # close: left, then right, then the middle
        ([(50, 60, 20), (55, 60, 20), (60, 60, 20)], 400, 200, [0, 1, 2]),
        # exactly a label apart (20 px + 2 px gaps each side): no touch, the same column
        ([(50, 60, 20), (74, 60, 20)], 400, 200, [0, 0]),
        ([(50, 60, 20), (73.9, 60, 20)], 400, 200, [0, 1]),
        # a narrow pane: left and right labels would touch, so the second goes elsewhere
        ([(50, 90, 20), (55, 90, 20)], 150, 200, [0, None]),
        # a fourth close label fits nowhere: hidden, never drawn over another
        ([(50, 60, 20), (52, 60, 20), (54, 60, 20), (56, 60, 20)], 400, 200, [0, 1, 2, None]),
        # at the edge (half a label out) or wider than the pane: hidden
        ([(8, 60, 20), (100, 500, 20)], 400, 200, [None, None]),
        ([], 400, 200, []),
    ],
)
def test_labels_are_placed_where_they_touch_nothing(items, width, height, columns) -> None:
    assert place_labels(items, width, height) == columns


# ----------------------------------------------------------------------- the widget
def chart_panel(qtbot: Any, engine: FakeEngine, size: tuple[int, int] = (1000, 760)) -> Any:
    panel = ChartPanel(engine, chart_config=lambda: ChartConfig.of(engine.config))
    return shown(qtbot, panel, size)


def wait_drawn(qtbot: Any, chart: PriceChart, symbol: str) -> None:
    qtbot.waitUntil(lambda: chart.data is not None and chart.data.symbol == symbol, timeout=5000)


def test_indicators_are_computed_off_the_qt_loop(
    qtbot: Any, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[int] = []
    real = chart_data_module.chart_data

    def recording(*args: Any) -> Any:
        threads.append(threading.get_ident())
        return real(*args)

    monkeypatch.setattr(chart_data_module, "chart_data", recording)
    p = chart_panel(qtbot, engine)
    qtbot.keyClicks(p.box, "KO")
    QTest.keyClick(p.box, Qt.Key.Key_Return)
    wait_drawn(qtbot, p.chart, "KO")
    assert threads and threading.main_thread().ident not in threads


def test_any_symbol_from_the_box_and_unknown_ones_refused(qtbot: Any, engine: FakeEngine) -> None:
    p = chart_panel(qtbot, engine)
    messages: list[str] = []
    p.message.connect(lambda text, _level: messages.append(text))
    qtbot.keyClicks(p.box, "spy")
    QTest.keyClick(p.box, Qt.Key.Key_Return)
    wait_drawn(qtbot, p.chart, "SPY")
    assert "<b>SPY</b>" in p.chart.title.text() and p.selection.symbol == "SPY"
    # Without a strategy in context, every enabled strategy's thresholds are drawn.
    assert [t.value for t in p.chart.thresholds["rsi"]] == [30.0, 40.0, 55.0, 75.0]
    p.box.clear()
    qtbot.keyClicks(p.box, "ZZZZ")
    QTest.mouseClick(p.go, Qt.MouseButton.LeftButton)
    assert messages == ["ZZZZ is not in the universe; no chart"]
    assert p.chart.data is not None and p.chart.data.symbol == "SPY"


def test_the_crosshair_follows_the_real_mouse(qtbot: Any, engine: FakeEngine) -> None:
    p = chart_panel(qtbot, engine)
    p.selection.select("NVDA", "test")
    chart = p.chart
    wait_drawn(qtbot, chart, "NVDA")
    d = chart.data
    assert d is not None
    assert chart.hovered == len(d) - 1  # before any move: the last bar
    i = 40
    scene = chart.price.vb.mapViewToScene(QPointF(i, float(d.close[i])))
    view_pt = chart.view.mapFromScene(scene)
    win = chart.window()
    at = chart.view.viewport().mapTo(win, view_pt)
    QTest.mouseMove(win.windowHandle(), at)
    qtbot.waitUntil(lambda: chart.hovered == i, timeout=3000)
    text = chart.readout.text()
    assert f"{d.times[i]:%Y-%m-%d}" in text
    assert f"C <b>{d.close[i]:,.2f}</b>" in text and "SMA50" in text and "RSI14" in text
    assert chart._cross["rsi"].value() == i and chart._cross["rsi"].isVisible()
    assert chart._hline.isVisible()


def visible_labels(chart: PriceChart, pane: str) -> list[Any]:
    return [
        line.label for line in chart._lines[pane] if line.isVisible() and line.label.isVisible()
    ]


@pytest.mark.parametrize("size", [(640, 480), (1000, 760), (1600, 1000)])
def test_labels_never_overlap_or_leave_the_plot(
    qtbot: Any, engine: FakeEngine, size: tuple[int, int]
) -> None:
    """Every level and threshold label of a busy chart (a day-1 position: entry, SL, TP and
    the emergency level; every strategy's thresholds) sits inside its pane, none on another."""
    p = chart_panel(qtbot, engine, size)
    pos = next(x for x in engine.positions() if x.symbol == "HD")
    p.selection.select(pos.symbol, "test")
    wait_drawn(qtbot, p.chart, pos.symbol)
    qtbot.wait(50)
    chart = p.chart
    for pane in ("price", "rsi", "adx"):
        labels = visible_labels(chart, pane)
        box = chart.panes[pane].vb.sceneBoundingRect()
        rects = [lbl.sceneBoundingRect() for lbl in labels]
        for r in rects:
            assert box.contains(r), (pane, r, box)
        for a in range(len(rects)):
            for b in range(a + 1, len(rects)):
                assert not rects[a].intersects(rects[b]), (pane, rects[a], rects[b])
    assert len(visible_labels(chart, "price")) == 3  # entry, SL, TP (day 4)


def test_one_selected_symbol_shared_by_the_panels(
    qtbot: Any, make_window: Callable[..., MainWindow], session_engine: FakeEngine
) -> None:
    w = make_window(session_engine)
    chart = w.panels["chart"].chart
    cands = w.panels["candidates"].table
    positions = w.panels["positions"].table
    journal = w.panels["journal"].table
    orders = w.panels["orders"].table
    held = {p.symbol for p in session_engine.positions()}
    sym = next(c.symbol for c in cands.visible_rows() if c.symbol in held)
    r = [c.symbol for c in cands.visible_rows()].index(sym)
    rect = cands.visualRect(cands.proxy.index(r, 1))
    QTest.mouseClick(
        cands.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center()
    )
    assert w.selection.symbol == sym and w.selection.source == "candidates"
    assert positions.current_row().symbol == sym
    assert orders.current_row().symbol == sym
    wait_drawn(qtbot, chart, sym)
    assert f"<b>{sym}</b>" in chart.title.text() and "held" in chart.title.text()
    # A journal row of another symbol: the chart's title follows; tables without it keep theirs.
    t = next(x for x in journal.visible_rows() if x.symbol not in held)
    jr = journal.visible_rows().index(t)
    rect = journal.visualRect(journal.proxy.index(jr, 1))
    QTest.mouseClick(
        journal.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center()
    )
    assert w.selection.symbol == t.symbol and w.selection.source == "journal"
    wait_drawn(qtbot, chart, t.symbol)
    assert f"<b>{t.symbol}</b>" in chart.title.text()
    assert positions.current_row().symbol == sym
    assert "selected in journal" in chart.title.text()
    # And back from the chart's own box: the candidates table follows if it has the symbol.
    box = w.panels["chart"].box
    box.clear()
    QTest.keyClicks(box, sym)
    QTest.keyClick(box, Qt.Key.Key_Return)
    assert cands.current_row().symbol == sym


def test_the_theme_switch_restyles_the_chart(
    qtbot: Any, make_window: Callable[..., MainWindow], engine: FakeEngine
) -> None:
    w = make_window(engine)
    chart = w.panels["chart"].chart
    w.selection.select("NVDA", "test")
    wait_drawn(qtbot, chart, "NVDA")
    dark = chart.curves["sma50"].opts["pen"].color().name()
    w.set_theme("light")
    light = chart.curves["sma50"].opts["pen"].color().name()
    assert dark != light
