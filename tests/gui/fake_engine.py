"""An in-memory engine implementing :class:`~workstation.engine.api.EngineAPI`.

The GUI is built and tested against this before (and besides) the real engines. Its data
is deterministic and realistic: the nightly top 12 come from the real strategies and the
real ranking (so the explanations and the passed-over lists are the real ones), prices are
seeded random walks, the journal holds closed trades of every exit reason plus vetoed
outcomes. Every command is recorded in :attr:`FakeEngine.calls`.

Two scenarios:

* ``"premarket"`` (default): 09:12 ET, the candidates still pending (approve/veto allowed),
  no gap results or entry orders yet; open positions from earlier sessions.
* ``"session"``: 11:05 ET, approvals decided, gap results, today's entry orders and fills,
  day-1 positions next to older ones (what the screenshots show).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from workstation.core.calendar import ET
from workstation.core.config import Config
from workstation.core.config_files import load_config
from workstation.core.events import (
    ClockChanged,
    ConfigReloaded,
    EventBus,
    LogEvent,
    ScanFinished,
    ScanStarted,
)
from workstation.core.models import (
    ApprovalState,
    ExitReason,
    Group,
    OrderIntent,
    OrderSide,
    OrderStatus,
    OrderType,
    Regime,
    Side,
    TimeInForce,
    client_order_id,
)
from workstation.core.paths import shipped_config_dir
from workstation.engine.api import CommandRefused, ConfirmationNeeded
from workstation.engine.outcomes import candidate_outcome
from workstation.engine.regime_view import build_regime_view
from workstation.engine.risk_view import build_risk
from workstation.engine.rules.entries import StopTarget
from workstation.engine.rules.levels import LevelCheck, check_levels
from workstation.engine.views import (
    CandidateView,
    ConnectionView,
    DecisionView,
    GapView,
    Mode,
    OrderView,
    PassedOverView,
    PositionView,
    RegimeView,
    RiskView,
    ScanReportView,
    StatusView,
    TradeView,
    VetoState,
    VetoView,
    ViewName,
    ViewsChanged,
)
from workstation.signals.ranking import RankingResult, rank_candidates
from workstation.signals.strategy_api import StrategyInputs, evaluate_all
from workstation.ui.chart_data import chart_data

SCAN_SESSION = date(2025, 3, 11)
TRADE_SESSION = date(2025, 3, 12)
PREV_SESSIONS = (date(2025, 3, 6), date(2025, 3, 7), date(2025, 3, 10), date(2025, 3, 11))

# (symbol, sector, plan): the plan decides which strategy the crafted indicators fire.
UNIVERSE: tuple[tuple[str, str, str], ...] = (
    ("NVDA", "Information Technology", "momentum"),
    ("AVGO", "Information Technology", "momentum"),
    ("ORCL", "Information Technology", "pullback"),
    ("CRM", "Information Technology", "squeeze"),
    ("ADBE", "Information Technology", "pullback"),
    ("AMD", "Information Technology", "overbought"),
    ("JPM", "Financials", "pullback"),
    ("GS", "Financials", "squeeze"),
    ("BAC", "Financials", "none"),
    ("V", "Financials", "none"),
    ("UNH", "Health Care", "reversion"),
    ("LLY", "Health Care", "momentum"),
    ("ABBV", "Health Care", "none"),
    ("PFE", "Health Care", "none"),
    ("XOM", "Energy", "squeeze"),
    ("CVX", "Energy", "none"),
    ("COP", "Energy", "reversion"),
    ("AMZN", "Consumer Discretionary", "pullback"),
    ("HD", "Consumer Discretionary", "none"),
    ("TSLA", "Consumer Discretionary", "overbought"),
    ("MCD", "Consumer Discretionary", "overbought"),
    ("PG", "Consumer Staples", "reversion"),
    ("KO", "Consumer Staples", "none"),
    ("COST", "Consumer Staples", "none"),
    ("CAT", "Industrials", "momentum"),
    ("GE", "Industrials", "pullback"),
    ("HON", "Industrials", "reversion"),
    ("UPS", "Industrials", "none"),
    ("GOOGL", "Communication Services", "squeeze"),
    ("META", "Communication Services", "none"),
    ("NFLX", "Communication Services", "overbought"),
    ("NEE", "Utilities", "reversion"),
    ("DUK", "Utilities", "none"),
    ("PLD", "Real Estate", "none"),
    ("AMT", "Real Estate", "none"),
    ("LIN", "Materials", "pullback"),
    ("SHW", "Materials", "none"),
    ("MSFT", "Information Technology", "squeeze"),
    ("WMT", "Consumer Staples", "none"),
    ("MA", "Financials", "none"),
)

SECTORS = {s: sec for s, sec, _ in UNIVERSE}


def _rng(*keys: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32("|".join(map(str, keys)).encode()))


def _base_price(symbol: str) -> float:
    return float(40 + (zlib.crc32(symbol.encode()) % 560))


def _inputs() -> StrategyInputs:
    """Indicator values crafted so that each symbol's plan fires (with some noise)."""
    n = len(UNIVERSE)
    cols = {
        k: np.zeros(n)
        for k in (
            "close",
            "rsi14",
            "bb_up",
            "bw_pct",
            "prev_bw_pct",
            "adx14",
            "pdi",
            "mdi",
            "atr14",
            "sma50",
            "sma200",
            "ema20",
            "roc20",
            "dv20",
        )
    }
    for i, (sym, _sector, plan) in enumerate(UNIVERSE):
        r = _rng("inputs", sym)
        close = _base_price(sym)
        v = {
            "close": close,
            "rsi14": 50.0,
            "bb_up": close * 1.05,
            "bw_pct": 0.5,
            "prev_bw_pct": 0.5,
            "adx14": 15.0,
            "pdi": 20.0,
            "mdi": 22.0,
            "atr14": close * r.uniform(0.015, 0.03),
            "sma50": close * 1.02,
            "sma200": close * 0.95,
            "ema20": close * 0.97,
            "roc20": r.uniform(-0.05, 0.04),
            "dv20": r.uniform(1.5e8, 4e9),
        }
        if plan == "momentum":
            v.update(
                sma50=close * 0.94,
                sma200=close * 0.85,
                adx14=r.uniform(24, 38),
                roc20=r.uniform(0.12, 0.25),
            )
        elif plan == "pullback":
            v.update(
                adx14=r.uniform(28, 42),
                pdi=28.0,
                mdi=14.0,
                sma50=close * 0.96,
                ema20=close * r.uniform(0.992, 1.008),
                rsi14=r.uniform(42, 53),
            )
        elif plan == "squeeze":
            v.update(prev_bw_pct=r.uniform(0.0, 0.12), bb_up=close * 0.995, bw_pct=0.3)
        elif plan == "reversion":
            v.update(rsi14=r.uniform(18, 29), sma200=close * 0.9)
        elif plan == "overbought":
            v.update(rsi14=r.uniform(76, 88), bb_up=close * 0.98)
        for k, x in v.items():
            cols[k][i] = x
    return StrategyInputs(
        symbols=tuple(s for s, _, _ in UNIVERSE),
        eligible=np.ones(n, dtype=bool),
        regime=Regime.RANGING,
        **cols,
    )


