"""Runs read back for the research window, and ``backtest --params``: real backtests (the CLI
as its own process, the simulated market over a few weeks on a small universe), their stores
read with nothing else at hand.

* a finished run keeps the bars of SPY and of every symbol it traded: its benchmark figures
  and its trades' charts read back without the market, equal to what the command printed;
* the listing carries what the store does not (costs, coverage, the risk-free rate) and the
  set the command started from is recorded, so ``--params HASH`` (or a unique beginning)
  backtests it again; an unknown hash is one line, exit 2;
* a run that stops half-way leaves no store; a stopped run's files are removed, a listed
  run's never;
* two runs compared key by key.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.research.support import REPO, make_home, workstation
from workstation.core.config import Config
from workstation.core.config_files import ConfigManager
from workstation.core.param_sets import (
    config_with_params,
    flat_params,
    param_differences,
    params_yaml,
)
from workstation.core.schema import SchemaError
from workstation.errors import UserError
from workstation.research.param_sets import find_param_set
from workstation.research.run_bars import FEED
from workstation.research.runs import (
    delete_store,
    listed_runs,
    open_run,
    parameter_differences,
    remove_unlisted,
    trade_chart,
)
from workstation.store import ParamSetRow, Store

FIRST, LAST = "2025-02-03", "2025-02-28"
SIM_TODAY = "2025-03-11"


def _universe(path: Path) -> Path:
    from workstation.market.universe import sp500_universe

    u = sp500_universe()
    rows = ["symbol,sector", *(f"{s},{u.sector(s)}" for s in sorted(u.symbols)[::16])]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _args(home: Path, csv: Path, *extra: str) -> list[str]:
    return [
        "--home", str(home), "--market", "sim", "--universe", str(csv), "backtest",
        "--from", FIRST, "--to", LAST, "--json", "--progress", "json", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One command, two scenarios (combined and time-exit-3)."""
    root = tmp_path_factory.mktemp("runs")
    home = make_home(root / "home", {"app.yaml": {"sim.today": SIM_TODAY}})
    csv = _universe(root / "universe.csv")
    r = workstation(*_args(home, csv, "--scenario", "combined", "--scenario", "time-exit-3"))
    assert r.returncode == 0, r.stderr
    progress = [json.loads(x)["progress"] for x in r.stderr.splitlines() if x.startswith("{")]
    return {"home": home, "csv": csv, "doc": json.loads(r.stdout), "progress": progress}


def _db(made: dict[str, Any]) -> Path:
    return made["home"] / "data" / "workstation.db"


def test_progress_lines_name_the_store_before_it_exists(made: dict[str, Any]) -> None:
    doc, progress = made["doc"], made["progress"]
    stores = [run["store"] for run in doc["runs"]]
    first = [p for p in progress if p["done"] == 0]
    assert [p["store"] for p in first] == stores  # one announcement per run, before its sessions
    assert [p["scenario"] for p in first] == ["combined", "time-exit-3"]
    assert all(p["store"] in stores for p in progress)
    assert progress[-1]["done"] == progress[-1]["total"] == doc["period"]["sessions"]


def test_a_listed_run_reads_back_as_the_command_printed_it(made: dict[str, Any]) -> None:
    doc = made["doc"]
    rows = {r.scenario: r for r in listed_runs(_db(made))}
    row = rows["combined"]
    assert row.summary["costs"] == doc["costs"]
    assert row.summary["coverage"] == doc["universe"]["coverage"]
    assert row.summary["risk_free_rate"] == 0.0
    run = open_run(row)
    st = run.result.stats
    assert st.period.start == date(2025, 2, 3) and st.period.end == date(2025, 2, 28)
    # The benchmark from the bars the run kept: SPY's figures as the command computed them.
    assert st.benchmark_curve is not None
    for name in ("total_return", "max_drawdown", "sharpe"):
        assert st.benchmark[name] == pytest.approx(doc["benchmark"][name])
        assert st.stats[name] == pytest.approx(doc["stats"][name])
    assert st.stats["n_trades"] == doc["stats"]["n_trades"] == len(doc["trades"]) > 0
    assert run.param("risk.exits.time_exit_day") == 5
    assert run.result.info.coverage is not None
    # It kept SPY and every symbol it traded (positions still open at the end included),
    # and nothing else.
    with Store.open(row.path) as store:
        kept = set(store.bar_cache_last_dates(FEED))
        still_open = {p.symbol for p in store.open_positions()}
    assert kept == {"SPY", *(t["symbol"] for t in doc["trades"]), *still_open}


