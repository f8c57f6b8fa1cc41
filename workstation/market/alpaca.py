"""Alpaca as a market (``--market alpaca``): daily and minute bars, snapshots, latest trades,
and one live quote/trade stream, through alpaca-py's REST and websocket clients.

Daily bars (the nightly scan's input) come for the whole universe in few requests:
multi-symbol ``StockBarsRequest``\\ s (``raw_data=True``: plain dicts, no pydantic models for
150 000 bars), split-adjusted, always from the ONE feed of ``app.yaml`` (``alpaca.feed``; the
cache is keyed by it too, so IEX and SIP volumes never mix), paged by alpaca-py, several
requests in flight at once, each bounded and retried by the session's REST plumbing.

With a bar cache (the store's ``put_bar_series`` / ``get_bar_series``) a call fetches only what
the cache lacks: per symbol the sessions after its last cached bar (plus, by default, that last
session again: if its close differs, a split or a correction has re-adjusted the history and
the symbol's whole window is fetched again), the sessions before its first cached bar, and
always the sessions that have not settled yet (closed less than ``cache_settle`` ago), which
are returned but never cached. Symbols with the same missing range share requests.

Heavy work (parsing, the SQLite cache, building the arrays) runs in worker threads, in slices
small enough that the loop is never held for long (the GIL is released between slices).

Live data: one market-data websocket for the account (Alpaca allows one), following the
union of :meth:`AlpacaMarket.set_subscriptions` (held positions, pending confirmations; their
ticks are published on the event bus as QuoteEvent/TradeEvent) and every open
:meth:`AlpacaMarket.stream` iterator. See :mod:`workstation.alpaca.streams`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import operator
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol

import numpy as np
import pandas as pd
from alpaca.data.enums import Adjustment, DataFeed
from alpaca.data.requests import StockBarsRequest, StockLatestTradeRequest, StockSnapshotRequest
from alpaca.data.timeframe import TimeFrame

from workstation.alpaca.errors import AlpacaRequestError
from workstation.alpaca.mapping import num, parse_time, quote_from_json, trade_from_json
from workstation.alpaca.rest import HEAVY, with_leaf_arrays
from workstation.alpaca.session import AlpacaSession
from workstation.alpaca.streams import DataStreamManager
from workstation.core.bars import FIELDS, DailyBars
from workstation.core.calendar import ET, CalendarRangeError, TradingCalendar, get_calendar
from workstation.core.events import QuoteEvent, TradeEvent
from workstation.core.models import Quote, Snapshot, TradeTick, Universe
from workstation.market.base import MarketDataError
from workstation.market.validation import duplicate_conflicts, validate_bars

log = logging.getLogger(__name__)

PAGE_SIZE = 10_000  # alpaca-py's page size for /v2/stocks/bars (Alpaca's maximum)
_CACHE_WRITE_ROWS = 5_000  # bars per put_bar_series call: short transactions and GIL holds
_CACHE_READ_SYMBOLS = 50  # symbols per get_bar_series call (x 300 sessions = 15 000 bars)
_SIP_DELAY = timedelta(minutes=16)  # free plans may not query SIP data newer than 15 min


_Series = tuple[np.ndarray, np.ndarray]  # (dates datetime64[D] (n,), values float64 (n, 5))


class BarCache(Protocol):
    """The store's daily-bar cache (``workstation.store.Store`` implements it), per symbol:
    ``{symbol: (dates datetime64[D], values (n, 5) OHLCV)}`` both ways, no frames."""

    def put_bar_series(self, feed: str, series: Mapping[str, _Series]) -> int: ...

    def get_bar_series(
        self, symbols: Iterable[str], start: date | None, end: date | None, feed: str
    ) -> dict[str, _Series]: ...

    def bar_cache_last_dates(self, feed: str) -> dict[str, date]: ...


# ---------------------------------------------------------------------------- bar parsing


def _bar_day(t: str) -> np.datetime64:
    # Alpaca stamps a daily bar at midnight New York (04:00Z or 05:00Z): the UTC date is the
    # session date. Anything else is converted properly.
    if t[10:13] in ("T04", "T05"):
        return np.datetime64(t[:10], "D")
    at = parse_time(t)
    if at is None:
        return np.datetime64("NaT", "D")
    return np.datetime64(at.date(), "D")


_Series = tuple[np.ndarray, np.ndarray]  # (dates datetime64[D] (n,), values float64 (n, 5))


_Conflicts = dict[str, np.ndarray]  # symbol -> sessions (datetime64[D]) whose rows disagreed


def _parse_daily(raw: dict[str, Any]) -> tuple[dict[str, _Series], _Conflicts]:
    """``{symbol: [bar dicts or _BarBlocks]}`` -> ``{symbol: (dates, ohlcv)}`` (dates
    ascending) and the duplicate conflicts.

    A bar without a date or without any value is no bar (dropped); a bar with some value
    missing stays, for the validation to name (trading rules §14). Two bars of one session
    that agree are one; two that disagree are left out and reported as a conflict."""
    with HEAVY:
        return _parse_daily_unlocked(raw)


_OHLCV = operator.itemgetter("o", "h", "l", "c", "v")
_MIDNIGHT_UTC_HOURS = ("T04", "T05")


@dataclass(frozen=True)
class _BarBlock:
    """One symbol's daily bars of one page, as arrays: what :func:`_bars_block` makes of a
    page's bar dicts while the page is decoded (``with_leaf_arrays``)."""

    dates: np.ndarray
    values: np.ndarray


