"""AlpacaBroker through the REAL alpaca-py clients against the fake Alpaca: OPG and market
orders, stops and their replacement, partial fills, cancel and close, idempotent submits,
rejections, the trade-updates stream (and what it missed), the calendar cross-check."""

# The fixture is imported, and pytest injects it by parameter name: F811 is expected here.
# ruff: noqa: F811

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date, timedelta

import pytest

from tests.fake_alpaca import FakeAlpacaServer
from tests.fake_alpaca.fixture import fake_alpaca  # noqa: F401
from tests.integration.alpaca_support import (
    FAST_RECONNECT,
    FAST_RETRY,
    Recorder,
    SetClock,
    at_ny,
    buy,
    cid,
    make_session,
    run,
    stop,
    until,
)
from workstation.alpaca.endpoints import LIVE_TRADING_URL, resolve_endpoints
from workstation.alpaca.errors import LiveTradingNotConfirmed
from workstation.alpaca.mapping import map_status
from workstation.alpaca.session import AlpacaSession
from workstation.broker.alpaca import AlpacaBroker, CalendarDisagreement
from workstation.broker.base import Broker, BrokerError, OrderRejected
from workstation.core.calendar import TradingCalendar
from workstation.core.events import OrderFilled, OrderUpdated
from workstation.core.models import (
    OrderIntent,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)

pytestmark = pytest.mark.timeout(60)


def posts(fake: FakeAlpacaServer) -> int:
    return fake.state.request_count("POST", "/v2/orders")


def lookups(fake: FakeAlpacaServer) -> int:
    return fake.state.request_count("GET", "/v2/orders:by_client_order_id")


def new_broker(fake: FakeAlpacaServer, **kw: object) -> tuple[AlpacaBroker, Recorder]:
    for symbol in ("AAA", "BBB"):
        fake.state.add_asset(symbol)
    broker = AlpacaBroker(
        make_session(fake, **kw),  # type: ignore[arg-type]
        stream_reconnect_backoff=FAST_RECONNECT,
        cancel_wait_s=2.0,
    )
    rec = Recorder()
    broker.on_event(rec)
    return broker, rec


def statuses(rec: Recorder, client_id: str) -> list[OrderStatus]:
    """The order's states in turn (an update that only changes Alpaca's word for the same
    state, e.g. accepted -> new at the open, is left out: see ``words``)."""
    return [
        e.order.status
        for e in rec.of(OrderUpdated)
        if e.order.client_order_id == client_id
        and (e.previous_status != e.order.status or e.order.status is OrderStatus.PARTIALLY_FILLED)
    ]


def words(rec: Recorder, client_id: str) -> list[str]:
    """Alpaca's own words for the order's state, in turn (``Order.broker_status``)."""
    out: list[str] = []
    for e in rec.of(OrderUpdated):
        if e.order.client_order_id == client_id and (not out or out[-1] != e.order.broker_status):
            out.append(e.order.broker_status)
    return out


def test_opg_order_fills_at_the_open(fake_alpaca: FakeAlpacaServer) -> None:
    st = fake_alpaca.state  # Monday 08:00, before the open
    broker, rec = new_broker(fake_alpaca)
    assert isinstance(broker, Broker)

    async def scenario() -> None:
        await broker.start()
        assert await until(lambda: broker.trading_stream.connected_now)
        order = await broker.submit(buy("AAA", 10, TimeInForce.OPG))
        assert order.status is OrderStatus.ACCEPTED and order.broker_id
        (post,) = [r for r in st.requests if r.method == "POST"]
        assert post.body["time_in_force"] == "opg" and post.body["type"] == "market"
        assert post.body["client_order_id"] == cid("AAA")
        st.open_session({"AAA": 101.5})
        assert await until(lambda: statuses(rec, cid("AAA"))[-1:] == [OrderStatus.FILLED])
        (filled,) = rec.of(OrderFilled)
        assert filled.fill.qty == 10 and filled.fill.price == 101.5
        assert filled.fill.at == at_ny(2024, 6, 3, 9, 30)
        assert statuses(rec, cid("AAA")) == [OrderStatus.ACCEPTED, OrderStatus.FILLED]
        # Alpaca's own words, kept beside ours (issue 12.8): held until the open, routed.
        assert words(rec, cid("AAA")) == ["accepted", "new", "filled"]
        # The returned order kept the engine's request (strategy, intent).
        final = await broker.order_by_client_id(cid("AAA"))
        assert final is not None and final.request.strategy == "test"
        assert final.avg_fill_price == 101.5
        assert await broker.positions() == {"AAA": (10, 101.5)}
        acct = await broker.account()
        assert acct.cash == pytest.approx(100_000 - 1015.0) and not acct.blocked
        await broker.aclose()

    run(scenario)


