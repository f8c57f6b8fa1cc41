"""Which symbols a backtest scans on each session: point-in-time S&P 500 membership.

A backtest over today's S&P 500 members only trades the companies that survived to today
(survivorship bias: the losers that left the index are missing). ``pit`` mode scans, on each
session, the members of that session (``pitindex``: the index's adds and removes since
2004-12-30) that the market data has bars for; ``current`` mode scans today's members (or a
universe file) on every session, to show what the bias does.

Coverage is reported per session: members the data has a bar for / members. A data file that
lacks many removed members (the shared 2011-2022 file holds the 2022 members plus ~57 removed
since 2018) shows it plainly as low coverage before those years.

Sectors: pitindex gives GICS sectors of current members only; a removed member's sector is
``Unknown`` (a sector like any other for the 3-per-sector caps).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from workstation.core.bars import DailyBars
from workstation.core.models import Universe
from workstation.errors import UserError
from workstation.market.universe import UNKNOWN_SECTOR, normalize_symbol

PIT_START = date(2004, 12, 30)


@dataclass(frozen=True, eq=False)
class Membership:
    """The scan universe of each session of a backtest."""

    mode: str  # "pit", "current" or "file"
    dates: np.ndarray  # the data's sessions (datetime64[D])
    symbols: tuple[str, ...]  # data spelling, the engine's universe (union over the period)
    member: np.ndarray  # (sessions, symbols) bool: scanned that session
    index_size: np.ndarray  # (sessions,) members of the index (with or without data)
    universe: Universe  # every symbol ever scanned, with sectors (the engine's universe)
    _cache: dict[int, Universe] = field(default_factory=dict, repr=False)

    def _row(self, session: date) -> int:
        d = np.datetime64(session, "D")
        i = int(np.searchsorted(self.dates, d))
        if i >= len(self.dates) or self.dates[i] != d:
            raise KeyError(f"{session} is not a session of the data")
        return i

    def on(self, session: date) -> Universe:
        """The universe scanned on ``session`` (members with data, the benchmark)."""
        i = self._row(session)
        u = self._cache.get(i)
        if u is None:
            cols = np.nonzero(self.member[i])[0]
            sectors = {self.symbols[j]: self.universe.sector(self.symbols[j]) for j in cols}
            u = self._cache[i] = Universe.of(sectors, self.universe.benchmark)
        return u

    def coverage(self, session: date, bars: DailyBars) -> tuple[int, int]:
        """(members with a bar that session, members)."""
        i = self._row(session)
        cols = [bars.col(s) for s in self.symbols]
        has = np.isfinite(bars.close[bars_row(bars, session), cols]) & self.member[i]
        return int(has.sum()), int(self.index_size[i])

    def report(self, sessions: list[date], bars: DailyBars) -> dict[str, Any]:
        """Coverage over ``sessions``: the mode, min/mean share and the worst session."""
        if not sessions:
            return {"mode": self.mode}
        shares = []
        worst: tuple[float, date, int, int] | None = None
        for s in sessions:
            with_data, members = self.coverage(s, bars)
            share = with_data / members if members else 0.0
            shares.append(share)
            if worst is None or share < worst[0]:
                worst = (share, s, with_data, members)
        assert worst is not None
        first_with, first_members = self.coverage(sessions[0], bars)
        return {
            "mode": self.mode,
            "survivorship_bias": self.mode != "pit",
            "coverage_min": round(min(shares), 4),
            "coverage_mean": round(float(np.mean(shares)), 4),
            "worst_session": worst[1].isoformat(),
            "worst": f"{worst[2]} of {worst[3]}",
            "first_session": f"{first_with} of {first_members}",
            "symbols_scanned": len(self.symbols),
        }


def bars_row(bars: DailyBars, session: date) -> int:
    d = np.datetime64(session, "D")
    i = int(np.searchsorted(bars.dates, d))
    if i >= bars.n_sessions or bars.dates[i] != d:
        raise KeyError(f"{session} is not in the data")
    return i


def fixed_membership(bars: DailyBars, universe: Universe, mode: str = "current") -> Membership:
    """The same universe on every session: ``current`` (today's members) or ``file`` (a
    universe file)."""
    symbols = tuple(s for s in universe.symbols if s in bars)
    member = np.ones((bars.n_sessions, len(symbols)), dtype=bool)
    size = np.full(bars.n_sessions, len(universe.symbols))
    kept = Universe.of({s: universe.sector(s) for s in symbols}, universe.benchmark)
    return Membership(mode, bars.dates, symbols, member, size, kept)


def pit_membership(
    bars: DailyBars, first: date, last: date, sectors: Universe, benchmark: str
) -> Membership:
    """``pit`` mode: each session's S&P 500 members (pitindex) that the data has.

    ``sectors`` gives the GICS sector of current members (others are Unknown)."""
    if first < PIT_START:
        raise UserError(
            f"point-in-time S&P 500 membership starts {PIT_START}; the period starts {first}: "
            "start later or use --universe current"
        )
    try:
        import pitindex
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise UserError(f"pitindex is not installed ({exc}); reinstall the workstation") from exc
    with warnings.catch_warnings():
        # pitindex warns that its bundled data is months old: the membership of past
        # sessions, which is all a backtest reads, does not change with age.
        warnings.simplefilter("ignore")
        hist = pitindex.get_constituents_history(first.isoformat(), last.isoformat())
    by_norm = {normalize_symbol(s): s for s in bars.symbols if s != benchmark}
    as_of = np.array(sorted(set(hist["as_of"])), dtype="datetime64[D]")
    snapshots: list[set[str]] = []
    sizes: list[int] = []
    for a in as_of:
        tickers = hist.loc[hist["as_of"] == str(a), "ticker"]
        snapshots.append({normalize_symbol(t) for t in tickers})
        sizes.append(len(tickers))
    rows = np.searchsorted(as_of, bars.dates, side="right") - 1  # the snapshot in force
    in_period = (bars.dates >= np.datetime64(first, "D")) & (bars.dates <= np.datetime64(last))
    ever = sorted({by_norm[t] for snap in snapshots for t in snap if t in by_norm})
    col = {s: j for j, s in enumerate(ever)}
    member = np.zeros((bars.n_sessions, len(ever)), dtype=bool)
    size = np.zeros(bars.n_sessions, dtype=np.int64)
    for i in np.nonzero(in_period & (rows >= 0))[0]:
        snap = snapshots[rows[i]]
        size[i] = sizes[rows[i]]
        for t in snap:
            s = by_norm.get(t)
            if s is not None:
                member[i, col[s]] = True
    universe = Universe.of(
        {s: sectors.sectors.get(normalize_symbol(s), UNKNOWN_SECTOR) for s in ever}, benchmark
    )
    return Membership("pit", bars.dates, tuple(ever), member, size, universe)


__all__ = ["PIT_START", "Membership", "fixed_membership", "pit_membership"]
