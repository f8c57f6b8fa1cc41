"""The daily bars a backtest's results are read with, kept in the run's own store.

A run's figures compare it with SPY's buy-and-hold, and the research window shows each trade
on the chart of its symbol. Both need daily bars the trading records do not hold, and the
market a run was made on may since have changed (another simulated seed, a newer replay file,
a refilled bar cache). So when a backtest has finished, the bars of the benchmark and of every
symbol it traded, from a while before its first session to a little after its last, are
written into its store's bar table under the feed ``backtest``: the run reads back as it was
made, with no market at hand.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from workstation.core.bars import DailyBars
from workstation.store import Store

#: The bar table's feed of the bars a run keeps.
FEED = "backtest"
#: Sessions kept before a symbol's first trade (the chart's indicators need that much history:
#: SMA200 and the Wilder smoothers) and after its last (a trade closed on the last session still
#: shows a few bars after it). The benchmark is kept over the whole period, from ``BEFORE``.
BEFORE, AFTER = 260, 10


def keep_bars(
    store: Store, bars: DailyBars, benchmark: str, first: date, last: date
) -> tuple[str, ...]:
    """Write into ``store`` the bars of ``benchmark`` (from ``BEFORE`` sessions before
    ``first`` to ``AFTER`` after ``last``) and of every symbol the run traded (closed trades
    and positions still open: from ``BEFORE`` sessions before its first entry to ``AFTER``
    after its last exit); returns the symbols kept."""
    spans: dict[str, tuple[date, date]] = {benchmark: (first, last)}

    def cover(symbol: str, start: date, end: date) -> None:
        lo, hi = spans.get(symbol, (start, end))
        spans[symbol] = (min(lo, start), max(hi, end))

    for t in store.trades():
        cover(t.symbol, t.entry_session, t.exit_session)
    for p in store.open_positions():
        cover(p.symbol, p.entry_session, last)
    symbols = tuple(s for s in sorted(spans) if s in bars)
    if not symbols:
        return ()
    dates = bars.dates
    long = bars.select(list(symbols)).to_long()
    # Each row's symbol's span, by the symbol's position: one vectorised comparison for all
    # symbols (a comparison per symbol over every row took seconds for a 3-year run).
    lo_day = np.empty(len(symbols), dtype="datetime64[D]")
    hi_day = np.empty(len(symbols), dtype="datetime64[D]")
    for j, sym in enumerate(symbols):
        start, end = spans[sym]
        lo = max(int(np.searchsorted(dates, np.datetime64(start, "D"))) - BEFORE, 0)
        stop = int(np.searchsorted(dates, np.datetime64(end, "D"), side="right"))
        hi = min(stop + AFTER, len(dates)) - 1
        lo_day[j], hi_day[j] = dates[lo], dates[hi]
    code = pd.Categorical(long["symbol"], categories=list(symbols)).codes
    day = pd.to_datetime(long["date"]).dt.normalize().to_numpy().astype("datetime64[D]")
    keep = (day >= lo_day[code]) & (day <= hi_day[code])
    store.put_bars(FEED, long[keep])
    return symbols


def kept_closes(store: Store, symbol: str) -> pd.Series | None:
    """The kept daily closes of ``symbol`` indexed by date (None: the run kept none)."""
    got = store.get_bars([symbol], None, None, FEED)
    if got.empty:
        return None
    return pd.Series(got["close"].to_numpy(dtype=float), index=pd.DatetimeIndex(got["date"]))


def kept_bars(store: Store, symbol: str, start: date, end: date) -> pd.DataFrame:
    """The kept bars of ``symbol`` from ``start`` to ``end`` (columns date, open, high, low,
    close, volume; empty when the run kept none)."""
    got = store.get_bars([symbol], start, end, FEED)
    return got.drop(columns=["symbol"]).reset_index(drop=True)


__all__ = ["AFTER", "BEFORE", "FEED", "keep_bars", "kept_bars", "kept_closes"]