def test_opg_after_0928_is_rejected_with_alpacas_reason_and_not_retried(
    fake_alpaca: FakeAlpacaServer,
) -> None:
    fake_alpaca.state.set_now(at_ny(2024, 6, 3, 9, 29))
    broker, rec = new_broker(fake_alpaca)

    async def scenario() -> None:
        with pytest.raises(OrderRejected) as info:
            await broker.submit(buy("AAA", 10, TimeInForce.OPG))
        assert "09:28" in info.value.reason
        assert posts(fake_alpaca) == 1
        (update,) = rec.of(OrderUpdated)
        assert update.order.status is OrderStatus.REJECTED and "09:28" in update.order.reject_reason
        # Asking again returns the recorded rejection: it is never sent blindly again.
        again = await broker.submit(buy("AAA", 10, TimeInForce.OPG))
        assert again.status is OrderStatus.REJECTED and posts(fake_alpaca) == 1

    run(scenario)


def test_market_orders_long_and_short_and_assets(fake_alpaca: FakeAlpacaServer) -> None:
    st = fake_alpaca.state
    st.set_now(at_ny(2024, 6, 3, 10))
    st.set_prices({"AAA": 50.0, "BBB": 20.0})
    st.add_asset("HTB", shortable=True, easy_to_borrow=False)
    broker, rec = new_broker(fake_alpaca)

    async def scenario() -> None:
        await broker.start()
        assert await until(lambda: broker.trading_stream.connected_now)
        await broker.submit(buy("AAA", 5))
        short = OrderRequest(cid("BBB"), "BBB", OrderSide.SELL, 3, strategy="test")
        await broker.submit(short)
        assert await until(lambda: len(rec.of(OrderFilled)) == 2)
        fills = {e.fill.symbol: e.fill for e in rec.of(OrderFilled)}
        assert fills["AAA"].price == 50.0 and fills["AAA"].side is OrderSide.BUY
        assert fills["BBB"].price == 20.0 and fills["BBB"].side is OrderSide.SELL
        assert await broker.positions() == {"AAA": (5, 50.0), "BBB": (-3, 20.0)}
        htb = await broker.asset("HTB")
        assert htb.shortable and not htb.easy_to_borrow and htb.tradable
        everything = await broker.assets(["AAA", "HTB", "ZZZ"])
        assert set(everything) == {"AAA", "HTB"} and everything["AAA"].easy_to_borrow
        with pytest.raises(BrokerError, match="not found"):
            await broker.asset("NOPE")
        await broker.aclose()

    run(scenario)


