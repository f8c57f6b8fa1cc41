"""NYSE sessions, holidays, early closes and wall times in America/New_York.

Everything the engines schedule ("09:25 on the next session", "15:50 on day 5",
"the last completed session") is answered here, from ``exchange_calendars``' XNYS
calendar. Building that calendar costs about 0.3 s, so it is built once per
process (per date range) and its schedule copied into plain Python lists, which
makes every query a bisect or a dict lookup.

Conventions:
* sessions are ``datetime.date`` values;
* every datetime going in must be tz-aware (any zone: it is converted to ET);
  every datetime coming out is tz-aware in ``ET`` (``ZoneInfo``), so wall times
  are right on both sides of a DST change;
* nothing here reads the system clock (architecture principle 4): "now" is
  always an argument.
"""

from __future__ import annotations

import bisect
import enum
import functools
import warnings
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

ET = ZoneInfo("America/New_York")

# The calendar covers a fixed range instead of "today + 2 years": reading today's
# date here would break principle 4 and make results depend on when the process
# started. XNYS holiday rules are projected forward, so a far end is cheap
# (2000..2040 builds in ~0.35 s) and leaves room for simulations run in the future.
DEFAULT_START = date(2000, 1, 1)
DEFAULT_END = date(2040, 12, 31)

# Extended-hours window used for MarketState (Alpaca's pre-market and after-hours).
PRE_MARKET_START = time(4, 0)
AFTER_HOURS_END = time(20, 0)

REGULAR_CLOSE = time(16, 0)


class CalendarRangeError(ValueError):
    """A date outside the range the trading calendar was built for."""


class MarketState(enum.StrEnum):
    PRE_MARKET = "pre_market"  # 04:00 until the open, on a session day
    OPEN = "open"  # regular trading hours
    AFTER_HOURS = "after_hours"  # from the close (16:00 or the early close) until 20:00
    CLOSED = "closed"  # overnight, weekends and holidays


@functools.lru_cache(maxsize=4)
def _build_schedule(
    start: date, end: date
) -> tuple[tuple[date, ...], tuple[datetime, ...], tuple[datetime, ...]]:
    """Sessions with their open and close (ET) from exchange_calendars, built once per range."""
    import exchange_calendars as xc  # imported lazily: it is slow to import too

    with warnings.catch_warnings():
        # exchange_calendars 4.x uses Series.values on tz-aware columns, which pandas 3.1
        # deprecates; the values it gets are still right (UTC nanoseconds). Noise only.
        warnings.filterwarnings("ignore", message=r"Series\.values returning an ndarray")
        cal = xc.get_calendar("XNYS", start=start.isoformat(), end=end.isoformat())
    sched = cal.schedule
    sessions = tuple(sched.index.date)

    def to_et(col: str) -> tuple[datetime, ...]:
        seconds = sched[col].dt.as_unit("s").astype("int64").tolist()
        return tuple(datetime.fromtimestamp(s, tz=UTC).astimezone(ET) for s in seconds)

    return sessions, to_et("open"), to_et("close")


def _parse_wall_time(t: str | time) -> time:
    """``"HH:MM"`` / ``"HH:MM:SS"`` or a naive ``time``: an ET wall time."""
    if isinstance(t, time):
        if t.tzinfo is not None:
            raise ValueError(f"wall time {t!r} must not carry a time zone: it is read as ET")
        return t
    if isinstance(t, str):
        try:
            parts = [int(p) for p in t.strip().split(":")]
            if len(parts) in (2, 3):
                return time(*parts)
        except ValueError:
            pass
        raise ValueError(f'bad time of day {t!r}: expected "HH:MM" (24 h, America/New_York)')
    raise TypeError(f"expected a time of day as 'HH:MM' or datetime.time, got {type(t).__name__}")


