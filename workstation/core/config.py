"""The typed, validated configuration: every number of the trading rules is here.

Files (in the user's config folder, seeded from the project's ``config/``):
``scanner.yaml`` (universe, indicators, eligibility, regime, ranking, scan retries),
``strategies.yaml`` (one block per strategy), ``risk.yaml`` (approval, gap filter,
entries, sizing, portfolio risk, exits), ``schedule.yaml`` and ``app.yaml`` (mode,
market, simulation, Alpaca endpoints; never keys).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from types import MappingProxyType
from typing import Any, ClassVar

from workstation.core.models import Group, Regime, Side
from workstation.core.schema import SchemaError, build, param, to_plain

# ------------------------------------------------------------------ scanner.yaml


@dataclass(frozen=True)
class UniverseConfig:
    source: str = param(
        "sp500",
        doc="'sp500' (current members, GICS sectors) or a CSV path "
        "with a 'symbol' column and an optional 'sector' column",
    )
    benchmark: str = param("SPY", doc="regime benchmark symbol")
    history_sessions: int = param(300, lo=260, hi=2000, doc="daily bars loaded per symbol")


@dataclass(frozen=True)
class IndicatorConfig:
    rsi_window: int = param(14, lo=2, hi=100)
    bb_window: int = param(20, lo=2, hi=200)
    bb_dev: float = param(2.0, lo=0.1, hi=5.0)
    bw_pct_window: int = param(120, lo=10, hi=500, doc="sessions in the bw percentile window")
    adx_window: int = param(14, lo=2, hi=100)
    atr_window: int = param(14, lo=2, hi=100)
    sma_fast: int = param(50, lo=2, hi=400)
    sma_slow: int = param(200, lo=2, hi=400)
    ema_window: int = param(20, lo=2, hi=200)
    roc_window: int = param(20, lo=1, hi=250)
    dv_window: int = param(20, lo=1, hi=250)


@dataclass(frozen=True)
class EligibilityConfig:
    min_bars: int = param(250, lo=1, hi=2000)
    min_close: float = param(5.0, lo=0.0, hi=10_000.0)
    min_dv20: float = param(20_000_000.0, lo=0.0, hi=1e12, doc="20-session mean dollar volume")


@dataclass(frozen=True)
class RegimeLimits:
    preferred: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()
    max_positions: int = param(8, lo=0, hi=100)


def _regime_default(preferred: tuple[str, ...], allowed: tuple[str, ...], n: int) -> Any:
    return dataclasses.field(default_factory=lambda: RegimeLimits(preferred, allowed, n))


@dataclass(frozen=True)
class RegimeConfig:
    vol_window: int = param(20, lo=2, hi=250, doc="daily log returns in the volatility")
    annualization: int = param(252, lo=1, hi=365)
    high_vol_above: float = param(0.25, lo=0.0, hi=5.0, lo_open=True)
    trend_adx_min: float = param(20.0, lo=0.0, hi=100.0)
    trend: RegimeLimits = _regime_default(
        ("regime_momentum", "adx_pullback", "bb_squeeze"), ("rsi_reversion",), 8
    )
    ranging: RegimeLimits = _regime_default(
        ("rsi_reversion", "overbought_short"), ("bb_squeeze", "adx_pullback"), 6
    )
    high_vol: RegimeLimits = _regime_default(("rsi_reversion",), ("overbought_short",), 4)

    def limits(self, regime: Regime) -> RegimeLimits:
        return {
            Regime.TREND: self.trend,
            Regime.RANGING: self.ranging,
            Regime.HIGH_VOL: self.high_vol,
        }[regime]


@dataclass(frozen=True)
class RankingConfig:
    w_strength: float = param(0.50, lo=0.0, hi=1.0)
    w_liquidity: float = param(0.20, lo=0.0, hi=1.0)
    w_reward_risk: float = param(0.15, lo=0.0, hi=1.0)
    w_fit: float = param(0.15, lo=0.0, hi=1.0)
    reward_risk_full: float = param(
        2.0, lo=0.1, hi=20.0, lo_open=True, doc="tp/sl ratio that earns the full reward/risk part"
    )
    fit_preferred: float = param(1.0, lo=0.0, hi=1.0)
    fit_allowed: float = param(0.5, lo=0.0, hi=1.0)
    top_n: int = param(12, lo=1, hi=100)
    max_per_sector: int = param(3, lo=1, hi=100)

    def __post_init__(self) -> None:
        total = self.w_strength + self.w_liquidity + self.w_reward_risk + self.w_fit
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"the four score weights must add up to 1.0, they add up to {total:g}")


@dataclass(frozen=True)
class DataValidationConfig:
    """Trading rules §14: what counts as a bad daily bar or an unconfirmed intraday print."""

    spike_pct: float = param(
        0.5,
        lo=0.0,
        hi=100.0,
        lo_open=True,
        doc="a close this far (0.5 = 50%) from the previous close, back within a fifth of it "
        "the next session, is a spike (replay files only)",
    )
    print_jump_pct: float = param(
        0.2,
        lo=0.0,
        hi=100.0,
        lo_open=True,
        doc="a print this far (0.2 = 20%) from the last accepted price waits for a second "
        "print to confirm it",
    )
    confirm_s: float = param(
        60.0, lo=0.0, hi=3600.0, lo_open=True, doc="seconds within which the second print confirms"
    )


@dataclass(frozen=True)
class ScanRetryConfig:
    tries: int = param(3, lo=1, hi=10)
    backoff_s: float = param(60.0, lo=0.0, hi=3600.0, doc="wait before the 2nd try; doubles")


@dataclass(frozen=True)
class ScannerConfig:
    universe: UniverseConfig = dataclasses.field(default_factory=UniverseConfig)
    indicators: IndicatorConfig = dataclasses.field(default_factory=IndicatorConfig)
    eligibility: EligibilityConfig = dataclasses.field(default_factory=EligibilityConfig)
    regime: RegimeConfig = dataclasses.field(default_factory=RegimeConfig)
    ranking: RankingConfig = dataclasses.field(default_factory=RankingConfig)
    retry: ScanRetryConfig = dataclasses.field(default_factory=ScanRetryConfig)
    validation: DataValidationConfig = dataclasses.field(default_factory=DataValidationConfig)


# --------------------------------------------------------------- strategies.yaml


@dataclass(frozen=True)
class StrategyParams:
    """What every strategy block has; a strategy module subclasses it with its own rule
    parameters and registers it with :func:`register_strategy`."""

    enabled: bool = param(True)
    side: Side = param(Side.LONG)
    group: Group = param(Group.A)
    sl_atr: float = param(2.0, lo=0.1, hi=20.0, doc="stop-loss distance in ATRs")
    tp_atr: float = param(3.0, lo=0.1, hi=50.0, doc="take-profit distance in ATRs")


STRATEGY_PARAMS: dict[str, type[StrategyParams]] = {}


def register_strategy(name: str) -> Any:
    """Class decorator: ``@register_strategy("rsi_reversion")`` on a StrategyParams subclass."""

    def deco(cls: type[StrategyParams]) -> type[StrategyParams]:
        STRATEGY_PARAMS[name] = cls
        return cls

    return deco


def _load_strategy_modules() -> None:
    # The strategies package imports every module in it, each registering itself:
    # adding a strategy is one module plus one YAML block.
    importlib.import_module("workstation.signals.strategies")


# --------------------------------------------------------------------- risk.yaml


@dataclass(frozen=True)
class ApprovalConfig:
    on_pending_sim: str = param(
        "approve",
        choices=("approve", "skip"),
        doc="a still-pending candidate at entry time, simulated market",
    )
    on_pending_broker: str = param(
        "skip",
        choices=("approve", "skip"),
        doc="a still-pending candidate at entry time, real broker",
    )


@dataclass(frozen=True)
class GapConfig:
    max_abs_gap: float = param(0.03, lo=0.0, hi=1.0, doc="drop when |gap| is above this")
    on_no_premarket: str = param("keep", choices=("keep", "drop"))


@dataclass(frozen=True)
class EntryConfig:
    confirm_long: float = param(0.997, lo=0.5, hi=1.5, doc="long confirmed if price >= open*x")
    confirm_short: float = param(1.003, lo=0.5, hi=1.5, doc="short confirmed if price <= open*x")
    require_easy_to_borrow: bool = param(True)
    partial_fill_wait_s: float = param(
        30.0,
        lo=0.0,
        hi=600.0,
        doc="a partly filled entry's remainder may work this long (from the first fill); "
        "then it is canceled and the stop placed for the filled shares",
    )


@dataclass(frozen=True)
class SizingConfig:
    risk_per_trade: float = param(0.005, lo=0.0, hi=0.1, lo_open=True)
    max_position_pct: float = param(0.15, lo=0.0, hi=1.0, lo_open=True)
    max_gross_exposure: float = param(1.0, lo=0.0, hi=4.0, lo_open=True)
    drawdown_halving_above: float = param(
        0.08, lo=0.0, hi=1.0, doc="drawdown from the equity peak that halves risk"
    )
    drawdown_risk_factor: float = param(0.5, lo=0.0, hi=1.0)


@dataclass(frozen=True)
class PortfolioConfig:
    max_open_positions: int = param(8, lo=0, hi=100, doc="cap in any regime")
    max_per_sector: int = param(3, lo=1, hi=100, doc="open + pending per sector")
    daily_loss_limit: float = param(0.02, lo=0.0, hi=1.0, lo_open=True)
    pdt_equity_min: float = param(25_000.0, lo=0.0, hi=1e9)


@dataclass(frozen=True)
class ExitConfig:
    emergency_pct: float = param(0.07, lo=0.0, hi=1.0, lo_open=True)
    time_exit_day: int = param(5, lo=1, hi=100, doc="the entry session is day 1")
    time_exit_at: time = param(time(15, 50))
    early_close_minutes_before: int = param(10, lo=0, hi=120)
    sltp_from_day: int = param(2, lo=1, hi=100)


@dataclass(frozen=True)
class RiskConfig:
    approval: ApprovalConfig = dataclasses.field(default_factory=ApprovalConfig)
    gap: GapConfig = dataclasses.field(default_factory=GapConfig)
    entries: EntryConfig = dataclasses.field(default_factory=EntryConfig)
    sizing: SizingConfig = dataclasses.field(default_factory=SizingConfig)
    portfolio: PortfolioConfig = dataclasses.field(default_factory=PortfolioConfig)
    exits: ExitConfig = dataclasses.field(default_factory=ExitConfig)


# ----------------------------------------------------------------- schedule.yaml


@dataclass(frozen=True)
class ScheduleConfig:
    scan_at: time = param(time(20, 0))
    gap_filter_at: time = param(time(9, 25))
    group_a_from: time = param(time(9, 25))
    group_a_until: time = param(time(9, 28), doc="Alpaca rejects OPG orders after 09:28")
    group_b_at: time = param(time(9, 50))
    entry_cutoff: time = param(time(10, 0))
    eod_minutes_after_close: int = param(5, lo=0, hi=240)

    def __post_init__(self) -> None:
        order = [
            ("gap_filter_at", self.gap_filter_at),
            ("group_a_until", self.group_a_until),
            ("group_b_at", self.group_b_at),
            ("entry_cutoff", self.entry_cutoff),
        ]
        for (a, ta), (b, tb) in itertools.pairwise(order):
            if ta > tb:
                raise ValueError(f"{a} ({ta:%H:%M}) must not be after {b} ({tb:%H:%M})")
        if self.group_a_from > self.group_a_until:
            raise ValueError("group_a_from must not be after group_a_until")


# ---------------------------------------------------------------------- app.yaml


@dataclass(frozen=True)
class SimConfig:
    seed: int = param(7, lo=0, hi=2**31 - 1)
    today: str = param("", doc="simulated 'today' as YYYY-MM-DD; empty: the real date")
    history_sessions: int = param(320, lo=260, hi=3000)
    future_sessions: int = param(260, lo=5, hi=3000)
    speed: float = param(60.0, lo=0.0, hi=1e9, lo_open=True, doc="clock speed; 1e9 = max")
    starting_equity: float = param(100_000.0, lo=1_000.0, hi=1e10)
    quote_rate_hz: float = param(2.0, lo=0.01, hi=1000.0, doc="quotes per second per symbol")
    slippage_bps: float = param(2.0, lo=0.0, hi=500.0)
    commission_per_share: float = param(0.0, lo=0.0, hi=1.0)
    hard_to_borrow_share: float = param(0.05, lo=0.0, hi=1.0)


@dataclass(frozen=True)
class AlpacaConfig:
    trading_url: str = param("", doc="empty: Alpaca's paper/live default; env APCA_API_BASE_URL")
    data_url: str = param("", doc="empty: Alpaca's default; env APCA_API_DATA_URL")
    stream_url: str = param("", doc="data websocket; env APCA_API_STREAM_URL")
    trading_stream_url: str = param("", doc="env APCA_API_TRADING_STREAM_URL")
    feed: str = param("iex", choices=("iex", "sip"))
    timeout_s: float = param(10.0, lo=0.5, hi=120.0)
    requests_per_minute: int = param(180, lo=1, hi=200)


@dataclass(frozen=True)
class NotifyConfig:
    """Which alerts go out through the notification URLs (the URLs themselves carry tokens:
    they live in the OS keyring or WORKSTATION_NOTIFY_URLS, never here)."""

    scan_ready: bool = param(True, doc="the nightly top 12 and the time to approve by")
    scan_failed: bool = param(True, doc="the nightly scan failed after its retries")
    gap_results: bool = param(True, doc="the 09:25 gap filter's verdict per candidate")
    entries: bool = param(True, doc="a position was opened")
    exits: bool = param(True, doc="a position was closed: reason, P&L, R")
    kill_switch: bool = param(True, doc="the kill switch engaged or was released")
    unprotected: bool = param(True, doc="a position has no protective stop at the broker")
    connection: bool = param(True, doc="a connection was lost for a while, and restored")
    reconciliation: bool = param(True, doc="the store and the broker disagree")
    missed_steps: bool = param(True, doc="a step of the day missed its deadline")
    eod_summary: bool = param(True, doc="the end-of-day summary")
    connection_lost_after_s: float = param(
        60.0, lo=1.0, hi=3600.0, doc="a connection down this long (wall clock) is reported"
    )
    timeout_s: float = param(10.0, lo=1.0, hi=120.0, doc="one channel's send timeout")
    min_interval_s: float = param(
        1.0, lo=0.0, hi=60.0, doc="at most one message per this long to one channel"
    )
    retry_backoff_s: float = param(
        5.0, lo=0.1, hi=600.0, doc="first retry of a failed channel; doubles each time"
    )
    retry_max_s: float = param(900.0, lo=1.0, hi=86400.0, doc="longest wait between retries")
    give_up_after_h: float = param(
        24.0, lo=0.01, hi=720.0, doc="an alert not delivered this long is dropped (logged)"
    )

    def enabled(self, kind: str) -> bool:
        """Whether alerts of ``kind`` (a field name above) go out; unknown kinds do."""
        value = getattr(self, kind, True)
        return value if isinstance(value, bool) else True


@dataclass(frozen=True)
class HealthConfig:
    """Thresholds of ``workstation health`` and the status strip's health cell."""

    scan_grace_min: float = param(
        30.0, lo=1.0, hi=720.0, doc="the nightly scan counts as missed this long after its time"
    )
    step_grace_min: float = param(
        5.0, lo=0.5, hi=240.0, doc="a step not done this long after its time is reported"
    )
    heartbeat_stale_s: float = param(
        180.0, lo=10.0, hi=86400.0, doc="a running engine that wrote nothing for this long"
    )
    data_stale_min: float = param(
        10.0, lo=1.0, hi=390.0, doc="no price of a held symbol this long in market hours"
    )
    stop_tolerance: float = param(
        0.011, lo=0.0, hi=10.0, doc="dollars a resting stop may differ from its level"
    )
    min_free_disk_mb: float = param(500.0, lo=1.0, hi=1e7, doc="below: degraded")
    critical_free_disk_mb: float = param(100.0, lo=0.0, hi=1e7, doc="below: failed")
    backup_max_age_h: float = param(
        26.0, lo=0.1, hi=8760.0, doc="the store's newest backup may be this old"
    )