def test_stop_is_replaced_idempotently_then_triggers(fake_alpaca: FakeAlpacaServer) -> None:
    st = fake_alpaca.state
    st.set_now(at_ny(2024, 6, 3, 10))
    st.set_price("AAA", 50.0)
    broker, rec = new_broker(fake_alpaca)

    async def scenario() -> None:
        await broker.start()
        await broker.submit(buy("AAA", 10))
        assert await until(lambda: bool(rec.of(OrderFilled)))
        first = await broker.submit(stop("AAA", 10, 45.0))
        assert first.status is OrderStatus.ACCEPTED
        new_id = cid("AAA", OrderIntent.STOP, 1)
        moved = await broker.replace_stop(first.client_order_id, 47.123, new_id)
        assert moved.client_order_id == new_id and moved.status is OrderStatus.ACCEPTED
        assert moved.request.stop_price == 47.12  # Alpaca takes cents
        assert moved.request.intent is OrderIntent.STOP and moved.request.qty == 10
        (patch,) = [r for r in st.requests if r.method == "PATCH"]
        assert patch.body == {"qty": 10, "stop_price": 47.12, "client_order_id": new_id}
        old = await broker.order_by_client_id(first.client_order_id)
        assert old is not None and old.status is OrderStatus.CANCELED
        assert old.reject_reason == f"replaced by {new_id}"
        assert st.order_by_client_id(first.client_order_id)["status"] == "replaced"
        assert st.order_by_client_id(new_id)["stop_price"] == "47.12"
        # Asking again (a retry, a restart) changes nothing.
        again = await broker.replace_stop(first.client_order_id, 47.123, new_id)
        assert again.broker_id == moved.broker_id
        assert st.request_count("PATCH") == 1
        # A stop above the market is refused by Alpaca: the live stop stays.
        with pytest.raises(OrderRejected, match="stop price"):
            await broker.replace_stop(new_id, 55.0, cid("AAA", OrderIntent.STOP, 2))
        live = await broker.order_by_client_id(new_id)
        assert live is not None and live.status is OrderStatus.ACCEPTED
        st.set_price("AAA", 46.9)
        assert await until(lambda: statuses(rec, new_id)[-1:] == [OrderStatus.FILLED])
        exit_fill = rec.of(OrderFilled)[-1].fill
        assert exit_fill.client_order_id == new_id and exit_fill.price == 46.9
        assert await broker.positions() == {}
        await broker.aclose()

    run(scenario)


def test_partial_fills_move_the_order_through_partially_filled(
    fake_alpaca: FakeAlpacaServer,
) -> None:
    st = fake_alpaca.state
    st.set_now(at_ny(2024, 6, 3, 10))
    st.set_price("AAA", 10.0)
    st.partial_fills("AAA", pieces=[3, 3, 4], stepwise=True)
    broker, rec = new_broker(fake_alpaca)

    async def scenario() -> None:
        await broker.start()
        assert await until(lambda: broker.trading_stream.connected_now)
        await broker.submit(buy("AAA", 10))
        assert await until(lambda: len(rec.of(OrderFilled)) == 1)
        st.set_price("AAA", 11.0)
        assert await until(lambda: len(rec.of(OrderFilled)) == 2)
        st.set_price("AAA", 12.0)
        assert await until(lambda: len(rec.of(OrderFilled)) == 3)
        fills = [e.fill for e in rec.of(OrderFilled)]
        assert [(f.qty, f.price) for f in fills] == [(3, 10.0), (3, 11.0), (4, 12.0)]
        assert len({f.fill_id for f in fills}) == 3
        assert statuses(rec, cid("AAA")) == [
            OrderStatus.ACCEPTED,
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
        ]
        order = rec.of(OrderFilled)[-1].order
        assert order.filled_qty == 10 and order.avg_fill_price == pytest.approx(11.1)
        # The REST view agrees and is not counted again.
        await broker.reconcile()
        assert len(rec.of(OrderFilled)) == 3
        await broker.aclose()

    run(scenario)


