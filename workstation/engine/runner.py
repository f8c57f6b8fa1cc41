"""The headless runner: ``workstation run --headless`` runs whole trading days without a window.

It builds the clock, market, broker, store and :class:`TradingSession`, reconciles, then runs
``--sessions N`` trading days (each from the previous evening's 20:00 scan to its end-of-day
bookkeeping) and prints a summary per session (``--json``: one JSON object per line).

``--mode paper`` trades Alpaca's paper account on Alpaca's market data, on the wall clock
(``live`` is refused here: it needs the user's explicit confirmation in the window).

Simulated and replay markets trade with the simulated exchange (:class:`SimBroker`). The
exchange outlives the app, as a real one does: its state is saved to
``<data>/sim_exchange.json`` before the app sees any of its events (and after every step),
together with the simulated time and the run's plan. So:

* the first run starts on the simulated "today"'s evening (``sim.today`` in app.yaml, else the
  real date; the last session on or before it), after its close: the first thing it does is
  that session's 20:00 scan; it then trades the N sessions after it;
* a run that did not finish (Ctrl-C, a crash, a kill) is RESUMED by the next
  ``workstation run --headless``: same simulated account, the clock at the time it stopped
  (the time of the last price it processed), the same planned last session; the session
  reloads its state from the store and reconciles with the exchange before trading;
* a run that finished is continued by the next one: N more sessions of the same account.

A simulated account belongs to its simulation (seed, today, market): changing those in
app.yaml while ``sim_exchange.json`` exists is refused with a message; use another ``--home``
or remove the file AND the database to start afresh.

Paper and live runs compare this computer's clock with Alpaca's first: more than 30 s apart,
the run refuses to start (exit 2, one line naming both clocks; nothing is traded).

Exit codes: 0 done; 3 the store and the broker disagree at start (the differences are
printed; nothing was traded); 4 the store became unusable during the run (deleted, replaced,
emptied, read-only, a full disk: trading stopped, one line says what to do); 130 stopped by
Ctrl-C (SIGINT) or SIGTERM at any moment (tasks canceled, state saved, store closed: the next
run resumes); 1/2 user errors.

The store is watched and backed up meanwhile (:mod:`workstation.engine.store_keeper`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Coroutine
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from workstation.broker.base import BrokerError
from workstation.broker.sim import SimBroker
from workstation.context import MAX_SPEED, Context
from workstation.core.calendar import (
    AFTER_HOURS_END,
    ET,
    PRE_MARKET_START,
    CalendarRangeError,
    MarketState,
    TradingCalendar,
)
from workstation.core.clock import Clock, SimClock, WallClock
from workstation.core.events import EventBus, LogEvent
from workstation.engine.clock_check import ClockVerdict
from workstation.engine.crashpoints import CrashHook
from workstation.engine.reconcile import Difference
from workstation.engine.scheduler import day_end, session_to_run
from workstation.engine.session import TradingSession
from workstation.engine.session_events import StepFinished
from workstation.engine.store_keeper import StoreKeeper
from workstation.engine.summary import SessionSummary, format_summary
from workstation.engine.views import Mode
from workstation.errors import UserError
from workstation.health.heartbeat import Heartbeat
from workstation.market.base import MarketData, MarketDataError
from workstation.notify.service import Notifications
from workstation.store import Store
from workstation.store.file_watch import StoreUnusable
from workstation.store.home_store import (
    EXIT_STORE_UNUSABLE,
    home_backups,
    open_home_store,
    restore_advice,
)

STATE_FILE = "sim_exchange.json"
STATE_VERSION = 1
EXIT_DIFFERENCES = 3
EXIT_INTERRUPTED = 130
#: At the end of a run, queued alerts get this long to go out (the rest: the next run).
ALERT_FLUSH_S = 10.0

#: TEST-ONLY: every order of every symbol fills this many shares first, the rest later
#: (``SimBroker.set_partial_fills``), to exercise partial fills end to end.
PARTIAL_FILL_ENV = "WORKSTATION_SIM_PARTIAL_FILL"


@dataclasses.dataclass(frozen=True)
class RunOptions:
    sessions: int = 1
    speed: float | None = None  # clock seconds per real second; math.inf = max; None: app.yaml
    mode: str | None = None  # sim (default), paper, live
    json: bool = False
    forever: bool = False  # session after session until stopped (or the simulation's end)
    live_confirmed: bool = False  # --mode live headless: confirmed on the command line


def parse_speed(raw: str | None) -> float | None:
    """``--speed``: a positive number or ``max``."""
    if raw is None:
        return None
    if raw.strip().lower() == "max":
        return math.inf
    try:
        speed = float(raw)
    except ValueError:
        raise UserError(f"--speed {raw!r} is not valid: give a number > 0 or 'max'") from None
    if not (speed > 0 and math.isfinite(speed)):
        raise UserError(f"--speed {raw!r} is not valid: give a number > 0 or 'max'")
    return math.inf if speed >= MAX_SPEED else speed


# --------------------------------------------------------------------- the exchange file


class ExchangeFile:
    """The simulated exchange's state file: broker state, simulated time and the run's plan.

    Written atomically (temp file + rename). Not fsynced: it must survive the app being
    killed, which a completed rename does; an operating-system crash may lose the last
    writes (the simulated exchange is then a little behind, which reconciliation shows).
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def exists(self) -> bool:
        return self.path.exists()

    def read(self) -> dict[str, Any]:
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(
                f"cannot read the simulated exchange {self.path}: {exc}; remove it and the "
                "database (or use another --home) to start a new simulated account"
            ) from None
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise UserError(
                f"{self.path} is not a simulated exchange state of this version; remove it and "
                "the database (or use another --home) to start a new simulated account"
            )
        return state

    def write(self, state: dict[str, Any]) -> None:
        text = json.dumps(state, separators=(",", ":"), allow_nan=False)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class ExchangeSaver:
    """Saves the simulated exchange before the app sees its events (register it FIRST on the
    broker) and whenever asked (after every step, at the end)."""

    def __init__(
        self,
        file: ExchangeFile,
        broker: SimBroker,
        clock: Clock,
        meta: dict[str, Any],
        run: dict[str, Any],
    ) -> None:
        self.file = file
        self.broker = broker
        self.clock = clock
        self.meta = meta
        self.run = run
        self.data_time: Callable[[], datetime | None] = lambda: None
        self.saves = 0

    def on_broker_event(self, _event: object) -> None:
        self.save()

    def save(self) -> None:
        now = self.data_time() or self.clock.now()
        self.file.write(
            {
                "version": STATE_VERSION,
                "meta": self.meta,
                "clock": now.isoformat(),
                "run": self.run,
                "broker": self.broker.snapshot_state(),
            }
        )
        self.saves += 1


