"""Rows the store returns (and the one input record it takes), as small frozen dataclasses.

They mirror the tables column for column (same names), with timestamps as tz-aware UTC
datetimes, sessions as dates and JSON columns decoded. They are deliberately not the domain
model (``workstation.core.models``): the store stays independent of it, and the engines map
between the two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

APPROVAL_STATES: tuple[str, ...] = ("pending", "approved", "vetoed", "skipped")
APPROVAL_SOURCES: tuple[str, ...] = ("user", "policy")
AUDIT_ACTORS: tuple[str, ...] = ("user", "engine", "policy", "system")
SIDES: tuple[str, ...] = ("long", "short")
GROUPS: tuple[str, ...] = ("A", "B")
REGIMES: tuple[str, ...] = ("TREND", "RANGING", "HIGH_VOL")
ORDER_SIDES: tuple[str, ...] = ("buy", "sell")
ORDER_TYPES: tuple[str, ...] = ("market", "limit", "stop", "stop_limit")
TIFS: tuple[str, ...] = ("day", "gtc", "opg", "cls", "ioc", "fok")
INTENTS: tuple[str, ...] = ("entry", "stop", "exit", "flatten")
GAP_SOURCES: tuple[str, ...] = ("trade", "quote", "none")
EXIT_REASONS: tuple[str, ...] = (
    "STOP_LOSS",
    "TAKE_PROFIT",
    "TIME_EXIT",
    "EMERGENCY",
    "MANUAL",
    "KILL_SWITCH",
)
# Statuses after which an order can no longer fill. Anything else (new, accepted,
# partially_filled, pending_cancel, done_for_day, ...) counts as open: when in doubt an order is
# treated as live, so it is shown, reconciled and canceled rather than forgotten.
TERMINAL_ORDER_STATUSES: tuple[str, ...] = ("filled", "canceled", "expired", "rejected", "replaced")


@dataclass(frozen=True, slots=True)
class CarriedDecision:
    """A user's decision carried from a superseded list to a re-run scan's candidate with the
    same (symbol, strategy) (input to ``record_scan``)."""

    state: str  # "approved" or "vetoed"
    note: str | None
    from_candidate: int  # the candidate of the previous list it was made on


@dataclass(frozen=True, slots=True)
class NewCandidate:
    """One ranked candidate to record with its scan (input to ``record_scan``)."""

    rank: int
    symbol: str
    sector: str
    strategy: str
    side: str
    grp: str
    score: float
    score_strength: float
    score_liquidity: float
    score_rr: float
    score_fit: float
    strength: float
    close: float
    atr14: float
    sl_mult: float
    tp_mult: float
    sl_dist: float
    tp_dist: float
    indicators: dict[str, Any] = field(default_factory=dict)
    explain: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ParamSetRow:
    id: int
    hash: str
    created_at: datetime
    yaml: str
    source: str | None


@dataclass(frozen=True, slots=True)
class ScanRow:
    id: int
    session: date
    market: str
    param_hash: str
    status: str
    error: str | None
    regime: str | None
    loaded: int
    eligible: int
    stale: int
    failed: int
    stale_symbols: list[str]
    failed_symbols: list[str]
    duration_s: float | None
    started_at: datetime
    finished_at: datetime | None
    superseded_by: int | None
    ineligible: dict[str, int]  # reason -> symbols (schema v4; {} before)
    data_problems: dict[str, Any]  # BarReport.as_dict(): counts, kind -> symbol -> sessions


@dataclass(frozen=True, slots=True)
class CandidateRow:
    id: int
    scan_id: int
    rank: int
    symbol: str
    sector: str
    strategy: str
    side: str
    grp: str
    score: float
    score_strength: float
    score_liquidity: float
    score_rr: float
    score_fit: float
    strength: float
    close: float
    atr14: float
    sl_mult: float
    tp_mult: float
    sl_dist: float
    tp_dist: float
    indicators: dict[str, Any]
    explain: dict[str, Any]
    approval: str
    approval_note: str | None
    approval_source: str | None
    decided_at: datetime | None


@dataclass(frozen=True, slots=True)
class ApprovalRow:
    id: int
    candidate_id: int
    state: str
    note: str | None
    source: str
    at: datetime


@dataclass(frozen=True, slots=True)
class GapResultRow:
    id: int
    candidate_id: int
    session: date
    price: float | None
    source: str
    prev_close: float
    gap: float | None
    passed: bool
    reason: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class OrderRow:
    id: int
    client_order_id: str
    broker_order_id: str | None
    session: date
    symbol: str
    side: str
    qty: float
    order_type: str
    tif: str
    limit_price: float | None
    stop_price: float | None
    intent: str
    strategy: str | None
    candidate_id: int | None
    position_id: int | None
    status: str
    filled_qty: float
    avg_fill_price: float | None
    reject_reason: str | None
    created_at: datetime
    updated_at: datetime
    broker_status: str | None = None  # the broker's word for the state (v9)

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL_ORDER_STATUSES


@dataclass(frozen=True, slots=True)
class OrderUpsert:
    """What ``upsert_order`` did: the stored order, and whether this call created it."""

    order: OrderRow
    created: bool


@dataclass(frozen=True, slots=True)
class OrderEventRow:
    id: int
    client_order_id: str
    from_status: str | None
    to_status: str
    at: datetime
    detail: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class FillRow:
    id: int
    fill_id: str
    client_order_id: str
    symbol: str
    side: str
    qty: float
    price: float
    at: datetime


@dataclass(frozen=True, slots=True)
class FillResult:
    """What ``record_fill`` did: the stored fill, and whether it was already there (ignored)."""

    fill: FillRow
    duplicate: bool


@dataclass(frozen=True, slots=True)
class PositionRow:
    id: int
    symbol: str
    side: str
    qty: float
    avg_entry: float
    entry_session: date
    entry_at: datetime
    strategy: str
    candidate_id: int | None
    sl: float | None
    tp: float | None
    sl_mult: float
    tp_mult: float
    atr14: float
    stop_client_order_id: str | None
    status: str
    closed_at: datetime | None
    updated_at: datetime
    sl_manual: float | None = None  # the SL the trader set (None: the rule's ``sl`` applies)
    tp_manual: float | None = None  # the TP the trader set (None: the rule's ``tp`` applies)


@dataclass(frozen=True, slots=True)
class TradeRow:
    id: int
    position_id: int
    candidate_id: int | None
    symbol: str
    side: str
    strategy: str
    qty: float
    entry_price: float
    entry_at: datetime
    entry_session: date
    exit_price: float
    exit_at: datetime
    exit_session: date
    exit_reason: str
    pnl: float
    pnl_pct: float
    r_multiple: float
    days_held: int
    sl_mult: float
    atr14: float
    mfe_price: float | None
    mfe_pct: float | None
    mfe_r: float | None
    mfe_at: datetime | None
    mae_price: float | None
    mae_pct: float | None
    mae_r: float | None
    mae_at: datetime | None


@dataclass(frozen=True, slots=True)
class MfeMaeRow:
    position_id: int
    mfe_price: float
    mfe_pct: float
    mfe_r: float
    mfe_at: datetime
    mae_price: float
    mae_pct: float
    mae_r: float
    mae_at: datetime
    last_price_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class EquitySnapshotRow:
    id: int
    at: datetime
    session: date
    equity: float
    cash: float
    day_pnl: float
    peak_equity: float
    drawdown: float


@dataclass(frozen=True, slots=True)
class DailyPerformanceRow:
    session: date
    start_equity: float
    end_equity: float
    pnl: float
    pnl_pct: float
    trades: int
    wins: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class BacktestRow:
    """A backtest listed in the main store; its own store file is at ``path``."""

    id: str
    created_at: datetime
    scenario: str
    first_session: date
    last_session: date
    market: str
    data_source: str
    param_hash: str
    universe_mode: str
    fill_model: str
    path: str
    overrides: dict[str, Any]
    summary: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SearchRow:
    """A parameter search listed in the main store; its trials are in the file at ``path``.

    ``status``: running, finished, cancelled, interrupted or failed. ``best``: the chosen
    trial's parameters, value and deflated Sharpe ratio (None until there is one)."""

    id: str
    created_at: datetime
    updated_at: datetime
    status: str
    search: str
    objective: str
    params: list[str]
    first_session: date
    last_session: date
    walk_forward: str | None
    market: str
    data_source: str
    param_hash: str
    trials_total: int
    trials_done: int
    path: str
    best: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class SessionEquityRow:
    """A session's starting equity, fixed when the session starts (``source``: the
    previous session's end-of-day equity, or the broker's equity then)."""

    session: date
    start_equity: float
    source: str
    at: datetime


