"""The backtester: the live engine run over history on a fast-forward clock (rules §15).

A backtest is not a second implementation of the trading rules. It is the very
:class:`~workstation.engine.session.TradingSession` of the app and of ``workstation run
--headless`` (scanner, approvals with ``on_pending``, gap filter, entries of groups A and B,
sizing, caps, kill switch, PDT guard, exits, protective stops, MFE/MAE, paper tracks) with a
mode's three choices made for history:

* the clock: a :class:`~workstation.core.clock.SimClock` at max speed, which jumps from one
  thing that is due to the next;
* the market: a :class:`~workstation.research.market.BacktestMarket` over the daily bars (the
  replay market's synthesis inside each day, its stream thinned to the prints that matter);
* the broker: the :class:`~workstation.broker.sim.SimBroker` (its fill model, slippage,
  commission and regulatory fees from ``app.yaml``'s ``backtest`` section).

Its scans come from :class:`~workstation.research.scans.ScanService` (the same scan function in
worker processes, ahead of the engine, cached), and everything it does goes into its own store
file with the app's schema: scans, candidates, approvals, gap results, orders, fills, positions,
trades, equity and daily performance, so every view and tool that reads a store reads a backtest.

What daily bars cannot say is modelled, and each report states it (:data:`ASSUMPTIONS`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from workstation.broker.sim import SimBroker
from workstation.core.bars import DailyBars
from workstation.core.calendar import TradingCalendar
from workstation.core.clock import SimClock
from workstation.core.config import Config
from workstation.core.events import EventBus
from workstation.core.models import Side, Universe
from workstation.core.print_watch import PrintWatch
from workstation.engine.reconcile import Difference
from workstation.engine.runner import MarketHours
from workstation.engine.scanner import ScanSource
from workstation.engine.scheduler import day_end
from workstation.engine.session import TradingSession
from workstation.engine.views import Mode
from workstation.market.replay import DataReport
from workstation.research.market import BacktestMarket
from workstation.store import Store

_NO_PERIODIC_SAVE_S = 366 * 86400.0

#: What a backtest on daily bars assumes, in every report.
ASSUMPTIONS: tuple[str, ...] = (
    "Daily bars hold no intraday path. Inside each day the replay market's synthesis is used "
    "(seeded by backtest.seed): pre-market prints on a bridge from the previous close to the "
    "open (the 09:25 gap filter reads the last one), the official open is the day's open, and "
    "a minute path through the day's open, high, low and close (the 09:50 confirmation price, "
    "and the order in which stop and target are touched) with prints every 5 seconds.",
    "Market-on-open orders fill at the day's open; market exits and triggered stops fill at the "
    "print that triggered them, worse by the slippage; a gap through a stop fills at the open.",
    "fill_model pessimistic: on every day a position holds from the open, if the day's range "
    "spans both its stop and its target, the path runs from the open straight to the extreme "
    "on the stop's side (by the end of the first minute): the stop is touched first.",
    "Every symbol is shortable and easy to borrow (no history of borrow availability).",
)


class BacktestError(RuntimeError):
    """The backtest could not run to its end (not a market or a rule outcome)."""


@dataclass(frozen=True)
class BacktestData:
    """The history a backtest runs on."""

    bars: DailyBars
    universe: Universe  # every symbol the engine may scan (membership's union)
    source: str  # e.g. "replay:/path/file.parquet", "sim (seed 7)", "alpaca cache (iex)"
    report: DataReport | None = None


@dataclass
class BacktestRun:
    """A finished backtest: where its store is and what it took."""

    first: date
    last: date
    sessions: int
    db_path: Path
    differences: list[Difference] = field(default_factory=list)
    wall_s: float = 0.0
    prints: int = 0
    instants: int = 0


class EngineProbe:
    """The thinned stream's view of the engine (a ``research.market.StreamProbe``)."""

    def __init__(self, session: TradingSession, broker: SimBroker) -> None:
        self.session = session
        self.broker = broker
        self._instants: dict[date, list[datetime]] = {}

    def watch(self, symbol: str, at: datetime) -> PrintWatch | None:
        s = self.session
        watches = (
            s.book.watch(symbol, at),
            self.broker.watch(symbol),
            s.paper.watch(symbol, at),
            s.prints.watch(symbol, at),  # the §14 confirmation of price jumps
        )
        return PrintWatch.union(w for w in watches if w is not None)

    def reacts_to(self, symbol: str, price: float, at: datetime) -> bool:
        s = self.session
        return (
            self.broker.reacts_to(symbol, price, at)
            or s.book.reacts_to(symbol, price, at)
            or s.paper.reacts_to(symbol, price, at)
            or s.prints.reacts_to(symbol, price, at)
        )

    def mark_times(self, session: date) -> Sequence[datetime]:
        got = self._instants.get(session)
        if got is None:
            got = self._instants[session] = self.session.step_instants(session)
        return got

    def equity_floor(self) -> float | None:
        return self.session.daily_loss_watch()

    def account(self) -> tuple[float, dict[str, int], dict[str, float]]:
        cash = self.broker.cash
        qty: dict[str, int] = {}
        marks: dict[str, float] = {}
        for sym, (q, avg) in self.broker.positions_sync().items():
            if q:
                qty[sym] = q
                last = self.broker.last_price(sym)
                marks[sym] = avg if last is None else last
        return cash, qty, marks

    def last_price(self, symbol: str) -> float | None:
        return self.broker.last_price(symbol)

    def seen_range(self, symbol: str) -> tuple[float, float] | None:
        return self.session.book.seen_range(symbol)

    def levels(self, symbol: str, session: date) -> tuple[bool, float, float] | None:
        pos = self.session.book.position(symbol)
        if pos is None:
            return None
        cal = self.session.calendar
        if cal.day_number(pos.entry_session, session) < self.session.cfg.risk.exits.sltp_from_day:
            return None
        return pos.side is Side.LONG, pos.sl, pos.tp


