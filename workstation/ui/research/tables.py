"""The research window's tables, declared by their columns (see :mod:`workstation.ui.tables`):
the figures of a run beside SPY's, the breakdowns, the MFE/MAE percentiles, the trades, the
listed runs, two runs' figures and their parameter differences.

Every figure reads as the HTML report prints it (:mod:`workstation.research.report_format`);
a figure without a value is "n/a" with its reason beside it (or on hover), and a group with
fewer trades than the small-sample threshold is greyed and tagged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtGui import QColor

from workstation.core.calendar import ET
from workstation.research.figures import Figures, is_missing
from workstation.research.report import GROUP_COLUMNS, YEAR_COLUMNS
from workstation.research.report_format import FIGURES, TRADE_COLUMNS, fmt, label
from workstation.research.results import RunResult
from workstation.research.returns import RETURN_FIGURES
from workstation.store import BacktestRow, TradeRow
from workstation.ui import theme
from workstation.ui.tables import LEFT, RIGHT, Column

NA = "n/a"

#: The return figures, in the table's order (SPY has each of them too).
RETURN_ROWS: tuple[str, ...] = ("start_equity", "end_equity", *RETURN_FIGURES)
TRADE_ROWS: tuple[str, ...] = (
    "n_trades",
    "wins",
    "losses",
    "win_rate",
    "net_pnl",
    "gross_profit",
    "gross_loss",
    "profit_factor",
    "expectancy_r",
    "avg_win_r",
    "avg_loss_r",
    "best_r",
    "worst_r",
    "avg_days_held",
    "trades_per_year",
)
EXPOSURE_ROWS: tuple[str, ...] = ("exposure_sessions", "avg_gross_exposure", "max_gross_exposure")
#: Figures annualised from the period: extrapolations when it is shorter than a year.
ANNUALISED = frozenset({"cagr", "annual_volatility", "sharpe", "sortino", "calmar"})


def shown(name: str, value: Any) -> str:
    """A figure as the window shows it: the report's format, "n/a" when it has no value."""
    return NA if is_missing(value) else fmt(name, value)


def _muted(small: bool) -> QColor | None:
    return theme.color("muted") if small else None


# ------------------------------------------------------------------ the run's figures
@dataclass(frozen=True)
class FigureRow:
    """One line of the figures table (``section``: a heading line, its note beside it;
    ``spy`` False: SPY has no such figure)."""

    name: str
    value: Any = None
    spy: Any = False
    note: str = ""
    section: bool = False
    small: bool = False

    @property
    def label(self) -> str:
        return self.name if self.section else label(self.name)


def figure_rows(run: RunResult) -> list[FigureRow]:
    """The run's figures beside SPY's, with the reason of every "n/a" and the marks of a
    small sample and a short period."""
    st = run.stats
    s, b = st.stats, st.benchmark
    n_sessions = len(st.returns)
    short = bool(s.get("short_period"))
    small = bool(s.get("small_sample"))
    short_note = f"under a year ({n_sessions} sessions)" if short else ""
    rows = [FigureRow("Returns", section=True, note=short_note)]
    for name in RETURN_ROWS:
        notes = []
        if name in s.null_reasons:
            notes.append(s.null_reasons[name])
        elif name in ANNUALISED and short:
            notes.append("annualised (under a year)")
        if name in b.null_reasons:
            notes.append(f"SPY: {b.null_reasons[name]}")
        spy = b.get(name) if name in b else False
        rows.append(FigureRow(name, s.get(name), spy, "; ".join(notes)))
    n = s.get("n_trades")
    small_note = f"small sample: {n} trades, under {st.options.min_trades}" if small else ""
    rows.append(FigureRow("Trades", section=True, note=small_note, small=small))
    for name in TRADE_ROWS:
        note = s.null_reasons.get(name, "")
        rows.append(FigureRow(name, s.get(name), note=note, small=small and name != "n_trades"))
    rows.append(FigureRow("Exposure", section=True))
    for name in EXPOSURE_ROWS:
        rows.append(FigureRow(name, s.get(name), note=s.null_reasons.get(name, "")))
    return rows


def _section_bg(r: Any) -> QColor | None:
    return theme.color("button") if r.section else None


def _value_column(title: str, value: Callable[[Any], Any], tip: str, width: int) -> Column:
    """A figure's value in a sectioned table (heading lines blank, "n/a" when missing)."""

    def text(r: Any) -> str:
        v = value(r)
        return "" if r.section or v is False else shown(r.name, v)

    return Column(
        title,
        lambda r: r,
        text,
        align=RIGHT,
        background_fn=_section_bg,
        color_fn=lambda r: _muted(getattr(r, "small", False)),
        tooltip=tip,
        width=width,
    )


def _label_and_note(width: int) -> tuple[Column, Column]:
    fg = lambda r: _muted(getattr(r, "small", False))  # noqa: E731
    return (
        Column("Figure", lambda r: r.label, background_fn=_section_bg, color_fn=fg, width=width),
        Column(
            "Note",
            lambda r: r.note,
            background_fn=_section_bg,
            color_fn=fg,
            tooltip=lambda r: r.note,
        ),
    )


