"""The backtest's market: the replay market with a stream thinned to the prints that matter.

A backtest is the live engine run over history (:mod:`workstation.research.backtest`). Its market
is the replay market over the same daily bars, with the same seed: the same pre-market prints,
official opens, snapshots, minute bars and the same minute path through every day's OHLC. The
only difference is the regular-hours stream. The replay market prints every watched symbol every
``quote_interval`` seconds (~4,700 prints a symbol a day, ~1 s of engine time a session); this
one prints, at those very grid times and prices, only the instants that can change what the
engine does or records:

* **reactions**: for each watched symbol the first grid print at which the engine (position
  book, simulated exchange, paper tracker) would act. Each part says where it may react
  (:class:`~workstation.core.print_watch.PrintWatch`, computed by the functions that decide);
  the first flagged print is confirmed with the deciding code itself (``reacts_to``) before it
  is relied on, so a loose bound costs a search step, never a missed reaction;
* **the daily loss limit**: the first instant whose equity (cash + shares x grid prices, the
  simulated exchange's own formula) is at or under the kill switch's level, and the instant after
  it, at whose first print the session checks;
* **marks**: the instants just before (and at) every regular-hours step of the day, so a step
  that reads the account (group B sizing, the time exit, the close) sees the marks the full
  stream would have left;
* **MFE/MAE**: for each held position, the grid print of each new high and low the full stream
  would have shown between two of the instants above (alone, unless that could move the equity
  to the kill switch's level: then the whole instant);
* **no jumps**: a symbol's consecutive prints never differ by more than ``JUMP_GUARD`` (the data
  validation of rules §14 holds back a print far from the last one until confirmed).

Around a reaction the whole instant before it is printed too, in the stream's symbol order, so
the account the engine reads while it decides (the PDT guard reads equity) is the one the full
stream shows at that print. Every instant printed is printed whole, so each daily-loss check sees
an equity the full stream also had. A parity test runs the same sessions both ways
(``tests/research/test_parity.py``) and requires the same trades to the cent.

Pre-market prints, the open, the closing prints and everything outside regular hours are the
replay market's own.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

import numpy as np

from workstation.core.models import Quote, TradeTick
from workstation.core.print_watch import PrintWatch
from workstation.market.replay import ReplayMarket, _Day

#: The largest move between two prints of a symbol the thinned stream allows (see above).
JUMP_GUARD = 0.05
#: A kill-switch level is approached within this relative margin before an instant is
#: considered a breach candidate (the rule itself has a 1e-9 tolerance).
_FLOOR_MARGIN = 1e-6
_NS = np.int64


class StreamProbe(Protocol):
    """What the thinned stream asks the engine (the backtest wires it to the session)."""

    def watch(self, symbol: str, at: datetime) -> PrintWatch | None: ...

    def reacts_to(self, symbol: str, price: float, at: datetime) -> bool: ...

    def mark_times(self, session: date) -> Sequence[datetime]: ...

    def equity_floor(self) -> float | None: ...

    def account(self) -> tuple[float, dict[str, int], dict[str, float]]:
        """Cash, shares per held symbol (signed) and the price the exchange values each at
        (its last print, else the average price): equity = cash + sum(shares x price)."""
        ...

    def last_price(self, symbol: str) -> float | None:
        """The exchange's last print of ``symbol`` (None: none yet)."""
        ...

    def seen_range(self, symbol: str) -> tuple[float, float] | None:
        """(highest, lowest) price the held position has seen, None if not held."""
        ...

    def levels(self, symbol: str, session: date) -> tuple[bool, float, float] | None:
        """(is long, SL, TP) of the position held in ``symbol`` if its SL and TP apply on
        ``session``; None otherwise."""
        ...


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def _ns(t: datetime) -> int:
    """Nanoseconds since the epoch, in integers (exact for any whole microsecond)."""
    return (t - _EPOCH) // _US * 1000 if t.year < 9999 else int(np.iinfo(_NS).max)


