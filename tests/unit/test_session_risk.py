"""Portfolio risk in the session (rules §9-§11): the kill switch and the daily loss limit,
flatten commands, no same-day re-entry, drawdown halving from the stored equity peak."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.session_rig import DAY1, DAY2, SCAN, SessionRig, at, new_candidate, run
from workstation.core.events import LogEvent
from workstation.engine.session_events import KillSwitchChanged
from workstation.engine.views import Mode


def _tape(rig: SessionRig, symbol: str, session=DAY1, **kw) -> None:  # type: ignore[no-untyped-def]
    kw.setdefault("prev_close", 100.0)
    kw.setdefault("open", 100.0)
    kw.setdefault("premarket", [(at("09:00", session), 100.0)])
    rig.market.tape(symbol, session, **kw)


def _record_eod_equity(rig: SessionRig, equity: float) -> None:
    rig.store.record_equity(
        at=at("16:05", SCAN),
        session=SCAN,
        equity=equity,
        cash=equity,
        day_pnl=0.0,
        peak_equity=equity,
        drawdown=0.0,
    )


@pytest.mark.parametrize(
    ("start_equity", "engaged"),
    [
        (100_000.0 / 0.98, True),  # equity now is exactly 2% below the session's start
        (100_000.01 / 0.98, True),  # a cent beyond
        (99_999.99 / 0.98, False),  # a cent short of -2%
    ],
    ids=["exactly-2pct", "beyond", "a-cent-short"],
)
def test_the_daily_loss_limit_at_exactly_2pct(
    tmp_path: Path, start_equity: float, engaged: bool
) -> None:
    rig = SessionRig(tmp_path, start=at("10:00", SCAN))
    rig.scan([new_candidate(1, "BBB", grp="A"), new_candidate(2, "EEE", grp="B")])
    _tape(rig, "AAA")
    _tape(rig, "BBB")
    _tape(rig, "EEE", prints=[(at("09:50"), 100.0)])
    _record_eod_equity(rig, start_equity)

    async def scenario() -> None:
        await rig.hold("AAA", 100, 100.0)  # equity stays 100,000 (no slippage)
        await rig.start()
        await rig.until(at("09:25"))
        s = rig.session
        await s.premarket(DAY1)
        assert s.start_equity == start_equity
        await s.gap_filter(DAY1)
        await s.enter_group_a(DAY1)  # BBB's market-on-open order is out
        assert await s.check_daily_loss() is engaged
        await rig.until(at("09:50:01"))
        await s.enter_group_b(DAY1)
        await s.stop()

    run(scenario())
    bbb = rig.entry_orders()[0]
    assert bbb.symbol == "BBB"
    assert rig.session.kill.engaged is engaged
    if engaged:
        assert bbb.status == "canceled"  # open entry orders are canceled
        assert rig.rejections() == [("EEE", "KILL_SWITCH", 1)]  # entries blocked
        [ev] = rig.of_type(KillSwitchChanged)
        assert (ev.engaged, ev.reason) == (True, "DAILY_LOSS")
        [row] = rig.store.audit_log(action="kill_switch.engaged", limit=None)
        assert row.detail is not None and row.detail["session"] == DAY1.isoformat()
        assert rig.store.open_positions()[0].symbol == "AAA"  # flattening is separate
    else:
        assert bbb.status == "accepted"
        assert [o.symbol for o in rig.entry_orders()] == ["BBB", "EEE"]
        assert rig.of_type(KillSwitchChanged) == []


def test_a_falling_price_engages_it_and_the_next_session_releases_it(tmp_path: Path) -> None:
    rig = SessionRig(tmp_path, start=at("10:00", SCAN))
    rig.scan([])
    rig.scan([new_candidate(1, "EEE", grp="B")], session=DAY1)
    # Through the SL (97): -550 in all; the check runs when time moves on to the next print.
    _tape(rig, "AAA", prints=[(at("09:35"), 94.5), (at("09:35:05"), 94.5)])
    _record_eod_equity(rig, 101_500.0)  # the limit is 99,470
    _tape(rig, "EEE", session=DAY2, prints=[(at("09:50", DAY2), 100.0)])

    async def scenario() -> None:
        await rig.hold("AAA", 100, 100.0)
        await rig.start()
        s = rig.session
        await rig.until(at("09:25"))
        await s.premarket(DAY1)
        await rig.until(at("09:36"))
        assert s.kill.engaged and s.kill.reason == "DAILY_LOSS"
        await s.stop()
        await rig.until(at("09:25", DAY2))
        await s.premarket(DAY2)  # a new session: the daily-loss engagement ends
        assert not s.kill.engaged
        await s.gap_filter(DAY2)
        await rig.until(at("09:50:01", DAY2))
        await s.enter_group_b(DAY2)
        await s.stop()

    run(scenario())
    [trade] = rig.store.trades()
    assert (trade.symbol, trade.exit_reason, trade.exit_price) == ("AAA", "STOP_LOSS", 94.5)
    changes = [(e.engaged, e.reason) for e in rig.of_type(KillSwitchChanged)]
    assert changes == [(True, "DAILY_LOSS"), (False, "")]
    assert [o.symbol for o in rig.entry_orders(DAY2)] == ["EEE"]


def test_user_kill_switch_engage_flatten_release(tmp_path: Path) -> None:
    rig = SessionRig(tmp_path, start=at("10:00", SCAN))
    rig.scan([new_candidate(1, "EEE", grp="B")])
    for s in ("AAA", "BBB"):
        _tape(rig, s, prints=[(at("10:30"), 101.0)])
    _tape(rig, "EEE", prints=[(at("09:50"), 100.0)])

    async def scenario() -> None:
        await rig.hold("AAA", 10, 100.0)
        await rig.hold("BBB", 10, 100.0)
        await rig.start()
        s = rig.session
        await rig.until(at("09:25"))
        await s.premarket(DAY1)
        await s.gap_filter(DAY1)
        await s.engage_kill_switch()
        await rig.until(at("09:50:01"))
        await s.enter_group_b(DAY1)
        await rig.until(at("10:31"))
        await s.exit_position("AAA")  # MANUAL
        result = await s.engage_kill_switch(flatten=True)  # KILL_SWITCH for the rest
        assert result is not None and [o.symbol for o in result.orders] == ["BBB"]
        await s.release_kill_switch()
        assert not s.kill.engaged
        await s.stop()

    run(scenario())
    assert rig.rejections() == [("EEE", "KILL_SWITCH", 1)]
    reasons = {t.symbol: (t.exit_reason, t.exit_price) for t in rig.store.trades()}
    assert reasons == {"AAA": ("MANUAL", 101.0), "BBB": ("KILL_SWITCH", 101.0)}
    assert rig.store.open_positions() == []
    changes = [(e.engaged, e.reason) for e in rig.of_type(KillSwitchChanged)]
    assert changes == [(True, "USER"), (False, "")]
    actors = [r.actor for r in rig.store.audit_log(action="kill_switch.engaged", limit=None)]
    assert actors == ["user"]


def test_flatten_all_exits_every_position_as_manual(tmp_path: Path) -> None:
    rig = SessionRig(tmp_path, start=at("10:00", SCAN))
    rig.scan([])
    for s in ("AAA", "EEE"):
        _tape(rig, s, prints=[(at("11:00"), 99.0)])

    async def scenario() -> None:
        await rig.hold("AAA", 10, 100.0)
        await rig.hold("EEE", 20, 100.0, side="short")
        await rig.start()
        await rig.until(at("09:25"))
        await rig.session.premarket(DAY1)
        await rig.until(at("11:01"))
        result = await rig.session.flatten_all()
        assert sorted(o.symbol for o in result.orders) == ["AAA", "EEE"]
        await rig.session.stop()

    run(scenario())
    trades = {t.symbol: (t.exit_reason, t.side, t.pnl) for t in rig.store.trades()}
    assert trades == {
        "AAA": ("MANUAL", "long", pytest.approx(-10.0)),
        "EEE": ("MANUAL", "short", pytest.approx(20.0)),
    }
    assert rig.broker.positions_sync() == {}
    assert [o for o in rig.broker.open_orders_sync()] == []  # no stop left behind


def test_no_same_day_reentry(tmp_path: Path) -> None:
    rig = SessionRig(tmp_path, start=at("10:00", SCAN))
    rig.scan([new_candidate(1, "AAA", grp="B")])
    # held since the scan day: day 2 today, SL 97; stopped out at 09:40, confirmed at 09:50
    _tape(rig, "AAA", open=98.0, prints=[(at("09:40"), 96.9), (at("09:50"), 98.0)])

    async def scenario() -> None:
        await rig.hold("AAA", 10, 100.0)
        await rig.start()
        s = rig.session
        await rig.until(at("09:25"))
        await s.premarket(DAY1)
        await s.gap_filter(DAY1)
        await rig.until(at("09:30"))
        await s.market_open(DAY1)
        await rig.until(at("09:50:01"))
        await s.enter_group_b(DAY1)
        await s.stop()

    run(scenario())
    [trade] = rig.store.trades()
    assert (trade.exit_reason, trade.exit_price) == ("STOP_LOSS", 96.9)
    assert rig.rejections() == [("AAA", "REENTRY_SAME_DAY", 2)]
    assert rig.entry_orders() == []


@pytest.mark.parametrize(
    ("peak", "qty", "halved"),
    [(120_000.0, 83, True), (108_695.65, 150, False)],
    ids=["16pct-below-peak-halves", "exactly-8pct-does-not"],
)
def test_drawdown_from_the_stored_peak_halves_the_risk(
    tmp_path: Path, peak: float, qty: int, halved: bool
) -> None:
    rig = SessionRig(tmp_path)
    rig.store.record_equity(
        at=at("16:05", date_before(SCAN)),
        session=date_before(SCAN),
        equity=peak,
        cash=peak,
        day_pnl=0.0,
        peak_equity=peak,
        drawdown=0.0,
    )
    rig.scan([new_candidate(1, "AAA", atr14=2.0, sl_mult=1.5)])
    _tape(rig, "AAA")

    async def scenario() -> None:
        await rig.start()
        await rig.until(at("09:25"))
        await rig.session.premarket(DAY1)
        await rig.session.gap_filter(DAY1)
        await rig.session.enter_group_a(DAY1)
        await rig.session.stop()

    run(scenario())
    [o] = rig.entry_orders()
    assert o.qty == qty  # 100,000 * 0.0025 / 3 = 83; unhalved 166, capped at 15% = 150
    [row] = rig.store.audit_log(action="entry.submitted", limit=None)
    assert row.detail is not None and ("halved" in row.detail["sizing"]) is halved


def date_before(d):  # type: ignore[no-untyped-def]
    from tests.unit.session_rig import CAL

    return CAL.previous_session(d)


# -- §14: an unconfirmed price jump is not acted on ------------------------------------------
def _exit_orders(rig: SessionRig) -> list[object]:
    return [
        o for d in (SCAN, DAY1, DAY2) for o in rig.store.orders_for_session(d) if o.intent == "exit"
    ]


def _paper_rig(tmp_path: Path) -> SessionRig:
    # No simulated exchange behind the prints: what is tested is what the ENGINE decides (the
    # broker's protective stop, the protection meanwhile, is the broker's business).
    rig = SessionRig(tmp_path, start=at("10:00", SCAN), mode=Mode.PAPER)
    rig.scan([])
    return rig


async def _held_through(rig: SessionRig, until: str) -> None:
    """AAA held since the scan session (100 shares at 100), then DAY1 until ``until``."""
    await rig.hold("AAA", 100, 100.0)
    await rig.start()
    await rig.until(at("09:25"))
    await rig.session.premarket(DAY1)
    await rig.until(at(until))
    await rig.session.stop()


def test_a_single_bad_print_does_not_exit_a_held_position(tmp_path: Path) -> None:
    """Issue 12: a held symbol's print at 0.01 was a STOP_LOSS exit at 0.01 (R -17.98)."""
    rig = _paper_rig(tmp_path)
    _tape(
        rig,
        "AAA",
        prints=[(at("09:35"), 100.5), (at("09:40"), 0.01), (at("09:40:05"), 100.4)],
    )

    run(_held_through(rig, "09:45"))  # held since SCAN: day 2 on DAY1, SL 97 active
    assert _exit_orders(rig) == []
    pos = rig.session.book.position("AAA")
    assert pos is not None and pos.mae_price == pytest.approx(100.0)  # 0.01 never counted
    held = [e for e in rig.of_type(LogEvent) if "AAA" in e.message and "not acted on" in e.message]
    assert len(held) == 1 and "-100.0% from the last accepted 100.5" in held[0].message
    assert rig.session.prints.held == 1


