"""AlpacaMarket through the REAL alpaca-py clients against the fake Alpaca: the universe's daily
bars (paged, one feed, split-adjusted) and the bar cache's incremental refresh, snapshots,
latest trades, minute bars, and the one quote/trade stream with its re-subscriptions."""

# The fixture is imported, and pytest injects it by parameter name: F811 is expected here.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.fake_alpaca import FakeAlpacaServer
from tests.fake_alpaca.fixture import fake_alpaca  # noqa: F401
from tests.integration.alpaca_support import (
    FAST_RECONNECT,
    Recorder,
    SetClock,
    at_ny,
    bar_frame,
    make_session,
    run,
    sessions_until,
    until,
)
from workstation.core.calendar import ET
from workstation.core.events import QuoteEvent, TradeEvent
from workstation.core.models import Quote, TradeTick
from workstation.market.alpaca import AlpacaMarket
from workstation.market.base import MarketData
from workstation.market.universe import sp500_universe
from workstation.store import Store

pytestmark = pytest.mark.timeout(90)

FRI = date(2024, 5, 31)
MON = date(2024, 6, 3)


def bar_requests(fake: FakeAlpacaServer) -> list:
    return [r for r in fake.state.requests if r.path == "/v2/stocks/bars"]


def wide(frame: pd.DataFrame, symbols: list[str], field: str = "close") -> np.ndarray:
    return frame.pivot(index="date", columns="symbol", values=field)[symbols].to_numpy()


def request_day(value: str) -> date:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(ET).date()


def test_universe_fetch_is_paged_one_feed_and_refreshes_only_the_new_session(
    fake_alpaca: FakeAlpacaServer, tmp_path: Path
) -> None:
    symbols = list(sp500_universe().symbols)
    assert len(symbols) == 503
    days = sessions_until(MON, 301)  # 300 sessions to Friday, then Monday
    frame = bar_frame(symbols, days)
    fake_alpaca.state.set_now(at_ny(2024, 5, 31, 20))
    fake_alpaca.state.set_bars_frame(frame[frame["date"] <= np.datetime64(FRI)])
    clock = SetClock(at_ny(2024, 5, 31, 20))
    session = make_session(fake_alpaca, clock)
    store = Store.open(tmp_path / "ws.db")
    market = AlpacaMarket(session, bar_cache=store)
    assert isinstance(market, MarketData)

    async def scenario() -> None:
        bars = await market.daily_bars(symbols, FRI, 300)
        assert bars.symbols == tuple(symbols)
        assert list(bars.dates.astype(object)) == days[:300]
        first = frame[frame["date"] <= np.datetime64(FRI)]
        np.testing.assert_allclose(bars.close, wide(first, symbols))
        np.testing.assert_allclose(bars.volume, wide(first, symbols, "volume"))
        reqs = bar_requests(fake_alpaca)
        # Few requests, each multi-symbol, paged by alpaca-py (limit is over all symbols).
        assert 16 <= len(reqs) <= 24, len(reqs)
        assert sum(1 for r in reqs if r.query.get("page_token")) >= 10
        assert all(len(r.query["symbols"].split(",")) > 1 for r in reqs)
        assert {(r.query["feed"], r.query["adjustment"], r.query["timeframe"]) for r in reqs} == {
            ("iex", "split", "1Day")
        }
        assert market.last_fetch.bars_fetched == 503 * 300
        await market.flush_cache()
        assert store.bar_cache_last_dates("iex") == dict.fromkeys(symbols, FRI)

        # Monday's bars appear; the nightly refresh asks only for what the cache lacks.
        fake_alpaca.state.set_bars_frame(frame)
        fake_alpaca.state.set_now(at_ny(2024, 6, 3, 20))
        clock.t = at_ny(2024, 6, 3, 20)
        fake_alpaca.state.clear_requests()
        bars2 = await market.daily_bars(symbols, MON, 300)
        reqs = bar_requests(fake_alpaca)
        assert len(reqs) == 1
        q = reqs[0].query
        assert len(q["symbols"].split(",")) == 503
        # From Friday (the last cached session, fetched again to catch a re-adjusted
        # history) to Monday: two bars per symbol instead of 300.
        assert request_day(q["start"]) == FRI and request_day(q["end"]) == MON
        assert market.last_fetch.bars_fetched == 503 * 2
        assert market.last_fetch.bars_from_cache == 503 * 299
        assert market.last_fetch.refetched_symbols == []
        np.testing.assert_allclose(
            bars2.close, wide(frame[frame["date"] > np.datetime64(days[0])], symbols)
        )
        await market.aclose()

        # A restart: a new market finds the whole window in the SQLite cache.
        fake_alpaca.state.clear_requests()
        restarted = AlpacaMarket(session, bar_cache=store)
        bars3 = await restarted.daily_bars(symbols, MON, 300)
        assert bar_requests(fake_alpaca) == []
        assert restarted.last_fetch.bars_read_from_store == 503 * 300
        np.testing.assert_array_equal(bars3.close, bars2.close)
        await restarted.aclose()

    run(scenario)
    store.close()


