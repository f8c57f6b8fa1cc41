"""``--report DIR``: one HTML file that opens offline, and the CSVs.

The HTML is self-contained: the style is inline, the charts are SVG drawn by
:mod:`workstation.research.svg`, and nothing is fetched (no script, font, stylesheet or image
from anywhere). It states what the run was (period, data source, market, universe mode and
coverage, parameter-set hash, fill model and costs, the modelling assumptions), then the
charts, the figures beside SPY's buy-and-hold, the breakdowns (small samples greyed and
labelled), the MFE/MAE distributions, the scenario comparison when several runs are given,
and every trade.

Usage::

    files = write_report("out/", analyze(store, info, benchmark_closes=spy), scenarios=[...])
    files.html  # out/report.html
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from workstation.engine.trade_record import TRADE_FIELDS, trade_record
from workstation.research.figures import Figures
from workstation.research.markup import Markup, el
from workstation.research.report_charts import charts
from workstation.research.report_csv import BREAKDOWNS, write_csvs
from workstation.research.report_format import MISSING, TRADE_COLUMNS, fmt, label
from workstation.research.results import COMPARISON_FIGURES, RunResult, comparison_row
from workstation.research.returns import RETURN_FIGURES

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
 margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:1.5em;margin-bottom:4px}h2{font-size:1.2em;margin-top:32px;
 border-bottom:1px solid #ddd;padding-bottom:4px}h3{font-size:1em;margin-top:20px}
dl.meta{display:grid;grid-template-columns:max-content auto;gap:2px 16px}
dl.meta dt{font-weight:600}dl.meta dd{margin:0}
table{border-collapse:collapse;margin:8px 0;font-size:.9em}
th,td{border-bottom:1px solid #e5e5e5;padding:3px 8px;text-align:right}
th{background:#f4f4f4;position:sticky;top:0}
td.t,th.t{text-align:left}td.t{white-space:nowrap}tr.small td{color:#888}
.tag{font-size:.75em;border:1px solid #aaa;border-radius:3px;padding:0 4px;margin-left:4px}
.notes{font-size:.85em;color:#555}.charts{display:grid;grid-template-columns:1fr;gap:16px;
 max-width:960px}
svg.chart{font-size:11px;fill:#333;background:#fff}
div.scroll{overflow-x:auto}div.trades{max-height:600px;overflow:auto}
figure{margin:0}figcaption{font-size:.85em;color:#555;text-align:center}
"""

# The columns of the breakdown tables (every figure is in the CSVs and the JSON).
GROUP_COLUMNS: tuple[str, ...] = (
    "n_trades",
    "win_rate",
    "profit_factor",
    "expectancy_r",
    "avg_win_r",
    "avg_loss_r",
    "net_pnl",
    "avg_days_held",
)
YEAR_COLUMNS: tuple[str, ...] = ("total_return", "max_drawdown", "sharpe", *GROUP_COLUMNS)


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    csvs: Mapping[str, Path]


def _td(name: str, value: object) -> Markup:
    return el("td", fmt(name, value), class_="t" if isinstance(value, str) else None)


def _notes(title: str, items: Mapping[str, str]) -> Markup | None:
    """The reasons of the figures shown as a dash; ``items``: what (as read) -> why."""
    if not items:
        return None
    by_reason: dict[str, list[str]] = {}
    for what, why in items.items():
        by_reason.setdefault(why, []).append(what)
    lis = [el("li", f"{'; '.join(whats)}: {why}") for why, whats in by_reason.items()]
    return el("div", f"{title} without a value ({MISSING}):", el("ul", lis), class_="notes")


def _reasons(figures: Figures, names: Sequence[str]) -> dict[str, str]:
    return {label(k): v for k, v in figures.null_reasons.items() if k in names}


