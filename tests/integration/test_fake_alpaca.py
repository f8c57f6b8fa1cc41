"""The fake Alpaca, exercised through the REAL alpaca-py clients (REST, both streams, faults).

If alpaca-py accepts every answer here, the adapter tests built on the fake are honest.
"""

# The fixture is imported, and pytest injects it by parameter name: F811 is expected here.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import functools
import json
import math
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import msgpack
import numpy as np
import pandas as pd
import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.enums import Adjustment, DataFeed
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.live import StockDataStream
from alpaca.data.requests import (
    StockBarsRequest,
    StockLatestQuoteRequest,
    StockLatestTradeRequest,
    StockSnapshotRequest,
)
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import AssetStatus, OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import (
    ClosePositionRequest,
    GetAssetsRequest,
    GetCalendarRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    StopOrderRequest,
)
from alpaca.trading.stream import TradingStream
from websockets.sync.client import connect as ws_connect

from tests.fake_alpaca import FakeAlpacaServer, FakeAlpacaState
from tests.fake_alpaca.fixture import fake_alpaca  # noqa: F401
from tests.fake_alpaca.sessions import xnys
from tests.fake_alpaca.wire import NY

pytestmark = pytest.mark.timeout(60)

OPEN_1000 = datetime(2024, 6, 3, 10, 0, tzinfo=NY)  # inside the 2024-06-03 session


# ---- helpers ------------------------------------------------------------------------------------
def trading(fake: FakeAlpacaServer, *, timeout: float | None = None) -> TradingClient:
    client = TradingClient(fake.key_id, fake.secret_key, paper=True, url_override=fake.base_url)
    client._retry_wait = 0  # the SDK sleeps 3 s between 429 retries; not in tests
    if timeout is not None:
        _bound(client, timeout)
    return client


def data(fake: FakeAlpacaServer, *, raw: bool = False) -> StockHistoricalDataClient:
    client = StockHistoricalDataClient(
        fake.key_id, fake.secret_key, raw_data=raw, url_override=fake.base_url
    )
    client._retry_wait = 0
    return client


def _bound(client: TradingClient | StockHistoricalDataClient, timeout: float) -> None:
    """alpaca-py sets no timeout on its requests session: add one, as the adapter must."""
    session = client._session
    session.request = functools.partial(session.request, timeout=timeout)  # type: ignore[method-assign]


def daily_rows(n: int, first: float, end: date = date(2024, 5, 31)) -> list[dict[str, Any]]:
    """``n`` XNYS sessions of daily bars ending at ``end``, closes first, first+1, ..."""
    days = [s.day for s in xnys().between(end - timedelta(days=2 * n + 10), end)][-n:]
    return [
        {
            "t": d,
            "o": first + i - 0.5,
            "h": first + i + 1,
            "l": first + i - 1,
            "c": first + i,
            "v": 1000 + i,
        }
        for i, d in enumerate(days)
    ]


def run(coro_fn: Callable[[], Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro_fn(), 45))


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def stop_stream(stream: StockDataStream | TradingStream, task: asyncio.Task[None]) -> None:
    await stream.stop_ws()
    await stream.close()
    await asyncio.wait_for(task, 5)


def fast_reconnect(stream: StockDataStream | TradingStream) -> None:
    stream._reconnect_min_backoff = 0.05
    stream._reconnect_max_backoff = 0.2


def start_trading_stream(fake: FakeAlpacaServer, updates: list[Any]) -> tuple[TradingStream, Any]:
    stream = TradingStream(
        fake.key_id, fake.secret_key, paper=True, url_override=fake.trading_stream_url
    )
    fast_reconnect(stream)

    async def on_update(update: Any) -> None:
        updates.append(update)

    stream.subscribe_trade_updates(on_update)
    return stream, on_update


# ---- account, clock, calendar, assets -----------------------------------------------------------
def test_account_clock_calendar_assets(fake_alpaca: FakeAlpacaServer) -> None:
    st = fake_alpaca.state
    client = trading(fake_alpaca)

    st.set_account(cash=25_000.0, pattern_day_trader=True)
    acct = client.get_account()
    assert (acct.cash, acct.equity, acct.buying_power) == ("25000", "25000", "25000")
    assert acct.pattern_day_trader is True and acct.status == "ACTIVE"

    clock = client.get_clock()
    assert clock.is_open is False
    assert clock.next_open == datetime(2024, 6, 3, 9, 30, tzinfo=NY)
    assert clock.next_close == datetime(2024, 6, 3, 16, 0, tzinfo=NY)
    st.set_now(OPEN_1000)
    clock = client.get_clock()
    assert clock.is_open is True
    assert clock.timestamp == OPEN_1000
    assert clock.next_open == datetime(2024, 6, 4, 9, 30, tzinfo=NY)
    st.set_now(datetime(2024, 7, 3, 13, 30))  # after the early close before Independence Day
    clock = client.get_clock()
    assert (clock.is_open, clock.next_open) == (False, datetime(2024, 7, 5, 9, 30, tzinfo=NY))

    cal = client.get_calendar(GetCalendarRequest(start=date(2024, 7, 1), end=date(2024, 7, 8)))
    assert [(c.date, c.open.time(), c.close.time()) for c in cal] == [
        (date(2024, 7, 1), time(9, 30), time(16)),
        (date(2024, 7, 2), time(9, 30), time(16)),
        (date(2024, 7, 3), time(9, 30), time(13)),  # early close; the 4th is a holiday
        (date(2024, 7, 5), time(9, 30), time(16)),
        (date(2024, 7, 8), time(9, 30), time(16)),
    ]

    st.add_asset("GME", shortable=False, easy_to_borrow=False, exchange="NYSE")
    st.add_asset("DEAD", status="inactive", tradable=False)
    gme = client.get_asset("GME")
    assert (gme.symbol, gme.shortable, gme.easy_to_borrow, gme.tradable) == (
        "GME",
        False,
        False,
        True,
    )
    assert gme.exchange == "NYSE"
    active = client.get_all_assets(GetAssetsRequest(status=AssetStatus.ACTIVE))
    assert [a.symbol for a in active] == ["GME"]
    with pytest.raises(APIError) as err:
        client.get_asset("NOPE")
    assert err.value.status_code == 404


