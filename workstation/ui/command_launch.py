"""What the research windows share to start a ``workstation`` command in its own process.

The backtest (:mod:`workstation.ui.research.launch`) and the parameter search
(:mod:`workstation.ui.optimize.launch`) run as child processes that see the app's home, market
and simulated seed; the program is :func:`workstation.launch.workstation_command` (this
interpreter running the package, or the bundle's executable).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workstation.core.paths import Paths
from workstation.launch import workstation_command


@dataclass(frozen=True)
class CommandLaunch:
    """What the app was started with that a child command must share (its home, market,
    seed). A subclass says what its command's :meth:`arguments` are."""

    paths: Paths
    market: str | None = None
    seed: int | None = None
    universe_csv: str | None = None
    extra: tuple[str, ...] = field(default_factory=tuple)

    def global_args(self) -> list[str]:
        p = self.paths
        out: list[str] = []
        if p.config_dir.parent == p.data_dir.parent:  # one home folder: name it
            out += ["--home", str(p.home)]
        if self.market:
            out += ["--market", self.market]
        if self.seed is not None:
            out += ["--seed", str(self.seed)]
        return out

    def arguments(self, request: Any) -> list[str]:
        raise NotImplementedError

    def command(self, request: Any) -> tuple[str, list[str]]:
        """The program and its arguments (the bundle's executable, or this interpreter
        running the package: :func:`workstation.launch.workstation_command`)."""
        exe, *args = workstation_command(*self.arguments(request))
        return exe, args

    @property
    def db_path(self) -> Path:
        return self.paths.db_path


def describe(args: Sequence[str]) -> str:
    """The command as a user would type it (shown in the window and the log)."""
    shown = ["workstation", *args]
    return " ".join(a if a and " " not in a else repr(a) for a in shown)


__all__ = ["CommandLaunch", "describe"]
