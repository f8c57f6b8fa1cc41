"""Exits of trading rules §12: emergency on day 1, SL/TP from day 2, time exit on day 5."""

from __future__ import annotations

import math
from datetime import date, datetime

import pytest

from workstation.core.calendar import ET, get_calendar
from workstation.core.config import ExitConfig
from workstation.core.models import ExitReason, Position, Side
from workstation.engine.rules.exits import (
    HOLD,
    emergency_level,
    exit_decision,
    protective_stop_level,
)

CFG = ExitConfig()  # emergency 7%, SL/TP from day 2, time exit day 5 at 15:50
CAL = get_calendar()

E, SL, TP, TX = (
    ExitReason.EMERGENCY,
    ExitReason.STOP_LOSS,
    ExitReason.TAKE_PROFIT,
    ExitReason.TIME_EXIT,
)


def pos(side: Side, fill: float = 100.0, atr: float = 2.0, sl: float = 1.5, tp: float = 2.0):
    return Position(
        symbol="MSFT",
        side=side,
        qty=10,
        fill_price=fill,
        entry_session=date(2024, 3, 11),
        entry_at=datetime(2024, 3, 11, 9, 30, tzinfo=ET),
        strategy="rsi_reversion",
        atr14=atr,
        sl_mult=sl,
        tp_mult=tp,
    )


LONG = pos(Side.LONG)  # SL 97, TP 104, emergency 93
SHORT = pos(Side.SHORT, sl=2.0, tp=2.5)  # SL 104, TP 95, emergency 107
ODD = pos(Side.LONG, fill=47.13, atr=1.37, sl=2.5, tp=4.0)  # SL 43.705, TP 52.61, em. 43.8309
WIDE = pos(Side.LONG, atr=4.0, sl=2.5, tp=3.0)  # SL 90: below the emergency level

NOON = datetime(2024, 3, 12, 12, 0, tzinfo=ET)
TEX = datetime(2024, 3, 15, 15, 50, tzinfo=ET)  # a regular session's time exit


@pytest.mark.parametrize(
    ("p", "price", "day", "reason", "level"),
    [
        # day 1: emergency only
        (LONG, 93.0, 1, E, 93.0),
        (LONG, 93.01, 1, None, None),
        (LONG, 92.0, 1, E, 93.0),
        (SHORT, 107.0, 1, E, 107.0),
        (SHORT, 106.99, 1, None, None),
        (SHORT, 110.0, 1, E, 107.0),
        (ODD, 43.8309, 1, E, 43.8309),
        (ODD, 43.831, 1, None, None),
        (LONG, 96.0, 1, None, None),  # below the SL: no SL on day 1
        (LONG, 110.0, 1, None, None),  # above the TP: no TP on day 1
        (SHORT, 105.0, 1, None, None),
        (SHORT, 90.0, 1, None, None),
        # day 2: SL / TP, touching exactly exits
        (LONG, 97.0, 2, SL, 97.0),
        (LONG, 97.01, 2, None, None),
        (LONG, 104.0, 2, TP, 104.0),
        (LONG, 103.99, 2, None, None),
        (LONG, 92.0, 2, SL, 97.0),
        (SHORT, 104.0, 2, SL, 104.0),
        (SHORT, 103.99, 2, None, None),
        (SHORT, 95.0, 2, TP, 95.0),
        (SHORT, 95.01, 2, None, None),
        (ODD, 43.705, 2, SL, 43.705),  # 47.13 - 3.425 is 43.705000000000005 in floats
        (ODD, 52.61, 2, TP, 52.61),
        (ODD, 43.7051, 2, None, None),
        (WIDE, 92.0, 2, None, None),  # -8% on day 2: the emergency rule is day 1 only
        (WIDE, 90.0, 2, SL, 90.0),
        (LONG, 97.0, 4, SL, 97.0),
    ],
    ids=[
        "d1-long-minus-7pct-exactly",
        "d1-long-minus-6.99pct-holds",
        "d1-long-minus-8pct",
        "d1-short-plus-7pct-exactly",
        "d1-short-plus-6.99pct-holds",
        "d1-short-plus-10pct",
        "d1-odd-fill-minus-7pct-exactly",
        "d1-odd-fill-just-above",
        "d1-long-ignores-sl",
        "d1-long-ignores-tp",
        "d1-short-ignores-sl",
        "d1-short-ignores-tp",
        "d2-long-sl-touched-exactly",
        "d2-long-a-cent-above-sl",
        "d2-long-tp-touched-exactly",
        "d2-long-a-cent-below-tp",
        "d2-long-through-sl",
        "d2-short-sl-touched-exactly",
        "d2-short-a-cent-below-sl",
        "d2-short-tp-touched-exactly",
        "d2-short-a-cent-above-tp",
        "d2-odd-sl-exactly-float-noise",
        "d2-odd-tp-exactly",
        "d2-odd-just-above-sl",
        "d2-no-emergency-after-day-1",
        "d2-wide-sl-exactly",
        "d4-sl",
    ],
)
def test_price_exits(p, price, day, reason, level) -> None:
    d = exit_decision(p, price, NOON, day, CFG, TEX)
    assert d.exit is (reason is not None)
    assert d.reason == reason
    if level is None:
        assert d.level is None
    else:
        assert d.level == pytest.approx(level, rel=1e-12)