def header(run: RunResult) -> list[Markup]:
    info, st = run.info, run.stats
    cov = info.coverage
    coverage = (
        "not reported"
        if cov is None
        else f"{cov.with_data:,} of {cov.members:,} members have data"
        + ("" if cov.ratio is None else f" ({cov.ratio:.1%})")
    )
    hashes = ", ".join(run.param_hashes) or "none recorded"
    param = run.param_hash or "none recorded"
    if run.param_hashes and tuple(run.param_hashes) != (param,):
        param += f" (scans used: {hashes})"
    costs = ", ".join(f"{k} = {v:g}" for k, v in info.costs.items()) or "none given"
    rows = [
        ("Period", f"{st.period.start} to {st.period.end} ({len(st.returns):,} sessions)"),
        ("Data source", info.data_source or info.market),
        ("Market", info.market),
        ("Universe", f"{info.universe_mode}; coverage: {coverage}"),
        ("Parameter set", param),
        ("Fill model", info.fill_model),
        ("Costs", costs),
        ("Risk-free rate", f"{st.options.risk_free_rate:.2%} a year"),
        ("Small sample", f"fewer than {st.options.min_trades} trades in a group"),
    ]
    if info.overrides:
        rows.append(
            ("Scenario overrides", ", ".join(f"{k} = {v}" for k, v in info.overrides.items()))
        )
    meta = el("dl", [[el("dt", k), el("dd", v)] for k, v in rows], class_="meta")
    return [
        el("h1", f"Backtest report: {info.name}"),
        meta,
        el("h3", "Modelling assumptions"),
        el("ul", [el("li", a) for a in info.assumptions]),
    ]


# The rows of the returns table (this run beside the benchmark), the rest in "Trades".
RETURN_ROWS: tuple[str, ...] = ("start_equity", "end_equity", *RETURN_FIGURES, "short_period")
BENCHMARK_ROWS: tuple[str, ...] = (
    "base_date",
    "base_close",
    "end_close",
    "missing_closes",
    "base_note",
)


def stats_tables(run: RunResult) -> list[Markup]:
    st, bench = run.stats.stats, run.stats.benchmark
    symbol = bench.get("symbol") or "SPY"
    head = el(
        "tr",
        el("th", "Figure", class_="t"),
        el("th", "This run"),
        el("th", f"{symbol} buy-and-hold"),
    )
    returns = [
        el(
            "tr",
            el("td", label(k), class_="t"),
            _td(k, st.get(k)),
            _td(k, bench[k]) if k in bench else el("td", ""),
        )
        for k in RETURN_ROWS
    ]
    trade_names = [k for k in st if k not in RETURN_ROWS and k != "risk_free_rate"]
    trades = [el("tr", el("td", label(k), class_="t"), _td(k, st[k])) for k in trade_names]
    extra = [k for k in BENCHMARK_ROWS if k in bench]
    bench_rows = [el("tr", el("td", label(k), class_="t"), _td(k, bench[k])) for k in extra]
    return [
        el("h2", "Returns"),
        el("table", el("thead", head), el("tbody", returns)),
        _notes("This run's figures", _reasons(st, RETURN_ROWS)),
        _notes("Benchmark figures", _reasons(bench, RETURN_ROWS)),
        el("h3", f"{symbol} buy-and-hold"),
        el("table", el("tbody", bench_rows)),
        _notes("Benchmark figures", _reasons(bench, BENCHMARK_ROWS)),
        el("h2", "Trades and exposure"),
        el("table", el("tbody", trades)),
        _notes("Figures", _reasons(st, trade_names)),
    ]


def group_table(
    title: str, key: str, groups: Mapping[str, Figures], columns: Sequence[str]
) -> list[Markup]:
    head = el("tr", el("th", key, class_="t"), [el("th", label(c)) for c in columns])
    rows, reasons = [], {}
    for name, g in groups.items():
        small = bool(g.get("small_sample"))
        tag = el("span", "small sample", class_="tag") if small else None
        rows.append(
            el(
                "tr",
                el("td", name, tag, class_="t"),
                [_td(c, g.get(c)) for c in columns],
                class_="small" if small else None,
            )
        )
        reasons.update({f"{name} ({k.lower()})": v for k, v in _reasons(g, columns).items()})
    return [
        el("h3", title),
        el("table", el("thead", head), el("tbody", rows)) if rows else el("p", "No trades."),
        _notes("Figures", reasons),
    ]


def breakdowns(run: RunResult) -> list[Markup]:
    st = run.stats
    out = [el("h2", "Breakdowns")]
    titles = {
        "by_strategy": ("By strategy", "Strategy"),
        "by_regime": ("By regime of the scan the trade came from", "Regime"),
        "by_exit_reason": ("By exit reason", "Exit reason"),
        "by_year": ("By year (trades by exit year)", "Year"),
    }
    for name in BREAKDOWNS:
        title, key = titles[name]
        cols = YEAR_COLUMNS if name == "by_year" else GROUP_COLUMNS
        out += group_table(title, key, getattr(st, name), cols)
    return out


