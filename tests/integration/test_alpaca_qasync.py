"""Both Alpaca streams started, used, re-subscribed and stopped inside a running qasync loop
(the GUI's loop) without blocking it: a 10 ms heartbeat measures the loop's longest stall.

The fake Alpaca runs in a child process here (as Alpaca runs elsewhere): in a thread of this
process its JSON encoding would hold our GIL and be counted as the adapter's stall."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Iterator

import numpy as np
import pytest

from tests.integration.alpaca_support import (
    FAST_RECONNECT,
    FAST_RETRY,
    RemoteFake,
    SetClock,
    at_ny,
    bar_frame,
    sessions_until,
    until,
)
from workstation.alpaca.endpoints import resolve_endpoints
from workstation.alpaca.keys import Credentials
from workstation.alpaca.session import AlpacaSession
from workstation.broker.alpaca import AlpacaBroker
from workstation.core.events import OrderFilled, QuoteEvent
from workstation.core.models import OrderRequest, OrderSide, TimeInForce
from workstation.market.alpaca import AlpacaMarket
from workstation.market.universe import sp500_universe

pytestmark = [pytest.mark.timeout(90), pytest.mark.gui]

MAX_STALL_S = 0.1


@pytest.fixture(scope="module")
def remote_fake() -> Iterator[RemoteFake]:
    fake = RemoteFake()
    try:
        yield fake
    finally:
        fake.close()


def _scenario_worst_stall(fake: RemoteFake, app: object) -> float:
    """Run the whole scenario in a fresh qasync loop; return its longest heartbeat gap (s)."""
    import qasync

    fake.call("set_now", at_ny(2024, 6, 3, 10))
    symbols = list(sp500_universe().symbols)[:120]
    fake.call("set_price", "AAA", 25.0)
    session = AlpacaSession(
        Credentials(fake.key_id, fake.secret_key),
        resolve_endpoints(None, "paper", env=fake.env),
        retry=FAST_RETRY,
        clock=SetClock(at_ny(2024, 6, 3, 10)),
    )
    market = AlpacaMarket(session, stream_reconnect_backoff=FAST_RECONNECT)
    broker = AlpacaBroker(session, stream_reconnect_backoff=FAST_RECONNECT)
    seen: list[object] = []
    session.on_event(seen.append)
    broker.on_event(seen.append)
    result: dict[str, float] = {}
    order_id = f"qasync-{len(fake.call('orders'))}"

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, qasync.QEventLoop)
        worst = 0.0
        stop = False

        async def beat() -> None:
            nonlocal worst
            last = loop.time()
            while not stop:
                await asyncio.sleep(0.01)
                now = loop.time()
                worst = max(worst, now - last - 0.01)
                last = now

        heartbeat = asyncio.create_task(beat())
        await broker.start()
        await market.set_subscriptions(["AAA", "BBB"])
        assert await until(lambda: broker.trading_stream.connected_now, timeout=10)
        assert await until(lambda: market.data_stream.connected_now, timeout=10)
        assert await asyncio.to_thread(fake.call, "wait_for_data_subscription", "BBB")
        await asyncio.to_thread(fake.call, "push_quote", "AAA", 24.9, 25.1)
        assert await until(lambda: any(isinstance(e, QuoteEvent) for e in seen))
        request = OrderRequest(order_id, "AAA", OrderSide.BUY, 4, tif=TimeInForce.DAY)
        await broker.submit(request)
        assert await until(lambda: any(isinstance(e, OrderFilled) for e in seen))
        # Re-subscribe the running stream (to_thread under the hood) ...
        await market.set_subscriptions(["CCC"])
        assert await asyncio.to_thread(fake.call, "wait_for_data_subscription", "CCC")
        # ... and fetch daily bars (several pages) while the streams run.
        bars = await market.daily_bars(symbols, at_ny(2024, 5, 31).date(), 300)
        assert np.isfinite(bars.close).all()
        # Stop everything while the loop keeps beating.
        await market.aclose()
        await broker.aclose()
        assert not market.data_stream.running and not broker.trading_stream.running

        def closed() -> bool:
            return (
                fake.get("streams.data_connections") == 0 == fake.get("streams.trading_connections")
            )

        assert await until(closed)
        await asyncio.sleep(0.1)
        stop = True
        await heartbeat
        result["worst"] = worst

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        with loop:
            loop.run_until_complete(asyncio.wait_for(scenario(), 60))
    finally:
        asyncio.set_event_loop(None)
        session.close()
    return result["worst"]


def test_streams_run_and_stop_inside_a_qasync_loop_without_stalling_it(
    remote_fake: RemoteFake,
) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QCoreApplication

    app = QCoreApplication.instance() or QCoreApplication([])
    symbols = list(sp500_universe().symbols)[:120]
    remote_fake.call(
        "set_bars_frame", bar_frame(symbols, sessions_until(at_ny(2024, 5, 31).date(), 300))
    )
    # As the app should after start-up: without it a full garbage collection walks the whole
    # heap holding the GIL (75-160 ms measured), whatever the adapter does.
    gc.freeze()
    try:
        stalls = [_scenario_worst_stall(remote_fake, app)]
        if stalls[0] >= MAX_STALL_S:
            # On a loaded machine the OS alone can keep any loop thread waiting that long (an
            # idle qasync loop measured 50 ms here while other jobs ran). Blocking code stalls
            # every run; scheduling noise rarely twice: one more run decides.
            stalls.append(_scenario_worst_stall(remote_fake, app))
    finally:
        gc.unfreeze()
    assert min(stalls) < MAX_STALL_S, f"the loop stalled {[round(s * 1000) for s in stalls]} ms"
