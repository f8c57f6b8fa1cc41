"""A candidate's track record: how its strategy did in the backtest history (issue 11.1).

For a candidate of tonight's list (a strategy, a side, the regime of its scan, its sector), the
trades of a stored backtest of the parameter set in force (:mod:`.reference`) are read once
(:func:`load_book`) and grouped three ways, from the widest to the narrowest:

* the same strategy (and side), in every regime;
* the same strategy in the same regime: the comparison the candidate's decision is about;
* the same strategy in the same regime and the same sector.

Each group has the trade figures of the backtest report (:func:`trade_figures`: trades, win
rate, average R, profit factor...), the distribution of outcomes in R (bins of half an R, and
the 10th..90th percentiles), and ``small_sample`` below ``min_trades`` trades, with a plain
sentence for people. The last few comparable signals (same strategy and regime, the newest
first) come with their results. The regime of a backtest trade is that of the scan its
candidate came from: the regime the decision was made in.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from workstation.research.evidence.status import BIN_EDGES
from workstation.research.figures import Figures
from workstation.research.trade_stats import DEFAULT_MIN_TRADES, quantiles, trade_figures
from workstation.store import Store, TradeRow
from workstation.store import convert as cv

RECENT = 5


@dataclass(frozen=True)
class BookTrade:
    """A backtest trade with what the track record groups it by."""

    trade: TradeRow
    regime: str  # of the scan its candidate came from ("unknown" without one)
    sector: str


@dataclass(frozen=True)
class Book:
    """Every trade of one stored backtest, loaded once."""

    backtest_id: str
    path: str
    first: date
    last: date
    param_hash: str
    market: str
    trades: tuple[BookTrade, ...]
    partial: bool = False  # a backtest still being built: its trades so far (``last``)


_BOOK_QUERY = (
    "SELECT t.*, s.regime AS scan_regime, c.sector AS cand_sector FROM trades t "
    "LEFT JOIN candidates c ON c.id = t.candidate_id "
    "LEFT JOIN scans s ON s.id = c.scan_id ORDER BY t.entry_at, t.id"
)


def _book_trades(rows: Sequence[dict[str, Any]]) -> tuple[BookTrade, ...]:
    trades = []
    for r in rows:
        regime, sector = r.pop("scan_regime"), r.pop("cand_sector")
        trades.append(BookTrade(cv.from_row(TradeRow, r), regime or "unknown", sector or "Unknown"))
    return tuple(trades)


def load_book(
    path: str | Path,
    *,
    backtest_id: str = "",
    first: date | None = None,
    last: date | None = None,
    param_hash: str = "",
    market: str = "",
) -> Book:
    """The trades of the backtest store at ``path`` with their regime and sector (one query;
    for a worker thread: a few thousand rows)."""
    with Store.open(Path(path)) as store:
        rows = list(store.db.query(_BOOK_QUERY))
        if first is None or last is None:
            span = store.db.execute(
                "SELECT MIN(session), MAX(session) FROM daily_performance"
            ).fetchone()
            first = first or (date.fromisoformat(span[0]) if span[0] else date.min)
            last = last or (date.fromisoformat(span[1]) if span[1] else date.min)
    return Book(backtest_id, str(path), first, last, param_hash, market, _book_trades(rows))


def load_partial_book(
    path: str | Path, *, first: date, last: date, param_hash: str, market: str
) -> Book | None:
    """The trades so far of a backtest store another process is still writing (``last``: the
    session it has reached), read-only and without waiting; None while the store has no
    trades table yet or is busy. The writer commits each decision, so what is read is the
    run's own record up to a session, never a half-written one."""
    p = Path(path)
    if not p.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True, timeout=0.5)
    except sqlite3.Error:
        return None
    try:
        conn.row_factory = sqlite3.Row
        rows = [dict(r) for r in conn.execute(_BOOK_QUERY)]
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return Book("", str(p), first, last, param_hash, market, _book_trades(rows), partial=True)


@dataclass(frozen=True)
class Scope:
    """One group of comparable backtest trades and its figures."""

    name: str  # "strategy", "regime", "sector"
    label: str  # for people: "rsi_reversion in TREND"
    figures: Figures
    r_quantiles: Figures
    bins: tuple[int, ...]  # counts per BIN_EDGES interval (len(BIN_EDGES) + 1, ends open)
    min_trades: int

    @property
    def n(self) -> int:
        return int(self.figures["n_trades"])

    @property
    def small(self) -> bool:
        return self.n < self.min_trades

    def verdict(self) -> str:
        """A plain sentence on what the sample can say."""
        n = self.n
        if n == 0:
            return f"No backtest trade of {self.label}: nothing to go on."
        if n < 10:
            return (
                f"Only {n} trade{'s' if n != 1 else ''} of {self.label}: far too few to mean "
                "anything; read them as anecdotes."
            )
        if n < self.min_trades:
            return (
                f"{n} trades of {self.label}: a small sample ({self.min_trades} needed); the "
                "win rate could be 15-20 points off either way."
            )
        return f"{n} trades of {self.label}: enough to take the figures as a guide."

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "small_sample": self.small,
            "verdict": self.verdict(),
            **self.figures.as_json(),
            "r_quantiles": self.r_quantiles.as_json(),
            "bins": list(self.bins),
        }


