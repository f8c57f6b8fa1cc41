"""Bad bars never trade, end to end (issue 12.3, trading rules §14).

Real processes (``python -m workstation run --headless --market replay:FILE``) over a real
SQLite file and a replay file generated from the simulated market (80 S&P 500 names and SPY,
seed 7, 312 sessions to 2024-03-25). The account starts on the evening of 2024-03-13:

1. a first run trades 2024-03-14 on the clean file: group A/B entries are filled;
2. the file then gets a bad print on one held symbol (its 2024-03-15 bar at 0.01, the next
   session back to normal: a spike) and two disagreeing rows for one session of a symbol not
   held (a duplicate conflict), as a data vendor's file can;
3. a second run continues the account for 2024-03-15 and 2024-03-18.

Before §14 the replay market synthesized prints at 0.01 from that bar and the held position
was stopped out at 0.01 (the issue's R -17.98), and the conflicting rows were resolved by
keeping the last. Now the bad bar is not served at all (no prints, no fills, no MFE/MAE), the
symbol is ineligible while the bar is in a scan's window, and every problem is named by kind
and symbol: in the scan's store row and JSON file, in ``workstation scan --json`` and in the
run's log.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from workstation.core.calendar import ET
from workstation.core.config import SimConfig
from workstation.core.models import Universe
from workstation.market.sim import SimMarket
from workstation.market.universe import sp500_universe

REPO = Path(__file__).resolve().parents[2]
START = "2024-03-13"  # the scan evening the account starts on
DAY1, DAY2, DAY3 = "2024-03-14", "2024-03-15", "2024-03-18"


class _End:
    """A clock after the simulation's last session: every generated bar is revealed."""

    def now(self) -> datetime:
        return datetime(2030, 1, 1, tzinfo=ET)

    async def sleep_until(self, t: datetime) -> None:  # pragma: no cover - never streamed
        return None


def _replay_file(path: Path) -> pd.DataFrame:
    full = sp500_universe()
    universe = Universe.of({s: full.sector(s) for s in list(full.symbols)[:80]}, "SPY")
    cfg = SimConfig(seed=7, today="2024-03-08", history_sessions=300, future_sessions=12)
    market = SimMarket(universe, cfg, _End())
    bars = market.daily_bars_now(list(market.symbols), market.sessions[-1], 400).to_long()
    bars["date"] = pd.to_datetime(bars["date"]).dt.strftime("%Y-%m-%d")
    bars.to_csv(path, index=False, float_format="%.4f")
    return bars


