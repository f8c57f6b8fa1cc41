"""What runs on a Dask worker: one trial (a backtest with a few parameters changed) or a batch
of scans ahead of the trials.

The functions here are imported by the workers (a worker unpickles a task by importing its
function's module), so a real cluster needs the workstation installed where its workers run.
They never start processes of their own: a worker is already one of many, so the scans of a
trial are computed in the worker's own process (``ScanService(inline=True)``).

The market data (:class:`SharedData`) reaches each worker once: the client scatters it to
every worker when the search starts, and each task names it instead of carrying it, so Dask
hands every task on a worker the same object (a worker that joins later fetches it once from
a peer). Scans computed ahead (:class:`ScanBook`) travel the same way. What a worker builds
from them (the replay market the scans read, the scan cache's connection) is kept per process
in :data:`_STATE`, keyed by the data's fingerprint.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.calendar import TradingCalendar, get_calendar
from workstation.core.config import Config
from workstation.core.overrides import apply_overrides
from workstation.engine.scan import ScanError
from workstation.engine.scan_record import ScanOutcome
from workstation.market.replay import DataReport
from workstation.research.backtest import BacktestData, run_backtest
from workstation.research.scans import ScanCache, ScanService
from workstation.research.stats import Period, equity_curve
from workstation.research.universe import Membership
from workstation.store import Store, TradeRow


class TrialError(RuntimeError):
    """A trial could not produce a result (not a market outcome): the message says why."""


@dataclass(frozen=True, eq=False)
class SharedData:
    """Everything every trial of a search reads, shipped to each worker once."""

    bars: Any  # DailyBars
    membership: Membership
    source: str
    report: DataReport | None
    base: Config  # the configuration the search's overrides apply to
    fingerprint: str  # research.scans.data_fingerprint(bars)
    # The scan cache file of the home that started the search; a worker on the same host
    # shares it (a second search or `workstation backtest` reuse its scans), a worker on
    # another machine keeps its own in its temporary folder.
    cache_path: str | None
    host: str = field(default_factory=socket.gethostname)

    @property
    def data(self) -> BacktestData:
        return BacktestData(self.bars, self.membership.universe, self.source, self.report)


@dataclass(frozen=True, eq=False)
class ScanBook:
    """Scan outcomes computed ahead of the trials, by scan-cache key."""

    outcomes: Mapping[str, ScanOutcome]

    def get(self, key: str) -> ScanOutcome | None:
        return self.outcomes.get(key)

    def __len__(self) -> int:
        return len(self.outcomes)


@dataclass(frozen=True)
class TrialTask:
    stage: int
    number: int
    overrides: Mapping[str, Any]
    first: date
    last: date


@dataclass(frozen=True)
class TrialOutcome:
    """A trial's backtest, reduced to what the search needs: the daily returns of its span
    (one per session, the first over the equity it started with) and its closed trades."""

    stage: int
    number: int
    sessions: np.ndarray  # datetime64[D]
    returns: np.ndarray  # float64
    trades: tuple[TradeRow, ...]
    wall_s: float
    scans_hit: int
    scans_computed: int
    worker: str
    pid: int


@dataclass
class _WorkerState:
    fingerprint: str
    service: ScanService
    calendar: TradingCalendar


_STATE: _WorkerState | None = None


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def _scratch() -> Path:
    """A folder for this process's temporary files (the worker's own, on a Dask worker)."""
    try:
        from distributed import get_worker

        return Path(get_worker().local_directory)
    except (ImportError, ValueError):
        return Path(tempfile.gettempdir())


def _cache_for(shared: SharedData) -> ScanCache:
    if shared.cache_path and shared.host == socket.gethostname():
        try:
            return ScanCache(Path(shared.cache_path))
        except OSError:
            pass
    path = Path(tempfile.gettempdir()) / "workstation-scans" / f"{shared.fingerprint[:16]}.db"
    return ScanCache(path)


def _state(shared: SharedData) -> _WorkerState:
    """This process's scan service over ``shared`` (made on the first task of a search)."""
    global _STATE
    if _STATE is None or _STATE.fingerprint != shared.fingerprint:
        if _STATE is not None:
            _STATE.service.close()
            if _STATE.service.cache is not None:
                _STATE.service.cache.close()
        service = ScanService(
            shared.bars,
            shared.membership,
            cache=_cache_for(shared),
            fingerprint=shared.fingerprint,
            inline=True,
        )
        _STATE = _WorkerState(shared.fingerprint, service, get_calendar())
    return _STATE


