"""The nightly scans of a backtest: computed ahead of the engine in worker processes, cached.

A scan does not depend on positions, so every session's scan can be computed before the engine
needs it, in other processes, while the engine trades. Each is the live scanner's own work: the
replay market's ``daily_bars_sync`` window (``history_sessions`` sessions up to the scan
session) for that session's universe, then :func:`~workstation.engine.scan.scan_session`; the
engine's :class:`~workstation.engine.scanner.Scanner` records and publishes the result exactly
as it does a scan it ran itself (it receives a :class:`ScanOutcome`).

The cache keeps outcomes by (data fingerprint, scan parameters, universe, session) in a SQLite
file, so a second backtest of the same data and scan parameters (another exit rule, a scenario,
an optimizer trial over exit parameters) does not scan again. Only the parameters that decide a
scan are in its key: the scanner and strategy files; risk, schedule and costs are not.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import hashlib
import json
import logging
import multiprocessing
import os
import pickle
import sqlite3
import tempfile
import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.bars import FIELDS, DailyBars
from workstation.core.config import Config
from workstation.core.models import Universe
from workstation.engine.scan import ScanError, scan_session
from workstation.engine.scan_record import ScanOutcome
from workstation.market.replay import ReplayMarket
from workstation.research.universe import Membership

log = logging.getLogger(__name__)

CACHE_VERSION = 1
#: A backtest of fewer sessions than this scans in its own process: starting a worker process
#: (an interpreter, numpy, the scanner, the bars) costs more than the few scans it would run
#: (~50 ms each), and the engine would wait for the worker's start before its first session.
INLINE_BELOW_SESSIONS = 20


def scan_params_hash(cfg: Config) -> str:
    """Hash of the parameters a scan depends on (scanner.yaml and strategies.yaml)."""
    params = cfg.trading_params()
    blob = json.dumps(
        {"v": CACHE_VERSION, "scanner": params["scanner"], "strategies": params["strategies"]},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def data_fingerprint(bars: DailyBars) -> str:
    """A fingerprint of the bars (every value, dates and symbols)."""
    h = hashlib.blake2b(digest_size=12)
    h.update(np.ascontiguousarray(bars.dates).view(np.int64).tobytes())
    h.update("\x00".join(bars.symbols).encode())
    for f in FIELDS:
        h.update(np.ascontiguousarray(getattr(bars, f)).tobytes())
    if bars.flags is not None:
        h.update(np.ascontiguousarray(bars.flags).tobytes())
    return h.hexdigest()


def universe_hash(u: Universe) -> str:
    blob = json.dumps([u.benchmark, sorted(u.sectors.items())], separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


class ScanCache:
    """Scan outcomes in a SQLite file, by key; safe to share between processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = OFF")  # a cache: a lost write is rescanned
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS scans (key TEXT PRIMARY KEY, outcome BLOB NOT NULL)"
        )
        self._conn.commit()

    def get(self, key: str) -> ScanOutcome | None:
        with self._lock:
            row = self._conn.execute("SELECT outcome FROM scans WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            out = pickle.loads(zlib.decompress(row[0]))
        except Exception:  # an entry of another version of the app: scan again
            return None
        return out if isinstance(out, ScanOutcome) else None

    def put(self, key: str, outcome: ScanOutcome) -> None:
        blob = zlib.compress(pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL), 3)
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO scans (key, outcome) VALUES (?, ?)", (key, blob)
            )
            self._conn.commit()

    def close(self) -> None:
        with self._lock:
            self._conn.close()


# ----------------------------------------------------------------------- the worker side
@dataclass
class _WorkerState:
    market: ReplayMarket


_STATE: _WorkerState | None = None


def _save_bars(bars: DailyBars, folder: Path) -> Path:
    np.save(folder / "dates.npy", np.ascontiguousarray(bars.dates).view(np.int64))
    (folder / "symbols.json").write_text(json.dumps(list(bars.symbols)), encoding="utf-8")
    for f in FIELDS:
        np.save(folder / f"{f}.npy", np.ascontiguousarray(getattr(bars, f)))
    if bars.flags is not None:  # the validation's findings travel with the bars (rules §14)
        np.save(folder / "flags.npy", np.ascontiguousarray(bars.flags))
    return folder


def _load_bars(folder: Path) -> DailyBars:
    dates = np.load(folder / "dates.npy").view("datetime64[D]")
    symbols = json.loads((folder / "symbols.json").read_text(encoding="utf-8"))
    arrays = {f: np.load(folder / f"{f}.npy", mmap_mode="r") for f in FIELDS}
    flags_file = folder / "flags.npy"
    flags = np.load(flags_file) if flags_file.exists() else None
    return DailyBars(dates, tuple(symbols), **arrays, flags=flags)


