"""Alpaca as a broker (``--mode paper`` / ``--mode live``) through alpaca-py's TradingClient and
TradingStream, with the same semantics as the simulated broker (:mod:`workstation.broker.sim`).

Orders
    Market, limit and stop orders with time in force DAY, GTC or OPG (market-on-open:
    ``MarketOrderRequest(..., time_in_force=TimeInForce.OPG, client_order_id=...)``), stop
    replacement (``ReplaceOrderRequest`` -> ``PATCH``), cancel, close position. Prices are
    rounded to Alpaca's ticks (a cent from $1, else 1/100 cent). Every order carries the
    engine's deterministic client order id.

Idempotency (no order is ever placed twice)
    A submit that ends in an ambiguous failure -- a timeout, a network error, a 5xx: the order
    may exist although no answer came -- is never simply repeated. The broker first looks the
    order up by its client order id (``GET /v2/orders:by_client_order_id``) and only submits
    again if Alpaca does not have it. A 422 "client_order_id must be unique" resolves to the
    existing order too. A 429 (not processed) is retried after a pause. A rejection (403/422
    with Alpaca's reason) raises :class:`~workstation.broker.base.OrderRejected`, is recorded
    as a REJECTED order (an OrderUpdated event) and is never retried.

Order state
    Each order is kept as a :class:`~workstation.core.models.Order` and moves only through the
    state machine (see :mod:`workstation.alpaca.mapping` for how Alpaca's statuses map).
    Updates come from the trade-updates stream, from REST answers, and from a reconciliation
    after every stream (re)connect and periodically while orders are open (so updates missed
    while the stream was down or silent are caught up). Fills are derived from the cumulative
    ``filled_qty``, so an update seen twice (stream and REST) never counts twice. A status or
    event the broker does not know is logged and ignored. Every change publishes
    ``OrderUpdated`` and every fill ``OrderFilled`` (fill first), to :meth:`on_event` handlers
    and the event bus, on the loop thread.

Calendar
    :meth:`AlpacaBroker.check_calendar` compares Alpaca's clock and calendar with the local
    XNYS calendar; every disagreement is logged and published as a
    :class:`CalendarDisagreement` (a WARNING LogEvent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from alpaca.common.enums import Sort
from alpaca.trading.enums import AssetClass, AssetStatus, QueryOrderStatus
from alpaca.trading.enums import OrderSide as AlpacaSide
from alpaca.trading.enums import TimeInForce as AlpacaTIF
from alpaca.trading.requests import (
    GetAssetsRequest,
    GetCalendarRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    StopOrderRequest,
)

from workstation.alpaca.errors import (
    AlpacaRequestError,
    Classified,
    ErrorKind,
    LiveTradingNotConfirmed,
)
from workstation.alpaca.mapping import (
    asset_from_json,
    map_status,
    num,
    opt_num,
    order_baseline,
    parse_time,
    request_from_json,
    round_price,
    shares,
)
from workstation.alpaca.session import AlpacaSession
from workstation.alpaca.streams import TradingStreamManager
from workstation.broker.base import BrokerError, OrderRejected
from workstation.core.calendar import ET, MarketState, TradingCalendar, get_calendar
from workstation.core.events import Event, LogEvent, OrderFilled, OrderUpdated
from workstation.core.models import (
    LEGAL_TRANSITIONS,
    Account,
    Asset,
    Fill,
    IllegalTransition,
    Order,
    OrderIntent,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)

log = logging.getLogger(__name__)

# Trade-update events with a meaning of their own; any other event is applied through the
# status of the order it carries (an unknown status is logged and ignored there).
FILL_EVENTS = frozenset({"fill", "partial_fill"})
REFUSAL_EVENTS = frozenset({"order_cancel_rejected", "order_replace_rejected"})
KNOWN_EVENTS = (
    FILL_EVENTS
    | REFUSAL_EVENTS
    | {
        "new",
        "accepted",
        "pending_new",
        "canceled",
        "expired",
        "done_for_day",
        "replaced",
        "rejected",
        "pending_cancel",
        "pending_replace",
        "stopped",
        "suspended",
        "calculated",
        "restated",
        "held",
    }
)


@dataclass(frozen=True)
class CalendarDisagreement(LogEvent):
    """Alpaca's clock or calendar differs from the local XNYS calendar."""


@dataclass(frozen=True)
class CalendarCheck:
    start: date
    end: date
    problems: tuple[str, ...]
    alpaca_now: datetime | None

    @property
    def ok(self) -> bool:
        return not self.problems


def _is_duplicate(err: Classified) -> bool:
    return err.kind is ErrorKind.REJECTED and "client_order_id must be unique" in err.message