def make_broker(cfg: Config, clock: SimClock, calendar: TradingCalendar) -> SimBroker:
    bt = cfg.app.backtest
    return SimBroker(
        clock,
        bt.starting_equity,
        slippage_bps=bt.slippage_bps,
        open_slippage_bps=bt.open_slippage_bps,
        commission_per_share=bt.commission_per_share,
        sec_fee_rate=bt.sec_fee_rate,
        taf_per_share=bt.taf_per_share,
        taf_max=bt.taf_max,
        market_hours=MarketHours(calendar),
    )


async def run_backtest(
    cfg: Config,
    data: BacktestData,
    first: date,
    last: date,
    db_path: Path,
    scans: ScanSource,
    calendar: TradingCalendar,
    *,
    progress: Callable[[int, int, date], None] | None = None,
    params: Callable[[date], Config] | None = None,
) -> BacktestRun:
    """Trade the sessions ``first`` .. ``last`` (inclusive) of ``data`` with ``cfg``; the
    first scan is that of the session before ``first``. Writes ``db_path`` (a new file).

    ``params``: the parameter set in force for each session (its scan the evening before
    included), for a backtest that replays a history of parameter changes (the drift
    report); a change is applied before the session's day, as the live engine reloads
    between steps (``TradingSession.reload_params``). Default: ``cfg`` throughout."""
    started = time.perf_counter()
    sessions = calendar.sessions_in_range(first, last)
    clock = SimClock(
        day_end(calendar.previous_session(first), cfg.schedule, calendar) + timedelta(minutes=1),
        speed=math.inf,
    )
    market = BacktestMarket.from_bars(
        data.bars, data.universe, report=data.report, clock=clock, seed=cfg.app.backtest.seed
    )
    market.pessimistic = cfg.app.backtest.fill_model == "pessimistic"
    broker = make_broker(cfg, clock, calendar)
    store = Store.open(db_path)
    in_force = cfg
    session = TradingSession(
        market,
        broker,
        store,
        clock,
        EventBus(),
        lambda: in_force,
        calendar,
        scans_dir=None,
        mode=Mode.BACKTEST,
        exchange=broker,
        universe=data.universe,
        scan_source=scans,
        # The excursions are written when an extreme changes; the periodic save in between
        # only shortens a live app's back-fill after a crash, which a backtest never has.
        mfe_save_interval_s=_NO_PERIODIC_SAVE_S,
    )
    market.probe = EngineProbe(session, broker)
    run = BacktestRun(first, last, len(sessions), db_path)
    try:
        run.differences = await session.start()
        if not run.differences:
            for i, s in enumerate(sessions, 1):
                if params is not None and params(s).param_hash != in_force.param_hash:
                    in_force = params(s)
                    await session.reload_params()
                await session.run_day(s)
                failure = getattr(scans, "failure", None)
                if failure is not None:
                    raise BacktestError(
                        f"the scans of the backtest could not be computed on {s}: "
                        f"{type(failure).__name__}: {failure}"
                    )
                if progress is not None:
                    progress(i, len(sessions), s)
    finally:
        await session.stop()
        store.close()
    run.wall_s = time.perf_counter() - started
    run.prints, run.instants = market.printed, market.instants
    return run


__all__ = [
    "ASSUMPTIONS",
    "BacktestData",
    "BacktestError",
    "BacktestRun",
    "EngineProbe",
    "make_broker",
    "run_backtest",
]
