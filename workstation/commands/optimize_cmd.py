"""``workstation optimize``: a parameter search over backtests, on a Dask cluster (see
:mod:`workstation.research.optimize` and docs/optimize.md).

Every parameter is checked against the schema's ranges before anything starts (one line and
exit code 2 when it is not valid). Progress goes to stderr (a line on a terminal, or one JSON
object per event with ``--progress json``), the result to stdout (text, or one JSON object
with ``--json``). Ctrl-C or SIGTERM stops the search cleanly (exit 130): ``--resume ID``
continues it. Exit codes: 0 finished, 1 interrupted (the cluster was lost; resume it), 2 a
user error, 130 cancelled.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any, TextIO

from workstation.errors import UserError

EXIT = {"finished": 0, "interrupted": 1, "failed": 1, "cancelled": 130}


def register(sub: Any, global_options: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "optimize",
        help="search parameters over backtests (grid, random or tpe; walk-forward; Dask)",
        description="A parameter search: each trial is a backtest with some parameters "
        "changed, run as a task on a Dask cluster (a local one with one worker per core, or "
        "--scheduler ADDRESS). Results stream into <data>/optimize/<id>.db as trials finish; "
        "--resume ID continues a stopped search. Exit codes: 0 finished, 1 interrupted, "
        "2 a user error, 130 cancelled.",
        conflict_handler="resolve",  # --seed here seeds the search (the market's: before it)
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=SPEC",
        help="a dimension to search (repeatable): KEY as in the YAML files "
        "(strategies.bb_squeeze.sl_atr, risk.exits.time_exit_day); SPEC a list 1.5,2,2.5, a "
        "range 1.0:3.0:0.25 (1.0:3.0 continuous), int:3:7[:STEP] or log:0.01:0.1[:POINTS]",
    )
    p.add_argument("--from", dest="start", metavar="DATE", help="first session of the period")
    p.add_argument("--to", dest="end", metavar="DATE", help="last session of the period")
    p.add_argument(
        "--search",
        metavar="KIND",
        help="grid (every point), random or tpe (Optuna's TPE); default: grid when every "
        "dimension has points, else tpe",
    )
    p.add_argument(
        "--trials",
        metavar="N",
        help="trials (default: the grid's size; 50 for random and tpe); with tpe and "
        "--walk-forward, per window",
    )
    p.add_argument(
        "--objective",
        default="sharpe",
        metavar="NAME",
        help="sharpe (default), sortino, calmar, profit_factor or expectancy (R per trade)",
    )
    p.add_argument(
        "--min-trades",
        metavar="N",
        help="a trial with fewer closed trades has no value (default 10)",
    )
    p.add_argument(
        "--walk-forward",
        metavar="TRAIN:TEST",
        help="rolling windows: TRAIN sessions choose, the next TEST sessions judge (3y:1y, "
        "18m:6m, 120:40; y = 252 sessions, m = 21, w = 5)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a running Dask scheduler (tcp://host:8786); default: a local cluster",
    )
    p.add_argument("--workers", metavar="N", help="local worker processes (default: one per core)")
    p.add_argument("--in-flight", metavar="N", help="tpe: trials asked ahead of results (8)")
    p.add_argument("--json", action="store_true", help="the result as one JSON object on stdout")
    p.add_argument("--resume", metavar="ID", help="continue (or reread) the search ID")
    p.add_argument("--list", action="store_true", help="list this home's searches")
    p.add_argument(
        "--no-cache", action="store_true", help="every trial scans again (no shared scans)"
    )
    p.add_argument(
        "--progress",
        default="auto",
        metavar="MODE",
        help="progress on stderr: a line on a terminal (auto), one JSON object per event "
        "(json, for the app), or none",
    )
    global_options(p)
    # After the global options: this --seed replaces theirs (the simulated market's seed is
    # still given before the command: workstation --seed 7 optimize ...).
    p.add_argument(
        "--seed",
        dest="search_seed",
        metavar="N",
        help="seed of the search's sampler (default 0); the simulated market's seed goes "
        "before the command (workstation --seed N optimize ...)",
    )
    p.set_defaults(handler=optimize_command)


def _int(args: argparse.Namespace, name: str, option: str, lo: int) -> int | None:
    raw = getattr(args, name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise UserError(f"{option} {raw!r} is not a whole number", exit_code=2) from None
    if value < lo:
        raise UserError(f"{option} {value}: give {lo} or more", exit_code=2)
    return value


def _choice(value: str, option: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise UserError(f"{option} {value!r}: choose from {', '.join(allowed)}", exit_code=2)
    return value


def _setup(args: argparse.Namespace) -> tuple[Any, str]:
    """The search asked for (None for --list), checked; every problem a UserError."""
    from workstation.context import open_context
    from workstation.research.optimize.launch import (
        DEFAULT_MIN_TRADES,
        SearchRequest,
        check_request,
        prepare_search,
        resume_search,
    )
    from workstation.research.optimize.objective import OBJECTIVES
    from workstation.research.optimize.spec import DEFAULT_IN_FLIGHT, SEARCHES

    progress = _choice(args.progress, "--progress", ("auto", "json", "none"))
    universe_arg = getattr(args, "universe", None)
    if universe_arg in ("pit", "current"):
        args.universe = None  # a mode, not a CSV for the context
    workers = _int(args, "workers", "--workers", 1)
    if args.list:
        _list(open_context(args), sys.stdout, args.json)
        return None, progress
    ctx = open_context(args)
    if args.resume:
        if args.param:
            raise UserError(
                "--resume continues a search as it was asked: leave out --param", exit_code=2
            )
        search = resume_search(ctx, args.resume, scheduler=args.scheduler, workers=workers)
    else:
        if args.search is not None:
            _choice(args.search, "--search", SEARCHES)
        _choice(args.objective, "--objective", tuple(OBJECTIVES))
        min_trades = _int(args, "min_trades", "--min-trades", 0)
        req = SearchRequest(
            params=tuple(args.param),
            start=args.start,
            end=args.end,
            search=args.search,
            trials=_int(args, "trials", "--trials", 1),
            objective=args.objective,
            min_trades=DEFAULT_MIN_TRADES if min_trades is None else min_trades,
            walk_forward=args.walk_forward,
            seed=_int(args, "search_seed", "--seed", 0) or 0,
            scheduler=args.scheduler,
            workers=workers,
            universe=universe_arg,
            scan_cache=not args.no_cache,
            in_flight=_int(args, "in_flight", "--in-flight", 1) or DEFAULT_IN_FLIGHT,
        )
        check_request(ctx.cfg, req)  # the parameters first: nothing loads before they pass
        search = prepare_search(ctx, req)
    return search, progress


def optimize_command(args: argparse.Namespace) -> int:
    try:
        search, progress = _setup(args)
    except UserError as exc:
        if exc.exit_code == 1:
            exc.exit_code = 2  # everything before the search starts is the user's to fix
        raise
    if search is None:
        return 0
    show = _progress(sys.stderr, progress)
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        search.cancel()

    try:
        signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread (a test calling main() from a thread)
        previous = None
    try:
        result = search.run(show)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    doc = result.as_json()
    if args.json:
        sys.stdout.write(json.dumps(doc, allow_nan=False, separators=(",", ":")) + "\n")
    else:
        from workstation.research.optimize.report import print_text

        print_text(doc, sys.stdout)
    if result.status != "finished":
        done = doc["counts"].get("complete", 0) + doc["counts"].get("failed", 0)
        print(
            f"workstation: search {result.id} {result.status} after {done} of "
            f"{result.plan.total} trials; continue it with 'workstation optimize --resume "
            f"{result.id}'",
            file=sys.stderr,
        )
    return EXIT[result.status]


def _progress(out: TextIO, mode: str) -> Callable[[Any], None] | None:
    from workstation.research.optimize.events import (
        ClusterReady,
        Finished,
        Planned,
        ScansAhead,
        TrialDone,
        WorkersChanged,
    )

    if mode == "json":

        def line(event: Any) -> None:
            out.write(json.dumps(event.as_json(), allow_nan=False) + "\n")
            out.flush()

        return line
    if mode == "none" or not out.isatty():
        return None
    state: dict[str, Any] = {"workers": 0, "id": ""}
    width = 24

    def show(event: Any) -> None:
        if isinstance(event, Planned):
            state["id"] = event.search_id
            out.write(f"optimize {event.search_id}: {event.total} trials\n")
        elif isinstance(event, (ClusterReady, WorkersChanged)):
            state["workers"] = event.workers
        elif isinstance(event, ScansAhead):
            out.write(f"\rscans ahead: {event.done}/{event.total} ({event.cached} cached)   ")
        elif isinstance(event, TrialDone):
            filled = int(width * event.done / max(event.total, 1))
            best = "" if event.best_value is None else f", best {event.best_value:.3f}"
            out.write(
                f"\r[{'#' * filled}{'-' * (width - filled)}] {event.done}/{event.total} trials"
                f"{best}, {state['workers']} workers   "
            )
        elif isinstance(event, Finished):
            out.write("\n")
        out.flush()

    return show


def _list(ctx: Any, out: TextIO, as_json: bool) -> int:
    from workstation.store import Store, StoreError

    try:
        store = Store.open(ctx.paths.db_path)
    except StoreError as exc:
        raise UserError(str(exc)) from None
    try:
        rows = store.searches()
    finally:
        store.close()
    if as_json:
        doc = [
            {
                "id": r.id,
                "created_at": r.created_at.isoformat(),
                "status": r.status,
                "search": r.search,
                "objective": r.objective,
                "params": r.params,
                "first": r.first_session.isoformat(),
                "last": r.last_session.isoformat(),
                "walk_forward": r.walk_forward,
                "trials_done": r.trials_done,
                "trials_total": r.trials_total,
                "best": r.best,
                "path": r.path,
            }
            for r in rows
        ]
        out.write(json.dumps(doc, allow_nan=False) + "\n")
        return 0
    if not rows:
        out.write("no searches in this home yet\n")
    for r in rows:
        when = datetime.fromisoformat(r.created_at.isoformat()).strftime("%Y-%m-%d %H:%M")
        best = "" if not r.best else f"  best {r.best.get('value')}: {r.best.get('params')}"
        out.write(
            f"{r.id}  {when}  {r.status:<11} {r.search} {r.objective} "
            f"{r.trials_done}/{r.trials_total}  {' '.join(r.params)}{best}\n"
        )
    return 0


__all__ = ["optimize_command", "register"]
