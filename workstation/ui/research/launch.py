"""How the app starts ``workstation backtest``: the command line of a run set up in the window.

A backtest runs in its own process (and that process's scan workers), never in the app's: the
Qt loop only reads its progress lines. The program is the app's own interpreter running the
``workstation`` package, or, in the PyInstaller bundle, the bundle's executable (which takes
the CLI's arguments itself): :func:`workstation.launch.workstation_command`. The run sees the
app's home, market and simulated seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from workstation.core.paths import Paths
from workstation.launch import workstation_command

#: Universe choices besides a CSV file: the configuration's default, or a mode word.
UNIVERSE_DEFAULT = "default"
UNIVERSE_MODES = ("pit", "current")


@dataclass(frozen=True)
class RunRequest:
    """One backtest as set up in the window. ``first``/``last`` None: the command's default
    period; ``params`` None: the parameter files in force; ``universe``: ``default``,
    ``pit``, ``current`` or a CSV path; ``fill_model`` None: ``app.yaml``'s."""

    scenarios: tuple[str, ...] = ("combined",)
    first: date | None = None
    last: date | None = None
    params: str | None = None
    universe: str = UNIVERSE_DEFAULT
    fill_model: str | None = None


@dataclass(frozen=True)
class BacktestLaunch:
    """What the app was started with that a backtest must share (its home, market, seed)."""

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

    def arguments(self, req: RunRequest) -> list[str]:
        """The arguments of ``workstation backtest`` for ``req`` (JSON out, JSON progress)."""
        args = ["backtest", *self.global_args(), "--json", "--progress", "json"]
        if req.first is not None:
            args += ["--from", req.first.isoformat()]
        if req.last is not None:
            args += ["--to", req.last.isoformat()]
        for name in req.scenarios:
            args += ["--scenario", name]
        if req.params:
            args += ["--params", req.params]
        universe = req.universe
        if universe == UNIVERSE_DEFAULT:
            universe = self.universe_csv or ""
        if universe:
            args += ["--universe", universe]
        if req.fill_model:
            args += ["--fill-model", req.fill_model]
        return [*args, *self.extra]

    def command(self, req: RunRequest) -> tuple[str, list[str]]:
        """The program and its arguments (the bundle's executable, or this interpreter
        running the package: :func:`workstation.launch.workstation_command`)."""
        exe, *args = workstation_command(*self.arguments(req))
        return exe, args

    @property
    def db_path(self) -> Path:
        return self.paths.db_path


def describe(args: Sequence[str]) -> str:
    """The command as a user would type it (shown in the window and the log)."""
    shown = ["workstation", *args]
    return " ".join(a if a and " " not in a else repr(a) for a in shown)


__all__ = [
    "UNIVERSE_DEFAULT",
    "UNIVERSE_MODES",
    "BacktestLaunch",
    "RunRequest",
    "describe",
]
