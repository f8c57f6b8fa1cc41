"""Approvals of trading rules §7: the on_pending policy and the decision deadline."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from workstation.core.calendar import ET, get_calendar
from workstation.core.config import ApprovalConfig, ScheduleConfig
from workstation.core.models import ApprovalState, Group
from workstation.engine.rules.approval import (
    ALREADY_RESOLVED,
    APPROVED_BY_USER,
    AUTO_APPROVED,
    AUTO_EXPIRED,
    NOT_APPROVED,
    NOTHING_TO_UNDO,
    REFUSALS,
    TOO_LATE,
    UNDONE_BY_USER,
    VETOED_BY_USER,
    Decided,
    can_decide,
    carry_decisions,
    entry_time,
    expire_pending,
    on_pending_policy,
    rescan_refusal,
    resolve_pending,
    user_decision,
    user_undo,
)

P, A, V, S = (
    ApprovalState.PENDING,
    ApprovalState.APPROVED,
    ApprovalState.VETOED,
    ApprovalState.SKIPPED,
)


@pytest.mark.parametrize(
    ("state", "policy", "expected", "reason"),
    [
        (P, "approve", A, AUTO_APPROVED),
        (P, "skip", S, NOT_APPROVED),
        (A, "skip", A, APPROVED_BY_USER),
        (A, "approve", A, APPROVED_BY_USER),
        (V, "approve", V, VETOED_BY_USER),
        (V, "skip", V, VETOED_BY_USER),
        (S, "approve", S, NOT_APPROVED),
    ],
    ids=[
        "pending-approve-policy",
        "pending-skip-policy-not-approved",
        "approved-stays-under-skip",
        "approved-stays-under-approve",
        "vetoed-stays-under-approve",
        "vetoed-stays-under-skip",
        "skipped-is-final",
    ],
)
def test_resolve_pending(state, policy, expected, reason) -> None:
    got = resolve_pending(state, policy)
    assert got.state is expected
    assert got.reason == reason
    st, rs = got
    assert (st, rs) == (expected, reason)


def test_not_approved_wording() -> None:
    assert resolve_pending(P, "skip").reason == "not approved"


def test_bad_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="on_pending"):
        resolve_pending(P, "maybe")


def test_policy_defaults_per_market() -> None:
    cfg = ApprovalConfig()
    assert on_pending_policy(cfg, real_broker=False) == "approve"
    assert on_pending_policy(cfg, real_broker=True) == "skip"


CAL = get_calendar()
SCHED = ScheduleConfig()
ENTRY_SESSION = date(2024, 3, 12)  # a Tuesday, after the DST change of 2024-03-10


@pytest.mark.parametrize(
    ("group", "hhmm"),
    [(Group.A, (9, 25)), (Group.B, (9, 50))],
    ids=["group-A-0925", "group-B-0950"],
)
def test_entry_time(group, hhmm) -> None:
    t = entry_time(group, ENTRY_SESSION, SCHED, CAL)
    assert t == datetime(2024, 3, 12, *hhmm, tzinfo=ET)
    assert t.utcoffset() == timedelta(hours=-4)  # EDT after the change


@pytest.mark.parametrize(
    ("offset", "allowed"),
    [
        (timedelta(hours=-13), True),  # at the 20:00 scan the evening before
        (timedelta(seconds=-1), True),
        (timedelta(0), False),  # at the entry time the policy has already decided
        (timedelta(seconds=1), False),
    ],
    ids=["evening-before", "one-second-before", "at-entry-time", "after-entry-time"],
)
def test_can_decide_until_entry_time(offset, allowed) -> None:
    deadline = entry_time(Group.A, ENTRY_SESSION, SCHED, CAL)
    assert can_decide(deadline + offset, deadline) is allowed


def test_group_b_can_still_be_decided_after_group_a_deadline() -> None:
    now = datetime(2024, 3, 12, 9, 40, tzinfo=ET)
    assert not can_decide(now, entry_time(Group.A, ENTRY_SESSION, SCHED, CAL))
    assert can_decide(now, entry_time(Group.B, ENTRY_SESSION, SCHED, CAL))


def test_user_decision() -> None:
    deadline = datetime(2024, 3, 12, 9, 25, tzinfo=ET)
    before = deadline - timedelta(minutes=5)
    assert user_decision(P, True, before, deadline) == (A, APPROVED_BY_USER)
    assert user_decision(P, False, before, deadline) == (V, VETOED_BY_USER)
    assert user_decision(A, False, before, deadline) == (V, VETOED_BY_USER)  # change of mind
    assert user_decision(V, True, before, deadline) == (A, APPROVED_BY_USER)
    assert user_decision(P, True, deadline, deadline) == (P, TOO_LATE)
    assert user_decision(A, False, deadline, deadline) == (A, TOO_LATE)
    assert user_decision(S, True, before, deadline) == (S, ALREADY_RESOLVED)


DEADLINE = datetime(2024, 3, 12, 9, 25, tzinfo=ET)
BEFORE, AT, AFTER = timedelta(seconds=-1), timedelta(0), timedelta(seconds=1)


@pytest.mark.parametrize(
    ("action", "state", "offset", "expected", "reason"),
    [
        # approve: from pending or a veto until one second before the entry time
        ("approve", P, BEFORE, A, APPROVED_BY_USER),
        ("approve", V, BEFORE, A, APPROVED_BY_USER),
        ("approve", A, BEFORE, A, APPROVED_BY_USER),
        ("approve", P, AT, P, TOO_LATE),
        ("approve", V, AFTER, V, TOO_LATE),
        ("approve", S, BEFORE, S, ALREADY_RESOLVED),
        # veto: the same boundaries
        ("veto", P, BEFORE, V, VETOED_BY_USER),
        ("veto", A, BEFORE, V, VETOED_BY_USER),
        ("veto", A, AT, A, TOO_LATE),
        ("veto", P, AFTER, P, TOO_LATE),
        ("veto", S, AFTER, S, ALREADY_RESOLVED),
        # undo: back to pending, only from a decision, only before the entry time
        ("undo", A, BEFORE, P, UNDONE_BY_USER),
        ("undo", V, BEFORE, P, UNDONE_BY_USER),
        ("undo", A, AT, A, TOO_LATE),
        ("undo", V, AT, V, TOO_LATE),
        ("undo", V, AFTER, V, TOO_LATE),
        ("undo", P, BEFORE, P, NOTHING_TO_UNDO),
        ("undo", S, BEFORE, S, ALREADY_RESOLVED),
        ("undo", S, AFTER, S, ALREADY_RESOLVED),
    ],
)
def test_user_commands_at_the_entry_time_boundary(action, state, offset, expected, reason) -> None:
    now = DEADLINE + offset
    if action == "undo":
        got = user_undo(state, now, DEADLINE)
    else:
        got = user_decision(state, action == "approve", now, DEADLINE)
    assert got == (expected, reason)
    if got.reason in REFUSALS:  # a refusal never changes the state
        assert got.state is state


@pytest.mark.parametrize(
    ("state", "offset", "expected"),
    [
        (P, BEFORE, None),  # still decidable: left alone
        (P, AT, (S, AUTO_EXPIRED)),  # at the entry time nobody can decide it any more
        (P, AFTER, (S, AUTO_EXPIRED)),
        (A, AFTER, None),  # decisions stand
        (V, AFTER, None),
        (S, AFTER, None),
    ],
)
def test_expire_pending_after_the_entry_time(state, offset, expected) -> None:
    assert expire_pending(state, DEADLINE + offset, DEADLINE) == expected


@pytest.mark.parametrize(
    ("offset", "allowed"),
    [(timedelta(hours=-13), True), (BEFORE, True), (AT, False), (AFTER, False)],
    ids=["evening-before", "one-second-before", "at-group-a-entry", "after"],
)
def test_a_list_may_be_replaced_only_before_its_first_entry_time(offset, allowed) -> None:
    why = rescan_refusal(date(2024, 3, 11), DEADLINE + offset, DEADLINE)
    assert (why == "") is allowed
    if not allowed:
        assert "is traded from Tue 2024-03-12 09:25 ET" in why and "never re-run" in why


def _d(symbol: str, strategy: str, state: ApprovalState, cid: int) -> Decided:
    return Decided(symbol, strategy, state, f"note {cid}", cid)


def test_decisions_carry_to_the_same_symbol_and_strategy() -> None:
    previous = [
        _d("AAA", "momentum", A, 1),  # same key in the new list: carried
        _d("BBB", "squeeze", V, 2),  # carried
        _d("CCC", "pullback", A, 3),  # the new list has CCC under another strategy: dropped
        _d("DDD", "momentum", V, 4),  # not in the new list: dropped
        _d("EEE", "momentum", P, 5),  # pending: nothing to carry
        _d("FFF", "momentum", S, 6),  # a policy's resolution is not the user's decision
    ]
    new = [("AAA", "momentum"), ("BBB", "squeeze"), ("CCC", "reversion"), ("EEE", "momentum")]
    carried, dropped = carry_decisions(previous, new)
    assert carried == {("AAA", "momentum"): previous[0], ("BBB", "squeeze"): previous[1]}
    assert dropped == [previous[2], previous[3]]
    assert carry_decisions([], new) == ({}, [])
