"""Read-only snapshots of engine state, as the GUI (and a headless runner) sees them.

Every view is a small frozen dataclass of plain values: the engine builds them from its
own objects on request, the GUI only renders them. No Qt here (architecture principle 2).

When something changes, the engine publishes :class:`ViewsChanged` naming the views
(:class:`ViewName`) to fetch again, so a window refreshes only what changed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from workstation.core.bar_problems import unserved
from workstation.core.events import Event
from workstation.core.models import (
    ApprovalState,
    Group,
    OrderIntent,
    OrderSide,
    OrderStatus,
    OrderType,
    ScoreParts,
    Side,
    TimeInForce,
)


class Mode(StrEnum):
    """Where orders go: the simulated broker, Alpaca paper, Alpaca live, or a backtest."""

    SIM = "sim"
    PAPER = "paper"
    LIVE = "live"
    BACKTEST = "backtest"


class ViewName(StrEnum):
    """The names :class:`ViewsChanged` carries, one per getter of the engine API."""

    STATUS = "status"
    CANDIDATES = "candidates"
    GAPS = "gaps"
    ORDERS = "orders"
    POSITIONS = "positions"
    TRADES = "trades"  # closed trades and vetoed outcomes (journal, MFE/MAE, performance)
    EQUITY = "equity"  # the equity curve


ALL_VIEWS: frozenset[ViewName] = frozenset(ViewName)


@dataclass(frozen=True)
class ViewsChanged(Event):
    """Published by the engine after a change: fetch these views again."""

    views: frozenset[ViewName] = ALL_VIEWS

    @staticmethod
    def of(at: datetime, *views: ViewName | str) -> ViewsChanged:
        return ViewsChanged(at, frozenset(ViewName(v) for v in views))


def _frozen_map(m: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(m or {}))


# ------------------------------------------------------------------------ status


@dataclass(frozen=True)
class ConnectionView:
    component: str  # "market-data", "trading", "data-stream", "trading-stream"
    state: str  # "connected", "degraded", "down"
    detail: str = ""


@dataclass(frozen=True)
class StatusView:
    """The status bar of the workstation."""

    mode: Mode
    now: datetime  # the engine clock's time (simulated time in sim), tz-aware ET
    market_state: str  # a workstation.core.calendar.MarketState value ("open", "closed", ...)
    next_step: str  # e.g. "Gap filter"; "" when nothing is scheduled
    next_step_at: datetime | None
    regime: str | None  # "TREND" / "RANGING" / "HIGH_VOL" of the latest scan; None before one
    kill_switch: bool
    equity: float
    day_pnl: float  # equity minus the session's starting equity
    clock_speed: float  # simulated seconds per real second; math.inf = max
    clock_paused: bool
    connections: tuple[ConnectionView, ...] = ()
    kill_reason: str = ""  # why it engaged ("manual", "daily loss limit ...")
    session: date | None = None  # the trading session "now" belongs to (or the next one)
    clock_adjustable: bool = False  # True only when the clock is a SimClock
    param_hash: str = ""  # hash of the parameter set in force
    health: str = ""  # "ok" / "degraded" / "failed" of the health checks ("" before the first)
    health_detail: tuple[str, ...] = ()  # one line per check: "status name: message"
    scan_review: bool = False  # the clock pauses after each nightly scan for a review
    pause_reason: str = ""  # why the engine paused the clock (a scan to review), "" otherwise

    @property
    def day_pnl_pct(self) -> float:
        start = self.equity - self.day_pnl
        return self.day_pnl / start if start > 0 else 0.0

    @property
    def countdown_seconds(self) -> float | None:
        """Clock seconds until the next step (never negative), or None."""
        if self.next_step_at is None:
            return None
        return max(0.0, (self.next_step_at - self.now).total_seconds())

    @property
    def speed_text(self) -> str:
        if self.clock_paused:
            return "paused"
        if math.isinf(self.clock_speed):
            return "max"
        return f"{self.clock_speed:g}x"


# -------------------------------------------------------------------- candidates


@dataclass(frozen=True)
class PassedOverView:
    """An entry of the scan that lost to a candidate, and why."""

    symbol: str
    strategy: str
    score: float
    kind: str  # "sector_cap", "below_cut" or "superseded" (another strategy won the symbol)
    reason: str
    sector: str = ""

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> PassedOverView:
        """From ``PassedOver.as_dict()`` of :mod:`workstation.signals.ranking`."""
        return PassedOverView(
            symbol=str(d["symbol"]),
            strategy=str(d["strategy"]),
            score=float(d["score"]),
            kind=str(d["kind"]),
            reason=str(d["reason"]),
            sector=str(d.get("sector", "")),
        )

    @staticmethod
    def from_superseded(d: Mapping[str, Any]) -> PassedOverView:
        """From ``Superseded.as_dict()``: another strategy that fired for the same symbol."""
        return PassedOverView(
            symbol=str(d["symbol"]),
            strategy=str(d["strategy"]),
            score=float(d["score"]),
            kind="superseded",
            reason=f"{d['kept_strategy']} scored higher ({float(d['kept_score']):.1f})",
        )


@dataclass(frozen=True)
class DecisionView:
    """One entry of a candidate's decision history (the store's approvals, oldest first)."""

    at: datetime
    state: ApprovalState
    source: str  # "user" or "policy"
    note: str = ""


@dataclass(frozen=True)
class ScanReportView:
    """The latest scan's report (trading rules §6, §14): what was loaded, skipped and why,
    and every data problem the scan met, by kind and symbol."""

    session: date
    status: str  # "ok" or "failed"
    regime: str = ""
    loaded: int = 0
    eligible: int = 0
    stale: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    ineligible: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    data_problems: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    error: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "ineligible", _frozen_map(self.ineligible))
        object.__setattr__(self, "data_problems", _frozen_map(self.data_problems))

    @property
    def unserved(self) -> int:
        """Bars the scan met that are not served (invalid, conflicting, spikes)."""
        return unserved(self.data_problems)


@dataclass(frozen=True)
class CandidateView:
    """One of the nightly top 12 with its approval state and the story of its pick."""

    id: int  # the store's candidate id: what approve()/veto() take
    session: date  # the scan's session (entries happen on the next one)
    rank: int
    symbol: str
    sector: str
    strategy: str
    side: Side
    group: Group
    score: float
    parts: ScoreParts
    approval: ApprovalState
    note: str = ""
    close: float = math.nan
    atr14: float = math.nan
    sl_mult: float = math.nan
    tp_mult: float = math.nan
    regime: str = ""
    indicators: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    explanation: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """``Explanation.as_dict()``: strategy, symbol, fired, eligible, checks (label, left, value,
    op, right, threshold, passed), strength, strength_formula."""
    passed_over: tuple[PassedOverView, ...] = ()
    """Entries that lost to this pick: sector-cap skips blocked by it, other strategies that
    fired for the same symbol, (for the last-ranked pick) the runners-up below the cut."""
    decidable: bool = True  # False once its entry time has passed: approve/veto are refused
    decide_by: datetime | None = None  # the entry time: decisions (and undo) until then
    history: tuple[DecisionView, ...] = ()  # every decision recorded, oldest first
    # What became of it at its entry session (empty before): a code (MAX_POSITIONS,
    # GAP_TOO_LARGE, ENTERED, ...), the words a trader reads, and the engine's detail.
    outcome: str = ""
    outcome_text: str = ""
    outcome_detail: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "indicators", _frozen_map(self.indicators))
        object.__setattr__(self, "explanation", _frozen_map(self.explanation))

    @property
    def planned_sl_distance(self) -> float:
        return self.sl_mult * self.atr14

    @property
    def planned_tp_distance(self) -> float:
        return self.tp_mult * self.atr14


@dataclass(frozen=True)
class GapView:
    """The 09:25 gap result of one candidate."""

    candidate_id: int
    symbol: str
    strategy: str
    side: Side
    group: Group
    prev_close: float | None
    price: float | None  # the pre-market price used
    source: str  # "trade", "quote" or "none"
    gap: float | None  # price / prev_close - 1
    passed: bool
    reason: str  # GAP_WITHIN_LIMIT, GAP_TOO_LARGE, NO_PREMARKET_KEPT, ...
    detail: str = ""
    at: datetime | None = None


# ------------------------------------------------------------------------ orders


@dataclass(frozen=True)
class OrderView:
    client_order_id: str
    symbol: str
    side: OrderSide
    qty: int
    type: OrderType
    tif: TimeInForce
    status: OrderStatus
    intent: OrderIntent = OrderIntent.ENTRY
    strategy: str = ""
    group: Group | None = None  # entries only
    filled_qty: int = 0
    avg_price: float | None = None
    limit_price: float | None = None
    stop_price: float | None = None
    confirm_open: float | None = None  # group B: the session's official open ...
    confirm_price: float | None = None  # ... the latest trade at 09:50 ...
    confirm_threshold: float | None = None  # ... and the level it had to reach
    confirmed: bool | None = None  # None: not a group B entry (or not decided yet)
    reject_reason: str = ""  # broker rejection or the entry check that refused it
    updated_at: datetime | None = None
    broker_status: str = ""  # the broker's own word ("new", "replaced", ...; "" on the sim)
    sent: bool = True  # False: an entry decided against before any order went out


# --------------------------------------------------------------------- positions


@dataclass(frozen=True)
class PositionView:
    symbol: str
    side: Side
    qty: int
    fill_price: float
    last: float
    pnl: float
    strategy: str
    day: int  # sessions held; the entry session is day 1
    day_one: bool  # True: SL/TP are not active yet (emergency exit only)
    sl: float
    tp: float
    emergency: float  # the day-1 emergency level (fill * 0.93 long, * 1.07 short)
    r_per_share: float  # one R: sl_mult * atr14
    mfe_price: float
    mfe_pct: float
    mfe_r: float
    mae_price: float
    mae_pct: float
    mae_r: float
    entry_at: datetime | None = None
    mfe_at: datetime | None = None
    mae_at: datetime | None = None
    sector: str = ""
    # ``sl``/``tp`` are the levels in force; where the trader moved one, the rule's (from the
    # fill) are these and ``sl_moved``/``tp_moved`` say so.
    rule_sl: float = math.nan
    rule_tp: float = math.nan
    sl_moved: bool = False
    tp_moved: bool = False
    exiting: bool = False  # an exit order is out: no second close

    @property
    def pnl_pct(self) -> float:
        return self.side.sign * (self.last / self.fill_price - 1.0) if self.fill_price else 0.0

    @property
    def pnl_r(self) -> float:
        if not self.r_per_share or not self.qty:
            return math.nan
        return self.pnl / (self.r_per_share * self.qty)

    @property
    def active_stop(self) -> float:
        """The level that exits the position now: emergency on day 1, else the SL."""
        return self.emergency if self.day_one else self.sl


# --------------------------------------------------------------------- risk


@dataclass(frozen=True)
class PositionRisk:
    """One position's share of the portfolio's risk."""

    symbol: str
    side: Side
    sector: str
    notional: float  # |qty * last|
    stop: float  # the active stop: the emergency level on day 1, the SL from day 2
    stop_kind: str  # "emergency" or "stop loss"
    risk: float  # $ lost from the last price if the active stop is hit (>= 0)
    risk_r: float  # that loss in R (one R = sl_mult * atr14 per share)


@dataclass(frozen=True)
class SectorLoad:
    """Open positions and pending entries of one sector against the sector cap."""

    sector: str
    positions: int
    pending: int
    cap: int
    notional: float

    @property
    def used(self) -> int:
        return self.positions + self.pending


@dataclass(frozen=True)
class RiskView:
    """The portfolio's risk: exposure, open risk (heat), the caps, the daily loss limit."""

    equity: float
    cash: float
    buying_power: float
    long_exposure: float  # $ of long positions at the last price
    short_exposure: float  # $ of short positions at the last price (a positive number)
    pending_exposure: float  # $ of entry orders still working (at their reference price)
    max_gross: float  # equity * max_gross_exposure: the sizing rule's ceiling
    open_risk: float  # sum of the positions' risk to their active stops
    open_risk_r: float  # the same in R
    positions: tuple[PositionRisk, ...]
    open_positions: int
    pending_entries: int
    regime: str | None  # the latest scan's regime (None before one)
    position_cap: int  # min(the regime's max open positions, the cap of any regime)
    any_regime_cap: int
    sectors: tuple[SectorLoad, ...]  # every sector with a position or a pending entry
    sector_cap: int
    start_equity: float  # the session's starting equity (NaN before the day starts)
    daily_loss_limit: float  # a fraction, 0.02
    kill_level: float  # equity at which the kill switch engages
    kill_switch: bool
    kill_reason: str = ""

    @property
    def gross_exposure(self) -> float:
        return self.long_exposure + self.short_exposure

    @property
    def net_exposure(self) -> float:
        return self.long_exposure - self.short_exposure

    @property
    def heat(self) -> float:
        """Open risk as a share of equity."""
        return self.open_risk / self.equity if self.equity > 0 else math.nan

    @property
    def loss_room(self) -> float:
        """$ the equity can still fall before the kill switch engages (NaN if unknown)."""
        return self.equity - self.kill_level

    @property
    def day_change(self) -> float:
        return self.equity - self.start_equity


