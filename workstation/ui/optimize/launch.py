"""How the app starts ``workstation optimize``: the command line of a search set up in the
Optimize window.

A search runs in its own process (which starts the Dask cluster's worker processes, or
reaches a scheduler by address), never in the app's: the Qt loop only reads its progress
lines. The program is :func:`workstation.launch.workstation_command` (this interpreter running
the package, or the bundle's executable). The search sees the app's home, market and
simulated seed, which go before the command (``--seed`` after it seeds the search).
"""

from __future__ import annotations

from dataclasses import dataclass

from workstation.core.config import Config
from workstation.errors import UserError
from workstation.ui.command_launch import CommandLaunch, describe

SEARCH_KINDS = ("auto", "grid", "random", "tpe")


@dataclass(frozen=True)
class OptimizeForm:
    """A search as set up in the window. Empty text / 0: the command's default (the period
    of ``app.yaml``'s backtest, the grid's size or 50 trials, one worker per core, a local
    cluster). ``resume``: continue the search of that id instead (the rest is ignored)."""

    params: tuple[str, ...] = ()  # KEY=SPEC
    first: str = ""
    last: str = ""
    search: str = "auto"
    trials: int = 0
    objective: str = "sharpe"
    min_trades: int = 10
    walk_forward: str = ""
    seed: int = 0
    workers: int = 0
    scheduler: str = ""
    resume: str = ""


def check_form(cfg: Config, form: OptimizeForm) -> None:
    """The checks ``workstation optimize`` makes before loading anything (the parameters
    against the schema's ranges, the search, the walk-forward), on the window's side so a
    mistake is one line in the form at once. Raises UserError."""
    if form.resume:
        return
    from workstation.research.optimize import SearchRequest, check_request

    check_request(
        cfg,
        SearchRequest(
            params=form.params,
            search=None if form.search == "auto" else form.search,
            trials=form.trials or None,
            objective=form.objective,
            min_trades=form.min_trades,
            walk_forward=form.walk_forward or None,
            seed=form.seed,
        ),
    )
    if form.search not in SEARCH_KINDS:
        raise UserError(f"search {form.search!r}: choose from {', '.join(SEARCH_KINDS)}")


@dataclass(frozen=True)
class OptimizeLaunch(CommandLaunch):
    """What the app was started with that a search must share (its home, market, seed, and
    the universe file, given before the command)."""

    def global_args(self) -> list[str]:
        out = super().global_args()
        if self.universe_csv:
            out += ["--universe", self.universe_csv]
        return out

    def arguments(self, form: OptimizeForm) -> list[str]:
        """The arguments of ``workstation optimize`` for ``form`` (JSON out, JSON progress)."""
        args = [*self.global_args(), "optimize", "--json", "--progress", "json"]
        if form.workers:
            args += ["--workers", str(form.workers)]
        if form.scheduler:
            args += ["--scheduler", form.scheduler]
        if form.resume:
            return [*args, "--resume", form.resume, *self.extra]
        for p in form.params:
            args += ["--param", p]
        for option, value in (("--from", form.first), ("--to", form.last)):
            if value:
                args += [option, value]
        if form.search != "auto":
            args += ["--search", form.search]
        if form.trials:
            args += ["--trials", str(form.trials)]
        args += ["--objective", form.objective, "--min-trades", str(form.min_trades)]
        if form.walk_forward:
            args += ["--walk-forward", form.walk_forward]
        args += ["--seed", str(form.seed)]
        return [*args, *self.extra]


__all__ = ["SEARCH_KINDS", "OptimizeForm", "OptimizeLaunch", "check_form", "describe"]