def test_a_timed_out_submit_is_looked_up_and_never_placed_twice(
    fake_alpaca: FakeAlpacaServer,
) -> None:
    st = fake_alpaca.state
    st.submit_timeout_once(delay=1.5)  # accepted server side; the answer comes too late
    broker, _ = new_broker(fake_alpaca, retry=replace(FAST_RETRY, timeout_s=0.3))
    states = Recorder()
    broker.session.on_event(states)

    async def scenario() -> None:
        order = await broker.submit(buy("AAA", 7))
        assert order.status is OrderStatus.ACCEPTED and order.broker_id
        assert posts(fake_alpaca) == 1  # looked up, found, not sent again
        assert lookups(fake_alpaca) == 1
        assert [o["client_order_id"] for o in st.orders()] == [cid("AAA")]
        assert order.broker_id == st.order_by_client_id(cid("AAA"))["id"]
        assert states.states("trading") == ["degraded", "connected"]
        assert "no answer in time" in states.details("trading")[0]

    run(scenario)


def test_server_errors_on_submit_look_before_sending_again(fake_alpaca: FakeAlpacaServer) -> None:
    st = fake_alpaca.state
    st.fail_next(1, 500, path_prefix="/v2/orders")  # JSON 500: not processed
    st.fail_next(1, 503)  # the gateway's HTML page, next request (the look-up)
    broker, _ = new_broker(fake_alpaca)
    states = Recorder()
    broker.session.on_event(states)

    async def scenario() -> None:
        order = await broker.submit(buy("AAA", 2))
        assert order.status is OrderStatus.ACCEPTED
        assert posts(fake_alpaca) == 2  # the second only after Alpaca said it has none
        assert lookups(fake_alpaca) == 2  # one answered 503 (retried), one 404
        assert len(st.orders()) == 1
        assert states.states("trading") == ["degraded", "connected"]

    run(scenario)


def test_duplicate_client_order_id_resolves_to_the_existing_order(
    fake_alpaca: FakeAlpacaServer,
) -> None:
    first, _ = new_broker(fake_alpaca)
    second, _ = new_broker(fake_alpaca)  # e.g. after a restart: it knows nothing yet

    async def scenario() -> None:
        a = await first.submit(buy("AAA", 4))
        b = await second.submit(buy("AAA", 4))
        assert b.broker_id == a.broker_id and b.status is OrderStatus.ACCEPTED
        assert posts(fake_alpaca) == 2  # the second got 422 "client_order_id must be unique"
        assert len(fake_alpaca.state.orders()) == 1

    run(scenario)


@pytest.mark.parametrize("via", ["http", "stream"])
def test_a_rejected_order_carries_alpacas_reason(fake_alpaca: FakeAlpacaServer, via: str) -> None:
    st = fake_alpaca.state
    st.reject_next_order("insufficient buying power", via=via)
    broker, rec = new_broker(fake_alpaca)

    async def scenario() -> None:
        await broker.start()
        assert await until(lambda: broker.trading_stream.connected_now)
        if via == "http":
            with pytest.raises(OrderRejected) as info:
                await broker.submit(buy("AAA", 1000))
            assert info.value.reason == "insufficient buying power"
        else:
            # Accepted by the POST; the stream's rejection may already have been applied.
            accepted = await broker.submit(buy("AAA", 1000))
            assert accepted.status in (OrderStatus.ACCEPTED, OrderStatus.REJECTED)
        assert await until(lambda: OrderStatus.REJECTED in statuses(rec, cid("AAA")))
        rejected = rec.of(OrderUpdated)[-1].order
        assert rejected.reject_reason == "insufficient buying power"
        assert posts(fake_alpaca) == 1
        await broker.aclose()

    run(scenario)


