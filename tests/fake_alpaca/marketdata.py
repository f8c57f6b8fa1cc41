"""Historical and latest market data held by the fake: bars (paged like Alpaca), trades, quotes."""

from __future__ import annotations

import base64
import bisect
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from tests.fake_alpaca.wire import NY, rfc3339_utc

_TF_RE = re.compile(r"^(\d+)(Min|T|Hour|H|Day|D|Week|W|Month|M)$")
_TF_UNITS = {"Min": "Min", "T": "Min", "Hour": "Hour", "H": "Hour", "Day": "Day", "D": "Day"}
_TF_UNITS |= {"Week": "Week", "W": "Week", "Month": "Month", "M": "Month"}

FEEDS = {"iex", "sip", "delayed_sip", "otc", "boats", "overnight"}
ADJUSTMENTS = {"raw", "split", "dividend", "spin-off", "all"}

# Column aliases accepted when a test loads bars, mapped to Alpaca's one-letter bar keys.
_BAR_KEYS = {
    "t": "t",
    "timestamp": "t",
    "time": "t",
    "date": "t",
    "datetime": "t",
    "o": "o",
    "open": "o",
    "h": "h",
    "high": "h",
    "l": "l",
    "low": "l",
    "c": "c",
    "close": "c",
    "v": "v",
    "volume": "v",
    "n": "n",
    "trade_count": "n",
    "vw": "vw",
    "vwap": "vw",
}


def normalize_timeframe(text: str) -> str:
    """``1D``/``1Day`` -> ``1Day``, ``1T``/``1Min`` -> ``1Min``; ValueError for anything else."""
    m = _TF_RE.match(text.strip())
    if not m or int(m.group(1)) < 1:
        raise ValueError(f"invalid timeframe: {text!r}")
    return f"{int(m.group(1))}{_TF_UNITS[m.group(2)]}"


def visible_cutoff(timeframe: str, now: datetime) -> datetime:
    """The latest bar start that exists at ``now``: a daily bar once its session has opened,
    an intraday bar once it is complete. Alpaca serves no bars from the future."""
    m = _TF_RE.match(timeframe)
    n = int(m.group(1)) if m else 1
    if timeframe.endswith(("Day", "Week", "Month")):
        return now - timedelta(hours=9, minutes=30)
    if timeframe.endswith("Hour"):
        return now - timedelta(hours=n)
    return now - timedelta(minutes=n)


def _number(x: Any) -> float | int | None:
    if x is None or (isinstance(x, float) and x != x):
        return None
    f = float(x)
    return int(f) if f.is_integer() else f


def _frame(bars: Any) -> pd.DataFrame:
    """Bars as a DataFrame with Alpaca's column names t o h l c v [n vw]."""
    df = bars.copy() if isinstance(bars, pd.DataFrame) else pd.DataFrame([dict(b) for b in bars])
    df.columns = [str(c).lower() for c in df.columns]
    if not any(_BAR_KEYS.get(c) == "t" for c in df.columns):
        df = df.reset_index()
        df.columns = [str(c).lower() for c in df.columns]
        df = df.rename(columns={"index": "t"})
    rename: dict[str, str] = {}
    for c in df.columns:
        key = _BAR_KEYS.get(c)
        if key and key not in rename.values():
            rename[c] = key
    missing = [k for k in ("t", "o", "h", "l", "c", "v") if k not in rename.values()]
    if missing:
        raise ValueError(f"bars lack {missing}: need t/open/high/low/close/volume columns")
    return df[list(rename)].rename(columns=rename)


def _times_utc(col: pd.Series, timeframe: str) -> pd.DatetimeIndex:
    """Bar times as UTC. Dates and naive times are America/New_York; daily (and longer) bars
    are stamped at midnight New York, as Alpaca stamps them."""
    try:
        idx = pd.DatetimeIndex(pd.to_datetime(col))
    except (ValueError, TypeError):
        idx = pd.DatetimeIndex(pd.to_datetime(col, utc=True))  # mixed UTC offsets
    idx = idx.tz_localize(NY) if idx.tz is None else idx.tz_convert(NY)
    if timeframe.endswith(("Day", "Week", "Month")):
        idx = idx.normalize()
    return idx.tz_convert(UTC)