def _init_worker(folder: str, universe: Universe) -> None:
    global _STATE
    bars = _load_bars(Path(folder))
    _STATE = _WorkerState(ReplayMarket.from_bars(bars, universe))


def compute_outcome(
    market: ReplayMarket, session: date, universe: Universe, cfg: Config
) -> ScanOutcome:
    """One session's scan exactly as the live scanner makes it over the replay market."""
    symbols = [*universe.symbols, universe.benchmark]
    bars = market.daily_bars_sync(symbols, session, cfg.scanner.universe.history_sessions)
    result = scan_session(bars, universe, session, cfg)
    return ScanOutcome.of(result, keep_result=False)


def _work(session: date, universe: Universe, cfg: Config) -> ScanOutcome:
    assert _STATE is not None, "worker not initialised"
    return compute_outcome(_STATE.market, session, universe, cfg)


# ----------------------------------------------------------------------- the engine side
class ScanService:
    """The backtest's :data:`~workstation.engine.scanner.ScanSource`: outcomes from the cache
    or from worker processes that scan ahead of the engine (``prefetch``)."""

    def __init__(
        self,
        bars: DailyBars,
        membership: Membership,
        *,
        workers: int = 0,
        cache: ScanCache | None = None,
        fingerprint: str | None = None,
        inline: bool = False,
    ) -> None:
        self.bars = bars
        self.membership = membership
        self.cache = cache
        self.fingerprint = fingerprint or data_fingerprint(bars)
        # The engine is the slower half of a backtest (~40 ms a session against ~20 ms a
        # scan): one core for it, the others scan ahead.
        self.workers = workers or max(1, (os.cpu_count() or 2) - 1)
        # inline: scan in this process, when scanning ahead. A process that is itself one
        # of many workers (an optimizer trial on a Dask worker) must not start a pool of its
        # own.
        self.inline = inline
        self._market: ReplayMarket | None = None
        self._pool: cf.ProcessPoolExecutor | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._futures: dict[tuple[str, date], cf.Future[ScanOutcome]] = {}
        self.hits = 0
        self.computed = 0
        self.failure: BaseException | None = None

    def key(self, session: date, cfg: Config) -> str:
        u = self.membership.on(session)
        return f"{self.fingerprint}:{scan_params_hash(cfg)}:{universe_hash(u)}:{session}"

    def _ensure_pool(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="workstation-bars-")
            folder = _save_bars(self.bars, Path(self._tmp.name))
            # spawn, not fork: the parent runs an event loop, threads and SQLite connections.
            ctx = multiprocessing.get_context("spawn")
            self._pool = cf.ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=ctx,
                initializer=_init_worker,
                initargs=(str(folder), self.membership.universe),
            )
        return self._pool

    def prefetch(self, sessions: Iterable[date], cfg: Config) -> int:
        """Start scanning ``sessions`` (those not cached) in the workers; returns how many."""
        if self.inline:
            return 0
        started = 0
        for s in sessions:
            key = self.key(s, cfg)
            if (key, s) in self._futures or (self.cache and self.cache.get(key)) is not None:
                continue
            fut = self._ensure_pool().submit(_work, s, self.membership.on(s), cfg)
            self._futures[(key, s)] = fut
            started += 1
        return started

    async def __call__(self, session: date, cfg: Config) -> ScanOutcome:
        key = self.key(session, cfg)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self.hits += 1
                return hit
        try:
            if self.inline:
                outcome = self.scan_now(session, cfg)
            else:
                fut = self._futures.pop((key, session), None)
                if fut is None:
                    universe = self.membership.on(session)
                    fut = self._ensure_pool().submit(_work, session, universe, cfg)
                outcome = await asyncio.wrap_future(fut)
        except ScanError:
            raise  # the data cannot make this scan: the engine records it, as live
        except Exception as exc:
            # Not the data's fault (a worker died, a pickling error): a backtest that went
            # on would trade nothing on these sessions and look like a real result.
            self.failure = exc
            raise
        self.computed += 1
        if self.cache is not None:
            self.cache.put(key, outcome)
        return outcome

    def scan_now(self, session: date, cfg: Config) -> ScanOutcome:
        """``session``'s scan computed in this process, not cached (a worker of a parameter
        search scanning ahead, or an inline service)."""
        if self._market is None:
            self._market = ReplayMarket.from_bars(self.bars, self.membership.universe)
        return compute_outcome(self._market, session, self.membership.on(session), cfg)

    def close(self) -> None:
        for fut in self._futures.values():
            fut.cancel()
        self._futures.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> ScanService:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


__all__ = [
    "INLINE_BELOW_SESSIONS",
    "ScanCache",
    "ScanService",
    "compute_outcome",
    "data_fingerprint",
    "scan_params_hash",
    "universe_hash",
]