@dataclass(frozen=True)
class Comparable:
    """One past signal like the candidate, and how it turned out in the backtest."""

    entry_session: date
    symbol: str
    sector: str
    exit_reason: str
    r: float
    pnl: float
    days_held: int

    def as_json(self) -> dict[str, Any]:
        return {
            "entry_session": self.entry_session.isoformat(),
            "symbol": self.symbol,
            "sector": self.sector,
            "exit_reason": self.exit_reason,
            "r": round(self.r, 3),
            "pnl": round(self.pnl, 2),
            "days_held": self.days_held,
        }


@dataclass(frozen=True)
class TrackRecord:
    """A candidate's track record (see the module docstring)."""

    strategy: str
    side: str
    regime: str
    sector: str
    book: Book
    scopes: tuple[Scope, ...]
    recent: tuple[Comparable, ...]
    before: date | None  # only trades that exited before this session (no look-ahead)

    def scope(self, name: str) -> Scope:
        return next(s for s in self.scopes if s.name == name)

    def as_json(self) -> dict[str, Any]:
        b = self.book
        return {
            "strategy": self.strategy,
            "side": self.side,
            "regime": self.regime,
            "sector": self.sector,
            "backtest": {
                "id": b.backtest_id,
                "first": b.first.isoformat(),
                "last": b.last.isoformat(),
                "param_hash": b.param_hash,
                "market": b.market,
                "trades": len(b.trades),
            },
            "scopes": [s.as_json() for s in self.scopes],
            "recent": [c.as_json() for c in self.recent],
        }


def r_bins(values: Sequence[float]) -> tuple[int, ...]:
    """Counts per half-R bin; the first and last bins are open (below -3R, from +4R)."""
    idx = np.searchsorted(np.asarray(BIN_EDGES), np.asarray(values, dtype=float), side="right")
    counts = np.bincount(idx, minlength=len(BIN_EDGES) + 1)
    return tuple(int(c) for c in counts)


def track_record(
    book: Book,
    strategy: str,
    side: str,
    regime: str,
    sector: str,
    *,
    before: date | None = None,
    min_trades: int = DEFAULT_MIN_TRADES,
    recent: int = RECENT,
) -> TrackRecord:
    """The track record of a (strategy, side, regime, sector) candidate in ``book``; with
    ``before``, only trades that exited before that session count."""
    same = [
        b
        for b in book.trades
        if b.trade.strategy == strategy
        and b.trade.side == side
        and (before is None or b.trade.exit_session < before)
    ]
    in_regime = [b for b in same if b.regime == regime]
    in_sector = [b for b in in_regime if b.sector == sector]
    groups = (
        ("strategy", f"{strategy} ({side}) in every regime", same),
        ("regime", f"{strategy} in {regime}", in_regime),
        ("sector", f"{strategy} in {regime}, {sector}", in_sector),
    )
    scopes = tuple(_scope(name, label, trades, min_trades) for name, label, trades in groups)
    last = sorted(in_regime, key=lambda b: (b.trade.entry_at, b.trade.symbol), reverse=True)
    comparables = tuple(
        Comparable(
            b.trade.entry_session,
            b.trade.symbol,
            b.sector,
            b.trade.exit_reason,
            b.trade.r_multiple,
            b.trade.pnl,
            b.trade.days_held,
        )
        for b in last[:recent]
    )
    return TrackRecord(strategy, side, regime, sector, book, scopes, comparables, before)


def _scope(name: str, label: str, trades: Sequence[BookTrade], min_trades: int) -> Scope:
    rows = [b.trade for b in trades]
    rs = [t.r_multiple for t in rows if math.isfinite(t.r_multiple)]
    return Scope(
        name,
        label,
        trade_figures(rows, min_trades=min_trades),
        quantiles(rs),
        r_bins(rs),
        min_trades,
    )


__all__ = [
    "BIN_EDGES",
    "Book",
    "BookTrade",
    "Comparable",
    "Scope",
    "TrackRecord",
    "load_book",
    "load_partial_book",
    "r_bins",
    "track_record",
]
