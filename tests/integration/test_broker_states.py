"""The broker's own word for each order's state is kept (issue 12 item 8): a stop Alpaca
shows as ``new`` was stored ``accepted``, a replaced one ``canceled``. The engine's state
machine stays (it folds those words together); ``broker_status`` keeps Alpaca's. The real
OrderManager and AlpacaBroker against the fake Alpaca, a real SQLite store."""

# The fixture is imported, and pytest injects it by parameter name: F811 is expected here.
# ruff: noqa: F811
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from tests.fake_alpaca import FakeAlpacaServer
from tests.fake_alpaca.fixture import fake_alpaca  # noqa: F401
from tests.fake_alpaca.wire import NY
from tests.integration.alpaca_support import (
    FAST_RECONNECT,
    SetClock,
    make_session,
    run,
    until,
)
from workstation.broker.alpaca import AlpacaBroker
from workstation.core.events import EventBus
from workstation.core.models import (
    OrderIntent,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    client_order_id,
)
from workstation.engine.orders import OrderManager
from workstation.store import Store

MON = date(2024, 6, 3)


def _cid(intent: OrderIntent, seq: int = 0) -> str:
    return client_order_id(MON, "AAA", "test", intent, seq)


def _stop(seq: int, price: float) -> OrderRequest:
    return OrderRequest(
        _cid(OrderIntent.STOP, seq),
        "AAA",
        OrderSide.SELL,
        10,
        type=OrderType.STOP,
        tif=TimeInForce.GTC,
        stop_price=price,
        intent=OrderIntent.STOP,
        strategy="test",
    )


def test_alpacas_states_are_kept_beside_ours(fake_alpaca: FakeAlpacaServer, tmp_path: Path) -> None:
    st = fake_alpaca.state
    st.add_asset("AAA")
    st.set_now(datetime(2024, 6, 3, 10, 0, tzinfo=NY))  # market hours: orders are routed
    st.set_price("AAA", 30.0)
    clock = SetClock(st.now)
    broker = AlpacaBroker(make_session(fake_alpaca, clock), stream_reconnect_backoff=FAST_RECONNECT)
    store = Store.open(tmp_path / "ws.db")
    om = OrderManager(broker, store, clock, EventBus(), retries=0)  # type: ignore[arg-type]

    def row(cid: str):  # type: ignore[no-untyped-def]
        r = store.order_by_client_id(cid)
        assert r is not None
        return r

    async def scenario() -> None:
        await broker.start()
        assert await until(lambda: broker.trading_stream.connected_now)
        entry = OrderRequest(_cid(OrderIntent.ENTRY), "AAA", OrderSide.BUY, 10, strategy="test")
        await om.submit(entry, session=MON)
        assert await until(lambda: row(entry.client_order_id).status == "filled")
        first = _stop(0, 25.0)
        await om.submit(first, session=MON)
        assert await until(lambda: row(first.client_order_id).broker_status == "new")
        await om.replace_stop(first.client_order_id, 26.0, _cid(OrderIntent.STOP, 1), session=MON)
        assert await until(lambda: row(first.client_order_id).broker_status == "replaced")
        await broker.aclose()

    try:
        run(scenario)
        old, new = row(_cid(OrderIntent.STOP, 0)), row(_cid(OrderIntent.STOP, 1))
        assert (old.status, old.broker_status) == (OrderStatus.CANCELED, "replaced")
        assert old.reject_reason == f"replaced by {new.client_order_id}"
        assert (new.status, new.broker_status) == (OrderStatus.ACCEPTED, "new")
        assert row(_cid(OrderIntent.ENTRY)).broker_status == "filled"
        # The order as the engine reads it back (after a restart) carries the word too.
        assert om.order(new.client_order_id).broker_status == "new"  # type: ignore[union-attr]
    finally:
        store.close()
