"""The fake's trading records: assets, the account, orders and positions, as Alpaca's JSON."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.fake_alpaca.wire import error_body, num, rfc3339_utc

OPEN_STATUSES = frozenset(
    {
        "new",
        "accepted",
        "pending_new",
        "partially_filled",
        "held",
        "accepted_for_bidding",
        "pending_cancel",
        "pending_replace",
        "done_for_day",
        "calculated",
        "stopped",
        "suspended",
        "pending_review",
    }
)


class AlpacaError(Exception):
    """An Alpaca error answer: HTTP status plus Alpaca's JSON body ({"code", "message"})."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body


def invalid(message: str) -> AlpacaError:
    return AlpacaError(422, error_body(40010001, message))


def unprocessable(message: str) -> AlpacaError:
    return AlpacaError(422, error_body(42210000, message))


def forbidden(message: str, **extra: Any) -> AlpacaError:
    return AlpacaError(403, error_body(40310000, message, **extra))


@dataclass
class FakeAsset:
    symbol: str
    id: str
    name: str = ""
    exchange: str = "NASDAQ"
    status: str = "active"
    tradable: bool = True
    marginable: bool = True
    shortable: bool = True
    easy_to_borrow: bool = True
    fractionable: bool = True
    attributes: list[str] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "class": "us_equity",
            "exchange": self.exchange,
            "symbol": self.symbol,
            "name": self.name or f"{self.symbol} Inc. Common Stock",
            "status": self.status,
            "tradable": self.tradable,
            "marginable": self.marginable,
            "maintenance_margin_requirement": 30,
            "margin_requirement_long": "30",
            "margin_requirement_short": "100",
            "shortable": self.shortable,
            "easy_to_borrow": self.easy_to_borrow,
            "fractionable": self.fractionable,
            "attributes": list(self.attributes),
        }


@dataclass
class FakeAccount:
    """Account settings a test may change directly; money figures are derived on every read.

    ``buying_power`` left at None means: computed as ``multiplier * equity - gross position
    value - value reserved by open opening orders`` (with multiplier 1 that is free cash).
    """

    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    account_number: str = "PA3FAKE00001"
    status: str = "ACTIVE"
    currency: str = "USD"
    cash: float = 100_000.0
    multiplier: int = 1
    buying_power: float | None = None
    last_equity: float | None = None
    pattern_day_trader: bool = False
    daytrade_count: int = 0
    trading_blocked: bool = False
    transfers_blocked: bool = False
    account_blocked: bool = False
    trade_suspended_by_user: bool = False
    shorting_enabled: bool = True
    created_at: datetime | None = None


@dataclass
class FakeOrder:
    id: str
    client_order_id: str
    symbol: str
    asset_id: str
    side: str
    type: str
    time_in_force: str
    qty: float
    limit_price: float | None
    stop_price: float | None
    extended_hours: bool
    created_at: datetime
    status: str
    seq: int
    position_intent: str | None = None
    updated_at: datetime | None = None
    submitted_at: datetime | None = None
    filled_qty: float = 0.0
    filled_avg_price: float | None = None
    filled_at: datetime | None = None
    expired_at: datetime | None = None
    canceled_at: datetime | None = None
    failed_at: datetime | None = None
    replaced_at: datetime | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    triggered: bool = False
    pieces: list[float] = field(default_factory=list)  # stepwise partial fills still to come

    @property
    def remaining(self) -> float:
        return max(0.0, self.qty - self.filled_qty)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def sign(self) -> int:
        return 1 if self.side == "buy" else -1

    def json(self) -> dict[str, Any]:
        def ts(d: datetime | None) -> str | None:
            return rfc3339_utc(d) if d is not None else None

        def price(p: float | None) -> str | None:
            return num(p) if p is not None else None

        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": ts(self.created_at),
            "updated_at": ts(self.updated_at or self.created_at),
            "submitted_at": ts(self.submitted_at or self.created_at),
            "filled_at": ts(self.filled_at),
            "expired_at": ts(self.expired_at),
            "canceled_at": ts(self.canceled_at),
            "failed_at": ts(self.failed_at),
            "replaced_at": ts(self.replaced_at),
            "replaced_by": self.replaced_by,
            "replaces": self.replaces,
            "asset_id": self.asset_id,
            "symbol": self.symbol,
            "asset_class": "us_equity",
            "notional": None,
            "qty": num(self.qty),
            "filled_qty": num(self.filled_qty),
            "filled_avg_price": price(self.filled_avg_price),
            "order_class": "",
            "order_type": self.type,
            "type": self.type,
            "side": self.side,
            "position_intent": self.position_intent,
            "time_in_force": self.time_in_force,
            "limit_price": price(self.limit_price),
            "stop_price": price(self.stop_price),
            "status": self.status,
            "extended_hours": self.extended_hours,
            "legs": None,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
            "subtag": None,
            "source": None,
            "expires_at": None,
        }


@dataclass
class FakePosition:
    symbol: str
    asset_id: str
    qty: float  # signed: negative is short
    avg_entry_price: float
    lastday_price: float | None = None