def _require_aware(now: datetime) -> datetime:
    if not isinstance(now, datetime):
        raise TypeError(f"expected a datetime, got {type(now).__name__}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"datetime {now.isoformat()} has no time zone; pass a tz-aware datetime")
    return now.astimezone(ET)


class TradingCalendar:
    """NYSE (XNYS) sessions with ET open/close times. Use :func:`get_calendar` to share one."""

    def __init__(self, start: date = DEFAULT_START, end: date = DEFAULT_END) -> None:
        sessions, opens, closes = _build_schedule(start, end)
        if not sessions:
            raise CalendarRangeError(f"no NYSE sessions between {start} and {end}")
        self.start = start
        self.end = end
        self._sessions = sessions
        self._opens = opens
        self._closes = closes
        self._index = {d: i for i, d in enumerate(sessions)}

    # ------------------------------------------------------------------ helpers

    def _as_date(self, d: date | datetime) -> date:
        """A date as given, or the ET calendar date of a tz-aware datetime; range-checked."""
        if isinstance(d, datetime):
            d = _require_aware(d).date()
        elif not isinstance(d, date):
            raise TypeError(f"expected a date, got {type(d).__name__}")
        if not (self.start <= d <= self.end):
            raise CalendarRangeError(
                f"{d} is outside the trading calendar's range {self.start}..{self.end}; "
                "build a TradingCalendar(start=..., end=...) that covers it"
            )
        return d

    def _session_index(self, d: date | datetime) -> int:
        d = self._as_date(d)
        i = self._index.get(d)
        if i is None:
            raise ValueError(f"{d} is not an NYSE session (weekend or holiday)")
        return i

    def _at_index(self, i: int, what: str) -> date:
        if not 0 <= i < len(self._sessions):
            raise CalendarRangeError(
                f"the {what} is outside the trading calendar's range {self.start}..{self.end}"
            )
        return self._sessions[i]

    # ----------------------------------------------------------------- sessions

    @property
    def first_session(self) -> date:
        return self._sessions[0]

    @property
    def last_session(self) -> date:
        return self._sessions[-1]

    def is_session(self, d: date | datetime) -> bool:
        return self._as_date(d) in self._index

    def sessions_in_range(self, start: date | datetime, end: date | datetime) -> list[date]:
        """Sessions ``start <= s <= end`` (both ends inclusive), ascending."""
        a, b = self._as_date(start), self._as_date(end)
        lo = bisect.bisect_left(self._sessions, a)
        hi = bisect.bisect_right(self._sessions, b)
        return list(self._sessions[lo:hi])

    def next_session(self, d: date | datetime) -> date:
        """The first session strictly after ``d`` (``d`` need not be a session)."""
        i = bisect.bisect_right(self._sessions, self._as_date(d))
        return self._at_index(i, f"session after {d}")

    def previous_session(self, d: date | datetime) -> date:
        """The last session strictly before ``d``."""
        i = bisect.bisect_left(self._sessions, self._as_date(d)) - 1
        return self._at_index(i, f"session before {d}")

    def session_on_or_before(self, d: date | datetime) -> date:
        i = bisect.bisect_right(self._sessions, self._as_date(d)) - 1
        return self._at_index(i, f"session on or before {d}")

    def session_on_or_after(self, d: date | datetime) -> date:
        i = bisect.bisect_left(self._sessions, self._as_date(d))
        return self._at_index(i, f"session on or after {d}")

    def sessions_back(self, d: date | datetime, n: int) -> list[date]:
        """The ``n`` sessions ending at ``d`` inclusive, ascending.

        If ``d`` is not a session the window ends at the last session before it.
        """
        if n < 1:
            raise ValueError(f"sessions_back needs n >= 1, got {n}")
        end = bisect.bisect_right(self._sessions, self._as_date(d))
        if end - n < 0:
            raise CalendarRangeError(
                f"{n} sessions back from {d} reach before the calendar's first session "
                f"{self.first_session}"
            )
        return list(self._sessions[end - n : end])

    def session_index_distance(self, a: date | datetime, b: date | datetime) -> int:
        """Sessions from ``a`` to ``b``: the count of sessions in ``(a, b]`` (negative if b < a).

        For two sessions this is the difference of their positions; a non-session
        ``b`` (a weekend, a holiday) counts as the session before it.
        """
        ia = bisect.bisect_right(self._sessions, self._as_date(a))
        ib = bisect.bisect_right(self._sessions, self._as_date(b))
        return ib - ia

    def day_number(self, entry_session: date | datetime, today: date | datetime) -> int:
        """Day N of a position, counted in sessions: the entry session is day 1.

        On a non-session ``today`` (weekend, holiday) the day number is that of the
        session before it: the count only moves on trading days.
        """
        self._session_index(entry_session)  # entries only happen on sessions
        return self.session_index_distance(entry_session, today) + 1

    # -------------------------------------------------------------- wall times

    def open_time(self, d: date | datetime) -> datetime:
        return self._opens[self._session_index(d)]

    def close_time(self, d: date | datetime) -> datetime:
        """16:00 ET, or 13:00 ET on an early-close session."""
        return self._closes[self._session_index(d)]

    def is_early_close(self, d: date | datetime) -> bool:
        """True for a session closing before 16:00; False otherwise (non-sessions too)."""
        i = self._index.get(self._as_date(d))
        return i is not None and self._closes[i].time() < REGULAR_CLOSE

    def minutes_in_session(self, d: date | datetime) -> int:
        """Regular-hours minutes: 390, or 210 on an early close."""
        i = self._session_index(d)
        return int((self._closes[i] - self._opens[i]).total_seconds() // 60)

    def at(self, d: date | datetime, wall: str | time) -> datetime:
        """``d`` at ET wall time ``wall`` ("HH:MM" or ``time``), with the offset of that date.

        ``d`` need not be a session (the nightly scan may be scheduled on any date).
        """
        return datetime.combine(self._as_date(d), _parse_wall_time(wall), tzinfo=ET)

    def time_exit_time(
        self,
        d: date | datetime,
        at: str | time = "15:50",
        minutes_before_early_close: int = 10,
    ) -> datetime:
        """When the forced time exit runs on session ``d``.

        ``at`` on a regular session; on an early-close session ``minutes_before_early_close``
        before the close, or ``at`` if that is earlier (the conservative choice: never later
        than the configured wall time).
        """
        if minutes_before_early_close < 0:
            raise ValueError(
                f"minutes_before_early_close must be >= 0, got {minutes_before_early_close}"
            )
        close = self.close_time(d)
        wall = self.at(d, at)
        if self.is_early_close(d):
            return min(wall, close - timedelta(minutes=minutes_before_early_close))
        if not self.open_time(d) < wall < close:
            raise ValueError(
                f"time exit at {wall:%H:%M} is not within the session {d} "
                f"({self.open_time(d):%H:%M}-{close:%H:%M} ET); check risk.exits.time_exit_at"
            )
        return wall

    # --------------------------------------------------------------- "now" based

    def last_completed_session(self, now: datetime) -> date:
        """The latest session whose close is at or before ``now``."""
        now = _require_aware(now)
        s = self.session_on_or_before(now.date())
        if self.close_time(s) <= now:
            return s
        return self.previous_session(s)

    def session_of(self, now: datetime) -> date | None:
        """``now``'s ET date if it is a session (at any hour of that day), else None."""
        d = _require_aware(now).date()
        return d if self.is_session(d) else None

    def market_state(self, now: datetime) -> MarketState:
        """Pre-market 04:00-open, open, after hours close-20:00, else closed (ET)."""
        now = _require_aware(now)
        d = now.date()
        i = self._index.get(self._as_date(d))
        if i is None:
            return MarketState.CLOSED
        if now < self.at(d, PRE_MARKET_START):
            return MarketState.CLOSED
        if now < self._opens[i]:
            return MarketState.PRE_MARKET
        if now < self._closes[i]:
            return MarketState.OPEN
        if now < self.at(d, AFTER_HOURS_END):
            return MarketState.AFTER_HOURS
        return MarketState.CLOSED


@functools.lru_cache(maxsize=4)
def get_calendar(start: date = DEFAULT_START, end: date = DEFAULT_END) -> TradingCalendar:
    """The process-wide calendar for a range (built on first use, then shared)."""
    return TradingCalendar(start, end)
