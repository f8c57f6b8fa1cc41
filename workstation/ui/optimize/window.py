"""The Optimize window (*Research > Optimize...*): set up a parameter search, watch it run,
read its trials as a table and a heatmap, judge its choice out of sample, and *Apply* it.

The search runs as ``workstation optimize`` in its own process (:mod:`.process`), never on the
Qt loop: the window only reads its progress events and, at the end, its JSON result (parsed in
a thread). *Apply* hands the chosen values to the parameter editor's review (diff and
validation); only the user's Save writes them, as a version whose history names the search.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workstation.core.config_files import ConfigManager
from workstation.core.schema import SchemaError
from workstation.errors import UserError
from workstation.ui.optimize.heatmap_view import HeatmapView
from workstation.ui.optimize.launch import OptimizeForm, OptimizeLaunch, check_form
from workstation.ui.optimize.model import (
    TrialRow,
    listed_searches,
    params_text,
    proposal,
    searchable,
    update_rows,
)
from workstation.ui.optimize.process import SearchProcess
from workstation.ui.optimize.results_view import ResultsView
from workstation.ui.optimize.setup_view import SetupView, push
from workstation.ui.optimize.trials_view import TrialsView

log = logging.getLogger(__name__)

SETUP, TRIALS, HEATMAP, RESULT = 0, 1, 2, 3

#: apply(values by the parameter editor's key path, origin) -> whether the review opened
ApplyFn = Callable[[dict[tuple[str, ...], Any], str], object]


def origin_text(doc: Mapping[str, Any]) -> str:
    """How the parameter history names a version applied from the search ``doc``."""
    best = doc["best"]
    objective = doc.get("objective", {}).get("name", "value")
    wf = doc.get("walk_forward")
    how = f"walk-forward {wf['spec']}, " if wf else ""
    return (
        f"optimize search {doc['id']} (trial {best['stage']}.{best['number']}: {how}{objective} "
        f"{best['value']:.3f} on {best['chosen_on']['first']}..{best['chosen_on']['last']})"
    )


class OptimizeWindow(QMainWindow):
    """One per main window; closing it hides it (a search goes on), quitting the app stops a
    search (:meth:`shutdown`). ``message(text, level)`` reaches the main window's status
    line and log; ``apply`` opens the parameter editor's review."""

    def __init__(
        self,
        launch: OptimizeLaunch,
        config: ConfigManager,
        parent: QWidget | None = None,
        *,
        message: Callable[[str, str], None] | None = None,
        apply: ApplyFn | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Research: optimize")
        self.setObjectName("optimizeWindow")
        self.launch = launch
        self.config = config
        self._message = message
        self._apply = apply
        self.process = SearchProcess(launch, self)
        self.rows: dict[tuple[int, int], TrialRow] = {}
        self.keys: list[str] = []
        self.objective = "sharpe"
        self.total = 0
        self.workers = 0
        self.search_id = ""
        self.result: dict[str, Any] | None = None

        self.setup = SetupView()
        self.trials = TrialsView()
        self.heatmap = HeatmapView()
        self.results = ResultsView()
        self.results.set_result(None)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.setup, "Set up")
        self.tabs.addTab(self.trials, "Trials")
        self.tabs.addTab(self.heatmap, "Heatmap")
        self.tabs.addTab(self.results, "Out of sample")
        self.apply_btn = push(
            "Apply chosen values...",
            self.apply_best,
            "Open the chosen values in the parameter editor's review; nothing is saved until "
            "you press Save there",
            "approve",
        )
        self.apply_btn.setEnabled(False)
        self.chosen = QLabel("")
        self.chosen.setObjectName("muted")
        bar = QHBoxLayout()
        bar.addWidget(self.chosen, 1)
        bar.addWidget(self.apply_btn)
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.addWidget(self.tabs, 1)
        lay.addLayout(bar)
        self.setCentralWidget(central)
        self.resize(1280, 800)

        self.setup.set_searchable(searchable(config.current))
        self.setup.start_requested.connect(self.start_search)
        self.setup.cancel_requested.connect(self.cancel_search)
        self.setup.resume_requested.connect(self.resume_search)
        self.setup.refresh_requested.connect(self.refresh_searches)
        self.heatmap.canvas.cell_clicked.connect(self._cell_clicked)
        self._listed.connect(self.setup.set_listed)
        self.refresh_searches()
        p = self.process
        p.started.connect(self._started)
        p.event.connect(self._event)
        p.finished.connect(self._finished)
        p.failed.connect(self._failed)

    _listed = Signal(object)  # the home's searches, read in a thread

    # ------------------------------------------------------------------ helpers
    def refresh_searches(self) -> None:
        """List the home's searches (read off the loop)."""
        db = self.launch.db_path

        def read() -> None:
            try:
                rows = listed_searches(db)
            except Exception as exc:  # a store that cannot be read: the list stays empty
                log.warning("the searches of %s could not be listed: %s", db, exc)
                rows = []
            with contextlib.suppress(RuntimeError):  # the window was closed meanwhile
                self._listed.emit(rows)

        threading.Thread(target=read, name="optimize-list", daemon=True).start()

    def say(self, text: str, level: str = "info", *, main: bool = False) -> None:
        self.statusBar().showMessage(text, 15000 if level == "error" else 8000)
        if self._message is not None and (main or level != "info"):
            self._message(text, level)

    # ------------------------------------------------------------------ a search
    def start_search(self, form: OptimizeForm) -> bool:
        """Check ``form`` as the command would, then start it; False (one line shown) when
        it is not valid or a search is running."""
        if self.process.running:
            return False
        try:
            check_form(self.config.current, form)
        except (UserError, SchemaError) as exc:
            self.setup.show_problem(str(exc).splitlines()[0])
            return False
        self.setup.show_problem("")
        if not form.resume:  # a resumed search keeps the objective it was started with
            self.objective = form.objective
        self._reset()
        self.process.start(form)
        return True

    def resume_search(self, search_id: str) -> bool:
        if not search_id:
            return False
        return self.start_search(OptimizeForm(resume=search_id, workers=self.setup.form().workers))

    def cancel_search(self) -> None:
        if self.process.running:
            self.process.cancel()
            self.trials.status.setText("Stopping the search (its finished trials are kept)...")
            self.say("Stopping the search...")

    def _reset(self) -> None:
        self.rows, self.keys, self.total, self.workers = {}, [], 0, 0
        self.result = None
        self.apply_btn.setEnabled(False)
        self.chosen.setText("")
        self.trials.set_rows([])
        self.trials.set_progress(0, 1)
        self.trials.set_best(None, None, self.objective)
        self.heatmap.set_rows([])
        self.results.set_result(None)

    def _started(self, command: str) -> None:
        self.setup.set_running(True)
        self.setup.command.setText(command)
        self.trials.status.setText("Starting: loading the history and the cluster...")
        self.tabs.setCurrentIndex(TRIALS)
        self.say(f"Search started: {command}", main=True)

    def _event(self, ev: Mapping[str, Any]) -> None:
        name = ev.get("event")
        if name == "planned":
            self.search_id = str(ev["search_id"])
            self.total = int(ev["total"])
            self.keys = list(ev["keys"])
            self.trials.set_keys(self.keys, self.objective)
            self.heatmap.set_keys(self.keys, self.objective)
            self.trials.set_progress(0, self.total)
            resumed = " (resumed)" if ev.get("resumed") else ""
            self.trials.status.setText(
                f"Search {self.search_id}{resumed}: {self.total} trials planned."
            )
        elif name == "cluster":
            self.workers = int(ev["workers"])
            where = "a local cluster" if ev.get("local") else f"the scheduler {ev['address']}"
            self.trials.status.setText(f"Search {self.search_id}: running on {where}.")
        elif name == "workers":
            self.workers = int(ev["workers"])
        elif name == "scans":
            self.trials.status.setText(
                f"Search {self.search_id}: the scans every trial shares, {ev['done']} of "
                f"{ev['total']} ({ev['cached']} from the cache)."
            )
        elif name in ("queued", "trial"):
            update_rows(self.rows, ev)
            if name == "trial":
                self.trials.status.setText(
                    f"Search {self.search_id}: {ev['done']} of {ev['total']} trials done."
                )
                self.trials.set_progress(int(ev["done"]), int(ev["total"]))
                self.trials.set_best(ev.get("best_value"), ev.get("best_params"), self.objective)
                self.heatmap.set_rows(list(self.rows.values()))
            self.trials.set_rows(list(self.rows.values()))
        elif name == "finished":
            self.trials.status.setText(
                f"Search {self.search_id} {ev['status']}: {ev['done']} of {ev['total']} trials"
                + (f" ({ev['message']})" if ev.get("message") else "")
                + "."
            )
        self.trials.workers.setText(f"Workers connected: {self.workers}" if self.workers else "")

    def _finished(self, doc: dict[str, Any]) -> None:
        self.setup.set_running(False)
        self.result = doc
        self.search_id = str(doc.get("id", self.search_id))
        self.objective = doc.get("objective", {}).get("name", self.objective)
        if not self.keys:  # a search read again from its file: no planned event kept it
            self.keys = [p["key"] for p in doc.get("space", [])]
            self.trials.set_keys(self.keys, self.objective)
            self.heatmap.set_keys(self.keys, self.objective)
        self.rows = {}
        for t in doc.get("trials", []):
            update_rows(self.rows, t)
        rows = list(self.rows.values())
        self.trials.set_rows(rows)
        self.heatmap.set_rows(rows)
        counts = doc.get("counts", {})
        done = counts.get("complete", 0) + counts.get("failed", 0)
        self.trials.set_progress(done, int(doc.get("plan", {}).get("trials", done) or done))
        self.results.set_result(doc)
        status = doc.get("status")
        stopped = status in ("cancelled", "interrupted")
        self.setup.set_resumable(self.search_id if stopped else "")
        best = doc.get("best")
        self.apply_btn.setEnabled(best is not None and status == "finished")
        if best is not None:
            self.chosen.setText(
                f"Chosen: {params_text(best['params'])}"
                + ("" if status == "finished" else f" (search {status}: resume it to finish)")
            )
        self.trials.status.setText(
            f"Search {self.search_id} {status}: {done} trial(s) done"
            + ("; resume it with the Resume button on Set up." if stopped else ".")
        )
        if status == "finished":
            self.tabs.setCurrentIndex(RESULT)
        self.refresh_searches()
        self.say(f"Search {self.search_id} {status}", main=True)

    def _failed(self, line: str) -> None:
        self.setup.set_running(False)
        self.setup.show_problem(line)
        self.trials.status.setText(f"The search stopped: {line}")
        if self.search_id:
            self.setup.set_resumable(self.search_id)
        self.tabs.setCurrentIndex(SETUP)
        self.say(f"Search: {line}", "error")

    def _cell_clicked(self, key: tuple[int, int]) -> None:
        self.tabs.setCurrentIndex(TRIALS)
        self.trials.select_trial(key)

    # ------------------------------------------------------------------ apply
    def apply_best(self) -> bool:
        """Open the chosen values in the parameter editor's review (saved only by the user)."""
        doc = self.result
        if doc is None or doc.get("best") is None or self._apply is None:
            return False
        values = proposal(self.config.current, doc["best"]["params"])
        self._apply(values, origin_text(doc))
        return True

    # ------------------------------------------------------------------ lifetime
    def apply_theme(self) -> None:
        self.results.apply_theme()
        self.heatmap.canvas.update()

    def shutdown(self) -> None:
        """Stop a running search (quitting the app): a clean stop, then a kill."""
        if self.process.running:
            self.process.cancel()
            if not self.process.wait_finished(5000):
                self.process.kill()
                self.process.wait_finished(5000)


__all__ = ["OptimizeWindow", "origin_text"]
