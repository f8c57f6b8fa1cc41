"""Section 3 indicators computed the straightforward way: the `ta` library, one symbol at a time.

This is the reference the vectorised `workstation.signals.indicators` is tested against and the
baseline a benchmark times. Each symbol's series is its existing bars (``DailyBars.frame``:
rows without a close dropped), exactly what ``ta`` would be given in a per-symbol loop.

Two documented normalisations make its output comparable (see ``indicators`` module doc):
ta's warm-up placeholders (``0.0`` for ATR, ADX, +DI, -DI before their first real value) become
NaN, as do series ta refuses to compute because the history is shorter than the window (it raises
IndexError/ValueError there). `ta_raw` returns ta's untouched output for tests that check those
placeholders.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import ta
from numpy.lib.stride_tricks import sliding_window_view

from workstation.core.bars import DailyBars
from workstation.signals.indicators import (
    BW_TIE_RTOL,
    SERIES_NAMES,
    IndicatorParams,
    Indicators,
    first_valid_bar,
    last_bar_dates,
)


def ta_raw(frame: pd.DataFrame, params: IndicatorParams) -> dict[str, np.ndarray]:
    """ta's outputs for one symbol's bars (columns high, low, close, volume), as ta gives them.

    Series ta cannot compute for so short a history are left out. ``bw_pct`` is not a ta
    indicator and is not included.
    """
    p = params
    h, lo, c, v = frame["high"], frame["low"], frame["close"], frame["volume"]
    m = len(c)
    bb = ta.volatility.BollingerBands(c, p.bb_window, p.bb_dev)
    up, mid, low = bb.bollinger_hband(), bb.bollinger_mavg(), bb.bollinger_lband()
    out: dict[str, pd.Series] = {
        "rsi14": ta.momentum.RSIIndicator(c, p.rsi_window).rsi(),
        "bb_up": up,
        "bb_mid": mid,
        "bb_low": low,
        "bw": (up - low) / mid,
        "sma50": ta.trend.SMAIndicator(c, p.sma_fast).sma_indicator(),
        "sma200": ta.trend.SMAIndicator(c, p.sma_slow).sma_indicator(),
        "ema20": c.ewm(span=p.ema_window, adjust=False).mean(),
        "roc20": c / c.shift(p.roc_window) - 1,
        "dv20": (c * v).rolling(p.dv_window).mean(),
        "close": c,
    }
    if m >= p.atr_window:  # shorter: ta raises IndexError
        out["atr14"] = ta.volatility.AverageTrueRange(h, lo, c, p.atr_window).average_true_range()
    if m >= p.adx_window:  # shorter: ta raises ValueError (negative array size)
        adx = ta.trend.ADXIndicator(h, lo, c, p.adx_window)
        out["pdi"] = adx.adx_pos()
        out["mdi"] = adx.adx_neg()
        if m >= 2 * p.adx_window:  # shorter: adx() raises IndexError
            out["adx14"] = adx.adx()
    return {name: np.asarray(s, dtype=np.float64) for name, s in out.items()}


def bw_pct_1d(bw: np.ndarray, window: int) -> np.ndarray:
    """``bw_pct`` of one symbol's series (same definition as the vectorised one)."""
    out = np.full(len(bw), np.nan)
    if len(bw) < window:
        return out
    wins = sliding_window_view(bw, window)
    today = bw[window - 1 :]
    le = (wins <= (today + BW_TIE_RTOL * np.abs(today))[:, None]).sum(axis=1)
    full = np.isfinite(wins).all(axis=1)
    out[window - 1 :] = np.where(full, le / window, np.nan)
    return out


def ta_series(frame: pd.DataFrame, params: IndicatorParams) -> dict[str, np.ndarray]:
    """Every series of ``SERIES_NAMES`` for one symbol: ta's values, warm-up as NaN."""
    m = len(frame)
    raw = ta_raw(frame, params)
    first = first_valid_bar(params)
    out: dict[str, np.ndarray] = {}
    for name in SERIES_NAMES:
        if name == "bw_pct":
            continue
        arr = raw.get(name)
        arr = np.full(m, np.nan) if arr is None else arr.copy()
        arr[: first[name]] = np.nan
        out[name] = arr
    out["bw_pct"] = bw_pct_1d(out["bw"], params.bw_pct_window)
    return out


def ta_reference(bars: DailyBars, params: IndicatorParams | None = None) -> Indicators:
    """Same result layout as `compute_indicators`, computed with ``ta`` symbol by symbol."""
    p = params if params is not None else IndicatorParams()
    t, n = bars.close.shape
    values = {name: np.full((t, n), np.nan) for name in SERIES_NAMES}
    row_dates = np.full((t, n), np.datetime64("NaT"), dtype="datetime64[D]")
    n_bars = np.zeros(n, dtype=np.int64)
    for j, symbol in enumerate(bars.symbols):
        frame = bars.frame(symbol)
        m = len(frame)
        n_bars[j] = m
        if m == 0:
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            series = ta_series(frame, p)
        for name, arr in series.items():
            values[name][t - m :, j] = arr
        row_dates[t - m :, j] = frame.index.values.astype("datetime64[D]")
    return Indicators(
        symbols=bars.symbols,
        values=values,
        n_bars=n_bars,
        last_date=last_bar_dates(np.isfinite(bars.close), bars.dates),
        row_dates=row_dates,
        params=p,
    )
