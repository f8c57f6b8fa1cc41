"""What a finished search chose and how honest that choice looks: the chosen values with the
deflated Sharpe ratio and the probability of backtest overfitting in plain words, and with
walk-forward each window's in-sample value beside its out-of-sample one and the
out-of-sample equity stitched end to end.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from datetime import date
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSplitter, QTextBrowser, QVBoxLayout, QWidget

from workstation.ui import theme
from workstation.ui.charts import make_plot, style_plot
from workstation.ui.optimize.model import params_text
from workstation.ui.tables import RIGHT, Column, DataTable


def _num(v: Any, spec: str = ".3f") -> str:
    return (
        "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)
    )


def _pct(v: Any) -> str:
    return _num(v, "+.2%")


def dsr_words(dsr: float | None, n_trials: int) -> str:
    """The deflated Sharpe ratio in a trader's words."""
    if dsr is None:
        return "The deflated Sharpe ratio could not be computed (too few sessions)."
    if dsr >= 0.95:
        verdict = "convincing: luck alone would rarely give a best trial this good"
    elif dsr >= 0.75:
        verdict = "encouraging, not conclusive"
    elif dsr > 0.5:
        verdict = "weak: much of it could be the luck of picking the best"
    else:
        verdict = "no better than the luck of picking the best of that many"
    return (
        f"Deflated Sharpe ratio {dsr:.2f}: the probability that the chosen values really beat "
        f"what the best of {n_trials} tries would show by chance. {verdict.capitalize()}."
    )


def pbo_words(pbo: float | None, reason: str | None) -> str:
    if pbo is None:
        return f"Probability of backtest overfitting: n/a ({reason or 'too few trials'})."
    verdict = (
        "low" if pbo <= 0.1 else "moderate" if pbo <= 0.3 else "high: the ranking does not hold"
    )
    return (
        f"Probability of backtest overfitting {pbo:.0%}: how often the best values on one half "
        f"of the sessions were below the median on the other half ({verdict})."
    )


def summary_html(doc: Mapping[str, Any]) -> str:
    """The chosen trial and how far to trust it, as the window's summary."""
    best = doc.get("best")
    objective = doc.get("objective", {}).get("name", "value")
    status = doc.get("status", "")
    counts = doc.get("counts", {})
    head = (
        f"<p><b>Search {html.escape(str(doc.get('id')))}</b>: {html.escape(status)}; "
        f"{counts.get('complete', 0)} trial(s) complete"
        + (f", {counts['failed']} failed" if counts.get("failed") else "")
        + (f", {counts['interrupted']} interrupted" if counts.get("interrupted") else "")
        + f"; {html.escape(str(doc.get('search')))} search, objective {objective}.</p>"
    )
    if best is None:
        return head + (
            f"<p>No trial reached a {objective} value (each needs at least "
            f"{doc.get('objective', {}).get('min_trades', '?')} closed trades): nothing to "
            "apply.</p>"
        )
    chosen = best["chosen_on"]
    f = best.get("figures") or {}
    small = (
        " <b>Small sample</b>: too few trades or sessions to lean on."
        if f.get("small_sample")
        else ""
    )
    d = best.get("deflated_sharpe") or {}
    o = best.get("overfitting") or {}
    wf = doc.get("walk_forward")
    where = "the last training window (the most recent sessions)" if wf else "the whole period"
    return head + (
        f"<p><b>Chosen</b>: {html.escape(params_text(best['params']))} — {objective} "
        f"{_num(best.get('value'))} on {where}, {chosen['first']} .. {chosen['last']} "
        f"({chosen['sessions']} sessions): return {_pct(f.get('total_return'))}, max drawdown "
        f"{_pct(f.get('max_drawdown'))}, {f.get('n_trades', 'n/a')} trades.{small}</p>"
        f"<p>This figure is <i>in sample</i>: these values were picked because they did best "
        f"on exactly these sessions, so it flatters them.</p>"
        f"<p>{html.escape(dsr_words(d.get('dsr'), int(d.get('n_trials') or 0)))}<br>"
        f"{html.escape(pbo_words(o.get('pbo'), best.get('overfitting_reason')))}</p>"
    )


