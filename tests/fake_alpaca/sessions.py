"""XNYS sessions for the fake's clock and calendar endpoints (exchange_calendars, loaded once)."""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime

import exchange_calendars as xcals

from tests.fake_alpaca.wire import NY


@dataclass(frozen=True)
class Session:
    day: date
    open: datetime  # tz-aware UTC
    close: datetime  # tz-aware UTC


class SessionTable:
    """Every XNYS session exchange_calendars knows, searchable by time with bisect."""

    def __init__(self) -> None:
        cal = xcals.get_calendar("XNYS")
        sched = cal.schedule
        opens = [ts.to_pydatetime().astimezone(UTC) for ts in sched["open"]]
        closes = [ts.to_pydatetime().astimezone(UTC) for ts in sched["close"]]
        days = [ts.date() for ts in sched.index]
        self.sessions = [Session(d, o, c) for d, o, c in zip(days, opens, closes, strict=True)]
        self._opens = opens
        self._closes = closes
        self._days = days

    @property
    def first_day(self) -> date:
        return self._days[0]

    @property
    def last_day(self) -> date:
        return self._days[-1]

    def _check(self, now: datetime) -> None:
        if not (self._opens[0] <= now <= self._closes[-1]):
            raise ValueError(
                f"fake clock {now.isoformat()} is outside the XNYS calendar "
                f"({self.first_day} .. {self.last_day}); set a time inside it"
            )

    def current(self, now: datetime) -> Session | None:
        """The session open at ``now`` (open <= now < close), else None."""
        i = bisect.bisect_right(self._opens, now) - 1
        if i >= 0 and now < self._closes[i]:
            return self.sessions[i]
        return None

    def is_open(self, now: datetime) -> bool:
        return self.current(now) is not None

    def next_open(self, now: datetime) -> datetime:
        self._check(now)
        i = bisect.bisect_right(self._opens, now)
        if i >= len(self._opens):
            raise ValueError(f"no XNYS session after {now.isoformat()} in the calendar")
        return self._opens[i]

    def next_close(self, now: datetime) -> datetime:
        self._check(now)
        i = bisect.bisect_right(self._closes, now)
        if i >= len(self._closes):
            raise ValueError(f"no XNYS session after {now.isoformat()} in the calendar")
        return self._closes[i]

    def session_on(self, day: date) -> Session | None:
        i = bisect.bisect_left(self._days, day)
        if i < len(self._days) and self._days[i] == day:
            return self.sessions[i]
        return None

    def between(self, start: date, end: date) -> list[Session]:
        lo = bisect.bisect_left(self._days, start)
        hi = bisect.bisect_right(self._days, end)
        return self.sessions[lo:hi]

    def next_session_after(self, day: date) -> Session | None:
        i = bisect.bisect_right(self._days, day)
        return self.sessions[i] if i < len(self.sessions) else None

    def boundaries(self, after: datetime, upto: datetime) -> list[tuple[datetime, str]]:
        """Opens and closes in (after, upto], in time order, as (time, "open"|"close")."""
        out: list[tuple[datetime, str]] = []
        lo = bisect.bisect_right(self._opens, after)
        hi = bisect.bisect_right(self._opens, upto)
        out.extend((t, "open") for t in self._opens[lo:hi])
        lo = bisect.bisect_right(self._closes, after)
        hi = bisect.bisect_right(self._closes, upto)
        out.extend((t, "close") for t in self._closes[lo:hi])
        out.sort()
        return out

    def calendar_row(self, s: Session) -> dict[str, str]:
        """One ``/v2/calendar`` entry: open/close as ``HH:MM`` Eastern, as Alpaca sends them."""
        nxt = self.next_session_after(s.day)
        return {
            "date": s.day.isoformat(),
            "open": s.open.astimezone(NY).strftime("%H:%M"),
            "close": s.close.astimezone(NY).strftime("%H:%M"),
            "session_open": "0400",
            "session_close": "2000",
            "settlement_date": (nxt.day if nxt else s.day).isoformat(),
        }


@functools.cache
def xnys() -> SessionTable:
    """Loading the calendar takes about a second: do it once per process."""
    return SessionTable()
