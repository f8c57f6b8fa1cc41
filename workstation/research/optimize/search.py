"""The search driver: Optuna asks and is told on this side, trials run as Dask tasks.

One loop on the caller's thread (never a Qt thread: the app runs it in a worker thread or as
``workstation optimize --progress json`` in a process of its own):

1. Scatter the market data to every worker (once), compute the scans the trials share (once,
   spread over the workers, kept in the home's scan cache) and scatter them too.
2. Each stage's study asks for trials; each becomes a task (``worker.run_trial``) and a
   ``running`` row in the search file. ``grid`` and ``random`` ask every trial at once: what
   they propose does not depend on results. ``tpe`` learns from results, so it asks at most
   ``in_flight`` trials ahead and is told the results in trial order: the same seed gives the
   same trials whether 1 or 50 workers ran them, in whatever order they finished.
3. Each result is written to the search file before the next one is read, told to the study,
   and announced (:mod:`~workstation.research.optimize.events`).

A resumed search replays its file through the same asks: a trial already finished is told
from the file (its parameters must be those asked again: same space and seed), the others
run. A lost worker costs only the trials it was running: Dask runs them again elsewhere
(``distributed.scheduler.allowed-failures`` times, then the trial fails with that reason). A
trial that raises is failed with its error, and the search goes on.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from workstation.errors import UserError
from workstation.research.optimize.cluster import Cluster
from workstation.research.optimize.events import (
    ClusterReady,
    Finished,
    Listener,
    Planned,
    ScansAhead,
    SearchEvent,
    TrialDone,
    TrialQueued,
    WorkersChanged,
)
from workstation.research.optimize.objective import TrialRun
from workstation.research.optimize.searchfile import SearchFile, StoredTrial, session_dates
from workstation.research.optimize.selection import (
    Choice,
    TrialRecord,
    WalkForwardResult,
    choose,
    walk_forward,
)
from workstation.research.optimize.space import ParamSpec, typed
from workstation.research.optimize.spec import Plan, SearchSpec, Stage
from workstation.research.optimize.worker import (
    ScanBook,
    SharedData,
    TrialOutcome,
    TrialTask,
    run_trial,
    scan_sessions,
    warm_worker,
)
from workstation.research.scans import ScanCache

log = logging.getLogger(__name__)
optuna.logging.set_verbosity(optuna.logging.WARNING)

#: A trial whose data went missing on the cluster (every worker holding it died) is
#: submitted again this many times before it fails.
MAX_ATTEMPTS = 3
_POLL_S = 0.25
_WORKERS_POLL_S = 1.0


class SearchError(RuntimeError):
    """The search cannot go on (its file disagrees with what it is asked to do)."""


# ---------------------------------------------------------------------------- one study
def distributions(params: Sequence[ParamSpec], kind: str) -> dict[str, BaseDistribution]:
    """Optuna's distribution of each dimension (a grid search asks its points as choices)."""
    out: dict[str, BaseDistribution] = {}
    for p in params:
        g = p.grid()
        if kind == "grid" or p.kind == "list" or (p.kind == "log" and g is not None):
            assert g is not None
            out[p.key] = CategoricalDistribution(list(g))
        elif p.kind == "int":
            assert p.lo is not None and p.hi is not None
            out[p.key] = IntDistribution(int(p.lo), int(p.hi), step=int(p.step or 1))
        elif p.kind == "log":
            assert p.lo is not None and p.hi is not None
            out[p.key] = FloatDistribution(p.lo, p.hi, log=True)
        else:
            assert p.lo is not None and p.hi is not None
            out[p.key] = FloatDistribution(p.lo, p.hi, step=p.step)
    return out


def sampler_for(spec: SearchSpec, stage: int) -> optuna.samplers.BaseSampler:
    seed = spec.seed + 1000 * stage  # each stage its own stream, all from --seed
    if spec.search == "grid":
        return optuna.samplers.GridSampler(spec.space.grid(), seed=seed)
    if spec.search == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


