"""Benchmark the Alpaca market's daily-bar fetch against the fake Alpaca, through alpaca-py.

Run from the repository root:  .venv/bin/python bench/alpaca_fetch.py [--repeat N]

The fake Alpaca (tests/fake_alpaca) runs in a separate process, as Alpaca would (so its JSON
encoding does not compete for this process's GIL); ``--in-process`` runs it in a thread here
instead (the harsher case for the loop). Its clock is frozen at 2024-05-31 20:00 New York.

Measured, each the median of ``--repeat`` runs:

* ``full``        -- AlpacaMarket.daily_bars for 503 symbols x 300 sessions with an empty bar
  cache (a SQLite store): multi-symbol paged requests, two in flight; the bars are returned
  as soon as they are fetched, the cache is written by a background task (``write``: from
  the fetch's return until ``flush_cache()`` returns, under the same unbroken heartbeat);
* ``incremental`` -- the same call one session later, after the fake gained that session:
  the cache supplies 299 sessions, one request fetches the rest;
* ``restart``     -- a new market on the same store (an app restart): the whole window from
  the SQLite cache, no request;
* ``stalls``      -- a heartbeat task that wants to run every 10 ms on the event loop records
  how late each wake-up is, during each phase: max and 99th percentile. ``idle (control)``
  is the same heartbeat on an idle loop: the machine's own noise (other processes, the fake
  serving in its process), the floor no adapter can beat;
* ``gc pauses``   -- every garbage collection over 5 ms in a phase (a collection holds the
  GIL from start to end, whichever thread triggered it);
* the process is set up as the app's and the headless runner's: once its modules are loaded
  it freezes its start-up heap (``workstation.core.gc_tuning.freeze_startup_heap``), so a
  full collection never walks those ~120,000 objects again. ``--no-gc-freeze`` measures a
  process that does not: its full collections (50-140 ms each here, counted per phase) land
  wherever the start-up heap's allocations happen to push the collector over its threshold,
  in the measured phases too; the adapter's own fetch leaves ~3,000 objects behind, far too
  few to trigger one;
* ``baseline``    -- the naive way, measured in the same run: one request per symbol with
  alpaca-py's default pydantic models and ``.df``, in a worker thread, no cache.

Targets (issue 4): full under 5 s, incremental under 1 s, stall under 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

N_SYMBOLS = 503
N_SESSIONS = 300
END = date(2024, 5, 31)
NEXT = date(2024, 6, 3)
TARGET_FULL_S = 5.0
TARGET_INCREMENTAL_S = 1.0
TARGET_STALL_MS = 50.0


# ------------------------------------------------------------------ the fake, in its own process


def _frame(symbols: list[str], days: list[date], offset: int = 0) -> Any:
    import numpy as np
    import pandas as pd

    n = len(days)
    base = 20.0 + np.arange(len(symbols))[:, None] * 0.5
    close = base + 0.05 * (np.arange(n)[None, :] + offset)
    return pd.DataFrame(
        {
            "symbol": np.repeat(symbols, n),
            "date": np.tile(np.array(days, dtype="datetime64[D]"), len(symbols)),
            "open": (close - 0.1).ravel(),
            "high": (close + 0.5).ravel(),
            "low": (close - 0.5).ravel(),
            "close": close.ravel(),
            "volume": 1_000_000.0,
        }
    )


def _universe_days(end: date, n: int) -> list[date]:
    from tests.fake_alpaca.sessions import xnys

    return [s.day for s in xnys().between(date(2020, 1, 1), end)][-n:]


def _symbols() -> list[str]:
    return [f"S{i:03d}" for i in range(N_SYMBOLS)]


def _start_fake() -> Any:
    from tests.fake_alpaca import FakeAlpacaServer, FakeAlpacaState
    from tests.fake_alpaca.wire import NY

    state = FakeAlpacaState(now=datetime(2024, 5, 31, 20, 0, tzinfo=NY))
    state.set_bars_frame(_frame(_symbols(), _universe_days(END, N_SESSIONS)))
    return FakeAlpacaServer(state).start()


def _add_session(server: Any) -> None:
    from tests.fake_alpaca.wire import NY

    days = [*_universe_days(END, N_SESSIONS), NEXT]
    server.state.set_bars_frame(_frame(_symbols(), days))
    server.state.set_now(datetime(2024, 6, 3, 20, 0, tzinfo=NY))


def _reset(server: Any) -> None:
    from tests.fake_alpaca.wire import NY

    server.state.set_bars_frame(_frame(_symbols(), _universe_days(END, N_SESSIONS)))
    server.state.set_now(datetime(2024, 5, 31, 20, 0, tzinfo=NY))
    server.state.clear_requests()


def _serve(conn: Any) -> None:
    server = _start_fake()
    conn.send(server.env())
    while True:
        cmd = conn.recv()
        if cmd == "add_session":
            _add_session(server)
        elif cmd == "reset":
            _reset(server)
        elif cmd == "count":
            conn.send(server.state.request_count(prefix="/v2/stocks/bars"))
            continue
        elif cmd == "stop":
            server.stop()
            conn.send("ok")
            return
        conn.send("ok")


class _Fake:
    """The fake Alpaca in a child process (default) or in a thread of this one."""

    def __init__(self, in_process: bool) -> None:
        self.in_process = in_process
        if in_process:
            self.server = _start_fake()
            self.env = self.server.env()
        else:
            ctx = mp.get_context("spawn")
            self.conn, child = ctx.Pipe()
            self.proc = ctx.Process(target=_serve, args=(child,), daemon=True)
            self.proc.start()
            self.env = self.conn.recv()

    def _cmd(self, cmd: str) -> Any:
        if self.in_process:
            if cmd == "count":
                return self.server.state.request_count(prefix="/v2/stocks/bars")
            {"add_session": _add_session, "reset": _reset, "stop": lambda s: s.stop()}[cmd](
                self.server
            )
            return "ok"
        self.conn.send(cmd)
        return self.conn.recv()

    def add_session(self) -> None:
        self._cmd("add_session")

    def reset(self) -> None:
        self._cmd("reset")

    def bar_requests(self) -> int:
        return int(self._cmd("count"))

    def stop(self) -> None:
        self._cmd("stop")
        if not self.in_process:
            self.proc.join(10)


# ------------------------------------------------------------------ measuring


class _Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def now(self) -> datetime:
        return self.t


GAPS: dict[str, list[float]] = {}  # phase -> every heartbeat gap (ms) seen in it
# phase -> the loop thread's own CPU time (ms, ``time.thread_time``) in each of those gaps:
# a long gap with little of it is the loop waiting (for the GIL a worker thread holds, or for
# the operating system to run it at all), not the loop working.
GAP_CPU: dict[str, list[float]] = {}
# phase -> the whole process's CPU time (ms, every thread) in each gap: a long gap the
# process filled is its worker threads holding the GIL; one it did not fill is the operating
# system running other processes.
GAP_PROC: dict[str, list[float]] = {}
# phase -> how long the loop thread waited for a CPU in each gap (ms; Linux schedstat: time
# runnable but not running). The rest of a gap the loop neither ran nor waited for a CPU it
# slept: on the GIL (a worker thread held it) or, rarely, for I/O.
GAP_RUNQ: dict[str, list[float]] = {}


def _runq_ms() -> float:
    """The calling thread's total wait for a CPU so far (ms), NaN where unknown."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1]) / 1e6
    except (OSError, ValueError, IndexError):
        return float("nan")


