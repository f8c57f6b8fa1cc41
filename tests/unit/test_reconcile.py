"""Reconciliation: every kind of difference, the catch-up after a restart, the resolutions."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.unit.engine_rig import (
    ATR,
    DAY1,
    DAY2,
    SL_MULT,
    STRATEGY,
    TP_MULT,
    Rig,
    at,
    entry_request,
    record_candidate,
)
from workstation.broker.sim import SimBroker
from workstation.core.models import (
    Order,
    OrderIntent,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    client_order_id,
)
from workstation.engine.events import (
    DifferenceResolved,
    ReconcileFinished,
    TradingGateChanged,
)
from workstation.engine.positions import EntryPlan
from workstation.engine.reconcile import (
    Difference,
    DifferenceKind,
    Reconciler,
    Resolution,
    TradingGate,
    apply_missed_fills,
    compare,
    reconcile,
)
from workstation.store import OrderRow, PositionRow

K = DifferenceKind
T0 = at("09:00", DAY2)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def reconciler(rig: Rig) -> tuple[Reconciler, TradingGate]:
    gate = TradingGate(rig.bus)
    return Reconciler(rig.store, rig.sim, rig.om, rig.book, gate, rig.clock, rig.bus), gate


# ------------------------------------------------------------------ pure compare
def prow(symbol: str = "AAA", side: str = "long", qty: float = 100, pid: int = 1) -> PositionRow:
    return PositionRow(
        id=pid, symbol=symbol, side=side, qty=qty, avg_entry=100.0, entry_session=DAY1,
        entry_at=T0, strategy=STRATEGY, candidate_id=None, sl=97.0, tp=106.0, sl_mult=SL_MULT,
        tp_mult=TP_MULT, atr14=ATR, stop_client_order_id="stop-1", status="open",
        closed_at=None, updated_at=T0,
    )  # fmt: skip


def orow(
    cid: str, symbol: str = "AAA", intent: str = "entry", status: str = "accepted"
) -> OrderRow:
    return OrderRow(
        id=1, client_order_id=cid, broker_order_id=None, session=DAY2, symbol=symbol,
        side="buy", qty=10, order_type="market", tif="day", limit_price=None, stop_price=None,
        intent=intent, strategy=STRATEGY, candidate_id=None, position_id=None, status=status,
        filled_qty=0, avg_fill_price=None, reject_reason=None, created_at=T0, updated_at=T0,
    )  # fmt: skip


def border(
    cid: str,
    symbol: str = "AAA",
    side: str = "sell",
    qty: int = 100,
    type: str = "stop",
    status: OrderStatus = OrderStatus.ACCEPTED,
    filled: int = 0,
) -> Order:
    request = OrderRequest(
        client_order_id=cid,
        symbol=symbol,
        side=OrderSide(side),
        qty=qty,
        type=OrderType(type),
        tif=TimeInForce.GTC,
        stop_price=93.0 if type == "stop" else None,
        limit_price=50.0 if type == "limit" else None,
    )
    return Order(request, status, filled_qty=filled, avg_fill_price=100.0 if filled else None)


STOP = border("stop-1")

CASES: list[tuple[str, dict[str, Any], list[tuple[DifferenceKind, str]]]] = [
    ("agree", dict(sp=[prow()], bp={"AAA": (100, 100.0)}, bo=[STOP]), []),
    (
        "position-only-at-broker",
        dict(bp={"BBB": (10, 50.0)}),
        [(K.POSITION_ONLY_AT_BROKER, "BBB")],
    ),
    ("position-only-in-store", dict(sp=[prow()]), [(K.POSITION_ONLY_IN_STORE, "AAA")]),
    (
        "quantity-mismatch",
        dict(sp=[prow(qty=100)], bp={"AAA": (60, 100.0)}, bo=[border("stop-1", qty=60)]),
        [(K.POSITION_MISMATCH, "AAA")],
    ),
    (
        "side-mismatch",
        dict(sp=[prow()], bp={"AAA": (-100, 100.0)}, bo=[border("stop-1", side="buy")]),
        [(K.POSITION_MISMATCH, "AAA")],
    ),
    (
        "stop-missing",
        dict(sp=[prow()], bp={"AAA": (100, 100.0)}),
        [(K.STOP_MISSING, "AAA")],
    ),
    (
        "stop-on-the-wrong-side-is-missing",
        dict(sp=[prow()], bp={"AAA": (100, 100.0)}, bo=[border("stop-1", side="buy")]),
        [(K.STOP_MISSING, "AAA")],
    ),
    (
        "stop-short-of-the-position",
        dict(sp=[prow()], bp={"AAA": (100, 100.0)}, bo=[border("stop-1", qty=60)]),
        [(K.STOP_MISMATCH, "AAA")],
    ),
    (
        "order-only-at-broker",
        dict(bo=[border("x-9", symbol="CCC", side="buy", qty=5, type="limit")]),
        [(K.ORDER_ONLY_AT_BROKER, "CCC")],
    ),
    (
        "order-only-in-store",
        dict(so=[orow("e-1", "DDD")]),
        [(K.ORDER_ONLY_IN_STORE, "DDD")],
    ),
]


@pytest.mark.parametrize(("name", "state", "expected"), CASES, ids=[c[0] for c in CASES])
def test_compare_finds_each_kind(
    name: str, state: dict[str, Any], expected: list[tuple[DifferenceKind, str]]
) -> None:
    store_orders = state.get("so", [])
    if state.get("bo") and any(o.client_order_id == "stop-1" for o in state["bo"]):
        store_orders = [*store_orders, orow("stop-1", intent="stop")]
    diffs = compare(state.get("sp", []), store_orders, state.get("bp", {}), state.get("bo", []))
    assert [(d.kind, d.symbol) for d in diffs] == expected


def test_compare_reports_what_the_broker_knows_of_a_store_only_order() -> None:
    done = border("e-1", "DDD", side="buy", qty=10, type="market", status=OrderStatus.FILLED)
    done = Order(done.request, OrderStatus.FILLED, filled_qty=10, avg_fill_price=20.0)
    diffs = compare(
        [], [orow("e-1", "DDD"), orow("e-2", "EEE")], {}, [],
        broker_final={"e-1": done, "e-2": None},
    )  # fmt: skip
    assert [(d.client_order_id, d.broker_order) for d in diffs] == [("e-1", done), ("e-2", None)]
    assert "filled" in diffs[0].message and "never reached the broker" in diffs[1].message
    assert diffs[0].actions == (Resolution.ADOPT, Resolution.IGNORE)


def test_compare_names_a_broker_order_the_store_has_as_finished() -> None:
    row = orow("x-1", "CCC", status="canceled")
    diffs = compare([], [], {}, [border("x-1", "CCC")], store_known={"x-1": row})
    assert [d.kind for d in diffs] == [K.ORDER_ONLY_AT_BROKER]
    assert diffs[0].store_order == row and "store has it as canceled" in diffs[0].message


# ------------------------------------------------------- gathering from real state
def test_reconcile_finds_planted_differences_in_store_and_broker(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    unsent = client_order_id(DAY1, "DDD", STRATEGY, OrderIntent.ENTRY)

    async def scenario() -> list[Difference]:
        await rig.enter("AAA", 100, 100.0)  # agreed, protected: no difference
        t = rig.go("10:30")
        # Behind the app's back at the broker: a position and an open order.
        rig.sim.on_price("BBB", 50.0, t)
        rig.sim.submit_sync(entry_request("manual-1", "BBB", 10))
        rig.sim.on_price("CCC", 30.0, t)
        rig.sim.submit_sync(
            OrderRequest("manual-2", "CCC", OrderSide.BUY, 5, OrderType.LIMIT, limit_price=25.0)
        )
        # In the store only: a position and an order that was never sent.
        rig.store.open_position(
            symbol="EEE", side="long", qty=20, avg_entry=10.0, entry_session=DAY1,
            entry_at=t, strategy=STRATEGY, sl_mult=SL_MULT, tp_mult=TP_MULT, atr14=ATR, at=t,
        )  # fmt: skip
        rig.store.upsert_order(
            unsent, at=t, session=DAY1, symbol="DDD", side="buy", qty=10,
            order_type="market", tif="day", intent="entry", strategy=STRATEGY,
        )  # fmt: skip
        return await reconcile(rig.store, rig.sim)

    diffs = run(scenario())
    assert [(d.kind, d.symbol, d.client_order_id) for d in diffs] == [
        (K.POSITION_ONLY_AT_BROKER, "BBB", None),
        (K.POSITION_ONLY_IN_STORE, "EEE", None),
        (K.ORDER_ONLY_AT_BROKER, "CCC", "manual-2"),
        (K.ORDER_ONLY_IN_STORE, "DDD", unsent),
    ]
    assert "WITHOUT a protective stop" in diffs[0].message
    assert diffs[0].broker_qty == 10 and diffs[0].broker_avg_price == 50.0
    assert diffs[3].broker_order is None


# ------------------------------------------------------------ catch-up on restart
def test_an_opg_entry_filled_while_down_is_caught_up_and_protected(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    cand = record_candidate(rig.store)
    entry = client_order_id(DAY1, "AAA", STRATEGY, OrderIntent.ENTRY)

    async def before() -> None:
        rig.sim.on_price("AAA", 100.0, rig.go("09:26"))  # pre-market: values the order
        await rig.om.submit(
            entry_request(entry, "AAA", 100, tif=TimeInForce.OPG), session=DAY1, candidate_id=cand
        )

    run(before())  # ... and the app is killed after the OPG submit
    again = rig.restart(
        while_down=lambda sim: sim.on_open("AAA", 101.0, at("09:30")), now=at("09:40")
    )
    rec, gate = reconciler(again)
    assert gate.blocked and gate.reason == "not reconciled with the broker yet"
    diffs = run(rec.run())
    assert diffs == [] and not gate.blocked and gate.allows_trading()
    [row] = again.store.open_positions()
    assert (row.qty, row.avg_entry, row.sl, row.tp) == (100, 101.0, 98.0, 107.0)
    assert again.store.order_by_client_id(entry).status == "filled"  # type: ignore[union-attr]
    assert [o.request.stop_price for o in again.open_stops()] == [93.93]
    finished = again.of_type(ReconcileFinished)
    assert len(finished) == 1 and finished[0].caught_up == (entry,)
    assert [a.subject for a in again.store.audit_log(action="reconcile.catch_up")] == [
        f"order:{entry}"
    ]
    assert again.of_type(TradingGateChanged)[-1].blocked is False


def test_a_stop_filled_while_down_closes_the_position(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def before() -> None:
        await rig.enter("AAA", 100, 100.0)
        rig.go("09:00", DAY2)
        await rig.book.roll_session(DAY2)  # the stop is the SL now: 97

    run(before())
    again = rig.restart(
        while_down=lambda sim: sim.on_price("AAA", 96.5, at("11:00", DAY2)),
        now=at("11:30", DAY2),
    )
    rec, gate = reconciler(again)
    assert run(rec.run()) == [] and not gate.blocked
    assert again.store.open_positions() == []
    [trade] = again.store.trades()
    assert (trade.exit_reason, trade.exit_price, trade.exit_at) == (
        "STOP_LOSS",
        96.5,
        at("11:00", DAY2),
    )
    assert again.book.exited_today(DAY2) == frozenset({"AAA"})


def test_partial_fills_while_down_are_caught_up_and_the_rest_is_canceled_for_the_stop(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, partial_fill_sizes={"AAA": [30, 30]})
    cand = record_candidate(rig.store)
    entry = client_order_id(DAY1, "AAA", STRATEGY, OrderIntent.ENTRY)

    async def before() -> None:
        rig.sim.on_price("AAA", 100.0, rig.go("09:26"))  # pre-market: values the order
        await rig.om.submit(entry_request(entry, "AAA", 100), session=DAY1, candidate_id=cand)

    run(before())

    def down(sim: SimBroker) -> None:
        sim.on_open("AAA", 100.0, at("09:30"))  # 30 @ 100
        sim.on_price("AAA", 101.0, at("09:31"))  # 30 @ 101

    again = rig.restart(while_down=down, now=at("09:35"))
    rec, _ = reconciler(again)
    assert run(rec.run()) == []
    [row] = again.store.open_positions()
    assert (row.qty, row.avg_entry) == (60, pytest.approx(100.5))
    assert [f.fill_id for f in again.store.fills_for_order(entry)] == [
        f"{entry}-1",
        f"{entry}-2",
    ]  # the broker's own fill ids: a later replay of them is a duplicate
    # The stop cannot rest beside the working rest (a potential wash trade) and is overdue
    # after a restart: the rest (40) is canceled at once and the 60 filled shares protected.
    assert again.sim.order_by_client_id_sync(entry).status is OrderStatus.CANCELED  # type: ignore[union-attr]
    assert [o.request.qty for o in again.open_stops()] == [60]
    [canceled] = again.store.audit_log(action="entry.remainder_canceled")
    assert (canceled.detail or {})["order"] == entry
    assert again.store.audit_log(action="protection.problem") == []
    run(again.tick("AAA", 102.0, "09:36"))  # nothing more fills
    [row] = again.store.open_positions()
    assert row.qty == 60
    assert [o.request.qty for o in again.open_stops()] == [60]


def test_apply_missed_fills_without_a_fill_list_records_one_catch_up_fill(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    cand = record_candidate(rig.store)
    entry = client_order_id(DAY1, "AAA", STRATEGY, OrderIntent.ENTRY)

    async def before() -> None:
        rig.sim.on_price("AAA", 100.0, rig.go("09:26"))  # pre-market: values the order
        await rig.om.submit(
            entry_request(entry, "AAA", 100, tif=TimeInForce.OPG), session=DAY1, candidate_id=cand
        )

    run(before())

    class NoFillList:
        """A broker that can say an order filled but not list its executions."""

        def __init__(self, sim: SimBroker) -> None:
            self.sim = sim
            self.name = "nofills"

        def __getattr__(self, name: str) -> Any:
            if name == "fills":
                raise AttributeError(name)
            return getattr(self.sim, name)

    again = rig.restart(
        while_down=lambda sim: sim.on_open("AAA", 101.0, at("09:30")),
        now=at("09:40"),
        wrap=NoFillList,
    )

    async def scenario() -> list[str]:
        done = await apply_missed_fills(again.om)
        done += await apply_missed_fills(again.om)  # a second pass changes nothing
        await again.book.settle()
        return done

    assert run(scenario()) == [entry]
    [fill] = again.store.fills_for_order(entry)
    assert (fill.fill_id, fill.qty, fill.price) == (f"{entry}-catchup-0-100", 100, 101.0)
    [row] = again.store.open_positions()
    assert (row.qty, row.avg_entry) == (100, 101.0)


def test_a_stop_that_never_reached_the_broker_blocks_until_protected(tmp_path: Path) -> None:
    class LosesStops:
        def __init__(self, sim: SimBroker) -> None:
            self.sim = sim
            self.name = "lossy"

        def __getattr__(self, name: str) -> Any:
            return getattr(self.sim, name)

        async def submit(self, request: OrderRequest) -> Order:
            if request.intent is OrderIntent.STOP:
                raise TimeoutError("lost")
            return await self.sim.submit(request)

    rig = Rig(tmp_path, wrap=LosesStops)
    run(rig.enter("AAA", 100, 100.0))
    stop = client_order_id(DAY1, "AAA", STRATEGY, OrderIntent.STOP, 0)
    assert rig.store.order_by_client_id(stop).status == "new"  # type: ignore[union-attr]
    assert rig.open_stops() == []

    # Without protection: both differences are shown and trading stays blocked.
    again = rig.restart(now=at("10:30"))
    rec, gate = reconciler(again)
    diffs = run(rec.run(protect=False))
    assert [(d.kind, d.client_order_id) for d in diffs] == [
        (K.STOP_MISSING, None),  # the position never got a stop id: none was placed
        (K.ORDER_ONLY_IN_STORE, stop),
    ]
    assert gate.blocked and gate.reason == "2 differences between the store and the broker"

    # With protection (the default): the agreed position gets its stop back.
    third = again.restart(now=at("10:31"))
    rec, gate = reconciler(third)
    assert run(rec.run()) == [] and not gate.blocked
    [live] = third.open_stops()
    assert (live.request.qty, live.request.stop_price) == (100, 93.0)
    assert live.client_order_id == client_order_id(DAY1, "AAA", STRATEGY, OrderIntent.STOP, 1)
    old = third.store.order_by_client_id(stop)
    assert old is not None and old.status == "canceled"
    assert old.reject_reason == "never reached the broker: protective stop re-placed"
    assert third.of_type(ReconcileFinished)[0].protected == ("AAA",)
    assert len(third.store.audit_log(action="reconcile.protected")) == 1


# ----------------------------------------------------------------- resolutions
def planted(
    tmp_path: Path,
) -> tuple[Rig, Reconciler, TradingGate, dict[DifferenceKind, Difference]]:
    """Differences of four kinds, reconciled once (the gate blocks)."""
    rig = Rig(tmp_path, start=at("10:30", DAY2))
    t = rig.clock.t

    async def scenario() -> list[Difference]:
        rig.sim.on_price("BBB", 50.0, t)
        rig.sim.submit_sync(entry_request("manual-1", "BBB", 10))
        rig.sim.on_price("CCC", 30.0, t)
        rig.sim.submit_sync(
            OrderRequest("manual-2", "CCC", OrderSide.BUY, 5, OrderType.LIMIT, limit_price=25.0)
        )
        rig.store.open_position(
            symbol="EEE", side="long", qty=20, avg_entry=10.0, entry_session=DAY1,
            entry_at=t, strategy=STRATEGY, sl_mult=SL_MULT, tp_mult=TP_MULT, atr14=ATR, at=t,
        )  # fmt: skip
        rig.store.upsert_order(
            "unsent-1", at=t, session=DAY2, symbol="DDD", side="buy", qty=10,
            order_type="market", tif="day", intent="entry", strategy=STRATEGY,
        )  # fmt: skip
        again = rig.restart()
        rec, gate = reconciler(again)
        diffs = await rec.run()
        holder.extend([again, rec, gate])
        return diffs

    holder: list[Any] = []
    diffs = run(scenario())
    again, rec, gate = holder
    assert gate.blocked and len(gate.open_differences) == 4
    return again, rec, gate, {d.kind: d for d in diffs}


def test_ignoring_every_difference_opens_the_gate_and_is_audited(tmp_path: Path) -> None:
    rig, rec, gate, diffs = planted(tmp_path)
    for d in diffs.values():
        run(rec.ignore(d, note="known"))
    assert not gate.blocked
    audit = rig.store.audit_log(action="reconcile.ignore")
    assert sorted(a.detail["difference"]["kind"] for a in audit if a.detail) == sorted(  # type: ignore[index]
        str(k) for k in diffs
    )
    assert all(a.actor == "user" for a in audit)
    assert len(rig.of_type(DifferenceResolved)) == 4
    assert rig.sim.positions_sync() == {"BBB": (10, 50.0)}  # nothing changed


def test_adopting_a_broker_position_needs_a_plan_then_protects_it(tmp_path: Path) -> None:
    rig, rec, gate, diffs = planted(tmp_path)
    d = diffs[K.POSITION_ONLY_AT_BROKER]
    with pytest.raises(ValueError, match="pass an EntryPlan"):
        run(rec.adopt(d))
    plan = EntryPlan(Side.LONG, "manual", 1.0, 2.0, 4.0)
    run(rec.adopt(d, plan=plan, note="mine"))
    [row] = [p for p in rig.store.open_positions() if p.symbol == "BBB"]
    assert (row.qty, row.avg_entry, row.sl, row.tp, row.entry_session) == (
        10, 50.0, 48.0, 54.0, DAY2,
    )  # fmt: skip
    [stop] = rig.open_stops("BBB")
    assert (stop.request.qty, stop.request.stop_price) == (10, 46.5)  # day 1: emergency
    assert d.key not in {x.key for x in gate.open_differences}
    assert [a.subject for a in rig.store.audit_log(action="reconcile.adopt")] == ["BBB"]


def test_adopting_a_store_only_position_closes_it_without_an_order(tmp_path: Path) -> None:
    rig, rec, _, diffs = planted(tmp_path)
    run(rec.adopt(diffs[K.POSITION_ONLY_IN_STORE]))
    assert [p.symbol for p in rig.store.open_positions()] == []
    [trade] = rig.store.trades()
    assert (trade.symbol, trade.exit_reason, trade.pnl) == ("EEE", "MANUAL", 0.0)
    assert len(rig.sim.orders()) == 2  # no order was sent


def test_adopting_a_never_sent_order_marks_it_canceled(tmp_path: Path) -> None:
    rig, rec, _, diffs = planted(tmp_path)
    run(rec.adopt(diffs[K.ORDER_ONLY_IN_STORE], note="too late now"))
    row = rig.store.order_by_client_id("unsent-1")
    assert row is not None and row.status == "canceled"
    assert row.reject_reason == "never reached the broker: too late now"


def test_adopting_an_unknown_broker_order_tracks_it(tmp_path: Path) -> None:
    rig, rec, _, diffs = planted(tmp_path)
    run(rec.adopt(diffs[K.ORDER_ONLY_AT_BROKER]))
    row = rig.store.order_by_client_id("manual-2")
    assert row is not None and row.status == "accepted" and row.limit_price == 25.0
    diffs_now = run(reconcile(rig.store, rig.sim))
    assert K.ORDER_ONLY_AT_BROKER not in {d.kind for d in diffs_now}


def test_flattening_a_broker_position_and_an_unknown_order(tmp_path: Path) -> None:
    rig, rec, gate, diffs = planted(tmp_path)
    sent = run(rec.flatten(diffs[K.POSITION_ONLY_AT_BROKER]))
    assert sent is not None and sent.status is OrderStatus.FILLED
    assert sent.request.intent is OrderIntent.FLATTEN and sent.request.side is OrderSide.SELL
    row = rig.store.order_by_client_id(sent.client_order_id)
    assert row is not None and row.status == "filled"  # written before it was sent
    run(rec.flatten(diffs[K.ORDER_ONLY_AT_BROKER]))
    assert rig.sim.positions_sync() == {}
    manual = rig.sim.order_by_client_id_sync("manual-2")
    assert manual is not None and manual.status is OrderStatus.CANCELED
    with pytest.raises(ValueError, match="does not apply"):
        run(rec.flatten(diffs[K.ORDER_ONLY_IN_STORE]))
    assert len(gate.open_differences) == 2


def test_adopting_a_quantity_mismatch_takes_the_brokers_quantity(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    run(rig.enter("AAA", 100, 100.0))
    [row] = rig.store.open_positions()
    rig.store.update_position(row.id, at=rig.clock.t, qty=150)
    again = rig.restart(now=at("10:30"))
    rec, gate = reconciler(again)
    diffs = run(rec.run())
    assert [(d.kind, d.store_qty, d.broker_qty) for d in diffs] == [(K.POSITION_MISMATCH, 150, 100)]
    run(rec.adopt(diffs[0]))
    [row] = again.store.open_positions()
    assert row.qty == 100 and not gate.blocked
    assert [o.request.qty for o in again.open_stops()] == [100]


def test_flattening_an_unprotected_position_exits_it(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    run(rig.enter("AAA", 100, 100.0))
    stop = client_order_id(DAY1, "AAA", STRATEGY, OrderIntent.STOP, 0)

    def down(sim: SimBroker) -> None:
        sim.on_price("AAA", 102.0, at("10:00", DAY2))
        sim.cancel_sync(stop)  # someone canceled the stop on the broker's website

    again = rig.restart(while_down=down, now=at("10:00", DAY2))
    rec, gate = reconciler(again)
    # The catch-up learns of the cancel; the book puts a stop back as soon as it hears that
    # a stop went away, so even without protect nothing is left missing.
    assert run(rec.run(protect=False)) == []
    [replaced] = again.open_stops()
    assert replaced.client_order_id == client_order_id(DAY2, "AAA", STRATEGY, OrderIntent.STOP, 0)
    assert replaced.request.stop_price == 97.0  # placed on day 2: the SL

    d = Difference(K.STOP_MISSING, "AAA", "planted", position_id=1)
    gate.set_differences([d], again.clock.t)
    order = run(rec.flatten(d))
    assert order is not None and order.status is OrderStatus.FILLED
    [trade] = again.store.trades()
    assert (trade.exit_reason, trade.exit_price) == ("MANUAL", 102.0)
    assert again.sim.open_orders_sync() == [] and not gate.blocked


def test_a_stop_canceled_in_the_store_before_the_restart_is_reported_missing(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    run(rig.enter("AAA", 100, 100.0))
    again = rig.restart(now=at("10:00", DAY2))
    # Canceled while the new app runs but before its book was restored: the store knows,
    # the book was not listening yet.
    again.sim.cancel_sync(client_order_id(DAY1, "AAA", STRATEGY, OrderIntent.STOP, 0))
    rec, gate = reconciler(again)
    diffs = run(rec.run(protect=False))
    assert [d.kind for d in diffs] == [K.STOP_MISSING] and gate.blocked
    assert "UNPROTECTED" in diffs[0].message
    run(rec.adopt(diffs[0]))
    assert [o.request.stop_price for o in again.open_stops()] == [97.0]
    assert not gate.blocked


def test_the_gate_starts_blocked_and_reports_changes() -> None:
    events: list[Any] = []
    from workstation.core.events import EventBus

    bus = EventBus()
    bus.subscribe(TradingGateChanged, events.append)
    gate = TradingGate(bus)
    assert gate.blocked and not gate.allows_trading()
    d = Difference(K.STOP_MISSING, "AAA", "x")
    now = datetime(2024, 3, 13, 10, 0, tzinfo=T0.tzinfo)
    gate.set_differences([d], now)
    assert gate.blocked and gate.reason == "1 difference between the store and the broker"
    gate.resolved(d, now)
    assert not gate.blocked and gate.reason == ""
    assert [(e.blocked, e.open_differences) for e in events] == [(True, 1), (False, 0)]


def test_a_crash_between_the_stop_cancel_and_the_exit_leaves_nothing_unprotected(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)

    async def before() -> str:
        await rig.enter("AAA", 100, 100.0)
        rig.go("09:00", DAY2)
        await rig.book.roll_session(DAY2)
        rig.go("11:00", DAY2)
        # The first half of an exit, as _send_exit does it; then the app dies.
        pos = rig.book._live["AAA"]
        pos.exiting = True
        stop = pos.stop_cid
        assert stop is not None
        cid, _ = rig.book._prepare_exit(pos, OrderIntent.EXIT, DAY2, {"exit_reason": "TAKE_PROFIT"})
        await rig.om.cancel(stop, record=False)
        return cid

    exit_cid = run(before())
    assert rig.open_stops() == []  # unprotected at this instant
    again = rig.restart(now=at("11:05", DAY2))
    rec, gate = reconciler(again)
    assert run(rec.run()) == [] and not gate.blocked
    row = again.store.order_by_client_id(exit_cid)
    assert row is not None and row.status == "canceled"
    assert row.reject_reason is not None and row.reject_reason.startswith("never reached")
    [stop] = again.open_stops()
    assert (stop.request.qty, stop.request.stop_price) == (100, 97.0)
    finished = again.of_type(ReconcileFinished)[0]
    assert finished.not_sent == (exit_cid,) and finished.protected == ("AAA",)
    state = again.book.position("AAA")
    assert state is not None and not state.exiting
    # The exit is decided again from the next price, at once (no retry pause).
    out = run(again.tick("AAA", 106.5, "11:05:01", DAY2))
    assert out is not None
    [trade] = again.store.trades()
    assert (trade.exit_reason, trade.exit_price) == ("TAKE_PROFIT", 106.5)
    assert [
        o.client_order_id for o in again.sim.orders() if o.request.intent is OrderIntent.EXIT
    ] == [
        client_order_id(DAY2, "AAA", STRATEGY, OrderIntent.EXIT, 1)
    ]  # the never-sent id 0 is not reused


def test_an_exit_waiting_for_the_open_counts_as_protection_after_a_restart(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)

    async def before() -> None:
        await rig.enter("AAA", 100, 100.0)
        await rig.tick("AAA", 96.0, "09:00", DAY2)  # pre-market below the SL: exit waits

    run(before())
    assert rig.open_stops() == [] and len(rig.orders_of(OrderIntent.EXIT)) == 1
    again = rig.restart(now=at("09:10", DAY2))
    rec, gate = reconciler(again)
    assert run(rec.run()) == [] and not gate.blocked
    state = again.book.position("AAA")
    assert state is not None and state.exiting and state.exit_reason is not None
    assert str(state.exit_reason) == "STOP_LOSS"
    again.sim.on_open("AAA", 95.5, at("09:30", DAY2))
    run(again.book.settle())
    [trade] = again.store.trades()
    assert (trade.exit_reason, trade.exit_price) == ("STOP_LOSS", 95.5)
