"""Injected time: the wall clock for paper/live, a simulated clock for sim and backtest.

Engine code never reads the system time (architecture principle 4). It asks a
:class:`Clock` for ``now()`` and waits with ``sleep_until()`` / ``sleep()``; the mode
decides which clock it gets:

* :class:`WallClock` - real time. The ONE place in the program that reads the
  system clock.
* :class:`SimClock` - simulated time starting at a given instant, running at
  ``speed`` x real time, paused, or at ``speed=math.inf`` ("max"), where it is a
  discrete-event scheduler: time jumps straight to the earliest pending deadline.

SimClock semantics (deterministic; call it from the event loop's thread):

* Finite speed: ``now()`` advances continuously with the real monotonic clock x speed.
  A sleeper wakes when its deadline is reached; it never observes ``now()`` earlier than
  its deadline (if the loop timer fires a hair early, simulated time is nudged forward to
  the deadline). Changing the speed or pausing re-times every pending sleeper.
* Stepping ("max" speed, or a :meth:`SimClock.jump_to` in progress): time is frozen while
  tasks run. Only when the loop has gone ``settle_rounds`` consecutive iterations without
  a new sleeper being registered, and no :meth:`SimClock.hold` is active, does the clock
  advance to the earliest pending deadline and wake every sleeper due at exactly that
  instant, in the order they went to sleep. Those tasks see ``now() == deadline``. Then it
  settles again. So concurrent sleepers always wake in deadline order.
* ``settle_rounds`` covers chains of ready callbacks (futures, queues, locks) inside the
  loop. Work the loop cannot see - a scan in an executor thread, an I/O wait - must be
  wrapped in ``with clock.hold():``, or max speed would race past it.
* ``jump_to(t)`` fast-forwards to ``t`` by stepping through every deadline before it
  (each sleeper still sees its own deadline), then continues at the current speed (or
  stays paused). ``jump_to_next()`` does that for the earliest pending deadline.
* Time never goes backwards: ``jump_to`` into the past raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
import time as _time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from workstation.core.calendar import ET

log = logging.getLogger(__name__)

# WallClock re-checks the wall time at least this often: the loop's monotonic timer
# may not count time the computer spends suspended, and the wall clock may be adjusted.
WALL_MAX_CHUNK_SECONDS = 60.0

# A finite-speed timer that fires at most this much real time before its deadline
# is taken as due (loop timers may fire up to the clock resolution early).
_EARLY_FIRE_TOLERANCE = 1e-3


def _to_utc(t: datetime) -> datetime:
    """To UTC: elapsed-time arithmetic on aware ET datetimes is wall-time math, wrong over DST."""
    if not isinstance(t, datetime):
        raise TypeError(f"expected a datetime, got {type(t).__name__}")
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"datetime {t.isoformat()} has no time zone; pass a tz-aware datetime")
    return t.astimezone(UTC)


def _check_seconds(seconds: float) -> float:
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"sleep needs a finite number of seconds, got {seconds}")
    return max(0.0, float(seconds))


@runtime_checkable
class Clock(Protocol):
    """What engines get instead of ``datetime.now()`` and ``asyncio.sleep()``."""

    def now(self) -> datetime:
        """The current time, tz-aware in America/New_York."""
        ...

    async def sleep_until(self, t: datetime) -> None:
        """Return once ``now() >= t`` (at once, after one loop turn, if already past)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` of this clock's time."""
        ...

    @property
    def speed(self) -> float:
        """Clock seconds per real second; ``math.inf`` for max speed."""
        ...

    @property
    def paused(self) -> bool: ...

    def hold(self) -> AbstractContextManager[None]:
        """Mark work the clock must wait for before jumping ahead (executor jobs, I/O)."""
        ...


class WallClock:
    """Real time in America/New_York."""

    def __init__(self, max_chunk: float = WALL_MAX_CHUNK_SECONDS) -> None:
        if not max_chunk > 0:
            raise ValueError(f"max_chunk must be > 0 seconds, got {max_chunk}")
        self._max_chunk = max_chunk

    def now(self) -> datetime:
        return datetime.now(ET)

    async def sleep_until(self, t: datetime) -> None:
        deadline = _to_utc(t)
        remaining = (deadline - datetime.now(UTC)).total_seconds()
        if remaining <= 0:
            await asyncio.sleep(0)
            return
        # Sleep in chunks and re-read the wall time after each: after a system suspend or
        # a clock adjustment one chunk at most is wrong, not the whole wait.
        while remaining > 0:
            await asyncio.sleep(min(remaining, self._max_chunk))
            remaining = (deadline - datetime.now(UTC)).total_seconds()

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self.now() + timedelta(seconds=_check_seconds(seconds)))

    @property
    def speed(self) -> float:
        return 1.0

    @property
    def paused(self) -> bool:
        return False

    def hold(self) -> AbstractContextManager[None]:
        # Real time cannot wait for anyone: holding is a no-op on the wall clock.
        return contextlib.nullcontext()


@dataclass(frozen=True)
class ClockState:
    """What a :meth:`SimClock.on_change` listener receives."""

    now: datetime
    speed: float
    paused: bool


Listener = Callable[[ClockState], None]

# (deadline in UTC, registration sequence, future to resolve); the sequence breaks
# ties so equal deadlines wake in the order they were registered.
_Entry = tuple[datetime, int, "asyncio.Future[None]"]


class SimClock:
    """Simulated ET time at ``speed`` x real time, or a discrete-event clock at ``math.inf``."""

    def __init__(
        self,
        start: datetime,
        speed: float = 60.0,
        *,
        settle_rounds: int = 20,
        real_time: Callable[[], float] = _time.monotonic,
    ) -> None:
        if settle_rounds < 1:
            raise ValueError(f"settle_rounds must be >= 1, got {settle_rounds}")
        self._real = real_time  # a monotonic seconds counter, not the wall clock
        self._base = _to_utc(start)  # simulated time at real time _base_real
        self._base_real = self._real()
        self._speed = self._valid_speed(speed)
        self._paused = False
        self._target: datetime | None = None  # fast-forward (jump_to) target, UTC
        self._holds = 0
        self._settle_rounds = settle_rounds
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._settle_handle: asyncio.Handle | None = None
        self._listeners: list[Listener] = []

    # ------------------------------------------------------------------- reading

    @staticmethod
    def _valid_speed(speed: float) -> float:
        if math.isnan(speed) or not speed > 0:
            raise ValueError(f"clock speed must be > 0 (math.inf for max), got {speed}")
        return float(speed)

    def _frozen(self) -> bool:
        """Time stands still between steps: paused, max speed, or fast-forwarding."""
        return self._paused or math.isinf(self._speed) or self._target is not None

    def _stepping(self) -> bool:
        return self._target is not None or (math.isinf(self._speed) and not self._paused)

    def _now_utc(self) -> datetime:
        if self._frozen():
            return self._base
        elapsed = max(0.0, self._real() - self._base_real)
        return self._base + timedelta(seconds=elapsed * self._speed)

    def now(self) -> datetime:
        return self._now_utc().astimezone(ET)

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def state(self) -> ClockState:
        return ClockState(self.now(), self._speed, self._paused)

    def next_deadline(self) -> datetime | None:
        """The earliest pending sleeper's deadline (ET), or None when nobody sleeps."""
        top = self._peek()
        return None if top is None else top[0].astimezone(ET)

    def pending(self) -> int:
        """How many sleepers are waiting."""
        return sum(1 for _, _, fut in self._heap if not fut.done())

    # ------------------------------------------------------------------ sleeping

    async def sleep_until(self, t: datetime) -> None:
        deadline = _to_utc(t)
        loop = asyncio.get_running_loop()
        self._loop = loop
        if deadline <= self._now_utc():
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._heap, (deadline, next(self._seq), fut))
        self._reschedule()
        try:
            await fut
        finally:
            if not fut.done():  # our task was cancelled while waiting
                fut.cancel()
            if fut.cancelled():
                # Its deadline may have been the one a timer or a step was aimed at.
                self._reschedule()

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self._now_utc() + timedelta(seconds=_check_seconds(seconds)))

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """While held, stepping (max speed, jumps) waits: time will not jump past the work."""
        self._holds += 1
        try:
            yield
        finally:
            self._holds -= 1
            if self._holds == 0:
                self._reschedule()

    # ------------------------------------------------------------------ controls

    def set_speed(self, speed: float) -> None:
        speed = self._valid_speed(speed)
        if speed == self._speed:
            return
        self._rebase()
        self._speed = speed
        self._notify()
        self._reschedule()

    def pause(self) -> None:
        if self._paused:
            return
        self._rebase()
        self._paused = True
        self._notify()
        self._reschedule()

    def resume(self) -> None:
        if not self._paused:
            return
        self._rebase()
        self._paused = False
        self._notify()
        self._reschedule()

    def jump_to(self, t: datetime) -> None:
        """Fast-forward to ``t``, waking every sleeper due before it in deadline order.

        Returns at once; the jump happens as the loop runs (synchronously if nobody sleeps
        until ``t``). Paused stays paused; afterwards time runs on at the current speed.
        """
        target = _to_utc(t)
        now = self._now_utc()
        if target < now:
            raise ValueError(
                f"cannot jump to {target.astimezone(ET).isoformat()}: it is before now "
                f"({now.astimezone(ET).isoformat()}); simulated time never goes backwards"
            )
        self._rebase()
        self._target = target if self._target is None else max(self._target, target)
        self._reschedule()

    def jump_to_next(self) -> datetime | None:
        """Fast-forward to the earliest pending deadline; return it (ET), or None if none."""
        top = self._peek()
        if top is None:
            return None
        target = max(top[0], self._now_utc())
        self.jump_to(target)
        return target.astimezone(ET)

    def on_change(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback`` on speed/pause changes and on every jump of time.

        Returns a function that unsubscribes it. At a finite, running speed time moves
        continuously and is not reported: poll ``now()`` (e.g. from a GUI timer).
        """
        self._listeners.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(callback)

        return unsubscribe

    # ------------------------------------------------------------------ internals

    def _rebase(self) -> None:
        """Re-anchor simulated time at the current real instant (before any mode change)."""
        self._base = self._now_utc()
        self._base_real = self._real()

    def _advance_to(self, t: datetime) -> None:
        self._rebase()
        if t > self._base:
            self._base = t

    def _notify(self) -> None:
        state = self.state
        for cb in list(self._listeners):
            try:
                cb(state)
            except Exception:
                # A broken GUI listener must not stop simulated time.
                log.exception("clock listener %r failed", cb)

    def _peek(self) -> _Entry | None:
        heap = self._heap
        while heap and heap[0][2].done():
            heapq.heappop(heap)
        return heap[0] if heap else None

    def _wake_due(self, until: datetime) -> None:
        """Resolve every live sleeper due at or before ``until``, in (deadline, seq) order."""
        heap = self._heap
        while heap and heap[0][0] <= until:
            _, _, fut = heapq.heappop(heap)
            if not fut.done():
                fut.set_result(None)

    def _reschedule(self) -> None:
        """Re-plan how the next sleeper gets woken after any change of state."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._settle_handle is not None:
            self._settle_handle.cancel()
            self._settle_handle = None

        if self._stepping():
            if self._loop is None:
                # Nobody has ever slept on this clock, so nothing can be due: a jump is done.
                if self._target is not None:
                    self._finish_jump()
                return
            top = self._peek()
            due = top is not None and (self._target is None or top[0] <= self._target)
            if due or self._target is not None:
                self._settle_handle = self._loop.call_soon(self._settle, self._settle_rounds)
            return  # else: max speed with nobody asleep; the next sleeper reschedules

        if self._paused or self._loop is None:
            return
        top = self._peek()
        if top is None:
            return
        delay = (top[0] - self._now_utc()).total_seconds() / self._speed
        self._timer = self._loop.call_later(max(0.0, delay), self._on_timer)

    def _settle(self, rounds: int) -> None:
        """Let the loop run ``rounds`` more iterations, then step (unless something happened)."""
        self._settle_handle = None
        if rounds > 0:
            assert self._loop is not None
            self._settle_handle = self._loop.call_soon(self._settle, rounds - 1)
            return
        self._step()

    def _step(self) -> None:
        if not self._stepping() or self._holds:
            return  # a hold's release reschedules
        top = self._peek()
        if top is not None and (self._target is None or top[0] <= self._target):
            deadline = top[0]
            self._advance_to(deadline)
            self._wake_due(deadline)
            self._notify()
        elif self._target is not None:
            # Everything due before the target has run (and settled): land on the target.
            self._advance_to(self._target)  # re-anchors real time while still frozen
            self._target = None
            self._notify()
        self._reschedule()

    def _finish_jump(self) -> None:
        assert self._target is not None
        self._advance_to(self._target)
        self._target = None
        self._notify()

    def _on_timer(self) -> None:
        self._timer = None
        if self._frozen():
            return
        top = self._peek()
        if top is None:
            return
        now = self._now_utc()
        if top[0] > now:
            if (top[0] - now).total_seconds() / self._speed > _EARLY_FIRE_TOLERANCE:
                self._reschedule()  # e.g. its sleeper was cancelled: aim at the next one
                return
            self._advance_to(top[0])  # fired a hair early: never wake before the deadline
            now = self._now_utc()
        self._wake_due(now)
        self._reschedule()