def test_a_trade_opens_on_its_chart_with_its_levels(made: dict[str, Any]) -> None:
    row = next(r for r in listed_runs(_db(made)) if r.scenario == "combined")
    run = open_run(row)
    for trade in run.result.stats.trades:
        chart = trade_chart(run, trade)
        dates = chart.dates
        assert dates[chart.entry_index] == trade.entry_session
        assert dates[chart.exit_index] == trade.exit_session
        assert chart.entry_index == 20 and len(dates) - 1 - chart.exit_index >= 5  # room around
        assert len(chart.bars) - chart.show >= 200  # the indicators' warm-up before the shown
        bar = chart.bars.iloc[len(chart.bars) - chart.show + chart.exit_index]
        assert bar["low"] - 0.01 <= trade.exit_price <= bar["high"] + 0.01
        assert chart.sltp_index == min(chart.entry_index + 1, chart.exit_index)  # day 2
        long = trade.side == "long"
        low, high = (chart.sl, chart.tp) if long else (chart.tp, chart.sl)
        assert low < trade.entry_price < high
        assert chart.emergency == pytest.approx(trade.entry_price * (0.93 if long else 1.07))


def test_two_runs_differ_in_the_scenarios_key_only(made: dict[str, Any]) -> None:
    rows = {r.scenario: r for r in listed_runs(_db(made))}
    a, b = open_run(rows["combined"]), open_run(rows["time-exit-3"])
    assert parameter_differences(a, b) == [("risk.exits.time_exit_day", 5, 3)]


def test_params_runs_a_recorded_set_and_an_unknown_hash_is_one_line(
    made: dict[str, Any], tmp_path: Path
) -> None:
    home, csv = made["home"], made["csv"]
    with Store.open(_db(made)) as store:
        sets = store.param_sets()
        # The set the command started from is recorded with its time and source.
        assert [s.hash for s in sets] == [made["doc"]["param_hash"]]
        assert sets[0].source.startswith("backtest ")
        # A set recorded by an earlier version of the files: the time exit on day 4.
        cfg = ConfigManager(home / "config").current
        from workstation.core.overrides import apply_overrides

        day4 = apply_overrides(cfg, {"risk.exits.time_exit_day": 4})
        from datetime import UTC, datetime

        store.record_param_set(day4.param_hash, params_yaml(day4), "scan", at=datetime.now(UTC))
    r = workstation(*_args(home, csv, "--params", day4.param_hash[:6], "--to", "2025-02-07"))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["param_hash"] == day4.param_hash
    row = next(x for x in listed_runs(_db(made)) if x.param_hash == day4.param_hash)
    assert open_run(row).param("risk.exits.time_exit_day") == 4
    bad = workstation(*_args(home, csv, "--params", "feedbeef"))
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "--params feedbeef: no parameter set with that hash" in lines[0]
    assert not any(p.stem.endswith("feedbeef") for p in (home / "data" / "backtests").iterdir())


