"""Section 3 indicators for the whole universe at once, equal to the `ta` library's (0.11).

Layout
------
``ta`` runs on one symbol's own series of existing bars (rows without a close are absent, so a
missing day in the middle simply does not exist for it). To do the same for every symbol at once,
each column is *compacted*: its existing bars are packed together without holes. The computation
runs on a **left-aligned** layout (bar 0 of every symbol in row 0), because then every recursive
smoother (Wilder RSI/ATR/ADX, EMA) starts on the same row for all symbols and the time loop needs
no per-symbol masking. The results are then moved to the **right-aligned** layout that
`Indicators` exposes: row ``T - 1`` holds every symbol's last bar, row ``T - 2`` the one before,
and symbols with fewer than ``T`` bars have leading NaN rows. ``Indicators.row_dates`` gives the
session date of every (row, symbol) cell. A bar exists iff its close is finite (as
``DailyBars.frame`` and ``DailyBars.last_bar_date`` define it).

Agreement with ``ta`` (tested to 1e-9 relative against it, see ``ta_reference``)
-------------------------------------------------------------------------------
* Every value past the warm-up equals ta's. ``ta`` pads the warm-up of ATR, ADX and +DI/-DI with
  placeholder ``0.0`` (and raises on series shorter than its window); such a 0 is not a value of
  the indicator (an ATR of 0 would make position sizing divide by zero), so here the warm-up is
  NaN: see `first_valid_bar`. Where ta returns NaN (RSI, bands, moving means) we return NaN too.
* ta's own zero-division rules are kept, because they are part of its output past the warm-up:
  RSI is 100 when the smoothed down-move is 0 (constant prices included); +DI/-DI are 0 when the
  smoothed true range is 0 and DX is 0 when +DI + -DI is 0 (so ADX of a constant series is 0).
* One deliberate difference, far below any price tick: a Bollinger window of 20 *identical*
  closes has a stdev of exactly 0 here. pandas' online rolling variance returns exactly 0 only
  if the series was constant from its start; after earlier movement it leaves a rounding residue
  (variance ~1e-13, so a stdev ~5e-7, ~1e-8 of the price) in ta's bands. Exact zeros keep
  ``close > bb_up`` false on a flat stretch (as in ta) and keep equal widths equal for ``bw_pct``.
* A close of 0 gives the same inf/NaN as pandas would (``roc20`` = inf, ``bw`` = NaN); the
  eligibility rule rejects non-finite values, see `Indicators.all_finite`.
* Rows whose close is finite but whose high/low/volume is NaN are not repaired here (the real
  data has none): NaN then propagates the way it does through the formulas, which may differ
  from ta's partial NaN-skipping. The bar loader is the place to reject such rows.
* Wilder smoothers and the EMA start at a symbol's first loaded bar, exactly as ta does, so their
  values depend (slightly, decaying) on how much history is loaded: compare like with like.

``bw_pct`` (not a ta indicator): the share of the last ``bw_pct_window`` ``bw`` values, today's
included, that are ``<=`` today's. It is NaN unless all of those values are finite (so it needs
``bb_window + bw_pct_window - 1`` bars). Values that differ by less than `BW_TIE_RTOL`
(relative) count as equal: windows with the same prices in another order give mathematically
equal widths that floating point rounds a few ulp apart, and a percentile must not flip on that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from workstation.core.bars import DailyBars

INDICATOR_NAMES: tuple[str, ...] = (
    "rsi14",
    "bb_up",
    "bb_mid",
    "bb_low",
    "bw",
    "bw_pct",
    "adx14",
    "pdi",
    "mdi",
    "atr14",
    "sma50",
    "sma200",
    "ema20",
    "roc20",
    "dv20",
)
# ``close`` rides along so strategies can read today's close from the same aligned rows.
SERIES_NAMES: tuple[str, ...] = (*INDICATOR_NAMES, "close")

# Relative tolerance under which two band widths count as equal in ``bw_pct`` (see module doc).
BW_TIE_RTOL = 1e-9


@dataclass(frozen=True)
class IndicatorParams:
    """Window lengths of section 3. The indicator *names* stay the spec's whatever the windows."""

    rsi_window: int = 14
    bb_window: int = 20
    bb_dev: float = 2.0
    bw_pct_window: int = 120
    adx_window: int = 14
    atr_window: int = 14
    sma_fast: int = 50
    sma_slow: int = 200
    ema_window: int = 20
    roc_window: int = 20
    dv_window: int = 20

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "bb_dev":
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                    raise ValueError(
                        f"indicator parameter bb_dev must be a number > 0, got {value!r}"
                    )
            elif isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(
                    f"indicator parameter {f.name} must be a whole number >= 1, got {value!r}"
                )
        if self.bw_pct_window > 255:  # bw_pct counts in uint8, for speed
            raise ValueError(f"bw_pct_window must be <= 255, got {self.bw_pct_window}")


