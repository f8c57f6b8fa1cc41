"""The health checks inside the running engines, for the window's status strip.

The same checks as ``workstation health``, on the engines' own store, broker and clock.
They run in a task of the engines' loop: at start, every ``interval_s`` seconds of wall
time, and soon after an event that can change a verdict (a step, a scan, a fill, a
protection problem, a reconciliation, a connection change). The broker is asked with a
timeout; the store reads are a few small queries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from workstation.core.events import (
    ClockChanged,
    ConnectionStateChanged,
    Event,
    EventBus,
    ScanFailed,
    ScanFinished,
)
from workstation.engine.events import (
    DifferenceResolved,
    PositionClosed,
    PositionOpened,
    ProtectionProblem,
    ReconcileFinished,
    TradingGateChanged,
)
from workstation.engine.session import TradingSession
from workstation.engine.session_events import StepFinished, StepMissed
from workstation.health.checks import EngineBeat, run_checks
from workstation.health.gather import inputs_from_store
from workstation.health.report import HealthReport

log = logging.getLogger(__name__)

INTERVAL_S = 60.0
SOON_S = 1.0  # after an event, the checks wait this long (events come in bursts)
BROKER_TIMEOUT_S = 10.0

_TRIGGERS: tuple[type[Event], ...] = (
    ClockChanged,  # paused, resumed, jumped: judge the state at the new time
    StepFinished,
    StepMissed,
    ScanFinished,
    ScanFailed,
    PositionOpened,
    PositionClosed,
    ProtectionProblem,
    ReconcileFinished,
    DifferenceResolved,
    TradingGateChanged,
    ConnectionStateChanged,
)


class HealthWatch:
    def __init__(
        self,
        session: TradingSession,
        bus: EventBus,
        *,
        connections: Callable[[], Mapping[str, str]],
        last_trade_at: Callable[[], datetime | None],
        on_change: Callable[[HealthReport], None],
        backup_dir: Callable[[], Path | None] = lambda: None,
        interval_s: float = INTERVAL_S,
    ) -> None:
        self.session = session
        self._connections = connections
        self._last_trade_at = last_trade_at
        self._on_change = on_change
        self._backup_dir = backup_dir
        self.interval_s = interval_s
        self.report: HealthReport | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._unsubscribe = [bus.subscribe(kind, self._poke) for kind in _TRIGGERS]

    def _poke(self, _ev: object) -> None:
        self._wake.set()

    def start(self) -> asyncio.Task[None]:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="health")
        return self._task

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:  # the strip shows the last verdict; the log says why
                log.exception("health checks failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()
            await asyncio.sleep(SOON_S)

    async def refresh(self) -> HealthReport:
        session = self.session
        error = ""
        positions = orders = None
        try:
            async with asyncio.timeout(BROKER_TIMEOUT_S):
                positions = await session.broker.positions()
                orders = await session.broker.open_orders()
        except Exception as exc:  # unreachable broker: the checks say so
            error = f"{type(exc).__name__}: {exc}"
        now = session.clock.now()
        beat = EngineBeat(
            os.getpid(),
            str(session.mode),
            session.market.name,
            time.time(),
            now,
            True,
            self._last_trade_at(),
            dict(self._connections()),
        )
        inputs = inputs_from_store(
            session.store,
            now=now,
            cfg=session.cfg,
            calendar=session.calendar,
            data_dir=session.store.path.parent,
            backup_dir=self._backup_dir(),
            broker_positions=positions,
            broker_orders=orders,
            broker_error=error,
            beat=beat,
            in_process=True,
        )
        report = HealthReport.of(now, run_checks(inputs))
        self.report = report
        self._on_change(report)
        return report


__all__ = ["HealthWatch"]
