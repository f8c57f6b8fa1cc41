"""The domain model: small immutable types and the order state machine.

Everything here is plain data. Engines create new instances instead of mutating
(``dataclasses.replace``); the order's status moves only through legal transitions.
"""

from __future__ import annotations

import copyreg
import hashlib
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any


def read_only(d: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    """A read-only view of ``d`` (how a pickled mappingproxy is rebuilt)."""
    return MappingProxyType(d)


def _reduce_mapping_proxy(m: MappingProxyType[Any, Any]) -> tuple[Any, tuple[Any, ...]]:
    return read_only, (dict(m),)


# The domain's read-only mappings (a universe's sectors, a candidate's indicators, the
# configuration's strategies) must cross process boundaries: the backtester scans in worker
# processes and the optimizer runs trials on Dask workers. The standard library cannot pickle
# a mappingproxy; it round-trips as a proxy over a copy of its dict.
copyreg.pickle(MappingProxyType, _reduce_mapping_proxy)


class Side(StrEnum):
    """Direction of a position or a strategy."""

    LONG = "long"
    SHORT = "short"

    @property
    def sign(self) -> int:
        return 1 if self is Side.LONG else -1


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @staticmethod
    def to_open(side: Side) -> OrderSide:
        return OrderSide.BUY if side is Side.LONG else OrderSide.SELL

    @staticmethod
    def to_close(side: Side) -> OrderSide:
        return OrderSide.SELL if side is Side.LONG else OrderSide.BUY


class Group(StrEnum):
    """Entry group: A enters market-on-open, B after the 09:50 confirmation."""

    A = "A"
    B = "B"


class Regime(StrEnum):
    TREND = "TREND"
    RANGING = "RANGING"
    HIGH_VOL = "HIGH_VOL"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"


class TimeInForce(StrEnum):
    DAY = "day"
    GTC = "gtc"
    OPG = "opg"


class OrderIntent(StrEnum):
    """Why an order exists; part of its deterministic client order id."""

    ENTRY = "entry"
    STOP = "stop"  # the broker-side protective stop
    EXIT = "exit"
    FLATTEN = "flatten"


class ExitReason(StrEnum):
    STOP_LOSS = "STOP_LOSS"
    TAKE_PROFIT = "TAKE_PROFIT"
    TIME_EXIT = "TIME_EXIT"
    EMERGENCY = "EMERGENCY"
    MANUAL = "MANUAL"
    KILL_SWITCH = "KILL_SWITCH"


class ApprovalState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    VETOED = "vetoed"
    SKIPPED = "skipped"  # still pending at entry time under on_pending=skip: "not approved"


# --------------------------------------------------------------------- orders
class OrderStatus(StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_open(self) -> bool:
        return not self.is_terminal


_TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)

#: The legal moves of an order. A partially filled order may receive further
#: partial fills (PARTIALLY_FILLED -> PARTIALLY_FILLED); terminal states have no way out.
LEGAL_TRANSITIONS: MappingProxyType[OrderStatus, frozenset[OrderStatus]] = MappingProxyType(
    {
        OrderStatus.NEW: frozenset(
            {
                OrderStatus.ACCEPTED,
                OrderStatus.PARTIALLY_FILLED,
                OrderStatus.FILLED,
                OrderStatus.CANCELED,
                OrderStatus.REJECTED,
                OrderStatus.EXPIRED,
            }
        ),
        OrderStatus.ACCEPTED: frozenset(
            {
                OrderStatus.PARTIALLY_FILLED,
                OrderStatus.FILLED,
                OrderStatus.CANCELED,
                OrderStatus.EXPIRED,
                OrderStatus.REJECTED,
            }
        ),
        OrderStatus.PARTIALLY_FILLED: frozenset(
            {
                OrderStatus.PARTIALLY_FILLED,
                OrderStatus.FILLED,
                OrderStatus.CANCELED,
                OrderStatus.EXPIRED,
            }
        ),
        OrderStatus.FILLED: frozenset(),
        OrderStatus.CANCELED: frozenset(),
        OrderStatus.REJECTED: frozenset(),
        OrderStatus.EXPIRED: frozenset(),
    }
)


class IllegalTransition(ValueError):
    """An order was asked to move to a status it cannot reach from its current one."""


def client_order_id(
    session: date, symbol: str, strategy: str, intent: OrderIntent | str, seq: int = 0
) -> str:
    """The deterministic client order id of (session, symbol, strategy, intent).

    The same inputs always give the same id, so a restart or a retry re-sends the
    same id and the broker refuses a duplicate instead of placing a second order.
    ``seq`` distinguishes legitimate successors (a replaced protective stop).
    Alpaca allows up to 128 characters; the readable prefix helps a human.
    """
    key = f"{session.isoformat()}|{symbol}|{strategy}|{intent}|{seq}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"aw-{session:%Y%m%d}-{symbol}-{str(intent)[:2]}{seq}-{digest}"


@dataclass(frozen=True)
class OrderRequest:
    """What the engine asks a broker to do."""

    client_order_id: str
    symbol: str
    side: OrderSide
    qty: int
    type: OrderType = OrderType.MARKET
    tif: TimeInForce = TimeInForce.DAY
    limit_price: float | None = None
    stop_price: float | None = None
    intent: OrderIntent = OrderIntent.ENTRY
    strategy: str = ""

    def __post_init__(self) -> None:
        if self.qty <= 0:
            raise ValueError(f"order quantity must be positive, got {self.qty}")
        if self.type is OrderType.LIMIT and self.limit_price is None:
            raise ValueError("a limit order needs a limit price")
        if self.type is OrderType.STOP and self.stop_price is None:
            raise ValueError("a stop order needs a stop price")


@dataclass(frozen=True)
class Order:
    """An order as the broker knows it, with its status and fills so far."""

    request: OrderRequest
    status: OrderStatus = OrderStatus.NEW
    broker_id: str = ""
    filled_qty: int = 0
    avg_fill_price: float | None = None
    reject_reason: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    #: The broker's own word for the state ("new", "accepted", "replaced", ...; "" when the
    #: broker's states are ours, as the simulated exchange's are): ``status`` is the engine's
    #: state machine, which folds several of the broker's words into one.
    broker_status: str = ""

    @property
    def client_order_id(self) -> str:
        return self.request.client_order_id

    @property
    def symbol(self) -> str:
        return self.request.symbol

    @property
    def remaining_qty(self) -> int:
        return self.request.qty - self.filled_qty

    def transition(self, to: OrderStatus, at: datetime | None = None, **changes: Any) -> Order:
        """This order moved to ``to``; raises :class:`IllegalTransition` if it cannot."""
        if to not in LEGAL_TRANSITIONS[self.status]:
            raise IllegalTransition(
                f"order {self.client_order_id} ({self.symbol}) cannot go from {self.status} to {to}"
            )
        return replace(self, status=to, updated_at=at or self.updated_at, **changes)

    def with_fill(self, fill: Fill) -> Order:
        """This order after ``fill``: quantity, average price and status updated."""
        if fill.qty <= 0 or fill.qty > self.remaining_qty:
            raise ValueError(
                f"fill of {fill.qty} does not fit order {self.client_order_id} "
                f"with {self.remaining_qty} remaining"
            )
        filled = self.filled_qty + fill.qty
        prev_value = (self.avg_fill_price or 0.0) * self.filled_qty
        avg = (prev_value + fill.price * fill.qty) / filled
        to = OrderStatus.FILLED if filled == self.request.qty else OrderStatus.PARTIALLY_FILLED
        return self.transition(to, at=fill.at, filled_qty=filled, avg_fill_price=avg)


@dataclass(frozen=True)
class Fill:
    fill_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    qty: int
    price: float
    at: datetime
    commission: float = 0.0


# ------------------------------------------------------------------ market data
@dataclass(frozen=True)
class Bar:
    symbol: str
    at: datetime  # daily: the session date at 00:00 ET; minute: the bar's END (as in shared data)
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True)
class Quote:
    symbol: str
    at: datetime
    bid: float
    ask: float
    bid_size: float = 0.0
    ask_size: float = 0.0

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2.0