class StageDriver:
    """One stage's study: asks within the stage's budget and window, tells as results come."""

    def __init__(self, stage: Stage, spec: SearchSpec, current: Mapping[str, Any]) -> None:
        self.stage = stage
        self.ordered = spec.search == "tpe"
        self.window = spec.in_flight if self.ordered else stage.trials
        self.dists = distributions(spec.space.params, spec.search)
        self.current = current
        self.study = optuna.create_study(
            direction="maximize", sampler=sampler_for(spec, stage.index)
        )
        self.asked: dict[int, optuna.Trial] = {}
        self.results: dict[int, tuple[TrialState, float | None]] = {}
        self.told = 0
        self.best: tuple[float, dict[str, Any]] | None = None

    def can_ask(self) -> bool:
        n = len(self.asked)
        if n >= self.stage.trials:
            return False
        if not self.ordered:
            return n - self.told < self.window
        # tpe: trial n is asked after exactly n - window + 1 results were told, in trial
        # order, however many have come back by now (a later one may finish first): what the
        # sampler has learnt at each ask, hence every trial it proposes, is the same on 1
        # worker or 50.
        need = n - self.window + 1
        while self.told < need and self.told in self.results:
            self._tell(self.told)
        return self.told >= need

    def ask(self) -> tuple[int, dict[str, Any]]:
        trial = self.study.ask(self.dists)
        self.asked[trial.number] = trial
        params = {k: typed(v, self.current[k]) for k, v in trial.params.items()}
        return trial.number, params

    @property
    def done(self) -> bool:
        return self.told >= self.stage.trials

    def result(self, number: int, state: TrialState, value: float | None, params: dict) -> None:
        self.results[number] = (state, value)
        if value is not None and (self.best is None or value > self.best[0]):
            self.best = (value, params)
        if not self.ordered:
            self._tell(number)
        elif len(self.asked) >= self.stage.trials:  # nothing left to ask: tell the rest
            while self.told in self.results:
                self._tell(self.told)

    def _tell(self, number: int) -> None:
        state, value = self.results[number]
        trial = self.asked[number]
        try:
            if state is TrialState.COMPLETE:
                self.study.tell(trial, value)
            else:
                self.study.tell(trial, state=state)
        except RuntimeError:
            # GridSampler stops the study from inside the tell that completes the grid
            # ("Study.stop is supposed to be invoked inside an objective"); the trial is
            # stored all the same.
            pass
        self.told += 1


# ---------------------------------------------------------------------------- the search
@dataclass
class _Connection:
    cluster: Cluster
    shared_f: Any  # the scattered SharedData
    book: ScanBook | None = None
    book_f: Any = None  # the scattered ScanBook


@dataclass(frozen=True)
class SearchResult:
    """What a search found (also of a cancelled one: what it had by then)."""

    id: str
    status: str
    spec: SearchSpec
    plan: Plan
    trials: tuple[TrialRecord, ...]
    best: Choice | None
    walk_forward: WalkForwardResult | None
    workers: int
    wall_s: float
    info: Mapping[str, Any] = field(default_factory=dict)

    def trial(self, stage: int, number: int) -> TrialRecord:
        return next(t for t in self.trials if t.key == (stage, number))

    def as_json(self) -> dict[str, Any]:
        from workstation.research.optimize.report import result_json

        return result_json(self)


Listing = Callable[[str, int, Mapping[str, Any] | None], None]  # (status, done, best)


