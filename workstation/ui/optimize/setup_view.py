"""The Optimize window's set-up: the parameters to range over and how to search them.

Each dimension is a parameter (any number of the strategy, risk and scanner files, with its
value in force and allowed range shown) and its values: a list ``1.5,2,2.5``, a range
``1.0:3.0:0.25`` (``1.0:3.0`` continuous), ``int:3:7`` or ``log:0.01:0.1:5``. The rest are
``workstation optimize``'s options, blank for their defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from workstation.ui.optimize.launch import SEARCH_KINDS, OptimizeForm
from workstation.ui.optimize.model import Searchable, search_line

OBJECTIVES = ("sharpe", "sortino", "calmar", "profit_factor", "expectancy")


def push(text: str, slot: Callable[[], object], tip: str = "", name: str = "") -> QPushButton:
    """A button that calls ``slot``; ``name`` styles it (``approve``: the main action)."""
    b = QPushButton(text)
    b.setToolTip(tip)
    if name:
        b.setObjectName(name)
    b.clicked.connect(lambda _=False: slot())
    return b


class SetupView(QWidget):
    """Signals: ``start_requested(OptimizeForm)``, ``cancel_requested()``,
    ``resume_requested(str)`` (a search id: resume or read again), ``refresh_requested()``
    (the list of the home's searches)."""

    start_requested = Signal(object)
    cancel_requested = Signal()
    resume_requested = Signal(str)
    refresh_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.known: dict[str, Searchable] = {}

        # -- the dimensions
        self.key_box = QComboBox()
        self.key_box.setEditable(True)
        self.key_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.key_box.setToolTip("A parameter, as the YAML files name it")
        self.key_box.currentTextChanged.connect(self._key_changed)
        self.values_edit = QLineEdit()
        self.values_edit.setPlaceholderText("1.5,2,2.5   or 1.0:3.0:0.25   or int:3:7")
        self.values_edit.setToolTip(
            "The values to try: a list 1.5,2,2.5; a range 1.0:3.0:0.25 (1.0:3.0 continuous, "
            "for random and tpe); int:3:7[:STEP]; log:0.01:0.1[:POINTS]"
        )
        self.values_edit.returnPressed.connect(self.add_dimension)
        self.key_info = QLabel("")
        self.key_info.setObjectName("muted")
        self.add_btn = push("Add", self.add_dimension)
        self.dims = QListWidget()
        self.dims.setToolTip("The dimensions of the search (Delete removes the selected one)")
        self.dims.setMaximumHeight(130)
        self.remove_btn = push("Remove", self.remove_dimension)
        row = QHBoxLayout()
        row.addWidget(self.key_box, 3)
        row.addWidget(self.values_edit, 2)
        row.addWidget(self.add_btn)
        dims_box = QGroupBox("Parameters to search")
        dl = QVBoxLayout(dims_box)
        dl.addLayout(row)
        dl.addWidget(self.key_info)
        drow = QHBoxLayout()
        drow.addWidget(self.dims, 1)
        drow.addWidget(self.remove_btn, 0, Qt.AlignmentFlag.AlignTop)
        dl.addLayout(drow)

        # -- the options
        self.first_edit = QLineEdit()
        self.first_edit.setPlaceholderText("default: app.yaml's backtest years")
        self.last_edit = QLineEdit()
        self.last_edit.setPlaceholderText("default: the last session with data")
        self.search_box = QComboBox()
        self.search_box.addItems(SEARCH_KINDS)
        self.search_box.setToolTip(
            "auto: grid when every dimension has points, else tpe (Optuna's TPE sampler)"
        )
        self.trials_spin = QSpinBox()
        self.trials_spin.setRange(0, 100_000)
        self.trials_spin.setSpecialValueText("default")
        self.trials_spin.setToolTip("0: the grid's size, or 50 for random and tpe")
        self.objective_box = QComboBox()
        self.objective_box.addItems(OBJECTIVES)
        self.min_trades_spin = QSpinBox()
        self.min_trades_spin.setRange(0, 100_000)
        self.min_trades_spin.setValue(10)
        self.min_trades_spin.setToolTip("A trial with fewer closed trades has no value")
        self.wf_edit = QLineEdit()
        self.wf_edit.setPlaceholderText("e.g. 3y:1y (blank: no walk-forward)")
        self.wf_edit.setToolTip(
            "TRAIN:TEST rolling windows: the TRAIN sessions choose, the next TEST sessions "
            "judge (y = 252 sessions, m = 21, w = 5; or a number of sessions)"
        )
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 1_000_000)
        self.seed_spin.setToolTip("The search's seed: the same seed gives the same trials")
        self.workers_spin = QSpinBox()
        self.workers_spin.setRange(0, 256)
        self.workers_spin.setSpecialValueText("one per core")
        self.scheduler_edit = QLineEdit()
        self.scheduler_edit.setPlaceholderText("blank: a local cluster (tcp://host:8786)")
        form = QFormLayout()
        form.addRow("From", self.first_edit)
        form.addRow("To", self.last_edit)
        form.addRow("Search", self.search_box)
        form.addRow("Trials", self.trials_spin)
        form.addRow("Objective", self.objective_box)
        form.addRow("Min trades", self.min_trades_spin)
        form.addRow("Walk-forward", self.wf_edit)
        form.addRow("Seed", self.seed_spin)
        form.addRow("Workers", self.workers_spin)
        form.addRow("Scheduler", self.scheduler_edit)
        opts = QGroupBox("Search")
        opts.setLayout(form)

        # -- run
        self.problem = QLabel("")
        self.problem.setObjectName("errorBox")
        self.problem.setWordWrap(True)
        self.problem.setVisible(False)
        self.start_btn = push("Start search", self._start, name="approve")
        self.cancel_btn = push(
            "Cancel",
            self.cancel_requested.emit,
            "Stop the search; its finished trials are kept (Resume)",
        )
        self.resume_btn = push(
            "Resume",
            lambda: self.resume_requested.emit(self.resumable),
            "Continue the stopped search from where it stopped",
        )
        self.resumable = ""
        self.command = QLabel("")
        self.command.setObjectName("muted")
        self.command.setWordWrap(True)
        self.command.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.resume_btn)
        buttons.addWidget(self.cancel_btn)
        buttons.addWidget(self.start_btn)

        # -- the searches made from this home
        self.listed = QListWidget()
        self.listed.setToolTip(
            "The searches of this home, newest first: Open reads a finished one again (no "
            "trial runs twice) or continues a stopped one"
        )
        self.listed.itemDoubleClicked.connect(lambda _item: self._open_listed())
        self.open_btn = push("Open", self._open_listed, "Show the selected search's result")
        self.refresh_btn = push("Refresh", self.refresh_requested.emit)
        past = QGroupBox("Searches of this home")
        pl = QHBoxLayout(past)
        pl.addWidget(self.listed, 1)
        pcol = QVBoxLayout()
        pcol.addWidget(self.open_btn)
        pcol.addWidget(self.refresh_btn)
        pcol.addStretch(1)
        pl.addLayout(pcol)

        lay = QVBoxLayout(self)
        lay.addWidget(dims_box)
        lay.addWidget(opts)
        lay.addWidget(self.problem)
        lay.addLayout(buttons)
        lay.addWidget(self.command)
        lay.addWidget(past, 1)
        self.set_running(False)

    # ------------------------------------------------------------------ parameters
    def set_searchable(self, items: Sequence[Searchable]) -> None:
        self.known = {s.key: s for s in items}
        self.key_box.clear()
        self.key_box.addItems(list(self.known))
        self.key_box.setCurrentIndex(-1)
        self.key_box.setEditText("")

    def _key_changed(self, text: str) -> None:
        s = self.known.get(text.strip())
        self.key_info.setText(
            ""
            if s is None
            else f"now {s.current}; allowed {s.allowed}" + ("; a whole number" if s.whole else "")
        )

    def dimensions(self) -> tuple[str, ...]:
        return tuple(self.dims.item(i).text() for i in range(self.dims.count()))

    def add_dimension(self) -> bool:
        key, values = self.key_box.currentText().strip(), self.values_edit.text().strip()
        if not key or not values:
            self.show_problem("Choose a parameter and type its values first.")
            return False
        others = [d for d in self.dimensions() if d.split("=", 1)[0] != key]
        self.dims.clear()
        for d in [*others, f"{key}={values}"]:
            self.dims.addItem(QListWidgetItem(d))
        self.values_edit.clear()
        self.show_problem("")
        return True

    def remove_dimension(self) -> None:
        row = self.dims.currentRow()
        if row >= 0:
            self.dims.takeItem(row)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Delete and self.dims.hasFocus():
            self.remove_dimension()
            return
        super().keyPressEvent(event)

    # ------------------------------------------------------------------ the form
    def form(self) -> OptimizeForm:
        return OptimizeForm(
            params=self.dimensions(),
            first=self.first_edit.text().strip(),
            last=self.last_edit.text().strip(),
            search=self.search_box.currentText(),
            trials=self.trials_spin.value(),
            objective=self.objective_box.currentText(),
            min_trades=self.min_trades_spin.value(),
            walk_forward=self.wf_edit.text().strip(),
            seed=self.seed_spin.value(),
            workers=self.workers_spin.value(),
            scheduler=self.scheduler_edit.text().strip(),
        )

    def _start(self) -> None:
        self.start_requested.emit(self.form())

    def show_problem(self, text: str) -> None:
        self.problem.setText(text)
        self.problem.setVisible(bool(text))

    def set_running(self, running: bool) -> None:
        self.start_btn.setEnabled(not running)
        self.cancel_btn.setEnabled(running)
        self.resume_btn.setEnabled(not running and bool(self.resumable))
        self.open_btn.setEnabled(not running)

    def set_listed(self, rows: Sequence[Any]) -> None:
        self.listed.clear()
        for r in rows:
            item = QListWidgetItem(search_line(r))
            item.setData(Qt.ItemDataRole.UserRole, r.id)
            item.setToolTip(f"{r.path}\nperiod {r.first_session} .. {r.last_session}")
            self.listed.addItem(item)

    def _open_listed(self) -> None:
        item = self.listed.currentItem()
        if item is not None and self.open_btn.isEnabled():
            self.resume_requested.emit(str(item.data(Qt.ItemDataRole.UserRole)))

    def set_resumable(self, search_id: str) -> None:
        self.resumable = search_id
        self.resume_btn.setText(f"Resume {search_id}" if search_id else "Resume")
        self.resume_btn.setEnabled(bool(search_id) and not self.cancel_btn.isEnabled())


__all__ = ["OBJECTIVES", "SetupView"]
