"""The simulated market: a seeded factor model of the S&P 500 plus SPY, daily and intraday.

Daily bars (all symbols, every session, generated once at construction in ~0.2 s):

* a hidden Markov chain of market states -- calm, trending up, trending down,
  turbulent -- with durations of weeks (geometric, per-state means below);
* the market factor (SPY): the state's drift plus a GJR-GARCH(1,1) unit variance
  (volatility clusters, and falls raise it more than rises) times the state's volatility
  level, smoothed so volatility jumps up fast and decays slowly; Student-t shocks;
* one factor per sector of the universe (the 11 GICS sectors), each with its own drift;
* per stock: beta, sector loading, idiosyncratic GJR-GARCH volatility, a drift of its own
  that wanders slowly (stocks trend independently of the market), earnings every ~63
  sessions (overnight gaps of several percent, partly followed by drift over the next
  days) and rare news jumps;
* every shock split into an overnight part (open vs previous close) and an intraday
  part (close vs open); high and low are drawn from the exact law of a Brownian bridge's
  maximum/minimum between open and close with the day's intraday volatility, so ranges
  (and ATR, ADX, Bollinger width) are consistent with the volatility;
* prices anchored so each stock's price at the end of the history lies in a realistic
  $10-$800 band (three below ~$8); dollar volumes log-normal around $110M a day (most
  above the $20M eligibility floor, a few below), higher on big-move and earnings days.

The market path is drawn again (same seeded stream) until the visible history shows all
three regimes of the trading rules, the last month some TREND, and the market above its
200-session average at the end (see ``_MAX_MARKET_DRAWS``): the user meets every strategy
and regime from the first scan. Calibration (seed 7): median stock volatility ~28% a
year, SPY ~13%, |gap| > 3% on ~1.5% of stock-days; over all 21-session windows of
several seeds all five strategies fire in ~70% of them (real S&P 500 2011-2022 under
the same rules: 65%; the misses are months without a TREND day, as in real data).

History: ``history_sessions`` sessions ending at the last session completed before the
simulated "today" began; ``future_sessions`` after it (today's own session first) are
revealed one by one as the clock passes each close.

Intraday (per session, on demand, cached for the current session and one more):
pre-market prints from 04:00 drifting from the previous close toward the open, the
official open (the day bar's open), a minute path through the day's OHLC
(:mod:`workstation.market.intraday`), and a trade/quote stream following that path
during regular hours.
"""

from __future__ import annotations

import logging
import math
import zlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol

import numpy as np
import pandas as pd

from workstation.core.bars import DailyBars
from workstation.core.calendar import ET, CalendarRangeError, TradingCalendar, get_calendar
from workstation.core.config import SimConfig
from workstation.core.models import Asset, Quote, Snapshot, TradeTick, Universe
from workstation.market.base import MarketDataError
from workstation.market.intraday import (
    MinutePaths,
    minute_index,
    quote_from_price,
    synth_minute_paths,
    synth_premarket_trades,
)
from workstation.market.validation import not_trading, validate_bars

TRADING_DAYS = 252

# ----------------------------------------------------------------------- regimes
# Hidden market states (indexes into REGIME_STATES); not the rules' regimes, which are
# computed from SPY's bars like any scan does.
CALM, TREND_UP, TREND_DOWN, TURBULENT = 0, 1, 2, 3


@dataclass(frozen=True)
class RegimeState:
    """One hidden market state: its volatility level, drift and typical duration."""

    name: str
    vol: float  # annualised volatility level of the market factor
    drift: float  # daily log drift of the market factor
    mean_sessions: float  # mean duration (geometric)


REGIME_STATES: tuple[RegimeState, ...] = (
    RegimeState("calm", vol=0.135, drift=0.0004, mean_sessions=22.0),
    RegimeState("trend_up", vol=0.14, drift=0.0009, mean_sessions=55.0),
    RegimeState("trend_down", vol=0.18, drift=-0.0012, mean_sessions=25.0),
    RegimeState("turbulent", vol=0.34, drift=-0.0005, mean_sessions=13.0),
)

# Where a state goes when it ends (rows sum to 1; the diagonal is the duration above).
REGIME_EXITS = np.array(
    [
        [0.00, 0.60, 0.25, 0.15],  # calm -> mostly an up-trend, sometimes trouble
        [0.60, 0.00, 0.20, 0.20],  # up-trend -> calm, or a correction / shock
        [0.35, 0.35, 0.00, 0.30],  # down-trend -> often turbulence
        [0.40, 0.40, 0.20, 0.00],  # turbulence -> calm, a rebound, or a grind lower
    ]
)

# Market GJR-GARCH(1,1) on a unit variance: h' = w + (a + g*[z<0]) z^2 h + b h, E[h] = 1.
_M_ARCH, _M_LEV, _M_GARCH = 0.04, 0.08, 0.87
# Stock idiosyncratic GJR-GARCH: less persistent, clusters that make Bollinger squeezes.
_I_ARCH, _I_LEV, _I_GARCH = 0.06, 0.04, 0.86
# Regime volatility level smoothing: up fast (shocks are sudden), down slowly.
_VOL_UP, _VOL_DOWN = 0.45, 0.08
# Student-t degrees of freedom of the shocks (fat tails).
_T_DF = 5.0
# Share of a day's variance that arrives overnight (open vs previous close).
_OVERNIGHT_SHARE = 0.20
# Earnings: every _EARNINGS_EVERY sessions a gap with sd drawn in this range.
_EARNINGS_EVERY = 63
_EARNINGS_SD = (0.03, 0.08)
# Each stock's own drift: constant part and a slowly changing part (annualised sd).
_ALPHA_SD, _ALPHA_HALF_LIFE = 0.30, 60.0
# Share of a news gap that follows as extra drift on each of the next sessions.
_NEWS_DRIFT, _NEWS_DRIFT_DAYS = 0.08, 5
# News jumps: probability per stock-day and size (sd of the log jump).
_JUMP_P, _JUMP_SD = 0.002, 0.05


# ------------------------------------------------------------------ the daily model


@dataclass(frozen=True)
class DailyModel:
    """What :func:`generate_daily` produces: (T, N) OHLCV and the hidden regime per session."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    states: np.ndarray  # (T,) index into REGIME_STATES
    market_draws: int  # market paths drawn until the history showed every regime


def _student_t(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Student-t shocks scaled to unit variance."""
    return rng.standard_t(_T_DF, size=shape) / math.sqrt(_T_DF / (_T_DF - 2.0))


