"""Moving a position's SL or TP by hand (rules.levels): every check at its boundary."""

from __future__ import annotations

import math

import pytest

from workstation.core.config import ExitConfig
from workstation.core.models import Side
from workstation.engine.rules.entries import StopTarget
from workstation.engine.rules.levels import (
    BEYOND_EMERGENCY,
    NO_CHANGE,
    NO_PRICE,
    NOT_A_PRICE,
    OK,
    SLTP_OFF,
    STOP_THROUGH_PRICE,
    TARGET_THROUGH_PRICE,
    check_levels,
)

CFG = ExitConfig()  # emergency 7%, SL/TP from day 2
L, S = Side.LONG, Side.SHORT
# A long filled at 100: rule SL 97, TP 104, emergency 93; last price 101.
LONG_RULE = StopTarget(97.0, 104.0)
# A short filled at 100: rule SL 104, TP 95, emergency 107; last price 99.
SHORT_RULE = StopTarget(104.0, 95.0)


def check(side, sl, tp, *, day=2, last=None, current=None, ok_beyond=False, cfg=CFG):
    rule = LONG_RULE if side is L else SHORT_RULE
    last = (101.0 if side is L else 99.0) if last is None else last
    return check_levels(
        side,
        100.0,
        last,
        day,
        current or rule,
        rule,
        sl,
        tp,
        cfg,
        beyond_emergency_ok=ok_beyond,
    )


@pytest.mark.parametrize(
    ("side", "sl", "tp", "day", "last", "reason"),
    [
        # 1. never a day-1 SL (or TP): before sltp_from_day nothing can be moved
        (L, 98.0, None, 1, None, SLTP_OFF),
        (L, None, 105.0, 1, None, SLTP_OFF),
        (S, 103.0, None, 1, None, SLTP_OFF),
        (L, 98.0, None, 2, None, OK),  # day 2 is the first day SL/TP apply
        (L, 98.0, None, 5, None, OK),
        # 2. a price
        (L, 0.0, None, 2, None, NOT_A_PRICE),
        (L, -1.0, None, 2, None, NOT_A_PRICE),
        (L, math.nan, None, 2, None, NOT_A_PRICE),
        (L, None, math.inf, 2, None, NOT_A_PRICE),
        # 3. nothing changes (within float noise)
        (L, None, None, 2, None, NO_CHANGE),
        (L, 97.0, 104.0, 2, None, NO_CHANGE),
        (L, 97.0 + 1e-12, None, 2, None, NO_CHANGE),
        (L, 97.01, None, 2, None, OK),
        # 4. no price to judge against
        (L, 98.0, None, 2, math.nan, NO_PRICE),
        (L, 98.0, None, 2, 0.0, NO_PRICE),
        # 5. long stop: below the last price, never on or above it (touching exits)
        (L, 100.99, None, 2, 101.0, OK),
        (L, 101.0, None, 2, 101.0, STOP_THROUGH_PRICE),
        (L, 101.0 * (1 - 1e-12), None, 2, 101.0, STOP_THROUGH_PRICE),  # float noise: on it
        (L, 101.01, None, 2, 101.0, STOP_THROUGH_PRICE),
        # long target: above the last price
        (L, None, 101.01, 2, 101.0, OK),
        (L, None, 101.0, 2, 101.0, TARGET_THROUGH_PRICE),
        (L, None, 100.0, 2, 101.0, TARGET_THROUGH_PRICE),
        # short: mirrored
        (S, 99.01, None, 2, 99.0, OK),
        (S, 99.0, None, 2, 99.0, STOP_THROUGH_PRICE),
        (S, 98.0, None, 2, 99.0, STOP_THROUGH_PRICE),
        (S, None, 98.99, 2, 99.0, OK),
        (S, None, 99.0, 2, 99.0, TARGET_THROUGH_PRICE),
        # 6. the emergency level (long 93, short 107): on it is fine, beyond needs saying so
        (L, 93.0, None, 2, None, OK),
        (L, 93.0 * (1 - 1e-12), None, 2, None, OK),  # float noise: on it
        (L, 92.99, None, 2, None, BEYOND_EMERGENCY),
        (S, 107.0, None, 2, None, OK),
        (S, 107.01, None, 2, None, BEYOND_EMERGENCY),
    ],
)
def test_checks_at_their_boundaries(side, sl, tp, day, last, reason) -> None:
    d = check(side, sl, tp, day=day, last=last)
    assert d.reason == reason, d.detail
    assert d.ok is (reason == OK)
    if not d.ok:  # a refusal leaves the levels in force
        rule = LONG_RULE if side is L else SHORT_RULE
        assert (d.sl, d.tp) == rule


def test_the_first_failing_check_decides() -> None:
    # Day 1 and not a price and through the market: SLTP_OFF first.
    assert check(L, -5.0, 50.0, day=1).reason == SLTP_OFF
    # Not a price beats no change and no price.
    assert check(L, 0.0, None, last=math.nan).reason == NOT_A_PRICE
    # Through the market before beyond the emergency level (a short's stop below the price).
    assert check(S, 90.0, None).reason == STOP_THROUGH_PRICE


def test_beyond_the_emergency_level_with_the_traders_word() -> None:
    refused = check(L, 90.0, None)
    assert refused.reason == BEYOND_EMERGENCY and refused.needs_confirmation
    assert "93.00" in refused.detail and "7%" in refused.detail
    d = check(L, 90.0, None, ok_beyond=True)
    assert d.ok and d.beyond_emergency and (d.sl, d.tp) == (90.0, 104.0)
    assert d.warnings == ("the stop is beyond the emergency level 93.00",)
    # Only a looser stop needs the word: a move of the target never does.
    assert not check(L, None, 110.0).beyond_emergency


def test_moves_are_described_and_warned() -> None:
    tighter = check(L, 99.0, None)
    assert tighter.ok and tighter.detail == "stop 97.00 -> 99.00" and tighter.warnings == ()
    both = check(L, 98.0, 103.0)
    assert (both.sl, both.tp) == (98.0, 103.0)
    assert both.detail == "stop 97.00 -> 98.00, target 104.00 -> 103.00"
    looser = check(L, 95.0, None)
    assert looser.warnings == ("the stop is looser than the one in force (97.00)",)
    # Tightened before, loosened back within the rule's: no more risk than the rule's.
    back = check(L, 97.5, None, current=StopTarget(99.0, 104.0))
    assert back.warnings == ("the stop is looser than the one in force (99.00)",)
    # The stop in force is already looser than the rule's; tightening it a little still is.
    wide = check(L, 96.0, None, current=StopTarget(95.0, 104.0))
    assert wide.warnings == ("the stop is looser than the rule's SL (97.00)",)
    far = check(L, None, 110.0)
    assert far.warnings == ("the target is further than the rule's TP (104.00)",)
    short_far = check(S, None, 90.0)
    assert short_far.warnings == ("the target is further than the rule's TP (95.00)",)


def test_sltp_from_day_follows_the_configuration() -> None:
    day1 = ExitConfig(sltp_from_day=1)
    assert check(L, 98.0, None, day=1, cfg=day1).ok
    day3 = ExitConfig(sltp_from_day=3)
    d = check(L, 98.0, None, day=2, cfg=day3)
    assert d.reason == SLTP_OFF and "until day 3" in d.detail
