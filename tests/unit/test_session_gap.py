"""The 09:25 gap filter in the session (rules §8): a recorded result for EVERY candidate."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.session_rig import DAY1, SessionRig, at, new_candidate, run
from workstation.core.config import GapConfig, RiskConfig
from workstation.engine.session_events import GapChecked

SYMBOLS = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "HHH"]


def _setup(rig: SessionRig) -> list[int]:
    ids = rig.scan([new_candidate(i + 1, s) for i, s in enumerate(SYMBOLS)])
    m = rig.market
    m.tape("AAA", prev_close=100.0, premarket=[(at("08:00"), 102.0)])  # +2%
    m.tape("BBB", prev_close=100.0, premarket=[(at("08:00"), 103.0)])  # +3% exactly: passes
    m.tape("CCC", prev_close=100.0, premarket=[(at("08:00"), 96.99)])  # -3.01%: dropped
    m.tape("DDD", prev_close=100.0, quote=(at("09:20"), 99.0, 99.2))  # no trade: quote mid
    m.tape("EEE", prev_close=100.0)  # nothing before 09:25
    # the print AT 09:25 is not "before 09:25": the 08:00 one counts
    m.tape("FFF", prev_close=100.0, premarket=[(at("08:00"), 100.5), (at("09:25"), 110.0)])
    m.tape("HHH", prev_close=50.0, premarket=[(at("09:00"), 50.5)])  # the market's prev close
    return ids


def _gap(rig: SessionRig, *, late_at: str | None = None) -> None:
    async def scenario() -> None:
        await rig.start()
        await rig.until(at(late_at or "09:25"))
        await rig.session.gap_filter(DAY1, late=late_at is not None)

    run(scenario())


def test_every_candidate_gets_a_recorded_gap_result(tmp_path: Path) -> None:
    rig = SessionRig(tmp_path)
    ids = _setup(rig)
    _gap(rig)
    rows = {r.candidate_id: r for r in rig.store.gap_results(DAY1)}
    assert sorted(rows) == sorted(ids)
    got = {
        s: (rows[i].price, rows[i].source, rows[i].prev_close, rows[i].passed, rows[i].reason)
        for s, i in zip(SYMBOLS, ids, strict=True)
    }
    assert got == {
        "AAA": (102.0, "trade", 100.0, True, "GAP_WITHIN_LIMIT"),
        "BBB": (103.0, "trade", 100.0, True, "GAP_WITHIN_LIMIT"),
        "CCC": (96.99, "trade", 100.0, False, "GAP_TOO_LARGE"),
        "DDD": (pytest.approx(99.1), "quote", 100.0, True, "GAP_WITHIN_LIMIT"),
        "EEE": (None, "none", 100.0, True, "NO_PREMARKET_KEPT"),
        "FFF": (100.5, "trade", 100.0, True, "GAP_WITHIN_LIMIT"),
        "HHH": (50.5, "trade", 50.0, True, "GAP_WITHIN_LIMIT"),
    }
    assert rows[ids[0]].gap == pytest.approx(0.02)
    assert all(r.at == at("09:25") for r in rows.values())
    events = rig.of_type(GapChecked)
    assert [e.symbol for e in events] == SYMBOLS
    assert not any(e.late for e in events)
    audit = rig.store.audit_log(action="gap.checked", limit=None)
    assert len(audit) == len(SYMBOLS) and "beyond" in audit[2].detail["detail"]  # type: ignore[index]


def test_on_no_premarket_drop(tmp_path: Path) -> None:
    rig = SessionRig(tmp_path, risk=RiskConfig(gap=GapConfig(on_no_premarket="drop")))
    ids = _setup(rig)
    _gap(rig)
    row = {r.candidate_id: r for r in rig.store.gap_results(DAY1)}[ids[SYMBOLS.index("EEE")]]
    assert (row.passed, row.reason, row.source) == (False, "NO_PREMARKET_DROPPED", "none")


def test_a_late_gap_filter_judges_the_market_as_of_0925(tmp_path: Path) -> None:
    rig = SessionRig(tmp_path)
    ids = _setup(rig)
    rig.market.tapes[("AAA", DAY1)].premarket.append((at("09:26"), 120.0))  # after 09:25
    _gap(rig, late_at="09:40")
    rows = {r.candidate_id: r for r in rig.store.gap_results(DAY1)}
    aaa = rows[ids[0]]
    assert (aaa.price, aaa.passed) == (102.0, True)  # not the 09:26 print
    assert all(r.at == at("09:40") for r in rows.values())
    events = rig.of_type(GapChecked)
    assert all(e.late for e in events) and "run late at 09:40" in events[0].result.detail


def test_dropped_candidates_are_not_entered(tmp_path: Path) -> None:
    rig = SessionRig(tmp_path)
    _setup(rig)

    async def scenario() -> None:
        await rig.start()
        await rig.until(at("09:25"))
        await rig.session.premarket(DAY1)
        await rig.session.gap_filter(DAY1)
        await rig.session.enter_group_a(DAY1)
        await rig.session.stop()

    run(scenario())
    entered = [o.symbol for o in rig.entry_orders()]
    assert "CCC" not in entered
    # AAA, BBB, CCC, DDD are one sector: AAA, BBB, DDD fill it (the sector cap is 3)
    assert entered == ["AAA", "BBB", "DDD", "EEE", "FFF", "HHH"]
    assert all(o.tif == "opg" for o in rig.entry_orders())
