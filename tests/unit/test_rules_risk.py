"""Portfolio risk of trading rules §11: daily loss limit, kill switch, PDT guard."""

from __future__ import annotations

import math
from datetime import date, datetime

import pytest

from workstation.core.calendar import ET
from workstation.core.config import PortfolioConfig
from workstation.core.models import ExitReason
from workstation.engine.rules.risk import (
    KS_DAILY_LOSS,
    KS_USER,
    PDT_EMERGENCY_ALLOWED,
    PDT_NOT_APPLICABLE,
    PDT_NOT_SAME_DAY,
    PDT_WAIT_NEXT_SESSION,
    KillSwitch,
    daily_loss_breached,
    daily_loss_level,
    pdt_allows_exit,
    pdt_applies,
)

CFG = PortfolioConfig()  # daily loss 2%, PDT minimum 25,000


@pytest.mark.parametrize(
    ("start", "equity", "breached"),
    [
        (100_000.0, 98_000.0, True),  # exactly -2%
        (100_000.0, 98_000.01, False),
        (100_000.0, 97_999.99, True),
        (100_000.0, 100_500.0, False),
        (123_456.78, 120_987.6444, True),  # 123,456.78 * 0.98 exactly
        (123_456.78, 120_987.65, False),
        (50_000.0, 49_000.0, True),
    ],
    ids=[
        "minus-2pct-exactly-engages",
        "a-cent-above-the-limit",
        "a-cent-below-the-limit",
        "a-gain",
        "odd-start-exactly-2pct",
        "odd-start-just-above",
        "small-account-exactly-2pct",
    ],
)
def test_daily_loss_boundary(start, equity, breached) -> None:
    assert daily_loss_breached(equity, start, CFG) is breached


def test_daily_loss_level() -> None:
    assert daily_loss_level(100_000.0, CFG) == pytest.approx(98_000.0)


@pytest.mark.parametrize(
    ("start", "equity"),
    [(math.nan, 99_000.0), (0.0, 99_000.0), (100_000.0, math.nan), (None, 99_000.0)],
    ids=["start-nan", "start-zero", "equity-nan", "start-missing"],
)
def test_unknown_equity_counts_as_breached(start, equity) -> None:
    assert daily_loss_breached(equity, start, CFG) is True


T0 = datetime(2024, 3, 12, 11, 0, tzinfo=ET)
D1, D2 = date(2024, 3, 12), date(2024, 3, 13)


def test_kill_switch_daily_loss_engages_once_and_keeps_first_reason() -> None:
    ks = KillSwitch.off()
    assert ks.engaged is False
    ks = ks.check_daily_loss(98_500.0, 100_000.0, T0, D1, CFG)
    assert ks.engaged is False
    ks = ks.check_daily_loss(98_000.0, 100_000.0, T0, D1, CFG)
    assert (ks.engaged, ks.reason, ks.at, ks.session) == (True, KS_DAILY_LOSS, T0, D1)
    later = datetime(2024, 3, 12, 12, 0, tzinfo=ET)
    assert ks.check_daily_loss(90_000.0, 100_000.0, later, D1, CFG) is ks
    assert ks.engage(KS_USER, later, D1) is ks


def test_daily_loss_engagement_ends_with_its_session() -> None:
    ks = KillSwitch.off().check_daily_loss(97_000.0, 100_000.0, T0, D1, CFG)
    assert ks.for_session(D1, T0).engaged is True
    nxt = datetime(2024, 3, 13, 9, 0, tzinfo=ET)
    assert ks.for_session(D2, nxt).engaged is False


def test_user_engagement_lasts_until_released() -> None:
    ks = KillSwitch.off().engage(KS_USER, T0, D1, "user pressed the button")
    nxt = datetime(2024, 3, 13, 9, 0, tzinfo=ET)
    assert ks.for_session(D2, nxt).engaged is True
    released = ks.release(nxt)
    assert released.engaged is False and released.at == nxt


def test_kill_switch_is_immutable() -> None:
    ks = KillSwitch.off()
    with pytest.raises(AttributeError):
        ks.engaged = True  # type: ignore[misc]


@pytest.mark.parametrize(
    ("equity", "same_day", "reason", "allowed", "why"),
    [
        (24_999.0, True, ExitReason.EMERGENCY, True, PDT_EMERGENCY_ALLOWED),
        (24_999.0, True, ExitReason.STOP_LOSS, False, PDT_WAIT_NEXT_SESSION),
        (24_999.0, True, ExitReason.TAKE_PROFIT, False, PDT_WAIT_NEXT_SESSION),
        (24_999.0, True, ExitReason.TIME_EXIT, False, PDT_WAIT_NEXT_SESSION),
        (24_999.0, True, ExitReason.MANUAL, False, PDT_WAIT_NEXT_SESSION),
        (24_999.0, True, ExitReason.KILL_SWITCH, False, PDT_WAIT_NEXT_SESSION),
        (24_999.0, False, ExitReason.STOP_LOSS, True, PDT_NOT_SAME_DAY),
        (25_000.0, True, ExitReason.EMERGENCY, True, PDT_NOT_APPLICABLE),
        (25_000.0, True, ExitReason.STOP_LOSS, True, PDT_NOT_APPLICABLE),
        (24_999.99, True, ExitReason.STOP_LOSS, False, PDT_WAIT_NEXT_SESSION),
        (math.nan, True, ExitReason.STOP_LOSS, False, PDT_WAIT_NEXT_SESSION),
    ],
    ids=[
        "24999-same-day-emergency-allowed",
        "24999-same-day-stop-loss-waits",
        "24999-same-day-take-profit-waits",
        "24999-same-day-time-exit-waits",
        "24999-same-day-manual-waits",
        "24999-same-day-kill-switch-waits",
        "24999-next-day-stop-loss-allowed",
        "25000-emergency-allowed",
        "25000-exactly-stop-loss-allowed",
        "24999.99-stop-loss-waits",
        "unknown-equity-guard-applies",
    ],
)
def test_pdt_guard(equity, same_day, reason, allowed, why) -> None:
    got = pdt_allows_exit(equity, same_day, reason, CFG)
    assert got == (allowed, why)


def test_pdt_applies_boundary() -> None:
    assert pdt_applies(24_999.0, CFG) is True
    assert pdt_applies(25_000.0, CFG) is False
    assert pdt_applies(25_001.0, CFG) is False