# ---- bars ---------------------------------------------------------------------------------------
@pytest.fixture
def universe(fake_alpaca: FakeAlpacaServer) -> list[str]:
    """503 symbols x 300 daily bars (closes 100+i .. 399+i for symbol number i)."""
    symbols = [f"S{i:03d}" for i in range(503)]
    base = pd.DataFrame(daily_rows(300, 0.0))
    frame = pd.concat([base] * len(symbols), ignore_index=True)
    offset = np.repeat(np.arange(len(symbols)) + 100.0, len(base))
    frame[["o", "h", "l", "c"]] = frame[["o", "h", "l", "c"]].add(offset, axis=0)
    frame["symbol"] = np.repeat(symbols, len(base))
    loaded = fake_alpaca.state.set_bars_frame(frame, "1Day")
    assert loaded == 503 * 300
    fake_alpaca.state.bars_page_cap = 5_000  # force paging: 150,900 bars -> 31 pages
    return symbols


def test_universe_bars_are_paged_with_limit_over_all_symbols(
    fake_alpaca: FakeAlpacaServer, universe: list[str]
) -> None:
    st = fake_alpaca.state
    req = StockBarsRequest(
        symbol_or_symbols=universe,
        timeframe=TimeFrame.Day,
        start=datetime(2023, 1, 1, tzinfo=UTC),
        feed=DataFeed.IEX,
        adjustment=Adjustment.SPLIT,
    )
    raw = data(fake_alpaca, raw=True).get_stock_bars(req)
    assert len(raw) == 503 and all(len(v) == 300 for v in raw.values())
    assert raw["S007"][0]["c"] == 107.0 and raw["S007"][-1]["c"] == 406.0
    assert raw["S007"][-1]["t"] == "2024-05-31T04:00:00Z"  # midnight New York, as Alpaca stamps
    pages = [r for r in st.requests if r.path == "/v2/stocks/bars"]
    assert len(pages) == math.ceil(503 * 300 / 5_000)
    assert {(r.query["feed"], r.query["adjustment"]) for r in pages} == {("iex", "split")}
    assert "page_token" not in pages[0].query and all("page_token" in r.query for r in pages[1:])

    # The typed path parses the same pages into Bar models.
    typed = data(fake_alpaca).get_stock_bars(
        req.model_copy(update={"symbol_or_symbols": universe[:40]})
    )
    bar = typed.data["S039"][-1]
    assert (bar.close, bar.volume, bar.trade_count, bar.vwap) == (438.0, 1299.0, None, None)
    assert bar.timestamp == datetime(2024, 5, 31, 4, 0, tzinfo=UTC)

    # An incremental refresh: only the sessions after the cached one.
    inc = data(fake_alpaca, raw=True).get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols=universe, timeframe=TimeFrame.Day, start=datetime(2024, 5, 31)
        )
    )
    assert sum(len(v) for v in inc.values()) == 503


def test_bars_honour_timeframe_window_adjustment_and_limit(fake_alpaca: FakeAlpacaServer) -> None:
    st = fake_alpaca.state
    st.set_bars("ABC", "1Day", daily_rows(10, 50.0), adjustment="raw")
    st.set_bars("ABC", "1Day", daily_rows(10, 25.0), adjustment="split")
    minutes = pd.DataFrame(
        {
            "open": range(390),
            "high": range(1, 391),
            "low": range(390),
            "close": range(390),
            "volume": [100] * 390,
        },
        index=pd.date_range("2024-05-31 09:30", periods=390, freq="min"),
    )
    st.set_bars("ABC", "1Min", minutes)
    client = data(fake_alpaca)

    def closes(**kw: Any) -> list[float]:
        got = client.get_stock_bars(StockBarsRequest(symbol_or_symbols="ABC", **kw)).data
        return [b.close for b in got.get("ABC", [])]

    start = datetime(2024, 5, 1)
    assert closes(timeframe=TimeFrame.Day, start=start, adjustment=Adjustment.RAW)[-1] == 59.0
    assert closes(timeframe=TimeFrame.Day, start=start, adjustment=Adjustment.SPLIT)[-1] == 34.0
    assert closes(timeframe=TimeFrame.Day, start=start, limit=3) == [50.0, 51.0, 52.0]
    window = closes(
        timeframe=TimeFrame.Minute,
        start=datetime(2024, 5, 31, 10, 0, tzinfo=NY),
        end=datetime(2024, 5, 31, 10, 4, tzinfo=NY),
    )
    assert window == [30.0, 31.0, 32.0, 33.0, 34.0]
    with pytest.raises(APIError) as err:
        client.get(
            "/stocks/bars", {"symbols": "ABC", "timeframe": "7Fortnights", "start": "2024-05-01"}
        )
    assert err.value.status_code == 400


