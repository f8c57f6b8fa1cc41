"""The search space: every --param SPEC form, and every mistake refused in one line naming the
option before anything starts (the schema's ranges, whole numbers, words for numbers)."""

from __future__ import annotations

import pytest

from tests.research.support import make_home
from workstation.core.config import Config
from workstation.core.config_files import ConfigManager
from workstation.research.optimize.objective import Objective
from workstation.research.optimize.space import (
    ParamSpec,
    SpaceError,
    check_space,
    parse_param,
)
from workstation.research.optimize.spec import SearchSpec, plan_search


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Config:
    home = make_home(tmp_path_factory.mktemp("space") / "home")
    return ConfigManager(home / "config", home / "config" / "history").current


@pytest.mark.parametrize(
    ("arg", "kind", "grid"),
    [
        ("strategies.bb_squeeze.sl_atr=1.5,2,2.5", "list", (1.5, 2, 2.5)),
        ("strategies.bb_squeeze.sl_atr=1.0:2.0:0.25", "float", (1.0, 1.25, 1.5, 1.75, 2.0)),
        ("risk.gap.max_abs_gap=0.01:0.05:0.01", "float", (0.01, 0.02, 0.03, 0.04, 0.05)),
        ("strategies.bb_squeeze.sl_atr=1.0:3.0", "float", None),
        ("risk.exits.time_exit_day=int:3:7", "int", (3, 4, 5, 6, 7)),
        ("risk.exits.time_exit_day=int:2:10:4", "int", (2, 6, 10)),
        ("risk.exits.emergency_pct=log:0.01:0.1", "log", None),
        ("risk.exits.emergency_pct=log:0.01:0.16:3", "log", (0.01, 0.04, 0.16)),
        ("app.backtest.fill_model=path,pessimistic", "list", ("path", "pessimistic")),
        ("strategies.rsi_reversion.enabled=true,false", "list", (True, False)),
    ],
)  # fmt: skip
def test_every_spec_form(cfg: Config, arg: str, kind: str, grid: tuple | None) -> None:
    p = parse_param(arg)
    assert p.kind == kind
    got = p.grid()
    if grid is None:
        assert got is None
    else:
        assert got == pytest.approx(grid) if kind in ("float", "log") else got == grid
    check_space(cfg, [p])  # valid against the shipped configuration


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["risk.exits.time_exit_day"], "write KEY=SPEC"),
        (["risk.exits.time_exit_day="], "write KEY=SPEC"),
        (["risk.exits.nope=1,2"], "unknown key 'exits.nope'"),
        (["strategies.nope.sl_atr=1,2"], "unknown key 'nope.sl_atr'"),
        (["bogus.key=1,2"], "is not a parameter key"),
        (["risk.exits.time_exit_day=int:0:5"], "time_exit_day = 0 is out of range: allowed [1 .."),
        (["risk.exits.time_exit_day=int:3:200"], "out of range: allowed [1 .. 100]"),
        (["risk.exits.time_exit_day=2.5,3"], "expected a whole number"),
        (["risk.exits.time_exit_day=1.0:3.0:0.5"], "is a whole number: use int:LO:HI"),
        (["risk.exits.time_exit_day=1.0:3.0"], "is a whole number: use int:LO:HI"),
        (["strategies.bb_squeeze.sl_atr=0.05:2:0.5"],
         "sl_atr = 0.05 is out of range: allowed [0.1 .. 20]"),
        (["strategies.bb_squeeze.sl_atr=1.0:30.0"], "sl_atr = 30.0 is out of range"),
        (["strategies.bb_squeeze.sl_atr=wide,narrow"], "expected a number"),
        (["app.backtest.fill_model=path,optimistic"], "allowed one of path, pessimistic"),
        (["app.backtest.fill_model=1:3"], "is not a number ('path')"),
        (["risk.exits.emergency_pct=log:0:0.1"], "a log range needs values above 0"),
        (["risk.exits.emergency_pct=0.1:0.05"], "at or below its start"),
        (["risk.exits.emergency_pct=0.01:0.05:0"], "the step must be above 0"),
        (["risk.exits.emergency_pct=0.01:0.05:x"], "'x' is not a number"),
        (["risk.exits.time_exit_day=int:3:7:0"], "the step must be 1 or more"),
        (["risk.exits.time_exit_day=int:3.5:7"], "int ranges take whole numbers"),
        (["risk.exits.time_exit_day=3,3"], "a value is listed twice"),
        (["risk.exits.time_exit_day=3,4", "risk.exits.time_exit_day=5"], "given twice"),
    ],
)  # fmt: skip
def test_a_bad_param_is_one_line_naming_the_option(
    cfg: Config, args: list[str], message: str
) -> None:
    with pytest.raises(SpaceError) as err:
        check_space(cfg, [parse_param(a) for a in args])
    text = str(err.value)
    assert message in text
    assert "\n" not in text
    assert text.startswith("--param ") or "give at least" in text


def test_a_grid_needs_points_and_trials_fit_it(cfg: Config) -> None:
    from datetime import date

    sessions = [date(2024, 1, d) for d in range(2, 12)]
    cont = check_space(cfg, [parse_param("strategies.bb_squeeze.sl_atr=1.0:3.0")])
    with pytest.raises(SpaceError, match="a grid search needs points"):
        plan_search(
            SearchSpec(cont, sessions[0], sessions[-1], Objective("sharpe"), "grid"), sessions
        )
    plan = plan_search(
        SearchSpec(cont, sessions[0], sessions[-1], Objective("sharpe"), "tpe"), sessions
    )
    assert plan.total == 50  # the default for random and tpe
    grid = check_space(
        cfg,
        [
            parse_param("risk.exits.time_exit_day=int:3:8"),
            parse_param("risk.exits.emergency_pct=0.04,0.05,0.06,0.07"),
        ],
    )
    assert grid.grid_size() == 24
    spec = SearchSpec(grid, sessions[0], sessions[-1], Objective("sharpe"), "grid")
    assert plan_search(spec, sessions).total == 24
    with pytest.raises(SpaceError, match="the grid has 24 points"):
        plan_search(
            SearchSpec(grid, sessions[0], sessions[-1], Objective("sharpe"), "grid", trials=25),
            sessions,
        )


def test_scan_affecting_keys_are_named(cfg: Config) -> None:
    space = check_space(
        cfg,
        [
            parse_param("strategies.bb_squeeze.sl_atr=2,3"),
            parse_param("risk.exits.time_exit_day=int:3:5"),
        ],
    )
    assert space.scan_keys == ("strategies.bb_squeeze.sl_atr",)
    assert ParamSpec("scanner.ranking.top_n", "list", "10,12", values=(10, 12)).scan_affecting
