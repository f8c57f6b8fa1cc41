"""Restart and reconciliation: the store against the broker, before any trading.

On start the engines reload their state from the store (:meth:`PositionBook.restore`) and
compare it with the broker. Until the two agree, :class:`TradingGate` blocks new trades.

**Catch-up versus mismatch** (architecture principle 6: a mismatch is shown, never silently
fixed). The line is drawn by whose record explains the difference:

* *Catch-up* (automatic, audited, published): the broker's record of one of OUR orders, found
  by its client order id, is ahead of the store - the order filled, partly filled, was
  canceled or expired while the app was down. :func:`apply_missed_fills` applies exactly what
  the broker's event stream would have delivered (the order's status and its fills, by fill
  id, through the order manager's live path), so the position book opens, grows or closes
  positions as it would have. Nothing is guessed: the broker's history of our own order is
  the fact. Likewise, :meth:`Reconciler.run` re-places a missing protective stop of a
  position on which the store and the broker AGREE (``protect=True``): the rules demand that a
  stop always rests, and placing it is what the engine would have done had it been running.
  A stored stop the broker never received (the app stopped between writing and sending it) is
  marked "never reached the broker" on the way. Each of these is listed in
  :class:`~workstation.engine.events.ReconcileFinished` and the audit log.
* *Mismatch* (shown; blocks trading until the user resolves it): anything the history of our
  own orders does not explain - a position only at the broker or only in the store, a
  different quantity or side, an open order the store does not know, an entry or exit order
  the broker never received (re-sending it late could break a rule with a deadline), and a
  missing stop where the positions disagree. The user picks per :class:`Difference`:
  :meth:`Reconciler.adopt` (take the broker's side), :meth:`Reconciler.ignore` (acknowledge,
  change nothing) or :meth:`Reconciler.flatten` (close it out at the broker); each is audited.

:func:`compare` is a pure function of both sides; :func:`reconcile` gathers them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from workstation.broker.base import Broker, BrokerError
from workstation.core.clock import Clock
from workstation.core.events import EventBus, LogEvent
from workstation.core.models import (
    ExitReason,
    Order,
    OrderIntent,
    OrderRequest,
    OrderSide,
    OrderType,
    Side,
    TimeInForce,
    client_order_id,
)
from workstation.engine.events import DifferenceResolved, ReconcileFinished, TradingGateChanged
from workstation.engine.orders import OrderManager
from workstation.engine.positions import EntryPlan, MinuteBarSource, PositionBook
from workstation.store import OrderRow, PositionRow, Store

log = logging.getLogger(__name__)

SOURCE = "reconcile"
_CLOSING = (OrderIntent.STOP, OrderIntent.EXIT, OrderIntent.FLATTEN)


class DifferenceKind(StrEnum):
    POSITION_ONLY_AT_BROKER = "position_only_at_broker"
    POSITION_ONLY_IN_STORE = "position_only_in_store"
    POSITION_MISMATCH = "position_mismatch"  # quantity or side
    STOP_MISSING = "stop_missing"  # unprotected position!
    STOP_MISMATCH = "stop_mismatch"  # the resting stop does not cover the position
    ORDER_ONLY_AT_BROKER = "order_only_at_broker"
    ORDER_ONLY_IN_STORE = "order_only_in_store"


class Resolution(StrEnum):
    ADOPT = "adopt"
    IGNORE = "ignore"
    FLATTEN = "flatten"


_ALL = (Resolution.ADOPT, Resolution.IGNORE, Resolution.FLATTEN)
ACTIONS: Mapping[DifferenceKind, tuple[Resolution, ...]] = {
    DifferenceKind.POSITION_ONLY_AT_BROKER: _ALL,
    DifferenceKind.POSITION_ONLY_IN_STORE: (Resolution.ADOPT, Resolution.IGNORE),
    DifferenceKind.POSITION_MISMATCH: _ALL,
    DifferenceKind.STOP_MISSING: _ALL,
    DifferenceKind.STOP_MISMATCH: _ALL,
    DifferenceKind.ORDER_ONLY_AT_BROKER: _ALL,
    DifferenceKind.ORDER_ONLY_IN_STORE: (Resolution.ADOPT, Resolution.IGNORE),
}

_ORDER = {kind: i for i, kind in enumerate(DifferenceKind)}


@dataclass(frozen=True)
class Difference:
    """One way the store and the broker disagree. Quantities are signed (short < 0)."""

    kind: DifferenceKind
    symbol: str
    message: str
    store_qty: int | None = None
    broker_qty: int | None = None
    broker_avg_price: float | None = None
    position_id: int | None = None
    client_order_id: str | None = None
    store_order: OrderRow | None = None
    broker_order: Order | None = None  # open at the broker, or its final state (looked up)

    @property
    def key(self) -> str:
        """Identifies the difference across reconciliations (for the gate and the GUI)."""
        return f"{self.kind}:{self.symbol}:{self.client_order_id or ''}"

    @property
    def actions(self) -> tuple[Resolution, ...]:
        """The resolutions that make sense for this kind."""
        return ACTIONS[self.kind]

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the audit log."""
        b = self.broker_order
        return {
            "kind": str(self.kind),
            "symbol": self.symbol,
            "message": self.message,
            "store_qty": self.store_qty,
            "broker_qty": self.broker_qty,
            "broker_avg_price": self.broker_avg_price,
            "position_id": self.position_id,
            "client_order_id": self.client_order_id,
            "broker_status": None if b is None else str(b.status),
            "broker_filled_qty": None if b is None else b.filled_qty,
        }


