"""The fake's trading side: account, orders with a matching engine, positions, trade updates.

Matching is driven by the test through prices (``FakeAlpacaState.set_price`` and friends) and
the session clock: nothing fills while the XNYS session is closed, market-on-open orders fill
only at the open, day orders expire at the close. Validation follows Alpaca's rules that trip
real integrations (client order id uniqueness, shares held by other orders, buying power,
stop prices on the wrong side of the market, the OPG submission window, potential wash trades).

Two of those rules decide how an app must protect a position, so they are spelled out:

* **Available quantity.** An order that closes (part of) a position may ask only for the
  position minus what the other open closing orders (the resting protective stop) already
  hold: HTTP 403 "insufficient qty available for order (requested: X, available: Y)". An exit
  must cancel the stop first.
* **Potential wash trade.** Alpaca refuses a new order (or a replacement) in a symbol that has
  an open order on the OPPOSITE side the two could execute against: HTTP 403, code 40310000,
  "potential wash trade detected. use complex orders". The fake's test, the conservative
  reading of Alpaca's user-protection page: they could execute against each other when either
  is a market order (it trades at any price), else when the buy's price is at or above the
  sell's, a limit order's price being its limit and a stop's its stop price (a stop becomes a
  market order there). Complex orders (bracket/OCO/OTO) are exempt at Alpaca; the fake does
  not accept them. So a protective sell stop cannot be placed while the buy entry that built
  the position still has shares working.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import datetime, time
from typing import Any, Protocol

from tests.fake_alpaca.models import (
    AlpacaError,
    FakeAccount,
    FakeAsset,
    FakeOrder,
    FakePosition,
    forbidden,
    invalid,
    unprocessable,
)
from tests.fake_alpaca.wire import NY, error_body, num, rfc3339_utc

ORDER_TYPES = ("market", "limit", "stop", "stop_limit")
TIME_IN_FORCE = ("day", "gtc", "opg", "cls", "ioc", "fok")


class BrokerHost(Protocol):
    """What the broker needs from the rest of the fake (the state implements it)."""

    @property
    def now(self) -> datetime: ...
    def market_open(self) -> bool: ...
    def price(self, symbol: str) -> float | None: ...
    def asset(self, symbol: str) -> FakeAsset | None: ...
    def emit_trade_update(self, data: dict[str, Any]) -> None: ...
    def take_partial_plan(self, symbol: str) -> tuple[list[float] | float, bool] | None: ...
    def session_today(self) -> bool: ...
    def previous_close(self, symbol: str) -> float | None: ...


def _to_float(value: Any, name: str) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise invalid(f"invalid {name}: {value!r}") from None
    if math.isnan(f) or math.isinf(f):
        raise invalid(f"invalid {name}: {value!r}")
    return f


def _split(qty: float, plan: list[float] | float) -> list[float]:
    """Piece sizes for a fill of ``qty``: a fraction (first piece) or explicit sizes."""
    if isinstance(plan, float | int) and not isinstance(plan, bool) and 0 < plan < 1:
        first = math.floor(qty * plan) if qty >= 2 else qty * plan
        first = max(first, 1.0) if qty >= 2 else first
        return [first, qty - first] if 0 < first < qty else [qty]
    sizes = [float(s) for s in plan]  # type: ignore[union-attr]
    out: list[float] = []
    left = qty
    for s in sizes:
        if left <= 0:
            break
        take = min(s, left)
        if take > 0:
            out.append(take)
            left -= take
    if left > 1e-12:
        out.append(left)
    return out


class Broker:
    def __init__(self, host: BrokerHost) -> None:
        self.host = host
        self.account = FakeAccount()
        self.orders: dict[str, FakeOrder] = {}
        self.by_client_id: dict[str, FakeOrder] = {}
        self.positions: dict[str, FakePosition] = {}
        self._seq = 0

    # ---- account and positions ---------------------------------------------------------------
    def _mark(self, symbol: str, fallback: float) -> float:
        p = self.host.price(symbol)
        return p if p is not None else fallback

    def _market_values(self) -> tuple[float, float]:
        long_mv = short_mv = 0.0
        for p in self.positions.values():
            mv = p.qty * self._mark(p.symbol, p.avg_entry_price)
            if p.qty > 0:
                long_mv += mv
            else:
                short_mv += mv
        return long_mv, short_mv

    def equity(self) -> float:
        long_mv, short_mv = self._market_values()
        return self.account.cash + long_mv + short_mv

    def _reserved(self, exclude: str | None = None) -> float:
        """Value held back by open orders that would open or grow a position."""
        total = 0.0
        for o in self.orders.values():
            if not o.is_open or o.id == exclude:
                continue
            pos = self.positions.get(o.symbol)
            pos_qty = pos.qty if pos else 0.0
            if pos_qty * o.sign < 0:  # closing order
                continue
            ref = o.limit_price or o.stop_price or self.host.price(o.symbol) or 0.0
            total += o.remaining * ref
        return total

    def buying_power(self, exclude: str | None = None) -> float:
        if self.account.buying_power is not None:
            return self.account.buying_power
        long_mv, short_mv = self._market_values()
        equity = self.account.cash + long_mv + short_mv
        gross = long_mv - short_mv
        return max(0.0, self.account.multiplier * equity - gross - self._reserved(exclude))

    def account_json(self) -> dict[str, Any]:
        a = self.account
        long_mv, short_mv = self._market_values()
        equity = a.cash + long_mv + short_mv
        bp = self.buying_power()
        last_equity = a.last_equity if a.last_equity is not None else equity
        created = a.created_at or datetime(2023, 1, 3, 14, 0, tzinfo=NY)
        return {
            "id": a.id,
            "admin_configurations": {},
            "user_configurations": None,
            "account_number": a.account_number,
            "status": a.status,
            "crypto_status": "INACTIVE",
            "options_approved_level": 0,
            "options_trading_level": 0,
            "currency": a.currency,
            "buying_power": num(round(bp, 2)),
            "regt_buying_power": num(round(bp, 2)),
            "daytrading_buying_power": "0",
            "effective_buying_power": num(round(bp, 2)),
            "non_marginable_buying_power": num(round(max(0.0, a.cash), 2)),
            "options_buying_power": num(round(max(0.0, a.cash), 2)),
            "bod_dtbp": "0",
            "cash": num(round(a.cash, 2)),
            "accrued_fees": "0",
            "portfolio_value": num(round(equity, 2)),
            "pattern_day_trader": a.pattern_day_trader,
            "trading_blocked": a.trading_blocked,
            "transfers_blocked": a.transfers_blocked,
            "account_blocked": a.account_blocked,
            "created_at": rfc3339_utc(created),
            "trade_suspended_by_user": a.trade_suspended_by_user,
            "multiplier": str(a.multiplier),
            "shorting_enabled": a.shorting_enabled,
            "equity": num(round(equity, 2)),
            "last_equity": num(round(last_equity, 2)),
            "long_market_value": num(round(long_mv, 2)),
            "short_market_value": num(round(short_mv, 2)),
            "position_market_value": num(round(long_mv - short_mv, 2)),
            "initial_margin": num(round((long_mv - short_mv) * 0.5, 2)),
            "maintenance_margin": num(round((long_mv - short_mv) * 0.3, 2)),
            "last_maintenance_margin": "0",
            "sma": "0",
            "daytrade_count": a.daytrade_count,
            "balance_asof": created.astimezone(NY).date().isoformat(),
            "crypto_tier": 0,
            "intraday_adjustments": "0",
            "pending_reg_taf_fees": "0",
        }

    def position_json(self, p: FakePosition) -> dict[str, Any]:
        cur = self._mark(p.symbol, p.avg_entry_price)
        last = p.lastday_price if p.lastday_price is not None else p.avg_entry_price
        mv = p.qty * cur
        cost = p.qty * p.avg_entry_price
        pl = mv - cost
        asset = self.host.asset(p.symbol)
        return {
            "asset_id": p.asset_id,
            "symbol": p.symbol,
            "exchange": asset.exchange if asset else "NASDAQ",
            "asset_class": "us_equity",
            "asset_marginable": asset.marginable if asset else True,
            "qty": num(p.qty),
            "qty_available": num(
                p.qty - self._held(p.symbol, -1 if p.qty > 0 else 1) * _sgn(p.qty)
            ),
            "avg_entry_price": num(round(p.avg_entry_price, 6)),
            "side": "long" if p.qty > 0 else "short",
            "market_value": num(round(mv, 4)),
            "cost_basis": num(round(cost, 4)),
            "unrealized_pl": num(round(pl, 4)),
            "unrealized_plpc": num(round(pl / abs(cost), 6)) if cost else "0",
            "unrealized_intraday_pl": num(round((cur - last) * p.qty, 4)),
            "unrealized_intraday_plpc": num(round((cur - last) / last * _sgn(p.qty), 6))
            if last
            else "0",
            "current_price": num(cur),
            "lastday_price": num(last),
            "change_today": num(round((cur - last) / last, 6)) if last else "0",
        }

    def _held(self, symbol: str, sign: int, exclude: str | None = None) -> float:
        """Shares held by open orders of one side (sign +1 buy, -1 sell) in ``symbol``."""
        return sum(
            o.remaining
            for o in self.orders.values()
            if o.symbol == symbol and o.is_open and o.sign == sign and o.id != exclude
        )

    # ---- events ------------------------------------------------------------------------------
    def _emit(
        self, event: str, order: FakeOrder, fill: dict[str, str] | None = None, **extra: Any
    ) -> None:
        """One trade_updates ``data`` object; fills carry price, qty, position_qty as strings."""
        data: dict[str, Any] = {
            "event": event,
            "timestamp": rfc3339_utc(self.host.now),
            "order": order.json(),
        }
        if fill:
            data["execution_id"] = str(uuid.uuid4())
            data.update(fill)
        data.update(extra)
        self.host.emit_trade_update(data)

    def _touch(self, order: FakeOrder) -> None:
        order.updated_at = self.host.now

    # ---- submission --------------------------------------------------------------------------
    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _check_client_order_id(self, cid: Any) -> str:
        if cid is None or cid == "":
            return str(uuid.uuid4())
        cid = str(cid)
        if len(cid) > 128:
            raise invalid("client_order_id must be no more than 128 characters")
        if cid in self.by_client_id:
            raise invalid("client_order_id must be unique")
        return cid

    def _validate_prices(
        self, symbol: str, side: str, otype: str, limit: float | None, stop: float | None
    ) -> None:
        if otype in ("limit", "stop_limit") and limit is None:
            raise invalid("limit_price is required for limit orders")
        if otype in ("stop", "stop_limit") and stop is None:
            raise invalid("stop_price is required for stop orders")
        if otype in ("market", "stop") and limit is not None:
            raise invalid("limit_price must not be given for market and stop orders")
        if otype in ("market", "limit") and stop is not None:
            raise invalid("stop_price must not be given for market and limit orders")
        for name, p in (("limit_price", limit), ("stop_price", stop)):
            if p is not None and p <= 0:
                raise invalid(f"{name} must be > 0")
        base = self.host.price(symbol)
        if stop is not None and base:
            # Alpaca refuses stops that would trigger at once (the "base price" is the last trade).
            if side == "sell" and stop > base / 1.001:
                raise unprocessable(
                    f"stop price must not be greater than base price / 1.001 ({base / 1.001:.2f})"
                )
            if side == "buy" and stop < base * 1.001:
                raise unprocessable(
                    f"stop price must not be less than base price * 1.001 ({base * 1.001:.2f})"
                )

    def _validate_time_in_force(self, otype: str, tif: str, extended: bool, qty: float) -> None:
        if tif not in TIME_IN_FORCE:
            raise invalid(f"invalid time_in_force: {tif}")
        if tif in ("opg", "cls") and otype not in ("market", "limit"):
            raise unprocessable(f"{tif} orders must be market or limit orders")
        if extended and not (otype == "limit" and tif == "day"):
            raise unprocessable("extended hours order must be DAY limit orders")
        if not float(qty).is_integer() and tif != "day":
            raise unprocessable("fractional orders must be DAY orders")
        now_et = self.host.now.astimezone(NY)
        on_session = self.host.session_today()
        if tif == "opg" and on_session and time(9, 28) <= now_et.time() < time(19, 0):
            raise unprocessable(
                "opg orders must be submitted before 09:28 or after 19:00 ET on a trading day"
            )
        if tif == "cls" and on_session and time(15, 50) <= now_et.time() < time(19, 0):
            raise unprocessable("cls orders must be submitted before 15:50 ET")

    def _validate_no_wash_trade(
        self,
        symbol: str,
        side: str,
        otype: str,
        limit: float | None,
        stop: float | None,
        exclude: str | None,
    ) -> None:
        """Refuse an order an open opposite-side order of the symbol could execute against
        (see the module docstring for the test applied)."""
        price = _order_price(otype, limit, stop)
        for o in self.orders.values():
            if o.symbol != symbol or not o.is_open or o.side == side or o.id == exclude:
                continue
            theirs = _order_price(o.type, o.limit_price, o.stop_price)
            if price is None or theirs is None:
                crosses = True  # a market order trades at any price
            else:
                buy, sell = (price, theirs) if side == "buy" else (theirs, price)
                crosses = buy >= sell
            if crosses:
                raise forbidden("potential wash trade detected. use complex orders")

    def _validate_quantity(
        self, symbol: str, side: str, qty: float, ref_price: float | None, exclude: str | None
    ) -> None:
        asset = self.host.asset(symbol)
        sign = 1 if side == "buy" else -1
        pos = self.positions.get(symbol)
        pos_qty = pos.qty if pos else 0.0
        if pos_qty * sign < 0:
            # Closing (part of) a position: shares held by other open closing orders (the
            # resting protective stop) are not available, exactly Alpaca's behaviour.
            held = self._held(symbol, sign, exclude)
            available = abs(pos_qty) - held
            if qty > available + 1e-9:
                raise forbidden(
                    f"insufficient qty available for order (requested: {num(qty)}, "
                    f"available: {num(max(available, 0.0))})",
                    symbol=symbol,
                    requested=num(qty),
                    available=num(max(available, 0.0)),
                    existing_qty=num(abs(pos_qty)),
                    held_for_orders=num(held),
                )
            return
        if side == "sell":
            if not self.account.shorting_enabled:
                raise forbidden("account is not allowed to short")
            if asset is not None and not asset.shortable:
                raise forbidden(f"asset {symbol} cannot be sold short")
            if asset is not None and not asset.easy_to_borrow:
                raise forbidden(f"asset {symbol} is not easy to borrow and cannot be sold short")
            if not float(qty).is_integer():
                raise forbidden("fractional orders cannot be sold short")
        if ref_price:
            cost = qty * ref_price
            bp = self.buying_power(exclude)
            if cost > bp + 1e-9:
                raise forbidden(
                    "insufficient buying power",
                    buying_power=num(round(bp, 2)),
                    cost_basis=num(round(cost, 2)),
                )

    def submit(self, body: dict[str, Any]) -> FakeOrder:
        """POST /v2/orders. Raises AlpacaError with Alpaca's status and body."""
        a = self.account
        if a.trading_blocked or a.account_blocked or a.trade_suspended_by_user:
            raise forbidden("trading is blocked for this account")
        if body.get("order_class") not in (None, "", "simple"):
            raise unprocessable(
                f"order_class {body.get('order_class')!r} is not supported by the fake Alpaca"
            )
        symbol = str(body.get("symbol") or "").upper()
        if not symbol:
            raise invalid("symbol is required")
        side = body.get("side")
        if side not in ("buy", "sell"):
            raise invalid(f"invalid side: {side!r}")
        otype = body.get("type") or body.get("order_type")
        if otype == "trailing_stop":
            raise unprocessable("trailing_stop orders are not supported by the fake Alpaca")
        if otype not in ORDER_TYPES:
            raise invalid(f"invalid order type: {otype!r}")
        if body.get("notional") is not None:
            raise unprocessable("notional orders are not supported by the fake Alpaca")
        if body.get("qty") is None:
            raise invalid("qty is required")
        qty = _to_float(body["qty"], "qty")
        if qty <= 0:
            raise invalid("qty must be > 0")
        tif = str(body.get("time_in_force") or "")
        limit = _to_float(body["limit_price"], "limit_price") if body.get("limit_price") else None
        stop = _to_float(body["stop_price"], "stop_price") if body.get("stop_price") else None
        extended = bool(body.get("extended_hours") or False)
        cid = self._check_client_order_id(body.get("client_order_id"))

        asset = self.host.asset(symbol)
        if asset is None:
            raise unprocessable(f'asset "{symbol}" not found')
        if not asset.tradable or asset.status != "active":
            raise unprocessable(f"asset {symbol} is not tradable")
        if not float(qty).is_integer() and not asset.fractionable:
            raise unprocessable(f"asset {symbol} is not fractionable")
        self._validate_time_in_force(otype, tif, extended, qty)
        self._validate_prices(symbol, side, otype, limit, stop)
        self._validate_no_wash_trade(symbol, side, otype, limit, stop, None)
        ref = limit or stop or self.host.price(symbol)
        self._validate_quantity(symbol, side, qty, ref, None)

        now = self.host.now
        pos = self.positions.get(symbol)
        closing = pos is not None and pos.qty * (1 if side == "buy" else -1) < 0
        intent = f"{side}_to_{'close' if closing else 'open'}"
        order = FakeOrder(
            id=str(uuid.uuid4()),
            client_order_id=cid,
            symbol=symbol,
            asset_id=asset.id,
            side=side,
            type=otype,
            time_in_force=tif,
            qty=qty,
            limit_price=limit,
            stop_price=stop,
            extended_hours=extended,
            created_at=now,
            updated_at=now,
            submitted_at=now,
            status="accepted",
            seq=self._next_seq(),
            position_intent=body.get("position_intent") or intent,
        )
        self.orders[order.id] = order
        self.by_client_id[cid] = order
        return order

    def activate(self, order: FakeOrder) -> None:
        """After the HTTP answer is decided: route the order if the market is open."""
        if self.host.market_open():
            order.status = "new"
            self._touch(order)
            self._emit("new", order)
            if order.time_in_force not in ("opg", "cls"):
                self._match(order)
        else:
            # Outside the session Alpaca holds the order as "accepted" until the next open.
            self._emit("accepted", order)

    def reject_async(self, order: FakeOrder, reason: str) -> None:
        now = self.host.now
        order.status = "rejected"
        order.failed_at = now
        order.updated_at = now
        self._emit("rejected", order, reason=reason)

    # ---- replace / cancel --------------------------------------------------------------------
    def get(self, order_id: str) -> FakeOrder:
        order = self.orders.get(order_id)
        if order is None:
            raise AlpacaError(404, error_body(40410000, f"order not found for {order_id}"))
        return order

    def replace(self, order_id: str, body: dict[str, Any]) -> FakeOrder:
        old = self.get(order_id)
        if not old.is_open:
            raise unprocessable(f"order is {old.status} and cannot be replaced")
        fields = {k: v for k, v in body.items() if v is not None}
        if not fields:
            raise invalid("no fields to replace")
        qty = _to_float(fields["qty"], "qty") if "qty" in fields else old.qty
        if qty <= 0:
            raise invalid("qty must be > 0")
        tif = str(fields.get("time_in_force", old.time_in_force))
        limit = _to_float(fields["limit_price"], "limit_price") if "limit_price" in fields else None
        limit = limit if limit is not None else old.limit_price
        stop = _to_float(fields["stop_price"], "stop_price") if "stop_price" in fields else None
        stop = stop if stop is not None else old.stop_price
        cid = self._check_client_order_id(fields.get("client_order_id"))
        self._validate_time_in_force(old.type, tif, old.extended_hours, qty)
        self._validate_prices(old.symbol, old.side, old.type, limit, stop)
        self._validate_no_wash_trade(old.symbol, old.side, old.type, limit, stop, old.id)
        ref = limit or stop or self.host.price(old.symbol)
        self._validate_quantity(old.symbol, old.side, qty, ref, old.id)

        now = self.host.now
        new = FakeOrder(
            id=str(uuid.uuid4()),
            client_order_id=cid,
            symbol=old.symbol,
            asset_id=old.asset_id,
            side=old.side,
            type=old.type,
            time_in_force=tif,
            qty=qty,
            limit_price=limit,
            stop_price=stop,
            extended_hours=old.extended_hours,
            created_at=now,
            updated_at=now,
            submitted_at=now,
            status="new" if old.status != "accepted" else "accepted",
            seq=self._next_seq(),
            position_intent=old.position_intent,
            replaces=old.id,
            filled_qty=0.0,
        )
        old.status = "replaced"
        old.replaced_at = now
        old.replaced_by = new.id
        old.updated_at = now
        self.orders[new.id] = new
        self.by_client_id[cid] = new
        self._emit("replaced", old)
        self._emit(new.status, new)
        if new.status == "new":
            self._match(new)
        return new

    def cancel(self, order_id: str) -> FakeOrder:
        order = self.get(order_id)
        if not order.is_open:
            raise unprocessable(f"order is {order.status} and cannot be canceled")
        self._cancel(order)
        return order

    def _cancel(self, order: FakeOrder) -> None:
        now = self.host.now
        order.status = "canceled"
        order.canceled_at = now
        order.updated_at = now
        order.pieces = []
        self._emit("canceled", order)

    def cancel_all(self) -> list[dict[str, Any]]:
        out = []
        for order in [o for o in self.orders.values() if o.is_open]:
            self._cancel(order)
            out.append({"id": order.id, "status": 200, "body": order.json()})
        return out

    def close_position(
        self, symbol: str, qty: float | None = None, percentage: float | None = None
    ) -> FakeOrder:
        """A market order for (part of) the position; the caller activates it."""
        pos = self.positions.get(symbol)
        if pos is None:
            raise AlpacaError(404, error_body(40410000, "position not found"))
        size = abs(pos.qty)
        if qty is not None:
            size = min(size, qty)
        elif percentage is not None:
            size = math.floor(size * percentage / 100.0 * 1e9) / 1e9
        body = {
            "symbol": symbol,
            "qty": size,
            "side": "sell" if pos.qty > 0 else "buy",
            "type": "market",
            "time_in_force": "day",
        }
        return self.submit(body)

    def close_all(self, cancel_orders: bool) -> list[dict[str, Any]]:
        if cancel_orders:
            self.cancel_all()
        out = []
        for symbol in sorted(self.positions):
            try:
                order = self.close_position(symbol)
                out.append({"symbol": symbol, "status": 200, "body": order.json()})
                self.activate(order)
            except AlpacaError as exc:
                out.append({"symbol": symbol, "status": exc.status, "body": exc.body})
        return out

    # ---- matching ----------------------------------------------------------------------------
    def _fill_price(self, order: FakeOrder, price: float) -> float | None:
        """The price ``order`` fills at when the market trades at ``price``, or None."""
        buy = order.side == "buy"
        if order.type in ("stop", "stop_limit") and not order.triggered:
            assert order.stop_price is not None
            if (buy and price >= order.stop_price) or (not buy and price <= order.stop_price):
                order.triggered = True
            else:
                return None
        if order.type in ("market", "stop"):
            # A triggered stop is a market order: it fills at the trade price, which is at or
            # through the stop, i.e. the worse of the two (a gap fills at the gapped price).
            return price
        assert order.limit_price is not None
        if (buy and price <= order.limit_price) or (not buy and price >= order.limit_price):
            return price
        return None

    def _match(self, order: FakeOrder, *, all_pieces: bool = False) -> None:
        if not order.is_open or order.status == "accepted":
            return
        price = self.host.price(order.symbol)
        if price is not None:
            fill_at = self._fill_price(order, price)
            if fill_at is not None:
                self._execute(order, fill_at, all_pieces=all_pieces)
        if order.time_in_force in ("ioc", "fok") and order.is_open:
            self._cancel(order)

    def _execute(self, order: FakeOrder, price: float, *, all_pieces: bool) -> None:
        if not order.pieces:
            # A fresh fill: consult the partial-fill switch (FOK is all or nothing).
            plan = (
                None if order.time_in_force == "fok" else self.host.take_partial_plan(order.symbol)
            )
            if plan is None:
                order.pieces = [order.remaining]
            else:
                sizes, stepwise = plan
                order.pieces = _split(order.remaining, sizes)
                all_pieces = all_pieces or not stepwise
        while order.pieces:
            piece = min(order.pieces.pop(0), order.remaining)
            if piece > 0:
                self._fill(order, piece, price)
            if not all_pieces:
                break

    def _fill(self, order: FakeOrder, qty: float, price: float) -> None:
        now = self.host.now
        prev = order.filled_qty
        order.filled_qty = prev + qty
        order.filled_avg_price = ((order.filled_avg_price or 0.0) * prev + price * qty) / (
            order.filled_qty
        )
        done = order.remaining <= 1e-9
        order.status = "filled" if done else "partially_filled"
        order.updated_at = now
        if done:
            order.filled_at = now
            order.pieces = []
        signed = qty * order.sign
        self.account.cash -= signed * price
        pos = self.positions.get(order.symbol)
        if pos is None:
            prev_close = self.host.previous_close(order.symbol)
            pos = FakePosition(order.symbol, order.asset_id, 0.0, price, prev_close)
            self.positions[order.symbol] = pos
        new_qty = pos.qty + signed
        if pos.qty == 0 or ((pos.qty > 0) != (new_qty > 0) and new_qty != 0):
            pos.avg_entry_price = price  # opened, or flipped through zero
        elif abs(new_qty) > abs(pos.qty):
            pos.avg_entry_price = (pos.avg_entry_price * abs(pos.qty) + price * qty) / abs(new_qty)
        pos.qty = new_qty
        if abs(pos.qty) < 1e-9:
            del self.positions[order.symbol]
            position_qty = 0.0
        else:
            position_qty = pos.qty
        fill = {"price": num(price), "qty": num(qty), "position_qty": num(position_qty)}
        self._emit("fill" if done else "partial_fill", order, fill)

    def on_price(self, symbol: str) -> None:
        """A new last trade in ``symbol`` during the session: match its open orders."""
        for order in sorted(self.orders.values(), key=lambda o: o.seq):
            if order.symbol == symbol and order.is_open and order.time_in_force not in ("opg",):
                if order.time_in_force == "cls":
                    continue
                self._match(order)

    def on_open(self) -> None:
        """The session opened: route held orders, fill OPG at the open, match the rest."""
        ordered = sorted(self.orders.values(), key=lambda o: o.seq)
        for order in ordered:
            if order.status == "accepted":
                order.status = "new"
                self._touch(order)
                self._emit("new", order)
        for order in ordered:
            if order.is_open and order.time_in_force == "opg":
                self._match(order, all_pieces=True)
                if order.is_open:
                    self._expire(order)
        for order in ordered:
            if order.is_open and order.time_in_force not in ("opg", "cls"):
                self._match(order)

    def on_close(self) -> None:
        """The session closed: fill CLS orders, expire DAY/OPG/CLS leftovers, roll last prices."""
        ordered = sorted(self.orders.values(), key=lambda o: o.seq)
        for order in ordered:
            if order.is_open and order.time_in_force == "cls":
                self._match(order, all_pieces=True)
        for order in ordered:
            if order.is_open and order.time_in_force in ("day", "opg", "cls", "ioc", "fok"):
                self._expire(order)
        for pos in self.positions.values():
            pos.lastday_price = self._mark(pos.symbol, pos.avg_entry_price)
        self.account.last_equity = self.equity()

    def _expire(self, order: FakeOrder) -> None:
        now = self.host.now
        order.status = "expired"
        order.expired_at = now
        order.updated_at = now
        order.pieces = []
        self._emit("expired", order)

    # ---- queries -----------------------------------------------------------------------------
    def list_orders(
        self,
        status: str = "open",
        limit: int = 50,
        symbols: set[str] | None = None,
        side: str | None = None,
        after: datetime | None = None,
        until: datetime | None = None,
        ascending: bool = False,
    ) -> list[FakeOrder]:
        pick: Callable[[FakeOrder], bool]
        if status == "open":
            pick = lambda o: o.is_open  # noqa: E731
        elif status == "closed":
            pick = lambda o: not o.is_open  # noqa: E731
        else:
            pick = lambda o: True  # noqa: E731
        out = [
            o
            for o in self.orders.values()
            if pick(o)
            and (symbols is None or o.symbol in symbols)
            and (side is None or o.side == side)
            and (after is None or (o.submitted_at or o.created_at) > after)
            and (until is None or (o.submitted_at or o.created_at) < until)
        ]
        out.sort(key=lambda o: ((o.submitted_at or o.created_at), o.seq), reverse=not ascending)
        return out[:limit]


def _order_price(otype: str, limit: float | None, stop: float | None) -> float | None:
    """The price at which an order may execute, for the wash-trade test: None for a market
    order (any price), the limit of a limit (or stop-limit) order, the stop price of a stop."""
    if otype in ("limit", "stop_limit") and limit is not None:
        return limit
    if otype == "stop":
        return stop
    return None


def _sgn(x: float) -> int:
    return 1 if x > 0 else -1 if x < 0 else 0
