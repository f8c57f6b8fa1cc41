"""Every fault switch of the fake Alpaca against the adapter: 429 bursts, 500s, slow answers,
network errors, bad or forbidden keys, the client-side rate limit, dropped and silent streams
and "connection limit exceeded" -- each with its recovery or its one clear message."""

# The fixture is imported, and pytest injects it by parameter name: F811 is expected here.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import logging
import socket
import time
from dataclasses import replace

import numpy as np
import pytest

from tests.fake_alpaca import FakeAlpacaServer
from tests.fake_alpaca.fixture import fake_alpaca  # noqa: F401
from tests.integration.alpaca_support import (
    FAST_RECONNECT,
    FAST_RETRY,
    Recorder,
    SetClock,
    at_ny,
    bar_frame,
    make_session,
    run,
    sessions_until,
    until,
)
from workstation.alpaca.endpoints import Endpoints
from workstation.alpaca.errors import AlpacaAuthError
from workstation.alpaca.keys import Credentials
from workstation.alpaca.session import AlpacaSession
from workstation.broker.alpaca import AlpacaBroker
from workstation.broker.base import BrokerError
from workstation.core.models import OrderRequest, OrderSide, Quote
from workstation.market.alpaca import AlpacaMarket
from workstation.market.base import MarketDataError

pytestmark = pytest.mark.timeout(60)

WRONG_SECRET = "definitely-not-the-secret-0123456789abcdef"


def market_with_bars(fake: FakeAlpacaServer, **kw: object) -> tuple[AlpacaMarket, Recorder]:
    days = sessions_until(at_ny(2024, 5, 31).date(), 20)
    fake.state.set_bars_frame(bar_frame(["AAA", "BBB"], days))
    fake.state.set_now(at_ny(2024, 5, 31, 20))
    session = make_session(fake, SetClock(at_ny(2024, 5, 31, 20)), **kw)  # type: ignore[arg-type]
    rec = Recorder()
    session.on_event(rec)
    return AlpacaMarket(session, stream_reconnect_backoff=FAST_RECONNECT), rec


def bars_requests(fake: FakeAlpacaServer) -> int:
    return fake.state.request_count(path="/v2/stocks/bars")


async def heartbeat_worst(stop: asyncio.Event) -> float:
    loop = asyncio.get_running_loop()
    worst, last = 0.0, loop.time()
    while not stop.is_set():
        await asyncio.sleep(0.01)
        now = loop.time()
        worst, last = max(worst, now - last - 0.01), now
    return worst


def test_a_429_burst_is_retried_with_our_backoff(fake_alpaca: FakeAlpacaServer) -> None:
    market, rec = market_with_bars(fake_alpaca)
    fake_alpaca.state.rate_limit_burst(3, path_prefix="/v2/stocks")

    async def scenario() -> None:
        t0 = time.monotonic()
        bars = await market.daily_bars(["AAA", "BBB"], at_ny(2024, 5, 31).date(), 20)
        # The SDK would have slept 3 s per 429 in a worker thread; our backoff is the test's.
        assert time.monotonic() - t0 < 2.0
        assert np.isfinite(bars.close).all()
        assert bars_requests(fake_alpaca) == 4
        assert rec.states("market-data") == ["degraded", "connected"]
        assert "429" in rec.details("market-data")[0]

    run(scenario)


def test_429_beyond_the_retries_is_a_clear_error_then_recovers(
    fake_alpaca: FakeAlpacaServer,
) -> None:
    market, rec = market_with_bars(fake_alpaca)
    fake_alpaca.state.rate_limit_burst(10)

    async def scenario() -> None:
        with pytest.raises(MarketDataError, match="after 4 tries: HTTP 429: rate limit exceeded"):
            await market.daily_bars(["AAA", "BBB"], at_ny(2024, 5, 31).date(), 20)
        assert bars_requests(fake_alpaca) == 4
        assert rec.states("market-data") == ["degraded", "down"]
        fake_alpaca.state.clear_faults()
        await market.daily_bars(["AAA", "BBB"], at_ny(2024, 5, 31).date(), 20)
        assert rec.states("market-data")[-1] == "connected"

    run(scenario)


