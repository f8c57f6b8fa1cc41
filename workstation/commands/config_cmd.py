"""``workstation config check [PATH]``: validate a YAML file or the active configuration."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workstation.core.config import Config
from workstation.core.config_files import (
    ConfigError,
    check_file,
    config_notes,
    load_config,
    notes_for,
    read_yaml,
)
from workstation.home import ensure_home


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


def _valid(where: str, notes: list[str], built: object) -> None:
    """The verdict, and what the files leave to the defaults or switch off (one per line)."""
    param_set = f" (parameter set {built.param_hash})" if isinstance(built, Config) else ""
    head = f"{where}: valid{param_set}"
    print(head + (f", with {len(notes)} note{'s' if len(notes) > 1 else ''}:" if notes else ""))
    for note in notes:
        print(f"  {note}")


def run_check(args: argparse.Namespace) -> int:
    try:
        if args.path:
            path = Path(args.path)
            if not path.is_file():
                print(f"{path}: no such file", file=sys.stderr)
                return 2
            _valid(str(path), notes_for(path.name, read_yaml(path)), check_file(path))
        else:
            paths = ensure_home(args)
            cfg = load_config(paths.config_dir)
            _valid(str(paths.config_dir), config_notes(paths.config_dir), cfg)
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        return 2
    return 0
