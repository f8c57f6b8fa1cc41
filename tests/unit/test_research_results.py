"""The ``backtest --json`` object and the scenario table, on planted stores."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from tests.unit.research_plant import EQUITY, INFO, SPY, START, D, Planted, plant, plant_example
from workstation.engine.trade_record import TRADE_FIELDS
from workstation.research.results import (
    COMPARISON_FIGURES,
    analyze,
    backtest_json,
    results_json,
)
from workstation.research.run_info import MODELLING_ASSUMPTIONS, RunInfo
from workstation.research.stats import Period, StatsOptions

KEYS = [
    "period",
    "market",
    "param_hash",
    "universe",
    "stats",
    "by_strategy",
    "by_regime",
    "by_exit_reason",
    "by_year",
    "benchmark",
    "trades",
    "scenarios",
]


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    return plant_example(tmp_path / "a.db")


def test_the_json_object(planted: Path) -> None:
    j = backtest_json(planted, INFO, benchmark_closes=SPY)
    assert set(KEYS) <= set(j)
    assert j["period"] == {"start": "2023-12-27", "end": "2024-01-08", "sessions": 8}
    assert j["market"] == "replay:/data/sp500.parquet"
    assert j["param_hash"] == "planted" and j["param_hashes"] == ["planted"]
    assert j["universe"] == {
        "mode": "point-in-time",
        "coverage": {"members": 505, "with_data": 480, "ratio": pytest.approx(480 / 505)},
    }
    assert j["fill_model"] == "pessimistic" and j["costs"]["slippage_bps"] == 5.0
    assert j["assumptions"] == list(MODELLING_ASSUMPTIONS)
    assert j["stats"]["n_trades"] == 5 and j["stats"]["win_rate"] == pytest.approx(0.4)
    assert j["stats"]["null_reasons"] == {}  # every figure is defined on this sample
    bb = j["by_strategy"]["bb_squeeze"]
    assert bb["n_trades"] == 3 and bb["small_sample"] is True
    assert bb["mfe_r"]["n"] == 3 and bb["mae_r"]["p50"] == pytest.approx(-0.25)
    assert set(j["by_regime"]) == {"TREND", "RANGING", "HIGH_VOL", "unknown"}
    assert set(j["by_exit_reason"]) == {"STOP_LOSS", "TAKE_PROFIT", "TIME_EXIT"}
    assert set(j["by_year"]) == {"2023", "2024"}
    assert j["benchmark"]["base_close"] == 470.0
    assert [t["symbol"] for t in j["trades"]] == ["AAA", "BBB", "CCC", "DDD", "EEE"]
    assert all(tuple(t) == TRADE_FIELDS for t in j["trades"])
    assert j["trades"][2]["side"] == "short" and j["trades"][2]["r"] == pytest.approx(5.0)
    assert j["scenarios"] == []  # one run: no comparison table
    assert json.loads(json.dumps(j, allow_nan=False)) == j


def test_given_param_hash_and_period_win(planted: Path) -> None:
    info = RunInfo(
        market="sim", universe_mode="current", param_hash="abc", period=Period(D[3], D[-1])
    )
    j = backtest_json(planted, info)
    assert j["param_hash"] == "abc" and j["param_hashes"] == ["planted"]
    assert j["period"]["start"] == "2024-01-02" and j["stats"]["n_trades"] == 4


def test_scenario_comparison_table(planted: Path, tmp_path: Path) -> None:
    other = plant(
        tmp_path / "b.db",
        START,
        [(D[0], 99_000.0), (D[1], 99_500.0)],
        [Planted("ZZZ", "bb_squeeze", "long", 10, 10.0, 9.0, D[0], D[1], "STOP_LOSS", "TREND")],
    )
    main = analyze(planted, INFO)
    gap2 = analyze(
        other,
        RunInfo(market="sim", universe_mode="current", name="gap-2", overrides={"gap": 0.02}),
        options=StatsOptions(min_trades=1),
    )
    j = results_json(main, scenarios=[gap2])
    rows = j["scenarios"]
    assert [r["name"] for r in rows] == ["combined", "gap-2"]
    assert rows[1]["overrides"] == {"gap": 0.02}
    assert rows[1]["fill_model"] == "standard" and rows[0]["fill_model"] == "pessimistic"
    for r in rows:
        assert set(COMPARISON_FIGURES) <= set(r)
    assert rows[0]["total_return"] == pytest.approx(EQUITY[-1] / START - 1)
    assert rows[1]["n_trades"] == 1 and rows[1]["small_sample"] is False
    assert rows[1]["profit_factor"] == 0.0
    assert rows[1]["win_rate"] == 0.0
    # the null figures of a row carry their reasons
    assert rows[1]["calmar"] is not None
    no_dd = plant(tmp_path / "c.db", START, [(D[0], 100_100.0), (D[1], 100_200.0)])
    up = analyze(no_dd, RunInfo(market="sim", universe_mode="current", name="up"))
    row = results_json(main, scenarios=[up])["scenarios"][1]
    assert row["calmar"] is None and "no drawdown" in row["null_reasons"]["calmar"]
    assert row["profit_factor"] is None and row["null_reasons"]["profit_factor"] == "no trades"
    json.dumps(j, allow_nan=False)


def test_a_store_without_scans_has_no_param_hash(tmp_path: Path) -> None:
    bare = plant(tmp_path / "bare.db", START, [(date(2024, 1, 2), 100_100.0)])
    j = backtest_json(bare, RunInfo(market="sim", universe_mode="current"))
    assert j["param_hash"] is None and j["param_hashes"] == []