def test_without_overlap_check_only_the_missing_session_is_asked(
    fake_alpaca: FakeAlpacaServer, tmp_path: Path
) -> None:
    symbols = ["AAA", "BBB", "CCC"]
    days = sessions_until(MON, 31)
    frame = bar_frame(symbols, days)
    fake_alpaca.state.set_now(at_ny(2024, 5, 31, 20))
    fake_alpaca.state.set_bars_frame(frame[frame["date"] <= np.datetime64(FRI)])
    clock = SetClock(at_ny(2024, 5, 31, 20))
    store = Store.open(tmp_path / "ws.db")
    market = AlpacaMarket(make_session(fake_alpaca, clock), bar_cache=store, verify_overlap=False)

    async def scenario() -> None:
        await market.daily_bars(symbols, FRI, 30)
        fake_alpaca.state.set_bars_frame(frame)
        fake_alpaca.state.set_now(at_ny(2024, 6, 3, 20))
        clock.t = at_ny(2024, 6, 3, 20)
        fake_alpaca.state.clear_requests()
        bars = await market.daily_bars(symbols, MON, 30)
        (req,) = bar_requests(fake_alpaca)
        assert request_day(req.query["start"]) == MON == request_day(req.query["end"])
        assert market.last_fetch.bars_fetched == 3
        np.testing.assert_allclose(
            bars.close, wide(frame[frame["date"] > np.datetime64(days[0])], symbols)
        )
        await market.aclose()

    run(scenario)
    store.close()


def test_a_split_readjusts_history_and_the_symbol_is_refetched(
    fake_alpaca: FakeAlpacaServer, tmp_path: Path
) -> None:
    symbols = ["AAA", "BBB", "CCC"]
    days = sessions_until(MON, 21)
    frame = bar_frame(symbols, days)
    fake_alpaca.state.set_now(at_ny(2024, 5, 31, 20))
    fake_alpaca.state.set_bars_frame(frame[frame["date"] <= np.datetime64(FRI)])
    clock = SetClock(at_ny(2024, 5, 31, 20))
    store = Store.open(tmp_path / "ws.db")
    market = AlpacaMarket(make_session(fake_alpaca, clock), bar_cache=store)

    async def scenario() -> None:
        await market.daily_bars(symbols, FRI, 20)
        # BBB splits 2:1 on Monday: Alpaca's split-adjusted history halves every old price.
        after = frame.copy()
        is_b = after["symbol"] == "BBB"
        for f in ("open", "high", "low", "close"):
            after.loc[is_b & (after["date"] < np.datetime64(MON)), f] /= 2
        fake_alpaca.state.set_bars_frame(after)
        fake_alpaca.state.set_now(at_ny(2024, 6, 3, 20))
        clock.t = at_ny(2024, 6, 3, 20)
        fake_alpaca.state.clear_requests()
        bars = await market.daily_bars(symbols, MON, 20)
        assert market.last_fetch.refetched_symbols == ["BBB"]
        reqs = bar_requests(fake_alpaca)
        assert len(reqs) == 2
        assert reqs[1].query["symbols"] == "BBB"
        assert request_day(reqs[1].query["start"]) == days[1]
        np.testing.assert_allclose(
            bars.close, wide(after[after["date"] > np.datetime64(days[0])], symbols)
        )
        await market.aclose()
        # The cache holds the re-adjusted history too.
        fresh = AlpacaMarket(make_session(fake_alpaca, clock), bar_cache=store)
        fake_alpaca.state.clear_requests()
        again = await fresh.daily_bars(symbols, MON, 20)
        assert bar_requests(fake_alpaca) == []
        np.testing.assert_array_equal(again.close, bars.close)
        await fresh.aclose()

    run(scenario)
    store.close()


