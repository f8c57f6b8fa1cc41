"""Benchmark of the trading day: a simulated week at max speed, and quote -> exit latency.

Run from the repository root:  .venv/bin/python bench/session.py [--sessions 5] [--quotes N]

Measured:

* **week** -- ``workstation run --headless --sessions 5 --speed max`` in-process (the
  HeadlessRunner over the simulated S&P 500: six 20:00 scans, gap filters, entries, every
  minute's prints of the held symbols through the simulated exchange and the position book,
  exits, end-of-day bookkeeping, the simulated exchange saved on every broker event), wall
  time from start to the last summary. Target: under 60 s.
  Baseline, measured in the same run: the week's six nightly scans alone (``Scanner.scan``
  on the same market, persisted): the ratio says what the trading days cost on top of them.
* **latency** -- 8 open positions (day 2: SL and TP active) get quotes at 2,000 per second
  in total, paced in real time; each quote goes through ``TradingSession.on_trade``: the
  simulated exchange's print, the position book (MFE/MAE, persistence rule, exit rules), the
  paper tracker and the periodic daily-loss check. Reported: from the quote's scheduled
  arrival to the exit order reaching the broker's ``submit`` (p50/p99; target p99 < 5 ms),
  and for every quote until ``on_trade`` returned. Prices drift towards the targets, so most
  exits are the engine's (a stop-loss crossing is filled by the exchange's resting stop
  first and has no exit order to time).
  Baseline, measured in the same run: the same quotes through ``PositionBook.on_price`` alone,
  the exchange seeing every 20th print outside the timing (what ``bench/exit_latency.py``
  measures): the ratio is what the session layer (mostly the exchange's own processing of
  every print) adds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import math
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from argparse import Namespace
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a plain script from any folder
    sys.path.insert(0, str(ROOT))

from workstation.broker.sim import SimBroker  # noqa: E402
from workstation.cli import main as cli_main  # noqa: E402
from workstation.context import open_context  # noqa: E402
from workstation.core.calendar import ET, get_calendar  # noqa: E402
from workstation.core.clock import SimClock  # noqa: E402
from workstation.core.config import Config  # noqa: E402
from workstation.core.events import EventBus, TradeEvent  # noqa: E402
from workstation.core.models import (  # noqa: E402
    OrderIntent,
    OrderRequest,
    OrderSide,
    OrderType,
    Quote,
    Side,
    TimeInForce,
    TradeTick,
    Universe,
    client_order_id,
)
from workstation.engine.crashpoints import CrashHook  # noqa: E402
from workstation.engine.positions import EntryPlan  # noqa: E402
from workstation.engine.runner import HeadlessRunner, RunOptions  # noqa: E402
from workstation.engine.scanner import Scanner  # noqa: E402
from workstation.engine.session import TradingSession  # noqa: E402
from workstation.store import Store  # noqa: E402


def pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


# ----------------------------------------------------------------------------- the week


def bench_week(sessions: int, seed: int, today: str) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="ws-bench-week-"))
    try:
        home = tmp / "home"
        with contextlib.redirect_stdout(io.StringIO()):
            assert cli_main(["--home", str(home), "config", "check"]) == 0
        app = home / "config" / "app.yaml"
        app.write_text(app.read_text().replace('today: ""', f'today: "{today}"'))
        ctx = open_context(Namespace(home=str(home), market="sim", universe=None, seed=seed))
        out, err = io.StringIO(), io.StringIO()
        runner = HeadlessRunner(
            ctx,
            RunOptions(sessions=sessions, speed=math.inf, json=True),
            out=out,
            err=err,
            crash_hook=CrashHook(None),
        )
        prints = [0]
        runner.bus.subscribe(TradeEvent, lambda _e: prints.__setitem__(0, prints[0] + 1))
        t0 = time.perf_counter()
        rc = runner.run_sync()
        wall = time.perf_counter() - t0
        assert rc == 0, err.getvalue()
        store = Store.open(ctx.paths.db_path)
        trades = store.trades()
        store.close()
        scan_sessions = [s.scan_session for s in runner.summaries]
        saves = runner.saver.saves if runner.saver is not None else 0
        # baseline: the week's scans alone, on the same market, into a fresh store
        base = _scans_alone(ctx, seed, today, scan_sessions)
        return {
            "wall_s": wall,
            "sessions": len(runner.summaries),
            "trades": len(trades),
            "reasons": Counter(t.exit_reason for t in trades),
            "prints": prints[0],
            "saves": saves,
            "scans": len(scan_sessions),
            "scans_s": base,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _scans_alone(ctx: Any, seed: int, today: str, sessions: list[date]) -> float:
    import dataclasses

    from workstation.market.sim import SimMarket

    cal = get_calendar()
    tmp = Path(tempfile.mkdtemp(prefix="ws-bench-scans-"))
    try:
        end = cal.close_time(sessions[-1]) + timedelta(hours=5)
        clock = SimClock(end, speed=math.inf)
        cfg = dataclasses.replace(ctx.sim_config(), today=today, seed=seed)
        market = SimMarket(ctx.universe(), cfg, clock, cal)
        store = Store.open(tmp / "scans.db")
        scanner = Scanner(market, lambda: ctx.cfg, store, tmp, clock, EventBus())

        async def go() -> float:
            t0 = time.perf_counter()
            for s in sessions:
                await scanner.scan(s)
            return time.perf_counter() - t0

        took = asyncio.run(go())
        store.close()
        return took
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -------------------------------------------------------------------------- the latency


class BenchClock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def now(self) -> datetime:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)

    async def sleep_until(self, t: datetime) -> None:
        self.t = max(self.t, t)

    @property
    def speed(self) -> float:
        return math.inf

    @property
    def paused(self) -> bool:
        return False

    def hold(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


class TimedBroker:
    """The SimBroker, noting when an exit order reaches ``submit``."""

    def __init__(self, sim: SimBroker) -> None:
        self.sim = sim
        self.name = "sim"
        self.exit_submitted_at: float | None = None
        self.exit_submitted_cpu: float | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sim, name)

    async def submit(self, request: OrderRequest) -> Any:
        if request.intent is OrderIntent.EXIT:
            self.exit_submitted_at = time.perf_counter()
            self.exit_submitted_cpu = time.thread_time()
        return await self.sim.submit(request)


class NoMarket:
    """The latency bench feeds prices itself: the session's market only names the universe."""

    name = "bench"

    def __init__(self, symbols: list[str]) -> None:
        self._u = Universe.of(dict.fromkeys(symbols, "Unknown"), "SPY")

    def universe(self) -> Universe:
        return self._u

    async def snapshots(self, symbols: Any, at: datetime) -> dict[str, Any]:
        return {}

    async def stream(self, symbols: Any) -> AsyncIterator[Quote | TradeTick]:
        if False:  # pragma: no cover - an empty async generator
            yield


