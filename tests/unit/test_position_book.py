"""The position book with the real SimBroker and Store: entries, stops, exits, MFE/MAE."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.unit.engine_rig import (
    DAY1,
    DAY2,
    DAY3,
    DAY5,
    Rig,
    at,
    entry_request,
    record_candidate,
    risk_config,
)
from workstation.broker.base import OrderRejected
from workstation.broker.sim import SimBroker
from workstation.core.models import (
    ExitReason,
    OrderIntent,
    OrderRequest,
    OrderStatus,
    Side,
    TimeInForce,
    client_order_id,
)
from workstation.engine.events import (
    ExitHeld,
    PositionClosed,
    PositionOpened,
    PositionUpdated,
)
from workstation.engine.positions import EntryPlan, round_stop


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def stop_id(d: date, n: int, symbol: str = "AAA") -> str:
    return client_order_id(d, symbol, "trend", OrderIntent.STOP, n)


# ---------------------------------------------------------------------- entries
def test_an_entry_fill_opens_the_position_and_places_the_emergency_stop(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    run(rig.enter("AAA", 100, 100.0))
    [row] = rig.store.open_positions()
    assert (row.symbol, row.side, row.qty, row.avg_entry) == ("AAA", "long", 100, 100.0)
    assert (row.sl, row.tp, row.entry_session) == (97.0, 106.0, DAY1)
    [stop] = rig.open_stops()
    assert stop.client_order_id == stop_id(DAY1, 0) == row.stop_client_order_id
    assert (stop.request.qty, stop.request.stop_price) == (100, 93.0)
    assert stop.request.tif is TimeInForce.GTC and stop.request.intent is OrderIntent.STOP
    kinds = [
        type(e).__name__ for e in rig.events if isinstance(e, PositionOpened | PositionUpdated)
    ]
    assert kinds == ["PositionOpened", "PositionUpdated"]
    assert rig.of_type(PositionUpdated)[0].change == "stop"
    m = rig.store.get_mfe_mae(row.id)
    assert m is not None and (m.mfe_price, m.mae_price) == (100.0, 100.0)


def test_a_short_gets_its_stop_above(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    run(rig.enter("AAA", 50, 100.0, side=Side.SHORT))
    [row] = rig.store.open_positions()
    assert (row.side, row.sl, row.tp) == ("short", 103.0, 94.0)
    [stop] = rig.open_stops()
    assert (stop.request.side, stop.request.qty, stop.request.stop_price) == ("buy", 50, 107.0)


def test_partial_fills_grow_the_position_and_the_stop_waits_for_the_rest(tmp_path: Path) -> None:
    """The rest fills within the wait: one stop for the whole position, never one beside the
    working entry (the broker would refuse it as a potential wash trade)."""
    rig = Rig(tmp_path, partial_fill_sizes={"AAA": [30, 30]})

    async def scenario() -> None:
        await rig.enter("AAA", 100, 100.0)  # 30 @ 100 on submission
        assert rig.open_stops() == []  # deferred, not refused
        await rig.tick("AAA", 102.0, "10:00:10")  # 30 @ 102
        assert rig.open_stops() == []
        await rig.tick("AAA", 104.0, "10:00:20")  # the last 40 @ 104: the entry is done
        await rig.pass_time("10:00:31")  # the wait would have ended: nothing left to do

    run(scenario())
    [row] = rig.store.open_positions()
    avg = (30 * 100 + 30 * 102 + 40 * 104) / 100
    assert row.qty == 100 and row.avg_entry == pytest.approx(avg)
    assert row.sl == pytest.approx(avg - 3.0) and row.tp == pytest.approx(avg + 6.0)
    stops = rig.orders_of(OrderIntent.STOP)
    assert [(o.request.qty, o.request.stop_price, o.status) for o in stops] == [
        (100, round_stop(avg * 0.93, Side.LONG), OrderStatus.ACCEPTED)
    ]
    assert [o.client_order_id for o in rig.open_stops()] == [stop_id(DAY1, 0)]
    pos = rig.book.position("AAA")
    assert pos is not None and pos.qty == 100 and pos.fill_price == pytest.approx(avg)
    assert pos.mfe_price >= pos.fill_price >= pos.mae_price  # excursions from the new average
    changes = [e.change for e in rig.of_type(PositionUpdated)]
    assert changes.count("fill") == 2 and changes.count("stop_pending") == 1
    [deferred] = rig.store.audit_log(action="stop.deferred")
    assert (deferred.detail or {})["filled"] == 30 and (deferred.detail or {})["working"] == 70
    assert rig.store.audit_log(action="protection.problem") == []
    assert rig.store.audit_log(action="entry.remainder_canceled") == []


def test_after_the_wait_the_rest_is_canceled_and_the_filled_shares_get_their_stop(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, partial_fill_sizes={"AAA": [30, 10, 10, 10, 10, 10, 10]})
    entry = client_order_id(DAY1, "AAA", "trend", OrderIntent.ENTRY)

    async def scenario() -> None:
        await rig.enter("AAA", 100, 100.0)  # 30 @ 100
        await rig.tick("AAA", 100.0, "10:00:20")  # 10 more
        assert rig.open_stops() == []
        await rig.pass_time("10:00:29")  # not yet
        assert rig.open_stops() == [] and rig.sim.order_by_client_id_sync(entry).status.is_open  # type: ignore[union-attr]
        await rig.pass_time("10:00:30")  # 30 s after the first fill

    run(scenario())
    assert rig.sim.order_by_client_id_sync(entry).status is OrderStatus.CANCELED  # type: ignore[union-attr]
    [stop] = rig.open_stops()
    assert (stop.request.qty, stop.request.stop_price) == (40, 93.0)
    [row] = rig.store.open_positions()
    assert row.qty == 40 and row.stop_client_order_id == stop.client_order_id
    [canceled] = rig.store.audit_log(action="entry.remainder_canceled")
    d = canceled.detail or {}
    assert (d["order"], d["filled"], d["canceled"], d["waited_s"]) == (entry, 40, 60, 30.0)
    assert rig.store.audit_log(action="protection.problem") == []
    assert [o.status for o in rig.sim.orders() if o.request.intent is OrderIntent.STOP] == [
        OrderStatus.ACCEPTED
    ]  # never a refused stop beside the working entry


def test_during_the_wait_the_engine_watches_the_emergency_level(tmp_path: Path) -> None:
    rig = Rig(tmp_path, partial_fill_sizes={"AAA": [30, 10, 10, 10, 10, 10, 10]})
    entry = client_order_id(DAY1, "AAA", "trend", OrderIntent.ENTRY)

    async def scenario() -> None:
        await rig.enter("AAA", 100, 100.0)  # 30 @ 100, no stop yet
        # A crash print: the exchange fills 10 more at 85 (average 96.25, emergency 89.51);
        # the engine exits: the rest of the entry is canceled first, then one sell.
        await rig.tick("AAA", 85.0, "10:00:05")
        await rig.tick("AAA", 85.5, "10:00:06")  # (the sim fills the exit in pieces too)

    run(scenario())
    assert rig.store.open_positions() == []
    [trade] = rig.store.trades()
    assert (trade.exit_reason, trade.qty) == ("EMERGENCY", 40)
    assert rig.sim.order_by_client_id_sync(entry).status is OrderStatus.CANCELED  # type: ignore[union-attr]
    assert rig.orders_of(OrderIntent.STOP) == []  # never one beside the working entry
    assert rig.sim.positions_sync() == {}


def test_the_entry_cutoff_ends_the_wait_at_once(tmp_path: Path) -> None:
    rig = Rig(tmp_path, partial_fill_sizes={"AAA": [30, 10, 10, 10, 10, 10, 10]})

    async def scenario() -> None:
        await rig.enter("AAA", 100, 100.0, hm="09:59:50")  # 30 @ 100
        rig.go("10:00:00")
        await rig.om.cancel_entries(DAY1)  # the 10:00 cut-off cancels the rest
        await rig.book.settle()

    run(scenario())
    [stop] = rig.open_stops()
    assert stop.request.qty == 30
    assert rig.book._stop_timers == {}
    assert rig.store.audit_log(action="entry.remainder_canceled") == []  # not the book's doing


# ------------------------------------------------------------ the protective stop
def test_the_stop_moves_from_the_emergency_level_to_the_sl_on_day_2(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def scenario() -> None:
        await rig.enter("AAA", 100, 100.0)
        rig.go("09:00", DAY2)
        await rig.book.roll_session(DAY2)
        await rig.book.roll_session(DAY2)  # idempotent: nothing to change

    run(scenario())
    [stop] = rig.open_stops()
    assert (stop.client_order_id, stop.request.stop_price, stop.request.qty) == (
        stop_id(DAY2, 0),
        97.0,
        100,
    )
    assert len(rig.orders_of(OrderIntent.STOP)) == 2  # the day-1 stop, replaced
    first = rig.sim.order_by_client_id_sync(stop_id(DAY1, 0))
    assert first is not None and first.status is OrderStatus.CANCELED
    [row] = rig.store.open_positions()
    assert row.stop_client_order_id == stop_id(DAY2, 0)


def test_a_stop_canceled_behind_our_back_is_put_back(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def scenario() -> None:
        await rig.enter("AAA", 100, 100.0)
        rig.sim.cancel_sync(stop_id(DAY1, 0))
        await rig.book.settle()

    run(scenario())
    assert [o.client_order_id for o in rig.open_stops()] == [stop_id(DAY1, 1)]


@pytest.mark.parametrize(
    ("day", "price", "reason"),
    [(DAY1, 92.0, ExitReason.EMERGENCY), (DAY2, 96.5, ExitReason.STOP_LOSS)],
    ids=["day1-emergency", "day2-stop-loss"],
)
def test_a_stop_filled_at_the_broker_closes_the_position(
    tmp_path: Path, day: date, price: float, reason: ExitReason
) -> None:
    rig = Rig(tmp_path)

    async def scenario() -> None:
        await rig.enter("AAA", 100, 100.0)
        if day == DAY2:
            rig.go("09:00", DAY2)
            await rig.book.roll_session(DAY2)
        await rig.tick("AAA", price, "11:00", day)  # the broker sees it first: the stop fills
        await rig.tick("AAA", price - 1, "11:01", day)

    run(scenario())
    assert rig.store.open_positions() == []
    [trade] = rig.store.trades()
    assert (trade.exit_reason, trade.exit_price, trade.qty) == (str(reason), price, 100)
    assert rig.orders_of(OrderIntent.EXIT) == []
    assert rig.book.position("AAA") is None
    assert rig.sim.positions_sync() == {}
    assert trade.mae_price == price  # the exit fill counts in the excursions


# ------------------------------------------------------------------------ exits
@pytest.mark.parametrize(
    ("reason", "day", "hm", "broker_print", "quote", "exit_price", "days_held"),
    [
        (ExitReason.EMERGENCY, DAY1, "11:00", 93.01, 93.0, 93.01, 1),
        (ExitReason.STOP_LOSS, DAY2, "11:00", 97.01, 97.0, 97.01, 2),
        (ExitReason.TAKE_PROFIT, DAY2, "11:00", 106.0, 106.0, 106.0, 2),
        (ExitReason.TIME_EXIT, DAY5, "15:50", 101.0, 101.0, 101.0, 5),
    ],
    ids=["emergency-day1-exactly-7pct", "sl-touched-day2", "tp-touched-day2", "day5-15:50"],
)
def test_exits_send_one_exit_order_after_canceling_the_stop(
    tmp_path: Path,
    reason: ExitReason,
    day: date,
    hm: str,
    broker_print: float,
    quote: float,
    exit_price: float,
    days_held: int,
) -> None:
    rig = Rig(tmp_path)

    async def scenario() -> list[Any]:
        await rig.enter("AAA", 100, 100.0)
        if day != DAY1:
            rig.go("09:00", day)
            await rig.book.roll_session(day)
        # the last trade at the broker, then our quote touching the level
        rig.go(hm, day)
        rig.sim.on_price("AAA", broker_print, rig.clock.t)
        sent = [await rig.book.on_price("AAA", quote, rig.clock.t)]
        for p in (quote - 0.5, quote - 1.0):  # more prices: no second exit
            sent.append(await rig.book.on_price("AAA", p, rig.clock.t + timedelta(seconds=1)))
        await rig.book.settle()
        return sent

    sent = run(scenario())
    assert sent[0] is not None and sent[1:] == [None, None]
    [exit_order] = rig.orders_of(OrderIntent.EXIT)
    assert exit_order.client_order_id == client_order_id(day, "AAA", "trend", OrderIntent.EXIT, 0)
    assert exit_order.status is OrderStatus.FILLED and exit_order.request.qty == 100
    assert rig.open_stops() == []  # canceled before the exit (the sim enforces available qty)
    [trade] = rig.store.trades()
    assert (trade.exit_reason, trade.exit_price, trade.days_held) == (
        str(reason),
        exit_price,
        days_held,
    )
    assert rig.store.open_positions() == [] and rig.sim.positions_sync() == {}
    closed = rig.of_type(PositionClosed)
    assert len(closed) == 1 and closed[0].reason is reason and closed[0].trade == trade
    decided = rig.store.audit_log(action="exit.decided")
    assert [d.detail["exit_reason"] for d in decided if d.detail] == [str(reason)]  # type: ignore[index]
    events = [e.to_status for e in rig.store.order_events(exit_order.client_order_id)]
    assert events[0] == "new"
    assert rig.store.order_events(exit_order.client_order_id)[0].detail["exit_reason"] == str(  # type: ignore[index]
        reason
    )


def test_no_time_exit_a_second_before_1550_on_day_5(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def scenario() -> Any:
        await rig.enter("AAA", 100, 100.0)
        return await rig.tick("AAA", 101.0, "15:49:59", DAY5)

    assert run(scenario()) is None
    assert rig.book.position("AAA") is not None


def test_a_quote_while_the_exit_is_in_flight_sends_no_second_exit(tmp_path: Path) -> None:
    release = asyncio.Event()
    calls: list[str] = []

    class Slow:
        def __init__(self, sim: SimBroker) -> None:
            self.sim = sim
            self.name = "slow"

        def __getattr__(self, name: str) -> Any:
            return getattr(self.sim, name)

        async def submit(self, request: OrderRequest):  # type: ignore[no-untyped-def]
            calls.append(request.client_order_id)
            if request.intent is OrderIntent.EXIT:
                await release.wait()
            return await self.sim.submit(request)

    rig = Rig(tmp_path, wrap=Slow)

    async def scenario() -> list[Any]:
        await rig.enter("AAA", 100, 100.0)
        rig.go("11:00")
        rig.sim.on_price("AAA", 93.01, rig.clock.t)
        first = asyncio.create_task(rig.book.on_price("AAA", 92.5, rig.clock.t))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        second = await rig.book.on_price("AAA", 92.0, rig.clock.t + timedelta(seconds=1))
        pos = rig.book.position("AAA")
        assert pos is not None and pos.exiting and pos.exit_reason is ExitReason.EMERGENCY
        release.set()
        return [await first, second]

    first, second = run(scenario())
    assert first is not None and second is None
    assert len(rig.orders_of(OrderIntent.EXIT)) == 1
    assert [c for c in calls if "-ex" in c] == [first.client_order_id]
    [trade] = rig.store.trades()
    assert trade.exit_reason == "EMERGENCY"


def test_an_exit_waiting_for_the_open_is_not_sent_twice(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def scenario() -> list[Any]:
        await rig.enter("AAA", 100, 100.0)
        out = []
        for hm, p in (("09:00", 96.0), ("09:05", 95.0), ("09:10", 94.0)):  # pre-market, day 2
            out.append(await rig.tick("AAA", p, hm, DAY2))
        rig.sim.on_open("AAA", 95.5, at("09:30", DAY2))
        await rig.book.settle()
        return out

    out = run(scenario())
    assert out[0] is not None and out[1:] == [None, None]
    assert len(rig.orders_of(OrderIntent.EXIT)) == 1
    [trade] = rig.store.trades()
    assert (trade.exit_reason, trade.exit_price) == ("STOP_LOSS", 95.5)


def test_a_rejected_exit_restores_the_stop_and_retries_later(tmp_path: Path) -> None:
    refuse = {"on": True}

    class Refusing:
        def __init__(self, sim: SimBroker) -> None:
            self.sim = sim
            self.name = "refusing"

        def __getattr__(self, name: str) -> Any:
            return getattr(self.sim, name)

        async def submit(self, request: OrderRequest):  # type: ignore[no-untyped-def]
            if request.intent is OrderIntent.EXIT and refuse["on"]:
                raise OrderRejected("no", reason="market closed for this symbol")
            return await self.sim.submit(request)

    rig = Rig(tmp_path, wrap=Refusing)

    async def scenario() -> list[Any]:
        await rig.enter("AAA", 100, 100.0)
        rig.go("09:00", DAY2)
        await rig.book.roll_session(DAY2)
        out = [await rig.tick("AAA", 106.5, "11:00", DAY2)]  # TP: refused
        assert len(rig.open_stops()) == 1  # the stop is back
        out.append(await rig.tick("AAA", 106.6, "11:00:30", DAY2))  # within the cool-down
        refuse["on"] = False
        out.append(await rig.tick("AAA", 106.7, "11:01:01", DAY2))  # retried
        return out

    out = run(scenario())
    assert out[0] is None and out[1] is None and out[2] is not None
    exits = [o for o in rig.store.orders_for_session(DAY2) if o.intent == "exit"]
    assert [(o.status, o.reject_reason) for o in exits] == [
        ("rejected", "market closed for this symbol"),
        ("filled", None),
    ]
    [trade] = rig.store.trades()
    assert (trade.exit_reason, trade.exit_price) == ("TAKE_PROFIT", 106.7)
    assert len(rig.store.audit_log(action="exit.failed")) == 1


# -------------------------------------------------------------------- PDT guard
def test_pdt_holds_a_same_day_stop_loss_but_not_the_emergency_exit(tmp_path: Path) -> None:
    # SL from day 1 so a same-day stop-loss can happen at all; equity under $25,000.
    rig = Rig(tmp_path, equity=20_000.0, config=risk_config(sltp_from_day=1))

    async def scenario() -> list[Any]:
        await rig.enter("AAA", 100, 100.0)
        # Under the PDT minimum the broker-side stop stays at the emergency level today.
        assert [o.request.stop_price for o in rig.open_stops()] == [93.0]
        out = [await rig.tick("AAA", 96.9, "11:00", engine_first=True)]
        out.append(await rig.tick("AAA", 96.8, "11:01", engine_first=True))
        rig.sim.on_price("AAA", 93.01, at("11:02"))
        out.append(await rig.book.on_price("AAA", 93.0, at("11:02")))
        await rig.book.settle()
        return out

    out = run(scenario())
    assert out[0] is None and out[1] is None and out[2] is not None
    held = rig.of_type(ExitHeld)
    assert [(h.reason, h.guard) for h in held] == [
        (ExitReason.STOP_LOSS, "PDT_WAIT_NEXT_SESSION")
    ]  # recorded once, not on every quote
    assert len(rig.store.audit_log(action="exit.held")) == 1
    [trade] = rig.store.trades()
    assert trade.exit_reason == "EMERGENCY"


def test_with_enough_equity_the_same_day_stop_loss_goes_out(tmp_path: Path) -> None:
    rig = Rig(tmp_path, equity=100_000.0, config=risk_config(sltp_from_day=1))

    async def scenario() -> Any:
        await rig.enter("AAA", 100, 100.0)
        assert [o.request.stop_price for o in rig.open_stops()] == [97.0]
        rig.sim.on_price("AAA", 97.01, at("11:00"))
        out = await rig.book.on_price("AAA", 96.9, at("11:00"))
        await rig.book.settle()
        return out

    assert run(scenario()) is not None
    [trade] = rig.store.trades()
    assert trade.exit_reason == "STOP_LOSS" and trade.days_held == 1


def test_pdt_holds_a_manual_exit_of_a_position_opened_today(tmp_path: Path) -> None:
    rig = Rig(tmp_path, equity=20_000.0)

    async def scenario() -> tuple[Any, Any]:
        await rig.enter("AAA", 100, 100.0)
        today = await rig.book.exit_position("AAA", ExitReason.MANUAL)
        rig.go("10:00", DAY2)
        rig.sim.on_price("AAA", 101.0, rig.clock.t)
        tomorrow = await rig.book.exit_position("AAA", ExitReason.MANUAL)
        await rig.book.settle()
        return today, tomorrow

    today, tomorrow = run(scenario())
    assert today is None and tomorrow is not None
    assert tomorrow.request.intent is OrderIntent.FLATTEN
    [trade] = rig.store.trades()
    assert (trade.exit_reason, trade.exit_price) == ("MANUAL", 101.0)


# ------------------------------------------------------- re-entry and flatten all
def test_an_exit_records_the_symbol_as_exited_for_that_session_only(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def scenario() -> None:
        await rig.enter("AAA", 100, 100.0)
        await rig.tick("AAA", 106.0, "11:00", DAY2)

    run(scenario())
    assert rig.book.exited_today(DAY2) == frozenset({"AAA"})
    assert rig.book.exited_today(DAY1) == frozenset()
    assert rig.book.exited_today(DAY3) == frozenset()
    assert rig.book.held() == frozenset()


def test_flatten_all_cancels_entries_and_closes_every_position(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    pending = client_order_id(DAY2, "CCC", "trend", OrderIntent.ENTRY)

    async def scenario() -> Any:
        await rig.enter("AAA", 100, 100.0)
        await rig.enter("BBB", 50, 40.0, side=Side.SHORT, hm="10:01")
        rig.go("09:26", DAY2)
        rig.sim.on_price("CCC", 20.0, rig.clock.t)
        await rig.om.submit(entry_request(pending, "CCC", 10, tif=TimeInForce.OPG), session=DAY2)
        rig.go("10:30", DAY2)
        rig.sim.on_price("AAA", 101.0, rig.clock.t)
        rig.sim.on_price("BBB", 39.0, rig.clock.t)
        result = await rig.book.flatten_all(ExitReason.KILL_SWITCH)
        await rig.book.settle()
        return result

    result = run(scenario())
    assert result.canceled_entries == (pending,)
    assert sorted(o.symbol for o in result.orders) == ["AAA", "BBB"]
    assert result.held == () and result.failed == ()
    trades = {t.symbol: (t.exit_reason, t.exit_price) for t in rig.store.trades()}
    assert trades == {"AAA": ("KILL_SWITCH", 101.0), "BBB": ("KILL_SWITCH", 39.0)}
    assert rig.sim.positions_sync() == {} and rig.sim.open_orders_sync() == []
    assert len(rig.store.audit_log(action="positions.flatten_all")) == 1
    with pytest.raises(ValueError, match="MANUAL or KILL_SWITCH"):
        run(rig.book.flatten_all(ExitReason.TAKE_PROFIT))


# ------------------------------------------------------------------- MFE / MAE
def test_excursions_are_saved_on_new_extremes_and_periodically_only(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    writes: list[float] = []
    original = rig.store.update_mfe_mae

    def counting(position_id: int, **kw: Any) -> Any:
        writes.append(kw["mfe_price"])
        return original(position_id, **kw)

    rig.store.update_mfe_mae = counting  # type: ignore[method-assign]

    async def scenario() -> None:
        await rig.enter("AAA", 100, 100.0)
        writes.clear()
        t0 = at("10:00:01")
        for i, p in enumerate((100.5, 100.2, 100.3, 100.4, 99.5, 99.7)):
            await rig.book.on_price("AAA", p, t0 + timedelta(seconds=i))
        await rig.book.on_price("AAA", 100.1, t0 + timedelta(seconds=40))  # throttle passed

    run(scenario())
    # 100.5 (new MFE), 99.5 (new MAE), then the periodic save 40 s later.
    assert writes == [100.5, 100.5, 100.5]
    [row] = rig.store.open_positions()
    m = rig.store.get_mfe_mae(row.id)
    assert m is not None
    assert (m.mfe_price, m.mae_price) == (100.5, 99.5)
    assert m.mfe_r == pytest.approx(0.5 / 3.0) and m.mae_pct == pytest.approx(-0.005)
    assert m.last_price_at == at("10:00:41")
    shown = [e for e in rig.of_type(PositionUpdated) if e.change == "excursion"]
    assert len(shown) == 3  # shown only when persisted


def test_the_trade_carries_the_excursions(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def scenario() -> None:
        await rig.enter("AAA", 100, 100.0)
        await rig.tick("AAA", 104.0, "11:00")
        await rig.tick("AAA", 98.0, "12:00")
        await rig.tick("AAA", 106.0, "11:00", DAY2)

    run(scenario())
    [trade] = rig.store.trades()
    assert trade.exit_reason == "TAKE_PROFIT"
    assert (trade.mfe_price, trade.mae_price) == (106.0, 98.0)
    assert trade.mae_at == at("12:00")
    assert trade.mfe_r == pytest.approx(2.0) and trade.mae_r == pytest.approx(-2.0 / 3.0)


class FakeMarket:
    def __init__(self, bars: dict[date, pd.DataFrame]) -> None:
        self.bars = bars
        self.asked: list[tuple[str, date]] = []

    async def minute_bars(self, symbol: str, session: date) -> pd.DataFrame:
        self.asked.append((symbol, session))
        return self.bars.get(session, pd.DataFrame(columns=["high", "low"]))


def bars(rows: list[tuple[str, date, float, float]]) -> pd.DataFrame:
    index = pd.DatetimeIndex([pd.Timestamp(at(hm, d)) for hm, d, _, _ in rows])
    return pd.DataFrame(
        {"high": [h for _, _, h, _ in rows], "low": [lo for _, _, _, lo in rows]}, index=index
    )


def test_restore_reloads_positions_and_backfills_excursions(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def before() -> None:
        await rig.enter("AAA", 100, 100.0)
        await rig.tick("AAA", 103.0, "11:00")
        await rig.tick("AAA", 98.0, "12:00")

    run(before())
    rig.clock.t = at("10:00", DAY2)
    again = rig.restart()
    market = FakeMarket(
        {
            DAY1: bars(
                [
                    ("11:59", DAY1, 102.0, 99.0),  # before the last stored price: left out
                    ("14:00", DAY1, 105.0, 101.0),
                    ("15:00", DAY1, 104.0, 97.5),
                ]
            ),
            DAY2: bars([("09:45", DAY2, 104.5, 99.0)]),
        }
    )

    async def after() -> Any:
        restored = await again.book.restore(market)
        return restored

    [state] = run(after())
    assert market.asked == [("AAA", DAY1), ("AAA", DAY2)]
    assert (state.mfe_price, state.mfe_at) == (105.0, at("14:00"))
    assert (state.mae_price, state.mae_at) == (97.5, at("15:00"))
    assert state.stop_client_order_id == stop_id(DAY1, 0) and state.stop_price == 93.0
    assert state.entry_session == DAY1 and state.qty == 100 and not state.exiting
    [row] = again.store.open_positions()
    m = again.store.get_mfe_mae(row.id)
    assert m is not None and (m.mfe_price, m.mae_price) == (105.0, 97.5)
    assert [e.change for e in again.of_type(PositionUpdated)] == ["restored"]

    async def later() -> None:
        again.go("09:00", DAY2)
        await again.book.roll_session(DAY2)
        await again.tick("AAA", 106.0, "11:00", DAY2)

    run(later())
    [trade] = again.store.trades()
    assert trade.exit_reason == "TAKE_PROFIT" and trade.mae_price == 97.5


def test_restore_closes_a_position_whose_exit_fill_was_stored_but_not_applied(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)

    async def before() -> None:
        await rig.enter("AAA", 100, 100.0)
        # The exit fill reaches the store, then the app dies before closing the position:
        # simulated by a book that ignores closing fills.
        rig.book._closing_fill = lambda *a, **k: None  # type: ignore[method-assign]
        await rig.tick("AAA", 106.0, "11:00", DAY2)

    run(before())
    assert len(rig.store.open_positions()) == 1
    again = rig.restart()
    restored = run(again.book.restore())
    assert restored == ()
    [trade] = again.store.trades()
    assert (trade.exit_reason, trade.exit_price) == ("TAKE_PROFIT", 106.0)


def test_restore_applies_an_entry_fill_the_book_never_saw(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    cand = record_candidate(rig.store)
    rig.book._entry_fill = lambda *a, **k: None  # type: ignore[method-assign]  # dies here
    run(rig.enter("AAA", 100, 100.0, candidate_id=cand))
    entry = client_order_id(DAY1, "AAA", "trend", OrderIntent.ENTRY)
    assert rig.store.open_positions() == [] and len(rig.store.fills_for_order(entry)) == 1
    again = rig.restart()  # the plan is not in memory any more: it comes from the candidate

    async def after() -> None:
        await again.book.restore()
        await again.book.settle()

    run(after())
    [row] = again.store.open_positions()
    assert (row.qty, row.avg_entry, row.sl, row.candidate_id) == (100, 100.0, 97.0, cand)
    assert [o.request.stop_price for o in again.open_stops()] == [93.0]
    assert again.store.order_by_client_id(entry).position_id == row.id  # type: ignore[union-attr]


def test_an_entry_plan_must_be_sane() -> None:
    with pytest.raises(ValueError, match="atr14"):
        EntryPlan(Side.LONG, "trend", 0.0, 1.5, 3.0)


def test_round_stop_rounds_towards_the_market() -> None:
    assert round_stop(100 * 0.93, Side.LONG) == 93.0  # float noise is not a cent
    assert round_stop(95.046, Side.LONG) == 95.05
    assert round_stop(107.049, Side.SHORT) == 107.04
    assert round_stop(107.0, Side.SHORT) == 107.0


def test_an_exit_interrupted_before_sending_does_not_leave_the_position_stuck(
    tmp_path: Path,
) -> None:
    broken = {"on": True}

    class BrokenCancel:
        def __init__(self, sim: SimBroker) -> None:
            self.sim = sim
            self.name = "broken"

        def __getattr__(self, name: str) -> Any:
            return getattr(self.sim, name)

        async def cancel(self, client_order_id: str) -> None:
            if broken["on"]:
                raise RuntimeError("a bug in the adapter")
            await self.sim.cancel(client_order_id)

    rig = Rig(tmp_path, wrap=BrokenCancel)

    async def scenario() -> Any:
        await rig.enter("AAA", 100, 100.0)
        with pytest.raises(RuntimeError, match="a bug"):
            await rig.tick("AAA", 106.0, "11:00", DAY2)
        state = rig.book.position("AAA")
        assert state is not None and not state.exiting
        broken["on"] = False
        return await rig.tick("AAA", 106.2, "11:00:01", DAY2)

    assert run(scenario()) is not None
    exits = [o for o in rig.store.orders_for_session(DAY2) if o.intent == "exit"]
    assert [o.status for o in exits] == ["canceled", "filled"]
    assert exits[0].reject_reason is not None
    assert exits[0].reject_reason.startswith("never reached the broker: interrupted")
    [trade] = rig.store.trades()
    assert (trade.exit_reason, trade.exit_price) == ("TAKE_PROFIT", 106.2)
