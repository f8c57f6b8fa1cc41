"""The order manager against the real SimBroker and a real Store: write first, never twice."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.unit.engine_rig import DAY1, DAY2, Rig, at, entry_request
from workstation.broker.base import BrokerError, OrderRejected
from workstation.broker.sim import SimBroker
from workstation.core.events import LogEvent, OrderFilled, OrderUpdated
from workstation.core.models import (
    Asset,
    Fill,
    OrderIntent,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    client_order_id,
)
from workstation.engine.orders import OrderUncertain, order_from_row

CID = client_order_id(DAY1, "AAA", "trend", OrderIntent.ENTRY)


class Flaky:
    """A SimBroker with scripted failures of ``submit`` (everything else passes through).

    ``plan`` is a list of what each submit call does: "ok", "lost" (the request never
    arrives: raise before the broker sees it), "timeout-after" (the broker places it, the
    answer is lost), "down" (a retryable BrokerError before the broker sees it), "refused"
    (a non-retryable BrokerError before the broker sees it).
    """

    def __init__(self, sim: SimBroker, plan: list[str], on_call: Any = None) -> None:
        self.sim = sim
        self.plan = list(plan)
        self.calls: list[str] = []
        self.on_call = on_call
        self.name = "flaky"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sim, name)

    async def submit(self, request: OrderRequest):  # type: ignore[no-untyped-def]
        self.calls.append(request.client_order_id)
        if self.on_call is not None:
            self.on_call(request)
        step = self.plan.pop(0) if self.plan else "ok"
        if step == "lost":
            raise TimeoutError("no answer")
        if step == "down":
            raise BrokerError("connection reset", retryable=True)
        if step == "refused":
            raise BrokerError("forbidden", reason="account is restricted")
        order = await self.sim.submit(request)
        if step == "timeout-after":
            raise TimeoutError("answer lost")
        return order


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# ------------------------------------------------------------------ write first
def test_the_order_is_in_the_store_before_the_broker_is_called(tmp_path: Path) -> None:
    seen: list[Any] = []
    rig: Rig | None = None

    def check(request: OrderRequest) -> None:
        assert rig is not None
        seen.append(rig.store.order_by_client_id(request.client_order_id))

    rig = Rig(tmp_path, wrap=lambda sim: Flaky(sim, ["down"] * 3, on_call=check))

    async def scenario() -> None:
        rig.go("10:00")
        rig.sim.on_price("AAA", 100.0, rig.clock.t)
        with pytest.raises(OrderUncertain):
            await rig.om.submit(entry_request(CID), session=DAY1)

    run(scenario())
    # Every call (the first and the two retries) found the row already written, status new.
    assert [row.status if row else None for row in seen] == ["new", "new", "new"]
    row = rig.store.order_by_client_id(CID)
    assert row is not None and row.status == "new" and row.is_open  # left for reconciliation
    assert rig.sim.order_by_client_id_sync(CID) is None
    assert rig.clock.slept == [0.5, 1.0]  # backoff on the injected clock
    events = [e.to_status for e in rig.store.order_events(CID)]
    assert events.count("submit_uncertain") == 3


def test_a_timeout_after_placing_is_looked_up_not_sent_again(tmp_path: Path) -> None:
    rig = Rig(tmp_path, wrap=lambda sim: Flaky(sim, ["timeout-after"]))

    async def scenario():  # type: ignore[no-untyped-def]
        rig.go("10:00")
        rig.sim.on_price("AAA", 100.0, rig.clock.t)
        return await rig.om.submit(entry_request(CID), session=DAY1)

    order = run(scenario())
    assert rig.broker.calls == [CID]  # one call: the lookup found it, no retry
    assert order.status is OrderStatus.FILLED and order.filled_qty == 100
    assert [o.client_order_id for o in rig.sim.orders()] == [CID]
    assert len(rig.sim.fills()) == 1
    row = rig.store.order_by_client_id(CID)
    assert row is not None and row.status == "filled" and row.filled_qty == 100
    assert len(rig.store.fills_for_order(CID)) == 1


def test_a_lost_request_is_retried_with_the_same_id_and_placed_once(tmp_path: Path) -> None:
    rig = Rig(tmp_path, wrap=lambda sim: Flaky(sim, ["lost", "down"]))

    async def scenario():  # type: ignore[no-untyped-def]
        rig.go("10:00")
        rig.sim.on_price("AAA", 100.0, rig.clock.t)
        return await rig.om.submit(entry_request(CID), session=DAY1)

    order = run(scenario())
    assert rig.broker.calls == [CID, CID, CID]
    assert order.status is OrderStatus.FILLED
    assert [o.client_order_id for o in rig.sim.orders()] == [CID]
    assert len(rig.store.fills_for_order(CID)) == 1


def test_resubmitting_a_finished_order_does_not_contact_the_broker(tmp_path: Path) -> None:
    rig = Rig(tmp_path, wrap=lambda sim: Flaky(sim, []))

    async def scenario():  # type: ignore[no-untyped-def]
        rig.go("10:00")
        rig.sim.on_price("AAA", 100.0, rig.clock.t)
        first = await rig.om.submit(entry_request(CID), session=DAY1)
        again = await rig.om.submit(entry_request(CID), session=DAY1)
        return first, again

    first, again = run(scenario())
    assert rig.broker.calls == [CID]
    assert again.status is OrderStatus.FILLED and again == first
    assert len(rig.sim.fills()) == 1


def test_resubmitting_an_interrupted_order_after_a_restart_sends_the_same_id(
    tmp_path: Path,
) -> None:
    """Crash after the row was written, before the broker call: the restart re-sends it."""
    rig = Rig(tmp_path, wrap=lambda sim: Flaky(sim, ["lost", "lost", "lost"]))

    async def first() -> None:
        rig.go("10:00")
        rig.sim.on_price("AAA", 100.0, rig.clock.t)
        with pytest.raises(OrderUncertain):
            await rig.om.submit(entry_request(CID), session=DAY1)

    run(first())
    again = rig.restart()

    async def second():  # type: ignore[no-untyped-def]
        return await again.om.submit(entry_request(CID), session=DAY1)

    order = run(second())
    assert order.status is OrderStatus.FILLED
    assert [o.client_order_id for o in again.sim.orders()] == [CID]
    # The store row was created once (the first event) and never re-created.
    assert again.store.order_events(CID)[0].from_status is None
    assert sum(1 for e in again.store.order_events(CID) if e.from_status is None) == 1


def test_a_different_order_under_a_stored_id_is_refused(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def scenario() -> None:
        rig.go("10:00")
        rig.sim.on_price("AAA", 100.0, rig.clock.t)
        await rig.om.submit(entry_request(CID, qty=100), session=DAY1)
        with pytest.raises(ValueError, match="already stored for a different order"):
            await rig.om.submit(entry_request(CID, qty=50), session=DAY1)

    run(scenario())
    assert len(rig.sim.orders()) == 1


# ------------------------------------------------------------------- rejections
def test_a_rejection_is_recorded_published_and_not_retried(tmp_path: Path) -> None:
    rig = Rig(
        tmp_path,
        assets={"AAA": Asset("AAA", tradable=False)},
        wrap=lambda sim: Flaky(sim, []),
    )

    async def scenario() -> None:
        rig.go("10:00")
        rig.sim.on_price("AAA", 100.0, rig.clock.t)
        with pytest.raises(OrderRejected, match="not tradable"):
            await rig.om.submit(entry_request(CID), session=DAY1)

    run(scenario())
    assert rig.broker.calls == [CID]  # never retried
    row = rig.store.order_by_client_id(CID)
    assert row is not None and row.status == "rejected"
    assert row.reject_reason == "asset AAA is not tradable"
    rejected = [e for e in rig.of_type(OrderUpdated) if e.order.status is OrderStatus.REJECTED]
    assert len(rejected) == 1 and rejected[0].order.reject_reason == "asset AAA is not tradable"
    audit = rig.store.audit_log(action="order.rejected")
    assert [a.subject for a in audit] == [f"order:{CID}"]
    assert audit[0].detail == {"reason": "asset AAA is not tradable"}


def test_a_refusal_without_an_order_at_the_broker_is_a_rejection(tmp_path: Path) -> None:
    rig = Rig(tmp_path, wrap=lambda sim: Flaky(sim, ["refused"]))

    async def scenario() -> None:
        rig.go("10:00")
        with pytest.raises(OrderRejected):
            await rig.om.submit(entry_request(CID), session=DAY1)

    run(scenario())
    assert rig.broker.calls == [CID]
    row = rig.store.order_by_client_id(CID)
    assert row is not None and row.status == "rejected"
    assert row.reject_reason == "account is restricted"


# ------------------------------------------------------------- broker events
def test_fills_are_stored_before_listeners_run_and_only_once(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    seen: list[tuple[str, float, int]] = []

    def listener(order, fill, row) -> None:  # type: ignore[no-untyped-def]
        stored = rig.store.fills_for_order(fill.client_order_id)
        seen.append((fill.fill_id, row.filled_qty, len(stored)))

    rig.om.on_fill(listener)

    async def scenario():  # type: ignore[no-untyped-def]
        rig.go("10:00")
        rig.sim.on_price("AAA", 100.0, rig.clock.t)
        return await rig.om.submit(entry_request(CID), session=DAY1)

    order = run(scenario())
    fill = rig.sim.fills()[0]
    assert seen == [(fill.fill_id, 100.0, 1)]  # stored (row and fill) before the listener
    # The same fill delivered again (a stream replay) is ignored.
    rig.om.handle_broker_event(OrderFilled(fill.at, order, fill))
    assert len(seen) == 1 and len(rig.store.fills_for_order(CID)) == 1
    assert len(rig.of_type(OrderFilled)) == 1


def test_illegal_stale_and_duplicate_updates_are_not_applied(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def scenario():  # type: ignore[no-untyped-def]
        rig.go("10:00")
        rig.sim.on_price("AAA", 100.0, rig.clock.t)
        return await rig.om.submit(entry_request(CID), session=DAY1)

    filled = run(scenario())
    events_before = len(rig.store.order_events(CID))
    updates_before = len(rig.of_type(OrderUpdated))
    t = at("10:05")
    # stale: "accepted" after "filled"
    rig.om.handle_broker_event(OrderUpdated(t, replace(filled, status=OrderStatus.ACCEPTED)))
    # illegal: filled -> canceled
    rig.om.handle_broker_event(OrderUpdated(t, replace(filled, status=OrderStatus.CANCELED)))
    # duplicate
    rig.om.handle_broker_event(OrderUpdated(t, filled))
    row = rig.store.order_by_client_id(CID)
    assert row is not None and row.status == "filled"
    assert len(rig.store.order_events(CID)) == events_before
    assert len(rig.of_type(OrderUpdated)) == updates_before
    warnings = [e for e in rig.of_type(LogEvent) if "illegal or stale" in e.message]
    assert len(warnings) == 2


def test_a_partially_filled_order_may_fill_further_but_not_shrink(tmp_path: Path) -> None:
    rig = Rig(tmp_path, partial_fill_sizes={"AAA": [30, 30]})

    async def scenario():  # type: ignore[no-untyped-def]
        rig.go("10:00")
        rig.sim.on_price("AAA", 100.0, rig.clock.t)
        return await rig.om.submit(entry_request(CID), session=DAY1)

    order = run(scenario())
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.filled_qty == 30
    rig.go("10:01")
    rig.sim.on_price("AAA", 101.0, rig.clock.t)
    current = rig.om.order(CID)
    assert current is not None and current.filled_qty == 60
    # A late partial update with less filled must not move it back.
    rig.om.handle_broker_event(OrderUpdated(at("10:02"), order))
    current = rig.om.order(CID)
    assert current is not None and current.filled_qty == 60
    row = rig.store.order_by_client_id(CID)
    assert row is not None and row.filled_qty == 60 and row.avg_fill_price == pytest.approx(100.5)


def test_a_fill_for_an_order_the_store_does_not_know_is_reported(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.go("10:00")
    rig.sim.on_price("AAA", 100.0, rig.clock.t)
    rig.sim.submit_sync(entry_request("outside-1"))  # placed behind the app's back
    assert rig.store.order_by_client_id("outside-1") is None
    errors = [e for e in rig.of_type(LogEvent) if e.level == "ERROR"]
    assert any("outside-1" in e.message and "does not know" in e.message for e in errors)


def test_a_fill_already_caught_up_under_another_id_is_not_counted_twice(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def scenario() -> None:
        rig.go("10:00")
        rig.sim.on_price("AAA", 100.0, rig.clock.t)
        await rig.om.submit(entry_request(CID), session=DAY1)

    run(scenario())
    order = rig.om.order(CID)
    assert order is not None
    late = Fill("exec-999", CID, "AAA", OrderSide.BUY, 100, 100.0, at("10:00"))
    assert rig.om.apply_fill(order, late) is False
    assert len(rig.store.fills_for_order(CID)) == 1
    row = rig.store.order_by_client_id(CID)
    assert row is not None and row.filled_qty == 100


# ------------------------------------------------------------- cancel / replace
def test_cancel_entries_cancels_only_that_sessions_open_entries(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    opg_a = client_order_id(DAY1, "AAA", "trend", OrderIntent.ENTRY)
    opg_b = client_order_id(DAY1, "BBB", "trend", OrderIntent.ENTRY)
    other_day = client_order_id(DAY2, "CCC", "trend", OrderIntent.ENTRY)
    stop = client_order_id(DAY1, "DDD", "trend", OrderIntent.STOP)

    async def scenario():  # type: ignore[no-untyped-def]
        rig.go("09:26")
        for sym in ("AAA", "BBB", "CCC", "DDD"):
            rig.sim.on_price(sym, 50.0, rig.clock.t)  # pre-market marks: orders wait
        await rig.om.submit(entry_request(opg_a, "AAA", tif=TimeInForce.OPG), session=DAY1)
        await rig.om.submit(entry_request(opg_b, "BBB", tif=TimeInForce.OPG), session=DAY1)
        await rig.om.submit(entry_request(other_day, "CCC"), session=DAY2)
        await rig.om.submit(
            OrderRequest(
                stop,
                "DDD",
                OrderSide.BUY,
                10,
                OrderType.STOP,
                TimeInForce.GTC,
                stop_price=60.0,
                intent=OrderIntent.STOP,
            ),
            session=DAY1,
        )
        rig.sim.on_open("AAA", 50.0, at("09:30"))  # AAA fills at the open; BBB has no open yet
        rig.go("10:00")
        return await rig.om.cancel_entries(DAY1)

    done = run(scenario())
    assert [(o.client_order_id, o.status) for o in done] == [(opg_b, OrderStatus.CANCELED)]
    status = {o.client_order_id: o.status for o in rig.sim.orders()}
    assert status == {
        opg_a: OrderStatus.FILLED,
        opg_b: OrderStatus.CANCELED,
        other_day: OrderStatus.ACCEPTED,
        stop: OrderStatus.ACCEPTED,
    }
    assert rig.store.order_by_client_id(opg_b).status == "canceled"  # type: ignore[union-attr]
    assert "cancel_requested" in [e.to_status for e in rig.store.order_events(opg_b)]
    audit = rig.store.audit_log(action="entries.canceled")
    assert audit[-1].detail == {"canceled": [opg_b], "already_done": [], "failed": []}


def test_cancel_of_an_order_that_already_filled_reports_the_fill(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def scenario():  # type: ignore[no-untyped-def]
        rig.go("10:00")
        rig.sim.on_price("AAA", 100.0, rig.clock.t)
        await rig.om.submit(entry_request(CID), session=DAY1)
        return await rig.om.cancel(CID)

    assert run(scenario()).status is OrderStatus.FILLED


def test_replace_stop_writes_the_new_stop_first_and_leaves_one_live(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    s0 = client_order_id(DAY1, "AAA", "trend", OrderIntent.STOP, 0)
    s1 = client_order_id(DAY1, "AAA", "trend", OrderIntent.STOP, 1)

    async def scenario():  # type: ignore[no-untyped-def]
        rig.go("10:00")
        rig.sim.on_price("AAA", 100.0, rig.clock.t)
        await rig.om.submit(entry_request(CID), session=DAY1)
        await rig.om.submit(
            OrderRequest(
                s0,
                "AAA",
                OrderSide.SELL,
                100,
                OrderType.STOP,
                TimeInForce.GTC,
                stop_price=93.0,
                intent=OrderIntent.STOP,
            ),
            session=DAY1,
        )
        return await rig.om.replace_stop(s0, 97.0, s1, session=DAY1)

    new = run(scenario())
    assert new.client_order_id == s1 and new.status is OrderStatus.ACCEPTED
    assert [(o.client_order_id, o.request.stop_price) for o in rig.open_stops()] == [(s1, 97.0)]
    old_row = rig.store.order_by_client_id(s0)
    new_row = rig.store.order_by_client_id(s1)
    assert old_row is not None and old_row.status == "canceled"
    assert new_row is not None and new_row.status == "accepted" and new_row.stop_price == 97.0
    assert "replace_requested" in [e.to_status for e in rig.store.order_events(s0)]
    assert rig.store.order_events(s1)[0].detail == {"replaces": s0}


def test_a_rejected_replacement_keeps_the_old_stop(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    s0 = client_order_id(DAY1, "AAA", "trend", OrderIntent.STOP, 0)
    s1 = client_order_id(DAY1, "AAA", "trend", OrderIntent.STOP, 1)

    async def scenario() -> None:
        rig.go("10:00")
        rig.sim.on_price("AAA", 100.0, rig.clock.t)
        await rig.om.submit(entry_request(CID), session=DAY1)
        await rig.om.submit(
            OrderRequest(
                s0,
                "AAA",
                OrderSide.SELL,
                100,
                OrderType.STOP,
                TimeInForce.GTC,
                stop_price=93.0,
                intent=OrderIntent.STOP,
            ),
            session=DAY1,
        )
        with pytest.raises(OrderRejected, match="insufficient qty"):
            await rig.om.replace_stop(s0, 95.0, s1, session=DAY1, qty=150)

    run(scenario())
    assert [o.client_order_id for o in rig.open_stops()] == [s0]
    assert rig.store.order_by_client_id(s1).status == "rejected"  # type: ignore[union-attr]
    assert rig.store.order_by_client_id(s0).status == "accepted"  # type: ignore[union-attr]


def test_order_from_row_round_trips(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    req = OrderRequest(
        "x1",
        "AAA",
        OrderSide.SELL,
        7,
        OrderType.STOP,
        TimeInForce.GTC,
        stop_price=9.5,
        intent=OrderIntent.STOP,
        strategy="s",
    )

    async def scenario() -> None:
        await rig.om.submit(req, session=DAY1)

    run(scenario())
    row = rig.store.order_by_client_id("x1")
    assert row is not None
    back = order_from_row(row)
    assert back.request == req and back.status is OrderStatus.ACCEPTED
    assert back.broker_id == rig.sim.order_by_client_id_sync("x1").broker_id  # type: ignore[union-attr]


def test_prepare_writes_without_sending_and_submit_sends_it(tmp_path: Path) -> None:
    rig = Rig(tmp_path, wrap=lambda sim: Flaky(sim, []))

    async def scenario():  # type: ignore[no-untyped-def]
        rig.go("10:00")
        rig.sim.on_price("AAA", 100.0, rig.clock.t)
        prepared = rig.om.prepare(entry_request(CID), session=DAY1, detail={"why": "test"})
        assert rig.broker.calls == []
        row = rig.store.order_by_client_id(CID)
        assert row is not None and row.status == "new"
        assert rig.store.order_events(CID)[0].detail == {"why": "test"}
        sent = await rig.om.submit(entry_request(CID), session=DAY1)
        return prepared, sent

    prepared, sent = run(scenario())
    assert prepared.status is OrderStatus.NEW and sent.status is OrderStatus.FILLED
    assert rig.broker.calls == [CID]
    assert len(rig.store.order_events(CID)) >= 2


def test_mark_not_sent_closes_a_stored_order(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.om.prepare(entry_request(CID), session=DAY1)
    order = rig.om.mark_not_sent(CID, "restart")
    assert order.status is OrderStatus.CANCELED
    assert order.reject_reason == "never reached the broker: restart"
    row = rig.store.order_by_client_id(CID)
    assert row is not None and row.status == "canceled"
