"""The simulated market: a seeded factor model of the S&P 500 plus SPY, daily and intraday.

Daily bars (all symbols, every session, generated once at construction in ~0.2 s) come from
the factor model of :mod:`workstation.market.sim_daily`.

History: ``history_sessions`` sessions ending at the last session completed before the
simulated "today" began; ``future_sessions`` after it (today's own session first) are
revealed one by one as the clock passes each close.

Intraday (per session, on demand, cached for the current session and one more):
pre-market prints from 04:00 drifting from the previous close toward the open, the
official open (the day bar's open), a minute path through the day's OHLC
(:mod:`workstation.market.intraday`), and a trade/quote stream following that path
during regular hours.
"""

from __future__ import annotations

import logging
import math
import zlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol

import numpy as np
import pandas as pd

from workstation.core.bars import DailyBars
from workstation.core.calendar import ET, CalendarRangeError, TradingCalendar, get_calendar
from workstation.core.config import SimConfig
from workstation.core.models import Asset, Quote, Snapshot, TradeTick, Universe
from workstation.market.base import MarketDataError
from workstation.market.intraday import (
    MinutePaths,
    minute_index,
    quote_from_price,
    synth_minute_paths,
    synth_premarket_trades,
)
from workstation.market.sim_daily import DailyModel, generate_daily
from workstation.market.symbol_facts import facts_for
from workstation.market.validation import not_trading, validate_bars

__all__ = ["DailyModel", "SessionIntraday", "SimMarket", "generate_daily"]

# ------------------------------------------------------------------ the market object


class SimClockLike(Protocol):
    """What the simulated market needs of a clock (``workstation.core.clock`` satisfies it).

    A ``speed`` attribute (simulated seconds per real second, ``math.inf`` for max) is read
    if present, to keep the quote stream from flooding at high speeds.
    """

    def now(self) -> datetime: ...

    async def sleep_until(self, t: datetime) -> None: ...


# The stream switches from ticks at quote_rate_hz to one batch per simulated minute when
# ticks would come faster than this per real second and symbol.
MAX_TICKS_PER_WALL_SECOND = 500.0
PREMARKET_START = time(4, 0)
PREMARKET_TRADES = 20
# Quoted spread, in basis points, of a stock trading $1M a day; liquid names are tighter
# (~ 1 / sqrt(dollar volume)). Pre-market quotes are this many times wider.
_SPREAD_BPS_AT_1M = 30.0
_MIN_SPREAD_BPS = 1.0
_PREMARKET_SPREAD_FACTOR = 4.0