@dataclass(frozen=True, slots=True)
class EquityMarkRow:
    """What one daily-loss check saw (``engaged``: its verdict)."""

    id: int
    at: datetime
    session: date
    equity: float
    start_equity: float
    loss_limit: float
    engaged: bool


@dataclass(frozen=True, slots=True)
class EntryCheckRow:
    """One run of the §9 entry checks: every input it read, and its decision."""

    id: int
    at: datetime
    session: date
    candidate_id: int
    symbol: str
    grp: str
    side: str
    sector: str
    price: float
    atr14: float
    sl_mult: float
    equity: float
    peak_equity: float
    drawdown: float
    buying_power: float
    gross_exposure: float
    kill_switch: bool
    already_held: bool
    exited_today: bool
    open_positions: int
    pending_entries: int
    sector_count: int
    regime_max_positions: int
    shortable: bool | None
    easy_to_borrow: bool | None
    param_hash: str
    ok: bool
    check_number: int
    reason: str
    qty: int
    risk_per_trade: float
    detail: str
    client_order_id: str | None


@dataclass(frozen=True, slots=True)
class OfficialOpenRow:
    session: date
    symbol: str
    price: float
    at: datetime


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    detail: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class PaperTrackRow:
    id: int
    candidate_id: int
    symbol: str
    side: str
    strategy: str
    qty: float | None
    entry_price: float
    entry_at: datetime
    exit_price: float | None
    exit_at: datetime | None
    exit_reason: str | None
    pnl: float | None
    pnl_pct: float | None
    r_multiple: float | None
    status: str
    updated_at: datetime