@pytest.mark.parametrize(
    ("day", "now", "texit", "exits"),
    [
        (5, datetime(2024, 3, 15, 15, 49, 59, tzinfo=ET), TEX, False),
        (5, datetime(2024, 3, 15, 15, 50, tzinfo=ET), TEX, True),
        (5, datetime(2024, 3, 15, 15, 59, tzinfo=ET), TEX, True),
        (
            4,
            datetime(2024, 3, 14, 15, 55, tzinfo=ET),
            datetime(2024, 3, 14, 15, 50, tzinfo=ET),
            False,
        ),
        (
            1,
            datetime(2024, 3, 11, 15, 55, tzinfo=ET),
            datetime(2024, 3, 11, 15, 50, tzinfo=ET),
            False,
        ),
        (
            6,
            datetime(2024, 3, 18, 9, 31, tzinfo=ET),
            datetime(2024, 3, 18, 15, 50, tzinfo=ET),
            True,
        ),
        (
            9,
            datetime(2024, 3, 21, 10, 0, tzinfo=ET),
            datetime(2024, 3, 21, 15, 50, tzinfo=ET),
            True,
        ),
    ],
    ids=[
        "d5-15:49:59-holds",
        "d5-15:50-exits",
        "d5-after-15:50-exits",
        "d4-15:55-holds",
        "d1-15:55-holds",
        "d6-stale-exits-at-open",
        "d9-stale-exits",
    ],
)
def test_time_exit(day, now, texit, exits) -> None:
    for p in (LONG, SHORT):
        d = exit_decision(p, 100.0, now, day, CFG, texit)
        assert d.exit is exits
        assert d.reason == (TX if exits else None)
        assert d.level is None


def test_time_exit_on_early_close() -> None:
    """2024-11-29 (day after Thanksgiving) closes at 13:00: the time exit is at 12:50."""
    session = date(2024, 11, 29)
    assert CAL.is_early_close(session)
    texit = CAL.time_exit_time(session, CFG.time_exit_at, CFG.early_close_minutes_before)
    assert texit == datetime(2024, 11, 29, 12, 50, tzinfo=ET)
    entry = date(2024, 11, 22)
    day = CAL.day_number(entry, session)
    assert day == 5  # 22, 25, 26, 27, (28 holiday), 29
    before = datetime(2024, 11, 29, 12, 49, 59, tzinfo=ET)
    at = datetime(2024, 11, 29, 12, 50, tzinfo=ET)
    assert exit_decision(LONG, 100.0, before, day, CFG, texit) == HOLD
    assert exit_decision(LONG, 100.0, at, day, CFG, texit).reason == TX