def first_valid_bar(params: IndicatorParams) -> dict[str, int]:
    """Per series, the 0-based bar number (in a symbol's own series) of its first real value.

    Earlier bars are NaN. These are ta's warm-ups: RSI's ewm(min_periods=window); ATR's seed is
    the mean of the first ``window`` true ranges; ADX's smoothed sums are seeded at bar
    ``window`` and its +DI/-DI are first written one bar later; ADX is seeded with the mean of
    ``window`` DX values, at bar ``2*window - 1``.
    """
    p = params
    bb = p.bb_window - 1
    return {
        "rsi14": p.rsi_window - 1,
        "bb_up": bb,
        "bb_mid": bb,
        "bb_low": bb,
        "bw": bb,
        "bw_pct": bb + p.bw_pct_window - 1,
        "adx14": 2 * p.adx_window - 1,
        "pdi": p.adx_window + 1,
        "mdi": p.adx_window + 1,
        "atr14": p.atr_window - 1,
        "sma50": p.sma_fast - 1,
        "sma200": p.sma_slow - 1,
        "ema20": 0,
        "roc20": p.roc_window,
        "dv20": p.dv_window - 1,
        "close": 0,
    }


@dataclass(frozen=True, eq=False)
class Indicators:
    """Indicator series of a universe, right-aligned: row -1 is every symbol's last bar.

    ``values[name]`` has shape (T, N); ``n_bars`` (N,) counts each symbol's existing bars;
    ``last_date`` (N,) is the date of its last bar (NaT if none); ``row_dates`` (T, N) the date
    of every cell (NaT in the leading padding of shorter histories).
    """

    symbols: tuple[str, ...]
    values: Mapping[str, np.ndarray]
    n_bars: np.ndarray
    last_date: np.ndarray
    row_dates: np.ndarray
    params: IndicatorParams
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "symbols", tuple(self.symbols))
        object.__setattr__(self, "_index", {s: i for i, s in enumerate(self.symbols)})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.values)

    @property
    def n_rows(self) -> int:
        return int(self.row_dates.shape[0])

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.values[name]
        except KeyError:
            raise KeyError(f"unknown indicator {name!r}; known: {', '.join(self.values)}") from None

    def col(self, symbol: str) -> int:
        return self._index[symbol]

    def last(self, name: str) -> np.ndarray:
        """Today's value per symbol (its last bar), shape (N,)."""
        return self._row(name, 1)

    def prev(self, name: str) -> np.ndarray:
        """Yesterday's value per symbol (the bar before its last), shape (N,)."""
        return self._row(name, 2)

    def _row(self, name: str, back: int) -> np.ndarray:
        arr = self[name]
        if arr.shape[0] < back:
            return np.full(len(self.symbols), np.nan)
        return arr[-back]

    def series(self, name: str, symbol: str) -> pd.Series:
        """One symbol's full series indexed by its bar dates (its existing bars only)."""
        j = self.col(symbol)
        n = int(self.n_bars[j])
        rows = slice(self.n_rows - n, self.n_rows)
        idx = pd.DatetimeIndex(self.row_dates[rows, j], name="date")
        return pd.Series(self[name][rows, j], index=idx, name=name)

    def all_finite(self, names: Iterable[str] = INDICATOR_NAMES) -> np.ndarray:
        """(N,) bool: every named indicator finite today, and ``bw_pct`` finite yesterday too.

        This is the indicator part of the eligibility rule (section 3).
        """
        ok = np.ones(len(self.symbols), dtype=bool)
        for name in names:
            ok &= np.isfinite(self.last(name))
        return ok & np.isfinite(self.prev("bw_pct"))


