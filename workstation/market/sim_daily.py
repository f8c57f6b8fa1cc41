"""The simulated market's daily bars: a seeded factor model of the S&P 500 plus SPY.

* the market factor (SPY) of :mod:`workstation.market.sim_regimes`: hidden regimes,
  GJR-GARCH volatility, conditioned so the history shows every regime;
* one factor per sector of the universe (the 11 GICS sectors), each with its own drift;
* per stock: its real beta, a sector loading, idiosyncratic GJR-GARCH volatility, a drift of
  its own that wanders slowly (stocks trend independently of the market), earnings every ~63
  sessions (overnight gaps of a few of its daily moves, partly followed by drift over the
  next days) and rare news jumps;
* every shock split into an overnight part (open vs previous close) and an intraday
  part (close vs open); high and low are drawn from the exact law of a Brownian bridge's
  maximum/minimum between open and close with the day's intraday volatility, so ranges
  (and ATR, ADX, Bollinger width) are consistent with the volatility;
* each real symbol starts from public facts (:mod:`workstation.market.symbol_facts`): its
  price on the last session of the history ("today"'s previous close) is its real close of
  2022-09-09, its long-run volatility and beta are its real ones of 2011-2022 (the parts
  above add up to that volatility), its dollar volume varies around its real median
  (higher on big-move and earnings days). Symbols the table does not know take the facts
  of a table row drawn at random.

Calibration (seed 7, the 320-session history): median stock volatility ~29% a year (the
table's median long-run volatility: 28.5%), SPY ~17%, |gap| > 3% on ~2% of stock-days (real
S&P 500 2011-2022: 2.3%); every strategy fires in the last month (tests/unit/
test_sim_market.py). Over 2,320 sessions each stock's volatility is within ~3% of its table
value at the median, its beta within ~1% (same test file).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from workstation.core.bars import DailyBars
from workstation.market.sim_regimes import (
    DAILY,
    F_ID,
    F_ON,
    OVERNIGHT_SHARE,
    REGIME_STATES,
    STATIONARY,
    STRESS_VARIANCE,
    TRADING_DAYS,
    bridge_extreme,
    draw_market,
    gjr_unit_variance,
    student_t,
)
from workstation.market.symbol_facts import SymbolFacts, facts_for, stock_rows

# Stock idiosyncratic GJR-GARCH: less persistent, clusters that make Bollinger squeezes.
_I_ARCH, _I_LEV, _I_GARCH = 0.06, 0.04, 0.86
# Earnings: every _EARNINGS_EVERY sessions a gap with an sd of this many of the stock's
# daily sd (drawn per stock): ~5% for a stock of 28% a year.
_EARNINGS_EVERY = 63
_EARNINGS_K = (2.0, 4.5)
# Each stock's own drift: constant part and a slowly changing part (annualised sd).
_ALPHA_SD, _ALPHA_HALF_LIFE = 0.30, 60.0
# Share of a news gap that follows as extra drift on each of the next sessions.
_NEWS_DRIFT, _NEWS_DRIFT_DAYS = 0.08, 5
# News jumps: probability per stock-day and size (sd of the log jump, in daily sds).
_JUMP_P, _JUMP_K = 0.002, 2.8
# Sector factors: annualised volatility (in calm markets) and loadings.
_SECTOR_VOL = (0.06, 0.12)
_LOADING = (0.6, 1.2)
# The least idiosyncratic volatility a stock keeps (annualised), and the beta range.
_MIN_IDIO_VOL = 0.08
_BETA = (0.2, 2.5)
# The market factor's long-run annual variance (the states' levels at their long-run
# shares; E[h] = 1): ~16.9%, real SPY 2011-2022 17.2% (the betas are measured against it).
MARKET_VARIANCE = float(np.sum(STATIONARY * np.array([s.vol for s in REGIME_STATES]) ** 2))
BENCHMARK = "SPY"


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


@dataclass(frozen=True)
class _Stocks:
    """Per-stock parameters (N,)."""

    price: np.ndarray  # on the anchor row
    vol: np.ndarray  # long-run annualised total volatility (the target)
    beta: np.ndarray
    dollar_volume: np.ndarray
    load: np.ndarray
    idio_vol: np.ndarray  # daily, in calm markets
    earn_sd: np.ndarray  # daily
    jump_sd: np.ndarray  # daily
    alpha: np.ndarray  # daily drift
    earn_phase: np.ndarray


def _stock_parameters(
    facts: SymbolFacts, sec_vol: np.ndarray, r_par: np.random.Generator
) -> _Stocks:
    """Each stock's parameters from its facts (a random table row's where it has none).

    The parts of a stock's daily return add up to its long-run variance vol^2: the market
    (beta^2 x the market's long-run variance), its sector (loading^2 x sector variance, times
    the long-run stress), earnings and news gaps (with the drift that follows them), and the
    idiosyncratic rest (divided by the long-run stress it is scaled by).
    """
    n = len(facts)
    pop = stock_rows(BENCHMARK)
    pick = pop[r_par.integers(0, len(pop), n)]
    known = facts.known
    price, vol, beta, dollar_volume = (
        np.where(known, f, pick[:, k])
        for k, f in enumerate((facts.close, facts.vol, facts.beta, facts.dollar_volume))
    )
    beta = np.clip(beta, *_BETA)
    load = r_par.uniform(*_LOADING, n)
    alpha = r_par.normal(0.0, 0.12, n) / TRADING_DAYS
    earn_phase = r_par.integers(0, _EARNINGS_EVERY, n)
    earn_sd = r_par.uniform(*_EARNINGS_K, n) * vol * DAILY
    jump_sd = _JUMP_K * vol * DAILY
    echo = 1.0 + _NEWS_DRIFT_DAYS * _NEWS_DRIFT**2  # the drift after a gap adds this much
    per_year = TRADING_DAYS / _EARNINGS_EVERY * earn_sd**2 + _JUMP_P * TRADING_DAYS * jump_sd**2
    news_var = per_year * echo
    market_var = beta**2 * MARKET_VARIANCE
    sector_var = (load * sec_vol) ** 2 * TRADING_DAYS * STRESS_VARIANCE
    rest = (vol**2 - news_var - market_var - sector_var) / STRESS_VARIANCE
    idio_vol = np.sqrt(np.maximum(rest, _MIN_IDIO_VOL**2)) * DAILY
    return _Stocks(
        price, vol, beta, dollar_volume, load, idio_vol, earn_sd, jump_sd, alpha, earn_phase
    )


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


def generate_daily(
    n_sessions: int,
    sector_codes: np.ndarray,
    benchmark_col: int | None,
    anchor_row: int,
    seed: int,
    facts: SymbolFacts | None = None,
) -> DailyModel:
    """Daily OHLCV of ``len(sector_codes)`` symbols over ``n_sessions`` sessions.

    ``sector_codes[j]`` is symbol j's sector index (any small ints); ``benchmark_col`` is
    the column that *is* the market factor (SPY; no sector, no idiosyncratic part);
    ``facts`` the public facts of each column (None: none known, every column draws a
    table row's); prices are anchored at row ``anchor_row`` (the last session before the
    simulated "today"). Deterministic in ``seed``: separate random streams per model part.
    """
    t_n, n = n_sessions, len(sector_codes)
    seq = np.random.SeedSequence([int(seed), 0x5EED_DA11])
    r_chain, r_mkt, r_sec, r_par, r_idio, r_ohlc, r_vol = (
        np.random.default_rng(s) for s in seq.spawn(7)
    )
    f_on, f_id = F_ON, F_ID
    daily = DAILY
    if facts is None:
        facts = facts_for([""] * n)

    # --- market factor: drawn until the visible history shows every regime ------------
    market, draws = draw_market(r_chain, r_mkt, t_n, anchor_row)
    states, sig_m = market.states, market.sig_m
    m_on, m_id = market.m_on, market.m_id
    stress = market.stress[:, None]

    # --- sector factors -----------------------------------------------------------
    codes = np.asarray(sector_codes, dtype=np.int64)
    k_n = int(codes.max()) + 1 if n else 0
    sec_vol = r_sec.uniform(*_SECTOR_VOL, k_n) * daily
    sec_drift = r_sec.normal(0.0, 0.08, k_n) / TRADING_DAYS
    zs_on, zs_id = student_t(r_sec, (2, t_n, k_n))
    s_on = (stress * sec_vol * f_on * zs_on)[:, codes]
    s_id = (stress * sec_vol * f_id * zs_id + sec_drift)[:, codes]

    # --- stock parameters -----------------------------------------------------------
    p = _stock_parameters(facts, sec_vol[codes], r_par)
    beta, load, idio_vol = p.beta, p.load, p.idio_vol
    price_now, dollar_vol = p.price.copy(), p.dollar_volume.copy()

    # --- idiosyncratic returns (in place where possible: (T, N) arrays add up) ----------
    ze = student_t(r_idio, (2, t_n, n))
    sig_e = gjr_unit_variance(f_on * ze[0] + f_id * ze[1], _I_ARCH, _I_LEV, _I_GARCH)
    np.sqrt(sig_e, out=sig_e)
    sig_e *= stress
    sig_e *= idio_vol
    e_on = ze[0]
    e_on *= sig_e
    e_on *= f_on
    e_id = ze[1]
    e_id *= sig_e
    e_id *= f_id
    e_id += p.alpha
    e_id += _drifting_alpha(r_idio, t_n, n)
    # Intraday volatility of each stock-day (for the high/low bridges and volume).
    sd_id = sig_e
    sd_id **= 2
    sd_id += (beta * sig_m[:, None]) ** 2
    sd_id += (load * stress * sec_vol[codes]) ** 2
    np.sqrt(sd_id, out=sd_id)
    sd_id *= f_id
    del sig_e

    earnings = (np.arange(t_n)[:, None] % _EARNINGS_EVERY) == p.earn_phase[None, :]
    jumps = r_idio.random((t_n, n)) < _JUMP_P
    news = r_idio.standard_normal((t_n, n))
    news *= np.where(earnings, p.earn_sd, 0.0)
    extra = r_idio.standard_normal((t_n, n))
    extra *= np.where(jumps & ~earnings, p.jump_sd, 0.0)
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
        if not facts.known[benchmark_col]:
            spy = facts_for([BENCHMARK])
            price_now[benchmark_col] = spy.close[0]
            dollar_vol[benchmark_col] = spy.dollar_volume[0]
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
    up = bridge_extreme(intra, sd_id, u[0])
    down = bridge_extreme(-intra, sd_id, u[1])
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
    move *= math.sqrt(1.0 - OVERNIGHT_SHARE)  # in units of the whole day's volatility
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


def generate_benchmark(dates: np.ndarray, anchor_row: int, seed: int) -> DailyBars:
    """The benchmark's (SPY's) daily bars alone over ``dates``: bar for bar its column in a
    :class:`~workstation.market.sim.SimMarket` of the same seed and sessions, whatever the
    universe (the market factor has random streams of its own), without the stocks' cost.
    For studies of the simulated regimes over many seeds."""
    model = generate_daily(
        len(dates), np.zeros(1, dtype=np.int64), 0, anchor_row, seed, facts_for([BENCHMARK])
    )
    return DailyBars(
        np.asarray(dates, dtype="datetime64[D]"),
        (BENCHMARK,),
        model.open,
        model.high,
        model.low,
        model.close,
        model.volume,
    )
