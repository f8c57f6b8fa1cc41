"""Open the workstation's home: its folders and the validated configuration.

Import-light on purpose (no pandas, no Qt): the app calls it before showing the window,
and every CLI command through :func:`workstation.context.open_context`.
"""

from __future__ import annotations

import argparse
import dataclasses

from workstation.core.config import SimConfig
from workstation.core.config_files import ConfigError, ConfigManager
from workstation.core.paths import Paths
from workstation.core.schema import bounds_of
from workstation.errors import UserError


def check_options(args: argparse.Namespace) -> None:
    """The global options argparse cannot range-check, against the schema's own ranges."""
    seed = getattr(args, "seed", None)
    if seed is not None:
        bounds = bounds_of(next(f for f in dataclasses.fields(SimConfig) if f.name == "seed"))
        lo, hi = int(bounds.lo or 0), int(bounds.hi or 0)
        if not lo <= seed <= hi:
            raise UserError(f"--seed {seed} is not valid: give a whole number from {lo} to {hi}")


def ensure_home(args: argparse.Namespace) -> Paths:
    """The folders of ``--home``, created and seeded; one UserError when they cannot be
    (a file in the way, a read-only folder)."""
    check_options(args)
    paths = Paths.resolve(getattr(args, "home", None))
    try:
        paths.ensure()
    except OSError as exc:
        where = exc.filename or paths.home
        raise UserError(
            f"cannot use the home folder {paths.home}: {exc.strerror or exc} ({where}); "
            "choose another with --home, or fix its permissions"
        ) from exc
    return paths


def open_home(args: argparse.Namespace) -> tuple[Paths, ConfigManager]:
    """The folders of ``--home`` (created and seeded) and the configuration in force; one
    clear UserError when the folder is unusable or the configuration is invalid."""
    paths = ensure_home(args)
    try:
        config = ConfigManager(paths.config_dir, paths.config_history_dir)
    except ConfigError as exc:
        first = exc.errors[0]
        more = f" (and {len(exc.errors) - 1} more)" if len(exc.errors) > 1 else ""
        raise UserError(
            f"configuration is invalid: {first}{more}; run 'workstation config check' for "
            "the full list",
            exit_code=2,
        ) from exc
    return paths, config