def test_day_five_from_the_calendar() -> None:
    entry, today = date(2024, 3, 11), date(2024, 3, 15)
    day = CAL.day_number(entry, today)
    assert day == 5
    texit = CAL.time_exit_time(today, CFG.time_exit_at, CFG.early_close_minutes_before)
    assert texit == TEX
    assert exit_decision(LONG, 100.0, TEX, day, CFG, texit).reason == TX


@pytest.mark.parametrize(
    ("p", "price", "day", "reason"),
    [
        (LONG, 97.0, 5, SL),
        (LONG, 104.0, 5, TP),
        (SHORT, 104.0, 5, SL),
        (SHORT, 95.0, 5, TP),
        (LONG, 96.0, 6, SL),
        (LONG, 100.0, 5, TX),
        (LONG, math.nan, 5, TX),
        (LONG, None, 5, TX),
    ],
    ids=[
        "d5-sl-beats-time-exit",
        "d5-tp-beats-time-exit",
        "d5-short-sl-beats-time-exit",
        "d5-short-tp-beats-time-exit",
        "d6-sl-beats-stale-exit",
        "d5-time-exit-alone",
        "d5-nan-price-still-time-exits",
        "d5-no-price-still-time-exits",
    ],
)
def test_precedence_at_the_time_exit(p, price, day, reason) -> None:
    d = exit_decision(p, price, TEX, day, CFG, TEX)
    assert d.exit and d.reason == reason


@pytest.mark.parametrize("price", [None, math.nan, 0.0, -1.0], ids=["none", "nan", "0", "neg"])
def test_unusable_price_never_triggers_a_price_rule(price) -> None:
    for day in (1, 2, 3):
        assert exit_decision(LONG, price, NOON, day, CFG, TEX) == HOLD
        assert exit_decision(SHORT, price, NOON, day, CFG, TEX) == HOLD


def test_day_number_below_one_is_a_bug() -> None:
    with pytest.raises(ValueError, match="day_number"):
        exit_decision(LONG, 100.0, NOON, 0, CFG, TEX)
    with pytest.raises(ValueError, match="day_number"):
        protective_stop_level(LONG, 0, CFG)


def test_sltp_from_day_is_a_parameter() -> None:
    cfg = ExitConfig(sltp_from_day=3)
    assert exit_decision(LONG, 96.0, NOON, 2, cfg, TEX) == HOLD
    assert exit_decision(LONG, 93.0, NOON, 2, cfg, TEX).reason == E
    assert exit_decision(LONG, 96.0, NOON, 3, cfg, TEX).reason == SL


@pytest.mark.parametrize(
    ("p", "day", "level"),
    [
        (LONG, 1, 93.0),
        (LONG, 2, 97.0),
        (LONG, 7, 97.0),
        (SHORT, 1, 107.0),
        (SHORT, 2, 104.0),
        (ODD, 1, 43.8309),
        (ODD, 2, 43.705),
        (WIDE, 1, 93.0),
        (WIDE, 2, 90.0),
    ],
    ids=[
        "long-d1-emergency",
        "long-d2-sl",
        "long-d7-sl",
        "short-d1-emergency",
        "short-d2-sl",
        "odd-d1-emergency",
        "odd-d2-sl",
        "wide-d1-emergency",
        "wide-d2-sl-below-emergency",
    ],
)
def test_protective_stop_level(p, day, level) -> None:
    assert protective_stop_level(p, day, CFG) == pytest.approx(level, rel=1e-12)


def test_protective_stop_matches_the_exit_rule() -> None:
    """The resting stop sits exactly where the engine's own rule exits."""
    for p in (LONG, SHORT, ODD, WIDE):
        for day in (1, 2, 3):
            lvl = protective_stop_level(p, day, CFG)
            d = exit_decision(p, lvl, NOON, day, CFG, TEX)
            assert d.exit and d.reason in (E, SL)
            assert emergency_level(p.side, p.fill_price, CFG) == pytest.approx(
                p.fill_price * (0.93 if p.side is Side.LONG else 1.07)
            )