def figure_columns() -> list[Column]:
    figure, note = _label_and_note(236)
    spy_tip = "SPY bought at the close before the first session and held to the end"
    return [
        figure,
        _value_column("Run", lambda r: r.value, "The run's figure", 96),
        _value_column("SPY", lambda r: r.spy, spy_tip, 90),
        note,
    ]


# ------------------------------------------------------------------ breakdowns
@dataclass(frozen=True)
class GroupRow:
    """One group of a breakdown (a strategy, a regime, an exit reason, a year)."""

    group: str
    figures: Figures

    def get(self, name: str) -> Any:
        return self.figures.get(name)

    @property
    def small(self) -> bool:
        return bool(self.figures.get("small_sample"))


#: The breakdowns' columns: the report's.
GROUP_FIGURES, YEAR_FIGURES = GROUP_COLUMNS, YEAR_COLUMNS
SHORT_TITLES = {
    "n_trades": "Trades",
    "win_rate": "Win rate",
    "profit_factor": "Profit factor",
    "expectancy_r": "Expectancy",
    "avg_win_r": "Avg winner",
    "avg_loss_r": "Avg loser",
    "net_pnl": "Net P&L",
    "avg_days_held": "Avg days",
    "total_return": "Return",
    "max_drawdown": "Max DD",
    "sharpe": "Sharpe",
}


def group_rows(groups: Mapping[str, Figures]) -> list[GroupRow]:
    return [GroupRow(k, v) for k, v in groups.items()]


def _figure_column(name: str, title: str | None = None) -> Column:
    def tip(r: Any) -> str:
        reasons = r.figures.null_reasons
        return f"{label(name)}: n/a, {reasons[name]}" if name in reasons else label(name)

    return Column(
        title or SHORT_TITLES.get(name, label(name)),
        lambda r: r.get(name),
        lambda v: shown(name, v),
        align=RIGHT,
        color_fn=lambda r: _muted(r.small),
        tooltip=tip,
    )


def group_columns(first: str, names: Sequence[str] = GROUP_FIGURES) -> list[Column]:
    def sample(r: GroupRow) -> str:
        return "small sample" if r.small else ""

    return [
        Column(first, lambda r: r.group, color_fn=lambda r: _muted(r.small), width=130),
        *(_figure_column(n) for n in names),
        Column(
            "Sample",
            sample,
            color_fn=lambda r: _muted(r.small),
            tooltip="small sample: fewer trades than the threshold (30 by default): an "
            "anecdote, not a finding",
        ),
    ]


def reasons_text(groups: Mapping[str, Figures], names: Sequence[str]) -> str:
    """Why the n/a cells of a breakdown are n/a, grouped by reason (one line each)."""
    by_reason: dict[str, list[str]] = {}
    for group, f in groups.items():
        for name, why in f.null_reasons.items():
            if name in names:
                by_reason.setdefault(why, []).append(f"{group}: {SHORT_TITLES.get(name, name)}")
    return "\n".join(f"n/a, {why}: {', '.join(whats)}" for why, whats in by_reason.items())


# ------------------------------------------------------------------ MFE / MAE percentiles
@dataclass(frozen=True)
class ExcursionRow:
    strategy: str
    kind: str  # "MFE" or "MAE"
    figures: Figures

    def get(self, name: str) -> Any:
        return self.figures.get(name)

    small = False


def excursion_rows(excursions: Mapping[str, Mapping[str, Figures]]) -> list[ExcursionRow]:
    rows = []
    for strategy, kinds in excursions.items():
        rows.append(ExcursionRow(strategy, "MFE", kinds["mfe_r"]))
        rows.append(ExcursionRow(strategy, "MAE", kinds["mae_r"]))
    return rows


def excursion_columns() -> list[Column]:
    def pct_col(name: str, title: str) -> Column:
        return Column(
            title,
            lambda r: r.get(name),
            lambda v: NA if is_missing(v) else f"{v:+.2f} R",
            align=RIGHT,
            tooltip=lambda r: r.figures.null_reasons.get(name, f"{title} of {r.kind} in R"),
        )

    return [
        Column("Strategy", lambda r: r.strategy, width=130),
        Column("", lambda r: r.kind, width=50),
        Column("Trades", lambda r: r.get("n"), "{:d}", align=RIGHT),
        pct_col("mean", "Mean"),
        pct_col("p10", "10%"),
        pct_col("p25", "25%"),
        pct_col("p50", "Median"),
        pct_col("p75", "75%"),
        pct_col("p90", "90%"),
    ]


# ------------------------------------------------------------------ trades
def _trade_value(t: TradeRow, key: str) -> Any:
    if key == "exit_at":  # US/Eastern, as in the trade record
        return t.exit_at.astimezone(ET)
    return {"reason": t.exit_reason, "r": t.r_multiple}.get(key, getattr(t, key, None))