class BacktestMarket(ReplayMarket):
    """:class:`ReplayMarket` whose regular-hours stream prints only the instants that matter.

    ``probe`` is set once the engine exists; without one the stream is the replay market's.
    Counters: ``printed`` prints emitted in regular hours, ``instants`` instants printed.
    """

    name = "backtest"
    probe: StreamProbe | None = None
    printed: int = 0
    instants: int = 0
    #: ``pessimistic`` fills: a day whose range spans a held position's stop and target
    #: reaches the adverse extreme first.
    pessimistic: bool = False

    def _forced_order(
        self, symbol: str, session: date, bar: tuple[float, float, float, float, float]
    ) -> bool | None:
        if not self.pessimistic or self.probe is None:
            return None
        levels = self.probe.levels(symbol, session)
        if levels is None:
            return None
        long, sl, tp = levels
        _, high, low, _, _ = bar
        lo_level, hi_level = (sl, tp) if long else (tp, sl)
        if low <= lo_level and high >= hi_level:
            return long  # a long's stop is below: the low first; a short's above: the high
        return None

    async def _regular_hours(
        self, days: list[tuple[str, _Day]], start: datetime, close: datetime
    ) -> AsyncIterator[Quote | TradeTick]:
        probe = self.probe
        if probe is None:
            async for ev in super()._regular_hours(days, start, close):
                yield ev
            return
        clock = self._clock
        assert clock is not None
        step = timedelta(seconds=self.quote_interval)
        n = _grid_length(start, close, step)
        if days and n:
            plan = _Plan(probe, days, start, step, n, self.calendar.session_of(start))
            for idx, planned in plan.instants():
                t = plan.time(idx)
                symbols = plan.safe_columns(idx, planned)
                await self._sleep_like_grid(t, idx in plan.ties)
                for j in symbols:
                    sym, day = days[j]
                    price = day.price_at(t)
                    size = max(round(day.volume_at(t) * self.quote_interval / 60.0), 1.0)
                    plan.printed(j, idx, price)
                    self.printed += 1
                    yield TradeTick(sym, t, float(price), float(size))
                self.instants += 1
        await clock.sleep_until(close)

    async def _sleep_like_grid(self, t: datetime, tie: bool) -> None:
        """Sleep to ``t``. When a step of the day is due at ``t`` too (``tie``), the way the
        full stream does: its last sleep starts one step before ``t``, so the two wake in the
        same order."""
        clock = self._clock
        assert clock is not None
        now = clock.now()
        if t <= now:
            return  # the full stream prints the instant it wakes at without sleeping again
        before = t - timedelta(seconds=self.quote_interval)
        if tie and now < before:
            await clock.sleep_until(before)
        await clock.sleep_until(t)


