"""The broker's own word for each order's state is kept (issue 12 item 8): a stop Alpaca
shows as ``new`` was stored ``accepted``, a replaced one ``canceled``. The engine's state
machine stays (it folds those words together); ``broker_status`` keeps Alpaca's. The real
OrderManager and AlpacaBroker against the fake Alpaca, a real SQLite store."""

# The fixture is imported, and pytest injects it by parameter name: F811 is expected here.
# ruff: noqa: F811
from __future__ import annotations

from pathlib import Path

from tests.fake_alpaca import FakeAlpacaServer
from tests.fake_alpaca.fixture import fake_alpaca  # noqa: F401
from tests.integration.alpaca_support import (
    FAST_RECONNECT,
    MON,
    SetClock,
    at_ny,
    buy,
    cid,
    make_session,
    run,
    stop,
    until,
)
from workstation.broker.alpaca import AlpacaBroker
from workstation.core.events import EventBus
from workstation.core.models import (
    OrderIntent,
    OrderStatus,
)
from workstation.engine.orders import OrderManager
from workstation.store import Store


def test_alpacas_states_are_kept_beside_ours(fake_alpaca: FakeAlpacaServer, tmp_path: Path) -> None:
    st = fake_alpaca.state
    st.add_asset("AAA")
    st.set_now(at_ny(2024, 6, 3, 10))  # market hours: orders are routed
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
        entry = buy("AAA", 10)
        await om.submit(entry, session=MON)
        assert await until(lambda: row(entry.client_order_id).status == "filled")
        first = stop("AAA", 10, 25.0)
        await om.submit(first, session=MON)
        assert await until(lambda: row(first.client_order_id).broker_status == "new")
        await om.replace_stop(
            first.client_order_id, 26.0, cid("AAA", OrderIntent.STOP, 1), session=MON
        )
        assert await until(lambda: row(first.client_order_id).broker_status == "replaced")
        await broker.aclose()

    try:
        run(scenario)
        old, new = row(cid("AAA", OrderIntent.STOP, 0)), row(cid("AAA", OrderIntent.STOP, 1))
        assert (old.status, old.broker_status) == (OrderStatus.CANCELED, "replaced")
        assert old.reject_reason == f"replaced by {new.client_order_id}"
        assert (new.status, new.broker_status) == (OrderStatus.ACCEPTED, "new")
        assert row(cid("AAA")).broker_status == "filled"
        # The order as the engine reads it back (after a restart) carries the word too.
        assert om.order(new.client_order_id).broker_status == "new"  # type: ignore[union-attr]
    finally:
        store.close()
