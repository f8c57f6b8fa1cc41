"""Intraday synthesis: minute paths through a day's OHLC, pre-market prints, quotes."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import numpy as np
import pytest

from workstation.core.calendar import ET
from workstation.market.intraday import (
    EARLY_CLOSE_MINUTES,
    REGULAR_MINUTES,
    MinutePaths,
    last_print_before,
    minute_index,
    quote_from_price,
    synth_minute_paths,
    synth_premarket_trades,
)

NAN = float("nan")


def assert_invariants(p: MinutePaths, o, h, lo, c, v) -> None:
    """Every invariant of a valid symbol's path against its (repaired) daily bar."""
    o, h, lo, c, v = (np.atleast_1d(np.asarray(x, dtype=float)) for x in (o, h, lo, c, v))
    hi = np.maximum.reduce([o, h, lo, c])
    lw = np.minimum.reduce([o, h, lo, c])
    ok = ~p.invalid
    np.testing.assert_array_equal(p.open[0, ok], o[ok])
    np.testing.assert_array_equal(p.close[-1, ok], c[ok])
    np.testing.assert_array_equal(p.high[:, ok].max(axis=0), hi[ok])
    np.testing.assert_array_equal(p.low[:, ok].min(axis=0), lw[ok])
    assert np.all(p.low[:, ok] <= np.minimum(p.open[:, ok], p.close[:, ok]))
    assert np.all(p.high[:, ok] >= np.maximum(p.open[:, ok], p.close[:, ok]))
    # Minutes chain: each minute opens where the previous one closed (no intraday gaps).
    np.testing.assert_array_equal(p.open[1:, ok], p.close[:-1, ok])
    vol = np.where(np.isfinite(v) & (v > 0), v, 0.0)
    np.testing.assert_allclose(p.volume[:, ok].sum(axis=0), vol[ok], rtol=1e-12, atol=0)
    assert np.all(p.volume[:, ok] >= 0)


# (open, high, low, close, volume), expected repaired, expected invalid
CASES = {
    "up day": ((100.0, 103.0, 99.0, 102.5, 1_000_000.0), False, False),
    "down day": ((100.0, 100.8, 95.0, 95.5, 2_345_678.0), False, False),
    "open is high": ((100.0, 100.0, 97.0, 98.0, 500_000.0), False, False),
    "open is low": ((100.0, 104.0, 100.0, 103.0, 500_000.0), False, False),
    "close is high": ((100.0, 102.0, 99.0, 102.0, 500_000.0), False, False),
    "close is low": ((100.0, 101.0, 97.0, 97.0, 500_000.0), False, False),
    "open high, close low": ((100.0, 100.0, 96.0, 96.0, 500_000.0), False, False),
    "open low, close high": ((96.0, 100.0, 96.0, 100.0, 500_000.0), False, False),
    "flat day": ((50.0, 50.0, 50.0, 50.0, 1000.0), False, False),
    "doji": ((50.0, 51.0, 49.0, 50.0, 1000.0), False, False),
    "penny stock": ((0.51, 0.55, 0.5, 0.52, 12_345.0), False, False),
    "huge range": ((100.0, 160.0, 60.0, 140.0, 9e8), False, False),
    "fractional volume": ((100.0, 101.0, 99.0, 100.5, 12_345.678), False, False),
    "zero volume": ((100.0, 101.0, 99.0, 100.5, 0.0), False, False),
    "NaN volume": ((100.0, 101.0, 99.0, 100.5, NAN), False, False),
    "negative volume": ((100.0, 101.0, 99.0, 100.5, -5.0), False, False),
    "high below close": ((100.0, 101.0, 99.0, 101.5, 1000.0), True, False),
    "high below open": ((102.0, 101.0, 99.0, 100.0, 1000.0), True, False),
    "low above open": ((99.0, 101.0, 99.5, 100.0, 1000.0), True, False),
    "high and low swapped": ((100.0, 98.0, 102.0, 101.0, 1000.0), True, False),
    "NaN close": ((100.0, 101.0, 99.0, NAN, 1000.0), False, True),
    "NaN high": ((100.0, NAN, 99.0, 100.0, 1000.0), False, True),
    "infinite open": ((np.inf, 101.0, 99.0, 100.0, 1000.0), False, True),
    "zero price": ((0.0, 1.0, 0.0, 0.5, 1000.0), False, True),
    "negative price": ((-1.0, 1.0, -2.0, 0.5, 1000.0), False, True),
}