# phase -> (generation, ms) of every garbage collection that took over 5 ms in it: a
# collection holds the GIL from start to end, in whichever thread triggered it.
GC_PAUSES: dict[str, list[tuple[int, float]]] = {}
_PHASE = [""]
_GC_START = [0.0]


def _watch_gc(stage: str, info: dict[str, Any]) -> None:
    if stage == "start":
        _GC_START[0] = time.perf_counter()
        return
    ms = (time.perf_counter() - _GC_START[0]) * 1000.0
    if ms > 5.0 and _PHASE[0]:
        GC_PAUSES.setdefault(_PHASE[0], []).append((int(info["generation"]), ms))


async def _with_heartbeat(coro: Any, phase: str = "") -> tuple[Any, float, float]:
    """Run ``coro``; return (result, seconds, longest heartbeat gap in ms).

    A task that wants to run every 10 ms records how late each wake-up is: a wake-up late by
    X ms means the loop could not run anything for X ms. Each gap counts in the phase current
    when it ends: ``coro`` may move ``_PHASE[0]`` on (the full fetch hands over to the cache
    write it leaves running in the background); the returned maximum is the first phase's."""
    loop = asyncio.get_running_loop()
    gaps: list[tuple[str, float, float, float, float]] = []
    stop = False

    async def beat() -> None:
        last, last_cpu, last_proc = loop.time(), time.thread_time(), time.process_time()
        last_q = _runq_ms()
        while not stop:
            await asyncio.sleep(0.01)
            now, cpu, proc, q = loop.time(), time.thread_time(), time.process_time(), _runq_ms()
            late = max(0.0, now - last - 0.01) * 1000.0
            used = ((cpu - last_cpu) * 1e3, (proc - last_proc) * 1e3, q - last_q)
            gaps.append((_PHASE[0], late, *used))
            last, last_cpu, last_proc, last_q = now, cpu, proc, q

    hb = asyncio.create_task(beat())
    await asyncio.sleep(0.05)
    gaps.clear()
    _PHASE[0] = phase
    t0 = time.perf_counter()
    try:
        result = await coro
    finally:
        _PHASE[0] = ""
    seconds = time.perf_counter() - t0
    stop = True
    await hb
    for name, gap, cpu, proc, runq in gaps:
        if name:
            GAPS.setdefault(name, []).append(gap)
            GAP_CPU.setdefault(name, []).append(cpu)
            GAP_PROC.setdefault(name, []).append(proc)
            GAP_RUNQ.setdefault(name, []).append(runq)
    return result, seconds, max((g[1] for g in gaps if g[0] == phase), default=0.0)


