"""Vectorised indicators against `ta` on the real S&P 500 file: every symbol, full history.

560 symbols (up to 6155 sessions, most 2770), with the file's real dirt: gaps, zero volumes,
highs/lows that do not bracket the open/close. ta runs per symbol (~100 ms each, so ~1 minute
in one process); the reference is split over the CPUs.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.unit.test_indicators import assert_matches
from workstation.core.bars import DailyBars
from workstation.signals.indicators import (
    SERIES_NAMES,
    Indicators,
    compute_indicators,
)
from workstation.signals.ta_reference import ta_reference

pytestmark = pytest.mark.realdata

PARQUET_NAME = "sp500_daily_2011_2022.parquet"


@pytest.fixture(scope="module")
def bars(shared_data: Path) -> DailyBars:
    path = shared_data / PARQUET_NAME
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    cols = ["date", "symbol", "open", "high", "low", "close", "volume"]
    df = pd.read_parquet(path, columns=cols)
    # The file has 6 rows without a symbol (and without prices): not bars of anything.
    return DailyBars.from_long(df.dropna(subset=["symbol"]))


def _reference_in_parallel(bars: DailyBars) -> Indicators:
    workers = max(1, min(4, os.cpu_count() or 1))
    groups = [g for g in np.array_split(np.arange(bars.n_symbols), workers) if len(g)]
    chunks = [bars.select([bars.symbols[j] for j in g]) for g in groups]
    if workers == 1:
        parts = [ta_reference(chunks[0])]
    else:
        # spawn, not fork: the parent has pyarrow's threads running.
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            parts = list(pool.map(ta_reference, chunks))
    t, n = bars.close.shape
    values = {name: np.empty((t, n)) for name in SERIES_NAMES}
    row_dates = np.empty((t, n), dtype="datetime64[D]")
    n_bars = np.empty(n, dtype=np.int64)
    last_date = np.empty(n, dtype="datetime64[D]")
    for g, part in zip(groups, parts, strict=True):
        for name in SERIES_NAMES:
            values[name][:, g] = part[name]
        row_dates[:, g] = part.row_dates
        n_bars[g] = part.n_bars
        last_date[g] = part.last_date
    return Indicators(bars.symbols, values, n_bars, last_date, row_dates, parts[0].params)


def test_every_symbol_full_history_matches_ta(bars: DailyBars) -> None:
    assert bars.n_symbols >= 550 and bars.n_sessions >= 2770

    t0 = time.perf_counter()
    ours = compute_indicators(bars)
    vectorised = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = _reference_in_parallel(bars)
    reference = time.perf_counter() - t0
    print(
        f"\n{bars.n_symbols} symbols x {bars.n_sessions} sessions: vectorised "
        f"{vectorised:.2f} s, ta per symbol {reference:.1f} s"
    )

    np.testing.assert_array_equal(ours.n_bars, ref.n_bars)
    np.testing.assert_array_equal(ours.last_date, ref.last_date)
    np.testing.assert_array_equal(ours.row_dates, ref.row_dates)
    assert_matches(ours, ref)
    # The comparison is not vacuous: most symbols have every indicator today.
    assert ours.all_finite().sum() >= 500
    assert np.isfinite(ours["bw_pct"]).sum() > 1_300_000