@pytest.mark.parametrize("minutes", [REGULAR_MINUTES, EARLY_CLOSE_MINUTES, 3, 2, 1])
@pytest.mark.parametrize(("bar", "repaired", "invalid"), CASES.values(), ids=CASES.keys())
def test_invariants_one_symbol(bar, repaired, invalid, minutes) -> None:
    p = synth_minute_paths(*bar, minutes=minutes, rng=np.random.default_rng(7))
    assert p.close.shape == (minutes, 1)
    assert p.repaired.tolist() == [repaired]
    assert p.invalid.tolist() == [invalid]
    if invalid:
        for arr in (p.open, p.high, p.low, p.close, p.volume):
            assert np.isnan(arr).all()
    else:
        assert_invariants(p, *bar)


def test_invariants_all_cases_vectorised_with_many_seeds() -> None:
    """All cases side by side (a dirty neighbour must not disturb a clean symbol), 50 seeds."""
    bars = np.array([c[0] for c in CASES.values()]).T
    for seed in range(50):
        p = synth_minute_paths(*bars, minutes=390, rng=np.random.default_rng(seed))
        assert_invariants(p, *bars)
        assert p.repaired.tolist() == [c[1] for c in CASES.values()]
        assert p.invalid.tolist() == [c[2] for c in CASES.values()]
        assert np.isnan(p.close[:, p.invalid]).all()
        assert np.isfinite(p.close[:, ~p.invalid]).all()


def _random_days(n: int, seed: int = 3) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    o = 20 + 400 * rng.random(n)
    c = o * np.exp(rng.normal(0, 0.02, n))
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.008, n)))
    lo = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.008, n)))
    v = rng.integers(10_000, 50_000_000, n).astype(float)
    return o, h, lo, c, v


def test_extremes_attained_exactly_when_equal_to_open_or_close() -> None:
    """An extreme equal to the open is there in the first minute; equal to the close, in the
    last; the path never exceeds it elsewhere."""
    p = synth_minute_paths(100.0, 100.0, 97.0, 97.0, 1e6, 390, np.random.default_rng(1))
    assert p.high[0, 0] == 100.0
    assert p.low[-1, 0] == 97.0
    assert p.high.max() == 100.0 and p.low.min() == 97.0


def test_determinism_same_seed_same_paths_other_seed_other_paths() -> None:
    bars = _random_days(40)
    a = synth_minute_paths(*bars, 390, np.random.default_rng(123))
    b = synth_minute_paths(*bars, 390, np.random.default_rng(123))
    c = synth_minute_paths(*bars, 390, np.random.default_rng(124))
    for f in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert not np.array_equal(a.close, c.close)
    assert not np.array_equal(a.volume, c.volume)


def test_early_close_has_210_minutes_and_stamps_end_at_13_00() -> None:
    bars = _random_days(5)
    p = synth_minute_paths(*bars, EARLY_CLOSE_MINUTES, np.random.default_rng(0))
    assert p.close.shape == (210, 5)
    assert_invariants(p, *bars)
    idx = minute_index(datetime(2019, 11, 29, 9, 30, tzinfo=ET), EARLY_CLOSE_MINUTES)
    assert len(idx) == 210
    assert idx[-1].strftime("%H:%M") == "13:00"
    # Both ends of the U-shape exist on a short day too.
    mid = p.volume[90:120].mean()
    assert p.volume[:15].mean() > 1.5 * mid
    assert p.volume[-5:].mean() > 1.5 * mid


@pytest.mark.parametrize(
    ("session_open", "offset_hours"),
    [
        (datetime(2019, 2, 11, 9, 30, tzinfo=ET), -5),  # winter
        (datetime(2019, 3, 11, 9, 30, tzinfo=ET), -4),  # the Monday after spring forward
        (datetime(2019, 11, 4, 9, 30, tzinfo=ET), -5),  # the Monday after fall back
    ],
    ids=["EST", "after-spring-forward", "after-fall-back"],
)
def test_minute_index_is_bar_end_in_new_york(session_open: datetime, offset_hours: int) -> None:
    idx = minute_index(session_open, REGULAR_MINUTES)
    assert len(idx) == 390
    assert idx[0] == session_open + timedelta(minutes=1)  # 09:31 is the 09:30-09:31 bar
    assert idx[-1].strftime("%H:%M") == "16:00"
    assert str(idx.tz) == "America/New_York"
    assert idx[0].utcoffset() == timedelta(hours=offset_hours)
    assert ((idx[1:] - idx[:-1]) == timedelta(minutes=1)).all()