def _bars_block(bars: list[dict[str, Any]]) -> list[_BarBlock]:
    """A symbol's bar dicts of one page -> one block (a list of one, as alpaca-py extends
    each symbol's list page after page)."""
    return [_BarBlock(*_series_of(bars))]


def _series_of(bars: list[dict[str, Any]]) -> _Series:
    """Bar dicts -> (dates, ohlcv) of the bars with a date and some value, in the given order."""
    if not bars:
        return _NO_DATES, _NO_VALUES
    try:
        values = np.array([_OHLCV(b) for b in bars], dtype=np.float64)
    except (KeyError, TypeError, ValueError):  # a null or missing field: bar by bar
        rows = [tuple(num(b.get(k), math.nan) for k in ("o", "h", "l", "c", "v")) for b in bars]
        values = np.array(rows, dtype=np.float64).reshape(-1, 5)
    stamps = [str(b.get("t", "")) for b in bars]
    if all(t[10:13] in _MIDNIGHT_UTC_HOURS for t in stamps):
        dates = np.array([t[:10] for t in stamps], dtype="datetime64[D]")  # the fast path
    else:
        dates = np.array([_bar_day(t) for t in stamps], dtype="datetime64[D]")
    ok = ~np.isnat(dates) & ~np.isnan(values).all(axis=1)
    return dates[ok], values[ok]


def _parse_daily_unlocked(raw: dict[str, Any]) -> tuple[dict[str, _Series], _Conflicts]:
    out: dict[str, _Series] = {}
    conflicts: _Conflicts = {}
    for sym, items in (raw or {}).items():
        if not items:
            continue
        parts = [(b.dates, b.values) for b in items if isinstance(b, _BarBlock)]
        if len(parts) < len(items):  # answers decoded without the converter: plain dicts
            parts.append(_series_of([b for b in items if not isinstance(b, _BarBlock)]))
        if len(parts) == 1:
            dates, values = parts[0]
        else:
            dates = np.concatenate([d for d, _ in parts])
            values = np.concatenate([v for _, v in parts])
        if len(dates) > 1 and not (dates[1:] > dates[:-1]).all():
            order = np.argsort(dates, kind="stable")
            dates, values = dates[order], values[order]
            if (dates[1:] == dates[:-1]).any():
                first, conflict = duplicate_conflicts(dates.astype(np.int64), values)
                if conflict.any():
                    conflicts[str(sym)] = np.unique(dates[conflict])
                keep = first & ~conflict
                dates, values = dates[keep], values[keep]
        out[str(sym)] = (dates, values)
    return out, conflicts


_NO_DATES = np.array([], dtype="datetime64[D]")
_NO_VALUES = np.empty((0, 5))


def _merge(into: dict[str, _Series], more: dict[str, _Series]) -> None:
    for sym, (d, v) in more.items():
        if sym in into:
            d0, v0 = into[sym]
            d, v = np.concatenate([d0, d]), np.concatenate([v0, v])
            order = np.argsort(d, kind="stable")
            d, v = d[order], v[order]
            keep = np.ones(len(d), dtype=bool)
            keep[:-1] = d[1:] != d[:-1]  # duplicate dates: the later fetch wins
            d, v = d[keep], v[keep]
        into[sym] = (d, v)


@dataclass
class _Group:
    start: date
    end: date
    symbols: list[str]


@dataclass
class _Known:
    """What this process knows the cache holds for one symbol: every settled bar from
    session ``since`` on (read from the cache or written to it by this process).

    ``asked_from``: Alpaca was asked for this symbol's bars from that session on, so a gap
    before its first bar is real (a listing after the window's start), not a cache miss, and
    is not asked for again on every refresh."""

    since: np.datetime64
    dates: np.ndarray
    values: np.ndarray
    asked_from: np.datetime64 | None = None


@dataclass
class _Plan:
    """The cached bars of the window, per symbol, and what must be fetched."""

    known: dict[str, _Series] = field(default_factory=dict)
    groups: list[_Group] = field(default_factory=list)
    overlap: dict[str, tuple[np.datetime64, float]] = field(default_factory=dict)
    cached_rows: int = 0
    read_rows: int = 0  # of those, read from SQLite now (the rest this process already knew)


