"""Control of one position at Alpaca: the position book and order manager over AlpacaBroker,
through the REAL alpaca-py clients against the fake Alpaca. A moved stop replaces the resting
stop at Alpaca (PATCH) and is the one that fills; a move Alpaca refuses is undone; closing a
position cancels its stop and sends one market order (exit reason MANUAL)."""

# The fixture is imported, and pytest injects it by parameter name: F811 is expected here.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import contextlib
import math
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest

from tests.fake_alpaca import FakeAlpacaServer
from tests.fake_alpaca.fixture import fake_alpaca  # noqa: F401
from tests.integration.alpaca_support import FAST_RECONNECT, make_session, run, until
from workstation.broker.alpaca import AlpacaBroker
from workstation.core.calendar import ET, get_calendar
from workstation.core.config import RiskConfig
from workstation.core.events import Event, EventBus
from workstation.core.models import (
    ExitReason,
    OrderIntent,
    OrderRequest,
    OrderSide,
    Side,
    client_order_id,
)
from workstation.engine.orders import OrderManager
from workstation.engine.positions import EntryPlan, PositionBook
from workstation.engine.rules.levels import STOP_THROUGH_PRICE
from workstation.store import Store

pytestmark = pytest.mark.timeout(60)

DAY1 = date(2024, 6, 3)  # Monday
DAY2 = date(2024, 6, 4)
STRATEGY = "test"
ATR = 1.0  # SL = fill - 2, TP = fill + 3; emergency = fill * 0.93


def at(d: date, hm: str) -> datetime:
    return datetime.combine(d, time.fromisoformat(hm), tzinfo=ET)


class FakeClock:
    """The book's clock is the fake's (they never disagree about "now")."""

    def __init__(self, fake: FakeAlpacaServer) -> None:
        self.state = fake.state

    def now(self) -> datetime:
        return self.state.now.astimezone(ET)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(min(max(seconds, 0.0), 0.05))

    async def sleep_until(self, t: datetime) -> None:
        if t > self.state.now:
            self.state.set_now(t)

    @property
    def speed(self) -> float:
        return math.inf

    @property
    def paused(self) -> bool:
        return False

    def hold(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


def stops_at_fake(fake: FakeAlpacaServer, symbol: str) -> list[dict[str, Any]]:
    return [o for o in fake.state.orders("open") if o["symbol"] == symbol and o["type"] == "stop"]


def test_moving_the_stop_and_closing_a_position_at_alpaca(
    fake_alpaca: FakeAlpacaServer, tmp_path: Path
) -> None:
    st = fake_alpaca.state
    for sym in ("AAA", "BBB"):
        st.add_asset(sym)
    st.set_now(at(DAY1, "10:00"))
    st.set_price("AAA", 50.0)
    st.set_price("BBB", 30.0)
    clock = FakeClock(fake_alpaca)
    broker = AlpacaBroker(
        make_session(fake_alpaca, clock),  # type: ignore[arg-type]
        stream_reconnect_backoff=FAST_RECONNECT,
        cancel_wait_s=2.0,
    )
    store = Store.open(tmp_path / "ws.db")
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(Event, events.append)
    om = OrderManager(broker, store, clock, bus, retry_delay_s=0.05)  # type: ignore[arg-type]
    book = PositionBook(store, om, broker, clock, get_calendar(), bus, RiskConfig)  # type: ignore[arg-type]

    async def enter(sym: str, qty: int) -> None:
        cid = client_order_id(DAY1, sym, STRATEGY, OrderIntent.ENTRY)
        book.expect_entry(cid, EntryPlan(Side.LONG, STRATEGY, ATR, 2.0, 3.0))
        await om.submit(OrderRequest(cid, sym, OrderSide.BUY, qty, strategy=STRATEGY), session=DAY1)

    async def scenario() -> None:
        await broker.start()
        await enter("AAA", 10)
        await enter("BBB", 20)
        assert await until(lambda: len(stops_at_fake(fake_alpaca, "AAA")) == 1, 10)
        assert await until(lambda: len(stops_at_fake(fake_alpaca, "BBB")) == 1, 10)
        await book.settle()
        # Day 2: the stops move to the rule's SL (48 and 28).
        st.set_now(at(DAY2, "09:31"))
        await book.roll_session(DAY2)
        assert [float(o["stop_price"]) for o in stops_at_fake(fake_alpaca, "AAA")] == [48.0]
        st.set_price("AAA", 50.5)
        await book.on_price("AAA", 50.5, clock.now())

        # The trader moves AAA's stop up to 49.5: PATCHed at Alpaca, stored on the position.
        patches = st.request_count("PATCH")
        move = await book.move_levels("AAA", sl=49.5, note="protect the gain")
        await book.settle()
        assert move.applied, move.why
        assert st.request_count("PATCH") == patches + 1
        (resting,) = stops_at_fake(fake_alpaca, "AAA")
        assert float(resting["stop_price"]) == 49.5 and float(resting["qty"]) == 10
        assert resting["client_order_id"] == client_order_id(
            DAY2, "AAA", STRATEGY, OrderIntent.STOP, 1
        )
        (row,) = [p for p in store.open_positions() if p.symbol == "AAA"]
        assert (row.sl, row.sl_manual) == (48.0, 49.5)
        (audit,) = store.audit_log(action="position.levels_moved")
        assert (audit.detail or {})["sl"] == {"from": 48.0, "to": 49.5}

        # A stop through the market is refused before anything reaches Alpaca.
        refused = await book.move_levels("AAA", sl=51.0)
        assert refused.check.reason == STOP_THROUGH_PRICE
        assert st.request_count("PATCH") == patches + 1

        # Alpaca refuses a stop at or above its own market price (the book's last price is
        # older): the move is undone and the 49.5 stop stays.
        st.set_price("AAA", 49.6)
        undone = await book.move_levels("AAA", sl=49.8)
        await book.settle()
        assert not undone.applied and "undone" in undone.why
        assert [float(o["stop_price"]) for o in stops_at_fake(fake_alpaca, "AAA")] == [49.5]
        assert store.get_position(row.id).sl_manual == 49.5  # type: ignore[union-attr]

        # The moved stop is the one that fills at Alpaca: closed as a stop loss.
        st.set_price("AAA", 49.4)
        assert await until(lambda: "AAA" not in book.held(), 10)
        await book.settle()
        (trade,) = store.trades()
        assert (trade.symbol, trade.exit_reason, trade.exit_price) == ("AAA", "STOP_LOSS", 49.4)

        # Closing BBB by hand: its stop canceled at Alpaca, one market order, MANUAL.
        st.set_price("BBB", 30.4)
        await book.on_price("BBB", 30.4, clock.now())
        order = await book.exit_position("BBB", ExitReason.MANUAL)
        assert order is not None and order.request.intent is OrderIntent.FLATTEN
        assert await until(lambda: "BBB" not in book.held(), 10)
        await book.settle()
        assert stops_at_fake(fake_alpaca, "BBB") == []
        assert st.positions() == {}
        by_symbol = {t.symbol: t for t in store.trades()}
        assert by_symbol["BBB"].exit_reason == "MANUAL"
        await broker.aclose()

    try:
        run(scenario)
    finally:
        store.close()