def trade_columns() -> list[Column]:
    def col(key: str) -> Column:
        title, kind = TRADE_COLUMNS[key]
        color = None
        if key in ("pnl", "r"):

            def color(t: TradeRow, k: str = key) -> QColor:
                return theme.color("pos" if _trade_value(t, k) >= 0 else "neg")

        return Column(
            title,
            lambda t: _trade_value(t, key),
            lambda v: "" if is_missing(v) else fmt(key, v, TRADE_COLUMNS),
            align=LEFT if kind in ("text", "time") else RIGHT,
            color_fn=color,
        )

    keys = ("symbol", "side", "strategy", "qty", "entry_session", "entry_price", "exit_price")
    rest = ("exit_at", "reason", "days_held", "pnl", "r", "mfe_r", "mae_r")
    return [col(k) for k in (*keys, *rest)]


# ------------------------------------------------------------------ the listed runs
def _summary(row: BacktestRow, name: str) -> Any:
    return row.summary.get(name)


def run_columns() -> list[Column]:
    def fig(name: str, title: str) -> Column:
        return Column(
            title,
            lambda r: _summary(r, name),
            lambda v: shown(name, v),
            align=RIGHT,
            tooltip=lambda r: (r.summary.get("null_reasons") or {}).get(name, label(name)),
        )

    return [
        Column(
            "Made",
            lambda r: r.created_at,
            lambda v: v.astimezone().strftime("%Y-%m-%d %H:%M"),
            width=118,
        ),
        Column("Scenario", lambda r: r.scenario, width=110),
        Column("Period", period_text, sort_key=lambda r: (r.first_session, r.last_session)),
        fig("n_trades", "Trades"),
        fig("total_return", "Return"),
        fig("sharpe", "Sharpe"),
        fig("max_drawdown", "Max DD"),
        Column(
            "Parameters",
            lambda r: r.param_hash[:8],
            tooltip=lambda r: f"{r.param_hash}; data: {r.data_source}, universe {r.universe_mode}",
        ),
    ]


def period_text(row: BacktestRow) -> str:
    return f"{row.first_session} – {row.last_session}"


# ------------------------------------------------------------------ two runs compared
@dataclass(frozen=True)
class CompareRow:
    name: str
    a: Any
    b: Any
    note: str = ""
    section: bool = False

    @property
    def label(self) -> str:
        return self.name if self.section else label(self.name)

    @property
    def difference(self) -> float | None:
        if self.section or is_missing(self.a) or is_missing(self.b):
            return None
        if isinstance(self.a, bool) or not isinstance(self.a, int | float):
            return None
        return float(self.b) - float(self.a)


def compare_rows(a: RunResult, b: RunResult) -> list[CompareRow]:
    rows: list[CompareRow] = []
    for title, names in (
        ("Returns", RETURN_ROWS),
        ("Trades", TRADE_ROWS),
        ("Exposure", EXPOSURE_ROWS),
    ):
        rows.append(CompareRow(title, None, None, section=True))
        sa, sb = a.stats.stats, b.stats.stats
        for name in names:
            reasons = [
                f"{which}: {s.null_reasons[name]}"
                for which, s in (("A", sa), ("B", sb))
                if name in s.null_reasons
            ]
            rows.append(CompareRow(name, sa.get(name), sb.get(name), "; ".join(reasons)))
    return rows


def _diff_text(r: CompareRow) -> str:
    d = r.difference
    if d is None:
        return ""
    kind = FIGURES.get(r.name, ("", "num"))[1]
    if kind == "pct":
        return f"{d * 100:+.2f} pts"
    if kind == "r":
        return f"{d:+.2f}R"
    if kind == "int":
        return f"{d:+,.0f}"
    return f"{d:+,.2f}"


def compare_columns() -> list[Column]:
    figure, note = _label_and_note(236)
    return [
        figure,
        _value_column("A", lambda r: r.a, "Run A (named above)", 96),
        _value_column("B", lambda r: r.b, "Run B (named above)", 96),
        Column("B − A", lambda r: r, _diff_text, align=RIGHT, background_fn=_section_bg, width=90),
        note,
    ]


@dataclass(frozen=True)
class DiffRow:
    key: str
    a: Any
    b: Any


def _param_text(v: Any) -> str:
    if v is None:
        return "(not set)"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def diff_columns() -> list[Column]:
    return [
        Column("Setting or parameter", lambda r: r.key, width=300),
        Column("A", lambda r: r.a, _param_text, align=LEFT, width=180),
        Column("B", lambda r: r.b, _param_text, align=LEFT),
    ]


__all__ = [
    "NA",
    "CompareRow",
    "DiffRow",
    "ExcursionRow",
    "FigureRow",
    "GroupRow",
    "compare_columns",
    "compare_rows",
    "diff_columns",
    "excursion_columns",
    "excursion_rows",
    "figure_columns",
    "figure_rows",
    "group_columns",
    "group_rows",
    "period_text",
    "reasons_text",
    "run_columns",
    "shown",
    "trade_columns",
]
