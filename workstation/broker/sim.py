"""The simulated broker: the exchange of the ``sim`` and ``backtest`` modes.

:class:`SimBroker` implements the :class:`~workstation.broker.base.Broker` protocol with an
in-memory order book, account and positions. It does not read the market itself: the
session driver feeds it the simulated market's prints, and it fills against them:

* ``on_open(symbol, official_open)`` - the official open. Fills OPG orders (market and
  marketable limit) and DAY market orders that waited through the pre-market, triggers
  stops the open gapped through (filled AT THE OPEN, the worse price: a gap is not a
  chance to exit at the stop) and fills limits marketable at the open. Fills at the open
  use ``open_slippage_bps`` (default 0: the opening auction prints one price for all).
  An OPG order still open after its symbol's open expires there and then.
* ``on_price(symbol, price, at)`` - a last trade. Outside regular hours it only marks
  positions (stops and limits are regular-hours orders, market orders wait for the open);
  during regular hours it fills waiting market orders, triggers stops (sell: ``price <=
  stop``; buy: ``price >= stop``; a touch triggers) and fills limits that are marketable.
* ``on_close(symbol, official_close)`` - the closing print, matched like a regular-hours
  trade whatever the clock says (the calendar calls 16:00 "after hours").
* ``end_of_day(at)`` - DAY orders expire (created at or before ``at``), so do OPG orders
  that were live at the session's open; GTC orders persist.

Prices: a market order (or a triggered stop) fills at the print plus slippage for a buy
and minus for a sell (``slippage_bps``), so a stop that triggers fills at the worse of
the stop and the print; a limit fills at the print plus/minus slippage but never worse
than its limit. Commission is ``commission_per_share`` per filled share, plus on a sell the
regulatory fees (``sec_fee_rate`` of the proceeds, ``taf_per_share`` up to ``taf_max``), all
taken from cash and recorded as the fill's commission.

Rules copied from Alpaca, so an engine that works here works there:

* OPG orders are rejected while ``opg_reject_window`` (09:28-19:00 ET by default).
* ``enforce_available_qty`` (default on): an order that reduces a position may not ask
  for more than the position minus what other open orders on that side already hold
  ("insufficient qty available for order (requested: X, available: Y)"). So a position
  cannot flip sides in one order, and an exit must cancel the resting protective stop
  first (or use :meth:`SimBroker.close_position_sync`, which cancels the symbol's orders).
* ``prevent_wash_trades`` (default on): an order (or a stop replacement) is rejected with
  "potential wash trade detected. use complex orders" while an open order of the symbol on
  the other side could execute against it: either is a market order (or a triggered stop),
  or the buy's price is at or above the sell's (a limit's price is its limit, a stop's its
  stop price). So the protective stop of a partly filled entry cannot rest beside the
  entry's working remainder, exactly as at Alpaca.
* Buying power is Reg-T-like with a configurable gross limit (``max_gross``, 1.0 = cash
  account-like): ``max(0, equity * max_gross - gross position value - value of open
  orders that would add exposure)``, where the held value per symbol is the worst case of
  all its open buys or all its open sells filling, valued at the last price. An order
  that adds more than the buying power is rejected ("insufficient buying power").

The order state machine is never bypassed: every status change goes through
``Order.transition`` / ``Order.with_fill``. Terminal orders are out of the book, so a
print can never fill a canceled order; a forced fill (:meth:`SimBroker.fill_now`) on one
raises :class:`~workstation.core.models.IllegalTransition` and changes nothing.

Events: every status change publishes ``OrderUpdated(at, order, previous_status)`` and
every fill ``OrderFilled(at, order, fill)`` (the fill's event first, then the update).
Events are queued while the book changes and delivered once it is consistent again, so a
handler may call back into the broker (e.g. place the protective stop on a fill).

State: :meth:`SimBroker.snapshot_state` / :meth:`SimBroker.from_state` and
:meth:`SimBroker.save` / :meth:`SimBroker.load` (atomic JSON) make the broker outlive the
app, as a real exchange does across an app crash.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import tempfile
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Protocol

from workstation.broker.base import BrokerError, OrderRejected
from workstation.core.calendar import ET
from workstation.core.events import Event, EventBus, OrderFilled, OrderUpdated
from workstation.core.models import (
    Account,
    Asset,
    Fill,
    Order,
    OrderIntent,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from workstation.core.print_watch import PrintWatch

log = logging.getLogger(__name__)

STATE_VERSION = 1
DEFAULT_OPG_REJECT_WINDOW: tuple[time, time] = (time(9, 28), time(19, 0))
#: Alpaca's words for an order refused by its wash-trade protection.
WASH_TRADE = "potential wash trade detected. use complex orders"
REGULAR = "open"  # the market state string (MarketState.OPEN) that means regular hours

# Money comparisons: a cent's millionth is noise from float arithmetic, not a shortfall.
_EPS = 1e-6

AssetLookup = Callable[[str], Asset | None] | Mapping[str, Asset]
#: What an order could still add to a position: (side, shares, limit price, stop price).
_Want = tuple[OrderSide, int, float | None, float | None]
MarketHours = Callable[[datetime], str]


class _ClockLike(Protocol):
    def now(self) -> datetime: ...


@dataclass
class _Entry:
    """One order in the book, with what the exchange knows beyond the Order itself."""

    order: Order
    seq: int
    triggered: bool = False  # a stop whose trigger was reached: it now fills as a market order
    n_fills: int = 0


@dataclass
class _Position:
    qty: int = 0  # signed: negative is short
    avg_price: float = 0.0
    realized: float = 0.0  # gross of commission (commission is tracked separately)


def _default_market_hours(now: datetime) -> str:
    # Imported lazily: building the XNYS calendar costs ~0.3 s, and tests inject their own.
    from workstation.core.calendar import get_calendar

    return str(get_calendar().market_state(now))


def _positive_finite(value: float, what: str) -> float:
    if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive finite number, got {value!r}")
    return float(value)


def _non_negative(value: float, what: str) -> float:
    if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")
    return float(value)


def _execution_price(req: OrderRequest, *, triggered: bool) -> float | None:
    """The price at which an order may execute, for the wash-trade test: None for a market
    order or a triggered stop (any price), a limit's limit, a waiting stop's stop price."""
    if req.type is OrderType.LIMIT:
        return req.limit_price
    if req.type is OrderType.STOP and not triggered:
        return req.stop_price
    return None


def _unchecked_request(base: OrderRequest, **changes: Any) -> OrderRequest:
    """A copy of ``base`` with ``changes``, skipping OrderRequest's own validation.

    Only for requests the broker is about to reject or has recorded as rejected (e.g. a
    replacement with qty 0): the rejection must be recorded with what was asked.
    """
    new = copy.copy(base)
    for name, value in changes.items():
        object.__setattr__(new, name, value)
    return new


class SimBroker:
    """A simulated exchange and account implementing the Broker protocol.

    The async protocol methods wrap synchronous ``*_sync`` twins, which the session
    driver, the backtester and tests may call directly.
    """

    name = "sim"

    def __init__(
        self,
        clock: _ClockLike,
        starting_equity: float,
        slippage_bps: float = 2.0,
        commission_per_share: float = 0.0,
        assets: AssetLookup | None = None,
        market_hours: MarketHours | None = None,
        *,
        open_slippage_bps: float = 0.0,
        max_gross: float = 1.0,
        opg_reject_window: tuple[time, time] | None = DEFAULT_OPG_REJECT_WINDOW,
        partial_fill_sizes: Mapping[str, Sequence[int]] | None = None,
        enforce_available_qty: bool = True,
        prevent_wash_trades: bool = True,
        bus: EventBus | None = None,
        sec_fee_rate: float = 0.0,
        taf_per_share: float = 0.0,
        taf_max: float = math.inf,
    ) -> None:
        self._clock = clock
        self.starting_equity = _positive_finite(starting_equity, "starting_equity")
        self.slippage_bps = _non_negative(slippage_bps, "slippage_bps")
        self.open_slippage_bps = _non_negative(open_slippage_bps, "open_slippage_bps")
        self.commission_per_share = _non_negative(commission_per_share, "commission_per_share")
        # Regulatory fees on sells (SEC fee on the proceeds, FINRA TAF per share up to a cap),
        # charged with the commission.
        self.sec_fee_rate = _non_negative(sec_fee_rate, "sec_fee_rate")
        self.taf_per_share = _non_negative(taf_per_share, "taf_per_share")
        self.taf_max = float(taf_max)
        self.max_gross = _positive_finite(max_gross, "max_gross")
        self.opg_reject_window = opg_reject_window
        self.enforce_available_qty = bool(enforce_available_qty)
        self.prevent_wash_trades = bool(prevent_wash_trades)
        self._assets = assets
        self._asset_changes: dict[str, Asset] = {}  # set_asset: what changed since the start
        self._market_hours: MarketHours = market_hours or _default_market_hours
        self._bus = bus
        self._partial: dict[str, tuple[int, ...]] = {}
        for symbol, sizes in (partial_fill_sizes or {}).items():
            self.set_partial_fills(symbol, sizes)

        self._cash = self.starting_equity
        self._commissions = 0.0
        self._seq = 0
        self._entries: dict[str, _Entry] = {}  # client order id -> entry, in submission order
        # Orders that may still be open, per symbol: a print looks only at these (pruned
        # lazily as they finish), not at every order ever placed.
        self._maybe_open: dict[str, dict[str, _Entry]] = {}
        self._positions: dict[str, _Position] = {}
        # The positions with shares, in the order of ``_positions`` (so sums over them add
        # up in the same order); rebuilt after a fill changes which symbols hold shares.
        # ``_positions`` keeps every symbol ever traded (its realized P&L), and every
        # account read walked them all.
        self._holding: list[tuple[str, _Position]] | None = None
        self._last: dict[str, float] = {}
        # symbol -> ET date on which its regular session has printed (on_open or a
        # regular-hours trade): only then does a market order fill on submission.
        self._live: dict[str, date] = {}
        self._session_opened_at: datetime | None = None
        self._fills: list[Fill] = []

        self._handlers: list[Callable[[Event], None]] = []
        self._pending: deque[Event] = deque()
        self._flushing = False

    # ------------------------------------------------------------------ events
    def on_event(self, handler: Callable[[Event], None]) -> None:
        """OrderUpdated / OrderFilled events go to ``handler`` (also to the bus, if any)."""
        self._handlers.append(handler)

    def _emit(self, event: Event) -> None:
        self._pending.append(event)

    def _flush(self) -> None:
        # Re-entrant calls (a handler placing an order) queue their events behind ours;
        # the outermost flush delivers everything in order.
        if self._flushing:
            return
        self._flushing = True
        try:
            while self._pending:
                event = self._pending.popleft()
                for handler in tuple(self._handlers):
                    try:
                        handler(event)
                    except Exception:  # a broken subscriber must not break the exchange
                        log.exception("sim broker event handler %r failed", handler)
                if self._bus is not None:
                    self._bus.publish(event)
        finally:
            self._flushing = False

    # -------------------------------------------------------------- small helpers
    def _now(self, at: datetime | None = None) -> datetime:
        now = at if at is not None else self._clock.now()
        if now.tzinfo is None:
            raise ValueError(f"the sim broker needs tz-aware times, got {now!r}")
        return now.astimezone(ET)

    def _is_regular(self, now: datetime) -> bool:
        return str(self._market_hours(now)) == REGULAR

    def set_asset(self, asset: Asset) -> None:
        """What the exchange knows of ``asset.symbol`` from now on: a trading halt
        (``tradable=False``: its orders are refused, "asset X is not tradable", as Alpaca
        refuses them), a borrow that ends (``shortable=False``), or back to normal. Market
        state, not the account's: not part of :meth:`snapshot_state`."""
        self._asset_changes[asset.symbol] = asset

    def _lookup_asset(self, symbol: str) -> Asset | None:
        changed = self._asset_changes.get(symbol)
        if changed is not None:
            return changed
        if self._assets is None:
            return Asset(symbol)
        if isinstance(self._assets, Mapping):
            return self._assets.get(symbol)
        try:
            return self._assets(symbol)
        except KeyError:
            return None

    def _mark_live(self, symbol: str, now: datetime) -> None:
        self._live[symbol] = now.date()
        opened = self._session_opened_at
        if opened is None or opened.date() != now.date():
            self._session_opened_at = now

    def _is_live(self, symbol: str, now: datetime) -> bool:
        return self._live.get(symbol) == now.date() and symbol in self._last

    def _track(self, entry: _Entry) -> None:
        self._entries[entry.order.client_order_id] = entry
        if entry.order.status.is_open:
            self._maybe_open.setdefault(entry.order.symbol, {})[entry.order.client_order_id] = entry

    def _open_entries(self, symbol: str | None = None) -> list[_Entry]:
        if symbol is not None:
            book = self._maybe_open.get(symbol)
            books = [(symbol, book)] if book else []
        else:
            books = list(self._maybe_open.items())
        found: list[_Entry] = []
        for sym, book in books:
            for cid, e in list(book.items()):
                if e.order.status.is_open:
                    found.append(e)
                else:
                    del book[cid]
            if not book:
                # A symbol without open orders leaves the index: every account read walks
                # it, and over years of a backtest it would hold every symbol ever traded.
                del self._maybe_open[sym]
        return sorted(found, key=lambda e: e.seq)

    def set_partial_fills(self, symbol: str, sizes: Sequence[int] | None) -> None:
        """Fill ``symbol``'s orders in pieces: an order's n-th fill is ``sizes[n]`` shares
        (capped at what remains); past the list, the rest fills at once. One piece per
        print (the open or a trade), except OPG orders, whose pieces all fill at the open.
        ``None`` or ``()`` restores whole fills."""
        if not sizes:
            self._partial.pop(symbol, None)
            return
        clean = tuple(int(s) for s in sizes)
        if any(s <= 0 for s in clean):
            raise ValueError(f"partial fill sizes for {symbol} must be positive, got {sizes!r}")
        self._partial[symbol] = clean

    def last_price(self, symbol: str) -> float | None:
        return self._last.get(symbol)

    # ------------------------------------------------------------ account views
    def _held(self) -> list[tuple[str, _Position]]:
        """(symbol, position) of every position with shares, in ``_positions``' order."""
        held = self._holding
        if held is None:
            held = self._holding = [(s, p) for s, p in self._positions.items() if p.qty]
        return held

    def _equity(self) -> float:
        return self._cash + sum(p.qty * self._last.get(s, p.avg_price) for s, p in self._held())

    def _gross(self) -> float:
        return sum(abs(p.qty) * self._last.get(s, p.avg_price) for s, p in self._held())

    def _held_value(self, extra: OrderRequest | None = None, exclude: str | None = None) -> float:
        """Value of the exposure open orders could add (worst side per symbol)."""
        # (side, shares still to fill, limit, stop) per order: what the worst case needs,
        # without copying requests (every account read walks every open order).
        per_symbol: dict[str, list[_Want]] = {}
        for e in self._open_entries():
            if e.order.client_order_id != exclude:
                r = e.order.request
                per_symbol.setdefault(e.order.symbol, []).append(
                    (r.side, e.order.remaining_qty, r.limit_price, r.stop_price)
                )
        if extra is not None:
            per_symbol.setdefault(extra.symbol, []).append(
                (extra.side, extra.qty, extra.limit_price, extra.stop_price)
            )
        total = 0.0
        for symbol, wants in per_symbol.items():
            shares = self._added_shares(symbol, wants)
            if shares > 0:
                total += shares * (self._reference_price(symbol, wants) or 0.0)
        return total

    def _added_shares(self, symbol: str, wants: Sequence[_Want]) -> int:
        q = self._position(symbol).qty
        buys = sum(w[1] for w in wants if w[0] is OrderSide.BUY)
        sells = sum(w[1] for w in wants if w[0] is OrderSide.SELL)
        return max(0, max(abs(q + buys), abs(q - sells)) - abs(q))

    def _reference_price(self, symbol: str, wants: Sequence[_Want]) -> float | None:
        last = self._last.get(symbol)
        if last is not None:
            return last
        prices = [p for w in wants for p in (w[2], w[3]) if p is not None]
        return max(prices) if prices else None

    def _buying_power_raw(self, exclude: str | None = None) -> float:
        return self._equity() * self.max_gross - self._gross() - self._held_value(exclude=exclude)

    def _position(self, symbol: str) -> _Position:
        return self._positions.get(symbol) or _Position()

    @property
    def cash(self) -> float:
        """The account's cash (what :meth:`account_sync` reports, without walking the open
        orders for the buying power)."""
        return self._cash

    def account_sync(self) -> Account:
        return Account(
            equity=self._equity(),
            cash=self._cash,
            buying_power=max(0.0, self._buying_power_raw()),
            pattern_day_trader=False,
        )

    def positions_sync(self) -> dict[str, tuple[int, float]]:
        """Open positions: symbol -> (signed qty, average entry price)."""
        return {s: (p.qty, p.avg_price) for s, p in sorted(self._held())}

    def realized_pnl(self, symbol: str | None = None) -> float:
        """Realized P&L, gross of commission, of one symbol or all."""
        if symbol is not None:
            return self._position(symbol).realized
        return sum(p.realized for p in self._positions.values())

    @property
    def commissions(self) -> float:
        """Commission paid so far."""
        return self._commissions

    def open_orders_sync(self) -> list[Order]:
        return [e.order for e in self._open_entries()]

    def orders(self) -> list[Order]:
        """Every order the exchange has seen (rejected ones included), in submission order."""
        return [e.order for e in sorted(self._entries.values(), key=lambda e: e.seq)]

    def fills(self) -> list[Fill]:
        """Every fill so far, oldest first (what Alpaca's account activities would list)."""
        return list(self._fills)

    def order_by_client_id_sync(self, client_order_id: str) -> Order | None:
        entry = self._entries.get(client_order_id)
        return entry.order if entry else None

    def asset_sync(self, symbol: str) -> Asset:
        asset = self._lookup_asset(symbol)
        if asset is None:
            raise BrokerError(f"asset {symbol!r} not found", reason=f'asset "{symbol}" not found')
        return asset

    # --------------------------------------------------------------- validation
    def _check(self, req: OrderRequest, now: datetime, exclude: str | None) -> tuple[str, str]:
        """("", "") if ``req`` is acceptable, else (reason, message). ``exclude`` is an
        order being replaced: it neither holds quantity nor buying power."""
        sym = req.symbol
        if req.qty <= 0:
            return "qty must be > 0", f"order quantity must be positive, got {req.qty}"
        for label, price in (("limit", req.limit_price), ("stop", req.stop_price)):
            if price is not None and (not math.isfinite(price) or price <= 0):
                return f"{label} price must be > 0", f"{label} price must be > 0, got {price}"
        if req.type is OrderType.LIMIT and req.limit_price is None:
            return "limit price required", "a limit order needs a limit price"
        if req.type is OrderType.STOP and req.stop_price is None:
            return "stop price required", "a stop order needs a stop price"
        if req.tif is TimeInForce.OPG and req.type is OrderType.STOP:
            return "opg orders must be market or limit", "OPG applies to market/limit orders"

        asset = self._lookup_asset(sym)
        if asset is None:
            return f'asset "{sym}" not found', f"unknown symbol {sym}"
        if not asset.tradable:
            return f"asset {sym} is not tradable", f"{sym} is not tradable"

        if req.tif is TimeInForce.OPG and self.opg_reject_window is not None:
            start, end = self.opg_reject_window
            wall = now.time()
            closed = start <= wall < end if start <= end else (wall >= start or wall < end)
            if closed:
                reason = (
                    f"OPG orders may be submitted only between {end:%H:%M} and {start:%H:%M} ET"
                )
                return reason, f"{reason} (now {wall:%H:%M:%S} ET)"

        if self.prevent_wash_trades and self._could_wash(req, exclude):
            return WASH_TRADE, f"{sym}: {WASH_TRADE} (an open {sym} order on the other side)"

        q = self._position(sym).qty
        reducing = (q > 0 and req.side is OrderSide.SELL) or (q < 0 and req.side is OrderSide.BUY)
        if self.enforce_available_qty and reducing:
            held = sum(
                e.order.remaining_qty
                for e in self._open_entries(sym)
                if e.order.request.side is req.side and e.order.client_order_id != exclude
            )
            available = max(0, abs(q) - held)
            if req.qty > available:
                reason = (
                    f"insufficient qty available for order "
                    f"(requested: {req.qty}, available: {available})"
                )
                return reason, f"{sym}: {reason}"

        if req.side is OrderSide.SELL and req.qty - max(q, 0) > 0:  # opens or adds to a short
            if not asset.shortable:
                return "not shortable", f"{sym} is not shortable"
            if not asset.easy_to_borrow:
                return "not easy to borrow", f"{sym} is not easy to borrow"

        adds = self._held_value(extra=req, exclude=exclude) - self._held_value(exclude=exclude)
        want = [(req.side, req.qty, req.limit_price, req.stop_price)]
        if self._added_shares(sym, want) > 0 and self._reference_price(sym, want) is None:
            return (
                "insufficient buying power",
                f"no price known for {sym} to value the order against buying power",
            )
        if adds > _EPS:
            bp = self._buying_power_raw(exclude=exclude)
            if adds > bp + _EPS:
                return (
                    "insufficient buying power",
                    f"insufficient buying power: the order needs {adds:,.2f}, "
                    f"available {max(bp, 0.0):,.2f}",
                )
        return "", ""

    def _could_wash(self, req: OrderRequest, exclude: str | None) -> bool:
        """Whether an open order of ``req``'s symbol on the other side could execute
        against ``req`` (see ``prevent_wash_trades`` in the module docstring)."""
        mine = _execution_price(req, triggered=False)
        for e in self._open_entries(req.symbol):
            other = e.order.request
            if other.side is req.side or other.client_order_id == exclude:
                continue
            theirs = _execution_price(other, triggered=e.triggered)
            if mine is None or theirs is None:
                return True  # a market order trades at any price
            buy, sell = (mine, theirs) if req.side is OrderSide.BUY else (theirs, mine)
            if buy >= sell:
                return True
        return False

    def _record(self, req: OrderRequest, now: datetime, reason: str) -> _Entry:
        """Put ``req`` in the book: accepted, or (with a reason) rejected."""
        self._seq += 1
        order = Order(
            request=req,
            status=OrderStatus.NEW,
            broker_id=f"sim-{self._seq:08d}",
            created_at=now,
            updated_at=now,
        )
        if reason:
            done = order.transition(OrderStatus.REJECTED, at=now, reject_reason=reason)
        else:
            done = order.transition(OrderStatus.ACCEPTED, at=now)
        entry = _Entry(order=done, seq=self._seq)
        self._track(entry)
        self._emit(OrderUpdated(now, done, OrderStatus.NEW))
        return entry

    # ---------------------------------------------------------------- orders
    def submit_sync(self, request: OrderRequest) -> Order:
        """Place ``request``; an existing client order id returns that order (whatever its
        status, rejected included) instead of placing another. Raises OrderRejected."""
        existing = self._entries.get(request.client_order_id)
        if existing is not None:
            if existing.order.request != request:
                log.warning(
                    "client order id %s reused with a different request; returning the "
                    "existing order",
                    request.client_order_id,
                )
            return existing.order
        now = self._now()
        try:
            reason, message = self._check(request, now, exclude=None)
            entry = self._record(request, now, reason)
            if reason:
                raise OrderRejected(f"order {request.client_order_id} rejected: {message}", reason)
            self._match_on_submit(entry, now)
            return entry.order
        finally:
            self._flush()

    def _match_on_submit(self, entry: _Entry, now: datetime) -> None:
        # During regular hours, with a price from today's session, a new order meets the
        # market at once: a market order fills, a marketable limit fills, a stop whose
        # trigger is already crossed triggers. OPG orders only ever meet the open.
        symbol = entry.order.symbol
        if (
            entry.order.request.tif is not TimeInForce.OPG
            and self._is_regular(now)
            and self._is_live(symbol, now)
        ):
            self._match(entry, self._last[symbol], now, at_open=False)

    def replace_stop_sync(
        self,
        client_order_id: str,
        stop_price: float,
        new_client_order_id: str,
        qty: int | None = None,
    ) -> Order:
        """Replace an open stop, atomically: the old one becomes CANCELED (reject_reason
        "replaced by <new id>", as Alpaca's "replaced") and a new stop with the new client
        order id is accepted. If the new one would be rejected, the old one stays live.
        Idempotent: if ``new_client_order_id`` exists, that order is returned."""
        existing = self._entries.get(new_client_order_id)
        if existing is not None:
            return existing.order
        old = self._entries.get(client_order_id)
        if old is None:
            raise BrokerError(f"order {client_order_id} not found", reason="order not found")
        if old.order.request.type is not OrderType.STOP or not old.order.status.is_open:
            raise BrokerError(
                f"order {client_order_id} ({old.order.request.type}, {old.order.status}) "
                "cannot be replaced as a stop",
                reason="order is not replaceable",
            )
        new_req = _unchecked_request(
            old.order.request,
            client_order_id=new_client_order_id,
            stop_price=float(stop_price),
            qty=old.order.remaining_qty if qty is None else int(qty),
        )
        now = self._now()
        try:
            reason, message = self._check(new_req, now, exclude=client_order_id)
            if reason:
                self._record(new_req, now, reason)
                raise OrderRejected(
                    f"replacement {new_client_order_id} of {client_order_id} rejected: {message}",
                    reason,
                )
            if new_req.qty > 0:  # a valid request: rebuild it through its own validation
                new_req = OrderRequest(
                    **{f.name: getattr(new_req, f.name) for f in fields(new_req)}
                )
            self._cancel_entry(old, now, detail=f"replaced by {new_client_order_id}")
            entry = self._record(new_req, now, "")
            self._match_on_submit(entry, now)
            return entry.order
        finally:
            self._flush()

    def _cancel_entry(self, entry: _Entry, now: datetime, detail: str = "") -> None:
        before = entry.order
        changes = {"reject_reason": detail} if detail else {}
        entry.order = before.transition(OrderStatus.CANCELED, at=now, **changes)
        self._emit(OrderUpdated(now, entry.order, before.status))

    def reject_resting(self, client_order_id: str, reason: str, at: datetime | None = None) -> None:
        """The venue refuses an order it had accepted (Alpaca then sends "rejected" on its
        trade stream): the order ends REJECTED with ``reason``, its shares free again."""
        entry = self._entries.get(client_order_id)
        if entry is None or not entry.order.status.is_open:
            raise BrokerError(f"order {client_order_id} is not open", reason="order not open")
        now = self._now(at)
        before = entry.order
        entry.order = before.transition(OrderStatus.REJECTED, at=now, reject_reason=reason)
        self._emit(OrderUpdated(now, entry.order, before.status))
        self._flush()

    def cancel_sync(self, client_order_id: str) -> None:
        """Cancel an open order. Canceling an already canceled order is a no-op (safe to
        retry); a filled, expired or rejected one raises BrokerError, as on Alpaca."""
        entry = self._entries.get(client_order_id)
        if entry is None:
            raise BrokerError(f"order {client_order_id} not found", reason="order not found")
        status = entry.order.status
        if status is OrderStatus.CANCELED:
            return
        if status.is_terminal:
            raise BrokerError(
                f"order {client_order_id} cannot be canceled: it is {status}",
                reason=f'order is already in "{status}" state',
            )
        try:
            self._cancel_entry(entry, self._now())
        finally:
            self._flush()

    def close_position_sync(
        self,
        symbol: str,
        client_order_id: str | None = None,
        cancel_orders: bool = True,
    ) -> Order:
        """A DAY market order for the whole position of ``symbol``. With ``cancel_orders``
        the symbol's open orders (the protective stop) are canceled first, or the order
        would find no quantity available. Raises BrokerError if there is no position."""
        q = self._position(symbol).qty
        if q == 0:
            raise BrokerError(f"no position in {symbol}", reason="position does not exist")
        try:
            if cancel_orders:
                now = self._now()
                for entry in self._open_entries(symbol):
                    self._cancel_entry(entry, now)
            cid = client_order_id or f"sim-close-{symbol}-{self._seq + 1}"
            return self.submit_sync(
                OrderRequest(
                    client_order_id=cid,
                    symbol=symbol,
                    side=OrderSide.SELL if q > 0 else OrderSide.BUY,
                    qty=abs(q),
                    type=OrderType.MARKET,
                    tif=TimeInForce.DAY,
                    intent=OrderIntent.FLATTEN,
                )
            )
        finally:
            self._flush()

    # ------------------------------------------------------------------ fills
    def _next_piece(self, entry: _Entry) -> int:
        remaining = entry.order.remaining_qty
        sizes = self._partial.get(entry.order.symbol)
        if sizes and entry.n_fills < len(sizes):
            return min(sizes[entry.n_fills], remaining)
        return remaining

    @staticmethod
    def _due(entry: _Entry, price: float) -> bool:
        """Does a print at ``price`` fill (or trigger) ``entry``? A market order and a
        triggered stop: always; a stop: at or through its price; a limit: when marketable."""
        req = entry.order.request
        buy = req.side is OrderSide.BUY
        if req.type is OrderType.MARKET or entry.triggered:
            return True
        if req.type is OrderType.STOP:
            assert req.stop_price is not None
            return price >= req.stop_price if buy else price <= req.stop_price
        assert req.limit_price is not None
        return price <= req.limit_price if buy else price >= req.limit_price

    def _match(self, entry: _Entry, price: float, now: datetime, at_open: bool) -> bool:
        """Fill (one piece of) ``entry`` against a print at ``price`` if it is due."""
        if not self._due(entry, price):
            return False
        req = entry.order.request
        buy = req.side is OrderSide.BUY
        slip = (self.open_slippage_bps if at_open else self.slippage_bps) / 10_000.0
        market_price = price * (1.0 + slip) if buy else price * (1.0 - slip)
        if req.type is OrderType.LIMIT:
            assert req.limit_price is not None
            fill_price = (
                min(req.limit_price, market_price) if buy else max(req.limit_price, market_price)
            )
        else:
            # A market order, or a triggered stop (then a market order: the print is at or
            # beyond the stop, so this is the worse of the stop and the print; a gap through
            # fills at the gapped price).
            entry.triggered = req.type is OrderType.STOP
            fill_price = market_price
        self._execute(entry, self._next_piece(entry), fill_price, now)
        return True

    # ------------------------------------------------------------- print watch
    def reacts_to(self, symbol: str, price: float, at: datetime) -> bool:
        """Would a regular-hours print of ``symbol`` at ``price`` fill or trigger one of its
        orders? Without side effects (see :mod:`workstation.core.print_watch`)."""
        if not self._is_regular(self._now(at)):
            return False
        return any(
            self._due(e, price)
            for e in self._open_entries(symbol)
            if e.order.request.tif is not TimeInForce.OPG
        )

    def watch(self, symbol: str) -> PrintWatch | None:
        """Where :meth:`reacts_to` can become true for ``symbol`` (None: no order can fill on
        a print): market orders and triggered stops at any print, stops at their stop price,
        limits where marketable."""
        watches = []
        for e in self._open_entries(symbol):
            req = e.order.request
            if req.tif is TimeInForce.OPG:
                continue  # only the opening auction fills it
            buy = req.side is OrderSide.BUY
            if req.type is OrderType.MARKET or e.triggered:
                return PrintWatch.always()
            if req.type is OrderType.STOP:
                assert req.stop_price is not None
                level = req.stop_price
                watches.append(PrintWatch.above(level) if buy else PrintWatch.below(level))
            else:
                assert req.limit_price is not None
                level = req.limit_price
                watches.append(PrintWatch.below(level) if buy else PrintWatch.above(level))
        merged = PrintWatch.union(watches)
        return None if merged is None else merged.widened()

    def _execute(self, entry: _Entry, qty: int, price: float, at: datetime) -> Fill:
        before = entry.order
        fill = Fill(
            fill_id=f"{before.client_order_id}-{entry.n_fills + 1}",
            client_order_id=before.client_order_id,
            symbol=before.symbol,
            side=before.request.side,
            qty=qty,
            price=price,
            at=at,
            commission=self._costs(before.request.side, qty, price),
        )
        # with_fill goes through the state machine and raises on a terminal order or an
        # oversized fill BEFORE anything below changes: no half-applied fills.
        after = before.with_fill(fill)
        entry.order = after
        entry.n_fills += 1
        self._apply_fill(fill)
        self._fills.append(fill)
        self._emit(OrderFilled(at, after, fill))
        self._emit(OrderUpdated(at, after, before.status))
        return fill

    def _costs(self, side: OrderSide, qty: int, price: float) -> float:
        """Commission, plus the regulatory fees on a sell."""
        cost = qty * self.commission_per_share
        if side is OrderSide.SELL:
            cost += qty * price * self.sec_fee_rate + min(qty * self.taf_per_share, self.taf_max)
        return cost

    def _apply_fill(self, fill: Fill) -> None:
        signed = fill.qty if fill.side is OrderSide.BUY else -fill.qty
        pos = self._positions.setdefault(fill.symbol, _Position())
        q0 = pos.qty
        if q0 == 0 or (q0 > 0) == (signed > 0):  # opens or adds: new average price
            new_q = q0 + signed
            pos.avg_price = (abs(q0) * pos.avg_price + abs(signed) * fill.price) / abs(new_q)
        else:  # reduces, closes or flips through zero (close, then open the remainder)
            closed = min(abs(q0), abs(signed))
            pos.realized += (1 if q0 > 0 else -1) * (fill.price - pos.avg_price) * closed
            new_q = q0 + signed
            if new_q == 0:
                pos.avg_price = 0.0
            elif (new_q > 0) != (q0 > 0):
                pos.avg_price = fill.price
        if (new_q == 0) != (q0 == 0):
            self._holding = None  # the symbol starts or stops holding shares
        pos.qty = new_q
        self._cash -= signed * fill.price + fill.commission
        self._commissions += fill.commission

    def fill_now(
        self, client_order_id: str, price: float, qty: int | None = None, at: datetime | None = None
    ) -> Fill:
        """Force a fill of ``qty`` (default: all that remains) at ``price``: a hook for tests
        and crash drills ("the stop filled while the app was down"). A terminal order
        raises IllegalTransition (a filled one ValueError) and nothing changes."""
        entry = self._entries.get(client_order_id)
        if entry is None:
            raise BrokerError(f"order {client_order_id} not found", reason="order not found")
        now = self._now(at)
        try:
            return self._execute(
                entry,
                entry.order.remaining_qty if qty is None else qty,
                _positive_finite(price, "fill price"),
                now,
            )
        finally:
            self._flush()

    # ------------------------------------------------------------- price feed
    def on_open(self, symbol: str, official_open: float, at: datetime | None = None) -> None:
        """The official open of ``symbol``'s session (see the module docstring)."""
        price = _positive_finite(official_open, f"official open of {symbol}")
        now = self._now(at)
        try:
            self._last[symbol] = price
            self._mark_live(symbol, now)
            for entry in self._open_entries(symbol):
                if entry.order.request.tif is TimeInForce.OPG:
                    # The opening auction: all pieces at the one opening price; whatever
                    # did not fill (a limit the open did not reach) expires now.
                    while entry.order.status.is_open and self._match(
                        entry, price, now, at_open=True
                    ):
                        pass
                    if entry.order.status.is_open:
                        self._expire(entry, now)
                else:
                    self._match(entry, price, now, at_open=True)
        finally:
            self._flush()

    def on_price(self, symbol: str, price: float, at: datetime | None = None) -> None:
        """A last trade of ``symbol`` (pre-market, regular or after hours)."""
        self._on_trade(symbol, price, self._now(at), regular=None)

    def on_close(self, symbol: str, official_close: float, at: datetime | None = None) -> None:
        """The closing print: matched as a regular-hours trade whatever the clock says."""
        self._on_trade(symbol, official_close, self._now(at), regular=True)

    def _on_trade(self, symbol: str, price: float, now: datetime, regular: bool | None) -> None:
        price = _positive_finite(price, f"price of {symbol}")
        try:
            self._last[symbol] = price
            if not (regular if regular is not None else self._is_regular(now)):
                return  # outside regular hours a print only marks the position
            self._mark_live(symbol, now)
            for entry in self._open_entries(symbol):
                if entry.order.request.tif is not TimeInForce.OPG:
                    self._match(entry, price, now, at_open=False)
        finally:
            self._flush()

    def _expire(self, entry: _Entry, now: datetime) -> None:
        before = entry.order
        entry.order = before.transition(OrderStatus.EXPIRED, at=now)
        self._emit(OrderUpdated(now, entry.order, before.status))

    def end_of_day(self, at: datetime | None = None) -> list[Order]:
        """Expire DAY orders created at or before ``at`` and OPG orders that were live at
        the session's open; GTC orders persist. Returns the expired orders."""
        now = self._now(at)
        opened = self._session_opened_at
        expired: list[Order] = []
        try:
            for entry in self._open_entries():
                order = entry.order
                tif = order.request.tif
                created = order.created_at or now
                if (tif is TimeInForce.DAY and created <= now) or (
                    tif is TimeInForce.OPG and opened is not None and created <= opened
                ):
                    self._expire(entry, now)
                    expired.append(entry.order)
            self._session_opened_at = None
            return expired
        finally:
            self._flush()

    # ------------------------------------------------------- protocol (async)
    async def account(self) -> Account:
        return self.account_sync()

    async def positions(self) -> dict[str, tuple[int, float]]:
        return self.positions_sync()

    async def open_orders(self) -> list[Order]:
        return self.open_orders_sync()

    async def asset(self, symbol: str) -> Asset:
        return self.asset_sync(symbol)

    async def submit(self, request: OrderRequest) -> Order:
        return self.submit_sync(request)

    async def order_by_client_id(self, client_order_id: str) -> Order | None:
        return self.order_by_client_id_sync(client_order_id)

    async def replace_stop(
        self,
        client_order_id: str,
        stop_price: float,
        new_client_order_id: str,
        qty: int | None = None,
    ) -> Order:
        return self.replace_stop_sync(client_order_id, stop_price, new_client_order_id, qty)

    async def cancel(self, client_order_id: str) -> None:
        self.cancel_sync(client_order_id)

    async def close_position(
        self, symbol: str, client_order_id: str | None = None, cancel_orders: bool = True
    ) -> Order:
        return self.close_position_sync(symbol, client_order_id, cancel_orders)

    # ------------------------------------------------------------ persistence
    def snapshot_state(self) -> dict[str, Any]:
        """The whole exchange as JSON-serializable data (see :meth:`from_state`)."""
        window = self.opg_reject_window
        return {
            "version": STATE_VERSION,
            "config": {
                "starting_equity": self.starting_equity,
                "slippage_bps": self.slippage_bps,
                "open_slippage_bps": self.open_slippage_bps,
                "commission_per_share": self.commission_per_share,
                "max_gross": self.max_gross,
                "opg_reject_window": (
                    None if window is None else [window[0].isoformat(), window[1].isoformat()]
                ),
                "partial_fill_sizes": {s: list(v) for s, v in self._partial.items()},
                "enforce_available_qty": self.enforce_available_qty,
                "prevent_wash_trades": self.prevent_wash_trades,
                "sec_fee_rate": self.sec_fee_rate,
                "taf_per_share": self.taf_per_share,
                "taf_max": self.taf_max if math.isfinite(self.taf_max) else None,
            },
            "cash": self._cash,
            "commissions": self._commissions,
            "seq": self._seq,
            "positions": {
                s: {"qty": p.qty, "avg_price": p.avg_price, "realized": p.realized}
                for s, p in sorted(self._positions.items())
            },
            "last_prices": dict(sorted(self._last.items())),
            "live": {s: d.isoformat() for s, d in sorted(self._live.items())},
            "session_opened_at": _iso(self._session_opened_at),
            "orders": [
                _entry_to_dict(e) for e in sorted(self._entries.values(), key=lambda e: e.seq)
            ],
            "fills": [_fill_to_dict(f) for f in self._fills],
        }

    @classmethod
    def from_state(
        cls,
        state: Mapping[str, Any],
        clock: _ClockLike,
        *,
        assets: AssetLookup | None = None,
        market_hours: MarketHours | None = None,
        bus: EventBus | None = None,
        **overrides: Any,
    ) -> SimBroker:
        """A broker restored from :meth:`snapshot_state`. Its configuration comes from the
        state unless ``overrides`` (constructor keywords) say otherwise; callables
        (``assets``, ``market_hours``) and the bus are not state and are passed again.
        Raises BrokerError naming what is wrong if the state is not a valid snapshot."""
        try:
            version = state.get("version")
            if version != STATE_VERSION:
                raise ValueError(f"version {version!r}, expected {STATE_VERSION}")
            cfg = dict(state["config"])
            window = cfg.pop("opg_reject_window")
            cfg["opg_reject_window"] = (
                None
                if window is None
                else (time.fromisoformat(window[0]), time.fromisoformat(window[1]))
            )
            if cfg.get("taf_max", 0.0) is None:
                cfg["taf_max"] = math.inf  # JSON has no infinity
            cfg.update(overrides)
            starting = cfg.pop("starting_equity")
            broker = cls(clock, starting, assets=assets, market_hours=market_hours, bus=bus, **cfg)
            broker._cash = float(state["cash"])
            broker._commissions = float(state["commissions"])
            broker._seq = int(state["seq"])
            broker._positions = {
                s: _Position(int(p["qty"]), float(p["avg_price"]), float(p["realized"]))
                for s, p in state["positions"].items()
            }
            broker._holding = None
            broker._last = {s: float(v) for s, v in state["last_prices"].items()}
            broker._live = {s: date.fromisoformat(d) for s, d in state["live"].items()}
            broker._session_opened_at = _from_iso(state["session_opened_at"])
            for raw in state["orders"]:
                broker._track(_entry_from_dict(raw))
            broker._fills = [_fill_from_dict(f) for f in state["fills"]]
        except BrokerError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BrokerError(
                f"the simulated broker state is not valid ({type(exc).__name__}: {exc}); "
                "remove the state file to start a fresh simulated account",
                reason="invalid state",
            ) from exc
        return broker

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`snapshot_state` to ``path`` atomically (temp file, fsync, rename)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.snapshot_state(), indent=1, allow_nan=False)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        clock: _ClockLike,
        *,
        assets: AssetLookup | None = None,
        market_hours: MarketHours | None = None,
        bus: EventBus | None = None,
        **overrides: Any,
    ) -> SimBroker:
        """A broker restored from a file written by :meth:`save`; BrokerError if the file
        cannot be read or is not a valid state."""
        try:
            state = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BrokerError(
                f"cannot read the simulated broker state {path}: {exc}; "
                "remove the file to start a fresh simulated account",
                reason="invalid state",
            ) from exc
        if not isinstance(state, dict):
            raise BrokerError(
                f"the simulated broker state {path} is not a JSON object; "
                "remove the file to start a fresh simulated account",
                reason="invalid state",
            )
        try:
            return cls.from_state(
                state, clock, assets=assets, market_hours=market_hours, bus=bus, **overrides
            )
        except BrokerError as exc:
            raise BrokerError(f"{path}: {exc}", reason=exc.reason) from exc