def test_free_plan_recent_sip_is_refused(fake_alpaca: FakeAlpacaServer) -> None:
    st = fake_alpaca.state
    st.set_bars("ABC", "1Day", daily_rows(10, 50.0))
    st.restrict_recent_sip = True
    client = data(fake_alpaca)
    recent = StockBarsRequest(
        symbol_or_symbols="ABC", timeframe=TimeFrame.Day, start=date(2024, 5, 1)
    )
    with pytest.raises(APIError) as err:
        client.get_stock_bars(recent)  # no feed: SIP, and the end defaults to now
    assert err.value.status_code == 403 and "recent SIP" in err.value.message
    iex = client.get_stock_bars(recent.model_copy(update={"feed": DataFeed.IEX}))
    assert len(iex.data["ABC"]) == 10
    old = client.get_stock_bars(
        recent.model_copy(
            update={"end": datetime(2024, 6, 3, 11, 0, tzinfo=UTC), "feed": DataFeed.SIP}
        )
    )
    assert len(old.data["ABC"]) == 10  # end 15+ minutes ago: allowed

    async def sip_stream() -> None:
        stream = StockDataStream(st.key_id, st.secret_key, url_override=fake_alpaca.sip_stream_url)

        async def on_trade(t: Any) -> None:
            raise AssertionError("no data on a refused stream")

        stream.subscribe_trades(on_trade, "ABC")
        # alpaca-py gives up by itself on "insufficient subscription" (no retry storm).
        await asyncio.wait_for(stream._run_forever(), 5)

    run(sip_stream)
    assert st.streams.data_auths == 0


def test_snapshots_latest_trade_and_quote(fake_alpaca: FakeAlpacaServer) -> None:
    st = fake_alpaca.state
    st.set_bars("XYZ", "1Day", daily_rows(5, 10.0))
    st.set_now(OPEN_1000)
    st.set_price("XYZ", 15.25, size=300)
    st.set_quote("XYZ", 15.2, 15.3, 4, 7)
    client = data(fake_alpaca)

    snap = client.get_stock_snapshot(StockSnapshotRequest(symbol_or_symbols=["XYZ", "NONE"]))
    assert set(snap) == {"XYZ"}
    s = snap["XYZ"]
    assert (s.latest_trade.price, s.latest_trade.size) == (15.25, 300)
    assert s.latest_trade.timestamp == OPEN_1000
    assert (s.latest_quote.bid_price, s.latest_quote.ask_price, s.latest_quote.ask_size) == (
        15.2,
        15.3,
        7,
    )
    assert (s.daily_bar.close, s.previous_daily_bar.close) == (14.0, 13.0)

    trade = client.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="XYZ"))
    assert trade["XYZ"].price == 15.25
    quote = client.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols=["XYZ"]))
    assert quote["XYZ"].bid_size == 4
    single = client.get("/stocks/XYZ/trades/latest")
    assert single["symbol"] == "XYZ" and single["trade"]["p"] == 15.25


# ---- orders and the matching engine -------------------------------------------------------------
def test_market_order_fills_and_trade_updates_reach_the_sdk(fake_alpaca: FakeAlpacaServer) -> None:
    st = fake_alpaca.state
    st.set_now(OPEN_1000)
    st.set_price("AAPL", 190.0)
    client = trading(fake_alpaca)
    updates: list[Any] = []

    async def scenario() -> None:
        stream, _ = start_trading_stream(fake_alpaca, updates)
        task = asyncio.create_task(stream._run_forever())
        assert await asyncio.to_thread(st.wait_for_trading_listener, 5.0)
        order = await asyncio.to_thread(
            client.submit_order,
            MarketOrderRequest(
                symbol="AAPL", qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
            ),
        )
        assert order.status == OrderStatus.ACCEPTED
        assert await wait_for(lambda: len(updates) >= 2)
        await stop_stream(stream, task)

    run(scenario)
    assert [(u.event, u.order.status) for u in updates] == [
        ("new", OrderStatus.NEW),
        ("fill", OrderStatus.FILLED),
    ]
    fill = updates[1]
    assert (fill.price, fill.qty, fill.position_qty) == (190.0, 10.0, 10.0)
    assert fill.order.filled_avg_price == "190" and fill.timestamp == OPEN_1000
    pos = client.get_open_position("AAPL")
    assert (pos.qty, pos.avg_entry_price, pos.side) == ("10", "190", "long")
    assert client.get_account().cash == "98100"


def test_opg_order_fills_at_the_open_price(fake_alpaca: FakeAlpacaServer) -> None:
    st = fake_alpaca.state
    st.set_bars("MSFT", "1Day", daily_rows(5, 400.0))
    client = trading(fake_alpaca)
    order = client.submit_order(
        MarketOrderRequest(
            symbol="MSFT",
            qty=5,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.OPG,
            client_order_id="2024-06-03-MSFT-A-entry",
        )
    )
    assert order.status == OrderStatus.ACCEPTED
    st.set_price("MSFT", 500.0)  # pre-market trades do not fill it
    assert client.get_order_by_id(order.id).status == OrderStatus.ACCEPTED

    opened = st.open_session({"MSFT": 410.5})
    assert opened == datetime(2024, 6, 3, 9, 30, tzinfo=NY)
    filled = client.get_order_by_client_id("2024-06-03-MSFT-A-entry")
    assert (filled.status, filled.filled_avg_price, filled.filled_at) == (
        OrderStatus.FILLED,
        "410.5",
        opened,
    )
    assert [u["event"] for u in st.trade_updates] == ["accepted", "new", "fill"]
    assert client.get_open_position("MSFT").lastday_price == "404"

    # Alpaca refuses OPG orders between 09:28 and 19:00 on a trading day.
    st.set_now(datetime(2024, 6, 4, 9, 29))
    with pytest.raises(APIError) as err:
        client.submit_order(
            MarketOrderRequest(
                symbol="MSFT", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.OPG
            )
        )
    assert err.value.status_code == 422 and "opg" in err.value.message


