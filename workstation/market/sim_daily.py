"""The simulated market's daily bars: a seeded factor model of the S&P 500 plus SPY.

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

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
