"""The app's clock against the broker's, compared once at start (issue 12 item 8).

The day's timetable runs on this computer's clock, the broker judges orders on its own: a
market-on-open order sent at 09:25 by a clock two minutes slow reaches Alpaca after its 09:28
cut-off, and a clock days off makes every scan "stale" and every step "missed". So the
session reads the broker's clock when it starts and says what it found:

* within :data:`CLOCK_AGREE_S`: one INFO line (the offset, so a drift is visible in the log);
* up to :data:`CLOCK_REFUSE_S` (the timetable's slack for "at an instant" rules, the
  scheduler's ``GRACE``): a WARNING, trading goes on;
* beyond: new trades are blocked (the trading gate names the clocks; protective stops and
  exits are never blocked) and the headless runner refuses to start (exit 2).

The broker's time is read between two readings of ours; the midpoint is compared, and the
round trip is added to the tolerance (a slow answer cannot make the clocks look apart).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from workstation.engine.scheduler import GRACE

#: Clocks this close agree (NTP keeps a computer well inside it).
CLOCK_AGREE_S = 5.0
#: Beyond this the timetable's instants (the gap filter, the 09:50 confirmation) are wrong.
CLOCK_REFUSE_S = GRACE.total_seconds()


@runtime_checkable
class BrokerClock(Protocol):
    """A broker with a clock of its own (Alpaca). A simulated broker runs on the app's
    clock and does not offer it."""

    name: str

    async def broker_time(self) -> datetime:
        """The broker's current time (aware)."""
        ...


class ClockVerdict(StrEnum):
    AGREE = "agree"
    APART = "apart"  # warned, trading goes on
    REFUSED = "refused"  # new trades blocked


@dataclass(frozen=True)
class ClockComparison:
    broker: str
    ours: datetime  # the midpoint of our readings around the request
    theirs: datetime
    round_trip_s: float

    @property
    def offset_s(self) -> float:
        """The broker's clock minus ours (positive: ours is slow)."""
        return (self.theirs - self.ours).total_seconds()

    @property
    def verdict(self) -> ClockVerdict:
        apart = abs(self.offset_s) - self.round_trip_s / 2.0
        if apart <= CLOCK_AGREE_S:
            return ClockVerdict.AGREE
        if apart <= CLOCK_REFUSE_S:
            return ClockVerdict.APART
        return ClockVerdict.REFUSED

    def text(self, refused: str = "new trades are blocked") -> str:
        """One line: what was compared, the offset, what it means and what to do (``refused``:
        what happens beyond :data:`CLOCK_REFUSE_S`)."""
        off = self.offset_s
        direction = "slow" if off > 0 else "fast"
        name = self.broker.capitalize()
        head = (
            f"{name}'s clock reads {self.theirs:%Y-%m-%d %H:%M:%S} ET, this computer's "
            f"{self.ours:%Y-%m-%d %H:%M:%S} ET"
        )
        verdict = self.verdict
        if verdict is ClockVerdict.AGREE:
            return f"clocks agree: {name}'s and this computer's are {abs(off):.1f} s apart"
        size = _duration(abs(off))
        if verdict is ClockVerdict.APART:
            return (
                f"{head}: this computer is {size} {direction}; the day's steps run that much "
                "off the market's time; set the system clock (NTP)"
            )
        return (
            f"{head}: this computer is {size} {direction}, more than the "
            f"{CLOCK_REFUSE_S:.0f} s the timetable allows; {refused}: set the system clock "
            "(NTP) and start again"
        )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


async def compare_clocks(broker: BrokerClock, now: Callable[[], datetime]) -> ClockComparison:
    """Read the broker's clock between two readings of ours (``now``)."""
    before = now()
    theirs = await broker.broker_time()
    after = now()
    round_trip = max((after - before).total_seconds(), 0.0)
    return ClockComparison(broker.name, before + (after - before) / 2, theirs, round_trip)


__all__ = [
    "CLOCK_AGREE_S",
    "CLOCK_REFUSE_S",
    "BrokerClock",
    "ClockComparison",
    "ClockVerdict",
    "compare_clocks",
]