def test_minute_index_rejects_naive_open() -> None:
    with pytest.raises(ValueError, match="tz-aware"):
        minute_index(datetime(2019, 2, 11, 9, 30), 390)


def test_frame_of_one_symbol() -> None:
    p = synth_minute_paths(*_random_days(3), 390, np.random.default_rng(0))
    idx = minute_index(datetime(2019, 2, 11, 9, 30, tzinfo=ET), 390)
    df = p.frame(1, idx)
    assert list(df.columns) == ["open", "high", "low", "close", "volume"]
    np.testing.assert_array_equal(df["close"].to_numpy(), p.close[:, 1])
    with pytest.raises(ValueError, match="390 minutes"):
        p.frame(0, idx[:10])


def test_integer_day_volume_split_exactly_and_u_shaped() -> None:
    bars = _random_days(300)
    p = synth_minute_paths(*bars, 390, np.random.default_rng(5))
    np.testing.assert_array_equal(p.volume.sum(axis=0), bars[4])  # exact, not approximate
    np.testing.assert_array_equal(p.volume, np.round(p.volume))
    share = p.volume / p.volume.sum(axis=0)
    first_minute, first_half_hour = share[0].mean(), share[1:30].mean()
    midday, last_ten = share[120:270].mean(), share[380:].mean()
    # The real median profile (shared 1-minute data): first minute ~13x the mean, the
    # first half hour ~2x, midday ~0.5x, the last ten minutes ~2.5x.
    assert 8 < first_minute * 390 < 20
    assert 1.3 < first_half_hour * 390 < 3.0
    assert 0.35 < midday * 390 < 0.8
    assert 1.5 < last_ten * 390 < 4.5


def test_paths_look_like_random_walks() -> None:
    bars = _random_days(400, seed=11)
    o, h, lo, c, _ = bars
    p = synth_minute_paths(*bars, 390, np.random.default_rng(9))
    r = np.diff(np.log(p.close), axis=0)
    # Nearly uncorrelated minute returns (a bridge has a small negative autocorrelation).
    ac = np.mean(np.sum(r[1:] * r[:-1], axis=0) / np.sum(r * r, axis=0))
    assert -0.15 < ac < 0.1
    # Realized minute volatility matches a walk that spans the day's range: range/sqrt(T)
    # over sigma is about 1.6 for Brownian motion.
    ratio = np.log(h / lo) / (r.std(axis=0) * np.sqrt(390))
    assert 1.1 < np.median(ratio) < 2.4
    # The extremes do not sit at a fixed minute: they spread over the day, more near the ends.
    t_hi = p.high.argmax(axis=0)
    inner = (h > np.maximum(o, c)) & (lo < np.minimum(o, c))
    assert len(np.unique(t_hi[inner])) > 100
    ends = np.mean((t_hi[inner] < 60) | (t_hi[inner] >= 330))
    assert ends > 0.3  # 120 of 390 minutes is 0.31 under a uniform law; the U-law puts more


def test_up_days_more_often_make_their_low_first() -> None:
    n = 600
    o = np.full(n, 100.0)
    h, lo, c = np.full(n, 102.0), np.full(n, 98.0), np.full(n, 101.8)
    p = synth_minute_paths(o, h, lo, c, np.full(n, 1e6), 390, np.random.default_rng(2))
    low_first = np.mean(p.low.argmin(axis=0) < p.high.argmax(axis=0))
    assert low_first > 0.75
    p = synth_minute_paths(o, h, lo, 200 - c, np.full(n, 1e6), 390, np.random.default_rng(2))
    assert np.mean(p.low.argmin(axis=0) < p.high.argmax(axis=0)) < 0.25


def test_mismatched_lengths_and_zero_minutes_raise() -> None:
    with pytest.raises(ValueError, match="lengths differ"):
        synth_minute_paths([1.0, 2.0], [1.0, 2.0, 3.0], 1.0, 1.0, 1.0, 390, np.random.default_rng())
    with pytest.raises(ValueError, match="at least one minute"):
        synth_minute_paths(1.0, 1.0, 1.0, 1.0, 1.0, 0, np.random.default_rng())


