"""The real :class:`~workstation.engine.api.EngineAPI`: the window's view of a running
:class:`~workstation.engine.session.TradingSession` (and the headless tools' too).

:class:`Workstation` does three things and nothing else (no trading rule lives here):

* **Views.** Small frozen snapshots built from the store (candidates, gap results, orders,
  trades, equity: :mod:`workstation.engine.store_views`), the live position book (positions)
  and the clock (status). Store-built views are cached and rebuilt lazily, only after an
  event said they changed: a window that polls ``status()`` twice a second, or repaints on
  every quote, reads no table twice. Every engine event is published after its state is in
  the store, so a rebuild never sees an older state than the event.
* **Change notices.** Engine events are mapped to the views they affect and published as ONE
  :class:`~workstation.engine.views.ViewsChanged` per ``coalesce_s`` of real time (prices of
  held symbols at most every ``price_refresh_s``): 2,000 quotes a second are a handful of
  notices, not 2,000.
* **Commands.** Checked at once (a command the engine cannot accept raises
  :class:`~workstation.engine.api.CommandRefused` with the engine's reason), then run as loop
  tasks; a task that fails publishes an ERROR log event naming the command.

Engine events also become lines of the Log panel (:mod:`workstation.engine.event_log`).
It also drives the day: :meth:`Workstation.run` reconciles (``TradingSession.start``) and then
runs one session's timetable after another until it is stopped; and it exposes the
reconciliation (:meth:`Workstation.differences`, :meth:`Workstation.resolve`) to the dialog.

Threading: everything is called on the loop thread (qasync: the Qt GUI thread). No Qt here.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from workstation.core.calendar import ET
from workstation.core.clock import SimClock
from workstation.core.events import (
    ClockChanged,
    ConfigRejected,
    ConfigReloaded,
    ConnectionStateChanged,
    Event,
    EventBus,
    LogEvent,
    OrderFilled,
    OrderUpdated,
    QuoteEvent,
    ScanFailed,
    ScanFinished,
    ScanStarted,
    TradeEvent,
)
from workstation.core.models import Account, ApprovalState, OrderIntent, Side
from workstation.engine.api import CommandRefused, ConfirmationNeeded
from workstation.engine.event_log import STEP_TEXT, describe
from workstation.engine.events import (
    DifferenceResolved,
    ExitHeld,
    LevelsMoved,
    PositionClosed,
    PositionOpened,
    PositionUpdated,
    ProtectionProblem,
    ReconcileFinished,
    StoreFailed,
    TradingGateChanged,
)
from workstation.engine.positions import EntryPlan
from workstation.engine.reconcile import Difference, DifferenceKind, Resolution
from workstation.engine.regime_view import build_regime_view
from workstation.engine.risk_view import PendingEntry, build_risk
from workstation.engine.rules.approval import Decided
from workstation.engine.rules.levels import LevelCheck
from workstation.engine.scheduler import StepName, session_to_run, step_times
from workstation.engine.session import TradingSession
from workstation.engine.session_events import (
    ApprovalChanged,
    ConfirmationChecked,
    DayPlanned,
    EntryRejected,
    EntrySubmitted,
    GapChecked,
    KillSwitchChanged,
    PaperTrackClosed,
    PaperTrackOpened,
    SessionSummaryReady,
    StepFinished,
    StepMissed,
    StepStarted,
)
from workstation.engine.store_keeper import StoreKeeper
from workstation.engine.store_views import StoreViews
from workstation.engine.views import (
    ALL_VIEWS,
    CandidateView,
    ConnectionView,
    GapView,
    OrderView,
    PositionView,
    RegimeView,
    RiskView,
    ScanReportView,
    StatusView,
    TradeView,
    VetoView,
    ViewName,
    ViewsChanged,
)
from workstation.health.watch import HealthWatch
from workstation.store import StoreError
from workstation.store.file_watch import StoreUnusable

log = logging.getLogger(__name__)

SOURCE = "workstation"
STOP_TIMEOUT_S = 5.0  # each stage of the shutdown waits at most this long
BAR_COLUMNS = ["open", "high", "low", "close", "volume"]

KILL_REASON_TEXT = {"USER": "manual", "DAILY_LOSS": "daily loss limit"}

#: The views an engine event changes (prices are handled apart: they are throttled).
_V = ViewName
EVENT_VIEWS: dict[type[Event], frozenset[ViewName]] = {
    ScanStarted: frozenset({_V.STATUS}),
    ScanFinished: frozenset({_V.CANDIDATES, _V.STATUS}),
    ScanFailed: frozenset({_V.CANDIDATES, _V.STATUS}),
    ApprovalChanged: frozenset({_V.CANDIDATES}),
    # Gap results, entries and their refusals also say what became of each candidate.
    GapChecked: frozenset({_V.GAPS, _V.CANDIDATES}),
    ConfirmationChecked: frozenset({_V.ORDERS}),
    EntryRejected: frozenset({_V.ORDERS, _V.CANDIDATES}),
    EntrySubmitted: frozenset({_V.ORDERS, _V.CANDIDATES}),
    OrderUpdated: frozenset({_V.ORDERS, _V.STATUS}),
    OrderFilled: frozenset({_V.ORDERS, _V.POSITIONS, _V.STATUS, _V.CANDIDATES}),
    PositionOpened: frozenset({_V.POSITIONS, _V.STATUS}),
    PositionUpdated: frozenset({_V.POSITIONS}),
    PositionClosed: frozenset({_V.POSITIONS, _V.TRADES, _V.STATUS}),
    PaperTrackOpened: frozenset({_V.TRADES}),
    PaperTrackClosed: frozenset({_V.TRADES}),
    KillSwitchChanged: frozenset({_V.STATUS, _V.ORDERS}),
    # A step moves the timetable (status) and the candidates' "decidable" (entry times).
    DayPlanned: frozenset({_V.STATUS}),
    StepStarted: frozenset({_V.STATUS, _V.CANDIDATES}),
    StepFinished: frozenset({_V.STATUS, _V.CANDIDATES, _V.GAPS, _V.ORDERS}),
    StepMissed: frozenset({_V.STATUS, _V.GAPS, _V.ORDERS}),
    SessionSummaryReady: frozenset({_V.STATUS, _V.EQUITY, _V.TRADES}),
    TradingGateChanged: frozenset({_V.STATUS}),
    ReconcileFinished: frozenset({_V.STATUS, _V.POSITIONS, _V.ORDERS}),
    DifferenceResolved: frozenset({_V.STATUS, _V.POSITIONS, _V.ORDERS, _V.TRADES}),
    ConfigReloaded: frozenset({_V.STATUS, _V.CANDIDATES}),
    ConfigRejected: frozenset({_V.STATUS}),
    ConnectionStateChanged: frozenset({_V.STATUS}),
    ClockChanged: frozenset({_V.STATUS}),
    ExitHeld: frozenset({_V.POSITIONS}),
    LevelsMoved: frozenset({_V.POSITIONS, _V.ORDERS}),
    ProtectionProblem: frozenset({_V.POSITIONS, _V.ORDERS}),
}


def _empty_bars() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=float) for c in BAR_COLUMNS}).set_axis(
        pd.DatetimeIndex([], tz=ET)
    )


def _sync_method(market: Any, name: str) -> Callable[..., Any] | None:
    """A market's synchronous twin of ``name`` (sim: ``*_now``, replay: ``*_sync``): in-memory
    arrays, cheap enough for the loop thread. None for network markets."""
    for suffix in ("_now", "_sync"):
        fn = getattr(market, name + suffix, None)
        if callable(fn):
            return fn
    return None


class Workstation:
    """:class:`~workstation.engine.api.EngineAPI` over a :class:`TradingSession`.

    ``closers`` run (in order) at :meth:`shutdown` after the engines stopped: saving the
    simulated exchange, closing brokers and streams, closing the store.
    """

    def __init__(
        self,
        session: TradingSession,
        *,
        connections: Iterable[ConnectionView] = (),
        closers: Iterable[Callable[[], Awaitable[None] | None]] = (),
        coalesce_s: float = 0.05,
        price_refresh_s: float = 1.0,
        log_capacity: int = 2000,
        last_session: date | None = None,
        keeper: StoreKeeper | None = None,
        store_advice: Callable[[str], str] = lambda _kind: "",
    ) -> None:
        self.session = session
        self.store = session.store
        self.clock = session.clock
        self.calendar = session.calendar
        self.market = session.market
        self.broker = session.broker
        self.mode = session.mode
        self._bus = session.bus
        self.coalesce_s = coalesce_s
        self.price_refresh_s = price_refresh_s
        self.last_session = last_session  # the day loop stops after it (sim: end of data)
        self._closers = list(closers)
        self._connections: dict[str, ConnectionView] = {c.component: c for c in connections}
        self._logs: deque[LogEvent] = deque(maxlen=log_capacity)
        # View name (or "regime", "latest_equity") -> the cached value; dirty: rebuild.
        self._cache: dict[str, Any] = {}
        self._dirty: set[str] = {*ALL_VIEWS, "regime", "latest_equity"}
        self._pending: set[ViewName] = set()
        self._flush_handle: asyncio.TimerHandle | asyncio.Handle | None = None
        self._price_handle: asyncio.TimerHandle | None = None
        self._price_dirty = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._background: set[asyncio.Task[Any]] = set()  # chart data fetches
        self._run_task: asyncio.Task[None] | None = None
        self._shutdown: asyncio.Task[None] | None = None
        self._stopped = False
        self._stopping = False
        self._scanning = False
        self.scan_review = False  # pause after each nightly scan (set_scan_review)
        self.pause_reason = ""  # why the clock was paused by the engine ("" otherwise)
        self.views = StoreViews(session)
        self._bars: dict[tuple[str, int, date], pd.DataFrame] = {}
        # The frames of before the latest scan: shown until their fresh copy (read off the
        # loop) replaces them, so a chart neither blanks nor costs the loop a read per scan.
        self._stale_bars: dict[tuple[str, int, date], pd.DataFrame] = {}
        self._fetching: set[Any] = set()
        self._warm: set[date] = set()  # sessions whose simulated minute paths are built
        self._intraday: dict[str, tuple[tuple[date, datetime], pd.DataFrame]] = {}
        self._account_cache: Account | None = None  # the last account of an async broker
        self._equity_task: asyncio.Task[None] | None = None
        self.sessions_done: list[date] = []
        self.error: str = ""  # why the day loop stopped, if it failed
        self.keeper = keeper  # watches the store and takes its backups while running
        self.store_problem: StoreUnusable | None = None  # trading stopped because of it
        self._store_advice = store_advice
        self.store.on_problem(self._on_store_problem)
        self.health: HealthWatch | None = None
        self._last_trade_at: datetime | None = None  # the engines' time of the last print
        self._unsubscribe = [
            self._bus.subscribe(Event, self._on_event),
        ]

    # ============================================================== the protocol
    @property
    def events(self) -> EventBus:
        return self._bus

    # ------------------------------------------------------------------ events
    def _on_event(self, ev: Event) -> None:
        if isinstance(ev, ViewsChanged):
            return
        if isinstance(ev, QuoteEvent | TradeEvent):
            if isinstance(ev, TradeEvent):
                self._last_trade_at = ev.trade.at  # market data freshness (health)
            sym = ev.quote.symbol if isinstance(ev, QuoteEvent) else ev.trade.symbol
            if sym in self.session.book.held():
                self._prices_moved()
            return
        if isinstance(ev, PositionUpdated) and ev.change == "excursion":
            # A new MFE/MAE extreme comes with prices, many times a second early in a
            # position: shown at the pace of prices, not per event.
            self._prices_moved()
            return
        if isinstance(ev, LogEvent):
            self._logs.append(ev)
            return
        if isinstance(ev, ScanStarted):
            self._scanning = True
        elif isinstance(ev, ScanFinished | ScanFailed):
            self._scanning = not (isinstance(ev, ScanFinished) or ev.final)
            self.views.forget_scan_files()
            self._stale_bars, self._bars = self._bars or self._stale_bars, {}
        elif isinstance(ev, ConnectionStateChanged):
            self._connections[ev.component] = ConnectionView(ev.component, ev.state, ev.detail)
        elif isinstance(ev, OrderFilled | PositionClosed):
            self._refresh_equity_soon()
        elif isinstance(ev, StepFinished) and ev.step == StepName.SCAN:
            self._pause_for_review(ev)
        line = describe(ev)
        if line is not None:
            level, source, message = line
            self._bus.publish(LogEvent(ev.at, level, source, message))
        views = EVENT_VIEWS.get(type(ev))
        if views is None:
            for kind, v in EVENT_VIEWS.items():
                if isinstance(ev, kind):
                    views = v
                    break
        if views:
            self.changed(*views)

    def changed(self, *views: ViewName) -> None:
        """Mark ``views`` changed: rebuilt on the next fetch, announced (coalesced) soon."""
        names = set(views) or set(ALL_VIEWS)
        self._dirty |= names
        if ViewName.CANDIDATES in names:
            self._dirty |= {"regime", "regime_values"}
        if names & {ViewName.CANDIDATES, ViewName.TRADES}:
            self._dirty.add("vetoes")  # a veto, a step (entry times, gap results), a paper exit
        if ViewName.ORDERS in names:
            self._dirty.add("pending_entries")
        if names & {ViewName.EQUITY, ViewName.STATUS}:
            self._dirty.add("latest_equity")
        self._pending |= names
        if self._flush_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._flush()  # no loop (a script, a test): announce at once
            return
        if self.coalesce_s > 0:
            self._flush_handle = loop.call_later(self.coalesce_s, self._flush)
        else:
            self._flush_handle = loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        views, self._pending = frozenset(self._pending), set()
        if views and not self._stopped:
            self._bus.publish(ViewsChanged(self.clock.now(), views))

    def _prices_moved(self) -> None:
        """A held symbol printed: positions and equity move, at most every price_refresh_s."""
        self._price_dirty = True
        if self._price_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._price_flush()
            return
        self._price_handle = loop.call_later(self.price_refresh_s, self._price_flush)

    def _price_flush(self) -> None:
        self._price_handle = None
        if self._price_dirty:
            self._price_dirty = False
            self._refresh_equity_soon()
            self.changed(ViewName.POSITIONS, ViewName.STATUS)

    def _view(self, name: str, build: Callable[[], Any]) -> Any:
        if name in self._dirty or name not in self._cache:
            try:
                self._cache[name] = build()
            except (StoreError, sqlite3.Error):
                # An emptied or damaged store cannot be read: the window keeps showing what
                # it last read (the store-problem dialog says why nothing moves).
                if self.store_problem is None or name not in self._cache:
                    raise
            self._dirty.discard(name)
        return self._cache[name]

    # ------------------------------------------------------------------ sessions

    def _next_step(self, now: datetime) -> tuple[str, datetime | None]:
        """The step the day loop runs next and when it runs: what the status strip names and
        "Jump to next step" goes to (the same function, so they never disagree)."""
        step = self.session.upcoming()
        if step is not None:
            return STEP_TEXT.get(step.name, str(step.name)), self.session.run_time(step)
        cfg = self.session.cfg
        s = session_to_run(now, cfg.schedule, self.calendar)
        for _ in range(3):
            try:
                steps = step_times(s, cfg.schedule, self.calendar, cfg.risk.exits)
            except ValueError:
                return "", None
            for name, at, _deadline in steps:
                if at > now:
                    return STEP_TEXT.get(name, str(name)), at
            s = self.calendar.next_session(s)
        return "", None

    # ------------------------------------------------------------------ status
    def status(self) -> StatusView:
        now = self.clock.now()
        cfg = self.session.cfg
        step, step_at = self._next_step(now)
        equity, start = self._equity_and_start()
        kill = self.session.kill
        reason = KILL_REASON_TEXT.get(kill.reason, kill.reason.lower()) if kill.engaged else ""
        if kill.engaged and kill.detail and kill.reason != "USER":
            reason = f"{reason}: {kill.detail}"
        clock = self.clock
        return StatusView(
            mode=self.mode,
            now=now,
            market_state=str(self.calendar.market_state(now)),
            next_step=step,
            next_step_at=step_at,
            regime=self._view("regime", self._latest_regime),
            kill_switch=kill.engaged,
            equity=equity,
            day_pnl=equity - start if math.isfinite(start) else 0.0,
            clock_speed=clock.speed,
            clock_paused=clock.paused,
            connections=self._connection_views(),
            kill_reason=reason,
            session=session_to_run(now, cfg.schedule, self.calendar),
            clock_adjustable=isinstance(clock, SimClock),
            param_hash=cfg.param_hash,
            **self._health_fields(),
            scan_review=self.scan_review,
            pause_reason=self.pause_reason if clock.paused else "",
        )

    def _health_fields(self) -> dict[str, Any]:
        report = None if self.health is None else self.health.report
        if report is None:
            return {}
        return {
            "health": str(report.status),
            "health_detail": tuple(f"{c.status} {c.name}: {c.message}" for c in report.checks),
        }

    def start_health(self) -> None:
        """The health checks of ``workstation health``, on these engines (the status strip)."""
        self.health = HealthWatch(
            self.session,
            self._bus,
            connections=lambda: {c.component: c.state for c in self._connection_views()},
            last_trade_at=lambda: self._last_trade_at,
            on_change=lambda _report: self.changed(ViewName.STATUS),
            backup_dir=self._backup_dir,
        )
        self._tasks.add(self.health.start())

    def _backup_dir(self) -> Path | None:
        backups = getattr(self.keeper, "backups", None)
        return None if backups is None else backups.folder

    def _connection_views(self) -> tuple[ConnectionView, ...]:
        out = list(self._connections.values())
        gate = self.session.gate
        if gate.blocked:
            out.append(ConnectionView("reconciliation", "down", f"trading blocked: {gate.reason}"))
        if self.error:
            out.append(ConnectionView("engines", "down", self.error))
        return tuple(out)

    def _latest_regime(self) -> str | None:
        scan = self.views.latest_scan()
        return None if scan is None else scan.regime

    def _equity_and_start(self) -> tuple[float, float]:
        sync = getattr(self.broker, "account_sync", None)
        if callable(sync):
            equity = float(sync().equity)
        elif self._account_cache is not None:
            equity = self._account_cache.equity
        else:
            self._refresh_equity_soon()
            row = self._view("latest_equity", self.store.latest_equity)
            # Until the broker's first answer: the last recorded equity (0 when none).
            equity = row.equity if row is not None else 0.0
        start = self.session.start_equity
        if not (isinstance(start, float) and math.isfinite(start)):
            row = self._view("latest_equity", self.store.latest_equity)
            start = row.equity if row is not None else equity
        return equity, start

    def _refresh_equity_soon(self) -> None:
        """Brokers without a synchronous account (Alpaca) are asked in a task."""
        if callable(getattr(self.broker, "account_sync", None)):
            return
        if self._equity_task is not None and not self._equity_task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return

        async def ask() -> None:
            try:
                async with asyncio.timeout(10):
                    acct = await self.broker.account()
            except Exception as exc:  # shown as a stale equity, never a crash
                log.warning("account unavailable: %s", exc)
                return
            self._account_cache = acct
            self.changed(ViewName.STATUS)

        self._equity_task = loop.create_task(ask())

    # ------------------------------------------------------------------ risk
    def _account(self) -> Account | None:
        """The account now (the simulated broker's), or as last asked (Alpaca's)."""
        sync = getattr(self.broker, "account_sync", None)
        if callable(sync):
            return sync()  # type: ignore[no-any-return]
        self._refresh_equity_soon()
        return self._account_cache

    def _pending_entries(self, sectors: Mapping[str, str]) -> list[PendingEntry]:
        """Entry orders still working (rebuilt when the orders change)."""
        out = []
        for row in self.store.open_orders():
            if row.intent != OrderIntent.ENTRY:
                continue
            ref = row.limit_price
            if ref is None and row.candidate_id is not None:
                cand = self.store.get_candidate(row.candidate_id)
                ref = cand.close if cand is not None else None
            remaining = max(0.0, row.qty - row.filled_qty)
            out.append(
                PendingEntry(row.symbol, sectors.get(row.symbol, ""), remaining * (ref or 0.0))
            )
        return out

    def risk(self) -> RiskView:
        cfg = self.session.cfg
        acct = self._account()
        equity, start = self._equity_and_start()
        sectors = self.session.universe.sectors
        pending = self._view("pending_entries", lambda: self._pending_entries(sectors))
        kill = self.session.kill
        reason = KILL_REASON_TEXT.get(kill.reason, kill.reason.lower()) if kill.engaged else ""
        return build_risk(
            self.positions(),
            pending,
            equity=equity,
            cash=acct.cash if acct is not None else math.nan,
            buying_power=acct.buying_power if acct is not None else math.nan,
            start_equity=start if math.isfinite(self.session.start_equity) else math.nan,
            regime=self._view("regime", self._latest_regime),
            scanner=cfg.scanner,
            risk=cfg.risk,
            kill_switch=kill.engaged,
            kill_reason=reason,
        )

    # ------------------------------------------------------------------ regime
    def regime(self) -> RegimeView:
        cfg = self.session.cfg
        session, regime, values = self._view("regime_values", self.views.regime_values)
        return build_regime_view(
            session,
            regime,
            values,
            scanner=cfg.scanner,
            risk=cfg.risk,
            strategies=cfg.strategies,
        )

    # ------------------------------------------------------------------ candidates
    def candidates(self) -> tuple[CandidateView, ...]:
        views, deadlines = self._view(ViewName.CANDIDATES, self.views.candidates)
        # "decidable" moves with the clock (the entry times), not with events: applied here.
        now = self.clock.now()
        flags = tuple(d is not None and now < d for d in deadlines)
        shown = self._cache.get("decidable")
        if shown is None or shown[0] is not views or shown[1] != flags:
            out = tuple(
                v if v.decidable == f else dataclasses.replace(v, decidable=f)
                for v, f in zip(views, flags, strict=True)
            )
            self._cache["decidable"] = (views, flags, out)
            return out
        return shown[2]

    def scan_report(self) -> ScanReportView | None:
        views = self._view(ViewName.CANDIDATES, self.views.candidates)
        # Built with the candidates (same scan, same invalidation), read from the store once.
        shown = self._cache.get("scan_report")
        if shown is None or shown[0] is not views:
            shown = (views, self.views.scan_report())
            self._cache["scan_report"] = shown
        return shown[1]

    # ------------------------------------------------------------------ gaps
    def gaps(self) -> tuple[GapView, ...]:
        return self._view(ViewName.GAPS, self.views.gaps)

    # ------------------------------------------------------------------ orders
    def orders(self) -> tuple[OrderView, ...]:
        return self._view(ViewName.ORDERS, self.views.orders)

    # ------------------------------------------------------------------ positions
    def positions(self) -> tuple[PositionView, ...]:
        # Built from the live book on every call: it is in memory and small (<= 12).
        today = self.views.view_session()
        exits = self.session.cfg.risk.exits
        universe = self.session.universe
        out = [
            self.views.position(p, today, exits.sltp_from_day, exits.emergency_pct, universe)
            for p in self.session.book.positions()
        ]
        return tuple(
            sorted(out, key=lambda p: (p.entry_at or datetime.min.replace(tzinfo=ET), p.symbol))
        )

    # ------------------------------------------------------------------ trades
    def trades(self) -> tuple[TradeView, ...]:
        return self._view(ViewName.TRADES, self.views.trades)

    def vetoes(self) -> tuple[VetoView, ...]:
        return self._view("vetoes", self.views.vetoes)

    # ------------------------------------------------------------------ equity
    def equity_curve(self) -> pd.Series:
        return self._view(ViewName.EQUITY, self.views.equity)

    # ------------------------------------------------------------------ logs
    def recent_logs(self, limit: int = 1000) -> tuple[LogEvent, ...]:
        logs = tuple(self._logs)
        return logs[-limit:] if limit else ()

    def log(self, level: str, message: str, source: str = SOURCE) -> None:
        """Publish a log event (it also lands in :meth:`recent_logs`)."""
        getattr(log, level.lower(), log.info)(message)
        self._bus.publish(LogEvent(self.clock.now(), level, source, message))

    # ------------------------------------------------------------------ bars
    def symbols(self) -> tuple[str, ...]:
        u = self.session.universe
        cached = self._cache.get("symbols")
        if cached is None or cached[0] is not u:
            cached = self._cache["symbols"] = (u, (*sorted(u.symbols), u.benchmark))
        return cached[1]  # type: ignore[no-any-return]

    def daily_bars(self, symbol: str, n: int) -> pd.DataFrame:
        now = self.clock.now()
        end = self.calendar.last_completed_session(now)
        key = (symbol, int(n), end)
        cached = self._bars.get(key)
        if cached is not None:
            return cached
        sync = _sync_method(self.market, "daily_bars")
        if sync is not None:

            def read() -> pd.DataFrame:
                try:
                    return self._frame(sync([symbol], end, int(n)), symbol)
                except Exception as exc:
                    log.info("daily bars of %s unavailable: %s", symbol, exc)
                    return _empty_bars()

            stale = self._stale_bars.get(key)
            if stale is None or not self._fetch(("daily", key), lambda: self._reread(key, read)):
                self._stale_bars.pop(key, None)
                df = self._bars[key] = read()
                return df
            return stale  # until the fresh copy, read in a worker thread, replaces it

        async def fetch() -> None:
            try:
                bars = await self.market.daily_bars([symbol], end, int(n))
                self._bars[key] = self._frame(bars, symbol)
            except Exception as exc:
                log.info("daily bars of %s unavailable: %s", symbol, exc)
                self._bars[key] = _empty_bars()

        self._fetch(("daily", key), fetch)  # an async market: shown once it arrives
        return _empty_bars()

    @staticmethod
    def _frame(bars: Any, symbol: str) -> pd.DataFrame:
        df = bars.frame(symbol)
        if df.empty:
            return _empty_bars()
        df = df[BAR_COLUMNS].dropna(subset=["close"])
        idx = pd.DatetimeIndex(df.index)
        df.index = idx.tz_localize(ET) if idx.tz is None else idx.tz_convert(ET)
        return df

    async def _reread(self, key: tuple[str, int, date], read: Callable[[], pd.DataFrame]) -> bool:
        """A stale frame read again in a worker thread (the market's in-memory twin is safe
        to read there: the scan reads it from its executor). False when nothing changed:
        then the charts need not be told."""
        df = await asyncio.to_thread(read)
        self._bars[key] = df
        stale = self._stale_bars.pop(key, None)
        return stale is None or not df.equals(stale)

    def _fetch(self, key: Any, fetch: Callable[[], Coroutine[Any, Any, bool | None]]) -> bool:
        """Run ``fetch`` once per key; announce the charts' views when it is done. False
        when there is no loop to run it on."""
        if key in self._fetching:
            return True
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop to fetch on (a script): nothing to show
            return False
        self._fetching.add(key)

        async def run() -> None:
            try:
                news = await fetch()
            finally:
                self._fetching.discard(key)
            if news is not False:
                self.changed(ViewName.CANDIDATES, ViewName.POSITIONS)

        task = self._spawn(run(), f"bars of {key[1][0]}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return True

    def intraday(self, symbol: str) -> pd.DataFrame:
        now = self.clock.now()
        cal = self.calendar
        s = cal.session_on_or_before(now.date())
        if now < cal.open_time(s):
            s = cal.previous_session(s)
        minute = now.replace(second=0, microsecond=0)
        stamp = (s, minute)
        hit = self._intraday.get(symbol)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        sync = _sync_method(self.market, "minute_bars")
        if sync is not None:
            if not self._warm_intraday(s):
                return hit[1] if hit is not None else _empty_bars()
            try:
                df = sync(symbol, s)[BAR_COLUMNS]
            except Exception as exc:
                log.info("minute bars of %s unavailable: %s", symbol, exc)
                df = _empty_bars()
            self._intraday[symbol] = (stamp, df)
            return df

        async def fetch() -> None:
            try:
                df = (await self.market.minute_bars(symbol, s))[BAR_COLUMNS]
            except Exception as exc:
                log.info("minute bars of %s unavailable: %s", symbol, exc)
                df = _empty_bars()
            self._intraday[symbol] = (stamp, df)

        self._fetch(("intraday", (symbol, stamp)), fetch)
        return hit[1] if hit is not None else _empty_bars()

    def _warm_intraday(self, session: date) -> bool:
        """True once the simulated market's minute paths of ``session`` exist. Building them
        takes tens of milliseconds (every symbol at once): done in a worker thread the first
        time, so a chart asking for them never stalls the window."""
        if session in self._warm:
            return True
        build = getattr(self.market, "intraday", None)
        if not callable(build):
            self._warm.add(session)
            return True
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # a script: build it here
            self._warm.add(session)
            return True

        async def warm() -> None:
            try:
                await asyncio.to_thread(build, session)
            except Exception as exc:  # e.g. a session outside the simulation: no chart
                log.info("minute paths of %s unavailable: %s", session, exc)
            finally:
                self._warm.add(session)

        self._fetch(("intraday-paths", (session,)), warm)
        return False

    # ============================================================== commands
    def _spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
        loop = _engine_loop()
        if loop is None:
            coro.close()
            raise CommandRefused(f"{what}: the engines are not running") from None
        task = loop.create_task(coro, name=what)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if t.cancelled():
                return
            exc = t.exception()
            if exc is not None:
                self.log("ERROR", f"{what} failed: {type(exc).__name__}: {exc}")

        task.add_done_callback(done)
        return task

    def _running(self, what: str) -> None:
        if self._stopped:
            raise CommandRefused(f"{what}: the engines are stopping")
        if self.store_problem is not None:
            raise CommandRefused(f"{what}: trading stopped: {self.store_problem}")

    def approve(self, candidate_id: int, note: str = "") -> None:
        self._running("approve")
        self.session.approve(candidate_id, note)

    def veto(self, candidate_id: int, note: str = "") -> None:
        self._running("veto")
        self.session.veto(candidate_id, note)

    def undo_decision(self, candidate_id: int) -> None:
        self._running("undo")
        self.session.undo_decision(candidate_id)

    def engage_kill_switch(self) -> None:
        self._running("kill switch")
        if self.session.kill.engaged:
            raise CommandRefused("the kill switch is already engaged")
        self._spawn(self.session.engage_kill_switch(), "kill switch")

    def release_kill_switch(self) -> None:
        self._running("release kill switch")
        if not self.session.kill.engaged:
            raise CommandRefused("the kill switch is not engaged")
        self._spawn(self.session.release_kill_switch(), "release kill switch")

    def flatten_all(self) -> None:
        self._running("flatten all")
        if not self.session.book.held():
            raise CommandRefused("there are no open positions to flatten")
        self._spawn(self.session.flatten_all(), "flatten all")

    def close_position(self, symbol: str) -> None:
        self._running("close position")
        state = self.session.book.position(symbol)
        if state is None:
            raise CommandRefused(f"there is no open position in {symbol}")
        if state.exiting:
            raise CommandRefused(f"{symbol} is already being exited")
        self._spawn(self._close(symbol), f"close {symbol}")

    async def _close(self, symbol: str) -> None:
        order = await self.session.exit_position(symbol)
        if order is None and self.session.book.position(symbol) is not None:
            # The PDT guard's hold is reported by its own event; anything else is said here.
            self.log("WARNING", f"{symbol}: the close was not sent (see the lines above)")

    def check_levels(
        self,
        symbol: str,
        sl: float | None = None,
        tp: float | None = None,
        beyond_emergency_ok: bool = False,
    ) -> LevelCheck:
        try:
            return self.session.book.check_move(
                symbol, sl, tp, beyond_emergency_ok=beyond_emergency_ok
            )
        except KeyError:
            raise CommandRefused(f"there is no open position in {symbol}") from None

    def move_levels(
        self,
        symbol: str,
        sl: float | None = None,
        tp: float | None = None,
        beyond_emergency_ok: bool = False,
        note: str = "",
    ) -> None:
        self._running("move levels")
        check = self.check_levels(symbol, sl, tp, beyond_emergency_ok)
        if not check.ok:
            raise CommandRefused(f"{symbol}: {check.detail}")
        if self.session.book.position(symbol).exiting:  # type: ignore[union-attr]
            raise CommandRefused(f"{symbol} is being exited")
        self._spawn(
            self._move(symbol, sl, tp, beyond_emergency_ok, note), f"move levels of {symbol}"
        )

    async def _move(
        self, symbol: str, sl: float | None, tp: float | None, ok: bool, note: str
    ) -> None:
        move = await self.session.move_levels(symbol, sl, tp, beyond_emergency_ok=ok, note=note)
        if not move.applied:
            self.log("WARNING", f"{symbol}: levels not moved: {move.why}")

    def run_scan_now(self, confirm: bool = False) -> None:
        self._running("scan")
        if self._scanning:
            raise CommandRefused("a scan is already running")
        scanner = self.session.scanner
        session = self.session.scan_now_session()
        refusal = scanner.rerun_refusal(session)
        if refusal:
            raise CommandRefused(refusal)
        decided = scanner.decisions(session)
        if decided and not confirm:
            raise ConfirmationNeeded(rescan_question(session, decided))
        self._scanning = True  # until ScanFinished / ScanFailed (final)
        task = self._spawn(self.session.run_scan_now(), "scan")
        task.add_done_callback(lambda _t: setattr(self, "_scanning", False))

    def _sim_clock(self, what: str) -> SimClock:
        if not isinstance(self.clock, SimClock):
            raise CommandRefused(f"{what}: only the simulated clock can be changed")
        return self.clock

    def _clock_changed(self) -> None:
        clock = self.clock
        self._bus.publish(ClockChanged(clock.now(), clock.speed, clock.paused))
        self.changed(ViewName.STATUS)

    def set_speed(self, speed: float) -> None:
        clock = self._sim_clock("clock speed")
        if math.isnan(speed) or speed <= 0:
            raise CommandRefused(f"clock speed must be > 0, got {speed}")
        clock.set_speed(speed)
        self._clock_changed()

    def pause(self) -> None:
        self._sim_clock("pause").pause()
        self._clock_changed()

    def resume(self) -> None:
        self._sim_clock("resume").resume()
        self.pause_reason = ""
        self._clock_changed()

    def set_scan_review(self, on: bool) -> None:
        """Pause the simulated clock after each nightly scan that has candidates to decide,
        at any speed, so the user reviews them before the day goes on (off by default: the
        headless runner has nobody to wait for; the window turns it on)."""
        self.scan_review = bool(on)
        self.changed(ViewName.STATUS)

    def _pause_for_review(self, ev: StepFinished) -> None:
        clock = self.clock
        if not self.scan_review or not isinstance(clock, SimClock) or clock.paused:
            return
        cands = self.session.candidates(ev.session)
        pending = sum(c.approval == "pending" for c in cands)
        if not pending:
            return
        clock.pause()
        scan_day = self.calendar.previous_session(ev.session)
        self.pause_reason = (
            f"review of the nightly scan of {scan_day:%a %Y-%m-%d}: {pending} candidate"
            f"{'s' if pending != 1 else ''} to approve or veto, then resume"
        )
        self.log("INFO", f"clock paused for your {self.pause_reason}")
        self._clock_changed()

    def jump_to_next(self) -> None:
        clock = self._sim_clock("jump to next step")
        step, at = self._next_step(clock.now())
        if at is None:
            raise CommandRefused("jump to next step: nothing is scheduled")
        if at <= clock.now():
            raise CommandRefused(f"jump to next step: {step} is running now")
        self.pause_reason = ""  # the user moved on
        clock.jump_to(at)
        self.log("INFO", f"clock jumps to {step} at {at:%a %Y-%m-%d %H:%M} ET")
        self._clock_changed()

    def reload_params(self) -> None:
        self._running("reload parameters")
        self._spawn(self.session.reload_params(), "reload parameters")

    # ============================================================== reconciliation
    def differences(self) -> tuple[Difference, ...]:
        """The open differences between the store and the broker (trading is blocked
        while there is any)."""
        return self.session.gate.open_differences

    @property
    def trading_blocked(self) -> bool:
        return self.session.gate.blocked

    def suggest_plan(self, difference: Difference) -> EntryPlan | None:
        """A plan to adopt a position only the broker holds: the newest candidate of the
        symbol on that side if there is one, else the side's first strategy with ATR14 of
        the daily bars. None when no ATR can be computed (the user must give one)."""
        if difference.broker_qty is None or difference.broker_qty == 0:
            return None
        side = Side.LONG if difference.broker_qty > 0 else Side.SHORT
        scan = self.views.latest_scan()
        for _ in range(10):
            if scan is None:
                break
            for c in self.store.candidates_for_scan(scan.id):
                if c.symbol == difference.symbol and Side(c.side) is side:
                    return EntryPlan.of_row(c)
            try:
                prev = self.calendar.previous_session(scan.session)
            except Exception:
                break
            scan = self.store.latest_scan(prev, market=self.market.name)
        strategies = self.session.cfg.strategies
        name = next((n for n, p in strategies.items() if p.side is side), None)
        atr = self.atr14(difference.symbol)
        if name is None or not math.isfinite(atr) or atr <= 0:
            return None
        p = strategies[name]
        return EntryPlan(side, name, atr, p.sl_atr, p.tp_atr)

    def atr14(self, symbol: str) -> float:
        """Wilder's ATR(14) of the daily bars (NaN without enough bars)."""
        df = self.daily_bars(symbol, 60)
        if len(df) < 15:
            return math.nan
        high, low, close = (df[c].astype(float) for c in ("high", "low", "close"))
        tr = pd.concat(
            [high - low, (high - close.shift()).abs(), (low - close.shift()).abs()], axis=1
        ).max(axis=1)
        atr = tr.iloc[1:].ewm(alpha=1 / 14, adjust=False).mean()
        return float(atr.iloc[-1])

    def resolve(
        self,
        key: str,
        action: Resolution | str,
        note: str = "",
        plan: EntryPlan | None = None,
    ) -> asyncio.Task[Any]:
        """Resolve the open difference ``key`` with ``action`` (adopt, ignore, flatten).

        Checked at once (CommandRefused); the work runs as a task (returned), which
        publishes ``DifferenceResolved`` and ``TradingGateChanged`` when done."""
        self._running("reconcile")
        d = next((x for x in self.differences() if x.key == key), None)
        if d is None:
            raise CommandRefused("that difference is already resolved")
        try:
            res = Resolution(action)
        except ValueError:
            raise CommandRefused(f"'{action}' is not adopt, ignore or flatten") from None
        if res not in d.actions:
            allowed = ", ".join(str(a) for a in d.actions)
            raise CommandRefused(f"'{res}' does not apply to {d.kind} ({d.symbol}); use {allowed}")
        rec = self.session.reconciler
        if res is Resolution.ADOPT:
            if d.kind is DifferenceKind.POSITION_ONLY_AT_BROKER:
                plan = plan or self.suggest_plan(d)
                if plan is None:
                    raise CommandRefused(
                        f"adopting {d.symbol} needs a strategy and its ATR: none could be found"
                    )
            coro: Coroutine[Any, Any, Any] = rec.adopt(d, plan=plan, note=note)
        elif res is Resolution.IGNORE:
            coro = rec.ignore(d, note=note)
        else:
            coro = rec.flatten(d, note=note)
        return self._spawn(coro, f"{res} {d.symbol}")

    # ============================================================== the day loop
    def start(self) -> asyncio.Task[None]:
        """Run :meth:`run` as a task (once)."""
        if self._run_task is None:
            self._run_task = asyncio.get_running_loop().create_task(self.run(), name="engines")
        return self._run_task

    async def run(self) -> None:
        """Reconcile, then run session after session (each from its 20:00 scan to its
        end-of-day bookkeeping) until stopped, or past ``last_session``."""
        cfg = self.session.cfg
        try:
            if self.keeper is not None:
                await self.keeper.start()
            diffs = await self.session.start()
            self.start_health()
            self.changed(*ALL_VIEWS)
            if diffs:
                self.log(
                    "WARNING",
                    f"{len(diffs)} difference(s) between the store and the broker: new trades "
                    "are blocked until they are resolved (Trading > Reconcile...)",
                )
            last: date | None = None
            while not self._stopped:
                s = session_to_run(self.clock.now(), cfg.schedule, self.calendar)
                if last is not None and s <= last:
                    s = self.calendar.next_session(last)
                if self.last_session is not None and s > self.last_session:
                    self.log(
                        "WARNING",
                        f"the simulation ends with the session {self.last_session}: "
                        "nothing more to trade (start a new simulated account with another "
                        "sim.today or --home)",
                    )
                    break
                await self.session.run_day(s)
                last = s
                self.sessions_done.append(s)
                cfg = self.session.cfg
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("the engines stopped")
            self.log("ERROR", f"the engines stopped: {self.error}")
            self.changed(ViewName.STATUS)

    # ============================================================== shutdown
    def shutdown(self) -> Awaitable[None]:
        """Stop the day loop, the engines and streams, then run the closers. Idempotent:
        every call returns the same task."""
        if self._shutdown is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop running: the caller runs the coroutine itself
                return self._stop()
            self._shutdown = loop.create_task(self._stop(), name="shutdown")
        return self._shutdown

    async def _stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._stopped = True
        for handle in (self._flush_handle, self._price_handle):
            if handle is not None:
                handle.cancel()
        tasks = [t for t in (self._run_task, *self._tasks, self._equity_task) if t is not None]
        for t in tasks:
            t.cancel()
        # Reads for the window (chart bars, the account's equity) may sit in a network call
        # that cannot be interrupted: canceled, not waited for (nothing depends on them).
        tasks = [t for t in tasks if t not in self._background and t is not self._equity_task]
        if tasks:
            # Bounded: a task that cannot finish must not keep the app from quitting.
            _done, stuck = await asyncio.wait(tasks, timeout=STOP_TIMEOUT_S)
            for t in stuck:
                log.error("task %s did not stop within %.0f s", t.get_name(), STOP_TIMEOUT_S)
        if self.health is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.health.stop(), STOP_TIMEOUT_S)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.session.stop(), STOP_TIMEOUT_S)
        if self.keeper is not None:  # a last backup (when the store is still fine)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.keeper.stop(), STOP_TIMEOUT_S)
        for close in self._closers:
            try:
                result = close()
                if result is not None:
                    await result
            except Exception:
                log.exception("closing %r failed", close)
        for unsubscribe in self._unsubscribe:
            unsubscribe()

    @property
    def stopped(self) -> bool:
        return self._stopped

    # ============================================================== a lost store
    def _on_store_problem(self, problem: StoreUnusable) -> None:
        """The store's listener (any thread): stop trading on the loop."""
        loop = _engine_loop()
        if loop is None:
            self._stop_trading(problem)
        else:
            loop.call_soon_threadsafe(self._stop_trading, problem)

    def _stop_trading(self, problem: StoreUnusable) -> None:
        """The store is gone, replaced, emptied or read-only: no order may go out without
        its record, so the day loop and the price stream stop (the broker's protective stops
        stay); the window stays up to say so, and commands are refused."""
        if self.store_problem is not None or self._stopped:
            return
        self.store_problem = problem
        advice = self._store_advice(problem.kind)
        if self._run_task is not None:
            self._run_task.cancel()
        for t in list(self._tasks):
            t.cancel()
        self._spawn_stop()
        self._connections["store"] = ConnectionView("store", "down", f"{problem.kind}: not trading")
        self.error = f"{problem}; trading stopped"
        now = self.clock.now()
        self.log(
            "ERROR",
            f"{problem}; trading stopped (open positions keep their protective stops at the "
            f"broker); {advice}",
        )
        self._bus.publish(StoreFailed(now, problem.kind, str(problem), advice))
        self.changed(ViewName.STATUS)

    def _spawn_stop(self) -> None:
        loop = _engine_loop()
        if loop is not None:
            task = loop.create_task(self.session.stop(), name="stop trading")
            self._background.add(task)
            task.add_done_callback(self._background.discard)


