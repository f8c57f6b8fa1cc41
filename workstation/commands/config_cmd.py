"""``workstation config check [PATH]``: validate a YAML file or the active configuration."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workstation.core.config_files import ConfigError, check_file, load_config
from workstation.core.paths import Paths


def register(sub: Any, global_options: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("config", help="check the configuration")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = csub.add_parser(
        "check",
        help="validate a YAML file, or the active configuration; "
        "exit 0 when valid, 2 with the messages when not",
    )
    check.add_argument("path", nargs="?", help="a configuration file (default: all active files)")
    global_options(check)
    check.set_defaults(handler=run_check)


def run_check(args: argparse.Namespace) -> int:
    try:
        if args.path:
            path = Path(args.path)
            if not path.is_file():
                print(f"{path}: no such file", file=sys.stderr)
                return 2
            check_file(path)
            print(f"{path}: valid")
        else:
            paths = Paths.resolve(args.home).ensure()
            cfg = load_config(paths.config_dir)
            print(f"{paths.config_dir}: valid (parameter set {cfg.param_hash})")
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        return 2
    return 0
