"""alpaca-py's two websockets run as tasks inside the app's (qasync) loop, never blocking it.

The rules (see ``shared/notes/alpaca-py.md``), which both managers follow:

* ``stream.run()`` calls ``asyncio.run()``: never used. A stream is started with
  ``asyncio.create_task(stream._run_forever())`` *after* its first subscription (before it,
  the data stream busy-spins a core waiting for one);
* ``subscribe_*`` / ``unsubscribe_*`` on a running stream block on a future of the loop they
  run in: called on the loop thread they deadlock, so they go through ``asyncio.to_thread``;
* stopping is ``await stream.stop_ws(); await stream.close()`` (``stop_ws`` alone waits for a
  5 s receive timeout), then the task is awaited (cancelled if it does not end in time);
* handlers run inline on the loop: ours stamp the time and queue the message, nothing more.

Alpaca allows ONE market-data connection per account, so :class:`DataStreamManager` keeps one
stream for every symbol the app follows and re-subscribes it as the set changes.

The SDK reconnects on its own (jittered backoff, subscriptions re-sent) but says nothing about
it, retries bad keys forever and cannot tell a quiet market from a dead feed. Thin subclasses
of the SDK classes (:class:`_HookedDataStream`, :class:`_HookedTradingStream`) report
connects, losses and authentication answers, so that:

* the connection state (connected / degraded / down) is published per stream;
* refused keys stop the stream at once with one clear message (no retry storm);
* "connection limit exceeded" says what it means and keeps retrying with backoff;
* a watchdog notices a data stream that stays silent during market hours and forces a
  reconnect (the SDK's own ``data_timeout`` cannot know the market's hours).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from alpaca.data.enums import DataFeed
from alpaca.data.live import StockDataStream
from alpaca.trading.stream import TradingStream

from workstation.alpaca.rest import (
    COMPONENT_DATA_STREAM,
    COMPONENT_TRADING_STREAM,
    CONNECTED,
    DEGRADED,
    DOWN,
)
from workstation.core.calendar import MarketState, get_calendar
from workstation.market.base import MarketDataError

log = logging.getLogger(__name__)

# Consecutive failed connects after which a stream is shown "down" rather than "degraded".
DOWN_AFTER_FAILURES = 3


class _Hooks:
    """What a hooked SDK stream reports to its manager (all called on the loop thread)."""

    def connecting(self) -> None: ...
    def connected(self) -> None: ...
    def connect_failed(self, exc: BaseException) -> None: ...
    def lost(self, exc: BaseException | None) -> None: ...
    def auth_refused(self, message: str) -> bool:
        """Return True when the refusal is final (the stream then stops)."""
        return True


def _stop_now(stream: StockDataStream | TradingStream) -> None:
    # What stop_ws() does, synchronously: the reconnect wait returns at once and the SDK's
    # _run_forever loop ends at its next turn instead of retrying refused keys forever.
    stream._should_run = False
    if stream._stop_stream_event is not None:
        stream._stop_stream_event.set()


class _StreamHooks:
    """What both hooked streams report: connects, failed connects and refused keys."""

    _hooks: _Hooks

    def __init__(self, *args: Any, hooks: _Hooks, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hooks = hooks

    async def _auth(self) -> None:
        try:
            await super()._auth()  # type: ignore[misc]
        except ValueError as exc:
            if self._hooks.auth_refused(str(exc)):
                _stop_now(self)  # type: ignore[arg-type]
            raise

    async def _start_ws(self) -> None:
        self._hooks.connecting()
        try:
            await super()._start_ws()  # type: ignore[misc]
        except BaseException as exc:
            self._hooks.connect_failed(exc)
            raise
        self._on_started()

    def _on_started(self) -> None:
        self._hooks.connected()


class _HookedDataStream(_StreamHooks, StockDataStream):
    """alpaca-py's StockDataStream, reporting connects, losses and auth answers."""

    async def _consume(self) -> bool:
        try:
            stale = await super()._consume()
        except BaseException as exc:
            self._hooks.lost(exc)
            raise
        if stale:
            self._hooks.lost(None)
        return stale


class _HookedTradingStream(_StreamHooks, TradingStream):
    """alpaca-py's TradingStream, reporting connects, losses and auth answers."""

    def _on_started(self) -> None:
        # Not "connected" yet: updates only flow once Alpaca acknowledges the listen request.
        pass

    async def _dispatch(self, msg: dict[str, Any]) -> None:
        if msg.get("stream") == "listening":
            streams = (msg.get("data") or {}).get("streams") or []
            if "trade_updates" in streams:
                self._hooks.connected()
            return
        await super()._dispatch(msg)

    async def _consume(self) -> None:
        try:
            await super()._consume()
        except BaseException as exc:
            self._hooks.lost(exc)
            raise


