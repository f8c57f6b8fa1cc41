"""Configuration: validation messages name file, key, value and range; saves are atomic."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from workstation.core.config import Config
from workstation.core.config_files import (
    ConfigError,
    ConfigManager,
    atomic_write,
    check_file,
    history,
    load_config,
)
from workstation.core.paths import Paths, shipped_config_dir


def write(dir_: Path, name: str, text: str) -> Path:
    p = dir_ / name
    p.write_text(text, encoding="utf-8")
    return p


def test_shipped_config_is_valid_and_matches_the_spec_defaults() -> None:
    cfg = load_config(shipped_config_dir())
    assert cfg == Config(strategies=cfg.strategies)  # YAML equals the coded defaults
    r = cfg.risk
    assert (r.gap.max_abs_gap, r.exits.emergency_pct, r.exits.time_exit_day) == (0.03, 0.07, 5)
    assert (r.sizing.risk_per_trade, r.sizing.max_position_pct) == (0.005, 0.15)
    assert (r.portfolio.daily_loss_limit, r.portfolio.pdt_equity_min) == (0.02, 25_000.0)
    assert cfg.scanner.ranking.top_n == 12 and cfg.scanner.ranking.max_per_sector == 3
    assert cfg.schedule.group_b_at.strftime("%H:%M") == "09:50"
    assert list(cfg.strategy_order()) == [
        "rsi_reversion",
        "bb_squeeze",
        "adx_pullback",
        "overbought_short",
        "regime_momentum",
    ]


BAD = [
    (
        "risk.yaml",
        "gap:\n  max_abs_gap: 1.5\n",
        "risk.yaml: gap.max_abs_gap = 1.5 is out of range: allowed [0 .. 1]",
    ),
    (
        "risk.yaml",
        "sizing:\n  risk_per_trade: 0\n",
        "risk.yaml: sizing.risk_per_trade = 0 is out of range: allowed (0 .. 0.1]",
    ),
    (
        "risk.yaml",
        "exits:\n  time_exit_day: 2.5\n",
        "risk.yaml: exits.time_exit_day = 2.5 is not valid: expected a whole number",
    ),
    (
        "risk.yaml",
        "exits:\n  emergency_pct: seven\n",
        "risk.yaml: exits.emergency_pct = 'seven' is not valid: expected a number",
    ),
    (
        "risk.yaml",
        "gap:\n  on_no_premarket: maybe\n",
        "risk.yaml: gap.on_no_premarket = 'maybe' is not valid: allowed one of keep, drop",
    ),
    ("risk.yaml", "gap:\n  max_abs_gapp: 0.03\n", "risk.yaml: unknown key 'gap.max_abs_gapp'"),
    (
        "risk.yaml",
        "exits:\n  time_exit_at: '25:00'\n",
        "risk.yaml: exits.time_exit_at = '25:00' is not valid: expected a time of day",
    ),
    (
        "risk.yaml",
        "portfolio:\n  daily_loss_limit: .nan\n",
        "risk.yaml: portfolio.daily_loss_limit = nan is not valid: expected a finite number",
    ),
    (
        "schedule.yaml",
        "group_b_at: '09:20'\n",
        "group_a_until (09:28) must not be after group_b_at",
    ),
    ("scanner.yaml", "ranking:\n  w_fit: 0.30\n", "score weights must add up to 1.0"),
    (
        "scanner.yaml",
        "eligibility:\n  min_bars: -1\n",
        "scanner.yaml: eligibility.min_bars = -1 is out of range: allowed [1 .. 2000]",
    ),
    ("app.yaml", "mode: real\n", "app.yaml: mode = 'real' is not valid: allowed one of sim"),
    ("app.yaml", "market: nasdaq\n", "market = 'nasdaq' is not valid"),
    (
        "strategies.yaml",
        "rsi_reversion:\n  sl_atr: 0\n",
        "strategies.yaml: rsi_reversion.sl_atr = 0 is out of range",
    ),
    (
        "strategies.yaml",
        "rsi_revertion:\n  sl_atr: 1\n",
        "strategies.yaml: unknown strategy 'rsi_revertion'",
    ),
    ("risk.yaml", "gap: [1, 2\n", "risk.yaml: is not valid YAML at line"),
    ("risk.yaml", "- 1\n- 2\n", "risk.yaml: top level must be a mapping"),
]


@pytest.mark.parametrize(("name", "text", "message"), BAD, ids=[f"{n}:{m[:40]}" for n, _, m in BAD])
def test_bad_values_are_named_with_their_range(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        check_file(write(tmp_path, name, text))
    assert any(message in e for e in exc.value.errors), exc.value.errors


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    p = write(tmp_path, "risk.yaml", "gap:\n  max_abs_gap: 2\nexits:\n  emergency_pct: -1\n")
    with pytest.raises(ConfigError) as exc:
        check_file(p)
    assert len(exc.value.errors) == 2


def test_yaml_11_sexagesimal_times_are_read_as_clock_times(tmp_path: Path) -> None:
    # Unquoted 09:50 is the integer 590 in YAML 1.1; it must still mean 09:50.
    sched = check_file(write(tmp_path, "schedule.yaml", "group_b_at: 09:50\nscan_at: 20:00\n"))
    assert sched.group_b_at.strftime("%H:%M") == "09:50"
    assert sched.scan_at.strftime("%H:%M") == "20:00"


@pytest.fixture
def cfg_dir(tmp_path: Path) -> Path:
    return Paths.resolve(tmp_path / "h").ensure().config_dir


def test_first_run_seeds_config_from_the_shipped_defaults(cfg_dir: Path) -> None:
    names = sorted(p.name for p in cfg_dir.glob("*.yaml"))
    assert names == sorted(p.name for p in shipped_config_dir().glob("*.yaml"))


def test_seeding_never_overwrites_a_users_file(tmp_path: Path) -> None:
    paths = Paths.resolve(tmp_path / "h")
    paths.config_dir.mkdir(parents=True)
    write(paths.config_dir, "risk.yaml", "gap:\n  max_abs_gap: 0.05\n")
    paths.ensure()
    assert "0.05" in (paths.config_dir / "risk.yaml").read_text()


def test_home_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKSTATION_HOME", str(tmp_path / "envhome"))
    assert Paths.resolve().config_dir == (tmp_path / "envhome" / "config").resolve()
    assert Paths.resolve(tmp_path / "x").data_dir == (tmp_path / "x" / "data").resolve()


def test_a_bad_reload_keeps_the_previous_good_configuration(cfg_dir: Path) -> None:
    mgr = ConfigManager(cfg_dir)
    good = mgr.current
    write(cfg_dir, "risk.yaml", "gap:\n  max_abs_gap: 9\n")
    ok, errors = mgr.reload()
    assert not ok and "gap.max_abs_gap = 9" in errors[0]
    assert mgr.current is good
    write(cfg_dir, "risk.yaml", "gap:\n  max_abs_gap: 0.04\n")
    assert mgr.reload() == (True, ())
    assert mgr.current.risk.gap.max_abs_gap == 0.04
    assert mgr.current.param_hash != good.param_hash


def test_save_is_validated_atomic_and_keeps_the_previous_version(cfg_dir: Path) -> None:
    mgr = ConfigManager(cfg_dir)
    before = (cfg_dir / "risk.yaml").read_text()
    with pytest.raises(ConfigError):
        mgr.save("risk.yaml", "gap:\n  max_abs_gap: 4\n")
    assert (cfg_dir / "risk.yaml").read_text() == before  # nothing written
    assert history(mgr.history_dir, "risk.yaml") == []

    saved = mgr.save("risk.yaml", "gap:\n  max_abs_gap: 0.025\n")
    assert saved is not None and saved.read_text() == before
    assert mgr.current.risk.gap.max_abs_gap == 0.025
    assert not list(cfg_dir.glob(".*.tmp"))  # no temp file left behind

    mgr.restore(saved)
    assert (cfg_dir / "risk.yaml").read_text() == before
    assert mgr.current.risk.gap.max_abs_gap == 0.03
    assert len(history(mgr.history_dir, "risk.yaml")) == 2


def test_atomic_write_failure_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = write(tmp_path, "a.yaml", "old: 1\n")
    import os

    def boom(*_a: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write(target, "new: 2\n")
    assert target.read_text() == "old: 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.yaml"]


def test_param_hash_is_stable_and_ignores_app_settings(cfg_dir: Path) -> None:
    a = load_config(cfg_dir)
    write(cfg_dir, "app.yaml", "theme: light\n")
    b = load_config(cfg_dir)
    assert a.param_hash == b.param_hash
    data = yaml.safe_load((cfg_dir / "strategies.yaml").read_text())
    data["rsi_reversion"]["sl_atr"] = 1.6
    write(cfg_dir, "strategies.yaml", yaml.safe_dump(data, sort_keys=False))
    assert load_config(cfg_dir).param_hash != a.param_hash
