"""The research window (issue 9 item 7), driven with real keys and mouse clicks on real
backtests: ``workstation backtest`` runs as its own process over a few weeks of the simulated
market (a small universe, so each run takes seconds), its progress moves the bar, its results
are read from the store it wrote; Cancel stops the process and its scan workers and leaves
nothing listed; a failing run shows the command's one line."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractItemView, QWidget

from tests.gui.conftest import MemorySecrets
from tests.gui.fake_engine import FakeEngine
from workstation.core.config_files import ConfigManager
from workstation.core.paths import Paths
from workstation.research.runs import listed_runs
from workstation.research.sltp_advice import Settings
from workstation.selftest import prepare_home
from workstation.ui.main_window import MainWindow
from workstation.ui.research import attach_research
from workstation.ui.research.launch import BacktestLaunch
from workstation.ui.research.results_view import ADVICE_TAB
from workstation.ui.research.window import COMPARE, RESULTS, SETUP, ResearchWindow

pytestmark = [pytest.mark.gui, pytest.mark.timeout(180)]

#: A few weeks of the simulated market (the self-test's date is 2025-03-11).
FIRST, LAST = "2025-02-03", "2025-02-28"
#: Every 16th S&P 500 member: enough for trades, few enough for a run of seconds.
UNIVERSE_STEP = 16
RUN_S = 90  # the longest a run may take here, loaded machine included


def small_universe(path: Path) -> Path:
    from workstation.market.universe import sp500_universe

    u = sp500_universe()
    lines = ["symbol,sector", *(f"{s},{u.sector(s)}" for s in sorted(u.symbols)[::UNIVERSE_STEP])]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def research(
    qtbot: Any, home: Path, tmp_path: Path
) -> Iterator[tuple[MainWindow, Callable[[], ResearchWindow]]]:
    """The main window (on the fake engine) with *Research* on a real home: the simulated
    market on the self-test's date, a small universe file."""
    prepare_home(home)
    paths = Paths.resolve(home)
    manager = ConfigManager(paths.config_dir, paths.config_history_dir)
    csv = small_universe(tmp_path / "universe.csv")
    win = MainWindow(
        FakeEngine("premarket"),  # type: ignore[arg-type]
        manager,
        settings=QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat),
        paths=paths,
        secrets=MemorySecrets(),
    )
    attach_research(win, BacktestLaunch(paths, "sim", None, str(csv)))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)

    def opened() -> ResearchWindow:
        rw = win.research_window  # type: ignore[attr-defined]
        assert rw is not None
        return rw

    yield win, opened
    rw = getattr(win, "research_window", None)
    if rw is not None:
        rw.shutdown()
        rw.close()
    win._shutdown_state = "stopped"
    win.close()