# --------------------------------------------------------------------- regime


@dataclass(frozen=True)
class StrategyFit:
    """Whether a strategy may fire in each regime (trading rules §5): ``fits[regime]`` is
    "preferred", "allowed" or "not permitted" (``signals.ranking``'s words)."""

    strategy: str
    enabled: bool
    fits: Mapping[str, str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "fits", _frozen_map(self.fits))


@dataclass(frozen=True)
class RegimeView:
    """The market regime as the latest nightly scan decided it, what decided it, and which
    strategies it lets fire."""

    benchmark: str
    session: date | None  # the latest scan's session (None before a scan)
    regime: str  # its regime ("" before a scan)
    # The values that decided it (``signals.regime.RegimeResult.as_dict()``; empty for a scan
    # that did not record them).
    values: Mapping[str, Any]
    fits: tuple[StrategyFit, ...]  # every strategy of the configuration, in its order
    caps: Mapping[str, int]  # regime -> its max open positions (within the cap of any regime)
    vol_window: int  # daily log returns in the volatility

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", _frozen_map(self.values))
        object.__setattr__(self, "caps", _frozen_map(self.caps))


# --------------------------------------------------------------------- trades


@dataclass(frozen=True)
class TradeView:
    """A closed round trip, or (``vetoed=True``) the paper outcome of a vetoed candidate."""

    id: int
    symbol: str
    side: Side
    qty: int
    strategy: str
    entry_price: float
    entry_at: datetime
    exit_price: float
    exit_at: datetime
    exit_reason: str  # an ExitReason value
    pnl: float
    r: float  # R multiple
    mfe_r: float
    mae_r: float
    vetoed: bool = False  # paper-tracked outcome of a vetoed candidate, not a real trade
    note: str = ""  # the approval/veto note
    sector: str = ""

    @property
    def pnl_pct(self) -> float:
        return self.side.sign * (self.exit_price / self.entry_price - 1.0)

    @property
    def is_win(self) -> bool:
        return self.pnl > 0