class _Plan:
    """Which grid instants (and which symbols at them) to print, found as the stream goes.

    After each printed instant the engine has acted on it; the next instant is searched from
    the engine's new state (a fill, an exit, a stop moved)."""

    def __init__(
        self,
        probe: StreamProbe,
        days: list[tuple[str, _Day]],
        start: datetime,
        step: timedelta,
        n: int,
        session: date | None,
    ) -> None:
        self.probe = probe
        self.days = days
        self.start = start
        self.step = step
        self.n = n
        self.symbols = [s for s, _ in days]
        k = np.arange(n, dtype=_NS)
        step_us = step // timedelta(microseconds=1)
        self.grid_ns = _ns(start) + k * (step_us * 1000)
        open_time = days[0][1].open_time
        # Whole microseconds: the same floats as (t - open).total_seconds() for each t.
        start_us = (start - open_time) // timedelta(microseconds=1)
        secs = (start_us + k * step_us) / 1e6
        self.prices = np.column_stack([_day_prices(d, secs) for _, d in days])
        self.ties: set[int] = set()  # instants a step of the day is due at too
        self.marks = self._mark_indices(probe.mark_times(session) if session else ())
        self.last_idx = [-1] * len(days)
        self.last_price = [math.nan] * len(days)
        for j, sym in enumerate(self.symbols):
            last = probe.last_price(sym)
            self.last_price[j] = math.nan if last is None else last

    # -------------------------------------------------------------- bookkeeping
    def time(self, idx: int) -> datetime:
        """The grid's instant ``idx``: ``start + idx * step``, as the full stream reaches it."""
        return self.start + idx * self.step

    def printed(self, j: int, idx: int, price: float) -> None:
        self.last_idx[j] = idx
        self.last_price[j] = price

    def _mark_indices(self, times: Sequence[datetime]) -> list[int]:
        out: set[int] = set()
        for m in times:
            m_ns = _ns(m)
            i = int(np.searchsorted(self.grid_ns, m_ns, side="left"))  # first >= m
            if i < self.n and self.grid_ns[i] == m_ns:
                out.add(i)  # the full stream prints this instant right after the step
                self.ties.add(i)
            if 0 < i <= self.n:
                out.add(i - 1)  # the last instant before the step
        return sorted(out)

    # -------------------------------------------------------------- the search
    def instants(self) -> Iterator[tuple[int, list[int]]]:
        return _InstantIter(self)

    def next_event(self, k: int) -> tuple[int, int | None]:
        """The first grid index >= k at which the engine may act (len(grid): none today),
        and the instant of a daily-loss breach it is the check of (None if it is not)."""
        best = self.n
        breached: int | None = None
        for i in self.marks:
            if i >= k:
                best = i
                break
        for j in range(len(self.days)):
            idx = self._first_reaction(j, k, best)
            if idx is not None:
                best = idx
        breach = self._first_breach(k, best)
        if breach is not None:
            best, breached = breach + 1, breach
        return best, breached

    def _first_reaction(self, j: int, k: int, limit: int) -> int | None:
        """The first index in [k, limit) where symbol j's print makes the engine act."""
        sym = self.symbols[j]
        day = self.days[j][1]
        while k < limit:
            w = self.probe.watch(sym, self.time(k))
            if w is None:
                return None
            seg = self.prices[k:limit, j]
            hit = (seg <= w.lo) | (seg >= w.hi) | (self.grid_ns[k:limit] >= _ns(w.from_time))
            if not hit.any():
                return None
            idx = k + int(np.argmax(hit))
            t = self.time(idx)
            if self.probe.reacts_to(sym, day.price_at(t), t):
                return idx
            k = idx + 1  # a bound's margin, not a reaction: look further
        return None

    def _first_breach(self, k: int, limit: int) -> int | None:
        """The first instant in [k, limit) whose equity is at or under the kill switch's
        level (the session checks it at the next instant's first print)."""
        floor = self.probe.equity_floor()
        if floor is None or k >= limit:
            return None
        cash, qty, last = self.probe.account()
        equity = np.full(limit - k, cash)
        listed = set(self.symbols)
        for sym, q in qty.items():
            if not q:
                continue
            if sym in listed:
                equity += q * self.prices[k:limit, self.symbols.index(sym)]
            else:
                equity += q * last[sym]  # no bar today: its mark stays
        hit = equity <= floor * (1.0 + _FLOOR_MARGIN)
        if not hit.any():
            return None
        return k + int(np.argmax(hit))

    def safe_columns(self, idx: int, columns: list[int]) -> list[int]:
        """The columns to print at ``idx``: ``columns``, or every symbol when printing only
        those would leave the account at an equity the full stream never showed at or near
        the kill switch's level (the next daily-loss check reads it). Decided just before
        printing, on the marks the prints before it left."""
        everyone = list(range(len(self.days)))
        if len(columns) == len(everyone):
            return columns
        floor = self.probe.equity_floor()
        if floor is None:
            return columns
        cash, qty, last = self.probe.account()
        equity = cash
        for sym, q in qty.items():
            equity += q * last[sym]
        for j in columns:
            q = qty.get(self.symbols[j], 0)
            if q:
                equity += q * (float(self.prices[idx, j]) - last[self.symbols[j]])
        return columns if equity > floor * (1.0 + 10 * _FLOOR_MARGIN) else everyone