def _signed(p: PositionRow) -> int:
    q = round(p.qty)
    return q if p.side == Side.LONG else -q


def _describe(o: Order) -> str:
    r = o.request
    price = ""
    if r.stop_price is not None:
        price = f" stop {r.stop_price:g}"
    elif r.limit_price is not None:
        price = f" limit {r.limit_price:g}"
    return f"{r.side} {r.qty} {r.symbol} {r.type}{price} ({o.status}, filled {o.filled_qty})"


def compare(
    store_positions: Sequence[PositionRow],
    store_open_orders: Sequence[OrderRow],
    broker_positions: Mapping[str, tuple[int, float]],
    broker_open_orders: Sequence[Order],
    *,
    broker_final: Mapping[str, Order | None] | None = None,
    store_known: Mapping[str, OrderRow] | None = None,
) -> list[Difference]:
    """Every difference between the two sides (pure: no I/O).

    ``broker_final``: for store-open orders that are not open at the broker, the broker's
    record of them by client id (None: the broker has none). ``store_known``: store rows of
    broker-open orders that are not open in the store (the store has them as finished).
    """
    final = broker_final or {}
    known = store_known or {}
    out: list[Difference] = []
    stored = {p.symbol: p for p in store_positions}
    broker_open_ids = {o.client_order_id for o in broker_open_orders}
    store_open_ids = {o.client_order_id for o in store_open_orders}

    for symbol in sorted(set(stored) | set(broker_positions)):
        s = stored.get(symbol)
        b = broker_positions.get(symbol)
        b_qty = None if b is None or b[0] == 0 else int(b[0])
        b_avg = None if b is None else float(b[1])
        if s is not None and b_qty is None:
            out.append(
                Difference(
                    DifferenceKind.POSITION_ONLY_IN_STORE,
                    symbol,
                    f"the store has {s.side} {s.qty:g} {symbol} (position {s.id}); the broker "
                    "holds none",
                    store_qty=_signed(s),
                    broker_qty=0,
                    position_id=s.id,
                )
            )
            continue
        if s is None and b_qty is not None:
            stops = _stops(broker_open_orders, symbol, b_qty)
            guard = "with a stop" if stops else "WITHOUT a protective stop"
            out.append(
                Difference(
                    DifferenceKind.POSITION_ONLY_AT_BROKER,
                    symbol,
                    f"the broker holds {b_qty:+d} {symbol} @ {b_avg:g} ({guard}); the store "
                    "has no such position",
                    store_qty=0,
                    broker_qty=b_qty,
                    broker_avg_price=b_avg,
                )
            )
            continue
        if s is None or b_qty is None:
            continue
        if _signed(s) != b_qty:
            out.append(
                Difference(
                    DifferenceKind.POSITION_MISMATCH,
                    symbol,
                    f"the store has {_signed(s):+d} {symbol}, the broker {b_qty:+d} @ {b_avg:g}",
                    store_qty=_signed(s),
                    broker_qty=b_qty,
                    broker_avg_price=b_avg,
                    position_id=s.id,
                )
            )
        stops = _stops(broker_open_orders, symbol, b_qty)
        covered = sum(o.remaining_qty for o in stops)
        if not stops:
            out.append(
                Difference(
                    DifferenceKind.STOP_MISSING,
                    symbol,
                    f"{symbol} ({b_qty:+d}) has no protective stop at the broker: UNPROTECTED",
                    store_qty=_signed(s),
                    broker_qty=b_qty,
                    broker_avg_price=b_avg,
                    position_id=s.id,
                    client_order_id=s.stop_client_order_id,
                )
            )
        elif covered != abs(b_qty):
            out.append(
                Difference(
                    DifferenceKind.STOP_MISMATCH,
                    symbol,
                    f"{symbol} ({b_qty:+d}): the protective stop(s) at the broker cover "
                    f"{covered} shares",
                    store_qty=_signed(s),
                    broker_qty=b_qty,
                    broker_avg_price=b_avg,
                    position_id=s.id,
                    client_order_id=stops[-1].client_order_id,
                    broker_order=stops[-1],
                )
            )

    for o in broker_open_orders:
        cid = o.client_order_id
        if cid in store_open_ids:
            continue
        row = known.get(cid)
        where = (
            f"the store has it as {row.status}"
            if row is not None
            else "the store does not know it (placed outside the app?)"
        )
        out.append(
            Difference(
                DifferenceKind.ORDER_ONLY_AT_BROKER,
                o.symbol,
                f"open at the broker: {_describe(o)}; {where}",
                client_order_id=cid,
                store_order=row,
                broker_order=o,
            )
        )

    for row in store_open_orders:
        cid = row.client_order_id
        if cid in broker_open_ids:
            continue
        b = final.get(cid)
        if b is None:
            what = (
                "the broker has no record of it: it never reached the broker (the app stopped "
                "between writing and sending it)"
            )
        else:
            what = (
                f"the broker has it as {b.status} (filled {b.filled_qty}): missed updates, "
                "caught up by apply_missed_fills"
            )
        out.append(
            Difference(
                DifferenceKind.ORDER_ONLY_IN_STORE,
                row.symbol,
                f"open in the store: {row.side} {row.qty:g} {row.symbol} {row.order_type} "
                f"{row.intent} ({row.status}); {what}",
                position_id=row.position_id,
                client_order_id=cid,
                store_order=row,
                broker_order=b,
            )
        )
    out.sort(key=lambda d: (_ORDER[d.kind], d.symbol, d.client_order_id or ""))
    return out


