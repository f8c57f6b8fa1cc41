"""The simulated broker: fills, the order state machine, accounting, persistence."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from workstation.broker.base import Broker, BrokerError, OrderRejected
from workstation.broker.sim import WASH_TRADE, SimBroker
from workstation.core.events import Event, EventBus, OrderFilled, OrderUpdated
from workstation.core.models import (
    LEGAL_TRANSITIONS,
    Asset,
    IllegalTransition,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)

ET = ZoneInfo("America/New_York")
DAY1 = date(2024, 3, 12)  # a Tuesday
DAY2 = date(2024, 3, 13)
S = 2.0 / 10_000  # the default slippage as a fraction


def at(hm: str, d: date = DAY1) -> datetime:
    return datetime.combine(d, time.fromisoformat(hm), tzinfo=ET)


class FakeClock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def now(self) -> datetime:
        return self.t


def hours(now: datetime) -> str:
    """Regular hours 09:30-16:00 on every day: enough for these tests."""
    t = now.time()
    if time(9, 30) <= t < time(16, 0):
        return "open"
    if time(4, 0) <= t < time(9, 30):
        return "pre_market"
    if time(16, 0) <= t < time(20, 0):
        return "after_hours"
    return "closed"


class Rig:
    """A broker, its clock and the events it published."""

    def __init__(self, start: str = "10:00", d: date = DAY1, **kwargs: object) -> None:
        self.clock = FakeClock(at(start, d))
        kwargs.setdefault("starting_equity", 100_000.0)
        kwargs.setdefault("market_hours", hours)
        self.broker = SimBroker(self.clock, **kwargs)  # type: ignore[arg-type]
        self.events: list[Event] = []
        self.broker.on_event(self.events.append)

    def go(self, hm: str, d: date = DAY1) -> None:
        self.clock.t = at(hm, d)

    def price(self, symbol: str, price: float, hm: str | None = None, d: date = DAY1) -> None:
        if hm is not None:
            self.go(hm, d)
        self.broker.on_price(symbol, price, self.clock.t)

    def submit(self, cid: str, **kw: object):
        return self.broker.submit_sync(req(cid, **kw))  # type: ignore[arg-type]

    def status(self, cid: str) -> OrderStatus:
        order = self.broker.order_by_client_id_sync(cid)
        assert order is not None
        return order.status

    def fills_of(self, cid: str) -> list[tuple[int, float]]:
        return [(f.qty, f.price) for f in self.broker.fills() if f.client_order_id == cid]

    def updates(self, cid: str) -> list[tuple[str | None, str]]:
        return [
            (e.previous_status, e.order.status)
            for e in self.events
            if isinstance(e, OrderUpdated) and e.order.client_order_id == cid
        ]


def req(
    cid: str,
    symbol: str = "AAA",
    side: str = "buy",
    qty: int = 100,
    type: str = "market",
    tif: str = "day",
    limit: float | None = None,
    stop: float | None = None,
) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid,
        symbol=symbol,
        side=OrderSide(side),
        qty=qty,
        type=OrderType(type),
        tif=TimeInForce(tif),
        limit_price=limit,
        stop_price=stop,
    )


def long_position(rig: Rig, qty: int = 100, price: float = 100.0, symbol: str = "AAA") -> None:
    rig.price(symbol, price, "10:00")
    rig.submit(f"entry-{symbol}", symbol=symbol, qty=qty)


def short_position(rig: Rig, qty: int = 100, price: float = 100.0, symbol: str = "AAA") -> None:
    rig.price(symbol, price, "10:00")
    rig.submit(f"entry-{symbol}", symbol=symbol, side="sell", qty=qty)


# ---------------------------------------------------------------- the protocol
def test_implements_the_broker_protocol_async() -> None:
    rig = Rig()
    assert isinstance(rig.broker, Broker)

    async def scenario() -> tuple[object, ...]:
        rig.price("AAA", 50.0, "10:00")
        order = await rig.broker.submit(req("a1", qty=10))
        return (
            order.status,
            await rig.broker.positions(),
            (await rig.broker.account()).pattern_day_trader,
            await rig.broker.open_orders(),
            (await rig.broker.order_by_client_id("a1")).filled_qty,  # type: ignore[union-attr]
            (await rig.broker.asset("AAA")).shortable,
        )

    status, positions, pdt, open_orders, filled, shortable = asyncio.run(scenario())
    assert status is OrderStatus.FILLED
    assert positions == {"AAA": (10, pytest.approx(50.0 * (1 + S)))}
    assert (pdt, open_orders, filled, shortable) == (False, [], 10, True)


# --------------------------------------------------------------- OPG at the open
@pytest.mark.parametrize(
    ("open_slippage_bps", "side", "expected"),
    [
        (0.0, "buy", 100.5),
        (0.0, "sell", 100.5),
        (10.0, "buy", 100.5 * 1.001),
        (10.0, "sell", 100.5 * 0.999),
    ],
    ids=["buy-no-slip", "sell-no-slip", "buy-10bps", "sell-10bps"],
)
def test_opg_fills_at_the_official_open_not_a_premarket_price(
    open_slippage_bps: float, side: str, expected: float
) -> None:
    rig = Rig("08:00", open_slippage_bps=open_slippage_bps)
    rig.price("AAA", 101.0, "08:00")  # pre-market prints only mark
    rig.go("09:26")
    order = rig.submit("opg", side=side, tif="opg")
    assert order.status is OrderStatus.ACCEPTED
    rig.price("AAA", 102.0, "09:27")
    assert rig.fills_of("opg") == []
    rig.go("09:30")
    rig.broker.on_open("AAA", 100.5)
    assert rig.fills_of("opg") == [(100, pytest.approx(expected))]
    assert rig.status("opg") is OrderStatus.FILLED


def test_day_market_order_submitted_premarket_fills_at_the_open() -> None:
    rig = Rig("08:00")
    rig.price("AAA", 101.0, "08:00")
    rig.submit("m", tif="day")
    rig.price("AAA", 101.5, "09:00")
    assert rig.fills_of("m") == []
    rig.go("09:30")
    rig.broker.on_open("AAA", 99.0)
    assert rig.fills_of("m") == [(100, pytest.approx(99.0))]


@pytest.mark.parametrize(
    ("hm", "accepted"),
    [
        ("04:00", True),
        ("09:27:59", True),
        ("09:28", False),
        ("12:00", False),
        ("18:59:59", False),
        ("19:00", True),
        ("23:30", True),
    ],
    ids=["0400", "0927-59", "0928", "noon", "1859-59", "1900", "2330"],
)
def test_opg_submission_window(hm: str, accepted: bool) -> None:
    rig = Rig(hm)
    rig.broker.on_price("AAA", 100.0, at("03:00"))  # a price to value the order
    if accepted:
        assert rig.submit("opg", tif="opg").status is OrderStatus.ACCEPTED
    else:
        with pytest.raises(OrderRejected) as err:
            rig.submit("opg", tif="opg")
        assert err.value.reason == "OPG orders may be submitted only between 19:00 and 09:28 ET"
        assert rig.status("opg") is OrderStatus.REJECTED


def test_opg_window_is_configurable() -> None:
    rig = Rig("12:00", opg_reject_window=None)
    rig.broker.on_price("AAA", 100.0, at("03:00"))
    assert rig.submit("opg", tif="opg").status is OrderStatus.ACCEPTED
    rig = Rig("09:20", opg_reject_window=(time(9, 15), time(18, 0)))
    rig.broker.on_price("AAA", 100.0, at("03:00"))
    with pytest.raises(OrderRejected, match="between 18:00 and 09:15 ET"):
        rig.submit("opg", tif="opg")


# ------------------------------------------------------------ market slippage
@pytest.mark.parametrize(
    ("side", "expected", "position"),
    [("buy", 50.0 * (1 + S), 100), ("sell", 50.0 * (1 - S), -100)],
    ids=["buy-pays-up", "sell-receives-less"],
)
def test_market_order_fills_with_slippage_in_the_right_direction(
    side: str, expected: float, position: int
) -> None:
    rig = Rig()
    rig.price("AAA", 50.0, "10:00")
    order = rig.submit("m", side=side)
    assert order.status is OrderStatus.FILLED
    assert order.avg_fill_price == pytest.approx(expected)
    assert rig.broker.positions_sync()["AAA"] == (position, pytest.approx(expected))


def test_market_order_during_hours_without_a_session_price_waits_for_the_next_print() -> None:
    rig = Rig("08:00")
    rig.price("AAA", 40.0, "08:00")  # pre-market: not a regular-session price
    rig.go("10:00")
    assert rig.submit("m").status is OrderStatus.ACCEPTED
    rig.price("AAA", 41.0, "10:01")
    assert rig.fills_of("m") == [(100, pytest.approx(41.0 * (1 + S)))]


def test_market_order_after_hours_waits_for_the_next_open() -> None:
    rig = Rig()
    rig.price("AAA", 50.0, "10:00")
    rig.go("17:00")
    rig.submit("m")  # after end of day: next session's DAY order
    rig.price("AAA", 52.0, "17:30")
    assert rig.fills_of("m") == []
    rig.go("09:30", DAY2)
    rig.broker.on_open("AAA", 53.0)
    assert rig.fills_of("m") == [(100, pytest.approx(53.0))]


# -------------------------------------------------------------------- stops
@pytest.mark.parametrize(
    ("direction", "stop", "official_open", "expected"),
    [
        ("long", 95.0, 90.0, 90.0),  # gapped through: the open, not the stop
        ("long", 95.0, 95.0, 95.0),  # opened exactly at the stop: triggers
        ("long", 95.0, 97.0, None),  # opened above the stop: rests
        ("short", 105.0, 110.0, 110.0),  # buy stop gapped through on a short
        ("short", 105.0, 104.0, None),
    ],
    ids=[
        "sell-stop-gap",
        "sell-stop-open-at-stop",
        "sell-stop-no-gap",
        "buy-stop-gap",
        "buy-stop-no-gap",
    ],
)
def test_stop_gapping_through_fills_at_the_open(
    direction: str, stop: float, official_open: float, expected: float | None
) -> None:
    rig = Rig()
    (long_position if direction == "long" else short_position)(rig)
    side = "sell" if direction == "long" else "buy"
    rig.submit("stop", side=side, type="stop", tif="gtc", stop=stop)
    rig.go("16:00")
    rig.broker.on_close("AAA", 100.0)
    rig.broker.end_of_day()
    assert rig.status("stop") is OrderStatus.ACCEPTED  # GTC survives the night
    rig.go("09:30", DAY2)
    rig.broker.on_open("AAA", official_open)
    if expected is None:
        assert rig.fills_of("stop") == []
        assert rig.status("stop") is OrderStatus.ACCEPTED
    else:
        assert rig.fills_of("stop") == [(100, pytest.approx(expected))]
        assert rig.status("stop") is OrderStatus.FILLED
        assert rig.broker.positions_sync() == {}


@pytest.mark.parametrize(
    ("direction", "stop", "prices", "expected"),
    [
        ("long", 95.0, [96.0, 95.01], None),
        ("long", 95.0, [96.0, 95.0], 95.0 * (1 - S)),  # a touch triggers
        ("long", 95.0, [96.0, 94.0], 94.0 * (1 - S)),  # fast market: the worse price
        ("short", 105.0, [104.0, 104.99], None),
        ("short", 105.0, [104.0, 105.0], 105.0 * (1 + S)),
        ("short", 105.0, [104.0, 106.5], 106.5 * (1 + S)),
    ],
    ids=[
        "sell-not-reached",
        "sell-at-stop",
        "sell-through",
        "buy-not-reached",
        "buy-at-stop",
        "buy-through",
    ],
)
def test_stop_triggers_intraday(
    direction: str, stop: float, prices: list[float], expected: float | None
) -> None:
    rig = Rig()
    (long_position if direction == "long" else short_position)(rig)
    side = "sell" if direction == "long" else "buy"
    rig.submit("stop", side=side, type="stop", tif="gtc", stop=stop)
    for i, p in enumerate(prices):
        rig.price("AAA", p, f"11:0{i}")
    if expected is None:
        assert rig.fills_of("stop") == []
    else:
        assert rig.fills_of("stop") == [(100, pytest.approx(expected))]
        fill_price = rig.fills_of("stop")[0][1]
        # the worse of the stop and the print
        assert fill_price <= stop if side == "sell" else fill_price >= stop


# ------------------------------------------------------------------- limits
@pytest.mark.parametrize(
    ("side", "limit", "price", "expected"),
    [
        ("buy", 99.0, 99.5, None),
        ("buy", 99.0, 99.0, 99.0),  # at the limit: never worse than it, slippage or not
        ("buy", 99.0, 98.0, 98.0 * (1 + S)),  # better than the limit
        ("sell", 101.0, 100.5, None),
        ("sell", 101.0, 101.0, 101.0),
        ("sell", 101.0, 102.0, 102.0 * (1 - S)),
    ],
    ids=[
        "buy-not-marketable",
        "buy-at-limit",
        "buy-better",
        "sell-not-marketable",
        "sell-at-limit",
        "sell-better",
    ],
)
def test_limit_fills_at_the_limit_or_better(
    side: str, limit: float, price: float, expected: float | None
) -> None:
    rig = Rig()
    rig.price("AAA", 100.0, "10:00")
    rig.submit("lmt", side=side, type="limit", limit=limit)
    rig.price("AAA", price, "10:05")
    if expected is None:
        assert rig.status("lmt") is OrderStatus.ACCEPTED
        assert rig.fills_of("lmt") == []
    else:
        assert rig.fills_of("lmt") == [(100, pytest.approx(expected))]
        fill_price = rig.fills_of("lmt")[0][1]
        assert fill_price <= limit if side == "buy" else fill_price >= limit


@pytest.mark.parametrize(
    ("tif", "official_open", "expected_status", "expected_fill"),
    [
        ("opg", 97.0, OrderStatus.FILLED, 97.0),
        ("opg", 99.5, OrderStatus.EXPIRED, None),  # OPG not filled at the open expires there
        ("day", 97.0, OrderStatus.FILLED, 97.0),
        ("day", 99.5, OrderStatus.ACCEPTED, None),
    ],
    ids=["opg-marketable", "opg-expires", "day-marketable", "day-rests"],
)
def test_limit_at_the_open(
    tif: str, official_open: float, expected_status: OrderStatus, expected_fill: float | None
) -> None:
    rig = Rig("08:00")
    rig.price("AAA", 98.0, "08:00")
    rig.submit("lmt", type="limit", tif=tif, limit=99.0)
    rig.go("09:30")
    rig.broker.on_open("AAA", official_open)
    assert rig.status("lmt") is expected_status
    expected = [] if expected_fill is None else [(100, pytest.approx(expected_fill))]
    assert rig.fills_of("lmt") == expected


# ------------------------------------------------------------------ expiry
@pytest.mark.parametrize(
    ("tif", "type", "expected"),
    [
        ("day", "stop", OrderStatus.EXPIRED),
        ("day", "limit", OrderStatus.EXPIRED),
        ("gtc", "stop", OrderStatus.ACCEPTED),
        ("gtc", "limit", OrderStatus.ACCEPTED),
    ],
    ids=["day-stop", "day-limit", "gtc-stop", "gtc-limit"],
)
def test_end_of_day_expiry(tif: str, type: str, expected: OrderStatus) -> None:
    rig = Rig()
    long_position(rig)
    kw = {"stop": 90.0} if type == "stop" else {"limit": 120.0}
    rig.submit("o", side="sell", type=type, tif=tif, **kw)  # type: ignore[arg-type]
    rig.go("16:00")
    expired = rig.broker.end_of_day()
    assert rig.status("o") is expected
    assert [o.client_order_id for o in expired] == (["o"] if expected.is_terminal else [])
    if expected is OrderStatus.EXPIRED:
        assert rig.updates("o")[-1] == (OrderStatus.ACCEPTED, OrderStatus.EXPIRED)


def test_partially_filled_day_order_expires_with_its_fills_kept() -> None:
    rig = Rig(partial_fill_sizes={"AAA": [30]})
    rig.price("AAA", 100.0, "10:00")
    rig.submit("lmt", type="limit", limit=100.0)
    rig.price("AAA", 101.0, "10:01")  # not marketable: the rest waits
    assert rig.status("lmt") is OrderStatus.PARTIALLY_FILLED
    rig.go("16:00")
    rig.broker.end_of_day()
    order = rig.broker.order_by_client_id_sync("lmt")
    assert order is not None
    assert (order.status, order.filled_qty) == (OrderStatus.EXPIRED, 30)
    assert rig.broker.positions_sync()["AAA"][0] == 30


def test_opg_for_a_symbol_that_never_opened_expires_at_end_of_day() -> None:
    rig = Rig("09:00")
    rig.broker.on_price("BBB", 20.0, at("08:00"))
    rig.submit("opg", symbol="BBB", tif="opg")
    rig.go("09:30")
    rig.broker.on_open("AAA", 50.0)  # the session opened; BBB was halted all day
    rig.go("16:00")
    rig.broker.end_of_day()
    assert rig.status("opg") is OrderStatus.EXPIRED


def test_day_order_placed_after_end_of_day_lives_until_the_next_session() -> None:
    rig = Rig()
    long_position(rig)
    rig.go("16:05")
    rig.broker.end_of_day()
    rig.go("18:00")
    rig.submit("stop", side="sell", type="stop", stop=90.0)
    rig.go("16:05", DAY2)
    rig.broker.end_of_day()
    assert rig.status("stop") is OrderStatus.EXPIRED
    assert rig.updates("stop")[-1][1] is OrderStatus.EXPIRED


# ------------------------------------------------------------- idempotency
def test_duplicate_client_order_id_returns_the_same_order() -> None:
    rig = Rig()
    rig.price("AAA", 100.0, "10:00")
    first = rig.submit("dup", qty=10)
    second = rig.submit("dup", qty=10)
    third = asyncio.run(rig.broker.submit(req("dup", qty=10)))
    assert first == second == third
    assert [o.client_order_id for o in rig.broker.orders()] == ["dup"]
    assert rig.broker.positions_sync()["AAA"][0] == 10  # filled once, not three times
    assert len(rig.broker.fills()) == 1


def test_duplicate_of_a_rejected_order_returns_the_rejection_without_raising() -> None:
    rig = Rig(assets={"AAA": Asset("AAA", shortable=False)})
    rig.price("AAA", 100.0, "10:00")
    with pytest.raises(OrderRejected):
        rig.submit("short", side="sell")
    again = rig.submit("short", side="sell")
    assert (again.status, again.reject_reason) == (OrderStatus.REJECTED, "not shortable")
    assert len(rig.broker.orders()) == 1


# ------------------------------------------------------------- replace_stop
def test_replace_stop_leaves_exactly_one_live_stop() -> None:
    rig = Rig()
    long_position(rig)
    rig.submit("stop-0", side="sell", type="stop", tif="gtc", stop=90.0)
    new = rig.broker.replace_stop_sync("stop-0", 95.0, "stop-1")
    again = rig.broker.replace_stop_sync("stop-0", 95.0, "stop-1")  # a retry
    assert new == again
    live = rig.broker.open_orders_sync()
    assert [(o.client_order_id, o.request.stop_price, o.request.qty) for o in live] == [
        ("stop-1", 95.0, 100)
    ]
    old = rig.broker.order_by_client_id_sync("stop-0")
    assert old is not None
    assert (old.status, old.reject_reason) == (OrderStatus.CANCELED, "replaced by stop-1")
    assert new.request.tif is TimeInForce.GTC and new.request.side is OrderSide.SELL
    assert rig.updates("stop-0")[-1] == (OrderStatus.ACCEPTED, OrderStatus.CANCELED)
    assert rig.updates("stop-1") == [(OrderStatus.NEW, OrderStatus.ACCEPTED)]
    rig.price("AAA", 94.0, "11:00")
    assert rig.fills_of("stop-0") == []
    assert rig.fills_of("stop-1") == [(100, pytest.approx(94.0 * (1 - S)))]


def test_replace_stop_with_a_rejected_replacement_keeps_the_old_stop() -> None:
    rig = Rig()
    long_position(rig)
    rig.submit("stop-0", side="sell", type="stop", tif="gtc", stop=90.0)
    with pytest.raises(OrderRejected, match="insufficient qty available"):
        rig.broker.replace_stop_sync("stop-0", 95.0, "stop-1", qty=150)
    with pytest.raises(OrderRejected) as err:
        rig.broker.replace_stop_sync("stop-0", 95.0, "stop-2", qty=0)
    assert err.value.reason == "qty must be > 0"
    assert rig.status("stop-0") is OrderStatus.ACCEPTED
    assert rig.status("stop-1") is OrderStatus.REJECTED
    assert [o.client_order_id for o in rig.broker.open_orders_sync()] == ["stop-0"]


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        ("missing", "order not found"),
        ("canceled", "order is not replaceable"),
        ("limit", "order is not replaceable"),
    ],
    ids=["unknown", "canceled", "not-a-stop"],
)
def test_replace_stop_refuses_what_is_not_a_live_stop(setup: str, error: str) -> None:
    rig = Rig()
    long_position(rig)
    if setup == "canceled":
        rig.submit("o", side="sell", type="stop", tif="gtc", stop=90.0)
        rig.broker.cancel_sync("o")
    elif setup == "limit":
        rig.submit("o", side="sell", type="limit", limit=120.0)
    with pytest.raises(BrokerError) as err:
        rig.broker.replace_stop_sync("o", 95.0, "o2")
    assert err.value.reason == error
    assert rig.broker.order_by_client_id_sync("o2") is None


# ------------------------------------------------------------ partial fills
def test_partial_fills_sum_to_qty_with_the_right_average() -> None:
    rig = Rig()
    rig.broker.set_partial_fills("AAA", [30, 30])
    rig.go("10:00")
    rig.broker.on_price("AAA", 100.0, rig.clock.t)
    rig.submit("m", qty=100)  # first piece at once, at 100
    rig.price("AAA", 101.0, "10:01")
    rig.price("AAA", 102.0, "10:02")
    rig.price("AAA", 103.0, "10:03")  # nothing left to fill
    expected = [(30, 100.0 * (1 + S)), (30, 101.0 * (1 + S)), (40, 102.0 * (1 + S))]
    assert rig.fills_of("m") == [(q, pytest.approx(p)) for q, p in expected]
    assert [f.fill_id for f in rig.broker.fills()] == ["m-1", "m-2", "m-3"]
    order = rig.broker.order_by_client_id_sync("m")
    assert order is not None
    avg = sum(q * p for q, p in expected) / 100
    assert (order.status, order.filled_qty) == (OrderStatus.FILLED, 100)
    assert order.avg_fill_price == pytest.approx(avg)
    assert rig.broker.positions_sync()["AAA"] == (100, pytest.approx(avg))
    assert rig.updates("m") == [
        (OrderStatus.NEW, OrderStatus.ACCEPTED),
        (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED),
        (OrderStatus.PARTIALLY_FILLED, OrderStatus.PARTIALLY_FILLED),
        (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED),
    ]
    filled_events = [e for e in rig.events if isinstance(e, OrderFilled)]
    assert [e.fill.qty for e in filled_events] == [30, 30, 40]
    assert [e.order.filled_qty for e in filled_events] == [30, 60, 100]


def test_opg_partial_pieces_all_fill_at_the_open() -> None:
    rig = Rig("09:00", partial_fill_sizes={"AAA": [10, 20]})
    rig.broker.on_price("AAA", 50.0, at("08:00"))
    rig.submit("opg", qty=50, tif="opg")
    rig.go("09:30")
    rig.broker.on_open("AAA", 51.0)
    assert rig.fills_of("opg") == [(10, 51.0), (20, 51.0), (20, 51.0)]
    assert rig.status("opg") is OrderStatus.FILLED


# ------------------------------------------------------ illegal transitions
def test_a_canceled_order_never_fills() -> None:
    rig = Rig()
    long_position(rig)
    rig.submit("stop", side="sell", type="stop", tif="gtc", stop=95.0)
    rig.broker.cancel_sync("stop")
    rig.broker.cancel_sync("stop")  # canceling twice is a harmless retry
    rig.price("AAA", 90.0, "11:00")
    assert rig.fills_of("stop") == []
    assert rig.status("stop") is OrderStatus.CANCELED
    assert rig.broker.positions_sync()["AAA"][0] == 100


def test_forced_fill_on_a_terminal_order_raises_and_changes_nothing() -> None:
    rig = Rig()
    long_position(rig)
    rig.submit("stop", side="sell", type="stop", tif="gtc", stop=95.0)
    rig.broker.cancel_sync("stop")
    before = rig.broker.snapshot_state()
    with pytest.raises(IllegalTransition):
        rig.broker.fill_now("stop", 94.0)
    with pytest.raises(ValueError, match="does not fit"):
        rig.broker.fill_now("entry-AAA", 94.0, qty=1)  # already filled
    assert rig.broker.snapshot_state() == before


def test_cancel_of_a_filled_order_is_refused() -> None:
    rig = Rig()
    long_position(rig)
    with pytest.raises(BrokerError) as err:
        rig.broker.cancel_sync("entry-AAA")
    assert err.value.reason == 'order is already in "filled" state'
    with pytest.raises(BrokerError, match="not found"):
        rig.broker.cancel_sync("nope")
    assert rig.status("entry-AAA") is OrderStatus.FILLED


def test_every_published_status_change_is_a_legal_transition() -> None:
    rig = Rig(partial_fill_sizes={"AAA": [25]})
    long_position(rig)
    rig.price("AAA", 100.0, "10:01")
    rig.submit("stop", side="sell", type="stop", tif="gtc", stop=95.0)
    rig.broker.replace_stop_sync("stop", 96.0, "stop-2")
    rig.submit("lmt", side="buy", type="limit", limit=50.0, qty=5)
    rig.price("AAA", 95.5, "11:00")
    rig.price("AAA", 95.0, "11:01")
    rig.go("16:00")
    rig.broker.end_of_day()
    updates = [e for e in rig.events if isinstance(e, OrderUpdated)]
    assert len(updates) >= 8
    for e in updates:
        assert e.order.status in LEGAL_TRANSITIONS[OrderStatus(e.previous_status)]


# ------------------------------------------------------------------- shorts
@pytest.mark.parametrize(
    ("asset", "reason"),
    [
        (Asset("AAA", shortable=False, easy_to_borrow=False), "not shortable"),
        (Asset("AAA", shortable=True, easy_to_borrow=False), "not easy to borrow"),
        (Asset("AAA", shortable=True, easy_to_borrow=True), ""),
    ],
    ids=["not-shortable", "not-etb", "shortable-etb"],
)
def test_short_sales_need_a_shortable_easy_to_borrow_asset(asset: Asset, reason: str) -> None:
    rig = Rig(assets={"AAA": asset})
    rig.price("AAA", 100.0, "10:00")
    if reason:
        with pytest.raises(OrderRejected) as err:
            rig.submit("short", side="sell")
        assert err.value.reason == reason
        order = rig.broker.order_by_client_id_sync("short")
        assert order is not None
        assert (order.status, order.reject_reason) == (OrderStatus.REJECTED, reason)
        assert rig.updates("short") == [(OrderStatus.NEW, OrderStatus.REJECTED)]
        assert rig.broker.positions_sync() == {}
    else:
        assert rig.submit("short", side="sell").status is OrderStatus.FILLED
        assert rig.broker.positions_sync()["AAA"][0] == -100


def test_selling_a_long_in_a_non_shortable_asset_is_allowed() -> None:
    rig = Rig(assets=lambda s: Asset(s, shortable=False, easy_to_borrow=False))
    long_position(rig)
    assert rig.submit("exit", side="sell").status is OrderStatus.FILLED
    assert rig.broker.positions_sync() == {}


def test_unknown_symbol_is_rejected_when_an_asset_mapping_is_given() -> None:
    rig = Rig(assets={"AAA": Asset("AAA")})
    rig.price("ZZZ", 10.0, "10:00")
    with pytest.raises(OrderRejected) as err:
        rig.submit("z", symbol="ZZZ")
    assert err.value.reason == 'asset "ZZZ" not found'
    with pytest.raises(BrokerError):
        rig.broker.asset_sync("ZZZ")


# ------------------------------------------------------------ buying power
@pytest.mark.parametrize(
    ("equity", "qty", "accepted"),
    [(10_000.0, 100, True), (10_000.0, 101, False), (9_999.99, 100, False)],
    ids=["exactly-all", "one-share-over", "one-cent-short"],
)
def test_insufficient_buying_power(equity: float, qty: int, accepted: bool) -> None:
    rig = Rig(starting_equity=equity, slippage_bps=0.0)
    rig.price("AAA", 100.0, "10:00")
    if accepted:
        assert rig.submit("b", qty=qty).status is OrderStatus.FILLED
        assert rig.broker.account_sync().buying_power == pytest.approx(0.0)
    else:
        with pytest.raises(OrderRejected) as err:
            rig.submit("b", qty=qty)
        assert err.value.reason == "insufficient buying power"
        assert rig.broker.account_sync().cash == equity
        assert rig.broker.positions_sync() == {}


def test_buying_power_counts_positions_and_open_entry_orders_but_not_stops() -> None:
    rig = Rig(starting_equity=10_000.0, slippage_bps=0.0)
    long_position(rig, qty=30, price=100.0)
    assert rig.broker.account_sync().buying_power == pytest.approx(7_000.0)
    rig.submit("stop", side="sell", type="stop", tif="gtc", stop=90.0, qty=30)
    assert rig.broker.account_sync().buying_power == pytest.approx(7_000.0)
    # (below the sell stop: a buy limit above it would be a potential wash trade)
    rig.submit("lmt", symbol="AAA", type="limit", limit=89.0, qty=40)  # valued at the last price
    assert rig.broker.account_sync().buying_power == pytest.approx(3_000.0)
    with pytest.raises(OrderRejected, match="insufficient buying power"):
        rig.submit("more", symbol="AAA", type="limit", limit=89.0, qty=31)
    rig.broker.cancel_sync("lmt")
    assert rig.broker.account_sync().buying_power == pytest.approx(7_000.0)
    assert rig.broker.account_sync().equity == pytest.approx(10_000.0)


def test_max_gross_scales_buying_power() -> None:
    rig = Rig(starting_equity=10_000.0, slippage_bps=0.0, max_gross=2.0)
    rig.price("AAA", 100.0, "10:00")
    assert rig.broker.account_sync().buying_power == pytest.approx(20_000.0)
    assert rig.submit("b", qty=150).status is OrderStatus.FILLED


def test_an_order_without_any_price_is_rejected() -> None:
    rig = Rig()
    with pytest.raises(OrderRejected) as err:
        rig.submit("m", symbol="NEW")
    assert err.value.reason == "insufficient buying power"
    assert "no price known for NEW" in str(err.value)


# ------------------------------------------------------------ wash trades (Alpaca's rule)
def test_a_stop_beside_a_working_entry_is_refused_as_a_potential_wash_trade() -> None:
    rig = Rig(partial_fill_sizes={"AAA": [30]})
    rig.price("AAA", 100.0, "10:00")
    entry = rig.submit("entry", qty=100)  # 30 fill now, 70 work on
    assert (entry.status, entry.filled_qty) == (OrderStatus.PARTIALLY_FILLED, 30)
    with pytest.raises(OrderRejected) as err:
        rig.submit("stop", side="sell", type="stop", tif="gtc", stop=93.0, qty=30)
    assert err.value.reason == WASH_TRADE == "potential wash trade detected. use complex orders"
    assert rig.status("stop") is OrderStatus.REJECTED  # recorded with what was asked
    rig.broker.cancel_sync("entry")  # the remainder goes: now the stop may rest
    assert rig.submit("stop2", side="sell", type="stop", tif="gtc", stop=93.0, qty=30).status in (
        OrderStatus.ACCEPTED,
        OrderStatus.NEW,
    )


@pytest.mark.parametrize(
    ("resting", "new", "refused"),
    [
        (("sell", "stop", None, 90.0), ("buy", "market", None, None), True),
        (("sell", "stop", None, 90.0), ("buy", "limit", 90.0, None), True),  # at the stop
        (("sell", "stop", None, 90.0), ("buy", "limit", 89.99, None), False),
        (("buy", "limit", 95.0, None), ("sell", "limit", 95.5, None), False),
        (("buy", "limit", 95.0, None), ("sell", "limit", 95.0, None), True),
        (("buy", "limit", 95.0, None), ("sell", "stop", None, 94.0), True),
        (("sell", "stop", None, 90.0), ("sell", "limit", 99.0, None), False),  # same side
    ],
    ids=["market", "limit-at", "limit-below", "limits-apart", "limits-cross", "stop-under", "same"],
)
def test_wash_trade_prices(
    resting: tuple[str, str, float | None, float | None],
    new: tuple[str, str, float | None, float | None],
    refused: bool,
) -> None:
    rig = Rig()
    long_position(rig, qty=100)
    side, kind, limit, stop = resting
    tif = "gtc" if kind == "stop" else "day"
    rig.submit("resting", side=side, type=kind, tif=tif, limit=limit, stop=stop, qty=10)
    side, kind, limit, stop = new
    tif = "gtc" if kind == "stop" else "day"
    if refused:
        with pytest.raises(OrderRejected, match="potential wash trade"):
            rig.submit("new", side=side, type=kind, tif=tif, limit=limit, stop=stop, qty=10)
    else:
        rig.submit("new", side=side, type=kind, tif=tif, limit=limit, stop=stop, qty=10)


def test_a_replacement_that_would_cross_is_refused_and_the_old_stop_stays() -> None:
    rig = Rig()
    long_position(rig, qty=100)
    rig.submit("stop", side="sell", type="stop", tif="gtc", stop=90.0)
    rig.submit("bid", type="limit", limit=89.0, qty=10)  # below the stop: fine
    with pytest.raises(OrderRejected, match="potential wash trade"):
        rig.broker.replace_stop_sync("stop", 88.5, "stop2")  # a sell stop under the bid
    assert rig.status("stop") is not OrderStatus.CANCELED and rig.status("stop").is_open
    assert rig.status("stop2") is OrderStatus.REJECTED


def test_the_wash_trade_rule_can_be_switched_off_and_survives_a_restart() -> None:
    rig = Rig(partial_fill_sizes={"AAA": [30]}, prevent_wash_trades=False)
    rig.price("AAA", 100.0, "10:00")
    rig.submit("entry", qty=100)
    rig.submit("stop", side="sell", type="stop", tif="gtc", stop=93.0, qty=30)
    again = SimBroker.from_state(rig.broker.snapshot_state(), rig.clock, market_hours=hours)
    assert again.prevent_wash_trades is False
    assert SimBroker.from_state(Rig().broker.snapshot_state(), rig.clock).prevent_wash_trades


# ---------------------------------------------- available quantity and flips
def test_exit_while_the_stop_rests_is_refused_like_alpaca() -> None:
    rig = Rig()
    long_position(rig)
    rig.submit("stop", side="sell", type="stop", tif="gtc", stop=90.0)
    with pytest.raises(OrderRejected) as err:
        rig.submit("exit", side="sell")
    assert err.value.reason == "insufficient qty available for order (requested: 100, available: 0)"
    order = rig.broker.close_position_sync("AAA", client_order_id="flat")
    assert order.status is OrderStatus.FILLED
    assert rig.status("stop") is OrderStatus.CANCELED
    assert rig.broker.positions_sync() == {}
    with pytest.raises(BrokerError, match="no position"):
        rig.broker.close_position_sync("AAA")


def test_flip_in_one_order_is_refused_by_default() -> None:
    rig = Rig()
    long_position(rig)
    with pytest.raises(OrderRejected, match=r"requested: 150, available: 100"):
        rig.submit("flip", side="sell", qty=150)


def test_flip_through_zero_accounting_when_allowed() -> None:
    rig = Rig(slippage_bps=0.0, enforce_available_qty=False)
    long_position(rig, qty=100, price=100.0)
    rig.price("AAA", 110.0, "11:00")
    rig.submit("flip", side="sell", qty=150)
    assert rig.broker.positions_sync() == {"AAA": (-50, 110.0)}
    assert rig.broker.realized_pnl("AAA") == pytest.approx(1_000.0)
    rig.price("AAA", 100.0, "12:00")
    account = rig.broker.account_sync()
    # cash: 100k - 10k + 16.5k; short 50 marked at 100: equity = 100k + 1000 + 500
    assert account.cash == pytest.approx(106_500.0)
    assert account.equity == pytest.approx(101_500.0)


def test_average_price_on_adds_and_unchanged_on_reduces() -> None:
    rig = Rig(slippage_bps=0.0)
    rig.price("AAA", 100.0, "10:00")
    rig.submit("b1", qty=100)
    rig.price("AAA", 110.0, "10:01")
    rig.submit("b2", qty=50)
    assert rig.broker.positions_sync()["AAA"] == (150, pytest.approx(310.0 / 3))
    rig.price("AAA", 120.0, "10:02")
    rig.submit("s1", side="sell", qty=60)
    assert rig.broker.positions_sync()["AAA"] == (90, pytest.approx(310.0 / 3))
    assert rig.broker.realized_pnl() == pytest.approx(60 * (120.0 - 310.0 / 3))


# ------------------------------------------------------------ cash and equity
@pytest.mark.parametrize(
    ("side", "entry", "exit_", "pnl"),
    [
        ("long", 50.0, 55.0, 100 * (55.0 * (1 - S) - 50.0 * (1 + S))),
        ("short", 50.0, 45.0, 100 * (50.0 * (1 - S) - 45.0 * (1 + S))),
        ("short", 50.0, 55.0, 100 * (50.0 * (1 - S) - 55.0 * (1 + S))),
    ],
    ids=["long-win", "short-win", "short-loss"],
)
def test_round_trip_cash_and_equity_with_commission(
    side: str, entry: float, exit_: float, pnl: float
) -> None:
    commission = 0.005
    rig = Rig(commission_per_share=commission)
    opening, closing = ("buy", "sell") if side == "long" else ("sell", "buy")
    rig.price("AAA", entry, "10:00")
    rig.submit("open", side=opening)
    mid = rig.broker.account_sync()
    entry_fill = entry * (1 + S) if side == "long" else entry * (1 - S)
    sign = 1 if side == "long" else -1
    assert mid.cash == pytest.approx(100_000.0 - sign * 100 * entry_fill - 100 * commission)
    # equity marks the position at the last price (the entry print, not the fill)
    assert mid.equity == pytest.approx(100_000.0 + sign * 100 * (entry - entry_fill) - 0.5)
    rig.price("AAA", exit_, "15:00")
    assert rig.broker.account_sync().equity == pytest.approx(
        100_000.0 + sign * 100 * (exit_ - entry_fill) - 0.5
    )
    rig.submit("close", side=closing)
    end = rig.broker.account_sync()
    assert rig.broker.positions_sync() == {}
    assert rig.broker.realized_pnl() == pytest.approx(pnl)
    assert rig.broker.commissions == pytest.approx(1.0)
    assert end.cash == pytest.approx(100_000.0 + pnl - 1.0)
    assert end.equity == pytest.approx(end.cash)
    assert [f.commission for f in rig.broker.fills()] == [pytest.approx(0.5)] * 2


# ---------------------------------------------------------------- events
def test_events_reach_handlers_and_the_bus_and_handlers_may_reenter() -> None:
    bus = EventBus()
    seen_on_bus: list[Event] = []
    bus.subscribe(OrderFilled, seen_on_bus.append)
    rig = Rig(bus=bus)

    def protect(event: Event) -> None:
        # the engine's reflex: a filled entry gets its protective stop at once
        if isinstance(event, OrderFilled) and event.order.client_order_id == "entry-AAA":
            rig.broker.submit_sync(req("stop", side="sell", type="stop", tif="gtc", stop=90.0))

    rig.broker.on_event(protect)
    long_position(rig)
    assert rig.status("stop") is OrderStatus.ACCEPTED
    assert [type(e).__name__ for e in rig.events] == [
        "OrderUpdated",  # entry accepted
        "OrderFilled",
        "OrderUpdated",  # entry filled
        "OrderUpdated",  # stop accepted, after the entry's events
    ]
    assert [e.fill.fill_id for e in seen_on_bus] == ["entry-AAA-1"]  # type: ignore[attr-defined]
    assert seen_on_bus[0].at == at("10:00")


def test_a_failing_handler_does_not_break_the_exchange() -> None:
    rig = Rig()

    def boom(event: Event) -> None:
        raise RuntimeError("subscriber bug")

    rig.broker.on_event(boom)
    long_position(rig)
    assert rig.broker.positions_sync()["AAA"][0] == 100
    assert len(rig.events) == 3


# ------------------------------------------------------------- persistence
def test_save_and_load_round_trip_mid_day(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rig = Rig(commission_per_share=0.01, partial_fill_sizes={"BBB": [5]})
    long_position(rig)
    rig.submit("stop", side="sell", type="stop", tif="gtc", stop=95.0)
    rig.price("BBB", 20.0, "10:30")
    rig.submit("bbb", symbol="BBB", type="limit", limit=20.0, qty=20)  # 5 filled, 15 open
    with pytest.raises(OrderRejected):
        rig.submit("bad", symbol="CCC")  # a recorded rejection survives too
    path = tmp_path / "broker" / "state.json"
    rig.broker.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]  # no temp leftovers
    json.loads(path.read_text())  # plain JSON

    restored = SimBroker.load(path, rig.clock, market_hours=hours)
    assert restored.snapshot_state() == rig.broker.snapshot_state()
    assert restored.orders() == rig.broker.orders()
    assert restored.account_sync() == rig.broker.account_sync()
    assert restored.positions_sync() == {
        "AAA": (100, pytest.approx(100 * (1 + S))),
        "BBB": (5, 20.0),
    }
    assert restored.order_by_client_id_sync("bbb").status is OrderStatus.PARTIALLY_FILLED  # type: ignore[union-attr]

    # Both exchanges carry on identically: the stop fills, the limit's pieces continue.
    for broker in (rig.broker, restored):
        broker.on_price("AAA", 94.0, at("11:00"))
        broker.on_price("BBB", 19.5, at("11:01"))
    assert restored.snapshot_state() == rig.broker.snapshot_state()
    second_piece = 19.5 * (1 + S)  # marketable: the print plus slippage, under the limit
    assert restored.positions_sync() == {
        "BBB": (20, pytest.approx((5 * 20.0 + 15 * second_piece) / 20))
    }
    assert restored.order_by_client_id_sync("stop").status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert restored.order_by_client_id_sync("bbb").filled_qty == 20  # type: ignore[union-attr]
    assert restored.submit_sync(req("stop", side="sell", type="stop", stop=95.0)).status is (
        OrderStatus.FILLED  # idempotency survives the restart
    )


def test_from_state_overrides_configuration() -> None:
    rig = Rig(slippage_bps=5.0)
    state = rig.broker.snapshot_state()
    assert SimBroker.from_state(state, rig.clock, market_hours=hours).slippage_bps == 5.0
    assert SimBroker.from_state(state, rig.clock, slippage_bps=1.0).slippage_bps == 1.0


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "cannot read"),
        ("[1, 2]", "not a JSON object"),
        ('{"version": 99}', "version 99"),
        ('{"version": 1}', "not valid"),
    ],
    ids=["garbage", "not-object", "wrong-version", "missing-keys"],
)
def test_loading_a_bad_state_file_gives_one_clear_error(
    tmp_path, content: str, fragment: str
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "state.json"
    path.write_text(content)
    with pytest.raises(BrokerError) as err:
        SimBroker.load(path, FakeClock(at("10:00")))
    assert fragment in str(err.value)
    assert str(path) in str(err.value)


def test_load_of_a_missing_file_is_a_broker_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BrokerError, match="cannot read"):
        SimBroker.load(tmp_path / "absent.json", FakeClock(at("10:00")))


# ----------------------------------------------------------- construction
@pytest.mark.parametrize(
    "kwargs",
    [
        {"starting_equity": 0.0},
        {"starting_equity": float("nan")},
        {"slippage_bps": -1.0},
        {"commission_per_share": -0.01},
        {"max_gross": 0.0},
        {"partial_fill_sizes": {"AAA": [0]}},
    ],
    ids=[
        "zero-equity",
        "nan-equity",
        "negative-slippage",
        "negative-commission",
        "zero-gross",
        "zero-piece",
    ],
)
def test_bad_configuration_is_refused(kwargs: dict[str, object]) -> None:
    kwargs.setdefault("starting_equity", 1_000.0)
    with pytest.raises(ValueError):
        SimBroker(FakeClock(at("10:00")), market_hours=hours, **kwargs)  # type: ignore[arg-type]


def test_times_are_in_et_and_events_carry_the_print_time() -> None:
    rig = Rig()
    rig.price("AAA", 100.0, "10:00")
    rig.submit("lmt", type="limit", limit=99.0)
    utc_time = at("10:07").astimezone(ZoneInfo("UTC"))
    rig.broker.on_price("AAA", 98.0, utc_time)
    fill = rig.broker.fills()[0]
    assert fill.at == at("10:07") and fill.at.tzinfo == ET
    assert fill.at - at("10:00") == timedelta(minutes=7)


def test_default_market_hours_follow_the_nyse_calendar() -> None:
    # No market_hours injected: the XNYS calendar decides. 2024-07-04 is a holiday, so a
    # market order at 10:00 waits (and a print does not fill it); on 07-05 it fills.
    clock = FakeClock(datetime(2024, 7, 4, 10, 0, tzinfo=ET))
    broker = SimBroker(clock, 100_000.0)
    broker.on_price("AAA", 100.0, clock.now())
    broker.submit_sync(req("m", qty=10))
    broker.on_price("AAA", 100.5, datetime(2024, 7, 4, 10, 5, tzinfo=ET))
    assert broker.fills() == []
    broker.on_price("AAA", 101.0, datetime(2024, 7, 5, 10, 0, tzinfo=ET))
    assert [(f.qty, f.price) for f in broker.fills()] == [(10, pytest.approx(101.0 * (1 + S)))]
