"""Steps a restart finds done in the store, though their ``step.done`` row is missing.

A process killed after a step's work but before its ``step.done`` audit row (group A's
market-on-open orders sent at 09:25, the process gone at 09:26) comes back after the step's
deadline: the timetable calls the step "missed". Warning "group A market-on-open orders not
sent" would then be false: they were sent, and maybe filled while the process was down
(issue 12 item 8). So before a missed step is reported, the store is asked whether the step's
work is there:

* the scan: the scan of the previous session is stored;
* the gap filter: every candidate has its gap result;
* group A / group B: every candidate of the group that the step had to decide (gap-passed,
  not vetoed) has its decision on record (an entry order, an entry check, a rejection, or
  group B's confirmation), and there was at least one;
* the end of day: the daily performance row is stored.

What cannot be told from the store (the open, the cutoff, the time exit, the close: their
effects are at the broker, which the reconciliation brings back) stays "missed".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from workstation.core.models import ApprovalState, OrderIntent
from workstation.engine.scheduler import StepName
from workstation.store import CandidateRow, Store

#: The audit actions that record a candidate's entry decision for a session.
DECISION_ACTIONS = ("entry.rejected", "entry.confirmation")


def decided_candidates(store: Store, session: date) -> set[int]:
    """Candidates with an entry decision of ``session`` on record."""
    ids = {
        o.candidate_id
        for o in store.orders_for_session(session)
        if o.intent == OrderIntent.ENTRY and o.candidate_id is not None
    }
    ids |= {c.candidate_id for c in store.entry_checks(session)}
    day = session.isoformat()
    for action in DECISION_ACTIONS:
        for row in store.audit_log(action=action, limit=None):
            d = row.detail or {}
            if d.get("session") == day and row.subject.startswith("candidate:"):
                ids.add(int(row.subject.removeprefix("candidate:")))
    return ids


def found_done(
    step: StepName,
    session: date,
    store: Store,
    *,
    scan_stored: bool,
    candidates: Iterable[CandidateRow],
) -> str | None:
    """What shows ``step`` of ``session`` was done before a restart, or None."""
    cands = list(candidates)
    if step is StepName.SCAN:
        return "the scan is stored" if scan_stored else None
    if step is StepName.GAP_FILTER:
        gaps = {g.candidate_id for g in store.gap_results(session)}
        if cands and all(c.id in gaps for c in cands):
            return f"gap results for all {len(cands)} candidates are stored"
        return None
    if step in (StepName.GROUP_A, StepName.GROUP_B):
        group = "A" if step is StepName.GROUP_A else "B"
        passed = {g.candidate_id for g in store.gap_results(session) if g.passed}
        # A vetoed candidate is never entered (group A: no record; it is paper-tracked).
        due = [c.id for c in cands if c.grp == group and c.id in passed and not _vetoed(c)]
        decided = decided_candidates(store, session)
        done = [i for i in due if i in decided]
        if due and len(done) == len(due):
            entries = sum(
                1
                for o in store.orders_for_session(session)
                if o.intent == OrderIntent.ENTRY and o.candidate_id in set(due)
            )
            return (
                f"all {len(due)} group {group} decisions are stored "
                f"({entries} entry order{'s' if entries != 1 else ''} sent)"
            )
        return None
    if step is StepName.EOD:
        rows = store.daily_performance(session, session)
        return "the day's performance row is stored" if rows else None
    return None


def _vetoed(c: CandidateRow) -> bool:
    return str(c.approval) == str(ApprovalState.VETOED)


__all__ = ["DECISION_ACTIONS", "decided_candidates", "found_done"]
