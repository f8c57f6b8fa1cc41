"""The day's timetable (trading rules §1) on the XNYS calendar, as a pure function.

A trading "day" of session ``T`` runs from the nightly scan of the previous session (20:00 ET
on that session, early-close days included) to ``T``'s end-of-day bookkeeping:

| step           | at (ET)                                 | deadline (act no later than)        |
|----------------|-----------------------------------------|-------------------------------------|
| ``scan``       | 20:00 on the previous session           | ``T`` 09:25 (the gap filter)        |
| ``premarket``  | 09:25 (roll stops to today's levels...) | ``T``'s close                       |
| ``gap_filter`` | 09:25                                   | 09:50 + grace (it gates group B)    |
| ``group_a``    | 09:25 (market-on-open orders)           | 09:28 (Alpaca rejects OPG after it) |
| ``open``       | the open (09:30)                        | the close                           |
| ``group_b``    | 09:50 (confirmation)                    | 09:50 + grace                       |
| ``entry_cutoff``| 10:00 (cancel unfilled entries)        | the close                           |
| ``time_exit``  | 15:50, or 10 min before an early close  | the close                           |
| ``close``      | the close (16:00 or 13:00)              | the next session's open             |
| ``eod``        | close + 5 min (performance, equity)     | the next session's open             |

``plan_day`` says, for a process (re)starting at ``now``, which steps are still ``due`` and
which were ``missed``: a step is missed when ``now`` is past its deadline. The engine never
acts late on a rule with a deadline: a missed group A is reported and its orders are never
sent; a missed group B is never confirmed on a later price.

Choices (conservative, documented):

* ``GRACE`` (30 s) is the slack of the two "at an instant" rules (the gap filter and the
  group B confirmation): a loop that wakes a hair after 09:50:00 still confirms; a process that
  starts at 09:51 does not.
* The gap filter may run late (after 09:25, before group B's deadline): it asks the market for
  the snapshot as of 09:25, so it judges the same pre-market price it would have judged on
  time (a market that can only give the latest price gives that; the recorded detail says so).
  Group A is missed by then (09:28), group B still trades on it. After group B's deadline the
  gap filter is missed: every candidate gets the recorded result ``GAP_FILTER_MISSED``
  (dropped) and nothing of that session is entered.
* The scan may run late until the gap filter: the daily bars of a closed session do not
  change. Past 09:25 a missing scan is missed and the session trades nothing new (never a
  stale list).
* Steps that only reduce risk or keep the books (``premarket``, ``open``, ``entry_cutoff``,
  ``time_exit``, ``close``, ``eod``) have the close (or the next open) as deadline: done late
  is better than not done.
* Steps at the same instant run in the table's order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from workstation.core.calendar import TradingCalendar
from workstation.core.config import ExitConfig, ScheduleConfig

#: Slack of the "at an instant" rules (gap filter, group B): see the module docstring.
GRACE = timedelta(seconds=30)

DUE = "due"
MISSED = "missed"


class StepName(StrEnum):
    SCAN = "scan"
    PREMARKET = "premarket"
    GAP_FILTER = "gap_filter"
    GROUP_A = "group_a"
    OPEN = "open"
    GROUP_B = "group_b"
    ENTRY_CUTOFF = "entry_cutoff"
    TIME_EXIT = "time_exit"
    CLOSE = "close"
    EOD = "eod"


_ORDER = {name: i for i, name in enumerate(StepName)}

#: What missing a step means, for the event and the log.
CONSEQUENCE: dict[StepName, str] = {
    StepName.SCAN: "no new candidates this session (never yesterday's stale list)",
    StepName.PREMARKET: "protective stops not re-levelled for the session",
    StepName.GAP_FILTER: "every candidate dropped (GAP_FILTER_MISSED): nothing entered",
    StepName.GROUP_A: "group A market-on-open orders not sent (never sent late)",
    StepName.OPEN: "the open was not processed",
    StepName.GROUP_B: "group B not confirmed (never on a later price)",
    StepName.ENTRY_CUTOFF: "unfilled entry orders were not canceled at 10:00",
    StepName.TIME_EXIT: "the time exit did not run in the session",
    StepName.CLOSE: "the close was not processed",
    StepName.EOD: "no end-of-day bookkeeping for the session",
}


@dataclass(frozen=True)
class Step:
    """One step of a session's timetable."""

    name: StepName
    at: datetime  # when it runs (tz-aware ET)
    deadline: datetime  # the latest moment it may still run
    status: str  # DUE or MISSED, as seen from plan_day's ``now``

    @property
    def missed(self) -> bool:
        return self.status == MISSED

    def is_late(self, now: datetime) -> bool:
        """True when it runs after its time (still before its deadline)."""
        return self.at < now <= self.deadline