def test_a_session_in_progress_is_returned_but_never_cached(
    fake_alpaca: FakeAlpacaServer, tmp_path: Path
) -> None:
    symbols = ["AAA", "BBB"]
    days = sessions_until(MON, 11)
    frame = bar_frame(symbols, days)
    fake_alpaca.state.set_bars_frame(frame)
    fake_alpaca.state.set_now(at_ny(2024, 6, 3, 12))  # Monday noon: its bar is still forming
    clock = SetClock(at_ny(2024, 6, 3, 12))
    store = Store.open(tmp_path / "ws.db")
    market = AlpacaMarket(make_session(fake_alpaca, clock), bar_cache=store)

    async def scenario() -> None:
        bars = await market.daily_bars(symbols, MON, 11)
        assert bars.last_date == MON and np.isfinite(bars.close[-1]).all()
        await market.flush_cache()
        assert store.bar_cache_last_dates("iex") == {"AAA": FRI, "BBB": FRI}
        fake_alpaca.state.clear_requests()
        await market.daily_bars(symbols, MON, 11)
        (req,) = bar_requests(fake_alpaca)
        assert request_day(req.query["start"]) == FRI and request_day(req.query["end"]) == MON
        await market.aclose()

    run(scenario)
    store.close()


def test_sip_feed_is_used_everywhere_and_kept_apart_in_the_cache(
    fake_alpaca: FakeAlpacaServer, tmp_path: Path
) -> None:
    symbols = ["AAA", "BBB"]
    days = sessions_until(FRI, 10)
    fake_alpaca.state.set_bars_frame(bar_frame(symbols, days))
    fake_alpaca.state.restrict_recent_sip = True  # a free plan: no SIP data newer than 15 min
    fake_alpaca.state.set_now(at_ny(2024, 5, 31, 16, 5))
    clock = SetClock(at_ny(2024, 5, 31, 16, 5))
    store = Store.open(tmp_path / "ws.db")
    sip = AlpacaMarket(make_session(fake_alpaca, clock, feed="sip"), bar_cache=store)
    iex = AlpacaMarket(make_session(fake_alpaca, clock, feed="iex"), bar_cache=store)

    async def scenario() -> None:
        # Friday's bar is 5 minutes old: asked with end clamped to now - 16 min, so no 403.
        bars = await sip.daily_bars(symbols, FRI, 10)
        assert np.isfinite(bars.close[:-1]).all()
        reqs = bar_requests(fake_alpaca)
        assert {r.query["feed"] for r in reqs} == {"sip"}
        assert all(r.status == 200 for r in reqs)
        assert datetime.fromisoformat(reqs[0].query["end"]) <= clock.t - timedelta(minutes=15)
        clock.t = fake_alpaca.state.now + timedelta(hours=4)
        fake_alpaca.state.set_now(clock.t)
        await sip.daily_bars(symbols, FRI, 10)
        await sip.flush_cache()
        assert set(store.bar_cache_last_dates("sip")) == {"AAA", "BBB"}
        assert store.bar_cache_last_dates("iex") == {}
        fake_alpaca.state.clear_requests()
        await iex.daily_bars(symbols, FRI, 10)  # the SIP cache is not IEX data
        assert {r.query["feed"] for r in bar_requests(fake_alpaca)} == {"iex"}
        await sip.aclose()
        await iex.aclose()

    run(scenario)
    store.close()


