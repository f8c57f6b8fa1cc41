"""How the app starts ``workstation backtest``: the command line of a run set up in the window.

A backtest runs in its own process (and that process's scan workers), never in the app's: the
Qt loop only reads its progress lines. The program is the app's own interpreter running the
``workstation`` package, or, in the PyInstaller bundle, the bundle's executable (which takes
the CLI's arguments itself): :func:`workstation.launch.workstation_command`. The run sees the
app's home, market and simulated seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from workstation.ui.command_launch import CommandLaunch, describe

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
class BacktestLaunch(CommandLaunch):
    """What the app was started with that a backtest must share (its home, market, seed)."""

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


__all__ = [
    "UNIVERSE_DEFAULT",
    "UNIVERSE_MODES",
    "BacktestLaunch",
    "RunRequest",
    "describe",
]
