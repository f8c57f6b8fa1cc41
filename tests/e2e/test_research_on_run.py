"""workstation.research on the store of a real ``run --headless`` on the simulated market:
the same schema a backtest writes, so the figures, the JSON and the report are proven on what
the engine really records, not only on planted rows.

Seed 49 from 2024-03-08 is the week of test_sim_week (STOP_LOSS, TAKE_PROFIT and TIME_EXIT
exits), run for 7 sessions.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from argparse import Namespace
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pandas as pd
import pytest

from workstation.cli import main
from workstation.context import open_context
from workstation.core.calendar import ET
from workstation.engine.trade_record import TRADE_FIELDS
from workstation.research.report import write_report
from workstation.research.results import RunResult, analyze, results_json
from workstation.research.run_info import RunInfo

TODAY = "2024-03-08"
SEED = 49
SESSIONS = 7


@dataclass(frozen=True)
class Run:
    home: Path
    days: list[dict[str, Any]]

    @property
    def db(self) -> Path:
        return self.home / "data" / "workstation.db"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    home = tmp_path_factory.mktemp("research-run") / "home"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["--home", str(home), "config", "check"]) == 0
    app = home / "config" / "app.yaml"
    app.write_text(app.read_text().replace('today: ""', f'today: "{TODAY}"'))
    out = io.StringIO()
    args = ["--home", str(home), "--seed", str(SEED), "run", "--headless"]
    args += ["--sessions", str(SESSIONS), "--speed", "max", "--json"]
    with contextlib.redirect_stdout(out):
        assert main(args) == 0
    return Run(home, [json.loads(line) for line in out.getvalue().splitlines()])


def spy_closes(home: Path, end: date, n: int = 40) -> pd.Series:
    """SPY's daily closes from the same simulated market the run traded."""
    ctx = open_context(Namespace(home=str(home), market="sim", seed=SEED))
    clock = ctx.sim_clock(datetime.combine(end, time(20), ET))
    bars = ctx.make_market(clock=clock).daily_bars_now(["SPY"], end, n)  # type: ignore[attr-defined]
    return pd.Series(bars.close[:, 0], index=pd.to_datetime(bars.dates))


@pytest.fixture(scope="module")
def result(run: Run) -> RunResult:
    last = date.fromisoformat(run.days[-1]["session"])
    return analyze(
        run.db,
        RunInfo(market="sim", universe_mode="current"),
        benchmark_closes=spy_closes(run.home, last),
    )


def test_backtest_trades_are_the_exits_of_the_run(run: Run, result: RunResult) -> None:
    exits = [x for d in run.days for x in d["exits"]]
    assert len(exits) >= 3
    j = results_json(result)
    assert j["trades"] == exits  # one function makes both: same keys, values and order
    assert all(tuple(t) == TRADE_FIELDS for t in j["trades"])


def test_figures_agree_with_the_session_summaries(run: Run, result: RunResult) -> None:
    days = run.days
    s = result.stats.stats
    assert s["sessions"] == SESSIONS
    assert result.stats.period.start.isoformat() == days[0]["session"]
    assert s["start_equity"] == pytest.approx(days[0]["start_equity"], abs=0.01)
    assert s["end_equity"] == pytest.approx(days[-1]["end_equity"], abs=0.01)
    daily = [d["pnl_pct"] for d in days]
    assert list(result.stats.returns) == pytest.approx(daily, abs=1e-6)
    exits = [x for d in days for x in d["exits"]]
    assert s["n_trades"] == len(exits)
    assert s["net_pnl"] == pytest.approx(sum(x["pnl"] for x in exits), abs=0.01 * len(exits))
    reasons = {x["reason"] for x in exits}
    assert set(result.stats.by_exit_reason) == reasons
    assert {"STOP_LOSS", "TAKE_PROFIT", "TIME_EXIT"} <= reasons
    # a trade's regime is that of the scan it was entered from: the entry session's scan
    regime_of = {d["session"]: d["regime"] for d in days}
    expected = Counter(regime_of[x["entry_session"]] for x in exits)
    assert {k: g["n_trades"] for k, g in result.stats.by_regime.items()} == dict(expected)
    assert result.param_hash is not None and len(result.param_hash) == 16


def test_benchmark_from_the_markets_closes(run: Run, result: RunResult) -> None:
    last = date.fromisoformat(run.days[-1]["session"])
    closes = spy_closes(run.home, last)
    first = pd.Timestamp(run.days[0]["session"])
    base = closes[closes.index < first].iloc[-1]
    b = result.stats.benchmark
    assert b["base_date"] == TODAY  # the session before the first one
    assert b["total_return"] == pytest.approx(closes[pd.Timestamp(last)] / base - 1, rel=1e-12)
    assert b["sessions"] == SESSIONS and b["missing_closes"] == 0


def test_json_is_strict(result: RunResult) -> None:
    j = results_json(result)
    text = json.dumps(j, allow_nan=False)
    assert json.loads(text) == j
    assert j["universe"] == {"mode": "current", "coverage": None}


def test_report_of_the_run(run: Run, result: RunResult, tmp_path: Path) -> None:
    files = write_report(tmp_path / "report", result)
    html = files.html.read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html
    root = ElementTree.fromstring(html.removeprefix("<!DOCTYPE html>\n"))
    exits = [x for d in run.days for x in d["exits"]]
    first_cells = ["".join(tr[0].itertext()) for tr in root.iter("tr") if len(tr)]
    assert all(x["symbol"] in first_cells for x in exits)
    with files.csvs["trades"].open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["symbol"], r["reason"], float(r["pnl"])) for r in rows] == [
        (x["symbol"], x["reason"], x["pnl"]) for x in exits
    ]
