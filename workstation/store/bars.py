"""A cache of daily bars per data feed, so a restart or a re-scan does not refetch history.

Bars go in and come out in the long format of :mod:`workstation.core.bars`
(``date, symbol, open, high, low, close, volume``; ``DailyBars.from_long`` reads the output).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import numpy as np
import pandas as pd

from workstation.store import convert as cv
from workstation.store.base import StoreCore

BAR_COLUMNS: tuple[str, ...] = ("date", "symbol", "open", "high", "low", "close", "volume")
_FIELDS = ("open", "high", "low", "close", "volume")
# Well under SQLite's limit on bound parameters per statement.
_CHUNK = 500


def _session_dates(values: pd.Series) -> pd.Series:
    """Bar dates as ``YYYY-MM-DD``, the same way ``DailyBars.from_long`` reads them
    (timezone dropped, keeping the wall-clock day)."""
    dt = pd.to_datetime(values)
    if getattr(dt.dt, "tz", None) is not None:
        dt = dt.dt.tz_localize(None)
    return dt.dt.normalize().dt.strftime("%Y-%m-%d")


class BarsRepo(StoreCore):
    def put_bars(self, feed: str, bars: pd.DataFrame) -> int:
        """Insert or replace bars of ``feed`` from a long frame; returns the rows written.

        Rows without a finite close are skipped (no close, no bar); other missing fields are
        stored as NULL. A (symbol, date) given twice keeps the last row.
        """
        missing = [c for c in BAR_COLUMNS if c not in bars.columns]
        if missing:
            raise ValueError(f"bars need the columns {', '.join(missing)}")
        if bars.empty:
            return 0
        d = pd.DataFrame({"date": _session_dates(bars["date"]), "symbol": bars["symbol"]})
        for f in _FIELDS:
            d[f] = pd.to_numeric(bars[f], errors="coerce").astype("float64")
        d = d[np.isfinite(d["close"].to_numpy())]
        d = d.drop_duplicates(subset=["symbol", "date"], keep="last")
        if d.empty:
            return 0
        d.insert(0, "feed", cv.text(feed))
        d["symbol"] = d["symbol"].astype(str)
        cols = ["feed", "symbol", "date", *_FIELDS]
        # NaN/inf -> NULL (SQLite has no NaN; a missing volume is unknown, not zero)
        values = d[cols].astype(object)
        for f in _FIELDS:
            arr = d[f].to_numpy()
            values.loc[~np.isfinite(arr), f] = None
        rows = list(values.itertuples(index=False, name=None))
        sql = (
            f"INSERT INTO bar_cache ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)}) "
            "ON CONFLICT (feed, symbol, date) DO UPDATE SET "
            + ", ".join(f"{f} = excluded.{f}" for f in _FIELDS)
        )
        with self._tx() as db:
            db.conn.executemany(sql, rows)
        return len(rows)

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
        syms = sorted({cv.text(s) for s in symbols})
        where = ["feed = ?"]
        bounds: list[str] = []
        if start is not None:
            where.append("date >= ?")
            bounds.append(cv.day(start))
        if end is not None:
            where.append("date <= ?")
            bounds.append(cv.day(end))
        records: list[tuple] = []
        with self._read() as db:
            for i in range(0, len(syms), _CHUNK):
                chunk = syms[i : i + _CHUNK]
                marks = ", ".join("?" for _ in chunk)
                sql = (
                    f"SELECT {', '.join(BAR_COLUMNS)} FROM bar_cache "
                    f"WHERE {' AND '.join(where)} AND symbol IN ({marks})"
                )
                records.extend(db.conn.execute(sql, [cv.text(feed), *bounds, *chunk]).fetchall())
        df = pd.DataFrame.from_records(records, columns=list(BAR_COLUMNS))
        df["date"] = pd.to_datetime(df["date"], format="%Y-%m-%d")
        df["symbol"] = df["symbol"].astype(object)
        for f in _FIELDS:
            df[f] = pd.to_numeric(df[f]).astype("float64")
        return df.sort_values(["date", "symbol"], kind="stable").reset_index(drop=True)

    def bar_cache_last_dates(self, feed: str) -> dict[str, date]:
        """Per symbol, the date of its last cached bar for ``feed``."""
        rows = self._rows(
            "SELECT symbol, MAX(date) AS last FROM bar_cache WHERE feed = ? GROUP BY symbol",
            [cv.text(feed)],
        )
        return {r["symbol"]: date.fromisoformat(r["last"]) for r in rows}