def _stationary(stay: np.ndarray) -> np.ndarray:
    """Long-run share of time in each regime state."""
    jump = np.diag(stay) + (1.0 - stay)[:, None] * REGIME_EXITS
    evals, evecs = np.linalg.eig(jump.T)
    pi = np.real(evecs[:, np.argmin(np.abs(evals - 1.0))])
    return pi / pi.sum()


_STAY = np.array([1.0 - 1.0 / s.mean_sessions for s in REGIME_STATES])
_CUM_START = np.cumsum(_stationary(_STAY)).tolist()
_CUM_EXITS = np.cumsum(REGIME_EXITS, axis=1).tolist()


def _pick(cum: list[float], u: float) -> int:
    for i, c in enumerate(cum):
        if u < c:
            return i
    return len(cum) - 1


def _regime_chain(rng: np.random.Generator, n: int) -> np.ndarray:
    """A Markov chain of regime states over ``n`` sessions, durations geometric,
    starting from the long-run distribution. (Plain floats: a 580-step loop in ~0.1 ms.)"""
    u = rng.random(n).tolist()
    pick = rng.random(n).tolist()
    stay = _STAY.tolist()
    s = _pick(_CUM_START, pick[0])
    out = [s] * n
    for t in range(1, n):
        if u[t] > stay[s]:
            s = _pick(_CUM_EXITS[s], pick[t])
        out[t] = s
    return np.array(out, dtype=np.int8)


def _gjr_unit_variance(z: np.ndarray, arch: float, lev: float, garch: float) -> np.ndarray:
    """Unit-mean GJR-GARCH variance h_t driven by the standardized shocks ``z`` (T,) or (T, N)."""
    w = 1.0 - arch - lev / 2.0 - garch
    shock = (arch + lev * (z < 0)) * z * z + garch
    if z.ndim == 1:  # the market: a scalar recursion is fastest on plain floats
        hs = [1.0] * len(z)
        sh = shock.tolist()
        for t in range(1, len(z)):
            hs[t] = w + sh[t - 1] * hs[t - 1]
        return np.array(hs)
    h = np.empty_like(z)
    h[0] = 1.0
    for t in range(1, len(z)):
        np.multiply(shock[t - 1], h[t - 1], out=h[t])
        h[t] += w
    return h


def _smooth_level(level: np.ndarray) -> np.ndarray:
    """The regime volatility level, rising fast into stress and decaying slowly out of it."""
    lv = level.tolist()
    out = [lv[0]] * len(lv)
    for t in range(1, len(lv)):
        prev = out[t - 1]
        k = _VOL_UP if lv[t] > prev else _VOL_DOWN
        out[t] = prev + k * (lv[t] - prev)
    return np.array(out)


def _drifting_alpha(rng: np.random.Generator, t_n: int, n: int) -> np.ndarray:
    """Each stock's own slowly changing drift (an AR(1), half-life ~60 sessions): stocks
    have trends of their own, so some rise through a falling market and vice versa."""
    phi = 0.5 ** (1.0 / _ALPHA_HALF_LIFE)
    shocks = rng.standard_normal((t_n, n)) * (_ALPHA_SD / TRADING_DAYS) * math.sqrt(1 - phi * phi)
    out = np.empty((t_n, n))
    out[0] = rng.standard_normal(n) * (_ALPHA_SD / TRADING_DAYS)
    for t in range(1, t_n):
        np.multiply(out[t - 1], phi, out=out[t])
        out[t] += shocks[t]
    return out