@dataclass(frozen=True)
class TradeTick:
    """A print on the tape (not to be confused with a closed round-trip :class:`Trade`)."""

    symbol: str
    at: datetime
    price: float
    size: float = 0.0


@dataclass(frozen=True)
class Snapshot:
    """What is known of a symbol at a moment: the basis of the gap filter."""

    symbol: str
    latest_trade: TradeTick | None
    latest_quote: Quote | None
    prev_close: float | None
    session_open: float | None = None  # the official open, once the session has opened


@dataclass(frozen=True)
class Asset:
    symbol: str
    tradable: bool = True
    shortable: bool = True
    easy_to_borrow: bool = True


@dataclass(frozen=True)
class Account:
    equity: float
    cash: float
    buying_power: float
    pattern_day_trader: bool = False
    blocked: bool = False


@dataclass(frozen=True)
class Universe:
    """The scanned symbols with their GICS sectors, and the regime benchmark."""

    sectors: MappingProxyType[str, str]
    benchmark: str = "SPY"

    @staticmethod
    def of(sectors: dict[str, str], benchmark: str = "SPY") -> Universe:
        return Universe(MappingProxyType(dict(sorted(sectors.items()))), benchmark)

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self.sectors)

    def sector(self, symbol: str) -> str:
        return self.sectors.get(symbol, "Unknown")


