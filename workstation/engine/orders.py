"""The order manager: every order goes to the store before it goes to the broker.

:class:`OrderManager` is the one way the engines place, cancel and replace orders, and the
one place broker events (``OrderUpdated`` / ``OrderFilled``) come in. Its rules:

* **Write first.** :meth:`OrderManager.submit` writes the order (status ``new``) before it
  calls the broker (:meth:`OrderManager.prepare` writes it without sending, for a decision
  that must be on record before the steps leading to the send); cancel and replace requests
  are recorded as order events first (a cancel whose reason the caller already wrote may
  skip that). After a crash the deterministic client order id is in the store, so a restart
  reconciles the order instead of placing it again.
* **Never twice.** The broker's ``submit`` is idempotent by client order id. When a submit
  fails ambiguously (a timeout, a retryable ``BrokerError``) the order may or may not exist at
  the broker, so it is looked up by client id before any retry; a retry re-sends the same id.
  An order whose stored state is already terminal is never sent again.
* **Rejections are final.** ``OrderRejected`` is recorded with the broker's reason, published
  and re-raised; it is never retried.
* **The state machine decides.** A broker update moves the stored order only along
  ``LEGAL_TRANSITIONS``. A duplicate (same status, same filled quantity) is ignored quietly; an
  illegal or stale one (``accepted`` after ``filled``, a smaller filled quantity) is logged
  and not applied.
* **Fills are recorded before anything reacts.** ``OrderFilled`` -> ``store.record_fill``
  (idempotent on the broker's fill id) -> the order's status -> publish on the bus -> the fill
  listeners (the position book). A fill whose order the store already counts as filled that
  far (``stored filled_qty >= the order's cumulative filled_qty``, e.g. caught up after a
  restart under another id) is not counted twice.

Events from the broker arrive through a synchronous handler (``broker.on_event``); the store
is synchronous too, so a fill is in the database before the handler returns. Anything that
needs the broker again (placing a protective stop) is the listener's to schedule.

Do not give the broker the event bus as well: the manager republishes every order event on
the bus after it is stored, and only once.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime
from typing import Any, TypeVar

from workstation.broker.base import Broker, BrokerError, OrderRejected
from workstation.core.clock import Clock
from workstation.core.events import Event, EventBus, LogEvent, OrderFilled, OrderUpdated
from workstation.core.models import (
    LEGAL_TRANSITIONS,
    Fill,
    Order,
    OrderIntent,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from workstation.store import OrderRow, Store

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Called after a NEW fill is stored and the order's status applied: (order, fill, stored row).
FillListener = Callable[[Order, Fill, OrderRow], None]
#: Called after a status change is stored: (order, previous status).
UpdateListener = Callable[[Order, OrderStatus], None]

SOURCE = "orders"
#: The reject_reason (prefix) of an order closed because it never reached the broker.
NOT_SENT = "never reached the broker"


class OrderUncertain(BrokerError):
    """The broker did not answer and the order could not be found there either.

    The order stays open in the store (status ``new``): the next reconciliation looks it up
    by its client id. It is NOT re-sent blindly by anyone.
    """


def order_from_row(row: OrderRow) -> Order:
    """The domain :class:`Order` of a stored order row."""
    request = OrderRequest(
        client_order_id=row.client_order_id,
        symbol=row.symbol,
        side=OrderSide(row.side),
        qty=round(row.qty),
        type=OrderType(row.order_type),
        tif=TimeInForce(row.tif),
        limit_price=row.limit_price,
        stop_price=row.stop_price,
        intent=OrderIntent(row.intent),
        strategy=row.strategy or "",
    )
    try:
        status = OrderStatus(row.status)
    except ValueError:  # a broker word we do not model ("replaced", "pending_cancel", ...)
        status = OrderStatus.CANCELED if not row.is_open else OrderStatus.ACCEPTED
    return Order(
        request=request,
        status=status,
        broker_id=row.broker_order_id or "",
        filled_qty=round(row.filled_qty),
        avg_fill_price=row.avg_fill_price,
        reject_reason=row.reject_reason or "",
        broker_status=row.broker_status or "",
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class OrderManager:
    """Places, cancels and replaces orders; applies broker events to the store.

    ``timeout_s`` bounds every broker call; ``retries`` is how many times an ambiguous
    failure is retried (after the lookup by client id), ``retry_delay_s`` the clock time
    between attempts.
    """

    def __init__(
        self,
        broker: Broker,
        store: Store,
        clock: Clock,
        bus: EventBus,
        *,
        timeout_s: float = 10.0,
        retries: int = 2,
        retry_delay_s: float = 1.0,
    ) -> None:
        if timeout_s <= 0 or retries < 0 or retry_delay_s < 0:
            raise ValueError("timeout_s must be > 0, retries and retry_delay_s >= 0")
        self.broker = broker
        self.store = store
        self.clock = clock
        self.bus = bus
        self.timeout_s = timeout_s
        self.retries = retries
        self.retry_delay_s = retry_delay_s
        self._orders: dict[str, Order] = {}
        self._fill_listeners: list[FillListener] = []
        self._update_listeners: list[UpdateListener] = []
        broker.on_event(self.handle_broker_event)

    # ------------------------------------------------------------------ listeners
    def on_fill(self, listener: FillListener) -> None:
        self._fill_listeners.append(listener)

    def on_update(self, listener: UpdateListener) -> None:
        self._update_listeners.append(listener)

    # ---------------------------------------------------------------------- views
    def order(self, client_order_id: str) -> Order | None:
        """The latest known state of an order (memory, else the store), or None."""
        cached = self._orders.get(client_order_id)
        if cached is not None:
            return cached
        row = self.store.order_by_client_id(client_order_id)
        if row is None:
            return None
        order = order_from_row(row)
        self._orders[client_order_id] = order
        return order

    def known(self, client_order_id: str) -> bool:
        return client_order_id in self._orders or (
            self.store.order_by_client_id(client_order_id) is not None
        )

    # --------------------------------------------------------------------- submit
    async def submit(
        self,
        request: OrderRequest,
        *,
        session: date,
        candidate_id: int | None = None,
        position_id: int | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> Order:
        """Store ``request`` (status new), send it, store the broker's answer; the order.

        ``detail`` is kept with the order's creation event (e.g. the exit reason), so it
        survives a restart. A client id already in the store is not written again: if its
        stored state is terminal it is returned without contacting the broker, else it is
        sent again (idempotent at the broker) to finish an interrupted submission.
        Raises ``OrderRejected`` (recorded, never retried), ``OrderUncertain`` (no answer and
        not found at the broker: left open in the store for reconciliation), or
        ``ValueError`` if the id is stored for a different order.
        """
        cid = request.client_order_id
        stored = self.prepare(
            request,
            session=session,
            candidate_id=candidate_id,
            position_id=position_id,
            detail=detail,
        )
        if stored.status.is_terminal:
            log.info("order %s is already %s; not sent again", cid, stored.status)
            return stored
        answer = await self._with_lookup(cid, lambda: self.broker.submit(request), what="submit")
        await self._absorb(answer, source="submit")
        return self._orders[cid]

    def _record_new(
        self,
        request: OrderRequest,
        *,
        session: date,
        candidate_id: int | None = None,
        position_id: int | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> Order:
        """Write ``request`` as a new order (status new) and track it; the order."""
        now = self.clock.now()
        self.store.upsert_order(
            request.client_order_id,
            at=now,
            session=session,
            symbol=request.symbol,
            side=request.side,
            qty=request.qty,
            order_type=request.type,
            tif=request.tif,
            limit_price=request.limit_price,
            stop_price=request.stop_price,
            intent=request.intent,
            strategy=request.strategy,
            candidate_id=candidate_id,
            position_id=position_id,
            status=OrderStatus.NEW,
            event_detail=detail,
        )
        order = Order(request, OrderStatus.NEW, created_at=now, updated_at=now)
        self._orders[request.client_order_id] = order
        return order

    def prepare(
        self,
        request: OrderRequest,
        *,
        session: date,
        candidate_id: int | None = None,
        position_id: int | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> Order:
        """Write ``request`` to the store (status new) without sending it; the order.

        For a decision that must be on record before the steps that lead to sending it
        (an exit cancels the protective stop first); :meth:`submit` sends it. An id already
        stored is not written again (its stored state is returned); a different order under
        the same id raises ``ValueError``.
        """
        cid = request.client_order_id
        existing = self.store.order_by_client_id(cid)
        if existing is None:
            return self._record_new(
                request,
                session=session,
                candidate_id=candidate_id,
                position_id=position_id,
                detail=detail,
            )
        stored = order_from_row(existing)
        if _identity(stored.request) != _identity(request):
            raise ValueError(
                f"client order id {cid} is already stored for a different order "
                f"({stored.request}); refusing to send {request}"
            )
        return self._orders.setdefault(cid, stored)

    async def _with_lookup(
        self,
        cid: str,
        call: Callable[[], Awaitable[Order]],
        *,
        what: str,
    ) -> Order:
        """Run ``call`` for order ``cid``; on an ambiguous failure look ``cid`` up at the
        broker before any retry (a retry re-sends the same id).

        OrderRejected is recorded on ``cid`` and re-raised. A non-retryable BrokerError that
        leaves no order at the broker marks ``cid`` rejected with the broker's words.
        """
        attempts = self.retries + 1
        last: BaseException | None = None
        for attempt in range(1, attempts + 1):
            try:
                return await self._timed(call())
            except OrderRejected as exc:
                self._record_rejection(cid, exc.reason or str(exc))
                raise
            except (TimeoutError, BrokerError) as exc:
                last = exc
                retryable = isinstance(exc, TimeoutError) or exc.retryable
                self._note(cid, f"{what}_uncertain", {"attempt": attempt, "error": _text(exc)})
                found, looked = await self._lookup(cid)
                if found is not None:
                    log.info("%s of %s: no answer, but the broker has it: %s", what, cid, found)
                    return found
                if not retryable and looked:
                    # The broker refused and has no such order: a rejection in all but name.
                    reason = getattr(exc, "reason", "") or _text(exc)
                    self._record_rejection(cid, reason)
                    raise OrderRejected(f"{what} of {cid} refused: {_text(exc)}", reason) from exc
                if attempt < attempts:
                    await self.clock.sleep(self.retry_delay_s * attempt)
        self._publish_log(
            "ERROR",
            f"{what} of {cid} got no answer after {attempts} attempts and the broker does not "
            f"show it; it stays open in the store until the next reconciliation ({last})",
        )
        raise OrderUncertain(f"{what} of {cid} is uncertain: {last}", reason=_text(last))

    async def _timed(self, awaitable: Awaitable[T]) -> T:
        # asyncio.timeout, not wait_for: no extra task per call (this is on the exit path).
        async with asyncio.timeout(self.timeout_s):
            return await awaitable

    async def _lookup(self, cid: str) -> tuple[Order | None, bool]:
        """(the broker's order or None, whether the lookup itself worked)."""
        try:
            return await self._timed(self.broker.order_by_client_id(cid)), True
        except (TimeoutError, BrokerError) as exc:
            log.warning("lookup of %s at the broker failed: %s", cid, exc)
            return None, False

    def _record_rejection(self, cid: str, reason: str) -> None:
        now = self.clock.now()
        current = self.order(cid)
        if current is None:
            return
        if current.status is not OrderStatus.REJECTED:
            if OrderStatus.REJECTED in LEGAL_TRANSITIONS[current.status]:
                rejected = current.transition(OrderStatus.REJECTED, at=now, reject_reason=reason)
                self._apply(rejected, now, source="rejection")
            else:
                log.warning("order %s rejected while %s: not applied", cid, current.status)
                self._note_rejection(current, reason, now)

    def _note_rejection(self, order: Order, reason: str, at: datetime) -> None:
        """The one record of a broker's rejection, whether it came as the answer to the
        request or later on the trade stream (issue 12.8): the log line and the audit row.
        (The OrderUpdated event and the update listeners follow from the status change.)"""
        cid = order.client_order_id
        req = order.request
        log.warning(
            "order %s (%s %s %s, %s) rejected by the broker: %s",
            cid,
            req.symbol,
            req.side,
            req.qty,
            req.intent,
            reason,
        )
        self.store.audit("engine", "order.rejected", f"order:{cid}", {"reason": reason}, at=at)

    # --------------------------------------------------------------------- cancel
    async def cancel(
        self,
        client_order_id: str,
        *,
        detail: Mapping[str, Any] | None = None,
        record: bool = True,
    ) -> Order:
        """Ask the broker to cancel; returns the order's latest state.

        The request is recorded first (an order event ``cancel_requested`` with ``detail``),
        unless ``record`` is False because the caller already wrote why (an exit order's
        creation names the stop it cancels). Whether the cancel won or the order had already
        filled (or expired), the returned order says so: the caller checks ``status``.
        Raises KeyError for an unknown id and BrokerError if the broker cannot be reached
        and the order's state stays unknown.
        """
        cid = client_order_id
        current = self.order(cid)
        if current is None:
            raise KeyError(f"no order with client id {cid}")
        if current.status.is_terminal:
            return current
        if record:
            self.store.record_order_event(
                cid,
                "cancel_requested",
                at=self.clock.now(),
                from_status=current.status,
                detail=detail,
            )
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                await self._timed(self.broker.cancel(cid))
                break
            except (TimeoutError, BrokerError) as exc:
                found, _ = await self._lookup(cid)
                if found is not None:
                    await self._absorb(found, source="cancel")
                    if found.status.is_terminal:
                        return self._orders[cid]
                retryable = isinstance(exc, TimeoutError) or exc.retryable
                if not retryable or attempt == attempts:
                    self._note(cid, "cancel_failed", {"error": _text(exc)})
                    raise
                await self.clock.sleep(self.retry_delay_s * attempt)
        latest = self._orders[cid]
        if latest.status.is_open:
            # A broker that cancels asynchronously answers before its event: ask for the state.
            found, _ = await self._lookup(cid)
            if found is not None:
                await self._absorb(found, source="cancel")
        return self._orders[cid]

    async def cancel_entries(self, session: date) -> list[Order]:
        """Cancel every entry order of ``session`` that can still fill (the 10:00 cut-off).

        Returns the orders' states afterwards; an order that could not be canceled is logged
        and reported in the audit log, and the others are still canceled.
        """
        rows = [
            r
            for r in self.store.open_orders()
            if r.intent == OrderIntent.ENTRY and r.session == session
        ]
        done: list[Order] = []
        failed: list[str] = []
        for row in rows:
            try:
                done.append(await self.cancel(row.client_order_id))
            except (BrokerError, KeyError) as exc:
                failed.append(row.client_order_id)
                self._publish_log("ERROR", f"cancel of entry {row.client_order_id} failed: {exc}")
        self.store.audit(
            "engine",
            "entries.canceled",
            f"session:{session.isoformat()}",
            {
                "canceled": [o.client_order_id for o in done if o.status is OrderStatus.CANCELED],
                "already_done": [
                    o.client_order_id for o in done if o.status is not OrderStatus.CANCELED
                ],
                "failed": failed,
            },
            at=self.clock.now(),
        )
        return done

    # -------------------------------------------------------------------- replace
    async def replace_stop(
        self,
        client_order_id: str,
        stop_price: float,
        new_client_order_id: str,
        *,
        session: date,
        qty: int | None = None,
        position_id: int | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> Order:
        """Replace an open stop by ``new_client_order_id`` at ``stop_price`` (and ``qty``).

        The replacement is stored (status new) and the request noted on the old order before
        the broker is asked. Returns the new order. Raises OrderRejected (the old stop stays
        live), BrokerError (e.g. the old stop already filled: its state is applied first),
        OrderUncertain, KeyError for an unknown old id.
        """
        old = self.order(client_order_id)
        if old is None:
            raise KeyError(f"no order with client id {client_order_id}")
        if old.request.type is not OrderType.STOP:
            raise ValueError(f"order {client_order_id} is a {old.request.type}, not a stop")
        new_qty = old.remaining_qty if qty is None else int(qty)
        new_request = replace(
            old.request,
            client_order_id=new_client_order_id,
            stop_price=float(stop_price),
            qty=new_qty,
        )
        now = self.clock.now()
        if self.store.order_by_client_id(new_client_order_id) is None:
            self._record_new(
                new_request,
                session=session,
                position_id=position_id,
                detail={"replaces": client_order_id, **(detail or {})},
            )
        else:
            stored = self.order(new_client_order_id)
            assert stored is not None
            if stored.status.is_terminal:
                return stored
        self.store.record_order_event(
            client_order_id,
            "replace_requested",
            at=now,
            from_status=old.status,
            detail={"by": new_client_order_id, "stop_price": float(stop_price), "qty": new_qty},
        )
        try:
            answer = await self._with_lookup(
                new_client_order_id,
                lambda: self.broker.replace_stop(
                    client_order_id, float(stop_price), new_client_order_id, new_qty
                ),
                what="replace",
            )
        except BrokerError:
            # Often the old stop is no longer open (filled or canceled meanwhile): bring its
            # state up to date so the caller sees why.
            found, _ = await self._lookup(client_order_id)
            if found is not None:
                await self._absorb(found, source="replace")
            raise
        await self._absorb(answer, source="replace")
        # The broker's cancel of the old stop normally arrives as an event; if it did not,
        # ask (an old stop left open would hold the position's quantity).
        if self._orders[client_order_id].status.is_open:
            found, _ = await self._lookup(client_order_id)
            if found is not None:
                await self._absorb(found, source="replace")
        return self._orders[new_client_order_id]

    # -------------------------------------------------------------- broker events
    def handle_broker_event(self, event: Event) -> None:
        """The broker's event handler (registered on construction)."""
        try:
            if isinstance(event, OrderFilled):
                self.apply_fill(event.order, event.fill)
            elif isinstance(event, OrderUpdated):
                self._apply(event.order, event.at, source="broker")
        except Exception as exc:
            # A store failure here loses nothing the broker does not still have: the next
            # reconciliation catches up. It must be loud, though.
            log.exception("broker event %s could not be applied", type(event).__name__)
            self._publish_log("ERROR", f"a broker event could not be stored: {exc!r}")

    def apply_fill(self, order: Order, fill: Fill) -> bool:
        """Store ``fill`` of ``order`` (its state after the fill), apply the status, publish,
        then tell the fill listeners. Returns False for a duplicate or an unknown order."""
        cid = fill.client_order_id
        row = self.store.order_by_client_id(cid)
        if row is None:
            self._publish_log(
                "ERROR",
                f"fill {fill.fill_id} ({fill.symbol} {fill.side} {fill.qty} @ {fill.price:g}) "
                f"is for order {cid}, which the store does not know; reconcile with the broker",
            )
            return False
        if row.filled_qty >= order.filled_qty > 0 and not self._fill_stored(fill.fill_id, cid):
            # Already counted under another fill id (a catch-up after a restart).
            log.warning(
                "fill %s of %s already counted (stored %g >= broker %d); not counted again",
                fill.fill_id,
                cid,
                row.filled_qty,
                order.filled_qty,
            )
            self._apply(order, fill.at, source="fill")
            return False
        result = self.store.record_fill(
            fill.fill_id,
            cid,
            symbol=fill.symbol,
            side=fill.side,
            qty=fill.qty,
            price=fill.price,
            at=fill.at,
        )
        previous = self._transition(order, fill.at, source="fill")
        latest = self._orders.get(cid, order)
        if not result.duplicate:
            self.bus.publish(OrderFilled(fill.at, latest, fill))
            stored = self.store.order_by_client_id(cid) or row
            for listener in tuple(self._fill_listeners):
                try:
                    listener(latest, fill, stored)
                except Exception as exc:
                    log.exception("fill listener %r failed", listener)
                    self._publish_log("ERROR", f"a fill of {cid} could not be processed: {exc!r}")
        # The status change is announced after the fill is processed, so an update listener
        # seeing "filled" also sees the fill's effect (the position closed or grown).
        if previous is not None:
            self._announce(latest, previous, fill.at)
        return not result.duplicate

    def _fill_stored(self, fill_id: str, cid: str) -> bool:
        return any(f.fill_id == fill_id for f in self.store.fills_for_order(cid))

    async def _absorb(self, order: Order, *, source: str) -> bool:
        """Take in a broker's answer: through :meth:`catch_up` when it reports fills the store
        has not seen (an answer for an order that progressed unseen), else as an update."""
        current = self.order(order.client_order_id)
        if current is not None and order.filled_qty > current.filled_qty:
            return self.catch_up(order, await self.broker_fills(order.client_order_id) or ())
        return self._apply(order, self.clock.now(), source=source)

    def apply_order(self, order: Order, source: str = "broker") -> bool:
        """Apply a broker's view of an order (a REST answer, a lookup) like an update event."""
        return self._apply(order, order.updated_at or self.clock.now(), source=source)

    def _apply(self, incoming: Order, at: datetime, *, source: str) -> bool:
        """Move the stored order to ``incoming``'s status if the state machine allows it,
        then publish and tell the update listeners. True if it was applied."""
        previous = self._transition(incoming, at, source=source)
        if previous is None:
            return False
        if incoming.status is OrderStatus.REJECTED:
            reason = incoming.reject_reason or "rejected by the broker"
            self._note_rejection(incoming, reason, at)
        self._announce(self._orders[incoming.client_order_id], previous, at)
        return True

    def _transition(self, incoming: Order, at: datetime, *, source: str) -> OrderStatus | None:
        """Store and cache ``incoming``'s status if legal; the previous status, or None."""
        cid = incoming.client_order_id
        current = self.order(cid)
        if current is None:
            self._publish_log(
                "WARNING",
                f"the broker reports order {cid} ({incoming.symbol} {incoming.request.side} "
                f"{incoming.request.qty}, {incoming.status}), which the store does not know",
            )
            return None
        new, cur = incoming.status, current.status
        if new is cur and not (
            new is OrderStatus.PARTIALLY_FILLED and incoming.filled_qty > current.filled_qty
        ):
            if incoming.filled_qty < current.filled_qty:
                log.info("stale %s update of %s ignored (%s)", new, cid, source)
                return None
            known = {}
            if incoming.broker_id and not current.broker_id:
                known["broker_id"] = incoming.broker_id
            if incoming.broker_status and incoming.broker_status != current.broker_status:
                known["broker_status"] = incoming.broker_status  # e.g. Alpaca's accepted -> new
            if known:
                self._orders[cid] = replace(current, **known)
                self.store.upsert_order(
                    cid,
                    at=at,
                    broker_order_id=known.get("broker_id"),
                    broker_status=known.get("broker_status"),
                )
            return None  # not a change of state
        if new not in LEGAL_TRANSITIONS[cur] or incoming.filled_qty < current.filled_qty:
            message = (
                f"order {cid}: update {cur} -> {new} (filled {current.filled_qty} -> "
                f"{incoming.filled_qty}) from {source} is illegal or stale; not applied"
            )
            log.warning(message)
            self.bus.publish(LogEvent(at, "WARNING", SOURCE, message))
            return None
        self.store.upsert_order(
            cid,
            at=at,
            status=new,
            broker_order_id=incoming.broker_id or None,
            reject_reason=incoming.reject_reason or None,
            broker_status=incoming.broker_status or None,
            event_detail={"source": source, "filled_qty": incoming.filled_qty},
        )
        self._orders[cid] = replace(
            incoming,
            request=current.request,
            created_at=current.created_at or incoming.created_at,
            updated_at=at,
        )
        return cur

    def _announce(self, order: Order, previous: OrderStatus, at: datetime) -> None:
        self.bus.publish(OrderUpdated(at, order, str(previous)))
        for listener in tuple(self._update_listeners):
            try:
                listener(order, previous)
            except Exception as exc:
                log.exception("order update listener %r failed", listener)
                self._publish_log(
                    "ERROR",
                    f"an update of {order.client_order_id} could not be processed: {exc!r}",
                )

    # ------------------------------------------------------------------- catch-up
    def catch_up(self, broker_order: Order, fills: Iterable[Fill] = ()) -> bool:
        """Bring a stored order up to the broker's record of it (after a restart).

        ``fills`` are the broker's executions of this order (any order; duplicates are
        ignored by fill id). If the broker cannot list them and its filled quantity is ahead
        of the store, the difference is recorded as ONE fill at the implied average price,
        with the id ``<client id>-catchup-<stored>-<broker>`` (so a second catch-up is a
        duplicate). Every fill goes through the live path: stored, published, and given to
        the position book. Returns True if anything changed.
        """
        cid = broker_order.client_order_id
        current = self.order(cid)
        if current is None:
            raise KeyError(f"no order with client id {cid} in the store")
        changed = False
        own = sorted((f for f in fills if f.client_order_id == cid), key=lambda f: f.at)
        if own:
            stored_ids = {f.fill_id for f in self.store.fills_for_order(cid)}
            cum = 0
            value = 0.0
            for fill in own:
                cum += fill.qty
                value += fill.qty * fill.price
                if fill.fill_id in stored_ids:
                    continue
                status = (
                    OrderStatus.FILLED
                    if cum >= broker_order.request.qty
                    else OrderStatus.PARTIALLY_FILLED
                )
                step = replace(
                    broker_order,
                    status=status,
                    filled_qty=cum,
                    avg_fill_price=value / cum,
                    updated_at=fill.at,
                )
                changed |= self.apply_fill(step, fill)
        else:
            row = self.store.order_by_client_id(cid)
            assert row is not None
            stored_qty = round(row.filled_qty)
            delta = broker_order.filled_qty - stored_qty
            if delta > 0 and broker_order.avg_fill_price is not None:
                stored_value = (row.avg_fill_price or 0.0) * stored_qty
                price = (broker_order.avg_fill_price * broker_order.filled_qty - stored_value) / (
                    delta
                )
                at = broker_order.updated_at or self.clock.now()
                fill = Fill(
                    fill_id=f"{cid}-catchup-{stored_qty}-{broker_order.filled_qty}",
                    client_order_id=cid,
                    symbol=broker_order.symbol,
                    side=broker_order.request.side,
                    qty=delta,
                    price=price,
                    at=at,
                )
                changed |= self.apply_fill(broker_order, fill)
        changed |= self.apply_order(broker_order, source="catch-up")
        return changed

    def mark_not_sent(self, client_order_id: str, note: str = "") -> Order:
        """Record that a stored open order never reached the broker (the broker has no
        record of its client id): it becomes CANCELED with that reason. For reconciliation
        only; never for an order whose submission may still be in flight."""
        current = self.order(client_order_id)
        if current is None:
            raise KeyError(f"no order with client id {client_order_id}")
        if current.status.is_terminal:
            return current
        now = self.clock.now()
        reason = NOT_SENT + (f": {note}" if note else "")
        self._apply(
            current.transition(OrderStatus.CANCELED, at=now, reject_reason=reason),
            now,
            source="reconcile",
        )
        return self._orders[client_order_id]

    def adopt_order(self, order: Order, *, session: date, note: str = "") -> Order:
        """Start tracking an order the broker has and the store does not (placed outside
        the app). Its fills so far are not replayed: the position is reconciled on its own."""
        cid = order.client_order_id
        if self.store.order_by_client_id(cid) is not None:
            raise ValueError(f"order {cid} is already in the store")
        r = order.request
        at = order.created_at or self.clock.now()
        self.store.upsert_order(
            cid,
            at=at,
            session=session,
            symbol=r.symbol,
            side=r.side,
            qty=r.qty,
            order_type=r.type,
            tif=r.tif,
            limit_price=r.limit_price,
            stop_price=r.stop_price,
            intent=r.intent,
            strategy=r.strategy,
            status=order.status,
            broker_order_id=order.broker_id or None,
            event_detail={"adopted": True, "note": note, "filled_qty": order.filled_qty},
        )
        self._orders[cid] = order
        return order

    async def broker_fills(self, client_order_id: str) -> list[Fill] | None:
        """The broker's fills of an order if the broker can list them (an optional
        ``fills_for_order(cid)`` or ``fills()``, sync or async), else None."""
        by_order = getattr(self.broker, "fills_for_order", None)
        every = getattr(self.broker, "fills", None)
        try:
            if callable(by_order):
                got = by_order(client_order_id)
            elif callable(every):
                got = every()
            else:
                return None
            if inspect.isawaitable(got):
                got = await self._timed(got)
        except (TimeoutError, BrokerError) as exc:
            log.warning("the broker's fills of %s could not be listed: %s", client_order_id, exc)
            return None
        return [f for f in got if f.client_order_id == client_order_id]

    # -------------------------------------------------------------------- helpers
    def _note(self, cid: str, what: str, detail: Mapping[str, Any]) -> None:
        current = self.order(cid)
        try:
            self.store.record_order_event(
                cid,
                what,
                at=self.clock.now(),
                from_status=None if current is None else current.status,
                detail=detail,
            )
        except KeyError:
            log.warning("%s for unknown order %s: %s", what, cid, detail)

    def _publish_log(self, level: str, message: str) -> None:
        getattr(log, level.lower(), log.info)(message)
        self.bus.publish(LogEvent(self.clock.now(), level, SOURCE, message))


def _identity(r: OrderRequest) -> tuple[Any, ...]:
    """What must match for a resubmission to be the same order."""
    return (r.symbol, r.side, r.qty, r.type, r.tif, r.limit_price, r.stop_price, r.intent)


def _text(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    return str(exc) or type(exc).__name__
