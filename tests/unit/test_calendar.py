"""NYSE calendar: holidays, early closes, DST, session arithmetic, 'now'-based queries."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from workstation.core.calendar import (
    ET,
    CalendarRangeError,
    MarketState,
    TradingCalendar,
    get_calendar,
)

D = date


def et(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=ET)


@pytest.fixture(scope="module")
def cal() -> TradingCalendar:
    return get_calendar()


def test_calendar_is_shared(cal: TradingCalendar) -> None:
    assert get_calendar() is cal
    # A second instance over the same range reuses the built schedule (no rebuild).
    other = TradingCalendar()
    assert other._sessions is cal._sessions
    assert cal.first_session == D(2000, 1, 3)
    assert cal.last_session >= D(2040, 12, 1)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (D(2024, 7, 4), False),
        (D(2024, 3, 29), False),
        (D(2026, 11, 26), False),
        (D(2025, 1, 9), False),
        (D(2024, 3, 9), False),
        (D(2024, 3, 10), False),
        (D(2024, 7, 3), True),
        (D(2024, 3, 11), True),
        (D(2026, 11, 27), True),
        (D(2024, 12, 25), False),
        (D(2024, 12, 24), True),
    ],
    ids=[
        "independence-day",
        "good-friday",
        "thanksgiving-2026",
        "carter-mourning-2025",
        "saturday",
        "sunday-dst",
        "early-close-0703",
        "monday-after-dst",
        "black-friday-2026",
        "christmas",
        "christmas-eve",
    ],
)
def test_is_session(cal: TradingCalendar, day: date, expected: bool) -> None:
    assert cal.is_session(day) is expected


@pytest.mark.parametrize(
    ("day", "early", "close_hm", "minutes"),
    [
        (D(2024, 7, 3), True, (13, 0), 210),
        (D(2024, 11, 29), True, (13, 0), 210),
        (D(2024, 12, 24), True, (13, 0), 210),
        (D(2026, 11, 27), True, (13, 0), 210),
        (D(2024, 7, 5), False, (16, 0), 390),
        (D(2024, 12, 23), False, (16, 0), 390),
        (D(2024, 11, 27), False, (16, 0), 390),
    ],
    ids=["0703", "black-friday-2024", "xmas-eve", "black-friday-2026", "0705", "1223", "1127"],
)
def test_early_closes(
    cal: TradingCalendar, day: date, early: bool, close_hm: tuple[int, int], minutes: int
) -> None:
    assert cal.is_early_close(day) is early
    assert cal.close_time(day) == et(day.year, day.month, day.day, *close_hm)
    assert cal.close_time(day).tzinfo is ET
    assert cal.open_time(day) == et(day.year, day.month, day.day, 9, 30)
    assert cal.minutes_in_session(day) == minutes


def test_is_early_close_false_on_non_session(cal: TradingCalendar) -> None:
    assert cal.is_early_close(D(2024, 7, 4)) is False


@pytest.mark.parametrize(
    ("day", "open_utc_hour", "close_utc_hour"),
    [
        (D(2024, 3, 8), 14, 21),  # EST, Friday before the spring change
        (D(2024, 3, 11), 13, 20),  # EDT, Monday after
        (D(2024, 11, 1), 13, 20),  # EDT, Friday before the fall change
        (D(2024, 11, 4), 14, 21),  # EST, Monday after
        (D(2026, 3, 6), 14, 21),
        (D(2026, 3, 9), 13, 20),
        (D(2026, 10, 30), 13, 20),
        (D(2026, 11, 2), 14, 21),
    ],
    ids=[
        "2024-spring-before",
        "2024-spring-after",
        "2024-fall-before",
        "2024-fall-after",
        "2026-spring-before",
        "2026-spring-after",
        "2026-fall-before",
        "2026-fall-after",
    ],
)
def test_open_close_across_dst(
    cal: TradingCalendar, day: date, open_utc_hour: int, close_utc_hour: int
) -> None:
    o, c = cal.open_time(day), cal.close_time(day)
    assert (o.hour, o.minute, c.hour, c.minute) == (9, 30, 16, 0)  # ET wall time unchanged
    assert o.astimezone(UTC) == datetime(
        day.year, day.month, day.day, open_utc_hour, 30, tzinfo=UTC
    )
    assert c.astimezone(UTC) == datetime(day.year, day.month, day.day, close_utc_hour, tzinfo=UTC)
    assert cal.at(day, "09:30") == o
    assert cal.at(day, time(16, 0)) == c


@pytest.mark.parametrize(
    ("day", "nxt", "prev"),
    [
        (D(2024, 3, 8), D(2024, 3, 11), D(2024, 3, 7)),  # Friday: over the (DST) weekend
        (D(2024, 3, 9), D(2024, 3, 11), D(2024, 3, 8)),  # Saturday
        (D(2024, 3, 10), D(2024, 3, 11), D(2024, 3, 8)),  # Sunday
        (D(2024, 3, 28), D(2024, 4, 1), D(2024, 3, 27)),  # Good Friday + weekend
        (D(2024, 3, 29), D(2024, 4, 1), D(2024, 3, 28)),  # on Good Friday itself
        (D(2024, 4, 1), D(2024, 4, 2), D(2024, 3, 28)),
        (D(2024, 7, 3), D(2024, 7, 5), D(2024, 7, 2)),  # over July 4th
        (D(2024, 7, 5), D(2024, 7, 8), D(2024, 7, 3)),
        (D(2026, 11, 25), D(2026, 11, 27), D(2026, 11, 24)),  # over Thanksgiving
        (D(2026, 11, 27), D(2026, 11, 30), D(2026, 11, 25)),
    ],
    ids=[
        "fri",
        "sat",
        "sun",
        "thu-before-good-friday",
        "good-friday",
        "mon-after-easter",
        "0703",
        "0705",
        "wed-before-thanksgiving",
        "black-friday",
    ],
)
def test_next_previous_session(cal: TradingCalendar, day: date, nxt: date, prev: date) -> None:
    assert cal.next_session(day) == nxt
    assert cal.previous_session(day) == prev


@pytest.mark.parametrize(
    ("day", "on_or_before", "on_or_after"),
    [
        (D(2024, 3, 29), D(2024, 3, 28), D(2024, 4, 1)),
        (D(2024, 3, 30), D(2024, 3, 28), D(2024, 4, 1)),
        (D(2024, 3, 28), D(2024, 3, 28), D(2024, 3, 28)),
        (D(2026, 11, 26), D(2026, 11, 25), D(2026, 11, 27)),
    ],
    ids=["good-friday", "saturday", "session-itself", "thanksgiving"],
)
def test_session_on_or(
    cal: TradingCalendar, day: date, on_or_before: date, on_or_after: date
) -> None:
    assert cal.session_on_or_before(day) == on_or_before
    assert cal.session_on_or_after(day) == on_or_after


def test_sessions_in_range_and_back(cal: TradingCalendar) -> None:
    want = [D(2024, 3, 27), D(2024, 3, 28), D(2024, 4, 1), D(2024, 4, 2)]
    assert cal.sessions_in_range(D(2024, 3, 27), D(2024, 4, 2)) == want
    assert cal.sessions_in_range(D(2024, 3, 29), D(2024, 3, 31)) == []
    assert cal.sessions_in_range(D(2024, 4, 2), D(2024, 3, 27)) == []
    assert cal.sessions_back(D(2024, 4, 2), 4) == want
    # Ending on a non-session: the window ends at the session before it.
    assert cal.sessions_back(D(2024, 3, 31), 2) == [D(2024, 3, 27), D(2024, 3, 28)]
    assert len(cal.sessions_back(D(2024, 12, 31), 300)) == 300
    with pytest.raises(ValueError, match="n >= 1"):
        cal.sessions_back(D(2024, 4, 2), 0)
    with pytest.raises(CalendarRangeError):
        cal.sessions_back(D(2000, 1, 10), 50)


@pytest.mark.parametrize(
    ("entry", "today", "day"),
    [
        (D(2024, 3, 27), D(2024, 3, 27), 1),
        (D(2024, 3, 27), D(2024, 3, 28), 2),
        (D(2024, 3, 27), D(2024, 3, 29), 2),  # Good Friday: not a trading day
        (D(2024, 3, 27), D(2024, 3, 31), 2),  # Easter Sunday
        (D(2024, 3, 27), D(2024, 4, 1), 3),
        (D(2024, 3, 27), D(2024, 4, 3), 5),  # the time-exit day
        (D(2026, 11, 24), D(2026, 11, 25), 2),
        (D(2026, 11, 24), D(2026, 11, 26), 2),  # Thanksgiving
        (D(2026, 11, 24), D(2026, 11, 27), 3),
        (D(2026, 11, 24), D(2026, 12, 1), 5),
        (D(2024, 7, 3), D(2024, 7, 5), 2),
    ],
    ids=[
        "entry-day",
        "next",
        "good-friday",
        "easter",
        "after-easter",
        "day5-2024",
        "wed",
        "thanksgiving",
        "black-friday",
        "day5-2026",
        "over-july4",
    ],
)
def test_day_number(cal: TradingCalendar, entry: date, today: date, day: int) -> None:
    assert cal.day_number(entry, today) == day


def test_session_index_distance(cal: TradingCalendar) -> None:
    assert cal.session_index_distance(D(2024, 3, 28), D(2024, 4, 1)) == 1
    assert cal.session_index_distance(D(2024, 4, 1), D(2024, 3, 28)) == -1
    assert cal.session_index_distance(D(2024, 1, 2), D(2024, 12, 31)) == 251
    with pytest.raises(ValueError, match="not an NYSE session"):
        cal.day_number(D(2024, 3, 29), D(2024, 4, 1))


@pytest.mark.parametrize(
    ("day", "at", "minutes", "expected"),
    [
        (D(2024, 11, 29), "15:50", 10, et(2024, 11, 29, 12, 50)),
        (D(2024, 12, 24), "15:50", 10, et(2024, 12, 24, 12, 50)),
        (D(2024, 7, 3), "15:50", 10, et(2024, 7, 3, 12, 50)),
        (D(2026, 11, 27), "15:50", 10, et(2026, 11, 27, 12, 50)),
        (D(2024, 11, 27), "15:50", 10, et(2024, 11, 27, 15, 50)),
        (D(2024, 3, 11), "15:50", 10, et(2024, 3, 11, 15, 50)),
        (D(2024, 11, 29), "15:45", 15, et(2024, 11, 29, 12, 45)),
        (D(2024, 11, 27), time(15, 45), 15, et(2024, 11, 27, 15, 45)),
        (D(2024, 11, 29), "12:00", 10, et(2024, 11, 29, 12, 0)),  # configured time earlier
    ],
    ids=[
        "black-friday",
        "xmas-eve",
        "0703",
        "black-friday-2026",
        "regular",
        "after-dst",
        "custom-early",
        "custom-regular",
        "configured-earlier",
    ],
)
def test_time_exit_time(
    cal: TradingCalendar, day: date, at: str | time, minutes: int, expected: datetime
) -> None:
    assert cal.time_exit_time(day, at=at, minutes_before_early_close=minutes) == expected


def test_time_exit_time_errors(cal: TradingCalendar) -> None:
    assert cal.time_exit_time(D(2024, 3, 11)).astimezone(UTC) == datetime(
        2024, 3, 11, 19, 50, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="not an NYSE session"):
        cal.time_exit_time(D(2024, 7, 4))
    with pytest.raises(ValueError, match="time_exit_at"):
        cal.time_exit_time(D(2024, 11, 27), at="16:30")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (et(2024, 3, 11, 15, 59), D(2024, 3, 8)),
        (et(2024, 3, 11, 16, 0), D(2024, 3, 11)),
        (et(2024, 3, 11, 20, 0), D(2024, 3, 11)),
        (et(2024, 3, 11, 9, 0), D(2024, 3, 8)),
        (et(2024, 3, 9, 12, 0), D(2024, 3, 8)),
        (et(2024, 3, 10, 12, 0), D(2024, 3, 8)),
        (et(2024, 11, 29, 12, 59), D(2024, 11, 27)),
        (et(2024, 11, 29, 13, 0), D(2024, 11, 29)),
        (et(2024, 7, 4, 18, 0), D(2024, 7, 3)),
        (et(2024, 3, 29, 20, 0), D(2024, 3, 28)),
        (datetime(2024, 3, 11, 20, 0, tzinfo=UTC), D(2024, 3, 11)),  # 16:00 EDT
        (datetime(2024, 3, 8, 20, 59, tzinfo=UTC), D(2024, 3, 7)),  # 15:59 EST
        (datetime(2024, 3, 12, 2, 0, tzinfo=UTC), D(2024, 3, 11)),  # 22:00 ET, next UTC day
    ],
    ids=[
        "15:59",
        "16:00",
        "20:00",
        "monday-morning",
        "saturday",
        "sunday",
        "early-close-12:59",
        "early-close-13:00",
        "july4",
        "good-friday",
        "utc-16:00-edt",
        "utc-15:59-est",
        "utc-next-day",
    ],
)
def test_last_completed_session(cal: TradingCalendar, now: datetime, expected: date) -> None:
    assert cal.last_completed_session(now) == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (et(2024, 3, 11, 3, 59, 59), MarketState.CLOSED),
        (et(2024, 3, 11, 4, 0), MarketState.PRE_MARKET),
        (et(2024, 3, 11, 9, 29, 59), MarketState.PRE_MARKET),
        (et(2024, 3, 11, 9, 30), MarketState.OPEN),
        (et(2024, 3, 11, 15, 59, 59), MarketState.OPEN),
        (et(2024, 3, 11, 16, 0), MarketState.AFTER_HOURS),
        (et(2024, 3, 11, 19, 59, 59), MarketState.AFTER_HOURS),
        (et(2024, 3, 11, 20, 0), MarketState.CLOSED),
        (et(2024, 11, 29, 12, 59, 59), MarketState.OPEN),
        (et(2024, 11, 29, 13, 0), MarketState.AFTER_HOURS),
        (et(2024, 3, 9, 10, 0), MarketState.CLOSED),
        (et(2024, 7, 4, 10, 0), MarketState.CLOSED),
        (et(2024, 7, 4, 5, 0), MarketState.CLOSED),
        (datetime(2024, 11, 4, 14, 29, tzinfo=UTC), MarketState.PRE_MARKET),  # 09:29 EST
        (datetime(2024, 11, 4, 14, 30, tzinfo=UTC), MarketState.OPEN),
    ],
    ids=[
        "03:59:59",
        "04:00",
        "09:29:59",
        "09:30",
        "15:59:59",
        "16:00",
        "19:59:59",
        "20:00",
        "early-12:59:59",
        "early-13:00",
        "saturday",
        "holiday",
        "holiday-premarket",
        "utc-pre",
        "utc-open",
    ],
)
def test_market_state(cal: TradingCalendar, now: datetime, expected: MarketState) -> None:
    assert cal.market_state(now) is expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (et(2024, 3, 11, 10, 0), D(2024, 3, 11)),
        (et(2024, 3, 11, 23, 30), D(2024, 3, 11)),
        (et(2024, 3, 11, 0, 30), D(2024, 3, 11)),
        (et(2024, 3, 9, 10, 0), None),
        (et(2024, 3, 29, 10, 0), None),
        (datetime(2024, 3, 12, 2, 0, tzinfo=UTC), D(2024, 3, 11)),
    ],
    ids=["open", "late-evening", "early-morning", "saturday", "good-friday", "utc-next-day"],
)
def test_session_of(cal: TradingCalendar, now: datetime, expected: date | None) -> None:
    assert cal.session_of(now) == expected


def test_at_combines_wall_time_across_dst(cal: TradingCalendar) -> None:
    assert cal.at(D(2024, 3, 10), "09:25").utcoffset().total_seconds() == -4 * 3600
    assert cal.at(D(2024, 3, 9), "09:25").utcoffset().total_seconds() == -5 * 3600
    assert cal.at(D(2024, 11, 3), "20:00").astimezone(UTC) == datetime(
        2024, 11, 4, 1, 0, tzinfo=UTC
    )
    assert cal.at(D(2024, 11, 2), "20:00").astimezone(UTC) == datetime(
        2024, 11, 3, 0, 0, tzinfo=UTC
    )
    assert cal.at(et(2024, 3, 11, 23, 0), "09:30:15") == et(2024, 3, 11, 9, 30, 15)


@pytest.mark.parametrize("bad", ["9h30", "25:00", "", "09:30:00:00", "ab:cd"])
def test_at_rejects_bad_time(cal: TradingCalendar, bad: str) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        cal.at(D(2024, 3, 11), bad)


def test_input_errors(cal: TradingCalendar) -> None:
    with pytest.raises(ValueError, match="no time zone"):
        cal.last_completed_session(datetime(2024, 3, 11, 16, 0))
    with pytest.raises(ValueError, match="no time zone"):
        cal.is_session(datetime(2024, 3, 11, 16, 0))
    with pytest.raises(CalendarRangeError, match="outside"):
        cal.is_session(D(1999, 12, 31))
    with pytest.raises(CalendarRangeError, match="outside"):
        cal.next_session(D(2041, 1, 2))
    with pytest.raises(CalendarRangeError):
        cal.previous_session(cal.first_session)
    with pytest.raises(CalendarRangeError):
        cal.next_session(cal.last_session)
    with pytest.raises(TypeError):
        cal.is_session("2024-03-11")  # type: ignore[arg-type]
