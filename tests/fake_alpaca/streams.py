"""The fake's websockets: the msgpack market-data stream and the JSON trading stream.

Market data (``/v2/{feed}``) speaks msgpack when the client asks for it with
``Content-Type: application/msgpack`` (alpaca-py does) and JSON otherwise, like Alpaca. Its
``t`` fields are msgpack Timestamps (ext type -1): alpaca-py calls ``.to_datetime()`` on them.
The trading stream (``/stream``) speaks JSON and, like Alpaca's paper endpoint, answers in
binary frames unless ``state.trading_stream_binary`` is False.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime
from typing import Any

import msgpack
from aiohttp import WSMsgType, web

from tests.fake_alpaca.state import FakeAlpacaState, StreamSinks
from tests.fake_alpaca.wire import ensure_aware, rfc3339_utc

DATA_FEEDS = ("iex", "sip", "delayed_sip", "test", "boats", "overnight")
DATA_CHANNELS = (
    "trades",
    "quotes",
    "bars",
    "updatedBars",
    "dailyBars",
    "statuses",
    "lulds",
    "corrections",
    "cancelErrors",
)
# Alpaca subscribes trade corrections and cancels along with trades.
_FOLLOW_TRADES = ("corrections", "cancelErrors")
_CLOSE = object()


def _wire_time(value: Any, binary: bool) -> Any:
    if isinstance(value, datetime):
        dt = ensure_aware(value).astimezone(UTC)
        return msgpack.Timestamp.from_datetime(dt) if binary else rfc3339_utc(dt)
    return value


class _Conn:
    def __init__(self, ws: web.WebSocketResponse, request: web.Request, binary: bool) -> None:
        self.ws = ws
        self.transport = request.transport
        self.binary = binary
        self.authed = False
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    def enqueue(self, item: Any) -> None:
        self.queue.put_nowait(item)

    async def writer(self) -> None:
        while True:
            item = await self.queue.get()
            if item is None:
                return
            try:
                if item is _CLOSE:
                    await self.ws.close()
                    return
                if isinstance(item, bytes):
                    await self.ws.send_bytes(item)
                else:
                    await self.ws.send_str(item)
            except (ConnectionError, RuntimeError):
                return

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class _DataConn(_Conn):
    def __init__(self, ws: web.WebSocketResponse, request: web.Request, binary: bool) -> None:
        super().__init__(ws, request, binary)
        self.subs: dict[str, set[str]] = {c: set() for c in DATA_CHANNELS}

    def send(self, msgs: list[dict[str, Any]]) -> None:
        if self.binary:
            self.enqueue(msgpack.packb(msgs))
        else:
            self.enqueue(json.dumps(msgs))

    def send_market(self, msg: dict[str, Any]) -> None:
        self.send([{k: _wire_time(v, self.binary) for k, v in msg.items()}])

    def wants(self, channel: str, symbol: str) -> bool:
        subs = self.subs.get(channel)
        return bool(subs) and (symbol in subs or "*" in subs)


class _TradingConn(_Conn):
    listening = False

    def send(self, msg: dict[str, Any]) -> None:
        text = json.dumps(msg)
        self.enqueue(text.encode() if self.binary else text)


class StreamHub:
    """All websocket connections of one server; runs on the server's event loop."""

    def __init__(self, state: FakeAlpacaState, loop: asyncio.AbstractEventLoop) -> None:
        self.state = state
        self.loop = loop
        self.data_conns: set[_DataConn] = set()
        self.trading_conns: set[_TradingConn] = set()

    def sinks(self) -> StreamSinks:
        """Callables for the state, safe to call from any thread (messages keep their order)."""
        loop = self.loop

        def trade_update(data: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(self._fan_trade_update, data)

        def market(channel: str, symbol: str, msg: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(self._fan_market, channel, symbol, msg)

        def drop_all() -> None:
            loop.call_soon_threadsafe(self._drop_all)

        return StreamSinks(trade_update, market, drop_all)

    def _fan_trade_update(self, data: dict[str, Any]) -> None:
        for conn in list(self.trading_conns):
            if conn.listening:
                conn.send({"stream": "trade_updates", "data": data})

    def _fan_market(self, channel: str, symbol: str, msg: dict[str, Any]) -> None:
        for conn in list(self.data_conns):
            if conn.authed and conn.wants(channel, symbol):
                conn.send_market(msg)

    def _drop_all(self) -> None:
        conns: list[_Conn] = [*self.data_conns, *self.trading_conns]
        with self.state.lock:
            self.state.streams.drops += len(conns)
        for conn in conns:
            conn.abort()

    async def close_all(self) -> None:
        for conn in [*self.data_conns, *self.trading_conns]:
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"server shutdown")

    def _refresh_stats(self) -> None:
        with self.state.lock:
            s = self.state.streams
            s.data_connections = len(self.data_conns)
            s.trading_connections = len(self.trading_conns)
            s.trading_listeners = sum(1 for c in self.trading_conns if c.listening and c.authed)
            union: dict[str, set[str]] = {c: set() for c in DATA_CHANNELS}
            for conn in self.data_conns:
                if conn.authed:
                    for ch, syms in conn.subs.items():
                        union[ch] |= syms
            s.data_subscriptions = union

    # ---- market data stream -------------------------------------------------------------------
    async def data_handler(self, request: web.Request) -> web.WebSocketResponse:
        feed = request.path.rsplit("/", 1)[-1]
        ws = web.WebSocketResponse(max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        binary = "msgpack" in request.headers.get("Content-Type", "")
        conn = _DataConn(ws, request, binary)
        self.data_conns.add(conn)
        self._refresh_stats()
        writer = asyncio.create_task(conn.writer())
        conn.send([{"T": "success", "msg": "connected"}])
        try:
            deadline = self.loop.time() + self.state.data_auth_timeout
            while True:
                timeout = None if conn.authed else max(0.0, deadline - self.loop.time())
                try:
                    msg = await ws.receive(timeout=timeout)
                except TimeoutError:
                    conn.send([{"T": "error", "code": 404, "msg": "auth timeout"}])
                    conn.enqueue(_CLOSE)
                    break
                if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                    break
                try:
                    payload = (
                        msgpack.unpackb(msg.data)
                        if msg.type == WSMsgType.BINARY
                        else json.loads(msg.data)
                    )
                except (ValueError, msgpack.ExtraData, msgpack.FormatError, TypeError):
                    conn.send([{"T": "error", "code": 400, "msg": "invalid syntax"}])
                    continue
                actions = payload if isinstance(payload, list) else [payload]
                if not all(self._data_action(conn, feed, a) for a in actions):
                    conn.enqueue(_CLOSE)
                    break
        finally:
            self.data_conns.discard(conn)
            self._refresh_stats()
            conn.enqueue(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, 2.0)
        return ws

    def _data_action(self, conn: _DataConn, feed: str, action: Any) -> bool:
        """Handle one client action; False means: close the connection after the reply."""
        if not isinstance(action, dict) or "action" not in action:
            conn.send([{"T": "error", "code": 400, "msg": "invalid syntax"}])
            return True
        kind = action["action"]
        st = self.state
        if kind == "auth":
            if conn.authed:
                conn.send([{"T": "error", "code": 403, "msg": "already authenticated"}])
                return True
            with st.lock:
                verdict = st.check_keys(action.get("key"), action.get("secret"))
                limited = st.faults.connection_limited or (
                    st.data_connection_limit is not None
                    and sum(1 for c in self.data_conns if c.authed) >= st.data_connection_limit
                )
                sip_denied = st.restrict_recent_sip and feed == "sip"
            if verdict == 401:
                conn.send([{"T": "error", "code": 402, "msg": "auth failed"}])
                return False
            if limited:
                conn.send([{"T": "error", "code": 406, "msg": "connection limit exceeded"}])
                return False
            if verdict == 403 or sip_denied:
                conn.send([{"T": "error", "code": 409, "msg": "insufficient subscription"}])
                return False
            conn.authed = True
            with st.lock:
                st.streams.data_auths += 1
            conn.send([{"T": "success", "msg": "authenticated"}])
            self._refresh_stats()
            return True
        if not conn.authed:
            conn.send([{"T": "error", "code": 401, "msg": "not authenticated"}])
            return True
        if kind in ("subscribe", "unsubscribe"):
            for channel in DATA_CHANNELS:
                syms = action.get(channel)
                if not syms or channel in _FOLLOW_TRADES:
                    continue
                upper = {str(s).upper() if s != "*" else "*" for s in syms}
                targets = [channel, *_FOLLOW_TRADES] if channel == "trades" else [channel]
                for ch in targets:
                    if kind == "subscribe":
                        conn.subs[ch] |= upper
                    else:
                        conn.subs[ch] -= upper
            ack: dict[str, Any] = {"T": "subscription"}
            ack.update({ch: sorted(conn.subs[ch]) for ch in DATA_CHANNELS})
            conn.send([ack])
            self._refresh_stats()
            return True
        conn.send([{"T": "error", "code": 400, "msg": "invalid syntax"}])
        return True

    # ---- trading stream -----------------------------------------------------------------------
    async def trading_handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=1024 * 1024)
        await ws.prepare(request)
        conn = _TradingConn(ws, request, self.state.trading_stream_binary)
        self.trading_conns.add(conn)
        self._refresh_stats()
        writer = asyncio.create_task(conn.writer())
        try:
            while True:
                msg = await ws.receive()
                if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                    break
                try:
                    payload = json.loads(msg.data)
                except ValueError:
                    conn.send({"stream": "error", "data": {"error_message": "invalid syntax"}})
                    continue
                if not self._trading_action(conn, payload):
                    conn.enqueue(_CLOSE)
                    break
        finally:
            self.trading_conns.discard(conn)
            self._refresh_stats()
            conn.enqueue(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, 2.0)
        return ws

    def _trading_action(self, conn: _TradingConn, payload: Any) -> bool:
        if not isinstance(payload, dict):
            conn.send({"stream": "error", "data": {"error_message": "invalid syntax"}})
            return True
        kind = payload.get("action")
        data = payload.get("data") or {}
        if kind in ("authenticate", "auth"):
            key = data.get("key_id", payload.get("key"))
            secret = data.get("secret_key", payload.get("secret"))
            with self.state.lock:
                verdict = self.state.check_keys(key, secret)
                if verdict == 200:
                    self.state.streams.trading_auths += 1
            status = "authorized" if verdict == 200 else "unauthorized"
            conn.send(
                {"stream": "authorization", "data": {"action": "authenticate", "status": status}}
            )
            if verdict != 200:
                return False
            conn.authed = True
            self._refresh_stats()
            return True
        if kind == "listen":
            if not conn.authed:
                conn.send(
                    {
                        "stream": "authorization",
                        "data": {"action": "listen", "status": "unauthorized"},
                    }
                )
                return False
            streams = [s for s in data.get("streams", []) if s == "trade_updates"]
            conn.listening = bool(streams)
            conn.send({"stream": "listening", "data": {"streams": streams}})
            self._refresh_stats()
            return True
        conn.send({"stream": "error", "data": {"error_message": f"unrecognized action: {kind}"}})
        return True