def excursions(run: RunResult) -> list[Markup]:
    qs = ("n", "mean", "p10", "p25", "p50", "p75", "p90")
    head = el(
        "tr",
        el("th", "Strategy", class_="t"),
        el("th", "Measure", class_="t"),
        [el("th", q) for q in qs],
    )
    rows = []
    for strategy, measures in run.stats.excursions.items():
        for measure, q in measures.items():
            cells = [el("td", str(q["n"]))]
            cells += [el("td", MISSING if q.get(k) is None else f"{q[k]:+.2f}R") for k in qs[1:]]
            rows.append(
                el(
                    "tr",
                    el("td", strategy, class_="t"),
                    el("td", measure.upper()[:3], class_="t"),
                    cells,
                )
            )
    return [
        el("h2", "MFE and MAE per strategy (in R)"),
        el(
            "p",
            "Percentiles of each trade's maximum favourable (MFE) and adverse (MAE) excursion.",
            class_="notes",
        ),
        el("table", el("thead", head), el("tbody", rows)) if rows else el("p", "No trades."),
    ]


def scenario_table(run: RunResult, scenarios: Sequence[RunResult]) -> list[Markup]:
    if not scenarios:
        return []
    table = [comparison_row(r) for r in (run, *scenarios)]
    head = el(
        "tr",
        el("th", "Scenario", class_="t"),
        el("th", "Overrides", class_="t"),
        [el("th", label(c)) for c in COMPARISON_FIGURES],
    )
    rows = []
    for r in table:
        overrides = ", ".join(f"{k} = {v}" for k, v in r["overrides"].items()) or "(none)"
        rows.append(
            el(
                "tr",
                el("td", r["name"], class_="t"),
                el("td", overrides, class_="t"),
                [_td(c, r[c]) for c in COMPARISON_FIGURES],
                class_="small" if r["small_sample"] else None,
            )
        )
    reasons = {
        f"{r['name']} ({label(k).lower()})": v for r in table for k, v in r["null_reasons"].items()
    }
    return [
        el("h2", "Scenarios"),
        el("div", el("table", el("thead", head), el("tbody", rows)), class_="scroll"),
        _notes("Figures", reasons),
    ]


def trade_list(run: RunResult) -> list[Markup]:
    """Every trade, as its record (full precision in trades.csv)."""
    text_cols = {k for k, (_, kind) in TRADE_COLUMNS.items() if kind in ("text", "time")}

    def cls(f: str) -> str | None:
        return "t" if f in text_cols else None

    head = el("tr", [el("th", label(f, TRADE_COLUMNS), class_=cls(f)) for f in TRADE_FIELDS])
    rows = []
    for t in run.stats.trades:
        rec = trade_record(t)
        cells = [el("td", fmt(f, rec[f], TRADE_COLUMNS), class_=cls(f)) for f in TRADE_FIELDS]
        rows.append(el("tr", cells))
    return [
        el("h2", f"Trades ({len(rows):,})"),
        el("div", el("table", el("thead", head), el("tbody", rows)), class_="trades scroll"),
    ]


def render_html(run: RunResult, *, scenarios: Sequence[RunResult] = ()) -> str:
    """The report as one HTML document (well-formed: it also parses as XML)."""
    body = [
        *header(run),
        el("h2", "Charts"),
        el("div", charts(run), class_="charts"),
        *stats_tables(run),
        *breakdowns(run),
        *excursions(run),
        *scenario_table(run, scenarios),
        *trade_list(run),
    ]
    doc = el(
        "html",
        el(
            "head",
            el("meta", charset="utf-8"),
            el(
                "title",
                f"Backtest report: {run.info.name}, {run.stats.period.start} to "
                f"{run.stats.period.end}",
            ),
            el("style", Markup(STYLE)),
        ),
        el("body", body),
        lang="en",
    )
    return "<!DOCTYPE html>\n" + doc + "\n"


def write_report(
    directory: Path | str, run: RunResult, *, scenarios: Sequence[RunResult] = ()
) -> ReportFiles:
    """``report.html`` and the CSVs (:mod:`.report_csv`) into ``directory`` (created)."""
    out = Path(directory).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    html = out / "report.html"
    html.write_text(render_html(run, scenarios=scenarios), encoding="utf-8")
    return ReportFiles(html=html, csvs=write_csvs(out, run, scenarios))


__all__ = ["ReportFiles", "render_html", "write_report"]
