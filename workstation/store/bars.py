"""A cache of daily bars per data feed, so a restart or a re-scan does not refetch history.

Bars go in and come out in the long format of :mod:`workstation.core.bars`
(``date, symbol, open, high, low, close, volume``; ``DailyBars.from_long`` reads the output);
:meth:`BarsRepo.get_daily_bars` builds the scanner's ``DailyBars`` straight from the store.

Storage (schema v3): one ``bar_series`` row per (feed, symbol) holding that symbol's bars as
packed arrays (:mod:`workstation.store.bar_blobs`). Reads decode blobs with numpy instead of
turning one SQLite row per bar into Python tuples. A write appends bars that all follow a
series' last date inside SQLite (the nightly case); any other touched series is read, merged
with the new bars (new values win on equal dates) and written back whole. All of it happens in
one write transaction, so concurrent writers cannot lose each other's bars.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from operator import itemgetter
from typing import NamedTuple

import numpy as np
import pandas as pd

from workstation.core.bars import DailyBars
from workstation.store import bar_blobs
from workstation.store import convert as cv
from workstation.store.base import StoreCore, corrupt_error
from workstation.store.errors import StoreError
from workstation.store.schema import UTC_NOW_SQL

BAR_COLUMNS: tuple[str, ...] = ("date", "symbol", "open", "high", "low", "close", "volume")
_FIELDS = ("open", "high", "low", "close", "volume")
# Well under SQLite's limit on bound parameters per statement.
_CHUNK = 500
_INT32 = np.iinfo(np.int32)

_UPSERT = (
    "INSERT INTO bar_series (feed, symbol, first_date, last_date, n, dates, ohlcv, updated_at) "
    f"VALUES (?, ?, ?, ?, ?, ?, ?, COALESCE(?, {UTC_NOW_SQL})) "
    "ON CONFLICT (feed, symbol) DO UPDATE SET first_date = excluded.first_date, "
    "last_date = excluded.last_date, n = excluded.n, dates = excluded.dates, "
    "ohlcv = excluded.ohlcv, updated_at = excluded.updated_at"
)
# Bars after a series' last date (the nightly put) are appended inside SQLite, so the series is
# neither read into Python nor merged there. SQLite's ``||`` concatenates the bytes of two blobs
# unchanged but types the result as text; the CAST makes it a blob again, byte for byte (the
# CHECKs on the blob lengths would refuse anything else).
_APPEND = (
    "UPDATE bar_series SET n = n + ?, last_date = ?, dates = CAST(dates || ? AS BLOB), "
    f"ohlcv = CAST(ohlcv || ? AS BLOB), updated_at = COALESCE(?, {UTC_NOW_SQL}) "
    "WHERE feed = ? AND symbol = ?"
)

# One symbol's bars: day numbers (ascending, unique) and their (n, 5) OHLCV rows.
_Series = tuple[np.ndarray, np.ndarray]


class _Window(NamedTuple):
    """The bars of several symbols in a date window, symbol after symbol.

    ``symbols`` sorted, each with at least one bar; ``counts[i]`` bars of ``symbols[i]``;
    ``days`` (int32 day numbers, ascending within a symbol) and ``values`` (n x 5 OHLCV) are
    the symbols' series one after another.
    """

    symbols: tuple[str, ...]
    counts: np.ndarray
    days: np.ndarray
    values: np.ndarray


def _day_numbers(values: pd.Series) -> np.ndarray:
    """Bar dates as int64 days since 1970-01-01, the same way ``DailyBars.from_long`` reads
    them (timezone dropped, keeping the wall-clock day); NaT stays NaT's integer."""
    dt = pd.to_datetime(values)
    if getattr(dt.dt, "tz", None) is not None:
        dt = dt.dt.tz_localize(None)
    return dt.to_numpy().astype("datetime64[D]").astype(np.int64)