class _InstantIter:
    """Yields (grid index, symbol columns) to print, in time order, searching lazily: the
    search after an instant runs once the engine has seen it."""

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self.k = 0
        self.queue: list[tuple[int, list[int]]] = []

    def __iter__(self) -> _InstantIter:
        return self

    def __next__(self) -> tuple[int, list[int]]:
        if not self.queue:
            self._refill()
        if not self.queue:
            raise StopIteration
        return self.queue.pop(0)

    def _refill(self) -> None:
        plan = self.plan
        n = plan.n
        everyone = list(range(len(plan.days)))
        while self.k < n and not self.queue:
            k = self.k
            e, breached = plan.next_event(k)
            whole: set[int] = set()
            if breached is not None:
                whole.add(breached)  # the instant whose equity the next check reads
            if e < n:
                whole.add(e)
                if e - 1 >= k:
                    whole.add(e - 1)  # the account as the full stream shows it at e
            singles: dict[int, set[int]] = {}
            self._extremes(k, e, singles)
            self._jumps(k, e, whole, singles)
            for idx in sorted(set(whole) | set(singles)):
                if idx in whole:
                    self.queue.append((idx, everyone))
                else:
                    self.queue.append((idx, sorted(singles[idx])))
            self.k = e + 1 if e < n else n

    def _extremes(self, k: int, e: int, singles: dict[int, set[int]]) -> None:
        """The new highs and lows of held positions in [k, e) (printed alone when safe)."""
        plan = self.plan
        if e <= k:
            return
        for j, sym in enumerate(plan.symbols):
            seen = plan.probe.seen_range(sym)
            if seen is None:
                continue
            hi, lo = seen
            seg = plan.prices[k:e, j]
            i_max, i_min = int(np.argmax(seg)), int(np.argmin(seg))
            if seg[i_max] > hi:
                self._single(k + i_max, j, singles)
            if seg[i_min] < lo:
                self._single(k + i_min, j, singles)

    @staticmethod
    def _single(idx: int, j: int, singles: dict[int, set[int]]) -> None:
        singles.setdefault(idx, set()).add(j)

    def _jumps(self, k: int, e: int, whole: set[int], singles: dict[int, set[int]]) -> None:
        """Insert prints so no symbol moves more than JUMP_GUARD between two of its prints."""
        plan = self.plan
        n = plan.n
        stops = sorted(set(whole) | set(singles))
        if not stops:
            return
        for j in range(len(plan.days)):
            mine = [i for i in stops if i in whole or j in singles.get(i, ())]
            prev_i, prev_p = plan.last_idx[j], plan.last_price[j]
            for i in mine:
                if i >= n:
                    break
                self._bridge(j, prev_i, prev_p, i, k, singles)
                prev_i, prev_p = i, float(plan.prices[i, j])

    def _bridge(
        self, j: int, i0: int, p0: float, i1: int, k: int, singles: dict[int, set[int]]
    ) -> None:
        plan = self.plan
        p1 = float(plan.prices[i1, j])
        if not (math.isfinite(p0) and p0 > 0) or abs(p1 / p0 - 1.0) <= JUMP_GUARD:
            return
        lo = max(i0 + 1, k)
        if i1 - lo < 1:
            return
        mid = (lo + i1) // 2
        self._single(mid, j, singles)
        self._bridge(j, i0, p0, mid, k, singles)
        self._bridge(j, mid, float(plan.prices[mid, j]), i1, k, singles)


def _grid_length(start: datetime, close: datetime, step: timedelta) -> int:
    """How many grid instants ``start + k * step`` fall before ``close``."""
    if start >= close:
        return 0
    return -((start - close) // step)


def _day_prices(day: _Day, secs: np.ndarray) -> np.ndarray:
    """:meth:`_Day.price_at` at many instants before the close (seconds after the open),
    with the same arithmetic."""
    mins = day.minutes
    o, c = mins["open"], mins["close"]
    elapsed = np.maximum(secs, 0.0) / 60.0
    k = np.minimum(elapsed.astype(np.int64), len(c) - 1)
    frac = np.minimum(elapsed - k, 1.0)
    return o[k] + frac * (c[k] - o[k])


__all__ = ["JUMP_GUARD", "BacktestMarket", "StreamProbe"]