def _cli(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKSTATION_")}
    return subprocess.run(
        [sys.executable, "-m", "workstation", "--home", str(home), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _run(home: Path, replay: Path, sessions: int) -> list[dict[str, Any]]:
    argv = f"run --headless --sessions {sessions} --speed max --json".split()
    done = _cli(home, "--market", f"replay:{replay}", *argv)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("bad_bars")
    replay = root / "bars.csv"
    bars = _replay_file(replay)
    home = root / "home"
    assert _cli(home, "config", "check").returncode == 0
    app = home / "config" / "app.yaml"
    app.write_text(app.read_text().replace('today: ""', f'today: "{START}"'))

    [first] = _run(home, replay, 1)
    assert first["session"] == DAY1
    entered = sorted(e["symbol"] for e in first["entries"])
    assert entered, "the first session enters candidates"
    held = entered[0]
    conflicted = next(s for s in sorted(set(bars["symbol"])) if s not in entered and s != "SPY")

    # The dirty file: the held symbol's DAY2 bar at 0.01 (back to normal on DAY3); a second,
    # different row for another symbol's DAY2.
    bad = (bars["symbol"] == held) & (bars["date"] == DAY2)
    before = float(bars.loc[(bars["symbol"] == held) & (bars["date"] == DAY1), "close"].iloc[0])
    bars.loc[bad, ["open", "high", "low", "close"]] = 0.01
    twin = bars[(bars["symbol"] == conflicted) & (bars["date"] == DAY2)].copy()
    twin["close"] = twin["close"] * 1.05
    pd.concat([bars, twin]).to_csv(replay, index=False, float_format="%.4f")

    later = _run(home, replay, 2)
    assert [d["session"] for d in later] == [DAY2, DAY3]
    # `workstation scan --json` of the dirty session, in a home of its own (whose clock is not
    # held at the account's start).
    scan_json = _cli(
        root / "scan_home", "--market", f"replay:{replay}", "scan", "--date", DAY2, "--json"
    )
    assert scan_json.returncode == 0, scan_json.stderr[-3000:]
    return {
        "home": home,
        "held": held,
        "held_close": before,
        "conflicted": conflicted,
        "days": [first, *later],
        "scan_json": json.loads(scan_json.stdout),
    }


def _db(home: Path) -> sqlite3.Connection:
    con = sqlite3.connect(home / "data" / "workstation.db")
    con.row_factory = sqlite3.Row
    return con


def test_the_bad_print_does_not_exit_the_held_position(story: dict[str, Any]) -> None:
    held = story["held"]
    exits = [x for d in story["days"] for x in d["exits"]]
    assert all(x["exit_price"] > 1.0 for x in exits), exits
    assert all(x["r"] > -5 for x in exits), exits  # the bug was R -17.98
    assert not [x for x in exits if x["symbol"] == held and x["exit_at"][:10] == DAY2]
    con = _db(story["home"])
    try:
        trades = con.execute("SELECT * FROM trades").fetchall()
        assert all(t["exit_price"] > 1.0 and t["r_multiple"] > -5 for t in trades)
        # No fill of any order at the bad price, at the simulated exchange or anywhere.
        fills = con.execute("SELECT price FROM fills").fetchall()
        assert fills and min(f["price"] for f in fills) > 1.0
        # The excursions never saw the 0.01 print.
        pos = con.execute("SELECT * FROM positions WHERE symbol = ? ORDER BY id", [held]).fetchall()
        assert pos
        mfe = con.execute(
            "SELECT mae_price FROM mfe_mae WHERE position_id = ?", [pos[0]["id"]]
        ).fetchall()
        assert all(r["mae_price"] > 0.5 * story["held_close"] for r in mfe)
    finally:
        con.close()


def test_the_scan_names_every_problem_by_kind_and_symbol(story: dict[str, Any]) -> None:
    held, conflicted = story["held"], story["conflicted"]
    con = _db(story["home"])
    try:
        row = con.execute(
            "SELECT * FROM scans WHERE session = ? AND status = 'ok' ORDER BY id DESC", [DAY2]
        ).fetchone()
        problems = json.loads(row["data_problems"])
        assert problems["by_kind"]["spike"] == {held: [DAY2]}
        assert problems["by_kind"]["duplicate_conflict"] == {conflicted: [DAY2]}
        ineligible = json.loads(row["ineligible"])
        assert ineligible["spike"] == 1 and ineligible["duplicate_conflict"] == 1
        picked = {
            r["symbol"]
            for r in con.execute("SELECT symbol FROM candidates WHERE scan_id = ?", [row["id"]])
        }
        assert held not in picked and conflicted not in picked  # never entered
    finally:
        con.close()
    doc = json.loads((story["home"] / "data" / "scans" / f"{DAY2}.json").read_text())
    assert doc["report"]["data_problems"]["by_kind"]["spike"] == {held: [DAY2]}
    cli = story["scan_json"]["report"]
    assert cli["data_problems"]["by_kind"]["duplicate_conflict"] == {conflicted: [DAY2]}
    assert cli["ineligible"]["spike"] == 1


def test_the_log_names_them_too(story: dict[str, Any]) -> None:
    lines = (story["home"] / "data" / "logs" / "run.jsonl").read_text().splitlines()
    log = "\n".join(json.loads(line)["msg"] for line in lines)  # the run's JSON-lines log
    held, conflicted = story["held"], story["conflicted"]
    assert f"1 spike (not served) in 1 symbol ({held}): {held} {DAY2}: close 0.01" in log
    assert f"1 duplicate conflict (not served) in 1 symbol ({conflicted})" in log
    assert f"scan of {DAY2}: data problems: " in log
