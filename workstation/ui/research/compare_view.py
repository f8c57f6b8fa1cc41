"""Two runs side by side: their figures (and the difference), their equity curves and
drawdowns on one chart, and every setting and parameter in which they differ."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from workstation.research.runs import OpenedRun, parameter_differences
from workstation.ui import theme
from workstation.ui.research.charts import SECOND_COLOR, LineChart, Series
from workstation.ui.research.results_view import fixed_table
from workstation.ui.research.tables import DiffRow, compare_columns, compare_rows, diff_columns
from workstation.ui.research.widgets import stacked
from workstation.ui.tables import DataTable


def _aligned(values: Sequence[tuple[float, pd.Series]]) -> tuple[list[datetime], list[np.ndarray]]:
    """Series of runs with different sessions on one axis: the union of their sessions; each
    run's start value sits just before its first session, NaN where it has none."""
    index = pd.DatetimeIndex(sorted(set().union(*(set(v.index) for _, v in values))))
    out = []
    for start, series in values:
        arr = np.full(len(index) + 1, np.nan)
        pos = index.get_indexer(series.index) + 1
        arr[pos] = series.to_numpy(dtype=float)
        arr[pos[0] - 1] = start
        out.append(arr)
    return [d.to_pydatetime() for d in index], out


class CompareView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs: tuple[OpenedRun, OpenedRun] | None = None
        self.header = QLabel("Select two runs in the Set up tab (Ctrl+click) and press Compare.")
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setWordWrap(True)
        self.figures = fixed_table(
            DataTable(compare_columns(), key=lambda r: r.name, export_name="compare")
        )
        self.equity = LineChart(
            "Equity of A and B (and SPY)",
            "Each run's equity at the end of each session; SPY bought and held with A's "
            "starting equity",
            "Equity ($)",
        )
        self.drawdown = LineChart(
            "Drawdown of A and B", "Each run's fall from its running peak", "Drawdown", percent=True
        )
        self.drawdown.plot.setXLink(self.equity.plot)
        charts = QSplitter(Qt.Orientation.Vertical)
        charts.addWidget(self.equity)
        charts.addWidget(self.drawdown)
        charts.setSizes([300, 180])
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.figures)
        top.addWidget(charts)
        top.setSizes([660, 560])
        self.diffs = fixed_table(DataTable(diff_columns(), key=lambda r: r.key, export_name="diff"))
        self.diffs.setToolTip(
            "Every setting and trading parameter whose value differs between the two runs "
            "(keys as in the YAML files and scenario overrides)"
        )
        self.diffs_title = QLabel("<b>Parameter differences</b>")
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(stacked(self.diffs_title, self.diffs))
        split.setSizes([480, 180])
        self.split = split
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.header)
        lay.addWidget(split, 1)

    def show_runs(self, a: OpenedRun, b: OpenedRun) -> None:
        self.runs = (a, b)
        ra, rb = a.result, b.result
        t = theme.current()
        e = html.escape

        def line(tag: str, run: OpenedRun, color: str) -> str:
            st = run.result.stats
            return (
                f"<span style='color:{color}'>&#9632;</span> <b>{tag}</b>: "
                f"{e(run.result.name)}, {st.period.start} to {st.period.end}, parameters "
                f"{e(run.result.param_hash or '?')} <span style='color:{t.muted}'>"
                f"(run {e(run.id)})</span>"
            )

        self.header.setText(line("A", a, t.accent) + "<br>" + line("B", b, SECOND_COLOR))
        self.figures.set_rows(compare_rows(ra, rb))
        sa, sb = ra.stats, rb.stats
        sessions, (ea, eb) = _aligned(
            [
                (sa.curve.start_equity, sa.curve.end_of_day),
                (sb.curve.start_equity, sb.curve.end_of_day),
            ],
        )
        eq = [
            Series(f"A: {ra.name}", ea, t.accent),
            Series(f"B: {rb.name}", eb, SECOND_COLOR),
        ]
        if sa.benchmark_curve is not None:
            _, (spy,) = _aligned([(sa.curve.start_equity, sa.benchmark_curve)])
            if len(spy) == len(ea):
                eq.append(Series("SPY buy-and-hold", spy, t.muted, dashed=True))
        _, (da, db) = _aligned([(0.0, sa.drawdown), (0.0, sb.drawdown)])
        self.equity.set_series(sessions, eq)
        self.drawdown.set_series(
            sessions,
            [Series(f"A: {ra.name}", da, t.accent), Series(f"B: {rb.name}", db, SECOND_COLOR)],
        )
        diffs = [DiffRow(k, va, vb) for k, va, vb in parameter_differences(a, b)]
        self.diffs.set_rows(diffs)
        self.diffs_title.setText(
            f"<b>Parameter differences</b>: {len(diffs)} setting(s) or parameter(s) differ"
            if diffs
            else "<b>Parameter differences</b>: none: the same settings and trading parameters"
        )

    def apply_theme(self) -> None:
        self.equity.apply_theme()
        self.drawdown.apply_theme()
        if self.runs is not None:
            self.show_runs(*self.runs)


__all__ = ["CompareView"]