# -- alignment ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """Where the existing bars of the symbols that do not fill all T rows sit.

    Symbols with a bar on every row need no move in either layout (the common case, and free).
    For the others (``move``), every existing bar is listed with its calendar row ``src_row``,
    its column ``col`` and its bar number ``rank`` in the symbol's own series: bar ``rank`` sits
    on row ``rank`` in the left-aligned layout and on row ``T - n + rank`` in the right-aligned.
    """

    t: int
    n: np.ndarray
    move: np.ndarray
    src_row: np.ndarray
    col: np.ndarray
    rank: np.ndarray

    @classmethod
    def of(cls, valid: np.ndarray) -> _Layout:
        t = valid.shape[0]
        n = valid.sum(axis=0).astype(np.int64)
        move = np.flatnonzero(n < t)
        v = valid[:, move]
        src_row, k = np.nonzero(v)
        rank = np.cumsum(v, axis=0)[src_row, k] - 1
        return cls(t, n, move, src_row, move[k], rank)

    def right_row(self) -> np.ndarray:
        return self.t - self.n[self.col] + self.rank

    def to_left(self, x: np.ndarray) -> np.ndarray:
        """(T, N) calendar rows -> left-aligned (a copy only when something moves)."""
        if self.move.size == 0:
            return x
        y = x.copy()
        y[:, self.move] = np.nan
        y[self.rank, self.col] = x[self.src_row, self.col]
        return y

    def to_right(self, x: np.ndarray, fill: object = np.nan) -> np.ndarray:
        """(T, N) calendar rows -> right-aligned (a copy only when something moves)."""
        if self.move.size == 0:
            return x
        y = x.copy()
        y[:, self.move] = fill
        y[self.right_row(), self.col] = x[self.src_row, self.col]
        return y

    def left_to_right(self, stack: np.ndarray) -> None:
        """(C, T, N) left-aligned -> right-aligned, in place; rows without a bar become NaN."""
        if self.move.size == 0:
            return
        picked = stack[:, self.rank, self.col]
        stack[:, :, self.move] = np.nan
        stack[:, self.right_row(), self.col] = picked


def align_right(bars: DailyBars) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Each symbol's existing bars (finite close) packed at the bottom, holes removed.

    Returns ``(arrays, last_dates)``: ``arrays`` maps open/high/low/close/volume to (T, N) float64
    and ``"date"`` to (T, N) ``datetime64[D]``; row -1 is every symbol's last bar and shorter
    histories get leading NaN / NaT. ``last_dates`` (N,) is each symbol's last bar date (NaT if
    none). This is the layout of `Indicators`.
    """
    valid = np.isfinite(bars.close)
    lay = _Layout.of(valid)
    arrays = {f: lay.to_right(getattr(bars, f)) for f in ("open", "high", "low", "close", "volume")}
    arrays["date"] = _right_dates(lay, bars.dates, bars.n_symbols)
    return arrays, last_bar_dates(valid, bars.dates)


