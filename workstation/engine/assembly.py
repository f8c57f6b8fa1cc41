"""Assemble the running engines of one mode behind a ``Workstation`` facade.

* **sim** (and replay): the simulated clock, the market, the simulated exchange
  (:class:`~workstation.broker.sim.SimBroker`) whose state lives in
  ``<data>/sim_exchange.json`` (the same file ``workstation run --headless`` uses: the window
  and the headless runner continue the same simulated account), the store and the session.
  The first start begins on the evening of the simulated "today" (``sim.today`` or the real
  date), just after its session's end-of-day step, so the first thing that happens is that
  session's 20:00 scan. Later starts resume at the simulated time the last one stopped at.
* **paper / live**: Alpaca's market data and broker on the wall clock. Live needs
  ``confirm_live=True``: the caller asks the user first (the window's live dialog), and
  nothing connects before that.

No Qt here: the window (``workstation.app``), the self-test and the tests all build through
this module.
"""

from __future__ import annotations

import dataclasses
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from workstation.broker.sim import SimBroker
from workstation.context import MAX_SPEED, Context
from workstation.core.calendar import TradingCalendar
from workstation.core.clock import Clock, SimClock, WallClock
from workstation.core.events import EventBus
from workstation.engine.facade import Workstation, sim_connections
from workstation.engine.runner import STATE_FILE, ExchangeFile, ExchangeSaver
from workstation.engine.scheduler import day_end
from workstation.engine.session import TradingSession
from workstation.engine.session_events import StepFinished
from workstation.engine.store_keeper import StoreKeeper
from workstation.engine.views import Mode
from workstation.errors import UserError
from workstation.market.base import MarketData, MarketDataError
from workstation.store import Store
from workstation.store.home_store import home_backups, open_home_store, restore_advice


@dataclass
class Engines:
    """What :func:`build_sim` / :func:`build_alpaca` assembled."""

    ctx: Context
    mode: Mode
    clock: Clock
    market: MarketData
    broker: Any
    store: Store
    bus: EventBus
    session: TradingSession
    facade: Workstation
    saver: ExchangeSaver | None = None
    executor: ThreadPoolExecutor | None = None
    notes: list[str] = field(default_factory=list)


def resolve_mode(ctx: Context, mode: str | None) -> Mode:
    """``--mode`` or app.yaml's; backtest has no window (it is a headless command)."""
    raw = (mode or ctx.cfg.app.mode or "sim").lower()
    if raw == "backtest":
        raise UserError("mode 'backtest' has no window: run it headless, or use --mode sim")
    try:
        return Mode(raw)
    except ValueError:
        raise UserError(f"--mode {raw!r} is not valid: use sim, paper or live") from None


def _open_store(ctx: Context) -> Store:
    return open_home_store(ctx.paths, ctx.cfg.app.store)


def _store_safety(ctx: Context, store: Store, clock: Clock) -> dict[str, Any]:
    """The facade's keeper of the store (watch + backups) and its advice on a problem."""
    cfg = ctx.cfg.app.store
    keeper = StoreKeeper(
        store, home_backups(ctx.paths, cfg), every_s=cfg.backup_every_min * 60.0, clock=clock
    )
    return {
        "keeper": keeper,
        "store_advice": lambda kind: restore_advice(ctx.paths, cfg, kind, keeper.rescued),
    }


def _scan_executor() -> ThreadPoolExecutor:
    # One worker: scans never overlap, and the Qt loop keeps the other core.
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="scan")