async def _stop_sdk_stream(
    stream: StockDataStream | TradingStream, task: asyncio.Task[None] | None, timeout: float
) -> None:
    """Stop a stream started with create_task(_run_forever()) without blocking the loop."""
    try:
        await stream.stop_ws()
        await asyncio.wait_for(stream.close(), timeout)
    except Exception as exc:  # a half-dead socket may fail to close: the task still ends
        log.debug("closing %s: %s", type(stream).__name__, exc)
    if task is None:
        return
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout)
    except TimeoutError:
        log.warning("%s did not stop within %.1f s; cancelled", type(stream).__name__, timeout)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    except Exception as exc:
        log.debug("%s ended with %r", type(stream).__name__, exc)


class _StreamBase(_Hooks):
    component = ""

    def __init__(
        self,
        session: Any,
        *,
        reconnect_backoff: tuple[float, float] = (1.0, 30.0),
        stop_timeout_s: float = 5.0,
        on_fatal: Callable[[Exception], None] | None = None,
    ) -> None:
        self.session = session
        self.reconnect_backoff = reconnect_backoff
        self.stop_timeout_s = stop_timeout_s
        self._on_fatal = on_fatal
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._failures = 0
        self.connected_now = False
        self.connect_attempts = 0
        self.connects = 0
        self.losses = 0
        self.fatal: Exception | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _tune(self, stream: StockDataStream | TradingStream) -> None:
        stream._reconnect_min_backoff, stream._reconnect_max_backoff = self.reconnect_backoff

    # -- hooks ------------------------------------------------------------------------------
    def connecting(self) -> None:
        self.connect_attempts += 1

    def connected(self) -> None:
        self._failures = 0
        self.connects += 1
        self.connected_now = True
        self.session.monitor.set(self.component, CONNECTED)

    def connect_failed(self, exc: BaseException) -> None:
        self.connected_now = False
        if self._stopping or self.fatal is not None or isinstance(exc, asyncio.CancelledError):
            return
        self._failures += 1
        if self.session.monitor.state(self.component) == DOWN and "limit" in (
            self.session.monitor.detail(self.component)
        ):
            return  # keep the clearer "connection limit exceeded" message while it lasts
        state = DOWN if self._failures >= DOWN_AFTER_FAILURES else DEGRADED
        self.session.monitor.set(
            self.component,
            state,
            f"cannot connect ({type(exc).__name__}: {str(exc)[:120]}); retrying",
        )

    def lost(self, exc: BaseException | None) -> None:
        self.connected_now = False
        if self._stopping or isinstance(exc, asyncio.CancelledError):
            return
        self.losses += 1
        why = f"{type(exc).__name__}" if exc is not None else "stale"
        self.session.monitor.set(self.component, DEGRADED, f"connection lost ({why}); reconnecting")

    def _fatal(self, error: Exception) -> None:
        self.fatal = error
        self.connected_now = False
        self.session.monitor.set(self.component, DOWN, str(error))
        if self._on_fatal is not None:
            try:
                self._on_fatal(error)
            except Exception:
                log.exception("fatal-error handler of %s failed", self.component)


