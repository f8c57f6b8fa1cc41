"""The replay market on the real S&P 500 file in ../shared/data (skipped when absent)."""

from __future__ import annotations

import asyncio
import time
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workstation.core.calendar import ET, get_calendar
from workstation.market.replay import ReplayMarket

pytestmark = pytest.mark.realdata

PARQUET_NAME = "sp500_daily_2011_2022.parquet"
ETF_NAME = "etf_daily_1993_2024.csv"
INTRADAY_NAME = "intraday_1min_2019-02-11_to_15"
WEEK = [date(2019, 2, d) for d in (11, 12, 13, 14, 15)]


@pytest.fixture(scope="module")
def files(shared_data: Path) -> dict[str, Path]:
    f = {
        "parquet": shared_data / PARQUET_NAME,
        "etf": shared_data / ETF_NAME,
        "intraday": shared_data / INTRADAY_NAME,
    }
    if not f["parquet"].is_file() or not f["etf"].is_file():
        pytest.skip(f"real data files are absent from {shared_data}")
    return f


@pytest.fixture(scope="module")
def loaded(files: dict[str, Path]) -> tuple[ReplayMarket, float]:
    get_calendar()  # built once per process anyway; not part of the file's load time
    t0 = time.perf_counter()
    m = ReplayMarket(files["parquet"], benchmark_path=files["etf"])
    return m, time.perf_counter() - t0


@pytest.fixture(scope="module")
def market(loaded: tuple[ReplayMarket, float]) -> ReplayMarket:
    return loaded[0]


@pytest.fixture(scope="module")
def raw(files: dict[str, Path]) -> pd.DataFrame:
    return pd.read_parquet(files["parquet"]).dropna(subset=["date", "symbol"])


def test_loads_fast(loaded: tuple[ReplayMarket, float]) -> None:
    # Target < 2 s on an idle machine; the bound leaves room for a busy CI runner.
    assert loaded[1] < 6.0, f"loading the real parquet + SPY took {loaded[1]:.1f} s"


def test_report_finds_the_known_dirt(market: ReplayMarket) -> None:
    rep = market.report
    assert rep.rows_read == 1_466_684
    assert rep.zero_volume == 65  # as the data README says
    assert rep.non_bracketing == 87  # as the data README says (float noise is not counted)
    assert rep.gaps["GPS"] == 39
    assert set(rep.gaps) == {"GPS", "ESRX", "EVHC", "NKTR", "UA", "VNT"}
    assert rep.blank_rows == 5
    # KDP's dividend-only row of 2020-07-01 has no price or volume: a gap, not a bad bar.
    assert rep.empty_rows == 1 and rep.examples["empty_rows"][0].startswith("KDP 2020-07-01")
    assert rep.duplicates == 0 and rep.non_session_dates == 0 and rep.missing_sessions == []
    # §14: real moves of > 50% (PCG, APA, OXY in 2019-2020) hold the next day: no spike.
    assert (rep.invalid_bars, rep.duplicate_conflicts, rep.spikes) == (0, 0, 0)
    assert rep.symbols == 560  # 558 stocks + ^GSPC + IP/WRB-style long histories included
    assert rep.last_date == date(2022, 9, 9)
    assert "BRK-B" in market.bars  # tickers kept as in the file


def test_benchmark_comes_from_the_etf_file_ohlc_not_adj_close(
    market: ReplayMarket, files: dict[str, Path]
) -> None:
    assert market.has_benchmark
    etf = pd.read_csv(files["etf"])
    spy = etf[(etf.symbol == "SPY") & (etf.date == "2019-06-28")].iloc[0]
    got = market.bars.frame("SPY").loc["2019-06-28"]
    for f in ("open", "high", "low", "close", "volume"):
        assert got[f] == pytest.approx(spy[f], rel=1e-12), f
    assert got["close"] != pytest.approx(spy["adj_close"])
    assert "SPY" not in market.universe().symbols
    assert len(market.universe().symbols) == 559  # ^GSPC is an index, not a stock
    assert "^GSPC" not in market.universe().symbols
    assert market.universe().sector("AAPL") == "Information Technology"