# ------------------------------------------------------------------------------ the runner


class HeadlessRunner:
    """Runs N trading sessions headless and prints their summaries."""

    def __init__(
        self,
        ctx: Context,
        opts: RunOptions,
        *,
        out: TextIO | None = None,
        err: TextIO | None = None,
        crash_hook: CrashHook | None = None,
    ) -> None:
        if opts.sessions < 1:
            raise UserError(f"--sessions must be at least 1, got {opts.sessions}")
        self.ctx = ctx
        self.opts = opts
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        if crash_hook is None:
            try:
                crash_hook = CrashHook.from_env()
            except ValueError as exc:
                raise UserError(str(exc)) from None
        self.crash = crash_hook
        self.bus = EventBus()
        self.session: TradingSession | None = None
        self.clock: Clock | None = None
        self.store: Store | None = None
        self.saver: ExchangeSaver | None = None
        self.summaries: list[SessionSummary] = []
        self.differences: list[Difference] = []
        self.notifications: Notifications | None = None
        self.store_problem: StoreUnusable | None = None
        self.keeper: StoreKeeper | None = None
        self._store_lost = asyncio.Event()
        self.heartbeat: Heartbeat | None = None
        #: Called once the session is started and reconciled (tests add command tasks here).
        self.on_started: Callable[[HeadlessRunner], None] | None = None

    # ------------------------------------------------------------------ entry points
    def run_sync(self) -> int:
        """Run in a fresh event loop; SIGINT/SIGTERM stop it cleanly (exit 130)."""
        return asyncio.run(self._main())

    async def _main(self) -> int:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        installed: list[int] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, task.cancel)
                installed.append(sig)
        try:
            return await self.run()
        except asyncio.CancelledError:
            self.err.write("workstation: stopped; the next 'run --headless' resumes the run\n")
            return EXIT_INTERRUPTED
        finally:
            for sig in installed:
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(sig)

    async def run(self) -> int:
        mode = (self.opts.mode or self.ctx.cfg.app.mode or "sim").lower()
        if mode == "live" and not self.opts.live_confirmed:
            raise UserError(
                "live trading from the headless runner needs --confirm-live (real money, "
                "unattended: confirm it where the service is defined); or use --mode paper"
            )
        if mode == "sim" and self.ctx.market_spec == "alpaca":
            raise UserError(
                "--market alpaca trades through Alpaca: add --mode paper (the simulated "
                "broker trades the simulated or a replayed market)"
            )
        if mode not in ("sim", "backtest", "paper", "live"):
            raise UserError(f"--mode {mode!r} is not valid here: use sim, paper or live")
        from workstation.core.gc_tuning import freeze_startup_heap

        if mode == "paper":
            # alpaca-py and the adapters (~26,000 objects) belong to the start-up heap too:
            # loaded before the freeze, a full collection never walks them during a fetch.
            import workstation.broker.alpaca
            import workstation.market.alpaca  # noqa: F401
        freeze_startup_heap()  # no full-GC pauses of the loop from the start-up heap
        try:
            if mode in ("paper", "live"):
                return await self._run_alpaca(mode)
            return await self._run_sim()
        except MarketDataError as exc:
            raise UserError(str(exc).splitlines()[0] if str(exc) else "market data error") from exc
        except BrokerError as exc:  # e.g. no connection to Alpaca: one line, not a crash
            raise UserError(broker_problem(exc)) from exc

    # ------------------------------------------------------------------ Alpaca paper
    async def _run_alpaca(self, mode: str = "paper") -> int:
        """Alpaca paper trading on the wall clock: Alpaca's market and broker. The sessions
        run in real time from now (a day's timetable as for the simulation)."""
        from workstation.alpaca.session import AlpacaSession
        from workstation.broker.alpaca import AlpacaBroker
        from workstation.market.alpaca import AlpacaMarket

        ctx = self.ctx
        cal = ctx.calendar
        clock = WallClock()
        self.clock = clock
        asess = AlpacaSession.from_config(  # its connection states reach the alerts
            ctx.cfg.app.alpaca, mode=mode, confirm_live=mode == "live", clock=clock, bus=self.bus
        )
        store = self._open_store()
        market = AlpacaMarket(
            asess, universe=ctx.universe(), bar_cache=store, calendar=cal, publish_ticks=False
        )
        broker = AlpacaBroker(asess, calendar=cal)
        session = TradingSession(
            market,
            broker,
            store,
            clock,
            self.bus,
            ctx.config,
            cal,
            scans_dir=ctx.paths.scans_dir,
            mode=Mode(mode),
            exchange=None,
            crash_point=self.crash,
        )
        self.session = session
        self.bus.subscribe(LogEvent, self._on_log)
        self._start_alerts(clock, real_broker=True, mode=mode)
        keeper = self._keeper(store)

        async def trade() -> int:
            await broker.start()
            diffs = await session.start()
            clocks = session.clock_check
            if clocks is not None and clocks.verdict is ClockVerdict.REFUSED:
                # Every step would run at the wrong time (or be "missed"): refuse, one line.
                raise UserError(clocks.text(refused="nothing was traded"))
            if diffs:
                self.differences = diffs
                self._print_differences(diffs)
                return EXIT_DIFFERENCES
            if self.on_started is not None:
                self.on_started(self)
            first = session_to_run(clock.now(), ctx.cfg.schedule, cal)
            if self.opts.forever:
                await self._forever(session, clock, first, None)
                return 0
            for s in cal.sessions_in_range(first, cal.end)[: self.opts.sessions]:
                summary = await session.run_day(s)
                if summary is not None:
                    self.summaries.append(summary)
                    self._print(summary)
            return 0

        try:
            await keeper.start()
            return await self._while_the_store_holds(trade())
        finally:
            await keeper.stop()
            await session.stop()
            await self._stop_alerts()
            with contextlib.suppress(Exception):
                await broker.aclose()
            with contextlib.suppress(Exception):
                await market.aclose()
            store.close()

    # ------------------------------------------------------------------ simulated
    async def _run_sim(self) -> int:
        ctx = self.ctx
        cal = ctx.calendar
        sched = ctx.cfg.schedule
        file = ExchangeFile(ctx.paths.data_dir / STATE_FILE)
        state = file.read() if file.exists() else None
        sim = ctx.sim_config()
        meta = {
            "market": ctx.market_spec,
            "seed": sim.seed,
            "history_sessions": sim.history_sessions,
            "future_sessions": sim.future_sessions,
            "today": sim.today,
        }
        speed = self.opts.speed
        if speed is None:
            speed = math.inf if sim.speed >= MAX_SPEED else sim.speed

        if state is not None:
            saved = dict(state.get("meta") or {})
            today = str(saved.get("today") or "")
            if {**saved, "today": ""} != {**meta, "today": ""} or (
                sim.today and sim.today != today
            ):
                raise UserError(
                    f"the simulated account in {file.path} belongs to another simulation "
                    f"({_describe(saved)}; app.yaml now says {_describe(meta)}); restore those "
                    "settings, or use another --home, or remove that file and the database"
                )
            try:
                start = datetime.fromisoformat(state["clock"]).astimezone(ET)
            except (KeyError, TypeError, ValueError):
                raise UserError(f"{file.path} has no valid simulated time; remove it") from None
        else:
            today = sim.today or WallClock().now().date().isoformat()
            start = None
        meta["today"] = today

        market, clock = self._market_and_clock(today, start, speed)
        self.clock = clock

        run = dict(state.get("run") or {}) if state is not None else {}
        now = clock.now()
        end = _market_end(market)
        if self.opts.forever and run and not run.get("completed"):
            run["forever"] = True  # an interrupted run continues day after day
        last: date | None
        if run and not run.get("completed") and run.get("forever"):
            first = date.fromisoformat(run["first"])
            last = end
            resumed = True
        elif self.opts.forever:
            first = session_to_run(now, sched, cal)
            if run.get("last"):  # a finished run: continue after its last session
                first = max(first, cal.next_session(date.fromisoformat(run["last"])))
            last = end
            run = {"first": first.isoformat(), "last": None, "forever": True, "completed": False}
            resumed = False
        elif run and not run.get("completed"):
            first = date.fromisoformat(run["first"])
            last = date.fromisoformat(run["last"])
            resumed = True
        else:
            first = session_to_run(now, sched, cal)
            if run.get("last"):  # a finished run: continue after its last session
                first = max(first, cal.next_session(date.fromisoformat(run["last"])))
            try:
                last = cal.sessions_in_range(first, cal.end)[self.opts.sessions - 1]
            except (IndexError, CalendarRangeError):
                raise UserError("the calendar does not reach that many sessions") from None
            run = {"first": first.isoformat(), "last": last.isoformat(), "completed": False}
            resumed = False
        upto = last if last is not None else cal.end
        sessions = [s for s in cal.sessions_in_range(first, upto) if day_end(s, sched, cal) >= now]

        broker = self._sim_broker(state, clock, market)
        store = self._open_store()
        saver = ExchangeSaver(file, broker, clock, meta, run)
        self.saver = saver
        broker.on_event(saver.on_broker_event)  # first: the exchange is saved before the app
        session = TradingSession(
            market,
            broker,
            store,
            clock,
            self.bus,
            ctx.config,
            cal,
            scans_dir=ctx.paths.scans_dir,
            mode=Mode.SIM,
            exchange=broker,
            crash_point=self.crash,
        )
        self.session = session
        saver.data_time = lambda: session.data_time
        self.crash.attach(self.bus, lambda s: _exiting(session, s))
        self.bus.subscribe(StepFinished, lambda _e: saver.save())
        self.bus.subscribe(LogEvent, self._on_log)
        self._start_alerts(clock, real_broker=False, mode="sim")
        saver.save()
        keeper = self._keeper(store)

        async def trade() -> int:
            diffs = await session.start()
            if diffs:
                self.differences = diffs
                self._print_differences(diffs)
                return EXIT_DIFFERENCES
            if self.on_started is not None:
                self.on_started(self)
            for s in sessions:
                summary = await session.run_day(s)
                if summary is not None:
                    self.summaries.append(summary)
                    self._print(summary)
                if run.get("forever"):
                    run["last"] = s.isoformat()
            if run.get("forever") and last is not None:
                self.err.write(
                    f"workstation: the simulated market ends with the session {last}: the "
                    "run is complete (start a new simulated account to go on)\n"
                )
            run["completed"] = True
            return 0

        try:
            if resumed:
                upto_text = "onwards" if run.get("forever") else f"..{last}"
                self.err.write(
                    f"workstation: resuming the simulated run {first}{upto_text} at "
                    f"{clock.now():%Y-%m-%d %H:%M:%S} ET\n"
                )
            await keeper.start()
            return await self._while_the_store_holds(trade())
        finally:
            await keeper.stop()
            await session.stop()
            await self._stop_alerts()
            with contextlib.suppress(Exception):
                saver.save()
            store.close()

    async def _forever(
        self, session: TradingSession, clock: Clock, first: date, end: date | None
    ) -> None:
        """Session after session on the wall clock until stopped (SIGTERM, Ctrl-C) or past
        ``end``: each from its 20:00 scan to its end-of-day bookkeeping. A session whose day
        a (re)start lands in resumes from the store (steps done are not run again)."""
        cal, sched = self.ctx.calendar, self.ctx.cfg.schedule
        last: date | None = None
        s = first
        while end is None or s <= end:
            summary = await session.run_day(s)
            if summary is not None:
                self.summaries.append(summary)
                self._print(summary)
            last = s
            s = session_to_run(clock.now(), sched, cal)
            if s <= last:
                s = cal.next_session(last)

    # ------------------------------------------------------------------ the store
    def _open_store(self) -> Store:
        """The home's store; when it becomes unusable while the run trades (deleted,
        replaced, emptied, read-only, a full disk), the trading stops (see
        :meth:`_while_the_store_holds`)."""
        store = open_home_store(self.ctx.paths, self.ctx.cfg.app.store)
        self.store = store
        assert self.clock is not None
        self.crash.attach_store(store, self.clock)
        loop = asyncio.get_running_loop()
        lost = self._store_lost = asyncio.Event()

        def on_problem(problem: StoreUnusable) -> None:
            self.store_problem = problem
            loop.call_soon_threadsafe(lost.set)

        store.on_problem(on_problem)
        return store

    def _keeper(self, store: Store) -> StoreKeeper:
        cfg = self.ctx.cfg.app.store
        self.keeper = StoreKeeper(
            store,
            home_backups(self.ctx.paths, cfg),
            every_s=cfg.backup_every_min * 60.0,
            clock=self.clock,
        )
        return self.keeper

    async def _while_the_store_holds(self, trading: Coroutine[Any, Any, int]) -> int:
        """Run ``trading`` until it ends or the store becomes unusable: then it is canceled
        (no order is sent without its record: each write checks the file first) and the run
        ends with one line saying what happened and what to do (exit 4)."""
        work = asyncio.ensure_future(trading)
        lost = asyncio.ensure_future(self._store_lost.wait())
        try:
            await asyncio.wait({work, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when the run itself is canceled (Ctrl-C): both end here
            for t in (work, lost):
                t.cancel()
            await asyncio.gather(work, lost, return_exceptions=True)
        if self.store_problem is None:
            return work.result()
        problem = self.store_problem
        at = f" at {self.clock.now():%Y-%m-%d %H:%M:%S} ET" if self.clock else ""
        rescued = self.keeper.rescued if self.keeper else None
        advice = restore_advice(self.ctx.paths, self.ctx.cfg.app.store, problem.kind, rescued)
        self.err.write(
            f"workstation: {problem}; trading stopped{at} (open positions keep their "
            f"protective stops at the broker); {advice}\n"
        )
        self.err.flush()
        return EXIT_STORE_UNUSABLE

    # ------------------------------------------------------------------ alerts
    def _start_alerts(self, clock: Clock, *, real_broker: bool, mode: str = "sim") -> None:
        """Alerts from the session's events; delivered through apprise when notification
        URLs are configured (what a killed run left queued goes out now). The heartbeat
        that ``workstation health`` reads."""
        from workstation.health.heartbeat import FILE_NAME, Heartbeat
        from workstation.notify.service import start_notifications

        ctx = self.ctx
        self.heartbeat = Heartbeat(
            ctx.paths.data_dir / FILE_NAME,
            self.bus,
            clock.now,
            mode=mode,
            market=ctx.market_spec,
        ).start()
        self.notifications = start_notifications(
            self.bus,
            lambda: ctx.cfg,
            ctx.calendar,
            ctx.paths.data_dir,
            real_broker=real_broker,
            clock_now=clock.now,
            store=self.store,  # the alerts a killed run recorded but never queued
        )

    async def _stop_alerts(self) -> None:
        beat, self.heartbeat = self.heartbeat, None
        if beat is not None:
            beat.stop()
        notes, self.notifications = self.notifications, None
        if notes is not None:
            await asyncio.to_thread(notes.stop, ALERT_FLUSH_S)

    def _market_and_clock(
        self, today: str, start: datetime | None, speed: float
    ) -> tuple[MarketData, SimClock]:
        """The market and the simulated clock, starting at ``start`` (a resumed run) or on
        the first run's evening (see the module docstring)."""
        ctx = self.ctx
        cal = ctx.calendar
        sched = ctx.cfg.schedule
        spec = ctx.market_spec
        if spec == "sim":
            from workstation.market.sim import SimMarket

            if start is None:
                s = cal.session_on_or_before(date.fromisoformat(today))
                start = day_end(s, sched, cal) + timedelta(minutes=1)
            clock = SimClock(start, speed)
            cfg = dataclasses.replace(ctx.sim_config(), today=today)
            return SimMarket(ctx.universe(), cfg, clock, cal), clock
        if spec.startswith("replay:"):
            from workstation.market.replay import ReplayMarket

            market = ctx.make_market(None)
            assert isinstance(market, ReplayMarket)
            if start is None:
                start = day_end(self._replay_first(market), sched, cal) + timedelta(minutes=1)
            clock = SimClock(start, speed)
            market.clock = clock
            return market, clock
        raise UserError(f"--market {spec!r} is not valid here: use sim or replay:PATH")

    def _replay_first(self, market: Any) -> date:
        """The session whose evening a replay starts on: ``sim.today``'s, else the one that
        leaves exactly ``--sessions`` sessions of the file to trade."""
        cal = self.ctx.calendar
        if self.ctx.sim_config().today:
            return cal.session_on_or_before(date.fromisoformat(self.ctx.sim_config().today))
        sessions = cal.sessions_in_range(market.first_session, market.last_session)
        if len(sessions) <= self.opts.sessions:
            raise UserError(
                f"the replay file covers {len(sessions)} sessions: not enough for a scan and "
                f"{self.opts.sessions} sessions after it"
            )
        return sessions[-self.opts.sessions - 1]

    def _sim_broker(
        self, state: dict[str, Any] | None, clock: Clock, market: MarketData
    ) -> SimBroker:
        sim = self.ctx.sim_config()
        assets_fn = getattr(market, "assets", None)
        assets = assets_fn() if callable(assets_fn) else None
        hours = MarketHours(self.ctx.calendar)
        if state is not None:
            try:
                broker = SimBroker.from_state(
                    state["broker"], clock, assets=assets, market_hours=hours
                )
            except (KeyError, BrokerError) as exc:
                raise UserError(f"the simulated exchange state is not valid: {exc}") from exc
        else:
            broker = SimBroker(
                clock,
                sim.starting_equity,
                slippage_bps=sim.slippage_bps,
                commission_per_share=sim.commission_per_share,
                assets=assets,
                market_hours=hours,
            )
        partial = os.environ.get(PARTIAL_FILL_ENV, "").strip()
        if partial:
            try:
                first = int(partial)
            except ValueError:
                raise UserError(f"{PARTIAL_FILL_ENV}={partial!r} is not a number") from None
            for symbol in market.universe().symbols:
                broker.set_partial_fills(symbol, [first])
        return broker

    # ------------------------------------------------------------------ output
    def _print(self, s: SessionSummary) -> None:
        if self.opts.json:
            self.out.write(json.dumps(s.as_dict(), separators=(",", ":")) + "\n")
        else:
            self.out.write(format_summary(s) + "\n\n")
        self.out.flush()

    def _print_differences(self, diffs: list[Difference]) -> None:
        self.err.write(
            f"workstation: the store and the broker disagree ({len(diffs)} difference"
            f"{'s' if len(diffs) != 1 else ''}); not trading until they are resolved:\n"
        )
        for d in diffs:
            self.err.write(f"  - {d.kind}: {d.message}\n")
        self.err.flush()

    def _on_log(self, ev: LogEvent) -> None:
        if ev.level in ("ERROR", "CRITICAL"):
            self.err.write(f"[{ev.at:%Y-%m-%d %H:%M:%S}] {ev.source}: {ev.message}\n")


def _market_end(market: MarketData) -> date | None:
    """The last session a simulated or replayed market has data for (None: no end)."""
    sessions = getattr(market, "sessions", None)
    if sessions:
        return sessions[-1]  # type: ignore[no-any-return]
    end = getattr(market, "last_session", None)
    return end if isinstance(end, date) else None


class MarketHours:
    """``calendar.market_state`` with each day's boundaries cached: the simulated exchange asks
    it for every print, so it must be cheap (a dict lookup and three comparisons)."""

    def __init__(self, calendar: TradingCalendar) -> None:
        self.calendar = calendar
        self._days: dict[date, tuple[datetime, datetime, datetime, datetime] | None] = {}

    def __call__(self, now: datetime) -> str:
        now = now.astimezone(ET)
        d = now.date()
        bounds = self._days.get(d, False)
        if bounds is False:
            cal = self.calendar
            bounds = (
                (
                    cal.at(d, PRE_MARKET_START),
                    cal.open_time(d),
                    cal.close_time(d),
                    cal.at(d, AFTER_HOURS_END),
                )
                if cal.is_session(d)
                else None
            )
            self._days[d] = bounds
        if bounds is None:
            return MarketState.CLOSED.value
        pre, open_at, close_at, ah_end = bounds
        if now < pre:
            return MarketState.CLOSED.value
        if now < open_at:
            return MarketState.PRE_MARKET.value
        if now < close_at:
            return MarketState.OPEN.value
        if now < ah_end:
            return MarketState.AFTER_HOURS.value
        return MarketState.CLOSED.value


def broker_problem(exc: BrokerError) -> str:
    """One line for a broker failure that ends a run (the detail is in run.log)."""
    text = (str(exc).splitlines() or [type(exc).__name__])[0]
    text = text.split(" (Caused by", 1)[0]  # urllib3's nested repr adds nothing readable
    return (
        f"the broker failed: {text}; check the network connection and the Alpaca endpoints "
        "(APCA_API_* or app.yaml alpaca:), then run again"
    )


def _exiting(session: TradingSession, symbol: str) -> bool:
    pos = session.book.position(symbol)
    return pos is not None and pos.exiting


def _describe(meta: dict[str, Any]) -> str:
    return (
        f"market {meta.get('market')}, seed {meta.get('seed')}, today "
        f"{meta.get('today') or '(real date)'}"
    )


__all__ = [
    "EXIT_DIFFERENCES",
    "EXIT_INTERRUPTED",
    "PARTIAL_FILL_ENV",
    "STATE_FILE",
    "ExchangeFile",
    "ExchangeSaver",
    "HeadlessRunner",
    "RunOptions",
    "parse_speed",
]
