"""The simulated market's table of public facts per symbol (workstation/market/data)."""

from __future__ import annotations

import importlib.util
import math
from datetime import date
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from workstation.market.symbol_facts import FACTS_FILE, facts_date, facts_for, stock_rows
from workstation.market.universe import sp500_universe

REPO = Path(__file__).resolve().parents[2]
TABLE = REPO / "workstation" / "market" / "data" / FACTS_FILE


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_symbol_facts", REPO / "scripts" / "make_symbol_facts.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_table_is_small_sane_and_of_one_date() -> None:
    df = pd.read_csv(TABLE)
    assert list(df.columns) == list(_script().COLUMNS)
    assert df["symbol"].is_unique and len(df) >= 500
    assert set(df["date"]) == {"2022-09-09"} and facts_date() == date(2022, 9, 9)
    assert (df["close"] > 0).all() and (df["dollar_volume"] > 0).all()
    assert df["vol"].between(0.05, 1.5).all() and df["beta"].between(-1.0, 4.0).all()
    assert (df["sessions"] >= 100).all()
    # public facts of a handful of names, as printed on 2022-09-09
    closes = df.set_index("symbol")["close"]
    assert closes["AMZN"] == 133.27 and closes["AAPL"] == 157.37 and closes["SPY"] == 406.6
    assert TABLE.stat().st_size < 100_000  # a small table, not a data set


def test_facts_for_keeps_the_order_and_marks_unknown_symbols() -> None:
    f = facts_for(["SPY", "NOPE", "AMZN"])
    assert f.known.tolist() == [True, False, True]
    assert f.close[0] == 406.6 and f.close[2] == 133.27 and math.isnan(f.close[1])
    assert math.isnan(f.vol[1]) and f.beta[0] == 1.0
    assert len(stock_rows()) == len(pd.read_csv(TABLE)) - 1  # SPY is not a stock


def test_most_current_members_have_facts() -> None:
    # The table holds the members of September 2022 (renamed tickers under their new names);
    # members added since take a random row's facts.
    u = sp500_universe()
    known = facts_for(u.symbols).known
    assert known.sum() >= 420, int(known.sum())
    assert facts_for(["COR", "BNY", "CPAY", "GEN", "DOC", "RVTY", "EG"]).known.all()


def test_the_package_ships_no_real_data_file() -> None:
    shipped = [p for p in (REPO / "workstation").rglob("*") if p.is_file()]
    data = [p for p in shipped if p.suffix in (".parquet", ".csv", ".json", ".zip")]
    assert [p.name for p in data] == [FACTS_FILE]
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert '"workstation.market" = ["data/*.csv"]' in pyproject


@pytest.mark.realdata
def test_the_table_is_what_the_script_derives_from_the_real_files(shared_data: Path) -> None:
    script = _script()
    assert script.to_csv(script.derive(shared_data)) == TABLE.read_text(encoding="utf-8")


@pytest.mark.realdata
def test_the_long_run_volatility_is_the_real_returns_stdev(shared_data: Path) -> None:
    bars = pd.read_parquet(
        shared_data / "sp500_daily_2011_2022.parquet",
        columns=["date", "symbol", "close"],
        filters=[("symbol", "==", "KO")],
    ).sort_values("date")
    r = np.diff(np.log(bars["close"].to_numpy()))
    assert facts_for(["KO"]).vol[0] == pytest.approx(r.std(ddof=1) * math.sqrt(252), abs=6e-5)
