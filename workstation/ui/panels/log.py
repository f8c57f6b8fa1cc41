"""Engine log: every LogEvent (and refused commands), filterable by level and text."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workstation.core.events import Event, LogEvent
from workstation.engine.api import EngineAPI
from workstation.ui import theme
from workstation.ui.panels.base import Panel
from workstation.ui.tables import CENTER, Column, DataTable

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LEVEL_ROLE = {
    "DEBUG": "muted",
    "INFO": "text",
    "WARNING": "warn",
    "ERROR": "neg",
    "CRITICAL": "neg",
}
MAX_ROWS = 5000


def level_no(level: str) -> int:
    lv = level.upper()
    if lv == "CRITICAL":
        return len(LEVELS)
    return LEVELS.index(lv) if lv in LEVELS else 1


def log_columns() -> list[Column]:
    return [
        Column("Time", lambda e: e.at, lambda v: v.strftime("%m-%d %H:%M:%S")),
        Column(
            "Level",
            lambda e: e.level,
            align=CENTER,
            sort_key=lambda e: level_no(e.level),
            color_fn=lambda e: theme.color(LEVEL_ROLE.get(e.level.upper(), "text")),
        ),
        Column("Source", lambda e: e.source),
        Column("Message", lambda e: e.message, tooltip=lambda e: e.message),
    ]


class LogPanel(Panel):
    TITLE = "Log"
    OBJECT_NAME = "log"

    def __init__(self, engine: EngineAPI, parent: QWidget | None = None) -> None:
        super().__init__(engine, parent)
        self.level = QComboBox()
        for lv in LEVELS:
            self.level.addItem(f"{lv} and above" if lv != "ERROR" else "ERROR only", lv)
        self.level.setCurrentIndex(1)
        self.level.setToolTip("Lowest level shown")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter: source or message")
        self.search.setClearButtonEnabled(True)
        self.clear_btn = QPushButton("Clear")
        self.clear_btn.setToolTip("Remove the lines shown so far (the log file keeps them)")
        self.count = QLabel()
        self.count.setObjectName("muted")
        self.table = DataTable(log_columns(), export_name="log")
        self.table.setSortingEnabled(False)  # a log reads in time order
        self.level.currentIndexChanged.connect(lambda _i: self.apply_filter())
        self.search.textChanged.connect(lambda _t: self.apply_filter())
        self.clear_btn.clicked.connect(self.clear)
        top = QHBoxLayout()
        top.addWidget(self.level)
        top.addWidget(self.search, 1)
        top.addWidget(self.count)
        top.addWidget(self.clear_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.table)
        self.table.append_rows(list(engine.recent_logs(MAX_ROWS)), MAX_ROWS)
        self.apply_filter()
        self.table.scrollToBottom()

    def refresh(self) -> None:
        self.apply_filter()

    def on_event(self, ev: Event) -> None:
        if isinstance(ev, LogEvent):
            self.add(ev)

    def add(self, ev: LogEvent) -> None:
        bar = self.table.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 2
        self.table.append_rows([ev], MAX_ROWS)
        self._update_count()
        if at_bottom:
            self.table.scrollToBottom()

    def clear(self) -> None:
        self.table.set_rows([])
        self._update_count()

    def apply_filter(self) -> None:
        minimum = level_no(self.level.currentData() or "INFO")
        text = self.search.text().strip().lower()

        def keep(e: LogEvent) -> bool:
            if level_no(e.level) < minimum:
                return False
            return not text or text in e.message.lower() or text in e.source.lower()

        self.table.set_filter(keep)
        self._update_count()

    def _update_count(self) -> None:
        self.count.setText(f"{self.table.proxy.rowCount()} of {self.table.source.rowCount()}")