class VetoState(StrEnum):
    """Where a vetoed candidate's paper outcome stands (trading rules §7)."""

    WAITING = "waiting"  # its entry time has not come: followed from then on, if it passes
    FOLLOWING = "following"  # followed on paper, not exited yet
    CLOSED = "closed"  # exited on paper: its outcome is a TradeView (vetoed=True)
    NOT_FOLLOWED = "not followed"  # a real entry would not have happened either: why says why


@dataclass(frozen=True)
class VetoView:
    """A vetoed candidate and its paper outcome: followed (open or closed), waiting for its
    entry time, or not followed and why (the journal lists every one of them)."""

    candidate_id: int
    session: date  # the session it would have traded
    symbol: str
    side: Side
    strategy: str
    group: Group
    state: VetoState
    why: str  # in words: what happened or will happen on paper, or why nothing did
    vetoed_at: datetime | None = None
    note: str = ""  # the veto's note
    sector: str = ""
    qty: int | None = None  # the paper size, once followed
    entry_price: float | None = None
    entry_at: datetime | None = None
    exit_price: float | None = None
    exit_at: datetime | None = None
    exit_reason: str = ""  # an ExitReason value, once closed on paper
    pnl: float = math.nan
    r: float = math.nan
    mfe_r: float = math.nan  # not measured on paper (the journal's columns read the same)
    mae_r: float = math.nan
    vetoed: bool = True

    @property
    def id(self) -> str:
        """The journal's row key (trades have int ids)."""
        return f"veto:{self.candidate_id}"

    @property
    def pnl_pct(self) -> float:
        if self.exit_price is None or not self.entry_price:
            return math.nan
        return self.side.sign * (self.exit_price / self.entry_price - 1.0)
