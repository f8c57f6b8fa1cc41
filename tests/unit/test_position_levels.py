"""Moving a position's SL/TP by hand and closing it: the position book with the real SimBroker
and Store. The moved level is stored on the position, audited with the old and new level, used
by the exit rules and by the broker's stop, and survives a restart."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.unit.engine_rig import DAY1, DAY2, Rig, at
from workstation.broker.base import OrderRejected
from workstation.broker.sim import SimBroker
from workstation.core.models import ExitReason, OrderIntent, OrderStatus, client_order_id
from workstation.engine.events import LevelsMoved, PositionUpdated
from workstation.engine.rules.levels import BEYOND_EMERGENCY, SLTP_OFF, STOP_THROUGH_PRICE

# The rig's long: 100 shares filled at 100, ATR 2: rule SL 97, TP 106, emergency 93.


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def stop_id(d: date, n: int) -> str:
    return client_order_id(d, "AAA", "trend", OrderIntent.STOP, n)


async def day2(rig: Rig, last: float = 101.0) -> None:
    """A position entered on day 1, rolled to day 2, with a print at ``last``."""
    await rig.enter("AAA", 100, 100.0)
    rig.go("09:00", DAY2)
    await rig.book.roll_session(DAY2)
    await rig.tick("AAA", last, "10:00", DAY2)


def test_no_move_on_day_1_the_stop_stays_at_the_emergency_level(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def scenario() -> Any:
        await rig.enter("AAA", 100, 100.0)
        await rig.tick("AAA", 101.0, "10:30")
        return await rig.book.move_levels("AAA", sl=98.0)

    move = run(scenario())
    assert not move.applied and move.check.reason == SLTP_OFF
    [stop] = rig.open_stops()
    assert stop.request.stop_price == 93.0
    [row] = rig.store.open_positions()
    assert (row.sl_manual, row.tp_manual) == (None, None)
    assert rig.store.audit_log(action="position.levels_moved") == []


def test_a_moved_stop_is_stored_audited_and_replaces_the_brokers_stop(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def scenario() -> Any:
        await day2(rig)
        return await rig.book.move_levels("AAA", sl=99.0, note="earnings tonight")

    move = run(scenario())
    assert move.applied and move.check.detail == "stop 97.00 -> 99.00"
    [stop] = rig.open_stops()
    assert (stop.client_order_id, stop.request.stop_price, stop.request.qty) == (
        stop_id(DAY2, 1),
        99.0,
        100,
    )
    old = rig.sim.order_by_client_id_sync(stop_id(DAY2, 0))
    assert old is not None and old.status is OrderStatus.CANCELED  # replaced
    [row] = rig.store.open_positions()
    assert (row.sl, row.tp, row.sl_manual, row.tp_manual) == (97.0, 106.0, 99.0, None)
    assert row.stop_client_order_id == stop_id(DAY2, 1)
    [audit] = rig.store.audit_log(action="position.levels_moved")
    assert audit.actor == "user" and audit.subject == "AAA"
    d = audit.detail or {}
    assert d["sl"] == {"from": 97.0, "to": 99.0} and d["tp"] == {"from": 106.0, "to": 106.0}
    assert d["note"] == "earnings tonight" and d["beyond_emergency"] is False
    [ev] = rig.of_type(LevelsMoved)
    assert (ev.old_sl, ev.new_sl, ev.old_tp, ev.new_tp) == (97.0, 99.0, 106.0, 106.0)
    state = rig.book.position("AAA")
    assert state is not None and (state.sl, state.rule_sl, state.sl_moved) == (99.0, 97.0, True)
    assert [e.change for e in rig.of_type(PositionUpdated)][-1] == "levels"


def test_the_exit_engine_uses_the_moved_stop(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def scenario() -> list[Any]:
        await day2(rig)
        await rig.book.move_levels("AAA", sl=99.0)
        # The engine decides first (the broker's stop would fill too): 99.01 holds, 99 exits.
        return [
            await rig.tick("AAA", 99.01, "11:00", DAY2, engine_first=True),
            await rig.tick("AAA", 99.0, "11:01", DAY2, engine_first=True),
        ]

    held, sent = run(scenario())
    assert held is None and sent is not None and sent.request.intent is OrderIntent.EXIT
    [trade] = rig.store.trades()
    assert trade.exit_reason == "STOP_LOSS"
    [decided] = rig.store.audit_log(action="exit.decided")
    assert "touched the stop 99" in (decided.detail or {})["detail"]


def test_the_brokers_stop_at_the_moved_level_closes_as_a_stop_loss(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def scenario() -> None:
        await day2(rig)
        # A stop moved onto the emergency level is the trader's stop loss, not an emergency.
        await rig.book.move_levels("AAA", sl=93.0)
        await rig.tick("AAA", 92.5, "11:00", DAY2)

    run(scenario())
    [trade] = rig.store.trades()
    assert (trade.exit_reason, trade.exit_price) == ("STOP_LOSS", 92.5)


def test_a_moved_target_takes_profit_there_and_the_stop_is_left_alone(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def scenario() -> list[Any]:
        await day2(rig)
        move = await rig.book.move_levels("AAA", tp=102.0)
        assert move.applied and move.stop is None
        return [
            await rig.tick("AAA", 101.99, "11:00", DAY2),
            await rig.tick("AAA", 102.0, "11:01", DAY2),
        ]

    held, sent = run(scenario())
    assert held is None and sent is not None
    assert [o.client_order_id for o in rig.orders_of(OrderIntent.STOP)] == [
        stop_id(DAY1, 0),
        stop_id(DAY2, 0),  # no replacement for a target move
    ]
    [trade] = rig.store.trades()
    assert (trade.exit_reason, trade.exit_price) == ("TAKE_PROFIT", 102.0)


def test_beyond_the_emergency_level_only_when_the_trader_says_so(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def scenario() -> list[Any]:
        await day2(rig)
        return [
            await rig.book.move_levels("AAA", sl=90.0),
            await rig.book.move_levels("AAA", sl=90.0, beyond_emergency_ok=True),
        ]

    refused, done = run(scenario())
    assert not refused.applied and refused.check.reason == BEYOND_EMERGENCY
    assert done.applied and done.check.beyond_emergency
    [stop] = rig.open_stops()
    assert stop.request.stop_price == 90.0
    [audit] = rig.store.audit_log(action="position.levels_moved")
    assert (audit.detail or {})["beyond_emergency"] is True
    assert (audit.detail or {})["warnings"] == ["the stop is beyond the emergency level 93.00"]


def test_a_stop_through_the_market_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def scenario() -> Any:
        await day2(rig, last=101.0)
        return await rig.book.move_levels("AAA", sl=101.0)

    move = run(scenario())
    assert move.check.reason == STOP_THROUGH_PRICE and not move.applied
    [stop] = rig.open_stops()
    assert stop.client_order_id == stop_id(DAY2, 0) and stop.request.stop_price == 97.0


def test_when_the_broker_refuses_the_new_stop_the_move_is_undone(tmp_path: Path) -> None:
    class RefusingReplace:
        def __init__(self, sim: SimBroker) -> None:
            self.sim = sim
            self.name = "refusing"

        def __getattr__(self, name: str) -> Any:
            return getattr(self.sim, name)

        async def replace_stop(self, *args: Any, **kwargs: Any) -> Any:
            raise OrderRejected("no", reason="stop price must be below the market")

    rig = Rig(tmp_path, wrap=RefusingReplace)

    async def scenario() -> Any:
        await rig.enter("AAA", 100, 100.0)
        rig.go("09:00", DAY2)
        # The day-2 re-level is refused too: the day-1 stop stays at the emergency level.
        await rig.book.roll_session(DAY2)
        await rig.tick("AAA", 101.0, "10:00", DAY2)
        return await rig.book.move_levels("AAA", sl=99.0)

    move = run(scenario())
    assert not move.applied and "undone" in move.why
    [row] = rig.store.open_positions()
    assert (row.sl_manual, row.tp_manual) == (None, None)
    [reverted] = rig.store.audit_log(action="position.levels_reverted")
    assert (reverted.detail or {})["sl"] == {"from": 97.0, "to": 99.0}
    state = rig.book.position("AAA")
    assert state is not None and state.sl == 97.0 and not state.sl_moved
    assert rig.of_type(LevelsMoved) == []


def test_back_to_the_rules_level_clears_the_manual_one(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def scenario() -> None:
        await day2(rig)
        await rig.book.move_levels("AAA", sl=99.0, tp=104.0)
        await rig.book.move_levels("AAA", sl=97.0, tp=106.0)

    run(scenario())
    [row] = rig.store.open_positions()
    assert (row.sl_manual, row.tp_manual) == (None, None)
    [stop] = rig.open_stops()
    assert stop.request.stop_price == 97.0


def test_moved_levels_survive_a_restart(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def before() -> None:
        await day2(rig)
        await rig.book.move_levels("AAA", sl=98.5, tp=103.0)

    run(before())
    again = rig.restart(now=at("11:00", DAY2))

    async def after() -> list[Any]:
        await again.book.restore()
        state = again.book.position("AAA")
        assert state is not None and (state.sl, state.tp) == (98.5, 103.0)
        assert (state.rule_sl, state.rule_tp) == (97.0, 106.0)
        stop = await again.book.ensure_stop("AAA")  # already right: nothing replaced
        assert stop is not None and stop.request.stop_price == 98.5
        return [await again.tick("AAA", 103.0, "11:30", DAY2)]

    [sent] = run(after())
    assert sent is not None
    [trade] = again.store.trades()
    assert trade.exit_reason == "TAKE_PROFIT"


def test_a_manual_close_is_a_manual_exit(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def scenario() -> Any:
        await day2(rig)
        order = await rig.book.exit_position("AAA", ExitReason.MANUAL)
        await rig.book.settle()
        return order

    order = run(scenario())
    assert order is not None and order.request.intent is OrderIntent.FLATTEN
    [trade] = rig.store.trades()
    assert (trade.exit_reason, trade.exit_price) == ("MANUAL", 101.0)
    assert rig.open_stops() == []


def test_the_print_watch_follows_the_moved_levels(tmp_path: Path) -> None:
    """The backtester's market asks the book which prints matter: the moved levels."""
    rig = Rig(tmp_path)

    async def scenario() -> None:
        await day2(rig)
        await rig.book.move_levels("AAA", sl=99.0, tp=104.0)

    run(scenario())
    t = at("11:00", DAY2)
    watch = rig.book.watch("AAA", t)
    assert watch is not None
    assert watch.lo == pytest.approx(99.0, rel=1e-6) and watch.hi == pytest.approx(104.0, rel=1e-6)
    assert rig.book.reacts_to("AAA", 99.0, t) and rig.book.reacts_to("AAA", 104.0, t)
    assert not rig.book.reacts_to("AAA", 99.01, t) and not rig.book.reacts_to("AAA", 103.99, t)
