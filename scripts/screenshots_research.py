"""Screenshots of the Research window (*Research > Backtest...*), for the user guide.

Called by ``scripts/screenshots.py`` (``--only research`` makes these alone). In a fresh home
on the simulated market (the self-test's date), for each theme the window sets up and runs a
REAL backtest (``workstation backtest`` as its own process: the S&P 500 over half a year, the
``combined`` and ``time-exit-3`` scenarios) and is saved, at 1280x800 and at 1920x1080, as

* ``research-setup-WxH-THEME.png``: the set-up (period, parameters, scenarios) and the runs made;
* ``research-running-WxH-THEME.png``: the run in progress (the bar, the command);
* ``research-results-WxH-THEME.png``: equity against SPY, the drawdown, the figures;
* ``research-compare-WxH-THEME.png``: the two runs side by side with their difference;
* ``research-trade-WxH-THEME.png``: a trade on the chart;
* ``research-advice-WxH-THEME.png``: the SL / TP advice from the run's trades.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from PySide6.QtCore import QDate
from PySide6.QtWidgets import QApplication, QWidget

#: The run shot: half a year of the simulated S&P 500, two scenarios.
FIRST, LAST = date(2024, 9, 3), date(2025, 3, 7)
SCENARIOS = ("combined", "time-exit-3")
SIZES = ((1280, 800), (1920, 1080))
#: The share of the run done when the "running" shot is taken.
RUNNING_AT = 0.3


def pump(app: QApplication, until: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Run Qt's events until ``until()`` (the run's process and the window's threads report
    through them)."""
    deadline = time.monotonic() + timeout_s
    while not until():
        if time.monotonic() > deadline:
            raise SystemExit(f"research screenshots: timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.02)


def _grab(app: QApplication, win: QWidget, path: Path, size: tuple[int, int]) -> None:
    win.resize(*size)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)
    pix = win.grab()
    if pix.isNull() or not pix.save(str(path)):
        raise SystemExit(f"could not save {path}")
    print(f"wrote {path}")


def _set_up(win: object) -> None:
    """The set-up a trader makes: the period typed in, a second scenario ticked."""
    s = win.setup  # type: ignore[attr-defined]
    s.default_period.setChecked(False)
    s.first.setDate(QDate(FIRST.year, FIRST.month, FIRST.day))
    s.last.setDate(QDate(LAST.year, LAST.month, LAST.day))
    s.tick_only(list(SCENARIOS))
    s.scenarios.setCurrentRow(0)


def _pick_trade(win: object) -> int:
    """A trade that tells a story: held several days, closed at its stop or its target."""
    rows = win.results.trades.visible_rows()  # type: ignore[attr-defined]
    for i, t in enumerate(rows):
        if t.days_held >= 3 and t.exit_reason in ("TAKE_PROFIT", "STOP_LOSS"):
            return i
    return 0


def shoot_theme(app: QApplication, win: object, out: Path, theme_name: str) -> None:
    from workstation.ui.research.window import COMPARE, RESULTS, SETUP

    w: QWidget = win  # type: ignore[assignment]
    rw = win  # the research window
    pump(app, lambda: rw.facts is not None, 120, "the set-up")  # type: ignore[attr-defined]
    _set_up(rw)
    rw.setup.run_button.click()  # type: ignore[attr-defined]
    proc = rw.process  # type: ignore[attr-defined]

    def far_enough() -> bool:
        return proc.last is not None and proc.last.fraction >= RUNNING_AT

    pump(app, far_enough, 600, "the run's progress")
    for size in SIZES:
        _grab(app, w, out / f"research-running-{size[0]}x{size[1]}-{theme_name}.png", size)
    pump(app, lambda: rw.results.run is not None and not proc.running, 900, "the results")  # type: ignore[attr-defined]
    pump(app, lambda: rw.compare.runs is not None, 120, "the comparison")  # type: ignore[attr-defined]
    rw.tabs.setCurrentIndex(RESULTS)  # type: ignore[attr-defined]
    rw.results.tabs.setCurrentIndex(0)  # type: ignore[attr-defined]
    for size in SIZES:
        _grab(app, w, out / f"research-results-{size[0]}x{size[1]}-{theme_name}.png", size)
    rw.tabs.setCurrentIndex(COMPARE)  # type: ignore[attr-defined]
    for size in SIZES:
        _grab(app, w, out / f"research-compare-{size[0]}x{size[1]}-{theme_name}.png", size)
    rw.tabs.setCurrentIndex(RESULTS)  # type: ignore[attr-defined]
    trades = rw.results.trades  # type: ignore[attr-defined]
    rw.results.tabs.setCurrentIndex(3)  # type: ignore[attr-defined]
    trades.select_row(_pick_trade(rw))
    view = rw.results.chart  # type: ignore[attr-defined]

    def drawn() -> bool:
        c, chart = view.trade_chart, view.chart
        return c is not None and chart.data is not None and chart._pending is None

    pump(app, drawn, 60, "the trade's chart")
    for size in SIZES:
        _grab(app, w, out / f"research-trade-{size[0]}x{size[1]}-{theme_name}.png", size)
    # The SL/TP advice, computed when its page is first shown.
    from workstation.ui.research.results_view import ADVICE_TAB

    rw.results.tabs.setCurrentIndex(ADVICE_TAB)  # type: ignore[attr-defined]
    advice = rw.results.advice  # type: ignore[attr-defined]
    pump(app, lambda: advice.advice is not None, 120, "the SL/TP advice")
    for size in SIZES:
        _grab(app, w, out / f"research-advice-{size[0]}x{size[1]}-{theme_name}.png", size)
    # The set-up as it stays after the run: the choices made, the runs made listed.
    rw.tabs.setCurrentIndex(SETUP)  # type: ignore[attr-defined]
    runs = rw.setup.runs  # type: ignore[attr-defined]
    pump(app, lambda: runs.source.rowCount() >= len(SCENARIOS), 60, "the runs listed")
    for size in SIZES:
        _grab(app, w, out / f"research-setup-{size[0]}x{size[1]}-{theme_name}.png", size)


def shoot_research(app: QApplication, out: Path, themes: tuple[str, ...]) -> None:
    """Every research screenshot, in a fresh temporary home (see the module doc)."""
    from workstation.core.config_files import ConfigManager
    from workstation.core.paths import Paths
    from workstation.selftest import prepare_home
    from workstation.ui import theme
    from workstation.ui.research.launch import BacktestLaunch
    from workstation.ui.research.window import ResearchWindow

    with tempfile.TemporaryDirectory(prefix="ws-research-shots-") as tmp:
        home = Path(tmp) / "home"
        prepare_home(home)
        paths = Paths.resolve(home)
        config = ConfigManager(paths.config_dir, paths.config_history_dir)
        for name in themes:
            theme.apply(app, name)
            win = ResearchWindow(BacktestLaunch(paths, "sim"), config)
            win.apply_theme()
            win.show()
            try:
                shoot_theme(app, win, out, name)
            finally:
                win.shutdown()
                win.close()
                win.deleteLater()
                app.processEvents()


__all__ = ["shoot_research"]