def last_bar_dates(valid: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Per symbol, the date of its last bar (NaT if none). Like ``DailyBars.last_bar_date``,
    which raises on zero sessions."""
    t, n = valid.shape
    out = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    if t:
        any_bar = valid.any(axis=0)
        last = t - 1 - np.argmax(valid[::-1], axis=0)
        out[any_bar] = dates[last[any_bar]]
    return out


def _right_dates(lay: _Layout, dates: np.ndarray, n_symbols: int) -> np.ndarray:
    cal = np.empty((lay.t, n_symbols), dtype="datetime64[D]")
    cal[:] = dates[:, None]
    return lay.to_right(cal, fill=np.datetime64("NaT"))


# -- building blocks on the left-aligned layout (row k = bar k of every symbol) -----------------
# Rows past a symbol's last bar hold meaningless values: they are dropped when the results move
# to the right-aligned layout. The work is memory-bound (~1 ns per element and operation, and
# fresh memory costs as much again to fault in), so operations write into preallocated arrays,
# scratch is reused, and np.where / np.copyto(where=) (several times slower) are avoided.

_BLOCK = 64  # rows per block in the windowed loops: keeps their operands in cache

# The seven first-order recursions, run together in one (T, 7, N) array (rows contiguous for
# the time loop): RSI's smoothed up/down moves, the EMA, the ATR, and ADX's Wilder sums of its
# true range, +DM and -DM.
_RECURSIONS: tuple[str, ...] = ("up", "dn", "ema", "atr", "trs", "dip", "din")


def _cumsum0(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Cumulative sum over rows with a leading zero row: (T+1, N)."""
    cs = np.empty((x.shape[0] + 1, x.shape[1])) if out is None else out
    cs[0] = 0.0
    np.cumsum(x, axis=0, out=cs[1:])
    return cs


def _window_means(cs: np.ndarray, w: int, out: np.ndarray) -> None:
    """pandas ``rolling(w).mean()`` from a `_cumsum0` of a series without NaN inside.

    The rounding error of a window sum is a few ulp of the running total, i.e. about T/w ulp of
    the window sum: ~1e-13 relative for T in the thousands, far inside 1e-9.
    """
    t = cs.shape[0] - 1
    if t < w:
        out[:] = np.nan
        return
    out[: w - 1] = np.nan
    body = out[w - 1 :]
    np.subtract(cs[w:], cs[:-w], out=body)
    np.divide(body, w, out=body)


def _rolling_mean(
    x: np.ndarray, w: int, out: np.ndarray, n_bars: np.ndarray, cs: np.ndarray
) -> None:
    """pandas ``rolling(w).mean()`` (min_periods=w) of a series that may have NaN inside."""
    t = x.shape[0]
    fin = np.isfinite(x)
    inside = np.arange(t)[:, None] < n_bars
    if (fin | ~inside).all():
        _window_means(_cumsum0(x, cs), w, out)
        return
    # A value inside a series is missing: a window is valid only if all w values are finite.
    _window_means(_cumsum0(np.where(fin, x, 0.0), cs), w, out)
    if t >= w:
        cnt = _cumsum0(fin.astype(np.float64))
        out[w - 1 :][(cnt[w:] - cnt[:-w]) != w] = np.nan


def _constant_windows(x: np.ndarray, w: int) -> np.ndarray:
    """(T-w+1, N) bool: the window ending at row k holds w equal values (exact counting)."""
    t, n = x.shape
    changes = np.zeros((t + 1, n), dtype=np.int32)
    np.cumsum(x[1:] != x[:-1], axis=0, out=changes[2:])
    # changes[k + 1] counts changes between rows 0..k; a window has w - 1 consecutive pairs.
    return changes[w:] == changes[1 : t - w + 2]


def _bollinger(
    c: np.ndarray,
    cs: np.ndarray,
    w: int,
    dev: float,
    up: np.ndarray,
    mid: np.ndarray,
    low: np.ndarray,
) -> None:
    """ta BollingerBands: rolling mean and population stdev (ddof=0) of close."""
    _window_means(cs, w, mid)
    t = c.shape[0]
    if t < w:
        up[:] = np.nan
        low[:] = np.nan
        return
    up[: w - 1] = np.nan
    low[: w - 1] = np.nan
    # Two-pass variance (squared deviations from the window mean) keeps full relative precision
    # even for quiet windows, where sum(x^2) - n*mean^2 would cancel catastrophically.
    m = mid[w - 1 :]
    rows = m.shape[0]
    ss = up[w - 1 :]  # scratch: the sum of squares, then dev * stdev
    tmp = np.empty((_BLOCK, c.shape[1]))
    for s in range(0, rows, _BLOCK):
        e = min(s + _BLOCK, rows)
        acc, d, mb = ss[s:e], tmp[: e - s], m[s:e]
        np.subtract(c[s:e], mb, out=acc)
        np.multiply(acc, acc, out=acc)
        for lag in range(1, w):
            np.subtract(c[s + lag : e + lag], mb, out=d)
            np.multiply(d, d, out=d)
            np.add(acc, d, out=acc)
    np.divide(ss, w, out=ss)
    np.sqrt(ss, out=ss)
    # A window of identical values: mean exactly that value (as pandas gives) and stdev exactly
    # 0 (pandas leaves a residue after earlier movement, see the module doc). Float noise there
    # would turn bw == 0 into tiny positive numbers and break bw_pct's ties.
    const = _constant_windows(c, w)
    if const.any():
        ss[const] = 0.0
        m[const] = c[w - 1 :][const]
    np.multiply(ss, dev, out=ss)
    np.subtract(m, ss, out=low[w - 1 :])
    np.add(m, ss, out=ss)  # ss is up[w-1:]


def _bw_pct(
    bw: np.ndarray, w: int, out: np.ndarray, first: int, n_bars: np.ndarray, scratch: np.ndarray
) -> None:
    """Share of the last w widths (today's included) <= today's; NaN unless all w finite.

    ``first`` is bw's first valid row (its warm-up), so rows before ``first + w - 1`` are NaN.
    """
    t, n = bw.shape
    start = min(first + w - 1, t)
    out[:start] = np.nan
    if start >= t:
        return
    today = bw[start:]
    thr = scratch[start:]
    np.abs(today, out=thr)
    np.multiply(thr, BW_TIE_RTOL, out=thr)
    np.add(thr, today, out=thr)
    rows = thr.shape[0]
    count = np.zeros((rows, n), dtype=np.uint8)  # w <= 255, checked by IndicatorParams
    hit = np.empty((_BLOCK, n), dtype=bool)
    lo = start - w + 1  # bw row of the oldest value in the first window
    for s in range(0, rows, _BLOCK):
        e = min(s + _BLOCK, rows)
        cb, hb, tb = count[s:e], hit[: e - s], thr[s:e]
        for lag in range(w):
            np.less_equal(bw[lo + s + lag : lo + e + lag], tb, out=hb)
            np.add(cb, hb.view(np.uint8), out=cb)
    body = out[start:]
    np.divide(count, w, out=body)
    # A NaN/inf width inside a series (a zero mid band) would be skipped by the comparisons:
    # such windows must be NaN. Past a series' end the values are dropped anyway.
    rows_idx = np.arange(t)[:, None]
    odd = ~np.isfinite(bw) & (rows_idx >= first) & (rows_idx < n_bars)
    if odd.any():
        fin = _cumsum0((~odd).astype(np.float64))
        body[(fin[start + 1 :] - fin[start + 1 - w : t + 1 - w]) != w] = np.nan


def _smooth_in_place(
    y: np.ndarray, coef: np.ndarray, seeds: list[tuple[int, slice, np.ndarray]]
) -> None:
    """y[k] = coef * y[k-1] + y[k] for every row k >= 1, over all stacked recursions (T, R, N).

    On entry ``y`` holds the (scaled) inputs; one loop over time runs every recursion with two
    numpy calls per row. ``seeds`` are (row, recursion slice, value): at that row the recursion
    restarts from the value (ta seeds its Wilder sums/means at different bars); before its seed
    a recursion holds meaningless numbers that the caller never reads.
    """
    t = y.shape[0]
    at: dict[int, list[tuple[slice, np.ndarray]]] = {}
    for row, sl, value in seeds:
        if row < t:
            at.setdefault(row, []).append((sl, value))
    if t == 0:
        return
    for sl, value in at.get(0, ()):
        y[0, sl] = value
    tmp = np.empty(y.shape[1:])
    for k in range(1, t):
        np.multiply(y[k - 1], coef, out=tmp)
        np.add(y[k], tmp, out=y[k])
        for sl, value in at.get(k, ()):
            y[k, sl] = value


def _ta_true_range(h: np.ndarray, lo: np.ndarray, pc: np.ndarray) -> np.ndarray:
    """ta's max(high - low, |high - prev close|, |low - prev close|), NaN-skipping like pandas."""
    return np.fmax(np.fmax(h - lo, np.abs(h - pc)), np.abs(lo - pc))


def _recursion_inputs(
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    p: IndicatorParams,
    y: np.ndarray,
    s1: np.ndarray,
    s2: np.ndarray,
) -> list[tuple[int, slice, np.ndarray]]:
    """Write the inputs of the `_RECURSIONS` into ``y`` (T, 7, N); return their seeds."""
    t = y.shape[0]
    wa, wx = p.atr_window, p.adx_window
    a_rsi = 1.0 / p.rsi_window
    if t:
        # ta's diff(1) is NaN at bar 0, and where(diff > 0, 0.0) makes it a 0 move;
        # ewm(adjust=False) starts from the raw first observation (not alpha times it).
        y[0, 0:2] = 0.0
        y[0, 2] = c[0]
        y[0, 3:] = 0.0
    if t > 1:
        diff = np.subtract(c[1:], c[:-1], out=s1[1:])
        up, dn = y[1:, 0], y[1:, 1]
        np.maximum(diff, 0.0, out=up)
        np.subtract(up, diff, out=dn)  # == max(-diff, 0), exactly
        np.multiply(y[1:, 0:2], a_rsi, out=y[1:, 0:2])
        np.multiply(c[1:], 2.0 / (p.ema_window + 1.0), out=y[1:, 2])

        # ADX's true range: max(high, prev close) - min(low, prev close).
        tr_adx = y[1:, 4]
        np.maximum(h[1:], c[:-1], out=tr_adx)
        np.subtract(tr_adx, np.minimum(lo[1:], c[:-1], out=s1[1:]), out=tr_adx)
        # ATR's true range (ta's max of three) is the same number whenever high >= low
        # (rounding is monotone, so even bit-identical); bars with high < low get ta's formula.
        tr_atr = y[1:, 3]
        np.copyto(tr_atr, tr_adx)
        bad = lo[1:] > h[1:]
        if bad.any():
            r, k = np.nonzero(bad)
            tr_atr[r, k] = _ta_true_range(h[1:][r, k], lo[1:][r, k], c[:-1][r, k])

        # ta: +DM is the up move if it beats the down move and is > 0, else 0; -DM mirrored.
        # max(move, 0) * bool gives the same numbers, far faster than np.where.
        move_up = np.subtract(h[1:], h[:-1], out=s1[1:])
        move_dn = np.subtract(lo[:-1], lo[1:], out=s2[1:])
        pos, neg = y[1:, 5], y[1:, 6]
        np.maximum(move_up, 0.0, out=pos)
        np.multiply(pos, move_up > move_dn, out=pos)
        np.maximum(move_dn, 0.0, out=neg)
        np.multiply(neg, move_dn > move_up, out=neg)

    seeds: list[tuple[int, slice, np.ndarray]] = []
    if t >= wa:
        # ta seeds the ATR at bar wa-1 with the mean of the first wa true ranges; its bar-0
        # true range is high - low (the other two terms are NaN and skipped).
        tr_head = y[:wa, 3].copy()
        tr_head[0] = h[0] - lo[0]
        seeds.append((wa - 1, slice(3, 4), tr_head.mean(axis=0)))
    if t > 1:
        np.divide(y[1:, 3], wa, out=y[1:, 3])
    if t > wx:
        # ta: dropna() drops bar 0's NaN, so the sums seeded at bar wx cover bars 1..wx.
        seeds.append((wx, slice(4, 7), y[1 : wx + 1, 4:7].sum(axis=0)))
    return seeds


def _compute_left(
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    v: np.ndarray,
    n_bars: np.ndarray,
    p: IndicatorParams,
    out: dict[str, np.ndarray],
) -> None:
    """Fill ``out[name]`` (T, N) for every series on the left-aligned layout.

    The outputs must be C-contiguous (T, N) arrays: the windowed loops run about twice as fast
    on contiguous rows as on rows strided through a bigger stack.
    """
    t, n = c.shape
    s1 = np.empty((t, n))  # scratch, reused
    s2 = np.empty((t, n))
    wr, wa, wx = p.rsi_window, p.atr_window, p.adx_window

    y = np.empty((t, len(_RECURSIONS), n))
    seeds = _recursion_inputs(h, lo, c, p, y, s1, s2)
    a_rsi, a_ema = 1.0 / wr, 2.0 / (p.ema_window + 1.0)
    coef = np.array([1 - a_rsi, 1 - a_rsi, 1 - a_ema, (wa - 1) / wa] + [1 - 1 / wx] * 3)
    _smooth_in_place(y, coef[:, None], seeds)
    ch = dict(out)
    ch.update({name: y[:, i] for i, name in enumerate(_RECURSIONS)})

    rsi, ema_up, ema_dn = ch["rsi14"], ch["up"], ch["dn"]
    np.divide(ema_up, ema_dn, out=rsi)
    np.add(rsi, 1.0, out=rsi)
    np.divide(100.0, rsi, out=rsi)
    np.subtract(100.0, rsi, out=rsi)
    rsi[: wr - 1] = np.nan
    flat = ema_dn[wr - 1 :] == 0  # ta: RSI is 100 when the smoothed down move is 0
    if flat.any():
        rsi[wr - 1 :][flat] = 100.0
    ch["ema20"][:] = ch["ema"]
    ch["atr14"][:] = ch["atr"]
    ch["atr14"][: wa - 1] = np.nan

    pdi, mdi, adx = ch["pdi"], ch["mdi"], ch["adx14"]
    adx[:] = np.nan
    if t > wx:
        trs = ch["trs"][wx:]
        for di, dm in ((pdi, ch["dip"]), (mdi, ch["din"])):
            np.divide(dm[wx:], trs, out=di[wx:])
            np.multiply(di[wx:], 100.0, out=di[wx:])
        zero = trs == 0  # ta: +DI/-DI are 0 when the smoothed true range is 0
        if zero.any():
            pdi[wx:][zero] = 0.0
            mdi[wx:][zero] = 0.0
        dx = np.subtract(pdi[wx:], mdi[wx:], out=s1[wx:])
        s = np.add(pdi[wx:], mdi[wx:], out=s2[wx:])
        np.divide(dx, s, out=dx)
        np.abs(dx, out=dx)
        np.multiply(dx, 100.0, out=dx)
        none = s == 0  # ta: DX is 0 when +DI + -DI is 0
        if none.any():
            dx[none] = 0.0
        k0 = 2 * wx - 1
        if t > k0:
            # dx row i is bar wx + i; ADX is seeded at bar 2wx - 1 with the mean of wx DX values.
            adx[k0] = dx[:wx].mean(axis=0)
            c_adx = (wx - 1) / wx
            dx_w = dx[wx:]
            np.divide(dx_w, wx, out=dx_w)
            for k in range(k0 + 1, t):
                np.multiply(adx[k - 1], c_adx, out=adx[k])
                np.add(adx[k], dx_w[k - k0 - 1], out=adx[k])
    # ta writes +DI/-DI from bar wx + 1 on (its bar-wx value only feeds ADX).
    pdi[: wx + 1] = np.nan
    mdi[: wx + 1] = np.nan

    cs = _cumsum0(c)
    _bollinger(c, cs, p.bb_window, float(p.bb_dev), ch["bb_up"], ch["bb_mid"], ch["bb_low"])
    _window_means(cs, p.sma_fast, ch["sma50"])
    _window_means(cs, p.sma_slow, ch["sma200"])
    bw = ch["bw"]
    np.subtract(ch["bb_up"], ch["bb_low"], out=bw)
    np.divide(bw, ch["bb_mid"], out=bw)
    _bw_pct(bw, p.bw_pct_window, ch["bw_pct"], p.bb_window - 1, n_bars, s1)
    _rolling_mean(np.multiply(c, v, out=s2), p.dv_window, ch["dv20"], n_bars, cs)
    roc = ch["roc20"]
    w = p.roc_window
    roc[: min(w, t)] = np.nan
    if t > w:
        np.divide(c[w:], c[:-w], out=roc[w:])
        np.subtract(roc[w:], 1.0, out=roc[w:])
    ch["close"][:] = c


# -- entry point -------------------------------------------------------------------------------


def compute_indicators(bars: DailyBars, params: IndicatorParams | None = None) -> Indicators:
    """Section 3 for every symbol of ``bars``, vectorised over symbols and time."""
    if not isinstance(bars, DailyBars):
        raise TypeError(f"compute_indicators needs DailyBars, got {type(bars).__name__}")
    p = params if params is not None else IndicatorParams()
    t, n = bars.close.shape
    valid = np.isfinite(bars.close)
    lay = _Layout.of(valid)

    # Every result in one (C, T, N) stack, so that moving to the right-aligned layout is a
    # single gather.
    stack = np.empty((len(SERIES_NAMES), t, n))
    out = {name: stack[i] for i, name in enumerate(SERIES_NAMES)}
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        _compute_left(
            lay.to_left(bars.high),
            lay.to_left(bars.low),
            lay.to_left(bars.close),
            lay.to_left(bars.volume),
            lay.n,
            p,
            out,
        )
    lay.left_to_right(stack)
    return Indicators(
        symbols=bars.symbols,
        values=out,
        n_bars=lay.n,
        last_date=last_bar_dates(valid, bars.dates),
        row_dates=_right_dates(lay, bars.dates, n),
        params=p,
    )
