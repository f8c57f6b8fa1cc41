"""The load of the responsiveness measurements (tests/gui/test_responsiveness.py, bench/gui.py).

The real engines on the simulated market, wired to the real window, during a session:

* 8 open positions (entered through the order manager and the position book, each with its
  protective stop at the simulated broker);
* a price feed of ``rate`` ticks per second of real time over those 8 symbols, each tick
  going the way the market stream's do (``TradingSession._consume``): a ``TradeEvent`` on the
  bus (the window's bridge), then ``TradingSession.on_trade`` (the simulated exchange, the
  position book's excursions and exit rules, the daily-loss check), plus a ``QuoteEvent``;
* meanwhile the nightly scan of the whole S&P 500 with the real ``Scanner``: in its executor
  thread with the clock held (what the app does), or - the baseline - with an executor that
  runs the scan inline, i.e. ON the loop thread (what happens without the executor).

A :class:`~workstation.ui.heartbeat.Heartbeat` (a 10 ms timer) measures the loop's stalls.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as wall
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.calendar import ET
from workstation.core.events import QuoteEvent, TradeEvent
from workstation.core.models import (
    OrderIntent,
    OrderRequest,
    OrderSide,
    Quote,
    Side,
    TradeTick,
    client_order_id,
)
from workstation.engine.positions import EntryPlan
from workstation.engine.scanner import Scanner

SCAN_DAY = date(2025, 3, 11)  # workstation.selftest.SIM_TODAY
SESSION = date(2025, 3, 12)
STRATEGY = "rsi_reversion"


def at(d: date, hm: str) -> datetime:
    return datetime.combine(d, wall.fromisoformat(hm), tzinfo=ET)


class InlineExecutor(Executor):
    """Runs the submitted function at once, on the caller's thread (the baseline)."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            fut.set_exception(exc)
        return fut


def build_engines(home: Path, *, speed: float = 1.0, start: datetime | None = None) -> Any:
    """A fresh simulated home (the self-test's date) and its engines, the clock at 10:30 of
    the session (regular hours) unless ``start`` says otherwise."""
    from workstation.context import open_context
    from workstation.engine.assembly import build_sim
    from workstation.selftest import prepare_home

    prepare_home(home)
    ctx = open_context(argparse.Namespace(home=str(home)))
    return build_sim(ctx, speed=speed, start=start or at(SESSION, "10:30"))


