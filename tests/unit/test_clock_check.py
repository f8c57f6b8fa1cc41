"""The app's clock against the broker's (issue 12 item 8): the verdict at each boundary."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from workstation.core.calendar import ET
from workstation.engine.clock_check import (
    CLOCK_AGREE_S,
    CLOCK_REFUSE_S,
    ClockComparison,
    ClockVerdict,
    compare_clocks,
)

OURS = datetime(2024, 6, 4, 9, 20, tzinfo=ET)


def _cmp(offset_s: float, round_trip_s: float = 0.0) -> ClockComparison:
    return ClockComparison("alpaca", OURS, OURS + timedelta(seconds=offset_s), round_trip_s)


@pytest.mark.parametrize(
    ("offset_s", "round_trip_s", "verdict"),
    [
        (0.0, 0.0, ClockVerdict.AGREE),
        (CLOCK_AGREE_S, 0.0, ClockVerdict.AGREE),
        (-CLOCK_AGREE_S, 0.0, ClockVerdict.AGREE),
        (CLOCK_AGREE_S + 0.01, 0.0, ClockVerdict.APART),
        (-(CLOCK_AGREE_S + 0.01), 0.0, ClockVerdict.APART),
        # half the round trip is the reading's own uncertainty
        (CLOCK_AGREE_S + 0.5, 1.0, ClockVerdict.AGREE),
        (CLOCK_AGREE_S + 0.51, 1.0, ClockVerdict.APART),
        (CLOCK_REFUSE_S, 0.0, ClockVerdict.APART),
        (CLOCK_REFUSE_S + 0.01, 0.0, ClockVerdict.REFUSED),
        (-(CLOCK_REFUSE_S + 0.01), 0.0, ClockVerdict.REFUSED),
        (2 * 365 * 86400.0, 0.0, ClockVerdict.REFUSED),
    ],
)
def test_the_verdict_at_each_boundary(
    offset_s: float, round_trip_s: float, verdict: ClockVerdict
) -> None:
    assert _cmp(offset_s, round_trip_s).verdict is verdict


def test_the_line_says_which_clock_is_off_and_what_to_do() -> None:
    assert _cmp(1.25).text() == "clocks agree: Alpaca's and this computer's are 1.2 s apart"
    apart = _cmp(-12.0).text()
    assert "this computer is 12 s fast" in apart and "set the system clock" in apart
    refused = _cmp(3 * 60.0).text()
    assert refused.startswith(
        "Alpaca's clock reads 2024-06-04 09:23:00 ET, this computer's 2024-06-04 09:20:00 ET"
    )
    assert "this computer is 3 min slow" in refused and "new trades are blocked" in refused
    assert "\n" not in refused
    assert "is 730 days slow" in _cmp(730 * 86400.0).text()


class _Broker:
    name = "alpaca"

    def __init__(self, theirs: datetime, delay_s: float) -> None:
        self.theirs = theirs
        self.delay_s = delay_s

    async def broker_time(self) -> datetime:
        await asyncio.sleep(self.delay_s)
        return self.theirs


def test_the_broker_is_read_between_two_readings_of_ours() -> None:
    readings = iter([OURS, OURS + timedelta(seconds=2)])
    broker = _Broker(OURS + timedelta(seconds=61), 0.0)
    got = asyncio.run(compare_clocks(broker, lambda: next(readings)))
    assert got.ours == OURS + timedelta(seconds=1)  # the midpoint
    assert (got.round_trip_s, got.offset_s) == (2.0, 60.0)
    assert got.verdict is ClockVerdict.REFUSED