class MinuteMarketHours:
    """The simulated exchange's market-hours question, answered once per minute.

    The exchange asks it on every print (2,000 a second in a busy session) and the calendar
    answer costs tens of microseconds; the state only changes on whole minutes (04:00, the
    open, the close, 20:00), so the last minute's answer is the answer."""

    def __init__(self, calendar: TradingCalendar) -> None:
        self.calendar = calendar
        self._minute: int | None = None
        self._state = ""

    def __call__(self, now: datetime) -> str:
        minute = int(now.timestamp() // 60)
        if minute != self._minute:
            self._state = str(self.calendar.market_state(now))
            self._minute = minute
        return self._state


def _describe(meta: dict[str, Any]) -> str:
    return (
        f"market {meta.get('market')}, seed {meta.get('seed')}, today "
        f"{meta.get('today') or '(real date)'}"
    )


@dataclass
class SimParts:
    """The thread-safe half of a simulated build (no store, no loop): built off the loop."""

    clock: SimClock
    market: MarketData
    broker: SimBroker
    file: ExchangeFile
    meta: dict[str, Any]
    run: dict[str, Any]
    last_session: date | None


def sim_parts(
    ctx: Context, *, speed: float | None = None, start: datetime | None = None
) -> SimParts:
    """Clock, market and simulated exchange (pure computation and file reads: may run in a
    worker thread while the window is already up)."""
    cal = ctx.calendar
    sched = ctx.cfg.schedule
    file = ExchangeFile(ctx.paths.data_dir / STATE_FILE)
    state = file.read() if file.exists() else None
    sim = ctx.sim_config()
    meta: dict[str, Any] = {
        "market": ctx.market_spec,
        "seed": sim.seed,
        "history_sessions": sim.history_sessions,
        "future_sessions": sim.future_sessions,
        "today": sim.today,
    }
    clock_start: datetime | None = start
    if state is not None:
        saved = dict(state.get("meta") or {})
        today = str(saved.get("today") or "")
        if {**saved, "today": ""} != {**meta, "today": ""} or (sim.today and sim.today != today):
            raise UserError(
                f"the simulated account in {file.path} belongs to another simulation "
                f"({_describe(saved)}; app.yaml now says {_describe(meta)}); restore those "
                "settings, or use another --home, or remove that file and the database"
            )
        try:
            clock_start = datetime.fromisoformat(state["clock"])
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{file.path} has no valid simulated time; remove it") from None
    else:
        today = sim.today or WallClock().now().date().isoformat()
    meta["today"] = today
    if speed is None:
        speed = math.inf if sim.speed >= MAX_SPEED else sim.speed

    spec = ctx.market_spec
    market: MarketData
    last_session: date | None
    try:
        if spec == "sim":
            from workstation.market.sim import SimMarket

            if clock_start is None:
                s = cal.session_on_or_before(date.fromisoformat(today))
                clock_start = day_end(s, sched, cal) + timedelta(minutes=1)
            clock = SimClock(clock_start, speed)
            market = SimMarket(ctx.universe(), dataclasses.replace(sim, today=today), clock, cal)
            last_session = market.sessions[-1]
        elif spec.startswith("replay:"):
            from workstation.market.replay import ReplayMarket

            replay = ctx.make_market(None)
            assert isinstance(replay, ReplayMarket)
            if clock_start is None:
                days = cal.sessions_in_range(replay.first_session, replay.last_session)
                first = (
                    cal.session_on_or_before(date.fromisoformat(sim.today))
                    if sim.today
                    else days[max(0, len(days) - 21)]  # leaves 20 sessions to trade
                )
                clock_start = day_end(first, sched, cal) + timedelta(minutes=1)
            clock = SimClock(clock_start, speed)
            replay.clock = clock
            market = replay
            last_session = replay.last_session
        else:
            raise UserError(
                f"--market {spec!r} cannot run the simulated exchange: use sim or replay:PATH "
                "(Alpaca's market goes with --mode paper or live)"
            )
    except MarketDataError as exc:
        raise UserError(str(exc).splitlines()[0] if str(exc) else "market data error") from exc

    assets_fn = getattr(market, "assets", None)
    assets = assets_fn() if callable(assets_fn) else None
    hours = MinuteMarketHours(cal)
    if state is not None:
        try:
            broker = SimBroker.from_state(state["broker"], clock, assets=assets, market_hours=hours)
        except Exception as exc:  # a bad file is a message, never a crash
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
    run = dict(state.get("run") or {}) if state is not None else {}
    return SimParts(clock, market, broker, file, meta, run, last_session)


def assemble_sim(
    ctx: Context, parts: SimParts, *, bus: EventBus | None = None, coalesce_s: float = 0.05
) -> Engines:
    """The store, the session and the facade on ``parts`` (on the loop thread: the store's
    connection belongs to the thread that opens it)."""
    clock, market, broker = parts.clock, parts.market, parts.broker
    store = _open_store(ctx)
    saver = ExchangeSaver(parts.file, broker, clock, parts.meta, parts.run)
    broker.on_event(saver.on_broker_event)  # first: the exchange is saved before the app sees it
    bus = bus or EventBus()
    executor = _scan_executor()
    session = TradingSession(
        market,
        broker,
        store,
        clock,
        bus,
        ctx.config,
        ctx.calendar,
        scans_dir=ctx.paths.scans_dir,
        mode=Mode.SIM,
        exchange=broker,
        executor=executor,
    )
    saver.data_time = lambda: session.data_time
    bus.subscribe(StepFinished, lambda _e: saver.save())
    saver.save()

    def close_store() -> None:
        store.close()

    def stop_executor() -> None:
        executor.shutdown(wait=False, cancel_futures=True)

    facade = Workstation(
        session,
        connections=sim_connections(),
        closers=[saver.save, close_store, stop_executor],
        coalesce_s=coalesce_s,
        last_session=parts.last_session,
        **_store_safety(ctx, store, clock),
    )
    return Engines(
        ctx, Mode.SIM, clock, market, broker, store, bus, session, facade, saver, executor
    )


def build_sim(
    ctx: Context,
    *,
    speed: float | None = None,
    start: datetime | None = None,
    bus: EventBus | None = None,
    coalesce_s: float = 0.05,
) -> Engines:
    """The simulated market and exchange (see the module docstring).

    ``speed`` (clock seconds per real second, ``math.inf`` = max) defaults to app.yaml's;
    ``start`` overrides where a NEW simulated account's clock begins (tests)."""
    parts = sim_parts(ctx, speed=speed, start=start)
    return assemble_sim(ctx, parts, bus=bus, coalesce_s=coalesce_s)


async def build_alpaca(
    ctx: Context,
    mode: Mode,
    *,
    confirm_live: bool = False,
    bus: EventBus | None = None,
) -> Engines:
    """Alpaca's market data and broker (paper or live) on the wall clock. The broker's trade
    stream is started here; live needs ``confirm_live`` (the user's explicit confirmation)."""
    from workstation.alpaca.session import AlpacaSession
    from workstation.broker.alpaca import AlpacaBroker
    from workstation.market.alpaca import AlpacaMarket

    if mode not in (Mode.PAPER, Mode.LIVE):
        raise ValueError(f"build_alpaca needs paper or live, got {mode}")
    spec = ctx.market_spec
    if spec not in ("sim", "alpaca"):
        raise UserError(
            f"--mode {mode} trades on Alpaca's market data: leave out --market {spec} "
            "(or use --market alpaca)"
        )
    bus = bus or EventBus()
    clock = WallClock()
    account = AlpacaSession.from_config(
        ctx.cfg.app.alpaca, mode=str(mode), confirm_live=confirm_live, clock=clock, bus=bus
    )
    store = _open_store(ctx)
    # publish_ticks=False: the session publishes every tick it consumes (once).
    market = AlpacaMarket(
        account,
        universe=ctx.universe(),
        bar_cache=store,
        calendar=ctx.calendar,
        publish_ticks=False,
    )
    broker = AlpacaBroker(account, confirm_live=confirm_live, calendar=ctx.calendar)
    executor = _scan_executor()
    session = TradingSession(
        market,
        broker,
        store,
        clock,
        bus,
        ctx.config,
        ctx.calendar,
        scans_dir=ctx.paths.scans_dir,
        mode=mode,
        exchange=None,
        executor=executor,
    )

    def close_store() -> None:
        store.close()

    def stop_executor() -> None:
        executor.shutdown(wait=False, cancel_futures=True)

    facade = Workstation(
        session,
        closers=[broker.aclose, market.aclose, close_store, stop_executor],
        **_store_safety(ctx, store, clock),
    )
    try:
        await broker.start()
    except BaseException:
        await facade.shutdown()
        raise
    return Engines(ctx, mode, clock, market, broker, store, bus, session, facade, None, executor)


__all__ = [
    "Engines",
    "MinuteMarketHours",
    "SimParts",
    "assemble_sim",
    "build_alpaca",
    "build_sim",
    "resolve_mode",
    "sim_parts",
]