def _ranking(config: Config) -> RankingResult:
    data = _inputs()
    results = evaluate_all(data, config.strategies)
    return rank_candidates(
        SCAN_SESSION,
        data,
        SECTORS,
        results,
        config.strategies,
        config.scanner.regime,
        config.scanner.ranking,
        config.strategy_order(),
    )


def _passed_over(result: RankingResult, symbol: str, last: bool) -> tuple[PassedOverView, ...]:
    """The entries that lost to ``symbol``'s pick (what the real engine is expected to do)."""
    out = [
        PassedOverView.from_dict(p.as_dict()) for p in result.passed_over if symbol in p.blocked_by
    ]
    out += [
        PassedOverView.from_superseded(s.as_dict()) for s in result.superseded if s.symbol == symbol
    ]
    if last:
        out += [PassedOverView.from_dict(p.as_dict()) for p in result.runners_up]
    return tuple(out)


def _walk(symbol: str, start: float, n: int, vol: float, *key: object) -> np.ndarray:
    r = _rng("walk", symbol, *key)
    steps = r.normal(0.0002, vol, n)
    return start * np.exp(np.cumsum(steps))


def _ohlc_from_path(path: np.ndarray, symbol: str, spread: float, *key: object) -> pd.DataFrame:
    r = _rng("ohlc", symbol, *key)
    close = path
    open_ = np.concatenate([[path[0]], path[:-1]]) * (1 + r.normal(0, spread / 3, len(path)))
    hi = np.maximum(open_, close) * (1 + np.abs(r.normal(0, spread, len(path))))
    lo = np.minimum(open_, close) * (1 - np.abs(r.normal(0, spread, len(path))))
    vol = r.uniform(2e5, 2e6, len(path)).round()
    return pd.DataFrame({"open": open_, "high": hi, "low": lo, "close": close, "volume": vol})


@dataclass
class _Cand:
    view: CandidateView