def _max_gap(phase: str, since: int) -> float:
    return max(GAPS.get(phase, [])[since:], default=0.0)


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else 0.0


def _session(env: dict[str, str], clock: _Clock) -> Any:
    from workstation.alpaca.endpoints import resolve_endpoints
    from workstation.alpaca.keys import Credentials
    from workstation.alpaca.rest import RetryPolicy
    from workstation.alpaca.session import AlpacaSession

    creds = Credentials(env["APCA_API_KEY_ID"], env["APCA_API_SECRET_KEY"])
    return AlpacaSession(
        creds, resolve_endpoints(None, "paper", env=env), retry=RetryPolicy(), clock=clock
    )


def _one_round(
    fake: _Fake, workdir: Path, k: int, concurrency: int | None = None
) -> dict[str, float]:
    import numpy as np

    from tests.fake_alpaca.wire import NY
    from workstation.market.alpaca import AlpacaMarket
    from workstation.store import Store

    fake.reset()
    clock = _Clock(datetime(2024, 5, 31, 20, 0, tzinfo=NY))
    store = Store.open(workdir / f"bench-{k}.db")
    session = _session(fake.env, clock)
    extra = {} if concurrency is None else {"fetch_concurrency": concurrency}
    market = AlpacaMarket(session, bar_cache=store, **extra)
    symbols = _symbols()
    out: dict[str, float] = {}

    async def run() -> None:
        # Control: the same heartbeat on an idle loop: what the machine itself costs.
        _, _, idle = await _with_heartbeat(asyncio.sleep(2.0), "idle (control)")
        out["idle_stall_ms"] = idle

        async def fetch_then_write() -> tuple[Any, float, float]:
            # The heartbeat runs on while the cache write the fetch left in the background
            # works, and counts its gaps as the write's.
            t0 = time.perf_counter()
            bars = await market.daily_bars(symbols, END, N_SESSIONS)
            t1 = time.perf_counter()
            _PHASE[0] = "write"
            await market.flush_cache()
            return bars, t1 - t0, time.perf_counter() - t1

        n_write = len(GAPS.get("write", []))
        (bars, secs, secs_w), _, stall = await _with_heartbeat(fetch_then_write(), "full")
        assert bars.close.shape == (N_SESSIONS, N_SYMBOLS) and np.isfinite(bars.close).all()
        out.update(full_s=secs, full_stall_ms=stall, full_requests=market.last_fetch.requests)
        out["full_bar_requests"] = fake.bar_requests()
        out.update(write_s=secs_w, write_stall_ms=_max_gap("write", n_write))

        await asyncio.to_thread(fake.add_session)
        clock.t = datetime(2024, 6, 3, 20, 0, tzinfo=NY)
        before = fake.bar_requests()
        bars2, secs2, stall2 = await _with_heartbeat(
            market.daily_bars(symbols, NEXT, N_SESSIONS), "incremental"
        )
        assert np.isfinite(bars2.close).all() and bars2.last_date == NEXT
        out.update(incr_s=secs2, incr_stall_ms=stall2)
        out["incr_bar_requests"] = fake.bar_requests() - before
        await market.aclose()

        # After a restart: a new market, the whole window from the SQLite cache.
        restarted = AlpacaMarket(session, bar_cache=store)
        before = fake.bar_requests()
        bars3, secs3, stall3 = await _with_heartbeat(
            restarted.daily_bars(symbols, NEXT, N_SESSIONS), "restart"
        )
        assert np.array_equal(bars3.close, bars2.close, equal_nan=True)
        out.update(cold_s=secs3, cold_stall_ms=stall3)
        out["cold_bar_requests"] = fake.bar_requests() - before
        await restarted.aclose()

    asyncio.run(run())
    session.close()
    store.close()
    return out