def oos_html(wf: Mapping[str, Any] | None, objective: str) -> str:
    if wf is None:
        return (
            "<p>No walk-forward: every figure here is in sample. Set a walk-forward (e.g. "
            "3y:1y) to see how values chosen on past sessions did on the sessions after.</p>"
        )
    oos = wf["out_of_sample"]
    f = oos.get("figures") or {}
    eff = wf.get("efficiency")
    return (
        f"<p><b>Out of sample</b> (walk-forward {html.escape(str(wf.get('spec')))}): each "
        f"window's values were chosen on its training sessions and then traded on the "
        f"following test sessions, which played no part in choosing them. Stitched end to "
        f"end: {objective} {_num(oos.get('value'))}"
        + (f" ({html.escape(oos['reason'])})" if oos.get("reason") else "")
        + f", return {_pct(f.get('total_return'))}, max drawdown "
        f"{_pct(f.get('max_drawdown'))}, {f.get('n_trades', 'n/a')} trades. Mean {objective} "
        f"in sample {_num(wf.get('in_sample_mean_value'))}, out of sample "
        f"{_num(wf.get('out_of_sample_mean_value'))}"
        + (f" (the out-of-sample kept {eff:.0%} of it)" if eff is not None else "")
        + ". Expect the future to look like the out-of-sample figures, not the in-sample "
        "ones.</p>"
    )


def window_rows(wf: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if wf is None:
        return []
    rows = []
    for w in [*wf["windows"], *([wf["live"]] if wf.get("live") else [])]:
        chosen = w.get("chosen")
        test = w.get("test")
        rows.append(
            {
                "window": w["window"],
                "train": f"{w['train']['first']} .. {w['train']['last']}",
                "test": "(live: apply these)"
                if test is None
                else f"{test['first']} .. {test['last']}",
                "chosen": params_text(chosen["params"]) if chosen else w.get("no_choice_reason"),
                "in": w.get("in_sample_value")
                if "in_sample_value" in w
                else (chosen or {}).get("value"),
                "out": w.get("out_of_sample_value"),
                "out_reason": w.get("out_of_sample_reason"),
            }
        )
    return rows


WINDOW_COLUMNS = (
    Column("Window", lambda r: r["window"]),
    Column("Train (chooses)", lambda r: r["train"]),
    Column("Test (judges)", lambda r: r["test"]),
    Column("Chosen values", lambda r: r["chosen"]),
    Column("In sample", lambda r: r["in"], fmt=_num, align=RIGHT),
    Column(
        "Out of sample",
        lambda r: r["out"],
        fmt=_num,
        align=RIGHT,
        tooltip=lambda r: r["out_reason"] or "",
    ),
)


class ResultsView(QWidget):
    """The summary, the walk-forward windows and the out-of-sample equity."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QTextBrowser()
        self.summary.setOpenExternalLinks(False)
        self.windows = DataTable(WINDOW_COLUMNS, export_name="walk-forward")
        self.plot, self.axis = make_plot("%Y-%m-%d")
        self.plot.setMinimumHeight(220)
        self.plot_title = QLabel("Out-of-sample equity (stitched test windows)")
        self.curve_dates: list[date] = []
        self.curve_values: list[float] = []
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addWidget(self.plot_title)
        bl.addWidget(self.plot, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.summary)
        split.addWidget(self.windows)
        split.addWidget(bottom)
        split.setSizes([260, 150, 300])
        lay = QVBoxLayout(self)
        lay.addWidget(split)
        self.doc: Mapping[str, Any] | None = None

    def set_result(self, doc: Mapping[str, Any] | None) -> None:
        self.doc = doc
        if doc is None:
            self.summary.setHtml("<p>No result yet: start a search on the Set up tab.</p>")
            self.windows.set_rows([])
            self._plot([], [])
            return
        objective = doc.get("objective", {}).get("name", "value")
        wf = doc.get("walk_forward")
        self.summary.setHtml(summary_html(doc) + oos_html(wf, objective))
        self.windows.set_rows(window_rows(wf))
        self.windows.setVisible(wf is not None)
        points = [] if wf is None else wf["out_of_sample"].get("equity") or []
        self._plot([date.fromisoformat(d) for d, _ in points], [float(v) for _, v in points])

    def _plot(self, dates: list[date], values: list[float]) -> None:
        self.curve_dates, self.curve_values = dates, values
        item = self.plot.getPlotItem()
        item.clear()
        self.plot_title.setVisible(bool(values))
        self.plot.setVisible(bool(values))
        if not values:
            return
        from datetime import datetime, time

        self.axis.set_times([datetime.combine(d, time()) for d in dates])
        item.plot(
            list(range(len(values))),
            values,
            pen=pg.mkPen(theme.color("accent"), width=2),
        )
        item.addLine(y=values[0], pen=pg.mkPen(theme.color("muted"), style=Qt.PenStyle.DashLine))
        item.enableAutoRange()

    def apply_theme(self) -> None:
        style_plot(self.plot)
        self._plot(self.curve_dates, self.curve_values)


__all__ = ["ResultsView", "dsr_words", "oos_html", "pbo_words", "summary_html", "window_rows"]
