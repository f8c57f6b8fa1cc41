"""The day's connection trouble, for the log and the session summary (issue 12 item 8).

The Alpaca adapters publish :class:`ConnectionStateChanged` for each component (REST, the
trade stream, the data stream; a data stream silent in market hours turns ``degraded`` with
"no market data for N s ... reconnecting"). The window shows them in its status strip; the
headless runner showed nothing. The journal gives each change ONE log line and keeps each
interruption (from the first non-connected state to the next ``connected``) so the end-of-day
summary can name them, in the window and headless alike.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from workstation.core.events import ConnectionStateChanged

CONNECTED = "connected"
_RANK = {"degraded": 1, "down": 2}
#: Interruptions named one by one per component in a summary; more are counted.
NAMED_PER_COMPONENT = 3


@dataclass(frozen=True)
class Interruption:
    component: str
    state: str  # the worst state seen: "down" over "degraded"
    since: datetime
    until: datetime | None  # None: not over yet
    detail: str

    def text(self) -> str:
        end = "not restored yet" if self.until is None else f"{self.until:%H:%M:%S}"
        length = ""
        if self.until is not None:
            length = f", {_duration((self.until - self.since).total_seconds())}"
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.state} {self.since:%H:%M:%S}-{end}{length}{detail}"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


class ConnectionJournal:
    def __init__(self) -> None:
        self._open: dict[str, Interruption] = {}
        self._done: list[Interruption] = []

    def record(self, ev: ConnectionStateChanged) -> tuple[str, str] | None:
        """Take in a change; the (level, message) of its log line, or None (no change)."""
        current = self._open.get(ev.component)
        if ev.state == CONNECTED:
            if current is None:
                return None  # connected at start, or again without a break
            self._done.append(replace(current, until=ev.at))
            del self._open[ev.component]
            gone = _duration((ev.at - current.since).total_seconds())
            return "INFO", f"connection {ev.component}: restored after {gone}"
        if current is None:
            self._open[ev.component] = Interruption(ev.component, ev.state, ev.at, None, ev.detail)
        elif _RANK.get(ev.state, 0) >= _RANK.get(current.state, 0):
            self._open[ev.component] = replace(current, state=ev.state, detail=ev.detail)
        else:
            return None
        detail = f" ({ev.detail})" if ev.detail else ""
        # A WARNING even when down: the headless console gets ERROR lines only, and a lost
        # connection at start is already its one line there.
        return "WARNING", f"connection {ev.component}: {ev.state}{detail}"

    def notes(self) -> list[str]:
        """One line per component with interruptions since the last :meth:`clear`."""
        by: dict[str, list[Interruption]] = {}
        for i in [*self._done, *self._open.values()]:
            by.setdefault(i.component, []).append(i)
        out: list[str] = []
        for component, items in sorted(by.items()):
            items.sort(key=lambda i: i.since)
            named = "; ".join(i.text() for i in items[:NAMED_PER_COMPONENT])
            more = len(items) - NAMED_PER_COMPONENT
            tail = f"; and {more} more" if more > 0 else ""
            n = len(items)
            out.append(
                f"connection {component}: {n} interruption{'s' if n != 1 else ''} ({named}{tail})"
            )
        return out

    def clear(self) -> None:
        """After a summary: finished interruptions are reported; one still open stays."""
        self._done.clear()


__all__ = ["ConnectionJournal", "Interruption"]