class BookScans:
    """The trial's scan source (a ``ScanSource``): the search's precomputed scans first, then
    the worker's scan cache, else a scan in this process (cached for the next trial unless
    ``use_cache`` is off, as when a benchmark measures what the cache saves)."""

    def __init__(self, book: ScanBook | None, service: ScanService, use_cache: bool) -> None:
        self.book = book
        self.service = service
        self.cache = service.cache if use_cache else None
        self.hits = 0
        self.computed = 0
        self.failure: BaseException | None = None

    async def __call__(self, session: date, cfg: Config) -> ScanOutcome:
        key = self.service.key(session, cfg)
        hit = self.book.get(key) if self.book is not None else None
        if hit is None and self.cache is not None:
            hit = self.cache.get(key)
        if hit is not None:
            self.hits += 1
            return hit
        try:
            outcome = self.service.scan_now(session, cfg)
        except ScanError:
            raise  # the data cannot make this scan: the engine records it, as live
        except Exception as exc:  # not the data's fault: the trial must not look like a result
            self.failure = exc
            raise
        self.computed += 1
        if self.cache is not None:
            self.cache.put(key, outcome)
        return outcome


def run_trial(
    shared: SharedData, book: ScanBook | None, task: TrialTask, use_cache: bool = True
) -> TrialOutcome:
    """Backtest ``task``'s span with its overrides; its store is a temporary file, read and
    deleted here (only the returns and trades travel back)."""
    started = time.perf_counter()
    try:
        cfg = apply_overrides(shared.base, task.overrides)
    except Exception as exc:  # validated before the search started: a different version?
        raise TrialError(f"the parameters {dict(task.overrides)} are not valid: {exc}") from None
    state = _state(shared)
    scans = BookScans(book, state.service, use_cache)
    folder = Path(tempfile.mkdtemp(prefix="workstation-trial-", dir=_scratch()))
    try:
        db = folder / f"trial-{task.stage}-{task.number}.db"
        run = asyncio.run(
            run_backtest(cfg, shared.data, task.first, task.last, db, scans, state.calendar)
        )
        if run.differences:
            raise TrialError(f"the trial's store disagreed with its broker: {run.differences}")
        store = Store.open(db)
        try:
            curve = equity_curve(store, Period(task.first, task.last))
            trades = tuple(t for t in store.trades() if task.first <= t.exit_session <= task.last)
        finally:
            store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    returns = curve.returns()
    return TrialOutcome(
        stage=task.stage,
        number=task.number,
        sessions=np.array([d.date() for d in returns.index], dtype="datetime64[D]"),
        returns=returns.to_numpy(dtype=float),
        trades=trades,
        wall_s=time.perf_counter() - started,
        scans_hit=scans.hits,
        scans_computed=scans.computed,
        worker=_worker_name(),
        pid=os.getpid(),
    )


def warm_worker(shared: SharedData) -> str:
    """Get this worker ready before its first trial (the workstation's modules imported, the
    calendar and the scan service built over the shared data), so a trial's time is the
    trial's; returns the worker's name."""
    _state(shared)
    return _worker_name()


def scan_sessions(
    shared: SharedData, sessions: Sequence[date], overrides: Mapping[str, Any]
) -> dict[str, ScanOutcome]:
    """The scans of ``sessions`` under the base configuration with ``overrides`` (a search's
    scan parameters, the same for all its trials), by scan-cache key; the client keeps them
    (its cache, and the book every trial reads)."""
    cfg = apply_overrides(shared.base, overrides)
    service = _state(shared).service
    return {service.key(s, cfg): service.scan_now(s, cfg) for s in sessions}


__all__ = [
    "BookScans",
    "ScanBook",
    "SharedData",
    "TrialError",
    "TrialOutcome",
    "TrialTask",
    "run_trial",
    "scan_sessions",
    "warm_worker",
]
