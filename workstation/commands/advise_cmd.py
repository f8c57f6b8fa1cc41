"""``workstation advise sltp``: SL/TP advice from MFE/MAE (see
:mod:`workstation.research.sltp_advice`).

``--backtest ID`` (a run listed in the home's store, a unique beginning of its id, or
``latest``) or ``--app`` (the app's own closed trades, followed on the market's daily bars);
``--strategy NAME`` (repeatable), ``--sl`` / ``--tp LO:HI:STEP`` (the grid, in ATRs),
``--touch pessimistic|optimistic``, ``--min-trades N``, ``--resamples N``, ``--boot-seed N``,
``--json`` (one object on stdout). A mistake is one line and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from workstation.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Callable

    from workstation.context import Context
    from workstation.research.sltp_advice import Advice, Grid
    from workstation.research.sltp_trades import AdviceSource
    from workstation.store import BacktestRow


def register(sub: Any, global_options: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "advise",
        help="advice from the trades made: SL/TP multipliers from MFE/MAE",
        description="Advice computed from trades already made. Exit codes: 0 done, 2 a user error.",
    )
    what = p.add_subparsers(dest="advice", metavar="WHAT", required=True)
    s = what.add_parser(
        "sltp",
        help="the SL and TP ATR multipliers that would have given each strategy the best "
        "expectancy, beside the current ones",
        description="Follows every trade of a backtest (or the app's own trades) day by day "
        "on its daily bars under a grid of SL x TP multipliers (in ATRs), and gives per "
        "strategy the pair with the best expectancy (R per trade), its trade count and a "
        "bootstrap interval, beside the current values. With fewer trades than --min-trades "
        "it says so instead of advising; a pair is advised only when it beats the current "
        "values on trades left out of each bootstrap resample.",
    )
    src = s.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--backtest",
        metavar="ID",
        help="a backtest of this home: its id (or a unique beginning of it) or 'latest'",
    )
    src.add_argument("--app", action="store_true", help="the app's own closed trades")
    s.add_argument("--strategy", action="append", metavar="NAME", help="only this strategy")
    s.add_argument("--sl", metavar="LO:HI:STEP", help="SL multipliers tried (default 0.5:4:0.25)")
    s.add_argument("--tp", metavar="LO:HI:STEP", help="TP multipliers tried (default 0.5:8:0.25)")
    s.add_argument(
        "--touch",
        choices=("pessimistic", "optimistic"),
        default="pessimistic",
        help="a day whose range spans both levels touches the stop (pessimistic, default) "
        "or the target first",
    )
    s.add_argument(
        "--min-trades", type=int, metavar="N", help="fewest trades to advise on (default 30)"
    )
    s.add_argument("--resamples", type=int, default=1000, metavar="N", help="bootstrap draws")
    s.add_argument(
        "--boot-seed", type=int, default=0, metavar="N", help="seed of the bootstrap draws"
    )
    s.add_argument("--json", action="store_true", help="one JSON object on stdout")
    global_options(s)
    s.set_defaults(handler=advise_sltp_command)


def parse_axis(raw: str, option: str) -> tuple[float, ...]:
    """``LO:HI:STEP`` (or one value) as the axis of a grid; a mistake is one line."""
    from workstation.research.sltp_advice import Grid

    parts = raw.split(":")
    try:
        nums = [float(x) for x in parts]
    except ValueError:
        nums = []
    if len(nums) == 1:
        nums = [nums[0], nums[0], 1.0]
    if len(nums) != 3:
        raise UserError(f"{option} {raw!r}: write LO:HI:STEP in ATRs, e.g. {option} 1:3:0.25")
    lo, hi, step = nums
    try:
        axis = Grid.steps(lo, hi, step)
    except ValueError:
        raise UserError(
            f"{option} {raw}: needs 0 < LO <= HI and STEP > 0 (in ATRs), e.g. 1:3:0.25"
        ) from None
    if len(axis) > 200:
        raise UserError(f"{option} {raw}: {len(axis)} values; use at most 200 (a larger STEP)")
    return axis


def _grid(args: argparse.Namespace) -> Grid:
    from workstation.research.sltp_advice import DEFAULT_GRID, Grid

    sl = parse_axis(args.sl, "--sl") if args.sl else DEFAULT_GRID.sl
    tp = parse_axis(args.tp, "--tp") if args.tp else DEFAULT_GRID.tp
    return Grid(sl, tp)


def find_run(rows: list[BacktestRow], key: str) -> BacktestRow:
    """The listed run ``key`` names (its id, a unique beginning of it, or ``latest``)."""
    if not rows:
        raise UserError("this home has no backtests yet: run 'workstation backtest' first")
    if key == "latest":
        return rows[0]
    exact = [r for r in rows if r.id == key]
    found = exact or [r for r in rows if r.id.startswith(key)]
    if len(found) == 1:
        return found[0]
    if found:
        ids = ", ".join(r.id for r in found[:3])
        raise UserError(f"--backtest {key}: {len(found)} runs begin so ({ids}...); give more")
    raise UserError(
        f"--backtest {key}: no such run in this home ({len(rows)} listed, the latest is "
        f"{rows[0].id}); 'latest' takes the newest"
    )


def _app_advice(ctx: Context, settings: Any) -> tuple[Advice, AdviceSource]:
    """The app's own trades, followed on the market's daily bars."""
    import asyncio

    from workstation.context import market_error
    from workstation.market.base import MarketDataError
    from workstation.research.sltp_advice import advise
    from workstation.research.sltp_trades import (
        AdviceSource,
        current_values,
        exit_rules,
        store_paths,
    )
    from workstation.store import Store

    cfg = ctx.cfg
    rules = exit_rules(cfg)
    db = ctx.paths.db_path
    if not db.is_file():
        raise UserError(f"the app has no store yet at {db}: it has made no trades")
    with Store.open(db) as store:
        trades = store.trades()
        if not trades:
            raise UserError("the app has no closed trades yet: nothing to advise from")
        cal = ctx.calendar
        first = min(t.entry_session for t in trades)
        clock = ctx.clock()
        last = cal.last_completed_session(clock.now())
        sessions = len(cal.sessions_in_range(first, last)) + 1
        symbols = sorted({t.symbol for t in trades})
        try:
            market = ctx.make_market(clock)
            bars = asyncio.run(market.daily_bars(symbols, last, sessions))
        except MarketDataError as exc:
            raise market_error(exc) from None
        paths, count = store_paths(store, rules, bars)
    source = AdviceSource("app", str(db), count, (first, last))
    return advise(paths, current_values(cfg), rules, settings), source


def advise_sltp_command(args: argparse.Namespace) -> int:
    from workstation.context import open_context
    from workstation.research.runs import _params_of, listed_runs
    from workstation.research.sltp_advice import Settings
    from workstation.research.sltp_paths import Touch
    from workstation.research.sltp_report import advice_json, advice_text
    from workstation.research.sltp_trades import run_advice
    from workstation.research.stats import open_store

    if args.min_trades is not None and args.min_trades < 2:
        raise UserError(
            f"--min-trades {args.min_trades}: give at least 2 (one trade cannot be resampled)"
        )
    if not 100 <= args.resamples <= 100_000:
        raise UserError(f"--resamples {args.resamples}: give 100 to 100000")
    grid = _grid(args)
    ctx = open_context(args)
    settings = Settings(
        grid=grid,
        touch=Touch(args.touch),
        resamples=args.resamples,
        seed=args.boot_seed,
        **({} if args.min_trades is None else {"min_trades": args.min_trades}),
    )
    if args.app:
        advice, source = _app_advice(ctx, settings)
    else:
        row = find_run(listed_runs(ctx.paths.db_path), args.backtest)
        try:
            with open_store(row.path) as store:
                _params, run_cfg = _params_of(store, row.param_hash)
        except Exception as exc:  # moved, deleted or damaged: which and why, in one line
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise UserError(f"run {row.id} cannot be read from {row.path}: {first}") from None
        advice, source = run_advice(row, run_cfg, ctx.cfg, settings)
    if args.strategy:
        known = [a.strategy for a in advice.strategies]
        unknown = [s for s in args.strategy if s not in known]
        if unknown:
            raise UserError(
                f"--strategy {unknown[0]}: not a strategy here (known: {', '.join(known)})"
            )
        advice = advice.only(args.strategy)
    if args.json:
        sys.stdout.write(json.dumps(advice_json(advice, source)) + "\n")
    else:
        sys.stdout.write(advice_text(advice, source))
    return 0


__all__ = ["advise_sltp_command", "find_run", "parse_axis", "register"]
