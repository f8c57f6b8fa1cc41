"""Setting up a backtest: period, parameter set, scenarios, universe and fill model; Run and
Cancel with the run's progress; the runs made before, to open or compare.
"""

from __future__ import annotations

import dataclasses
import html
from datetime import date

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from workstation.research.scenarios import Scenario
from workstation.store import BacktestRow
from workstation.ui import theme
from workstation.ui.research.facts import ParamSetChoice, SetupFacts
from workstation.ui.research.launch import UNIVERSE_DEFAULT, RunRequest
from workstation.ui.research.process import Progress
from workstation.ui.research.tables import run_columns
from workstation.ui.research.widgets import button, note
from workstation.ui.tables import DataTable

CSV_CHOICE = "csv"
UNIVERSE_LABELS = {
    "auto": "auto: current members on the simulated market, point in time on real data",
    "pit": "point in time",
    "current": "current members",
}


def _qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


def _pydate(q: QDate) -> date:
    return date(q.year(), q.month(), q.day())


class SetupView(QWidget):
    """Signals: ``run_requested(RunRequest)``, ``cancel_requested()``,
    ``open_requested(list[BacktestRow])``, ``compare_requested(list[BacktestRow])``."""

    run_requested = Signal(object)
    cancel_requested = Signal()
    open_requested = Signal(object)
    compare_requested = Signal(object)
    refresh_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.facts: SetupFacts | None = None
        form_box = QGroupBox("New backtest")
        form = QFormLayout(form_box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        # -- period
        self.default_period = QCheckBox("The last years with data")
        self.default_period.setChecked(True)
        self.default_period.setToolTip(
            "The command's default: the last backtest.years years (app.yaml) the market has "
            "data for. Untick to choose the first and last sessions."
        )
        self.first = QDateEdit()
        self.last = QDateEdit()
        for edit, tip in (
            (self.first, "The first session traded (its scan is the session before)"),
            (self.last, "The last session traded (both included)"),
        ):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setToolTip(tip)
            edit.setEnabled(False)
        self.default_period.toggled.connect(self._period_toggled)
        dates = QHBoxLayout()
        dates.addWidget(self.first, 1)
        dates.addWidget(QLabel("to"))
        dates.addWidget(self.last, 1)
        self.period_note = note("Finding the market's data…")
        form.addRow("Period", self.default_period)
        form.addRow("", dates)
        form.addRow("", self.period_note)

        # -- parameter set
        self.params = QComboBox()
        self.params.setToolTip(
            "The trading parameters the run uses (scanner, strategies, risk, schedule): the "
            "files in force, or a set recorded by a scan or a backtest. app.yaml (costs, "
            "fill model, starting equity) is always the current one."
        )
        self.params.currentIndexChanged.connect(self._params_changed)
        self.params_note = note()
        form.addRow("Parameters", self.params)
        form.addRow("", self.params_note)

        # -- scenarios
        self.scenarios = QListWidget()
        self.scenarios.setToolTip(
            "Tick the scenarios to run (each is a run of its own, compared in one table); "
            "Space ticks the selected one"
        )
        self.scenarios.setMinimumHeight(120)
        self.all_button = button(
            "All built-in", "Tick every built-in scenario (the desk's set)", self.tick_all_builtin
        )
        self.combined_button = button(
            "Only combined",
            "Tick only the configuration as it is",
            lambda: self.tick_only(["combined"]),
        )
        buttons = QHBoxLayout()
        buttons.addWidget(self.all_button)
        buttons.addWidget(self.combined_button)
        buttons.addStretch(1)
        self.scenarios_note = note(name="fieldError")
        self.scenarios_note.hide()
        sc = QVBoxLayout()
        sc.setContentsMargins(0, 0, 0, 0)
        sc.addWidget(self.scenarios, 1)
        sc.addLayout(buttons)
        sc.addWidget(self.scenarios_note)
        form.addRow("Scenarios", sc)

        # -- universe and fills
        self.universe = QComboBox()
        self.universe.setToolTip(
            "Which symbols each session scans: the S&P 500 members of that very session "
            "(point in time), today's members (what survivorship bias does), or a CSV file"
        )
        self.universe.currentIndexChanged.connect(self._universe_changed)
        self.csv_path = QLineEdit()
        self.csv_path.setPlaceholderText("a CSV with a 'symbol' column")
        self.csv_browse = button("Browse…", "Choose the universe's CSV file", self._browse_csv)
        csv_row = QHBoxLayout()
        csv_row.addWidget(self.csv_path, 1)
        csv_row.addWidget(self.csv_browse)
        self.csv_box = QWidget()
        self.csv_box.setLayout(csv_row)
        csv_row.setContentsMargins(0, 0, 0, 0)
        self.csv_box.hide()
        self.fill_model = QComboBox()
        self.fill_model.setToolTip(
            "path: the modelled path through each day decides whether the stop or the target "
            "is touched first; pessimistic: a day whose range spans both hits the stop first"
        )
        form.addRow("Universe", self.universe)
        form.addRow("", self.csv_box)
        form.addRow("Fill model", self.fill_model)

        # -- run
        self.run_button = button(
            "Run backtest", "Start the backtest in its own process (Ctrl+Return)", self._run_clicked
        )
        self.run_button.setObjectName("approve")
        self.cancel_button = button(
            "Cancel",
            "Stop the run and its workers; nothing of it is kept",
            self.cancel_requested.emit,
        )
        self.cancel_button.setEnabled(False)
        QShortcut(QKeySequence("Ctrl+Return"), self, self._run_clicked)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.status = note(name="")
        self.error = note(name="errorBox")
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.hide()
        self.command = note()
        self.command.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.cancel_button)
        run_row.addWidget(self.progress, 1)

        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(form_box, 1)
        ll.addLayout(run_row)
        ll.addWidget(self.status)
        ll.addWidget(self.error)
        ll.addWidget(self.command)

        # -- runs made before
        runs_box = QGroupBox("Backtests made")
        self.runs = DataTable(run_columns(), key=lambda r: r.id, export_name="backtests")
        self.runs.setToolTip(
            "Every finished backtest of this home, newest first. Enter or double-click opens "
            "one; select two (Ctrl+click) and Compare to see them side by side."
        )
        self.runs.doubleClicked.connect(lambda _i: self._open_clicked())
        self.runs.activated.connect(lambda _i: self._open_clicked())
        self.open_button = button(
            "Open", "Show the selected run's results (Enter)", self._open_clicked
        )
        self.compare_button = button(
            "Compare", "Show the two selected runs side by side", self._compare_clicked
        )
        self.refresh_button = button(
            "Refresh", "Read the list of backtests again", self.refresh_requested.emit
        )
        self.runs.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        self.runs_note = note()
        rb = QHBoxLayout()
        rb.addWidget(self.open_button)
        rb.addWidget(self.compare_button)
        rb.addStretch(1)
        rb.addWidget(self.refresh_button)
        rl = QVBoxLayout(runs_box)
        rl.addWidget(self.runs, 1)
        rl.addLayout(rb)
        rl.addWidget(self.runs_note)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(runs_box)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setSizes([470, 800])
        self.split = split
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(split)
        self._selection_changed()
        self.set_running(False)
        self.apply_theme()

    def apply_theme(self) -> None:
        """Tick boxes of the scenario list that read in both themes (Fusion draws them in
        the text colour's darkest shade otherwise, invisible on the dark theme)."""
        t = theme.current()
        self.scenarios.setStyleSheet(
            f"QListWidget::indicator {{ width: 13px; height: 13px; border: 1px solid {t.muted};"
            f" border-radius: 2px; background: {t.base}; }}"
            f"QListWidget::indicator:checked {{ background: {t.pos};"
            f" border: 1px solid {t.pos}; }}"
        )

    # ------------------------------------------------------------------ facts
    def set_facts(self, facts: SetupFacts) -> None:
        self.facts = facts
        years = f"{facts.years:g}"
        self.default_period.setText(f"The last {years} year(s) with data")
        if facts.first is not None and facts.last is not None:
            lo = facts.earliest or facts.first
            for edit in (self.first, self.last):
                edit.setDateRange(_qdate(lo), _qdate(facts.last))
            self.first.setDate(_qdate(facts.first))
            self.last.setDate(_qdate(facts.last))
            self.period_note.setText(
                f"The default: {facts.first} to {facts.last}. The data allows {lo} to {facts.last}."
            )
        else:
            self.period_note.setText(facts.period_error or "The market's data range is unknown.")
        self.set_param_sets(facts.param_sets)
        self._fill_scenarios(facts.builtin, facts.user)
        if facts.scenarios_error:
            self.scenarios_note.setText(facts.scenarios_error)
            self.scenarios_note.show()
        else:
            self.scenarios_note.hide()
        self.universe.blockSignals(True)
        self.universe.clear()
        self.universe.addItem(
            f"Default (app.yaml: {UNIVERSE_LABELS.get(facts.universe, facts.universe)})",
            UNIVERSE_DEFAULT,
        )
        self.universe.addItem("Point in time: each session's S&P 500 members", "pit")
        self.universe.addItem("Current members (shows survivorship bias)", "current")
        self.universe.addItem("A CSV file…", CSV_CHOICE)
        self.universe.blockSignals(False)
        self.fill_model.clear()
        self.fill_model.addItem(f"Default (app.yaml: {facts.fill_model})", None)
        self.fill_model.addItem("path: the modelled path through each day decides", "path")
        self.fill_model.addItem("pessimistic: the stop first when a day spans both", "pessimistic")
        self._update_run_enabled()

    def set_param_sets(self, sets: tuple[ParamSetChoice, ...]) -> None:
        """List the recorded parameter sets (again after a run recorded one), keeping the
        choice made if it is still there."""
        assert self.facts is not None
        self.facts = dataclasses.replace(self.facts, param_sets=sets)
        chosen = self.params.currentData()
        current = self.facts.current_hash
        self.params.blockSignals(True)
        self.params.clear()
        self.params.addItem(f"Current files ({current})", None)
        for choice in sets:
            row = choice.row
            same = " · the current set" if row.hash == current else ""
            self.params.addItem(
                f"{row.hash} · {row.created_at.astimezone():%Y-%m-%d %H:%M} · "
                f"{row.source or 'unknown'}{same}",
                row.hash,
            )
        self.params.setCurrentIndex(max(self.params.findData(chosen), 0))
        self.params.blockSignals(False)
        self._params_changed(self.params.currentIndex())

    def _fill_scenarios(self, builtin: tuple[Scenario, ...], user: tuple[Scenario, ...]) -> None:
        self.scenarios.clear()
        for sc, yours in [*((s, False) for s in builtin), *((s, True) for s in user)]:
            text = f"{sc.name}: {sc.description}" if sc.description else sc.name
            item = QListWidgetItem(text + (" (yours)" if yours else ""))
            item.setData(Qt.ItemDataRole.UserRole, sc.name)
            item.setData(Qt.ItemDataRole.UserRole + 1, not yours)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(
                Qt.CheckState.Checked if sc.name == "combined" else Qt.CheckState.Unchecked
            )
            overrides = ", ".join(f"{k} = {v}" for k, v in sc.overrides.items())
            item.setToolTip(
                f"overrides: {overrides}" if overrides else "the parameters as they are"
            )
            self.scenarios.addItem(item)
        self.scenarios.setCurrentRow(0)

    # ------------------------------------------------------------------ choices
    def checked_scenarios(self) -> list[str]:
        out = []
        for i in range(self.scenarios.count()):
            item = self.scenarios.item(i)
            if item.checkState() == Qt.CheckState.Checked:
                out.append(str(item.data(Qt.ItemDataRole.UserRole)))
        return out

    def tick_only(self, names: list[str]) -> None:
        for i in range(self.scenarios.count()):
            item = self.scenarios.item(i)
            on = item.data(Qt.ItemDataRole.UserRole) in names
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def tick_combined(self) -> None:
        self.tick_only(["combined"])

    def tick_all_builtin(self) -> None:
        for i in range(self.scenarios.count()):
            item = self.scenarios.item(i)
            if item.data(Qt.ItemDataRole.UserRole + 1):
                item.setCheckState(Qt.CheckState.Checked)

    def request(self) -> RunRequest | str:
        """The run set up, or why it cannot run (one line)."""
        names = self.checked_scenarios()
        if not names:
            return "tick at least one scenario"
        first = last = None
        if not self.default_period.isChecked():
            first, last = _pydate(self.first.date()), _pydate(self.last.date())
            if first > last:
                return f"the period is empty: {first} is after {last}"
        universe = str(self.universe.currentData() or UNIVERSE_DEFAULT)
        if universe == CSV_CHOICE:
            universe = self.csv_path.text().strip()
            if not universe:
                return "choose the universe's CSV file (or another universe)"
        return RunRequest(
            scenarios=tuple(names),
            first=first,
            last=last,
            params=self.params.currentData(),
            universe=universe,
            fill_model=self.fill_model.currentData(),
        )

    def _run_clicked(self) -> None:
        if not self.run_button.isEnabled():
            return
        req = self.request()
        if isinstance(req, str):
            self.show_error(req)
            return
        self.run_requested.emit(req)

    def _period_toggled(self, default: bool) -> None:
        self.first.setEnabled(not default)
        self.last.setEnabled(not default)

    def _params_changed(self, _index: int) -> None:
        facts = self.facts
        key = self.params.currentData()
        if facts is None:
            return
        if key is None:
            n = len(facts.param_sets)
            self.params_note.setText(
                "The parameter files as they are now."
                + (f" {n} recorded set(s) to choose from." if n else " No set recorded yet.")
            )
            return
        choice = next(c for c in facts.param_sets if c.hash == key)
        diffs = choice.differences
        if not diffs:
            self.params_note.setText("The same trading parameters as the current files.")
            return
        shown = "; ".join(f"{k}: {a} → {b}" for k, a, b in diffs[:3])
        more = f" and {len(diffs) - 3} more" if len(diffs) > 3 else ""
        self.params_note.setText(
            f"{len(diffs)} difference(s) from the current files: {shown}{more}"
        )
        self.params_note.setToolTip("\n".join(f"{k}: {a} → {b}" for k, a, b in diffs))

    def _universe_changed(self, _index: int) -> None:
        self.csv_box.setVisible(self.universe.currentData() == CSV_CHOICE)

    def _browse_csv(self) -> None:
        path = self.ask_csv_path()
        if path:
            self.csv_path.setText(path)

    def ask_csv_path(self) -> str:
        """The universe file (tests replace this; an empty string cancels)."""
        path, _ = QFileDialog.getOpenFileName(self, "Universe CSV", "", "CSV files (*.csv)")
        return path

    # ------------------------------------------------------------------ state
    def _update_run_enabled(self) -> None:
        blocked = bool(self.facts and self.facts.scenarios_error)
        self.run_button.setEnabled(not self._running and self.facts is not None and not blocked)

    def set_running(self, running: bool) -> None:
        self._running = running
        self.cancel_button.setEnabled(running)
        for w in (
            self.default_period,
            self.params,
            self.scenarios,
            self.universe,
            self.fill_model,
            self.all_button,
            self.combined_button,
            self.csv_box,
        ):
            w.setEnabled(not running)
        self.first.setEnabled(not running and not self.default_period.isChecked())
        self.last.setEnabled(not running and not self.default_period.isChecked())
        self._update_run_enabled()

    def show_started(self, command: str) -> None:
        self.error.hide()
        self.progress.setRange(0, 0)  # busy until the first session: history and scans
        self.progress.setFormat("")
        self.status.setText("Loading the market's history and scanning ahead…")
        self.command.setText(html.escape(command))

    def show_progress(self, p: Progress) -> None:
        self.progress.setRange(0, 1000)
        self.progress.setValue(round(p.fraction * 1000))
        self.progress.setFormat(f"{p.fraction:.0%}")
        self.status.setText(p.text())

    def show_finished(self, text: str) -> None:
        self.progress.setRange(0, 1000)
        self.progress.setValue(1000)
        self.progress.setFormat("done")
        self.status.setText(text)

    def show_stopped(self, text: str) -> None:
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.status.setText(text)

    def show_error(self, line: str) -> None:
        self.error.setText(line)
        self.error.show()

    # ------------------------------------------------------------------ runs list
    def set_runs(self, rows: list[BacktestRow]) -> None:
        self.runs.set_rows(rows)
        self.runs_note.setText(
            f"{len(rows)} backtest(s)." if rows else "No backtest yet: set one up and run it."
        )
        self._selection_changed()

    def _selection_changed(self) -> None:
        n = len(self.runs.selected_rows())
        self.open_button.setEnabled(n >= 1)
        self.compare_button.setEnabled(n == 2)

    def _open_clicked(self) -> None:
        rows = self.runs.selected_rows() or [r for r in [self.runs.current_row()] if r]
        if rows:
            self.open_requested.emit(rows[:1])

    def _compare_clicked(self) -> None:
        rows = self.runs.selected_rows()
        if len(rows) == 2:
            self.compare_requested.emit(rows)


__all__ = ["SetupView"]