# ------------------------------------------------------------------ (de)serialization
def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def _from_iso(s: str | None) -> datetime | None:
    if s is None:
        return None
    t = datetime.fromisoformat(s)
    if t.tzinfo is None:
        raise ValueError(f"time {s!r} has no time zone")
    return t.astimezone(ET)


def _request_to_dict(r: OrderRequest) -> dict[str, Any]:
    return {
        "client_order_id": r.client_order_id,
        "symbol": r.symbol,
        "side": r.side.value,
        "qty": r.qty,
        "type": r.type.value,
        "tif": r.tif.value,
        "limit_price": r.limit_price,
        "stop_price": r.stop_price,
        "intent": r.intent.value,
        "strategy": r.strategy,
    }


def _request_from_dict(d: Mapping[str, Any], rejected: bool) -> OrderRequest:
    values: dict[str, Any] = {
        "client_order_id": str(d["client_order_id"]),
        "symbol": str(d["symbol"]),
        "side": OrderSide(d["side"]),
        "qty": int(d["qty"]),
        "type": OrderType(d["type"]),
        "tif": TimeInForce(d["tif"]),
        "limit_price": None if d["limit_price"] is None else float(d["limit_price"]),
        "stop_price": None if d["stop_price"] is None else float(d["stop_price"]),
        "intent": OrderIntent(d["intent"]),
        "strategy": str(d["strategy"]),
    }
    try:
        return OrderRequest(**values)
    except ValueError:
        if not rejected:
            raise
        # A rejected order is recorded with what was asked, even if it was not valid.
        base = OrderRequest(
            client_order_id=values["client_order_id"],
            symbol=values["symbol"],
            side=values["side"],
            qty=1,
        )
        return _unchecked_request(base, **values)