class Search:
    """A parameter search ready to run (or resume): ``result = Search(...).run(listener)``.

    ``cancel()`` may be called from any thread: the search stops asking, cancels the trials
    in flight (they run again on resume) and returns its result so far with status
    ``cancelled``."""

    def __init__(
        self,
        id: str,
        spec: SearchSpec,
        plan: Plan,
        shared: SharedData,
        file: SearchFile,
        *,
        scheduler: str | None = None,
        workers: int | None = None,
        listing: Listing | None = None,
        scan_cache: ScanCache | None = None,
        starting_equity: float = 100_000.0,
        risk_free_rate: float = 0.0,
        scan_days: Sequence[date] = (),
        resumed: bool = False,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        self.id = id
        self.spec = spec
        self.plan = plan
        self.shared = shared
        self.file = file
        self.scheduler = scheduler
        self.n_workers = workers
        self.listing = listing
        self.scan_cache = scan_cache
        self.starting_equity = starting_equity
        self.risk_free_rate = risk_free_rate
        self.scan_days = tuple(scan_days)
        self.resumed = resumed
        self.info = dict(info or {})
        self._cancel = threading.Event()
        self._listener: Listener | None = None
        self.records: dict[tuple[int, int], TrialRecord] = {}
        self.workers_seen = 0

    # -- control -------------------------------------------------------------------------
    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def _emit(self, event: SearchEvent) -> None:
        if self._listener is not None:
            try:
                self._listener(event)
            except Exception:  # a viewer's bug must not stop a search
                log.exception("search listener failed on %s", event.name)

    # -- running -------------------------------------------------------------------------
    def run(self, listener: Listener | None = None) -> SearchResult:
        """Run to the end (or until cancelled); the result. Raises UserError (exit 2) when
        another process is running this search."""
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.file.path) + ".lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise UserError(
                f"search {self.id} is running in another process; wait for it or stop it",
                exit_code=2,
            ) from None
        try:
            return self._run(listener)
        finally:
            lock.release()

    def _run(self, listener: Listener | None) -> SearchResult:
        self._listener = listener
        started = time.perf_counter()
        self.file.close_running("interrupted: the search stopped before this trial finished")
        stored = {(t.stage, t.number): t for t in self.file.trials()}
        current = {p.key: _current(self.shared, p.key) for p in self.spec.space.params}
        drivers = [StageDriver(s, self.spec, current) for s in self.plan.stages]
        self._emit(
            Planned(
                self.id,
                self.plan.total,
                len(self.plan.stages),
                self.spec.space.keys,
                self.spec.space.scan_keys,
                self.resumed,
            )
        )
        self.file.put("status", "running")
        self._list("running")
        status, message = "finished", None
        stack = contextlib.ExitStack()
        try:
            with stack:
                status = self._loop(stack, drivers, stored)
        except KeyboardInterrupt:
            status = "cancelled"
        except (OSError, TimeoutError) as exc:  # the scheduler or the connection was lost
            status, message = "interrupted", f"the cluster was lost: {type(exc).__name__}: {exc}"
        except Exception as exc:
            status, message = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            reason = (
                "cancelled: the search was stopped before this trial finished"
                if status == "cancelled"
                else "interrupted: the search stopped before this trial finished"
            )
            self.file.close_running(reason)
            for rec in self.records.values():
                if rec.state == "queued":
                    rec.state, rec.reason = "interrupted", reason
            result = self._result(status, time.perf_counter() - started)
            self.file.put("status", status)
            best = None if result.best is None else _best_summary(result.best)
            self._list(status, best)
            done = sum(1 for r in self.records.values() if r.state in ("complete", "failed"))
            self._emit(Finished(self.id, status, done, self.plan.total, message))
        return result

    def _list(self, status: str, best: Mapping[str, Any] | None = None) -> None:
        if self.listing is None:
            return
        done = sum(1 for r in self.records.values() if r.state in ("complete", "failed"))
        try:
            self.listing(status, done, best)
        except Exception:  # the list is a convenience; the search file is the record
            log.exception("could not update the search's listing")

    def _connect(self, stack: contextlib.ExitStack) -> _Connection:
        """Start (or reach) the cluster and ship it the data: on the first trial that has to
        run, so a finished search read again starts nothing."""
        cluster = stack.enter_context(Cluster(self.scheduler, workers=self.n_workers))
        self.workers_seen = cluster.workers()
        self._emit(
            ClusterReady(cluster.address, cluster.local, self.workers_seen, cluster.dashboard)
        )
        client = cluster.client
        conn = _Connection(cluster, client.scatter(self.shared, broadcast=True, hash=False))
        # Each worker imports the engine and builds what trials share once, now, rather than
        # inside its first trial (a worker that joins later does it in its first trial).
        warm = [
            client.submit(warm_worker, conn.shared_f, workers=[a], allow_other_workers=False,
                          pure=False)
            for a in client.scheduler_info(n_workers=-1).get("workers", {})
        ]  # fmt: skip
        client.gather(warm, errors="skip")
        conn.book = self._scans_ahead(cluster, conn.shared_f)
        if conn.book is not None:
            conn.book_f = cluster.client.scatter(conn.book, broadcast=True, hash=False)
        return conn

    def _loop(
        self,
        stack: contextlib.ExitStack,
        drivers: list[StageDriver],
        stored: Mapping[tuple[int, int], StoredTrial],
    ) -> str:
        conn: _Connection | None = None
        done_q: queue.Queue[Any] = queue.Queue()
        pending: dict[Any, tuple[StageDriver, int, TrialTask]] = {}
        waiting: list[tuple[StageDriver, TrialTask]] = []  # asked, to run once connected
        last_poll = time.monotonic()
        last_list = 0.0

        def submit(d: StageDriver, task: TrialTask) -> None:
            assert conn is not None
            client = conn.cluster.client
            if conn.shared_f.status != "finished":  # every worker holding it died: again
                conn.shared_f = client.scatter(self.shared, broadcast=True, hash=False)
                if conn.book is not None:
                    conn.book_f = client.scatter(conn.book, broadcast=True, hash=False)
            rec = self.records[(task.stage, task.number)]
            attempt = self.file.queued(task.stage, task.number, rec.params)
            rec.state, rec.attempts = "queued", attempt
            fut = client.submit(
                run_trial, conn.shared_f, conn.book_f, task, self.spec.scan_cache, pure=False
            )
            pending[fut] = (d, attempt, task)
            fut.add_done_callback(done_q.put)
            self._emit(TrialQueued(task.stage, task.number, rec.params, attempt))

        while True:
            for d in drivers:
                while d.can_ask() and not self.cancelled:
                    number, params = d.ask()
                    key = (d.stage.index, number)
                    rec = TrialRecord(d.stage.index, number, params)
                    self.records[key] = rec
                    old = stored.get(key)
                    if old is not None and not _same(old.params, params):
                        raise SearchError(
                            f"search {self.id}: trial {key} was {old.params}, now {params}: "
                            "the search's space or seed changed; start a new search"
                        )
                    if old is not None and old.final:
                        self._replay(d, rec, old)
                        continue
                    task = TrialTask(d.stage.index, number, params, d.stage.first, d.stage.last)
                    waiting.append((d, task))
            if waiting and not self.cancelled:
                if conn is None:
                    conn = self._connect(stack)
                for d, task in waiting:
                    submit(d, task)
                waiting.clear()
            if all(d.done for d in drivers) and not pending:
                return "finished"
            if self.cancelled:
                if conn is not None:
                    conn.cluster.client.cancel(list(pending))
                return "cancelled"
            try:
                fut = done_q.get(timeout=_POLL_S)
            except queue.Empty:
                fut = None
            if fut is not None and fut in pending:
                d, attempt, task = pending.pop(fut)
                self._finish(d, task, attempt, fut, submit)
            now = time.monotonic()
            if conn is not None and now - last_poll >= _WORKERS_POLL_S:
                last_poll = now
                n = conn.cluster.workers()
                if n != self.workers_seen:
                    self.workers_seen = n
                    self._emit(WorkersChanged(n))
            if now - last_list >= 2.0:
                last_list = now
                self._list("running")

    def _finish(
        self,
        d: StageDriver,
        task: TrialTask,
        attempt: int,
        fut: Any,
        submit: Callable[[StageDriver, TrialTask], None],
    ) -> None:
        from distributed.scheduler import KilledWorker

        rec = self.records[(task.stage, task.number)]
        if fut.status == "finished":
            self._complete(d, rec, fut.result())
            return
        exc = None if fut.status == "cancelled" else fut.exception()
        if exc is None or _lost_data(exc):
            if attempt < MAX_ATTEMPTS and not self.cancelled:
                submit(d, task)  # its input went missing with a worker: run it again
                return
            reason = "its data was lost with the workers holding it, three times"
        elif isinstance(exc, KilledWorker):
            reason = f"the workers running it died: {exc}"
        else:
            reason = f"{type(exc).__name__}: {exc}"
        self.file.failed(task.stage, task.number, reason)
        rec.state, rec.reason = "failed", reason
        d.result(task.number, TrialState.FAIL, None, rec.params)
        self._done_event(d, rec)

    def _complete(self, d: StageDriver, rec: TrialRecord, out: TrialOutcome) -> None:
        rec.run = TrialRun(
            first=d.stage.first,
            sessions=session_dates(out.sessions),
            returns=out.returns,
            trades=out.trades,
        )
        figures = rec.figures(d.stage.select, risk_free_rate=self.risk_free_rate)
        assert figures is not None
        value, reason = self.spec.objective.score(figures)
        self.file.completed(
            rec.stage,
            rec.number,
            value=value,
            reason=reason,
            wall_s=out.wall_s,
            worker=out.worker,
            scans_hit=out.scans_hit,
            scans_computed=out.scans_computed,
            sessions=out.sessions,
            returns=out.returns,
            trades=out.trades,
        )
        rec.state, rec.value, rec.reason = "complete", value, reason
        rec.wall_s, rec.worker = out.wall_s, out.worker
        rec.scans_hit, rec.scans_computed = out.scans_hit, out.scans_computed
        state = TrialState.COMPLETE if value is not None else TrialState.PRUNED
        d.result(rec.number, state, value, rec.params)
        self._done_event(d, rec)

    def _replay(self, d: StageDriver, rec: TrialRecord, old: StoredTrial) -> None:
        rec.state, rec.value, rec.reason, rec.attempts = (
            old.state,
            old.value,
            old.reason,
            old.attempts,
        )
        rec.wall_s, rec.worker = old.wall_s, old.worker
        rec.scans_hit, rec.scans_computed = old.scans_hit, old.scans_computed
        if old.state == "complete" and old.sessions is not None and old.returns is not None:
            rec.run = TrialRun(d.stage.first, session_dates(old.sessions), old.returns, old.trades)
            state = TrialState.COMPLETE if old.value is not None else TrialState.PRUNED
        else:
            state = TrialState.FAIL
        d.result(rec.number, state, old.value, rec.params)
        self._done_event(d, rec, replayed=True)

    def _done_event(self, d: StageDriver, rec: TrialRecord, replayed: bool = False) -> None:
        done = sum(1 for r in self.records.values() if r.state in ("complete", "failed"))
        self._emit(
            TrialDone(
                stage=rec.stage,
                number=rec.number,
                params=rec.params,
                state=rec.state,
                value=rec.value,
                reason=rec.reason,
                wall_s=rec.wall_s,
                worker=rec.worker,
                done=done,
                total=self.plan.total,
                best_value=None if d.best is None else d.best[0],
                best_params=None if d.best is None else d.best[1],
                replayed=replayed,
            )
        )

    # -- scans computed once for all trials ---------------------------------------------
    def _scans_ahead(self, cluster: Cluster, shared_f: Any) -> ScanBook | None:
        """When no searched key changes the scan, every trial reads the same scans: take them
        from the home's cache, compute the missing ones on the cluster (in chunks), keep them
        in the cache, and hand the trials the whole book."""
        if self.spec.space.scan_keys or not self.spec.scan_cache:
            return None
        from workstation.research.scans import ScanService

        scan_days = self.scan_days
        service = ScanService(
            self.shared.bars, self.shared.membership, fingerprint=self.shared.fingerprint
        )
        cfg = self.shared.base
        outcomes: dict[str, Any] = {}
        missing: list[date] = []
        for s in scan_days:
            key = service.key(s, cfg)
            hit = self.scan_cache.get(key) if self.scan_cache is not None else None
            if hit is not None:
                outcomes[key] = hit
            else:
                missing.append(s)
        cached = len(outcomes)
        total = len(scan_days)
        self._emit(ScansAhead(cached, total, cached))
        if missing:
            n = max(1, cluster.workers())
            size = max(4, -(-len(missing) // (4 * n)))
            chunks = [missing[i : i + size] for i in range(0, len(missing), size)]
            done_q: queue.Queue[Any] = queue.Queue()
            futs = []
            for chunk in chunks:
                f = cluster.client.submit(scan_sessions, shared_f, chunk, {}, pure=False)
                f.add_done_callback(done_q.put)
                futs.append(f)
            remaining = len(futs)
            while remaining:
                if self.cancelled:
                    cluster.client.cancel(futs)
                    raise KeyboardInterrupt
                try:
                    f = done_q.get(timeout=_POLL_S)
                except queue.Empty:
                    continue
                remaining -= 1
                got = f.result()  # a scan that cannot run stops the search: nothing would
                for key, outcome in got.items():
                    outcomes[key] = outcome
                    if self.scan_cache is not None:
                        self.scan_cache.put(key, outcome)
                self._emit(ScansAhead(len(outcomes), total, cached))
        return ScanBook(outcomes)

    # -- the result ------------------------------------------------------------------------
    def _result(self, status: str, wall_s: float) -> SearchResult:
        trials = tuple(sorted(self.records.values(), key=lambda r: r.key))
        wf = None
        best = None
        objective = self.spec.objective
        rf = self.risk_free_rate
        if self.plan.windows or self.plan.live is not None:
            trials_of: dict[int, list[TrialRecord]] = {}
            for s in self.plan.stages:
                mine = [t for t in trials if t.stage == s.index]
                for w in s.windows:
                    trials_of[w.index] = mine
            wf = walk_forward(
                self.plan.windows,
                self.plan.live,
                trials_of,
                objective,
                starting_equity=self.starting_equity,
                tail=self.plan.tail,
                risk_free_rate=rf,
            )
            best = None if wf.live is None else wf.live.choice
        else:
            stage = self.plan.stages[0]
            best = choose(trials, stage.select, objective, risk_free_rate=rf)
        return SearchResult(
            id=self.id,
            status=status,
            spec=self.spec,
            plan=self.plan,
            trials=trials,
            best=best,
            walk_forward=wf,
            workers=self.workers_seen,
            wall_s=wall_s,
            info=self.info,
        )


def _current(shared: SharedData, key: str) -> Any:
    from workstation.core.overrides import current_value

    return current_value(shared.base, key)


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    if set(a) != set(b):
        return False
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, (int, float)) and isinstance(y, (int, float)):
            if not np.isclose(float(x), float(y), rtol=1e-12, atol=0):
                return False
        elif x != y:
            return False
    return True


def _lost_data(exc: BaseException) -> bool:
    from concurrent.futures import CancelledError

    name = type(exc).__name__
    return isinstance(exc, CancelledError) or name in ("FutureCancelledError", "CancelledError")


def _best_summary(c: Choice) -> dict[str, Any]:
    return {
        "stage": c.trial.stage,
        "number": c.trial.number,
        "params": c.trial.params,
        "value": c.value,
        "dsr": c.deflated.dsr if np.isfinite(c.deflated.dsr) else None,
        "pbo": None if c.overfitting is None else c.overfitting.pbo,
    }


__all__ = [
    "MAX_ATTEMPTS",
    "Search",
    "SearchError",
    "SearchResult",
    "StageDriver",
    "distributions",
    "sampler_for",
]