def test_server_errors_json_and_html_are_retried_on_reads(fake_alpaca: FakeAlpacaServer) -> None:
    fake_alpaca.state.fail_next(2, 500, path_prefix="/v2/positions")
    fake_alpaca.state.fail_next(1, 503, path_prefix="/v2/positions")  # the gateway's HTML
    fake_alpaca.state.set_position("AAA", 4, 12.5)
    broker = AlpacaBroker(make_session(fake_alpaca))

    async def scenario() -> None:
        assert await broker.positions() == {"AAA": (4, 12.5)}
        assert fake_alpaca.state.request_count(path="/v2/positions") == 4
        fake_alpaca.state.fail_next(4, 502, path_prefix="/v2/positions")
        with pytest.raises(BrokerError, match="502 Bad Gateway") as info:
            await broker.positions()
        assert info.value.retryable
        assert broker.session.monitor.state("trading") == "down"

    run(scenario)


def test_slow_answers_time_out_without_blocking_the_loop_then_recover(
    fake_alpaca: FakeAlpacaServer,
) -> None:
    policy = replace(FAST_RETRY, attempts=3, timeout_s=0.2)
    broker = AlpacaBroker(make_session(fake_alpaca, retry=policy))
    rec = Recorder()
    broker.session.on_event(rec)
    fake_alpaca.state.slow(1.0, path_prefix="/v2/account")

    async def scenario() -> None:
        stop = asyncio.Event()
        beat = asyncio.create_task(heartbeat_worst(stop))
        t0 = time.monotonic()
        with pytest.raises(BrokerError, match="no answer in time") as info:
            await broker.account()
        elapsed = time.monotonic() - t0
        assert 0.6 <= elapsed < 1.5  # three 0.2 s timeouts and short pauses, not 3 x 1 s
        assert info.value.retryable
        assert rec.states("trading") == ["degraded", "down"]
        fake_alpaca.state.slow(0)
        assert (await broker.account()).equity == 100_000.0
        assert rec.states("trading")[-1] == "connected"
        stop.set()
        assert await beat < 0.1  # the loop kept running while the threads waited

    run(scenario)


def test_network_errors_are_retried_then_reported(fake_alpaca: FakeAlpacaServer) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens here once the socket is closed
    dead = f"http://127.0.0.1:{port}"
    endpoints = Endpoints(dead, dead, f"ws://127.0.0.1:{port}/v2/iex", f"ws://127.0.0.1:{port}/s")
    session = AlpacaSession(
        Credentials("PKTESTKEY12345678", WRONG_SECRET), endpoints, retry=FAST_RETRY
    )
    broker = AlpacaBroker(session)

    async def scenario() -> None:
        with pytest.raises(BrokerError, match="after 4 tries: network") as info:
            await broker.account()
        assert WRONG_SECRET not in str(info.value)
        assert session.monitor.state("trading") == "down"

    run(scenario)