def _entry_to_dict(e: _Entry) -> dict[str, Any]:
    o = e.order
    return {
        "request": _request_to_dict(o.request),
        "status": o.status.value,
        "broker_id": o.broker_id,
        "filled_qty": o.filled_qty,
        "avg_fill_price": o.avg_fill_price,
        "reject_reason": o.reject_reason,
        "created_at": _iso(o.created_at),
        "updated_at": _iso(o.updated_at),
        "seq": e.seq,
        "triggered": e.triggered,
        "n_fills": e.n_fills,
    }


def _entry_from_dict(d: Mapping[str, Any]) -> _Entry:
    status = OrderStatus(d["status"])
    order = Order(
        request=_request_from_dict(d["request"], rejected=status is OrderStatus.REJECTED),
        status=status,
        broker_id=str(d["broker_id"]),
        filled_qty=int(d["filled_qty"]),
        avg_fill_price=None if d["avg_fill_price"] is None else float(d["avg_fill_price"]),
        reject_reason=str(d["reject_reason"]),
        created_at=_from_iso(d["created_at"]),
        updated_at=_from_iso(d["updated_at"]),
    )
    return _Entry(order, int(d["seq"]), bool(d["triggered"]), int(d["n_fills"]))


def _fill_to_dict(f: Fill) -> dict[str, Any]:
    return {
        "fill_id": f.fill_id,
        "client_order_id": f.client_order_id,
        "symbol": f.symbol,
        "side": f.side.value,
        "qty": f.qty,
        "price": f.price,
        "at": _iso(f.at),
        "commission": f.commission,
    }


def _fill_from_dict(d: Mapping[str, Any]) -> Fill:
    at = _from_iso(d["at"])
    if at is None:
        raise ValueError(f"fill {d.get('fill_id')!r} has no time")
    return Fill(
        fill_id=str(d["fill_id"]),
        client_order_id=str(d["client_order_id"]),
        symbol=str(d["symbol"]),
        side=OrderSide(d["side"]),
        qty=int(d["qty"]),
        price=float(d["price"]),
        at=at,
        commission=float(d["commission"]),
    )