class FakeEngine:
    """Everything the GUI needs, in memory. ``calls`` records every command received."""

    def __init__(self, scenario: str = "premarket", mode: Mode = Mode.SIM) -> None:
        if scenario not in ("premarket", "session"):
            raise ValueError(f"unknown scenario {scenario!r}")
        self.scenario = scenario
        self.mode = mode
        self._events = EventBus()
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.config = load_config(shipped_config_dir())
        self.now = (
            datetime(2025, 3, 12, 9, 12, tzinfo=ET)
            if scenario == "premarket"
            else datetime(2025, 3, 12, 11, 5, tzinfo=ET)
        )
        self.speed = 60.0
        self.paused = False
        self.kill_switch = False
        self.kill_reason = ""
        self.shutdown_called = 0
        self.refuse_next: str | None = None  # make the next command raise CommandRefused
        self.scan_review = False
        self.pause_reason = ""
        self.ranking = _ranking(self.config)
        self._candidates = self._make_candidates()
        self._scan_report: ScanReportView | None = ScanReportView(
            session=SCAN_SESSION,
            status="ok",
            regime=str(self.ranking.regime),
            loaded=502,
            eligible=471,
            stale=("BRK.B",),
            ineligible={"spike": 1, "too_few_bars": 2, "dollar_volume_below_min": 27},
            data_problems={
                "counts": {"spike": 1, "repaired": 2, "zero_volume": 1},
                "by_kind": {
                    "spike": {"MRNA": ["2025-02-26"]},
                    "repaired": {"AAPL": ["2024-09-17"], "AMD": ["2024-09-10"]},
                    "zero_volume": {"NWS": ["2024-12-24"]},
                },
            },
        )
        self._positions = self._make_positions()
        self._positions = tuple(self._excursions_from_bars(p) for p in self._positions)
        self._gaps = self._make_gaps() if scenario == "session" else ()
        self._regime_values: dict[str, Any] | None = None  # computed when first asked
        self._capped: int | None = None  # a candidate the position cap kept out (session)
        self._orders = self._make_orders() if scenario == "session" else ()
        if scenario == "session":
            self._set_outcomes()
        self._trades = self._make_trades()
        self._vetoes = self._make_vetoes()
        self._equity = self._make_equity()
        self._logs: list[LogEvent] = self._make_logs()

    # ------------------------------------------------------------------ protocol
    @property
    def events(self) -> EventBus:
        return self._events

    def status(self) -> StatusView:
        step, at = self._next_step()
        open_pnl = sum(p.pnl for p in self._positions)
        return StatusView(
            mode=self.mode,
            now=self.now,
            market_state="pre_market" if self.now.time() < time(9, 30) else "open",
            next_step=step,
            next_step_at=at,
            regime=str(self.ranking.regime),
            kill_switch=self.kill_switch,
            kill_reason=self.kill_reason,
            equity=float(self._equity.iloc[-1]) + open_pnl * 0.35,
            day_pnl=open_pnl * 0.35,
            clock_speed=self.speed,
            clock_paused=self.paused,
            connections=(
                ConnectionView("market-data", "connected", "simulated market"),
                ConnectionView("trading", "connected", "simulated broker"),
            )
            if self.mode is Mode.SIM
            else (
                ConnectionView("market-data", "connected", "Alpaca iex"),
                ConnectionView("data-stream", "degraded", "reconnecting (attempt 2)"),
                ConnectionView("trading", "connected", "Alpaca"),
                ConnectionView("trading-stream", "connected", ""),
            ),
            session=TRADE_SESSION,
            clock_adjustable=self.mode is Mode.SIM,
            param_hash=self.config.param_hash,
            scan_review=self.scan_review,
            pause_reason=self.pause_reason if self.paused else "",
        )

    def candidates(self) -> tuple[CandidateView, ...]:
        return tuple(c.view for c in self._candidates)

    def scan_report(self) -> ScanReportView | None:
        return self._scan_report

    def gaps(self) -> tuple[GapView, ...]:
        return self._gaps

    def orders(self) -> tuple[OrderView, ...]:
        return self._orders

    def positions(self) -> tuple[PositionView, ...]:
        return self._positions

    def trades(self) -> tuple[TradeView, ...]:
        return self._trades

    def vetoes(self) -> tuple[VetoView, ...]:
        return self._vetoes

    def equity_curve(self) -> pd.Series:
        return self._equity

    def recent_logs(self, limit: int = 1000) -> tuple[LogEvent, ...]:
        return tuple(self._logs[-limit:])

    def symbols(self) -> tuple[str, ...]:
        return (*sorted(SECTORS), "SPY")

    def daily_bars(self, symbol: str, n: int) -> pd.DataFrame:
        if symbol == "SPY":
            return self._spy_bars(n)
        if symbol not in SECTORS:
            return pd.DataFrame(columns=["open", "high", "low", "close", "volume"])
        days = pd.bdate_range(end=pd.Timestamp(SCAN_SESSION), periods=max(n, 1), tz=ET)
        end = next(
            (c.view.close for c in self._candidates if c.view.symbol == symbol),
            _base_price(symbol),
        )
        path = _walk(symbol, 1.0, len(days), 0.016, "daily")
        path = path * end / path[-1]
        df = _ohlc_from_path(path, symbol, 0.006, "daily")
        df.index = days
        return df

    def _spy_bars(self, n: int) -> pd.DataFrame:
        """SPY: a calm uptrend, a sell-off with high volatility, a recovery, then a range up to
        the scan session (so its history holds every regime and today is RANGING)."""
        segments = [(170, 0.0009, 0.007), (45, -0.0035, 0.024), (120, 0.0014, 0.009)]
        segments.append((90, 0.0, 0.007))
        r = _rng("spy")
        steps = np.concatenate([r.normal(mu, sd, k) for k, mu, sd in segments])
        # The range: pulled back towards its mean, so the SMAs are not stacked at the end.
        path = 380.0 * np.exp(np.cumsum(steps))
        tail = segments[-1][0]
        path[-tail:] = path[-tail - 1] * (1 + 0.025 * np.sin(np.linspace(0, 5 * np.pi, tail)))
        path[-tail:] *= np.exp(r.normal(0, 0.004, tail))
        days = pd.bdate_range(end=pd.Timestamp(SCAN_SESSION), periods=len(path), tz=ET)
        df = _ohlc_from_path(path, "SPY", 0.004, "daily")
        df.index = days
        return df.iloc[-max(n, 1) :]

    def intraday(self, symbol: str) -> pd.DataFrame:
        if symbol not in SECTORS:
            return pd.DataFrame(columns=["open", "high", "low", "close", "volume"])
        session_open = datetime.combine(TRADE_SESSION, time(9, 30), ET)
        if self.now <= session_open:  # before the open: the previous session's full day
            session_open = datetime.combine(SCAN_SESSION, time(9, 30), ET)
            minutes = 390
        else:
            minutes = max(1, int((self.now - session_open).total_seconds() // 60))
        pos = next((p for p in self._positions if p.symbol == symbol), None)
        path = _walk(symbol, _base_price(symbol), minutes, 0.0011, "intraday", session_open.date())
        if pos is not None and minutes > 1:
            # A held position's path runs from the fill (day 1) or the open to its last price.
            start = pos.fill_price if pos.day_one else path[0]
            drift = np.linspace(0.0, 1.0, minutes)
            path = path / path[0] * start
            path = path * (pos.last / path[-1]) ** drift
        df = _ohlc_from_path(path, symbol, 0.0006, "intraday")
        df.index = pd.DatetimeIndex(
            [session_open + timedelta(minutes=k + 1) for k in range(minutes)]
        )
        return df

    # ------------------------------------------------------------------ commands
    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if self.refuse_next is not None:
            msg, self.refuse_next = self.refuse_next, None
            raise CommandRefused(msg)

    def _publish(self, *views: ViewName) -> None:
        self._events.publish(ViewsChanged.of(self.now, *views))

    def log(self, level: str, source: str, message: str) -> LogEvent:
        ev = LogEvent(self.now, level, source, message)
        self._logs.append(ev)
        self._events.publish(ev)
        return ev

    def _decide(self, candidate_id: int, state: ApprovalState, note: str) -> None:
        for c in self._candidates:
            if c.view.id == candidate_id:
                if not c.view.decidable:
                    raise CommandRefused(
                        f"{c.view.symbol}: its entry time has passed; it can no longer be "
                        f"{'approved' if state is ApprovalState.APPROVED else 'vetoed'}"
                    )
                if state is ApprovalState.PENDING and c.view.approval not in (
                    ApprovalState.APPROVED,
                    ApprovalState.VETOED,
                ):
                    raise CommandRefused(f"{c.view.symbol}: nothing to undo: it is still pending")
                decision = DecisionView(self.now, state, "user", note)
                c.view = replace(
                    c.view, approval=state, note=note, history=(*c.view.history, decision)
                )
                self.log("INFO", "approvals", f"{c.view.symbol} {state} {note}".strip())
                self._publish(ViewName.CANDIDATES)
                return
        raise CommandRefused(f"no candidate with id {candidate_id}")

    def approve(self, candidate_id: int, note: str = "") -> None:
        self._record("approve", candidate_id, note)
        self._decide(candidate_id, ApprovalState.APPROVED, note)

    def veto(self, candidate_id: int, note: str = "") -> None:
        self._record("veto", candidate_id, note)
        self._decide(candidate_id, ApprovalState.VETOED, note)

    def undo_decision(self, candidate_id: int) -> None:
        self._record("undo_decision", candidate_id)
        self._decide(candidate_id, ApprovalState.PENDING, "")

    def engage_kill_switch(self) -> None:
        self._record("engage_kill_switch")
        self.kill_switch, self.kill_reason = True, "manual"
        self.log("WARNING", "risk", "kill switch engaged (manual): new entries blocked")
        self._publish(ViewName.STATUS, ViewName.ORDERS)

    def release_kill_switch(self) -> None:
        self._record("release_kill_switch")
        self.kill_switch, self.kill_reason = False, ""
        self.log("INFO", "risk", "kill switch released")
        self._publish(ViewName.STATUS)

    def flatten_all(self) -> None:
        self._record("flatten_all")
        self.log("WARNING", "orders", f"flatten all: closing {len(self._positions)} positions")
        self._positions = ()
        self._publish(ViewName.POSITIONS, ViewName.ORDERS, ViewName.STATUS)

    def _position(self, symbol: str) -> PositionView:
        p = next((p for p in self._positions if p.symbol == symbol), None)
        if p is None:
            raise CommandRefused(f"there is no open position in {symbol}")
        return p

    def close_position(self, symbol: str) -> None:
        self._record("close_position", symbol)
        p = self._position(symbol)
        if p.exiting:
            raise CommandRefused(f"{symbol} is already being exited")
        self._positions = tuple(x for x in self._positions if x.symbol != symbol)
        self.log("INFO", "positions", f"{symbol}: closed MANUAL @ {p.last:,.2f}")
        self._publish(ViewName.POSITIONS, ViewName.ORDERS, ViewName.STATUS, ViewName.TRADES)

    def check_levels(
        self,
        symbol: str,
        sl: float | None = None,
        tp: float | None = None,
        beyond_emergency_ok: bool = False,
    ) -> LevelCheck:
        p = self._position(symbol)
        return check_levels(
            p.side,
            p.fill_price,
            p.last,
            p.day,
            StopTarget(p.sl, p.tp),
            StopTarget(p.rule_sl, p.rule_tp),
            sl,
            tp,
            self.config.risk.exits,
            beyond_emergency_ok=beyond_emergency_ok,
        )

    def move_levels(
        self,
        symbol: str,
        sl: float | None = None,
        tp: float | None = None,
        beyond_emergency_ok: bool = False,
        note: str = "",
    ) -> None:
        self._record("move_levels", symbol, sl, tp, beyond_emergency_ok, note)
        c = self.check_levels(symbol, sl, tp, beyond_emergency_ok)
        if not c.ok:
            raise CommandRefused(f"{symbol}: {c.detail}")
        p = self._position(symbol)
        moved = replace(
            p,
            sl=c.sl,
            tp=c.tp,
            sl_moved=abs(c.sl - p.rule_sl) > 1e-9,
            tp_moved=abs(c.tp - p.rule_tp) > 1e-9,
        )
        self._positions = tuple(moved if x.symbol == symbol else x for x in self._positions)
        self.log("INFO", "positions", f"{symbol}: {c.detail} by the user")
        self._publish(ViewName.POSITIONS, ViewName.ORDERS)

    def run_scan_now(self, confirm: bool = False) -> None:
        """As the engine: refused once the entry times began (the session scenario); a list
        with decisions needs ``confirm``; the same list comes back with its decisions."""
        self._record("run_scan_now", *((True,) if confirm else ()))
        decided = [
            c.view
            for c in self._candidates
            if c.view.approval in (ApprovalState.APPROVED, ApprovalState.VETOED)
        ]
        if not any(c.view.decidable for c in self._candidates):
            raise CommandRefused(
                f"the scan of {SCAN_SESSION:%a %Y-%m-%d} is traded from Wed 2025-03-12 09:25 "
                "ET (its entry times have begun): its list is kept as it is, never re-run"
            )
        if decided and not confirm:
            raise ConfirmationNeeded(
                f"The scan of {SCAN_SESSION:%a %Y-%m-%d} already has {len(decided)} decisions. "
                "Re-running it replaces the list: each decision is carried over."
            )
        self._events.publish(ScanStarted(self.now, SCAN_SESSION))
        report = dict(self.ranking.report_dict())
        report.update(decisions_carried=len(decided), decisions_dropped=[])
        self._events.publish(
            ScanFinished(
                self.now,
                SCAN_SESSION,
                1,
                str(self.ranking.regime),
                tuple(self.ranking.candidates),
                report,
            )
        )
        self.log("INFO", "scanner", f"scan of {SCAN_SESSION} done: {len(self._candidates)} picks")
        self._publish(ViewName.CANDIDATES, ViewName.STATUS)

    def _clock_changed(self) -> None:
        self._events.publish(ClockChanged(self.now, self.speed, self.paused))
        self._publish(ViewName.STATUS)

    def set_speed(self, speed: float) -> None:
        self._record("set_speed", speed)
        if self.mode is not Mode.SIM:
            raise CommandRefused("the clock runs in real time outside the simulation")
        self.speed = speed
        self._clock_changed()

    def pause(self) -> None:
        self._record("pause")
        self.paused = True
        self._clock_changed()

    def set_scan_review(self, on: bool) -> None:
        # A setting the window applies as it opens: not in ``calls`` (those are commands).
        self.scan_review = on
        self._publish(ViewName.STATUS)

    def resume(self) -> None:
        self._record("resume")
        self.paused = False
        self.pause_reason = ""
        self._clock_changed()

    def jump_to_next(self) -> None:
        self._record("jump_to_next")
        _, at = self._next_step()
        if at is not None:
            self.now = at
        self._clock_changed()

    def reload_params(self) -> None:
        self._record("reload_params")
        self._events.publish(ConfigReloaded(self.now, self.config.param_hash))

    def shutdown(self) -> None:
        self.shutdown_called += 1

    # ------------------------------------------------------------ test helpers
    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self._publish(ViewName.STATUS)

    # ------------------------------------------------------------------ builders
    def _next_step(self) -> tuple[str, datetime | None]:
        steps = [
            ("Gap filter", time(9, 25)),
            ("Group A entries (market-on-open)", time(9, 28)),
            ("Group B confirmation", time(9, 50)),
            ("Entry cutoff", time(10, 0)),
            ("Time exit (day 5)", time(15, 50)),
            ("End-of-day bookkeeping", time(16, 5)),
            ("Nightly scan", time(20, 0)),
        ]
        for name, t in steps:
            at = datetime.combine(self.now.date(), t, ET)
            if at > self.now:
                return name, at
        return "Gap filter", datetime.combine(self.now.date() + timedelta(days=1), time(9, 25), ET)

    def _make_candidates(self) -> list[_Cand]:
        res = self.ranking
        out = []
        decided = {
            2: (ApprovalState.VETOED, "earnings Thursday"),
            7: (ApprovalState.VETOED, "sector feels crowded"),
            11: (ApprovalState.SKIPPED, ""),
        }
        n = len(res.candidates)
        for c in res.candidates:
            if self.scenario == "session":
                approval, note = decided.get(c.rank, (ApprovalState.APPROVED, ""))
            else:
                approval, note = ApprovalState.PENDING, ""
            view = CandidateView(
                id=100 + c.rank,
                session=c.session,
                rank=c.rank,
                symbol=c.symbol,
                sector=c.sector,
                strategy=c.strategy,
                side=c.side,
                group=c.group,
                score=c.score,
                parts=c.parts,
                approval=approval,
                note=note,
                close=c.close,
                atr14=c.atr14,
                sl_mult=c.sl_mult,
                tp_mult=c.tp_mult,
                regime=str(c.regime),
                indicators=dict(c.indicators),
                explanation=res.explain(c.symbol).as_dict(),
                passed_over=_passed_over(res, c.symbol, c.rank == n),
                decidable=self.scenario == "premarket",
                decide_by=datetime.combine(
                    TRADE_SESSION, time(9, 25) if c.group is Group.A else time(9, 50), ET
                ),
                history=(
                    ()
                    if approval is ApprovalState.PENDING
                    else (
                        DecisionView(
                            datetime.combine(SCAN_SESSION, time(21, 10 + c.rank), ET),
                            approval,
                            "policy" if approval is ApprovalState.SKIPPED else "user",
                            note,
                        ),
                    )
                ),
            )
            out.append(_Cand(view))
        return out

    def _make_gaps(self) -> tuple[GapView, ...]:
        out = []
        for c in self.candidates():
            r = _rng("gap", c.symbol)
            gap = float(r.normal(0, 0.012))
            source = "trade"
            reason, passed = "GAP_WITHIN_LIMIT", True
            if c.rank == 4:
                gap = 0.0412
            if c.rank == 9:
                gap = -0.0335
            if c.rank == 6:
                source = "quote"
            if abs(gap) > self.config.risk.gap.max_abs_gap:
                reason, passed = "GAP_TOO_LARGE", False
            price = c.close * (1 + gap)
            detail = (
                f"{source} {price:.2f} vs previous close {c.close:.2f}: gap {gap:+.2%} "
                f"{'within' if passed else 'beyond'} ±{self.config.risk.gap.max_abs_gap:.0%}"
            )
            out.append(
                GapView(
                    c.id,
                    c.symbol,
                    c.strategy,
                    c.side,
                    c.group,
                    c.close,
                    price,
                    source,
                    gap,
                    passed,
                    reason,
                    detail,
                    datetime.combine(TRADE_SESSION, time(9, 25), ET),
                )
            )
        return tuple(out)

    def _make_orders(self) -> tuple[OrderView, ...]:
        gaps = {g.candidate_id: g for g in self._gaps}
        out: list[OrderView] = []
        # The last approved group B pick finds the regime's position cap reached: no order.
        self._capped = next(
            (
                c.id
                for c in reversed(self.candidates())
                if c.approval is ApprovalState.APPROVED
                and gaps[c.id].passed
                and c.group is Group.B
                and c.rank not in (10, 12)
            ),
            None,
        )
        for c in self.candidates():
            if c.approval is not ApprovalState.APPROVED or not gaps[c.id].passed:
                continue
            if c.id == self._capped:
                continue
            cid = client_order_id(TRADE_SESSION, c.symbol, c.strategy, OrderIntent.ENTRY)
            qty = max(1, math.floor(100_000 * 0.005 / (c.sl_mult * c.atr14)))
            qty = min(qty, math.floor(15_000 / c.close))
            pos = next((p for p in self._positions if p.symbol == c.symbol), None)
            fill = pos.fill_price if pos else c.close * 1.001
            if c.group is Group.A:
                out.append(
                    OrderView(
                        cid,
                        c.symbol,
                        OrderSide.to_open(c.side),
                        qty,
                        OrderType.MARKET,
                        TimeInForce.OPG,
                        OrderStatus.FILLED,
                        strategy=c.strategy,
                        group=c.group,
                        filled_qty=qty,
                        avg_price=fill,
                        updated_at=datetime.combine(TRADE_SESSION, time(9, 30, 1), ET),
                    )
                )
                continue
            open_ = c.close * 1.002
            thr = open_ * (
                self.config.risk.entries.confirm_long
                if c.side is Side.LONG
                else self.config.risk.entries.confirm_short
            )
            move = 0.004 if c.rank != 10 else -0.009  # rank 10 moves against: not confirmed
            price = open_ * (1 + c.side.sign * move)
            confirmed = price >= thr if c.side is Side.LONG else price <= thr
            status = OrderStatus.FILLED if confirmed else OrderStatus.REJECTED
            worse = "below" if c.side is Side.LONG else "above"
            reject = (
                ""
                if confirmed
                else f"NOT_CONFIRMED: latest trade {price:.2f} {worse} the threshold {thr:.2f} "
                f"(official open {open_:.2f}, {c.side})"
            )
            if c.rank == 12:
                status, reject = OrderStatus.REJECTED, "insufficient buying power"
            out.append(
                OrderView(
                    cid,
                    c.symbol,
                    OrderSide.to_open(c.side),
                    qty,
                    OrderType.MARKET,
                    TimeInForce.DAY,
                    status,
                    strategy=c.strategy,
                    group=c.group,
                    filled_qty=qty if status is OrderStatus.FILLED else 0,
                    avg_price=fill if status is OrderStatus.FILLED else None,
                    sent=confirmed,  # as the engine: not confirmed -> no order at all
                    confirm_open=open_,
                    confirm_price=price,
                    confirm_threshold=thr,
                    confirmed=confirmed,
                    reject_reason=reject,
                    updated_at=datetime.combine(TRADE_SESSION, time(9, 50, 2), ET),
                )
            )
        for p in self._positions:
            out.append(
                OrderView(
                    client_order_id(TRADE_SESSION, p.symbol, p.strategy, OrderIntent.STOP),
                    p.symbol,
                    OrderSide.to_close(p.side),
                    p.qty,
                    OrderType.STOP,
                    TimeInForce.GTC,
                    OrderStatus.ACCEPTED,
                    intent=OrderIntent.STOP,
                    strategy=p.strategy,
                    stop_price=round(p.active_stop, 2),
                    updated_at=datetime.combine(TRADE_SESSION, time(9, 31), ET),
                    broker_status="new",  # as Alpaca shows a routed stop
                )
            )
        return tuple(out)

    def _set_outcomes(self) -> None:
        """What became of each candidate, in the engine's words (``engine.outcomes``)."""
        gaps = {g.candidate_id: g for g in self._gaps}
        entries = {o.symbol: o for o in self._orders if o.intent is OrderIntent.ENTRY}
        cap = self.config.scanner.regime.limits(self.ranking.regime).max_positions
        for c in self._candidates:
            v = c.view
            o = entries.get(v.symbol)
            rejection = None
            order = None
            if v.id == self._capped:
                rejection = {
                    "reason": "MAX_POSITIONS",
                    "detail": f"{cap} open + 0 pending = {cap} reaches the regime's maximum "
                    f"of {cap}",
                }
            elif o is not None and o.confirmed is False:
                rejection = {"reason": "NOT_CONFIRMED", "detail": o.reject_reason}
            elif o is not None:
                order = SimpleNamespace(
                    status=str(o.status),
                    filled_qty=o.filled_qty,
                    avg_fill_price=o.avg_price,
                    reject_reason=o.reject_reason,
                )
            g = gaps.get(v.id)
            gap = SimpleNamespace(passed=g.passed, reason=g.reason, gap=g.gap) if g else None
            out = candidate_outcome(
                order=order, rejection=rejection, gap=gap, approval=str(v.approval)
            )
            if out is not None:
                c.view = replace(
                    v, outcome=out.code, outcome_text=out.text, outcome_detail=out.detail
                )

    def regime(self) -> RegimeView:
        """The scan's regime, with the values the scanner's rule gives on SPY's bars."""
        if self._regime_values is None:
            spy = chart_data(
                "SPY",
                self._spy_bars(10_000),
                self.config.scanner.indicators,
                1,
                self.config.scanner.regime,
            )
            last = spy.regimes[-1] if spy.regimes else None
            self._regime_values = last.as_dict() if last is not None else {}
        return build_regime_view(
            SCAN_SESSION,
            str(self.ranking.regime),
            self._regime_values,
            scanner=self.config.scanner,
            risk=self.config.risk,
            strategies=self.config.strategies,
        )

    def risk(self) -> RiskView:
        st = self.status()
        long_value = sum(p.qty * p.last for p in self._positions if p.side is Side.LONG)
        return build_risk(
            self._positions,
            (),
            equity=st.equity,
            cash=st.equity - long_value,
            buying_power=2 * (st.equity - long_value),
            start_equity=st.equity - st.day_pnl,
            regime=st.regime,
            scanner=self.config.scanner,
            risk=self.config.risk,
            kill_switch=self.kill_switch,
            kill_reason=self.kill_reason,
        )

    def _make_positions(self) -> tuple[PositionView, ...]:
        specs: list[tuple[str, str, Side, int, float, float]] = [
            # symbol, strategy, side, day, atr, last-move in R
            ("HD", "adx_pullback", Side.LONG, 4, 7.1, 0.9),
            ("KO", "rsi_reversion", Side.LONG, 3, 1.1, -0.4),
            ("BAC", "overbought_short", Side.SHORT, 2, 0.9, 0.6),
        ]
        if self.scenario == "session":
            for c in self.candidates():
                if (
                    c.approval is ApprovalState.APPROVED
                    and c.group is Group.A
                    and c.rank
                    not in (
                        4,
                        9,
                    )
                ):
                    specs.append((c.symbol, c.strategy, c.side, 1, c.atr14, 0.0))
        out = []
        for sym, strat, side, day, atr, move_r in specs:
            p = self.config.strategies[strat]
            r = _rng("pos", sym)
            fill = _base_price(sym) if day > 1 else _base_price(sym) * 1.001
            r1 = p.sl_atr * atr
            if day == 1:
                move_r = float(r.uniform(-0.5, 0.8))
            last = fill + side.sign * move_r * r1
            qty = max(1, min(math.floor(500 / r1), math.floor(15_000 / fill)))
            mfe_r = max(move_r, 0.0) + float(r.uniform(0.1, 0.7))
            mae_r = min(move_r, 0.0) - float(r.uniform(0.1, 0.5))
            mfe_p = fill + side.sign * mfe_r * r1
            mae_p = fill + side.sign * mae_r * r1
            entry_session = PREV_SESSIONS[-(day - 1)] if day > 1 else TRADE_SESSION
            entry_at = datetime.combine(entry_session, time(9, 30), ET)
            out.append(
                PositionView(
                    symbol=sym,
                    side=side,
                    qty=qty,
                    fill_price=fill,
                    last=last,
                    pnl=side.sign * (last - fill) * qty,
                    strategy=strat,
                    day=day,
                    day_one=day < self.config.risk.exits.sltp_from_day,
                    sl=fill - side.sign * r1,
                    tp=fill + side.sign * p.tp_atr * atr,
                    rule_sl=fill - side.sign * r1,
                    rule_tp=fill + side.sign * p.tp_atr * atr,
                    emergency=fill * (1 - side.sign * self.config.risk.exits.emergency_pct),
                    r_per_share=r1,
                    mfe_price=mfe_p,
                    mfe_pct=side.sign * (mfe_p / fill - 1),
                    mfe_r=mfe_r,
                    mae_price=mae_p,
                    mae_pct=side.sign * (mae_p / fill - 1),
                    mae_r=mae_r,
                    entry_at=entry_at,
                    mfe_at=entry_at + timedelta(minutes=int(r.integers(20, 80))),
                    mae_at=entry_at + timedelta(minutes=int(r.integers(5, 19))),
                    sector=SECTORS.get(sym, ""),
                )
            )
        return tuple(out)

    def _excursions_from_bars(self, p: PositionView) -> PositionView:
        """Day-1 MFE/MAE from today's minute bars, so the chart marks sit on the path."""
        if not p.day_one:
            return p
        df = self.intraday(p.symbol)
        if df.empty:
            return p
        fav, adv = ("high", "low") if p.side is Side.LONG else ("low", "high")
        i_f = df[fav].idxmax() if p.side is Side.LONG else df[fav].idxmin()
        i_a = df[adv].idxmin() if p.side is Side.LONG else df[adv].idxmax()
        mfe_p = max(float(df.at[i_f, fav]) * p.side.sign, p.fill_price * p.side.sign) * p.side.sign
        mae_p = min(float(df.at[i_a, adv]) * p.side.sign, p.fill_price * p.side.sign) * p.side.sign
        return replace(
            p,
            mfe_price=mfe_p,
            mfe_pct=p.side.sign * (mfe_p / p.fill_price - 1),
            mfe_r=p.side.sign * (mfe_p - p.fill_price) / p.r_per_share,
            mfe_at=i_f.to_pydatetime(),
            mae_price=mae_p,
            mae_pct=p.side.sign * (mae_p / p.fill_price - 1),
            mae_r=p.side.sign * (mae_p - p.fill_price) / p.r_per_share,
            mae_at=i_a.to_pydatetime(),
        )

    def _make_trades(self) -> tuple[TradeView, ...]:
        r = _rng("t6")
        strategies = list(self.config.strategies)
        reasons = [
            (ExitReason.TAKE_PROFIT, 0.30),
            (ExitReason.STOP_LOSS, 0.30),
            (ExitReason.TIME_EXIT, 0.28),
            (ExitReason.EMERGENCY, 0.05),
            (ExitReason.MANUAL, 0.04),
            (ExitReason.KILL_SWITCH, 0.03),
        ]
        names = [x for x, _ in reasons]
        probs = np.array([p for _, p in reasons])
        symbols = [s for s, _, _ in UNIVERSE]
        out = []
        day0 = datetime(2025, 1, 6, 9, 30, tzinfo=ET)
        for k in range(48):
            strat = strategies[k % len(strategies)]
            p = self.config.strategies[strat]
            sym = symbols[int(r.integers(0, len(symbols)))]
            side = p.side
            reason = names[int(r.choice(len(names), p=probs))]
            r_mult = {
                ExitReason.TAKE_PROFIT: p.tp_atr / p.sl_atr,
                ExitReason.STOP_LOSS: -1.0 - float(r.uniform(0, 0.15)),
                ExitReason.TIME_EXIT: float(r.normal(0.2, 0.6)),
                ExitReason.EMERGENCY: -float(r.uniform(1.6, 2.4)),
                ExitReason.MANUAL: float(r.normal(0, 0.5)),
                ExitReason.KILL_SWITCH: -float(r.uniform(0.2, 0.9)),
            }[reason]
            entry = _base_price(sym) * float(r.uniform(0.9, 1.1))
            r1 = entry * float(r.uniform(0.02, 0.05))
            qty = max(1, math.floor(500 / r1))
            exit_ = entry + side.sign * r_mult * r1
            mfe = max(r_mult, 0) + float(r.uniform(0.05, 0.8))
            # A stop fills near its level: the adverse excursion ends just past the exit.
            stopped = reason in (ExitReason.STOP_LOSS, ExitReason.EMERGENCY)
            mae = min(r_mult, 0) - float(r.uniform(0.0, 0.06) if stopped else r.uniform(0.05, 0.6))
            entry_at = day0 + timedelta(days=int(k * 1.4))
            exit_at = entry_at + timedelta(days=int(r.integers(1, 7)), hours=int(r.integers(0, 6)))
            vetoed = k % 9 == 4
            out.append(
                TradeView(
                    id=1000 + k,
                    symbol=sym,
                    side=side,
                    qty=qty,
                    strategy=strat,
                    entry_price=entry,
                    entry_at=entry_at,
                    exit_price=exit_,
                    exit_at=exit_at,
                    exit_reason=str(reason),
                    pnl=side.sign * (exit_ - entry) * qty,
                    r=r_mult,
                    mfe_r=mfe,
                    mae_r=mae,
                    vetoed=vetoed,
                    note="vetoed: earnings week" if vetoed else "",
                    sector=SECTORS.get(sym, ""),
                )
            )
        return tuple(sorted(out, key=lambda t: t.exit_at))

    def _make_vetoes(self) -> tuple[VetoView, ...]:
        """The closed paper outcomes of the journal, and one veto in each other state."""
        out = [
            VetoView(
                candidate_id=5000 + t.id,
                session=t.entry_at.date(),
                symbol=t.symbol,
                side=t.side,
                strategy=t.strategy,
                group=Group.A,
                state=VetoState.CLOSED,
                why=f"paper exit: {t.exit_reason}",
                note=t.note,
                qty=t.qty,
                entry_price=t.entry_price,
                entry_at=t.entry_at,
                exit_price=t.exit_price,
                exit_at=t.exit_at,
                exit_reason=t.exit_reason,
                pnl=t.pnl,
                r=t.r,
            )
            for t in self._trades
            if t.vetoed
        ]
        today = self.now.date()
        for i, (sym, state, why) in enumerate(
            (
                ("NVDA", VetoState.FOLLOWING, "followed on paper from 131.20"),
                ("TSLA", VetoState.NOT_FOLLOWED, "dropped at the gap filter: gap too large"),
                ("AMD", VetoState.WAITING, "passed the gap filter: on paper from the open"),
            )
        ):
            following = state is VetoState.FOLLOWING
            out.append(
                VetoView(
                    candidate_id=9000 + i,
                    session=today,
                    symbol=sym,
                    side=Side.LONG,
                    strategy="bb_squeeze",
                    group=Group.A,
                    state=state,
                    why=why,
                    note="vetoed: earnings week",
                    qty=38 if following else None,
                    entry_price=131.20 if following else None,
                    entry_at=datetime.combine(today, time(9, 30), ET) if following else None,
                )
            )
        return tuple(out)

    def _make_equity(self) -> pd.Series:
        eq = 100_000.0
        points = {pd.Timestamp(datetime(2025, 1, 3, 16, 0, tzinfo=ET)): eq}
        for t in self._trades:
            if not t.vetoed:
                eq += t.pnl
                points[pd.Timestamp(t.exit_at)] = eq
        s = pd.Series(points, name="equity", dtype=float)
        return s.sort_index()

    def _make_logs(self) -> list[LogEvent]:
        base = datetime.combine(SCAN_SESSION, time(20, 0), ET)
        rows = [
            (0, "INFO", "scheduler", "nightly scan started for 2025-03-11"),
            (1, "DEBUG", "scanner", "loaded 503 symbols, 300 sessions each"),
            (3, "WARNING", "scanner", "BRK.B: stale bars (last 2025-03-10), skipped"),
            (4, "INFO", "scanner", "regime RANGING (SPY adx 16.8, vol 14.2%)"),
            (
                5,
                "INFO",
                "scanner",
                f"top {len(self._candidates)} ranked, param hash {self.config.param_hash}",
            ),
            (6, "DEBUG", "ranking", "AMD passed over: sector cap"),
            (700, "INFO", "market-data", "pre-market stream connected"),
            (720, "ERROR", "market-data", "quote stream dropped: connection reset; reconnecting"),
            (721, "INFO", "market-data", "quote stream reconnected after 1.2 s"),
        ]
        out = [LogEvent(base + timedelta(minutes=m), lvl, src, msg) for m, lvl, src, msg in rows]
        if self.scenario == "session":
            out += [
                LogEvent(
                    datetime.combine(TRADE_SESSION, time(9, 25), ET),
                    "INFO",
                    "gap",
                    "gap filter: 10 passed, 2 dropped",
                ),
                LogEvent(
                    datetime.combine(TRADE_SESSION, time(9, 30, 1), ET),
                    "INFO",
                    "orders",
                    "group A filled at the open",
                ),
                LogEvent(
                    datetime.combine(TRADE_SESSION, time(9, 50, 2), ET),
                    "WARNING",
                    "orders",
                    "order rejected: insufficient buying power",
                ),
            ]
        return out
