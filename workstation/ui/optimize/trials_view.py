"""The trials of a search as a table (one column per searched parameter), above the watch of
a running search: trials done of all, the best so far, the workers connected."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget

from workstation.ui import theme
from workstation.ui.optimize.model import TrialRow, fmt_value, params_text, short
from workstation.ui.tables import Column, DataTable

STATE_WORDS = {
    "queued": "queued",
    "complete": "done",
    "failed": "failed",
    "interrupted": "interrupted",
}


def _fig(name: str) -> Any:
    return lambda r: None if r.figures is None else r.figures.get(name)


def _state_color(r: TrialRow) -> str | None:
    if r.state == "failed":
        return theme.hex_color("neg")
    if r.state in ("queued", "interrupted"):
        return theme.hex_color("warn")
    return None


def trial_columns(keys: Sequence[str], objective: str) -> list[Column]:
    def num(spec: str) -> Any:
        return lambda v: "" if v is None else format(v, spec)

    cols = [
        Column("Trial", lambda r: f"{r.stage}.{r.number}", sort_key=lambda r: r.key),
        *[Column(short(k), lambda r, k=k: r.params.get(k), fmt=fmt_value, tooltip=k) for k in keys],
        Column(
            "State",
            lambda r: STATE_WORDS.get(r.state, r.state),
            color_fn=_state_color,
            tooltip=lambda r: r.reason or "",
        ),
        Column(
            objective.capitalize(),
            lambda r: r.value,
            fmt=num(".3f"),
            tooltip=lambda r: r.reason or "",
        ),
        Column("Trades", _fig("n_trades"), fmt=lambda v: "" if v is None else str(v)),
        Column("Return", _fig("total_return"), fmt=num("+.2%")),
        Column("Max DD", _fig("max_drawdown"), fmt=num(".2%")),
        Column("Seconds", lambda r: r.wall_s, fmt=num(".1f")),
        Column("Worker", lambda r: r.worker or ""),
    ]
    return cols


class TrialsView(QWidget):
    """The progress of the search and its trials."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("%v of %m trials")
        self.status = QLabel("No search yet.")
        self.status.setWordWrap(True)
        self.best = QLabel("")
        self.best.setWordWrap(True)
        self.workers = QLabel("")
        self.lay = QVBoxLayout(self)
        self.lay.addWidget(self.progress)
        self.lay.addWidget(self.status)
        self.lay.addWidget(self.best)
        self.lay.addWidget(self.workers)
        self.table = DataTable(trial_columns((), "value"), key=lambda r: r.key)
        self.lay.addWidget(self.table, 1)
        self.keys: tuple[str, ...] = ()

    def set_keys(self, keys: Sequence[str], objective: str) -> None:
        """A new table for a search over ``keys`` (the columns follow the parameters)."""
        self.keys = tuple(keys)
        old = self.table
        self.table = DataTable(
            trial_columns(keys, objective), key=lambda r: r.key, export_name="trials"
        )
        self.lay.replaceWidget(old, self.table)
        old.deleteLater()

    def set_rows(self, rows: Sequence[TrialRow]) -> None:
        self.table.set_rows(sorted(rows, key=lambda r: r.key))

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(min(done, max(total, 1)))

    def set_best(self, value: float | None, params: dict[str, Any] | None, objective: str) -> None:
        self.best.setText(
            ""
            if value is None or params is None
            else f"Best so far: {objective} {value:.3f} with {params_text(params)} (in sample)"
        )

    def select_trial(self, key: tuple[int, int]) -> bool:
        return self.table.select_where(lambda r: r.key == tuple(key))


__all__ = ["STATE_WORDS", "TrialsView", "trial_columns"]
