"""The position book: open positions, their protective stops, exits and MFE/MAE.

:class:`PositionBook` listens to the order manager's fills and keeps, per symbol, the one
open position of the trading rules (§9, §12, §13):

* **Entries.** The first entry fill opens the position; later fills (partial fills) grow it.
  SL and TP always derive from the ACTUAL average fill (``rules.entries.sl_tp_from_fill``)
  and are recomputed as the average moves. What the fill cannot say (ATR, multipliers,
  strategy) comes from the :class:`EntryPlan` registered with :meth:`PositionBook.expect_entry`
  or, after a restart, from the entry order's candidate row in the store.
* **Levels moved by hand.** :meth:`PositionBook.move_levels` lets the trader move the SL or
  the TP, checked by ``rules.levels.check_levels``. The moved level is stored ON the position
  (``sl_manual``/``tp_manual`` beside the rule's ``sl``/``tp``: the store is the source of
  truth, restored after a restart) and audited with the old and new level; from then on the
  exit rules and the broker's stop use it (``rules.exits`` ``levels``). A later entry fill
  re-derives the rule's levels but never overwrites the trader's. When the SL moves, the
  broker's stop is replaced first-hand; if the broker refuses, the move is undone.
* **The protective stop.** After every change a broker-side GTC stop for the whole open
  quantity rests at ``rules.exits.protective_stop_level`` (the emergency level on day 1, the SL
  from day 2), with deterministic client ids ``client_order_id(session, symbol, strategy,
  STOP, seq=n)`` (``n`` = the first id of that session the store does not know). A change of
  level or quantity replaces it; :meth:`PositionBook.roll_session` re-levels every stop at the
  start of a session. Stop prices are rounded to the cent towards the market (a long's stop up,
  a short's down), so the broker's stop is never looser than the rule. Under the PDT minimum
  a position opened today keeps its stop at the emergency level even where the SL would
  apply (only the emergency exit may trade the same day). While the entry that built the
  position is still working (a partial fill), the broker refuses the stop (a potential wash
  trade): the engine watches the emergency level, gives the remainder
  ``risk.entries.partial_fill_wait_s``, then cancels it and places the stop for what filled.
  That half of the book lives in :mod:`workstation.engine.stops`.
* **Exits.** :meth:`PositionBook.on_price` updates MFE/MAE and asks
  ``rules.exits.exit_decision``. On an exit: the PDT guard (``rules.risk.pdt_allows_exit``;
  a held exit is recorded once per session and reason; the emergency exit is never held),
  the position is marked exiting (before any await, so a second price never sends a second
  exit), a still-working entry order is canceled, then the exit order is WRITTEN (status
  new, its creation event carrying the decision: reason, price, detail, the stop it cancels),
  the protective stop is canceled (Alpaca's available-qty rule: the stop holds the shares)
  and the one market exit order is sent (``OrderIntent.EXIT``; manual exits and
  :meth:`flatten_all` use ``FLATTEN``). If the stop filled first, the written exit is closed
  as never sent and nothing goes out. An exit that is rejected, canceled or expires puts the
  stop back and retries no sooner than ``exit_retry_s`` later. The audit row
  ``exit.decided`` follows, with the outcome. (Two commits stand between the quote and the
  broker: the exit order and the stop's cancel; see ``bench/exit_latency.py``.)
* **Closing.** Fills of the position's stop, exit or flatten orders close it; when they cover
  the position it is closed in the store as a trade (exit price = their average, reason of
  the first closing order: EXIT/FLATTEN carry the decided reason, a stop fill is EMERGENCY when
  it rested at the emergency level and STOP_LOSS otherwise). The trade row is also the record
  that the symbol was exited that session (no same-day re-entry: :meth:`exited_today`).
* **MFE/MAE** update on every price; they are written when an extreme changes and at least
  every ``mfe_save_interval_s`` otherwise (after an exit the quote caused was sent), and
  always before the position's event is published.
  :meth:`restore` reloads positions after a restart and back-fills the excursions from minute
  bars for the time the app was away.

``on_price`` is the hot path (2,000 quotes/s over 8 positions): without a new extreme and
without an exit it touches no database and does not yield to the loop.

Broker events arrive synchronously (inside a broker call); anything that needs the broker
again from there (placing a stop) runs as a task of this book: :meth:`settle` waits for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import pandas as pd

from workstation.broker.base import Broker, BrokerError
from workstation.core.calendar import ET, TradingCalendar
from workstation.core.clock import Clock
from workstation.core.config import ExitConfig, RiskConfig
from workstation.core.events import EventBus, LogEvent
from workstation.core.models import (
    Candidate,
    ExitReason,
    Fill,
    Order,
    OrderIntent,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    client_order_id,
)
from workstation.core.print_watch import PrintWatch
from workstation.engine.events import (
    ExitHeld,
    PositionClosed,
    PositionOpened,
    PositionState,
    PositionUpdated,
    ProtectionProblem,
)
from workstation.engine.orders import NOT_SENT, OrderManager, OrderUncertain, order_from_row
from workstation.engine.position_levels import LevelMove, ManualLevels
from workstation.engine.rules.entries import StopTarget, sl_tp_from_fill
from workstation.engine.rules.exits import (
    ExitDecision,
    emergency_level,
    exit_decision,
    exit_watch,
)
from workstation.engine.rules.mfe_mae import Excursions, backfill
from workstation.engine.rules.numeric import at_or_above, at_or_below
from workstation.engine.rules.risk import pdt_allows_exit
from workstation.engine.stops import ProtectiveStops, StopTimer, round_stop
from workstation.store import CandidateRow, OrderRow, PositionRow, Store, TradeRow

log = logging.getLogger(__name__)

SOURCE = "positions"
ConfigProvider = Callable[[], RiskConfig]
_CLOSING = (OrderIntent.STOP, OrderIntent.EXIT, OrderIntent.FLATTEN)
_MANUAL_REASONS = (ExitReason.MANUAL, ExitReason.KILL_SWITCH)


class MinuteBarSource(Protocol):
    """What :meth:`PositionBook.restore` needs of a market (``MarketData`` fits)."""

    async def minute_bars(self, symbol: str, session: date) -> pd.DataFrame: ...


@dataclass(frozen=True)
class EntryPlan:
    """What an entry fill needs beyond the fill to open a position."""

    side: Side
    strategy: str
    atr14: float
    sl_mult: float
    tp_mult: float
    candidate_id: int | None = None

    def __post_init__(self) -> None:
        for name in ("atr14", "sl_mult", "tp_mult"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"entry plan {name} must be a positive number, got {value!r}")

    @staticmethod
    def of_candidate(candidate: Candidate, candidate_id: int | None = None) -> EntryPlan:
        return EntryPlan(
            candidate.side,
            candidate.strategy,
            candidate.atr14,
            candidate.sl_mult,
            candidate.tp_mult,
            candidate_id,
        )

    @staticmethod
    def of_row(row: CandidateRow) -> EntryPlan:
        return EntryPlan(Side(row.side), row.strategy, row.atr14, row.sl_mult, row.tp_mult, row.id)


@dataclass(frozen=True)
class FlattenResult:
    """What :meth:`PositionBook.flatten_all` did."""

    orders: tuple[Order, ...]  # the flatten orders sent
    held: tuple[str, ...]  # symbols the PDT guard keeps until the next session
    already_exiting: tuple[str, ...]
    failed: tuple[str, ...]  # symbols whose order could not be sent (see the log)
    canceled_entries: tuple[str, ...]  # client ids of entry orders canceled


@dataclass(eq=False, slots=True)
class _Live:
    """One open position as the book works with it (mutable; never leaves this module)."""

    id: int
    symbol: str
    side: Side
    qty: int
    fill_price: float
    entry_session: date
    entry_at: datetime
    strategy: str
    atr14: float
    sl_mult: float
    tp_mult: float
    candidate_id: int | None
    exc: Excursions
    saved_at: datetime
    entry_cids: set[str] = field(default_factory=set)
    stop_cid: str | None = None
    stop_price: float | None = None
    stop_qty: int = 0
    exiting: bool = False
    exit_reason: ExitReason | None = None
    exit_cid: str | None = None
    closed_qty: int = 0
    closed_value: float = 0.0
    close_reason: ExitReason | None = None
    last_price: float | None = None
    last_at: datetime | None = None
    retry_after: datetime | None = None
    held: tuple[date, ExitReason] | None = None
    sl_manual: float | None = None  # the SL the trader set (None: the rule's)
    tp_manual: float | None = None  # the TP the trader set (None: the rule's)

    @property
    def open_qty(self) -> int:
        return self.qty - self.closed_qty

    @property
    def r_per_share(self) -> float:
        return self.sl_mult * self.atr14

    @property
    def rule_levels(self) -> StopTarget:
        return sl_tp_from_fill(self.side, self.fill_price, self.atr14, self.sl_mult, self.tp_mult)

    @property
    def manual_levels(self) -> StopTarget | None:
        """The levels in force when the trader moved one (None: the rule's, the hot path)."""
        if self.sl_manual is None and self.tp_manual is None:
            return None
        rule = self.rule_levels
        return StopTarget(
            rule.sl if self.sl_manual is None else self.sl_manual,
            rule.tp if self.tp_manual is None else self.tp_manual,
        )

    @property
    def levels(self) -> StopTarget:
        return self.manual_levels or self.rule_levels


def _finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0


class PositionBook(ProtectiveStops, ManualLevels):
    """Open positions, their protective stops, exits and excursions (see the module doc)."""

    def __init__(
        self,
        store: Store,
        order_manager: OrderManager,
        broker: Broker,
        clock: Clock,
        calendar: TradingCalendar,
        bus: EventBus,
        config: ConfigProvider,
        *,
        mfe_save_interval_s: float = 30.0,
        exit_retry_s: float = 60.0,
    ) -> None:
        if mfe_save_interval_s < 0 or exit_retry_s < 0:
            raise ValueError("mfe_save_interval_s and exit_retry_s must be >= 0")
        self.store = store
        self.orders = order_manager
        self.broker = broker
        self.clock = clock
        self.calendar = calendar
        self.bus = bus
        self._config = config
        self._save_every = timedelta(seconds=mfe_save_interval_s)
        self._retry_after = timedelta(seconds=exit_retry_s)
        self._live: dict[str, _Live] = {}
        self._plans: dict[str, EntryPlan] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stop_timers: dict[str, StopTimer] = {}
        self._seq: dict[tuple[date, str, str, OrderIntent], int] = {}
        # Calendar answers cached: on_price asks them for every quote.
        self._session_cache: dict[date, date] = {}
        self._day_cache: dict[tuple[date, date], int] = {}
        self._time_exit_cache: dict[tuple[date, Any, int], datetime] = {}
        order_manager.on_fill(self._on_fill)
        order_manager.on_update(self._on_order_update)

    # ===================================================================== views
    def positions(self) -> tuple[PositionState, ...]:
        return tuple(self._state(p) for p in self._live.values())

    def position(self, symbol: str) -> PositionState | None:
        pos = self._live.get(symbol)
        return None if pos is None else self._state(pos)

    def held(self) -> frozenset[str]:
        """Symbols with an open position."""
        return frozenset(self._live)

    def exited_today(self, session: date) -> frozenset[str]:
        """Symbols exited during ``session`` (any reason): no re-entry that session."""
        return frozenset(self.store.symbols_exited(session))

    def expect_entry(self, client_order_id: str, plan: EntryPlan) -> None:
        """Register what the fills of entry order ``client_order_id`` will need."""
        self._plans[client_order_id] = plan

    async def settle(self) -> None:
        """Wait until the book's background work (stop placement, clean-up) is done."""
        while self._tasks:
            await asyncio.gather(*tuple(self._tasks), return_exceptions=True)

    # ================================================================= the quote
    async def on_price(self, symbol: str, price: float, at: datetime) -> Order | None:
        """A price of ``symbol`` seen at ``at``: MFE/MAE, then the exit rules.

        Returns the exit order if this price sent one, else None.
        """
        pos = self._live.get(symbol)
        if pos is None:
            return None
        before = pos.exc
        exc = before.update(price, at)
        due = False
        if exc is not before:  # not an unusable price
            pos.exc = exc
            pos.last_price = price
            pos.last_at = at
            due = (
                exc.mfe_price != before.mfe_price
                or exc.mae_price != before.mae_price
                or at - pos.saved_at >= self._save_every
            )
        order = None if pos.exiting else await self._check_exit(pos, price, at)
        # The excursions are saved after the exit went out (the exit is the urgent part; an
        # extreme lost to a crash in between comes back from the minute-bar back-fill), and
        # always before they are shown. A closed position saved them on closing.
        if due and pos.symbol in self._live and pos.saved_at < at:
            self._save_excursions(pos, at)
            self.bus.publish(PositionUpdated(at, self._state(pos), "excursion"))
        return order

    def _exit_rule(self, pos: _Live, price: float | None, at: datetime) -> ExitDecision:
        cfg = self._config().exits
        today = self._session_of(at)
        return exit_decision(
            pos,
            price,
            at,
            self._day(pos.entry_session, today),
            cfg,
            self._time_exit(today, cfg),
            pos.manual_levels,
        )

    async def _check_exit(self, pos: _Live, price: float, at: datetime) -> Order | None:
        cfg = self._config().exits
        today = self._session_of(at)
        decision = self._exit_rule(pos, price, at)
        if not decision.exit:
            return None
        reason = decision.reason
        assert reason is not None
        if pos.held == (today, reason):
            # Held by the PDT guard until the next session; the emergency exit never is.
            return await self._emergency_exit(pos, price, at, cfg)
        order = await self._exit(pos, reason, at, OrderIntent.EXIT, decision.detail, True)
        if order is None and pos.held == (today, reason):
            return await self._emergency_exit(pos, price, at, cfg)
        return order

    # ============================================================ print watch
    def seen_range(self, symbol: str) -> tuple[float, float] | None:
        """(highest, lowest) price the open position of ``symbol`` has seen (its MFE/MAE
        prices); None when it is not held."""
        pos = self._live.get(symbol)
        if pos is None:
            return None
        e = pos.exc
        return max(e.mfe_price, e.mae_price), min(e.mfe_price, e.mae_price)

    def reacts_to(self, symbol: str, price: float, at: datetime) -> bool:
        """Would a print of ``symbol`` at ``price`` at ``at`` make the book act (send an exit
        or record a PDT hold)? The decision part of :meth:`on_price`, without side effects:
        the backtester's market asks it which prints it must not skip."""
        pos = self._live.get(symbol)
        if pos is None or pos.exiting:
            return False
        if pos.retry_after is not None and at < pos.retry_after:
            return False
        decision = self._exit_rule(pos, price, at)
        if not decision.exit:
            return False
        if pos.held == (self._session_of(at), decision.reason):
            level = emergency_level(pos.side, pos.fill_price, self._config().exits)
            if pos.side is Side.LONG:
                return at_or_below(price, level)
            return at_or_above(price, level)
        return True

    def watch(self, symbol: str, at: datetime) -> PrintWatch | None:
        """Where :meth:`reacts_to` can become true for ``symbol`` during ``at``'s session
        (None: it cannot): ``rules.exits.exit_watch`` for the position's day, the emergency
        level alone while the PDT guard holds a rule exit, nothing before a retry time."""
        pos = self._live.get(symbol)
        if pos is None or pos.exiting:
            return None
        if pos.retry_after is not None and pos.retry_after > at:
            # No rule exit before the retry time: ask again then.
            return PrintWatch(-math.inf, math.inf, pos.retry_after)
        cfg = self._config().exits
        today = self._session_of(at)
        watch = exit_watch(
            pos,
            self._day(pos.entry_session, today),
            cfg,
            self._time_exit(today, cfg),
            at,
            levels=pos.manual_levels,
        )
        if pos.held is None or pos.held[0] != today:
            return watch
        # The PDT guard holds one rule exit until tomorrow: that rule no longer acts today,
        # the emergency level and the other rules still do.
        reason = pos.held[1]
        emergency = exit_watch(pos, 1, cfg, self._time_exit(today, cfg), at, emergency_only=True)
        long = pos.side is Side.LONG
        if reason is ExitReason.STOP_LOSS:
            lo, hi = (emergency.lo, watch.hi) if long else (watch.lo, emergency.hi)
            return PrintWatch(lo, hi, watch.from_time)
        if reason is ExitReason.TAKE_PROFIT:
            lo, hi = (watch.lo, math.inf) if long else (-math.inf, watch.hi)
            return PrintWatch(lo, hi, watch.from_time)
        if reason is ExitReason.TIME_EXIT:
            return PrintWatch(watch.lo, watch.hi)
        return watch

    async def _emergency_exit(
        self, pos: _Live, price: float, at: datetime, cfg: ExitConfig
    ) -> Order | None:
        """The emergency exit for a position whose rule exit the PDT guard holds (with SL/TP
        active on the entry day, ``exit_decision`` reports the SL, not the emergency)."""
        level = emergency_level(pos.side, pos.fill_price, cfg)
        touched = at_or_below(price, level) if pos.side is Side.LONG else at_or_above(price, level)
        if not touched:
            return None
        detail = f"price {price:g} touched the emergency level {level:g} (rule exit held)"
        return await self._exit(pos, ExitReason.EMERGENCY, at, OrderIntent.EXIT, detail, True)

    # ================================================================== commands
    async def exit_position(
        self, symbol: str, reason: ExitReason = ExitReason.MANUAL
    ) -> Order | None:
        """Exit one position at market now (a user's or the kill switch's request).

        Returns the order, or None when nothing was sent: no such position, already
        exiting, or held by the PDT guard (an :class:`ExitHeld` event says so).
        """
        pos = self._live.get(symbol)
        if pos is None:
            return None
        now = self.clock.now()
        self.store.audit("user", "position.exit_requested", symbol, {"reason": str(reason)}, at=now)
        return await self._exit(pos, reason, now, OrderIntent.FLATTEN, "requested", False)

    async def flatten_all(self, reason: ExitReason = ExitReason.MANUAL) -> FlattenResult:
        """Cancel every working entry order and close every position at market.

        ``reason`` is MANUAL or KILL_SWITCH. The PDT guard applies (a position opened today
        under $25,000 waits for the next session: reported in ``held``).
        """
        if reason not in _MANUAL_REASONS:
            raise ValueError(f"flatten_all takes MANUAL or KILL_SWITCH, not {reason}")
        now = self.clock.now()
        self.store.audit(
            "user",
            "positions.flatten_all",
            "",
            {"reason": str(reason), "symbols": sorted(self._live)},
            at=now,
        )
        canceled: list[str] = []
        for row in self.store.open_orders():
            if row.intent != OrderIntent.ENTRY:
                continue
            try:
                order = await self.orders.cancel(row.client_order_id)
            except (BrokerError, KeyError) as exc:
                self._log("ERROR", f"flatten: cancel of entry {row.client_order_id} failed: {exc}")
                continue
            if order.status is OrderStatus.CANCELED:
                canceled.append(row.client_order_id)
        sent: list[Order] = []
        held: list[str] = []
        exiting: list[str] = []
        failed: list[str] = []
        today = self._session_of(now)
        for pos in list(self._live.values()):
            if pos.exiting:
                exiting.append(pos.symbol)
                continue
            order = await self._exit(pos, reason, now, OrderIntent.FLATTEN, "flatten all", False)
            if order is not None:
                sent.append(order)
            elif pos.held == (today, reason):
                held.append(pos.symbol)
            elif pos.symbol in self._live and not pos.exiting:
                failed.append(pos.symbol)
        return FlattenResult(
            tuple(sent), tuple(held), tuple(exiting), tuple(failed), tuple(canceled)
        )

    async def roll_session(self, session: date) -> list[Order]:
        """Start of ``session``: re-level every protective stop (day 1 -> day 2: emergency
        level -> SL). Returns the stops now resting."""
        self.store.audit(
            "engine",
            "positions.roll_session",
            f"session:{session.isoformat()}",
            {"symbols": sorted(self._live)},
            at=self.clock.now(),
        )
        stops: list[Order] = []
        for symbol in list(self._live):
            stop = await self.ensure_stop(symbol, session=session)
            if stop is not None:
                stops.append(stop)
        return stops

    # ============================================================ reconciliation
    async def adopt_position(
        self,
        symbol: str,
        qty: int,
        avg_price: float,
        plan: EntryPlan,
        *,
        entry_session: date | None = None,
        note: str = "",
    ) -> PositionState:
        """Take over a position the broker holds and the store does not (reconciliation's
        ``adopt``): stored, managed from now on, protected by a stop. ``qty`` > 0 in the
        plan's direction; ``entry_session`` defaults to today's (day 1: the emergency level,
        the conservative choice when the real entry day is unknown)."""
        if qty <= 0 or not math.isfinite(avg_price) or avg_price <= 0:
            raise ValueError(f"adopting {symbol} needs qty > 0 and a price > 0")
        if symbol in self._live:
            raise ValueError(f"{symbol} already has an open position in the book")
        now = self.clock.now()
        session = entry_session or self._session_of(now)
        sl, tp = sl_tp_from_fill(plan.side, avg_price, plan.atr14, plan.sl_mult, plan.tp_mult)
        row = self.store.open_position(
            symbol=symbol,
            side=plan.side,
            qty=qty,
            avg_entry=avg_price,
            entry_session=session,
            entry_at=now,
            strategy=plan.strategy,
            sl_mult=plan.sl_mult,
            tp_mult=plan.tp_mult,
            atr14=plan.atr14,
            sl=sl,
            tp=tp,
            candidate_id=plan.candidate_id,
            at=now,
        )
        pos = self._from_store(row, self._session_of(now))
        self._save_excursions(pos, now)
        self._live[symbol] = pos
        self.store.audit(
            "user",
            "position.adopted",
            symbol,
            {"position_id": pos.id, "qty": qty, "price": avg_price, "note": note},
            at=now,
        )
        self.bus.publish(PositionOpened(now, self._state(pos)))
        await self.ensure_stop(symbol)
        return self._state(pos)

    async def adopt_quantity(
        self, symbol: str, qty: int, avg_price: float, *, note: str = ""
    ) -> PositionState:
        """Set a position's quantity and average to the broker's (same side), recompute
        SL/TP and re-size the stop (reconciliation's ``adopt`` of a quantity mismatch)."""
        pos = self._live.get(symbol)
        if pos is None:
            raise KeyError(f"no open position in {symbol}")
        if qty <= 0 or not math.isfinite(avg_price) or avg_price <= 0:
            raise ValueError(f"adopting {symbol}'s quantity needs qty > 0 and a price > 0")
        now = self.clock.now()
        total = qty + pos.closed_qty  # closing fills already seen still count
        sl, tp = sl_tp_from_fill(pos.side, avg_price, pos.atr14, pos.sl_mult, pos.tp_mult)
        self.store.update_position(pos.id, at=now, qty=total, avg_entry=avg_price, sl=sl, tp=tp)
        self.store.audit(
            "user",
            "position.quantity_adopted",
            symbol,
            {
                "from": pos.open_qty,
                "to": qty,
                "avg_from": pos.fill_price,
                "avg_to": avg_price,
                "note": note,
            },
            at=now,
        )
        pos.qty = total
        if avg_price != pos.fill_price:
            pos.fill_price = avg_price
            pos.exc = _rebase(pos.exc, avg_price, now)
        self._save_excursions(pos, now)
        self.bus.publish(PositionUpdated(now, self._state(pos), "fill"))
        await self.ensure_stop(symbol)
        return self._state(pos)

    async def close_without_order(
        self,
        symbol: str,
        *,
        exit_price: float | None = None,
        reason: ExitReason = ExitReason.MANUAL,
        note: str = "",
    ) -> TradeRow:
        """Close a stored position the broker does not hold (reconciliation's ``adopt`` of
        "position only in the store"): no order is sent. The exit price is ``exit_price``,
        else the last price seen, else the entry (P&L 0); the audit row says it was not a
        trade at that price."""
        pos = self._live.get(symbol)
        if pos is None:
            raise KeyError(f"no open position in {symbol}")
        now = self.clock.now()
        price = exit_price or pos.last_price or pos.fill_price
        self.store.audit(
            "user",
            "position.closed_without_order",
            symbol,
            {"position_id": pos.id, "price": price, "reason": str(reason), "note": note},
            at=now,
        )
        remaining = pos.open_qty
        pos.closed_qty += remaining
        pos.closed_value += remaining * price
        pos.close_reason = pos.close_reason or reason
        return self._close(pos, now, pos.close_reason)

    # ================================================================= restore
    async def restore(self, market: MinuteBarSource | None = None) -> tuple[PositionState, ...]:
        """Reload open positions from the store after a start (before reconciliation).

        Excursions come back from their stored row and are back-filled from ``market``'s
        minute bars for the time since the last stored price; the position's stop, exit and
        closing fills come back from its orders. A position whose closing fills already
        cover it (the app stopped between the last fill and the close) is closed now.
        """
        now = self.clock.now()
        today = self._session_of(now)
        restored: list[PositionState] = []
        for row in self.store.open_positions():
            if row.symbol in self._live:
                continue
            pos = self._from_store(row, today)
            if market is not None:
                before = pos.exc
                pos.exc = await self._backfill(pos, market, now, today)
                if pos.exc is not before:
                    self._save_excursions(pos, now)
            self._live[pos.symbol] = pos
            if pos.open_qty <= 0:
                assert pos.close_reason is not None
                self._close(pos, pos.last_at or now, pos.close_reason)
                continue
            state = self._state(pos)
            restored.append(state)
            self.bus.publish(PositionUpdated(now, state, "restored"))
        self._replay_entry_fills(today)
        return tuple(restored)

    def _replay_entry_fills(self, today: date) -> None:
        """Apply stored entry fills the book never saw (the app stopped between storing a
        fill and updating the position): a missed open, or a partial fill that did not grow
        the position. Entries of today's and the previous session are checked."""
        sessions = [self.calendar.previous_session(today), today]
        groups: dict[tuple[str, date], list[OrderRow]] = {}
        for s in sessions:
            for o in self.store.orders_for_session(s):
                if o.intent == OrderIntent.ENTRY and o.filled_qty > 0:
                    groups.setdefault((o.symbol, s), []).append(o)
        for (symbol, s), rows in groups.items():
            pos = self._live.get(symbol)
            if pos is None and all(r.position_id is not None for r in rows):
                continue  # the fills of a position that is closed
            if pos is not None and pos.entry_session != s:
                continue
            fills = sorted(
                ((f, r) for r in rows for f in self.store.fills_for_order(r.client_order_id)),
                key=lambda fr: (fr[0].at, fr[0].id),
            )
            applied = 0 if pos is None else pos.qty
            seen = 0
            for f, r in fills:
                seen += round(f.qty)
                if seen <= applied:
                    continue
                fill = Fill(
                    fill_id=f.fill_id,
                    client_order_id=f.client_order_id,
                    symbol=f.symbol,
                    side=OrderSide(f.side),
                    qty=round(f.qty),
                    price=f.price,
                    at=f.at,
                )
                self._log(
                    "WARNING", f"{symbol}: applying stored entry fill {f.fill_id} after a restart"
                )
                self._entry_fill(
                    order_from_row(r), fill, self.store.order_by_client_id(r.client_order_id) or r
                )

    def _from_store(self, row: PositionRow, today: date) -> _Live:
        side = Side(row.side)
        r = row.sl_mult * row.atr14
        m = self.store.get_mfe_mae(row.id)
        if m is None:
            exc = Excursions.start(side, row.avg_entry, r, row.entry_at)
            saved = row.entry_at
        else:
            exc = Excursions(
                side,
                row.avg_entry,
                r,
                m.mfe_price,
                m.mfe_at,
                m.mae_price,
                m.mae_at,
                m.last_price_at,
            )
            saved = m.updated_at
        pos = _Live(
            id=row.id,
            symbol=row.symbol,
            side=side,
            qty=round(row.qty),
            fill_price=row.avg_entry,
            entry_session=row.entry_session,
            entry_at=row.entry_at,
            strategy=row.strategy,
            atr14=row.atr14,
            sl_mult=row.sl_mult,
            tp_mult=row.tp_mult,
            candidate_id=row.candidate_id,
            exc=exc,
            saved_at=saved,
            sl_manual=row.sl_manual,
            tp_manual=row.tp_manual,
        )
        orders = self._orders_of(pos, today)
        stops: list[OrderRow] = []
        for o in orders:
            intent = OrderIntent(o.intent)
            if intent is OrderIntent.ENTRY:
                pos.entry_cids.add(o.client_order_id)
                continue
            if intent is OrderIntent.STOP and o.is_open:
                stops.append(o)
            if intent in (OrderIntent.EXIT, OrderIntent.FLATTEN) and o.is_open:
                pos.exiting = True
                pos.exit_cid = o.client_order_id
                pos.exit_reason = self._stored_exit_reason(o.client_order_id, intent)
            for f in self.store.fills_for_order(o.client_order_id):
                pos.closed_qty += round(f.qty)
                pos.closed_value += f.qty * f.price
                if pos.close_reason is None:
                    pos.close_reason = self._reason_of_row(o, pos, f.at)
                if pos.last_at is None or f.at > pos.last_at:
                    pos.last_at = f.at
        if stops:
            stop = max(stops, key=lambda o: o.id)
            pos.stop_cid = stop.client_order_id
            pos.stop_price = stop.stop_price
            pos.stop_qty = round(stop.qty - stop.filled_qty)
        elif row.stop_client_order_id:
            pos.stop_cid = row.stop_client_order_id
        return pos

    def _orders_of(self, pos: _Live, today: date) -> list[OrderRow]:
        """The stored orders of a position, oldest first (from its entry session on)."""
        end = max(today, pos.entry_session)
        out: list[OrderRow] = []
        for s in self.calendar.sessions_in_range(pos.entry_session, end):
            out.extend(o for o in self.store.orders_for_session(s) if o.position_id == pos.id)
        return sorted(out, key=lambda o: o.id)

    async def _backfill(
        self, pos: _Live, market: MinuteBarSource, now: datetime, today: date
    ) -> Excursions:
        exc = pos.exc
        since = exc.updated_at
        first = self._session_of(since)
        if first > today:
            return exc
        for s in self.calendar.sessions_in_range(first, today):
            try:
                bars = await market.minute_bars(pos.symbol, s)
                exc = backfill(exc, bars, since=since, until=now)
            except Exception as exc_err:  # a market problem must not stop the restart
                self._log(
                    "WARNING",
                    f"{pos.symbol}: MFE/MAE back-fill for {s} failed ({exc_err}); the excursions "
                    "may miss part of the time the app was away",
                )
        return exc

    # =================================================================== fills
    def _on_fill(self, order: Order, fill: Fill, row: OrderRow) -> None:
        if order.request.intent is OrderIntent.ENTRY:
            self._entry_fill(order, fill, row)
        else:
            self._closing_fill(order, fill, row)

    def _entry_fill(self, order: Order, fill: Fill, row: OrderRow) -> None:
        cid = order.client_order_id
        symbol = fill.symbol
        side = Side.LONG if fill.side is OrderSide.BUY else Side.SHORT
        pos = self._live.get(symbol)
        if pos is None:
            plan = self._plan_for(cid, row)
            if plan is None:
                self._problem(
                    symbol,
                    f"entry fill {fill.fill_id} of {cid}: no entry plan and no candidate, so no "
                    "SL/TP can be set; the position is not managed (reconcile will show it)",
                )
                return
            if plan.side is not side:
                self._problem(
                    symbol, f"entry fill {fill.fill_id} is a {side} but {cid} planned a {plan.side}"
                )
                return
            session = self._session_of(fill.at)
            sl, tp = sl_tp_from_fill(side, fill.price, plan.atr14, plan.sl_mult, plan.tp_mult)
            prow = self.store.open_position(
                symbol=symbol,
                side=side,
                qty=fill.qty,
                avg_entry=fill.price,
                entry_session=session,
                entry_at=fill.at,
                strategy=order.request.strategy or plan.strategy,
                sl_mult=plan.sl_mult,
                tp_mult=plan.tp_mult,
                atr14=plan.atr14,
                sl=sl,
                tp=tp,
                candidate_id=plan.candidate_id
                if plan.candidate_id is not None
                else row.candidate_id,
                at=fill.at,
            )
            self.store.upsert_order(cid, at=fill.at, position_id=prow.id)
            r = plan.sl_mult * plan.atr14
            pos = _Live(
                id=prow.id,
                symbol=symbol,
                side=side,
                qty=fill.qty,
                fill_price=fill.price,
                entry_session=session,
                entry_at=fill.at,
                strategy=prow.strategy,
                atr14=plan.atr14,
                sl_mult=plan.sl_mult,
                tp_mult=plan.tp_mult,
                candidate_id=prow.candidate_id,
                exc=Excursions.start(side, fill.price, r, fill.at),
                saved_at=fill.at,
            )
            pos.entry_cids.add(cid)
            self._save_excursions(pos, fill.at)
            self._live[symbol] = pos
            self.store.audit(
                "engine",
                "position.opened",
                symbol,
                {"position_id": pos.id, "order": cid, "qty": fill.qty, "price": fill.price},
                at=fill.at,
            )
            self.bus.publish(PositionOpened(fill.at, self._state(pos)))
        else:
            if pos.side is not side:
                self._problem(
                    symbol,
                    f"entry fill {fill.fill_id} ({side}) for a symbol held {pos.side}: not applied",
                )
                return
            qty = pos.qty + fill.qty
            avg = (pos.qty * pos.fill_price + fill.qty * fill.price) / qty
            sl, tp = sl_tp_from_fill(side, avg, pos.atr14, pos.sl_mult, pos.tp_mult)
            self.store.update_position(pos.id, at=fill.at, qty=qty, avg_entry=avg, sl=sl, tp=tp)
            if row.position_id is None:
                self.store.upsert_order(cid, at=fill.at, position_id=pos.id)
            pos.qty = qty
            pos.fill_price = avg
            pos.exc = _rebase(pos.exc, avg, fill.at)
            pos.entry_cids.add(cid)
            self._save_excursions(pos, fill.at)
            self.bus.publish(PositionUpdated(fill.at, self._state(pos), "fill"))
        if not pos.exiting:
            self._spawn(self.ensure_stop(symbol), f"protective stop of {symbol}")

    def _plan_for(self, cid: str, row: OrderRow) -> EntryPlan | None:
        plan = self._plans.get(cid)
        if plan is not None:
            return plan
        if row.candidate_id is not None:
            cand = self.store.get_candidate(row.candidate_id)
            if cand is not None:
                return EntryPlan.of_row(cand)
        return None

    def _closing_fill(self, order: Order, fill: Fill, row: OrderRow) -> None:
        pos = self._live.get(fill.symbol)
        if pos is None or (row.position_id is not None and row.position_id != pos.id):
            self._log(
                "WARNING",
                f"{order.request.intent} fill {fill.fill_id} of {fill.symbol} matches no open "
                "position; reconcile with the broker",
            )
            return
        pos.closed_qty += fill.qty
        pos.closed_value += fill.qty * fill.price
        pos.exc = pos.exc.update(fill.price, fill.at)
        if pos.close_reason is None:
            pos.close_reason = self._reason_of(order, pos, fill.at)
        if pos.open_qty <= 0:
            self._close(pos, fill.at, pos.close_reason)
        else:
            self._save_excursions(pos, fill.at)
            self.bus.publish(PositionUpdated(fill.at, self._state(pos), "partial_exit"))

    def _reason_of(self, order: Order, pos: _Live, at: datetime) -> ExitReason:
        intent = order.request.intent
        if intent is OrderIntent.STOP:
            return self._stop_reason(pos, order.request.stop_price, at)
        if order.client_order_id == pos.exit_cid and pos.exit_reason is not None:
            return pos.exit_reason
        return self._stored_exit_reason(order.client_order_id, intent)

    def _reason_of_row(self, o: OrderRow, pos: _Live, at: datetime) -> ExitReason:
        intent = OrderIntent(o.intent)
        if intent is OrderIntent.STOP:
            return self._stop_reason(pos, o.stop_price, at)
        return self._stored_exit_reason(o.client_order_id, intent)

    def _stop_reason(self, pos: _Live, stop_price: float | None, at: datetime) -> ExitReason:
        """EMERGENCY if the stop rested at the emergency level, else STOP_LOSS."""
        cfg = self._config().exits
        today = self._session_of(at)
        if self._day(pos.entry_session, today) < cfg.sltp_from_day:
            return ExitReason.EMERGENCY
        emergency = round_stop(emergency_level(pos.side, pos.fill_price, cfg), pos.side)
        moved = pos.sl_manual is not None and stop_price is not None
        if moved and abs(stop_price - round_stop(pos.levels.sl, pos.side)) < 0.005:  # type: ignore[operator]
            return ExitReason.STOP_LOSS  # the trader's stop, even where it sits on the emergency
        if stop_price is not None and abs(stop_price - emergency) < 0.005:
            return ExitReason.EMERGENCY
        return ExitReason.STOP_LOSS

    def _stored_exit_reason(self, cid: str, intent: OrderIntent) -> ExitReason:
        """The exit reason written with the order's creation (survives a restart)."""
        for ev in self.store.order_events(cid):
            reason = (ev.detail or {}).get("exit_reason")
            if reason in ExitReason.__members__:
                return ExitReason(reason)
        return ExitReason.MANUAL

    def _close(self, pos: _Live, at: datetime, reason: ExitReason) -> TradeRow:
        exit_price = pos.closed_value / pos.closed_qty
        session = self._session_of(at)
        days = self.calendar.day_number(pos.entry_session, session)
        self._save_excursions(pos, at)  # the trade copies the excursions from their row
        trade = self.store.close_position(
            pos.id,
            exit_price=exit_price,
            exit_at=at,
            exit_session=session,
            exit_reason=reason,
            days_held=days,
        )
        self.store.audit(
            "engine",
            "position.closed",
            pos.symbol,
            {
                "position_id": pos.id,
                "reason": str(reason),
                "exit_price": exit_price,
                "pnl": trade.pnl,
                "days_held": days,
            },
            at=at,
        )
        self._live.pop(pos.symbol, None)
        timer = self._stop_timers.pop(pos.symbol, None)
        if timer is not None:
            timer.task.cancel()
        for cid in pos.entry_cids:
            self._plans.pop(cid, None)
        self.bus.publish(PositionClosed(at, self._state(pos), trade, reason))
        self._spawn(self._cleanup(pos), f"clean-up after closing {pos.symbol}")
        return trade

    async def _cleanup(self, pos: _Live) -> None:
        """Cancel whatever of a closed position could still trade (a stop, an entry)."""
        cids = [*pos.entry_cids, pos.stop_cid, pos.exit_cid]
        for cid in cids:
            if cid is None:
                continue
            order = self.orders.order(cid)
            if order is not None and order.status.is_open:
                try:
                    await self.orders.cancel(cid)
                except (BrokerError, KeyError) as exc:
                    self._problem(
                        pos.symbol, f"order {cid} of the closed position: cancel failed ({exc})"
                    )

    def _on_order_update(self, order: Order, previous: OrderStatus) -> None:
        pos = self._live.get(order.symbol)
        if pos is None or not order.status.is_terminal:
            return
        cid = order.client_order_id
        if cid == pos.exit_cid:
            # The exit order is done but the position is still open: it did not fill
            # (canceled, expired, rejected) or more shares arrived while it was out.
            pos.exiting = False
            pos.exit_cid = None
            now = self.clock.now()
            if order.status is OrderStatus.FILLED:
                reason = pos.exit_reason or ExitReason.MANUAL
                self._spawn(
                    self._exit(pos, reason, now, order.request.intent, "remainder", False),
                    f"exit of the rest of {pos.symbol}",
                )
                return
            pos.exit_reason = None
            if not order.reject_reason.startswith(NOT_SENT):
                # A broker's refusal: do not hammer it. (An exit that was never sent, e.g.
                # found after a restart, may be decided again at once.)
                pos.retry_after = now + self._retry_after
            self.store.audit(
                "engine",
                "exit.failed",
                pos.symbol,
                {"order": cid, "status": str(order.status), "reason": order.reject_reason},
                at=now,
            )
            self.bus.publish(PositionUpdated(now, self._state(pos), "exit_failed"))
            self._spawn(self.ensure_stop(pos.symbol), f"protective stop of {pos.symbol}")
        elif cid == pos.stop_cid and order.status is not OrderStatus.FILLED and not pos.exiting:
            # The stop went away without our asking (expired, canceled at the broker): put
            # it back. A replacement also lands here; ensure_stop then finds nothing to do.
            if order.status is OrderStatus.REJECTED:
                # Refused after it was accepted (on the trade stream): the same problem a
                # refusal in the request's answer reports (issue 12.8).
                req = order.request
                self._problem(
                    pos.symbol,
                    f"protective stop {cid} ({req.qty} @ {req.stop_price}) not placed: "
                    f"{order.reject_reason or 'rejected by the broker'}",
                    rejected=True,
                )
            self._spawn(self.ensure_stop(pos.symbol), f"protective stop of {pos.symbol}")
        elif cid in pos.entry_cids and pos.symbol in self._stop_timers and not pos.exiting:
            # The working rest of a partly filled entry went away (the 10:00 cut-off, the
            # kill switch, the broker): the stop it deferred need not wait any longer. (A
            # rest that filled placed the stop from its fill.)
            self._stop_timers.pop(pos.symbol).task.cancel()
            self._spawn(self.ensure_stop(pos.symbol), f"protective stop of {pos.symbol}")

    # =================================================================== exits
    async def _exit(
        self,
        pos: _Live,
        reason: ExitReason,
        at: datetime,
        intent: OrderIntent,
        detail: str,
        by_rule: bool,
    ) -> Order | None:
        if pos.exiting:
            return None
        if by_rule and pos.retry_after is not None and at < pos.retry_after:
            return None
        today = self._session_of(at)
        if pos.held == (today, reason):
            return None
        pos.exiting = True  # before any await: a second price must not send a second exit
        pos.exit_reason = reason
        try:
            cfg = self._config()
            if pos.entry_session == today and reason is not ExitReason.EMERGENCY:
                equity = await self._equity()
                pdt = pdt_allows_exit(equity, True, reason, cfg.portfolio)
                if not pdt.allowed:
                    pos.held = (today, reason)
                    pos.exiting = False
                    pos.exit_reason = None
                    message = (
                        f"{pos.symbol}: {reason} exit held until the next session: opened today "
                        f"and equity {equity:,.2f} is under {cfg.portfolio.pdt_equity_min:,.0f} "
                        "(pattern-day-trader guard)"
                    )
                    self.store.audit(
                        "engine",
                        "exit.held",
                        pos.symbol,
                        {"reason": str(reason), "guard": pdt.reason, "equity": _finite(equity)},
                        at=at,
                    )
                    self.bus.publish(ExitHeld(at, pos.symbol, reason, pdt.reason, message))
                    self._log("INFO", message)
                    return None
            decision = {
                "position_id": pos.id,
                "exit_reason": str(reason),
                "price": pos.last_price,
                "detail": detail,
                "intent": str(intent),
            }
            async with self._lock(pos.symbol):
                order = await self._send_exit(pos, reason, at, intent, today, decision)
            # The decision is already in the store (the exit order's creation carries it,
            # written before the stop was canceled); this row is the audit log's copy, with
            # the outcome.
            self.store.audit(
                "engine",
                "exit.decided",
                pos.symbol,
                {**decision, "order": None if order is None else order.client_order_id},
                at=at,
            )
            return order
        except BaseException:
            if pos.exit_cid is None and pos.symbol in self._live:
                pos.exiting = False  # nothing went out: the next price may try again
                pos.exit_reason = None
            raise

    async def _send_exit(
        self,
        pos: _Live,
        reason: ExitReason,
        at: datetime,
        intent: OrderIntent,
        today: date,
        decision: dict[str, Any],
    ) -> Order | None:
        # 1. An entry still working would add shares after the exit: cancel it first.
        for cid in sorted(pos.entry_cids):
            order = self.orders.order(cid)
            if order is not None and order.status.is_open:
                try:
                    await self.orders.cancel(cid)
                except (BrokerError, KeyError) as exc:
                    self._log("WARNING", f"{pos.symbol}: cancel of entry {cid} failed: {exc}")
        if pos.symbol not in self._live or pos.open_qty <= 0:
            return None
        # 2. The decision and the exit order are written first (status new, not sent): the
        #    one write that records what is about to happen, stop cancel included.
        cid, request = self._prepare_exit(pos, intent, today, decision)
        try:
            prepared = await self._clear_the_way(pos, at, cid, request, intent, today, decision)
        except BaseException as exc:
            # Interrupted before sending (a failure, a cancelled task): the prepared order
            # will not go out, and the position is not left "exiting" forever.
            with contextlib.suppress(Exception):
                self._abandon_exit(pos, cid, f"interrupted before sending ({exc!r})")
            raise
        if prepared is None:
            return None
        cid, request = prepared
        # 4. Send it.
        try:
            order = await self.orders.submit(request, session=today, position_id=pos.id)
            if pos.symbol in self._live and pos.exiting:
                self.bus.publish(PositionUpdated(at, self._state(pos), "exiting"))
            return order
        except OrderUncertain as exc:
            # It may be out: never send another or put a stop beside it blindly.
            self._problem(pos.symbol, f"exit order {cid} is uncertain ({exc}); reconcile")
            return None
        except BrokerError as exc:
            if pos.exit_cid != cid:
                return None  # the rejection's update already put the stop back
            pos.exit_cid = None
            return self._exit_not_sent(pos, at, f"exit order {cid} was refused ({exc})")

    async def _clear_the_way(
        self,
        pos: _Live,
        at: datetime,
        cid: str,
        request: OrderRequest,
        intent: OrderIntent,
        today: date,
        decision: dict[str, Any],
    ) -> tuple[str, OrderRequest] | None:
        """Cancel the protective stop before an exit; the exit to send (re-prepared if the
        stop filled in part), or None when no exit is to be sent."""
        # 3. The stop holds the shares at the broker: cancel it. If it filled meanwhile,
        #    that fill is the exit.
        if pos.stop_cid is not None:
            try:
                stop = await self.orders.cancel(pos.stop_cid, record=False)
            except (BrokerError, KeyError) as exc:
                self._abandon_exit(pos, cid, "the protective stop could not be canceled")
                return self._exit_not_sent(
                    pos, at, f"the protective stop {pos.stop_cid} could not be canceled ({exc})"
                )
            if stop.status is OrderStatus.FILLED or pos.symbol not in self._live:
                self._abandon_exit(pos, cid, "the protective stop filled first")
                return None
            if stop.status.is_open:
                self._abandon_exit(pos, cid, f"the protective stop is still {stop.status}")
                return self._exit_not_sent(
                    pos, at, f"the protective stop {pos.stop_cid} is still {stop.status}"
                )
        if pos.open_qty != request.qty:  # the stop filled in part before it was canceled
            self._abandon_exit(pos, cid, f"superseded: {pos.open_qty} shares left")
            if pos.open_qty <= 0:
                return None
            return self._prepare_exit(pos, intent, today, decision)
        return cid, request

    def _prepare_exit(
        self, pos: _Live, intent: OrderIntent, today: date, decision: dict[str, Any]
    ) -> tuple[str, OrderRequest]:
        cid = self._next_cid(today, pos, intent)
        request = OrderRequest(
            client_order_id=cid,
            symbol=pos.symbol,
            side=OrderSide.to_close(pos.side),
            qty=pos.open_qty,
            type=OrderType.MARKET,
            tif=TimeInForce.DAY,
            intent=intent,
            strategy=pos.strategy,
        )
        pos.exit_cid = cid
        self.orders.prepare(
            request,
            session=today,
            position_id=pos.id,
            detail={**decision, "cancels_stop": pos.stop_cid},
        )
        return cid, request

    def _abandon_exit(self, pos: _Live, cid: str, why: str) -> None:
        """A prepared exit order that will not be sent is closed as never sent."""
        if pos.exit_cid == cid:
            pos.exit_cid = None  # first: the update it causes is not an exit that failed
        self.orders.mark_not_sent(cid, why)

    def _exit_not_sent(self, pos: _Live, at: datetime, why: str) -> None:
        if pos.symbol in self._live:
            pos.exiting = False
            pos.exit_reason = None
            pos.retry_after = at + self._retry_after
            self.store.audit("engine", "exit.failed", pos.symbol, {"why": why}, at=at)
            self.bus.publish(PositionUpdated(at, self._state(pos), "exit_failed"))
            self._log("ERROR", f"{pos.symbol}: exit not sent: {why}")
            self._spawn(self.ensure_stop(pos.symbol), f"protective stop of {pos.symbol}")
        return None

    async def _equity(self) -> float:
        """Account equity for the PDT guard; NaN (the guard applies) if unknown."""
        try:
            async with asyncio.timeout(self.orders.timeout_s):
                return (await self.broker.account()).equity
        except (TimeoutError, BrokerError) as exc:
            self._log("WARNING", f"account equity unavailable for the PDT guard: {exc}")
            return math.nan

    # ===================================================================== stops
    def _next_cid(self, session: date, pos: _Live, intent: OrderIntent) -> str:
        """The first deterministic id of (session, symbol, strategy, intent) not yet used."""
        key = (session, pos.symbol, pos.strategy, intent)
        n = self._seq.get(key, 0)
        while self.orders.known(client_order_id(session, pos.symbol, pos.strategy, intent, n)):
            n += 1
        self._seq[key] = n + 1
        return client_order_id(session, pos.symbol, pos.strategy, intent, n)

    # =================================================================== helpers
    def _lock(self, symbol: str) -> asyncio.Lock:
        lock = self._locks.get(symbol)
        if lock is None:
            lock = self._locks[symbol] = asyncio.Lock()
        return lock

    def _spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:
            coro.close()
            self._log("ERROR", f"{what}: no running event loop; reconcile to catch up")
            return
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                self._log("ERROR", f"{what} failed: {t.exception()!r}")

        task.add_done_callback(done)

    def _session_of(self, at: datetime) -> date:
        """The session ``at`` belongs to (the last one on or before its ET date)."""
        d = at.astimezone(ET).date()
        s = self._session_cache.get(d)
        if s is None:
            s = self._session_cache[d] = self.calendar.session_on_or_before(d)
        return s

    def _day(self, entry_session: date, today: date) -> int:
        key = (entry_session, today)
        n = self._day_cache.get(key)
        if n is None:
            n = self._day_cache[key] = max(1, self.calendar.day_number(entry_session, today))
        return n

    def _time_exit(self, today: date, cfg: ExitConfig) -> datetime:
        key = (today, cfg.time_exit_at, cfg.early_close_minutes_before)
        t = self._time_exit_cache.get(key)
        if t is None:
            t = self._time_exit_cache[key] = self.calendar.time_exit_time(
                today, cfg.time_exit_at, cfg.early_close_minutes_before
            )
        return t

    def _save_excursions(self, pos: _Live, at: datetime) -> None:
        e = pos.exc
        self.store.update_mfe_mae(
            pos.id,
            mfe_price=e.mfe_price,
            mfe_pct=e.mfe_pct,
            mfe_r=_finite(e.mfe_r),
            mfe_at=e.mfe_at,
            mae_price=e.mae_price,
            mae_pct=e.mae_pct,
            mae_r=_finite(e.mae_r),
            mae_at=e.mae_at,
            last_price_at=e.updated_at,
            at=at,
        )
        pos.saved_at = at

    def _state(self, pos: _Live) -> PositionState:
        e = pos.exc
        rule = pos.rule_levels
        sl, tp = pos.manual_levels or rule
        return PositionState(
            position_id=pos.id,
            symbol=pos.symbol,
            side=pos.side,
            qty=pos.qty,
            open_qty=pos.open_qty,
            fill_price=pos.fill_price,
            entry_session=pos.entry_session,
            entry_at=pos.entry_at,
            strategy=pos.strategy,
            atr14=pos.atr14,
            sl_mult=pos.sl_mult,
            tp_mult=pos.tp_mult,
            sl=sl,
            tp=tp,
            candidate_id=pos.candidate_id,
            stop_client_order_id=pos.stop_cid,
            stop_price=pos.stop_price,
            stop_qty=pos.stop_qty,
            exiting=pos.exiting,
            exit_reason=pos.exit_reason,
            last_price=pos.last_price,
            last_at=pos.last_at,
            mfe_price=e.mfe_price,
            mfe_at=e.mfe_at,
            mae_price=e.mae_price,
            mae_at=e.mae_at,
            mfe_pct=e.mfe_pct,
            mae_pct=e.mae_pct,
            mfe_r=e.mfe_r,
            mae_r=e.mae_r,
            rule_sl=rule.sl,
            rule_tp=rule.tp,
            sl_moved=pos.sl_manual is not None,
            tp_moved=pos.tp_manual is not None,
        )

    def _problem(self, symbol: str, detail: str, *, rejected: bool = False) -> None:
        now = self.clock.now()
        self.store.audit(
            "engine",
            "protection.problem",
            symbol,
            {"detail": detail, "rejected": rejected},
            at=now,
        )
        self.bus.publish(ProtectionProblem(now, symbol, detail))
        self._log("ERROR", f"{symbol}: {detail}")

    def _log(self, level: str, message: str) -> None:
        getattr(log, level.lower(), log.info)(message)
        self.bus.publish(LogEvent(self.clock.now(), level, SOURCE, message))


def _rebase(exc: Excursions, fill_price: float, at: datetime) -> Excursions:
    """Excursions measured from a new average fill: the extremes seen stay; the new fill
    price becomes an extreme where it is one (so MFE >= 0 >= MAE still holds)."""
    sign = exc.side.sign
    mfe_price, mfe_at, mae_price, mae_at = exc.mfe_price, exc.mfe_at, exc.mae_price, exc.mae_at
    if sign * (mfe_price - fill_price) < 0:
        mfe_price, mfe_at = fill_price, at
    if sign * (mae_price - fill_price) > 0:
        mae_price, mae_at = fill_price, at
    return Excursions(
        exc.side,
        fill_price,
        exc.r_per_share,
        mfe_price,
        mfe_at,
        mae_price,
        mae_at,
        max(exc.updated_at, at),
    )


__all__ = [
    "ConfigProvider",
    "EntryPlan",
    "FlattenResult",
    "LevelMove",
    "MinuteBarSource",
    "PositionBook",
    "round_stop",
]
