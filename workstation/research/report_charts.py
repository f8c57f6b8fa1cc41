"""The report's four charts, from a run's results: equity against the benchmark, drawdown,
the distribution of R, and each trade's MFE against its MAE."""

from __future__ import annotations

from workstation.research.benchmark import benchmark_drawdown
from workstation.research.markup import Markup, el
from workstation.research.results import RunResult
from workstation.research.svg import (
    PALETTE,
    Line,
    Point,
    histogram,
    line_chart,
    percent,
    scatter,
)

RUN_COLOR, BENCH_COLOR, DD_COLOR = "#1f6fb2", "#888888", "#c0392b"
R_BIN = 0.25  # histogram bin width, in R


def equity_chart(run: RunResult) -> Markup:
    st = run.stats
    labels = ["start", *(d.date().isoformat() for d in st.curve.sessions)]
    lines = [Line("equity", [st.curve.start_equity, *st.curve.end_of_day], RUN_COLOR)]
    if st.benchmark_curve is not None:
        symbol = str(st.benchmark.get("symbol") or "SPY")
        values = [st.curve.start_equity, *st.benchmark_curve]
        lines.append(Line(f"{symbol} buy-and-hold", values, BENCH_COLOR))
    return line_chart("Equity against the benchmark", labels, lines)


def drawdown_chart(run: RunResult) -> Markup:
    st = run.stats
    labels = ["start", *(d.date().isoformat() for d in st.curve.sessions)]
    lines = [Line("drawdown", [0.0, *st.drawdown], DD_COLOR, fill_to_zero=True)]
    bench = st.benchmark_curve
    if bench is not None:
        dd = benchmark_drawdown(st.curve.start_equity, bench)
        symbol = str(st.benchmark.get("symbol") or "SPY")
        lines.append(Line(f"{symbol} drawdown", [0.0, *dd], BENCH_COLOR))
    return line_chart("Drawdown from the running peak", labels, lines, percent)


def r_histogram(run: RunResult) -> Markup:
    return histogram(
        "Distribution of R per trade",
        [t.r_multiple for t in run.stats.trades],
        R_BIN,
        "R per trade",
    )


def excursion_scatter(run: RunResult) -> Markup:
    strategies = sorted({t.strategy for t in run.stats.trades})
    color = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(strategies)}
    points = [
        Point(
            t.mae_r,
            t.mfe_r,
            color[t.strategy],
            f"{t.symbol} {t.strategy} {t.entry_session}: MFE {t.mfe_r:+.2f}R, "
            f"MAE {t.mae_r:+.2f}R, result {t.r_multiple:+.2f}R ({t.exit_reason})",
        )
        for t in run.stats.trades
        if t.mfe_r is not None and t.mae_r is not None
    ]
    return scatter(
        "MFE against MAE per trade (R)",
        points,
        "MAE (R)",
        "MFE (R)",
        legend=[(s, color[s]) for s in strategies],
    )


def charts(run: RunResult) -> list[Markup]:
    """Each chart in a figure with its caption."""
    made = [
        ("Equity and the benchmark", equity_chart(run)),
        ("Drawdown from the running peak", drawdown_chart(run)),
        ("R per trade", r_histogram(run)),
        ("MFE against MAE per trade, coloured by strategy", excursion_scatter(run)),
    ]
    return [el("figure", chart, el("figcaption", caption)) for caption, chart in made]


__all__ = ["charts"]
