"""Widgets the evidence views share around a report run in a child process (the drift report
of the "Drift & edge" panel, the change preview of the parameter editor): the button bar with
its progress, the headline, a chart over sessions, and what a finished job shows."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

from workstation.ui import theme
from workstation.ui.charts import style_plot

if TYPE_CHECKING:
    from workstation.research.evidence.jobs import JobResult


def job_progress(max_width: int) -> QProgressBar:
    """The job's progress bar (hidden until a job runs)."""
    bar = QProgressBar()
    bar.setMaximumWidth(max_width)
    bar.setVisible(False)
    return bar


def job_bar(*items: QWidget | str) -> QHBoxLayout:
    """One row of the widgets (a string: a label) in their order, then a stretch."""
    bar = QHBoxLayout()
    for item in items:
        bar.addWidget(QLabel(item) if isinstance(item, str) else item)
    bar.addStretch(1)
    return bar


def headline(text: str = "") -> QLabel:
    """A rich-text headline that wraps."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    return label


def session_plot(tooltip: str) -> pg.PlotWidget:
    """A chart over sessions (dates on the x axis), styled, without pyqtgraph's menu."""
    plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem(orientation="bottom")})
    plot.setMenuEnabled(False)
    plot.getPlotItem().hideButtons()
    plot.setToolTip(tooltip)
    style_plot(plot)
    return plot


def show_progress(bar: QProgressBar, doc: Mapping[str, Any], fmt: str) -> None:
    """One progress line of the job (``done`` of ``total``) on ``bar``."""
    total = int(doc.get("total") or 0)
    bar.setRange(0, max(total, 1))
    bar.setValue(int(doc.get("done") or 0))
    bar.setFormat(fmt)


def failure(result: JobResult) -> str:
    return result.error or f"exit code {result.returncode}"


def finished_doc(
    result: JobResult, bar: QProgressBar, head: QLabel, *, canceled: str, failed: str
) -> dict[str, Any] | None:
    """The job's result document, or None with ``head`` saying it was canceled or
    ``failed: why`` (in the negative colour); the progress bar is hidden either way."""
    bar.setVisible(False)
    if result.canceled:
        head.setText(canceled)
        return None
    if not result.ok or result.doc is None:
        why = html.escape(failure(result))
        head.setText(f"<span style='color:{theme.hex_color('neg')}'>{failed}: {why}</span>")
        return None
    return result.doc


__all__ = [
    "failure",
    "finished_doc",
    "headline",
    "job_bar",
    "job_progress",
    "session_plot",
    "show_progress",
]