@dataclass(frozen=True)
class SessionIntraday:
    """One session of every symbol: pre-market prints and the regular-hours minute path."""

    session: date
    row: int
    open_at: datetime
    close_at: datetime
    index: pd.DatetimeIndex  # bar END times (tz-aware ET), one per minute
    paths: MinutePaths  # (minutes, N) minute OHLCV, prices in cents
    pre_seconds: np.ndarray  # (k, N) pre-market print times, seconds since midnight ET
    pre_prices: np.ndarray  # (k, N) pre-market print prices
    pre_sizes: np.ndarray  # (k, N) pre-market print sizes (shares)

    @property
    def minutes(self) -> int:
        return self.paths.minutes

    def minute_of(self, when: datetime) -> tuple[int, float]:
        """(minute k, fraction of it elapsed) of a regular-hours instant."""
        secs = (when - self.open_at).total_seconds()
        k = min(int(secs // 60.0), self.minutes - 1)
        return k, min(1.0, (secs - 60.0 * k) / 60.0)

    def prices_at(self, when: datetime, cols: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Regular-hours trade prices at ``when``: within minute k the price moves linearly
        open -> first extreme -> second extreme -> close (low first on an up-minute), so
        every minute's high and low are actually traded."""
        if when >= self.close_at:
            return self.paths.close[-1, cols]
        k, f = self.minute_of(when)
        p = self.minute_points(k, cols)
        x = f * 3.0
        i = min(int(x), 2)
        w = x - i
        return np.round(p[i] + w * (p[i + 1] - p[i]), 2)

    def minute_points(self, k: int, cols: np.ndarray | slice = slice(None)) -> np.ndarray:
        """(4, n) prices of minute k at 0, 1/3, 2/3 and 1 of it: O, extreme, extreme, C."""
        o, h = self.paths.open[k, cols], self.paths.high[k, cols]
        lo, c = self.paths.low[k, cols], self.paths.close[k, cols]
        low_first = c >= o
        return np.stack([o, np.where(low_first, lo, h), np.where(low_first, h, lo), c])

    def last_premarket(self, when: datetime) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(price, seconds since midnight, size) of each symbol's last pre-market print
        strictly before ``when``; NaN where there is none yet."""
        w = when.astimezone(ET)
        sod = w.hour * 3600 + w.minute * 60 + w.second + w.microsecond / 1e6
        count = (self.pre_seconds < sod).sum(axis=0)
        out = [np.full(count.shape, np.nan) for _ in range(3)]
        has = count > 0
        cols = np.nonzero(has)[0]
        for o, src in zip(out, (self.pre_prices, self.pre_seconds, self.pre_sizes), strict=True):
            o[has] = src[count[has] - 1, cols]
        return out[0], out[1], out[2]


def _sector_codes(sectors: Sequence[str]) -> np.ndarray:
    """Sector names -> small ints, GICS sectors first in a fixed order (stable factors)."""
    from workstation.market.universe import GICS_SECTORS

    extra = sorted(set(sectors) - set(GICS_SECTORS))
    order = {name: i for i, name in enumerate((*GICS_SECTORS, *extra))}
    return np.array([order[s] for s in sectors], dtype=np.int64)


def _stable_rank(seed: int, symbol: str) -> int:
    """A per-symbol number that depends only on (seed, symbol): flags that do not move when
    the universe changes."""
    return zlib.crc32(f"{seed}:{symbol}".encode())


class SimMarket:
    """The embedded simulated market (implements :class:`~workstation.market.base.MarketData`).

    ``SimMarket(universe, cfg, clock, calendar=None)``. The simulated "today" is
    ``cfg.today`` (YYYY-MM-DD) or, when empty, the clock's date at construction. The
    history (``cfg.history_sessions``) ends at the last session completed before today
    began (:attr:`history_end`: the previous session, today's own session being the first
    of ``cfg.future_sessions``). Everything is a pure function of
    ``(universe, cfg.seed, today, cfg.history_sessions, cfg.future_sessions)`` -- never
    of the time of day: the same inputs give the same bars, bit for bit, and the same
    intraday paths.

    Nothing is revealed ahead of the clock: a daily bar appears once its session has
    closed, minute bars once complete, snapshots and prices only up to ``clock.now()``.
    The async protocol methods have synchronous twins (``daily_bars_now``,
    ``minute_bars_now``, ``snapshots_now``) for executor threads and scripts.
    """

    name = "sim"

    def __init__(
        self,
        universe: Universe,
        cfg: SimConfig,
        clock: SimClockLike,
        calendar: TradingCalendar | None = None,
    ) -> None:
        self._universe = universe
        self._cfg = cfg
        self._clock = clock
        self._cal = calendar if calendar is not None else get_calendar()
        self._seed = int(cfg.seed)

        today = self._parse_today(cfg.today, clock)
        self._today = today
        try:
            # No session of "today" has completed when the simulated day begins: the
            # history ends at the session before it, and today's own session (if it is
            # one) is the first future session, played out live.
            self._history_end = self._cal.previous_session(today)
            history = self._cal.sessions_back(self._history_end, cfg.history_sessions)
            future: list[date] = []
            d = self._history_end
            for _ in range(cfg.future_sessions):
                d = self._cal.next_session(d)
                future.append(d)
        except CalendarRangeError as exc:
            raise MarketDataError(
                f"the simulated market cannot cover {cfg.history_sessions} sessions before "
                f"and {cfg.future_sessions} after {today}: {exc}; choose another sim.today "
                "in app.yaml"
            ) from exc
        self._sessions: list[date] = [*history, *future]
        self._row = {d: i for i, d in enumerate(self._sessions)}
        self._anchor_row = len(history) - 1
        self._opens = [self._cal.open_time(d) for d in self._sessions]
        self._closes = [self._cal.close_time(d) for d in self._sessions]

        symbols = list(universe.symbols)
        bench = universe.benchmark
        if bench not in universe.sectors:
            symbols.append(bench)
        self._symbols = tuple(symbols)
        self._col = {s: j for j, s in enumerate(symbols)}
        bench_col = self._col.get(bench)
        sectors = [universe.sector(s) for s in symbols]
        model = generate_daily(
            len(self._sessions),
            _sector_codes(sectors),
            bench_col,
            self._anchor_row,
            self._seed,
            facts_for(symbols),
        )
        # §14 in every market: the generated bars go through the same validation as a file's
        # (no spike rule: a live market does not know the next session).
        checked = validate_bars(
            DailyBars(
                np.array(self._sessions, dtype="datetime64[D]"),
                self._symbols,
                model.open,
                model.high,
                model.low,
                model.close,
                model.volume,
            )
        )
        self._bars = checked.bars
        for line in checked.report.lines():
            logging.getLogger(__name__).warning("simulated market: %s", line)
        self.market_draws = model.market_draws
        hist = slice(0, self._anchor_row + 1)
        dv = np.median(model.close[hist] * model.volume[hist], axis=0)
        self._spread_bps = np.clip(
            _SPREAD_BPS_AT_1M / np.sqrt(np.maximum(dv, 1.0) / 1e6), _MIN_SPREAD_BPS, 50.0
        )
        self._assets = self._make_assets(bench)
        self._intraday: OrderedDict[date, SessionIntraday] = OrderedDict()

    # ------------------------------------------------------------------ set-up

    @staticmethod
    def _parse_today(raw: str, clock: SimClockLike) -> date:
        if not raw:
            return clock.now().astimezone(ET).date()
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            raise MarketDataError(
                f"app.yaml: sim.today = {raw!r} is not a date; write it as YYYY-MM-DD "
                "or leave it empty for the real date"
            ) from None

    def _make_assets(self, bench: str) -> dict[str, Asset]:
        stocks = sorted(
            (s for s in self._symbols if s != bench), key=lambda s: (_stable_rank(self._seed, s), s)
        )
        n_htb = round(self._cfg.hard_to_borrow_share * len(stocks))
        htb = set(stocks[:n_htb])
        not_shortable = set(stocks[: min(2, n_htb)])
        return {
            s: Asset(
                s, tradable=True, shortable=s not in not_shortable, easy_to_borrow=s not in htb
            )
            for s in self._symbols
        }

    # ------------------------------------------------------------------ facts

    def universe(self) -> Universe:
        return self._universe

    @property
    def today(self) -> date:
        """The simulated "today" (``cfg.today`` or the clock's date at construction)."""
        return self._today

    @property
    def history_end(self) -> date:
        """The last session of the history: the last one completed before "today" began."""
        return self._history_end

    @property
    def sessions(self) -> tuple[date, ...]:
        """Every simulated session, history and future (revealed or not)."""
        return tuple(self._sessions)

    @property
    def symbols(self) -> tuple[str, ...]:
        """The universe's symbols plus the benchmark, in the bars' column order."""
        return self._symbols

    def assets(self) -> dict[str, Asset]:
        return dict(self._assets)

    def asset(self, symbol: str) -> Asset:
        """The symbol's flags; an unknown symbol is not tradable (never a crash)."""
        return self._assets.get(
            symbol, Asset(symbol, tradable=False, shortable=False, easy_to_borrow=False)
        )

    def last_closed_session(self, now: datetime | None = None) -> date | None:
        """The last simulated session whose close is at or before ``now`` (default: the
        clock's now); None before the first one."""
        n = self._revealed(now)
        return self._sessions[n - 1] if n else None

    def _revealed(self, now: datetime | None = None) -> int:
        """How many sessions have closed at ``now``."""
        now = self._clock.now() if now is None else now
        lo, hi = 0, len(self._closes)
        while lo < hi:  # bisect on aware datetimes
            mid = (lo + hi) // 2
            if self._closes[mid] <= now:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _column(self, symbol: str) -> int:
        j = self._col.get(symbol)
        if j is None:
            raise MarketDataError(
                f"{symbol} is not in the simulated market's universe "
                f"({len(self._symbols)} symbols); check the symbol or the universe file"
            )
        return j

    def _session_row(self, session: date) -> int:
        i = self._row.get(session)
        if i is None:
            raise MarketDataError(
                f"{session} is not a simulated session (the simulation covers NYSE sessions "
                f"{self._sessions[0]} .. {self._sessions[-1]})"
            )
        return i

    # ------------------------------------------------------------------ daily

    async def daily_bars(self, symbols: Sequence[str], end: date, sessions: int) -> DailyBars:
        return self.daily_bars_now(symbols, end, sessions)

    def daily_bars_now(self, symbols: Sequence[str], end: date, sessions: int) -> DailyBars:
        """The synchronous body of :meth:`daily_bars` (for executors and scripts)."""
        stop = min(
            self._revealed(),
            int(np.searchsorted(self._bars.dates, np.datetime64(end, "D"), "right")),
        )
        start = max(0, stop - max(0, int(sessions)))
        rows = slice(start, stop)
        cols = np.array([self._col.get(s, -1) for s in symbols], dtype=np.int64)
        known = cols >= 0
        fields = []
        for name in ("open", "high", "low", "close", "volume"):
            src = getattr(self._bars, name)[rows]
            out = np.full((src.shape[0], len(cols)), np.nan)
            out[:, known] = src[:, cols[known]]
            fields.append(out)
        flags = np.zeros((len(fields[0]), len(cols)), dtype=np.uint8)
        if self._bars.flags is not None:
            flags[:, known] = self._bars.flags[rows][:, cols[known]]
        return DailyBars(self._bars.dates[rows], tuple(symbols), *fields, flags=flags)

    def not_trading(self, symbols: Sequence[str], session: date) -> dict[str, str]:
        """Symbols whose generated bar of ``session`` has zero volume or is not served
        (trading rules §14), with the reason."""
        return not_trading(self._bars, symbols, session)

    # ------------------------------------------------------------------ intraday

    def intraday(self, session: date) -> SessionIntraday:
        """Pre-market prints and minute paths of every symbol for ``session``, built on first
        use from a generator seeded by (seed, session): the same whatever the order of
        requests. The two most recently used sessions are kept."""
        cached = self._intraday.get(session)
        if cached is not None:
            self._intraday.move_to_end(session)
            return cached
        row = self._session_row(session)
        rng = np.random.default_rng(
            np.random.SeedSequence([self._seed, 0x1D7A, session.toordinal()])
        )
        b = self._bars
        minutes = self._cal.minutes_in_session(session)
        paths = synth_minute_paths(
            b.open[row], b.high[row], b.low[row], b.close[row], b.volume[row], minutes, rng
        )
        # Cents, as on the tape. Rounding is monotone, so every OHLC relation still holds.
        paths = MinutePaths(
            np.round(paths.open, 2),
            np.round(paths.high, 2),
            np.round(paths.low, 2),
            np.round(paths.close, 2),
            paths.volume,
            paths.repaired,
            paths.invalid,
        )
        prev_close = b.close[row - 1] if row > 0 else b.open[row]
        secs, prices = synth_premarket_trades(prev_close, b.open[row], rng, PREMARKET_TRADES)
        # Pre-market prints are small: ~0.5% of the day's volume in all.
        sizes = np.maximum(
            np.round(
                b.volume[row] * 0.005 / PREMARKET_TRADES * rng.lognormal(0, 0.5, prices.shape)
            ),
            1.0,
        )
        data = SessionIntraday(
            session,
            row,
            self._opens[row],
            self._closes[row],
            minute_index(self._opens[row], minutes),
            paths,
            secs,
            prices,
            sizes,
        )
        self._intraday[session] = data
        while len(self._intraday) > 2:
            self._intraday.popitem(last=False)
        return data

    async def minute_bars(
        self,
        symbol: str,
        session: date,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pd.DataFrame:
        return self.minute_bars_now(symbol, session, start, end)

    def minute_bars_now(
        self,
        symbol: str,
        session: date,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pd.DataFrame:
        """The synchronous body of :meth:`minute_bars`."""
        j = self._column(symbol)
        row = self._session_row(session)
        now = self._clock.now()
        if self._opens[row] >= now:
            empty = pd.DatetimeIndex([], tz=ET, name="at")
            return pd.DataFrame(
                {f: pd.Series(dtype=float) for f in ("open", "high", "low", "close", "volume")}
            ).set_axis(empty)
        data = self.intraday(session)
        df = data.paths.frame(j, data.index)
        keep = df.index <= now
        if start is not None:
            keep &= df.index >= start
        if end is not None:
            keep &= df.index <= end
        return df[keep]

    def official_open(self, symbol: str, session: date) -> float | None:
        """The session's official opening price (the day bar's open), once it has opened
        at the clock's now; None before."""
        j = self._column(symbol)
        row = self._session_row(session)
        if self._clock.now() < self._opens[row]:
            return None
        return float(self._bars.open[row, j])

    def price_at(self, symbol: str, when: datetime) -> float:
        """The last traded price at ``when`` (not after the clock's now): a pre-market print
        (or the previous close before the first one), the intraday path during the session,
        the close after it."""
        j = self._column(symbol)
        now = self._clock.now()
        if when > now:
            raise MarketDataError(
                f"price of {symbol} asked for {when.isoformat()}, after the simulated now "
                f"{now.isoformat()}: the market does not reveal the future"
            )
        price, _at, _size, _phase = self._last_trades(when, np.array([j]))
        if not np.isfinite(price[0]):
            raise MarketDataError(
                f"no simulated price of {symbol} at {when.isoformat()}: the simulation "
                f"starts with the session {self._sessions[0]}"
            )
        return float(price[0])

    def _session_for(self, when: datetime) -> int | None:
        """Row of the session whose trading day (04:00 to its close) contains ``when``."""
        d = when.astimezone(ET).date()
        row = self._row.get(d)
        if row is None or when < datetime.combine(d, PREMARKET_START, tzinfo=ET):
            return None
        return row if when < self._closes[row] else None

    def _last_trades(
        self, when: datetime, cols: np.ndarray
    ) -> tuple[np.ndarray, list[datetime | None], np.ndarray, str]:
        """Each column's last price at ``when``: (prices, trade times, trade sizes, phase),
        phase one of 'pre', 'open', 'closed'. A time of None means no trade of the session
        yet (the price is then the previous close); NaN prices where nothing has traded."""
        row = self._session_for(when)
        n = len(cols)
        if row is not None and when >= self._opens[row]:
            data = self.intraday(self._sessions[row])
            k, _ = data.minute_of(when)
            size = np.maximum(1.0, np.round(data.paths.volume[k, cols] / 60.0))
            return data.prices_at(when, cols), [when] * n, size, "open"
        if row is not None:  # pre-market: the last print, else the previous close
            data = self.intraday(self._sessions[row])
            price, secs, size = data.last_premarket(when)
            price, secs, size = price[cols], secs[cols], size[cols]
            midnight = datetime.combine(self._sessions[row], time(0), tzinfo=ET)
            times: list[datetime | None] = [
                midnight + timedelta(seconds=float(x)) if np.isfinite(x) else None for x in secs
            ]
            prev = self._bars.close[row - 1, cols] if row > 0 else np.full(n, np.nan)
            return np.where(np.isfinite(price), price, prev), times, size, "pre"
        done = self._revealed(when)
        if done == 0:
            return np.full(n, np.nan), [None] * n, np.zeros(n), "closed"
        # The closing print: about a tenth of the day's volume crosses in the auction.
        size = np.round(self._bars.volume[done - 1, cols] * 0.1)
        return self._bars.close[done - 1, cols], [self._closes[done - 1]] * n, size, "closed"

    async def snapshots(self, symbols: Sequence[str], at: datetime) -> dict[str, Snapshot]:
        return self.snapshots_now(symbols, at)

    def snapshots_now(self, symbols: Sequence[str], at: datetime) -> dict[str, Snapshot]:
        """The synchronous body of :meth:`snapshots`. ``at`` after the clock's now is read
        as now (nothing from the future). Unknown symbols are left out.

        * pre-market (04:00 to the open of a session): the latest pre-market print before
          ``at`` (None if there is none yet), a quote around it (or around the previous
          close), the previous close; no official open yet;
        * regular hours: the trade and quote of the intraday path at ``at``, the previous
          close, the official open;
        * otherwise: the last close (trade at the close), the close before it as previous
          close, and that session's open.
        """
        now = self._clock.now()
        at = min(at, now)
        known = [s for s in symbols if s in self._col]
        if not known:
            return {}
        cols = np.array([self._col[s] for s in known])
        price, times, sizes, phase = self._last_trades(at, cols)
        row = self._session_for(at)
        if phase == "closed":
            done = self._revealed(at)
            row = done - 1 if done else None
        spread = self._spread_bps[cols] * (_PREMARKET_SPREAD_FACTOR if phase == "pre" else 1.0)
        rng = np.random.default_rng([self._seed, 0x5A9, int(at.timestamp())])
        bid, ask = quote_from_price(price, spread, rng)
        prev_close = (
            self._bars.close[row - 1, cols]
            if row is not None and row > 0
            else np.full(len(cols), np.nan)
        )
        opened = row is not None and phase != "pre"
        out: dict[str, Snapshot] = {}
        for i, s in enumerate(known):
            p = float(price[i])
            has_price = math.isfinite(p)
            t_i = times[i]
            trade = TradeTick(s, t_i, p, float(sizes[i])) if has_price and t_i is not None else None
            quote = Quote(s, at, float(bid[i]), float(ask[i]), 100.0, 100.0) if has_price else None
            pc = float(prev_close[i])
            out[s] = Snapshot(
                symbol=s,
                latest_trade=trade,
                latest_quote=quote,
                prev_close=pc if math.isfinite(pc) else None,
                session_open=float(self._bars.open[row, cols[i]]) if opened else None,
            )
        return out

    # ------------------------------------------------------------------ streaming

    def _speed(self) -> float:
        try:
            return float(getattr(self._clock, "speed", 1.0))
        except (TypeError, ValueError):
            return 1.0

    def _minute_mode(self) -> bool:
        return self._speed() * self._cfg.quote_rate_hz > MAX_TICKS_PER_WALL_SECOND

    async def stream(self, symbols: Sequence[str]) -> AsyncIterator[Quote | TradeTick]:
        """Live trades and quotes of ``symbols`` during regular hours, following each
        session's minute path; ends after the last simulated session.

        At ``cfg.quote_rate_hz`` ticks per second of simulated time, each tick a
        :class:`TradeTick` and a :class:`Quote` per symbol. When that would exceed
        ``MAX_TICKS_PER_WALL_SECOND`` per real second (high or max clock speed), one batch per
        symbol per simulated minute instead: the minute's two extremes, in the order they
        were traded, as trades (at :20 and :40), then a quote at its close, so a monitor
        still sees every high and low. Each comes when the clock reaches its time, so what
        the engine does about a print happens at that print's time. Unknown symbols raise
        :class:`MarketDataError` at once.
        """
        cols = np.array([self._column(s) for s in symbols], dtype=np.int64)
        names = list(symbols)
        step = timedelta(seconds=1.0 / self._cfg.quote_rate_hz)
        ticks_per_minute = max(1.0, 60.0 * self._cfg.quote_rate_hz)
        current: tuple[int, SessionIntraday, np.ndarray, np.random.Generator] | None = None
        while True:
            now = self._clock.now()
            row = self._revealed(now)  # the first session not yet closed
            if row >= len(self._sessions):
                return
            open_at, close_at = self._opens[row], self._closes[row]
            if now < open_at:
                await self._clock.sleep_until(open_at)
                continue
            if current is None or current[0] != row:
                data = self.intraday(self._sessions[row])
                seq = [self._seed, 0x57E4, self._sessions[row].toordinal()]
                current = (row, data, data.paths.volume[:, cols], np.random.default_rng(seq))
            _, data, volume, rng = current
            if self._minute_mode():
                k = int((now - open_at).total_seconds() // 60.0)
                # Each print at its own time (:20, :40, the quote at :60), not the whole
                # minute at its end: an exit a :20 print decides is ordered at :20, as it
                # would be live (issue 12 item 9: it went out 20-40 s late).
                for ev in self._minute_events(data, k, cols, names, volume[k], rng):
                    if ev.at > self._clock.now():
                        await self._clock.sleep_until(ev.at)
                    yield ev
                continue
            t = min(open_at + (int((now - open_at) / step) + 1) * step, close_at)
            await self._clock.sleep_until(t)
            price = data.prices_at(t, cols)
            bid, ask = quote_from_price(price, self._spread_bps[cols], rng)
            size = np.maximum(1.0, np.round(volume[data.minute_of(t)[0]] / ticks_per_minute))
            for i, s in enumerate(names):
                p = float(price[i])
                if math.isfinite(p):
                    yield TradeTick(s, t, p, float(size[i]))
                    yield Quote(s, t, float(bid[i]), float(ask[i]), 100.0, 100.0)

    def _minute_events(
        self,
        data: SessionIntraday,
        k: int,
        cols: np.ndarray,
        names: list[str],
        volume: np.ndarray,
        rng: np.random.Generator,
    ) -> list[Quote | TradeTick]:
        pts = data.minute_points(k, cols)
        start = data.open_at + timedelta(minutes=k)
        t1, t2 = start + timedelta(seconds=20), start + timedelta(seconds=40)
        t_end = start + timedelta(minutes=1)
        bid, ask = quote_from_price(pts[3], self._spread_bps[cols], rng)
        ok = [i for i in range(len(names)) if math.isfinite(float(pts[3, i]))]
        size = np.maximum(1.0, np.round(volume / 3.0))
        # In time order across symbols: every first extreme, every second one, every quote.
        out: list[Quote | TradeTick] = [
            TradeTick(names[i], t, float(pts[p, i]), float(size[i]))
            for p, t in ((1, t1), (2, t2))
            for i in ok
        ]
        out.extend(Quote(names[i], t_end, float(bid[i]), float(ask[i]), 100.0, 100.0) for i in ok)
        return out
