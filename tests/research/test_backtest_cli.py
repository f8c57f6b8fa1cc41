"""`workstation backtest` as a user runs it: every scenario in one command with one comparison
table (JSON and report), the run listed in the home's store, one clear line for each mistake."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from tests.research.support import make_home, workstation
from workstation.cli import main

SIM = {"app.yaml": {"sim.today": "2025-03-11"}}


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_every_scenario_runs_with_one_comparison_table_in_the_json_and_the_report(
    tmp_path: Path,
) -> None:
    home = make_home(tmp_path / "home", SIM)
    report = tmp_path / "report"
    r = workstation("--home", str(home), "--market", "sim", "backtest", "--from", "2025-03-04",
                    "--to", "2025-03-06", "--scenario", "all", "--json", "--report",
                    str(report), "--progress", "json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    names = [row["name"] for row in doc["scenarios"]]
    expected = {"combined", "no-day1-skip", "time-exit-3", "time-exit-7", "gap-2", "gap-5",
                "fill-pessimistic", "rsi_reversion", "bb_squeeze", "adx_pullback",
                "overbought_short", "regime_momentum"}  # fmt: skip
    assert set(names) == expected and names[0] == "combined"
    for row in doc["scenarios"]:
        assert row["fill_model"] == ("pessimistic" if row["name"] == "fill-pessimistic" else "path")
        assert "sharpe" in row and "n_trades" in row
    assert doc["period"] == {"start": "2025-03-04", "end": "2025-03-06", "sessions": 3}
    assert doc["universe"]["mode"] == "current"  # the simulated market: today's members
    # progress: one JSON line per session and scenario on stderr, after one per scenario
    # (done 0) naming its store before it is written
    progress = [json.loads(line)["progress"] for line in r.stderr.splitlines()
                if line.startswith('{"progress"')]  # fmt: skip
    assert len([p for p in progress if p["done"] >= 1]) == 3 * len(expected)
    assert [p["scenario"] for p in progress if p["done"] == 0] == [
        p["scenario"] for p in progress if p["done"] == 3
    ]
    html = (report / "report.html").read_text(encoding="utf-8")
    for name in expected:
        assert name in html
    assert not re.search(r"(src|href)\s*=\s*[\"']https?://", html)
    # each run has its own store, listed in the home's
    con = sqlite3.connect(home / "data" / "workstation.db")
    listed = con.execute("SELECT scenario, path FROM backtests").fetchall()
    con.close()
    assert {s for s, _ in listed} == expected
    assert all(Path(p).is_file() for _, p in listed)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2025-03-08"], "--from 2025-03-08 is not an NYSE session"),
        (["--from", "2025-03-10", "--to", "2025-03-05"], "the period is empty"),
        (["--to", "2031-01-02"], "the market has data up to"),
        (["--from", "1990-01-02"], "is outside the sessions the workstation knows"),
        (["--from", "2012-03-05"], "generates at most 3000 sessions"),
        (["--from", "03/04/2025"], "is not a date: write it as YYYY-MM-DD"),
        (["--scenario", "nope"], "--scenario 'nope' is not known"),
    ],
)
def test_a_mistake_is_one_line(
    tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # In this process (the CLI's own entry point, its exit code and its stderr): a child
    # process per mistake cost seconds of imports each; the child-process path is covered by
    # the tests above and below.
    home = make_home(tmp_path / "home", SIM)
    assert main(["--home", str(home), "--market", "sim", "backtest", *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def test_a_universe_without_data_is_one_line(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", SIM)
    csv = tmp_path / "u.csv"
    csv.write_text("symbol\nNOPE1\nNOPE2\n", encoding="utf-8")
    bars = tmp_path / "bars.csv"
    bars.write_text("date,symbol,open,high,low,close,volume\n2025-03-03,SPY,1,2,0.5,1.5,100\n",
                    encoding="utf-8")  # fmt: skip
    r = workstation("--home", str(home), "--market", f"replay:{bars}", "--universe", str(csv),
                    "backtest")  # fmt: skip
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "none of the" in lines[0] or "no" in lines[0]
