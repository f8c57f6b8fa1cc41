"""Alpaca's JSON <-> the domain model: order statuses, orders, fills, quotes, timestamps.

Order statuses (``order.status`` in REST answers and trade updates) map onto our state
machine as follows; ``filled_qty`` decides between "accepted" and "partially filled" for the
working states:

=======================================================  ======================================
Alpaca status                                            our OrderStatus
=======================================================  ======================================
new, accepted, pending_new, accepted_for_bidding, held,  ACCEPTED (PARTIALLY_FILLED if some
pending_cancel, pending_replace, done_for_day,           shares have filled): the order is
calculated, stopped, suspended, pending_review           alive at the broker
partially_filled                                         PARTIALLY_FILLED
filled                                                   FILLED
canceled                                                 CANCELED
replaced                                                 CANCELED, reason "replaced by <id>"
                                                         (as the simulated broker records it)
expired                                                  EXPIRED
rejected                                                 REJECTED
anything else                                            unknown: logged once and ignored
=======================================================  ======================================

Trade-update *events* (fill, partial_fill, new, canceled, replaced, order_cancel_rejected,
...) are handled by the broker; a status it cannot map never raises.
"""

from __future__ import annotations

import logging
import math
import re
from datetime import UTC, datetime
from typing import Any

from workstation.core.calendar import ET
from workstation.core.models import (
    Asset,
    Order,
    OrderIntent,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Quote,
    TimeInForce,
    TradeTick,
)

log = logging.getLogger(__name__)

_WORKING = frozenset(
    {
        "new",
        "accepted",
        "pending_new",
        "accepted_for_bidding",
        "held",
        "pending_cancel",
        "pending_replace",
        "done_for_day",
        "calculated",
        "stopped",
        "suspended",
        "pending_review",
    }
)
_FINAL = {
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "replaced": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}
_warned_statuses: set[str] = set()


def map_status(status: str | None, filled_qty: float = 0.0) -> OrderStatus | None:
    """Our status for an Alpaca order status, or None (logged once) when it is unknown."""
    s = (status or "").lower()
    if s in _WORKING:
        return OrderStatus.PARTIALLY_FILLED if filled_qty > 0 else OrderStatus.ACCEPTED
    found = _FINAL.get(s)
    if found is None and s not in _warned_statuses:
        _warned_statuses.add(s)
        log.warning("unknown Alpaca order status %r: ignored", status)
    return found


# ---------------------------------------------------------------------------- scalars

_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(value: Any) -> datetime | None:
    """An Alpaca timestamp (RFC 3339, 'Z' or offset, up to nanoseconds) as an aware ET time."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        text = str(value).strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        text = _FRACTION.sub(r"\1", text)  # Python keeps microseconds; Alpaca may send nanos
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            log.warning("unreadable Alpaca timestamp %r", value)
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(ET)


def num(value: Any, default: float = 0.0) -> float:
    """Alpaca sends numbers as JSON strings or numbers; None and junk give ``default``."""
    if value is None or value == "":
        return default
    try:
        f = float(value)
    except (TypeError, ValueError):
        return default
    return f if math.isfinite(f) else default


def opt_num(value: Any) -> float | None:
    if value is None or value == "":
        return None
    f = num(value, math.nan)
    return None if math.isnan(f) else f


def shares(value: Any) -> int:
    """A share quantity as an int (the app trades whole shares)."""
    return round(num(value))


def round_price(price: float) -> float:
    """Alpaca refuses sub-penny prices: 2 decimals from $1, 4 below."""
    return round(float(price), 2 if price >= 1.0 else 4)


# ---------------------------------------------------------------------------- orders

_INTENT_CODES = {str(i)[:2]: i for i in OrderIntent}
# The readable part of workstation.core.models.client_order_id: aw-YYYYMMDD-SYM-{in}{seq}-hash
_OUR_ID = re.compile(r"^aw-\d{8}-.+-([a-z]{2})\d+-[0-9a-f]{12}$")


def intent_from_client_id(client_order_id: str, position_intent: str | None) -> OrderIntent:
    m = _OUR_ID.match(client_order_id or "")
    if m and m.group(1) in _INTENT_CODES:
        return _INTENT_CODES[m.group(1)]
    if (position_intent or "").endswith("_to_close"):
        return OrderIntent.EXIT
    return OrderIntent.ENTRY


def _order_type(raw: dict[str, Any]) -> OrderType:
    kind = str(raw.get("type") or raw.get("order_type") or "market").lower()
    if kind == "market":
        return OrderType.MARKET
    if kind == "limit":
        return OrderType.LIMIT
    if kind in ("stop", "stop_limit", "trailing_stop") and opt_num(raw.get("stop_price")):
        return OrderType.STOP  # a stop_limit/trailing stop is, for our purposes, a stop
    return OrderType.LIMIT if opt_num(raw.get("limit_price")) else OrderType.MARKET


def _tif(raw: dict[str, Any]) -> TimeInForce:
    tif = str(raw.get("time_in_force") or "day").lower()
    try:
        return TimeInForce(tif)
    except ValueError:
        return TimeInForce.DAY  # cls/ioc/fok: all end within the day


def request_from_json(raw: dict[str, Any]) -> OrderRequest:
    """The request an Alpaca order stands for (for orders this process did not place).

    Raises ValueError for an order the app cannot represent (fractional, notional-only).
    """
    qty = num(raw.get("qty"))
    if qty <= 0 or not float(qty).is_integer():
        raise ValueError(f"order {raw.get('id')} has quantity {raw.get('qty')!r}: not whole shares")
    cid = str(raw.get("client_order_id") or raw.get("id") or "")
    return OrderRequest(
        client_order_id=cid,
        symbol=str(raw.get("symbol") or ""),
        side=OrderSide(str(raw.get("side") or "buy").lower()),
        qty=int(qty),
        type=_order_type(raw),
        tif=_tif(raw),
        limit_price=opt_num(raw.get("limit_price")),
        stop_price=opt_num(raw.get("stop_price")),
        intent=intent_from_client_id(cid, raw.get("position_intent")),
        strategy="",
    )


def order_baseline(request: OrderRequest, raw: dict[str, Any]) -> Order:
    """A fresh NEW order for ``raw``: the starting point its broker state is applied to."""
    return Order(
        request=request,
        status=OrderStatus.NEW,
        broker_id=str(raw.get("id") or ""),
        created_at=parse_time(raw.get("created_at") or raw.get("submitted_at")),
        updated_at=parse_time(raw.get("created_at") or raw.get("submitted_at")),
    )


# ---------------------------------------------------------------------------- other models


def asset_from_json(raw: dict[str, Any]) -> Asset:
    return Asset(
        symbol=str(raw.get("symbol") or ""),
        tradable=bool(raw.get("tradable", False)) and raw.get("status", "active") == "active",
        shortable=bool(raw.get("shortable", False)),
        easy_to_borrow=bool(raw.get("easy_to_borrow", False)),
    )


def trade_from_json(symbol: str, raw: dict[str, Any] | None) -> TradeTick | None:
    if not raw:
        return None
    at = parse_time(raw.get("t"))
    price = opt_num(raw.get("p"))
    if at is None or price is None:
        return None
    return TradeTick(symbol, at, price, num(raw.get("s")))


def quote_from_json(symbol: str, raw: dict[str, Any] | None) -> Quote | None:
    if not raw:
        return None
    at = parse_time(raw.get("t"))
    if at is None:
        return None
    return Quote(
        symbol,
        at,
        num(raw.get("bp")),
        num(raw.get("ap")),
        num(raw.get("bs")),
        num(raw.get("as")),
    )
