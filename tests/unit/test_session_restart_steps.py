"""A restart after a step's work but before its ``step.done`` row (issue 12 item 8): orders
sent (and filled while the process was down) are not reported "not sent"; a step whose work
is only partly on record is still reported missed."""

from __future__ import annotations

from pathlib import Path

from tests.unit.session_rig import DAY1, SessionRig, at, new_candidate, run
from workstation.engine.session import TradingSession
from workstation.engine.session_events import StepMissed


def _candidates(rig: SessionRig) -> None:
    rig.scan(
        [
            new_candidate(1, "AAA", grp="A"),
            new_candidate(2, "BBB", grp="A"),
            new_candidate(3, "EEE", grp="B"),
        ]
    )
    for sym, price in (("AAA", 100.0), ("BBB", 40.0), ("EEE", 50.0)):
        rig.market.tape(
            sym,
            prev_close=price,
            open=price,
            premarket=[(at("09:00"), price)],
            prints=[(at("09:50"), price * 1.01)],
        )


def _killed_after_group_a(rig: SessionRig, *, orders: int) -> None:
    """The first process: the gap filter and ``orders`` of group A's orders sent, then
    killed before any ``step.done`` row of the morning."""

    async def first() -> None:
        await rig.start()
        await rig.until(at("09:25"))
        s = rig.session
        await s.premarket(DAY1)
        await s.gap_filter(DAY1)
        if orders == 2:
            await s.enter_group_a(DAY1)
        else:  # killed in the middle of the step: BBB's turn never came
            [aaa] = [c for c in s.candidates(DAY1) if c.symbol == "AAA"]
            await s._try_enter(DAY1, aaa, 100.0, aaa.grp)  # type: ignore[arg-type]

    run(first())
    for o in rig.store.orders_for_session(DAY1):  # the done rows a kill would not write
        assert o.intent == "entry"
    # While it was down the market opened: the OPG orders filled at the exchange.
    rig.broker.on_open("AAA", 100.0, at("09:30"))
    rig.broker.on_open("BBB", 40.0, at("09:30"))


def _second(rig: SessionRig, tmp_path: Path, start: str) -> TradingSession:
    rig.events.clear()
    s = rig.restarted()

    async def second() -> None:
        await rig.until(at(start))
        assert await s.start() == []
        await s.run_day(DAY1)
        await s.stop()

    run(second())
    return s


def test_orders_sent_and_filled_while_down_are_not_reported_missed(tmp_path: Path) -> None:
    rig = SessionRig(tmp_path, start=at("09:00"))
    _candidates(rig)
    _killed_after_group_a(rig, orders=2)
    _second(rig, tmp_path, "10:30")
    missed = [e.step for e in rig.of_type(StepMissed)]
    # The gap filter and group A were done (their records are in the store); group B's
    # 09:50 confirmation really was missed (EEE was never decided).
    assert missed == ["group_b"]
    done = {
        r.detail["step"]: r.detail.get("found")
        for r in rig.store.audit_log(subject=f"session:{DAY1}", action="step.done", limit=None)
        if r.detail
    }
    assert done["group_a"] == "all 2 group A decisions are stored (2 entry orders sent)"
    assert done["gap_filter"] == "gap results for all 3 candidates are stored"
    filled = {o.symbol: o.status for o in rig.entry_orders()}
    assert filled == {"AAA": "filled", "BBB": "filled"}  # caught up by the reconciliation
    assert rig.rejections() == [("EEE", "WINDOW_MISSED", 0)]  # group B's, not A's


def test_a_step_killed_half_way_is_still_missed_for_the_rest(tmp_path: Path) -> None:
    rig = SessionRig(tmp_path, start=at("09:00"))
    _candidates(rig)
    _killed_after_group_a(rig, orders=1)
    _second(rig, tmp_path, "09:40")  # group B still on time
    assert [e.step for e in rig.of_type(StepMissed)] == ["group_a"]
    # BBB's order was never sent: recorded as missed, never sent late.
    assert ("BBB", "WINDOW_MISSED", 0) in rig.rejections()
    assert {o.symbol for o in rig.entry_orders()} == {"AAA", "EEE"}
