"""The whole day through the scheduler (run_day): a full day, late starts at 09:40 and 09:51,
the forced time exit at 15:50, and parameter reloads only between steps."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest

from tests.unit.session_rig import DAY1, SCAN, SessionRig, at, new_candidate, run
from workstation.core.config_files import ConfigManager
from workstation.core.events import ConfigRejected, ConfigReloaded, ScanFailed
from workstation.core.paths import Paths
from workstation.engine.api import CommandRefused
from workstation.engine.scanner import tradable_candidates
from workstation.engine.session_events import (
    SessionSummaryReady,
    StepMissed,
    StepStarted,
)


def _day(rig: SessionRig) -> list[int]:
    ids = rig.scan(
        [
            new_candidate(1, "AAA", grp="A"),
            new_candidate(2, "EEE", grp="B"),
            new_candidate(3, "FFF", grp="A"),
        ]
    )
    m = rig.market
    m.tape(
        "AAA",
        prev_close=100.0,
        open=100.5,
        premarket=[(at("09:00"), 100.4)],
        prints=[(at("10:30"), 101.0)],
    )
    m.tape(
        "EEE",
        prev_close=50.0,
        open=50.0,
        premarket=[(at("09:00"), 50.1)],
        prints=[(at("09:50"), 50.2)],
    )
    m.tape("FFF", prev_close=20.0, open=21.0, premarket=[(at("09:10"), 21.0)])  # +5%: dropped
    return ids


def test_a_full_day_from_the_evening_before(tmp_path: Path) -> None:
    rig = SessionRig(tmp_path)
    _day(rig)

    async def scenario() -> None:
        await rig.start()
        summary = await rig.session.run_day(DAY1)
        assert summary is not None
        assert rig.clock.now() == at("16:05")

    run(scenario())
    started = [(e.step, e.at.strftime("%H:%M:%S")) for e in rig.of_type(StepStarted)]
    assert started == [
        ("premarket", "09:25:00"),
        ("gap_filter", "09:25:00"),
        ("group_a", "09:25:00"),
        ("open", "09:30:00"),
        ("group_b", "09:50:01"),
        ("entry_cutoff", "10:00:01"),
        ("time_exit", "15:50:01"),
        ("close", "16:00:01"),
        ("eod", "16:05:00"),
    ]  # the scan was done at 20:00 (recorded), so it is not run again
    assert rig.of_type(StepMissed) == []
    [ready] = rig.of_type(SessionSummaryReady)
    s = ready.summary
    assert (s.session, s.scan_session, s.regime, s.market) == (DAY1, SCAN, "TREND", "tape")
    assert [(g["symbol"], g["passed"]) for g in s.gaps] == [
        ("AAA", True),
        ("EEE", True),
        ("FFF", False),
    ]
    assert [(e["symbol"], e["group"], e["status"]) for e in s.entries] == [
        ("AAA", "A", "filled"),
        ("EEE", "B", "filled"),
    ]
    assert {p["symbol"] for p in s.open_positions} == {"AAA", "EEE"}
    perf = rig.store.daily_performance()
    assert [(p.session, p.start_equity, p.trades) for p in perf] == [(DAY1, 100_000.0, 0)]
    assert perf[0].end_equity == pytest.approx(s.end_equity)
    [snap] = rig.store.equity_snapshots(DAY1)
    assert snap.at == at("16:05") and snap.equity == pytest.approx(s.end_equity)
    # the day's steps are recorded, so a restart does not run them again
    done = rig.store.audit_log(subject=f"session:{DAY1}", action="step.done", limit=None)
    assert len(done) == 1 + 9


@pytest.mark.parametrize(
    ("start", "missed", "entered", "reasons"),
    [
        # 09:40: group A's OPG window is over (never sent late); the gap filter runs late on
        # the market as of 09:25; group B still trades at 09:50
        ("09:40", ["group_a"], ["EEE"], [("AAA", "WINDOW_MISSED", 0)]),
        # 09:51: group B is over too; the gap filter is missed: everything dropped
        ("09:51", ["gap_filter", "group_a", "group_b"], [], []),
        ("10:01", ["gap_filter", "group_a", "group_b"], [], []),
    ],
    ids=["09:40", "09:51", "10:01"],
)
def test_late_starts(
    tmp_path: Path,
    start: str,
    missed: list[str],
    entered: list[str],
    reasons: list[tuple[str, str, int]],
) -> None:
    rig = SessionRig(tmp_path, start=at(start))
    _day(rig)

    async def scenario() -> None:
        await rig.start()
        await rig.session.run_day(DAY1)

    run(scenario())
    assert [e.step for e in rig.of_type(StepMissed)] == missed
    assert [o.symbol for o in rig.entry_orders()] == entered
    assert rig.rejections() == reasons
    gaps = {g.candidate_id: g for g in rig.store.gap_results(DAY1)}
    assert len(gaps) == 3  # every candidate has a gap result, even when the filter was missed
    if "gap_filter" in missed:
        assert {g.reason for g in gaps.values()} == {"GAP_FILTER_MISSED"}
        assert not any(g.passed for g in gaps.values())
    else:
        assert all(g.at == at(start) for g in gaps.values())
    actions = [r.detail["step"] for r in rig.store.audit_log(action="step.missed", limit=None)]
    assert actions == missed


def test_the_time_exit_fires_at_1550_on_day_5_without_a_print(tmp_path: Path) -> None:
    entry = date(2024, 3, 6)  # Wed: day 1; Tue 03-12 is day 5
    rig = SessionRig(tmp_path, start=at("10:00", entry))
    rig.scan([])
    rig.market.tape("AAA", prev_close=100.0, open=100.0)

    async def scenario() -> None:
        await rig.hold("AAA", 10, 100.0)
        await rig.until(at("19:00", SCAN))
        await rig.start()
        await rig.session.run_day(DAY1)

    run(scenario())
    [t] = rig.store.trades()
    assert (t.exit_reason, t.days_held, t.exit_at) == ("TIME_EXIT", 5, at("15:50:01"))


def test_reload_applies_between_steps_and_a_bad_file_is_refused(tmp_path: Path) -> None:
    paths = Paths.resolve(tmp_path / "home").ensure()
    manager = ConfigManager(paths.config_dir)
    rig = SessionRig(tmp_path)
    rig.session._manager = manager  # the session reads its parameters from the files
    rig.session._provider = None
    rig.session._cfg = manager.current
    before = rig.session.cfg.param_hash
    risk = paths.config_dir / "risk.yaml"
    text = risk.read_text()

    async def scenario() -> None:
        lock = rig.session._step_lock()
        await lock.acquire()  # a step is running
        risk.write_text(text.replace("max_abs_gap: 0.03", "max_abs_gap: 0.05"))
        task = asyncio.create_task(rig.session.reload_params())
        for _ in range(10):
            await asyncio.sleep(0)
        assert not task.done() and rig.session.cfg.param_hash == before  # waits for the step
        lock.release()
        assert await task == (True, ())
        assert rig.session.cfg.risk.gap.max_abs_gap == 0.05
        risk.write_text(text.replace("max_abs_gap: 0.03", "max_abs_gap: 3"))
        ok, errors = await rig.session.reload_params()
        assert not ok and "max_abs_gap" in errors[0]
        assert rig.session.cfg.risk.gap.max_abs_gap == 0.05  # the good set stays

    run(scenario())
    [reloaded] = rig.of_type(ConfigReloaded)
    assert reloaded.param_hash != before
    assert len(rig.of_type(ConfigRejected)) == 1


def test_run_scan_now_scans_the_last_completed_session(tmp_path: Path) -> None:
    rig = SessionRig(tmp_path, start=at("21:00", SCAN))  # Monday evening: Monday is closed
    rig.scan([new_candidate(1, "AAA")])  # the 20:00 scan had worked

    async def scenario() -> None:
        await rig.start()
        # the tape market has no daily bars: every try fails, the failure is recorded
        assert await rig.session.run_scan_now() is None
        assert rig.clock.now() == at("21:03", SCAN)  # the 60 s and 120 s backoffs
        # Tuesday noon: Monday's list is being traded; it is never re-run
        await rig.until(at("12:00"))
        with pytest.raises(CommandRefused, match="is traded from"):
            await rig.session.run_scan_now()

    run(scenario())
    failed = [e for e in rig.of_type(ScanFailed)]
    assert [(e.session, e.attempt, e.final) for e in failed] == [
        (SCAN, 1, False),
        (SCAN, 2, False),
        (SCAN, 3, True),
    ]
    assert [s.status for s in rig.store.scans_for_session(SCAN)] == ["ok", "failed"]
    assert tradable_candidates(rig.store, SCAN)  # a failed re-run never hides the list
