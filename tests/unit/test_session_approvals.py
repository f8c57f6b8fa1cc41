"""Approvals (rules §7): approve / veto with a note until the entry time, the on_pending
policy at the entry time (sim: approve; a real broker: skip, "not approved")."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.session_rig import DAY1, DAY2, SessionRig, at, new_candidate, run
from workstation.core.config import ApprovalConfig, RiskConfig
from workstation.engine.api import CommandRefused
from workstation.engine.session_events import ApprovalChanged, EntryRejected
from workstation.engine.views import Mode


def _tapes(rig: SessionRig, *symbols: str) -> None:
    for s in symbols:
        rig.market.tape(
            s,
            prev_close=100.0,
            open=100.2,
            premarket=[(at("09:00"), 100.1)],
            prints=[(at("09:49"), 100.3)],
        )


def test_approve_and_veto_with_notes_until_the_entry_time(tmp_path: Path) -> None:
    rig = SessionRig(tmp_path)
    a, b = rig.scan([new_candidate(1, "AAA", grp="A"), new_candidate(2, "EEE", grp="B")])

    async def scenario() -> None:
        await rig.start()
        s = rig.session
        s.veto(a, "earnings tomorrow")
        s.approve(a, "earnings moved")  # a mind may change until the entry time
        s.veto(a, "no after all")
        await rig.until(at("09:24:59"))
        s.approve(b, "looks fine")
        await rig.until(at("09:25"))
        # group A's entry time is 09:25 (exclusive): too late now
        with pytest.raises(CommandRefused, match="too late"):
            s.approve(a, "please")
        s.veto(b, "changed my mind")  # group B decides until 09:50
        await rig.until(at("09:50"))
        with pytest.raises(CommandRefused, match="too late"):
            s.approve(b)
        with pytest.raises(CommandRefused, match="no candidate"):
            s.approve(99_999)

    run(scenario())
    history = [(h.state, h.note, h.source) for h in rig.store.approvals_for(a)]
    assert history == [
        ("vetoed", "earnings tomorrow", "user"),
        ("approved", "earnings moved", "user"),
        ("vetoed", "no after all", "user"),
    ]
    assert [(h.state, h.note) for h in rig.store.approvals_for(b)] == [
        ("approved", "looks fine"),
        ("vetoed", "changed my mind"),
    ]
    changes = [(e.candidate_id, e.state) for e in rig.of_type(ApprovalChanged)]
    assert changes == [
        (a, "vetoed"),
        (a, "approved"),
        (a, "vetoed"),
        (b, "approved"),
        (b, "vetoed"),
    ]


@pytest.mark.parametrize(
    ("mode", "state", "entered"),
    [(Mode.SIM, "approved", True), (Mode.PAPER, "skipped", False)],
    ids=["sim-approves", "broker-skips"],
)
def test_a_pending_candidate_follows_on_pending_at_its_entry_time(
    tmp_path: Path, mode: Mode, state: str, entered: bool
) -> None:
    rig = SessionRig(tmp_path, mode=mode)
    (a,) = rig.scan([new_candidate(1, "AAA", grp="A")])
    _tapes(rig, "AAA")

    async def scenario() -> None:
        await rig.start()
        await rig.until(at("09:25"))
        await rig.session.premarket(DAY1)
        await rig.session.gap_filter(DAY1)
        await rig.session.enter_group_a(DAY1)
        await rig.session.stop()

    run(scenario())
    row = rig.store.get_candidate(a)
    assert row is not None and (row.approval, row.approval_source) == (state, "policy")
    [hist] = rig.store.approvals_for(a)
    assert hist.source == "policy" and hist.at == at("09:25")
    if entered:
        assert "on_pending = approve" in (hist.note or "")
        assert [o.symbol for o in rig.entry_orders()] == ["AAA"]
        assert rig.rejections() == []
    else:
        assert hist.note == "not approved"
        assert rig.entry_orders() == []
        assert rig.rejections() == [("AAA", "NOT_APPROVED", 0)]
        [ev] = rig.of_type(EntryRejected)
        assert (ev.symbol, ev.reason) == ("AAA", "NOT_APPROVED")


def test_an_approved_candidate_is_entered_and_a_vetoed_one_is_not(tmp_path: Path) -> None:
    # pending is skipped by this policy
    rig = SessionRig(tmp_path, risk=RiskConfig(approval=ApprovalConfig(on_pending_sim="skip")))
    a, b, c = rig.scan([new_candidate(1, "AAA"), new_candidate(2, "EEE"), new_candidate(3, "FFF")])
    _tapes(rig, "AAA", "EEE", "FFF")

    async def scenario() -> None:
        await rig.start()
        rig.session.approve(a, "go")
        rig.session.veto(b, "no")
        await rig.until(at("09:25"))
        await rig.session.premarket(DAY1)
        await rig.session.gap_filter(DAY1)
        await rig.session.enter_group_a(DAY1)
        await rig.session.stop()

    run(scenario())
    assert [o.symbol for o in rig.entry_orders()] == ["AAA"]
    states = {i: rig.store.get_candidate(i).approval for i in (a, b, c)}  # type: ignore[union-attr]
    assert states == {a: "approved", b: "vetoed", c: "skipped"}
    assert rig.rejections() == [("FFF", "NOT_APPROVED", 0)]  # a veto is not a rejection


def test_undo_returns_a_decision_to_pending_until_the_entry_time(tmp_path: Path) -> None:
    rig = SessionRig(tmp_path, risk=RiskConfig(approval=ApprovalConfig(on_pending_sim="skip")))
    a, b = rig.scan([new_candidate(1, "AAA", grp="A"), new_candidate(2, "EEE", grp="B")])
    _tapes(rig, "AAA", "EEE")

    async def scenario() -> None:
        await rig.start()
        s = rig.session
        with pytest.raises(CommandRefused, match="nothing to undo"):
            s.undo_decision(a)
        s.approve(a, "typed by mistake")
        row = s.undo_decision(a)
        assert (row.approval, row.approval_note, row.approval_source) == ("pending", None, "user")
        s.veto(b, "earnings")
        await rig.until(at("09:24:59"))
        s.undo_decision(b)  # the last second before group A's entry time: group B still open
        s.approve(b, "fine after all")
        await rig.until(at("09:25"))
        await rig.session.premarket(DAY1)
        await rig.session.gap_filter(DAY1)
        await rig.session.enter_group_a(DAY1)
        with pytest.raises(CommandRefused, match="already resolved"):
            s.undo_decision(a)  # the policy resolved it (skipped): final
        await rig.until(at("09:49:59"))
        s.undo_decision(b)
        s.approve(b, "really")
        await rig.until(at("09:50"))
        with pytest.raises(CommandRefused, match="too late"):
            s.undo_decision(b)
        await rig.session.stop()

    run(scenario())
    assert [(h.state, h.source) for h in rig.store.approvals_for(a)] == [
        ("approved", "user"),
        ("pending", "user"),
        ("skipped", "policy"),  # pending at 09:25 with on_pending = skip: not entered
    ]
    assert rig.entry_orders() == []
    assert [h.state for h in rig.store.approvals_for(b)] == [
        "vetoed",
        "pending",
        "approved",
        "pending",
        "approved",
    ]
    undone = [e for e in rig.of_type(ApprovalChanged) if e.state == "pending"]
    assert [(e.candidate_id, e.previous, e.source) for e in undone] == [
        (a, "approved", "user"),
        (b, "vetoed", "user"),
        (b, "approved", "user"),
    ]
    audit = rig.store.audit_log(action="candidate.pending", limit=None)
    assert sorted((r.subject, r.detail["previous"]) for r in audit) == sorted(
        [
            (f"candidate:{a}", "approved"),
            (f"candidate:{b}", "vetoed"),
            (f"candidate:{b}", "approved"),
        ]
    )


def test_pending_candidates_of_a_session_never_run_expire(tmp_path: Path) -> None:
    """The app was closed over DAY1: at the next start, DAY1's candidates are not left
    "pending" for ever; they are recorded as expired (skipped, never entered)."""
    rig = SessionRig(tmp_path, start=at("08:00", DAY2))
    a, b = rig.scan([new_candidate(1, "AAA", grp="A"), new_candidate(2, "EEE", grp="B")])
    later = rig.scan([new_candidate(1, "FFF", grp="A")], session=DAY1)  # DAY2's own list

    async def scenario() -> None:
        await rig.start()
        await rig.session.stop()

    run(scenario())
    for cid in (a, b):
        row = rig.store.get_candidate(cid)
        assert row is not None and (row.approval, row.approval_source) == ("skipped", "policy")
        assert "expired" in (row.approval_note or "")
    assert rig.store.get_candidate(later[0]).approval == "pending"  # still decidable
    expired = [e for e in rig.of_type(ApprovalChanged) if e.source == "policy"]
    assert {(e.candidate_id, e.state, e.previous) for e in expired} == {
        (a, "skipped", "pending"),
        (b, "skipped", "pending"),
    }
