"""The protective stop of each position (trading rules §12), including partly filled entries.

:class:`ProtectiveStops` is the part of the position book (:mod:`workstation.engine.positions`)
that keeps one broker-side GTC stop for the whole open quantity of every position, at
``rules.exits.protective_stop_level`` (the emergency level on day 1, the SL from day 2), with
deterministic client ids. A change of level or quantity replaces it. Stop prices are rounded to
the cent towards the market (:func:`round_stop`), so the broker's stop is never looser than the
rule. Under the PDT minimum a position opened today keeps its stop at the emergency level even
where the SL would apply (only the emergency exit may trade the same day).

**A partly filled entry** (decided in issue 12 item 4). While the entry order that built a
position still has shares working, the broker refuses a protective stop for the filled shares:
an open buy (the entry's remainder) and a new sell stop in the same symbol are a *potential wash
trade* to Alpaca (HTTP 403 "potential wash trade detected. use complex orders"), and the
simulated broker applies the same rule. So:

1. From the first fill the position is the engine's: every print goes through the exit rules,
   so the day-1 emergency level (and any exit) is watched by the engine; an engine exit cancels
   the remainder before it sells.
2. The remainder gets ``risk.entries.partial_fill_wait_s`` (default 30 s, clock time from the
   first fill) to complete. If it fills, the stop is placed for the whole position at once.
3. When the wait is over and shares are still working, the remainder is canceled (audit
   ``entry.remainder_canceled``) and the stop is placed for what filled: the position is smaller
   than planned, never larger. A remainder canceled earlier by anyone (the 10:00 cut-off, the
   kill switch, the broker) gets the stop placed at once.
4. Meanwhile the position shows as protection pending (a ``PositionUpdated`` "stop_pending"
   event and the audit row ``stop.deferred``), not as a protection problem.
5. After a restart (:meth:`ProtectiveStops.ensure_stop` with ``wait=False``, as the
   reconciliation calls it) the stop is overdue: a working remainder is canceled at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from workstation.broker.base import BrokerError, OrderRejected
from workstation.core.models import (
    Order,
    OrderIntent,
    OrderRequest,
    OrderSide,
    OrderType,
    Side,
    TimeInForce,
)
from workstation.engine.events import PositionUpdated
from workstation.engine.rules.exits import emergency_level, protective_stop_level
from workstation.engine.rules.risk import pdt_applies

if TYPE_CHECKING:
    from workstation.core.clock import Clock
    from workstation.core.config import RiskConfig
    from workstation.core.events import EventBus
    from workstation.engine.events import PositionState
    from workstation.engine.orders import OrderManager
    from workstation.engine.positions import _Live
    from workstation.store import Store


def round_stop(level: float, side: Side) -> float:
    """A stop price in cents, rounded towards the market: up for a long's (sell) stop, down
    for a short's (buy) stop, so the broker's stop is never looser than the rule."""
    cents = level * 100.0
    if side is Side.LONG:
        return math.ceil(cents - 1e-6) / 100.0
    return math.floor(cents + 1e-6) / 100.0


class StopTimer(NamedTuple):
    """A stop deferred for a partly filled entry: when it is due, and the task waiting."""

    until: datetime
    task: asyncio.Task[Any]


class ProtectiveStops:
    """The protective-stop half of :class:`~workstation.engine.positions.PositionBook`."""

    # Provided by PositionBook.
    store: Store
    orders: OrderManager
    clock: Clock
    bus: EventBus
    _live: dict[str, _Live]
    _stop_timers: dict[str, StopTimer]

    if TYPE_CHECKING:

        def _config(self) -> RiskConfig: ...
        def _lock(self, symbol: str) -> asyncio.Lock: ...
        def _session_of(self, at: datetime) -> date: ...
        def _day(self, entry_session: date, today: date) -> int: ...
        def _next_cid(self, session: date, pos: _Live, intent: OrderIntent) -> str: ...
        def _state(self, pos: _Live) -> PositionState: ...
        def _problem(self, symbol: str, detail: str, *, rejected: bool = False) -> None: ...
        def _log(self, level: str, message: str) -> None: ...
        async def _equity(self) -> float: ...

    async def ensure_stop(
        self, symbol: str, *, session: date | None = None, wait: bool = True
    ) -> Order | None:
        """Make the broker's protective stop of ``symbol`` match the position (level and
        quantity): place it, replace it, or leave it. Returns the resting stop or None (also
        while a partly filled entry's remainder is given its wait; ``wait=False`` cancels the
        remainder at once: see the module docstring)."""
        async with self._lock(symbol):
            pos = self._live.get(symbol)
            if pos is None or pos.exiting:
                return None
            if not await self._entry_done(pos, wait):
                return None
            return await self._ensure_stop_locked(pos, session)

    def cancel_stop_timers(self) -> None:
        """Stop waiting for partly filled entries (the session is stopping)."""
        for timer in self._stop_timers.values():
            timer.task.cancel()
        self._stop_timers.clear()

    # ------------------------------------------------------------ partly filled entries
    def _working_entries(self, pos: _Live) -> list[Order]:
        out = []
        for cid in sorted(pos.entry_cids):
            order = self.orders.order(cid)
            if order is not None and order.status.is_open:
                out.append(order)
        return out

    async def _entry_done(self, pos: _Live, wait: bool) -> bool:
        """True when no entry of ``pos`` is working any more (a stop may rest); else the
        stop is deferred until the wait is over, or (wait over) the remainder is canceled."""
        working = self._working_entries(pos)
        if not working:
            timer = self._stop_timers.get(pos.symbol)
            if timer is not None and timer.task is not asyncio.current_task():
                del self._stop_timers[pos.symbol]
                timer.task.cancel()
            return True
        now = self.clock.now()
        wait_s = self._config().entries.partial_fill_wait_s
        until = pos.entry_at + timedelta(seconds=wait_s)
        if wait and now < until:
            self._defer_stop(pos, working, until, now)
            return False
        for order in working:
            try:
                after = await self.orders.cancel(
                    order.client_order_id,
                    detail={"why": "protect the filled shares with the stop"},
                )
            except (BrokerError, KeyError) as exc:
                self._problem(
                    pos.symbol,
                    f"the working remainder of entry {order.client_order_id} could not be "
                    f"canceled ({exc}); the filled {pos.open_qty} shares have no stop until "
                    "it is done (the engine watches the emergency level)",
                )
                return False
            self.store.audit(
                "engine",
                "entry.remainder_canceled",
                pos.symbol,
                {
                    "order": order.client_order_id,
                    "status": str(after.status),
                    "filled": after.filled_qty,
                    "canceled": after.remaining_qty if after.status.is_terminal else 0,
                    "position_qty": pos.open_qty,
                    "waited_s": (now - pos.entry_at).total_seconds(),
                },
                at=self.clock.now(),
            )
            if after.status.is_open:
                self._problem(
                    pos.symbol,
                    f"entry {order.client_order_id} is still {after.status} after its cancel; "
                    "the stop follows when the broker confirms it",
                )
                return False
        return pos.symbol in self._live and not pos.exiting

    def _defer_stop(self, pos: _Live, working: list[Order], until: datetime, now: datetime) -> None:
        """Record (once) that the stop waits for the entry, and wake up when the wait ends."""
        if pos.symbol in self._stop_timers and not self._stop_timers[pos.symbol].task.done():
            return
        order = working[0]
        self.store.audit(
            "engine",
            "stop.deferred",
            pos.symbol,
            {
                "order": order.client_order_id,
                "filled": order.filled_qty,
                "working": order.remaining_qty,
                "until": until.isoformat(),
                "why": "the broker refuses a stop beside the entry's working remainder "
                "(potential wash trade); the engine watches the emergency level meanwhile",
            },
            at=now,
        )
        self.bus.publish(PositionUpdated(now, self._state(pos), "stop_pending"))
        self._log(
            "INFO",
            f"{pos.symbol}: {order.filled_qty} of {order.request.qty} shares filled; the "
            f"protective stop waits for the rest until {until:%H:%M:%S} (then the rest is "
            "canceled)",
        )
        task = asyncio.get_running_loop().create_task(
            self._stop_after(pos.symbol, until), name=f"stop-timer-{pos.symbol}"
        )
        self._stop_timers[pos.symbol] = StopTimer(until, task)

    async def _stop_after(self, symbol: str, until: datetime) -> None:
        # Not one of the book's settle() tasks: waiting for it would make every step wait
        # out the partial-fill wait. It is canceled with the session.
        try:
            await self.clock.sleep_until(until)
        finally:
            timer = self._stop_timers.get(symbol)
            if timer is not None and timer.task is asyncio.current_task():
                del self._stop_timers[symbol]
        with contextlib.suppress(Exception):  # problems are reported where they happen
            await self.ensure_stop(symbol)

    # ----------------------------------------------------------------- the stop itself
    async def _ensure_stop_locked(self, pos: _Live, session: date | None) -> Order | None:
        now = self.clock.now()
        today = session or self._session_of(now)
        want = pos.open_qty
        if want <= 0:
            return None
        level, kind = await self._stop_level(pos, today)
        current = None if pos.stop_cid is None else self.orders.order(pos.stop_cid)
        if (
            current is not None
            and current.status.is_open
            and current.request.stop_price == level
            and current.remaining_qty == want
        ):
            return current
        cid = self._next_cid(today, pos, OrderIntent.STOP)
        detail = {"level": kind, "day": self._day(pos.entry_session, today)}
        try:
            if current is not None and current.status.is_open:
                new = await self.orders.replace_stop(
                    current.client_order_id,
                    level,
                    cid,
                    session=today,
                    qty=want,
                    position_id=pos.id,
                    detail=detail,
                )
            else:
                request = OrderRequest(
                    client_order_id=cid,
                    symbol=pos.symbol,
                    side=OrderSide.to_close(pos.side),
                    qty=want,
                    type=OrderType.STOP,
                    tif=TimeInForce.GTC,
                    stop_price=level,
                    intent=OrderIntent.STOP,
                    strategy=pos.strategy,
                )
                new = await self.orders.submit(
                    request, session=today, position_id=pos.id, detail=detail
                )
        except (BrokerError, KeyError) as exc:
            if pos.symbol in self._live and not pos.exiting:
                self._problem(
                    pos.symbol,
                    f"protective stop {cid} ({want} @ {level:g}) not placed: {exc}",
                    rejected=isinstance(exc, OrderRejected),
                )
            return None
        if pos.symbol not in self._live:
            return None  # it filled at once (the price was already through it): closed
        if not new.status.is_open:
            self._problem(pos.symbol, f"protective stop {cid} is {new.status}, not resting")
            return None
        self.store.update_position(pos.id, at=now, stop_client_order_id=cid)
        pos.stop_cid = cid
        pos.stop_price = level
        pos.stop_qty = want
        self.store.audit(
            "engine",
            "stop.placed",
            pos.symbol,
            {"order": cid, "stop_price": level, "qty": want, "level": kind},
            at=now,
        )
        self.bus.publish(PositionUpdated(now, self._state(pos), "stop"))
        return new

    async def _stop_level(self, pos: _Live, today: date) -> tuple[float, str]:
        cfg = self._config()
        day = self._day(pos.entry_session, today)
        # SL active on the entry day (sltp_from_day = 1): under the PDT minimum only the
        # emergency exit may trade today, so the broker must not hold the SL either.
        if (
            day >= cfg.exits.sltp_from_day
            and pos.entry_session == today
            and pdt_applies(await self._equity(), cfg.portfolio)
        ):
            level = emergency_level(pos.side, pos.fill_price, cfg.exits)
            return round_stop(level, pos.side), "emergency"
        level = protective_stop_level(pos, day, cfg.exits, pos.manual_levels)
        kind = "emergency" if day < cfg.exits.sltp_from_day else "stop_loss"
        return round_stop(level, pos.side), kind


__all__ = ["ProtectiveStops", "StopTimer", "round_stop"]