def _prepare(bars: pd.DataFrame) -> tuple[list[str], list[_Series], int]:
    """The bars to write, per symbol: sorted by date, one row per date (the last given wins).

    Returns ``(symbols, series, rows)``; rows without a finite close are already dropped.
    """
    close = pd.to_numeric(bars["close"], errors="coerce").to_numpy(dtype=np.float64)
    has_close = np.isfinite(close)
    if not has_close.any():
        return [], [], 0
    days = _day_numbers(bars["date"])[has_close]
    if np.any(days == np.iinfo(np.int64).min):  # NaT
        n_bad = int(np.count_nonzero(days == np.iinfo(np.int64).min))
        raise ValueError(
            f"{n_bad} bar rows with a close have no date; give every bar its session date"
        )
    if days.min() < _INT32.min or days.max() > _INT32.max:
        raise ValueError("bar dates must lie within 5.8 million years of 1970")
    values = np.empty((len(days), len(_FIELDS)), dtype=np.float64)
    for k, f in enumerate(_FIELDS):
        col = close if f == "close" else pd.to_numeric(bars[f], errors="coerce").to_numpy(float)
        values[:, k] = col[has_close]
    # +-inf is as unknown as NaN (and the v2 cache stored both as NULL, read back as NaN)
    values[np.isinf(values)] = np.nan
    codes, uniques = pd.factorize(bars["symbol"].astype(str).to_numpy()[has_close])
    # lexsort is stable: equal (symbol, date) rows keep their input order, so the last of each
    # run is the one given last -- the one that wins.
    order = np.lexsort((days, codes))
    codes, days, values = codes[order], days[order], values[order]
    last = np.ones(len(days), dtype=bool)
    last[:-1] = (codes[1:] != codes[:-1]) | (days[1:] != days[:-1])
    codes, days, values = codes[last], days[last], values[last]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)]
    symbols = [str(uniques[codes[s]]) for s in starts]
    series = [(days[s:e], values[s:e]) for s, e in zip(starts, ends, strict=True)]
    return symbols, series, len(days)


def _checked_series(dates: np.ndarray, values: np.ndarray) -> _Series:
    """One symbol's bars as stored: day numbers ascending, one bar a date (the last given
    wins, as in put_bars), (n, 5) values; bars without a finite close dropped, +-inf as NaN."""
    d = np.asarray(dates, dtype="datetime64[D]").astype(np.int64)
    v = np.array(values, dtype=np.float64, copy=True).reshape(len(d), len(_FIELDS))
    if np.any(d == np.iinfo(np.int64).min):
        raise ValueError("bar rows with no date; give every bar its session date")
    keep = np.isfinite(v[:, 3])
    d, v = d[keep], v[keep]
    if len(d) > 1 and not (d[1:] > d[:-1]).all():
        order = np.argsort(d, kind="stable")
        d, v = d[order], v[order]
        last = np.r_[d[1:] != d[:-1], True]
        d, v = d[last], v[last]
    if len(d) and (d[0] < _INT32.min or d[-1] > _INT32.max):
        raise ValueError("bar dates must lie within 5.8 million years of 1970")
    v[np.isinf(v)] = np.nan
    return d, v


def _merge(old: _Series, new: _Series) -> _Series:
    """``old`` with ``new`` merged in; on a date both have, ``new``'s bar wins."""
    od, ov = old
    nd, nv = new
    # (bars that all follow the cached ones never get here: put_bars appends them in SQL)
    if nd[-1] < od[0]:
        return np.concatenate([nd, od]), np.concatenate([nv, ov])
    pos = np.minimum(np.searchsorted(nd, od), len(nd) - 1)
    keep = nd[pos] != od
    d = np.concatenate([od[keep], nd])
    v = np.concatenate([ov[keep], nv])
    order = np.argsort(d, kind="stable")
    return d[order], v[order]


def _empty_long() -> pd.DataFrame:
    """No bars, with the columns and dtypes ``get_bars`` always had for an empty answer."""
    df = pd.DataFrame.from_records([], columns=list(BAR_COLUMNS))
    df["date"] = pd.to_datetime(df["date"], format="%Y-%m-%d")
    df["symbol"] = df["symbol"].astype(object)
    for f in _FIELDS:
        df[f] = pd.to_numeric(df[f]).astype("float64")
    return df