@dataclass(frozen=True)
class StoreConfig:
    """Online backups of the store (SQLite's backup API, a consistent copy while it runs)."""

    backup_every_min: int = param(
        60,
        lo=5,
        hi=1440,
        doc="minutes of real time between backups while the workstation runs (one is also "
        "taken at start and at a clean stop)",
    )
    backups_kept: int = param(10, lo=1, hi=100, doc="newest backups kept; older ones are deleted")
    backup_dir: str = param("", doc="folder of the backups; empty: the data folder's backups/")


@dataclass(frozen=True)
class BacktestConfig:
    """A backtest's account, costs and modelling choices (rules §15)."""

    starting_equity: float = param(100_000.0, lo=1_000.0, hi=1e10)
    slippage_bps: float = param(
        2.0, lo=0.0, hi=500.0, doc="market orders and triggered stops, against the print"
    )
    open_slippage_bps: float = param(0.0, lo=0.0, hi=500.0, doc="orders filled at the open")
    commission_per_share: float = param(0.0, lo=0.0, hi=1.0, doc="0 on Alpaca")
    sec_fee_rate: float = param(
        0.0000278, lo=0.0, hi=0.01, doc="regulatory fee on sells, share of the proceeds"
    )
    taf_per_share: float = param(0.000166, lo=0.0, hi=0.01, doc="FINRA TAF on sells, per share")
    taf_max: float = param(8.30, lo=0.0, hi=1000.0, doc="FINRA TAF cap per sell")
    fill_model: str = param(
        "path",
        choices=("path", "pessimistic"),
        doc="pessimistic: a day whose range spans both SL and TP touches the SL first",
    )
    seed: int = param(0, lo=0, hi=2**31 - 1, doc="seed of the intraday paths inside each day")
    universe: str = param(
        "auto",
        choices=("auto", "pit", "current"),
        doc="pit: S&P 500 members of each session; current: today's (survivorship "
        "bias); auto: pit on real data, current on the simulated market",
    )
    years: float = param(3.0, lo=0.1, hi=50.0, doc="default period: the last N years with data")
    scan_workers: int = param(
        0, lo=0, hi=64, doc="processes scanning ahead; 0: one per core but the engine's"
    )
    risk_free_rate: float = param(0.0, lo=-0.1, hi=0.5, doc="annual, for Sharpe and Sortino")


