"""``workstation health [--json]``: is the workstation on this home doing what it should?

Checks that the engine runs, the last nightly scan ran on time and succeeded, each of today's
steps ran, every open position has a resting protective stop at the level the rules say, the
broker agrees with the store, market data is fresh, the disk has room and the store's backup
is recent. Exit codes for a scheduler or a monitoring system: 0 healthy, 1 degraded, 2 failed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def register(sub: Any, global_options: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "health",
        help="check the running workstation: exit 0 healthy, 1 degraded, 2 failed",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    p.add_argument("--json", action="store_true", help="one JSON object (status, checks)")
    global_options(p)
    p.set_defaults(handler=run_health)


def run_health(args: argparse.Namespace) -> int:
    from workstation.context import open_context
    from workstation.health.checks import run_checks
    from workstation.health.gather import gather_for_cli
    from workstation.health.report import HealthReport

    ctx = open_context(args)
    inputs = gather_for_cli(ctx)
    report = HealthReport.of(inputs.now, run_checks(inputs))
    print(report.to_json() if args.json else report.to_text())
    return report.exit_code