def step_times(
    session: date,
    schedule: ScheduleConfig,
    calendar: TradingCalendar,
    exits: ExitConfig | None = None,
) -> list[tuple[StepName, datetime, datetime]]:
    """(name, at, deadline) of every step of ``session``'s day, in execution order.

    Raises ValueError if ``session`` is not an NYSE session (a weekend or holiday has no day).
    """
    if not calendar.is_session(session):
        raise ValueError(f"{session} ({session:%A}) is not an NYSE session: it has no trading day")
    ex = exits or ExitConfig()
    cal = calendar
    prev = cal.previous_session(session)
    nxt_open = cal.open_time(cal.next_session(session))
    open_at, close_at = cal.open_time(session), cal.close_time(session)
    gap_at = cal.at(session, schedule.gap_filter_at)
    group_b = cal.at(session, schedule.group_b_at)
    steps = [
        (StepName.SCAN, cal.at(prev, schedule.scan_at), gap_at),
        (StepName.PREMARKET, gap_at, close_at),
        (StepName.GAP_FILTER, gap_at, group_b + GRACE),
        (
            StepName.GROUP_A,
            cal.at(session, schedule.group_a_from),
            cal.at(session, schedule.group_a_until),
        ),
        (StepName.OPEN, open_at, close_at),
        (StepName.GROUP_B, group_b, group_b + GRACE),
        (StepName.ENTRY_CUTOFF, cal.at(session, schedule.entry_cutoff), close_at),
        (
            StepName.TIME_EXIT,
            cal.time_exit_time(session, ex.time_exit_at, ex.early_close_minutes_before),
            close_at,
        ),
        (StepName.CLOSE, close_at, nxt_open),
        (
            StepName.EOD,
            close_at + timedelta(minutes=schedule.eod_minutes_after_close),
            nxt_open,
        ),
    ]
    return sorted(steps, key=lambda s: (s[1], _ORDER[s[0]]))


def plan_day(
    session: date,
    now: datetime,
    schedule: ScheduleConfig,
    calendar: TradingCalendar,
    exits: ExitConfig | None = None,
) -> list[Step]:
    """The steps of ``session``'s day as seen at ``now``: each ``due`` or ``missed``.

    ``exits`` gives the time exit's wall time and its early-close offset (defaults of
    ``ExitConfig``). Pure: no clock, no I/O.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now ({now.isoformat()}) must be tz-aware")
    return [
        Step(name, at, deadline, MISSED if now > deadline else DUE)
        for name, at, deadline in step_times(session, schedule, calendar, exits)
    ]


def day_start(session: date, schedule: ScheduleConfig, calendar: TradingCalendar) -> datetime:
    """When ``session``'s day begins: the previous session's nightly scan."""
    return calendar.at(calendar.previous_session(session), schedule.scan_at)


def day_end(session: date, schedule: ScheduleConfig, calendar: TradingCalendar) -> datetime:
    """When ``session``'s day ends: its end-of-day bookkeeping."""
    return calendar.close_time(session) + timedelta(minutes=schedule.eod_minutes_after_close)


def session_to_run(now: datetime, schedule: ScheduleConfig, calendar: TradingCalendar) -> date:
    """The session whose day ``now`` belongs to: the first session whose end-of-day
    bookkeeping is at or after ``now`` (an evening belongs to the next session's day)."""
    s = calendar.session_on_or_before(now)
    if day_end(s, schedule, calendar) >= now:
        return s
    return calendar.next_session(s)


__all__ = [
    "CONSEQUENCE",
    "DUE",
    "GRACE",
    "MISSED",
    "Step",
    "StepName",
    "day_end",
    "day_start",
    "plan_day",
    "session_to_run",
    "step_times",
]
