"""A rejection on the trade stream is recorded as one in the request's answer (issue 12.8):
the same log line, the same audit row and the same OrderUpdated event.
The real OrderManager and AlpacaBroker against the fake Alpaca, a real SQLite store."""

# The fixture is imported, and pytest injects it by parameter name: F811 is expected here.
# ruff: noqa: F811
from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import pytest

from tests.fake_alpaca import FakeAlpacaServer
from tests.fake_alpaca.fixture import fake_alpaca  # noqa: F401
from tests.integration.alpaca_support import (
    FAST_RECONNECT,
    Recorder,
    SetClock,
    make_session,
    run,
    until,
)
from workstation.broker.alpaca import AlpacaBroker
from workstation.broker.base import OrderRejected
from workstation.core.events import EventBus, OrderUpdated
from workstation.core.models import (
    OrderIntent,
    OrderRequest,
    OrderSide,
    OrderStatus,
    client_order_id,
)
from workstation.engine.orders import OrderManager
from workstation.store import Store

MON = date(2024, 6, 3)
CID = client_order_id(MON, "AAA", "test", OrderIntent.ENTRY)


@pytest.mark.parametrize("via", ["http", "stream"])
def test_a_rejection_is_recorded_the_same_however_it_comes(
    fake_alpaca: FakeAlpacaServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    via: str,
) -> None:
    st = fake_alpaca.state
    st.add_asset("AAA")
    st.reject_next_order("insufficient buying power", via=via)
    clock = SetClock(st.now)
    broker = AlpacaBroker(make_session(fake_alpaca, clock), stream_reconnect_backoff=FAST_RECONNECT)
    store = Store.open(tmp_path / "ws.db")
    bus = EventBus()
    rec = Recorder()
    bus.subscribe(OrderUpdated, rec)
    om = OrderManager(broker, store, clock, bus, retries=0)  # type: ignore[arg-type]
    seen: list[OrderStatus] = []
    om.on_update(lambda order, _prev: seen.append(order.status))
    request = OrderRequest(CID, "AAA", OrderSide.BUY, 1000, strategy="test")

    async def scenario() -> None:
        await broker.start()
        assert await until(lambda: broker.trading_stream.connected_now)
        try:
            await om.submit(request, session=MON)
        except OrderRejected:
            assert via == "http"
        assert await until(lambda: OrderStatus.REJECTED in seen)
        await broker.aclose()

    with caplog.at_level(logging.WARNING, logger="workstation.engine.orders"):
        run(scenario)
    try:
        [row] = store.audit_log(action="order.rejected", limit=None)
        assert row.subject == f"order:{CID}"
        assert row.detail == {"reason": "insufficient buying power"}
        order = store.order_by_client_id(CID)
        assert order is not None and order.status == "rejected"
        assert order.reject_reason == "insufficient buying power"
    finally:
        store.close()
    lines = [r.getMessage() for r in caplog.records if "rejected by the broker" in r.getMessage()]
    assert lines == [
        f"order {CID} (AAA buy 1000, entry) rejected by the broker: insufficient buying power"
    ]
    assert [e.order.status for e in rec.of(OrderUpdated)][-1] is OrderStatus.REJECTED
    assert seen.count(OrderStatus.REJECTED) == 1
