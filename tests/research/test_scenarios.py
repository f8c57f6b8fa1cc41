"""Named scenarios and parameter overrides: built-in variants, user scenarios validated like
every configuration file, one clear line for each kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.research.support import make_home
from workstation.core.config import Config
from workstation.core.config_files import ConfigManager
from workstation.core.overrides import apply_overrides, bounds_of_key, current_value
from workstation.core.schema import SchemaError
from workstation.errors import UserError
from workstation.research.scenarios import builtin_scenarios, resolve, scenario_config


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    home = make_home(tmp_path / "home")
    return ConfigManager(home / "config", home / "config" / "history").current


def test_the_desks_scenarios_change_exactly_what_they_name(cfg: Config) -> None:
    sc = builtin_scenarios(cfg)
    assert list(sc)[:1] == ["combined"]
    assert {"no-day1-skip", "time-exit-3", "time-exit-7", "gap-2", "gap-5",
            "fill-pessimistic"} <= set(sc)  # fmt: skip
    assert scenario_config(cfg, sc["combined"]) == cfg
    assert scenario_config(cfg, sc["no-day1-skip"]).risk.exits.sltp_from_day == 1
    assert scenario_config(cfg, sc["time-exit-3"]).risk.exits.time_exit_day == 3
    assert scenario_config(cfg, sc["time-exit-7"]).risk.exits.time_exit_day == 7
    assert scenario_config(cfg, sc["gap-2"]).risk.gap.max_abs_gap == 0.02
    assert scenario_config(cfg, sc["gap-5"]).risk.gap.max_abs_gap == 0.05
    assert scenario_config(cfg, sc["fill-pessimistic"]).app.backtest.fill_model == "pessimistic"
    for name in cfg.strategies:  # each strategy alone
        alone = scenario_config(cfg, sc[name])
        assert [n for n, p in alone.strategies.items() if p.enabled] == [name]
        assert alone.param_hash != cfg.param_hash


def test_all_runs_every_builtin_and_names_are_checked(cfg: Config, tmp_path: Path) -> None:
    assert [s.name for s in resolve([], cfg, tmp_path)] == ["combined"]
    assert [s.name for s in resolve(["all"], cfg, tmp_path)] == list(builtin_scenarios(cfg))
    assert [s.name for s in resolve(["gap-2,gap-5", "gap-2"], cfg, tmp_path)] == [
        "gap-2",
        "gap-5",
    ]
    with pytest.raises(UserError, match="--scenario 'gap-9' is not known: choose from all"):
        resolve(["gap-9"], cfg, tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scenarios:\n  Bad Name:\n    overrides: {risk.gap.max_abs_gap: 0.04}\n",
         "scenario name 'Bad Name' is not valid"),
        ("scenarios:\n  gap-2:\n    overrides: {risk.gap.max_abs_gap: 0.04}\n",
         "'gap-2' is a built-in scenario"),
        ("scenarios:\n  wide:\n    overrides: {risk.gap.max_gap: 0.04}\n",
         "scenario 'wide': risk.yaml: unknown key 'gap.max_gap'"),
        ("scenarios:\n  wide:\n    overrides: {risk.gap.max_abs_gap: 2.0}\n",
         "scenario 'wide': risk.yaml: gap.max_abs_gap = 2.0 is out of range"),
        ("scenarios:\n  wide:\n    overrides: {}\n", "'overrides' must map parameter keys"),
        ("scenarios:\n  wide:\n    overides: {a: 1}\n", "unknown key(s) overides"),
        ("scenarios: [1, 2]\n", "must hold 'scenarios:'"),
        ("scenarios:\n  wide: {overrides: {strategies.nope.sl_atr: 2}}\n",
         "unknown key 'nope.sl_atr'"),
    ],
)  # fmt: skip
def test_a_bad_user_scenario_is_one_line_naming_file_scenario_and_key(
    cfg: Config, tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "scenarios.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(UserError) as err:
        resolve(["combined"], cfg, tmp_path)
    assert message in str(err.value)
    assert "scenarios.yaml" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_user_scenario_runs_beside_the_builtin_ones(cfg: Config, tmp_path: Path) -> None:
    (tmp_path / "scenarios.yaml").write_text(
        "scenarios:\n  wide-stops:\n    description: wider stops\n    overrides:\n"
        "      strategies.rsi_reversion.sl_atr: 2.5\n      risk.exits.time_exit_day: 4\n",
        encoding="utf-8",
    )
    [combined, wide] = resolve(["combined", "wide-stops"], cfg, tmp_path)
    c = scenario_config(cfg, wide)
    assert c.strategies["rsi_reversion"].sl_atr == 2.5
    assert c.risk.exits.time_exit_day == 4
    assert combined.overrides == {}


def test_overrides_by_key_are_validated_by_the_schema(cfg: Config) -> None:
    c = apply_overrides(cfg, {"strategies.bb_squeeze.sl_atr": 3.0, "scanner.ranking.top_n": 10})
    assert c.strategies["bb_squeeze"].sl_atr == 3.0 and c.scanner.ranking.top_n == 10
    assert current_value(c, "strategies.bb_squeeze.sl_atr") == 3.0
    b = bounds_of_key(cfg, "strategies.bb_squeeze.sl_atr")
    assert (b.lo, b.hi) == (0.1, 20.0)
    with pytest.raises(SchemaError) as err:
        apply_overrides(cfg, {"risk.exits.time_exit_day": 0, "bogus.x": 1, "risk.exits.nope": 2})
    text = "\n".join(err.value.errors)
    assert "time_exit_day = 0 is out of range" in text
    assert "'bogus.x' is not a parameter key" in text
    assert "unknown key 'exits.nope'" in text