class DataStreamManager(_StreamBase):
    """The account's one market-data stream (quotes and trades) for a changing symbol set.

    ``on_message(msg)`` gets each raw message (a dict with ``T``, ``S``, ``t`` as a msgpack
    Timestamp, ...) on the loop thread; it must only queue it.

    Watchdog: every ``watchdog_every_s`` while connected with symbols and ``market_open()``
    is true, if no message came for ``silence_s`` seconds the connection is failed on purpose
    and the SDK reconnects (and re-subscribes).
    """

    component = COMPONENT_DATA_STREAM
    channels = ("quotes", "trades")

    def __init__(
        self,
        session: Any,
        on_message: Callable[[dict[str, Any]], None],
        *,
        silence_s: float = 30.0,
        watchdog_every_s: float = 5.0,
        market_open: Callable[[], bool] | None = None,
        reconnect_backoff: tuple[float, float] = (1.0, 30.0),
        stop_timeout_s: float = 5.0,
        subscribe_timeout_s: float = 10.0,
        on_fatal: Callable[[Exception], None] | None = None,
    ) -> None:
        super().__init__(
            session,
            reconnect_backoff=reconnect_backoff,
            stop_timeout_s=stop_timeout_s,
            on_fatal=on_fatal,
        )
        self._on_message = on_message
        self.silence_s = silence_s
        self.watchdog_every_s = watchdog_every_s
        self.subscribe_timeout_s = subscribe_timeout_s
        self._market_open = market_open or self._default_market_open
        self._stream: _HookedDataStream | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._symbols: frozenset[str] = frozenset()
        self._lock = asyncio.Lock()
        self._last_data = 0.0
        self.messages = 0
        self.forced_reconnects = 0

    @property
    def symbols(self) -> frozenset[str]:
        return self._symbols

    def _default_market_open(self) -> bool:
        return get_calendar().market_state(self.session.clock.now()) is MarketState.OPEN

    # -- the handler: tiny ----------------------------------------------------------------------
    async def _handle(self, msg: dict[str, Any]) -> None:
        self._last_data = asyncio.get_running_loop().time()
        self.messages += 1
        self._on_message(msg)

    # -- hooks ------------------------------------------------------------------------------
    def connected(self) -> None:
        self._last_data = asyncio.get_running_loop().time()  # a grace period after each connect
        super().connected()

    def auth_refused(self, message: str) -> bool:
        low = message.lower()
        if "connection limit" in low:
            self.session.monitor.set(
                self.component,
                DOWN,
                "connection limit exceeded: Alpaca allows one market-data stream per account "
                "and another program (or a connection not yet closed) holds it; close it. "
                "Retrying with backoff",
            )
            return False
        if "insufficient subscription" in low:
            self._fatal(
                MarketDataError(
                    f"Alpaca refused the {self.session.feed!r} market-data stream "
                    f"('{message}'): the account's data subscription does not include this "
                    "feed, or the keys are not allowed to use it; use feed 'iex' in app.yaml"
                )
            )
            return True
        self._fatal(self.session.auth.trip(f"{self.session.auth_message_for_stream(message)}"))
        return True

    # -- control ----------------------------------------------------------------------------
    def _make_stream(self) -> _HookedDataStream:
        s = self.session
        stream = _HookedDataStream(
            s.credentials.key_id,
            s.credentials.secret_key,
            raw_data=True,
            feed=DataFeed(s.feed),
            url_override=s.endpoints.stream_url,
            hooks=self,
        )
        self._tune(stream)
        return stream

    async def set_symbols(self, symbols: Iterable[str]) -> None:
        """Follow exactly ``symbols`` (quotes and trades); an empty set stops the stream."""
        new = frozenset(s.strip().upper() for s in symbols if s and s.strip())
        async with self._lock:
            if new == self._symbols and (self.running or not new):
                return
            if not new:
                self._symbols = new
                await self._stop_stream()
                return
            self.session.auth.check()
            if self.fatal is not None:
                raise self.fatal
            old = self._symbols
            self._symbols = new
            if self._stream is None or not self.running:
                await self._start_stream(new)
                return
            added, removed = sorted(new - old), sorted(old - new)
            if added:
                await self._resubscribe(added)
            if removed:
                await self._unsubscribe(removed)

    async def _start_stream(self, symbols: frozenset[str]) -> None:
        if self._stream is not None:
            await self._stop_stream()
        stream = self._make_stream()
        # Not running yet: these only fill the SDK's handler tables (no thread needed).
        stream.subscribe_quotes(self._handle, *sorted(symbols))
        stream.subscribe_trades(self._handle, *sorted(symbols))
        self._stopping = False
        self._stream = stream
        self._task = asyncio.create_task(stream._run_forever(), name="alpaca-data-stream")
        # Let _run_forever pass its start-up (it clears pending stop requests there), so a
        # stop issued from now on is honoured.
        await asyncio.sleep(0)
        self._watchdog = asyncio.create_task(self._watch(), name="alpaca-data-watchdog")

    async def _resubscribe(self, added: list[str]) -> None:
        stream = self._stream
        assert stream is not None
        for sub in (stream.subscribe_quotes, stream.subscribe_trades):
            try:
                # The SDK updates its tables first, then sends: if the send fails (a reconnect
                # in progress), the reconnect subscribes the whole table anyway.
                await asyncio.wait_for(
                    asyncio.to_thread(sub, self._handle, *added), self.subscribe_timeout_s
                )
            except Exception as exc:
                log.info("subscribe %s deferred to the next reconnect: %r", added, exc)

    async def _unsubscribe(self, removed: list[str]) -> None:
        stream = self._stream
        assert stream is not None
        for channel, unsub in (
            ("quotes", stream.unsubscribe_quotes),
            ("trades", stream.unsubscribe_trades),
        ):
            try:
                await asyncio.wait_for(asyncio.to_thread(unsub, *removed), self.subscribe_timeout_s)
            except Exception as exc:
                # The SDK sends before it forgets; forget now so a reconnect does not re-add.
                table = stream._handlers[channel]
                for sym in removed:
                    table.pop(sym, None)
                log.info("unsubscribe %s: %r (dropped locally)", removed, exc)

    async def _stop_stream(self) -> None:
        stream, task, watchdog = self._stream, self._task, self._watchdog
        self._stream = self._task = self._watchdog = None
        self._stopping = True
        if watchdog is not None:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
        if stream is not None:
            await _stop_sdk_stream(stream, task, self.stop_timeout_s)
        self.connected_now = False

    async def stop(self) -> None:
        """Stop the stream (idempotent)."""
        async with self._lock:
            self._symbols = frozenset()
            await self._stop_stream()

    # -- watchdog -------------------------------------------------------------------------------
    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.watchdog_every_s)
            stream = self._stream
            if stream is None or not self.connected_now or not self._symbols:
                continue
            try:
                market_open = self._market_open()
            except Exception:
                log.exception("market-hours check failed; watchdog skips this turn")
                continue
            if not market_open:
                continue
            silent = loop.time() - self._last_data
            if silent < self.silence_s:
                continue
            self.forced_reconnects += 1
            self.session.monitor.set(
                self.component,
                DEGRADED,
                f"no market data for {silent:.0f} s during market hours; reconnecting",
            )
            self._last_data = loop.time()
            ws = stream._ws
            if ws is not None:
                # Fail the connection without a closing handshake (a mute peer would not answer
                # one, and websockets would wait close_timeout = 10 s for it): the SDK's
                # receive raises at once, it reconnects and re-subscribes.
                ws.fail_connection()
                if ws.transport is not None:
                    ws.transport.abort()


