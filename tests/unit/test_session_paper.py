"""Paper tracking of vetoed candidates (rules §7): what a veto would have done, with the
same entry and exit rules, beside the real trades."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.session_rig import CAL, DAY1, DAY2, SessionRig, at, new_candidate, run
from workstation.core.config import RiskConfig
from workstation.core.events import EventBus
from workstation.engine.paper import PaperTracker
from workstation.engine.session_events import PaperTrackClosed, PaperTrackOpened
from workstation.engine.store_views import StoreViews


def test_vetoed_candidates_are_paper_tracked_with_the_same_rules(tmp_path: Path) -> None:
    rig = SessionRig(tmp_path)
    ids = rig.scan(
        [
            new_candidate(1, "AAA", grp="A"),  # vetoed: in at the open, emergency on day 1
            new_candidate(2, "EEE", grp="B"),  # vetoed: confirmed at 09:50, TP on day 2
            new_candidate(3, "FFF", grp="B"),  # vetoed: not confirmed -> never "entered"
            new_candidate(4, "GGG", grp="A"),  # vetoed: dropped by the gap filter
            new_candidate(5, "HHH", grp="A"),  # approved: a real trade
        ]
    )
    m = rig.market
    m.tape(
        "AAA",
        prev_close=100.0,
        open=100.0,
        premarket=[(at("09:00"), 100.0)],
        prints=[(at("10:30"), 95.0), (at("11:00"), 92.99)],
    )
    m.tape(
        "EEE",
        prev_close=100.0,
        open=100.0,
        premarket=[(at("09:00"), 100.0)],
        prints=[(at("09:50"), 100.0), (at("11:00"), 105.0)],
    )
    m.tape("EEE", DAY2, prev_close=105.0, open=105.0, prints=[(at("10:00", DAY2), 106.0)])
    m.tape(
        "FFF",
        prev_close=100.0,
        open=100.0,
        premarket=[(at("09:00"), 100.0)],
        prints=[(at("09:50"), 99.0)],
    )
    m.tape("GGG", prev_close=100.0, open=110.0, premarket=[(at("09:00"), 110.0)])
    m.tape("HHH", prev_close=50.0, open=50.0, premarket=[(at("09:00"), 50.0)])

    async def scenario() -> None:
        await rig.start()
        s = rig.session
        for cid in ids[:4]:
            s.veto(cid, "not convinced")
        await rig.until(at("09:25"))
        await s.premarket(DAY1)
        await s.gap_filter(DAY1)
        await s.enter_group_a(DAY1)
        await rig.until(at("09:30"))
        await s.market_open(DAY1)
        await rig.until(at("09:50:01"))
        await s.enter_group_b(DAY1)
        await rig.until(at("12:00"))
        await s.stop()
        await rig.until(at("09:25", DAY2))
        await s.premarket(DAY2)  # the stream carries the open paper tracks
        await rig.until(at("10:01", DAY2))
        await s.stop()

    run(scenario())
    tracks = {p.symbol: p for p in rig.store.paper_tracks()}
    assert sorted(tracks) == ["AAA", "EEE"]
    aaa, eee = tracks["AAA"], tracks["EEE"]
    assert (aaa.entry_price, aaa.entry_at, aaa.status) == (100.0, at("09:30"), "closed")
    assert (aaa.exit_price, aaa.exit_reason) == (92.99, "EMERGENCY")
    assert aaa.r_multiple == pytest.approx(-7.01 / 3.0)
    assert (eee.entry_price, eee.entry_at) == (100.0, at("09:50"))
    assert (eee.exit_price, eee.exit_reason, eee.exit_at) == (
        106.0,
        "TAKE_PROFIT",
        at("10:00", DAY2),
    )
    assert eee.qty == 150 and eee.pnl == pytest.approx(900.0)  # sized like a real entry
    # the real trade is real; the vetoes are not
    assert [o.symbol for o in rig.entry_orders()] == ["HHH"]
    assert [e.symbol for e in rig.of_type(PaperTrackOpened)] == ["AAA", "EEE"]
    assert [(e.symbol, e.reason) for e in rig.of_type(PaperTrackClosed)] == [
        ("AAA", "EMERGENCY"),
        ("EEE", "TAKE_PROFIT"),
    ]


def test_open_paper_tracks_survive_a_restart(tmp_path: Path) -> None:
    rig = SessionRig(tmp_path)
    (cid,) = rig.scan([new_candidate(1, "EEE", grp="B", side="short")])
    cand = rig.store.get_candidate(cid)
    assert cand is not None
    tracker = PaperTracker(rig.store, CAL, rig.clock, EventBus(), RiskConfig)
    tracker.restore()
    assert tracker.open(cand, 100.0, at("09:50"), 10) is not None
    assert tracker.open(cand, 101.0, at("09:51"), 10) is None  # once per candidate
    # a restart: a new tracker over the same store
    again = PaperTracker(rig.store, CAL, rig.clock, EventBus(), RiskConfig)
    assert again.restore() == 1 and again.symbols() == {"EEE"}
    assert again.on_price("EEE", 102.9, at("10:00")) == []  # day 1: only the emergency exit
    [closed] = again.on_price("EEE", 103.0, at("10:00", DAY2))  # day 2: the short's SL
    assert (closed.exit_reason, closed.exit_price, closed.pnl) == ("STOP_LOSS", 103.0, -30.0)
    assert again.symbols() == frozenset()


def test_every_veto_says_where_its_paper_outcome_stands(tmp_path: Path) -> None:
    """Each vetoed candidate is in the journal's list at every moment of the session:
    waiting for its entry time, followed on paper, closed, or not followed and why."""
    rig = SessionRig(tmp_path)
    ids = rig.scan(
        [
            new_candidate(1, "AAA", grp="A"),  # followed from the open, emergency exit
            new_candidate(2, "EEE", grp="B"),  # confirmed at 09:50: followed
            new_candidate(3, "FFF", grp="B"),  # not confirmed at 09:50
            new_candidate(4, "GGG", grp="A"),  # dropped by the gap filter
            new_candidate(5, "HHH", grp="A"),  # approved: not a veto, not listed
        ]
    )
    m = rig.market
    for sym, prints in (
        ("AAA", [(at("11:00"), 92.99)]),
        ("EEE", [(at("09:50"), 100.0)]),
        ("FFF", [(at("09:50"), 99.0)]),
    ):
        m.tape(sym, prev_close=100.0, open=100.0, premarket=[(at("09:00"), 100.0)], prints=prints)
    m.tape("GGG", prev_close=100.0, open=110.0, premarket=[(at("09:00"), 110.0)])
    m.tape("HHH", prev_close=50.0, open=50.0, premarket=[(at("09:00"), 50.0)])
    seen: dict[str, dict[str, tuple[str, str]]] = {}

    def look(moment: str) -> None:
        seen[moment] = {v.symbol: (str(v.state), v.why) for v in StoreViews(rig.session).vetoes()}

    async def scenario() -> None:
        await rig.start()
        s = rig.session
        for cid in ids[:4]:
            s.veto(cid, "not convinced")
        look("vetoed")
        await rig.until(at("09:25"))
        await s.premarket(DAY1)
        await s.gap_filter(DAY1)
        await s.enter_group_a(DAY1)
        look("09:25")
        await rig.until(at("09:30"))
        await s.market_open(DAY1)
        look("09:30")
        await rig.until(at("09:50:01"))
        await s.enter_group_b(DAY1)
        await rig.until(at("12:00"))
        look("12:00")
        await s.stop()

    run(scenario())
    waiting = "waiting"
    assert {k: v[0] for k, v in seen["vetoed"].items()} == dict.fromkeys(
        ("AAA", "EEE", "FFF", "GGG"), waiting
    )
    assert seen["vetoed"]["AAA"][1] == (
        "followed on paper from the open, if it passes the gap filter"
    )
    assert seen["09:25"]["GGG"] == ("not followed", "dropped at the gap filter: gap too large")
    assert seen["09:25"]["AAA"] == (
        waiting,
        "passed the gap filter: followed on paper from the open",
    )
    assert seen["09:25"]["EEE"][0] == waiting
    assert seen["09:30"]["AAA"] == ("following", "followed on paper from 100.00")
    assert seen["09:30"]["FFF"][0] == waiting  # 09:50 has not come
    assert seen["12:00"] == {
        "AAA": ("closed", "paper exit: emergency exit"),
        "EEE": ("following", "followed on paper from 100.00"),
        "FFF": ("not followed", "not confirmed at 09:50"),
        "GGG": ("not followed", "dropped at the gap filter: gap too large"),
    }
    closed = {v.symbol: v for v in StoreViews(rig.session).vetoes()}["AAA"]
    assert (closed.exit_price, closed.exit_reason, closed.note) == (
        92.99,
        "EMERGENCY",
        "not convinced",
    )
    assert closed.r == pytest.approx(-7.01 / 3.0)
