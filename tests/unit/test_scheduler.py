"""The day's timetable: plan_day on the XNYS calendar (DST, early closes, holidays, late starts)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from workstation.core.calendar import get_calendar
from workstation.core.config import ExitConfig, ScheduleConfig
from workstation.engine.scheduler import (
    DUE,
    GRACE,
    MISSED,
    StepName,
    day_end,
    day_start,
    plan_day,
    session_to_run,
)

ET = ZoneInfo("America/New_York")
CAL = get_calendar()
SCHED = ScheduleConfig()

S = StepName
ALL = [
    S.SCAN,
    S.PREMARKET,
    S.GAP_FILTER,
    S.GROUP_A,
    S.OPEN,
    S.GROUP_B,
    S.ENTRY_CUTOFF,
    S.TIME_EXIT,
    S.CLOSE,
    S.EOD,
]


def et(d: date, hm: str) -> datetime:
    return datetime.combine(d, time.fromisoformat(hm), tzinfo=ET)


def table(session: date, now: datetime, exits: ExitConfig | None = None) -> dict[str, tuple]:
    return {
        str(s.name): (s.at.strftime("%Y-%m-%d %H:%M:%S %z"), s.status)
        for s in plan_day(session, now, SCHED, CAL, exits)
    }


# --------------------------------------------------------------- the regular timetable
def test_a_regular_session_from_the_evening_before() -> None:
    tue = date(2024, 3, 12)
    steps = plan_day(tue, et(date(2024, 3, 11), "19:00"), SCHED, CAL)
    assert [s.name for s in steps] == ALL  # equal times keep the table's order
    assert all(s.status == DUE for s in steps)
    got = {
        s.name: (s.at.strftime("%m-%d %H:%M:%S"), s.deadline.strftime("%m-%d %H:%M:%S"))
        for s in steps
    }
    assert got == {
        S.SCAN: ("03-11 20:00:00", "03-12 09:25:00"),
        S.PREMARKET: ("03-12 09:25:00", "03-12 16:00:00"),
        S.GAP_FILTER: ("03-12 09:25:00", "03-12 09:50:30"),
        S.GROUP_A: ("03-12 09:25:00", "03-12 09:28:00"),
        S.OPEN: ("03-12 09:30:00", "03-12 16:00:00"),
        S.GROUP_B: ("03-12 09:50:00", "03-12 09:50:30"),
        S.ENTRY_CUTOFF: ("03-12 10:00:00", "03-12 16:00:00"),
        S.TIME_EXIT: ("03-12 15:50:00", "03-12 16:00:00"),
        S.CLOSE: ("03-12 16:00:00", "03-13 09:30:00"),
        S.EOD: ("03-12 16:05:00", "03-13 09:30:00"),
    }
    assert timedelta(seconds=30) == GRACE


# ------------------------------------------------------------------------------ DST
@pytest.mark.parametrize(
    ("session", "scan_offset", "day_offset", "real_span"),
    [
        # scan Fri 03-08 20:00 EST, Monday 09:25 EDT: the weekend is an hour shorter
        (date(2024, 3, 11), -5, -4, timedelta(hours=60, minutes=25)),
        # scan Fri 11-01 20:00 EDT, Monday 09:25 EST: an hour longer
        (date(2024, 11, 4), -4, -5, timedelta(hours=62, minutes=25)),
        (date(2024, 6, 12), -4, -4, timedelta(hours=13, minutes=25)),  # summer Wednesday
        (date(2024, 1, 10), -5, -5, timedelta(hours=13, minutes=25)),  # winter Wednesday
    ],
    ids=["spring-forward", "fall-back", "summer", "winter"],
)
def test_wall_times_hold_across_dst(
    session: date, scan_offset: int, day_offset: int, real_span: timedelta
) -> None:
    steps = {
        s.name: s for s in plan_day(session, et(session, "00:00") - timedelta(days=4), SCHED, CAL)
    }
    scan = steps[S.SCAN].at
    assert scan.strftime("%H:%M") == "20:00"
    assert scan.utcoffset() == timedelta(hours=scan_offset)
    for name, hm in [
        (S.GAP_FILTER, "09:25"),
        (S.OPEN, "09:30"),
        (S.GROUP_B, "09:50"),
        (S.TIME_EXIT, "15:50"),
        (S.EOD, "16:05"),
    ]:
        assert steps[name].at.strftime("%H:%M") == hm
        assert steps[name].at.utcoffset() == timedelta(hours=day_offset)
    # elapsed real time (in UTC: aware datetimes of one zone subtract as wall times)
    span = steps[S.GAP_FILTER].at.astimezone(UTC) - scan.astimezone(UTC)
    assert span == real_span


# ----------------------------------------------------------------------- early close
@pytest.mark.parametrize(
    ("session", "scan_day", "close", "time_exit", "eod"),
    [
        (date(2024, 11, 29), date(2024, 11, 27), "13:00", "12:50", "13:05"),  # after Thanksgiving
        (date(2024, 7, 3), date(2024, 7, 2), "13:00", "12:50", "13:05"),  # eve of the 4th
        (date(2024, 7, 5), date(2024, 7, 3), "16:00", "15:50", "16:05"),  # scan on an early close
        (date(2024, 12, 26), date(2024, 12, 24), "16:00", "15:50", "16:05"),  # scan on Xmas Eve
    ],
    ids=["black-friday", "july-3", "scan-on-early-close-july-3", "scan-on-christmas-eve"],
)
def test_early_closes(session: date, scan_day: date, close: str, time_exit: str, eod: str) -> None:
    steps = {s.name: s for s in plan_day(session, et(scan_day, "17:00"), SCHED, CAL)}
    assert steps[S.SCAN].at == et(scan_day, "20:00")  # 20:00 on early-close days too
    assert steps[S.CLOSE].at == et(session, close)
    assert steps[S.TIME_EXIT].at == et(session, time_exit)
    assert steps[S.EOD].at == et(session, eod)
    assert steps[S.TIME_EXIT].deadline == et(session, close)


def test_early_close_time_exit_follows_the_exit_config() -> None:
    bf = date(2024, 11, 29)
    steps = {
        s.name: s
        for s in plan_day(
            bf, et(bf, "08:00"), SCHED, CAL, ExitConfig(early_close_minutes_before=30)
        )
    }
    assert steps[S.TIME_EXIT].at == et(bf, "12:30")


# -------------------------------------------------------------------------- holidays
@pytest.mark.parametrize(
    "day",
    [date(2024, 7, 4), date(2024, 12, 25), date(2024, 3, 9)],
    ids=["independence-day", "christmas", "saturday"],
)
def test_a_holiday_or_weekend_has_no_day(day: date) -> None:
    with pytest.raises(ValueError, match="not an NYSE session"):
        plan_day(day, et(day, "08:00"), SCHED, CAL)


def test_the_scan_before_a_session_after_a_holiday_is_the_last_session_before_it() -> None:
    # Good Friday 2024-03-29: Monday's candidates come from Thursday's 20:00 scan.
    steps = plan_day(date(2024, 4, 1), et(date(2024, 3, 28), "18:00"), SCHED, CAL)
    assert steps[0].name is S.SCAN and steps[0].at == et(date(2024, 3, 28), "20:00")


# ------------------------------------------------------------------------ late starts
TUE = date(2024, 3, 12)


@pytest.mark.parametrize(
    ("now", "missed"),
    [
        ("09:24:59", set()),
        ("09:26:00", {S.SCAN}),
        ("09:28:00", {S.SCAN}),  # the OPG deadline itself is still in time
        ("09:28:01", {S.SCAN, S.GROUP_A}),
        ("09:40:00", {S.SCAN, S.GROUP_A}),
        ("09:50:30", {S.SCAN, S.GROUP_A}),
        ("09:50:31", {S.SCAN, S.GROUP_A, S.GAP_FILTER, S.GROUP_B}),
        ("09:51:00", {S.SCAN, S.GROUP_A, S.GAP_FILTER, S.GROUP_B}),
        ("10:01:00", {S.SCAN, S.GROUP_A, S.GAP_FILTER, S.GROUP_B}),
        (
            "16:00:01",
            {
                S.SCAN,
                S.GROUP_A,
                S.GAP_FILTER,
                S.GROUP_B,
                S.PREMARKET,
                S.OPEN,
                S.ENTRY_CUTOFF,
                S.TIME_EXIT,
            },
        ),
    ],
    ids=[
        "before",
        "09:26",
        "09:28-exactly",
        "09:28:01",
        "09:40",
        "09:50:30",
        "09:50:31",
        "09:51",
        "10:01",
        "after-close",
    ],
)
def test_late_starts(now: str, missed: set[StepName]) -> None:
    steps = plan_day(TUE, et(TUE, now), SCHED, CAL)
    assert {s.name for s in steps if s.status == MISSED} == missed
    assert {s.name for s in steps if s.status == DUE} == set(ALL) - missed


@pytest.mark.parametrize(
    ("now", "late"),
    [
        ("09:40:00", {S.PREMARKET, S.GAP_FILTER, S.OPEN}),
        ("10:01:00", {S.PREMARKET, S.OPEN, S.ENTRY_CUTOFF}),
    ],
    ids=["09:40", "10:01"],
)
def test_due_steps_after_their_time_run_late(now: str, late: set[StepName]) -> None:
    t = et(TUE, now)
    steps = plan_day(TUE, t, SCHED, CAL)
    assert {s.name for s in steps if s.status == DUE and s.is_late(t)} == late


def test_plan_day_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="tz-aware"):
        plan_day(TUE, datetime(2024, 3, 12, 9, 0), SCHED, CAL)


def test_a_custom_schedule_moves_the_steps() -> None:
    sched = ScheduleConfig(
        scan_at=time(18, 30),
        gap_filter_at=time(9, 20),
        group_a_from=time(9, 21),
        group_a_until=time(9, 27),
        group_b_at=time(9, 45),
        entry_cutoff=time(9, 55),
        eod_minutes_after_close=15,
    )
    steps = {s.name: s for s in plan_day(TUE, et(TUE, "00:00"), sched, CAL)}
    assert steps[S.SCAN].at == et(date(2024, 3, 11), "18:30")
    assert (steps[S.GROUP_A].at, steps[S.GROUP_A].deadline) == (et(TUE, "09:21"), et(TUE, "09:27"))
    assert steps[S.GAP_FILTER].deadline == et(TUE, "09:45:30")
    assert steps[S.ENTRY_CUTOFF].at == et(TUE, "09:55")
    assert steps[S.EOD].at == et(TUE, "16:15")


# --------------------------------------------------------------- which day "now" is in
@pytest.mark.parametrize(
    ("now", "session"),
    [
        (et(date(2024, 3, 11), "19:00"), TUE),  # the evening belongs to the next day
        (et(TUE, "03:00"), TUE),
        (et(TUE, "16:05"), TUE),  # the bookkeeping itself
        (et(TUE, "16:05:01"), date(2024, 3, 13)),
        (et(date(2024, 3, 9), "12:00"), date(2024, 3, 11)),  # a Saturday
        (et(date(2024, 7, 4), "12:00"), date(2024, 7, 5)),  # a holiday
        (et(date(2024, 11, 29), "13:06"), date(2024, 12, 2)),  # after an early close's eod
    ],
    ids=["evening", "night", "eod-exactly", "after-eod", "saturday", "holiday", "early-close"],
)
def test_session_to_run(now: datetime, session: date) -> None:
    assert session_to_run(now, SCHED, CAL) == session


def test_day_start_and_end() -> None:
    assert day_start(TUE, SCHED, CAL) == et(date(2024, 3, 11), "20:00")
    assert day_end(TUE, SCHED, CAL) == et(TUE, "16:05")
    assert day_end(date(2024, 11, 29), SCHED, CAL) == et(date(2024, 11, 29), "13:05")