def test_504_symbols_in_well_under_100_ms() -> None:
    bars = _random_days(504)
    rng = np.random.default_rng(0)
    synth_minute_paths(*bars, 390, rng)  # warm-up
    timings = []
    for _ in range(5):
        t0 = time.perf_counter()
        synth_minute_paths(*bars, 390, rng)
        timings.append(time.perf_counter() - t0)
    assert min(timings) < 0.1, f"504 x 390 took {min(timings) * 1000:.0f} ms"


# ----------------------------------------------------------------------- pre-market
def test_premarket_prints_drift_from_previous_close_to_open() -> None:
    n = 400
    prev = np.full(n, 100.0)
    opens = np.full(n, 106.0)  # a 6% gap up
    seconds, prices = synth_premarket_trades(prev, opens, np.random.default_rng(4), 10)
    assert seconds.shape == prices.shape == (10, n)
    assert np.all(np.diff(seconds, axis=0) >= 0)
    assert seconds.min() >= 4 * 3600 and seconds.max() <= 9 * 3600 + 29 * 60
    np.testing.assert_array_equal(prices, np.round(prices, 2))
    first, last = prices[0], prices[-1]
    # Late prints sit near the open, early ones between the close and the open.
    assert abs(np.median(last) - 106.0) < 1.0
    assert np.median(first) < np.median(last)
    assert np.mean(np.abs(last - 106.0)) < np.mean(np.abs(first - 106.0))
    # Most prints come late in the window (like real pre-market activity).
    assert np.mean(seconds > 8 * 3600) > 0.5


@pytest.mark.parametrize(
    ("prev", "open_", "expect_nan", "centre"),
    [
        (100.0, 100.0, False, 100.0),
        (NAN, 50.0, False, 50.0),  # no previous close: start from the open
        (0.0, 50.0, False, 50.0),
        (100.0, NAN, True, None),
        (100.0, -1.0, True, None),
    ],
    ids=["flat", "no-prev-close", "zero-prev-close", "no-open", "bad-open"],
)
def test_premarket_dirty_inputs(prev, open_, expect_nan, centre) -> None:
    _, prices = synth_premarket_trades(prev, open_, np.random.default_rng(0), 6)
    if expect_nan:
        assert np.isnan(prices).all()
    else:
        assert np.all(np.abs(prices / centre - 1) < 0.05)


def test_premarket_window_and_last_print_before() -> None:
    seconds, prices = synth_premarket_trades(
        [10.0, 20.0], [10.5, 19.0], np.random.default_rng(1), 5, start="08:00", end="09:00"
    )
    assert seconds.min() >= 8 * 3600 and seconds.max() <= 9 * 3600
    at = float(seconds[2, 0]) + 0.5
    got = last_print_before(seconds, prices, at)
    assert got[0] == prices[2, 0]
    assert np.isnan(last_print_before(seconds, prices, 7 * 3600)).all()
    with pytest.raises(ValueError, match="empty"):
        synth_premarket_trades(1.0, 1.0, np.random.default_rng(), 3, start="09:00", end="08:00")


def test_premarket_deterministic() -> None:
    a = synth_premarket_trades([10.0, 20.0], [11.0, 19.0], np.random.default_rng(8), 7)
    b = synth_premarket_trades([10.0, 20.0], [11.0, 19.0], np.random.default_rng(8), 7)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


# ----------------------------------------------------------------------- quotes
@pytest.mark.parametrize("price", [0.37, 9.99, 41.75, 170.12, 2345.6], ids=str)
def test_quote_from_price_brackets_price_in_cents(price: float) -> None:
    bid, ask = quote_from_price(np.full(200, price), 5.0, np.random.default_rng(0))
    assert np.all(bid < price) and np.all(ask > price)
    assert np.all(ask - bid >= 0.01 - 1e-9)
    np.testing.assert_allclose(bid * 100, np.round(bid * 100), atol=1e-6)
    np.testing.assert_allclose(ask * 100, np.round(ask * 100), atol=1e-6)
    # The spread is about spread_bps (0.5x-1.5x) unless a cent is wider.
    rel = (ask - bid) / price * 1e4
    assert np.all(rel <= max(5.0 * 1.5 + 2e4 * 0.01 / price * 2, 10))


def test_quote_from_price_nan_gives_nan() -> None:
    bid, ask = quote_from_price(np.array([NAN, 10.0]), 5.0, np.random.default_rng(0))
    assert np.isnan(bid[0]) and np.isnan(ask[0])
    assert bid[1] < 10.0 < ask[1]
