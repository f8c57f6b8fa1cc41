"""The backtest market: the replay market's days, thinned prints at the same prices, and the
pessimistic fill model's ordering of a day's extremes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import numpy as np
import pytest

from workstation.core.bars import DailyBars
from workstation.core.calendar import get_calendar
from workstation.core.models import Universe
from workstation.core.print_watch import PrintWatch
from workstation.market.replay import ReplayMarket
from workstation.research.market import BacktestMarket, _day_prices, _grid_length

CAL = get_calendar()
DAYS = CAL.sessions_in_range(date(2024, 1, 2), date(2024, 3, 28))


def _bars() -> DailyBars:
    n = len(DAYS)
    rng = np.random.default_rng(1)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (n, 2)), axis=0))
    o = close * (1 + rng.normal(0, 0.005, (n, 2)))
    hi = np.maximum(o, close) * 1.03
    lo = np.minimum(o, close) * 0.97
    vol = np.full((n, 2), 1e6)
    return DailyBars(np.array(DAYS, dtype="datetime64[D]"), ("AAA", "SPY"), o, hi, lo, close, vol)


UNIVERSE = Universe.of({"AAA": "Energy"}, "SPY")


class _Probe:
    """Levels of one held position; nothing else (the market's own parts under test)."""

    def __init__(self, levels: tuple[bool, float, float] | None) -> None:
        self._levels = levels

    def levels(self, symbol: str, session: date) -> tuple[bool, float, float] | None:
        return self._levels if symbol == "AAA" else None

    def watch(self, symbol: str, at: datetime) -> PrintWatch | None:
        return None

    def reacts_to(self, symbol: str, price: float, at: datetime) -> bool:
        return False

    def mark_times(self, session: date) -> Sequence[datetime]:
        return ()

    def equity_floor(self) -> float | None:
        return None

    def account(self) -> tuple[float, dict[str, int], dict[str, float]]:
        return 0.0, {}, {}

    def last_price(self, symbol: str) -> float | None:
        return None

    def seen_range(self, symbol: str) -> tuple[float, float] | None:
        return None


def test_the_grid_prices_are_the_replay_markets_to_the_last_bit() -> None:
    market = ReplayMarket.from_bars(_bars(), UNIVERSE)
    for session in DAYS[5:25]:
        day = market._day("AAA", session)
        assert day is not None
        for start_s in (0, 1, 1201):  # the stream may start at the open or later
            start = day.open_time + timedelta(seconds=start_s)
            n = _grid_length(start, day.close_time, timedelta(seconds=5))
            times = [start + k * timedelta(seconds=5) for k in range(n)]
            assert times[-1] < day.close_time <= times[-1] + timedelta(seconds=5)
            secs = np.array([(t - day.open_time).total_seconds() for t in times])
            vector = _day_prices(day, secs)
            scalar = np.array([day.price_at(t) for t in times])
            assert np.array_equal(vector, scalar)


@pytest.mark.parametrize("long", [True, False])
def test_pessimistic_fills_visit_the_stop_side_first_when_a_day_spans_both_levels(
    long: bool,
) -> None:
    bars = _bars()
    j = bars.col("AAA")
    spanned = 0
    for i, session in enumerate(DAYS[5:40], start=5):
        o, h, lo, c = (float(getattr(bars, f)[i, j]) for f in ("open", "high", "low", "close"))
        mid = (h + lo) / 2
        sl, tp = (lo * 1.001, h * 0.999) if long else (h * 0.999, lo * 1.001)
        plain = ReplayMarket.from_bars(bars, UNIVERSE)._day("AAA", session)
        market = BacktestMarket.from_bars(bars, UNIVERSE)
        market.pessimistic = True
        market.probe = _Probe((long, sl, tp))  # type: ignore[assignment]
        day = market._day("AAA", session)
        assert day is not None and plain is not None
        m = day.minutes
        path = m["close"]  # the prints run along the minutes' opens and closes
        below = np.nonzero(path <= min(sl, tp))[0]
        above = np.nonzero(path >= max(sl, tp))[0]
        first_below = int(below[0]) if len(below) else len(path)
        first_above = int(above[0]) if len(above) else len(path)
        if long:
            assert first_below < first_above  # the stop (below) is touched first
        else:
            assert first_above < first_below
        # The envelope is the day's; only the order of the extremes is chosen.
        assert m["high"].max() == pytest.approx(h) and m["low"].min() == pytest.approx(lo)
        assert m["open"][0] == pytest.approx(o) and m["close"][-1] == pytest.approx(c)
        spanned += 1
        # A day whose range does not span both levels keeps the replay market's path.
        far = (lo * 0.5, h * 2.0) if long else (h * 2.0, lo * 0.5)  # (SL, TP) out of reach
        market.probe = _Probe((long, *far))  # type: ignore[assignment]
        market._days.clear()
        same = market._day("AAA", session)
        assert same is not None
        assert np.array_equal(same.minutes["close"], plain.minutes["close"])
        assert mid > 0
    assert spanned == 35
