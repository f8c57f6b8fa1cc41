"""``workstation run --headless [--market sim|replay:PATH] [--mode sim|paper|live]
[--speed N|max] [--sessions N | --forever] [--from DATE] [--json]``: whole trading days
without a window.

See :mod:`workstation.engine.runner` for what a run does, how an interrupted run resumes,
and the exit codes (0 done, 3 reconciliation differences, 130 stopped by Ctrl-C).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from typing import Any

from workstation.context import Context, command_line, open_context
from workstation.engine.runner import HeadlessRunner, RunOptions, parse_speed
from workstation.errors import UserError
from workstation.instance import hold_home
from workstation.ops.jsonlog import json_log_handler


def register(sub: Any, global_options: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "run",
        help="run the trading cycle (scan, approvals, gap filter, entries, exits) headless",
        description="Run whole trading days: the 20:00 scan, the gap filter, entries, exits "
        "and the end-of-day bookkeeping, printing a summary per session. A run that was "
        "interrupted (Ctrl-C, a kill) is resumed by the next one. Exit codes: 0 done, 3 the "
        "store and the broker disagree (nothing traded), 4 the store became unusable "
        "(deleted, read-only, a full disk: trading stopped), 130 stopped by Ctrl-C or "
        "SIGTERM. One run per home: a second 'run' or the desktop app on the same home "
        "refuses to start (exit 2).",
    )
    p.add_argument("--headless", action="store_true", help="without a window (required for now)")
    p.add_argument(
        "--speed",
        metavar="N|max",
        help="simulated clock speed: clock seconds per real second, or max (default: app.yaml)",
    )
    p.add_argument(
        "--sessions", type=int, default=1, metavar="N", help="trading sessions to run (default 1)"
    )
    p.add_argument(
        "--forever",
        action="store_true",
        help="session after session until stopped (SIGTERM/Ctrl-C), as a service runs it; "
        "a simulated market stops at its last session",
    )
    p.add_argument(
        "--confirm-live",
        action="store_true",
        help="with --mode live: trade real money unattended (the confirmation the window "
        "asks for, given where the service is defined)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per session")
    p.add_argument(
        "--from",
        dest="start",
        metavar="DATE",
        help="first session to trade (simulated and replay markets): the run starts with the "
        "scan of the evening before; default: the session after sim.today",
    )
    global_options(p)
    p.set_defaults(handler=run_headless)


def run_headless(args: argparse.Namespace) -> int:
    if not args.headless:
        raise UserError(
            "'workstation run' needs --headless: the desktop window is opened by 'workstation' "
            "with no command"
        )
    if args.sessions < 1:
        raise UserError(f"--sessions must be at least 1, got {args.sessions}")
    speed = parse_speed(args.speed)
    ctx = open_context(args)
    if args.start is not None:
        if ctx.market_spec == "alpaca":
            raise UserError("--from is for the simulated and replay markets (Alpaca trades today)")
        first = ctx.session_arg(args.start, "--from")
        ctx.today = ctx.calendar.previous_session(first).isoformat()
    # The whole run holds the home: a second instance on it would trade the same account.
    with hold_home(ctx.paths.data_dir, command_line(args), home=ctx.paths.home):
        return _run(ctx, args, speed)


def _run(ctx: Context, args: argparse.Namespace, speed: float | None) -> int:
    opts = RunOptions(
        sessions=args.sessions,
        speed=speed,
        mode=getattr(args, "mode", None),
        json=args.json,
        forever=args.forever,
        live_confirmed=args.confirm_live,
    )
    # The engines' log goes to a rotating JSON-lines file (<data>/logs/run.jsonl); the
    # console gets the summaries and ERROR lines only. The handler sits on the ROOT logger:
    # the libraries' warnings (the Alpaca SDK logs a traceback for every failed stream
    # connection) go to the file too, not the console.
    handler = json_log_handler(ctx.paths.logs_dir)
    ours = logging.getLogger("workstation")
    level = ours.level
    logging.getLogger().addHandler(handler)
    if ours.level == logging.NOTSET or ours.level > logging.INFO:
        ours.setLevel(logging.INFO)
    for note in ctx.config.notes:  # what the configuration leaves to defaults or switches off
        ours.warning("configuration: %s", note)
    try:
        return HeadlessRunner(ctx, opts).run_sync()
    finally:
        logging.getLogger().removeHandler(handler)
        ours.setLevel(level)
        handler.close()