def _stops(orders: Sequence[Order], symbol: str, signed_qty: int) -> list[Order]:
    """Open orders that protect a position of ``signed_qty``: stops on its closing side, and
    market orders on its closing side (an exit waiting for the open closes it anyway)."""
    closing = OrderSide.SELL if signed_qty > 0 else OrderSide.BUY
    return [
        o
        for o in orders
        if o.symbol == symbol
        and o.request.type in (OrderType.STOP, OrderType.MARKET)
        and o.request.side is closing
        and o.status.is_open
    ]


async def reconcile(store: Store, broker: Broker, *, timeout_s: float = 10.0) -> list[Difference]:
    """Gather both sides (store and broker, with lookups by client id) and :func:`compare`."""
    async with asyncio.timeout(timeout_s):
        broker_positions = await broker.positions()
        broker_open = await broker.open_orders()
    store_positions = store.open_positions()
    store_open = store.open_orders()
    broker_ids = {o.client_order_id for o in broker_open}
    store_ids = {o.client_order_id for o in store_open}
    final: dict[str, Order | None] = {}
    for row in store_open:
        if row.client_order_id not in broker_ids:
            async with asyncio.timeout(timeout_s):
                final[row.client_order_id] = await broker.order_by_client_id(row.client_order_id)
    known: dict[str, OrderRow] = {}
    for o in broker_open:
        if o.client_order_id not in store_ids:
            row = store.order_by_client_id(o.client_order_id)
            if row is not None:
                known[o.client_order_id] = row
    return compare(
        store_positions,
        store_open,
        broker_positions,
        broker_open,
        broker_final=final,
        store_known=known,
    )


