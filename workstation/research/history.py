"""The history a backtest runs on, from any market: sim, replay:PATH or alpaca (bar cache).

* ``sim``: the simulated market generates its history (``sim.seed``; as many sessions as the
  period and the scan's warm-up need, up to 3,000) and the backtest replays those daily bars.
  Its tickers are today's members: the universe is ``current``.
* ``replay:PATH``: the file's daily bars (validated and cleaned by the replay loader).
* ``alpaca``: the bar cache in the store, filled by ``workstation market fetch --years N``.

Every backtest, whatever the source, is a replay of daily bars: the intraday synthesis inside
each day is the replay market's (seeded by ``backtest.seed``), so a backtest equals
``workstation run --headless`` on the replay market over the same bars.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np

from workstation.context import Context
from workstation.core.bars import DailyBars
from workstation.core.calendar import ET
from workstation.core.clock import SimClock, WallClock
from workstation.core.models import Universe
from workstation.errors import UserError
from workstation.market.base import MarketDataError
from workstation.research.backtest import BacktestData
from workstation.research.universe import Membership, fixed_membership, pit_membership

_MAX_SIM_SESSIONS = 3000
_SESSIONS_PER_YEAR = 252


@dataclass(frozen=True)
class History:
    data: BacktestData
    membership: Membership
    last_session: date  # the last session with data
    earliest_start: date  # the first session a backtest may trade (warm-up before it)


def _universe_mode(ctx: Context, universe_arg: str | None, market: str) -> str:
    mode = ctx.cfg.app.backtest.universe
    if universe_arg in ("pit", "current"):
        mode = universe_arg
    elif universe_arg is not None:
        return "file"
    if mode == "auto":
        mode = "current" if market == "sim" else "pit"
    if mode == "pit" and ctx.cfg.scanner.universe.source != "sp500":
        return "file"  # a universe file is fixed by nature
    return mode


def load_history(
    ctx: Context, universe_arg: str | None, first: date | None, years: float
) -> History:
    """The bars, universe and membership for a backtest from ``first`` (or the last
    ``years`` years). One clear UserError when the market cannot provide them."""
    spec = ctx.market_spec
    csv = universe_arg if universe_arg not in (None, "pit", "current") else None
    if csv is not None:
        ctx = dataclasses.replace(ctx, universe_csv=csv)
    warmup = ctx.cfg.scanner.universe.history_sessions
    if spec == "sim":
        bars, universe, source = _sim_history(ctx, first, years, warmup)
        market, report = "sim", None
    elif spec.startswith("replay:"):
        from workstation.market.replay import ReplayMarket

        try:
            m = ctx.make_market(None)
        except MarketDataError as exc:
            raise UserError(str(exc).splitlines()[0]) from None
        assert isinstance(m, ReplayMarket)
        bars, universe, source = m.bars, m.universe(), spec
        market, report = "replay", m.report
    elif spec == "alpaca":
        bars, universe, source = _alpaca_history(ctx)
        market, report = "alpaca", None
    else:
        raise UserError(f"--market {spec!r} is not valid: use sim, replay:PATH or alpaca")
    if universe.benchmark not in bars:
        raise UserError(
            f"the market data has no {universe.benchmark} (the regime benchmark): add it"
        )
    in_data = [s for s in universe.symbols if s in bars]
    if not in_data:
        raise UserError(
            "none of the universe's symbols has bars in the market data; check the universe "
            "and the data use the same tickers"
        )
    mode = _universe_mode(ctx, universe_arg, market)
    dates = bars.dates
    has_bench = np.isfinite(bars.close[:, bars.col(universe.benchmark)])
    last = dates[np.nonzero(has_bench)[0][-1]].astype(object)
    first_bench = int(np.argmax(has_bench))
    if first_bench + warmup >= len(dates):
        raise UserError(
            f"the market data has {len(dates) - first_bench} sessions of "
            f"{universe.benchmark}: a backtest needs {warmup} before its first session "
            "(scanner.universe.history_sessions)"
        )
    earliest = dates[first_bench + warmup].astype(object)
    if mode == "pit":
        from workstation.market.universe import sp500_universe

        start = first or max(earliest, _years_before(last, years))
        membership = pit_membership(
            bars, ctx.calendar.previous_session(start), last, sp500_universe(), universe.benchmark
        )
    else:
        fixed = Universe.of({s: universe.sector(s) for s in in_data}, universe.benchmark)
        membership = fixed_membership(bars, fixed, mode)
    data = BacktestData(bars, membership.universe, source, report)
    return History(data, membership, last, earliest)


def _years_before(last: date, years: float) -> date:
    return last - timedelta(days=math.ceil(years * 365.25))


def _sim_history(
    ctx: Context, first: date | None, years: float, warmup: int
) -> tuple[DailyBars, Universe, str]:
    from workstation.market.sim import SimMarket

    sim = ctx.sim_config()
    today = date.fromisoformat(sim.today) if sim.today else WallClock().now().date()
    cal = ctx.calendar
    end = cal.previous_session(today)
    if first is not None:
        wanted = len(cal.sessions_in_range(first, end)) + warmup + 1
    else:
        wanted = math.ceil(years * _SESSIONS_PER_YEAR) + warmup + 5
    if wanted > _MAX_SIM_SESSIONS:
        raise UserError(
            f"the simulated market generates at most {_MAX_SIM_SESSIONS} sessions; this "
            f"period needs {wanted} with the warm-up: choose a shorter period"
        )
    cfg = dataclasses.replace(
        sim, history_sessions=max(sim.history_sessions, wanted), today=today.isoformat()
    )
    clock = SimClock(datetime.combine(today, time(0), ET), speed=math.inf)
    market = SimMarket(ctx.universe(), cfg, clock, cal)
    symbols = list(market.symbols)
    bars = market.daily_bars_now(symbols, market.history_end, cfg.history_sessions)
    source = f"sim (seed {sim.seed}, {bars.n_sessions} sessions to {market.history_end})"
    return bars, market.universe(), source


def _alpaca_history(ctx: Context) -> tuple[DailyBars, Universe, str]:
    from workstation.store.home_store import open_home_store

    store = open_home_store(ctx.paths, ctx.cfg.app.store)
    try:
        feed = ctx.cfg.app.alpaca.feed
        universe = ctx.universe()
        symbols = [*universe.symbols, universe.benchmark]
        bars = store.get_daily_bars(symbols, None, None, feed)
    finally:
        store.close()
    if bars.n_sessions == 0:
        raise UserError(
            "the bar cache is empty: fill it with 'workstation market fetch --market alpaca "
            "--years N' first"
        )
    return bars, universe, f"alpaca bar cache ({feed})"


@dataclass(frozen=True)
class Period:
    """The sessions a backtest or a search trades: ``first`` .. ``last`` inclusive."""

    first: date
    last: date


def resolve_period(
    ctx: Context,
    history: History,
    start: str | None,
    end: str | None,
    *,
    years: float | None = None,
) -> Period:
    """The sessions to backtest: ``start``..``end``, else the last ``years`` years (default:
    ``backtest.years`` of the context's configuration) the market has data for."""
    cal = ctx.calendar
    last = ctx.session_arg(end, "--to") if end else history.last_session
    if last > history.last_session:
        raise UserError(
            f"--to {last}: the market has data up to {history.last_session}; end on or before it"
        )
    if start:
        first = ctx.session_arg(start, "--from")
    else:
        if years is None:
            years = ctx.cfg.app.backtest.years
        target = last.replace(year=last.year - int(years)) if years.is_integer() else None
        if target is None:
            target = date.fromordinal(last.toordinal() - round(years * 365.25))
        first = max(history.earliest_start, cal.session_on_or_after(target))
    if first < history.earliest_start:
        warm = ctx.cfg.scanner.universe.history_sessions
        raise UserError(
            f"--from {first}: the scan needs {warm} sessions of history before the first "
            f"session and the data allows starting on {history.earliest_start} at the earliest"
        )
    if first > last:
        raise UserError(f"the period is empty: --from {first} is after --to {last}")
    return Period(first, last)


__all__ = ["History", "Period", "load_history", "resolve_period"]