def test_snapshots_before_and_after_the_open(fake_alpaca: FakeAlpacaServer) -> None:
    days = sessions_until(MON, 5)
    frame = bar_frame(["AAA"], days)
    st = fake_alpaca.state
    st.set_bars_frame(frame)
    st.set_now(at_ny(2024, 6, 3, 8, 0))
    st.set_price("AAA", 51.25, t=at_ny(2024, 6, 3, 7, 59))
    st.set_quote("AAA", 51.2, 51.3)
    fri_close = float(frame[frame["date"] == np.datetime64(FRI)]["close"].iloc[0])
    mon_open = float(frame[frame["date"] == np.datetime64(MON)]["open"].iloc[0])
    clock = SetClock(at_ny(2024, 6, 3, 8, 0))
    market = AlpacaMarket(make_session(fake_alpaca, clock))

    async def scenario() -> None:
        snaps = await market.snapshots(["AAA", "NODATA"], clock.t)
        pre = snaps["AAA"]
        assert pre.prev_close == pytest.approx(fri_close)
        assert pre.session_open is None
        assert pre.latest_trade is not None and pre.latest_trade.price == 51.25
        assert pre.latest_trade.at == at_ny(2024, 6, 3, 7, 59)
        assert pre.latest_quote is not None and pre.latest_quote.mid == pytest.approx(51.25)
        assert snaps["NODATA"].latest_trade is None and snaps["NODATA"].prev_close is None
        (req,) = [r for r in st.requests if r.path == "/v2/stocks/snapshots"]
        assert req.query["feed"] == "iex" and req.query["symbols"] == "AAA,NODATA"

        st.set_now(at_ny(2024, 6, 3, 10, 0))
        clock.t = at_ny(2024, 6, 3, 10, 0)
        st.set_price("AAA", 52.0)
        snap = (await market.snapshots(["AAA"], clock.t))["AAA"]
        assert snap.prev_close == pytest.approx(fri_close)
        assert snap.session_open == pytest.approx(mon_open)
        trades = await market.latest_trades(["AAA", "NODATA"])
        assert set(trades) == {"AAA"} and trades["AAA"].price == 52.0
        await market.aclose()

    run(scenario)


def test_minute_bars_are_indexed_by_bar_end_and_only_complete(
    fake_alpaca: FakeAlpacaServer,
) -> None:
    st = fake_alpaca.state
    starts = pd.date_range(at_ny(2024, 6, 3, 9, 0), at_ny(2024, 6, 3, 10, 29), freq="min")
    minutes = pd.DataFrame(
        {
            "t": starts,
            "open": np.arange(len(starts)) + 100.0,
            "high": np.arange(len(starts)) + 100.5,
            "low": np.arange(len(starts)) + 99.5,
            "close": np.arange(len(starts)) + 100.25,
            "volume": 1000.0,
        }
    )
    st.set_bars("AAA", "1Min", minutes)
    st.set_now(at_ny(2024, 6, 3, 10, 0) + timedelta(seconds=30))
    clock = SetClock(st.now)
    market = AlpacaMarket(make_session(fake_alpaca, clock))

    async def scenario() -> None:
        df = await market.minute_bars("AAA", MON)
        # Regular hours only (no pre-market), bars ending by now (10:00:30): 09:31 .. 10:00.
        assert len(df) == 30
        assert df.index[0] == pd.Timestamp(at_ny(2024, 6, 3, 9, 31))
        assert df.index[-1] == pd.Timestamp(at_ny(2024, 6, 3, 10, 0))
        assert str(df.index.tz) == "America/New_York" and df.index.name == "at"
        assert list(df.columns) == ["open", "high", "low", "close", "volume"]
        assert df["open"].iloc[0] == 130.0  # the 09:30 bar (30th minute after 09:00)
        part = await market.minute_bars(
            "AAA", MON, start=at_ny(2024, 6, 3, 9, 45), end=at_ny(2024, 6, 3, 9, 50)
        )
        assert list(part.index) == [pd.Timestamp(at_ny(2024, 6, 3, 9, m)) for m in range(46, 51)]
        assert (await market.minute_bars("AAA", date(2024, 6, 1))).empty  # a Saturday
        await market.aclose()

    run(scenario)