def test_a_run_stopped_half_way_leaves_no_store(made: dict[str, Any]) -> None:
    """Ctrl-C in the middle of a run: the command stops and removes the store it was writing
    (only a finished run's store is kept, and listed)."""
    home, csv = made["home"], made["csv"]
    n_listed = len(listed_runs(_db(made)))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("WORKSTATION_HOME", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "workstation", *_args(home, csv, "--no-cache")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
        start_new_session=True,
    )
    store = None
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("{"):
                p = json.loads(line)["progress"]
                store = Path(p["store"])
                if p["done"] >= 2:
                    break
        assert store is not None and store.is_file()
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the run and its workers
        rest = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, rest[-2000:]
    assert "workstation: stopped" in rest
    assert not store.exists() and not list(store.parent.glob(store.name + "-*"))
    assert len(listed_runs(_db(made))) == n_listed


def test_stopped_runs_files_are_removed_listed_ones_never(
    made: dict[str, Any], tmp_path: Path
) -> None:
    db = _db(made)
    listed = Path(listed_runs(db)[0].path)
    partial = tmp_path / "20250101-000000-combined.db"
    Store.open(partial).close()
    (tmp_path / (partial.name + "-wal")).write_bytes(b"")
    removed = remove_unlisted(db, [listed, partial])
    assert partial not in [listed] and not partial.exists()
    assert set(removed) >= {partial, tmp_path / (partial.name + "-wal")}
    assert listed.is_file()
    assert delete_store(partial) == []


# ------------------------------------------------------------------ parameter sets (no runs)
@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    home = make_home(tmp_path / "home")
    return ConfigManager(home / "config").current


def test_a_recorded_set_rebuilds_the_configuration_it_was_recorded_from(cfg: Config) -> None:
    from workstation.core.overrides import apply_overrides

    other = apply_overrides(cfg, {"strategies.bb_squeeze.sl_atr": 3.0, "scanner.ranking.top_n": 8})
    back = config_with_params(cfg, params_yaml(other))
    assert back.param_hash == other.param_hash
    assert back.app == cfg.app  # app.yaml stays the one in force
    assert back.strategies["bb_squeeze"].sl_atr == 3.0 and back.scanner.ranking.top_n == 8


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("risk: [1, 2\n", "not readable YAML"),
        ("- 1\n", "not a mapping"),
        ("risk: {}\nextra: {}\n", "unknown section(s) extra"),
        ("risk:\n  exits:\n    time_exit_day: 0\n", "time_exit_day = 0 is out of range"),
    ],
)
def test_a_set_that_does_not_validate_names_the_problem(
    cfg: Config, text: str, message: str
) -> None:
    with pytest.raises(SchemaError) as err:
        config_with_params(cfg, text)
    assert message in "\n".join(err.value.errors)


def test_sets_are_found_by_hash_or_a_unique_beginning(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    at = datetime(2025, 3, 11, tzinfo=UTC)
    sets = [ParamSetRow(i, h, at, "", "scan") for i, h in enumerate(("abcd1234", "abce9999"))]
    assert find_param_set(sets, "abcd1234", tmp_path).hash == "abcd1234"
    assert find_param_set(sets, "ABCE", tmp_path).hash == "abce9999"
    more = [*sets, ParamSetRow(3, "abcd5678", at, "", "scan")]
    with pytest.raises(UserError, match="2 recorded parameter sets begin with it") as many:
        find_param_set(more, "abcd", tmp_path)
    assert many.value.exit_code == 2
    with pytest.raises(UserError, match="no parameter set with that hash") as none:
        find_param_set(sets, "ab", tmp_path)  # too short to stand for a hash
    assert none.value.exit_code == 2


def test_parameters_are_compared_key_by_key() -> None:
    a = flat_params(yaml.safe_load("risk: {exits: {time_exit_day: 5, sltp_from_day: 2}}\n"))
    b = flat_params({"risk": {"exits": {"time_exit_day": 3, "sltp_from_day": 2}}, "x": [1]})
    assert a == {"risk.exits.time_exit_day": 5, "risk.exits.sltp_from_day": 2}
    assert param_differences(a, b) == [("risk.exits.time_exit_day", 5, 3), ("x", None, [1])]
