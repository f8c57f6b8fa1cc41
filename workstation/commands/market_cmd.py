"""``workstation market bars SYMBOL [--days N]``: daily bars from the chosen market;
``workstation market fetch --market alpaca --years N``: fill the bar cache for backtests."""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import numpy as np

from workstation.context import Context, market_error, open_context
from workstation.core.bars import DailyBars
from workstation.errors import UserError
from workstation.market.base import MarketData, MarketDataError
from workstation.store.home_store import open_home_store


def register(sub: Any, global_options: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("market", help="look at the market data")
    msub = p.add_subparsers(dest="market_command", metavar="ACTION", required=True)
    bars = msub.add_parser("bars", help="print a symbol's daily bars from the chosen market")
    bars.add_argument("symbol")
    bars.add_argument(
        "--days", type=int, default=20, metavar="N", help="sessions to print (default 20)"
    )
    global_options(bars)
    bars.set_defaults(handler=run_bars)
    fetch = msub.add_parser(
        "fetch",
        help="fill the bar cache with N years of the universe's daily bars (Alpaca), for "
        "backtests with --market alpaca",
        description="Fetch the universe's daily bars (and the benchmark's) for the last N years "
        "from Alpaca into the store's bar cache: paged, in chunks of symbols, each chunk "
        "written before the next is asked, so an interrupted fetch resumes where it stopped "
        "and a later one asks only for what the cache lacks. The scan's warm-up "
        "(scanner.universe.history_sessions) is fetched too.",
    )
    fetch.add_argument(
        "--years", type=float, default=5.0, metavar="N", help="years of history (default 5)"
    )
    fetch.add_argument(
        "--chunk", type=int, default=50, metavar="N", help="symbols per step (default 50)"
    )
    global_options(fetch)
    fetch.set_defaults(handler=run_fetch)


def last_completed_session(ctx: Context, market: MarketData, now: datetime) -> date:
    """The last session the market has a complete daily bar for (at ``now``)."""
    last = getattr(market, "last_closed_session", None)
    if callable(last):
        day = last()
        if day is None:
            raise UserError("the simulated market has no completed session yet")
        return day
    end = getattr(market, "last_session", None)
    if isinstance(end, date):
        return end
    return ctx.calendar.last_completed_session(now)


async def _bars_and_close(market: MarketData, symbol: str, end: date, days: int) -> DailyBars:
    try:
        return await market.daily_bars([symbol], end, days)
    finally:
        close = getattr(market, "aclose", None)
        if close is not None:
            await close()


def run_bars(args: argparse.Namespace) -> int:
    if args.days < 1:
        raise UserError(f"--days must be at least 1, got {args.days}")
    ctx = open_context(args)
    try:
        clock = ctx.clock()
        market = ctx.make_market(clock)
        symbol = args.symbol.upper()
        if symbol not in market.universe().sectors and symbol != market.universe().benchmark:
            raise UserError(f"{symbol} is not in the {market.name} market's universe")
        end = last_completed_session(ctx, market, clock.now())
        bars = asyncio.run(_bars_and_close(market, symbol, end, args.days))
    except MarketDataError as exc:
        raise market_error(exc) from exc
    df = bars.frame(symbol)
    if df.empty:
        raise UserError(f"{symbol} has no bars up to {end} in the {market.name} market")
    out = sys.stdout
    out.write(
        f"{symbol} ({market.universe().sector(symbol)}), {market.name} market, "
        f"{len(df)} sessions to {end}\n"
    )
    out.write(f"{'date':<12}{'open':>11}{'high':>11}{'low':>11}{'close':>11}{'volume':>14}\n")
    for day, row in df.iterrows():
        vol = "" if math.isnan(row.volume) else f"{row.volume:,.0f}"
        out.write(
            f"{day:%Y-%m-%d}  {row.open:>11.2f}{row.high:>11.2f}{row.low:>11.2f}"
            f"{row.close:>11.2f}{vol:>14}\n"
        )
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    from workstation.core.clock import WallClock

    if not (0 < args.years <= 30):
        raise UserError(f"--years must be more than 0 and at most 30, got {args.years}", 2)
    if args.chunk < 1:
        raise UserError(f"--chunk must be at least 1, got {args.chunk}", 2)
    ctx = open_context(args)
    if ctx.market_spec != "alpaca":
        raise UserError(
            "market fetch fills the Alpaca bar cache: add --market alpaca (the simulated market "
            "generates its history and a replay file is read as it is)",
            2,
        )
    store = open_home_store(ctx.paths, ctx.cfg.app.store)
    try:
        clock = WallClock()
        market = ctx.make_market(clock, store=store)
        universe = market.universe()
        symbols = [*universe.symbols, universe.benchmark]
        end = ctx.calendar.last_completed_session(clock.now())
        sessions = round(args.years * 252) + ctx.cfg.scanner.universe.history_sessions
        return asyncio.run(_fetch(market, symbols, end, sessions, args.chunk, sys.stderr))
    except MarketDataError as exc:
        raise market_error(exc) from exc
    finally:
        store.close()


async def _fetch(
    market: MarketData, symbols: list[str], end: date, sessions: int, chunk: int, err: Any
) -> int:
    total = len(symbols)
    fetched = cached = 0
    empty: list[str] = []
    show = err.isatty()
    try:
        for i in range(0, total, chunk):
            part = symbols[i : i + chunk]
            bars = await market.daily_bars(part, end, sessions)
            await market.flush_cache()  # this chunk is in the cache before the next is asked
            stats = getattr(market, "last_fetch", None)
            if stats is not None:
                fetched += stats.bars_fetched
                cached += stats.bars_from_cache
            for sym in part:
                if sym not in bars or not np.isfinite(bars.close[:, bars.col(sym)]).any():
                    empty.append(sym)
            done = min(i + chunk, total)
            line = f"fetch: {done}/{total} symbols, {fetched:,} bars fetched, {cached:,} cached"
            err.write(("\r" + line) if show else line + "\n")
            err.flush()
    finally:
        close = getattr(market, "aclose", None)
        if close is not None:
            await close()
    if show:
        err.write("\n")
    sys.stdout.write(
        f"bar cache: {total - len(empty)} of {total} symbols have daily bars up to {end} "
        f"({sessions} sessions asked); {fetched:,} bars fetched now, {cached:,} were cached\n"
    )
    if empty:
        shown = ", ".join(empty[:20]) + (" ..." if len(empty) > 20 else "")
        sys.stdout.write(f"no data at Alpaca for {len(empty)}: {shown}\n")
    return 0
