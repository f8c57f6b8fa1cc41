"""The trading session: the day of trading rules §1 and §7-§13 as one asyncio engine.

:class:`TradingSession` wires the market, the broker, the store, the clock, the event bus and
the configuration to the scanner, the order manager, the position book, the reconciler and the
paper tracker, and runs each session's timetable (:func:`workstation.engine.scheduler.plan_day`):

* **scan** (20:00 of the previous session): ``Scanner.scan_with_retries``; the entries of a
  session only ever read the scan of the exact previous session.
* **premarket** (09:25): the kill switch's daily-loss engagement of an earlier session ends,
  the session's starting equity is fixed (the previous session's end-of-day equity), the
  protective stops are re-levelled (``PositionBook.roll_session``: day 2 moves to the SL), and
  the price stream starts (held symbols, paper tracks, symbols with open orders; it is
  re-subscribed after the open, group B and the cutoff as positions appear). Candidates need
  no stream: their entries are decided on snapshots (09:25, the open, 09:50).
* **gap filter** (09:25): a recorded gap result for EVERY candidate (rules §8).
* **group A** (09:25-09:28): approvals resolved at their entry time (``on_pending``), then the
  six checks of §9 in order for each approved, gap-passed candidate (rank order); each
  rejection is recorded (audit ``entry.rejected`` + :class:`EntryRejected`); market-on-open
  orders for the rest.
* **open** (09:30): the official open of the watched symbols goes to the simulated exchange
  (OPG fills, gap-through stops) and to the position book; vetoed group A candidates start
  their paper track at the open.
* **group B** (09:50): the latest trade as of 09:50 against the official open (confirmed ->
  the checks, then a market order; not confirmed -> discarded, prices recorded).
* **entry cutoff** (10:00): unfilled entry orders are canceled.
* **time exit** (15:50): the held symbols' prices at that moment go to the position book, so
  day-5 positions exit at the time the rule names even if no print arrives then.
* **close**: the closing prints and the simulated exchange's end of day (DAY orders expire).
* **eod** (close + 5 min): the equity snapshot and the daily performance row; the session
  summary (:class:`SessionSummaryReady`).

Steps run under one lock; commands that change parameters (:meth:`reload_params`) take it
too, so new parameters apply between steps, never in the middle of an entry. Prices flow
outside the lock: each trade goes to the simulated exchange (if any), then the position book
(exits, MFE/MAE), then the paper tracker. The daily loss limit is checked when time moves on:
at the first print of a new instant, on the account as of the instant before (every print of
that instant in, never half of them), at most every ``equity_check_s`` seconds of clock time
(by default every instant with the simulated exchange, whose account costs nothing to read,
and every 60 s with a real broker, whose account is a rate-limited request). So the check sees
the same equity however the prints of one instant are ordered or thinned out (the backtester's
market shows only the prints that matter, :mod:`workstation.core.print_watch`).

Startup (:meth:`start`): paper tracks and the kill switch are restored, this computer's clock
is compared with the broker's (:mod:`workstation.engine.clock_check`: too far apart, the gate
stays closed), then the reconciler restores the position book and compares the store with the
broker; the trading gate stays closed until they agree (differences are published).

Choices (documented):

* Steps that happen during regular hours at an instant a minute batch of the stream also ends
  at (group B, cutoff, time exit, close) run ``STEP_SETTLE`` (1 s) after their time, so the
  prints up to that instant are in first; the rules still use the instant itself (group B
  reads the trade as of 09:50:00; the time exit fires from 15:50).
* A candidate already holding an entry order of this session (a restart in the middle of an
  entry step) is not checked again: the order is the decision. A step the store shows done
  (audit ``step.done``) is not run again after a restart; ``premarket`` always is (it starts
  the day's stream).
* Group A orders are never sent after ``group_a_until`` (09:28) and group B orders never at or
  after the entry cutoff, even if the step itself started in time (a slow broker): the
  candidates left are recorded as WINDOW_MISSED.
* A group B or paper entry price is the latest trade between the open and 09:50 (a trade of
  the previous session is not a confirmation).
* A symbol's sector in the caps is the universe's sector (the same the scan used).
* Pending entry orders count for the position and sector caps once per symbol (a partly
  filled entry is a position, not a position plus a pending entry).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from workstation.broker.base import Broker, BrokerError, OrderRejected
from workstation.core.calendar import ET, TradingCalendar
from workstation.core.clock import Clock
from workstation.core.config import Config
from workstation.core.config_files import ConfigManager
from workstation.core.events import (
    ConfigRejected,
    ConfigReloaded,
    ConnectionStateChanged,
    EventBus,
    LogEvent,
    QuoteEvent,
    TradeEvent,
)
from workstation.core.models import (
    Account,
    ApprovalState,
    Asset,
    ExitReason,
    Group,
    Order,
    OrderIntent,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Quote,
    Regime,
    Side,
    Snapshot,
    TimeInForce,
    TradeTick,
    Universe,
    client_order_id,
)
from workstation.engine.api import CommandRefused
from workstation.engine.clock_check import (
    BrokerClock,
    ClockComparison,
    ClockVerdict,
    compare_clocks,
)
from workstation.engine.connection_journal import ConnectionJournal
from workstation.engine.entry_record import entry_check_values
from workstation.engine.orders import OrderManager, OrderUncertain
from workstation.engine.paper import PaperTracker
from workstation.engine.positions import EntryPlan, FlattenResult, LevelMove, PositionBook
from workstation.engine.print_guard import PrintGuard
from workstation.engine.reconcile import Difference, Reconciler, TradingGate
from workstation.engine.restart_steps import found_done
from workstation.engine.rules.approval import (
    REFUSALS,
    Resolution,
    entry_time,
    expire_pending,
    on_pending_policy,
    resolve_pending,
    user_decision,
    user_undo,
)
from workstation.engine.rules.entries import (
    EntryCandidate,
    EntryContext,
    EntryDecision,
    check_entry,
    confirm_group_b,
)
from workstation.engine.rules.gap import (
    SOURCE_NONE,
    GapResult,
    gap_decision,
    premarket_price,
)
from workstation.engine.rules.risk import KS_USER, KillSwitch, daily_loss_level
from workstation.engine.rules.sizing import drawdown, position_size
from workstation.engine.scan_record import ScanOutcome
from workstation.engine.scanner import (
    Scanner,
    ScanRefused,
    ScanSource,
    params_yaml,
    tradable_candidates,
)
from workstation.engine.scheduler import CONSEQUENCE, Step, StepName, plan_day, session_to_run
from workstation.engine.session_events import (
    ApprovalChanged,
    ConfirmationChecked,
    DayPlanned,
    EntryRejected,
    EntrySubmitted,
    GapChecked,
    KillSwitchChanged,
    SessionSummaryReady,
    StepFinished,
    StepMissed,
    StepStarted,
)
from workstation.engine.summary import SessionSummary, build_summary
from workstation.engine.views import Mode
from workstation.market.base import KnowsTradingSessions, MarketData
from workstation.store import CandidateRow, ScanRow, Store

log = logging.getLogger(__name__)

SOURCE = "session"

#: See the module docstring: regular-hours steps run this long after their instant.
STEP_SETTLE = timedelta(seconds=1)
_SETTLED_STEPS = frozenset(
    {StepName.GROUP_B, StepName.ENTRY_CUTOFF, StepName.TIME_EXIT, StepName.CLOSE}
)

# Entry rejection reasons beyond the six checks of rules.entries.
NOT_APPROVED = "NOT_APPROVED"
NOT_CONFIRMED = "NOT_CONFIRMED"
WINDOW_MISSED = "WINDOW_MISSED"
TRADING_BLOCKED = "TRADING_BLOCKED"
BROKER_REJECTED = "BROKER_REJECTED"
BROKER_UNCERTAIN = "BROKER_UNCERTAIN"
GAP_FILTER_MISSED = "GAP_FILTER_MISSED"
NO_VOLUME = "NO_VOLUME"  # §14: a zero-volume session (INVALID_BAR, SPIKE, ...: a bad bar)


class Exchange(Protocol):
    """The price feed of a simulated exchange (``SimBroker`` fits): the session tells it
    what the market printed, as a real exchange would see it itself."""

    def on_open(self, symbol: str, official_open: float, at: datetime | None = None) -> None: ...

    def on_price(self, symbol: str, price: float, at: datetime | None = None) -> None: ...

    def on_close(self, symbol: str, official_close: float, at: datetime | None = None) -> None: ...

    def end_of_day(self, at: datetime | None = None) -> list[Order]: ...


ConfigSource = ConfigManager | Callable[[], Config]
CrashPoint = Callable[[str], None]


def _usable(x: float | None) -> bool:
    return x is not None and math.isfinite(x) and x > 0


class TradingSession:
    """One engine for every mode: the mode is only the market, broker, clock and exchange."""

    def __init__(
        self,
        market: MarketData,
        broker: Broker,
        store: Store,
        clock: Clock,
        bus: EventBus,
        config: ConfigSource,
        calendar: TradingCalendar,
        *,
        scans_dir: Path | None,
        mode: Mode = Mode.SIM,
        exchange: Exchange | None = None,
        universe: Universe | None = None,
        executor: Any = None,
        equity_check_s: float | None = None,
        crash_point: CrashPoint | None = None,
        order_timeout_s: float = 10.0,
        scan_source: ScanSource | None = None,
        mfe_save_interval_s: float = 30.0,
    ) -> None:
        self.market = market
        self.broker = broker
        self.store = store
        self.clock = clock
        self.bus = bus
        self.calendar = calendar
        self.mode = Mode(mode)
        self.exchange = exchange
        self._manager = config if isinstance(config, ConfigManager) else None
        self._provider: Callable[[], Config] | None = (
            None if isinstance(config, ConfigManager) else config
        )
        self._cfg: Config = self._read_config()
        self.universe = universe or market.universe()
        self.scanner = Scanner(
            market,
            lambda: self._cfg,
            store,
            scans_dir,
            clock,
            bus,
            self.universe,
            executor,
            scan_source,
            calendar,
        )
        self.orders = OrderManager(broker, store, clock, bus, timeout_s=order_timeout_s)
        self.book = PositionBook(
            store,
            self.orders,
            broker,
            clock,
            calendar,
            bus,
            lambda: self._cfg.risk,
            mfe_save_interval_s=mfe_save_interval_s,
        )
        self.orders.on_update(self._on_order_update)
        self.connections = ConnectionJournal()
        bus.subscribe(ConnectionStateChanged, self._on_connection)
        self.gate = TradingGate(bus)
        self.reconciler = Reconciler(store, broker, self.orders, self.book, self.gate, clock, bus)
        self.paper = PaperTracker(store, calendar, clock, bus, lambda: self._cfg.risk)
        self.prints = PrintGuard(
            lambda: self._cfg.scanner.validation, self._log, self._print_reference
        )
        self.kill = KillSwitch.off()
        if equity_check_s is None:
            equity_check_s = 0.0 if exchange is not None else 60.0
        self.equity_check_s = equity_check_s
        self._crash = crash_point or (lambda name: None)
        self._lock: asyncio.Lock | None = None
        self._stream_task: asyncio.Task[None] | None = None
        self._stream_symbols: tuple[str, ...] = ()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._day: date | None = None
        self._start_equity: float = math.nan
        self._last_equity_check: datetime | None = None
        self._last_print_at: datetime | None = None
        self._missed: dict[date, list[str]] = {}
        self._todo: list[Step] = []
        self._entry_price: dict[str, float] = {}
        self._params_recorded: set[str] = set()
        #: The start-up comparison of our clock with the broker's (None: not compared).
        self.clock_check: ClockComparison | None = None
        self._mark_low: tuple[date, float] | None = None  # the session's lowest equity mark
        #: The time of the print being processed (None between prints): what the market
        #: had shown when a broker event happened (the runner saves it to resume from).
        self.data_time: datetime | None = None

    # ================================================================ configuration
    @property
    def cfg(self) -> Config:
        """The parameters in force (changed only between steps)."""
        return self._cfg

    def _read_config(self) -> Config:
        if self._manager is not None:
            return self._manager.current
        assert self._provider is not None
        return self._provider()

    @property
    def real_broker(self) -> bool:
        return self.mode in (Mode.PAPER, Mode.LIVE)

    def _step_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    # ===================================================================== start-up
    async def start(self) -> list[Difference]:
        """Restore state and reconcile with the broker before any trading.

        Returns the differences (empty: the gate is open unless the clocks are too far apart,
        :attr:`clock_check`). Every difference is also
        published (``ReconcileFinished`` and a WARNING log event each)."""
        self.paper.restore()
        self._restore_kill_switch()
        self.expire_stale_pending()
        await self._check_clock()
        diffs = await self.reconciler.run(self.market)
        if diffs:
            self._log("WARNING", f"{len(diffs)} difference(s) with the broker: not trading")
        return diffs

    async def _check_clock(self) -> None:
        """This computer's clock against the broker's (:mod:`.clock_check`): said in the log
        and the audit; too far apart, new trades are blocked (the gate names the clocks)."""
        if not isinstance(self.broker, BrokerClock):
            return  # a simulated broker runs on our clock
        now = self.clock.now()
        try:
            found = await compare_clocks(self.broker, self.clock.now)
        except BrokerError as exc:
            self._log("WARNING", f"the broker's clock could not be read ({exc}): not compared")
            return
        self.clock_check = found
        verdict = found.verdict
        # (Refused is a WARNING too: the gate's reason carries it to the status strip, and the
        # headless runner's refusal is its one line on the console.)
        self._log("INFO" if verdict is ClockVerdict.AGREE else "WARNING", found.text())
        self.store.audit(
            "engine",
            "clock.checked",
            f"broker:{found.broker}",
            {
                "ours": found.ours.isoformat(),
                "broker": found.theirs.isoformat(),
                "offset_s": round(found.offset_s, 3),
                "round_trip_s": round(found.round_trip_s, 3),
                "verdict": str(verdict),
            },
            at=now,
        )
        refused = verdict is ClockVerdict.REFUSED
        self.gate.set_clock_problem(found.text() if refused else "", now)

    def _restore_kill_switch(self) -> None:
        rows = [
            *self.store.audit_log(action="kill_switch.engaged", limit=1),
            *self.store.audit_log(action="kill_switch.released", limit=1),
        ]
        if not rows:
            return
        last = max(rows, key=lambda r: r.id)
        if last.action != "kill_switch.engaged":
            return
        d = last.detail or {}
        session = date.fromisoformat(d["session"]) if d.get("session") else None
        self.kill = KillSwitch(
            True,
            str(d.get("reason", KS_USER)),
            last.at.astimezone(ET),
            session,
            str(d.get("detail", "")),
        )

    async def stop(self) -> None:
        """Stop the price stream and background work (idempotent)."""
        await self._stop_stream()
        self.book.cancel_stop_timers()
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        with contextlib.suppress(Exception):
            await self.book.settle()

    # ====================================================================== the day
    def plan(self, session: date, now: datetime | None = None) -> list[Step]:
        return plan_day(
            session,
            now or self.clock.now(),
            self._cfg.schedule,
            self.calendar,
            self._cfg.risk.exits,
        )

    def step_instants(self, session: date) -> list[datetime]:
        """When ``session``'s steps run (a regular-hours step settles after its time)."""
        start = self.calendar.at(self.calendar.previous_session(session), "00:00")
        return [
            s.at + (STEP_SETTLE if s.name in _SETTLED_STEPS else timedelta(0))
            for s in self.plan(session, start)
        ]

    async def run_day(self, session: date) -> SessionSummary | None:
        """Run ``session``'s timetable from now to its end-of-day bookkeeping.

        Steps the store shows done (before a restart) are not run again; steps past their
        deadline are reported missed; the rest run at their time. Returns the session summary
        (None if the bookkeeping was done before or missed)."""
        steps = self.plan(session)
        self.expire_stale_pending(session)
        self.bus.publish(DayPlanned(self.clock.now(), session, tuple(steps)))
        done = self._steps_done(session)
        summary: SessionSummary | None = None
        # Done before a restart: not run again (premarket runs again: it starts the day).
        todo = [
            s
            for s in steps
            if not (s.name in done and (s.name is not StepName.PREMARKET or s.missed))
        ]
        self._todo = list(todo)  # what is left, in order: the "next step" shown and jumped to
        for step in todo:
            if step.missed:
                self._todo.remove(step)
                if not self._found_done(step, session):
                    await self._missed_step(step, session)
                continue
            await self.clock.sleep_until(self.run_time(step))
            async with self._step_lock():
                self._todo.remove(step)
                now = self.clock.now()
                offset = self.run_time(step) - step.at
                if now > step.deadline + offset:  # stalled past it (a suspended computer)
                    await self._missed_step(step, session)
                    continue
                self.bus.publish(StepStarted(now, session, step.name, step.is_late(now)))
                result = await self._run_step(step, session)
                if step.name is StepName.EOD:
                    summary = result
                self.store.audit(
                    "engine",
                    "step.done",
                    f"session:{session.isoformat()}",
                    {"step": str(step.name), "late": step.is_late(now)},
                    at=self.clock.now(),
                )
                self.bus.publish(StepFinished(self.clock.now(), session, step.name))
        return summary

    @staticmethod
    def run_time(step: Step) -> datetime:
        """When the day loop runs ``step``: its time, plus STEP_SETTLE for a regular-hours step
        at an instant a minute batch of prints also ends at (see the module docstring)."""
        return step.at + (STEP_SETTLE if step.name in _SETTLED_STEPS else timedelta(0))

    def upcoming(self) -> Step | None:
        """The step the day loop runs next (None between days, or before the first)."""
        return self._todo[0] if self._todo else None

    async def _run_step(self, step: Step, session: date) -> Any:
        name = step.name
        late = step.is_late(self.clock.now())
        if name is StepName.SCAN:
            return await self.scan(self.calendar.previous_session(session))
        if name is StepName.PREMARKET:
            return await self.premarket(session)
        if name is StepName.GAP_FILTER:
            return await self.gap_filter(session, late=late)
        if name is StepName.GROUP_A:
            return await self.enter_group_a(session)
        if name is StepName.OPEN:
            return await self.market_open(session)
        if name is StepName.GROUP_B:
            return await self.enter_group_b(session)
        if name is StepName.ENTRY_CUTOFF:
            return await self.entry_cutoff(session)
        if name is StepName.TIME_EXIT:
            return await self.time_exit(session)
        if name is StepName.CLOSE:
            return await self.market_close(session)
        if name is StepName.EOD:
            return await self.end_of_day(session)
        raise ValueError(f"unknown step {name}")

    def _steps_done(self, session: date) -> set[str]:
        rows = self.store.audit_log(
            subject=f"session:{session.isoformat()}", action="step.done", limit=None
        )
        return {str((r.detail or {}).get("step")) for r in rows}

    def _found_done(self, step: Step, session: date) -> bool:
        """A step past its deadline whose work the store shows done before a restart (killed
        before its ``step.done`` row): recorded done, not reported missed (issue 12.8)."""
        found = found_done(
            step.name,
            session,
            self.store,
            scan_stored=self.scan_row(session) is not None,
            candidates=self.candidates(session),
        )
        if found is None:
            return False
        now = self.clock.now()
        self.store.audit(
            "engine",
            "step.done",
            f"session:{session.isoformat()}",
            {"step": str(step.name), "late": False, "found": found},
            at=now,
        )
        self._log("INFO", f"{session}: step {step.name} was done before the restart ({found})")
        return True

    async def _missed_step(self, step: Step, session: date) -> None:
        now = self.clock.now()
        consequence = CONSEQUENCE[step.name]
        self._missed.setdefault(session, []).append(str(step.name))
        self.store.audit(
            "engine",
            "step.missed",
            f"session:{session.isoformat()}",
            {"step": str(step.name), "deadline": step.deadline.isoformat(), "why": consequence},
            at=now,
        )
        self.bus.publish(StepMissed(now, session, step.name, step.deadline, consequence))
        self._log("WARNING", f"{session}: step {step.name} missed ({consequence})")
        if step.name is StepName.GAP_FILTER:
            for c in self.candidates(session):
                if self._gap_rows(session).get(c.id) is None:
                    self._record_gap(
                        session,
                        c,
                        GapResult(
                            None,
                            SOURCE_NONE,
                            c.close,
                            None,
                            False,
                            GAP_FILTER_MISSED,
                            f"the 09:25 gap filter was missed (started at {now:%H:%M}): dropped",
                        ),
                    )
        elif step.name in (StepName.GROUP_A, StepName.GROUP_B):
            group = Group.A if step.name is StepName.GROUP_A else Group.B
            gaps = self._gap_rows(session)
            entered = self._entered_candidates(session)
            for c in self.candidates(session):
                if c.grp != group or c.id in entered:
                    continue
                state = self._resolve_approval(c)
                g = gaps.get(c.id)
                if state is ApprovalState.APPROVED and g is not None and g.passed:
                    self._reject(
                        session, c, WINDOW_MISSED, 0, f"group {group} step missed: {consequence}"
                    )

    # ==================================================================== the steps
    async def scan(self, session: date) -> ScanOutcome | None:
        """The nightly scan of ``session`` with retries (a failure leaves no candidates).

        A list already being traded (its entry times began) is kept as it is."""
        try:
            return await self.scanner.scan_with_retries(session)
        except ScanRefused as exc:
            self._log("WARNING", f"nightly scan of {session} not run: {exc}")
            return None

    async def premarket(self, session: date) -> None:
        now = self.clock.now()
        self._day = session
        released = self.kill.for_session(session, now)
        if released is not self.kill:
            self.kill = released
            self.store.audit(
                "engine",
                "kill_switch.released",
                "",
                {"detail": released.detail, "session": session.isoformat()},
                at=now,
            )
            self.bus.publish(KillSwitchChanged(now, False, "", released.detail))
        self._start_equity = await self._session_start_equity(session)
        self._record_params(now)  # before the entries: dumping them takes ~50 ms
        self._last_equity_check = None
        self.prints.new_session()
        await self.book.roll_session(session)
        await self.book.settle()
        await self.refresh_stream()

    async def gap_filter(self, session: date, *, late: bool = False) -> list[GapResult]:
        """Rules §8 for every candidate: a recorded result each (price, source, gap, verdict)."""
        cands = self.candidates(session)
        if not cands:
            return []
        cfg = self._cfg
        at = self.calendar.at(session, cfg.schedule.gap_filter_at)
        now = self.clock.now()
        snaps = await self._snapshots([c.symbol for c in cands], at)
        day_start = self.calendar.at(session, "04:00")
        out: list[GapResult] = []
        for c in cands:
            snap = snaps.get(c.symbol)
            trade_price: float | None = None
            quote: tuple[float | None, float | None] | None = None
            prev_close = c.close  # the scan session's close IS the previous close
            if snap is not None:
                t = snap.latest_trade
                if t is not None and t.at is not None and day_start <= t.at < at:
                    trade_price = t.price
                q = snap.latest_quote
                if q is not None and day_start <= q.at <= at:
                    quote = (q.bid, q.ask)
                if _usable(snap.prev_close):
                    prev_close = float(snap.prev_close)  # type: ignore[arg-type]
            pm = premarket_price(trade_price, quote)
            result = gap_decision(pm.price, pm.source, prev_close, cfg.risk.gap)
            if late:
                result = GapResult(
                    result.price,
                    result.source,
                    result.prev_close,
                    result.gap,
                    result.passed,
                    result.reason,
                    f"{result.detail} (run late at {now:%H:%M:%S} with the market as of "
                    f"{at:%H:%M})",
                )
            self._record_gap(session, c, result, late=late)
            if self.exchange is not None and trade_price is not None and snap is not None:
                assert snap.latest_trade is not None
                self.exchange.on_price(c.symbol, trade_price, snap.latest_trade.at)
            out.append(result)
        return out

    async def enter_group_a(self, session: date) -> list[Order]:
        """Market-on-open orders for approved, gap-passed group A candidates (rank order)."""
        sent: list[Order] = []
        gaps = self._gap_rows(session)
        entered = self._entered_candidates(session)
        until = self.calendar.at(session, self._cfg.schedule.group_a_until)
        for c in self.candidates(session):
            if c.grp != Group.A or c.id in entered:
                continue
            state = self._resolve_approval(c)
            g = gaps.get(c.id)
            if g is None or not g.passed:
                continue  # the gap result is the record
            if state is ApprovalState.VETOED:
                continue  # paper-tracked from the open
            if state is not ApprovalState.APPROVED:
                self._reject(session, c, NOT_APPROVED, 0, "not approved (on_pending = skip)")
                continue
            if self.clock.now() > until:  # a slow broker: never an OPG order after 09:28
                self._reject(
                    session,
                    c,
                    WINDOW_MISSED,
                    0,
                    f"group A orders may only be sent until {until:%H:%M}",
                )
                continue
            price = g.price if _usable(g.price) else c.close
            order = await self._try_enter(session, c, float(price), Group.A)  # type: ignore[arg-type]
            if order is not None:
                sent.append(order)
                self._crash("after_opg_submit")
        return sent

    async def market_open(self, session: date) -> None:
        """The official open: the simulated exchange's opening auction, a price update of the
        held symbols, and the paper entries of vetoed group A candidates."""
        open_at = self.calendar.open_time(session)
        symbols = set(self.watch_symbols()) | {c.symbol for c in self.candidates(session)}
        snaps = await self._snapshots(sorted(symbols), open_at)
        opens: dict[str, float] = {}
        for sym, snap in snaps.items():
            if _usable(snap.session_open):
                opens[sym] = float(snap.session_open)  # type: ignore[arg-type]
        now = self.clock.now()
        for c in self.candidates(session):
            if c.symbol in opens:  # group A's reference, group B's confirmation base
                self.store.record_official_open(session, c.symbol, opens[c.symbol], at=now)
        self.data_time = open_at
        try:
            if self.exchange is not None:
                for sym in sorted(opens):
                    self.exchange.on_open(sym, opens[sym], open_at)
            await self.book.settle()
            # The official open is a print like any other (§14: a jump waits for a second one).
            acted = {
                sym: self.prints.accept(sym, opens[sym], open_at)
                for sym in sorted((self.book.held() | self.paper.symbols()) & set(opens))
            }
            for sym in sorted(self.book.held() & set(acted)):
                for price, t in acted[sym]:
                    await self.book.on_price(sym, price, t)
            gaps = self._gap_rows(session)
            for c in self.candidates(session):
                if c.grp != Group.A or c.symbol not in opens:
                    continue
                g = gaps.get(c.id)
                if g is not None and g.passed and c.approval == ApprovalState.VETOED:
                    self._paper_open(c, opens[c.symbol], open_at)
            for sym in sorted(self.paper.symbols() & set(opens)):
                for price, t in acted.get(sym, ((opens[sym], open_at),)):
                    self.paper.on_price(sym, price, t)
        finally:
            self.data_time = None
        await self.book.settle()
        await self.refresh_stream()

    async def enter_group_b(self, session: date) -> list[Order]:
        """The 09:50 confirmation of group B; confirmed -> the checks and a market order."""
        cfg = self._cfg
        at = self.calendar.at(session, cfg.schedule.group_b_at)
        gaps = self._gap_rows(session)
        entered = self._entered_candidates(session)
        todo: list[tuple[CandidateRow, ApprovalState]] = []
        for c in self.candidates(session):
            if c.grp != Group.B or c.id in entered:
                continue
            state = self._resolve_approval(c)
            g = gaps.get(c.id)
            if g is None or not g.passed:
                continue
            if state not in (ApprovalState.APPROVED, ApprovalState.VETOED):
                self._reject(session, c, NOT_APPROVED, 0, "not approved (on_pending = skip)")
                continue
            if state is ApprovalState.APPROVED and self._not_trading(session, c):
                continue
            todo.append((c, state))
        if not todo:
            return []
        snaps = await self._snapshots([c.symbol for c, _ in todo], at)
        open_at = self.calendar.open_time(session)
        cutoff = self.calendar.at(session, cfg.schedule.entry_cutoff)
        sent: list[Order] = []
        for c, state in todo:
            snap = snaps.get(c.symbol)
            price: float | None = None
            official: float | None = None
            if snap is not None:
                t = snap.latest_trade
                if t is not None and t.at is not None and open_at <= t.at <= at:
                    price = t.price
                official = snap.session_open
            conf = confirm_group_b(Side(c.side), price, official, cfg.risk.entries)
            now = self.clock.now()
            if _usable(official):  # (the first reading of the session stays on record)
                self.store.record_official_open(session, c.symbol, float(official), at=now)  # type: ignore[arg-type]
            self.store.audit(
                "engine",
                "entry.confirmation",
                f"candidate:{c.id}",
                {
                    "session": session.isoformat(),
                    "symbol": c.symbol,
                    "side": c.side,
                    "price": price,
                    "open": official,
                    "threshold": conf.threshold,
                    "confirmed": conf.confirmed,
                    "reason": conf.reason,
                    "vetoed": state is ApprovalState.VETOED,
                },
                at=now,
            )
            self.bus.publish(ConfirmationChecked(now, session, c.id, c.symbol, conf))
            if state is ApprovalState.VETOED:
                if conf.confirmed and price is not None:
                    self._paper_open(c, price, at)
                continue
            if not conf.confirmed or price is None:
                thr = "n/a" if conf.threshold is None else f"{conf.threshold:.4f}"
                self._reject(
                    session,
                    c,
                    NOT_CONFIRMED,
                    0,
                    f"latest trade {price} vs official open {official} (threshold {thr}, "
                    f"{c.side}): {conf.reason}",
                )
                continue
            if self.clock.now() >= cutoff:
                self._reject(
                    session, c, WINDOW_MISSED, 0, f"the entry window closed at {cutoff:%H:%M}"
                )
                continue
            if self.exchange is not None:
                self.exchange.on_price(c.symbol, price, at)
            order = await self._try_enter(session, c, price, Group.B)
            if order is not None:
                sent.append(order)
        await self.book.settle()
        await self.refresh_stream()
        return sent

    async def entry_cutoff(self, session: date) -> list[Order]:
        """10:00: no new entries; unfilled entry orders are canceled."""
        done = await self.orders.cancel_entries(session)
        await self.book.settle()
        await self.refresh_stream()
        return done

    async def time_exit(self, session: date) -> None:
        """Prices of the held (and paper-tracked) symbols now, so the time exit fires on time."""
        now = self.clock.now()
        symbols = sorted(self.book.held() | self.paper.symbols())
        if not symbols:
            return
        snaps = await self._snapshots(symbols, now)
        for sym in symbols:
            snap = snaps.get(sym)
            t = None if snap is None else snap.latest_trade
            if t is None or not _usable(t.price):
                continue
            await self.on_trade(sym, t.price, now)
        await self.book.settle()

    async def market_close(self, session: date) -> None:
        """The close: the stream stops; the simulated exchange sees the closing prints of the
        symbols with open orders, then its end of day (DAY orders expire)."""
        close_at = self.calendar.close_time(session)
        await self._stop_stream()
        if self.exchange is None:
            return
        symbols = sorted({o.symbol for o in await self._open_broker_orders()})
        snaps = await self._snapshots(symbols, close_at) if symbols else {}
        self.data_time = close_at
        try:
            for sym in symbols:
                snap = snaps.get(sym)
                t = None if snap is None else snap.latest_trade
                if t is not None and _usable(t.price):
                    self.exchange.on_close(sym, t.price, close_at)
            self.exchange.end_of_day(close_at)
        finally:
            self.data_time = None
        await self.book.settle()

    async def end_of_day(self, session: date) -> SessionSummary:
        """Close + 5 min: the equity snapshot, the daily performance row, the summary."""
        now = self.clock.now()
        acct = await self._account()
        start = self._start_equity
        if not _usable(start):
            start = await self._session_start_equity(session)
        peak = self._equity_peak(acct.equity)
        self.store.record_equity(
            at=now,
            session=session,
            equity=acct.equity,
            cash=acct.cash,
            day_pnl=acct.equity - start,
            peak_equity=peak,
            drawdown=drawdown(acct.equity, peak),
        )
        trades = self.store.trades(session, session)
        self.store.record_daily_performance(
            session,
            start_equity=start,
            end_equity=acct.equity,
            trades=len(trades),
            wins=sum(1 for t in trades if t.pnl > 0),
            at=now,
        )
        scan = self.scan_row(session)
        summary = build_summary(
            self.store,
            session,
            scan_session=self.calendar.previous_session(session),
            candidates=self.candidates(session),
            regime=None if scan is None else scan.regime,
            market=self.market.name,
            start_equity=start,
            end_equity=acct.equity,
            kill_switch=self.kill.engaged,
            positions=self.book.positions(),
            missed=self._missed.get(session, ()),
            since=self.calendar.at(self.calendar.previous_session(session), "00:00"),
            notes=self._day_notes(),
        )
        self.connections.clear()  # reported
        self.bus.publish(SessionSummaryReady(now, summary))
        return summary

    def _on_connection(self, ev: ConnectionStateChanged) -> None:
        line = self.connections.record(ev)
        if line is not None:
            self._log(*line)

    def _day_notes(self) -> list[str]:
        notes: list[str] = list(self.connections.notes())
        if self.kill.engaged:
            notes.append(f"kill switch engaged ({self.kill.reason}): {self.kill.detail}")
        if self.gate.blocked:
            notes.append(f"trading blocked: {self.gate.reason}")
        if self.prints.held:
            notes.append(
                f"{self.prints.held} price jump(s) held for confirmation "
                f"({self.prints.confirmed} confirmed; see the log)"
            )
        return notes

    # ================================================================== price flow
    def watch_symbols(self) -> tuple[str, ...]:
        """What the stream carries: held symbols, paper tracks and symbols with open orders
        (entries are decided on snapshots, so candidates need no stream of their own)."""
        syms = set(self.book.held()) | self.paper.symbols()
        syms |= {r.symbol for r in self.store.open_orders()}
        return tuple(sorted(syms))

    async def refresh_stream(self) -> None:
        """Re-subscribe the stream if the watched symbols changed. Called at steps that run
        at the end of a minute (or before the first one), so no minute is lost or doubled."""
        await self._start_stream(self.watch_symbols())

    async def on_trade(self, symbol: str, price: float, at: datetime) -> Order | None:
        """One print: the simulated exchange, then the position book (exits, MFE/MAE), the
        paper tracks, and now and then the daily loss limit. Returns an exit order if sent."""
        self.data_time = at
        try:
            previous, self._last_print_at = self._last_print_at, at
            if previous is not None and at > previous:
                # Time moved on: the account now shows every print up to ``previous``.
                last = self._last_equity_check
                if last is None or (at - last).total_seconds() >= self.equity_check_s:
                    self._last_equity_check = at
                    await self.check_daily_loss()
            if self.exchange is not None:
                self.exchange.on_price(symbol, price, at)
            order = None
            # §14: a print far from the last accepted price is acted on (exits, MFE/MAE, paper
            # tracks) only once a second print confirms it; the broker's stop protects meanwhile.
            for p, t in self.prints.accept(symbol, price, at):
                order = await self.book.on_price(symbol, p, t) or order
                self.paper.on_price(symbol, p, t)
            return order
        finally:
            self.data_time = None

    def _print_reference(self, symbol: str) -> float | None:
        """What a held symbol's first print of the session is judged against: the position's
        last price (or its fill)."""
        pos = self.book.position(symbol)
        if pos is None:
            return None
        return pos.last_price if _usable(pos.last_price) else pos.fill_price

    def daily_loss_watch(self) -> float | None:
        """The equity at or below which the next daily-loss check engages the kill switch
        (None while no check can engage it: already engaged, or no session started). For the
        backtester's market (see :mod:`workstation.core.print_watch`)."""
        if self.kill.engaged or self._day is None or not _usable(self._start_equity):
            return None
        return daily_loss_level(self._start_equity, self._cfg.risk.portfolio)

    async def _start_stream(self, symbols: Sequence[str]) -> None:
        symbols = tuple(symbols)
        if (
            self._stream_task is not None
            and not self._stream_task.done()
            and symbols == self._stream_symbols
        ):
            return
        await self._stop_stream()
        if not symbols:
            return
        self._stream_symbols = symbols
        self._stream_task = asyncio.get_running_loop().create_task(
            self._consume(symbols), name="price-stream"
        )

    async def _stop_stream(self) -> None:
        task, self._stream_task = self._stream_task, None
        self._stream_symbols = ()
        if task is None:
            return
        while not task.done():
            # Cancel again until it ends: a cancel that lands while on_trade awaits a broker
            # call can be swallowed (asyncio.wait_for in 3.11 drops it when the inner call
            # completes at the same moment), and the task would wait for ticks forever.
            task.cancel()
            await asyncio.wait({task}, timeout=0.5)
        if not task.cancelled() and task.exception() is not None:
            log.warning("the price stream ended with an error: %r", task.exception())

    async def _consume(self, symbols: tuple[str, ...]) -> None:
        agen = self.market.stream(symbols)
        try:
            async for ev in agen:
                if isinstance(ev, TradeTick):
                    self.bus.publish(TradeEvent(ev.at, ev))
                    try:
                        await self.on_trade(ev.symbol, ev.price, ev.at)
                    except (BrokerError, TimeoutError) as exc:
                        self._log("ERROR", f"price of {ev.symbol} not processed: {exc}")
                elif isinstance(ev, Quote):
                    self.bus.publish(QuoteEvent(ev.at, ev))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._log("ERROR", f"the price stream stopped: {type(exc).__name__}: {exc}")
        finally:
            with contextlib.suppress(Exception):
                await agen.aclose()  # type: ignore[attr-defined]

    # ================================================================= kill switch
    async def check_daily_loss(self) -> bool:
        """Engage the kill switch if equity is at or below the daily loss level."""
        if self.kill.engaged or self._day is None or not _usable(self._start_equity):
            return self.kill.engaged
        try:
            acct = await self._account()
        except (BrokerError, TimeoutError) as exc:
            self._log("WARNING", f"equity unavailable for the daily loss limit: {exc}")
            return False
        now = self.clock.now()
        new = self.kill.check_daily_loss(
            acct.equity, self._start_equity, now, self._day, self._cfg.risk.portfolio
        )
        self._mark_equity(now, acct.equity, new.engaged)
        if new is not self.kill and new.engaged:
            await self._engaged(new, actor="engine")
        return self.kill.engaged

    def _mark_equity(self, at: datetime, equity: float, engaged: bool) -> None:
        """Record what the daily-loss check saw, when it matters for re-checking it: the
        session's first check, every new low of the session, the engagement. (A check at a
        higher equity cannot engage where one at a lower equity did not, so the lows on
        record re-check every check; one INSERT, never one per print.)"""
        assert self._day is not None
        low = self._mark_low
        if low is not None and low[0] == self._day and equity >= low[1] and not engaged:
            return
        self._mark_low = (
            self._day,
            equity if low is None or low[0] != self._day else min(equity, low[1]),
        )
        self.store.record_equity_mark(
            at=at,
            session=self._day,
            equity=equity,
            start_equity=self._start_equity,
            loss_limit=self._cfg.risk.portfolio.daily_loss_limit,
            engaged=engaged,
        )

    async def _engaged(self, state: KillSwitch, *, actor: str) -> None:
        self.kill = state
        now = self.clock.now()
        session = state.session or self._today()
        self.store.audit(
            actor,
            "kill_switch.engaged",
            "",
            {"reason": state.reason, "detail": state.detail, "session": session.isoformat()},
            at=now,
        )
        self.bus.publish(KillSwitchChanged(now, True, state.reason, state.detail))
        self._log("WARNING", f"kill switch engaged ({state.reason}): {state.detail}")
        for row in self.store.open_orders():
            if row.intent != OrderIntent.ENTRY:
                continue
            try:
                await self.orders.cancel(row.client_order_id)
            except (BrokerError, KeyError) as exc:
                self._log("ERROR", f"kill switch: cancel of entry {row.client_order_id}: {exc}")
        await self.book.settle()

    # ===================================================================== commands
    def approve(self, candidate_id: int, note: str = "") -> CandidateRow:
        """Approve a candidate until its entry time (CommandRefused after it)."""
        return self._decide(candidate_id, "approve", note)

    def veto(self, candidate_id: int, note: str = "") -> CandidateRow:
        """Veto a candidate until its entry time; it is paper-tracked instead."""
        return self._decide(candidate_id, "veto", note)

    def undo_decision(self, candidate_id: int) -> CandidateRow:
        """Undo an approval or veto (back to pending) until the candidate's entry time."""
        return self._decide(candidate_id, "undo", "")

    def _decide(self, candidate_id: int, action: str, note: str) -> CandidateRow:
        c = self.store.get_candidate(candidate_id)
        if c is None:
            raise CommandRefused(f"there is no candidate {candidate_id}")
        scan = self.store.get_scan(c.scan_id)
        assert scan is not None
        latest = self.store.latest_scan(scan.session, market=scan.market)
        if latest is None or latest.id != c.scan_id:
            raise CommandRefused(
                f"{c.symbol}: this candidate is from a superseded scan of {scan.session}"
            )
        deadline = self.decision_deadline(c, scan.session)
        now = self.clock.now()
        current = ApprovalState(c.approval)
        if action == "undo":
            res = user_undo(current, now, deadline)
        else:
            res = user_decision(current, action == "approve", now, deadline)
        if res.reason in REFUSALS:
            raise CommandRefused(
                f"{c.symbol}: {res.reason} (entry time {deadline:%Y-%m-%d %H:%M} ET)"
            )
        row = self.store.set_approval(candidate_id, res.state, note or None, "user", at=now)
        self.bus.publish(
            ApprovalChanged(now, c.id, c.symbol, str(res.state), note, "user", str(current))
        )
        return row

    def decision_deadline(self, c: CandidateRow, scan_session: date) -> datetime:
        """The entry time of a candidate of ``scan_session``'s scan (rules §7)."""
        entry_session = self.calendar.next_session(scan_session)
        return entry_time(Group(c.grp), entry_session, self._cfg.schedule, self.calendar)

    def expire_stale_pending(self, next_run: date | None = None) -> list[CandidateRow]:
        """Candidates still pending whose entry session no step will run again (the engine
        was not running then): recorded as skipped, "expired", so none reads "pending"
        forever. ``next_run`` is the session the engine runs next (default: the one ``now``
        belongs to); its own candidates are left to its entry steps (run, or missed)."""
        now = self.clock.now()
        if next_run is None:
            next_run = session_to_run(now, self._cfg.schedule, self.calendar)
        out: list[CandidateRow] = []
        for scan in self.store.scans_with_pending(market=self.market.name):
            try:
                entry_session = self.calendar.next_session(scan.session)
            except Exception:  # a session outside the calendar
                continue
            if entry_session >= next_run:
                continue
            for c in self.store.candidates_for_scan(scan.id):
                res = expire_pending(
                    ApprovalState(c.approval), now, self.decision_deadline(c, scan.session)
                )
                if res is not None:
                    out.append(self._record_policy(c, res))
        return out

    def _record_policy(self, c: CandidateRow, res: Resolution) -> CandidateRow:
        now = self.clock.now()
        row = self.store.set_approval(c.id, res.state, res.reason, "policy", at=now)
        self.bus.publish(
            ApprovalChanged(now, c.id, c.symbol, str(res.state), res.reason, "policy", c.approval)
        )
        return row

    async def engage_kill_switch(
        self, *, flatten: bool = False, detail: str = "engaged by the user"
    ) -> FlattenResult | None:
        """Block new entries and cancel open entry orders; with ``flatten`` also close every
        position at market (exit reason KILL_SWITCH)."""
        if not self.kill.engaged:
            state = self.kill.engage(KS_USER, self.clock.now(), self._today(), detail)
            await self._engaged(state, actor="user")
        if flatten:
            result = await self.book.flatten_all(ExitReason.KILL_SWITCH)
            await self.book.settle()
            return result
        return None

    async def release_kill_switch(self) -> None:
        if not self.kill.engaged:
            return
        now = self.clock.now()
        self.kill = self.kill.release(now)
        self.store.audit(
            "user", "kill_switch.released", "", {"session": self._today().isoformat()}, at=now
        )
        self.bus.publish(KillSwitchChanged(now, False, "", "released by the user"))

    async def flatten_all(self) -> FlattenResult:
        """Close every position at market (exit reason MANUAL) and cancel entry orders."""
        result = await self.book.flatten_all(ExitReason.MANUAL)
        await self.book.settle()
        return result

    async def exit_position(self, symbol: str) -> Order | None:
        """Close one position at market (exit reason MANUAL)."""
        order = await self.book.exit_position(symbol, ExitReason.MANUAL)
        await self.book.settle()
        return order

    def scan_now_session(self) -> date:
        """The session "Run scan now" scans: the last completed one."""
        return self.calendar.last_completed_session(self.clock.now())

    async def move_levels(
        self,
        symbol: str,
        sl: float | None = None,
        tp: float | None = None,
        *,
        beyond_emergency_ok: bool = False,
        note: str = "",
    ) -> LevelMove:
        """Move one position's SL and/or TP by hand (``PositionBook.move_levels``)."""
        move = await self.book.move_levels(
            symbol, sl, tp, beyond_emergency_ok=beyond_emergency_ok, note=note
        )
        await self.book.settle()
        return move

    async def run_scan_now(self) -> ScanOutcome | None:
        """Scan the last completed session now (between steps). A re-run carries the user's
        decisions over; a list being traded is never replaced (CommandRefused)."""
        session = self.scan_now_session()
        async with self._step_lock():
            try:
                return await self.scanner.scan_with_retries(session)
            except ScanRefused as exc:
                raise CommandRefused(str(exc)) from None

    async def reload_params(self) -> tuple[bool, tuple[str, ...]]:
        """Re-read the YAML files; the new set applies from the next step (never mid-entry).
        A bad set is refused and the one in force stays (ConfigRejected)."""
        async with self._step_lock():
            now = self.clock.now()
            if self._manager is not None:
                ok, errors = self._manager.reload()
            else:
                ok, errors = True, ()
            if not ok:
                self.bus.publish(ConfigRejected(now, tuple(errors)))
                self.store.audit("user", "params.rejected", "", {"errors": list(errors)}, at=now)
                return False, tuple(errors)
            self._cfg = self._read_config()
            self._record_params(now)
            self.store.audit(
                "user", "params.reloaded", "", {"param_hash": self._cfg.param_hash}, at=now
            )
            self.bus.publish(ConfigReloaded(now, self._cfg.param_hash))
            return True, ()

    # ====================================================================== entries
    async def _try_enter(
        self, session: date, c: CandidateRow, price: float, group: Group
    ) -> Order | None:
        """The six checks of §9 in order, then the entry order (A: OPG, B: market DAY)."""
        if not self.gate.allows_trading():
            self._reject(session, c, TRADING_BLOCKED, 0, f"trading blocked: {self.gate.reason}")
            return None
        if self._not_trading(session, c):
            return None
        cfg = self._cfg
        ctx, peak = await self._entry_context(session)
        asset = await self._asset(c.symbol)
        ec = EntryCandidate(
            symbol=c.symbol,
            sector=self._sector(c.symbol, c.sector),
            side=Side(c.side),
            price=price,
            atr14=c.atr14,
            sl_mult=c.sl_mult,
            shortable=bool(asset and asset.shortable),
            easy_to_borrow=bool(asset and asset.easy_to_borrow),
        )
        decision = check_entry(ec, ctx, cfg.risk)
        cid = client_order_id(session, c.symbol, c.strategy, OrderIntent.ENTRY)
        self._record_entry_check(session, c, group, ec, ctx, peak, asset, decision, cid)
        if not decision.ok:
            self._reject(session, c, decision.reason, decision.check_number, decision.detail)
            return None
        self.book.expect_entry(cid, EntryPlan.of_row(c))
        self._entry_price[cid] = price
        request = OrderRequest(
            client_order_id=cid,
            symbol=c.symbol,
            side=OrderSide.to_open(Side(c.side)),
            qty=decision.qty,
            type=OrderType.MARKET,
            tif=TimeInForce.OPG if group is Group.A else TimeInForce.DAY,
            intent=OrderIntent.ENTRY,
            strategy=c.strategy,
        )
        now = self.clock.now()
        try:
            order = await self.orders.submit(
                request,
                session=session,
                candidate_id=c.id,
                detail={"group": str(group), "price": price, "sizing": decision.detail},
            )
        except OrderRejected:
            return None  # recorded by _on_order_update, as a rejection on the stream is
        except OrderUncertain as exc:
            self._reject(session, c, BROKER_UNCERTAIN, 0, f"no answer from the broker: {exc}")
            return None
        except BrokerError as exc:
            self._reject(session, c, BROKER_REJECTED, 0, f"the broker refused it: {exc}")
            return None
        self.store.audit(
            "engine",
            "entry.submitted",
            f"candidate:{c.id}",
            {
                "session": session.isoformat(),
                "symbol": c.symbol,
                "group": str(group),
                "order": cid,
                "qty": decision.qty,
                "price": price,
                "sizing": decision.detail,
            },
            at=now,
        )
        self.bus.publish(
            EntrySubmitted(now, session, c.id, c.symbol, str(group), cid, decision.qty, price)
        )
        return order

    def _record_entry_check(
        self,
        session: date,
        c: CandidateRow,
        group: Group,
        ec: EntryCandidate,
        ctx: EntryContext,
        peak: float,
        asset: Asset | None,
        decision: EntryDecision,
        cid: str,
    ) -> None:
        """Every input of the checks as columns, before anything is sent (issue 12.11)."""
        cfg = self._cfg
        now = self.clock.now()
        self._record_params(now)  # (normally done: at premarket or on a reload)
        values = entry_check_values(
            candidate_id=c.id,
            group=group,
            c=ec,
            ctx=ctx,
            peak_equity=peak,
            asset=asset,
            decision=decision,
            cfg=cfg,
            client_order_id=cid if decision.ok else None,
        )
        self.store.record_entry_check(at=now, session=session, values=values)

    def _record_params(self, at: datetime) -> None:
        """The parameter set in force, once per hash: entry checks refer to it by hash."""
        cfg = self._cfg
        if cfg.param_hash not in self._params_recorded:
            self.store.record_param_set(
                cfg.param_hash, params_yaml(cfg), "session", at=at, actor="engine"
            )
            self._params_recorded.add(cfg.param_hash)

    async def _entry_context(self, session: date) -> tuple[EntryContext, float]:
        """The portfolio at an entry decision, and the equity peak its drawdown is from."""
        acct = await self._account()
        positions = self.book.positions()
        held = set(self.book.held())
        pending_rows = [r for r in self.store.open_orders() if r.intent == OrderIntent.ENTRY]
        pending_syms = {r.symbol for r in pending_rows} - held
        sectors: Counter[str] = Counter()
        for sym in held | pending_syms:
            sectors[self._sector(sym)] += 1
        gross = sum(p.open_qty * (p.last_price or p.fill_price) for p in positions)
        for r in pending_rows:
            if r.symbol in held:
                continue
            ref = self._entry_price.get(r.client_order_id)
            if ref is None and r.candidate_id is not None:
                cand = self.store.get_candidate(r.candidate_id)
                ref = None if cand is None else cand.close
            gross += (r.qty - r.filled_qty) * (ref or 0.0)
        scan = self.scan_row(session)
        regime = Regime(scan.regime) if scan is not None and scan.regime else Regime.RANGING
        limits = self._cfg.scanner.regime.limits(regime)
        peak = self._equity_peak(acct.equity)
        ctx = EntryContext(
            kill_switch_engaged=self.kill.engaged,
            held=frozenset(held | pending_syms),
            exited_today=self.book.exited_today(session),
            open_positions=len(held),
            pending_entries=len(pending_syms),
            sector_counts=dict(sectors),
            regime_max_positions=limits.max_positions,
            equity=acct.equity,
            buying_power=acct.buying_power,
            gross_exposure=gross,
            drawdown=drawdown(acct.equity, peak),
        )
        return ctx, peak

    def _equity_peak(self, equity_now: float) -> float:
        """The drawdown rule's peak: every session's starting equity, every end-of-day
        equity (the store's), and the equity now (issue 12 item 6: the start counts)."""
        stored = self.store.peak_equity()
        return equity_now if stored is None else max(stored, equity_now)

    def _not_trading(self, session: date, c: CandidateRow) -> bool:
        """§14: no entry in a session the market knows the symbol does not trade in (zero
        volume, or a bar that is not served); the rejection is recorded. Markets that cannot
        know it ahead (a live feed) do not say, and the order simply finds no prints."""
        if not isinstance(self.market, KnowsTradingSessions):
            return False
        why = self.market.not_trading([c.symbol], session).get(c.symbol)
        if why is None:
            return False
        reason = NO_VOLUME if why == "no_volume" else why.upper()
        detail = (
            f"{c.symbol} traded no shares on {session}"
            if reason == NO_VOLUME
            else f"{c.symbol}'s bar of {session} is not served ({why}): it does not trade today"
        )
        self._reject(session, c, reason, 0, detail)
        return True

    def _on_order_update(self, order: Order, previous: OrderStatus) -> None:
        """An entry order the broker rejected: the candidate's rejection, recorded the same
        whether the refusal was the request's answer or came later on the trade stream."""
        if order.status is not OrderStatus.REJECTED or order.request.intent is not (
            OrderIntent.ENTRY
        ):
            return
        row = self.store.order_by_client_id(order.client_order_id)
        c = (
            None
            if row is None or row.candidate_id is None
            else self.store.get_candidate(row.candidate_id)
        )
        if row is None or c is None:
            return  # not a candidate's entry (e.g. a test's or the user's own)
        reason = order.reject_reason or "rejected by the broker"
        self._reject(row.session, c, BROKER_REJECTED, 0, f"the broker rejected it: {reason}")

    def _reject(self, session: date, c: CandidateRow, reason: str, check: int, detail: str) -> None:
        now = self.clock.now()
        self.store.audit(
            "engine",
            "entry.rejected",
            f"candidate:{c.id}",
            {
                "session": session.isoformat(),
                "symbol": c.symbol,
                "group": c.grp,
                "reason": reason,
                "check": check,
                "detail": detail,
            },
            at=now,
        )
        self.bus.publish(EntryRejected(now, session, c.id, c.symbol, c.grp, reason, check, detail))

    def _resolve_approval(self, c: CandidateRow) -> ApprovalState:
        """The candidate's approval at its entry time (``on_pending`` applied and recorded)."""
        fresh = self.store.get_candidate(c.id) or c
        state = ApprovalState(fresh.approval)
        policy = on_pending_policy(self._cfg.risk.approval, self.real_broker)
        res = resolve_pending(state, policy)
        if res.state is not state:
            self._record_policy(fresh, res)
        return res.state

    def _paper_open(self, c: CandidateRow, price: float, at: datetime) -> None:
        if self.paper.has_track(c.id):
            return
        # Sized from the session's starting equity (informational: R and % do not need it).
        size = position_size(self._start_equity, price, c.atr14, c.sl_mult, self._cfg.risk.sizing)
        self.paper.open(c, price, at, size.qty or None)

    # ===================================================================== helpers
    def candidates(self, session: date) -> list[CandidateRow]:
        """The candidates ``session`` may trade: the previous session's successful scan."""
        return tradable_candidates(
            self.store, self.calendar.previous_session(session), market=self.market.name
        )

    def scan_row(self, session: date) -> ScanRow | None:
        return self.store.latest_scan(
            self.calendar.previous_session(session), market=self.market.name
        )

    def _gap_rows(self, session: date) -> dict[int, Any]:
        return {g.candidate_id: g for g in self.store.gap_results(session)}

    def _entered_candidates(self, session: date) -> set[int]:
        return {
            o.candidate_id
            for o in self.store.orders_for_session(session)
            if o.intent == OrderIntent.ENTRY and o.candidate_id is not None
        }

    def _record_gap(
        self, session: date, c: CandidateRow, result: GapResult, *, late: bool = False
    ) -> None:
        now = self.clock.now()
        prev = result.prev_close if _usable(result.prev_close) else c.close
        self.store.record_gap_result(
            c.id,
            session=session,
            price=result.price,
            source=result.source,
            prev_close=float(prev),  # type: ignore[arg-type]
            gap=result.gap,
            passed=result.passed,
            reason=result.reason,
            at=now,
        )
        self.store.audit(
            "engine",
            "gap.checked",
            f"candidate:{c.id}",
            {
                "session": session.isoformat(),
                "symbol": c.symbol,
                "passed": result.passed,
                "reason": result.reason,
                "detail": result.detail,
            },
            at=now,
        )
        self.bus.publish(GapChecked(now, session, c.id, c.symbol, result, late))

    def _sector(self, symbol: str, fallback: str = "Unknown") -> str:
        sector = self.universe.sectors.get(symbol)
        return sector if sector is not None else fallback

    async def _snapshots(self, symbols: Sequence[str], at: datetime) -> dict[str, Snapshot]:
        if not symbols:
            return {}
        with self.clock.hold():
            return await self.market.snapshots(list(symbols), at)

    async def _account(self) -> Account:
        async with asyncio.timeout(self.orders.timeout_s):
            return await self.broker.account()

    async def _asset(self, symbol: str) -> Asset | None:
        try:
            async with asyncio.timeout(self.orders.timeout_s):
                return await self.broker.asset(symbol)
        except (BrokerError, TimeoutError) as exc:
            self._log("WARNING", f"asset {symbol} unknown at the broker ({exc}): not shortable")
            return None

    async def _open_broker_orders(self) -> list[Order]:
        try:
            async with asyncio.timeout(self.orders.timeout_s):
                return await self.broker.open_orders()
        except (BrokerError, TimeoutError):
            return []

    async def _session_start_equity(self, session: date) -> float:
        """The session's starting equity, fixed once in the store when the session starts
        (the previous session's end-of-day equity, else the broker's equity then); a
        restart reads it back instead of taking the equity of the moment (issue 12.5)."""
        stored = self.store.session_start(session)
        if stored is not None:
            return stored.start_equity
        rows = self.store.equity_snapshots(self.calendar.previous_session(session))
        if rows:
            equity, source = rows[-1].equity, "previous_close"
        else:
            equity, source = (await self._account()).equity, "broker"
        row = self.store.record_session_start(
            session, start_equity=equity, source=source, at=self.clock.now()
        )
        return row.start_equity

    def _today(self) -> date:
        return self._day or self.calendar.session_on_or_after(self.clock.now())

    @property
    def start_equity(self) -> float:
        return self._start_equity

    def _log(self, level: str, message: str) -> None:
        getattr(log, level.lower(), log.info)(message)
        self.bus.publish(LogEvent(self.clock.now(), level, SOURCE, message))


__all__ = [
    "BROKER_REJECTED",
    "GAP_FILTER_MISSED",
    "NOT_APPROVED",
    "NOT_CONFIRMED",
    "STEP_SETTLE",
    "TRADING_BLOCKED",
    "WINDOW_MISSED",
    "Exchange",
    "TradingSession",
]
