"""FakeAlpacaState: everything the fake Alpaca knows, and the switches a test drives it with.

The state is shared between the test's thread and the server's own event loop thread, so every
public method takes ``self.lock``. Stream messages it produces are handed to the server through
thread-safe sinks; a method returns before the message is on the wire.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from tests.fake_alpaca.broker import Broker
from tests.fake_alpaca.faults import (
    CannedResponse,
    Faults,
    OrderRejection,
    PartialPlan,
    failure_response,
    rate_limited_response,
)
from tests.fake_alpaca.marketdata import MarketData, QuoteTick, TradeTick
from tests.fake_alpaca.models import FakeAccount, FakeAsset, FakePosition
from tests.fake_alpaca.sessions import SessionTable, xnys
from tests.fake_alpaca.wire import NY, asset_id, ensure_aware, rfc3339_utc

# A Monday in June 2024 at 08:00 New York: before the open of a normal full session, so a test
# can place OPG orders and then call open_session().
DEFAULT_NOW = datetime(2024, 6, 3, 8, 0, tzinfo=NY)
DEFAULT_KEY_ID = "FAKEKEYID0000000000"
DEFAULT_SECRET_KEY = "fakesecretkey0000000000000000000000000000"


@dataclass
class RequestRecord:
    """One REST request as the fake saw it (``status`` is filled in once answered)."""

    method: str
    path: str
    query: dict[str, str]
    time: float  # time.time() when received
    body: Any = None
    status: int | None = None


@dataclass
class StreamSinks:
    """Set by the running server: thread-safe callables that put messages on the wire."""

    trade_update: Callable[[dict[str, Any]], None]
    market: Callable[[str, str, dict[str, Any]], None]
    drop_all: Callable[[], None]


@dataclass
class StreamStats:
    data_connections: int = 0  # open now
    data_auths: int = 0  # successful authentications, ever
    data_subscriptions: dict[str, set[str]] = field(default_factory=dict)  # union over conns
    trading_connections: int = 0
    trading_auths: int = 0
    trading_listeners: int = 0  # connections listening to trade_updates now
    drops: int = 0  # connections closed by drop_streams()


class FakeAlpacaState:
    def __init__(
        self,
        key_id: str = DEFAULT_KEY_ID,
        secret_key: str = DEFAULT_SECRET_KEY,
        now: datetime = DEFAULT_NOW,
        clock_running: bool = False,
    ) -> None:
        self.lock = threading.RLock()
        self.key_id = key_id
        self.secret_key = secret_key
        self.sessions: SessionTable = xnys()
        self._now_base = now if now.tzinfo is not None else now.replace(tzinfo=NY)
        self._mono_base = time.monotonic()
        self._running = clock_running
        self._checked_until = self._now_base
        self._pinned: datetime | None = None  # the time while a session boundary is processed
        self.assets: dict[str, FakeAsset] = {}
        self.auto_assets = True
        self.market = MarketData()
        self.broker = Broker(self)
        self.faults = Faults()
        self.requests: list[RequestRecord] = []
        self.trade_updates: list[dict[str, Any]] = []
        self.streams = StreamStats()
        self._sinks: StreamSinks | None = None
        # Settings (not faults): how the fake behaves like a given Alpaca plan.
        self.bars_page_cap = 10_000  # Alpaca's maximum page size for /v2/stocks/bars
        self.restrict_recent_sip = False  # True: free plan, SIP data newer than 15 min is 403
        self.trading_stream_binary = True  # Alpaca sends trade_updates as binary frames
        self.data_connection_limit: int | None = None  # 1 = Alpaca's one stream per account
        self.data_auth_timeout = 10.0

    # ==== clock =================================================================================
    @property
    def now(self) -> datetime:
        """The fake's current time, tz-aware America/New_York."""
        if self._pinned is not None:
            return self._pinned
        base = self._now_base
        if self._running:
            base = base + timedelta(seconds=time.monotonic() - self._mono_base)
        return base.astimezone(NY)

    def set_now(self, when: datetime, *, running: bool | None = None) -> None:
        """Move the clock (naive = New York time). Moving forward across a session open routes
        held orders and fills OPG orders; across a close, expires DAY orders."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=NY)
        with self.lock:
            self.sync()
            self._process_boundaries(self.now, when)
            self._now_base = when
            self._mono_base = time.monotonic()
            self._checked_until = when
            if running is not None:
                self._running = running

    def advance(self, delta: timedelta | float) -> datetime:
        """Move the clock forward by ``delta`` (seconds or a timedelta); returns the new now."""
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=float(delta))
        with self.lock:
            self.set_now(self.now + delta)
            return self.now

    def sync(self) -> None:
        """Process session boundaries the running clock has passed since the last call."""
        with self.lock:
            if not self._running or self._pinned is not None:
                return
            now = self.now
            if now > self._checked_until:
                self._process_boundaries(self._checked_until, now)
                self._checked_until = now

    def _process_boundaries(self, old: datetime, new: datetime) -> None:
        for t, kind in self.sessions.boundaries(old.astimezone(UTC), new.astimezone(UTC)):
            self._pinned = t.astimezone(NY)
            try:
                if kind == "open":
                    self.broker.on_open()
                else:
                    self.broker.on_close()
            finally:
                self._pinned = None

    def market_open(self) -> bool:
        return self.sessions.is_open(self.now.astimezone(UTC))

    def session_today(self) -> bool:
        return self.sessions.session_on(self.now.date()) is not None

    def clock_json(self) -> dict[str, Any]:
        now_utc = self.now.astimezone(UTC)
        return {
            "timestamp": self.now.isoformat(),
            "is_open": self.sessions.is_open(now_utc),
            "next_open": self.sessions.next_open(now_utc).astimezone(NY).isoformat(),
            "next_close": self.sessions.next_close(now_utc).astimezone(NY).isoformat(),
        }

    def open_session(self, prices: Mapping[str, float] | None = None) -> datetime:
        """Jump to the next session open with these opening prices (last trades at the open):
        held orders are routed ("new"), OPG orders fill at the open price, market orders
        fill, stops that the open gapped through fill at the open price. If the market is
        already open the prices are simply applied. Returns the open time (New York)."""
        with self.lock:
            self.sync()
            if self.market_open():
                for sym, p in (prices or {}).items():
                    self.set_price(sym, p)
                return self.now
            at = self.sessions.next_open(self.now.astimezone(UTC)).astimezone(NY)
            for sym, p in (prices or {}).items():
                self._record_trade(sym, float(p), 100, at)
            self.set_now(at)
            return at

    def close_session(self, prices: Mapping[str, float] | None = None) -> datetime:
        """Apply closing prices (matching as usual), then jump to the session's close: CLS
        orders fill, DAY/OPG leftovers expire. Raises if the market is not open."""
        with self.lock:
            self.sync()
            session = self.sessions.current(self.now.astimezone(UTC))
            if session is None:
                raise RuntimeError(f"close_session: the market is not open at {self.now}")
            for sym, p in (prices or {}).items():
                self.set_price(sym, p)
            at = session.close.astimezone(NY)
            self.set_now(at)
            return at

    # ==== assets ================================================================================
    def add_asset(self, symbol: str, **fields: Any) -> FakeAsset:
        """Create or update an asset: name, exchange, status, tradable, marginable, shortable,
        easy_to_borrow, fractionable, attributes."""
        symbol = symbol.upper()
        with self.lock:
            a = self.assets.get(symbol)
            if a is None:
                a = FakeAsset(symbol=symbol, id=asset_id(symbol))
                self.assets[symbol] = a
            for k, v in fields.items():
                if not hasattr(a, k) or k in ("symbol", "id"):
                    raise ValueError(f"unknown asset field {k!r}")
                setattr(a, k, v)
            return a

    def _ensure_asset(self, symbol: str) -> None:
        if self.auto_assets and symbol.upper() not in self.assets:
            self.add_asset(symbol)

    def asset(self, symbol: str) -> FakeAsset | None:
        return self.assets.get(symbol.upper())

    # ==== market data ===========================================================================
    def set_bars(
        self,
        symbol: str,
        timeframe: str,
        bars: Iterable[Mapping[str, Any]] | pd.DataFrame,
        *,
        feed: str | None = None,
        adjustment: str | None = None,
    ) -> int:
        """Load one symbol's bars for ``timeframe`` ("1Day", "1Min", ...), replacing what was
        there. ``bars``: dicts or a DataFrame with t/timestamp/date (or a datetime index) and
        open/high/low/close/volume[/trade_count/vwap] (or Alpaca's o h l c v n vw). Dates and
        naive times are New York time; daily bars are stamped at midnight New York as Alpaca
        does. With ``feed``/``adjustment`` the series is served only for that feed/adjustment
        (when a better match is absent the generic series is used). Returns the bar count."""
        with self.lock:
            self._ensure_asset(symbol)
            return self.market.set_bars(symbol.upper(), timeframe, bars, feed, adjustment)

    def set_bars_frame(
        self,
        frame: pd.DataFrame,
        timeframe: str = "1Day",
        *,
        symbol_column: str = "symbol",
        feed: str | None = None,
        adjustment: str | None = None,
    ) -> int:
        """Load many symbols from one long DataFrame (one row per symbol and bar, columns as
        for ``set_bars`` plus ``symbol_column``), in one vectorized pass. Returns the bar count."""
        with self.lock:
            counts = self.market.set_bars_frame(frame, timeframe, symbol_column, feed, adjustment)
            for sym in counts:
                self._ensure_asset(sym)
            return sum(counts.values())

    def _record_trade(self, symbol: str, price: float, size: float, t: datetime) -> TradeTick:
        symbol = symbol.upper()
        self._ensure_asset(symbol)
        tick = TradeTick(float(price), float(size), t, self.market.next_trade_id())
        self.market.trades[symbol] = tick
        return tick

    def set_price(
        self, symbol: str, price: float, size: float = 100, t: datetime | None = None
    ) -> None:
        """Set the last trade (no stream message). While the session is open this matches the
        symbol's open orders: market orders fill, limits when marketable, stops when crossed."""
        with self.lock:
            self.sync()
            self._record_trade(symbol, price, size, ensure_aware(t) if t else self.now)
            if self.market_open():
                self.broker.on_price(symbol.upper())

    def set_prices(self, prices: Mapping[str, float]) -> None:
        for sym, p in prices.items():
            self.set_price(sym, p)

    def previous_close(self, symbol: str) -> float | None:
        """The close of the last daily bar before today (New York), for ``lastday_price``."""
        series = self.market.series(symbol.upper(), "1Day")
        if series is None:
            return None
        today = datetime.combine(self.now.date(), datetime.min.time(), tzinfo=NY)
        rows = series.last_before(today.astimezone(UTC) - timedelta(seconds=1))
        return float(rows[-1]["c"]) if rows else None

    def price(self, symbol: str) -> float | None:
        """The last trade price the matching engine uses (explicit, else the last bar close)."""
        tick = self.market.last_trade(symbol.upper(), self.now.astimezone(UTC))
        return tick.price if tick else None

    def push_trade(
        self, symbol: str, price: float, size: float = 100, t: datetime | None = None
    ) -> None:
        """A trade on the tape: ``set_price`` plus a ``T: t`` message to subscribers."""
        with self.lock:
            self.set_price(symbol, price, size, t)
            tick = self.market.trades[symbol.upper()]
            msg = {
                "T": "t",
                "i": tick.id,
                "S": symbol.upper(),
                "x": "V",
                "p": tick.price,
                "s": tick.size if not float(tick.size).is_integer() else int(tick.size),
                "c": ["@"],
                "z": "C",
                "t": tick.t,
            }
            self._emit_market("trades", symbol.upper(), msg)

    def set_quote(
        self,
        symbol: str,
        bp: float,
        ap: float,
        bs: float = 100,
        as_: float = 100,
        t: datetime | None = None,
    ) -> QuoteTick:
        """Set the latest quote (served by snapshots and latest-quote endpoints), no message."""
        with self.lock:
            self._ensure_asset(symbol)
            q = QuoteTick(float(bp), float(ap), float(bs), float(as_), ensure_aware(t or self.now))
            self.market.quotes[symbol.upper()] = q
            return q

    def push_quote(
        self,
        symbol: str,
        bp: float,
        ap: float,
        bs: float = 100,
        as_: float = 100,
        t: datetime | None = None,
    ) -> None:
        """``set_quote`` plus a ``T: q`` message to subscribers of the symbol's quotes."""
        with self.lock:
            q = self.set_quote(symbol, bp, ap, bs, as_, t)
            msg = {
                "T": "q",
                "S": symbol.upper(),
                "bx": "V",
                "bp": q.bid,
                "bs": int(q.bid_size) if float(q.bid_size).is_integer() else q.bid_size,
                "ax": "V",
                "ap": q.ask,
                "as": int(q.ask_size) if float(q.ask_size).is_integer() else q.ask_size,
                "c": ["R"],
                "z": "C",
                "t": q.t,
            }
            self._emit_market("quotes", symbol.upper(), msg)

    def push_bar(
        self,
        symbol: str,
        o: float,
        h: float,
        l: float,  # noqa: E741 - Alpaca's own field name
        c: float,
        v: float,
        t: datetime | None = None,
        *,
        n: int | None = None,
        vw: float | None = None,
        kind: str = "b",
    ) -> None:
        """A streamed bar: ``kind`` "b" (minute bar, also appended to the 1Min history), "u"
        (updated bar) or "d" (daily bar). ``t`` is the bar's start (default: now, floored to
        the minute)."""
        channel = {"b": "bars", "u": "updatedBars", "d": "dailyBars"}[kind]
        with self.lock:
            self._ensure_asset(symbol)
            start = ensure_aware(t) if t else self.now.replace(second=0, microsecond=0)
            vol: float | int = int(v) if float(v).is_integer() else float(v)
            row = {
                "t": rfc3339_utc(start),
                "o": float(o),
                "h": float(h),
                "l": float(l),
                "c": float(c),
                "v": vol,
                "n": n,
                "vw": vw,
            }
            if kind == "b":
                self.market.append_bar(symbol.upper(), "1Min", start.astimezone(UTC), row)
            msg = {"T": kind, "S": symbol.upper(), "o": o, "h": h, "l": l, "c": c, "v": vol}
            msg |= {"t": start, "n": n if n is not None else 0, "vw": vw if vw is not None else c}
            self._emit_market(channel, symbol.upper(), msg)

    # ==== account, positions, orders ===========================================================
    @property
    def account(self) -> FakeAccount:
        return self.broker.account

    def set_account(self, **fields: Any) -> FakeAccount:
        """Change account fields: cash, status, multiplier, buying_power (None = computed),
        last_equity, pattern_day_trader, trading_blocked, shorting_enabled, ..."""
        with self.lock:
            for k, v in fields.items():
                if not hasattr(self.broker.account, k):
                    raise ValueError(f"unknown account field {k!r}")
                setattr(self.broker.account, k, v)
            return self.broker.account

    def set_position(
        self, symbol: str, qty: float, avg_entry_price: float, lastday_price: float | None = None
    ) -> None:
        """Seed a position directly (negative qty = short); cash is not touched. qty 0 removes."""
        with self.lock:
            symbol = symbol.upper()
            self._ensure_asset(symbol)
            if qty == 0:
                self.broker.positions.pop(symbol, None)
                return
            self.broker.positions[symbol] = FakePosition(
                symbol, asset_id(symbol), float(qty), float(avg_entry_price), lastday_price
            )

    def positions(self) -> dict[str, float]:
        """Symbol -> signed quantity."""
        with self.lock:
            return {s: p.qty for s, p in self.broker.positions.items()}

    def orders(self, status: str = "all") -> list[dict[str, Any]]:
        """Orders as Alpaca JSON, oldest first; status "open", "closed" or "all"."""
        with self.lock:
            found = self.broker.list_orders(status=status, limit=10**9, ascending=True)
            return [o.json() for o in found]

    def order_by_client_id(self, client_order_id: str) -> dict[str, Any] | None:
        with self.lock:
            o = self.broker.by_client_id.get(client_order_id)
            return o.json() if o else None

    def equity(self) -> float:
        with self.lock:
            return self.broker.equity()

    # ==== faults ================================================================================
    def rate_limit_burst(self, n: int, path_prefix: str | None = None) -> None:
        """The next ``n`` REST requests (under ``path_prefix`` if given) get 429."""
        with self.lock:
            self.faults.add_rule(n, rate_limited_response(), path_prefix)

    def fail_next(
        self,
        n: int,
        status: int = 500,
        path_prefix: str | None = None,
        body: dict[str, Any] | str | None = None,
    ) -> None:
        """The next ``n`` REST requests get ``status``: 500 with Alpaca's JSON error body,
        502/503/504 with the load balancer's HTML page (``body`` overrides)."""
        with self.lock:
            self.faults.add_rule(n, failure_response(status, body), path_prefix)

    def slow(self, seconds: float, path_prefix: str | None = None) -> None:
        """Delay every REST response (under ``path_prefix``) by ``seconds``; 0 turns it off."""
        with self.lock:
            self.faults.slow_seconds = float(seconds)
            self.faults.slow_prefix = path_prefix

    def drop_streams(self) -> None:
        """Abort every websocket connection (no close frame), as a network failure would."""
        with self.lock:
            sinks = self._sinks
        if sinks is not None:
            sinks.drop_all()

    def silence_streams(self, on: bool = True) -> None:
        """Keep connections open but send no market data and no trade updates (they are lost,
        as in a stalled feed). Control replies (auth, subscription acks) still go out."""
        with self.lock:
            self.faults.silenced = on

    def connection_limit(self, on: bool = True) -> None:
        """Data-stream auth answers [{"T":"error","code":406,"msg":"connection limit exceeded"}]."""
        with self.lock:
            self.faults.connection_limited = on

    def forbid(self, on: bool = True) -> None:
        """Correct keys are refused with 403 (REST) / an auth error (streams), as for keys of
        the wrong environment or a disabled account."""
        with self.lock:
            self.faults.forbidden = on

    def reject_next_order(
        self,
        message: str = "insufficient buying power",
        *,
        status: int = 403,
        code: int = 40310000,
        via: str = "http",
    ) -> None:
        """The next order submission is rejected with Alpaca's body ``{"code", "message"}``:
        ``via="http"`` fails the POST with ``status``; ``via="stream"`` accepts the order and
        then rejects it (status "rejected" and a "rejected" trade update)."""
        if via not in ("http", "stream"):
            raise ValueError('via must be "http" or "stream"')
        with self.lock:
            self.faults.rejections.append(OrderRejection(message, status, code, via))

    def partial_fills(
        self, symbol: str | None = None, pieces: float | list[float] = 0.5, stepwise: bool = False
    ) -> None:
        """The next fill (of ``symbol``, or any symbol) comes in pieces: a fraction for the first
        piece (0.5) or explicit sizes ([3, 3, 4]); partial_fill events, then fill. With
        ``stepwise`` only the first piece fills now and each later price update of the symbol
        (set_price/push_trade while open) fills one more piece."""
        if isinstance(pieces, float | int) and not 0 < float(pieces) < 1:
            raise ValueError("a fraction must be between 0 and 1 (exclusive)")
        with self.lock:
            self.faults.partial_plans.append(
                PartialPlan(symbol.upper() if symbol else None, pieces, stepwise)
            )

    def take_partial_plan(self, symbol: str) -> tuple[list[float] | float, bool] | None:
        return self.faults.take_partial_plan(symbol)

    def submit_timeout_once(self, delay: float = 3.0) -> None:
        """The next POST /v2/orders is accepted and recorded (and processed: it may fill) but
        its HTTP response is held back ``delay`` seconds, so a client with a shorter timeout
        gives up on an order that exists server side."""
        with self.lock:
            self.faults.submit_delays.append(float(delay))

    def rate_limit_per_minute(self, n: int | None = 200) -> None:
        """Enforce Alpaca's request budget (a sliding minute); None turns it off."""
        with self.lock:
            self.faults.per_minute = n
            self.faults._window.clear()

    def clear_faults(self) -> None:
        with self.lock:
            self.faults = Faults()

    # ==== request log and stream status =========================================================
    def request_count(
        self, method: str | None = None, path: str | None = None, prefix: str | None = None
    ) -> int:
        with self.lock:
            return sum(
                1
                for r in self.requests
                if (method is None or r.method == method.upper())
                and (path is None or r.path == path)
                and (prefix is None or r.path.startswith(prefix))
            )

    def clear_requests(self) -> None:
        with self.lock:
            self.requests.clear()

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Poll ``predicate`` (under the lock) until true or ``timeout``; returns the result.
        Blocking: from a coroutine call it through ``asyncio.to_thread``."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if predicate():
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def wait_for_data_subscription(
        self, symbol: str, channel: str = "quotes", timeout: float = 5.0
    ) -> bool:
        """True once an authenticated data-stream connection subscribes to ``symbol`` on
        ``channel`` ("trades", "quotes", "bars", ...)."""
        return self.wait_until(
            lambda: (
                symbol.upper() in self.streams.data_subscriptions.get(channel, set())
                or "*" in self.streams.data_subscriptions.get(channel, set())
            ),
            timeout,
        )

    def wait_for_trading_listener(self, timeout: float = 5.0) -> bool:
        """True once a trading-stream connection is authorized and listens to trade_updates."""
        return self.wait_until(lambda: self.streams.trading_listeners > 0, timeout)

    # ==== plumbing for the server ===============================================================
    def attach(self, sinks: StreamSinks | None) -> None:
        with self.lock:
            self._sinks = sinks

    def emit_trade_update(self, data: dict[str, Any]) -> None:
        self.trade_updates.append(data)
        if self._sinks is not None and not self.faults.silenced:
            self._sinks.trade_update(data)

    def _emit_market(self, channel: str, symbol: str, msg: dict[str, Any]) -> None:
        if self._sinks is not None and not self.faults.silenced:
            self._sinks.market(channel, symbol, msg)

    def check_keys(self, key: str | None, secret: str | None) -> int:
        """200 when the keys are right and allowed, 401 when wrong, 403 when forbidden."""
        if key != self.key_id or secret != self.secret_key:
            return 401
        return 403 if self.faults.forbidden else 200

    def canned_response(self, path: str) -> CannedResponse | None:
        with self.lock:
            if self.faults.over_rate_limit():
                return rate_limited_response()
            return self.faults.take_canned(path)