def _sdk_order(req: OrderRequest) -> MarketOrderRequest | LimitOrderRequest | StopOrderRequest:
    common: dict[str, Any] = {
        "symbol": req.symbol,
        "qty": req.qty,
        "side": AlpacaSide(req.side.value),
        "time_in_force": AlpacaTIF(req.tif.value),
        "client_order_id": req.client_order_id,
    }
    if req.type is OrderType.LIMIT:
        assert req.limit_price is not None
        return LimitOrderRequest(limit_price=round_price(req.limit_price), **common)
    if req.type is OrderType.STOP:
        assert req.stop_price is not None
        return StopOrderRequest(stop_price=round_price(req.stop_price), **common)
    return MarketOrderRequest(**common)


class AlpacaBroker:
    """The Broker protocol on an Alpaca account (see the module docstring)."""

    name = "alpaca"

    def __init__(
        self,
        session: AlpacaSession,
        *,
        confirm_live: bool = False,
        calendar: TradingCalendar | None = None,
        cancel_wait_s: float = 5.0,
        reconcile_every_s: float = 30.0,
        stream_reconnect_backoff: tuple[float, float] = (1.0, 30.0),
    ) -> None:
        if session.live and not confirm_live:
            raise LiveTradingNotConfirmed(
                "the Alpaca broker is on a LIVE account: construct it with confirm_live=True "
                "(the user's explicit confirmation) to place real orders"
            )
        self.session = session
        self.calendar = calendar or get_calendar()
        self.cancel_wait_s = cancel_wait_s
        self.reconcile_every_s = reconcile_every_s
        self._handlers: list[Callable[[Event], None]] = []
        self._orders: dict[str, Order] = {}  # client order id -> our view of the order
        self._requests: dict[str, OrderRequest] = {}  # what we asked, for orders seen later
        self._by_id: dict[str, str] = {}  # Alpaca order id -> client order id
        self._replacing: dict[str, str] = {}  # old client order id -> its replacement's
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._updates: asyncio.Queue[dict[str, Any]] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._processor: asyncio.Task[None] | None = None
        self._reconciler: asyncio.Task[None] | None = None
        self._last_update = 0.0
        self._unknown_events: set[str] = set()
        self.trading_stream = TradingStreamManager(
            session,
            self._on_trade_update,
            on_connected=self._on_stream_connected,
            reconnect_backoff=stream_reconnect_backoff,
        )

    @property
    def live(self) -> bool:
        return self.session.live

    @property
    def mode(self) -> str:
        return self.session.mode

    # ------------------------------------------------------------------ events
    def on_event(self, handler: Callable[[Event], None]) -> None:
        """OrderUpdated / OrderFilled events go to ``handler`` (also to the session's bus)."""
        self._handlers.append(handler)

    def _emit(self, event: Event) -> None:
        for handler in tuple(self._handlers):
            try:
                handler(event)
            except Exception:  # a broken subscriber must not break order tracking
                log.exception("alpaca broker event handler %r failed", handler)
        bus = self.session.publisher.bus
        if bus is not None:
            bus.publish(event)

    def _now(self) -> datetime:
        return self.session.clock.now().astimezone(ET)

    @property
    def _client(self) -> Any:
        return self.session.trading_client

    @property
    def _rest(self) -> Any:
        return self.session.trading_rest

    @staticmethod
    def _broker_error(what: str, exc: AlpacaRequestError) -> BrokerError:
        err = exc.error
        tries = f" after {exc.attempts} tries" if exc.attempts > 1 else ""
        return BrokerError(
            f"Alpaca {what} failed{tries}: {err.describe()}",
            reason=err.message or str(err.kind),
            retryable=err.retryable,
        )

    async def _read(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return await self._rest.read(what, fn)
        except AlpacaRequestError as exc:
            raise self._broker_error(what, exc) from None

    # ------------------------------------------------------------------ lifecycle
    def _ensure_processor(self) -> None:
        if self._processor is None or self._processor.done():
            self._updates = asyncio.Queue()
            self._processor = asyncio.create_task(self._process(), name="alpaca-trade-updates")

    async def start(self) -> None:
        """Listen to trade updates (and reconcile open orders periodically). Idempotent."""
        self._ensure_processor()
        await self.trading_stream.start()
        if self._reconciler is None or self._reconciler.done():
            self._reconciler = asyncio.create_task(self._reconcile_loop(), name="alpaca-reconcile")

    async def aclose(self) -> None:
        """Stop the stream and background tasks (idempotent)."""
        await self.trading_stream.stop()
        tasks = [t for t in (self._processor, self._reconciler, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._processor = self._reconciler = None
        self._tasks.clear()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ the order book
    def _apply(
        self,
        raw: dict[str, Any] | None,
        at: datetime | None = None,
        *,
        fill: tuple[int, float, str] | None = None,
        reason: str = "",
    ) -> Order | None:
        """Bring our view of one order up to Alpaca's ``raw`` JSON; publish what changed."""
        if not raw:
            return None
        cid = str(raw.get("client_order_id") or "")
        if not cid:
            return None
        bid = str(raw.get("id") or "")
        local = self._orders.get(cid)
        if local is None:
            request = self._requests.get(cid)
            if request is None:
                try:
                    request = request_from_json(raw)
                except ValueError as exc:
                    log.warning("Alpaca order %s ignored: %s", cid, exc)
                    return None
                self._requests[cid] = request
            local = order_baseline(request, raw)
        if bid:
            self._by_id[bid] = cid
            if local.broker_id != bid:
                local = replace(local, broker_id=bid)
        when = at or parse_time(raw.get("updated_at")) or self._now()
        events: list[Event] = []

        # Fills: from the cumulative quantity, so one seen twice (stream and REST) counts once.
        target = shares(raw.get("filled_qty"))
        if target > local.filled_qty:
            qty = min(target, local.request.qty) - local.filled_qty
            avg = opt_num(raw.get("filled_avg_price"))
            price: float | None = None
            fill_id = f"{bid or cid}:{min(target, local.request.qty)}"
            if fill is not None and fill[0] == qty and fill[1] > 0:
                price, fill_id = fill[1], fill[2] or fill_id
            elif avg is not None and qty > 0:
                # The fills we missed, as one: their average from Alpaca's running average.
                done_value = (local.avg_fill_price or 0.0) * local.filled_qty
                price = (avg * (local.filled_qty + qty) - done_value) / qty
            elif fill is not None and fill[1] > 0:
                price = fill[1]
            if qty > 0 and price is not None and price > 0:
                f = Fill(
                    fill_id=fill_id,
                    client_order_id=cid,
                    symbol=local.symbol,
                    side=local.request.side,
                    qty=qty,
                    price=price,
                    at=when,
                )
                try:
                    after = local.with_fill(f)
                except (IllegalTransition, ValueError) as exc:
                    log.error("fill of %s not applied (%s); reconcile positions", cid, exc)
                else:
                    events.append(OrderFilled(when, after, f))
                    events.append(OrderUpdated(when, after, str(local.status)))
                    local = after
            elif qty > 0:
                log.warning("Alpaca reports %s filled %s but no price: ignored", cid, target)

        alpaca_status = str(raw.get("status") or "")
        status = map_status(alpaca_status, local.filled_qty)
        if status is not None and status is not local.status:
            if status in LEGAL_TRANSITIONS[local.status]:
                changes: dict[str, Any] = {}
                if status is OrderStatus.REJECTED:
                    changes["reject_reason"] = reason or "rejected by Alpaca"
                elif alpaca_status == "replaced":
                    new_id = str(raw.get("replaced_by") or "")
                    # The stream may report the replacement before the PATCH answer names
                    # the new order: the id we asked for is the one to show.
                    new_cid = self._by_id.get(new_id) or self._replacing.get(cid) or new_id
                    changes["reject_reason"] = f"replaced by {new_cid}"
                before = local.status
                local = local.transition(status, at=when, **changes)
                events.append(OrderUpdated(when, local, str(before)))
            else:
                # An older state arriving after a newer one (REST vs stream): not news.
                log.debug("%s: ignoring %s after %s", cid, alpaca_status, local.status)
                alpaca_status = ""
        if alpaca_status and status is not None and alpaca_status != local.broker_status:
            # Alpaca's own word, kept beside ours ("new" and "accepted" are both ACCEPTED
            # here; "replaced" is CANCELED): news even when our state did not move.
            word = alpaca_status
            local = replace(local, broker_status=word)
            events = [
                replace(e, order=replace(e.order, broker_status=word))  # type: ignore[attr-defined]
                for e in events
            ]
            if not events:
                events.append(OrderUpdated(when, local, str(local.status)))
        self._orders[cid] = local
        if local.status.is_terminal:
            for fut in self._waiters.pop(cid, []):
                if not fut.done():
                    fut.set_result(None)
        for event in events:
            self._emit(event)
        return local

    def _on_trade_update(self, msg: dict[str, Any]) -> None:
        # Runs inline in the SDK's receive loop: queue and return.
        if self._updates is not None:
            self._updates.put_nowait(msg)

    async def _process(self) -> None:
        assert self._updates is not None
        queue = self._updates
        while True:
            msg = await queue.get()
            try:
                self._handle_update(msg)
            except Exception:  # one bad message must not stop order tracking
                log.exception("trade update not understood: %r", msg)

    def _handle_update(self, msg: dict[str, Any]) -> None:
        data = msg.get("data") if isinstance(msg, dict) else None
        if not isinstance(data, dict):
            return
        self._last_update = asyncio.get_running_loop().time()
        event = str(data.get("event") or "")
        raw = data.get("order")
        if not isinstance(raw, dict):
            return
        at = parse_time(data.get("timestamp"))
        if event not in KNOWN_EVENTS and event not in self._unknown_events:
            self._unknown_events.add(event)
            log.warning("unknown Alpaca trade update event %r: using its order status", event)
        if event in FILL_EVENTS:
            fill = (
                shares(data.get("qty")),
                num(data.get("price")),
                str(data.get("execution_id") or ""),
            )
            self._apply(raw, at, fill=fill)
        elif event in REFUSAL_EVENTS:
            log.warning("Alpaca: %s for %s", event, raw.get("client_order_id"))
            self._apply(raw, at)
        elif event == "rejected":
            reason = str(data.get("reason") or raw.get("reject_reason") or "")
            self._apply(raw, at, reason=reason)
        else:
            self._apply(raw, at)

    # ------------------------------------------------------------------ reconciliation
    def _on_stream_connected(self) -> None:
        if any(o.status.is_open for o in self._orders.values()):
            self._spawn(self._safe_reconcile(), "alpaca-reconcile-now")

    async def _safe_reconcile(self) -> None:
        try:
            await self.reconcile()
        except BrokerError as exc:
            log.warning("reconciling orders failed: %s", exc)

    async def _reconcile_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.reconcile_every_s)
            quiet = loop.time() - self._last_update >= self.reconcile_every_s
            if quiet and any(o.status.is_open for o in self._orders.values()):
                await self._safe_reconcile()

    async def reconcile(self) -> int:
        """Refresh every order we believe open from Alpaca (one request for the lot, plus
        single look-ups for any it did not list); returns how many were refreshed."""
        open_ids = [cid for cid, o in self._orders.items() if o.status.is_open]
        if not open_ids:
            return 0
        oldest = min(
            (self._orders[c].created_at for c in open_ids if self._orders[c].created_at),
            default=None,
        )
        req = GetOrdersRequest(
            status=QueryOrderStatus.ALL,
            limit=500,
            direction=Sort.ASC,
            after=(oldest - timedelta(minutes=1)) if oldest else None,
        )
        client = self._client
        raws = await self._read("order list", lambda: client.get_orders(req))
        seen = set()
        for raw in raws or []:
            cid = str(raw.get("client_order_id") or "")
            if cid in self._orders:
                seen.add(cid)
                self._apply(raw)
        for cid in open_ids:
            if cid not in seen:
                await self.order_by_client_id(cid)
        return len(open_ids)

    # ------------------------------------------------------------------ reads
    async def account(self) -> Account:
        client = self._client
        raw = await self._read("account", client.get_account)
        return Account(
            equity=num(raw.get("equity")),
            cash=num(raw.get("cash")),
            buying_power=num(raw.get("buying_power")),
            pattern_day_trader=bool(raw.get("pattern_day_trader")),
            blocked=bool(
                raw.get("trading_blocked")
                or raw.get("account_blocked")
                or raw.get("trade_suspended_by_user")
            ),
        )

    async def positions(self) -> dict[str, tuple[int, float]]:
        """Open positions: symbol -> (signed qty, average entry price)."""
        client = self._client
        raw = await self._read("positions", client.get_all_positions)
        out = {}
        for p in raw or []:
            qty = shares(p.get("qty"))
            if not float(num(p.get("qty"))).is_integer():
                # Fractional shares come from outside the app (it trades whole shares).
                log.warning(
                    "position %s has %s shares; counted as %d", p.get("symbol"), p.get("qty"), qty
                )
            if qty:
                out[str(p.get("symbol"))] = (qty, num(p.get("avg_entry_price")))
        return dict(sorted(out.items()))

    async def open_orders(self) -> list[Order]:
        client = self._client
        req = GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500, direction=Sort.ASC)
        raws = await self._read("open orders", lambda: client.get_orders(req))
        out = []
        for raw in raws or []:
            order = self._apply(raw)
            if order is not None and order.status.is_open:
                out.append(order)
        return out

    async def asset(self, symbol: str) -> Asset:
        client = self._client
        sym = symbol.strip().upper()
        try:
            raw = await self._rest.read(f"asset {sym}", lambda: client.get_asset(sym))
        except AlpacaRequestError as exc:
            if exc.error.kind is ErrorKind.NOT_FOUND:
                raise BrokerError(
                    f"asset {sym!r} not found", reason=f'asset "{sym}" not found'
                ) from None
            raise self._broker_error(f"asset {sym}", exc) from None
        return asset_from_json(raw)

    async def assets(self, symbols: Iterable[str] | None = None) -> dict[str, Asset]:
        """Active US equities (tradable, shortable, easy to borrow), in one request."""
        client = self._client
        req = GetAssetsRequest(status=AssetStatus.ACTIVE, asset_class=AssetClass.US_EQUITY)
        raws = await self._read("asset list", lambda: client.get_all_assets(req))
        wanted = None if symbols is None else {s.strip().upper() for s in symbols}
        out = {}
        for raw in raws or []:
            a = asset_from_json(raw)
            if wanted is None or a.symbol in wanted:
                out[a.symbol] = a
        return out

    async def _lookup(self, cid: str) -> Order | None:
        """The order with client order id ``cid`` from Alpaca (None if Alpaca has none)."""
        client = self._client
        try:
            raw = await self._rest.read(f"order {cid}", lambda: client.get_order_by_client_id(cid))
        except AlpacaRequestError as exc:
            if exc.error.kind is ErrorKind.NOT_FOUND:
                return None
            raise
        return self._apply(raw)

    async def order_by_client_id(self, client_order_id: str) -> Order | None:
        try:
            return await self._lookup(client_order_id)
        except AlpacaRequestError as exc:
            raise self._broker_error(f"order {client_order_id}", exc) from None

    # ------------------------------------------------------------------ submit
    def _reject_locally(self, request: OrderRequest, reason: str) -> Order:
        now = self._now()
        base = self._orders.get(request.client_order_id) or Order(
            request, created_at=now, updated_at=now
        )
        if base.status is not OrderStatus.NEW:
            return base
        done = base.transition(OrderStatus.REJECTED, at=now, reject_reason=reason)
        self._orders[request.client_order_id] = done
        self._emit(OrderUpdated(now, done, str(OrderStatus.NEW)))
        return done

    async def submit(self, request: OrderRequest) -> Order:
        """Place ``request`` idempotently (see the module docstring); raises OrderRejected."""
        self.session.auth.check()
        cid = request.client_order_id
        existing = self._orders.get(cid)
        if existing is not None:
            if existing.request != request:
                log.warning("client order id %s reused with a different request", cid)
            return existing
        self._requests[cid] = request
        now = self._now()
        self._orders[cid] = Order(request, created_at=now, updated_at=now)
        sdk_req = _sdk_order(request)
        client = self._client
        rest = self._rest
        tries = rest.policy.attempts
        what = f"submit {cid} ({request.side} {request.qty} {request.symbol})"
        last: Classified | None = None
        try:
            for n in range(1, tries + 1):
                if last is not None and last.ambiguous:
                    # The previous try may have placed it: look before placing it again.
                    found = await self._lookup(cid)
                    if found is not None:
                        log.info("%s: found after an ambiguous failure; not sent again", cid)
                        return found
                try:
                    raw = await rest.attempt(what, lambda: client.submit_order(sdk_req))
                except AlpacaRequestError as exc:
                    err = exc.error
                    if _is_duplicate(err):
                        found = await self._lookup(cid)
                        if found is not None:
                            return found
                        last = err  # "exists" yet not found: try again after a pause
                    elif err.retryable:
                        last = err
                    else:
                        reason = err.message or err.describe()
                        self._reject_locally(request, reason)
                        raise OrderRejected(
                            f"order {cid} ({request.side} {request.qty} {request.symbol}) "
                            f"rejected by Alpaca: {reason}",
                            reason,
                        ) from None
                    if n < tries:
                        await rest.backoff(n, last)
                    continue
                return self._apply(raw, self._now()) or self._orders[cid]
            assert last is not None
            if last.ambiguous:
                found = await self._lookup(cid)
                if found is not None:
                    return found
            err_out = rest.give_up(what, last, tries)
        except AlpacaRequestError as exc:  # a look-up failed for good: we cannot know
            err_out = exc
        except BaseException:
            self._forget_unconfirmed(cid)  # refused keys, cancellation: nothing was learned
            raise
        self._forget_unconfirmed(cid)
        raise BrokerError(
            f"order {cid}: Alpaca did not confirm it ({err_out.error.describe()}); it may or "
            "may not exist. Submitting again with the same client order id is safe (it is "
            "looked up first and never placed twice).",
            reason=err_out.error.message or str(err_out.error.kind),
            retryable=True,
        )

    def _forget_unconfirmed(self, cid: str) -> None:
        """Drop the local placeholder of an order Alpaca never confirmed (status still NEW):
        a later submit looks it up again; a stream event adopts it with our request."""
        order = self._orders.get(cid)
        if order is not None and order.status is OrderStatus.NEW:
            del self._orders[cid]

    # ------------------------------------------------------------------ replace, cancel
    async def replace_stop(
        self,
        client_order_id: str,
        stop_price: float,
        new_client_order_id: str,
        qty: int | None = None,
    ) -> Order:
        """Replace an open stop (PATCH): the old one ends CANCELED ("replaced by <new id>"),
        the new one carries ``new_client_order_id``. Idempotent: if the new id exists, that
        order is returned. If Alpaca refuses the new stop, the old one stays live."""
        self.session.auth.check()
        if new_client_order_id in self._orders:
            return self._orders[new_client_order_id]
        old = self._orders.get(client_order_id)
        if old is None or not old.broker_id:
            old = await self.order_by_client_id(client_order_id)
        if old is None:
            raise BrokerError(f"order {client_order_id} not found", reason="order not found")
        if old.request.type is not OrderType.STOP or not old.status.is_open:
            found = await self.order_by_client_id(new_client_order_id)
            if found is not None:
                return found
            raise BrokerError(
                f"order {client_order_id} ({old.request.type}, {old.status}) "
                "cannot be replaced as a stop",
                reason="order is not replaceable",
            )
        new_qty = old.remaining_qty if qty is None else int(qty)
        new_req = replace(
            old.request,
            client_order_id=new_client_order_id,
            stop_price=round_price(stop_price),
            qty=max(new_qty, 1),
        )
        if new_qty <= 0:
            self._reject_locally(new_req, "qty must be > 0")
            raise OrderRejected(
                f"replacement {new_client_order_id} of {client_order_id} rejected: qty {new_qty}",
                "qty must be > 0",
            )
        self._requests[new_client_order_id] = new_req
        self._replacing[client_order_id] = new_client_order_id
        patch = ReplaceOrderRequest(
            qty=new_req.qty, stop_price=new_req.stop_price, client_order_id=new_client_order_id
        )
        client, rest = self._client, self._rest
        old_id = old.broker_id
        tries = rest.policy.attempts
        what = f"replace {client_order_id} -> {new_client_order_id}"
        last: Classified | None = None
        try:
            for n in range(1, tries + 1):
                if last is not None and last.ambiguous:
                    found = await self._lookup(new_client_order_id)
                    if found is not None:
                        self._mark_replaced(client_order_id, new_client_order_id)
                        return found
                try:
                    raw = await rest.attempt(
                        what, lambda: client.replace_order_by_id(old_id, patch)
                    )
                except AlpacaRequestError as exc:
                    err = exc.error
                    if err.retryable:
                        last = err
                        if n < tries:
                            await rest.backoff(n, err)
                        continue
                    # Refused: done already (a retry after a lost answer), or really refused.
                    found = await self._lookup(new_client_order_id)
                    if found is not None:
                        self._mark_replaced(client_order_id, new_client_order_id)
                        return found
                    current = await self._lookup(client_order_id)
                    if err.kind is ErrorKind.NOT_FOUND or current is None:
                        raise BrokerError(
                            f"order {client_order_id} not found", reason="order not found"
                        ) from None
                    if not current.status.is_open:
                        raise BrokerError(
                            f"order {client_order_id} is {current.status}: cannot be replaced",
                            reason=err.message or "order is not replaceable",
                        ) from None
                    reason = err.message or err.describe()
                    self._reject_locally(new_req, reason)
                    raise OrderRejected(
                        f"replacement {new_client_order_id} of {client_order_id} rejected by "
                        f"Alpaca: {reason}",
                        reason,
                    ) from None
                new = self._apply(raw, self._now())
                self._mark_replaced(client_order_id, new_client_order_id)
                return new or self._orders[new_client_order_id]
            assert last is not None
            found = await self._lookup(new_client_order_id)
            if found is not None:
                self._mark_replaced(client_order_id, new_client_order_id)
                return found
            err_out = rest.give_up(what, last, tries)
        except AlpacaRequestError as exc:
            err_out = exc
        raise BrokerError(
            f"{what}: Alpaca did not confirm it ({err_out.error.describe()}); the old stop "
            "may still be live. Replacing again with the same ids is safe.",
            reason=err_out.error.message or str(err_out.error.kind),
            retryable=True,
        )

    def _mark_replaced(self, old_cid: str, new_cid: str) -> None:
        """The old stop is done, as the simulated broker records it (the stream's "replaced"
        update, if it comes later, then changes nothing)."""
        old = self._orders.get(old_cid)
        if old is None or not old.status.is_open:
            return
        now = self._now()
        done = old.transition(OrderStatus.CANCELED, at=now, reject_reason=f"replaced by {new_cid}")
        self._orders[old_cid] = done
        for fut in self._waiters.pop(old_cid, []):
            if not fut.done():
                fut.set_result(None)
        self._emit(OrderUpdated(now, done, str(old.status)))

    async def _await_terminal(self, cid: str, timeout: float) -> Order | None:
        """Wait until ``cid`` is terminal: told by the stream, else asked for (a few times,
        backing off) until ``timeout``. Returns our view of the order either way."""
        order = self._orders.get(cid)
        if order is None or order.status.is_terminal:
            return order
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        fut: asyncio.Future[None] = loop.create_future()
        self._waiters.setdefault(cid, []).append(fut)
        try:
            if self.trading_stream.connected_now:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(fut), timeout / 2)
            pause = 0.1
            while not fut.done() and loop.time() < deadline:
                # The stream did not say (down, slow, not started): ask.
                with contextlib.suppress(AlpacaRequestError):
                    await self._lookup(cid)
                if fut.done():
                    break
                with contextlib.suppress(TimeoutError):
                    wait = min(pause, max(0.0, deadline - loop.time()))
                    await asyncio.wait_for(asyncio.shield(fut), wait)
                pause *= 2
        finally:
            fut.cancel()
            waiting = self._waiters.get(cid)
            if waiting is not None and fut in waiting:
                waiting.remove(fut)
        return self._orders.get(cid)

    async def cancel(self, client_order_id: str) -> None:
        """Cancel an open order and wait (up to ``cancel_wait_s``) until Alpaca confirms.
        Canceling a canceled order is a no-op; a filled, expired or rejected one raises."""
        self.session.auth.check()
        cid = client_order_id
        order = self._orders.get(cid)
        if order is None or not order.broker_id:
            order = await self.order_by_client_id(cid)
        if order is None:
            raise BrokerError(f"order {cid} not found", reason="order not found")

        def check(o: Order) -> bool:
            """True when there is nothing left to cancel."""
            if o.status is OrderStatus.CANCELED:
                return True
            if o.status.is_terminal:
                raise BrokerError(
                    f"order {cid} cannot be canceled: it is {o.status}",
                    reason=f'order is already in "{o.status}" state',
                )
            return False

        if check(order):
            return
        client, rest = self._client, self._rest
        broker_id = order.broker_id
        tries = rest.policy.attempts
        for n in range(1, tries + 1):
            try:
                await rest.attempt(f"cancel {cid}", lambda: client.cancel_order_by_id(broker_id))
                break
            except AlpacaRequestError as exc:
                err = exc.error
                if not err.retryable:
                    fresh = await self.order_by_client_id(cid)
                    if fresh is None:
                        raise BrokerError(
                            f"order {cid} not found", reason="order not found"
                        ) from None
                    if check(fresh):
                        return
                    raise BrokerError(
                        f"Alpaca refused to cancel {cid}: {err.message}", reason=err.message
                    ) from None
                if n == tries:
                    raise self._broker_error(
                        f"cancel {cid}", rest.give_up(f"cancel {cid}", err, n)
                    ) from None
                await rest.backoff(n, err)
                if err.ambiguous:
                    fresh = await self.order_by_client_id(cid)
                    if fresh is not None and check(fresh):
                        return
        final = await self._await_terminal(cid, self.cancel_wait_s)
        if final is not None and final.status.is_open:
            log.warning("cancel of %s requested; Alpaca has not confirmed it yet", cid)

    async def close_position(
        self, symbol: str, client_order_id: str | None = None, cancel_orders: bool = True
    ) -> Order:
        """A DAY market order for the whole position, placed through the idempotent submit.
        With ``cancel_orders`` the symbol's open orders (the protective stop) are canceled
        first, or Alpaca would find no quantity available. BrokerError without a position."""
        sym = symbol.strip().upper()
        client = self._client
        try:
            raw = await self._rest.read(f"position {sym}", lambda: client.get_open_position(sym))
        except AlpacaRequestError as exc:
            if exc.error.kind is ErrorKind.NOT_FOUND:
                raise BrokerError(
                    f"no position in {sym}", reason="position does not exist"
                ) from None
            raise self._broker_error(f"position {sym}", exc) from None
        q = shares(raw.get("qty"))
        if q == 0:
            raise BrokerError(f"no position in {sym}", reason="position does not exist")
        if cancel_orders:
            for order in await self.open_orders():
                if order.symbol == sym:
                    await self.cancel(order.client_order_id)
        # One id for this call: its retries are idempotent; a caller wanting idempotency
        # across restarts passes the engine's deterministic id.
        cid = client_order_id or f"aw-close-{sym}-{uuid.uuid4().hex[:16]}"
        return await self.submit(
            OrderRequest(
                client_order_id=cid,
                symbol=sym,
                side=OrderSide.SELL if q > 0 else OrderSide.BUY,
                qty=abs(q),
                type=OrderType.MARKET,
                tif=TimeInForce.DAY,
                intent=OrderIntent.FLATTEN,
            )
        )

    # ------------------------------------------------------------------ clock and calendar
    async def broker_time(self) -> datetime:
        """Alpaca's clock now (``GET /v2/clock``), to compare with ours at start."""
        raw = await self._read("clock", self._client.get_clock)
        theirs = parse_time(raw.get("timestamp") if isinstance(raw, dict) else None)
        if theirs is None:
            raise BrokerError("Alpaca's clock gave no readable time", reason="clock unreadable")
        return theirs

    async def check_calendar(
        self, start: date | None = None, days: int = 30, max_clock_skew_s: float = 5.0
    ) -> CalendarCheck:
        """Compare Alpaca's clock and calendar (``start`` .. ``start + days``) with the local
        XNYS calendar; log and publish every disagreement (CalendarDisagreement)."""
        now = self._now()
        first = start or now.date()
        last = first + timedelta(days=days)
        client = self._client
        clock_raw = await self._read("clock", client.get_clock)
        cal_req = GetCalendarRequest(start=first, end=last)
        cal_raw = await self._read("calendar", lambda: client.get_calendar(cal_req))
        cal = self.calendar
        problems: list[str] = []

        alpaca_now = parse_time(clock_raw.get("timestamp"))
        if alpaca_now is not None:
            skew = (alpaca_now - now).total_seconds()
            if abs(skew) > max_clock_skew_s:
                problems.append(
                    f"Alpaca's clock reads {alpaca_now:%Y-%m-%d %H:%M:%S} ET, this computer "
                    f"{now:%Y-%m-%d %H:%M:%S} ET ({skew:+.0f} s); check the system clock"
                )
            local_open = cal.market_state(alpaca_now) is MarketState.OPEN
            if bool(clock_raw.get("is_open")) != local_open:
                problems.append(
                    f"at {alpaca_now:%Y-%m-%d %H:%M} ET Alpaca says the market is "
                    f"{'open' if clock_raw.get('is_open') else 'closed'}, XNYS says "
                    f"{'open' if local_open else 'closed'}"
                )
            for key, local_t in (
                ("next_open", self._next_boundary(alpaca_now, cal.open_time)),
                ("next_close", self._next_boundary(alpaca_now, cal.close_time)),
            ):
                theirs = parse_time(clock_raw.get(key))
                if theirs is not None and local_t is not None and theirs != local_t:
                    problems.append(
                        f"Alpaca's {key.replace('_', ' ')} is {theirs:%Y-%m-%d %H:%M} ET, "
                        f"XNYS's {local_t:%Y-%m-%d %H:%M} ET"
                    )

        theirs_days: dict[date, tuple[str, str]] = {}
        for row in cal_raw or []:
            try:
                theirs_days[date.fromisoformat(str(row["date"]))] = (
                    str(row.get("open", ""))[:5],
                    str(row.get("close", ""))[:5],
                )
            except (KeyError, ValueError):
                log.warning("unreadable Alpaca calendar row %r", row)
        ours = set(cal.sessions_in_range(first, last))
        for d in sorted(ours | {d for d in theirs_days if first <= d <= last}):
            if d not in theirs_days:
                problems.append(f"{d}: XNYS has a session, Alpaca's calendar does not")
                continue
            if d not in ours:
                problems.append(f"{d}: Alpaca's calendar has a session, XNYS does not")
                continue
            o, c = f"{cal.open_time(d):%H:%M}", f"{cal.close_time(d):%H:%M}"
            if theirs_days[d] != (o, c):
                t_o, t_c = theirs_days[d]
                problems.append(f"{d}: Alpaca says {t_o}-{t_c} ET, XNYS says {o}-{c} ET")

        for p in problems:
            log.warning("calendar check: %s", p)
            self.session.publish(CalendarDisagreement(now, "WARNING", "alpaca-calendar", p))
        return CalendarCheck(first, last, tuple(problems), alpaca_now)

    def _next_boundary(self, at: datetime, boundary: Callable[[date], datetime]) -> datetime | None:
        cal = self.calendar
        try:
            s = cal.session_on_or_after(at.date())
            t = boundary(s)
            if t <= at:
                t = boundary(cal.next_session(s))
            return t
        except ValueError:
            return None
