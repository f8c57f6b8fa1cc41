"""Intraday paths consistent with a day's OHLC, for the simulated and the replay markets.

Only daily bars are known (real or generated); the engines also need what happened *inside*
the day: pre-market prints for the 09:25 gap filter, the minute bars of the 09:30-09:50
confirmation window, and a price to watch for stops and targets. Everything here is vectorised
over N symbols, so one call builds a whole session for the S&P 500 (504 x 390 in a few ms).

How a day is built (per symbol): the open, the close and the two extremes are anchors on a grid
of M+1 points (point 0 is the open at 09:30, point k the close of minute k). The extremes are
placed at random minutes, more often near the open and the close (where real highs and lows
cluster), in the order that needs the shorter travel (an up day more often makes its low first).
Between anchors the price is a Brownian bridge whose minute volatility follows the usual
U-shape and is scaled so a random walk over the day would span the day's range; excursions
beyond the day's range are reflected back inside. Each minute then gets small random wicks,
clipped to the range, so every invariant below holds exactly:

* the first minute opens at the day's open and the last minute closes at the day's close;
* the highest minute high is the day's high and the lowest minute low the day's low;
* every minute's low <= open, close <= high;
* minute volumes (U-shaped profile with noise) add up to the day's volume.

Timestamps follow the shared data convention: a minute bar is stamped with its END time
(09:31 is the 09:30-09:31 bar).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

import numpy as np
import pandas as pd

from workstation.core.calendar import ET

REGULAR_MINUTES = 390
EARLY_CLOSE_MINUTES = 210

# E[range] of a Brownian motion over time T is 2*sqrt(2T/pi)*sigma ~= 1.596*sigma*sqrt(T):
# the per-minute volatility that makes a free random walk span the day's range.
_RANGE_PER_SIGMA = 2.0 * np.sqrt(2.0 / np.pi)
# Mean wick beyond max(open, close) of a minute, in minute sigmas: for a Brownian minute the
# expected excursion above the larger endpoint is about 0.4 sigma.
_WICK_SIGMAS = 0.4
# Logistic slope of P(low before high) against (close - open) / range.
_ORDER_SLOPE = 4.0
# Beta(a, a) with a < 1 puts the extremes' times near the open and the close.
_EXTREME_TIME_BETA = 0.6


@dataclass(frozen=True)
class MinutePaths:
    """Minute bars of N symbols over one session: each field has shape (minutes, N).

    ``repaired[j]`` is True when symbol j's OHLC did not form a valid envelope (high below
    max(open, close) or low above min(open, close)) and was widened before synthesis;
    ``invalid[j]`` is True when a price was NaN, infinite or not positive: its path is NaN.
    """

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    repaired: np.ndarray
    invalid: np.ndarray

    @property
    def minutes(self) -> int:
        return self.close.shape[0]

    @property
    def n_symbols(self) -> int:
        return self.close.shape[1]

    def column(self, j: int) -> dict[str, np.ndarray]:
        """Symbol j's five (minutes,) series, keyed by field name."""
        return {
            "open": self.open[:, j],
            "high": self.high[:, j],
            "low": self.low[:, j],
            "close": self.close[:, j],
            "volume": self.volume[:, j],
        }

    def frame(self, j: int, index: pd.DatetimeIndex) -> pd.DataFrame:
        """Symbol j's minute bars as a DataFrame on ``index`` (see :func:`minute_index`)."""
        if len(index) != self.minutes:
            raise ValueError(f"index has {len(index)} stamps, the paths {self.minutes} minutes")
        return pd.DataFrame(self.column(j), index=index)


def _u_profile(minutes: int, opening_print: bool = True) -> np.ndarray:
    """Relative intraday activity per minute (mean 1): the familiar U.

    Fitted to the median volume profile of the 24 liquid symbols in the shared 1-minute data
    (Feb 2019): the first minute ~13x the mean (the opening print), ~2x in the first half
    hour, ~0.5x at midday, rising into the close with the last minutes ~4x. Opening terms
    run in clock minutes from the open and closing terms from the close, so an early close
    (210 minutes) gets both ends. ``opening_print=False`` leaves out the first-minute spike
    (used for volatility, which the opening print inflates far less than volume).
    """
    t = np.arange(minutes, dtype=np.float64)
    to_close = t[::-1]
    w = (
        0.345
        + 1.11 * np.exp(-t / 20.0)
        + 0.95 * np.exp(-t / 100.0)
        + 1.15 * np.exp(-to_close / 35.0)
        + 5.15 * np.exp(-to_close / 3.0)
    )
    if opening_print:
        w[0] += 10.6
    return w / w.mean()


