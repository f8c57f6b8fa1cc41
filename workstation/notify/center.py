"""The alert center: the engines' typed events in, :class:`AlertRaised` out, on the same bus.

It is an engine-side subscriber (no Qt, no apprise): the engines never know alerts exist.
Each handler is quick (a few string formats), as bus handlers must be. Two alerts need state:

* **gap results**: the gap filter publishes one ``GapChecked`` per candidate; they are
  collected and go out as one alert when the step finishes.
* **connection lost**: a component that went down is reported only if it is still not
  connected ``connection_lost_after_s`` seconds later (wall clock: a flapping socket that
  reconnects at once is not news); its return is then reported with how long it was gone.
  The check is a timer on the running asyncio loop; :meth:`AlertCenter.check_connections`
  does the same on demand.

Switching a kind off in app.yaml (``notify.<kind>: false``) stops it here, so neither the
channels nor the tray carry it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from workstation.core.calendar import TradingCalendar
from workstation.core.config import Config
from workstation.core.events import ConnectionStateChanged, EventBus, ScanFailed, ScanFinished
from workstation.engine.events import (
    PositionClosed,
    PositionOpened,
    ProtectionProblem,
    ReconcileFinished,
)
from workstation.engine.rules.approval import on_pending_policy
from workstation.engine.scheduler import StepName
from workstation.engine.session_events import (
    GapChecked,
    KillSwitchChanged,
    SessionSummaryReady,
    StepFinished,
    StepMissed,
)
from workstation.notify import messages
from workstation.notify.alert import Alert, AlertRaised

log = logging.getLogger(__name__)

CONNECTED = "connected"


@dataclass
class _Down:
    event: ConnectionStateChanged  # the latest non-connected state
    since: datetime  # engine-clock time it went down (for the message)
    since_mono: float  # wall-clock (monotonic) time it went down (for the delay)
    reported: bool = False
    timer: asyncio.TimerHandle | None = None


class AlertCenter:
    """Turns engine events into alerts (see the module docstring)."""

    def __init__(
        self,
        bus: EventBus,
        config: Callable[[], Config],
        calendar: TradingCalendar,
        *,
        real_broker: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bus = bus
        self._config = config
        self.calendar = calendar
        self.real_broker = real_broker
        self._mono = monotonic
        self._gaps: dict[date, list[GapChecked]] = {}
        self._down: dict[str, _Down] = {}
        # The engines' loop (when built on it): connection states may be published from an
        # adapter's worker thread; they are handled on the loop, where the timers live.
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self.raised: list[Alert] = []  # every alert raised by this center (tests, the runner)
        handlers: list[tuple[type, Callable[[object], None]]] = [
            (ScanFinished, self._scan_finished),
            (ScanFailed, self._scan_failed),
            (GapChecked, self._gap_checked),
            (StepFinished, self._step_finished),
            (StepMissed, self._step_missed),
            (PositionOpened, self._opened),
            (PositionClosed, self._closed),
            (KillSwitchChanged, self._kill),
            (ProtectionProblem, self._unprotected),
            (ReconcileFinished, self._reconciled),
            (ConnectionStateChanged, self._connection),
            (SessionSummaryReady, self._summary),
        ]
        self._unsubscribe = [bus.subscribe(kind, h) for kind, h in handlers]

    def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        for d in self._down.values():
            if d.timer is not None:
                d.timer.cancel()

    # ------------------------------------------------------------------ raising
    def raise_alert(self, alert: Alert) -> None:
        if not self._config().app.notify.enabled(str(alert.kind)):
            return
        self.raised.append(alert)
        self.bus.publish(AlertRaised(alert.at, alert))

    # ------------------------------------------------------------------ handlers
    def _scan_finished(self, ev: object) -> None:
        assert isinstance(ev, ScanFinished)
        cfg = self._config()
        policy = on_pending_policy(cfg.risk.approval, self.real_broker)
        self.raise_alert(messages.scan_ready(ev, self.calendar, cfg.schedule, policy))

    def _scan_failed(self, ev: object) -> None:
        assert isinstance(ev, ScanFailed)
        if ev.final:  # earlier tries are retried by themselves: not news yet
            self.raise_alert(messages.scan_failed(ev, self.calendar))

    def _gap_checked(self, ev: object) -> None:
        assert isinstance(ev, GapChecked)
        self._gaps.setdefault(ev.session, []).append(ev)

    def _step_finished(self, ev: object) -> None:
        assert isinstance(ev, StepFinished)
        if ev.step != StepName.GAP_FILTER:
            return
        checks = self._gaps.pop(ev.session, [])
        if checks:
            self.raise_alert(messages.gap_results(ev.session, checks))

    def _step_missed(self, ev: object) -> None:
        assert isinstance(ev, StepMissed)
        self.raise_alert(messages.missed_step(ev))

    def _opened(self, ev: object) -> None:
        assert isinstance(ev, PositionOpened)
        self.raise_alert(messages.entry(ev))

    def _closed(self, ev: object) -> None:
        assert isinstance(ev, PositionClosed)
        self.raise_alert(messages.exit_(ev))

    def _kill(self, ev: object) -> None:
        assert isinstance(ev, KillSwitchChanged)
        self.raise_alert(messages.kill_switch(ev))

    def _unprotected(self, ev: object) -> None:
        assert isinstance(ev, ProtectionProblem)
        self.raise_alert(messages.unprotected(ev))

    def _reconciled(self, ev: object) -> None:
        assert isinstance(ev, ReconcileFinished)
        if ev.differences:
            self.raise_alert(messages.reconciliation(ev))

    def _summary(self, ev: object) -> None:
        assert isinstance(ev, SessionSummaryReady)
        self.raise_alert(messages.eod_summary(ev))

    # ------------------------------------------------------------------ connections
    def _connection(self, ev: object) -> None:
        assert isinstance(ev, ConnectionStateChanged)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                on_loop = asyncio.get_running_loop() is loop
            except RuntimeError:
                on_loop = False
            if not on_loop:
                loop.call_soon_threadsafe(self._connection_changed, ev)
                return
        self._connection_changed(ev)

    def _connection_changed(self, ev: ConnectionStateChanged) -> None:
        down = self._down.get(ev.component)
        if ev.state == CONNECTED:
            if down is None:
                return
            del self._down[ev.component]
            if down.timer is not None:
                down.timer.cancel()
            if down.reported:
                gone = self._mono() - down.since_mono
                self.raise_alert(messages.connection_restored(ev, gone, down.since))
            return
        if down is not None:  # still down (or degraded -> down): keep the first moment
            down.event = ev
            return
        down = _Down(ev, ev.at, self._mono())
        self._down[ev.component] = down
        delay = self._config().app.notify.connection_lost_after_s
        with contextlib.suppress(RuntimeError):  # no running loop: check_connections() does it
            down.timer = asyncio.get_running_loop().call_later(delay, self.check_connections)

    def check_connections(self) -> None:
        """Report every component down for longer than ``connection_lost_after_s``."""
        limit = self._config().app.notify.connection_lost_after_s
        now = self._mono()
        for down in list(self._down.values()):
            gone = now - down.since_mono
            if down.reported:
                continue
            if gone + 1e-6 >= limit:
                down.reported = True
                self.raise_alert(messages.connection_lost(down.event, gone, down.since))
            else:
                with contextlib.suppress(RuntimeError):
                    down.timer = asyncio.get_running_loop().call_later(
                        limit - gone, self.check_connections
                    )


__all__ = ["AlertCenter"]
