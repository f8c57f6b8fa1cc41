"""A backtest over dirty data finishes, names what it skipped, and never trades on a bad bar.

The simulated market's bars with dirt planted on symbols the clean run traded, on sessions it
held them: a bad print (a close of 0.01 that is back the next day: a spike), a day of zero
volume, a missing week (a gap), two disagreeing rows for one session, a negative volume."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.research.support import backtest_doc, make_home, sim_bars_file

FIRST, LAST = "2024-01-22", "2024-02-16"


def _held(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(symbol, entry session, exit session) of the clean run's trades."""
    return [(t["symbol"], t["entry_session"], t["exit_at"][:10]) for t in doc["trades"]]


def _fills(store: str) -> list[tuple[str, str, float]]:
    con = sqlite3.connect(store)
    try:
        rows = con.execute("SELECT symbol, at, price FROM fills").fetchall()
    finally:
        con.close()
    return [(s, pd.Timestamp(at).tz_convert("America/New_York").date().isoformat(), p)
            for s, at, p in rows]  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_a_backtest_over_dirty_data_finishes_names_it_and_never_trades_a_bad_bar(
    tmp_path: Path,
) -> None:
    clean_file = sim_bars_file(tmp_path / "clean.parquet", seed=3, today="2024-06-14", history=420)
    clean = backtest_doc(make_home(tmp_path / "clean"), f"replay:{clean_file}", FIRST, LAST,
                         "--universe", "current")  # fmt: skip
    held = [h for h in _held(clean) if h[2] > h[1]]  # held over at least one night
    assert len(held) >= 5
    df = pd.read_parquet(clean_file)
    df["date"] = pd.to_datetime(df["date"])
    day = lambda s: pd.Timestamp(s)  # noqa: E731
    planted: dict[str, tuple[str, str]] = {}

    def bar(sym: str, on: str) -> pd.Series:
        return (df["symbol"] == sym) & (df["date"] == day(on))

    # 1. a bad print: the close at 0.01 the day after entry, back the next day (a spike)
    sym, entry, _ = held[0]
    d = str(pd.Timestamp(entry) + pd.offsets.BDay(1))[:10]
    df.loc[bar(sym, d), ["low", "close"]] = 0.01
    planted["spike"] = (sym, d)
    # 2. a day with zero volume on a held symbol
    sym, entry, _ = held[1]
    d = str(pd.Timestamp(entry) + pd.offsets.BDay(1))[:10]
    df.loc[bar(sym, d), "volume"] = 0.0
    planted["zero_volume"] = (sym, d)
    # 3. a negative volume: an invalid bar
    sym, entry, _ = held[2]
    d = str(pd.Timestamp(entry) + pd.offsets.BDay(1))[:10]
    df.loc[bar(sym, d), "volume"] = -5.0
    planted["invalid_bar"] = (sym, d)
    # 4. two disagreeing rows for one session
    sym, entry, _ = held[3]
    d = str(pd.Timestamp(entry) + pd.offsets.BDay(1))[:10]
    twin = df.loc[bar(sym, d)].copy()
    twin["close"] = twin["close"] * 1.1
    df = pd.concat([df, twin], ignore_index=True)
    planted["duplicate_conflict"] = (sym, d)
    # 5. a missing week of a held symbol
    sym, entry, _ = held[4]
    gap = (
        (df["symbol"] == sym)
        & (df["date"] > day(entry))
        & (df["date"] <= day(entry) + pd.Timedelta(days=7))
    )
    df = df.loc[~gap]
    dirty_file = tmp_path / "dirty.parquet"
    df.to_parquet(dirty_file)

    doc = backtest_doc(make_home(tmp_path / "dirty"), f"replay:{dirty_file}", FIRST, LAST,
                       "--universe", "current")  # fmt: skip
    # It finished and says what it found and skipped, by kind, symbol and session.
    found = doc["data"]["period"]["by_kind"]
    for kind, (sym, d) in planted.items():
        assert d in found[kind][sym], (kind, sym, d, found.get(kind))
    assert any("spike" in line for line in doc["data"]["source"])
    # No fill on a bar that was not served or did not trade; no fill at a bad print.
    fills = _fills(doc["runs"][0]["store"])
    for kind, (sym, d) in planted.items():
        assert (sym, d) not in {(s, on) for s, on, _ in fills}, (kind, sym, d)
    assert min(p for _, _, p in fills) > 1.0
    assert doc["trades"]  # it traded the rest