def _prepare(bars: Any, timeframe: str, by: str | None = None) -> pd.DataFrame:
    """Normalized bars with ``_ts`` (UTC), sorted by (symbol,) time, the last duplicate wins."""
    if by is None:
        df = _frame(bars)
        keys = ["_ts"]
    else:
        df = _frame(bars.drop(columns=[by])).assign(_sym=bars[by].astype(str).str.upper().values)
        keys = ["_sym", "_ts"]
    ts = _times_utc(df["t"], timeframe) if len(df) else pd.DatetimeIndex([], tz=UTC)
    df = df.assign(_ts=ts)
    return df.drop_duplicates(keys, keep="last").sort_values(keys, kind="stable")


class _Columns:
    """A prepared frame as plain lists, so that many symbols slice it without pandas costs."""

    def __init__(self, df: pd.DataFrame) -> None:
        n = len(df)
        none: list[Any] = [None] * n
        # Formatting each distinct time once: a universe shares its few hundred dates.
        codes, uniques = pd.factorize(pd.DatetimeIndex(df["_ts"]))
        texts = list(uniques.strftime("%Y-%m-%dT%H:%M:%SZ")) if n else []
        stamps = list(pd.DatetimeIndex(uniques).to_pydatetime()) if n else []
        self.t = [texts[i] for i in codes]
        self.times = [stamps[i] for i in codes]
        self.o, self.h, self.l, self.c = (df[k].astype(float).tolist() for k in "ohlc")
        self.v = [_number(x) for x in df["v"].tolist()]
        self.n = [_number(x) for x in df["n"].tolist()] if "n" in df else none
        self.vw = [_number(x) for x in df["vw"].tolist()] if "vw" in df else none

    def series(self, lo: int, hi: int) -> BarSeries:
        rows = [
            {
                "t": self.t[i],
                "o": self.o[i],
                "h": self.h[i],
                "l": self.l[i],
                "c": self.c[i],
                "v": self.v[i],
                "n": self.n[i],
                "vw": self.vw[i],
            }
            for i in range(lo, hi)
        ]
        return BarSeries(self.times[lo:hi], rows)


@dataclass
class BarSeries:
    """One symbol's bars for one timeframe (and optionally one feed/adjustment), sorted by time."""

    times: list[datetime] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)  # JSON-ready Alpaca bar dicts

    @classmethod
    def build(cls, bars: Any, timeframe: str) -> BarSeries:
        df = _prepare(bars, timeframe)
        return _Columns(df).series(0, len(df))

    def add(self, ts: datetime, row: dict[str, Any]) -> None:
        i = bisect.bisect_left(self.times, ts)
        if i < len(self.times) and self.times[i] == ts:
            self.rows[i] = row
        else:
            self.times.insert(i, ts)
            self.rows.insert(i, row)

    def window(self, start: datetime, end: datetime) -> tuple[int, int]:
        return bisect.bisect_left(self.times, start), bisect.bisect_right(self.times, end)

    def last_before(self, now: datetime, n: int = 1) -> list[dict[str, Any]]:
        hi = bisect.bisect_right(self.times, now)
        return self.rows[max(0, hi - n) : hi]


@dataclass
class TradeTick:
    price: float
    size: float
    t: datetime
    id: int

    def json(self) -> dict[str, Any]:
        return {
            "t": rfc3339_utc(self.t),
            "x": "V",
            "p": self.price,
            "s": _number(self.size),
            "c": ["@"],
            "i": self.id,
            "z": "C",
        }


