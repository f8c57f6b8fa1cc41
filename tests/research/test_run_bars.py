"""The bars a backtest keeps in its store (``keep_bars``): for each traded symbol from
``BEFORE`` sessions before its first entry to ``AFTER`` after its last exit, the benchmark over
the whole period, rows with no close left out. Checked against the definition written out
symbol by symbol (the implementation does it in one vectorised pass)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from tests.unit.research_plant import Planted, plant
from workstation.core.bars import DailyBars
from workstation.core.calendar import get_calendar
from workstation.research.run_bars import AFTER, BEFORE, FEED, keep_bars
from workstation.store import Store

CAL = get_calendar()


def _bars() -> DailyBars:
    days = CAL.sessions_in_range(date(2022, 1, 3), date(2024, 6, 28))
    syms = (*(f"S{i:02d}" for i in range(12)), "SPY")
    rng = np.random.default_rng(5)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (len(days), len(syms))), axis=0))
    close[:40, 3] = np.nan  # listed late
    close[200:203, 5] = np.nan  # a hole
    return DailyBars(
        np.array(days, dtype="datetime64[D]"), syms, close * 0.99, close * 1.01,
        close * 0.98, close, np.full_like(close, 1e6),
    )  # fmt: skip


def _expected(bars: DailyBars, spans: dict[str, tuple[date, date]]) -> pd.DataFrame:
    parts = []
    for sym, (start, end) in spans.items():
        i = max(int(np.searchsorted(bars.dates, np.datetime64(start, "D"))) - BEFORE, 0)
        stop = int(np.searchsorted(bars.dates, np.datetime64(end, "D"), side="right"))
        j = min(stop + AFTER, len(bars.dates)) - 1
        one = bars.select([sym]).to_long()
        d = one["date"].to_numpy().astype("datetime64[D]")
        parts.append(one[(d >= bars.dates[i]) & (d <= bars.dates[j])])
    return pd.concat(parts).sort_values(["symbol", "date"]).reset_index(drop=True)


def test_each_traded_symbol_and_the_benchmark_over_their_spans(tmp_path: Path) -> None:
    bars = _bars()
    days = [d.astype(object) for d in bars.dates]

    def trade(sym: str, side: str, entry: int, exit_: int, reason: str) -> Planted:
        return Planted(sym, "rsi_reversion", side, 10, 100.0, 99.0, days[entry], days[exit_],
                       reason, "TREND")  # fmt: skip

    trades = [
        trade("S03", "long", 300, 305, "TIME_EXIT"),
        trade("S03", "long", 400, 404, "STOP_LOSS"),
        trade("S05", "short", 450, 455, "TAKE_PROFIT"),
        trade("S07", "long", -5, -2, "STOP_LOSS"),
        trade("S01", "long", 100, 103, "STOP_LOSS"),
    ]
    path = plant(tmp_path / "run.db", 100_000.0, [(d, 100_000.0) for d in days[280:]], trades)
    first, last = days[280], days[-1]
    with Store.open(path) as store:
        kept = keep_bars(store, bars, "SPY", first, last)
        got = store.get_bars(list(kept), None, None, FEED)
    spans = {
        "S01": (days[100], days[103]),
        "S03": (days[300], days[404]),
        "S05": (days[450], days[455]),
        "S07": (days[-5], days[-2]),
        "SPY": (first, last),
    }
    assert kept == tuple(sorted(spans))
    want = _expected(bars, spans)
    got = got.sort_values(["symbol", "date"]).reset_index(drop=True)
    assert len(got) == len(want) > 0
    assert list(got["symbol"]) == list(want["symbol"])
    assert (pd.to_datetime(got["date"]).dt.date == pd.to_datetime(want["date"]).dt.date).all()
    for f in ("open", "high", "low", "close", "volume"):
        np.testing.assert_allclose(got[f].to_numpy(float), want[f].to_numpy(float))