def test_one_stream_follows_positions_and_iterators(fake_alpaca: FakeAlpacaServer) -> None:
    st = fake_alpaca.state
    st.data_connection_limit = 1  # Alpaca's rule: one market-data connection per account
    session = make_session(fake_alpaca, SetClock(at_ny(2024, 6, 3, 10)))
    rec = Recorder()
    session.on_event(rec)
    market = AlpacaMarket(session, stream_reconnect_backoff=FAST_RECONNECT)

    async def scenario() -> None:
        await market.set_subscriptions(["AAA", "BBB"])
        assert await asyncio.to_thread(st.wait_for_data_subscription, "BBB", "quotes")
        assert await asyncio.to_thread(st.wait_for_data_subscription, "BBB", "trades")
        got: list[Quote | TradeTick] = []

        async def consume() -> None:
            async for tick in market.stream(["CCC"]):
                got.append(tick)

        consumer = asyncio.create_task(consume())
        assert await asyncio.to_thread(st.wait_for_data_subscription, "CCC", "quotes")
        st.push_quote("AAA", 10.0, 10.1)
        st.push_trade("CCC", 20.5, 300)
        st.push_quote("CCC", 20.4, 20.6)
        assert await until(lambda: len(got) == 2 and len(rec.of(QuoteEvent)) == 1)
        assert isinstance(got[0], TradeTick) and got[0].price == 20.5 and got[0].size == 300
        assert isinstance(got[1], Quote) and got[1].bid == 20.4
        assert got[0].at.tzinfo is not None
        quote = rec.of(QuoteEvent)[0].quote
        assert quote.symbol == "AAA" and quote.ask == 10.1
        assert rec.of(TradeEvent) == []  # CCC is the iterator's, not a held position

        # A position closes, another opens: the same connection is re-subscribed.
        await market.set_subscriptions(["DDD"])

        def subscribed(want: set[str]) -> bool:
            subs = st.streams.data_subscriptions
            return subs["quotes"] == want and subs["trades"] == want

        assert await until(lambda: subscribed({"CCC", "DDD"}))
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        assert await until(lambda: subscribed({"DDD"}))
        assert st.streams.data_auths == 1 and st.streams.data_connections == 1
        assert market.data_stream.connects == 1
        await market.set_subscriptions([])  # nothing to follow: the stream stops
        assert await until(lambda: st.streams.data_connections == 0)
        await market.aclose()
        assert rec.states("data-stream")[0] == "connected"

    run(scenario)


def test_naive_and_aware_request_times_are_utc_on_the_wire(fake_alpaca: FakeAlpacaServer) -> None:
    # Guards the conversion of session dates to Alpaca's times: midnight New York, in UTC.
    days = sessions_until(FRI, 3)
    fake_alpaca.state.set_bars_frame(bar_frame(["AAA"], days))
    fake_alpaca.state.set_now(at_ny(2024, 5, 31, 20))
    market = AlpacaMarket(make_session(fake_alpaca, SetClock(at_ny(2024, 5, 31, 20))))

    async def scenario() -> None:
        bars = await market.daily_bars(["AAA"], FRI, 3)
        assert np.isfinite(bars.close).all()
        (req,) = bar_requests(fake_alpaca)
        start = datetime.fromisoformat(req.query["start"])
        assert start.astimezone(UTC) == at_ny(2024, 5, 29).astimezone(UTC)
        await market.aclose()

    run(scenario)