def _bridge_extreme(b: np.ndarray, s: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The maximum of a Brownian bridge from 0 to ``b`` with total variance ``s**2``.

    Exact inverse of P(max > m) = exp(-2 m (m - b) / s^2) for m >= max(0, b).
    """
    return 0.5 * (b + np.sqrt(b * b - 2.0 * s * s * np.log(u)))


_F_ON, _F_ID = math.sqrt(_OVERNIGHT_SHARE), math.sqrt(1.0 - _OVERNIGHT_SHARE)
_DAILY = 1.0 / math.sqrt(TRADING_DAYS)

# The visible history must show every regime of the trading rules (section 5), the last
# month before "today" some trend, and "today" find the market above its 200-session
# average (as real SPY is ~75% of the time; most long setups need it), so the user meets
# every strategy and regime from the first scan on. The
# market path is drawn again (from the same seeded stream: still deterministic) until it
# does, at most _MAX_MARKET_DRAWS times. A conditioning of the draw, not a script: the
# order, timing and length of the stretches stay random.
_MAX_MARKET_DRAWS = 400
_REGIME_WINDOW = 250  # sessions before "today" (inclusive) that are checked
_MIN_HIGH_VOL, _MAX_HIGH_VOL_SHARE = 5, 0.25
_MIN_TREND, _MIN_RANGING = 15, 15
_LAST_MONTH, _MIN_TREND_LAST_MONTH = 21, 5
# Regime codes of the rules' formula (as computed by _rule_regimes).
RULE_RANGING, RULE_TREND, RULE_HIGH_VOL = 0, 1, 2


@dataclass(frozen=True)
class _Market:
    states: np.ndarray
    smooth: np.ndarray  # annualised regime volatility level, smoothed
    sig_m: np.ndarray  # daily sd of the market factor
    m_on: np.ndarray  # overnight log return
    m_id: np.ndarray  # intraday log return
    sd_id: np.ndarray  # intraday sd
    log_open: np.ndarray
    log_high: np.ndarray
    log_low: np.ndarray
    log_close: np.ndarray


def _market_path(states: np.ndarray, r_mkt: np.random.Generator) -> _Market:
    t_n = len(states)
    smooth = _smooth_level(np.array([s.vol for s in REGIME_STATES])[states])
    drift = np.array([s.drift for s in REGIME_STATES])[states]
    zm_on, zm_id = _student_t(r_mkt, (2, t_n))
    hm = _gjr_unit_variance(_F_ON * zm_on + _F_ID * zm_id, _M_ARCH, _M_LEV, _M_GARCH)
    sig_m = smooth * np.sqrt(hm) * _DAILY
    m_on = sig_m * _F_ON * zm_on
    m_id = drift + sig_m * _F_ID * zm_id
    sd_id = sig_m * _F_ID
    log_c = np.cumsum(m_on + m_id)
    log_o = log_c - m_id
    u = r_mkt.random((2, t_n))
    log_h = log_o + _bridge_extreme(m_id, sd_id, 1.0 - u[0])
    log_l = log_o - _bridge_extreme(-m_id, sd_id, 1.0 - u[1])
    return _Market(states, smooth, sig_m, m_on, m_id, sd_id, log_o, log_h, log_l, log_c)


def _wilder(x: list[float], n: int) -> list[float]:
    """Wilder's smoothing (an exponential average with alpha 1/n), seeded with x[0]."""
    k = 1.0 / n
    out = x[:]
    for t in range(1, len(x)):
        out[t] = out[t - 1] + k * (x[t] - out[t - 1])
    return out


def _rolling_mean(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    if len(x) >= n:
        c = np.cumsum(np.concatenate([[0.0], x]))
        out[n - 1 :] = (c[n:] - c[:-n]) / n
    return out


def _realized_vol(close: np.ndarray, n: int = 20) -> np.ndarray:
    """Annualised sample stdev (ddof=1) of the last ``n`` daily log returns."""
    out = np.full(len(close), np.nan)
    if len(close) > n:
        lr = np.diff(np.log(close))
        win = np.lib.stride_tricks.sliding_window_view(lr, n)
        out[n:] = win.std(axis=1, ddof=1) * math.sqrt(TRADING_DAYS)
    return out


def _rule_regimes(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """The trading rules' regime per session (RULE_* codes; -1 before sma200 exists).

    Wilder smoothing as a plain exponential average: close to ``ta``'s ADX, enough to
    steer the draw (the scanner computes the real thing). Numpy plus one loop: ~0.5 ms.
    """
    prev = np.concatenate([[close[0]], close[:-1]])
    tr = np.maximum(high, prev) - np.minimum(low, prev)
    up = np.diff(high, prepend=high[0])
    down = -np.diff(low, prepend=low[0])
    pdm = np.where((up > down) & (up > 0), up, 0.0)
    mdm = np.where((down > up) & (down > 0), down, 0.0)
    atr = np.array(_wilder(tr.tolist(), 14))
    pdi = 100.0 * np.array(_wilder(pdm.tolist(), 14)) / atr
    mdi = 100.0 * np.array(_wilder(mdm.tolist(), 14)) / atr
    dx = 100.0 * np.abs(pdi - mdi) / np.maximum(pdi + mdi, 1e-12)
    adx = np.array(_wilder(dx.tolist(), 14))
    sma50, sma200 = _rolling_mean(close, 50), _rolling_mean(close, 200)
    vol = _realized_vol(close)
    with np.errstate(invalid="ignore"):
        ordered = ((close > sma50) & (sma50 > sma200)) | ((close < sma50) & (sma50 < sma200))
        out = np.where(
            vol > 0.25, RULE_HIGH_VOL, np.where((adx >= 20) & ordered, RULE_TREND, RULE_RANGING)
        )
    out[np.isnan(sma200)] = -1
    return out


def _window(anchor_row: int) -> slice:
    """Rows checked for regimes: up to _REGIME_WINDOW sessions ending at "today", from the
    first session with a 200-session average."""
    return slice(max(199, anchor_row + 1 - _REGIME_WINDOW), anchor_row + 1)


def _states_can_show_high_vol(states: np.ndarray, anchor_row: int) -> bool:
    """Cheap pre-check on the hidden chain: realized volatility above 25% needs a
    turbulent stretch in (or just before) the window."""
    w = _window(anchor_row)
    return bool((states[max(0, w.start - 10) : w.stop] == TURBULENT).any())


def _history_shows_all_regimes(m: _Market, anchor_row: int) -> bool:
    w = _window(anchor_row)
    if w.stop - w.start <= 0:
        return True  # too short a history to judge: nothing to steer
    close = np.exp(m.log_close)
    hv = int(np.sum(_realized_vol(close)[w] > 0.25))
    if not _MIN_HIGH_VOL <= hv <= _MAX_HIGH_VOL_SHARE * (w.stop - w.start):
        return False
    reg = _rule_regimes(np.exp(m.log_high), np.exp(m.log_low), close)
    window = reg[w]
    last = reg[max(w.start, anchor_row + 1 - _LAST_MONTH) : anchor_row + 1]
    sma200 = _rolling_mean(close, 200)[anchor_row]
    return (
        int((window == RULE_TREND).sum()) >= _MIN_TREND
        and int((window == RULE_RANGING).sum()) >= _MIN_RANGING
        and int((last == RULE_TREND).sum()) >= _MIN_TREND_LAST_MONTH
        and not close[anchor_row] < sma200  # NaN (short history) passes
    )


def _draw_market(
    r_chain: np.random.Generator, r_mkt: np.random.Generator, t_n: int, anchor_row: int
) -> tuple[_Market, int]:
    """The first market path whose history shows every regime, and how many paths it took
    (after _MAX_MARKET_DRAWS the last one is kept: a valid, if less varied, market)."""
    draws = 0
    m: _Market | None = None
    for _ in range(_MAX_MARKET_DRAWS * 20):
        states = _regime_chain(r_chain, t_n)
        last_try = draws == _MAX_MARKET_DRAWS - 1
        if not (last_try or _states_can_show_high_vol(states, anchor_row)):
            continue
        m = _market_path(states, r_mkt)
        draws += 1
        if last_try or _history_shows_all_regimes(m, anchor_row):
            break
    if m is None:  # only a chain that never turns turbulent in 8000 tries gets here
        m = _market_path(_regime_chain(r_chain, t_n), r_mkt)
    return m, draws


def generate_daily(
    n_sessions: int,
    sector_codes: np.ndarray,
    benchmark_col: int | None,
    anchor_row: int,
    seed: int,
) -> DailyModel:
    """Daily OHLCV of ``len(sector_codes)`` symbols over ``n_sessions`` sessions.

    ``sector_codes[j]`` is symbol j's sector index (any small ints); ``benchmark_col`` is
    the column that *is* the market factor (SPY; no sector, no idiosyncratic part);
    prices are anchored at row ``anchor_row`` (the simulated "today").
    Deterministic in ``seed``: separate random streams per model part.
    """
    t_n, n = n_sessions, len(sector_codes)
    seq = np.random.SeedSequence([int(seed), 0x5EED_DA11])
    r_chain, r_mkt, r_sec, r_par, r_idio, r_ohlc, r_vol = (
        np.random.default_rng(s) for s in seq.spawn(7)
    )
    f_on, f_id = _F_ON, _F_ID
    daily = _DAILY

    # --- market factor: drawn until the visible history shows every regime ------------
    market, draws = _draw_market(r_chain, r_mkt, t_n, anchor_row)
    states, smooth, sig_m = market.states, market.smooth, market.sig_m
    m_on, m_id = market.m_on, market.m_id
    # Sectors and stocks get more volatile in stress too, but less than the market
    # (correlations rise in a sell-off).
    stress = ((smooth / REGIME_STATES[CALM].vol) ** 0.35)[:, None]

    # --- sector factors -----------------------------------------------------------
    codes = np.asarray(sector_codes, dtype=np.int64)
    k_n = int(codes.max()) + 1 if n else 0
    sec_vol = r_sec.uniform(0.06, 0.12, k_n) * daily
    sec_drift = r_sec.normal(0.0, 0.08, k_n) / TRADING_DAYS
    zs_on, zs_id = _student_t(r_sec, (2, t_n, k_n))
    s_on = (stress * sec_vol * f_on * zs_on)[:, codes]
    s_id = (stress * sec_vol * f_id * zs_id + sec_drift)[:, codes]

    # --- stock parameters -----------------------------------------------------------
    beta = np.clip(r_par.normal(1.0, 0.3, n), 0.3, 2.0)
    load = r_par.uniform(0.6, 1.2, n)
    idio_vol = np.clip(r_par.lognormal(math.log(0.17), 0.35, n), 0.09, 0.70) * daily
    alpha = r_par.normal(0.0, 0.12, n) / TRADING_DAYS
    earn_phase = r_par.integers(0, _EARNINGS_EVERY, n)
    earn_sd = r_par.uniform(*_EARNINGS_SD, n)
    # Price on "today": log-normal around $90; three stocks trade around $3-$8.
    price_now = np.clip(r_par.lognormal(math.log(90.0), 0.85, n), 9.0, 850.0)
    cheap = r_par.choice(n, size=min(3, n), replace=False) if n > 3 else np.array([], int)
    price_now[cheap] = r_par.uniform(3.0, 8.0, len(cheap))
    dollar_vol = r_par.lognormal(math.log(110e6), 0.95, n)

    # --- idiosyncratic returns (in place where possible: (T, N) arrays add up) ----------
    ze = _student_t(r_idio, (2, t_n, n))
    sig_e = _gjr_unit_variance(f_on * ze[0] + f_id * ze[1], _I_ARCH, _I_LEV, _I_GARCH)
    np.sqrt(sig_e, out=sig_e)
    sig_e *= stress
    sig_e *= idio_vol
    e_on = ze[0]
    e_on *= sig_e
    e_on *= f_on
    e_id = ze[1]
    e_id *= sig_e
    e_id *= f_id
    e_id += alpha
    e_id += _drifting_alpha(r_idio, t_n, n)
    # Intraday volatility of each stock-day (for the high/low bridges and volume).
    sd_id = sig_e
    sd_id **= 2
    sd_id += (beta * sig_m[:, None]) ** 2
    sd_id += (load * stress * sec_vol[codes]) ** 2
    np.sqrt(sd_id, out=sd_id)
    sd_id *= f_id
    del sig_e

    earnings = (np.arange(t_n)[:, None] % _EARNINGS_EVERY) == earn_phase[None, :]
    jumps = r_idio.random((t_n, n)) < _JUMP_P
    news = r_idio.standard_normal((t_n, n))
    news *= np.where(earnings, earn_sd, 0.0)
    extra = r_idio.standard_normal((t_n, n))
    extra *= np.where(jumps & ~earnings, _JUMP_SD, 0.0)
    news += extra
    del extra, jumps
    e_on += news
    # The market digests news over a few sessions: part of a gap continues as drift
    # (post-earnings drift), which also makes the sharp multi-day drops RSI reversion needs.
    for lag in range(1, _NEWS_DRIFT_DAYS + 1):
        e_id[lag:] += _NEWS_DRIFT * news[:-lag]
    del news

    gap = beta * m_on[:, None]
    gap += load * s_on
    gap += e_on
    intra = beta * m_id[:, None]
    intra += load * s_id
    intra += e_id
    del e_on, e_id, ze, s_on, s_id
    if benchmark_col is not None:
        # The benchmark IS the market factor, bar for bar, including its high and low.
        gap[:, benchmark_col] = m_on
        intra[:, benchmark_col] = m_id
        sd_id[:, benchmark_col] = sig_m * f_id
        price_now[benchmark_col] = 450.0 * math.exp(r_par.normal(0.0, 0.1))
        dollar_vol[benchmark_col] = 30e9
        earnings[:, benchmark_col] = False

    # --- prices -----------------------------------------------------------------------
    ret = gap
    ret += intra
    del gap
    log_c = np.cumsum(ret, axis=0)
    log_c += (np.log(price_now) - log_c[anchor_row])[None, :]
    log_o = log_c - intra
    u = r_ohlc.random((2, t_n, n))
    np.subtract(1.0, u, out=u)  # 1 - u: never log(0)
    up = _bridge_extreme(intra, sd_id, u[0])
    down = _bridge_extreme(-intra, sd_id, u[1])
    del u, intra
    if benchmark_col is not None:
        up[:, benchmark_col] = market.log_high - market.log_open
        down[:, benchmark_col] = market.log_open - market.log_low
    close = np.round(np.exp(log_c), 2)
    del log_c
    up += log_o
    down -= log_o
    open_ = np.round(np.exp(log_o), 2)
    del log_o
    high = np.maximum(np.round(np.exp(up), 2), np.maximum(open_, close))
    del up
    low = np.minimum(np.round(np.exp(-down), 2), np.minimum(open_, close))
    del down
    np.maximum(low, 0.01, out=low)

    # --- volume: dollar volume around each stock's norm, busier on big moves -------------
    move = np.abs(ret)
    del ret
    move /= np.maximum(sd_id, 1e-9)
    move *= math.sqrt(1.0 - _OVERNIGHT_SHARE)  # in units of the whole day's volatility
    del sd_id
    mult = np.exp(0.25 * r_vol.standard_normal((t_n, n)))
    mult *= 0.55 + 0.55 * move
    del move
    mult *= np.where(earnings, 2.5, 1.0)
    mult *= stress**0.5
    mult *= dollar_vol
    mult /= close
    volume = np.maximum(np.round(mult), 100.0)
    del mult

    return DailyModel(open_, high, low, close, volume, states, draws)


# ------------------------------------------------------------------ the market object


class SimClockLike(Protocol):
    """What the simulated market needs of a clock (``workstation.core.clock`` satisfies it).

    A ``speed`` attribute (simulated seconds per real second, ``math.inf`` for max) is read
    if present, to keep the quote stream from flooding at high speeds.
    """

    def now(self) -> datetime: ...

    async def sleep_until(self, t: datetime) -> None: ...


# The stream switches from ticks at quote_rate_hz to one batch per simulated minute when
# ticks would come faster than this per real second and symbol.
MAX_TICKS_PER_WALL_SECOND = 500.0
PREMARKET_START = time(4, 0)
PREMARKET_TRADES = 20
# Quoted spread, in basis points, of a stock trading $1M a day; liquid names are tighter
# (~ 1 / sqrt(dollar volume)). Pre-market quotes are this many times wider.
_SPREAD_BPS_AT_1M = 30.0
_MIN_SPREAD_BPS = 1.0
_PREMARKET_SPREAD_FACTOR = 4.0


@dataclass(frozen=True)
class SessionIntraday:
    """One session of every symbol: pre-market prints and the regular-hours minute path."""

    session: date
    row: int
    open_at: datetime
    close_at: datetime
    index: pd.DatetimeIndex  # bar END times (tz-aware ET), one per minute
    paths: MinutePaths  # (minutes, N) minute OHLCV, prices in cents
    pre_seconds: np.ndarray  # (k, N) pre-market print times, seconds since midnight ET
    pre_prices: np.ndarray  # (k, N) pre-market print prices
    pre_sizes: np.ndarray  # (k, N) pre-market print sizes (shares)

    @property
    def minutes(self) -> int:
        return self.paths.minutes

    def minute_of(self, when: datetime) -> tuple[int, float]:
        """(minute k, fraction of it elapsed) of a regular-hours instant."""
        secs = (when - self.open_at).total_seconds()
        k = min(int(secs // 60.0), self.minutes - 1)
        return k, min(1.0, (secs - 60.0 * k) / 60.0)

    def prices_at(self, when: datetime, cols: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Regular-hours trade prices at ``when``: within minute k the price moves linearly
        open -> first extreme -> second extreme -> close (low first on an up-minute), so
        every minute's high and low are actually traded."""
        if when >= self.close_at:
            return self.paths.close[-1, cols]
        k, f = self.minute_of(when)
        p = self.minute_points(k, cols)
        x = f * 3.0
        i = min(int(x), 2)
        w = x - i
        return np.round(p[i] + w * (p[i + 1] - p[i]), 2)

    def minute_points(self, k: int, cols: np.ndarray | slice = slice(None)) -> np.ndarray:
        """(4, n) prices of minute k at 0, 1/3, 2/3 and 1 of it: O, extreme, extreme, C."""
        o, h = self.paths.open[k, cols], self.paths.high[k, cols]
        lo, c = self.paths.low[k, cols], self.paths.close[k, cols]
        low_first = c >= o
        return np.stack([o, np.where(low_first, lo, h), np.where(low_first, h, lo), c])

    def last_premarket(self, when: datetime) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(price, seconds since midnight, size) of each symbol's last pre-market print
        strictly before ``when``; NaN where there is none yet."""
        w = when.astimezone(ET)
        sod = w.hour * 3600 + w.minute * 60 + w.second + w.microsecond / 1e6
        count = (self.pre_seconds < sod).sum(axis=0)
        out = [np.full(count.shape, np.nan) for _ in range(3)]
        has = count > 0
        cols = np.nonzero(has)[0]
        for o, src in zip(out, (self.pre_prices, self.pre_seconds, self.pre_sizes), strict=True):
            o[has] = src[count[has] - 1, cols]
        return out[0], out[1], out[2]


def _sector_codes(sectors: Sequence[str]) -> np.ndarray:
    """Sector names -> small ints, GICS sectors first in a fixed order (stable factors)."""
    from workstation.market.universe import GICS_SECTORS

    extra = sorted(set(sectors) - set(GICS_SECTORS))
    order = {name: i for i, name in enumerate((*GICS_SECTORS, *extra))}
    return np.array([order[s] for s in sectors], dtype=np.int64)


def _stable_rank(seed: int, symbol: str) -> int:
    """A per-symbol number that depends only on (seed, symbol): flags that do not move when
    the universe changes."""
    return zlib.crc32(f"{seed}:{symbol}".encode())


class SimMarket:
    """The embedded simulated market (implements :class:`~workstation.market.base.MarketData`).

    ``SimMarket(universe, cfg, clock, calendar=None)``. The simulated "today" is
    ``cfg.today`` (YYYY-MM-DD) or, when empty, the clock's date at construction. The
    history (``cfg.history_sessions``) ends at the last session completed before today
    began (:attr:`history_end`: the previous session, today's own session being the first
    of ``cfg.future_sessions``). Everything is a pure function of
    ``(universe, cfg.seed, today, cfg.history_sessions, cfg.future_sessions)`` -- never
    of the time of day: the same inputs give the same bars, bit for bit, and the same
    intraday paths.

    Nothing is revealed ahead of the clock: a daily bar appears once its session has
    closed, minute bars once complete, snapshots and prices only up to ``clock.now()``.
    The async protocol methods have synchronous twins (``daily_bars_now``,
    ``minute_bars_now``, ``snapshots_now``) for executor threads and scripts.
    """

    name = "sim"

    def __init__(
        self,
        universe: Universe,
        cfg: SimConfig,
        clock: SimClockLike,
        calendar: TradingCalendar | None = None,
    ) -> None:
        self._universe = universe
        self._cfg = cfg
        self._clock = clock
        self._cal = calendar if calendar is not None else get_calendar()
        self._seed = int(cfg.seed)

        today = self._parse_today(cfg.today, clock)
        self._today = today
        try:
            # No session of "today" has completed when the simulated day begins: the
            # history ends at the session before it, and today's own session (if it is
            # one) is the first future session, played out live.
            self._history_end = self._cal.previous_session(today)
            history = self._cal.sessions_back(self._history_end, cfg.history_sessions)
            future: list[date] = []
            d = self._history_end
            for _ in range(cfg.future_sessions):
                d = self._cal.next_session(d)
                future.append(d)
        except CalendarRangeError as exc:
            raise MarketDataError(
                f"the simulated market cannot cover {cfg.history_sessions} sessions before "
                f"and {cfg.future_sessions} after {today}: {exc}; choose another sim.today "
                "in app.yaml"
            ) from exc
        self._sessions: list[date] = [*history, *future]
        self._row = {d: i for i, d in enumerate(self._sessions)}
        self._anchor_row = len(history) - 1
        self._opens = [self._cal.open_time(d) for d in self._sessions]
        self._closes = [self._cal.close_time(d) for d in self._sessions]

        symbols = list(universe.symbols)
        bench = universe.benchmark
        if bench not in universe.sectors:
            symbols.append(bench)
        self._symbols = tuple(symbols)
        self._col = {s: j for j, s in enumerate(symbols)}
        bench_col = self._col.get(bench)
        sectors = [universe.sector(s) for s in symbols]
        model = generate_daily(
            len(self._sessions), _sector_codes(sectors), bench_col, self._anchor_row, self._seed
        )
        # §14 in every market: the generated bars go through the same validation as a file's
        # (no spike rule: a live market does not know the next session).
        checked = validate_bars(
            DailyBars(
                np.array(self._sessions, dtype="datetime64[D]"),
                self._symbols,
                model.open,
                model.high,
                model.low,
                model.close,
                model.volume,
            )
        )
        self._bars = checked.bars
        for line in checked.report.lines():
            logging.getLogger(__name__).warning("simulated market: %s", line)
        self.market_draws = model.market_draws
        hist = slice(0, self._anchor_row + 1)
        dv = np.median(model.close[hist] * model.volume[hist], axis=0)
        self._spread_bps = np.clip(
            _SPREAD_BPS_AT_1M / np.sqrt(np.maximum(dv, 1.0) / 1e6), _MIN_SPREAD_BPS, 50.0
        )
        self._assets = self._make_assets(bench)
        self._intraday: OrderedDict[date, SessionIntraday] = OrderedDict()

    # ------------------------------------------------------------------ set-up

    @staticmethod
    def _parse_today(raw: str, clock: SimClockLike) -> date:
        if not raw:
            return clock.now().astimezone(ET).date()
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            raise MarketDataError(
                f"app.yaml: sim.today = {raw!r} is not a date; write it as YYYY-MM-DD "
                "or leave it empty for the real date"
            ) from None

    def _make_assets(self, bench: str) -> dict[str, Asset]:
        stocks = sorted(
            (s for s in self._symbols if s != bench), key=lambda s: (_stable_rank(self._seed, s), s)
        )
        n_htb = round(self._cfg.hard_to_borrow_share * len(stocks))
        htb = set(stocks[:n_htb])
        not_shortable = set(stocks[: min(2, n_htb)])
        return {
            s: Asset(
                s, tradable=True, shortable=s not in not_shortable, easy_to_borrow=s not in htb
            )
            for s in self._symbols
        }

    # ------------------------------------------------------------------ facts

    def universe(self) -> Universe:
        return self._universe

    @property
    def today(self) -> date:
        """The simulated "today" (``cfg.today`` or the clock's date at construction)."""
        return self._today

    @property
    def history_end(self) -> date:
        """The last session of the history: the last one completed before "today" began."""
        return self._history_end

    @property
    def sessions(self) -> tuple[date, ...]:
        """Every simulated session, history and future (revealed or not)."""
        return tuple(self._sessions)

    @property
    def symbols(self) -> tuple[str, ...]:
        """The universe's symbols plus the benchmark, in the bars' column order."""
        return self._symbols

    def assets(self) -> dict[str, Asset]:
        return dict(self._assets)

    def asset(self, symbol: str) -> Asset:
        """The symbol's flags; an unknown symbol is not tradable (never a crash)."""
        return self._assets.get(
            symbol, Asset(symbol, tradable=False, shortable=False, easy_to_borrow=False)
        )

    def last_closed_session(self, now: datetime | None = None) -> date | None:
        """The last simulated session whose close is at or before ``now`` (default: the
        clock's now); None before the first one."""
        n = self._revealed(now)
        return self._sessions[n - 1] if n else None

    def _revealed(self, now: datetime | None = None) -> int:
        """How many sessions have closed at ``now``."""
        now = self._clock.now() if now is None else now
        lo, hi = 0, len(self._closes)
        while lo < hi:  # bisect on aware datetimes
            mid = (lo + hi) // 2
            if self._closes[mid] <= now:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _column(self, symbol: str) -> int:
        j = self._col.get(symbol)
        if j is None:
            raise MarketDataError(
                f"{symbol} is not in the simulated market's universe "
                f"({len(self._symbols)} symbols); check the symbol or the universe file"
            )
        return j

    def _session_row(self, session: date) -> int:
        i = self._row.get(session)
        if i is None:
            raise MarketDataError(
                f"{session} is not a simulated session (the simulation covers NYSE sessions "
                f"{self._sessions[0]} .. {self._sessions[-1]})"
            )
        return i

    # ------------------------------------------------------------------ daily

    async def daily_bars(self, symbols: Sequence[str], end: date, sessions: int) -> DailyBars:
        return self.daily_bars_now(symbols, end, sessions)

    def daily_bars_now(self, symbols: Sequence[str], end: date, sessions: int) -> DailyBars:
        """The synchronous body of :meth:`daily_bars` (for executors and scripts)."""
        stop = min(
            self._revealed(),
            int(np.searchsorted(self._bars.dates, np.datetime64(end, "D"), "right")),
        )
        start = max(0, stop - max(0, int(sessions)))
        rows = slice(start, stop)
        cols = np.array([self._col.get(s, -1) for s in symbols], dtype=np.int64)
        known = cols >= 0
        fields = []
        for name in ("open", "high", "low", "close", "volume"):
            src = getattr(self._bars, name)[rows]
            out = np.full((src.shape[0], len(cols)), np.nan)
            out[:, known] = src[:, cols[known]]
            fields.append(out)
        flags = np.zeros((len(fields[0]), len(cols)), dtype=np.uint8)
        if self._bars.flags is not None:
            flags[:, known] = self._bars.flags[rows][:, cols[known]]
        return DailyBars(self._bars.dates[rows], tuple(symbols), *fields, flags=flags)

    def not_trading(self, symbols: Sequence[str], session: date) -> dict[str, str]:
        """Symbols whose generated bar of ``session`` has zero volume or is not served
        (trading rules §14), with the reason."""
        return not_trading(self._bars, symbols, session)

    # ------------------------------------------------------------------ intraday

    def intraday(self, session: date) -> SessionIntraday:
        """Pre-market prints and minute paths of every symbol for ``session``, built on first
        use from a generator seeded by (seed, session): the same whatever the order of
        requests. The two most recently used sessions are kept."""
        cached = self._intraday.get(session)
        if cached is not None:
            self._intraday.move_to_end(session)
            return cached
        row = self._session_row(session)
        rng = np.random.default_rng(
            np.random.SeedSequence([self._seed, 0x1D7A, session.toordinal()])
        )
        b = self._bars
        minutes = self._cal.minutes_in_session(session)
        paths = synth_minute_paths(
            b.open[row], b.high[row], b.low[row], b.close[row], b.volume[row], minutes, rng
        )
        # Cents, as on the tape. Rounding is monotone, so every OHLC relation still holds.
        paths = MinutePaths(
            np.round(paths.open, 2),
            np.round(paths.high, 2),
            np.round(paths.low, 2),
            np.round(paths.close, 2),
            paths.volume,
            paths.repaired,
            paths.invalid,
        )
        prev_close = b.close[row - 1] if row > 0 else b.open[row]
        secs, prices = synth_premarket_trades(prev_close, b.open[row], rng, PREMARKET_TRADES)
        # Pre-market prints are small: ~0.5% of the day's volume in all.
        sizes = np.maximum(
            np.round(
                b.volume[row] * 0.005 / PREMARKET_TRADES * rng.lognormal(0, 0.5, prices.shape)
            ),
            1.0,
        )
        data = SessionIntraday(
            session,
            row,
            self._opens[row],
            self._closes[row],
            minute_index(self._opens[row], minutes),
            paths,
            secs,
            prices,
            sizes,
        )
        self._intraday[session] = data
        while len(self._intraday) > 2:
            self._intraday.popitem(last=False)
        return data

    async def minute_bars(
        self,
        symbol: str,
        session: date,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pd.DataFrame:
        return self.minute_bars_now(symbol, session, start, end)

    def minute_bars_now(
        self,
        symbol: str,
        session: date,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pd.DataFrame:
        """The synchronous body of :meth:`minute_bars`."""
        j = self._column(symbol)
        row = self._session_row(session)
        now = self._clock.now()
        if self._opens[row] >= now:
            empty = pd.DatetimeIndex([], tz=ET, name="at")
            return pd.DataFrame(
                {f: pd.Series(dtype=float) for f in ("open", "high", "low", "close", "volume")}
            ).set_axis(empty)
        data = self.intraday(session)
        df = data.paths.frame(j, data.index)
        keep = df.index <= now
        if start is not None:
            keep &= df.index >= start
        if end is not None:
            keep &= df.index <= end
        return df[keep]

    def official_open(self, symbol: str, session: date) -> float | None:
        """The session's official opening price (the day bar's open), once it has opened
        at the clock's now; None before."""
        j = self._column(symbol)
        row = self._session_row(session)
        if self._clock.now() < self._opens[row]:
            return None
        return float(self._bars.open[row, j])

    def price_at(self, symbol: str, when: datetime) -> float:
        """The last traded price at ``when`` (not after the clock's now): a pre-market print
        (or the previous close before the first one), the intraday path during the session,
        the close after it."""
        j = self._column(symbol)
        now = self._clock.now()
        if when > now:
            raise MarketDataError(
                f"price of {symbol} asked for {when.isoformat()}, after the simulated now "
                f"{now.isoformat()}: the market does not reveal the future"
            )
        price, _at, _size, _phase = self._last_trades(when, np.array([j]))
        if not np.isfinite(price[0]):
            raise MarketDataError(
                f"no simulated price of {symbol} at {when.isoformat()}: the simulation "
                f"starts with the session {self._sessions[0]}"
            )
        return float(price[0])

    def _session_for(self, when: datetime) -> int | None:
        """Row of the session whose trading day (04:00 to its close) contains ``when``."""
        d = when.astimezone(ET).date()
        row = self._row.get(d)
        if row is None or when < datetime.combine(d, PREMARKET_START, tzinfo=ET):
            return None
        return row if when < self._closes[row] else None

    def _last_trades(
        self, when: datetime, cols: np.ndarray
    ) -> tuple[np.ndarray, list[datetime | None], np.ndarray, str]:
        """Each column's last price at ``when``: (prices, trade times, trade sizes, phase),
        phase one of 'pre', 'open', 'closed'. A time of None means no trade of the session
        yet (the price is then the previous close); NaN prices where nothing has traded."""
        row = self._session_for(when)
        n = len(cols)
        if row is not None and when >= self._opens[row]:
            data = self.intraday(self._sessions[row])
            k, _ = data.minute_of(when)
            size = np.maximum(1.0, np.round(data.paths.volume[k, cols] / 60.0))
            return data.prices_at(when, cols), [when] * n, size, "open"
        if row is not None:  # pre-market: the last print, else the previous close
            data = self.intraday(self._sessions[row])
            price, secs, size = data.last_premarket(when)
            price, secs, size = price[cols], secs[cols], size[cols]
            midnight = datetime.combine(self._sessions[row], time(0), tzinfo=ET)
            times: list[datetime | None] = [
                midnight + timedelta(seconds=float(x)) if np.isfinite(x) else None for x in secs
            ]
            prev = self._bars.close[row - 1, cols] if row > 0 else np.full(n, np.nan)
            return np.where(np.isfinite(price), price, prev), times, size, "pre"
        done = self._revealed(when)
        if done == 0:
            return np.full(n, np.nan), [None] * n, np.zeros(n), "closed"
        # The closing print: about a tenth of the day's volume crosses in the auction.
        size = np.round(self._bars.volume[done - 1, cols] * 0.1)
        return self._bars.close[done - 1, cols], [self._closes[done - 1]] * n, size, "closed"

    async def snapshots(self, symbols: Sequence[str], at: datetime) -> dict[str, Snapshot]:
        return self.snapshots_now(symbols, at)

    def snapshots_now(self, symbols: Sequence[str], at: datetime) -> dict[str, Snapshot]:
        """The synchronous body of :meth:`snapshots`. ``at`` after the clock's now is read
        as now (nothing from the future). Unknown symbols are left out.

        * pre-market (04:00 to the open of a session): the latest pre-market print before
          ``at`` (None if there is none yet), a quote around it (or around the previous
          close), the previous close; no official open yet;
        * regular hours: the trade and quote of the intraday path at ``at``, the previous
          close, the official open;
        * otherwise: the last close (trade at the close), the close before it as previous
          close, and that session's open.
        """
        now = self._clock.now()
        at = min(at, now)
        known = [s for s in symbols if s in self._col]
        if not known:
            return {}
        cols = np.array([self._col[s] for s in known])
        price, times, sizes, phase = self._last_trades(at, cols)
        row = self._session_for(at)
        if phase == "closed":
            done = self._revealed(at)
            row = done - 1 if done else None
        spread = self._spread_bps[cols] * (_PREMARKET_SPREAD_FACTOR if phase == "pre" else 1.0)
        rng = np.random.default_rng([self._seed, 0x5A9, int(at.timestamp())])
        bid, ask = quote_from_price(price, spread, rng)
        prev_close = (
            self._bars.close[row - 1, cols]
            if row is not None and row > 0
            else np.full(len(cols), np.nan)
        )
        opened = row is not None and phase != "pre"
        out: dict[str, Snapshot] = {}
        for i, s in enumerate(known):
            p = float(price[i])
            has_price = math.isfinite(p)
            t_i = times[i]
            trade = TradeTick(s, t_i, p, float(sizes[i])) if has_price and t_i is not None else None
            quote = Quote(s, at, float(bid[i]), float(ask[i]), 100.0, 100.0) if has_price else None
            pc = float(prev_close[i])
            out[s] = Snapshot(
                symbol=s,
                latest_trade=trade,
                latest_quote=quote,
                prev_close=pc if math.isfinite(pc) else None,
                session_open=float(self._bars.open[row, cols[i]]) if opened else None,
            )
        return out

    # ------------------------------------------------------------------ streaming

    def _speed(self) -> float:
        try:
            return float(getattr(self._clock, "speed", 1.0))
        except (TypeError, ValueError):
            return 1.0

    def _minute_mode(self) -> bool:
        return self._speed() * self._cfg.quote_rate_hz > MAX_TICKS_PER_WALL_SECOND

    async def stream(self, symbols: Sequence[str]) -> AsyncIterator[Quote | TradeTick]:
        """Live trades and quotes of ``symbols`` during regular hours, following each
        session's minute path; ends after the last simulated session.

        At ``cfg.quote_rate_hz`` ticks per second of simulated time, each tick a
        :class:`TradeTick` and a :class:`Quote` per symbol. When that would exceed
        ``MAX_TICKS_PER_WALL_SECOND`` per real second (high or max clock speed), one batch per
        symbol per simulated minute instead: the minute's two extremes, in the order they
        were traded, as trades (at :20 and :40), then a quote at its close, so a monitor
        still sees every high and low. Each comes when the clock reaches its time, so what
        the engine does about a print happens at that print's time. Unknown symbols raise
        :class:`MarketDataError` at once.
        """
        cols = np.array([self._column(s) for s in symbols], dtype=np.int64)
        names = list(symbols)
        step = timedelta(seconds=1.0 / self._cfg.quote_rate_hz)
        ticks_per_minute = max(1.0, 60.0 * self._cfg.quote_rate_hz)
        current: tuple[int, SessionIntraday, np.ndarray, np.random.Generator] | None = None
        while True:
            now = self._clock.now()
            row = self._revealed(now)  # the first session not yet closed
            if row >= len(self._sessions):
                return
            open_at, close_at = self._opens[row], self._closes[row]
            if now < open_at:
                await self._clock.sleep_until(open_at)
                continue
            if current is None or current[0] != row:
                data = self.intraday(self._sessions[row])
                seq = [self._seed, 0x57E4, self._sessions[row].toordinal()]
                current = (row, data, data.paths.volume[:, cols], np.random.default_rng(seq))
            _, data, volume, rng = current
            if self._minute_mode():
                k = int((now - open_at).total_seconds() // 60.0)
                # Each print at its own time (:20, :40, the quote at :60), not the whole
                # minute at its end: an exit a :20 print decides is ordered at :20, as it
                # would be live (issue 12 item 9: it went out 20-40 s late).
                for ev in self._minute_events(data, k, cols, names, volume[k], rng):
                    if ev.at > self._clock.now():
                        await self._clock.sleep_until(ev.at)
                    yield ev
                continue
            t = min(open_at + (int((now - open_at) / step) + 1) * step, close_at)
            await self._clock.sleep_until(t)
            price = data.prices_at(t, cols)
            bid, ask = quote_from_price(price, self._spread_bps[cols], rng)
            size = np.maximum(1.0, np.round(volume[data.minute_of(t)[0]] / ticks_per_minute))
            for i, s in enumerate(names):
                p = float(price[i])
                if math.isfinite(p):
                    yield TradeTick(s, t, p, float(size[i]))
                    yield Quote(s, t, float(bid[i]), float(ask[i]), 100.0, 100.0)

    def _minute_events(
        self,
        data: SessionIntraday,
        k: int,
        cols: np.ndarray,
        names: list[str],
        volume: np.ndarray,
        rng: np.random.Generator,
    ) -> list[Quote | TradeTick]:
        pts = data.minute_points(k, cols)
        start = data.open_at + timedelta(minutes=k)
        t1, t2 = start + timedelta(seconds=20), start + timedelta(seconds=40)
        t_end = start + timedelta(minutes=1)
        bid, ask = quote_from_price(pts[3], self._spread_bps[cols], rng)
        ok = [i for i in range(len(names)) if math.isfinite(float(pts[3, i]))]
        size = np.maximum(1.0, np.round(volume / 3.0))
        # In time order across symbols: every first extreme, every second one, every quote.
        out: list[Quote | TradeTick] = [
            TradeTick(names[i], t, float(pts[p, i]), float(size[i]))
            for p, t in ((1, t1), (2, t2))
            for i in ok
        ]
        out.extend(Quote(names[i], t_end, float(bid[i]), float(ask[i]), 100.0, 100.0) for i in ok)
        return out
