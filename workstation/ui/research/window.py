"""The Research window (*Research > Backtest...*): set up a backtest, run it in its own
process with a progress bar and Cancel, read its results, open a trade on the chart, compare
two runs, export the HTML report.

Nothing slow runs on the Qt loop: the run is another process (:mod:`.process`); the facts of
the set-up, the runs listed, a run's figures (``research.results.analyze``), a trade's chart
and the report are read or written in worker threads (:mod:`.worker`).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QFileDialog, QMainWindow, QTabWidget, QWidget

from workstation.core.config_files import ConfigManager
from workstation.research.runs import OpenedRun, listed_runs, open_run, trade_chart
from workstation.research.sltp_advice import Settings
from workstation.research.sltp_trades import run_advice
from workstation.store import BacktestRow, TradeRow
from workstation.ui.research.compare_view import CompareView
from workstation.ui.research.facts import SetupFacts, param_set_choices, setup_facts
from workstation.ui.research.launch import BacktestLaunch, RunRequest
from workstation.ui.research.process import BacktestProcess, Progress
from workstation.ui.research.results_view import ResultsView
from workstation.ui.research.setup_view import SetupView
from workstation.ui.research.worker import Worker

log = logging.getLogger(__name__)

SETUP, RESULTS, COMPARE = 0, 1, 2
#: Runs kept read in memory (a long run's figures and trades are a few MB).
CACHED_RUNS = 8


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class ResearchWindow(QMainWindow):
    """One per main window. ``message(text, level)`` reaches the main window's status line
    and log. Closing the window hides it: a run goes on (the menu shows it again); quitting
    the app stops it (:meth:`shutdown`)."""

    def __init__(
        self,
        launch: BacktestLaunch,
        config: ConfigManager,
        parent: QWidget | None = None,
        *,
        message: Callable[[str, str], None] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Research: backtest")
        self.setObjectName("researchWindow")
        self.launch = launch
        self.config = config
        self._message = message
        self.worker = Worker(self)
        self.process = BacktestProcess(launch, self.worker, self)
        self.opened: OrderedDict[str, OpenedRun] = OrderedDict()
        self.batches: dict[str, tuple[str, ...]] = {}  # run id -> the runs of its command
        self.listed: list[BacktestRow] = []
        self.facts: SetupFacts | None = None
        self.advice_settings = Settings()  # the SL/TP advice's (tests use fewer resamples)

        self.setup = SetupView()
        self.results = ResultsView()
        self.compare = CompareView()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.setup, "Set up")
        self.tabs.addTab(self.results, "Results")
        self.tabs.addTab(self.compare, "Compare")
        self.setCentralWidget(self.tabs)
        self.resize(1280, 800)

        self.setup.run_requested.connect(self.start_run)
        self.setup.cancel_requested.connect(self.cancel_run)
        self.setup.open_requested.connect(lambda rows: self.open_runs(rows[:1]))
        self.setup.compare_requested.connect(self.open_runs)
        self.setup.refresh_requested.connect(self.refresh_runs)
        self.results.trade_selected.connect(self.open_trade)
        self.results.export_requested.connect(self.export_report)
        self.results.advice_requested.connect(self.load_advice)
        p = self.process
        p.started.connect(self._run_started)
        p.progress.connect(self._run_progress)
        p.finished.connect(self._run_finished)
        p.failed.connect(self._run_failed)
        p.cancelled.connect(self._run_cancelled)
        self.load_facts()
        self.refresh_runs()

    # ------------------------------------------------------------------ helpers
    def say(self, text: str, level: str = "info", *, main: bool = False) -> None:
        """A line in this window's status bar; with ``main`` (a run's start and end) or a
        warning or error, also in the main window's (and its log)."""
        self.statusBar().showMessage(text, 15000 if level == "error" else 8000)
        if self._message is not None and (main or level != "info"):
            self._message(text, level)

    def background(self, fn: Callable[[], Any], done: Callable[[Any], None], what: str) -> None:
        """``fn`` in a worker thread; a failure is one line in the status bar."""
        self.worker.submit(fn, done, lambda exc: self.say(f"{what}: {_one_line(exc)}", "error"))

    # ------------------------------------------------------------------ set-up facts
    def load_facts(self) -> None:
        launch, config = self.launch, self.config
        self.background(lambda: setup_facts(launch, config), self._facts, "The set-up")

    def _facts(self, facts: SetupFacts) -> None:
        self.facts = facts
        self.setup.set_facts(facts)
        for problem in facts.problems:
            self.say(problem, "warning")

    def refresh_param_sets(self) -> None:
        if self.facts is None:
            return
        launch, cfg = self.launch, self.config.current
        self.background(
            lambda: param_set_choices(cfg, launch),
            self.setup.set_param_sets,
            "The parameter sets",
        )

    def refresh_runs(self) -> None:
        db = self.launch.db_path
        self.background(lambda: listed_runs(db), self._runs, "The list of backtests")

    def _runs(self, rows: list[BacktestRow]) -> None:
        self.listed = rows
        self.setup.set_runs(rows)

    # ------------------------------------------------------------------ a run
    def start_run(self, req: RunRequest) -> None:
        if self.process.running:
            return
        self.setup.set_running(True)
        self.process.start(req)

    def cancel_run(self) -> None:
        if self.process.running:
            self.setup.status.setText("Stopping the run and its workers…")
            self.process.cancel()

    def _run_started(self, command: str) -> None:
        self.setup.show_started(command)
        self.say("Backtest started", main=True)

    def _run_progress(self, p: Progress) -> None:
        self.setup.show_progress(p)
        self.statusBar().showMessage(f"Backtest: {p.text()}")

    def _run_finished(self, doc: dict[str, Any]) -> None:
        self.setup.set_running(False)
        stores = [str(r["store"]) for r in doc.get("runs", [])]
        n = len(stores)
        self.setup.show_finished(f"Done: {n} run(s). Reading the results…")
        db = self.launch.db_path

        def rows() -> tuple[list[BacktestRow], list[BacktestRow]]:
            listed = listed_runs(db)
            by_path = {r.path: r for r in listed}
            return listed, [by_path[s] for s in stores if s in by_path]

        def got(result: tuple[list[BacktestRow], list[BacktestRow]]) -> None:
            listed, mine = result
            self._runs(listed)
            self.refresh_param_sets()  # the run recorded the set it started from
            ids = tuple(r.id for r in mine)
            for r in mine:
                self.batches[r.id] = ids
            if not mine:
                self.setup.show_error("the backtest finished but its runs are not listed")
                return
            self.setup.show_finished(f"Done: {n} run(s): {', '.join(r.scenario for r in mine)}")
            self.say(f"Backtest done: {', '.join(r.scenario for r in mine)}", main=True)
            self.open_runs(mine[:2] if len(mine) > 1 else mine, show_first=True)

        self.background(rows, got, "The finished backtest")

    def _run_failed(self, line: str) -> None:
        self.setup.set_running(False)
        self.setup.show_stopped("The backtest failed.")
        self.setup.show_error(line)
        self.say(f"Backtest failed: {line}", "error")

    def _run_cancelled(self, removed: list[Path]) -> None:
        self.setup.set_running(False)
        kept = "its partial store was removed" if removed else "it had written nothing yet"
        self.setup.show_stopped(f"Cancelled: the run and its workers were stopped; {kept}.")
        self.say("Backtest cancelled", main=True)
        self.refresh_runs()

    # ------------------------------------------------------------------ reading runs
    def open_runs(self, rows: Sequence[BacktestRow], show_first: bool = False) -> None:
        """Read ``rows`` (one: show it; two: compare them) in a worker thread."""
        rows = list(rows)
        if not rows:
            return
        wanted = [r for r in rows if r.id not in self.opened]

        def read() -> list[OpenedRun]:
            return [open_run(r) for r in wanted]

        def got(runs: list[OpenedRun]) -> None:
            for run in runs:
                self.opened[run.id] = run
            while len(self.opened) > CACHED_RUNS:
                self.opened.popitem(last=False)
            opened = [self.opened[r.id] for r in rows if r.id in self.opened]
            if not opened:
                return
            self.say(f"Showing {', '.join(r.result.name for r in opened)}")
            self.results.show_run(opened[0])
            if len(opened) == 2:
                self.compare.show_runs(opened[0], opened[1])
            self.tabs.setCurrentIndex(COMPARE if len(opened) == 2 and not show_first else RESULTS)

        self.say(f"Reading {', '.join(r.scenario for r in rows)}…")
        self.background(read, got, "The run could not be read")

    def open_trade(self, trade: TradeRow) -> None:
        run = self.results.run
        if run is None:
            return
        self.background(
            lambda: trade_chart(run, trade), self.results.show_trade_chart, "The trade's chart"
        )

    def load_advice(self, run: OpenedRun) -> None:
        """The SL/TP advice from ``run``'s trades, beside the current configuration's values,
        computed in a worker thread."""
        row, run_cfg, now, settings = run.row, run.config, self.config.current, self.advice_settings

        def compute() -> tuple[Any, ...]:
            return (run.id, *run_advice(row, run_cfg, now, settings))

        def failed(exc: Exception) -> None:
            self.results.advice_failed(run.id, _one_line(exc))
            self.say(f"The SL/TP advice: {_one_line(exc)}", "error")

        self.worker.submit(compute, lambda res: self.results.show_advice(*res), failed)

    # ------------------------------------------------------------------ the report
    def ask_report_dir(self) -> str:
        """The folder of the report (tests replace this; an empty string cancels)."""
        return QFileDialog.getExistingDirectory(self, "Export the HTML report into")

    def export_report(self) -> None:
        run = self.results.run
        if run is None:
            return
        folder = self.ask_report_dir()
        if not folder:
            return
        others = [
            self.opened[i].result
            for i in self.batches.get(run.id, ())
            if i != run.id and i in self.opened
        ]
        from workstation.research.report import write_report

        target = Path(folder)

        def write() -> Path:
            return write_report(target, run.result, scenarios=others).html

        def done(html: Path) -> None:
            self.results.show_report(html)
            self.say(f"Report written: {html}")

        self.say("Writing the report…")
        self.background(write, done, "The report could not be written")

    # ------------------------------------------------------------------ theme and close
    def apply_theme(self) -> None:
        self.setup.apply_theme()
        self.results.apply_theme()
        self.compare.apply_theme()

    def shutdown(self) -> None:
        """Stop a run in progress (and its workers); wait for the reading threads."""
        if self.process.running:
            self.process.cancel()
            self.process.wait_finished(5000)
        self.worker.wait(10_000)


__all__ = ["ResearchWindow"]
