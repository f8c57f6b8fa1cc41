"""A TEST-ONLY hook that makes the process SIGKILL itself at a named point of a session.

Set ``WORKSTATION_CRASH_AT=<point>`` (or ``<point>@N`` for its N-th occurrence, default the
first) in the environment of ``workstation run --headless``; the crash tests then restart the
process without the variable and check that nothing was lost or doubled. Unset (the normal
case) the hook does nothing.

The points:

* ``after_opg_submit`` - right after the first group A market-on-open order of a session was
  accepted by the broker (the store has it; the next candidates are not sent yet).
* ``after_partial_fill`` - right after a fill that leaves its order partially filled is stored
  and published, before the position book has seen it.
* ``between_exit_fill_and_stop_cancel`` - right after the first fill of a closing order (an
  exit, a flatten or the protective stop itself) is stored, before the position book closes
  the position and cleans up its remaining orders. (This engine cancels the protective stop
  BEFORE it sends an exit, so a filled exit with the stop still resting cannot happen; this is
  the nearest window: the exit is filled at the broker and in the store, and nothing else of
  the position has been updated.)
* ``between_stop_cancel_and_exit_submit`` - the protective stop of an exiting position was
  canceled and the exit order is not sent yet: the position is unprotected at that instant.
* ``before_entry_alert`` / ``before_exit_alert`` - a position was opened / closed: its row is
  committed to the store and its event is being published, before the alert center (which
  subscribes after this hook) has queued its alert in the notifications' outbox: the crash
  window of an alert (workstation.notify.recover).
* ``commit`` - right after a write transaction of the store committed: any moment of a run at
  which something was recorded (an order's row written and not yet sent, a fill stored and not
  yet applied to its position, a step's bookkeeping, the restart's reconciliation...).
  ``commit@N`` is the N-th commit of this process; ``commit@<ISO time>`` the first commit at
  or after that time of the engines' clock, so a moment of a run is the same moment however
  often the run was restarted before it (the chaos test, tests/e2e/test_chaos.py).

``WORKSTATION_CRASH_HOW=stop`` makes the process SIGSTOP itself at the point instead: frozen
exactly there, still holding the home, for the test to SIGKILL when it chooses (the chaos test
first starts a second instance against the home, which must be refused while the first holds
it, however quickly the first reaches its point).

The simulated exchange's state is saved before the app sees any broker event (the runner
registers its saver first), so at every point the "exchange" is at least as far as the app.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from datetime import datetime

from workstation.core.clock import Clock
from workstation.core.events import EventBus, OrderFilled, OrderUpdated
from workstation.core.models import OrderIntent, OrderStatus
from workstation.engine.events import PositionClosed, PositionOpened
from workstation.store import Store

CRASH_ENV = "WORKSTATION_CRASH_AT"
HOW_ENV = "WORKSTATION_CRASH_HOW"

POINTS = (
    "after_opg_submit",
    "after_partial_fill",
    "between_exit_fill_and_stop_cancel",
    "between_stop_cancel_and_exit_submit",
    "before_entry_alert",
    "before_exit_alert",
    "commit",
)

_CLOSING = (OrderIntent.EXIT, OrderIntent.FLATTEN, OrderIntent.STOP)


def _sigkill() -> None:
    sys.stdout.flush()
    kill = getattr(signal, "SIGKILL", None)
    if kill is None:  # not on POSIX: the closest thing to a kill
        os._exit(137)
    os.kill(os.getpid(), kill)


def _sigstop() -> None:
    """Freeze here (the test kills the process when it chooses); a kill where SIGSTOP is
    unknown."""
    sys.stdout.flush()
    sys.stderr.flush()
    stop = getattr(signal, "SIGSTOP", None)
    if stop is None:
        _sigkill()
        return
    os.kill(os.getpid(), stop)


class CrashHook:
    """Call it with a point's name where that point is reached; it kills the process when the
    configured point is reached for the configured time."""

    def __init__(self, spec: str | None, kill: Callable[[], None] = _sigkill) -> None:
        self.point: str | None = None
        self.nth = 1
        self.at: datetime | None = None  # commit@<time>: the first commit at or after it
        self._count = 0
        self._kill = kill
        spec = (spec or "").strip()
        if not spec:
            return
        name, _, n = spec.partition("@")
        if name not in POINTS:
            raise ValueError(
                f"{CRASH_ENV}={spec!r}: unknown point {name!r}; known: {', '.join(POINTS)}"
            )
        if n and name == "commit" and not n.isdigit():
            try:
                self.at = datetime.fromisoformat(n)
            except ValueError:
                raise ValueError(f"{CRASH_ENV}={spec!r}: '@{n}' is not a time") from None
            if self.at.tzinfo is None:
                raise ValueError(f"{CRASH_ENV}={spec!r}: give the time with its UTC offset")
        elif n:
            try:
                self.nth = int(n)
            except ValueError:
                raise ValueError(f"{CRASH_ENV}={spec!r}: '@{n}' is not a number") from None
            if self.nth < 1:
                raise ValueError(f"{CRASH_ENV}={spec!r}: the occurrence must be >= 1")
        self.point = name

    @staticmethod
    def from_env() -> CrashHook:
        how = os.environ.get(HOW_ENV, "kill").strip().lower() or "kill"
        if how not in ("kill", "stop"):
            raise ValueError(f"{HOW_ENV}={how!r}: use kill (the default) or stop")
        return CrashHook(os.environ.get(CRASH_ENV), _sigstop if how == "stop" else _sigkill)

    @property
    def armed(self) -> bool:
        return self.point is not None

    def __call__(self, name: str) -> None:
        if name != self.point:
            return
        self._count += 1
        if self._count == self.nth:
            self._kill()

    def attach_store(self, store: Store, clock: Clock) -> None:
        """Watch the store's commits (the ``commit`` point)."""
        if self.point != "commit":
            return
        at = self.at
        if at is None:
            store.after_commit(lambda: self("commit"))
            return

        def at_or_after() -> None:
            if clock.now() >= at:
                self._kill()

        store.after_commit(at_or_after)

    def attach(self, bus: EventBus, is_exiting: Callable[[str], bool]) -> None:
        """Watch the bus for the points that are events. ``is_exiting(symbol)`` tells whether
        the position book is exiting the symbol's position. Attached before anything else
        subscribes (the runner does it first), so these handlers run first."""
        if not self.armed:
            return

        def on_fill(ev: OrderFilled) -> None:
            if ev.order.status is OrderStatus.PARTIALLY_FILLED:
                self("after_partial_fill")
            if ev.order.request.intent in _CLOSING:
                self("between_exit_fill_and_stop_cancel")

        def on_update(ev: OrderUpdated) -> None:
            o = ev.order
            if (
                o.request.intent is OrderIntent.STOP
                and o.status is OrderStatus.CANCELED
                and is_exiting(o.symbol)
            ):
                self("between_stop_cancel_and_exit_submit")

        bus.subscribe(OrderFilled, on_fill)
        bus.subscribe(OrderUpdated, on_update)
        bus.subscribe(PositionOpened, lambda _ev: self("before_entry_alert"))
        bus.subscribe(PositionClosed, lambda _ev: self("before_exit_alert"))


__all__ = ["CRASH_ENV", "HOW_ENV", "POINTS", "CrashHook"]
