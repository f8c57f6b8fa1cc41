"""Sub-commands of the ``workstation`` CLI, one module each."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from workstation.commands import (
    advise_cmd,
    backtest_cmd,
    config_cmd,
    health_cmd,
    market_cmd,
    notify_cmd,
    optimize_cmd,
    report_cmd,
    run_cmd,
    scan_cmd,
    store_cmd,
)

MODULES = [
    config_cmd,
    market_cmd,
    scan_cmd,
    run_cmd,
    backtest_cmd,
    optimize_cmd,
    report_cmd,
    store_cmd,
    notify_cmd,
    health_cmd,
    advise_cmd,
]


def register_all(sub: Any, global_options: Callable[[argparse.ArgumentParser], None]) -> None:
    for mod in MODULES:
        mod.register(sub, global_options)


def default_command(args: argparse.Namespace) -> int:
    """No command: the desktop app on the simulated market."""
    from workstation.commands.launch import launch

    return launch(args)