def test_cancel_and_close_position(fake_alpaca: FakeAlpacaServer) -> None:
    st = fake_alpaca.state
    st.set_now(at_ny(2024, 6, 3, 10))
    st.set_price("AAA", 30.0)
    broker, rec = new_broker(fake_alpaca)

    async def scenario() -> None:
        await broker.start()
        await broker.submit(buy("AAA", 8))
        assert await until(lambda: bool(rec.of(OrderFilled)))
        protective = await broker.submit(stop("AAA", 8, 25.0))
        await broker.cancel(protective.client_order_id)
        assert statuses(rec, protective.client_order_id)[-1] is OrderStatus.CANCELED
        await broker.cancel(protective.client_order_id)  # canceled already: a no-op
        with pytest.raises(BrokerError, match="filled"):
            await broker.cancel(cid("AAA"))
        with pytest.raises(BrokerError, match="not found"):
            await broker.cancel("no-such-order")
        # close_position cancels the resting stop first, else no shares would be available.
        again = await broker.submit(stop("AAA", 8, 25.0, seq=1))
        closing = await broker.close_position(
            "AAA", client_order_id=cid("AAA", OrderIntent.FLATTEN)
        )
        assert closing.request.intent is OrderIntent.FLATTEN and closing.request.qty == 8
        assert statuses(rec, again.client_order_id)[-1] is OrderStatus.CANCELED
        assert await until(
            lambda: statuses(rec, closing.client_order_id)[-1:] == [OrderStatus.FILLED]
        )
        assert await broker.positions() == {}
        assert await broker.open_orders() == []
        with pytest.raises(BrokerError, match="no position"):
            await broker.close_position("AAA")
        await broker.aclose()

    run(scenario)


def test_updates_missed_while_the_stream_was_down_are_reconciled(
    fake_alpaca: FakeAlpacaServer,
) -> None:
    st = fake_alpaca.state  # 08:00: the order waits for the open
    broker, rec = new_broker(fake_alpaca)

    async def scenario() -> None:
        await broker.start()
        assert await until(lambda: broker.trading_stream.connected_now)
        await broker.submit(buy("AAA", 6))
        st.silence_streams(True)  # the fill's trade update is lost
        st.open_session({"AAA": 40.0})
        st.silence_streams(False)
        assert rec.of(OrderFilled) == []
        st.drop_streams()  # the connection dies; the SDK reconnects; the broker reconciles
        assert await until(lambda: bool(rec.of(OrderFilled)), timeout=10)
        (filled,) = rec.of(OrderFilled)
        assert filled.fill.qty == 6 and filled.fill.price == pytest.approx(40.0)
        assert broker.trading_stream.connects >= 2
        assert statuses(rec, cid("AAA"))[-1] is OrderStatus.FILLED
        await broker.aclose()

    run(scenario)


def test_open_orders_adopt_orders_placed_elsewhere(fake_alpaca: FakeAlpacaServer) -> None:
    st = fake_alpaca.state
    st.set_position("AAA", 5, 10.0)
    st.set_price("AAA", 10.0)
    broker, _ = new_broker(fake_alpaca)
    other, _ = new_broker(fake_alpaca)

    async def scenario() -> None:
        placed = await other.submit(stop("AAA", 5, 9.0))
        (seen,) = await broker.open_orders()
        assert seen.client_order_id == placed.client_order_id
        assert seen.request.type is OrderType.STOP and seen.request.stop_price == 9.0
        assert seen.request.intent is OrderIntent.STOP  # read back from our id format
        assert seen.status is OrderStatus.ACCEPTED

    run(scenario)


@pytest.mark.parametrize(
    ("alpaca", "filled", "ours"),
    [
        ("new", 0, OrderStatus.ACCEPTED),
        ("accepted", 0, OrderStatus.ACCEPTED),
        ("pending_new", 0, OrderStatus.ACCEPTED),
        ("held", 0, OrderStatus.ACCEPTED),
        ("pending_cancel", 0, OrderStatus.ACCEPTED),
        ("pending_replace", 2, OrderStatus.PARTIALLY_FILLED),
        ("done_for_day", 2, OrderStatus.PARTIALLY_FILLED),
        ("partially_filled", 2, OrderStatus.PARTIALLY_FILLED),
        ("filled", 5, OrderStatus.FILLED),
        ("canceled", 0, OrderStatus.CANCELED),
        ("replaced", 0, OrderStatus.CANCELED),
        ("expired", 0, OrderStatus.EXPIRED),
        ("rejected", 0, OrderStatus.REJECTED),
        ("something_new", 0, None),
    ],
    ids=lambda v: str(v),
)
def test_status_mapping(alpaca: str, filled: int, ours: OrderStatus | None) -> None:
    assert map_status(alpaca, filled) is ours