def _always_open(now: datetime) -> str:
    return "open"


async def _latency(
    path: str, quotes: int, rate: float, n_positions: int, seed: int, paced: bool
) -> dict[str, list[float]]:
    """``path`` 'session' (TradingSession.on_trade) or 'book' (PositionBook.on_price)."""
    rng = random.Random(seed)
    cal = get_calendar()
    tmp = Path(tempfile.mkdtemp(prefix=f"ws-bench-{path}-"))
    store = Store.open(tmp / "bench.db")
    session_day = date(2024, 1, 2)
    clock = BenchClock(datetime(2024, 1, 2, 10, 0, tzinfo=ET))
    sim = SimBroker(clock, 1e9, slippage_bps=1.0, market_hours=_always_open, max_gross=10.0)
    broker = TimedBroker(sim)
    symbols = [f"S{r:03d}{i}" for r in range(1, 400) for i in range(n_positions)]
    cfg = Config()
    ts = TradingSession(
        NoMarket(symbols),  # type: ignore[arg-type]
        broker,  # type: ignore[arg-type]
        store,
        clock,  # type: ignore[arg-type]
        EventBus(),
        lambda: cfg,
        cal,
        scans_dir=tmp,
        exchange=sim,
    )
    book = ts.book
    feed: Callable[[str, float, datetime], Awaitable[Any]]
    if path == "session":
        feed = ts.on_trade
        ts._day = session_day  # the daily-loss check runs (as in a session)
        ts._start_equity = 1e9
    else:
        feed = book.on_price

    every: list[float] = []
    to_submit: list[float] = []
    to_submit_cpu: list[float] = []
    dt = 1.0 / rate
    sent = 0
    rounds = 0
    atr, sigma, drift = 0.5, 0.05, 0.01
    while sent < quotes:
        rounds += 1
        clock.t = datetime.combine(session_day, datetime.min.time(), ET).replace(hour=10)
        paths: dict[str, tuple[float, float]] = {}
        for i in range(n_positions):
            symbol = f"S{rounds:03d}{i}"
            sim.on_price(symbol, 100.0, clock.t)
            cid = client_order_id(session_day, symbol, "bench", OrderIntent.ENTRY)
            side = Side.LONG if i % 2 == 0 else Side.SHORT
            book.expect_entry(cid, EntryPlan(side, "bench", atr, 1.5, 3.0))
            await ts.orders.submit(
                OrderRequest(
                    cid,
                    symbol,
                    OrderSide.to_open(side),
                    100,
                    OrderType.MARKET,
                    TimeInForce.DAY,
                    intent=OrderIntent.ENTRY,
                    strategy="bench",
                ),
                session=session_day,
            )
            paths[symbol] = (100.0, side.sign * drift)  # towards the target
        await book.settle()
        session_day = cal.next_session(session_day)
        clock.t = datetime.combine(session_day, datetime.min.time(), ET).replace(hour=10)
        ts._day = session_day
        await book.roll_session(session_day)
        await book.settle()
        names = list(paths)
        base = time.perf_counter()
        k = 0
        while book.held() and sent < quotes:
            symbol = names[k % len(names)]
            k += 1
            if symbol not in book.held():
                continue
            price, step = paths[symbol]
            price = max(1.0, price + step + rng.gauss(0.0, sigma))
            paths[symbol] = (price, step)
            clock.t += timedelta(seconds=dt)
            if paced:
                due = base + k * dt
                while (now := time.perf_counter()) < due:
                    if due - now > 0.002:
                        await asyncio.sleep(due - now - 0.001)
                arrival = due
            else:
                arrival = time.perf_counter()
            broker.exit_submitted_at = None
            cpu0 = time.thread_time()
            out = await feed(symbol, price, clock.t)
            done = time.perf_counter()
            if path == "book" and (k % 20 == 0 or out is not None):
                # as bench/exit_latency.py: the exchange sees every 20th print (and the exit's),
                # after the engine, outside the timing (the session path feeds it every print)
                sim.on_price(symbol, price, clock.t)
            sent += 1
            every.append((done - arrival) * 1000)
            if broker.exit_submitted_at is not None:
                to_submit.append((broker.exit_submitted_at - arrival) * 1000)
                assert broker.exit_submitted_cpu is not None
                to_submit_cpu.append((broker.exit_submitted_cpu - cpu0) * 1000)
        await book.settle()
        session_day = cal.next_session(session_day)
    store.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return {"every": every, "exit": to_submit, "exit_cpu": to_submit_cpu}


