"""A simulated week at max speed through ``workstation run --headless`` (in-process via main()).

The simulated market is deterministic for a (seed, today): the scenarios below were chosen for
what they produce, so every exit reason of rules §12 appears:

* seed 49, today 2024-03-08 (Friday): the week Monday 03-11 .. Friday 03-15 has STOP_LOSS,
  TAKE_PROFIT and TIME_EXIT (Monday's entries are forced out on Friday at 15:50);
* seed 23, same today: Monday 03-11 enters MRNA (long), which falls 7% below its fill the
  same day: the EMERGENCY exit of day 1. The natural market rarely does that (3 of seeds
  1-119 in these four sessions, all longs), so it is its own scenario rather than a
  requirement on the first week. (Before the simulated market took each ticker's real
  volatility, seed 2 did it with a short; none of seeds 1-119 does it with a short now: the
  rules' tables test that side.)
* MANUAL and KILL_SWITCH come from commands given to the running session (exit one
  position, then engage the kill switch with flatten), in a second in-process scenario.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import math
from argparse import Namespace
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest

from workstation.cli import main
from workstation.context import open_context
from workstation.core.calendar import ET
from workstation.engine.crashpoints import CrashHook
from workstation.engine.runner import HeadlessRunner, RunOptions
from workstation.engine.session_events import StepFinished
from workstation.store import Store

TODAY = "2024-03-08"
WEEK = ["2024-03-11", "2024-03-12", "2024-03-13", "2024-03-14", "2024-03-15"]


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    assert main(["--home", str(home), "config", "check"]) == 0
    app = home / "config" / "app.yaml"
    app.write_text(app.read_text().replace('today: ""', f'today: "{TODAY}"'))
    return home


def _week(
    home: Path, seed: int, sessions: int, capsys: pytest.CaptureFixture[str]
) -> list[dict[str, Any]]:
    capsys.readouterr()
    rc = main(
        [
            "--home",
            str(home),
            "--seed",
            str(seed),
            "run",
            "--headless",
            "--sessions",
            str(sessions),
            "--speed",
            "max",
            "--json",
        ]
    )
    out = capsys.readouterr()
    assert rc == 0, out.err
    return [json.loads(line) for line in out.out.splitlines()]


def test_a_simulated_week_at_max_speed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = _home(tmp_path)
    days = _week(home, 49, 5, capsys)
    assert [d["session"] for d in days] == WEEK
    reasons = {x["reason"] for d in days for x in d["exits"]}
    assert {"STOP_LOSS", "TAKE_PROFIT", "TIME_EXIT"} <= reasons
    for d in days:
        assert d["market"] == "sim" and d["regime"] in ("TREND", "RANGING", "HIGH_VOL")
        assert len(d["candidates"]) == 12
        # a recorded gap result for every candidate
        assert len(d["gaps"]) == len(d["candidates"])
        assert all(g["reason"] for g in d["gaps"])
        assert all(r["reason"] and r["detail"] for r in d["rejections"])
        assert d["pnl"] == pytest.approx(d["end_equity"] - d["start_equity"], abs=0.01)
        assert d["missed"] == []
        for x in d["exits"]:
            assert x["mfe_r"] is not None and x["mae_r"] is not None
            assert x["mfe_r"] >= 0 >= x["mae_r"]
            if x["reason"] == "TIME_EXIT":
                assert x["days_held"] == 5 and x["exit_at"][11:19] == "15:50:01"
            if x["reason"] in ("STOP_LOSS", "TAKE_PROFIT"):
                assert x["days_held"] >= 2  # SL/TP only from day 2
    # each day starts where the last one ended
    for a, b in itertools.pairwise(days):
        assert b["start_equity"] == pytest.approx(a["end_equity"])
    assert days[0]["entries"], "Monday enters the first candidates"

    store = Store.open(home / "data" / "workstation.db")
    try:
        perf = store.daily_performance()
        assert [p.session.isoformat() for p in perf] == WEEK
        trades = store.trades()
        assert {t.exit_reason for t in trades} == reasons
        assert sum(p.trades for p in perf) == len(trades)
        assert len(store.equity_snapshots()) == 5
        # no same-day re-entry, whatever happened
        exits = {(t.symbol, t.exit_session) for t in trades}
        for o in (o for s in WEEK for o in store.orders_for_session(date.fromisoformat(s))):
            if o.intent == "entry" and o.filled_qty > 0:
                assert (o.symbol, o.session) not in exits or any(
                    t.symbol == o.symbol and t.entry_session == o.session for t in trades
                )
    finally:
        store.close()


def test_a_day_one_move_of_7pct_against_a_position_is_an_emergency_exit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = _home(tmp_path)
    days = _week(home, 23, 4, capsys)
    [x] = [x for d in days for x in d["exits"] if x["reason"] == "EMERGENCY"]
    assert x["days_held"] == 1 and x["side"] == "long"  # a long 7% against it
    assert x["exit_price"] <= x["entry_price"] * 0.93 + 1e-9
    assert x["mae_pct"] <= -0.07 + 1e-9 and x["r"] < 0
    assert x["entry_session"] == x["exit_at"][:10] == "2024-03-11"


def _at(d: date, hm: str) -> datetime:
    return datetime.combine(d, time.fromisoformat(hm), tzinfo=ET)


def test_manual_and_kill_switch_exits_come_from_commands(tmp_path: Path) -> None:
    home = _home(tmp_path)
    ctx = open_context(Namespace(home=str(home), market=None, universe=None, seed=2))
    out, err = io.StringIO(), io.StringIO()
    runner = HeadlessRunner(
        ctx,
        RunOptions(sessions=2, speed=math.inf, json=True),
        out=out,
        err=err,
        crash_hook=CrashHook(None),
    )
    tuesday = date(2024, 3, 12)
    done: dict[str, Any] = {}

    async def script(r: HeadlessRunner) -> None:
        assert r.clock is not None and r.session is not None
        s = r.session
        await r.clock.sleep_until(_at(tuesday, "11:00"))
        held = sorted(s.book.held())
        done["manual"] = held[0]
        await s.exit_position(held[0])
        await r.clock.sleep_until(_at(tuesday, "12:00"))
        result = await s.engage_kill_switch(flatten=True)
        assert result is not None
        done["kill"] = sorted(o.symbol for o in result.orders)

    def started(r: HeadlessRunner) -> None:
        # The commands come once Tuesday's entries are done (the day loop then sleeps until
        # the time exit): a user clicking in the window, in simulated time.
        def on_step(ev: StepFinished) -> None:
            if ev.session == tuesday and ev.step == "entry_cutoff":
                asyncio.get_running_loop().create_task(script(r))

        r.bus.subscribe(StepFinished, on_step)

    runner.on_started = started
    assert runner.run_sync() == 0, err.getvalue()
    days = [json.loads(line) for line in out.getvalue().splitlines()]
    tue = days[-1]
    assert tue["kill_switch"] is True
    assert tue["notes"] == ["kill switch engaged (USER): engaged by the user"]
    by_reason: dict[str, list[str]] = {}
    for x in tue["exits"]:
        by_reason.setdefault(x["reason"], []).append(x["symbol"])
    assert by_reason["MANUAL"] == [done["manual"]]
    assert sorted(by_reason["KILL_SWITCH"]) == done["kill"] and done["kill"]
    assert tue["open_positions"] == []
    store = Store.open(home / "data" / "workstation.db")
    try:
        assert store.open_positions() == []
        assert store.open_orders() == []  # no protective stop left behind
        [row] = store.audit_log(action="kill_switch.engaged", limit=None)
        assert row.actor == "user"
    finally:
        store.close()


def test_an_engine_exit_is_ordered_at_the_print_that_decided_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 12 item 9: the simulated decision-to-order delay, measured on every engine exit
    of a week. The simulated market delivered a minute's prints (stamped :20 and :40) only
    when the minute ended, so an exit decided at 14:47:20 was ordered at 14:48:00. At max
    speed the clock stands still while a print is processed: the delay must be zero."""
    home = _home(tmp_path)
    _week(home, 49, 5, capsys)
    store = Store.open(home / "data" / "workstation.db")
    try:
        delays: list[tuple[str, float]] = []
        for row in store.audit_log(action="exit.decided", limit=None):
            cid = (row.detail or {}).get("order")
            if cid is None:
                continue
            order = store.order_by_client_id(cid)
            assert order is not None
            delays.append((cid, (order.created_at - row.at).total_seconds()))
    finally:
        store.close()
    assert len(delays) >= 3, delays  # TAKE_PROFIT and TIME_EXIT exits are the engine's
    late = [(cid, d) for cid, d in delays if abs(d) > 0.0]
    assert late == [], f"decision-to-order delays of simulated time: {late}"
