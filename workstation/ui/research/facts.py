"""What the set-up of a backtest offers, read off the Qt loop when the window opens: the
market's data range and the command's default period, the recorded parameter sets, the
scenarios (built-in and the user's ``scenarios.yaml``).

Computed with the command's own functions (``load_history``, ``resolve_period``,
``resolve``'s scenario files), so the window offers exactly what ``workstation backtest``
would do. Nothing here imports Qt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import yaml

from workstation.core.config import Config
from workstation.core.config_files import ConfigManager
from workstation.core.param_sets import flat_params, param_differences
from workstation.errors import UserError
from workstation.research.scenarios import (
    SCENARIOS_FILE,
    Scenario,
    builtin_scenarios,
    load_user_scenarios,
)
from workstation.store import ParamSetRow
from workstation.ui.research.launch import BacktestLaunch


@dataclass(frozen=True)
class ParamSetChoice:
    """A recorded parameter set, and how it differs from the files in force."""

    row: ParamSetRow
    differences: tuple[tuple[str, Any, Any], ...]

    @property
    def hash(self) -> str:
        return self.row.hash


@dataclass(frozen=True)
class SetupFacts:
    current_hash: str
    years: float
    fill_model: str
    universe: str  # app.yaml's backtest.universe
    first: date | None = None  # the command's default period (None: it could not say)
    last: date | None = None
    earliest: date | None = None  # the first session a run may start on
    period_error: str = ""  # why there is no default period
    param_sets: tuple[ParamSetChoice, ...] = ()
    builtin: tuple[Scenario, ...] = ()
    user: tuple[Scenario, ...] = ()
    scenarios_error: str = ""  # scenarios.yaml does not validate (one line)
    problems: tuple[str, ...] = field(default_factory=tuple)


def param_set_choices(cfg: Config, launch: BacktestLaunch) -> tuple[ParamSetChoice, ...]:
    """The recorded parameter sets, newest first, each with its differences from ``cfg``."""
    from workstation.research.param_sets import recorded_param_sets

    current = flat_params(cfg.trading_params())
    out = []
    for row in recorded_param_sets(launch.db_path):
        data = yaml.safe_load(row.yaml)
        theirs = flat_params(data) if isinstance(data, dict) else {}
        out.append(ParamSetChoice(row, tuple(param_differences(current, theirs))))
    return tuple(out)


def setup_facts(launch: BacktestLaunch, config: ConfigManager) -> SetupFacts:
    """Everything the set-up shows (slow: the market's history is loaded once)."""
    from workstation.context import Context
    from workstation.core.calendar import get_calendar
    from workstation.research.history import load_history, resolve_period

    cfg = config.current
    bt = cfg.app.backtest
    first = last = earliest = None
    period_error = ""
    market = launch.market or cfg.app.market
    ctx = Context(launch.paths, config, get_calendar(), market, launch.universe_csv, launch.seed)
    try:
        history = load_history(ctx, None, None, bt.years)
        period = resolve_period(ctx, history, None, None)
        first, last, earliest = period.first, period.last, history.earliest_start
    except UserError as exc:
        period_error = str(exc)
    try:
        user = tuple(load_user_scenarios(launch.paths.config_dir / SCENARIOS_FILE, cfg).values())
        scenarios_error = ""
    except UserError as exc:
        user, scenarios_error = (), str(exc)
    problems = []
    try:
        sets = param_set_choices(cfg, launch)
    except UserError as exc:
        sets = ()
        problems.append(str(exc))
    return SetupFacts(
        current_hash=cfg.param_hash,
        years=bt.years,
        fill_model=bt.fill_model,
        universe=bt.universe,
        first=first,
        last=last,
        earliest=earliest,
        period_error=period_error,
        param_sets=sets,
        builtin=tuple(builtin_scenarios(cfg).values()),
        user=user,
        scenarios_error=scenarios_error,
        problems=tuple(problems),
    )


__all__ = ["ParamSetChoice", "SetupFacts", "param_set_choices", "setup_facts"]
