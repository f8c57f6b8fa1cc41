"""The ``--report DIR`` output on planted stores: one HTML file that opens offline and is
well-formed, CSVs that read back to the JSON's values, and figures in the HTML equal to
independent computations."""

from __future__ import annotations

import csv
import json
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.unit.research_plant import EQUITY, SPY, START, TRADES, D, Planted, plant, plant_example
from tests.unit.research_plant import INFO as EXAMPLE_INFO
from tests.unit.test_research_stats import hand_max_drawdown, hand_returns, hand_sharpe
from workstation.engine.trade_record import TRADE_FIELDS
from workstation.research.report import render_html, write_report
from workstation.research.results import RunResult, analyze, results_json
from workstation.research.run_info import RunInfo
from workstation.research.stats import StatsOptions

INFO = replace(
    EXAMPLE_INFO,
    param_hash="0123456789abcdef",
    assumptions=("The 09:50 price is the day's open plus a fifth of its range.",),
)


@pytest.fixture
def run(tmp_path: Path) -> RunResult:
    return analyze(
        plant_example(tmp_path / "a.db"),
        INFO,
        benchmark_closes=SPY,
        options=StatsOptions(min_trades=3),
    )


@pytest.fixture
def other(tmp_path: Path) -> RunResult:
    no_dd = plant(
        tmp_path / "up.db",
        START,
        [(D[0], 100_100.0), (D[1], 100_300.0)],
        [Planted("ZZZ", "bb_squeeze", "long", 10, 10.0, 12.0, D[0], D[1], "TAKE_PROFIT", "TREND")],
    )
    info = RunInfo(market="sim", universe_mode="current", name="gap-2", overrides={"gap": 0.02})
    return analyze(no_dd, info)


def parse(html: str) -> ET.Element:
    """The document as XML: proof that every element is closed and every text escaped."""
    assert html.startswith("<!DOCTYPE html>\n")
    return ET.fromstring(html.removeprefix("<!DOCTYPE html>\n"))


def cell_text(td: ET.Element) -> str:
    return "".join(td.itertext()).strip()


def table_row(root: ET.Element, first_cell: str) -> list[str]:
    """The cells of the first table row whose first cell reads ``first_cell``."""
    for tr in root.iter("tr"):
        cells = [cell_text(c) for c in tr]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r}")


def test_html_opens_offline(run: RunResult, other: RunResult, tmp_path: Path) -> None:
    files = write_report(tmp_path / "out", run, scenarios=[other])
    assert files.html == tmp_path / "out" / "report.html"
    html = files.html.read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"""(?i)\b(src|href|xlink:href)\s*=\s*["']?\s*(//|[a-z]+:)""", html)
    for forbidden in ("<script", "<link", "<img", "<iframe", "@import", "url("):
        assert forbidden not in html.lower()
    root = parse(html)
    assert root.tag == "html"
    assert len(list(root.iter("svg"))) == 4
    assert root.find("head/meta").get("charset") == "utf-8"  # type: ignore[union-attr]


def test_header_states_what_the_run_was(run: RunResult) -> None:
    root = parse(render_html(run))
    meta = {
        cell_text(dt): cell_text(dd)
        for dt, dd in zip(root.iter("dt"), root.iter("dd"), strict=True)
    }
    assert meta["Period"] == "2023-12-27 to 2024-01-08 (8 sessions)"
    assert meta["Data source"] == "replay file of daily bars"
    assert meta["Market"] == "replay:/data/sp500.parquet"
    assert meta["Universe"] == "point-in-time; coverage: 480 of 505 members have data (95.0%)"
    assert meta["Parameter set"] == "0123456789abcdef (scans used: planted)"
    assert meta["Fill model"] == "pessimistic"
    assert meta["Costs"] == "slippage_bps = 5, commission_per_share = 0"
    items = [cell_text(li) for li in root.iter("li")]
    assert "The 09:50 price is the day's open plus a fifth of its range." in items


def test_figures_in_the_html_equal_independent_computations(run: RunResult) -> None:
    root = parse(render_html(run))
    r = hand_returns(START, EQUITY)
    spy = SPY.to_numpy()
    spy_r = spy[1:] / spy[:-1] - 1
    assert table_row(root, "Sharpe")[1:] == [f"{hand_sharpe(r):.2f}", f"{hand_sharpe(spy_r):.2f}"]
    assert table_row(root, "Total return")[1:] == [
        f"{EQUITY[-1] / START - 1:.2%}",
        f"{spy[-1] / spy[0] - 1:.2%}",
    ]
    assert table_row(root, "Max drawdown")[1:] == [
        f"{hand_max_drawdown(START, EQUITY):.2%}",
        f"{hand_max_drawdown(spy[0], list(spy[1:])):.2%}",
    ]
    pnl = [t.pnl for t in TRADES]
    wins = sum(p for p in pnl if p > 0)
    losses = -sum(p for p in pnl if p < 0)
    assert table_row(root, "Win rate")[1] == f"{sum(p > 0 for p in pnl) / len(pnl):.2%}"
    assert table_row(root, "Profit factor")[1] == f"{wins / losses:.2f}"
    assert (
        table_row(root, "Expectancy (R per trade)")[1] == f"{np.mean([t.r for t in TRADES]):+.2f}R"
    )
    # breakdown rows: bb_squeeze and 2024 have 3+ trades (min_trades=3: not small)
    bb = table_row(root, "bb_squeeze")
    assert bb[1] == "3"
    small = [tr for tr in root.iter("tr") if tr.get("class") == "small"]
    small_names = {cell_text(tr[0]).replace("small sample", "").strip() for tr in small}
    assert {"HIGH_VOL", "RANGING", "TREND", "unknown", "rsi_reversion", "2023"} <= small_names
    assert "bb_squeeze" not in small_names and "2024" not in small_names
    # the trade list: one row per trade, in the record's order, with its symbol and R
    aaa = table_row(root, "AAA")
    assert aaa[:3] == ["AAA", "long", "bb_squeeze"] and "+1.50R" in aaa