@pytest.mark.parametrize(
    ("prints", "exits"),
    [
        pytest.param([("09:40", 75.0), ("09:40:10", 74.5)], True, id="confirmed-10s-later"),
        pytest.param([("09:40", 75.0), ("09:41", 74.5)], True, id="confirmed-exactly-60s-later"),
        pytest.param([("09:40", 75.0), ("09:41:01", 74.5)], False, id="second-print-too-late"),
        pytest.param([("09:40", 75.0), ("09:40:10", 99.0)], False, id="back-to-normal"),
    ],
)
def test_a_real_drop_prints_twice_and_is_acted_on(
    tmp_path: Path, prints: list[tuple[str, float]], exits: bool
) -> None:
    rig = _paper_rig(tmp_path)
    _tape(rig, "AAA", prints=[(at("09:35"), 100.0)] + [(at(t), p) for t, p in prints])

    run(_held_through(rig, "09:50"))
    orders = _exit_orders(rig)
    assert bool(orders) is exits
    if exits:
        [decided] = rig.store.audit_log(action="exit.decided", limit=None)
        assert decided.detail is not None and decided.detail["exit_reason"] == "STOP_LOSS"


@pytest.mark.parametrize(
    ("second", "exits"),
    [
        pytest.param(73.5, True, id="a-crash-prints-again-emergency"),
        pytest.param(99.5, False, id="a-bad-tick-does-not"),
    ],
)
def test_day_1_emergency_exits_follow_the_same_rule(
    tmp_path: Path, second: float, exits: bool
) -> None:
    rig = SessionRig(tmp_path, start=at("09:20"), mode=Mode.PAPER)
    rig.scan([])
    _tape(rig, "AAA", prints=[(at("10:05"), 74.0), (at("10:05:20"), second)])

    async def scenario() -> None:
        await rig.start()
        await rig.until(at("09:25"))
        await rig.session.premarket(DAY1)
        await rig.until(at("10:00"))
        await rig.hold("AAA", 100, 100.0)  # entered today: day 1, emergency level 93
        await rig.session.refresh_stream()
        await rig.until(at("10:10"))
        await rig.session.stop()

    run(scenario())
    assert bool(_exit_orders(rig)) is exits
    if exits:
        [decided] = rig.store.audit_log(action="exit.decided", limit=None)
        assert decided.detail is not None and decided.detail["exit_reason"] == "EMERGENCY"


def test_the_first_print_of_a_session_is_judged_against_the_position(tmp_path: Path) -> None:
    rig = _paper_rig(tmp_path)
    _tape(rig, "AAA", prints=[(at("09:31"), 0.01), (at("09:35"), 100.2)])

    run(_held_through(rig, "09:40"))  # a new session: the guard starts from the position
    assert _exit_orders(rig) == []
    pos = rig.session.book.position("AAA")
    assert pos is not None and pos.last_price == pytest.approx(100.2)
    assert pos.mae_price == pytest.approx(100.0)