def test_a_recent_listing_is_not_asked_for_its_missing_history_every_night(
    fake_alpaca: FakeAlpacaServer, tmp_path: Path
) -> None:
    days = sessions_until(MON, 31)
    frame = bar_frame(["OLD", "NEW"], days)
    listed = days[20]  # NEW trades from its 21st session on
    frame = frame[(frame["symbol"] == "OLD") | (frame["date"] >= np.datetime64(listed))]
    fake_alpaca.state.set_now(at_ny(2024, 5, 31, 20))
    fake_alpaca.state.set_bars_frame(frame[frame["date"] <= np.datetime64(FRI)])
    clock = SetClock(at_ny(2024, 5, 31, 20))
    store = Store.open(tmp_path / "ws.db")
    market = AlpacaMarket(make_session(fake_alpaca, clock), bar_cache=store)

    async def scenario() -> None:
        bars = await market.daily_bars(["OLD", "NEW"], FRI, 30)
        assert np.isnan(bars.close[:20, 1]).all() and np.isfinite(bars.close[20:, 1]).all()
        fake_alpaca.state.set_bars_frame(frame)
        fake_alpaca.state.set_now(at_ny(2024, 6, 3, 20))
        clock.t = at_ny(2024, 6, 3, 20)
        fake_alpaca.state.clear_requests()
        await market.daily_bars(["OLD", "NEW"], MON, 30)
        (req,) = bar_requests(fake_alpaca)  # the new session only: no probe of NEW's past
        assert request_day(req.query["start"]) == FRI
        await market.aclose()

    run(scenario)
    store.close()


def test_bad_bars_from_alpaca_and_from_the_bar_cache_are_not_served(
    fake_alpaca: FakeAlpacaServer, tmp_path: Path
) -> None:
    """§14 on Alpaca: an invalid bar fetched (and cached) is NaN with its flag, on the first
    call and when the next one reads it back from the SQLite cache; a cache written before the
    validation existed is checked on the way out too."""
    symbols = ["AAA", "BBB", "CCC"]
    days = sessions_until(FRI, 30)
    frame = bar_frame(symbols, days)
    bad = (frame["symbol"] == "BBB") & (frame["date"] == np.datetime64(days[10]))
    frame.loc[bad, "volume"] = -100.0  # an invalid bar (negative volume)
    idle = (frame["symbol"] == "CCC") & (frame["date"] == np.datetime64(days[20]))
    frame.loc[idle, "volume"] = 0.0  # zero volume: served, named
    fake_alpaca.state.set_now(at_ny(2024, 5, 31, 20))
    fake_alpaca.state.set_bars_frame(frame)
    clock = SetClock(at_ny(2024, 5, 31, 20))
    store = Store.open(tmp_path / "ws.db")
    session = make_session(fake_alpaca, clock)

    def check(bars: object) -> None:
        b = bars  # type: ignore[assignment]
        assert b.flags is not None  # type: ignore[attr-defined]
        assert np.isnan(b.close[10, 1]) and b.flags[10, 1] == 1  # type: ignore[attr-defined]
        assert b.volume[20, 2] == 0 and b.flags[20, 2] == 16  # type: ignore[attr-defined]
        assert int((b.flags != 0).sum()) == 2  # type: ignore[attr-defined]

    async def scenario() -> None:
        market = AlpacaMarket(session, bar_cache=store)
        check(await market.daily_bars(symbols, FRI, 30))
        await market.aclose()
        restarted = AlpacaMarket(session, bar_cache=store)  # all from the cache now
        fake_alpaca.state.clear_requests()
        check(await restarted.daily_bars(symbols, FRI, 30))
        assert bar_requests(fake_alpaca) == []
        await restarted.aclose()

    run(scenario)
    store.close()


