"""``workstation market bars SYMBOL [--days N]``: daily bars from the chosen market."""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from workstation.context import Context, market_error, open_context
from workstation.core.bars import DailyBars
from workstation.errors import UserError
from workstation.market.base import MarketData, MarketDataError


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