# --------------------------------------------------------- scan and positions
@dataclass(frozen=True)
class ScoreParts:
    strength: float
    liquidity: float
    reward_risk: float
    fit: float


@dataclass(frozen=True)
class Candidate:
    """One ranked pick of a nightly scan."""

    session: date  # the scan's session; entries happen on the next session
    rank: int
    symbol: str
    sector: str
    strategy: str
    side: Side
    group: Group
    score: float
    parts: ScoreParts
    strength: float
    close: float
    atr14: float
    sl_mult: float
    tp_mult: float
    regime: Regime
    indicators: MappingProxyType[str, float] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def sl_distance(self) -> float:
        return self.sl_mult * self.atr14

    @property
    def tp_distance(self) -> float:
        return self.tp_mult * self.atr14


@dataclass(frozen=True)
class Position:
    symbol: str
    side: Side
    qty: int
    fill_price: float  # the actual average fill price: SL/TP derive from it
    entry_session: date
    entry_at: datetime
    strategy: str
    atr14: float
    sl_mult: float
    tp_mult: float

    @property
    def stop_loss(self) -> float:
        return self.fill_price - self.side.sign * self.sl_mult * self.atr14

    @property
    def take_profit(self) -> float:
        return self.fill_price + self.side.sign * self.tp_mult * self.atr14

    @property
    def risk_per_share(self) -> float:
        """One R: the planned stop distance."""
        return self.sl_mult * self.atr14


@dataclass(frozen=True)
class Excursion:
    """Maximum favourable and adverse excursion of a position so far."""

    mfe_price: float
    mfe_at: datetime
    mae_price: float
    mae_at: datetime


@dataclass(frozen=True)
class Trade:
    """A closed round trip, persisted with its entry tag and exit reason."""

    symbol: str
    side: Side
    qty: int
    entry_price: float
    entry_at: datetime
    exit_price: float
    exit_at: datetime
    strategy: str
    exit_reason: ExitReason
    r_per_share: float

    @property
    def pnl(self) -> float:
        return self.side.sign * (self.exit_price - self.entry_price) * self.qty

    @property
    def pnl_pct(self) -> float:
        return self.side.sign * (self.exit_price / self.entry_price - 1.0)

    @property
    def r_multiple(self) -> float:
        return self.side.sign * (self.exit_price - self.entry_price) / self.r_per_share
