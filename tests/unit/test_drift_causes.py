"""The drift report's causes, one row per record that explains a difference (issue 11.3).

The end-to-end test (tests/research/test_drift.py) plants a veto, a rejection and a manual
exit in a real week; this table covers every other way a trade can differ, on records built
by hand: what the live store recorded about a signal or a trade, and the cause it must give.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import pytest

from workstation.core.calendar import ET
from workstation.research.evidence.drift import FOLLOW_ON, Cause, DriftReport, compare
from workstation.research.evidence.records import Records, Signal, Trade

DAY = date(2024, 3, 12)
KEY = (DAY, "AAA", "rsi_reversion")


def _at(hm: str, d: date = DAY) -> datetime:
    h, m = hm.split(":")[:2]
    s = int(hm.split(":")[2]) if hm.count(":") == 2 else 0
    return datetime(d.year, d.month, d.day, int(h), int(m), s, tzinfo=ET)


def _signal(**kw: object) -> Signal:
    base = Signal(
        key=KEY,
        candidate_id=1,
        side="long",
        group="A",
        rank=1,
        regime="TREND",
        approval="approved",
        approval_source="policy",
        approval_note=None,
        gap_passed=True,
        gap_source="trade",
        gap_reason=None,
        rejection=None,
        rejection_check=None,
        rejection_detail="",
        confirmed=None,
        entry_status="filled",
        entry_reject_reason=None,
        entered=True,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def _trade(**kw: object) -> Trade:
    base = Trade(
        key=KEY,
        position_id=1,
        candidate_id=1,
        side="long",
        group="A",
        qty=100,
        entry_price=50.0,
        entry_at=_at("09:30"),
        exit_price=52.0,
        exit_at=_at("14:00", date(2024, 3, 14)),
        exit_session=date(2024, 3, 14),
        exit_reason="TAKE_PROFIT",
        pnl=200.0,
        r=1.0,
        levels_moved=False,
        exit_requested_by_user=False,
    )
    t = replace(base, **kw)  # type: ignore[arg-type]
    if "pnl" not in kw and t.exit_price is not None:  # the P&L the prices make
        t = replace(t, pnl=t.sign * (t.exit_price - t.entry_price) * t.qty)
    return t


def _records(
    signal: Signal | None = None,
    trade: Trade | None = None,
    **extra: object,
) -> Records:
    rec = Records(DAY, DAY)
    if signal is not None:
        rec.signals[signal.key] = signal
    if trade is not None:
        rec.trades[trade.key] = trade
    rec.scans[DAY] = "ok"
    for k, v in extra.items():
        setattr(rec, k, v)
    return rec


# A trade the backtest made and the live account did not: what the live store says of the
# signal -> the cause.
BACKTEST_ONLY = [
    ("vetoed", _signal(approval="vetoed", approval_source="user", entered=False), Cause.VETO),
    (
        "not approved under on_pending skip",
        _signal(approval="skipped", approval_note="not approved", entered=False),
        Cause.VETO,
    ),
    (
        "expired: the app was down",
        _signal(approval="skipped", approval_note="expired: ...", entered=False),
        Cause.MISSED,
    ),
    (
        "dropped by the gap filter",
        _signal(gap_passed=False, gap_reason="gap 4.1% > 3.0%", entered=False),
        Cause.GAP,
    ),
    (
        "broker refused",
        _signal(rejection="BROKER_REJECTED", rejection_detail="halted", entered=False),
        Cause.REJECTION,
    ),
    (
        "entry order rejected",
        _signal(entry_status="rejected", entry_reject_reason="x", entered=False),
        Cause.REJECTION,
    ),
    (
        "not filled before the cut-off",
        _signal(entry_status="canceled", entered=False),
        Cause.MISSED,
    ),
    (
        "window missed",
        _signal(rejection="WINDOW_MISSED", entered=False),
        Cause.MISSED,
    ),
    (
        "not confirmed at 09:50",
        _signal(group="B", confirmed=False, entry_status=None, entered=False),
        Cause.DATA,
    ),
    (
        "not shortable at the broker",
        _signal(rejection="NOT_SHORTABLE", rejection_check=5, entered=False),
        Cause.DATA,
    ),
    (
        "no slot left",
        _signal(rejection="MAX_POSITIONS", rejection_check=3, entered=False),
        FOLLOW_ON,
    ),
    ("nothing recorded", _signal(entry_status=None, entered=False), Cause.UNEXPLAINED),
]


@pytest.mark.parametrize(
    ("label", "signal", "cause"), BACKTEST_ONLY, ids=[r[0] for r in BACKTEST_ONLY]
)
def test_a_trade_only_in_the_backtest_gets_the_cause_the_live_store_records(
    label: str, signal: Signal, cause: str
) -> None:
    bt = _trade()
    [diff] = compare(_records(signal), _records(_signal(), bt))
    assert diff.kind == "backtest_only"
    [att] = diff.attributions
    assert att.cause == cause, (label, att.why)
    assert att.pnl == pytest.approx(-200.0)


def test_missing_list_and_step_missed_are_missed_orders() -> None:
    bt = _trade()
    live = _records()
    live.scans.clear()
    [diff] = compare(live, _records(_signal(), bt))
    assert diff.attributions[0].cause == Cause.MISSED
    live = _records(_signal(entered=False, entry_status=None))
    live.missed_steps[DAY] = ["group_a"]
    [diff] = compare(live, _records(_signal(), bt))
    assert diff.attributions[0].cause == Cause.MISSED
    live = _records()  # the scan ran, the symbol is not on the live list
    [diff] = compare(live, _records(_signal(), bt))
    assert diff.attributions[0].cause == Cause.DATA


def test_the_kill_switch_is_manual_when_the_trader_engaged_it() -> None:
    s = _signal(rejection="KILL_SWITCH", rejection_check=1, entered=False)
    live = _records(s, kill_switch={DAY: "user"})
    [diff] = compare(live, _records(_signal(), _trade()))
    assert diff.attributions[0].cause == Cause.MANUAL
    live = _records(s, kill_switch={DAY: "engine"})  # the daily loss, on another equity
    [diff] = compare(live, _records(_signal(), _trade()))
    assert diff.attributions[0].cause == FOLLOW_ON


# A trade both made: how the live one differs -> the cause of its price difference.
BOTH = [
    ("closed by hand", _trade(exit_reason="MANUAL", exit_price=51.0), Cause.MANUAL, -100.0),
    ("levels moved", _trade(levels_moved=True, exit_price=51.5), Cause.MANUAL, -50.0),
    (
        "exit refused",
        _trade(rejected_exits=("asset not tradable",), exit_price=51.0),
        Cause.REJECTION,
        -100.0,
    ),
    ("stop hit instead", _trade(exit_reason="STOP_LOSS", exit_price=49.0), Cause.DATA, -300.0),
    (
        "gapped through the stop at the open",
        _trade(exit_reason="STOP_LOSS", exit_price=48.0, exit_at=_at("09:30", date(2024, 3, 14))),
        Cause.GAP,
        -200.0,
    ),
]


@pytest.mark.parametrize(("label", "live", "cause", "pnl"), BOTH, ids=[r[0] for r in BOTH])
def test_an_exit_that_differs_gets_the_cause_the_live_store_records(
    label: str, live: Trade, cause: str, pnl: float
) -> None:
    model = _trade()
    if label.startswith("gapped"):
        model = _trade(
            exit_reason="STOP_LOSS", exit_price=50.0, exit_at=_at("09:30", date(2024, 3, 14))
        )
    [diff] = compare(_records(_signal(), live), _records(_signal(), model))
    assert diff.kind == "both"
    [att] = diff.attributions
    assert att.cause == cause, (label, att.why)
    assert att.pnl == pytest.approx(pnl)
    assert diff.pnl_difference == pytest.approx((live.pnl or 0) - (model.pnl or 0))


def test_entry_price_at_the_open_is_the_gap_and_size_is_a_follow_on() -> None:
    live = _trade(entry_price=50.2, qty=90)
    model = _trade()
    [diff] = compare(_records(_signal(), live), _records(_signal(), model))
    causes = {a.cause: a.pnl for a in diff.attributions}
    assert set(causes) == {Cause.GAP, FOLLOW_ON}
    assert causes[Cause.GAP] == pytest.approx(-0.2 * 90)
    assert causes[FOLLOW_ON] == pytest.approx(-10 * 2.0)
    assert diff.entry_slippage == pytest.approx(0.2)
    # the split is exact: live P&L minus the backtest's
    assert diff.pnl_difference == pytest.approx((live.pnl or 0) - (model.pnl or 0))


def test_a_late_entry_is_a_late_order_and_a_short_mirrors_slippage() -> None:
    live = _trade(
        group="B", side="short", entry_at=_at("09:52:30"), entry_price=49.9, exit_price=48.0,
        pnl=(49.9 - 48.0) * 100,
    )  # fmt: skip
    model = _trade(group="B", side="short", entry_at=_at("09:50:01"), exit_price=48.0, pnl=200.0)
    [diff] = compare(_records(_signal(), live), _records(_signal(), model))
    [att] = diff.attributions
    assert att.cause == Cause.MISSED and "149 s" in att.why
    assert diff.entry_slippage == pytest.approx(0.1)  # sold 10 cents lower: worse for a short
    assert att.pnl == pytest.approx(-10.0)


def test_a_live_only_position_without_a_candidate_was_taken_on_by_hand() -> None:
    live = _trade(candidate_id=None)
    [diff] = compare(_records(None, live), _records())
    assert (diff.kind, diff.attributions[0].cause) == ("live_only", Cause.MANUAL)
    [diff] = compare(
        _records(_signal(), _trade()), _records(_signal(gap_passed=False, entered=False))
    )
    assert (diff.kind, diff.attributions[0].cause) == ("live_only", Cause.GAP)


def test_the_report_totals_by_cause_and_says_no_drift_when_all_match() -> None:
    same = compare(_records(_signal(), _trade()), _records(_signal(), _trade()))
    report = DriftReport(DAY, DAY, 1, "sim", ("h",), tuple(same), 200.0, 200.0)
    assert report.drift is False and report.totals() == [] and report.causes == set()
    doc = report.as_json()
    assert doc["drift"] is False and doc["summary"]["both"] == 1
    live = _trade(exit_reason="MANUAL", exit_price=51.0)
    diffs = compare(_records(_signal(), live), _records(_signal(), _trade()))
    report = DriftReport(DAY, DAY, 1, "sim", ("h",), tuple(diffs), 100.0, 200.0)
    [total] = report.totals()
    assert (total.cause, total.count, total.pnl) == (Cause.MANUAL, 1, pytest.approx(-100.0))
    assert report.as_json()["causes"][0]["label"] == "manual actions"
