"""Approval of candidates (trading rules §7).

Each candidate starts ``pending``; the user may approve or veto it (with an optional note)
until its entry time. At the entry time a still-pending candidate follows ``on_pending``:
``approve`` (default in the simulated market) or ``skip`` (default with a real broker,
recorded as "not approved").

Choices made here:

* The entry time of a group A candidate is ``group_a_from`` (09:25) of the entry session:
  its market-on-open order is sent from then on, so the decision must be final by then.
  Group B's is ``group_b_at`` (09:50), when the confirmation is checked.
* "Until its entry time" is exclusive: at the entry time itself the ``on_pending`` policy has
  already been applied, so a click arriving at exactly 09:25:00 is too late (a decision can
  never race the order it decides).
* The user may change their mind (approve -> veto, veto -> approve) until the entry time,
  and undo a decision (back to ``pending``) until then too; once the policy has resolved a
  candidate (``skipped``) it is final.
* A scan that already has a list may be re-run (a manual "Run scan now", a late scheduled
  scan) only while none of its candidates' entry times has come, i.e. strictly before the
  group A entry time of the entry session: from then on the list is being traded and is never
  replaced (it would hand the day's remaining steps new, undecided candidates).
* A re-run carries the user's decisions over: an approval or veto of the old list applies to
  the candidate with the same (symbol, strategy) in the new list, with its note. A decision
  whose (symbol, strategy) is not in the new list is dropped (the old list keeps it, for the
  audit). Pending candidates have nothing to carry.
* A candidate still pending when its entry time has passed without the entry step having
  resolved it (the engine was not running then, or the session's steps were missed) is
  resolved as ``skipped`` ("expired"): it was never entered, and it must not read "pending"
  forever.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import NamedTuple

from workstation.core.calendar import TradingCalendar
from workstation.core.config import ApprovalConfig, ScheduleConfig
from workstation.core.models import ApprovalState, Group

ON_PENDING_APPROVE = "approve"
ON_PENDING_SKIP = "skip"

# Reasons recorded with the resolved approval state.
APPROVED_BY_USER = "approved by user"
VETOED_BY_USER = "vetoed by user"
AUTO_APPROVED = "approved automatically at entry time (on_pending = approve)"
NOT_APPROVED = "not approved"  # the spec's wording for on_pending = skip
UNDONE_BY_USER = "back to pending: the user undid the decision"
AUTO_EXPIRED = "expired: its entry time passed without an entry step (the engine was not running)"
TOO_LATE = "too late: the candidate's entry time has passed"
ALREADY_RESOLVED = "already resolved at entry time"
NOTHING_TO_UNDO = "nothing to undo: it is still pending"
#: The refusals: the state is unchanged and nothing may be recorded.
REFUSALS = frozenset({TOO_LATE, ALREADY_RESOLVED, NOTHING_TO_UNDO})


class Resolution(NamedTuple):
    """An approval state and why (unpacks as ``(state, reason)``)."""

    state: ApprovalState
    reason: str


def on_pending_policy(cfg: ApprovalConfig, real_broker: bool) -> str:
    """The ``on_pending`` policy in force: the broker one for paper/live, else the sim one."""
    return cfg.on_pending_broker if real_broker else cfg.on_pending_sim


def entry_time(
    group: Group, entry_session: date, schedule: ScheduleConfig, calendar: TradingCalendar
) -> datetime:
    """The deadline for approving a candidate: 09:25 (group A) or 09:50 (group B), ET.

    ``entry_session`` is the session the candidate enters on (the one after its scan).
    """
    wall = schedule.group_a_from if group is Group.A else schedule.group_b_at
    return calendar.at(entry_session, wall)


def can_decide(now: datetime, entry_time: datetime) -> bool:
    """True while the user may still approve or veto (strictly before the entry time)."""
    return now < entry_time


def user_decision(
    current: ApprovalState, approve: bool, now: datetime, entry_time: datetime
) -> Resolution:
    """The state after the user approves (``approve=True``) or vetoes at ``now``.

    Too late or already resolved: the current state is returned with the refusal as reason,
    so the caller can show it and record nothing.
    """
    if current is ApprovalState.SKIPPED:
        return Resolution(current, ALREADY_RESOLVED)
    if not can_decide(now, entry_time):
        return Resolution(current, TOO_LATE)
    if approve:
        return Resolution(ApprovalState.APPROVED, APPROVED_BY_USER)
    return Resolution(ApprovalState.VETOED, VETOED_BY_USER)


def user_undo(current: ApprovalState, now: datetime, entry_time: datetime) -> Resolution:
    """The state after the user undoes their approval or veto at ``now``: pending again, as
    long as the entry time has not come. Refusals return the current state (see
    :data:`REFUSALS`)."""
    if current is ApprovalState.SKIPPED:
        return Resolution(current, ALREADY_RESOLVED)
    if current is ApprovalState.PENDING:
        return Resolution(current, NOTHING_TO_UNDO)
    if not can_decide(now, entry_time):
        return Resolution(current, TOO_LATE)
    return Resolution(ApprovalState.PENDING, UNDONE_BY_USER)


def expire_pending(state: ApprovalState, now: datetime, entry_time: datetime) -> Resolution | None:
    """A still-pending candidate whose entry time has passed: ``skipped`` ("expired").

    None when nothing changes (not pending, or the entry time is still ahead). The entry steps
    resolve their own candidates with :func:`resolve_pending` first; this is for the ones no
    step will ever see again."""
    if state is ApprovalState.PENDING and not can_decide(now, entry_time):
        return Resolution(ApprovalState.SKIPPED, AUTO_EXPIRED)
    return None


def rescan_refusal(session: date, now: datetime, first_entry_time: datetime) -> str:
    """Why the list of ``session``'s scan may not be replaced at ``now`` ("" when it may).

    ``first_entry_time`` is the earliest entry time of its candidates (group A's, 09:25 of
    the entry session)."""
    if can_decide(now, first_entry_time):
        return ""
    return (
        f"the scan of {session:%a %Y-%m-%d} is traded from {first_entry_time:%a %Y-%m-%d %H:%M}"
        " ET (its entry times have begun): its list is kept as it is, never re-run"
    )


class Decided(NamedTuple):
    """A user's decision on a candidate of the previous list."""

    symbol: str
    strategy: str
    state: ApprovalState
    note: str
    candidate_id: int