async def plant_positions(engines: Any, n: int = 8) -> list[str]:
    """``n`` long positions entered at market through the order manager (with stops)."""
    session = engines.session
    now = engines.clock.now()
    universe = sorted(engines.market.universe().symbols)
    symbols = universe[:: max(1, len(universe) // n)][:n]
    for sym in symbols:
        price = float(engines.market.price_at(sym, now))
        engines.broker.on_price(sym, price, now)
        cid = client_order_id(SESSION, sym, STRATEGY, OrderIntent.ENTRY)
        session.book.expect_entry(cid, EntryPlan(Side.LONG, STRATEGY, price * 0.02, 2.0, 3.0))
        qty = max(1, int(10_000 // price))
        request = OrderRequest(cid, sym, OrderSide.BUY, qty, strategy=STRATEGY)
        await session.orders.submit(request, session=SESSION)
    await session.book.settle()
    return symbols


class QuoteFeed:
    """``rate`` ticks per real second over ``symbols`` (see the module docstring)."""

    def __init__(self, engines: Any, symbols: list[str], rate: float, seed: int = 1) -> None:
        self.engines = engines
        self.symbols = symbols
        self.rate = rate
        self.sent = 0
        self.elapsed = 0.0
        self._rng = np.random.default_rng(seed)
        now = engines.clock.now()
        self.prices = {s: float(engines.market.price_at(s, now)) for s in symbols}

    async def run(self, stop: asyncio.Event, frame: int = 10) -> None:
        """Ticks come in frames of at most ``frame`` (a websocket frame's worth), the loop
        turning between frames; a feed that falls behind shows in :attr:`rate_achieved`."""
        session, bus, clock = self.engines.session, self.engines.bus, self.engines.clock
        start = time.perf_counter()
        n = len(self.symbols)
        while not stop.is_set():
            due = int((time.perf_counter() - start) * self.rate) - self.sent
            if due <= 0:
                await asyncio.sleep(0.002)
                continue
            due = min(due, frame)
            steps = np.exp(self._rng.normal(0.0, 0.0002, due))
            for k in range(due):
                sym = self.symbols[self.sent % n]
                price = round(self.prices[sym] * float(steps[k]), 4)
                self.prices[sym] = price
                t = clock.now()
                bus.publish(TradeEvent(t, TradeTick(sym, t, price, 100.0)))
                await session.on_trade(sym, price, t)
                bus.publish(QuoteEvent(t, Quote(sym, t, price - 0.01, price + 0.01, 100.0, 100.0)))
                self.sent += 1
            await asyncio.sleep(0)
        self.elapsed = time.perf_counter() - start


@dataclass(frozen=True)
class LoadResult:
    worst_stall_ms: float  # the heartbeat's longest lateness (wall clock)
    worst_gap_cpu_ms: float  # the loop thread's CPU time in that longest gap
    worst_busy_ms: float  # the most CPU the loop thread used between two beats, beyond 10 ms
    p99_gap_ms: float  # 99th percentile of the gaps between 10 ms beats
    beats: int
    scan_s: float  # how long the scan took (executor or inline), loading and recording included
    scan_compute_ms: float  # of which the computation (scan_session: the executor's part)
    scan_candidates: int
    ticks: int
    tick_rate: float  # achieved ticks per second
    duration_s: float
    positions: int

    def line(self, label: str) -> str:
        return (
            f"{label}: longest stall {self.worst_stall_ms:.1f} ms (loop CPU in it "
            f"{self.worst_gap_cpu_ms:.1f} ms; longest busy {self.worst_busy_ms:.1f} ms), p99 gap "
            f"{self.p99_gap_ms:.1f} ms ({self.beats} beats of 10 ms), scan {self.scan_s:.2f} s "
            f"(computing {self.scan_compute_ms:.0f} ms) "
            f"({self.scan_candidates} candidates), {self.ticks} ticks at {self.tick_rate:.0f}/s "
            f"over {self.positions} positions, {self.duration_s:.1f} s"
        )


async def measure(
    engines: Any,
    *,
    on_loop: bool = False,
    rate: float = 2000.0,
    min_s: float = 3.0,
    settle_s: float = 0.3,
) -> LoadResult:
    """Run the scan and the feed together under a heartbeat (see the module docstring)."""
    from workstation.ui.heartbeat import Heartbeat

    session = engines.session
    symbols = sorted(session.book.held())
    feed = QuoteFeed(engines, symbols, rate)
    scanner = session.scanner
    if on_loop:
        scanner = Scanner(
            engines.market,
            lambda: session.cfg,
            engines.store,
            scanner.scans_dir,
            engines.clock,
            engines.bus,
            session.universe,
            InlineExecutor(),
        )
    await asyncio.sleep(settle_s)  # the window's first paints and chart fetches are done
    beat = Heartbeat(10)
    beat.start()
    stop = asyncio.Event()
    started = time.perf_counter()
    feeding = asyncio.get_running_loop().create_task(feed.run(stop))
    await asyncio.sleep(0.2)  # the feed runs before and after the scan
    t = time.perf_counter()
    result = await scanner.scan(unscanned_session(engines))
    scan_s = time.perf_counter() - t
    rest = min_s - (time.perf_counter() - started)
    if rest > 0:
        await asyncio.sleep(rest)
    stop.set()
    await feeding
    beat.stop()
    duration = time.perf_counter() - started
    return LoadResult(
        worst_stall_ms=beat.worst_stall_ms,
        worst_gap_cpu_ms=beat.worst_gap_cpu_ms,
        worst_busy_ms=beat.worst_busy_ms,
        p99_gap_ms=beat.percentile_ms(0.99),
        beats=beat.beats,
        scan_s=scan_s,
        scan_compute_ms=result.report.duration_s * 1000.0,
        scan_candidates=len(result.candidates),
        ticks=feed.sent,
        tick_rate=feed.sent / feed.elapsed if feed.elapsed else math.nan,
        duration_s=duration,
        positions=len(symbols),
    )


async def start_backtest(win: Any, first: date, last: date, timeout_s: float = 300.0) -> Any:
    """Open the window's Research window and start a real backtest there (``workstation
    backtest`` as its own process, the home's market); returns the research window once the
    run trades its sessions (its history loaded, its scan workers busy)."""
    from workstation.ui.research import open_research
    from workstation.ui.research.launch import RunRequest

    rw = open_research(win)
    await _until(lambda: rw.facts is not None, timeout_s, "the research window's set-up")
    rw.start_run(RunRequest(scenarios=("combined",), first=first, last=last))
    await _until(
        lambda: rw.process.last is not None and rw.process.last.done >= 1,
        timeout_s,
        "the backtest's first session",
    )
    return rw


async def stop_backtest(rw: Any, timeout_s: float = 60.0) -> None:
    """Cancel the research window's run and wait until it (and its files) are gone."""
    done: list[Any] = []
    rw.process.cancelled.connect(done.append)
    rw.cancel_run()
    await _until(lambda: bool(done) or not rw.process.running, timeout_s, "the cancelled run")


async def _until(cond: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def unscanned_session(engines: Any) -> date:
    """The newest session up to SCAN_DAY without a scan: each measurement scans a session
    for the first time. (At 10:30 of SESSION, SCAN_DAY's list is being traded: a re-run of it
    is refused, rightly; a first scan of an earlier session is the same work.)"""
    day = SCAN_DAY
    while engines.store.latest_scan(day, market=engines.market.name) is not None:
        day = engines.ctx.calendar.previous_session(day)
    return day


async def window_settled(win: Any, timeout_s: float = 10.0) -> None:
    """Wait until the window's charts have drawn what they were asked at start-up (their
    indicators come back from a worker thread): the first paints are not the load."""
    from workstation.ui.price_chart import PriceChart

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if all(c._pending is None for c in win.findChildren(PriceChart)):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)


#: The trader's desk panels that must stay responsive under the load, shown beside the others.
DESK_DOCKS = ("chart", "risk", "regime")


def open_desk(win: Any) -> list[str]:
    """Show the desk's panels (the chart, the risk view, the regime panel) at once, beside
    the positions rather than behind them in a tab: the load then paints them too. Returns
    the docks shown."""
    from PySide6.QtCore import Qt

    shown = []
    anchor = win.docks["positions"]
    for name in DESK_DOCKS:
        dock = win.docks.get(name)
        if dock is None:
            continue
        win.removeDockWidget(dock)
        win.splitDockWidget(anchor, dock, Qt.Orientation.Vertical)
        dock.show()
        shown.append(name)
    win.resize(1600, 1000)
    return shown


__all__ = [
    "DESK_DOCKS",
    "SCAN_DAY",
    "SESSION",
    "InlineExecutor",
    "LoadResult",
    "QuoteFeed",
    "build_engines",
    "measure",
    "open_desk",
    "plant_positions",
    "start_backtest",
    "stop_backtest",
    "unscanned_session",
    "window_settled",
]