class TradingStreamManager(_StreamBase):
    """The trade-updates stream. ``on_update(msg)`` gets each raw message (a dict with
    ``stream`` and ``data``) on the loop thread and must only queue it; ``on_connected()``
    runs after every (re)connect, once Alpaca has acknowledged the listen request (from then
    on no update is missed; the broker reconciles what came before)."""

    component = COMPONENT_TRADING_STREAM

    def __init__(
        self,
        session: Any,
        on_update: Callable[[dict[str, Any]], None],
        *,
        on_connected: Callable[[], None] | None = None,
        reconnect_backoff: tuple[float, float] = (1.0, 30.0),
        stop_timeout_s: float = 5.0,
        on_fatal: Callable[[Exception], None] | None = None,
    ) -> None:
        super().__init__(
            session,
            reconnect_backoff=reconnect_backoff,
            stop_timeout_s=stop_timeout_s,
            on_fatal=on_fatal,
        )
        self._on_update = on_update
        self._on_connected = on_connected
        self._stream: _HookedTradingStream | None = None
        self.messages = 0

    async def _handle(self, msg: dict[str, Any]) -> None:
        self.messages += 1
        self._on_update(msg)

    def connected(self) -> None:
        super().connected()
        if self._on_connected is not None:
            try:
                self._on_connected()
            except Exception:
                log.exception("trading stream on_connected handler failed")

    def auth_refused(self, message: str) -> bool:
        self._fatal(self.session.auth.trip(self.session.auth_message_for_stream(message)))
        return True

    async def start(self) -> None:
        """Connect and listen to trade updates (idempotent)."""
        if self.running:
            return
        self.session.auth.check()
        s = self.session
        stream = _HookedTradingStream(
            s.credentials.key_id,
            s.credentials.secret_key,
            paper=not s.live,
            raw_data=True,
            url_override=s.endpoints.trading_stream_url,
            hooks=self,
        )
        self._tune(stream)
        stream.subscribe_trade_updates(self._handle)  # not running yet: no thread needed
        self._stopping = False
        self.fatal = None
        self._stream = stream
        self._task = asyncio.create_task(stream._run_forever(), name="alpaca-trading-stream")
        await asyncio.sleep(0)  # past _run_forever's start-up, so stop() is honoured

    async def stop(self) -> None:
        """Stop the stream (idempotent)."""
        stream, task = self._stream, self._task
        self._stream = self._task = None
        self._stopping = True
        if stream is not None:
            await _stop_sdk_stream(stream, task, self.stop_timeout_s)
        self.connected_now = False