def _baseline(fake: _Fake) -> tuple[float, float]:
    """The naive fetch: one request per symbol, pydantic models, ``.df``, no cache."""
    import pandas as pd
    from alpaca.data.enums import Adjustment, DataFeed
    from alpaca.data.historical import StockHistoricalDataClient
    from alpaca.data.requests import StockBarsRequest
    from alpaca.data.timeframe import TimeFrame

    fake.reset()
    env = fake.env
    client = StockHistoricalDataClient(
        env["APCA_API_KEY_ID"], env["APCA_API_SECRET_KEY"], url_override=env["APCA_API_DATA_URL"]
    )

    def naive() -> int:
        frames = []
        for sym in _symbols():
            req = StockBarsRequest(
                symbol_or_symbols=sym,
                timeframe=TimeFrame.Day,
                start=datetime(2023, 1, 1),
                end=datetime(2024, 5, 31, 16),
                adjustment=Adjustment.SPLIT,
                feed=DataFeed.IEX,
            )
            frames.append(client.get_stock_bars(req).df)
        return len(pd.concat(frames))

    async def run() -> tuple[int, float, float]:
        return await _with_heartbeat(asyncio.to_thread(naive), "baseline (naive)")

    rows, secs, stall = asyncio.run(run())
    assert rows == N_SYMBOLS * N_SESSIONS, rows
    return secs, stall