@dataclass
class QuoteTick:
    bid: float
    ask: float
    bid_size: float
    ask_size: float
    t: datetime

    def json(self) -> dict[str, Any]:
        return {
            "t": rfc3339_utc(self.t),
            "ax": "V",
            "ap": self.ask,
            "as": _number(self.ask_size),
            "bx": "V",
            "bp": self.bid,
            "bs": _number(self.bid_size),
            "c": ["R"],
            "z": "C",
        }


def _check_variant(feed: str | None, adjustment: str | None) -> None:
    if feed is not None and feed not in FEEDS:
        raise ValueError(f"unknown feed {feed!r}; one of {sorted(FEEDS)}")
    if adjustment is not None and adjustment not in ADJUSTMENTS:
        raise ValueError(f"unknown adjustment {adjustment!r}; one of {sorted(ADJUSTMENTS)}")


def encode_token(symbol: str, ts: datetime) -> str:
    raw = json.dumps({"s": symbol, "t": ts.isoformat()}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_token(token: str) -> tuple[str, datetime]:
    try:
        d = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(d["s"]), datetime.fromisoformat(d["t"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError("invalid page token") from exc


class MarketData:
    """Bars keyed by (symbol, timeframe) with optional per-feed / per-adjustment variants."""

    def __init__(self) -> None:
        # (symbol, timeframe) -> {(feed|None, adjustment|None): series}
        self._bars: dict[tuple[str, str], dict[tuple[str | None, str | None], BarSeries]] = {}
        self.trades: dict[str, TradeTick] = {}
        self.quotes: dict[str, QuoteTick] = {}
        self._trade_id = 1000

    def next_trade_id(self) -> int:
        self._trade_id += 1
        return self._trade_id

    # ---- loading ---------------------------------------------------------------------------
    def set_bars(
        self,
        symbol: str,
        timeframe: str,
        bars: Iterable[Mapping[str, Any]] | pd.DataFrame,
        feed: str | None = None,
        adjustment: str | None = None,
    ) -> int:
        tf = normalize_timeframe(timeframe)
        _check_variant(feed, adjustment)
        series = BarSeries.build(bars, tf)
        self._bars.setdefault((symbol, tf), {})[(feed, adjustment)] = series
        return len(series.times)

    def set_bars_frame(
        self,
        frame: pd.DataFrame,
        timeframe: str,
        symbol_column: str,
        feed: str | None = None,
        adjustment: str | None = None,
    ) -> dict[str, int]:
        """Many symbols from one long frame, converted in one pass."""
        tf = normalize_timeframe(timeframe)
        _check_variant(feed, adjustment)
        df = _prepare(frame, tf, by=symbol_column)
        cols = _Columns(df)
        syms = df["_sym"].tolist()
        starts = [i for i in range(len(syms)) if i == 0 or syms[i] != syms[i - 1]]
        counts: dict[str, int] = {}
        for lo, hi in zip(starts, [*starts[1:], len(syms)], strict=True):
            series = cols.series(lo, hi)
            self._bars.setdefault((syms[lo], tf), {})[(feed, adjustment)] = series
            counts[syms[lo]] = hi - lo
        return counts

    def append_bar(self, symbol: str, timeframe: str, ts: datetime, row: dict[str, Any]) -> None:
        variants = self._bars.setdefault((symbol, timeframe), {})
        if not variants:
            variants[(None, None)] = BarSeries()
        for series in variants.values():
            series.add(ts, row)

    def symbols_with_bars(self) -> set[str]:
        return {sym for sym, _ in self._bars}

    def series(
        self, symbol: str, timeframe: str, feed: str | None = None, adjustment: str | None = None
    ) -> BarSeries | None:
        """The best-matching variant: exact feed and adjustment first, then either, then any."""
        variants = self._bars.get((symbol, timeframe))
        if not variants:
            return None
        for key in ((feed, adjustment), (feed, None), (None, adjustment), (None, None)):
            if key in variants:
                return variants[key]
        return next(iter(variants.values()))

    # ---- queries ---------------------------------------------------------------------------
    def query_bars(
        self,
        symbols: list[str],
        timeframe: str,
        start: datetime,
        end: datetime,
        limit: int,
        page_token: str | None,
        feed: str | None,
        adjustment: str | None,
        descending: bool = False,
    ) -> tuple[dict[str, list[dict[str, Any]]], str | None]:
        """One page of ``/v2/stocks/bars``: symbols in alphabetical order, ``limit`` bars in
        total over all symbols, and a token naming the next bar when more remain."""
        ordered = sorted(set(symbols))
        resume_sym: str | None = None
        resume_t: datetime | None = None
        if page_token:
            resume_sym, resume_t = decode_token(page_token)
        out: dict[str, list[dict[str, Any]]] = {}
        budget = limit
        begin = bisect.bisect_left(ordered, resume_sym) if resume_sym else 0
        for idx in range(begin, len(ordered)):
            sym = ordered[idx]
            s = self.series(sym, timeframe, feed, adjustment)
            if s is None:
                continue
            lo, hi = s.window(start, end)
            if sym == resume_sym and resume_t is not None:
                if descending:
                    hi = min(hi, bisect.bisect_right(s.times, resume_t))
                else:
                    lo = max(lo, bisect.bisect_left(s.times, resume_t))
            if lo >= hi:
                continue
            if budget <= 0:
                # The page is full and this symbol still has bars: resume here next time.
                first = s.times[hi - 1] if descending else s.times[lo]
                return out, encode_token(sym, first)
            take = min(budget, hi - lo)
            if descending:
                rows = s.rows[hi - take : hi][::-1]
                rest_first = hi - take - 1 if hi - take > lo else None
            else:
                rows = s.rows[lo : lo + take]
                rest_first = lo + take if lo + take < hi else None
            out[sym] = rows
            budget -= take
            if rest_first is not None:
                return out, encode_token(sym, s.times[rest_first])
        return out, None

    def latest_bar(self, symbol: str, timeframe: str, now: datetime) -> dict[str, Any] | None:
        s = self.series(symbol, timeframe)
        if s is None:
            return None
        rows = s.last_before(visible_cutoff(timeframe, now))
        return rows[-1] if rows else None

    def last_trade(self, symbol: str, now: datetime) -> TradeTick | None:
        """The explicit last trade, else one derived from the latest loaded bar's close, so that
        a symbol with only historical bars still has a price (as it would at Alpaca)."""
        tick = self.trades.get(symbol)
        if tick is not None:
            return tick
        best: TradeTick | None = None
        minute = self.latest_bar(symbol, "1Min", now)
        if minute is not None:
            t = min(now, datetime.fromisoformat(minute["t"].replace("Z", "+00:00")) + _MINUTE)
            best = TradeTick(minute["c"], 100, t, 0)
        daily = self.latest_bar(symbol, "1Day", now)
        if daily is not None:
            start = datetime.fromisoformat(daily["t"].replace("Z", "+00:00"))
            t = min(now, start + timedelta(hours=16))
            if best is None or t > best.t:
                best = TradeTick(daily["c"], 100, t, 0)
        return best

    def snapshot(self, symbol: str, now: datetime) -> dict[str, Any] | None:
        trade = self.last_trade(symbol, now)
        quote = self.quotes.get(symbol)
        minute = self.latest_bar(symbol, "1Min", now)
        daily_series = self.series(symbol, "1Day")
        cutoff = visible_cutoff("1Day", now)
        dailies = daily_series.last_before(cutoff, 2) if daily_series else []
        if trade is None and quote is None and minute is None and not dailies:
            return None
        return {
            "latestTrade": trade.json() if trade else None,
            "latestQuote": quote.json() if quote else None,
            "minuteBar": minute,
            "dailyBar": dailies[-1] if dailies else None,
            "prevDailyBar": dailies[-2] if len(dailies) > 1 else None,
        }


_MINUTE = timedelta(minutes=1)