def test_null_figures_show_a_dash_and_their_reason(other: RunResult) -> None:
    root = parse(render_html(other))
    assert table_row(root, "Calmar")[1] == "\u2014"
    assert table_row(root, "Sortino")[1] == "\u2014"
    notes = " ".join(cell_text(li) for li in root.iter("li"))
    assert "no drawdown in the period" in notes
    assert "no losing session" in notes
    assert "Profit factor: no losing trade" in notes
    assert "no SPY closes were given" in notes


def test_scenario_table(run: RunResult, other: RunResult) -> None:
    root = parse(render_html(run, scenarios=[other]))
    combined, gap2 = table_row(root, "combined"), table_row(root, "gap-2")
    assert combined[1] == "(none)" and gap2[1] == "gap = 0.02"
    assert gap2[3] == "0.30%"  # total return 100,300 / 100,000
    assert "Scenarios" not in [cell_text(h) for h in parse(render_html(run)).iter("h2")]


def test_text_from_outside_is_escaped(tmp_path: Path) -> None:
    path = plant(tmp_path / "x.db", START, [(D[0], 99_000.0)])
    info = RunInfo(
        market="replay:/tmp/a&b.csv",
        universe_mode="csv",
        data_source='<script>alert("x")</script>',
        name="x</h1><h1>",
    )
    html = render_html(analyze(path, info))
    assert "<script" not in html and "&lt;script&gt;" in html
    root = parse(html)
    assert cell_text(next(root.iter("h1"))) == "Backtest report: x</h1><h1>"
    assert "No trades." in [cell_text(p) for p in root.iter("p")]


# -- CSVs ------------------------------------------------------------------------------------
def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def value(text: str) -> Any:
    """A CSV cell back to its JSON value."""
    if text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def test_csvs_round_trip_to_the_json(run: RunResult, other: RunResult, tmp_path: Path) -> None:
    files = write_report(tmp_path / "out", run, scenarios=[other])
    j = results_json(run, scenarios=[other])
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert names == {
        "report.html",
        "trades.csv",
        "equity.csv",
        "stats.csv",
        "benchmark.csv",
        "by_strategy.csv",
        "by_regime.csv",
        "by_exit_reason.csv",
        "by_year.csv",
        "mfe_mae.csv",
        "scenarios.csv",
    }
    for name, key in (("stats", "stats"), ("benchmark", "benchmark")):
        rows = read_csv(files.csvs[name])
        got = {r["figure"]: value(r["value"]) for r in rows}
        expected = {k: v for k, v in j[key].items() if k != "null_reasons"}
        assert got == expected
        reasons = {r["figure"]: r["null_reason"] for r in rows if r["null_reason"]}
        assert reasons == j[key]["null_reasons"]
    trades = read_csv(files.csvs["trades"])
    assert tuple(trades[0]) == TRADE_FIELDS
    assert [{k: value(v) for k, v in r.items()} for r in trades] == [
        {k: (str(v) if k == "entry_session" else v) for k, v in t.items()} for t in j["trades"]
    ]
    for name, key in (
        ("by_strategy", "strategy"),
        ("by_regime", "regime"),
        ("by_exit_reason", "exit_reason"),
        ("by_year", "year"),
    ):
        rows = read_csv(files.csvs[name])
        assert [r[key] for r in rows] == list(j[name])
        for r in rows:
            group = j[name][r[key]]
            for figure, cell in r.items():
                if figure in (key, "null_reasons"):
                    continue
                assert value(cell) == group[figure], (name, r[key], figure)
    equity = read_csv(files.csvs["equity"])
    st = run.stats
    assert [r["session"] for r in equity] == [d.date().isoformat() for d in st.curve.sessions]
    assert [float(r["equity"]) for r in equity] == list(st.curve.end_of_day)
    assert [float(r["return"]) for r in equity] == list(st.returns)
    assert [float(r["drawdown"]) for r in equity] == list(st.drawdown)
    assert st.benchmark_curve is not None
    assert [float(r["benchmark"]) for r in equity] == list(st.benchmark_curve)
    mm = read_csv(files.csvs["mfe_mae"])
    for r in mm:
        q = j["by_strategy"][r["strategy"]][r["measure"]]
        assert {k: value(v) for k, v in r.items() if k in q and k != "null_reasons"} == {
            k: v for k, v in q.items() if k != "null_reasons"
        }
    scen = read_csv(files.csvs["scenarios"])
    assert [r["name"] for r in scen] == ["combined", "gap-2"]
    assert json.loads(scen[1]["overrides"]) == {"gap": 0.02}
    for r, row in zip(scen, j["scenarios"], strict=True):
        for k in ("total_return", "sharpe", "calmar", "n_trades", "small_sample"):
            assert value(r[k]) == row[k]
    assert "no drawdown" in scen[1]["null_reasons"]
    assert math.isfinite(float(scen[0]["calmar"]))