@dataclass
class FetchStats:
    """What the last :meth:`AlpacaMarket.daily_bars` call did (for tests, logs, the bench)."""

    symbols: int = 0
    sessions: int = 0
    requests: int = 0  # SDK calls (each may be several pages)
    bars_fetched: int = 0
    bars_from_cache: int = 0
    bars_read_from_store: int = 0  # cache rows read from SQLite (not already in memory)
    bars_to_cache: int = 0  # written by a background task: see AlpacaMarket.flush_cache()
    refetched_symbols: list[str] = field(default_factory=list)  # re-adjusted history
    seconds: float = 0.0


class _Subscriber:
    def __init__(self, symbols: frozenset[str], maxsize: int) -> None:
        self.symbols = symbols
        self.queue: asyncio.Queue[Quote | TradeTick | Exception] = asyncio.Queue(maxsize)
        self.dropped = 0

    def offer(self, item: Quote | TradeTick | Exception) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            # A consumer that falls behind loses the oldest ticks, never the newest.
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.dropped += 1
            self.queue.put_nowait(item)


class AlpacaMarket:
    """The MarketData protocol on Alpaca (see the module docstring)."""

    name = "alpaca"

    def __init__(
        self,
        session: AlpacaSession,
        *,
        universe: Universe | None = None,
        bar_cache: BarCache | None = None,
        own_cache_connection: bool = True,
        calendar: TradingCalendar | None = None,
        fetch_concurrency: int = 2,
        bars_per_request: int = 30_000,
        max_symbols_per_request: int = 600,
        cache_settle: timedelta = timedelta(minutes=30),
        verify_overlap: bool = True,
        publish_ticks: bool = True,
        stream_queue_size: int = 10_000,
        stream_silence_s: float = 30.0,
        stream_watchdog_every_s: float = 5.0,
        stream_market_open: Callable[[], bool] | None = None,
        stream_reconnect_backoff: tuple[float, float] = (1.0, 30.0),
    ) -> None:
        if fetch_concurrency < 1 or bars_per_request < 1 or max_symbols_per_request < 1:
            raise ValueError("fetch_concurrency, bars_per_request, max_symbols_per_request >= 1")
        self.session = session
        self.feed = session.feed
        self._universe = universe
        self._cache_given = bar_cache
        self._own_cache = own_cache_connection
        self._cache: BarCache | None = None
        self.calendar = calendar or get_calendar()
        self.fetch_concurrency = fetch_concurrency
        self.bars_per_request = bars_per_request
        self.max_symbols_per_request = max_symbols_per_request
        self.cache_settle = cache_settle
        self.verify_overlap = verify_overlap
        self.publish_ticks = publish_ticks
        self.stream_queue_size = stream_queue_size
        self.last_fetch = FetchStats()
        self._memo: dict[str, _Known] = {}
        self._daily_lock: asyncio.Lock | None = None
        self._write_task: asyncio.Task[int] | None = None
        self._base: frozenset[str] = frozenset()
        self._subscribers: set[_Subscriber] = set()
        self._inbox: asyncio.Queue[dict[str, Any]] | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._sub_lock: asyncio.Lock | None = None
        self._closed = False
        self.dropped_messages = 0
        self.data_stream = DataStreamManager(
            session,
            self._on_stream_message,
            silence_s=stream_silence_s,
            watchdog_every_s=stream_watchdog_every_s,
            market_open=stream_market_open,
            reconnect_backoff=stream_reconnect_backoff,
            on_fatal=self._on_stream_fatal,
        )

    # ------------------------------------------------------------------ basics
    def universe(self) -> Universe:
        if self._universe is None:
            from workstation.market.universe import sp500_universe

            self._universe = sp500_universe()
        return self._universe

    def _now(self) -> datetime:
        return self.session.clock.now().astimezone(ET)

    def _data_feed(self) -> DataFeed:
        return DataFeed(self.feed)

    def _clamp_end(self, end: datetime) -> datetime:
        """SIP on a free plan refuses data newer than 15 minutes: ask for no more than that."""
        if self.feed == "sip":
            return min(end, self._now() - _SIP_DELAY)
        return end

    def _failure(self, what: str, exc: AlpacaRequestError) -> MarketDataError:
        tries = f" after {exc.attempts} tries" if exc.attempts > 1 else ""
        return MarketDataError(
            f"Alpaca market data: {what} failed{tries}: {exc.error.describe()}; "
            "check the network and Alpaca's status page, then retry"
        )

    def _cache_store(self) -> BarCache | None:
        """The bar cache, on its own SQLite connection when the store can open one (so the
        cache's long reads and writes never queue behind, or hold up, the loop thread's)."""
        if self._cache is None and self._cache_given is not None:
            given: Any = self._cache_given
            if self._own_cache and hasattr(given, "reopen"):
                self._cache = given.reopen()
            else:
                self._cache = given
        return self._cache

    # ------------------------------------------------------------------ daily bars
    async def daily_bars(self, symbols: Sequence[str], end: date, sessions: int) -> DailyBars:
        """Split-adjusted daily bars of ``symbols`` for the ``sessions`` sessions ending at
        ``end`` (inclusive), from the cache plus what it lacks. Symbols without data are
        present with NaN columns; a session that has not happened yet is a NaN row.

        The newly fetched settled bars are written to the cache by a background task (the
        caller does not wait for SQLite); the next call, :meth:`flush_cache` and
        :meth:`aclose` wait for it."""
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        syms = tuple(dict.fromkeys(s.strip().upper() for s in symbols))
        try:
            days = self.calendar.sessions_back(end, sessions)
        except (CalendarRangeError, ValueError) as exc:
            raise MarketDataError(
                f"Alpaca market: cannot take {sessions} sessions to {end}: {exc}"
            ) from None
        stats = FetchStats(symbols=len(syms), sessions=len(days))
        if not syms:
            self.last_fetch = stats
            return DailyBars.empty(())
        if self._daily_lock is None:
            self._daily_lock = asyncio.Lock()
        async with self._daily_lock:  # one at a time: they share the cache and its memo
            return await self._daily_bars(syms, days, stats, t0)

    async def _daily_bars(
        self, syms: tuple[str, ...], days: list[date], stats: FetchStats, t0: float
    ) -> DailyBars:
        loop = asyncio.get_running_loop()
        now = self._now()
        settled = self.calendar.last_completed_session(now - self.cache_settle)
        first_day = np.datetime64(days[0], "D")
        if any((k := self._memo.get(sym)) is None or k.since > first_day for sym in syms):
            await self.flush_cache()  # SQLite will be read: let the last write land first
        # Opening the cache's own connection touches the disk: not on the loop thread.
        cache = await asyncio.to_thread(self._cache_store) if self._cache_given else None
        plan = await asyncio.to_thread(self._plan, cache, syms, days, settled)
        stats.bars_from_cache = plan.cached_rows
        stats.bars_read_from_store = plan.read_rows
        fetched: dict[str, _Series] = {}
        conflicts: _Conflicts = {}
        await self._fetch_groups(plan.groups, fetched, stats, conflicts)
        # A changed close on the overlap session: the history was re-adjusted (a split) or
        # corrected. Fetch those symbols' whole window again; their cached rows are replaced.
        changed = self._changed_overlaps(plan, fetched)
        if changed:
            log.info("re-adjusted history for %s: refetching their window", ", ".join(changed))
            stats.refetched_symbols = changed
            await self._fetch_groups(
                self._chunk(_Group(days[0], days[-1], changed)), fetched, stats, conflicts
            )
        bars, to_write = await asyncio.to_thread(
            self._assemble,
            cache is not None,
            syms,
            days,
            settled,
            plan,
            fetched,
            set(changed),
            conflicts,
        )
        if cache is not None and to_write:
            stats.bars_to_cache = sum(len(d) for d, _ in to_write.values())
            self._write_task = asyncio.create_task(
                self._write_after(self._write_task, cache, to_write), name="alpaca-bar-cache"
            )
        stats.seconds = loop.time() - t0
        self.last_fetch = stats
        return bars

    async def flush_cache(self) -> None:
        """Wait until the bars of the last :meth:`daily_bars` call are in the cache."""
        task, self._write_task = self._write_task, None
        if task is not None:
            try:
                await task
            except Exception as exc:  # the data was returned; only the cache missed it
                log.warning("writing the bar cache failed (%s); those bars are refetched", exc)

    async def _write_after(
        self, previous: asyncio.Task[int] | None, cache: BarCache, bars: dict[str, _Series]
    ) -> int:
        if previous is not None:
            with contextlib.suppress(Exception):  # logged by flush_cache's caller chain
                await previous
        return await asyncio.to_thread(self._write_cache, cache, bars)

    def _plan(
        self, cache: BarCache | None, syms: tuple[str, ...], days: list[date], settled: date
    ) -> _Plan:
        """What the cache has for the window and which requests get the rest (worker thread)."""
        plan = _Plan()
        first, last = days[0], days[-1]
        if cache is None:
            plan.groups = self._chunk(_Group(first, last, list(syms)))
            return plan
        lo_day, hi_day = np.datetime64(first, "D"), np.datetime64(min(last, settled), "D")
        to_read: list[str] = []
        for sym in syms:
            k = self._memo.get(sym)
            if k is not None and k.since <= lo_day:
                sel = (k.dates >= lo_day) & (k.dates <= hi_day)
                if sel.any():
                    plan.known[sym] = (k.dates[sel], k.values[sel])
            else:
                to_read.append(sym)
        if hi_day >= lo_day:
            for i in range(0, len(to_read), _CACHE_READ_SYMBOLS):
                chunk = to_read[i : i + _CACHE_READ_SYMBOLS]
                with HEAVY:
                    split = cache.get_bar_series(chunk, first, hi_day.astype(object), self.feed)
                plan.read_rows += sum(len(d) for d, _ in split.values())
                plan.known.update(split)
                for sym in chunk:
                    d, v = plan.known.get(sym, (_NO_DATES, _NO_VALUES))
                    self._memo[sym] = _Known(lo_day, d, v)
        plan.cached_rows = sum(len(d) for d, _ in plan.known.values())
        cal = self.calendar
        want: dict[tuple[date, date], list[str]] = {}
        for sym in syms:
            series = plan.known.get(sym)
            if series is None or not len(series[0]):
                want.setdefault((first, last), []).append(sym)
                continue
            d, v = series
            lo, hi = d[0].astype(object), d[-1].astype(object)
            known = self._memo.get(sym)
            asked = known is not None and known.asked_from is not None
            if lo > first and not (asked and known.asked_from <= lo_day):  # type: ignore[union-attr]
                want.setdefault((first, cal.previous_session(lo)), []).append(sym)
            if hi < last:
                start = hi if self.verify_overlap else cal.next_session(hi)
                want.setdefault((start, last), []).append(sym)
                if self.verify_overlap:
                    plan.overlap[sym] = (d[-1], float(v[-1, 3]))
        for (start, end_day), members in sorted(want.items()):
            plan.groups.extend(self._chunk(_Group(start, end_day, members)))
        return plan

    def _chunk(self, group: _Group) -> list[_Group]:
        """Split a group so each request carries about ``bars_per_request`` bars at most."""
        n_days = max(1, len(self.calendar.sessions_in_range(group.start, group.end)))
        per = max(1, min(self.max_symbols_per_request, self.bars_per_request // n_days))
        n_chunks = math.ceil(len(group.symbols) / per)
        size = math.ceil(len(group.symbols) / n_chunks) if n_chunks else per  # balanced
        return [
            _Group(group.start, group.end, group.symbols[i : i + size])
            for i in range(0, len(group.symbols), size)
        ]

    async def _fetch_groups(
        self,
        groups: list[_Group],
        into: dict[str, _Series],
        stats: FetchStats,
        conflicts: _Conflicts,
    ) -> None:
        if not groups:
            return
        client = self.session.data_client
        sem = asyncio.Semaphore(self.fetch_concurrency)
        feed = self._data_feed()

        async def one(g: _Group) -> tuple[dict[str, _Series], _Conflicts]:
            start = datetime.combine(g.start, time(0), tzinfo=ET)
            end = self._clamp_end(datetime.combine(g.end, time(12), tzinfo=ET))
            if end < start:
                return {}, {}
            req = StockBarsRequest(
                symbol_or_symbols=g.symbols,
                timeframe=TimeFrame.Day,
                start=start,
                end=end,
                adjustment=Adjustment.SPLIT,
                feed=feed,
            )
            n_days = len(self.calendar.sessions_in_range(g.start, g.end))
            pages = math.ceil(n_days * len(g.symbols) / PAGE_SIZE) + 1
            async with sem:
                stats.requests += 1
                return await self.session.data_rest.read(
                    f"daily bars ({len(g.symbols)} symbols, {g.start}..{g.end})",
                    lambda: _parse_daily(
                        with_leaf_arrays(_bars_block, lambda: client.get_stock_bars(req))
                    ),
                    requests_expected=pages,
                )

        tasks = [asyncio.create_task(one(g)) for g in groups]
        try:
            parts = await asyncio.gather(*tasks)
        except BaseException as exc:
            # One chunk failed for good: the others are pointless now.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if isinstance(exc, AlpacaRequestError):
                raise self._failure("daily bars", exc) from None
            raise
        for part, found in parts:
            stats.bars_fetched += sum(len(d) for d, _ in part.values())
            _merge(into, part)
            for sym, days in found.items():
                conflicts[sym] = np.union1d(conflicts.get(sym, days), days)

    def _changed_overlaps(self, plan: _Plan, fetched: dict[str, _Series]) -> list[str]:
        changed = []
        for sym, (day, cached_close) in plan.overlap.items():
            got = fetched.get(sym)
            if got is None:
                continue
            d, v = got
            i = int(np.searchsorted(d, day))
            if i < len(d) and d[i] == day:
                new_close = float(v[i, 3])
                if not math.isclose(new_close, cached_close, rel_tol=1e-4, abs_tol=1e-6):
                    changed.append(sym)
        return sorted(changed)

    def _assemble(
        self,
        caching: bool,
        syms: tuple[str, ...],
        days: list[date],
        settled: date,
        plan: _Plan,
        fetched: dict[str, _Series],
        refetched: set[str],
        conflicts: _Conflicts,
    ) -> tuple[DailyBars, dict[str, _Series]]:
        """Build the (T, N) arrays, validated (trading rules §14); note the settled fetched
        bars in the memo and return them for the cache (worker thread)."""
        with HEAVY:
            return self._assemble_unlocked(
                caching, syms, days, settled, plan, fetched, refetched, conflicts
            )

    def _assemble_unlocked(
        self,
        caching: bool,
        syms: tuple[str, ...],
        days: list[date],
        settled: date,
        plan: _Plan,
        fetched: dict[str, _Series],
        refetched: set[str],
        conflicts: _Conflicts,
    ) -> tuple[DailyBars, dict[str, _Series]]:
        dates = np.array(days, dtype="datetime64[D]")
        t, n = len(dates), len(syms)
        grid = np.full((5, t, n), np.nan)
        for j, sym in enumerate(syms):
            for source in (plan.known, fetched):
                if source is plan.known and sym in refetched:
                    continue
                series = source.get(sym)
                if series is None or not len(series[0]):
                    continue
                d, v = series
                rows = np.searchsorted(dates, d)
                ok = rows < t
                ok[ok] &= dates[rows[ok]] == d[ok]
                grid[:, rows[ok], j] = v[ok].T
        conflict = np.zeros((t, n), dtype=bool)
        for j, sym in enumerate(syms):
            if sym in conflicts:
                conflict[:, j] = np.isin(dates, conflicts[sym])
        to_write: dict[str, _Series] = {}
        if caching:
            limit = np.datetime64(settled, "D")
            lo_day = dates[0]
            for sym, (d, v) in fetched.items():
                if sym in conflicts:
                    # Not cached, not remembered: the next call fetches the symbol again and
                    # sees (and names) the conflict again, instead of a silent gap.
                    continue
                keep = d <= limit  # unsettled sessions may still change: never cached
                if not keep.any():
                    continue
                to_write[sym] = (d[keep], v[keep])
                self._remember(sym, lo_day, d[keep], v[keep], replace_all=sym in refetched)
            for group in plan.groups:
                if group.start == days[0]:
                    for sym in group.symbols:
                        known = self._memo.get(sym)
                        if known is not None:
                            known.asked_from = lo_day
        # §14: bars from the cache and from Alpaca alike (no spike rule: live data has no next
        # session); what is not served is NaN with its flag, the scan names it.
        checked = validate_bars(
            DailyBars(dates, syms, grid[0], grid[1], grid[2], grid[3], grid[4]),
            conflicts=conflict,
        )
        for line in checked.report.lines():
            log.warning("Alpaca daily bars: %s", line)
        return checked.bars, to_write

    def _remember(
        self, sym: str, since: np.datetime64, d: np.ndarray, v: np.ndarray, replace_all: bool
    ) -> None:
        old = self._memo.get(sym)
        if old is None or replace_all:
            self._memo[sym] = _Known(since, d, v)
            return
        merged: dict[str, _Series] = {sym: (old.dates, old.values)}
        _merge(merged, {sym: (d, v)})
        md, mv = merged[sym]
        self._memo[sym] = _Known(min(old.since, since), md, mv, old.asked_from)

    def _write_cache(self, cache: BarCache, bars: dict[str, _Series]) -> int:
        """Put ``bars`` in the cache in slices (short transactions, short GIL holds): the
        per-symbol arrays as they are, no frame built and split again."""
        batch: dict[str, _Series] = {}
        rows = written = 0
        for sym, series in bars.items():
            batch[sym] = series
            rows += len(series[0])
            if rows >= _CACHE_WRITE_ROWS:
                with HEAVY:
                    written += cache.put_bar_series(self.feed, batch)
                batch, rows = {}, 0
        if batch:
            with HEAVY:
                written += cache.put_bar_series(self.feed, batch)
        return written

    # ------------------------------------------------------------------ minute bars
    async def minute_bars(
        self,
        symbol: str,
        session: date,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pd.DataFrame:
        """Regular-hours minute bars of ``session`` indexed by bar END (ET); ``start`` is the
        earliest bar START included, ``end`` the latest bar END; only bars complete at now.
        Raw prices (no adjustment): they are compared with today's fills."""
        empty = pd.DataFrame(
            {f: np.array([], dtype=np.float64) for f in FIELDS},
            index=pd.DatetimeIndex([], tz=ET, name="at"),
        )
        sym = symbol.strip().upper()
        try:
            if not self.calendar.is_session(session):
                return empty
            open_t, close_t = self.calendar.open_time(session), self.calendar.close_time(session)
        except CalendarRangeError as exc:
            raise MarketDataError(f"Alpaca market: {exc}") from None
        lo = open_t if start is None else max(open_t, start.astimezone(ET))
        hi = min(close_t, self._now(), close_t if end is None else end.astimezone(ET))
        req_end = self._clamp_end(hi - timedelta(minutes=1))
        if req_end < lo:
            return empty
        req = StockBarsRequest(
            symbol_or_symbols=[sym],
            timeframe=TimeFrame.Minute,
            start=lo,
            end=req_end,
            adjustment=Adjustment.RAW,
            feed=self._data_feed(),
        )
        client = self.session.data_client
        try:
            raw = await self.session.data_rest.read(
                f"minute bars of {sym} {session}", lambda: client.get_stock_bars(req)
            )
        except AlpacaRequestError as exc:
            raise self._failure(f"minute bars of {sym}", exc) from None
        bars = (raw or {}).get(sym) or []
        if not bars:
            return empty
        return await asyncio.to_thread(_minute_frame, bars, lo, hi)

    # ------------------------------------------------------------------ snapshots, trades
    async def snapshots(self, symbols: Sequence[str], at: datetime) -> dict[str, Snapshot]:
        """Latest trade and quote, previous close and (once open) the session's open, per
        symbol. Alpaca answers as of now: ``at`` only decides which session is "today".
        The open is the daily bar's open (the official open with SIP; IEX's first print)."""
        syms = list(dict.fromkeys(s.strip().upper() for s in symbols))
        out: dict[str, Snapshot] = {}
        if not syms:
            return out
        client = self.session.data_client
        feed = self._data_feed()
        raw_all: dict[str, Any] = {}
        for i in range(0, len(syms), self.max_symbols_per_request):
            part = syms[i : i + self.max_symbols_per_request]
            req = StockSnapshotRequest(symbol_or_symbols=part, feed=feed)
            try:
                raw = await self.session.data_rest.read(
                    f"snapshots ({len(part)} symbols)", lambda r=req: client.get_stock_snapshot(r)
                )
            except AlpacaRequestError as exc:
                raise self._failure("snapshots", exc) from None
            raw_all.update(raw or {})
        at_et = at.astimezone(ET)
        try:
            ref = self.calendar.session_on_or_before(at_et.date())
            opened = at_et >= self.calendar.open_time(ref)
        except CalendarRangeError as exc:
            raise MarketDataError(f"Alpaca market: {exc}") from None
        ref_day = np.datetime64(ref, "D")
        for sym in syms:
            out[sym] = _snapshot(sym, raw_all.get(sym), ref_day, opened)
        return out

    async def latest_trades(self, symbols: Sequence[str]) -> dict[str, TradeTick]:
        """The latest trade per symbol (symbols without one are absent)."""
        syms = list(dict.fromkeys(s.strip().upper() for s in symbols))
        out: dict[str, TradeTick] = {}
        client = self.session.data_client
        for i in range(0, len(syms), self.max_symbols_per_request):
            part = syms[i : i + self.max_symbols_per_request]
            req = StockLatestTradeRequest(symbol_or_symbols=part, feed=self._data_feed())
            try:
                raw = await self.session.data_rest.read(
                    f"latest trades ({len(part)} symbols)",
                    lambda r=req: client.get_stock_latest_trade(r),
                )
            except AlpacaRequestError as exc:
                raise self._failure("latest trades", exc) from None
            for sym, tr in (raw or {}).items():
                tick = trade_from_json(sym, tr)
                if tick is not None:
                    out[sym] = tick
        return out

    # ------------------------------------------------------------------ live stream
    def _lock(self) -> asyncio.Lock:
        if self._sub_lock is None:
            self._sub_lock = asyncio.Lock()
        return self._sub_lock

    def _on_stream_message(self, msg: dict[str, Any]) -> None:
        # Runs inline in the SDK's receive loop: queue and return.
        inbox = self._inbox
        if inbox is None:
            return
        try:
            inbox.put_nowait(msg)
        except asyncio.QueueFull:
            self.dropped_messages += 1

    def _on_stream_fatal(self, error: Exception) -> None:
        for sub in tuple(self._subscribers):
            sub.offer(error)

    async def _dispatch(self) -> None:
        assert self._inbox is not None
        inbox = self._inbox
        publish = self.session.publish
        while True:
            msg = await inbox.get()
            tick = _tick_from_stream(msg)
            if tick is None:
                continue
            if self.publish_ticks and tick.symbol in self._base:
                if isinstance(tick, Quote):
                    publish(QuoteEvent(tick.at, tick))
                else:
                    publish(TradeEvent(tick.at, tick))
            for sub in tuple(self._subscribers):
                if tick.symbol in sub.symbols:
                    sub.offer(tick)

    async def _sync_stream(self) -> None:
        wanted = set(self._base)
        for sub in self._subscribers:
            wanted |= sub.symbols
        if wanted and self._dispatcher is None:
            self._inbox = asyncio.Queue(maxsize=100_000)
            self._dispatcher = asyncio.create_task(self._dispatch(), name="alpaca-ticks")
        await self.data_stream.set_symbols(wanted)
        if not wanted and self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
            self._dispatcher = None
            self._inbox = None

    async def set_subscriptions(self, symbols: Iterable[str]) -> None:
        """The symbols whose quotes and trades the app follows (held positions, pending
        confirmations); their ticks are published as QuoteEvent/TradeEvent. Re-subscribes
        the one data stream to this set plus every open :meth:`stream` iterator's symbols."""
        if self._closed:
            raise MarketDataError("the Alpaca market is closed")
        async with self._lock():
            self._base = frozenset(s.strip().upper() for s in symbols if s and s.strip())
            await self._sync_stream()

    async def stream(self, symbols: Sequence[str]) -> AsyncIterator[Quote | TradeTick]:
        """Live quotes and trades of ``symbols`` until the iterator is closed (``aclose()``).
        Shares the account's one data stream; raises MarketDataError / AlpacaAuthError if
        Alpaca refuses it for good."""
        if self._closed:
            raise MarketDataError("the Alpaca market is closed")
        sub = _Subscriber(
            frozenset(s.strip().upper() for s in symbols if s and s.strip()),
            self.stream_queue_size,
        )
        async with self._lock():
            self._subscribers.add(sub)
            await self._sync_stream()
        try:
            while True:
                item = await sub.queue.get()
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            self._subscribers.discard(sub)
            if not self._closed:
                with contextlib.suppress(Exception):
                    async with self._lock():
                        await self._sync_stream()

    async def aclose(self) -> None:
        """Stop the stream and release the cache connection (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._base = frozenset()
        await self.flush_cache()
        await self.data_stream.stop()
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
            self._dispatcher = None
        for sub in tuple(self._subscribers):
            sub.offer(MarketDataError("the Alpaca market was closed"))
        cache = self._cache
        if cache is not None and cache is not self._cache_given and hasattr(cache, "close"):
            await asyncio.to_thread(cache.close)  # type: ignore[attr-defined]
        self._cache = None


# ---------------------------------------------------------------------------- helpers


def _minute_frame(bars: list[dict[str, Any]], lo: datetime, hi: datetime) -> pd.DataFrame:
    starts = pd.to_datetime([b["t"] for b in bars], utc=True).tz_convert(ET)
    ends = starts + pd.Timedelta(minutes=1)
    frame = pd.DataFrame(
        {
            "open": [num(b.get("o"), math.nan) for b in bars],
            "high": [num(b.get("h"), math.nan) for b in bars],
            "low": [num(b.get("l"), math.nan) for b in bars],
            "close": [num(b.get("c"), math.nan) for b in bars],
            "volume": [num(b.get("v"), math.nan) for b in bars],
        },
        index=pd.DatetimeIndex(ends, name="at"),
    )
    mask = (starts >= pd.Timestamp(lo)) & (ends <= pd.Timestamp(hi))
    frame = frame.loc[np.asarray(mask)]
    return frame[~frame.index.duplicated(keep="last")].sort_index()


def _snapshot(
    sym: str, raw: dict[str, Any] | None, ref_day: np.datetime64, opened: bool
) -> Snapshot:
    if not raw:
        return Snapshot(sym, None, None, None)
    trade = trade_from_json(sym, raw.get("latestTrade"))
    quote = quote_from_json(sym, raw.get("latestQuote"))
    daily, prev = raw.get("dailyBar"), raw.get("prevDailyBar")
    daily_day = _bar_day(str(daily.get("t", ""))) if daily else None
    prev_close: float | None = None
    session_open: float | None = None
    if daily is not None and daily_day is not None and daily_day >= ref_day:
        # Today's bar exists: the previous close is the bar before it.
        if prev:
            prev_close = num(prev.get("c"), math.nan)
        if opened:
            session_open = num(daily.get("o"), math.nan)
    elif daily is not None:
        prev_close = num(daily.get("c"), math.nan)  # pre-market: the last bar is yesterday's
    if prev_close is not None and math.isnan(prev_close):
        prev_close = None
    if session_open is not None and math.isnan(session_open):
        session_open = None
    return Snapshot(sym, trade, quote, prev_close, session_open)


def _tick_from_stream(msg: dict[str, Any]) -> Quote | TradeTick | None:
    kind, sym = msg.get("T"), msg.get("S")
    if kind not in ("q", "t") or not sym:
        return None
    raw_t = msg.get("t")
    at = raw_t.to_datetime().astimezone(ET) if hasattr(raw_t, "to_datetime") else parse_time(raw_t)
    if at is None:
        return None
    if kind == "q":
        return Quote(
            sym,
            at,
            num(msg.get("bp")),
            num(msg.get("ap")),
            num(msg.get("bs")),
            num(msg.get("as")),
        )
    return TradeTick(sym, at, num(msg.get("p")), num(msg.get("s")))