def open_window(qtbot: Any, win: MainWindow) -> ResearchWindow:
    """*Research > Backtest...* by its keys; waits for the set-up's facts."""
    QTest.keyClick(
        win, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    rw: ResearchWindow = win.research_window  # type: ignore[attr-defined]
    assert rw is not None and rw.isVisible()
    qtbot.waitExposed(rw)
    qtbot.waitUntil(lambda: rw.setup.run_button.isEnabled(), timeout=60_000)
    return rw


def click(qtbot: Any, widget: QWidget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def type_date(qtbot: Any, edit: Any, day: str) -> None:
    """Type a date into a date field as a user does: click it, select the year (Home, then
    Shift+Right) and type the digits (the field moves on to the month and the day)."""
    click(qtbot, edit)
    QTest.keyClick(edit, Qt.Key.Key_Home)
    for _ in range(4):
        QTest.keyClick(edit, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(edit, day.replace("-", ""))


def set_period(qtbot: Any, rw: ResearchWindow, first: str, last: str) -> None:
    s = rw.setup
    click_checkbox(qtbot, s.default_period)
    assert not s.default_period.isChecked() and s.first.isEnabled()
    type_date(qtbot, s.first, first)
    type_date(qtbot, s.last, last)
    assert s.first.date().toString("yyyy-MM-dd") == first
    assert s.last.date().toString("yyyy-MM-dd") == last


def click_checkbox(qtbot: Any, box: Any) -> None:
    """A click on the tick box itself (at the left of the text)."""
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))


def click_tab(qtbot: Any, tabs: Any, index: int) -> None:
    bar = tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    assert tabs.currentIndex() == index


def tick_scenario(qtbot: Any, rw: ResearchWindow, name: str) -> None:
    """Select the scenario in the list with the arrow keys and tick it with Space."""
    lst = rw.setup.scenarios
    lst.setFocus()
    for _ in range(lst.count()):
        if lst.currentItem().data(Qt.ItemDataRole.UserRole) == name:
            break
        QTest.keyClick(lst, Qt.Key.Key_Down)
    assert lst.currentItem().data(Qt.ItemDataRole.UserRole) == name
    QTest.keyClick(lst, Qt.Key.Key_Space)
    assert name in rw.setup.checked_scenarios()


def click_row(qtbot: Any, table: QAbstractItemView, row: int, **kw: Any) -> None:
    rect = table.visualRect(table.model().index(row, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center(), **kw)


def shown_trade(view: Any) -> int | None:
    """The trade the chart shows, once it is drawn (its indicators come from a thread)."""
    c = view.trade_chart
    drawn = view.chart.data
    if c is None or drawn is None or view.chart._pending is not None:
        return None
    return c.trade.id if drawn.symbol == c.trade.symbol else None


def group_alive(pgid: int) -> list[int]:
    """Processes of the process group ``pgid`` that still run (zombies are gone)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in ("Z", "X"):
            alive.append(int(entry.name))
    return alive


# ------------------------------------------------------------------ the tests
def test_a_backtest_set_up_run_read_compared_and_exported_with_keys_and_mouse(
    qtbot: Any, research: Any, tmp_path: Path
) -> None:
    win, _ = research
    rw = open_window(qtbot, win)
    s = rw.setup
    set_period(qtbot, rw, FIRST, LAST)
    tick_scenario(qtbot, rw, "time-exit-3")
    assert s.checked_scenarios() == ["combined", "time-exit-3"]
    seen: list[Any] = []
    rw.process.progress.connect(seen.append)
    click(qtbot, s.run_button)
    assert rw.process.running and not s.run_button.isEnabled() and s.cancel_button.isEnabled()
    assert "--from 2025-02-03 --to 2025-02-28" in s.command.text()
    # The results: read from the stores the run wrote, shown in the Results tab.
    qtbot.waitUntil(lambda: rw.results.run is not None, timeout=RUN_S * 1000)
    assert rw.tabs.currentIndex() == RESULTS
    assert not rw.process.running and s.run_button.isEnabled()
    # The bar moved with the progress lines: every session of both scenarios.
    assert [p.scenario for p in seen if p.done == p.total] == ["combined", "time-exit-3"]
    assert seen[-1].fraction == 1.0 and s.progress.value() == 1000
    runs = listed_runs(rw.launch.db_path)
    assert [r.scenario for r in runs] == ["time-exit-3", "combined"]
    run = rw.results.run
    assert run.result.name == "combined"
    st = run.result.stats
    assert st.period.start == date(2025, 2, 3) and st.period.end == date(2025, 2, 28)
    assert st.benchmark_curve is not None  # SPY from the bars the run kept
    figures = {r.name: r for r in rw.results.figures.source.rows}
    assert figures["total_return"].value == st.stats["total_return"]
    assert figures["sharpe"].note.startswith("annualised")  # 19 sessions: under a year
    assert figures["win_rate"].small  # a few trades: a small sample, greyed
    assert rw.results.trades.source.rowCount() == len(st.trades) > 0
    assert len(rw.results.equity.plot.getPlotItem().listDataItems()) == 2  # equity and SPY
    # Both runs side by side, with the one parameter they differ in.
    assert rw.compare.runs is not None
    diffs = {r.key: (r.a, r.b) for r in rw.compare.diffs.source.rows}
    assert diffs == {"risk.exits.time_exit_day": (5, 3)}
    click_tab(qtbot, rw.tabs, COMPARE)
    assert "time-exit-3" in rw.compare.header.text()

    # A trade opens on the chart: the Trades tab, a click on a row.
    click_tab(qtbot, rw.tabs, RESULTS)
    click_tab(qtbot, rw.results.tabs, 3)
    table = rw.results.trades
    click_row(qtbot, table, 1)
    wanted = table.current_row()
    view = rw.results.chart
    qtbot.waitUntil(lambda: shown_trade(view) == wanted.id, timeout=20_000)
    c = view.trade_chart
    assert c.dates[c.entry_index] == wanted.entry_session
    assert c.dates[c.exit_index] == wanted.exit_session
    # The app's chart: the symbol's bars with the levels the trade was managed by, labelled,
    # and its entry and exit marked on their bars.
    drawn = view.chart.data
    assert drawn.symbol == wanted.symbol and len(drawn) == c.show
    labels = [lv.label for lv in view.chart.levels]
    assert labels[:3] == ["Entry", "SL", "TP"]
    assert round(view.chart.levels[0].value, 4) == round(wanted.entry_price, 4)
    marks = [m.getData() for m in view._marks if isinstance(m, pg.ScatterPlotItem)]
    assert [(int(x[0]), round(float(y[0]), 4)) for x, y in marks] == [
        (c.entry_index, round(wanted.entry_price, 4)),
        (c.exit_index, round(wanted.exit_price, 4)),
    ]
    # The keyboard moves through the trades: the chart follows.
    QTest.keyClick(table, Qt.Key.Key_Down)
    after = table.current_row()
    qtbot.waitUntil(lambda: shown_trade(view) == after.id, timeout=20_000)

    # The SL/TP advice: its page computes it off the loop when first shown; every configured
    # strategy is listed with its trades; the selected one's grid is drawn as a heat map.
    rw.advice_settings = Settings(min_trades=3, resamples=200)
    click_tab(qtbot, rw.results.tabs, ADVICE_TAB)
    advice = rw.results.advice
    qtbot.waitUntil(lambda: advice.advice is not None, timeout=30_000)
    rows = advice.table.source.rows
    assert [a.strategy for a in rows] == list(rw.config.current.strategies)
    assert sum(a.n_trades + a.left_out for a in rows) == len(st.trades)
    assert f"{len(st.trades)} closed trades of run {run.id}" in advice.header.text()
    advised = [i for i, a in enumerate(rows) if a.best is not None]
    assert advised, [(a.strategy, a.n_trades, a.verdict) for a in rows]
    first = advice.table.current_row()
    assert first is rows[advised[0]]
    assert advice.message.text().startswith(f"<b>{first.strategy}</b>: ")
    assert advice.heatmap.image.image.shape == first.surface.shape
    assert "current:&nbsp;SL" in advice.heatmap.legend.text()
    QTest.keyClick(advice.table, Qt.Key.Key_Down if advised[0] < len(rows) - 1 else Qt.Key.Key_Up)
    other = advice.table.current_row()
    assert other is not first and f"<b>{other.strategy}</b>" in advice.message.text()

    # The HTML report, written off the loop into the folder chosen.
    out = tmp_path / "report"
    out.mkdir()
    rw.ask_report_dir = lambda: str(out)  # type: ignore[method-assign]
    click(qtbot, rw.results.export_button)
    qtbot.waitUntil(lambda: (out / "report.html").is_file(), timeout=30_000)
    qtbot.waitUntil(lambda: rw.results.report_link.isVisible(), timeout=5_000)
    assert "time-exit-3" in (out / "report.html").read_text(encoding="utf-8")  # its scenario

    # The run recorded the parameter set it started from: the set-up offers it (its time and
    # source), and choosing it is choosing --params HASH.
    click_tab(qtbot, rw.tabs, SETUP)
    combo = s.params
    qtbot.waitUntil(lambda: combo.count() == 2, timeout=10_000)
    assert run.result.param_hash in combo.itemText(1) and "backtest " in combo.itemText(1)
    combo.setFocus()
    QTest.keyClick(combo, Qt.Key.Key_Down)
    assert combo.currentData() == run.result.param_hash
    assert s.request().params == run.result.param_hash  # type: ignore[union-attr]
    assert s.params_note.text() == "The same trading parameters as the current files."

    # The runs made are listed; one re-opens from the list with the keyboard.
    runs_table = s.runs
    qtbot.waitUntil(lambda: runs_table.source.rowCount() == 2, timeout=10_000)
    click_row(qtbot, runs_table, 0)
    assert runs_table.current_row().scenario == "time-exit-3"
    QTest.keyClick(runs_table, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: rw.results.run.result.name == "time-exit-3", timeout=30_000)
    assert rw.tabs.currentIndex() == RESULTS


def test_cancel_stops_the_run_and_its_workers_and_lists_nothing(qtbot: Any, research: Any) -> None:
    win, _ = research
    rw = open_window(qtbot, win)
    s = rw.setup
    set_period(qtbot, rw, "2024-11-01", LAST)
    click(qtbot, s.run_button)
    qtbot.waitUntil(
        lambda: rw.process.last is not None and rw.process.last.done >= 2, timeout=RUN_S * 1000
    )
    pid = rw.process.pid
    assert pid is not None
    alive = group_alive(pid)
    assert pid in alive and len(alive) >= 2, alive  # the run and its scan workers
    store = Path(rw.process.last.store)
    assert store.is_file()
    removed: list[Any] = []
    rw.process.cancelled.connect(removed.append)
    click(qtbot, s.cancel_button)
    qtbot.waitUntil(lambda: bool(removed), timeout=20_000)
    qtbot.waitUntil(lambda: not group_alive(pid), timeout=10_000)
    assert store in removed[0] and not store.exists()
    assert not list(store.parent.glob(store.name + "*"))
    assert listed_runs(rw.launch.db_path) == []
    assert "Cancelled" in s.status.text()
    assert s.run_button.isEnabled() and not s.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: s.runs.source.rowCount() == 0 and "No backtest" in s.runs_note.text())


def test_a_failing_run_shows_the_commands_one_line(qtbot: Any, research: Any) -> None:
    win, _ = research
    rw = open_window(qtbot, win)
    s = rw.setup
    s.universe.setFocus()
    index = s.universe.findData("csv")
    while s.universe.currentIndex() != index:
        QTest.keyClick(s.universe, Qt.Key.Key_Down)
    assert s.csv_path.isVisible()
    click(qtbot, s.csv_path)
    qtbot.keyClicks(s.csv_path, "/nowhere/universe.csv")
    click(qtbot, s.run_button)
    qtbot.waitUntil(lambda: s.error.isVisible(), timeout=60_000)
    line = s.error.text()
    assert "universe file /nowhere/universe.csv does not exist" in line, line
    assert "\n" not in line and "Traceback" not in line
    assert not rw.process.running and s.run_button.isEnabled()
    assert listed_runs(rw.launch.db_path) == []
