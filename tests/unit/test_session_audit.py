"""The money decisions of a session on record (issue 12 items 5, 6 and 11).

* The session's starting equity is fixed in the store when the session starts; a restart
  (a new process on the same store and exchange) reads it back.
* The drawdown peak includes every session's starting equity; the peak sizing used is stored.
* Each run of the entry checks is stored with every input, so a sizing decision can be
  re-checked from the store alone; the official opens, the broker's shortable flags and the
  daily-loss check's equity marks are columns too.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from tests.unit.session_rig import DAY1, DAY2, SCAN, SessionRig, at, new_candidate, run
from workstation.core.config import build_section
from workstation.core.models import Side
from workstation.engine.rules.entries import EntryCandidate, EntryContext, check_entry
from workstation.engine.rules.sizing import drawdown, position_size
from workstation.store import EntryCheckRow, Store


def _tape(rig: SessionRig, symbol: str, session=DAY1, **kw) -> None:  # type: ignore[no-untyped-def]
    kw.setdefault("prev_close", 100.0)
    kw.setdefault("open", 100.0)
    kw.setdefault("premarket", [(at("09:00", session), 100.0)])
    rig.market.tape(symbol, session, **kw)


def test_a_restart_keeps_the_session_s_starting_equity(tmp_path: Path) -> None:
    """Issue 12.5: killed in the first session (no end-of-day equity before it), the restart
    took the broker's equity of the moment (99,985.20) as the day's start."""
    rig = SessionRig(tmp_path, start=at("09:00"))
    _tape(rig, "AAA")

    async def first() -> None:
        await rig.start()
        await rig.until(at("09:25"))
        await rig.session.premarket(DAY1)
        assert rig.session.start_equity == 100_000.0
        await rig.until(at("10:00"))
        await rig.hold("AAA", 100, 100.0)
        rig.broker.on_price("AAA", 99.852, at("10:30"))  # equity 99,985.20

    run(first())  # ... and the process is killed: no stop(), no bookkeeping
    s = rig.restarted()

    async def second() -> None:
        assert await s.start() == []
        await s.premarket(DAY1)  # runs again after a restart: it starts the day
        assert s.start_equity == 100_000.0
        await rig.until(at("16:05"))
        summary = await s.end_of_day(DAY1)
        assert summary.start_equity == 100_000.0
        assert summary.end_equity == pytest.approx(99_985.2)
        await s.stop()

    run(second())
    start = rig.store.session_start(DAY1)
    assert start is not None and (start.start_equity, start.source) == (100_000.0, "broker")
    [perf] = rig.store.daily_performance()
    assert (perf.start_equity, perf.pnl) == (100_000.0, pytest.approx(-14.8))


def _losing_first_day(rig: SessionRig) -> None:
    """DAY1 starts at 100,000 (the broker's: no earlier end of day) and loses 9%."""

    async def day1() -> None:
        await rig.start()
        await rig.until(at("09:25"))
        await rig.session.premarket(DAY1)
        await rig.until(at("10:00"))
        await rig.hold("AAA", 1_000, 100.0)
        rig.broker.on_price("AAA", 91.0, at("15:00"))  # equity 91,000: 9% below the start
        await rig.until(at("16:05"))
        await rig.session.end_of_day(DAY1)
        await rig.session.stop()

    run(day1())


def test_the_drawdown_peak_includes_the_starting_equity(tmp_path: Path) -> None:
    """Issue 12.6: the first end of day recorded its own equity (91,000) as the peak with
    drawdown 0, so the next day's sizing did not halve its risk 9% below the start."""
    rig = SessionRig(tmp_path, start=at("09:00"))
    _tape(rig, "AAA")
    _losing_first_day(rig)
    [snap] = rig.store.equity_snapshots(DAY1)
    assert (snap.equity, snap.peak_equity) == (91_000.0, 100_000.0)
    assert snap.drawdown == pytest.approx(0.09)
    assert rig.store.peak_equity() == 100_000.0

    rig.scan([new_candidate(1, "BBB", grp="A", atr14=2.0, sl_mult=1.5)], session=DAY1)
    _tape(rig, "BBB", session=DAY2)

    async def day2() -> None:
        await rig.until(at("09:25", DAY2))
        await rig.session.premarket(DAY2)
        await rig.session.gap_filter(DAY2)
        await rig.session.enter_group_a(DAY2)
        await rig.session.stop()

    run(day2())
    [check] = rig.store.entry_checks(DAY2)
    assert (check.equity, check.peak_equity) == (91_000.0, 100_000.0)  # the peak sizing used
    assert check.drawdown == pytest.approx(0.09)
    assert check.risk_per_trade == 0.0025  # halved: 9% > 8% below the peak
    # 91,000 * 0.25% / (1.5 * 2) = 75 shares (unhalved: 151)
    assert check.ok and check.qty == 75
    [order] = [o for o in rig.store.orders_for_session(DAY2) if o.intent == "entry"]
    assert order.qty == 75 and order.client_order_id == check.client_order_id


def _recheck(store: Store, row: EntryCheckRow) -> tuple[int, str, float]:
    """The decision again, from the store's rows alone: (qty, reason, risk per trade)."""
    params = store.param_set(row.param_hash)
    assert params is not None
    risk = build_section("risk.yaml", yaml.safe_load(params.yaml)["risk"])
    c = EntryCandidate(
        symbol=row.symbol,
        sector=row.sector,
        side=Side(row.side),
        price=row.price,
        atr14=row.atr14,
        sl_mult=row.sl_mult,
        shortable=bool(row.shortable),
        easy_to_borrow=bool(row.easy_to_borrow),
    )
    dd = drawdown(row.equity, row.peak_equity)
    assert dd == pytest.approx(row.drawdown)
    ctx = EntryContext(
        kill_switch_engaged=row.kill_switch,
        held=frozenset({row.symbol}) if row.already_held else frozenset(),
        exited_today=frozenset({row.symbol}) if row.exited_today else frozenset(),
        open_positions=row.open_positions,
        pending_entries=row.pending_entries,
        sector_counts={row.sector: row.sector_count},
        regime_max_positions=row.regime_max_positions,
        equity=row.equity,
        buying_power=row.buying_power,
        gross_exposure=row.gross_exposure,
        drawdown=dd,
    )
    decision = check_entry(c, ctx, risk)
    size = position_size(
        row.equity, row.price, row.atr14, row.sl_mult, risk.sizing, row.gross_exposure, dd
    )
    return decision.qty, decision.reason, size.risk_per_trade_used


def test_every_entry_decision_can_be_rechecked_from_the_store_alone(tmp_path: Path) -> None:
    rig = SessionRig(tmp_path, start=at("15:00", SCAN))
    rig.scan(
        [
            new_candidate(1, "AAA", grp="A", atr14=2.0, sl_mult=1.5),
            new_candidate(2, "NOS", grp="B", side="short", atr14=1.0, sl_mult=2.0),
            new_candidate(3, "EEE", grp="B", atr14=0.5, sl_mult=2.0, close=50.0),
        ]
    )
    _tape(rig, "AAA", open=100.5)
    _tape(rig, "NOS", prints=[(at("09:45"), 99.0)])
    _tape(rig, "EEE", prev_close=50.0, open=50.0, premarket=[(at("09:00"), 50.0)])
    rig.market.tapes[("EEE", DAY1)].prints.append((at("09:45"), 50.5))

    async def scenario() -> None:
        await rig.hold("HHH", 200, 100.0)  # the day before: an existing position counts
        await rig.start()
        await rig.until(at("09:25"))
        s = rig.session
        await s.premarket(DAY1)
        await s.gap_filter(DAY1)
        await s.enter_group_a(DAY1)
        await rig.until(at("09:30"))
        await s.market_open(DAY1)
        await rig.until(at("09:50:01"))
        await s.enter_group_b(DAY1)
        await s.check_daily_loss()
        await s.stop()

    run(scenario())
    checks = {c.symbol: c for c in rig.store.entry_checks(DAY1)}
    assert set(checks) == {"AAA", "NOS", "EEE"}
    for row in checks.values():
        qty, reason, risk = _recheck(rig.store, row)
        assert (qty, reason) == (row.qty, row.reason), row.symbol
        assert risk == row.risk_per_trade
        assert row.equity > 0 and math.isfinite(row.gross_exposure)
    aaa, nos, eee = checks["AAA"], checks["NOS"], checks["EEE"]
    assert aaa.ok and aaa.grp == "A" and aaa.open_positions == 1  # HHH
    assert aaa.gross_exposure == pytest.approx(20_000.0)
    assert (aaa.shortable, aaa.easy_to_borrow) == (True, True)
    assert not nos.ok and nos.reason == "NOT_SHORTABLE" and nos.check_number == 5
    assert (nos.shortable, nos.easy_to_borrow) == (False, False)  # the broker's flags
    assert eee.ok and eee.open_positions == 2  # AAA filled at the open
    orders = {o.symbol: o for o in rig.store.orders_for_session(DAY1) if o.intent == "entry"}
    for sym in ("AAA", "EEE"):
        assert orders[sym].qty == checks[sym].qty
        assert orders[sym].client_order_id == checks[sym].client_order_id
    assert nos.client_order_id is None and "NOS" not in orders
    # The official opens the open step read (group A's reference, B's confirmation base).
    opens = rig.store.official_opens(DAY1)
    assert {s: r.price for s, r in opens.items()} == {"AAA": 100.5, "NOS": 100.0, "EEE": 50.0}
    # The daily-loss check's equity, beside the start it was measured from.
    [mark] = rig.store.equity_marks(DAY1)
    assert mark.start_equity == rig.session.start_equity and mark.loss_limit == 0.02
    assert not mark.engaged and mark.equity == pytest.approx(rig.broker.account_sync().equity)


def test_a_restart_after_the_close_reports_the_day_from_its_stored_start(tmp_path: Path) -> None:
    """The end-of-day summary (what the alerts send) after a restart past the close, when the
    premarket step does not run again: P&L from the start fixed at 09:25, not from the
    equity at the restart."""
    rig = SessionRig(tmp_path, start=at("09:00"))
    _tape(rig, "AAA", prints=[(at("15:59"), 97.0)])  # the closing print: equity 99,700

    async def first() -> None:
        await rig.start()
        await rig.until(at("09:25"))
        await rig.session.premarket(DAY1)
        await rig.until(at("10:00"))
        await rig.hold("AAA", 100, 100.0)

    run(first())  # killed before the close
    s = rig.restarted()
    summaries: list = []  # type: ignore[type-arg]

    async def second() -> None:
        await rig.until(at("16:02"))
        assert await s.start() == []
        summaries.append(await s.run_day(DAY1))
        await s.stop()

    run(second())
    [summary] = summaries
    assert summary is not None
    assert (summary.start_equity, summary.end_equity) == (100_000.0, pytest.approx(99_700.0))
    [perf] = rig.store.daily_performance()
    assert (perf.start_equity, perf.pnl) == (100_000.0, pytest.approx(-300.0))