def _as_1d(name: str, a: np.ndarray | float) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(a, dtype=np.float64))
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a scalar or a 1-D array, got shape {arr.shape}")
    return arr


def _distribute_volume(day_volume: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Split each day's volume over the minutes in proportion to ``weights`` (minutes, N).

    Whole shares go out by rounding the cumulative allocation, so the minutes are whole
    numbers that add up to the day's whole shares exactly (no sort needed); a fractional
    part (dividend-adjusted volumes have them) goes to the last minute.
    """
    whole = np.floor(day_volume)
    cum = np.cumsum(weights, axis=0)
    cum *= (whole / cum[-1])[None, :]
    np.round(cum, out=cum)
    cum[-1] = whole
    vol = np.diff(cum, axis=0, prepend=0.0)
    vol[-1] += day_volume - whole
    return vol


def synth_minute_paths(
    open: np.ndarray | float,
    high: np.ndarray | float,
    low: np.ndarray | float,
    close: np.ndarray | float,
    volume: np.ndarray | float,
    minutes: int,
    rng: np.random.Generator,
    low_first: np.ndarray | None = None,
) -> MinutePaths:
    """Minute bars of N symbols for one session, consistent with each symbol's daily OHLCV.

    Inputs are (N,) arrays (or scalars); outputs (minutes, N). ``minutes`` is 390 on a
    regular session and 210 on an early close. Dirty input never raises: an envelope that does
    not bracket open/close is widened (``repaired``), a symbol with a NaN or non-positive price
    gets a NaN path (``invalid``), a NaN or negative volume counts as zero.
    Deterministic for a given ``rng`` state.

    ``low_first`` forces, per symbol, which extreme comes first and makes it come at once,
    at the end of the first minute (True: the low; the backtester's pessimistic fills: the
    prints run straight from the open to that extreme, so it is touched before anything on
    the other side of the open). The random draws it overrides are still made, so the rest
    of the path's randomness is the one the same ``rng`` gives without it.
    """
    if minutes < 1:
        raise ValueError(f"a session needs at least one minute, got {minutes}")
    o, h, lo, c, v = (
        _as_1d(n, a)
        for n, a in (
            ("open", open),
            ("high", high),
            ("low", low),
            ("close", close),
            ("volume", volume),
        )
    )
    n = max(len(o), len(h), len(lo), len(c), len(v))
    try:
        o, h, lo, c, v = np.broadcast_arrays(o, h, lo, c, v)
    except ValueError:
        raise ValueError(
            f"open/high/low/close/volume lengths differ: {len(o)}, {len(h)}, {len(lo)}, "
            f"{len(c)}, {len(v)}"
        ) from None
    m = minutes

    prices = np.stack([o, h, lo, c])
    invalid = ~np.all(np.isfinite(prices) & (prices > 0), axis=0)
    # Work on safe stand-ins for invalid symbols (1.0) and blank them at the end: it keeps
    # every array operation free of NaN warnings.
    o = np.where(invalid, 1.0, o)
    c = np.where(invalid, 1.0, c)
    h = np.where(invalid, 1.0, h)
    lo = np.where(invalid, 1.0, lo)
    hi = np.maximum.reduce([o, h, lo, c])
    lw = np.minimum.reduce([o, h, lo, c])
    repaired = ~invalid & ((hi != h) | (lw != lo))
    rng_ = hi - lw
    v = np.where(np.isfinite(v) & (v > 0), v, 0.0)

    profile = _u_profile(m)
    vol_profile = _u_profile(m, opening_print=False)

    # --- where the extremes sit on the grid of points 0..m ---------------------------
    # An extreme equal to the open sits at point 0, one equal to the close at point m; the
    # others at distinct interior points drawn from a U-shaped law.
    u = rng.beta(_EXTREME_TIME_BETA, _EXTREME_TIME_BETA, size=(2, n))
    p_low_first = 1.0 / (1.0 + np.exp(-_ORDER_SLOPE * (c - o) / np.where(rng_ > 0, rng_, 1.0)))
    drawn = rng.random(n) < p_low_first
    forced = low_first is not None
    low_first = drawn if low_first is None else np.broadcast_to(np.asarray(low_first, bool), (n,))
    if m >= 3:
        t = 1 + np.minimum((u * (m - 1)).astype(np.int64), m - 2)
        t.sort(axis=0)
        clash = t[0] == t[1]
        t[1] = np.where(clash & (t[1] < m - 1), t[1] + 1, t[1])
        t[0] = np.where(clash & (t[1] == t[0]), t[0] - 1, t[0])
        t_first, t_second = t[0], t[1]
        if forced:
            t_first = np.ones(n, dtype=np.int64)
            t_second = np.maximum(t_second, 2)
    else:
        t_first = np.ones(n, dtype=np.int64)
        t_second = np.ones(n, dtype=np.int64)
    t_low = np.where(low_first, t_first, t_second)
    t_high = np.where(low_first, t_second, t_first)
    # An extreme equal to the open (close) is already attained at point 0 (m); the other
    # extreme keeps its interior draw.
    t_high = np.where(o == hi, 0, np.where(c == hi, m, t_high))
    t_low = np.where(o == lw, 0, np.where(c == lw, m, t_low))

    # --- a U-shaped-volatility random walk, pinned through the anchors ----------------
    # path(t) = sigma * W(t) + PL(t), with PL the piecewise-linear function through
    # (knot, anchor - sigma * W(knot)) at the knots 0, t_a, t_b, m: between knots that is
    # exactly a Brownian bridge from anchor to anchor. PL is written with hinge terms so it
    # costs a handful of array operations, and a zero-length segment (an extreme pinned to
    # the open or the close) needs no special case.
    sigma = rng_ / (_RANGE_PER_SIGMA * np.sqrt(m))
    steps = rng.standard_normal((m, n))
    steps *= np.sqrt(vol_profile)[:, None]
    steps *= sigma[None, :]
    walk = np.empty((m + 1, n))
    walk[0] = 0.0
    np.cumsum(steps, axis=0, out=walk[1:])

    cols = np.arange(n)
    t_a = np.minimum(t_high, t_low)
    t_b = np.maximum(t_high, t_low)
    high_first = t_high <= t_low
    y0 = o
    y_a = np.where(high_first, hi, lw) - walk[t_a, cols]
    y_b = np.where(high_first, lw, hi) - walk[t_b, cols]
    y_m = c - walk[m]
    s1 = np.where(t_a > 0, (y_a - y0) / np.maximum(t_a, 1), 0.0)
    s2 = np.where(t_b > t_a, (y_b - y_a) / np.maximum(t_b - t_a, 1), 0.0)
    s3 = np.where(m > t_b, (y_m - y_b) / np.maximum(m - t_b, 1), 0.0)
    pts = np.arange(m + 1, dtype=np.float64)[:, None]
    path = walk
    path += y0 + s1 * pts
    path += (s2 - s1) * np.maximum(pts - t_a, 0.0)
    path += (s3 - s2) * np.maximum(pts - t_b, 0.0)

    # Reflect into [low, high]: a walk that would cross the day's extreme bounces off it
    # (once on each side; the rare second crossing is clipped).
    path -= lw
    np.abs(path, out=path)
    path = rng_ - np.abs(rng_ - path)
    path += lw
    np.clip(path, lw, hi, out=path)
    if m >= 3:
        path[t_high, cols] = hi
        path[t_low, cols] = lw
    else:
        # Too short for interior anchors: a straight line, the extremes go in the wicks below.
        path = o + (c - o) * (np.arange(m + 1, dtype=np.float64)[:, None] / m)
    path[0] = o
    path[m] = c

    # --- minute bars: open = previous close; wicks clipped to the day's range ---------
    m_open = path[:-1].copy()
    m_close = path[1:].copy()
    wick_scale = (_WICK_SIGMAS * sigma)[None, :] * np.sqrt(vol_profile)[:, None]
    m_high = rng.standard_exponential((m, n))
    m_high *= wick_scale
    m_high += np.maximum(m_open, m_close)
    np.minimum(m_high, hi, out=m_high)
    m_low = rng.standard_exponential((m, n))
    m_low *= -wick_scale
    m_low += np.minimum(m_open, m_close)
    np.maximum(m_low, lw, out=m_low)
    # With fewer than three minutes the extremes have no interior point: put them in the
    # first minute's wicks so the envelope is still attained.
    if m < 3:
        m_high[0] = hi
        m_low[0] = lw

    # Busy and quiet minutes around the U-shape (noise 0.6x-1.4x of the profile).
    vol_weights = rng.random((m, n))
    vol_weights *= 0.8
    vol_weights += 0.6
    vol_weights *= profile[:, None]
    m_vol = _distribute_volume(v, vol_weights)

    out = [m_open, m_high, m_low, m_close, m_vol]
    if invalid.any():
        for arr in out:
            arr[:, invalid] = np.nan
    return MinutePaths(*out, repaired=repaired, invalid=invalid)


def minute_index(session_open: datetime, minutes: int) -> pd.DatetimeIndex:
    """Bar-END stamps of a session's minutes, tz-aware America/New_York.

    ``minute_index(09:30, 390)`` is 09:31, 09:32, ..., 16:00.
    """
    if session_open.tzinfo is None or session_open.utcoffset() is None:
        raise ValueError(f"session_open {session_open.isoformat()} must be tz-aware")
    start = pd.Timestamp(session_open).tz_convert(ET)
    return pd.date_range(start + pd.Timedelta(minutes=1), periods=minutes, freq="min", name="at")


def _seconds_of_day(t: str | time) -> int:
    if isinstance(t, str):
        hh, mm, *ss = (int(p) for p in t.split(":"))
        t = time(hh, mm, ss[0] if ss else 0)
    return t.hour * 3600 + t.minute * 60 + t.second


def last_print_before(seconds: np.ndarray, prices: np.ndarray, seconds_of_day: float) -> np.ndarray:
    """Per symbol, the price of the last pre-market print strictly before ``seconds_of_day``
    (seconds since midnight ET); NaN when there is none yet."""
    count = (seconds < seconds_of_day).sum(axis=0)
    out = np.full(prices.shape[1], np.nan)
    has = count > 0
    out[has] = prices[count[has] - 1, np.nonzero(has)[0]]
    return out


def synth_premarket_trades(
    prev_close: np.ndarray | float,
    open: np.ndarray | float,
    rng: np.random.Generator,
    n_trades: int = 12,
    start: str | time = "04:00",
    end: str | time = "09:29",
) -> tuple[np.ndarray, np.ndarray]:
    """A few pre-market prints per symbol drifting from around ``prev_close`` toward ``open``.

    Prints come more often late in the window (as they do: little trades at 04:00), and the
    price is a Brownian bridge from the previous close to the coming open, so a gap filter
    at 09:25 sees a price near -- but not exactly at -- the open. A NaN previous close starts
    from the open; a NaN open gives NaN prices.

    Returns ``(seconds, prices)``, both (n_trades, N): ``seconds`` since midnight ET in
    whole seconds, ascending per symbol, within [start, end]; ``prices`` in cents.
    """
    if n_trades < 1:
        raise ValueError(f"n_trades must be >= 1, got {n_trades}")
    pc = _as_1d("prev_close", prev_close)
    op = _as_1d("open", open)
    pc, op = np.broadcast_arrays(pc, op)
    n = len(op)
    s0, s1 = _seconds_of_day(start), _seconds_of_day(end)
    if s1 <= s0:
        raise ValueError(f"pre-market window {start}..{end} is empty")
    bad_open = ~(np.isfinite(op) & (op > 0))
    pc = np.where(np.isfinite(pc) & (pc > 0), pc, op)
    op_ = np.where(bad_open, 1.0, op)
    pc_ = np.where(bad_open, 1.0, pc)

    # Fractions of the way to the open (09:30), late-skewed.
    f = np.sort(rng.beta(2.5, 1.0, size=(n_trades, n)), axis=0)
    f_end = (s1 - s0) / (34200 - s0) if s1 < 34200 else 1.0
    f = f * f_end
    seconds = s0 + f * (34200 - s0)
    seconds = np.minimum(np.round(seconds), s1)
    f = (seconds - s0) / (34200 - s0)

    # Bridge from prev_close (f=0) to open (f=1): increments of a Brownian motion in f.
    df = np.diff(np.vstack([np.zeros((1, n)), f, np.ones((1, n))]), axis=0)
    w = np.cumsum(rng.standard_normal(df.shape) * np.sqrt(np.maximum(df, 0.0)), axis=0)
    bridge = w[:-1] - f * w[-1][None, :]
    vol = 0.004 * pc_ + 0.2 * np.abs(op_ - pc_)
    prices = pc_ + f * (op_ - pc_) + vol * bridge
    prices = np.maximum(np.round(prices, 2), 0.01)
    prices[:, bad_open] = np.nan
    return seconds, prices


def quote_from_price(
    price: np.ndarray | float, spread_bps: float | np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A (bid, ask) around ``price``: a spread of about ``spread_bps`` (randomly 0.5x-1.5x),
    in whole cents and never under one cent. NaN prices give NaN quotes."""
    p = np.asarray(price, dtype=np.float64)
    half = p * np.asarray(spread_bps, dtype=np.float64) / 2e4 * (0.5 + rng.random(p.shape))
    half = np.maximum(half, 0.005)
    bid = np.floor((p - half) * 100.0 + 1e-9) / 100.0
    ask = np.ceil((p + half) * 100.0 - 1e-9) / 100.0
    ask = np.maximum(ask, bid + 0.01)
    bid = np.maximum(bid, 0.0)
    return bid, ask