def test_stop_replaced_then_gap_fill_and_held_shares(fake_alpaca: FakeAlpacaServer) -> None:
    st = fake_alpaca.state
    st.set_now(OPEN_1000)
    st.set_price("JPM", 100.0)
    client = trading(fake_alpaca)
    client.submit_order(
        MarketOrderRequest(symbol="JPM", qty=20, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    stop = client.submit_order(
        StopOrderRequest(
            symbol="JPM",
            qty=20,
            side=OrderSide.SELL,
            time_in_force=TimeInForce.GTC,
            stop_price=93.0,
            client_order_id="JPM-stop-1",
        )
    )
    # The stop holds all 20 shares: a market exit is refused until it is canceled, as at Alpaca.
    with pytest.raises(APIError) as err:
        client.submit_order(
            MarketOrderRequest(
                symbol="JPM", qty=20, side=OrderSide.SELL, time_in_force=TimeInForce.DAY
            )
        )
    assert err.value.status_code == 403
    assert err.value.message == "insufficient qty available for order (requested: 20, available: 0)"
    assert client.get_open_position("JPM").qty_available == "0"
    # A stop that would trigger at once is refused.
    with pytest.raises(APIError) as err:
        client.replace_order_by_id(stop.id, ReplaceOrderRequest(stop_price=100.5))
    assert err.value.status_code == 422

    new = client.replace_order_by_id(
        stop.id, ReplaceOrderRequest(stop_price=96.0, client_order_id="JPM-stop-2")
    )
    assert (new.replaces, new.stop_price, new.client_order_id) == (stop.id, "96", "JPM-stop-2")
    old = client.get_order_by_id(stop.id)
    assert (old.status, old.replaced_by) == (OrderStatus.REPLACED, new.id)
    open_ids = [o.id for o in client.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))]
    assert open_ids == [new.id]

    st.set_price("JPM", 96.5)  # above the stop: nothing
    assert client.get_order_by_id(new.id).status == OrderStatus.NEW
    st.close_session()  # the GTC stop survives the close, the position stays
    assert client.get_order_by_id(new.id).status == OrderStatus.NEW
    st.open_session({"JPM": 90.0})  # gaps through the stop: fills at the open, not at 96
    done = client.get_order_by_id(new.id)
    assert (done.status, done.filled_avg_price) == (OrderStatus.FILLED, "90")
    assert st.positions() == {}
    assert st.account.cash == pytest.approx(100_000 - 2000 + 1800)
    events = [(u["event"], u["order"]["client_order_id"]) for u in st.trade_updates[-3:]]
    assert events == [("replaced", "JPM-stop-1"), ("new", "JPM-stop-2"), ("fill", "JPM-stop-2")]


def test_limit_day_order_expires_cancel_and_close(fake_alpaca: FakeAlpacaServer) -> None:
    st = fake_alpaca.state
    st.set_now(OPEN_1000)
    st.set_prices({"KO": 60.0, "PEP": 170.0})
    client = trading(fake_alpaca)
    limit = client.submit_order(
        LimitOrderRequest(
            symbol="KO", qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, limit_price=59.0
        )
    )
    st.set_price("KO", 59.5)
    assert client.get_order_by_id(limit.id).status == OrderStatus.NEW
    st.set_price("KO", 58.9)
    got = client.get_order_by_id(limit.id)
    assert (got.status, got.filled_avg_price) == (OrderStatus.FILLED, "58.9")

    keep = client.submit_order(
        LimitOrderRequest(
            symbol="PEP", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, limit_price=150
        )
    )
    gone = client.submit_order(
        LimitOrderRequest(
            symbol="PEP", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC, limit_price=151
        )
    )
    client.cancel_order_by_id(gone.id)
    assert client.get_order_by_id(gone.id).status == OrderStatus.CANCELED
    with pytest.raises(APIError) as err:
        client.cancel_order_by_id(gone.id)
    assert err.value.status_code == 422

    close = client.close_position("KO", ClosePositionRequest(qty="4"))
    assert (close.side, close.qty) == (OrderSide.SELL, "4")
    assert st.positions() == {"KO": 6.0}
    st.close_session()
    assert client.get_order_by_id(keep.id).status == OrderStatus.EXPIRED
    assert st.trade_updates[-1]["event"] == "expired"

    st.set_now(datetime(2024, 6, 4, 10, 0))
    results = client.close_all_positions(cancel_orders=True)
    assert [(r.symbol, r.status) for r in results] == [("KO", 200)]
    assert st.positions() == {}
    assert client.cancel_orders() == []