@pytest.mark.parametrize("fault", ["wrong_secret", "forbidden"])
def test_bad_keys_stop_with_one_clear_message_and_no_retry_storm(
    fake_alpaca: FakeAlpacaServer, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    if fault == "forbidden":
        fake_alpaca.state.forbid(True)
    secret = WRONG_SECRET if fault == "wrong_secret" else None
    market, rec = market_with_bars(fake_alpaca, secret=secret)
    broker = AlpacaBroker(market.session)
    key_secret = market.session.credentials.secret_key

    async def scenario() -> None:
        with caplog.at_level(logging.DEBUG):
            with pytest.raises(AlpacaAuthError) as info:
                await market.daily_bars(["AAA", "BBB"], at_ny(2024, 5, 31).date(), 20)
            message = str(info.value)
            assert "Alpaca refused the API keys" in message and "APCA_API_SECRET_KEY" in message
            assert key_secret not in message and key_secret not in repr(info.value)
            assert isinstance(info.value, BrokerError) and isinstance(info.value, MarketDataError)
            assert fake_alpaca.state.request_count() == 1
            # Everything else fails at once, with the same message, without a request.
            for call in (broker.account, broker.positions, broker.start):
                with pytest.raises(AlpacaAuthError) as again:
                    await call()
                assert str(again.value) == message
            with pytest.raises(AlpacaAuthError):
                await market.set_subscriptions(["AAA"])
            await asyncio.sleep(0.3)
            assert fake_alpaca.state.request_count() == 1
            assert fake_alpaca.state.streams.trading_auths == 0
            assert rec.states("market-data") == ["down"]
        assert key_secret not in caplog.text

    run(scenario)


@pytest.mark.parametrize("which", ["trading", "data"])
def test_streams_with_bad_keys_try_once_and_stop(fake_alpaca: FakeAlpacaServer, which: str) -> None:
    session = make_session(fake_alpaca, secret=WRONG_SECRET)
    rec = Recorder()
    session.on_event(rec)
    broker = AlpacaBroker(session, stream_reconnect_backoff=FAST_RECONNECT)
    market = AlpacaMarket(session, stream_reconnect_backoff=FAST_RECONNECT)

    async def scenario() -> None:
        if which == "trading":
            manager = broker.trading_stream
            await broker.start()
        else:
            manager = market.data_stream
            got: list[BaseException] = []

            async def consume() -> None:
                try:
                    async for _ in market.stream(["AAA"]):
                        pass
                except AlpacaAuthError as exc:
                    got.append(exc)

            consumer = asyncio.create_task(consume())
            assert await until(lambda: bool(got))
            await consumer
        assert await until(lambda: not manager.running)
        await asyncio.sleep(0.5)  # the SDK alone would retry bad keys forever
        assert manager.connect_attempts == 1
        assert isinstance(manager.fatal, AlpacaAuthError)
        component = f"{which}-stream"
        assert rec.states(component) == ["down"]
        assert "refused the API keys" in rec.details(component)[0]
        assert WRONG_SECRET not in rec.details(component)[0]
        assert session.auth.tripped
        await broker.aclose()
        await market.aclose()

    run(scenario)


def test_the_client_side_rate_limit_spaces_requests(fake_alpaca: FakeAlpacaServer) -> None:
    session = make_session(fake_alpaca, requests_per_minute=5, rate_window_s=1.0)
    broker = AlpacaBroker(session)

    async def scenario() -> None:
        await asyncio.gather(*(broker.account() for _ in range(8)))
        times = sorted(r.time for r in fake_alpaca.state.requests)
        assert len(times) == 8
        assert times[4] - times[0] < 0.5  # the first five go at once
        assert times[5] - times[0] >= 0.95  # the sixth waits for the window
        assert all(r.status == 200 for r in fake_alpaca.state.requests)
        assert session.limiter.waited_s > 0

    run(scenario)


def _stream_market(fake: FakeAlpacaServer, **kw: object) -> tuple[AlpacaMarket, Recorder]:
    session = make_session(fake, SetClock(at_ny(2024, 6, 3, 10)))
    rec = Recorder()
    session.on_event(rec)
    market = AlpacaMarket(session, stream_reconnect_backoff=FAST_RECONNECT, **kw)  # type: ignore[arg-type]
    return market, rec


async def _quotes(market: AlpacaMarket, got: list[Quote]) -> None:
    async for tick in market.stream(["AAA"]):
        if isinstance(tick, Quote):
            got.append(tick)


def test_a_dropped_data_stream_reconnects_and_resubscribes(fake_alpaca: FakeAlpacaServer) -> None:
    st = fake_alpaca.state
    market, rec = _stream_market(fake_alpaca)

    async def scenario() -> None:
        got: list[Quote] = []
        consumer = asyncio.create_task(_quotes(market, got))
        assert await asyncio.to_thread(st.wait_for_data_subscription, "AAA")
        st.push_quote("AAA", 1.0, 1.1)
        assert await until(lambda: len(got) == 1)
        st.drop_streams()
        assert await until(lambda: market.data_stream.connects == 2, timeout=5)
        assert await asyncio.to_thread(st.wait_for_data_subscription, "AAA")
        st.push_quote("AAA", 2.0, 2.1)
        assert await until(lambda: len(got) == 2)
        assert got[1].bid == 2.0
        assert rec.states("data-stream") == ["connected", "degraded", "connected"]
        consumer.cancel()
        await market.aclose()

    run(scenario)


def test_a_silent_stream_in_market_hours_is_reconnected_by_the_watchdog(
    fake_alpaca: FakeAlpacaServer,
) -> None:
    st = fake_alpaca.state
    open_now = {"value": False}
    market, rec = _stream_market(
        fake_alpaca,
        stream_silence_s=0.3,
        stream_watchdog_every_s=0.05,
        stream_market_open=lambda: open_now["value"],
    )

    async def scenario() -> None:
        got: list[Quote] = []
        consumer = asyncio.create_task(_quotes(market, got))
        assert await asyncio.to_thread(st.wait_for_data_subscription, "AAA")
        st.push_quote("AAA", 1.0, 1.1)
        assert await until(lambda: len(got) == 1)
        st.silence_streams(True)
        await asyncio.sleep(0.8)  # silent, but the market is closed: a quiet feed is normal
        assert market.data_stream.forced_reconnects == 0
        open_now["value"] = True
        assert await until(lambda: market.data_stream.forced_reconnects >= 1, timeout=3)
        assert await until(lambda: market.data_stream.connects >= 2, timeout=3)
        st.silence_streams(False)

        async def flowing() -> bool:
            for _ in range(60):  # a quote every 50 ms until one arrives on the new connection
                st.push_quote("AAA", 3.0, 3.1)
                if await until(lambda: got[-1].bid == 3.0, timeout=0.05):
                    return True
            return False

        assert await flowing()
        assert any("no market data" in d for d in rec.details("data-stream"))
        consumer.cancel()
        await market.aclose()

    run(scenario)


def test_connection_limit_exceeded_is_explained_and_retried(fake_alpaca: FakeAlpacaServer) -> None:
    st = fake_alpaca.state
    st.connection_limit(True)
    market, rec = _stream_market(fake_alpaca)

    async def scenario() -> None:
        await market.set_subscriptions(["AAA"])
        assert await until(lambda: market.data_stream.connect_attempts >= 2)
        assert rec.states("data-stream")[0] == "down"
        detail = rec.details("data-stream")[0]
        assert "connection limit exceeded" in detail and "one market-data stream" in detail
        assert market.data_stream.fatal is None  # not final: the other connection may go away
        st.connection_limit(False)
        assert await until(lambda: market.data_stream.connected_now, timeout=5)
        assert rec.states("data-stream")[-1] == "connected"
        await market.aclose()

    run(scenario)


def test_bad_keys_on_a_first_submit_leave_no_phantom_order(fake_alpaca: FakeAlpacaServer) -> None:
    fake_alpaca.state.add_asset("AAA")
    broker = AlpacaBroker(make_session(fake_alpaca, secret=WRONG_SECRET))
    request = OrderRequest("phantom-1", "AAA", OrderSide.BUY, 1)

    async def scenario() -> None:
        for _ in range(2):  # the second must not find a half-made local order
            with pytest.raises(AlpacaAuthError):
                await broker.submit(request)
        assert fake_alpaca.state.request_count("POST", "/v2/orders") == 1
        assert fake_alpaca.state.orders() == []

    run(scenario)