async def apply_missed_fills(order_manager: OrderManager) -> list[str]:
    """Catch-up: bring every order open in the store up to the broker's record of it.

    For each stored open order the broker knows (by client id) and has further along -
    filled, partly filled, canceled, expired, rejected - its fills (by the broker's fill ids
    when the broker can list them) and final status go through the order manager's live
    path. Orders the broker does not know are left alone (a difference for the user).
    Returns the client ids that changed; each is audited as ``reconcile.catch_up``.
    """
    om = order_manager
    changed: list[str] = []
    for row in om.store.open_orders():
        cid = row.client_order_id
        try:
            async with asyncio.timeout(om.timeout_s):
                theirs = await om.broker.order_by_client_id(cid)
        except (TimeoutError, BrokerError) as exc:
            log.warning("catch-up: lookup of %s failed: %s", cid, exc)
            continue
        if theirs is None:
            continue
        ours = om.order(cid)
        if ours is not None and (
            theirs.status is ours.status and theirs.filled_qty == ours.filled_qty
        ):
            continue
        fills = await om.broker_fills(cid)
        if om.catch_up(theirs, fills or ()):
            changed.append(cid)
            om.store.audit(
                "engine",
                "reconcile.catch_up",
                f"order:{cid}",
                {
                    "from": None if ours is None else str(ours.status),
                    "to": str(theirs.status),
                    "filled_qty": theirs.filled_qty,
                },
                at=om.clock.now(),
            )
    return changed


class TradingGate:
    """Whether the engines may open new trades: blocked until reconciled without open
    differences, and while this computer's clock is too far from the broker's. Exits and
    protective stops are never blocked (reducing risk always may)."""

    def __init__(self, bus: EventBus | None = None) -> None:
        self._bus = bus
        self._reconciled = False
        self._open: dict[str, Difference] = {}
        self._clock_problem = ""

    @property
    def blocked(self) -> bool:
        return not self._reconciled or bool(self._open) or bool(self._clock_problem)

    def allows_trading(self) -> bool:
        return not self.blocked

    def set_clock_problem(self, problem: str, at: datetime) -> None:
        """The start-up clock comparison's finding ("" = the clocks agree well enough)."""
        if problem != self._clock_problem:
            self._clock_problem = problem
            self._changed(at)

    @property
    def reason(self) -> str:
        if self._clock_problem:
            return self._clock_problem
        if not self._reconciled:
            return "not reconciled with the broker yet"
        if self._open:
            n = len(self._open)
            return f"{n} difference{'s' if n != 1 else ''} between the store and the broker"
        return ""

    @property
    def open_differences(self) -> tuple[Difference, ...]:
        return tuple(self._open.values())

    def set_differences(self, differences: Sequence[Difference], at: datetime) -> None:
        """The result of a reconciliation: trading is allowed only if it is empty."""
        self._reconciled = True
        self._open = {d.key: d for d in differences}
        self._changed(at)

    def resolved(self, difference: Difference, at: datetime) -> None:
        self._open.pop(difference.key, None)
        self._changed(at)

    def _changed(self, at: datetime) -> None:
        if self._bus is not None:
            self._bus.publish(TradingGateChanged(at, self.blocked, self.reason, len(self._open)))