def test_duplicate_bars_in_a_response_agree_or_conflict() -> None:
    """Alpaca sends one bar per session; should two come for one, agreeing ones are one bar
    and disagreeing ones are a conflict (left out, named), never "the later one wins"."""
    from workstation.market.alpaca import _parse_daily_unlocked

    def bar(day: str, close: float) -> dict[str, object]:
        return {"t": f"{day}T04:00:00Z", "o": 10, "h": 11, "l": 9, "c": close, "v": 1000}

    raw = {
        "AAA": [bar("2024-05-29", 10.0), bar("2024-05-30", 10.5), bar("2024-05-30", 10.5)],
        "BBB": [bar("2024-05-30", 10.5), bar("2024-05-29", 10.0), bar("2024-05-30", 10.7)],
        "CCC": [
            {"t": "2024-05-30T04:00:00Z", "o": None, "h": None, "l": None, "c": None, "v": None}
        ],
    }
    series, conflicts = _parse_daily_unlocked(raw)
    assert series["AAA"][0].astype(str).tolist() == ["2024-05-29", "2024-05-30"]
    assert series["BBB"][0].astype(str).tolist() == ["2024-05-29"]
    assert {k: v.astype(str).tolist() for k, v in conflicts.items()} == {"BBB": ["2024-05-30"]}
    assert len(series["CCC"][0]) == 0  # a bar without any value is no bar


def test_a_conflicting_duplicate_from_alpaca_is_named_and_not_cached(
    fake_alpaca: FakeAlpacaServer, tmp_path: Path
) -> None:
    from tests.fake_alpaca.faults import CannedResponse

    days = sessions_until(FRI, 3)
    d = [x.isoformat() for x in days]

    def bar(day: str, close: float) -> dict[str, object]:
        return {"t": f"{day}T04:00:00Z", "o": 10, "h": 11, "l": 9, "c": close, "v": 1000}

    body = {
        "bars": {
            "AAA": [bar(d[0], 10.0), bar(d[1], 10.2), bar(d[2], 10.4)],
            "BBB": [bar(d[0], 10.0), bar(d[1], 10.2), bar(d[1], 10.9), bar(d[2], 10.4)],
        },
        "next_page_token": None,
    }
    fake_alpaca.state.set_now(at_ny(2024, 5, 31, 20))
    fake_alpaca.state.set_bars_frame(bar_frame(["AAA", "BBB"], days))
    fake_alpaca.state.faults.add_rule(
        1, CannedResponse(200, body, "application/json"), "/v2/stocks/bars"
    )
    store = Store.open(tmp_path / "ws.db")
    session = make_session(fake_alpaca, SetClock(at_ny(2024, 5, 31, 20)))

    async def scenario() -> None:
        market = AlpacaMarket(session, bar_cache=store)
        bars = await market.daily_bars(["AAA", "BBB"], FRI, 3)
        assert bars.close[:, 0].tolist() == [10.0, 10.2, 10.4]
        assert np.isnan(bars.close[1, 1]) and bars.flags[1, 1] == 2  # DUPLICATE_CONFLICT
        assert bars.close[2, 1] == 10.4
        await market.flush_cache()
        assert set(store.bar_cache_last_dates("iex")) == {"AAA"}  # BBB is asked again
        fake_alpaca.state.clear_requests()
        again = await market.daily_bars(["AAA", "BBB"], FRI, 3)
        [req] = bar_requests(fake_alpaca)
        assert req.query["symbols"] == "BBB"
        assert again.flags is not None and not again.flags.any()  # the fake's clean bars now
        await market.aclose()

    run(scenario)
    store.close()