def rescan_question(session: date, decided: list[Decided]) -> str:
    """What to ask before a re-run replaces a list the user has decided on."""
    approved = sum(d.state is ApprovalState.APPROVED for d in decided)
    vetoed = len(decided) - approved
    n = len(decided)
    kinds = ", ".join(
        f"{k} {what}" for k, what in ((approved, "approved"), (vetoed, "vetoed")) if k
    )
    return (
        f"The scan of {session:%a %Y-%m-%d} already has {n} decision{'s' if n != 1 else ''} "
        f"({kinds}). Re-running it replaces the list: each "
        "decision is carried over to the same symbol and strategy in the new list; a decision "
        "whose candidate is not in the new list is dropped (the old list keeps it in the "
        "audit log)."
    )


def _engine_loop() -> asyncio.AbstractEventLoop | None:
    """The loop the engines run on: the running one, else the thread's current loop (a Qt
    slot called from outside a loop turn, as tests do); None if there is none."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        return None
    return None if loop.is_closed() else loop


def sim_connections() -> tuple[ConnectionView, ...]:
    return (
        ConnectionView("market-data", "connected", "simulated market"),
        ConnectionView("trading", "connected", "simulated broker"),
    )


__all__ = ["EVENT_VIEWS", "STEP_TEXT", "Workstation", "describe", "sim_connections"]