def carry_decisions(
    previous: Iterable[Decided], new_keys: Iterable[tuple[str, str]]
) -> tuple[dict[tuple[str, str], Decided], list[Decided]]:
    """The decisions a re-run scan keeps: ``(carried by (symbol, strategy), dropped)``.

    Only approvals and vetoes carry (pending has nothing to carry; a policy's resolution only
    happens at the entry time, when a re-run is refused)."""
    keys = set(new_keys)
    carried: dict[tuple[str, str], Decided] = {}
    dropped: list[Decided] = []
    for d in previous:
        if d.state not in (ApprovalState.APPROVED, ApprovalState.VETOED):
            continue
        if (d.symbol, d.strategy) in keys:
            carried[(d.symbol, d.strategy)] = d
        else:
            dropped.append(d)
    return carried, dropped


def resolve_pending(state: ApprovalState, on_pending: str) -> Resolution:
    """The state a candidate enters with at its entry time.

    Pending follows the policy (approve -> APPROVED, skip -> SKIPPED "not approved");
    approved, vetoed and skipped stay as they are. Only APPROVED goes on to the entry checks.
    """
    if on_pending not in (ON_PENDING_APPROVE, ON_PENDING_SKIP):
        raise ValueError(f"on_pending must be 'approve' or 'skip', got {on_pending!r}")
    if state is ApprovalState.PENDING:
        if on_pending == ON_PENDING_APPROVE:
            return Resolution(ApprovalState.APPROVED, AUTO_APPROVED)
        return Resolution(ApprovalState.SKIPPED, NOT_APPROVED)
    if state is ApprovalState.APPROVED:
        return Resolution(state, APPROVED_BY_USER)
    if state is ApprovalState.VETOED:
        return Resolution(state, VETOED_BY_USER)
    return Resolution(state, NOT_APPROVED)
