"""The evidence the window shows, kept off the Qt loop (issue 11).

:class:`EvidenceService` is the window's one entry to :mod:`workstation.research.evidence`:

* **track records** (:meth:`EvidenceService.track_record`): answered at once from the loaded
  reference backtest of the parameter set in force; the first call (and a parameter change)
  finds the reference in the home's store and loads its trades in a worker thread, and when
  there is none, or it is stale, builds one with ``workstation backtest`` in a child process
  at a lower priority. Meanwhile the call says what is happening (with the build's progress);
  listeners (:meth:`subscribe`) hear when it changes;
* **drift reports** and **change previews**: ``workstation report drift|change`` in a child
  process (:mod:`.jobs`), with progress and Cancel;
* **the human edge**: a few queries, in a worker thread.

Everything is called on the loop thread (with qasync, the GUI thread): methods return at once,
callbacks run on the loop. No Qt here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from workstation.research.evidence.jobs import ChildJob, JobResult
from workstation.research.evidence.status import RecordState, RecordStatus

if TYPE_CHECKING:  # the window imports this module before the research stack is loaded
    from workstation.core.calendar import TradingCalendar
    from workstation.core.config import Config
    from workstation.core.paths import Paths
    from workstation.research.evidence.reference import Reference
    from workstation.research.evidence.track_record import Book

log = logging.getLogger(__name__)

#: Listeners hear about a build's progress at most this often (seconds).
PROGRESS_EVERY_S = 0.25
#: While a reference is built, its trades so far are read at most this often (seconds).
PARTIAL_EVERY_S = 2.0


def child_args(paths: Paths, market: str, universe_csv: str | None, seed: int | None) -> list[str]:
    """The global options that make a child ``workstation`` work on this app's home and
    market (no ``--home`` when the app uses the platform's default folders: the child
    resolves the same ones)."""
    args: list[str] = []
    if paths.config_dir.parent == paths.data_dir.parent:
        args += ["--home", str(paths.data_dir.parent)]
    args += ["--market", market]
    if universe_csv:
        args += ["--universe", universe_csv]
    if seed is not None:
        args += ["--seed", str(seed)]
    return args


class EvidenceService:
    """See the module docstring."""

    def __init__(
        self,
        paths: Paths,
        market: str,
        calendar: TradingCalendar,
        config: Callable[[], Config],
        *,
        universe_csv: str | None = None,
        seed: int | None = None,
    ) -> None:
        self.paths = paths
        self.market = market
        self.calendar = calendar
        self.config = config
        self.global_args = child_args(paths, market, universe_csv, seed)
        self._listeners: list[Callable[[], None]] = []
        self._book: Book | None = None
        self._ref: Reference | None = None
        self._finding: asyncio.Task[None] | None = None
        self._finding_hash = ""
        self._build: ChildJob | None = None
        self._build_hash = ""
        self._partial: Book | None = None  # the trades so far of the reference being built
        self._partial_task: asyncio.Task[None] | None = None
        self._partial_at = 0.0
        self._build_first: date | None = None
        self._progress: float | None = None
        self._last_notice = 0.0
        self._built: set[str] = set()  # hashes rebuilt during this run (never twice)
        self._failed: dict[str, str] = {}
        self.jobs: set[ChildJob] = set()
        self.builds_started = 0

    # ------------------------------------------------------------------ listeners
    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """``listener()`` runs on the loop when a track record's state changes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _notify(self) -> None:
        self._last_notice = time.monotonic()
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:  # a listener's failure must not stop the others
                log.exception("evidence listener failed")

    # ------------------------------------------------------------------ track records
    @property
    def param_hash(self) -> str:
        return self.config().param_hash

    def track_record(
        self, strategy: str, side: str, regime: str, sector: str, needed_for: date | None = None
    ) -> RecordStatus:
        """The track record of a candidate, or what is being done to get it (never waits)."""
        from workstation.research.evidence.track_record import track_record

        h = self.param_hash
        self._ensure(h, needed_for)
        book = self._book if self._book is not None and self._book.param_hash == h else None
        building = self._build is not None and self._build.running and self._build_hash == h
        partial = self._partial
        if book is None and building and partial is not None and partial.param_hash == h:
            book = partial  # the reference's trades so far, its period shown
        record = (
            track_record(book, strategy, side, regime or "unknown", sector, before=needed_for)
            if book is not None
            else None
        )
        if building:
            done = "" if self._progress is None else f" ({self._progress:.0%})"
            if record is not None and record.book.partial:
                b = record.book
                what = (
                    f"So far {b.first} .. {b.last}: the backtest of these parameters is being built"
                )
            elif record is not None:
                what = "A fresher backtest of these parameters is being built"
            else:
                what = "Building a backtest of the parameters in force"
            return RecordStatus(
                RecordState.WORKING, f"{what}, in the background{done}.", record, self._progress
            )
        if h in self._failed and record is None:
            return RecordStatus(RecordState.FAILED, self._failed[h])
        if record is not None:
            return RecordStatus(RecordState.READY, "", record)
        return RecordStatus(RecordState.WORKING, "Looking for the backtest of these parameters...")

    def _ensure(self, h: str, needed_for: date | None) -> None:
        have = self._book is not None and self._book.param_hash == h
        if self._finding is not None and not self._finding.done() and self._finding_hash == h:
            return
        if self._build is not None and self._build.running:
            if self._build_hash == h:
                return
            self._build.cancel()  # built for parameters no longer in force
        if h in self._failed:
            return
        stale = have and self._ref is not None and self._ref.stale and h not in self._built
        if have and not stale:
            return
        if stale and self._ref is not None and self._ref.param_hash == h:
            self._start_build(h)
            return
        self._finding_hash = h
        self._finding = _loop().create_task(self._find(h, needed_for))

    async def _find(self, h: str, needed_for: date | None) -> None:
        from workstation.research.evidence.reference import Reference, reference
        from workstation.research.evidence.track_record import load_book

        try:
            ref = await asyncio.to_thread(
                reference, self.paths.db_path, h, self.market, needed_for, self.calendar
            )
            if ref.row is not None:
                row = ref.row
                self._book = await asyncio.to_thread(
                    load_book,
                    row.path,
                    backtest_id=row.id,
                    first=row.first_session,
                    last=row.last_session,
                    param_hash=row.param_hash,
                    market=row.market,
                )
            self._ref = ref
        except Exception as exc:  # a damaged backtest file: say so, build a new one
            log.exception("the track record's backtest could not be read")
            self._ref = Reference(h, None, False)
            self._failed.pop(h, None)
            self.note = f"{type(exc).__name__}: {exc}"
        if h != self.param_hash:
            return
        if (self._ref.row is None or self._ref.stale) and h not in self._built:
            self._start_build(h)
        self._notify()

    def _start_build(self, h: str) -> None:
        self._build_hash = h
        self._progress = 0.0
        self._partial = None
        self._build_first = None
        self.builds_started += 1

        def progress(doc: dict[str, Any]) -> None:
            total = float(doc.get("total") or 0)
            done = int(doc.get("done") or 0)
            self._progress = done / total if total else None
            if done == 0 and doc.get("session"):
                self._build_first = date.fromisoformat(str(doc["session"]))
            elif doc.get("store") and doc.get("session"):
                self._read_partial(h, str(doc["store"]), date.fromisoformat(str(doc["session"])))
            if time.monotonic() - self._last_notice >= PROGRESS_EVERY_S:
                self._notify()

        def done(result: JobResult) -> None:
            self.jobs.discard(job)
            self._built.add(h)
            self._progress = None
            self._partial = None
            if result.canceled:
                return
            if not result.ok:
                self._failed[h] = (
                    "The backtest behind the track record failed: "
                    f"{result.error or f'exit code {result.returncode}'}"
                )
                self._notify()
                return
            self._book = None  # find and load the new one
            if h == self.param_hash:
                self._finding_hash = h
                self._finding = _loop().create_task(self._find(h, None))

        job = ChildJob(
            [*self.global_args, "backtest", "--json", "--progress", "json"],
            on_progress=progress,
            on_done=done,
            background=True,
        )
        self._build = job
        self.jobs.add(job)
        job.start()
        self._notify()

    def _read_partial(self, h: str, store: str, last: date) -> None:
        """Read the trades the build has made so far (a worker thread; at most every
        ``PARTIAL_EVERY_S`` seconds): the track record appears while the backtest runs."""
        first = self._build_first
        busy = self._partial_task is not None and not self._partial_task.done()
        if first is None or busy or time.monotonic() - self._partial_at < PARTIAL_EVERY_S:
            return
        self._partial_at = time.monotonic()

        async def read() -> None:
            from workstation.research.evidence.track_record import load_partial_book

            book = await asyncio.to_thread(
                load_partial_book, store, first=first, last=last, param_hash=h, market=self.market
            )
            building = self._build is not None and self._build.running and self._build_hash == h
            have = self._book is not None and self._book.param_hash == h
            if book is not None and book.trades and building and not have:
                self._partial = book
                self._notify()

        self._partial_task = _loop().create_task(read())

    # ------------------------------------------------------------------ child jobs
    def run(
        self,
        args: list[str],
        on_progress: Callable[[dict[str, Any]], None] | None,
        on_done: Callable[[JobResult], None],
    ) -> ChildJob:
        """``workstation <global options> *args`` in a child process (drift, preview)."""

        def finished(result: JobResult) -> None:
            self.jobs.discard(job)
            on_done(result)

        job = ChildJob([*self.global_args, *args], on_progress=on_progress, on_done=finished)
        self.jobs.add(job)
        return job.start()

    async def edge(self, start: date | None, end: date | None) -> Any:
        """The human edge report (a few queries, in a worker thread)."""
        from workstation.research.evidence.edge import human_edge
        from workstation.store import Store

        cfg = self.config()

        def compute() -> Any:
            with Store.open(self.paths.db_path) as store:
                return human_edge(store, start, end, cfg, self.calendar)

        return await asyncio.to_thread(compute)

    def shutdown(self) -> None:
        """Stop every child (the app is quitting)."""
        for job in list(self.jobs):
            job.cancel()
        if self._finding is not None:
            self._finding.cancel()
        if self._partial_task is not None:
            self._partial_task.cancel()
        with contextlib.suppress(Exception):
            self._listeners.clear()

    note: str = ""


def _loop() -> asyncio.AbstractEventLoop:
    """The loop the window runs on: the running one, else the thread's (a Qt slot called
    outside a loop turn, as tests do)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.get_event_loop_policy().get_event_loop()


__all__ = ["EvidenceService", "child_args"]