@pytest.mark.parametrize(
    ("pieces", "stepwise", "expected_events", "expected_status"),
    [
        pytest.param([3, 3], False, ["partial_fill", "partial_fill", "fill"], "filled", id="sizes"),
        pytest.param(0.25, False, ["partial_fill", "fill"], "filled", id="fraction"),
        pytest.param([4], True, ["partial_fill"], "partially_filled", id="stepwise"),
    ],
)
def test_partial_fills(
    fake_alpaca: FakeAlpacaServer,
    pieces: Any,
    stepwise: bool,
    expected_events: list[str],
    expected_status: str,
) -> None:
    st = fake_alpaca.state
    st.set_now(OPEN_1000)
    st.set_price("T", 20.0)
    st.partial_fills("T", pieces, stepwise=stepwise)
    client = trading(fake_alpaca)
    order = client.submit_order(
        MarketOrderRequest(symbol="T", qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    fills = [u for u in st.trade_updates if u["event"] != "new"]
    assert [u["event"] for u in fills] == expected_events
    assert client.get_order_by_id(order.id).status == expected_status
    if stepwise:
        assert st.positions() == {"T": 4.0}
        st.set_price("T", 20.5)  # the rest comes with the next trade
        got = client.get_order_by_id(order.id)
        assert (got.status, got.filled_qty) == (OrderStatus.FILLED, "10")
        assert got.filled_avg_price == str((4 * 20.0 + 6 * 20.5) / 10)
    else:
        assert sum(float(u["qty"]) for u in fills) == 10
        assert fills[-1]["position_qty"] == "10"


def test_duplicate_client_order_id_is_rejected(fake_alpaca: FakeAlpacaServer) -> None:
    client = trading(fake_alpaca)
    req = MarketOrderRequest(
        symbol="IBM",
        qty=1,
        side=OrderSide.BUY,
        time_in_force=TimeInForce.OPG,
        client_order_id="dup",
    )
    fake_alpaca.state.add_asset("IBM")
    client.submit_order(req)
    with pytest.raises(APIError) as err:
        client.submit_order(req)
    assert (err.value.status_code, err.value.code, err.value.message) == (
        422,
        40010001,
        "client_order_id must be unique",
    )
    assert len(fake_alpaca.state.orders()) == 1


def test_timed_out_submit_exists_server_side_and_is_not_duplicated(
    fake_alpaca: FakeAlpacaServer,
) -> None:
    st = fake_alpaca.state
    st.add_asset("NVDA")
    st.submit_timeout_once(1.5)
    impatient = trading(fake_alpaca, timeout=0.3)
    req = MarketOrderRequest(
        symbol="NVDA",
        qty=2,
        side=OrderSide.BUY,
        time_in_force=TimeInForce.OPG,
        client_order_id="once",
    )
    with pytest.raises(requests.exceptions.Timeout):
        impatient.submit_order(req)
    # The idempotent path: look it up by client order id before submitting again.
    found = trading(fake_alpaca).get_order_by_client_id("once")
    assert found.symbol == "NVDA" and found.status == OrderStatus.ACCEPTED
    with pytest.raises(APIError) as err:
        trading(fake_alpaca).submit_order(req)
    assert err.value.status_code == 422
    assert [o["client_order_id"] for o in st.orders()] == ["once"]


# ---- REST faults and auth -----------------------------------------------------------------------
def test_rate_limit_burst_is_retried_by_the_sdk(fake_alpaca: FakeAlpacaServer) -> None:
    st = fake_alpaca.state
    client = trading(fake_alpaca)
    st.rate_limit_burst(2)
    assert client.get_account().status == "ACTIVE"
    assert [r.status for r in st.requests] == [429, 429, 200]
    st.rate_limit_burst(4)  # more than the SDK's 3 retries
    with pytest.raises(APIError) as err:
        client.get_clock()
    assert (err.value.status_code, err.value.code) == (429, 42910000)


def test_server_errors_json_and_html(fake_alpaca: FakeAlpacaServer) -> None:
    st = fake_alpaca.state
    client = trading(fake_alpaca)
    st.fail_next(1, 500)
    with pytest.raises(APIError) as err:
        client.get_account()
    assert (err.value.status_code, err.value.code) == (500, 50010000)
    st.fail_next(1, 502)
    with pytest.raises(APIError) as err:
        client.get_account()
    assert err.value.status_code == 502
    with pytest.raises(json.JSONDecodeError):
        _ = err.value.code  # an HTML body: the adapter must not rely on .code
    st.fail_next(1, 504)  # the SDK retries 504 like 429
    assert client.get_clock().is_open is False
    st.fail_next(2, 503, path_prefix="/v2/orders")
    assert client.get_account().status == "ACTIVE"  # other paths unaffected
    with pytest.raises(APIError):
        client.get_orders()
    assert st.request_count("GET", "/v2/orders") == 1


def test_slow_responses_and_request_budget(fake_alpaca: FakeAlpacaServer) -> None:
    st = fake_alpaca.state
    st.slow(0.6, path_prefix="/v2/account")
    with pytest.raises(requests.exceptions.Timeout):
        trading(fake_alpaca, timeout=0.2).get_account()
    assert trading(fake_alpaca, timeout=0.2).get_clock().is_open is False
    st.slow(0)
    assert trading(fake_alpaca, timeout=0.2).get_account().status == "ACTIVE"

    st.rate_limit_per_minute(3)
    client = trading(fake_alpaca)
    client._retry = 0
    for _ in range(3):
        client.get_clock()
    with pytest.raises(APIError) as err:
        client.get_clock()
    assert err.value.status_code == 429


def test_bad_and_forbidden_keys(fake_alpaca: FakeAlpacaServer) -> None:
    bad = TradingClient(fake_alpaca.key_id, "wrong", paper=True, url_override=fake_alpaca.base_url)
    with pytest.raises(APIError) as err:
        bad.get_account()
    assert (err.value.status_code, err.value.code, err.value.message) == (
        401,
        40110000,
        "request is not authorized",
    )
    with pytest.raises(APIError) as err:
        StockHistoricalDataClient("nope", "nope", url_override=fake_alpaca.base_url).get_stock_bars(
            StockBarsRequest(symbol_or_symbols="A", timeframe=TimeFrame.Day)
        )
    assert err.value.status_code == 401
    fake_alpaca.state.forbid()
    with pytest.raises(APIError) as err:
        trading(fake_alpaca).get_account()
    assert err.value.status_code == 403


@pytest.mark.parametrize("via", ["http", "stream"])
def test_rejected_order(fake_alpaca: FakeAlpacaServer, via: str) -> None:
    st = fake_alpaca.state
    st.set_now(OPEN_1000)
    st.set_price("AMD", 150.0)
    st.reject_next_order("insufficient buying power", via=via)
    client = trading(fake_alpaca)
    req = MarketOrderRequest(symbol="AMD", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    if via == "http":
        with pytest.raises(APIError) as err:
            client.submit_order(req)
        assert (err.value.status_code, err.value.code, err.value.message) == (
            403,
            40310000,
            "insufficient buying power",
        )
        assert st.orders() == []
    else:
        order = client.submit_order(req)
        assert client.get_order_by_id(order.id).status == OrderStatus.REJECTED
        assert [u["event"] for u in st.trade_updates] == ["rejected"]
    # The switch is used up: the next order goes through.
    assert client.submit_order(req).symbol == "AMD"


def test_buying_power_and_shortability_are_checked(fake_alpaca: FakeAlpacaServer) -> None:
    st = fake_alpaca.state
    st.set_now(OPEN_1000)
    st.set_account(cash=1_000.0)
    st.set_price("BIG", 500.0)
    st.add_asset("HTB", easy_to_borrow=False)
    st.set_price("HTB", 10.0)
    client = trading(fake_alpaca)
    with pytest.raises(APIError) as err:
        client.submit_order(
            MarketOrderRequest(
                symbol="BIG", qty=3, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
            )
        )
    assert (err.value.status_code, err.value.message) == (403, "insufficient buying power")
    with pytest.raises(APIError) as err:
        client.submit_order(
            MarketOrderRequest(
                symbol="HTB", qty=1, side=OrderSide.SELL, time_in_force=TimeInForce.DAY
            )
        )
    assert err.value.status_code == 403
    short = client.submit_order(
        MarketOrderRequest(symbol="BIG", qty=1, side=OrderSide.SELL, time_in_force=TimeInForce.DAY)
    )
    assert client.get_order_by_id(short.id).status == OrderStatus.FILLED
    pos = client.get_open_position("BIG")
    assert (pos.qty, pos.side, pos.market_value) == ("-1", "short", "-500")


def test_a_potential_wash_trade_is_refused_as_at_alpaca(fake_alpaca: FakeAlpacaServer) -> None:
    """A buy entry partly filled, its remainder working: a protective sell stop for the filled
    shares is refused (Alpaca's wash-trade protection), and so is a replacement that would
    cross; same-side orders and non-crossing limits are not."""
    st = fake_alpaca.state
    st.set_now(OPEN_1000)
    st.set_price("WT", 50.0)
    st.partial_fills("WT", [4], stepwise=True)  # 4 now, the rest with the next trade
    client = trading(fake_alpaca)
    entry = client.submit_order(
        MarketOrderRequest(symbol="WT", qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    got = client.get_order_by_id(entry.id)
    assert (got.status, got.filled_qty) == (OrderStatus.PARTIALLY_FILLED, "4")
    stop = StopOrderRequest(
        symbol="WT", qty=4, side=OrderSide.SELL, time_in_force=TimeInForce.GTC, stop_price=46.5
    )
    with pytest.raises(APIError) as err:
        client.submit_order(stop)
    assert (err.value.status_code, err.value.code) == (403, 40310000)
    assert err.value.message == "potential wash trade detected. use complex orders"
    assert st.positions() == {"WT": 4.0}  # nothing else happened
    # A non-crossing opposite limit is fine; a crossing one is not.
    client.cancel_order_by_id(entry.id)
    bid = client.submit_order(
        LimitOrderRequest(
            symbol="WT", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, limit_price=45
        )
    )
    resting = client.submit_order(stop)  # sell stop 46.5 above the buy limit 45: no cross
    assert client.get_order_by_id(resting.id).status == OrderStatus.NEW
    with pytest.raises(APIError) as err:
        client.replace_order_by_id(resting.id, ReplaceOrderRequest(stop_price=44.0))
    assert err.value.message == "potential wash trade detected. use complex orders"
    with pytest.raises(APIError) as err:  # a market buy trades at any price: it would cross
        client.submit_order(
            MarketOrderRequest(
                symbol="WT", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
            )
        )
    assert err.value.code == 40310000
    client.cancel_order_by_id(bid.id)
    # Same side, never a wash trade, but the stop holds the shares (available quantity).
    with pytest.raises(APIError) as err:
        client.submit_order(
            MarketOrderRequest(
                symbol="WT", qty=4, side=OrderSide.SELL, time_in_force=TimeInForce.DAY
            )
        )
    assert err.value.message == "insufficient qty available for order (requested: 4, available: 0)"


# ---- market-data stream -------------------------------------------------------------------------
def test_data_stream_delivers_quotes_and_trades_with_timestamps(
    fake_alpaca: FakeAlpacaServer,
) -> None:
    st = fake_alpaca.state
    st.set_now(OPEN_1000)
    got: list[Any] = []

    async def scenario() -> None:
        stream = StockDataStream(
            fake_alpaca.key_id, fake_alpaca.secret_key, url_override=fake_alpaca.data_stream_url
        )

        async def on_data(item: Any) -> None:
            got.append(item)

        stream.subscribe_quotes(on_data, "AAPL")
        stream.subscribe_trades(on_data, "AAPL", "MSFT")
        task = asyncio.create_task(stream._run_forever())
        assert await asyncio.to_thread(st.wait_for_data_subscription, "MSFT", "trades", 5.0)
        at = datetime(2024, 6, 3, 14, 0, 1, 250000, tzinfo=UTC)
        st.push_quote("AAPL", 189.98, 190.02, 3, 5, t=at)
        st.push_trade("MSFT", 421.5, 200, t=at)
        st.push_trade("NVDA", 1.0, 1)  # not subscribed: not delivered
        assert await wait_for(lambda: len(got) >= 2)
        # Subscribing while the stream runs must go through a thread (it blocks otherwise).
        await asyncio.to_thread(stream.subscribe_bars, on_data, "AAPL")
        assert await asyncio.to_thread(st.wait_for_data_subscription, "AAPL", "bars", 5.0)
        st.push_bar("AAPL", 190, 191, 189, 190.5, 12000, t=datetime(2024, 6, 3, 10, 0, tzinfo=NY))
        assert await wait_for(lambda: len(got) >= 3)
        await asyncio.sleep(0.1)
        await stop_stream(stream, task)

    run(scenario)
    quote, trade, bar = got
    assert (quote.symbol, quote.bid_price, quote.ask_price, quote.bid_size) == (
        "AAPL",
        189.98,
        190.02,
        3,
    )
    assert quote.timestamp == datetime(2024, 6, 3, 14, 0, 1, 250000, tzinfo=UTC)
    assert (trade.symbol, trade.price, trade.size) == ("MSFT", 421.5, 200)
    assert (bar.symbol, bar.close, bar.volume) == ("AAPL", 190.5, 12000)
    assert bar.timestamp == datetime(2024, 6, 3, 14, 0, tzinfo=UTC)
    assert st.market.trades["MSFT"].price == 421.5  # a streamed trade is also the last price


def test_data_stream_wire_format_is_msgpack_with_timestamp_ext(
    fake_alpaca: FakeAlpacaServer,
) -> None:
    st = fake_alpaca.state
    with ws_connect(
        fake_alpaca.data_stream_url, additional_headers={"Content-Type": "application/msgpack"}
    ) as ws:
        assert msgpack.unpackb(ws.recv()) == [{"T": "success", "msg": "connected"}]
        ws.send(msgpack.packb({"action": "subscribe", "quotes": ["AAPL"]}))
        assert msgpack.unpackb(ws.recv())[0]["code"] == 401  # not authenticated yet
        ws.send(msgpack.packb({"action": "auth", "key": st.key_id, "secret": st.secret_key}))
        assert msgpack.unpackb(ws.recv()) == [{"T": "success", "msg": "authenticated"}]
        ws.send(msgpack.packb({"action": "subscribe", "quotes": ["aapl"], "trades": ["SPY"]}))
        ack = msgpack.unpackb(ws.recv())[0]
        assert (ack["T"], ack["quotes"], ack["trades"], ack["corrections"]) == (
            "subscription",
            ["AAPL"],
            ["SPY"],
            ["SPY"],
        )
        st.push_quote("AAPL", 1.0, 1.1)
        frame = ws.recv()
        assert isinstance(frame, bytes)
        msg = msgpack.unpackb(frame, timestamp=0)[0]
        # msgpack decodes only ext type -1 as a Timestamp: this is what alpaca-py needs.
        assert msg["T"] == "q" and isinstance(msg["t"], msgpack.Timestamp)
        assert msg["t"].to_datetime() == st.now

    # Without the msgpack header Alpaca (and the fake) speak JSON with RFC 3339 times.
    with ws_connect(fake_alpaca.data_stream_url) as ws:
        assert json.loads(ws.recv()) == [{"T": "success", "msg": "connected"}]
        ws.send(json.dumps({"action": "auth", "key": st.key_id, "secret": "bad"}))
        assert json.loads(ws.recv()) == [{"T": "error", "code": 402, "msg": "auth failed"}]


def test_data_stream_faults_drop_silence_and_connection_limit(
    fake_alpaca: FakeAlpacaServer,
) -> None:
    st = fake_alpaca.state
    got: list[Any] = []

    async def scenario() -> None:
        stream = StockDataStream(
            fake_alpaca.key_id, fake_alpaca.secret_key, url_override=fake_alpaca.data_stream_url
        )
        fast_reconnect(stream)

        async def on_quote(q: Any) -> None:
            got.append(q.bid_price)

        stream.subscribe_quotes(on_quote, "SPY")
        task = asyncio.create_task(stream._run_forever())
        assert await asyncio.to_thread(st.wait_for_data_subscription, "SPY", "quotes", 5.0)
        st.push_quote("SPY", 1.0, 1.01)
        assert await wait_for(lambda: got == [1.0])

        # Silent stream: the connection stays, nothing arrives.
        st.silence_streams(True)
        st.push_quote("SPY", 2.0, 2.01)
        await asyncio.sleep(0.3)
        assert got == [1.0] and st.streams.data_connections == 1
        st.silence_streams(False)

        # A dropped connection: the SDK reconnects and resubscribes by itself...
        st.connection_limit(True)  # ...but first the account's one connection is "taken".
        st.drop_streams()
        assert await wait_for(lambda: st.streams.drops == 1)
        await asyncio.sleep(0.6)  # several refused attempts (backoff 0.05..0.2 s)
        assert st.streams.data_auths == 1
        st.connection_limit(False)
        assert await wait_for(lambda: st.streams.data_auths == 2)
        assert await asyncio.to_thread(st.wait_for_data_subscription, "SPY", "quotes", 5.0)
        st.push_quote("SPY", 3.0, 3.01)
        assert await wait_for(lambda: got == [1.0, 3.0])
        await stop_stream(stream, task)

    run(scenario)
    assert not [r for r in st.requests if r.path == "/v2/iex"]  # the REST log is REST only


def test_data_stream_single_connection_limit(fake_alpaca: FakeAlpacaServer) -> None:
    st = fake_alpaca.state
    st.data_connection_limit = 1
    with (
        ws_connect(fake_alpaca.data_stream_url) as first,
        ws_connect(fake_alpaca.data_stream_url) as second,
    ):
        for ws in (first, second):
            ws.recv()
        first.send(json.dumps({"action": "auth", "key": st.key_id, "secret": st.secret_key}))
        assert json.loads(first.recv())[0]["msg"] == "authenticated"
        second.send(json.dumps({"action": "auth", "key": st.key_id, "secret": st.secret_key}))
        assert json.loads(second.recv()) == [
            {"T": "error", "code": 406, "msg": "connection limit exceeded"}
        ]


# ---- trading stream -----------------------------------------------------------------------------
def test_trading_stream_binary_frames_and_bad_keys(fake_alpaca: FakeAlpacaServer) -> None:
    st = fake_alpaca.state
    with ws_connect(fake_alpaca.trading_stream_url) as ws:
        ws.send(
            json.dumps(
                {
                    "action": "authenticate",
                    "data": {"key_id": st.key_id, "secret_key": st.secret_key},
                }
            )
        )
        frame = ws.recv()
        assert isinstance(frame, bytes)  # binary, as Alpaca's paper endpoint sends
        assert json.loads(frame) == {
            "stream": "authorization",
            "data": {"action": "authenticate", "status": "authorized"},
        }
        ws.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
        assert json.loads(ws.recv()) == {
            "stream": "listening",
            "data": {"streams": ["trade_updates"]},
        }

    async def scenario() -> None:
        stream = TradingStream(
            fake_alpaca.key_id, "wrong", paper=True, url_override=fake_alpaca.trading_stream_url
        )
        fast_reconnect(stream)

        async def on_update(u: Any) -> None:
            raise AssertionError("no update may arrive with bad keys")

        stream.subscribe_trade_updates(on_update)
        task = asyncio.create_task(stream._run_forever())
        await asyncio.sleep(0.5)
        assert st.streams.trading_auths == 1  # only the raw client above got in
        await stop_stream(stream, task)

    run(scenario)


def test_trading_stream_reconnects_after_drop(fake_alpaca: FakeAlpacaServer) -> None:
    st = fake_alpaca.state
    st.set_now(OPEN_1000)
    st.set_price("V", 270.0)
    updates: list[Any] = []
    client = trading(fake_alpaca)

    async def scenario() -> None:
        stream, _ = start_trading_stream(fake_alpaca, updates)
        task = asyncio.create_task(stream._run_forever())
        assert await asyncio.to_thread(st.wait_for_trading_listener, 5.0)
        st.drop_streams()
        assert await wait_for(lambda: st.streams.trading_auths == 2)
        assert await asyncio.to_thread(st.wait_for_trading_listener, 5.0)
        await asyncio.to_thread(
            client.submit_order,
            MarketOrderRequest(
                symbol="V", qty=1, side=OrderSide.SELL, time_in_force=TimeInForce.DAY
            ),
        )
        assert await wait_for(lambda: len(updates) == 2)
        # A silent stream: the events happen (REST shows them) but never arrive.
        st.silence_streams(True)
        await asyncio.to_thread(
            client.submit_order,
            MarketOrderRequest(
                symbol="V", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
            ),
        )
        await asyncio.sleep(0.3)
        assert len(updates) == 2 and len(st.trade_updates) == 4
        await stop_stream(stream, task)

    run(scenario)
    assert [u.event for u in updates] == ["new", "fill"]
    assert updates[-1].position_qty == -1.0
    assert st.positions() == {}


def test_running_clock_and_standalone_server() -> None:
    state = FakeAlpacaState(now=datetime(2024, 6, 3, 9, 29, 59, 800000), clock_running=True)
    state.add_asset("QQQ")
    with FakeAlpacaServer(state) as server:
        assert set(server.env()) == {
            "APCA_API_BASE_URL",
            "APCA_API_DATA_URL",
            "APCA_API_STREAM_URL",
            "APCA_API_TRADING_STREAM_URL",
            "APCA_API_KEY_ID",
            "APCA_API_SECRET_KEY",
        }
        client = TradingClient(state.key_id, state.secret_key, url_override=server.base_url)
        order = client.submit_order(
            MarketOrderRequest(
                symbol="QQQ", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
            )
        )
        assert order.status == OrderStatus.ACCEPTED
        # The clock crosses 09:30 by itself: the held order is routed without any call.
        assert state.wait_until(lambda: state.trade_updates[-1]["event"] == "new", timeout=3)
        assert client.get_clock().is_open is True
        assert state.now - datetime(2024, 6, 3, 9, 30, tzinfo=NY) < timedelta(seconds=5)
