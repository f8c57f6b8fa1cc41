"""The scanner engine: load bars, scan off the loop, persist, publish (rules §1 and §6).

The CPU work (:func:`scan_session`) runs in an executor so the Qt/asyncio loop never
blocks; the clock is held meanwhile so a max-speed simulation does not run past it.
A failed scan is retried (``retry.tries``, backoff doubling); when every try fails the
failure is recorded and published, and the next session trades no new candidates:
:func:`tradable_candidates` only ever returns the scan of the exact previous session.

A re-run of a session that already has a list (rules in :mod:`workstation.engine.rules.approval`)
is refused once the list's entry times have begun (:class:`ScanRefused`, never retried: checked
before the work and again just before recording), and otherwise carries the user's decisions
over to the same (symbol, strategy) in the new list, in the transaction that records it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from datetime import date
from pathlib import Path
from typing import Any

from workstation.core.bar_problems import problems_text
from workstation.core.calendar import TradingCalendar
from workstation.core.clock import Clock
from workstation.core.config import Config
from workstation.core.events import EventBus, LogEvent, ScanFailed, ScanFinished, ScanStarted
from workstation.core.models import ApprovalState, Group, Universe
from workstation.core.param_sets import params_yaml
from workstation.engine.rules.approval import (
    Decided,
    carry_decisions,
    entry_time,
    rescan_refusal,
)
from workstation.engine.scan import ScanError, ScanResult, scan_session
from workstation.engine.scan_record import ScanOutcome, write_scan_json
from workstation.market.base import MarketData
from workstation.store import CandidateRow, CarriedDecision, ScanRow, Store

log = logging.getLogger(__name__)

#: Computes a session's scan elsewhere (the backtester: a process pool and a cache of scans
#: made by the same :func:`scan_session`); the scanner records and publishes it as its own.
ScanSource = Callable[[date, Config], Awaitable[ScanOutcome]]


class ScanRefused(ScanError):
    """The session's list may not be replaced now (its entry times have begun)."""


