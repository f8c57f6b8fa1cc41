"""Open the workstation's home: its folders and the validated configuration.

Import-light on purpose (no pandas, no Qt): the app calls it before showing the window,
and every CLI command through :func:`workstation.context.open_context`.
"""

from __future__ import annotations

import argparse

from workstation.core.config_files import ConfigError, ConfigManager
from workstation.core.paths import Paths
from workstation.errors import UserError


def open_home(args: argparse.Namespace) -> tuple[Paths, ConfigManager]:
    """The folders of ``--home`` (created and seeded) and the configuration in force; one
    clear UserError when the folder is unusable or the configuration is invalid."""
    paths = Paths.resolve(getattr(args, "home", None))
    try:
        paths.ensure()
    except OSError as exc:
        raise UserError(
            f"cannot use the home folder {paths.config_dir.parent}: "
            f"{exc.strerror or exc}; choose another with --home"
        ) from exc
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