@dataclass(frozen=True)
class AppConfig:
    mode: str = param("sim", choices=("sim", "paper", "live", "backtest"))
    market: str = param("sim", doc="'sim', 'replay:PATH' or 'alpaca'")
    sim: SimConfig = dataclasses.field(default_factory=SimConfig)
    alpaca: AlpacaConfig = dataclasses.field(default_factory=AlpacaConfig)
    store: StoreConfig = dataclasses.field(default_factory=StoreConfig)
    theme: str = param("dark", choices=("dark", "light"))
    notify: NotifyConfig = dataclasses.field(default_factory=NotifyConfig)
    health: HealthConfig = dataclasses.field(default_factory=HealthConfig)
    backtest: BacktestConfig = dataclasses.field(default_factory=BacktestConfig)

    def __post_init__(self) -> None:
        if not (self.market in ("sim", "alpaca") or self.market.startswith("replay:")):
            raise ValueError(
                f"market = {self.market!r} is not valid: allowed 'sim', 'replay:PATH' or 'alpaca'"
            )


# ------------------------------------------------------------------ the whole set


@dataclass(frozen=True)
class Config:
    """The active configuration: one validated object per file."""

    FILES: ClassVar[tuple[str, ...]] = (
        "scanner.yaml",
        "strategies.yaml",
        "risk.yaml",
        "schedule.yaml",
        "app.yaml",
    )

    scanner: ScannerConfig = dataclasses.field(default_factory=ScannerConfig)
    strategies: Mapping[str, StrategyParams] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )
    risk: RiskConfig = dataclasses.field(default_factory=RiskConfig)
    schedule: ScheduleConfig = dataclasses.field(default_factory=ScheduleConfig)
    app: AppConfig = dataclasses.field(default_factory=AppConfig)

    def strategy_order(self) -> tuple[str, ...]:
        """Strategy names in file order: ties in score go to the one listed first."""
        return tuple(self.strategies)

    def trading_params(self) -> dict[str, Any]:
        """Everything that decides trades (not app.yaml), as plain data."""
        return {
            "scanner": to_plain(self.scanner),
            "strategies": {k: to_plain(v) for k, v in self.strategies.items()},
            "risk": to_plain(self.risk),
            "schedule": to_plain(self.schedule),
        }

    @functools.cached_property
    def param_hash(self) -> str:
        """Stable hash of the trading parameters, recorded with every scan (computed once:
        a configuration never changes; a new one is a new object)."""
        blob = json.dumps(self.trading_params(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


SECTIONS: dict[str, type] = {
    "scanner.yaml": ScannerConfig,
    "risk.yaml": RiskConfig,
    "schedule.yaml": ScheduleConfig,
    "app.yaml": AppConfig,
}


def build_strategies(data: Any, where: str = "strategies.yaml") -> dict[str, StrategyParams]:
    """Validate the strategies file: each block against its module's parameter class."""
    _load_strategy_modules()
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise SchemaError([f"{where}: must be a mapping of strategy name to its parameters"])
    errors: list[str] = []
    out: dict[str, StrategyParams] = {}
    for name, block in data.items():
        cls = STRATEGY_PARAMS.get(str(name))
        if cls is None:
            known = ", ".join(STRATEGY_PARAMS) or "none registered"
            errors.append(f"{where}: unknown strategy '{name}' (known: {known})")
            continue
        try:
            out[str(name)] = build(cls, block, where=where, path=str(name))
        except SchemaError as exc:
            errors.extend(exc.errors)
    if errors:
        raise SchemaError(errors)
    return out


def build_section(filename: str, data: Any) -> Any:
    if filename == "strategies.yaml":
        return MappingProxyType(build_strategies(data, filename))
    return build(SECTIONS[filename], data, where=filename)
