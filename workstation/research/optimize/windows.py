"""Walk-forward windows (trading rules §15): ``train`` sessions choose the parameters, the
following ``test`` sessions judge them, and the windows roll forward by ``test``.

``--walk-forward TRAIN:TEST`` counts sessions; each side is a number with a unit: ``y``
(252 sessions), ``m`` (21), ``w`` (5) or ``d``/none (sessions): ``3y:1y``, ``18m:6m``,
``120:40``. The first window's training starts on the search's first session; each test
window starts the session after its training ends; the next window starts ``test`` sessions
later. The last test window may be shorter than ``test`` (down to half of it) so the end of
the period is judged too; sessions after it are left out and named.

Beside the judged windows there is the **live** window: the last ``train`` sessions of the
period, with no test after it. What it chooses is what the procedure would trade from here
on (the search's ``best``); the judged windows say how well that procedure held up.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

UNITS = {"y": 252, "m": 21, "w": 5, "d": 1, "": 1}
_PART = re.compile(r"^\s*(\d+)\s*([ymwd]?)\s*$", re.IGNORECASE)


class WindowError(ValueError):
    """A walk-forward that cannot be made: one line naming the option."""


@dataclass(frozen=True)
class WalkForward:
    train: int  # sessions
    test: int  # sessions
    text: str  # as given, e.g. "3y:1y"

    def as_json(self) -> dict[str, Any]:
        return {"spec": self.text, "train_sessions": self.train, "test_sessions": self.test}


def parse_walk_forward(text: str) -> WalkForward:
    option = f"--walk-forward {text}"
    train_s, sep, test_s = text.partition(":")
    if not sep:
        raise WindowError(f"{option}: write TRAIN:TEST, e.g. 3y:1y (y 252, m 21, w 5 sessions)")
    counts = []
    for part in (train_s, test_s):
        m = _PART.match(part)
        if m is None:
            raise WindowError(
                f"{option}: {part.strip()!r} is not a length: a whole number with y, m, w or "
                "d (sessions), e.g. 3y"
            )
        counts.append(int(m.group(1)) * UNITS[m.group(2).lower()])
    train, test = counts
    if train < 2 or test < 2:
        raise WindowError(f"{option}: each side needs at least 2 sessions")
    return WalkForward(train, test, text.strip())


@dataclass(frozen=True)
class Segment:
    """Sessions ``first`` .. ``last`` (inclusive), ``n`` of them."""

    first: date
    last: date
    n: int

    def as_json(self) -> dict[str, Any]:
        return {"first": self.first.isoformat(), "last": self.last.isoformat(), "sessions": self.n}


@dataclass(frozen=True)
class Window:
    """One walk-forward window: ``index`` 0, 1, ... (the live window has ``test`` None)."""

    index: int
    train: Segment
    test: Segment | None

    @property
    def live(self) -> bool:
        return self.test is None

    @property
    def last(self) -> date:
        return (self.test or self.train).last

    def as_json(self) -> dict[str, Any]:
        return {
            "window": "live" if self.live else self.index,
            "train": self.train.as_json(),
            "test": None if self.test is None else self.test.as_json(),
        }


def _segment(sessions: Sequence[date], i: int, j: int) -> Segment:
    return Segment(sessions[i], sessions[j - 1], j - i)


def make_windows(sessions: Sequence[date], wf: WalkForward) -> tuple[list[Window], Window]:
    """(the judged windows, the live window) over ``sessions`` (the search's period)."""
    n = len(sessions)
    if n < wf.train + wf.test:
        raise WindowError(
            f"--walk-forward {wf.text}: the period has {n} sessions; {wf.train} to train and "
            f"{wf.test} to test need at least {wf.train + wf.test}: start earlier or shorten"
        )
    windows: list[Window] = []
    start = 0
    min_test = max(2, (wf.test + 1) // 2)
    while start + wf.train + min_test <= n:
        t0 = start + wf.train
        t1 = min(t0 + wf.test, n)
        windows.append(
            Window(len(windows), _segment(sessions, start, t0), _segment(sessions, t0, t1))
        )
        start += wf.test
    live = Window(len(windows), _segment(sessions, n - wf.train, n), None)
    return windows, live


def untested_tail(sessions: Sequence[date], windows: Sequence[Window]) -> Segment | None:
    """Sessions after the last test window (too few for a window of their own), if any."""
    if not windows or windows[-1].test is None:
        return None
    last = windows[-1].test.last
    i = list(sessions).index(last) + 1
    return _segment(sessions, i, len(sessions)) if i < len(sessions) else None


__all__ = [
    "UNITS",
    "Segment",
    "WalkForward",
    "Window",
    "WindowError",
    "make_windows",
    "parse_walk_forward",
    "untested_tail",
]