def test_daily_bars_equal_the_file(market: ReplayMarket, raw: pd.DataFrame) -> None:
    symbols = [*market.universe().symbols, "SPY"]
    b = asyncio.run(market.daily_bars(symbols, date(2019, 6, 28), 300))
    assert b.close.shape == (300, len(symbols))
    cal = get_calendar()
    assert [d.astype(object) for d in b.dates] == cal.sessions_back(date(2019, 6, 28), 300)

    window = raw[(raw.date >= pd.Timestamp(b.dates[0])) & (raw.date <= pd.Timestamp(b.dates[-1]))]
    for f in ("open", "close", "volume"):
        wide = window.pivot(index="date", columns="symbol", values=f)
        wide = wide.reindex(index=pd.DatetimeIndex(b.dates), columns=symbols[:-1])
        np.testing.assert_array_equal(getattr(b, f)[:, :-1], wide.to_numpy(), err_msg=f)
    # high/low equal the file's, widened where the file did not bracket open/close.
    for f, agg in (("high", np.maximum), ("low", np.minimum)):
        wide = {
            g: window.pivot(index="date", columns="symbol", values=g)
            .reindex(index=pd.DatetimeIndex(b.dates), columns=symbols[:-1])
            .to_numpy()
            for g in ("open", "high", "low", "close")
        }
        expect = agg.reduce([wide["open"], wide["high"], wide["low"], wide["close"]])
        np.testing.assert_array_equal(getattr(b, f)[:, :-1], expect, err_msg=f)
    # Symbols not yet listed on a date are NaN there (e.g. CTVA listed 2019-05-24).
    ctva = b.close[:, symbols.index("CTVA")]
    assert np.isnan(ctva[0]) and np.isfinite(ctva[-1])
    assert np.isfinite(b.close[:, -1]).all()  # SPY on every session


def test_minute_bars_respect_the_real_day(market: ReplayMarket, files: dict[str, Path]) -> None:
    day = date(2019, 2, 11)
    real = market.bars.frame("AAPL").loc["2019-02-11"]
    m = asyncio.run(market.minute_bars("AAPL", day))
    assert len(m) == 390
    assert m.index[0] == datetime(2019, 2, 11, 9, 31, tzinfo=ET)
    assert m["open"].iloc[0] == real["open"]
    assert m["close"].iloc[-1] == real["close"]
    assert m["high"].max() == real["high"] and m["low"].min() == real["low"]
    assert m["volume"].sum() == real["volume"]
    assert (m["low"] <= m[["open", "close"]].min(axis=1)).all()
    assert (m["high"] >= m[["open", "close"]].max(axis=1)).all()
    again = asyncio.run(ReplayMarket(files["parquet"]).minute_bars("AAPL", day))
    pd.testing.assert_frame_equal(m, again)  # reproducible across loads


@pytest.mark.parametrize("symbol", ["AAPL", "MSFT", "JPM"])
def test_synthetic_minutes_resemble_the_real_ones(
    market: ReplayMarket, files: dict[str, Path], symbol: str
) -> None:
    """Loose sanity bounds: per-minute volatility and range within a plausible factor of the
    real 1-minute bars of the same days, and a volume profile shaped like the real one."""
    real_file = files["intraday"] / f"{symbol}_1min.csv"
    if not real_file.is_file():
        pytest.skip(f"{real_file} is absent")
    real = pd.read_csv(real_file, parse_dates=["datetime"]).set_index("datetime")
    vol_ratio, range_ratio, profile_corr = [], [], []
    for day in WEEK:
        r = real.loc[str(day)]
        s = asyncio.run(market.minute_bars(symbol, day))
        # Returns and ranges are relative, so split/dividend adjustment of the daily file
        # does not matter.
        vol_ratio.append(
            np.diff(np.log(s["close"].to_numpy())).std()
            / np.diff(np.log(r["close"].to_numpy())).std()
        )
        range_ratio.append(
            ((s["high"] - s["low"]) / s["close"]).mean()
            / ((r["high"] - r["low"]) / r["close"]).mean()
        )
        rv = r["volume"].reindex(s.index.tz_localize(None)).fillna(0).to_numpy()
        profile_corr.append(np.corrcoef(np.log1p(rv), np.log1p(s["volume"].to_numpy()))[0, 1])
    assert 0.5 < np.mean(vol_ratio) < 2.0, vol_ratio
    assert all(0.3 < x < 3.0 for x in vol_ratio), vol_ratio
    assert 0.5 < np.mean(range_ratio) < 2.5, range_ratio
    assert np.mean(profile_corr) > 0.3, profile_corr


def test_gap_filter_sees_a_pre_market_price_near_the_open(market: ReplayMarket) -> None:
    at = datetime(2019, 2, 11, 9, 25, tzinfo=ET)
    syms = list(market.universe().symbols[:50])
    snaps = asyncio.run(market.snapshots(syms, at))
    row = market.bars.frame("AAPL", dropna=False).index.get_loc(pd.Timestamp("2019-02-11"))
    near = []
    for s in syms:
        day_open = market.bars.open[row, market.bars.col(s)]
        if np.isnan(day_open):
            continue  # not listed yet
        snap = snaps[s]
        assert snap.session_open is None and snap.latest_trade is not None
        assert snap.latest_trade.at < at
        near.append(abs(snap.latest_trade.price / day_open - 1))
    assert len(near) >= 40
    assert np.median(near) < 0.01
