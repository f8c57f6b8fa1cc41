"""The health checks at their boundaries, on plain inputs (the CLI tests plant real faults)."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from workstation.core.calendar import ET, get_calendar
from workstation.core.config import Config
from workstation.core.models import (
    Order,
    OrderIntent,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from workstation.health.checks import (
    HealthInputs,
    Status,
    check_backup,
    check_disk,
    check_protection,
    check_scan,
    check_steps,
    expected_stop_levels,
)
from workstation.store.rows import PositionRow, ScanRow

CAL = get_calendar()
CFG = Config()
MON, TUE = date(2024, 3, 11), date(2024, 3, 12)


def et(d: date, h: int, m: int) -> datetime:
    return datetime(d.year, d.month, d.day, h, m, tzinfo=ET)


def inputs(now: datetime, **over: Any) -> HealthInputs:
    base = HealthInputs(
        now=now,
        wall=now.timestamp(),
        cfg=CFG,
        calendar=CAL,
        scans={},
        any_scan=True,
        steps_done={},
        positions=(),
        open_orders=(),
        broker_positions={},
        broker_orders=(),
    )
    return dataclasses.replace(base, **over)


def scan(session: date, started: datetime, status: str = "ok") -> ScanRow:
    return ScanRow(
        1, session, "sim", "h", status, None if status == "ok" else "boom", "TREND",
        500, 400, 0, 0, [], [], 2.0, started, started, None, {}, {},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("now", "scans", "status", "words"),
    [
        (et(MON, 20, 29), {}, Status.OK, "the scan of 2024-03-08"),  # Friday's, within grace
        (et(MON, 20, 31), {}, Status.FAILED, "the scan of 2024-03-11 (due 2024-03-11 20:00"),
        (et(MON, 20, 31), {MON: scan(MON, et(MON, 20, 0))}, Status.OK, "ran at"),
        (et(MON, 21, 0), {MON: scan(MON, et(MON, 20, 31))}, Status.DEGRADED, "ran late"),
        (et(MON, 21, 0), {MON: scan(MON, et(MON, 20, 0), "failed")}, Status.FAILED, "boom"),
    ],
    ids=["previous-within-grace", "missed", "on-time", "late", "failed"],
)
def test_scan(now: datetime, scans: dict, status: Status, words: str) -> None:
    friday = date(2024, 3, 8)
    scans = {friday: scan(friday, et(friday, 20, 0)), **scans}
    got = check_scan(inputs(now, scans=scans))
    assert got.status is status and words in got.message, got


@pytest.mark.parametrize(
    ("now", "done", "status"),
    [
        (et(TUE, 9, 29), {}, Status.OK),  # 09:25 + 5 min grace not reached
        (et(TUE, 9, 31), {}, Status.DEGRADED),  # premarket/gap/A late, their deadlines ahead
        (et(TUE, 9, 34), {"premarket": "done", "gap_filter": "done"}, Status.FAILED),  # A 09:28
        (et(TUE, 9, 34), {"premarket": "done", "gap_filter": "done", "group_a": "missed"},
         Status.FAILED),
        (et(TUE, 9, 36), {"premarket": "done", "gap_filter": "done", "group_a": "done",
                          "open": "done"}, Status.OK),
    ],
    ids=["not-due", "late", "deadline-passed", "missed", "all-done"],
)  # fmt: skip
def test_steps(now: datetime, done: dict[str, str], status: Status) -> None:
    got = check_steps(inputs(now, steps_done={TUE: done}))
    assert got.status is status, got


def position(**over: Any) -> PositionRow:
    row = PositionRow(
        id=1, symbol="XYZ", side="long", qty=100, avg_entry=50.0, entry_session=MON,
        entry_at=et(MON, 9, 30), strategy="bb_squeeze", candidate_id=None, sl=45.0, tp=57.5,
        sl_mult=2.5, tp_mult=3.0, atr14=2.0, stop_client_order_id="s", status="open",
        closed_at=None, updated_at=et(MON, 9, 30),
    )  # fmt: skip
    return dataclasses.replace(row, **over)


def stop(price: float, qty: int = 100) -> Order:
    req = OrderRequest(
        "s", "XYZ", OrderSide.SELL, qty, OrderType.STOP, TimeInForce.GTC,
        stop_price=price, intent=OrderIntent.STOP,
    )  # fmt: skip
    return Order(req, OrderStatus.ACCEPTED)


def test_the_stop_level_follows_the_day_and_a_hand_moved_sl() -> None:
    day2 = inputs(et(TUE, 11, 0), steps_done={TUE: {"premarket": "done"}})
    assert expected_stop_levels(position(), day2) == {45.0}  # the rule's SL from day 2
    moved = position(sl_manual=47.5)
    assert expected_stop_levels(moved, day2) == {47.5}  # the trader's
    day1 = inputs(et(MON, 11, 0), steps_done={MON: {"premarket": "done"}})
    assert expected_stop_levels(moved, day1) == {46.5}  # day 1: emergency only (50 * 0.93)
    before_premarket = inputs(et(TUE, 9, 0), steps_done={MON: {"premarket": "done"}})
    assert expected_stop_levels(position(), before_premarket) == {46.5}  # still day 1's

    ok = check_protection(
        dataclasses.replace(day2, positions=(moved,), broker_orders=(stop(47.5),))
    )
    assert ok.status is Status.OK
    bad = check_protection(
        dataclasses.replace(day2, positions=(moved,), broker_orders=(stop(45.0),))
    )
    assert bad.status is Status.FAILED and bad.details == (
        "XYZ: stop at 45.0 but the rules say 47.50",
    )
    short = check_protection(
        dataclasses.replace(day2, positions=(position(),), broker_orders=(stop(45.0, 60),))
    )
    assert short.details == ("XYZ: the stop covers 60 of 100 shares",)


@pytest.mark.parametrize(
    ("free", "status"), [(99.0, Status.FAILED), (499.0, Status.DEGRADED), (500.0, Status.OK)]
)
def test_disk(free: float, status: Status) -> None:
    assert check_disk(inputs(et(MON, 12, 0), free_disk_mb=free)).status is status


def test_backup_age() -> None:
    now = et(MON, 12, 0)
    fresh = inputs(now, last_backup=now - timedelta(hours=25))
    stale = inputs(now, last_backup=now - timedelta(hours=27))
    assert check_backup(fresh).status is Status.OK
    assert check_backup(stale).status is Status.DEGRADED
    assert check_backup(inputs(now)).status is Status.DEGRADED  # none yet