def _warm_up_imports() -> None:
    """Import what the measured code imports, so a gc.freeze() covers the start-up heap."""
    import alpaca.data.historical
    import alpaca.trading.client  # noqa: F401

    import workstation.market.alpaca
    import workstation.store  # noqa: F401
    from workstation.market.universe import sp500_universe

    sp500_universe()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--in-process", action="store_true", help="run the fake in a thread here")
    ap.add_argument(
        "--concurrency", type=int, default=None, help="requests in flight (default: the market's)"
    )
    ap.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        help="sys.setswitchinterval(S) for this process (Python's default is 0.005 s)",
    )
    ap.add_argument(
        "--gc-freeze",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="freeze the start-up heap once the modules are loaded, as the app and the "
        "headless runner do (default); --no-gc-freeze: a process that does not, whose full "
        "collections walk the whole start-up heap holding the GIL (50-140 ms here)",
    )
    args = ap.parse_args()
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)

    fake = _Fake(args.in_process)
    if args.gc_freeze:
        from workstation.core.gc_tuning import freeze_startup_heap

        _warm_up_imports()
        freeze_startup_heap()
    gc.callbacks.append(_watch_gc)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rounds = [_one_round(fake, Path(tmp), k, args.concurrency) for k in range(args.repeat)]
        base_s, base_stall = _baseline(fake)
    finally:
        fake.stop()

    def med(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    full, incr = med("full_s"), med("incr_s")
    stall_keys = ("full_stall_ms", "write_stall_ms", "incr_stall_ms", "cold_stall_ms")
    stall = max(r[k] for r in rounds for k in stall_keys)
    where = "in this process" if args.in_process else "in a separate process"
    print(f"alpaca fetch bench: {N_SYMBOLS} symbols x {N_SESSIONS} daily bars, fake {where}")
    print(
        f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}, GIL switch interval "
        f"{sys.getswitchinterval() * 1000:g} ms, start-up heap "
        f"{'frozen (as the app)' if args.gc_freeze else 'NOT frozen (--no-gc-freeze)'}, "
        f"repeat {args.repeat}"
    )
    print(
        f"full fetch (empty cache)        {full:7.3f} s  (target < {TARGET_FULL_S:g} s)  "
        f"{int(med('full_bar_requests'))} HTTP requests in {int(med('full_requests'))} calls"
    )
    print(f"  then the cache write (background, to its end)  {med('write_s'):7.3f} s")
    print(
        f"incremental (1 session)         {incr:7.3f} s  (target < {TARGET_INCREMENTAL_S:g} s)  "
        f"{int(med('incr_bar_requests'))} HTTP request(s)"
    )
    print(
        f"after a restart (window from the SQLite cache)  {med('cold_s'):7.3f} s  "
        f"{int(med('cold_bar_requests'))} HTTP requests"
    )
    print("loop stalls (heartbeat every 10 ms; ms late), over all rounds:")
    for phase, gaps in GAPS.items():
        pauses = GC_PAUSES.get(phase, [])
        gc_note = (
            f"   gc pauses > 5 ms: {len(pauses)}, longest {max(ms for _, ms in pauses):.1f} ms "
            f"(generation {max(pauses, key=lambda p: p[1])[0]})"
            if pauses
            else ""
        )
        cpu, proc, runq = GAP_CPU[phase], GAP_PROC[phase], GAP_RUNQ[phase]
        i = max(range(len(gaps)), key=gaps.__getitem__)
        print(
            f"  {phase:<16} max {max(gaps):6.1f}   p99 {_p99(gaps):6.1f}   ({len(gaps)} beats)"
            + gc_note
            + f"\n  {'':16} in the longest gap: the loop ran {cpu[i]:.1f} ms, waited for a CPU"
            f" {runq[i]:.1f} ms; the process ran {proc[i]:.1f} ms; the loop's most CPU in any"
            f" gap {max(cpu):.1f} ms"
        )
    print(
        f"longest loop stall in the measured phases: {stall:.1f} ms (target < {TARGET_STALL_MS:g})"
    )
    print(
        f"baseline (naive: 1 request per symbol, models, no cache)  {base_s:7.3f} s  "
        f"{N_SYMBOLS} requests; loop stall {base_stall:.1f} ms (run in a thread)"
    )
    print(f"ratio baseline / full           {base_s / full:6.1f}x")
    print(f"ratio baseline / incremental    {base_s / incr:6.1f}x")
    ok = full < TARGET_FULL_S and incr < TARGET_INCREMENTAL_S and stall < TARGET_STALL_MS
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