def test_unknown_events_and_statuses_never_crash(
    fake_alpaca: FakeAlpacaServer, caplog: pytest.LogCaptureFixture
) -> None:
    broker, rec = new_broker(fake_alpaca)

    async def scenario() -> None:
        order = await broker.submit(buy("AAA", 3))
        raw = fake_alpaca.state.order_by_client_id(order.client_order_id)
        with caplog.at_level(logging.WARNING):
            broker._handle_update(
                {"stream": "trade_updates", "data": {"event": "teleported", "order": raw}}
            )
            weird = dict(raw, status="quantum_superposition")
            broker._handle_update(
                {"stream": "trade_updates", "data": {"event": "new", "order": weird}}
            )
            broker._handle_update({"stream": "trade_updates", "data": {"event": "fill"}})
            broker._handle_update({"stream": "trade_updates", "data": "garbage"})
        assert "teleported" in caplog.text and "quantum_superposition" in caplog.text
        same = await broker.order_by_client_id(order.client_order_id)
        assert same is not None and same.status is OrderStatus.ACCEPTED
        assert statuses(rec, order.client_order_id) == [OrderStatus.ACCEPTED]

    run(scenario)


class _CalendarWithoutJune5(TradingCalendar):
    """The local calendar, wrongly believing 2024-06-05 is a holiday."""

    def sessions_in_range(self, start, end):  # type: ignore[no-untyped-def]
        return [d for d in super().sessions_in_range(start, end) if d != date(2024, 6, 5)]


def test_clock_and_calendar_are_cross_checked(fake_alpaca: FakeAlpacaServer) -> None:
    broker, _ = new_broker(fake_alpaca)
    events = Recorder()
    broker.session.on_event(events)

    async def scenario() -> None:
        check = await broker.check_calendar(days=40)
        assert check.ok, check.problems
        assert check.alpaca_now == fake_alpaca.state.now
        assert await broker.broker_time() == fake_alpaca.state.now  # the start-up comparison
        assert events.of(CalendarDisagreement) == []

        wrong = AlpacaBroker(
            make_session(fake_alpaca, SetClock(fake_alpaca.state.now + timedelta(minutes=3))),
            calendar=_CalendarWithoutJune5(),
        )
        seen = Recorder()
        wrong.session.on_event(seen)
        check = await wrong.check_calendar(days=10)
        assert len(check.problems) == 2
        assert "2024-06-05: Alpaca's calendar has a session, XNYS does not" in check.problems
        assert any("check the system clock" in p for p in check.problems)
        assert [e.message for e in seen.of(CalendarDisagreement)] == list(check.problems)
        assert all(e.level == "WARNING" for e in seen.of(CalendarDisagreement))

    run(scenario)


def test_live_trading_needs_explicit_confirmation(fake_alpaca: FakeAlpacaServer) -> None:
    env = fake_alpaca.env()
    with pytest.raises(LiveTradingNotConfirmed, match="confirm"):
        resolve_endpoints(None, "live", env={})
    with pytest.raises(LiveTradingNotConfirmed):
        AlpacaSession.from_config(mode="live", env=env)
    live = AlpacaSession.from_config(mode="live", confirm_live=True, env=env)
    assert live.live and live.mode == "live"
    with pytest.raises(LiveTradingNotConfirmed, match="confirm_live=True"):
        AlpacaBroker(live)
    broker = AlpacaBroker(live, confirm_live=True)
    assert broker.live
    defaults = resolve_endpoints(None, "live", confirm_live=True, env={})
    assert defaults.trading_url == LIVE_TRADING_URL
    assert defaults.trading_stream_url == "wss://api.alpaca.markets/stream"
