"""Events of the trading session (scheduler steps, approvals, gap filter, entries, kill switch,
paper tracking, the end-of-day summary), beside those of :mod:`workstation.engine.events`.

Like those, each is published AFTER what it describes is in the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from workstation.core.events import Event
from workstation.engine.rules.entries import Confirmation
from workstation.engine.rules.gap import GapResult
from workstation.engine.scheduler import Step

if TYPE_CHECKING:  # annotations only: summary imports nothing of the session
    from workstation.engine.summary import SessionSummary


@dataclass(frozen=True)
class DayPlanned(Event):
    """The timetable of a session's day as the session (re)starts it."""

    session: date
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class StepStarted(Event):
    session: date
    step: str
    late: bool = False  # after its time, before its deadline


@dataclass(frozen=True)
class StepFinished(Event):
    session: date
    step: str


@dataclass(frozen=True)
class StepMissed(Event):
    """A step's deadline passed before it could run (a late start, a stalled process)."""

    session: date
    step: str
    deadline: datetime
    consequence: str


@dataclass(frozen=True)
class ApprovalChanged(Event):
    candidate_id: int
    symbol: str
    state: str  # pending / approved / vetoed / skipped
    note: str
    source: str  # "user" or "policy"
    previous: str = ""  # the state it replaced ("approved" when an approval was undone)


@dataclass(frozen=True)
class GapChecked(Event):
    session: date
    candidate_id: int
    symbol: str
    result: GapResult
    late: bool = False


@dataclass(frozen=True)
class ConfirmationChecked(Event):
    """The 09:50 group B confirmation of one candidate (confirmed or discarded)."""

    session: date
    candidate_id: int
    symbol: str
    confirmation: Confirmation


@dataclass(frozen=True)
class EntryRejected(Event):
    """A candidate was not entered: ``reason`` is the first failing check (rules §9), or
    NOT_APPROVED, GAP_DROPPED, NOT_CONFIRMED, WINDOW_MISSED, TRADING_BLOCKED, BROKER_REJECTED."""

    session: date
    candidate_id: int
    symbol: str
    group: str
    reason: str
    check: int  # 1..6 for the checks of §9, 0 otherwise
    detail: str


@dataclass(frozen=True)
class EntrySubmitted(Event):
    session: date
    candidate_id: int
    symbol: str
    group: str
    client_order_id: str
    qty: int
    price: float  # the price it was sized at


@dataclass(frozen=True)
class KillSwitchChanged(Event):
    engaged: bool
    reason: str  # DAILY_LOSS / USER while engaged
    detail: str


@dataclass(frozen=True)
class PaperTrackOpened(Event):
    candidate_id: int
    symbol: str
    side: str
    entry_price: float
    qty: int


@dataclass(frozen=True)
class PaperTrackClosed(Event):
    candidate_id: int
    symbol: str
    exit_price: float
    reason: str
    r_multiple: float | None


@dataclass(frozen=True)
class SessionSummaryReady(Event):
    """The end-of-day summary of a session (also the headless runner's output)."""

    summary: SessionSummary


__all__ = [
    "ApprovalChanged",
    "ConfirmationChecked",
    "DayPlanned",
    "EntryRejected",
    "EntrySubmitted",
    "GapChecked",
    "KillSwitchChanged",
    "PaperTrackClosed",
    "PaperTrackOpened",
    "SessionSummaryReady",
    "StepFinished",
    "StepMissed",
    "StepStarted",
]
