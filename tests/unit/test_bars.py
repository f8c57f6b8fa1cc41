"""DailyBars: long <-> wide, slicing, and the dirt real files carry."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from workstation.core.bars import DailyBars


def long_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": ["2024-01-02", "2024-01-03", "2024-01-02", "2024-01-03", "2024-01-03", None],
            "symbol": ["A", "A", "B", "B", None, "C"],
            "open": [1.0, 2, 3, 4, 9, 9],
            "high": [1.0, 2, 3, 4, 9, 9],
            "low": [1.0, 2, 3, 4, 9, 9],
            "close": [1.0, 2, 3, np.nan, 9, 9],
            "volume": [10.0, 20, 30, 40, 9, 9],
        }
    )


def test_from_long_drops_rows_without_symbol_or_date_and_aligns() -> None:
    b = DailyBars.from_long(long_frame())
    assert b.symbols == ("A", "B")
    assert b.close.tolist()[0] == [1.0, 3.0]
    assert np.isnan(b.close[1, 1])
    assert list(b.last_bar_date().astype(str)) == ["2024-01-03", "2024-01-02"]


def test_round_trip_and_slices() -> None:
    b = DailyBars.from_long(long_frame())
    back = b.to_long()
    assert len(back) == 3  # the NaN-close bar is no bar
    assert b.upto(date(2024, 1, 2)).n_sessions == 1
    assert b.tail(1).dates.tolist() == [date(2024, 1, 3)]
    assert b.select(["B"]).close[:, 0].tolist()[0] == 3.0
    assert b.frame("A")["close"].tolist() == [1.0, 2.0]


def test_empty_and_shape_checks() -> None:
    e = DailyBars.empty(("A",))
    assert e.n_sessions == 0 and e.last_date is None
    assert np.isnat(e.last_bar_date()).all()
    with pytest.raises(ValueError, match="shape"):
        DailyBars(
            np.array(["2024-01-02"], dtype="datetime64[D]"),
            ("A",),
            *(np.zeros((1, 2)) for _ in range(5)),
        )
    with pytest.raises(ValueError, match="ascending"):
        DailyBars(
            np.array(["2024-01-03", "2024-01-02"], dtype="datetime64[D]"),
            ("A",),
            *(np.zeros((2, 1)) for _ in range(5)),
        )