# ---------------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=5)
    ap.add_argument("--seed", type=int, default=49, help="the e2e week's seed")
    ap.add_argument("--today", default="2024-03-08", help="the simulated 'today' (sim.today)")
    ap.add_argument("--quotes", type=int, default=20_000, help="quotes per latency path")
    ap.add_argument("--rate", type=float, default=2_000.0, help="quotes per second (paced)")
    ap.add_argument("--positions", type=int, default=8)
    ap.add_argument("--unpaced", action="store_true", help="latency quotes as fast as possible")
    ap.add_argument("--skip-week", action="store_true")
    a = ap.parse_args()

    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")  # a report header, not a rule
    print(
        f"# bench/session.py {stamp} on {platform.machine()} {platform.system()}, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f} at start"
    )
    if not a.skip_week:
        w = bench_week(a.sessions, a.seed, a.today)
        per = w["wall_s"] / max(1, w["sessions"])
        print(
            f"week: {w['sessions']} sessions (seed {a.seed}, today {a.today}) at max speed in "
            f"{w['wall_s']:.1f} s ({per:.2f} s/session; target < 60 s: "
            f"{'met' if w['wall_s'] < 60 else 'NOT met'})"
        )
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(w["reasons"].items())) or "none"
        print(
            f"      {w['trades']} trades ({reasons}); {w['prints']:,} prints processed; "
            f"{w['saves']} exchange saves"
        )
        print(
            f"      baseline, same run: the week's {w['scans']} scans alone "
            f"{w['scans_s']:.2f} s; week / scans = {w['wall_s'] / w['scans_s']:.1f}x"
        )

    results = {}
    for path in ("book", "session"):
        results[path] = asyncio.run(
            _latency(path, a.quotes, a.rate, a.positions, a.seed, not a.unpaced)
        )
    pace = "unpaced" if a.unpaced else f"paced at {a.rate:,.0f}/s"
    print(f"latency: {a.quotes:,} quotes per path over {a.positions} positions, {pace}")
    for path, label in (
        ("book", "baseline PositionBook.on_price"),
        ("session", "TradingSession.on_trade"),
    ):
        r = results[path]
        ex, ev, cpu = r["exit"], r["every"], r["exit_cpu"]
        print(
            f"  {label:<31} quote->exit submit n={len(ex):4d} p50={pct(ex, 0.5):.3f} ms "
            f"p99={pct(ex, 0.99):.3f} ms (CPU of the thread: p50={pct(cpu, 0.5):.3f} "
            f"p99={pct(cpu, 0.99):.3f} ms) | every quote p50={pct(ev, 0.5):.3f} ms "
            f"p99={pct(ev, 0.99):.3f} ms"
        )
    s_ex, b_ex = results["session"]["exit"], results["book"]["exit"]
    p99 = pct(s_ex, 0.99)
    mean_ratio = statistics.fmean(results["session"]["every"]) / statistics.fmean(
        results["book"]["every"]
    )
    print(
        f"  ratio session / baseline: exit p50 {pct(s_ex, 0.5) / pct(b_ex, 0.5):.2f}x, "
        f"exit p99 {p99 / pct(b_ex, 0.99):.2f}x, every-quote mean {mean_ratio:.2f}x"
    )
    cpu99 = pct(results["session"]["exit_cpu"], 0.99)
    print(
        f"  target p99 < 5 ms at {a.rate:,.0f} quotes/s: wall {'met' if p99 < 5 else 'NOT met'} "
        f"({p99:.2f} ms), CPU {'met' if cpu99 < 5 else 'NOT met'} ({cpu99:.2f} ms); load "
        f"average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (other processes delay "
        "the wall figure)"
    )


if __name__ == "__main__":
    main()
