"""One engine: a backtest trades exactly what ``workstation run --headless`` trades.

The same sessions of the same daily bars, as two real processes:

* ``workstation run --headless --market replay:FILE --from D --sessions N``: the engine with
  the replay market's full stream (every watched symbol every 5 seconds);
* ``workstation backtest --market replay:FILE --from D --to E --universe current``: the same
  engine with the thinned stream, scans made ahead in worker processes.

Required equal: every trade (symbol, side, strategy, entry session, quantity, entry and exit
price to the cent, exit time, reason) and, beyond the trades, the two stores table by table
(scans, candidates, gap results, orders, fills, positions, equity, audit log).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.research.support import (
    backtest_doc,
    comparable,
    headless_trades,
    make_home,
    sim_bars_file,
)

# Costs both commands share: the simulated exchange of run --headless charges no regulatory
# fees, so the backtest's are off here.
_NO_FEES = {"backtest.sec_fee_rate": 0.0, "backtest.taf_per_share": 0.0}

# Tables compared row for row, with what is a measurement rather than a decision left out.
_SAME: dict[str, str] = {
    "scans": "session, market, param_hash, status, regime, loaded, eligible, stale, failed",
    "candidates": "rank, symbol, sector, strategy, side, grp, score, atr14, approval",
    "gap_results": "*",
    "orders": "*",
    "fills": "*",
    "positions": "*",
    "equity_snapshots": "*",
    "daily_performance": "*",
    "audit_log": "at, actor, action, subject",
}


def _table(db: Path, table: str, cols: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(db)
    try:
        order = "session" if table == "daily_performance" else "id"
        return con.execute(f"SELECT {cols} FROM {table} ORDER BY {order}").fetchall()
    finally:
        con.close()


def _same_stores(headless: Path, backtest: Path) -> None:
    for table, cols in _SAME.items():
        a = _table(headless, table, cols)
        b = _table(backtest, table, cols)
        if table == "scans":
            # The backtest's scans name their market "backtest", the replay's "replay".
            a = [r[:1] + r[2:] for r in a]
            b = [r[:1] + r[2:] for r in b]
        assert a == b, f"{table}: the backtest's store differs from run --headless"


def _parity(tmp_path: Path, market: str, first: str, last: str, sessions: int,
            edits: dict[str, dict[str, Any]]) -> list[tuple[Any, ...]]:  # fmt: skip
    edits = {**edits, "app.yaml": {**edits.get("app.yaml", {}), **_NO_FEES}}
    live_home = make_home(tmp_path / "headless", edits)
    bt_home = make_home(tmp_path / "backtest", edits)
    live = comparable(headless_trades(live_home, market, first, sessions))
    doc = backtest_doc(bt_home, market, first, last, "--universe", "current")
    assert doc["period"]["start"] == first and doc["period"]["end"] == last
    back = comparable(doc["trades"])
    assert back == live
    _same_stores(live_home / "data" / "workstation.db", Path(doc["runs"][0]["store"]))
    return live


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_backtest_trades_what_the_headless_engine_trades_on_the_simulated_market(
    tmp_path: Path,
) -> None:
    # A lively configuration so one month exercises the rules: the day-1 emergency exit at
    # 3%, SL/TP from day 1, the kill switch at -0.6%, a short time exit.
    edits = {
        "risk.yaml": {
            "exits.emergency_pct": 0.03,
            "exits.time_exit_day": 3,
            "portfolio.daily_loss_limit": 0.006,
        },
    }
    file = sim_bars_file(tmp_path / "sim.parquet", seed=3, today="2024-06-14", history=420)
    trades = _parity(tmp_path, f"replay:{file}", "2024-01-22", "2024-02-16", 20, edits)
    reasons = {t[-1] for t in trades}
    assert len(trades) >= 15
    assert {"EMERGENCY", "STOP_LOSS", "TIME_EXIT"} <= reasons


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.realdata
def test_the_backtest_trades_what_the_headless_engine_trades_on_real_data(
    tmp_path: Path, shared_data: Path
) -> None:
    market = (
        f"replay:{shared_data / 'sp500_daily_2011_2022.parquet'},"
        f"{shared_data / 'etf_daily_1993_2024.csv'}"
    )
    # February-March 2020: a crash, the kill switch, gaps through stops, HIGH_VOL.
    edits = {"risk.yaml": {"exits.emergency_pct": 0.05}}
    trades = _parity(tmp_path, market, "2020-02-18", "2020-03-16", 20, edits)
    assert len(trades) >= 10