class Reconciler:
    """Runs the start-up reconciliation and the user's resolutions (each audited)."""

    def __init__(
        self,
        store: Store,
        broker: Broker,
        order_manager: OrderManager,
        book: PositionBook,
        gate: TradingGate,
        clock: Clock,
        bus: EventBus,
    ) -> None:
        self.store = store
        self.broker = broker
        self.orders = order_manager
        self.book = book
        self.gate = gate
        self.clock = clock
        self.bus = bus

    async def run(
        self, market: MinuteBarSource | None = None, *, protect: bool = True
    ) -> list[Difference]:
        """Restore the book, catch up, compare; set the gate; publish and audit the result.

        With ``protect`` a missing or short protective stop of a position the store and the
        broker agree on is (re)placed - see the module docstring - and left out of the result
        if that worked.
        """
        await self.book.restore(market)
        caught = await apply_missed_fills(self.orders)
        await self.book.settle()
        diffs = await reconcile(self.store, self.broker, timeout_s=self.orders.timeout_s)
        protected: list[str] = []
        not_sent: list[str] = []
        if protect:
            protected, not_sent = await self._protect(diffs)
            if protected or not_sent:
                await self.book.settle()
                diffs = await reconcile(self.store, self.broker, timeout_s=self.orders.timeout_s)
        now = self.clock.now()
        self.store.audit(
            "engine",
            "reconcile.finished",
            "",
            {
                "differences": [d.as_dict() for d in diffs],
                "caught_up": caught,
                "protected": protected,
                "not_sent": not_sent,
            },
            at=now,
        )
        self.gate.set_differences(diffs, now)
        self.bus.publish(
            ReconcileFinished(now, tuple(diffs), tuple(caught), tuple(protected), tuple(not_sent))
        )
        for d in diffs:
            self.bus.publish(LogEvent(now, "WARNING", SOURCE, d.message))
        return diffs

    async def _protect(self, diffs: Sequence[Difference]) -> tuple[list[str], list[str]]:
        """(symbols whose stop was re-placed, client ids closed as never sent)."""
        disputed = {
            d.symbol
            for d in diffs
            if d.kind
            in (
                DifferenceKind.POSITION_MISMATCH,
                DifferenceKind.POSITION_ONLY_AT_BROKER,
                DifferenceKind.POSITION_ONLY_IN_STORE,
            )
        }
        agreed = self.book.held() - disputed
        # 1. The engine's own stop / exit / flatten orders the broker never received (the app
        #    stopped between writing and sending them) are closed as never sent: a stop is
        #    re-placed below, an exit is decided again from the next price.
        forgotten = self._forget_unsent(diffs, agreed, _CLOSING)
        await self.book.settle()
        # 2. Agreed positions without (enough) protection get their stop.
        done: list[str] = []
        for d in diffs:
            if d.kind not in (DifferenceKind.STOP_MISSING, DifferenceKind.STOP_MISMATCH):
                continue
            if d.symbol not in agreed:
                continue
            stop = await self.book.ensure_stop(d.symbol, wait=False)
            if stop is not None and stop.status.is_open:
                done.append(d.symbol)
                self.store.audit(
                    "engine",
                    "reconcile.protected",
                    d.symbol,
                    {"difference": d.as_dict(), "stop": stop.client_order_id},
                    at=self.clock.now(),
                )
        return done, forgotten

    def _forget_unsent(
        self,
        diffs: Sequence[Difference],
        symbols: frozenset[str] | set[str],
        intents: tuple[OrderIntent, ...],
    ) -> list[str]:
        """Mark stored orders of ``symbols`` with ``intents`` that the broker never received
        as never sent (audited); their client ids."""
        out: list[str] = []
        for d in diffs:
            row = d.store_order
            if (
                d.kind is DifferenceKind.ORDER_ONLY_IN_STORE
                and d.symbol in symbols
                and d.broker_order is None
                and row is not None
                and row.intent in intents
                and d.client_order_id is not None
            ):
                intent = OrderIntent(row.intent)
                note = (
                    "protective stop re-placed"
                    if intent is OrderIntent.STOP
                    else "the app stopped before sending it; decided again from the next price"
                )
                self.orders.mark_not_sent(d.client_order_id, note)
                out.append(d.client_order_id)
                now = self.clock.now()
                self.store.audit(
                    "engine", "reconcile.not_sent", d.symbol, {"difference": d.as_dict()}, at=now
                )
                if intent is not OrderIntent.STOP:
                    self.bus.publish(
                        LogEvent(
                            now,
                            "WARNING",
                            SOURCE,
                            f"{d.symbol}: the {intent} order {d.client_order_id} was never "
                            "sent before the restart; it is closed, and the exit rules decide "
                            "again (repeat a manual flatten if it is still wanted)",
                        )
                    )
        return out

    # ---------------------------------------------------------------- resolutions
    async def adopt(
        self, difference: Difference, *, plan: EntryPlan | None = None, note: str = ""
    ) -> None:
        """Take the broker's side of ``difference``.

        * position only at the broker: manage it from now on (``plan`` gives side, strategy,
          ATR and multipliers; required) with a protective stop;
        * position only in the store: close it in the store without an order;
        * quantity mismatch (same side): take the broker's quantity and average;
        * stop missing / not covering: place or re-size the protective stop;
        * order only at the broker: track it in the store;
        * order only in the store: apply the broker's record of it, or mark it never sent.
        """
        d = difference
        self._check(d, Resolution.ADOPT)
        kind = d.kind
        if kind is DifferenceKind.POSITION_ONLY_AT_BROKER:
            if plan is None:
                raise ValueError(
                    f"adopting the broker's position in {d.symbol} needs its side, strategy, "
                    "ATR and multipliers: pass an EntryPlan"
                )
            assert d.broker_qty is not None and d.broker_avg_price is not None
            want = Side.LONG if d.broker_qty > 0 else Side.SHORT
            if plan.side is not want:
                raise ValueError(
                    f"the broker's {d.symbol} position is {want}, the plan {plan.side}"
                )
            self._audit(d, Resolution.ADOPT, note)
            await self.book.adopt_position(
                d.symbol, abs(d.broker_qty), d.broker_avg_price, plan, note=note
            )
        elif kind is DifferenceKind.POSITION_ONLY_IN_STORE:
            self._audit(d, Resolution.ADOPT, note)
            await self.book.close_without_order(d.symbol, note=note or "reconcile: adopt")
        elif kind is DifferenceKind.POSITION_MISMATCH:
            assert d.broker_qty is not None and d.store_qty is not None
            if (d.broker_qty > 0) != (d.store_qty > 0):
                raise ValueError(
                    f"{d.symbol}: the store and the broker hold opposite sides; flatten or ignore"
                )
            assert d.broker_avg_price is not None
            self._audit(d, Resolution.ADOPT, note)
            await self.book.adopt_quantity(
                d.symbol, abs(d.broker_qty), d.broker_avg_price, note=note
            )
        elif kind in (DifferenceKind.STOP_MISSING, DifferenceKind.STOP_MISMATCH):
            self._audit(d, Resolution.ADOPT, note)
            self._forget_unsent(self.gate.open_differences, {d.symbol}, (OrderIntent.STOP,))
            stop = await self.book.ensure_stop(d.symbol, wait=False)
            if stop is None or not stop.status.is_open:
                raise BrokerError(f"the protective stop of {d.symbol} could not be placed")
        elif kind is DifferenceKind.ORDER_ONLY_AT_BROKER:
            assert d.broker_order is not None
            self._audit(d, Resolution.ADOPT, note)
            if d.store_order is None:
                created = d.broker_order.created_at or self.clock.now()
                self.orders.adopt_order(d.broker_order, session=created.date(), note=note)
            else:
                fills = await self.orders.broker_fills(d.broker_order.client_order_id)
                self.orders.catch_up(d.broker_order, fills or ())
        elif kind is DifferenceKind.ORDER_ONLY_IN_STORE:
            assert d.client_order_id is not None
            self._audit(d, Resolution.ADOPT, note)
            if d.broker_order is None:
                self.orders.mark_not_sent(d.client_order_id, note)
            else:
                fills = await self.orders.broker_fills(d.client_order_id)
                self.orders.catch_up(d.broker_order, fills or ())
        await self.book.settle()
        self._resolved(d, Resolution.ADOPT, note)

    async def ignore(self, difference: Difference, *, note: str = "") -> None:
        """Acknowledge ``difference`` and change nothing (it no longer blocks trading)."""
        self._check(difference, Resolution.IGNORE)
        self._audit(difference, Resolution.IGNORE, note)
        self._resolved(difference, Resolution.IGNORE, note)

    async def flatten(self, difference: Difference, *, note: str = "") -> Order | None:
        """Close ``difference`` out at the broker: a position at market (its stop canceled
        first), an unknown order canceled. Returns the order sent, if any."""
        d = difference
        self._check(d, Resolution.FLATTEN)
        self._audit(d, Resolution.FLATTEN, note)
        sent: Order | None = None
        if d.kind is DifferenceKind.ORDER_ONLY_AT_BROKER:
            assert d.client_order_id is not None
            async with asyncio.timeout(self.orders.timeout_s):
                await self.broker.cancel(d.client_order_id)
        elif d.kind is DifferenceKind.POSITION_ONLY_AT_BROKER or (
            d.kind is DifferenceKind.POSITION_MISMATCH
            and d.broker_qty is not None
            and d.store_qty is not None
            and (d.broker_qty > 0) != (d.store_qty > 0)
        ):
            if d.symbol in self.book.held():
                await self.book.close_without_order(d.symbol, note="reconcile: opposite side")
            sent = await self._flatten_at_broker(d.symbol)
        elif d.kind in (
            DifferenceKind.POSITION_MISMATCH,
            DifferenceKind.STOP_MISSING,
            DifferenceKind.STOP_MISMATCH,
        ):
            if d.kind is DifferenceKind.POSITION_MISMATCH:
                assert d.broker_qty is not None and d.broker_avg_price is not None
                await self.book.adopt_quantity(
                    d.symbol, abs(d.broker_qty), d.broker_avg_price, note="before flatten"
                )
            sent = await self.book.exit_position(d.symbol, ExitReason.MANUAL)
        await self.book.settle()
        self._resolved(d, Resolution.FLATTEN, note)
        return sent

    async def _flatten_at_broker(self, symbol: str) -> Order | None:
        """Close a position the book does not manage: cancel the symbol's open orders at
        the broker (they hold its shares), then one market order, written to the store
        first."""
        async with asyncio.timeout(self.orders.timeout_s):
            open_orders = await self.broker.open_orders()
            positions = await self.broker.positions()
        for o in open_orders:
            if o.symbol != symbol:
                continue
            if self.orders.known(o.client_order_id):
                await self.orders.cancel(o.client_order_id)
            else:
                async with asyncio.timeout(self.orders.timeout_s):
                    await self.broker.cancel(o.client_order_id)
        qty = positions.get(symbol, (0, 0.0))[0]
        if qty == 0:
            return None
        session = self._today()
        n = 0
        while self.orders.known(
            client_order_id(session, symbol, "reconcile", OrderIntent.FLATTEN, n)
        ):
            n += 1
        request = OrderRequest(
            client_order_id=client_order_id(session, symbol, "reconcile", OrderIntent.FLATTEN, n),
            symbol=symbol,
            side=OrderSide.SELL if qty > 0 else OrderSide.BUY,
            qty=abs(qty),
            type=OrderType.MARKET,
            tif=TimeInForce.DAY,
            intent=OrderIntent.FLATTEN,
            strategy="reconcile",
        )
        return await self.orders.submit(
            request, session=session, detail={"exit_reason": str(ExitReason.MANUAL)}
        )

    # ------------------------------------------------------------------- helpers
    def _today(self) -> date:
        return self.book.calendar.session_on_or_before(self.clock.now())

    @staticmethod
    def _check(d: Difference, action: Resolution) -> None:
        if action not in d.actions:
            allowed = ", ".join(str(a) for a in d.actions)
            raise ValueError(f"'{action}' does not apply to {d.kind} ({d.symbol}); use {allowed}")

    def _audit(self, d: Difference, action: Resolution, note: str) -> None:
        self.store.audit(
            "user",
            f"reconcile.{action}",
            d.symbol,
            {"difference": d.as_dict(), "note": note},
            at=self.clock.now(),
        )

    def _resolved(self, d: Difference, action: Resolution, note: str) -> None:
        now = self.clock.now()
        self.gate.resolved(d, now)
        self.bus.publish(DifferenceResolved(now, d, str(action), note))


__all__ = [
    "ACTIONS",
    "Difference",
    "DifferenceKind",
    "Reconciler",
    "Resolution",
    "TradingGate",
    "apply_missed_fills",
    "compare",
    "reconcile",
]