class BarsRepo(StoreCore):
    def put_bars(self, feed: str, bars: pd.DataFrame, *, at: datetime | None = None) -> int:
        """Insert or replace bars of ``feed`` from a long frame; returns the rows written.

        Rows without a finite close are skipped (no close, no bar); other missing fields are
        stored as NaN. A (symbol, date) given twice keeps the last row; a (symbol, date)
        already cached is replaced. ``at`` stamps the touched series' ``updated_at``
        (default: the database's clock).
        """
        missing = [c for c in BAR_COLUMNS if c not in bars.columns]
        if missing:
            raise ValueError(f"bars need the columns {', '.join(missing)}")
        if bars.empty:
            return 0
        symbols, series, n_rows = _prepare(bars)
        return self._put_series(feed, symbols, series, n_rows, at)

    def put_bar_series(
        self,
        feed: str,
        series: Mapping[str, tuple[np.ndarray, np.ndarray]],
        *,
        at: datetime | None = None,
    ) -> int:
        """:meth:`put_bars` for bars already split per symbol: ``{symbol: (dates, values)}``,
        ``dates`` datetime64[D], ``values`` (n, 5) OHLCV. No frame is built (the Alpaca
        adapter's cache writes, off the event loop: less work holding the GIL). The same
        rules: bars without a finite close are skipped, +-inf is stored as NaN, a date given
        twice keeps the last bar."""
        symbols: list[str] = []
        prepared: list[_Series] = []
        for sym, (dates, values) in series.items():
            d, v = _checked_series(dates, values)
            if len(d):
                symbols.append(cv.text(sym))
                prepared.append((d, v))
        return self._put_series(feed, symbols, prepared, sum(len(d) for d, _ in prepared), at)

    def _put_series(
        self,
        feed: str,
        symbols: list[str],
        series: list[_Series],
        n_rows: int,
        at: datetime | None,
    ) -> int:
        if not symbols:
            return 0
        feed_text = cv.text(feed)
        stamp = cv.opt_ts(at)
        with self._tx() as db:
            conn = db.conn
            cached_last = self._last_days(conn, feed_text, symbols)
            whole: list[tuple[str, _Series]] = []  # new series, or merged with the cached one
            appends: list[tuple[str, _Series]] = []
            overlaps: dict[str, _Series] = {}
            for sym, new in zip(symbols, series, strict=True):
                last = cached_last.get(sym)
                if last is None:
                    whole.append((sym, new))
                elif new[0][0] > last:
                    appends.append((sym, new))
                else:
                    overlaps[sym] = new
            if overlaps:
                for sym, old in self._series(conn, feed_text, list(overlaps)):
                    whole.append((sym, _merge(old, overlaps[sym])))
            if whole:
                firsts = bar_blobs.day_texts([int(d[0]) for _, (d, _) in whole])
                lasts = bar_blobs.day_texts([int(d[-1]) for _, (d, _) in whole])
                rows = [
                    (feed_text, sym, first, last, len(d), *bar_blobs.encode(d, v), stamp)
                    for (sym, (d, v)), first, last in zip(whole, firsts, lasts, strict=True)
                ]
                conn.executemany(_UPSERT, rows)
            if appends:
                lasts = bar_blobs.day_texts([int(d[-1]) for _, (d, _) in appends])
                rows = [
                    (len(d), last, *bar_blobs.encode(d, v), stamp, feed_text, sym)
                    for (sym, (d, v)), last in zip(appends, lasts, strict=True)
                ]
                conn.executemany(_APPEND, rows)
        return n_rows

    def get_bars(
        self,
        symbols: Iterable[str],
        start: date | None,
        end: date | None,
        feed: str,
    ) -> pd.DataFrame:
        """Cached bars of ``symbols`` with ``start <= date <= end`` (None: unbounded).

        Long frame with columns ``BAR_COLUMNS``, ``date`` as datetime64, sorted by date then
        symbol; symbols without cached bars are simply absent.
        """
        win = self._window(symbols, start, end, feed)
        if win is None:
            return _empty_long()
        codes = np.repeat(np.arange(len(win.symbols)), win.counts)
        # the window is in symbol order, so the codes sort like the symbols do
        order = np.lexsort((codes, win.days))
        values = win.values[order]
        data: dict[str, np.ndarray] = {
            "date": win.days[order].astype("datetime64[D]").astype("datetime64[us]"),
            "symbol": np.array(win.symbols, dtype=object)[codes[order]],
        }
        for k, f in enumerate(_FIELDS):
            data[f] = np.ascontiguousarray(values[:, k])
        df = pd.DataFrame(data)
        df["symbol"] = df["symbol"].astype(object)
        return df

    def get_bar_series(
        self,
        symbols: Iterable[str],
        start: date | None,
        end: date | None,
        feed: str,
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The bars of :meth:`get_bars` per symbol, ``{symbol: (dates datetime64[D] ascending,
        values (n, 5) OHLCV)}``, straight from the stored arrays (no frame); symbols without
        cached bars in the window are absent."""
        win = self._window(symbols, start, end, feed)
        if win is None:
            return {}
        ends = np.cumsum(win.counts)
        days = win.days.astype("datetime64[D]")
        return {
            sym: (days[e - n : e], win.values[e - n : e])
            for sym, n, e in zip(win.symbols, win.counts.tolist(), ends.tolist(), strict=True)
        }

    def get_daily_bars(
        self,
        symbols: Iterable[str],
        start: date | None,
        end: date | None,
        feed: str,
    ) -> DailyBars:
        """The bars of :meth:`get_bars` as ``DailyBars``, built straight from the stored arrays.

        Equal to ``DailyBars.from_long(get_bars(symbols, start, end, feed))``: the columns are
        the symbols with at least one bar in the window, sorted; the dates the union of their
        dates; NaN where a symbol has no bar on a date. A few ms for 500 symbols x 300 sessions
        where the long frame takes ~0.5 s.
        """
        win = self._window(symbols, start, end, feed)
        if win is None:
            return DailyBars.empty()
        days = win.days.astype(np.int64)
        lo, hi = int(days.min()), int(days.max())
        if hi - lo < 8 * len(days) + 4096:
            # The union of the dates through a calendar mask: linear, no sort.
            seen = np.zeros(hi - lo + 1, dtype=bool)
            seen[days - lo] = True
            union = np.flatnonzero(seen) + lo
        else:  # a few far-apart dates: sorting them is cheaper than a huge mask
            union = np.unique(days)
        n_sym, n_dates = len(win.symbols), len(union)
        if np.all(win.counts == n_dates):  # every symbol has a bar on every date: no holes
            block = win.values.reshape(n_sym, n_dates, len(_FIELDS))
        else:  # one scatter of every bar into its (symbol, date) cell
            block = np.full((n_sym, n_dates, len(_FIELDS)), np.nan)
            cols = np.repeat(np.arange(n_sym), win.counts)
            block[cols, np.searchsorted(union, days)] = win.values
        # (N, T, 5) -> five C-ordered (T, N) fields, the layout DailyBars.from_long gives
        grid = np.empty((len(_FIELDS), n_dates, n_sym))
        for k in range(len(_FIELDS)):
            grid[k] = block[:, :, k].T
        return DailyBars(union.astype("datetime64[D]"), win.symbols, *grid)

    def bar_cache_last_dates(self, feed: str) -> dict[str, date]:
        """Per symbol, the date of its last cached bar for ``feed``."""
        rows = self._rows(
            "SELECT symbol, last_date FROM bar_series WHERE feed = ?", [cv.text(feed)]
        )
        return {r["symbol"]: date.fromisoformat(r["last_date"]) for r in rows}

    # -- reading series ----------------------------------------------------------------------
    def _window(
        self, symbols: Iterable[str], start: date | None, end: date | None, feed: str
    ) -> _Window | None:
        """The bars of ``symbols`` with ``start <= date <= end``, or None when there are none.

        All series are read in one query and joined before numpy sees them, so the work per
        symbol stays a few list items, not a few numpy calls.
        """
        syms = sorted({cv.text(s) for s in symbols})
        lo_text, hi_text = cv.opt_day(start), cv.opt_day(end)
        feed_text = cv.text(feed)
        where = "feed = ?"
        bounds: list[str] = []
        if lo_text is not None:  # series entirely outside the window are not read at all
            where += " AND last_date >= ?"
            bounds.append(lo_text)
        if hi_text is not None:
            where += " AND first_date <= ?"
            bounds.append(hi_text)
        rows: list[tuple[str, int, str, str, bytes, bytes]] = []
        with self._read() as db:
            for i in range(0, len(syms), _CHUNK):
                chunk = syms[i : i + _CHUNK]
                sql = (
                    "SELECT symbol, n, first_date, last_date, dates, ohlcv FROM bar_series "
                    f"WHERE {where} AND symbol IN ({', '.join('?' for _ in chunk)})"
                )
                rows.extend(db.conn.execute(sql, [feed_text, *bounds, *chunk]).fetchall())
        if not rows:
            return None
        rows.sort(key=itemgetter(0))
        for sym, n, _, _, dates_blob, ohlcv_blob in rows:
            try:
                bar_blobs.check(dates_blob, ohlcv_blob, n)
            except bar_blobs.BadSeries as exc:
                raise self._damaged(sym, feed_text, exc) from exc
        names = [r[0] for r in rows]
        counts = np.array([r[1] for r in rows], dtype=np.int64)
        days, values = bar_blobs.decode(
            b"".join(r[4] for r in rows), b"".join(r[5] for r in rows), int(counts.sum())
        )
        lo_cut = lo_text is not None and any(r[2] < lo_text for r in rows)
        hi_cut = hi_text is not None and any(r[3] > hi_text for r in rows)
        if lo_cut or hi_cut:
            keep = np.ones(len(days), dtype=bool)
            if lo_cut:
                keep &= days >= bar_blobs.text_days([lo_text])[0]
            if hi_cut:
                keep &= days <= bar_blobs.text_days([hi_text])[0]
            codes = np.repeat(np.arange(len(names)), counts)[keep]
            counts = np.bincount(codes, minlength=len(names))
            days, values = days[keep], values[keep]
            if not len(days):
                return None
            if not counts.all():  # symbols with bars only outside the window are absent
                names = [s for s, c in zip(names, counts, strict=True) if c]
                counts = counts[counts > 0]
        return _Window(tuple(names), counts, days, values)

    def _last_days(self, conn: sqlite3.Connection, feed: str, symbols: list[str]) -> dict[str, int]:
        """The day number of each cached series' last bar (read from ``last_date``)."""
        found: list[tuple[str, str]] = []
        for i in range(0, len(symbols), _CHUNK):
            chunk = symbols[i : i + _CHUNK]
            sql = (
                "SELECT symbol, last_date FROM bar_series WHERE feed = ? "
                f"AND symbol IN ({', '.join('?' for _ in chunk)})"
            )
            found.extend(conn.execute(sql, [feed, *chunk]).fetchall())
        days = bar_blobs.text_days([last for _, last in found]).tolist()
        return {sym: day for (sym, _), day in zip(found, days, strict=True)}

    def _series(
        self,
        conn: sqlite3.Connection,
        feed: str,
        symbols: list[str],
    ) -> Iterator[tuple[str, _Series]]:
        """The stored series of those ``symbols`` that have one, decoded (read-only views)."""
        for i in range(0, len(symbols), _CHUNK):
            chunk = symbols[i : i + _CHUNK]
            sql = (
                "SELECT symbol, n, dates, ohlcv FROM bar_series WHERE feed = ? "
                f"AND symbol IN ({', '.join('?' for _ in chunk)})"
            )
            for sym, n, dates_blob, ohlcv_blob in conn.execute(sql, [feed, *chunk]):
                try:
                    yield sym, bar_blobs.decode(dates_blob, ohlcv_blob, n)
                except bar_blobs.BadSeries as exc:
                    raise self._damaged(sym, feed, exc) from exc

    def _damaged(self, symbol: str, feed: str, exc: Exception) -> StoreError:
        return corrupt_error(self._path, f"damaged cached bars of {symbol} on feed {feed}: {exc}")