class Scanner:
    def __init__(
        self,
        market: MarketData,
        config: Callable[[], Config],
        store: Store,
        scans_dir: Path | None,
        clock: Clock,
        bus: EventBus,
        universe: Universe | None = None,
        executor: Executor | None = None,
        source: ScanSource | None = None,
        calendar: TradingCalendar | None = None,
    ) -> None:
        self._calendar = calendar
        self.market = market
        self._config = config
        self.store = store
        self.scans_dir = scans_dir  # None: no JSON file per scan (a backtest's store has all)
        self.clock = clock
        self.bus = bus
        self.universe = universe or market.universe()
        self.executor = executor
        self.source = source
        self._recorded: set[str] = set()  # parameter sets this scanner has stored

    async def _compute(self, session: date, cfg: Config) -> ScanOutcome:
        if self.source is not None:
            with self.clock.hold():
                return await self.source(session, cfg)
        result = await compute_scan(
            self.market, self.universe, session, cfg, self.clock, self.executor
        )
        return ScanOutcome.of(result)

    @property
    def calendar(self) -> TradingCalendar:
        if self._calendar is None:
            from workstation.core.calendar import get_calendar

            self._calendar = get_calendar()
        return self._calendar

    def current_list(self, session: date) -> ScanRow | None:
        """The list a scan of ``session`` would replace (its current successful scan)."""
        return self.store.latest_scan(session, market=self.market.name)

    def rerun_refusal(self, session: date) -> str:
        """Why ``session`` may not be scanned again now ("" when it may, or has no list)."""
        if self.current_list(session) is None:
            return ""
        first = entry_time(
            Group.A, self.calendar.next_session(session), self._config().schedule, self.calendar
        )
        return rescan_refusal(session, self.clock.now(), first)

    def decisions(self, session: date) -> list[Decided]:
        """The user's approvals and vetoes on ``session``'s current list."""
        row = self.current_list(session)
        if row is None:
            return []
        return [
            Decided(c.symbol, c.strategy, ApprovalState(c.approval), c.approval_note or "", c.id)
            for c in self.store.candidates_for_scan(row.id)
            if c.approval_source == "user" and c.approval in ("approved", "vetoed")
        ]

    async def scan(self, session: date) -> ScanOutcome:
        """One attempt: scan ``session`` and persist the result (raises on failure)."""
        refusal = self.rerun_refusal(session)
        if refusal:
            raise ScanRefused(refusal)
        cfg = self._config()  # one parameter set for the whole scan
        started = self.clock.now()
        self.bus.publish(ScanStarted(started, session))
        outcome = await self._compute(session, cfg)
        finished = self.clock.now()
        yaml_text = None
        if cfg.param_hash not in self._recorded:
            # Dumping the parameters as YAML takes tens of milliseconds: off the loop (the
            # clock held), and once per parameter set, not per scan.
            with self.clock.hold():
                yaml_text = await asyncio.get_running_loop().run_in_executor(
                    self.executor, params_yaml, cfg
                )
        rep = outcome.report
        # Checked again, and the decisions read, right before the list is replaced: nothing
        # runs on the loop between here and the recording transaction.
        refusal = self.rerun_refusal(session)
        if refusal:
            raise ScanRefused(refusal)
        rerun = self.current_list(session) is not None
        carried, dropped = carry_decisions(
            self.decisions(session), ((r.symbol, r.strategy) for r in outcome.rows)
        )
        if yaml_text is not None:
            self.store.record_param_set(
                cfg.param_hash, yaml_text, "scan", at=finished, actor="engine"
            )
            self._recorded.add(cfg.param_hash)
        scan_id = self.store.record_scan(
            session=session,
            param_hash=cfg.param_hash,
            status="ok",
            started_at=started,
            finished_at=finished,
            regime=rep.regime,
            loaded=rep.loaded,
            eligible=rep.eligible,
            stale=len(rep.stale),
            failed=len(rep.failed),
            stale_symbols=rep.stale,
            failed_symbols=rep.failed,
            duration_s=rep.duration_s,
            market=self.market.name,
            candidates=list(outcome.rows),
            ineligible=rep.ineligible,
            data_problems=rep.data_problems.as_dict(),
            decisions={
                k: CarriedDecision(str(d.state), d.note or None, d.candidate_id)
                for k, d in carried.items()
            },
        )
        # A re-run's report says what became of the decisions (a first scan's has no such keys).
        kept: dict[str, Any] = {}
        if rerun:
            kept["decisions_carried"] = len(carried)
            kept["decisions_dropped"] = [
                {"symbol": d.symbol, "strategy": d.strategy, "state": str(d.state)} for d in dropped
            ]
        file: str | None = None
        if self.scans_dir is not None and outcome.result is not None:
            # The JSON file (~20 ms of encoding and writing) off the loop too, so the window
            # stays responsive; the clock held, so simulated time does not run ahead of it.
            loop = asyncio.get_running_loop()
            with self.clock.hold():
                path = await loop.run_in_executor(
                    self.executor, write_scan_json, outcome.result, self.scans_dir
                )
            file = path.name
        self.store.audit(
            "engine",
            "scan",
            f"session:{session}",
            {
                "scan_id": scan_id,
                "candidates": len(outcome.candidates),
                "file": file,
                **rep.as_dict(),
                **kept,
            },
            at=finished,
        )
        problems = rep.data_problems
        if problems:
            # §14: every bad bar the scan read, named in the log (the GUI shows the report).
            level = logging.WARNING if problems.symbols() else logging.INFO
            log.log(
                level, "scan of %s: data problems: %s", session, problems_text(problems.as_dict())
            )
        self.bus.publish(
            ScanFinished(
                finished,
                session,
                scan_id,
                rep.regime,
                outcome.candidates,
                {**rep.as_dict(), **kept},
            )
        )
        return outcome

    async def scan_with_retries(self, session: date) -> ScanOutcome | None:
        """The 20:00 policy: up to ``retry.tries`` attempts with doubling backoff.

        Returns None when every attempt failed; the failure is recorded in the store
        (so the next session trades nothing new) and published."""
        retry = self._config().scanner.retry
        for attempt in range(1, retry.tries + 1):
            try:
                return await self.scan(session)
            except (asyncio.CancelledError, ScanRefused):
                raise  # a refusal is an answer, not a failure to retry
            except Exception as exc:
                final = attempt == retry.tries
                message = _describe(exc)
                log.warning(
                    "scan of %s failed (try %d of %d): %s", session, attempt, retry.tries, message
                )
                now = self.clock.now()
                self.bus.publish(ScanFailed(now, session, attempt, message, final))
                self.bus.publish(
                    LogEvent(
                        now,
                        "ERROR" if final else "WARNING",
                        "scanner",
                        f"scan of {session} failed (try {attempt} of {retry.tries}): {message}",
                    )
                )
                if final:
                    self._record_failure(session, message)
                    return None
                await self.clock.sleep(retry.backoff_s * 2 ** (attempt - 1))
        return None

    def _record_failure(self, session: date, message: str) -> None:
        now = self.clock.now()
        cfg = self._config()
        self.store.record_scan(
            session=session,
            param_hash=cfg.param_hash,
            status="failed",
            started_at=now,
            finished_at=now,
            error=message,
            market=self.market.name,
        )
        self.store.audit(
            "engine",
            "scan_failed",
            f"session:{session}",
            {"error": message, "consequence": "no new candidates next session"},
            at=now,
        )


async def compute_scan(
    market: MarketData,
    universe: Universe,
    session: date,
    cfg: Config,
    clock: Clock,
    executor: Executor | None = None,
) -> ScanResult:
    """Load the bars and scan ``session`` (the CPU work in ``executor``), persisting nothing:
    :meth:`Scanner.scan` records the result; ``workstation scan`` beside a running
    workstation only shows it."""
    symbols = [*universe.symbols, universe.benchmark]
    bars = await market.daily_bars(symbols, session, cfg.scanner.universe.history_sessions)
    loop = asyncio.get_running_loop()
    with clock.hold():
        return await loop.run_in_executor(executor, scan_session, bars, universe, session, cfg)


def tradable_candidates(
    store: Store, scan_session: date, market: str | None = None
) -> list[CandidateRow]:
    """The candidates the next session may trade: those of ``scan_session``'s own successful
    scan, never an older session's list (rules §1)."""
    scan = store.latest_scan(scan_session, market=market)
    if scan is None or scan.status != "ok":
        return []
    return store.candidates_for_scan(scan.id)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ScanError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
