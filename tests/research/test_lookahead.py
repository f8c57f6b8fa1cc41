"""No look-ahead: cutting the data after session D changes no decision made up to D.

freqtrade's lookahead-analysis is the anchor: run once on all the data, then again on data that
ends at a session D, and require every decision made up to D to be the same. Here "every
decision" is the store: scans and their candidates, approvals, gap results, orders as they were
placed, fills, closed trades, equity snapshots and the audit log, up to D's end of day.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, date
from pathlib import Path
from typing import Any

import pytest

from tests.research.support import make_home, sim_bars_file
from workstation.core.calendar import get_calendar
from workstation.core.config import Config
from workstation.core.config_files import ConfigManager
from workstation.core.overrides import apply_overrides
from workstation.engine.scheduler import day_end
from workstation.market.replay import ReplayMarket
from workstation.research.backtest import BacktestData, run_backtest
from workstation.research.scans import ScanService
from workstation.research.universe import fixed_membership

FIRST = date(2024, 1, 22)
CUTS = (date(2024, 1, 29), date(2024, 2, 6))
LAST = date(2024, 2, 13)


def _config(home: Path) -> Config:
    # The shipped configuration, livelier: more rules fire in a few weeks.
    make_home(home)
    shipped = ConfigManager(home / "config", home / "config" / "history").current
    return apply_overrides(
        shipped,
        {
            "risk.exits.emergency_pct": 0.03,
            "risk.portfolio.daily_loss_limit": 0.006,
            "risk.exits.time_exit_day": 3,
        },
    )


def _run(market: ReplayMarket, cfg: Config, last: date, db: Path) -> None:
    cal = get_calendar()
    mem = fixed_membership(market.bars, market.universe())
    data = BacktestData(market.bars, mem.universe, "test", market.report)

    async def go() -> None:
        with ScanService(market.bars, mem, workers=1) as scans:
            run = await run_backtest(cfg, data, FIRST, last, db, scans, cal)
            assert run.differences == []

    asyncio.run(go())


# (table, columns, time column or None, "session" column or None): what is compared.
_TABLES: tuple[tuple[str, str, str | None, str | None], ...] = (
    ("scans", "session, regime, loaded, eligible, stale, failed, param_hash, status", None,
     "session"),
    ("candidates", "c.rank, c.symbol, c.strategy, c.side, c.grp, c.score, c.atr14, c.close",
     None, "s.session"),
    ("gap_results", "*", "at", None),
    ("orders", "client_order_id, symbol, side, order_type, tif, qty, stop_price, created_at",
     "created_at", None),
    ("fills", "*", "at", None),
    ("trades", "*", "exit_at", None),
    ("equity_snapshots", "*", "at", None),
    ("audit_log", "action, subject, detail, at", "at", None),
)  # fmt: skip


def _rows(db: Path, table: str, cols: str, at: str | None, sess: str | None, cut: Any) -> list:
    con = sqlite3.connect(db)
    try:
        if table == "candidates":
            sql = (
                f"SELECT {cols} FROM candidates c JOIN scans s ON s.id = c.scan_id "
                "WHERE s.session < ? ORDER BY s.session, c.rank"
            )
            return con.execute(sql, (cut[1],)).fetchall()
        # A session's own scan runs at 20:00, after its end of day: scans before D count.
        where, arg = (f"{at} <= ?", cut[0]) if at else (f"{sess} < ?", cut[1])
        if table == "audit_log":
            # Scan durations are wall-clock measurements, not decisions.
            rows = con.execute(
                f"SELECT {cols} FROM {table} WHERE {where} AND action != 'scan' ORDER BY id",
                (arg,),
            ).fetchall()
            return rows
        return con.execute(f"SELECT {cols} FROM {table} WHERE {where}", (arg,)).fetchall()
    finally:
        con.close()


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_cutting_the_data_after_a_session_changes_no_decision_up_to_it(tmp_path: Path) -> None:
    file = sim_bars_file(tmp_path / "bars.parquet", seed=3, today="2024-06-14", history=420)
    full = ReplayMarket(file)
    cfg = _config(tmp_path / "home")
    _run(full, cfg, LAST, tmp_path / "full.db")
    cal = get_calendar()
    for cut in CUTS:
        cut_market = ReplayMarket.from_bars(full.bars.upto(cut), full.universe())
        assert cut_market.last_session == cut  # nothing after D is there to look at
        db = tmp_path / f"cut-{cut}.db"
        _run(cut_market, cfg, cut, db)
        # Stored times are UTC ISO strings: compare against the cut's end of day in UTC.
        eod = day_end(cut, cfg.schedule, cal).astimezone(UTC)
        key = (eod.strftime("%Y-%m-%dT%H:%M:%S.999999+00:00"), cut.isoformat())
        compared = 0
        for table, cols, at, sess in _TABLES:
            want = _rows(tmp_path / "full.db", table, cols, at, sess, key)
            got = _rows(db, table, cols, at, sess, key)
            assert got == want, f"{table} differs up to {cut}"
            compared += len(want)
        assert compared > 50  # the comparison is not vacuous
    # The run traded: the equality above is about real decisions.
    con = sqlite3.connect(tmp_path / "full.db")
    n_trades = con.execute("SELECT COUNT(*) FROM trades").fetchone()[0]
    con.close()
    assert n_trades >= 10
