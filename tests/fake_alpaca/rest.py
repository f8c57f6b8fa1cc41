"""The fake's REST API (trading ``/v2/...`` and market data ``/v2/stocks/...``) on aiohttp."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web

from tests.fake_alpaca.marketdata import ADJUSTMENTS, FEEDS, normalize_timeframe, visible_cutoff
from tests.fake_alpaca.models import AlpacaError
from tests.fake_alpaca.state import FakeAlpacaState, RequestRecord
from tests.fake_alpaca.wire import FORBIDDEN, NY, UNAUTHORIZED, error_body, parse_time

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(data, separators=(",", ":")), status=status, content_type="application/json"
    )


def _error(status: int, code: int, message: str) -> web.Response:
    return _json(error_body(code, message), status)


class BadRequest(Exception):
    """A malformed market-data query: Alpaca answers 400 with a message."""


def _symbols(request: web.Request) -> list[str]:
    raw = request.query.get("symbols", "")
    syms = [s.strip().upper() for s in raw.split(",") if s.strip()]
    if not syms:
        raise BadRequest("missing symbols")
    return syms


def _int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        v = int(raw)
    except ValueError:
        raise BadRequest(f"invalid {name}: {raw}") from None
    if not lo <= v <= hi:
        raise BadRequest(f"invalid {name}: {raw} (must be {lo}..{hi})")
    return v


def _time(request: web.Request, name: str, *, end_of_day: bool = False) -> datetime | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return parse_time(raw, end_of_day=end_of_day)
    except ValueError:
        raise BadRequest(f"invalid {name}: {raw}") from None


def _keys_from(request: web.Request) -> tuple[str | None, str | None]:
    key = request.headers.get("APCA-API-KEY-ID")
    secret = request.headers.get("APCA-API-SECRET-KEY")
    auth = request.headers.get("Authorization", "")
    if key is None and auth.startswith("Basic "):
        try:
            key, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            return None, None
    return key, secret


class RestApi:
    def __init__(self, state: FakeAlpacaState, ws_paths: set[str]) -> None:
        self.state = state
        self.ws_paths = ws_paths

    # ---- cross-cutting: request log, faults, auth ---------------------------------------------
    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in self.ws_paths:
            return await handler(request)
        st = self.state
        st.sync()
        body: Any = None
        if request.method in ("POST", "PATCH", "PUT") and request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                body = await request.text()
        record = RequestRecord(request.method, request.path, dict(request.query), time.time(), body)
        with st.lock:
            st.requests.append(record)
            delay = st.faults.delay_for(request.path)
        if delay:
            await asyncio.sleep(delay)
        resp = await self._answer(request, handler)
        record.status = resp.status
        with st.lock:
            limit = st.faults.per_minute or 200
            remaining = st.faults.rate_remaining()
        resp.headers["X-RateLimit-Limit"] = str(limit)
        resp.headers["X-RateLimit-Remaining"] = str(remaining)
        resp.headers["X-RateLimit-Reset"] = str(int(time.time()) + 60)
        return resp

    async def _answer(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        canned = self.state.canned_response(request.path)
        if canned is not None:
            if isinstance(canned.body, dict):
                return _json(canned.body, canned.status)
            return web.Response(
                text=str(canned.body), status=canned.status, content_type=canned.content_type
            )
        key, secret = _keys_from(request)
        with self.state.lock:
            verdict = self.state.check_keys(key, secret)
        if verdict == 401:
            return _json(UNAUTHORIZED, 401)
        if verdict == 403:
            return _json(FORBIDDEN, 403)
        try:
            return await handler(request)
        except BadRequest as exc:
            return _error(400, 40010001, str(exc))
        except AlpacaError as exc:
            return _json(exc.body, exc.status)
        except web.HTTPNotFound:
            return _error(404, 40410000, "endpoint not found")
        except web.HTTPMethodNotAllowed:
            return _error(405, 40510000, "method not allowed")

    def routes(self) -> list[web.RouteDef]:
        g, p, d, pa = web.get, web.post, web.delete, web.patch
        return [
            g("/v2/account", self.account),
            g("/v2/account/configurations", self.account_configurations),
            g("/v2/clock", self.clock),
            g("/v2/calendar", self.calendar),
            g("/v2/assets", self.assets),
            g("/v2/assets/{symbol}", self.asset),
            g("/v2/orders", self.list_orders),
            p("/v2/orders", self.submit_order),
            d("/v2/orders", self.cancel_all),
            g("/v2/orders:by_client_order_id", self.order_by_client_id),
            g("/v2/orders/{order_id}", self.get_order),
            pa("/v2/orders/{order_id}", self.replace_order),
            d("/v2/orders/{order_id}", self.cancel_order),
            g("/v2/positions", self.positions),
            d("/v2/positions", self.close_all_positions),
            g("/v2/positions/{symbol}", self.position),
            d("/v2/positions/{symbol}", self.close_position),
            g("/v2/stocks/bars", self.bars),
            g("/v2/stocks/bars/latest", self.latest_bars),
            g("/v2/stocks/snapshots", self.snapshots),
            g("/v2/stocks/trades/latest", self.latest_trades),
            g("/v2/stocks/quotes/latest", self.latest_quotes),
            g("/v2/stocks/{symbol}/bars", self.symbol_bars),
            g("/v2/stocks/{symbol}/bars/latest", self.symbol_latest_bar),
            g("/v2/stocks/{symbol}/snapshot", self.symbol_snapshot),
            g("/v2/stocks/{symbol}/trades/latest", self.symbol_latest_trade),
            g("/v2/stocks/{symbol}/quotes/latest", self.symbol_latest_quote),
        ]

    # ---- account, clock, calendar, assets -----------------------------------------------------
    async def account(self, request: web.Request) -> web.Response:
        with self.state.lock:
            return _json(self.state.broker.account_json())

    async def account_configurations(self, request: web.Request) -> web.Response:
        with self.state.lock:
            a = self.state.account
            return _json(
                {
                    "dtbp_check": "entry",
                    "trade_confirm_email": "all",
                    "suspend_trade": a.trade_suspended_by_user,
                    "no_shorting": not a.shorting_enabled,
                    "fractional_trading": True,
                    "max_margin_multiplier": str(a.multiplier),
                    "max_options_trading_level": 0,
                    "pdt_check": "entry",
                    "ptp_no_exception_entry": False,
                }
            )

    async def clock(self, request: web.Request) -> web.Response:
        with self.state.lock:
            return _json(self.state.clock_json())

    async def calendar(self, request: web.Request) -> web.Response:
        table = self.state.sessions
        try:
            start = date.fromisoformat(request.query.get("start", table.first_day.isoformat()))
            end = date.fromisoformat(request.query.get("end", table.last_day.isoformat()))
        except ValueError:
            raise BadRequest("invalid start or end: use YYYY-MM-DD") from None
        return _json([table.calendar_row(s) for s in table.between(start, end)])

    async def assets(self, request: web.Request) -> web.Response:
        q = request.query
        status = q.get("status")
        exchange = q.get("exchange")
        klass = q.get("asset_class", "us_equity")
        attrs = {a for a in q.get("attributes", "").split(",") if a}
        with self.state.lock:
            found = [
                a.json()
                for sym, a in sorted(self.state.assets.items())
                if klass == "us_equity"
                and (status is None or a.status == status)
                and (exchange is None or a.exchange == exchange)
                and (not attrs or attrs & set(a.attributes))
            ]
        return _json(found)

    async def asset(self, request: web.Request) -> web.Response:
        key = request.match_info["symbol"]
        with self.state.lock:
            a = self.state.asset(key)
            if a is None:
                a = next((x for x in self.state.assets.values() if x.id == key), None)
            if a is None:
                return _error(404, 40410000, f"asset not found for {key}")
            return _json(a.json())

    # ---- orders --------------------------------------------------------------------------------
    async def list_orders(self, request: web.Request) -> web.Response:
        q = request.query
        status = q.get("status", "open")
        if status not in ("open", "closed", "all"):
            return _error(422, 40010001, f"invalid status: {status}")
        limit = _int(request, "limit", 50, 1, 500)
        syms = {s.strip().upper() for s in q.get("symbols", "").split(",") if s.strip()}
        side = q.get("side") or None
        after = _time(request, "after")
        until = _time(request, "until")
        ascending = q.get("direction", "desc") == "asc"
        with self.state.lock:
            found = self.state.broker.list_orders(
                status, limit, syms or None, side, after, until, ascending
            )
            return _json([o.json() for o in found])

    async def submit_order(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, 40010000, "request body format is invalid")
        if not isinstance(body, dict):
            return _error(400, 40010000, "request body format is invalid")
        st = self.state
        with st.lock:
            rejection = st.faults.rejections.popleft() if st.faults.rejections else None
            if rejection is not None and rejection.via == "http":
                return _error(rejection.status, rejection.code, rejection.message)
            order = st.broker.submit(body)  # AlpacaError -> Alpaca's error in _answer
            answer = order.json()
            if rejection is not None:
                st.broker.reject_async(order, rejection.message)
            else:
                st.broker.activate(order)
            delay = st.faults.submit_delays.popleft() if st.faults.submit_delays else 0.0
        if delay:
            # The order exists and may already have filled; only the answer is late.
            await asyncio.sleep(delay)
        return _json(answer)

    async def order_by_client_id(self, request: web.Request) -> web.Response:
        cid = request.query.get("client_order_id", "")
        with self.state.lock:
            order = self.state.broker.by_client_id.get(cid)
            if order is None:
                return _error(404, 40410000, "order not found")
            return _json(order.json())

    async def get_order(self, request: web.Request) -> web.Response:
        with self.state.lock:
            return _json(self.state.broker.get(request.match_info["order_id"]).json())

    async def replace_order(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, 40010000, "request body format is invalid")
        with self.state.lock:
            new = self.state.broker.replace(request.match_info["order_id"], body or {})
            return _json(new.json())

    async def cancel_order(self, request: web.Request) -> web.Response:
        with self.state.lock:
            self.state.broker.cancel(request.match_info["order_id"])
        return web.Response(status=204)

    async def cancel_all(self, request: web.Request) -> web.Response:
        with self.state.lock:
            return _json(self.state.broker.cancel_all(), 207)

    # ---- positions -----------------------------------------------------------------------------
    def _position_symbol(self, key: str) -> str | None:
        broker = self.state.broker
        if key.upper() in broker.positions:
            return key.upper()
        return next((s for s, p in broker.positions.items() if p.asset_id == key), None)

    async def positions(self, request: web.Request) -> web.Response:
        with self.state.lock:
            b = self.state.broker
            return _json([b.position_json(p) for _, p in sorted(b.positions.items())])

    async def position(self, request: web.Request) -> web.Response:
        with self.state.lock:
            sym = self._position_symbol(request.match_info["symbol"])
            if sym is None:
                return _error(404, 40410000, "position does not exist")
            b = self.state.broker
            return _json(b.position_json(b.positions[sym]))

    async def close_position(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            qty = float(q["qty"]) if q.get("qty") else None
            pct = float(q["percentage"]) if q.get("percentage") else None
        except ValueError:
            raise BadRequest("invalid qty or percentage") from None
        with self.state.lock:
            sym = self._position_symbol(request.match_info["symbol"])
            if sym is None:
                return _error(404, 40410000, "position does not exist")
            order = self.state.broker.close_position(sym, qty, pct)
            answer = order.json()
            self.state.broker.activate(order)
            return _json(answer)

    async def close_all_positions(self, request: web.Request) -> web.Response:
        cancel = request.query.get("cancel_orders", "false").lower() == "true"
        with self.state.lock:
            return _json(self.state.broker.close_all(cancel), 207)

    # ---- market data ---------------------------------------------------------------------------
    def _feed(self, request: web.Request) -> str:
        feed = request.query.get("feed") or "sip"
        if feed not in FEEDS:
            raise BadRequest(f"invalid feed: {feed}")
        return feed

    def _bars_page(
        self, request: web.Request, symbols: list[str]
    ) -> tuple[dict[str, list[dict[str, Any]]], str | None]:
        q = request.query
        st = self.state
        tf_raw = q.get("timeframe")
        if not tf_raw:
            raise BadRequest("missing timeframe")
        try:
            tf = normalize_timeframe(tf_raw)
        except ValueError:
            raise BadRequest(f"invalid timeframe: {tf_raw}") from None
        feed = self._feed(request)
        adjustment = q.get("adjustment") or "raw"
        if adjustment not in ADJUSTMENTS:
            raise BadRequest(f"invalid adjustment: {adjustment}")
        limit = min(_int(request, "limit", 1000, 1, 10_000), st.bars_page_cap)
        sort = q.get("sort", "asc")
        if sort not in ("asc", "desc"):
            raise BadRequest(f"invalid sort: {sort}")
        with st.lock:
            now = st.now.astimezone(UTC)
            start = _time(request, "start") or datetime.combine(
                st.now.date(), datetime.min.time(), tzinfo=NY
            ).astimezone(UTC)
            end = _time(request, "end", end_of_day=True) or now
            if st.restrict_recent_sip and feed == "sip" and end > now - timedelta(minutes=15):
                raise AlpacaError(
                    403,
                    error_body(40310000, "subscription does not permit querying recent SIP data"),
                )
            end = min(end, visible_cutoff(tf, now))
            try:
                return st.market.query_bars(
                    symbols,
                    tf,
                    start,
                    end,
                    limit,
                    q.get("page_token") or None,
                    feed,
                    adjustment,
                    descending=sort == "desc",
                )
            except ValueError as exc:
                raise BadRequest(str(exc)) from None

    async def bars(self, request: web.Request) -> web.Response:
        bars, token = self._bars_page(request, _symbols(request))
        return _json({"bars": bars, "next_page_token": token})

    async def symbol_bars(self, request: web.Request) -> web.Response:
        sym = request.match_info["symbol"].upper()
        bars, token = self._bars_page(request, [sym])
        return _json({"bars": bars.get(sym, []), "symbol": sym, "next_page_token": token})

    async def latest_bars(self, request: web.Request) -> web.Response:
        syms = _symbols(request)
        self._feed(request)
        with self.state.lock:
            now = self.state.now.astimezone(UTC)
            found = {s: self.state.market.latest_bar(s, "1Min", now) for s in syms}
        return _json({"bars": {s: b for s, b in found.items() if b is not None}})

    async def symbol_latest_bar(self, request: web.Request) -> web.Response:
        sym = request.match_info["symbol"].upper()
        with self.state.lock:
            bar = self.state.market.latest_bar(sym, "1Min", self.state.now.astimezone(UTC))
        if bar is None:
            return _error(404, 40410000, f"no bar found for {sym}")
        return _json({"symbol": sym, "bar": bar})

    async def snapshots(self, request: web.Request) -> web.Response:
        syms = _symbols(request)
        self._feed(request)
        with self.state.lock:
            now = self.state.now.astimezone(UTC)
            return _json({s: self.state.market.snapshot(s, now) for s in syms})

    async def symbol_snapshot(self, request: web.Request) -> web.Response:
        sym = request.match_info["symbol"].upper()
        with self.state.lock:
            snap = self.state.market.snapshot(sym, self.state.now.astimezone(UTC))
        if snap is None:
            return _error(404, 40410000, f"no snapshot found for {sym}")
        return _json({"symbol": sym, **snap})

    async def latest_trades(self, request: web.Request) -> web.Response:
        syms = _symbols(request)
        self._feed(request)
        with self.state.lock:
            now = self.state.now.astimezone(UTC)
            ticks = {s: self.state.market.last_trade(s, now) for s in syms}
        return _json({"trades": {s: t.json() for s, t in ticks.items() if t is not None}})

    async def symbol_latest_trade(self, request: web.Request) -> web.Response:
        sym = request.match_info["symbol"].upper()
        with self.state.lock:
            tick = self.state.market.last_trade(sym, self.state.now.astimezone(UTC))
        if tick is None:
            return _error(404, 40410000, f"no trade found for {sym}")
        return _json({"symbol": sym, "trade": tick.json()})

    async def latest_quotes(self, request: web.Request) -> web.Response:
        syms = _symbols(request)
        self._feed(request)
        with self.state.lock:
            quotes = {s: self.state.market.quotes.get(s) for s in syms}
        return _json({"quotes": {s: q.json() for s, q in quotes.items() if q is not None}})

    async def symbol_latest_quote(self, request: web.Request) -> web.Response:
        sym = request.match_info["symbol"].upper()
        with self.state.lock:
            quote = self.state.market.quotes.get(sym)
        if quote is None:
            return _error(404, 40410000, f"no quote found for {sym}")
        return _json({"symbol": sym, "quote": quote.json()})
