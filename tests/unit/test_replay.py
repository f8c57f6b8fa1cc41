"""The replay market over small files with every kind of dirt real data has."""

from __future__ import annotations

import asyncio
import math
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workstation.core.bars import BarFlag
from workstation.core.calendar import ET
from workstation.core.models import Quote, TradeTick
from workstation.market.base import MarketData, MarketDataError
from workstation.market.replay import (
    DataReport,
    ReplayDataError,
    ReplayMarket,
    load_daily_file,
)

# Sessions 2019-02-11 .. 2019-02-19 (Mon 18 Feb is Presidents' Day: no session, no gap).
S = ["2019-02-11", "2019-02-12", "2019-02-13", "2019-02-14", "2019-02-15", "2019-02-19"]


def _clean(symbol: str, base: float, sessions: list[str] = S) -> list[str]:
    rows = []
    for i, d in enumerate(sessions):
        o = base + i
        rows.append(
            f"{d},{symbol},{o:.2f},{o + 1.5:.2f},{o - 1:.2f},{o + 0.5:.2f},{1000 * (i + 1)}"
        )
    return rows


DIRTY_ROWS = [
    "Date,Symbol,OPEN,High,low,Close,Volume,Dividends",  # mixed-case names, extra column
    *[r + ",0" for r in _clean("AAA", 10.0)],
    # BBB: duplicates that disagree (a conflict, not served), zero volume, a non-bracketing
    # bar, a blank volume (an invalid bar).
    "2019-02-11,BBB,20,21,19,20.5,5000,0",
    "2019-02-12,BBB,20,21,19,20.1,5000,0",
    "2019-02-12,BBB,20,21,19,20.7,6000,0",
    "2019-02-13,BBB,20,21,19,20.5,0,0",
    "2019-02-14,BBB,20,20.5,19,20.9,5000,0",  # high 20.5 < close 20.9
    "2019-02-15,BBB,20,21,19,20.5,,0",
    "2019-02-19,BBB,20,21,19,20.5,5000,0",
    # CCC misses 2019-02-13 (a gap) and has a NaN close on 2019-02-19 (an invalid bar).
    *[r + ",0" for r in _clean("CCC", 30.0, [S[0], S[1], S[3], S[4]])],
    "2019-02-19,CCC,30,31,29,,1000,0",
    # DDD: a negative price on 2019-02-12 (an invalid bar, not a gap).
    *[r + ",0" for r in _clean("DDD", 40.0, [S[0], S[2], S[3], S[4], S[5]])],
    "2019-02-12,DDD,40,41,39,-1,1000,0",
    # EEE: one clean row and one with junk in a number.
    "2019-02-11,EEE,50,51,49,50.5,1000,0",
    "2019-02-12,EEE,abc,51,49,50.5,1000,0",
    *[r + ",0" for r in _clean("BRK-B", 200.0)],
    # Rows the loader must drop.
    "2019-13-45,AAA,1,2,0.5,1.5,100,0",  # unparseable date
    "not a date,BBB,1,2,0.5,1.5,100,0",  # unparseable date
    ",,,,,,,",  # blank row
    "2019-02-11,,1,2,0.5,1.5,100,0",  # no symbol
    "2019-02-16,AAA,1,2,0.5,1.5,100,0",  # a Saturday
    "2019-02-18,AAA,1,2,0.5,1.5,100,0",  # Presidents' Day
    "2019-02-11,ZZZ,1,2",  # malformed: too few fields
]


@pytest.fixture
def dirty_csv(tmp_path: Path) -> Path:
    p = tmp_path / "dirty.csv"
    p.write_text("\n".join(DIRTY_ROWS) + "\n")
    return p


class FakeClock:
    """now() and sleep_until(): sleeping jumps straight to the deadline."""

    def __init__(self, t: datetime) -> None:
        self.t = t

    def now(self) -> datetime:
        return self.t

    async def sleep_until(self, t: datetime) -> None:
        self.t = max(self.t, t)


def run(coro):
    return asyncio.run(coro)


# ============================================================================ loading
def test_dirty_csv_report_counts_are_exact(dirty_csv: Path) -> None:
    _, rep = load_daily_file(dirty_csv)
    assert rep.rows_read == len(DIRTY_ROWS) - 1
    assert rep.malformed_lines == 1
    assert rep.blank_rows == 1
    assert rep.unparseable_dates == 2
    assert rep.blank_symbols == 1
    assert rep.non_session_dates == 2
    assert rep.empty_rows == 0
    assert rep.duplicates == 1  # the second BBB 2019-02-12 row
    # §14: BBB's blank volume, CCC's empty close, DDD's -1, EEE's "abc"
    assert rep.invalid_bars == 4
    assert rep.duplicate_conflicts == 1  # BBB 2019-02-12: 20.1 vs 20.7
    assert rep.spikes == 0
    assert rep.zero_volume == 1
    assert rep.non_bracketing == 1
    assert rep.unserved_bars == 5
    assert rep.gaps == {"CCC": 1}  # an unserved bar is not a gap: it is named as what it is
    assert rep.gap_sessions == 1
    assert rep.missing_sessions == []
    assert rep.dropped_rows == 1 + 2 + 1 + 2 + 1
    assert rep.rows_loaded == 6 + 6 + 5 + 6 + 2 + 6
    assert rep.rows_read == rep.rows_loaded + rep.dropped_rows + rep.malformed_lines
    assert rep.symbols == 6 and not rep.is_clean
    assert (rep.first_date, rep.last_date) == (date(2019, 2, 11), date(2019, 2, 19))
    # Examples name the symbol, date and row; the bar report names every bar and its kind.
    assert any("2019-13-45" in e for e in rep.examples["unparseable_dates"])
    assert rep.bar_report.by_kind() == {
        "invalid_bar": {
            "BBB": ["2019-02-15"],
            "CCC": ["2019-02-19"],
            "DDD": ["2019-02-12"],
            "EEE": ["2019-02-12"],
        },
        "duplicate_conflict": {"BBB": ["2019-02-12"]},
        "repaired": {"BBB": ["2019-02-14"]},
        "zero_volume": {"BBB": ["2019-02-13"]},
    }
    text = rep.summary()
    for needle in (
        "1 duplicate (date, symbol) rows dropped",
        "2 rows with an unparseable date",
        "4 invalid bars (not served) in 4 symbols (BBB, CCC, DDD, EEE)",
        "CCC 2019-02-19: close not usable",
        "DDD 2019-02-12: close not usable (o=40 h=41 l=39 c=-1",
        "BBB 2019-02-15: volume not usable",
        "1 duplicate conflict (not served) in 1 symbol (BBB): BBB 2019-02-12",
        "1 zero-volume bar (no entry that session)",
        "1 repaired bar (high/low widened) in 1 symbol (BBB): BBB 2019-02-14",
        "1 missing sessions in 1 symbols",
        "CCC 1",
    ):
        assert needle in text, needle


def test_dirty_csv_bars_are_repaired_and_aligned(dirty_csv: Path) -> None:
    bars, _ = load_daily_file(dirty_csv)
    assert bars.symbols == ("AAA", "BBB", "BRK-B", "CCC", "DDD", "EEE")  # BRK-B kept as is
    assert [str(d) for d in bars.dates] == S  # the XNYS grid: no 16th or 18th
    f = bars.frame("BBB", dropna=False)
    assert f.loc["2019-02-12"].isna().all()  # conflicting duplicates: neither is served
    assert f.loc["2019-02-13", "volume"] == 0  # zero volume: served
    assert f.loc["2019-02-15"].isna().all()  # blank volume: an invalid bar, not served
    assert f.loc["2019-02-14", "high"] == 20.9  # envelope widened to the close
    assert f.loc["2019-02-14", "low"] == 19.0
    flags = dict(zip(S, bars.flags[:, bars.col("BBB")].tolist(), strict=True))
    assert flags == {
        "2019-02-11": 0,
        "2019-02-12": BarFlag.DUPLICATE_CONFLICT,
        "2019-02-13": BarFlag.ZERO_VOLUME,
        "2019-02-14": BarFlag.REPAIRED,
        "2019-02-15": BarFlag.INVALID,
        "2019-02-19": 0,
    }
    c = bars.frame("CCC", dropna=False)["close"]
    assert np.isnan(c.loc["2019-02-13"]) and np.isnan(c.loc["2019-02-19"])
    assert np.isnan(bars.frame("DDD", dropna=False).loc["2019-02-12", "close"])
    assert bars.frame("EEE").index.strftime("%Y-%m-%d").tolist() == ["2019-02-11"]
    a = bars.frame("AAA")
    assert a["close"].tolist() == [10.5, 11.5, 12.5, 13.5, 14.5, 15.5]
    assert a["volume"].tolist() == [1000, 2000, 3000, 4000, 5000, 6000]


def test_float_noise_envelope_is_repaired_but_not_reported(tmp_path: Path) -> None:
    """Dividend adjustment leaves high a hair under close; that is not a data problem."""
    p = tmp_path / "noise.csv"
    close = 100.123456789
    p.write_text(
        "date,symbol,open,high,low,close,volume\n"
        f"2019-02-11,AAA,99,{close * (1 - 1e-15)!r},98,{close!r},100\n"
    )
    bars, rep = load_daily_file(p)
    assert rep.non_bracketing == 0 and rep.is_clean
    assert bars.high[0, 0] == close


def test_missing_sessions_for_every_symbol(tmp_path: Path) -> None:
    p = tmp_path / "holes.csv"
    rows = ["date,symbol,open,high,low,close,volume"]
    for d in ("2019-02-11", "2019-02-13"):
        rows += [f"{d},AAA,1,2,0.5,1.5,10", f"{d},BBB,1,2,0.5,1.5,10"]
    p.write_text("\n".join(rows))
    bars, rep = load_daily_file(p)
    assert rep.missing_sessions == [date(2019, 2, 12)]
    assert rep.gaps == {"AAA": 1, "BBB": 1}
    assert bars.n_sessions == 3 and np.isnan(bars.close[1]).all()
    assert "1 sessions with no bar at all (e.g. 2019-02-12)" in rep.summary()


def test_clean_file_reports_clean(tmp_path: Path) -> None:
    p = tmp_path / "clean.csv"
    p.write_text("\n".join(["date,symbol,open,high,low,close,volume", *_clean("AAA", 10.0)]))
    _, rep = load_daily_file(p)
    assert rep.is_clean and rep.lines() == []
    assert rep.summary().endswith("no data problems found")
    assert isinstance(rep, DataReport)


def test_parquet_with_timestamps_and_upper_case_columns(tmp_path: Path, dirty_csv: Path) -> None:
    """The same rows as Parquet (datetime column, capitalised names) load the same bars."""
    df = pd.DataFrame(
        [r.split(",") for r in _clean("AAA", 10.0) + _clean("BRK-B", 200.0)],
        columns=["date", "symbol", "open", "high", "low", "close", "volume"],
    )
    df["date"] = pd.to_datetime(df["date"])
    for c in ("open", "high", "low", "close", "volume"):
        df[c] = df[c].astype(float)
    df.columns = [c.upper() for c in df.columns]
    p = tmp_path / "bars.parquet"
    df.to_parquet(p)
    bars, rep = load_daily_file(p)
    assert rep.is_clean and rep.rows_loaded == 12
    ref, _ = load_daily_file(dirty_csv)
    for sym in ("AAA", "BRK-B"):
        pd.testing.assert_frame_equal(bars.frame(sym), ref.frame(sym))

    # tz-aware stamps at midnight New York are that New York date.
    df["DATE"] = df["DATE"].dt.tz_localize("America/New_York")
    p2 = tmp_path / "tz.parquet"
    df.to_parquet(p2)
    bars2, _ = load_daily_file(p2)
    assert [str(d) for d in bars2.dates] == S


def test_symbols_and_date_window_filter_silently(dirty_csv: Path) -> None:
    bars, rep = load_daily_file(
        dirty_csv, symbols={"AAA"}, start=date(2019, 2, 12), end=date(2019, 2, 14)
    )
    assert bars.symbols == ("AAA",)
    assert [str(d) for d in bars.dates] == S[1:4]
    assert rep.duplicates == 0 and not rep.bar_report  # other symbols' dirt is out of scope


ERRORS = {
    "missing file": (None, "does not exist"),
    "missing columns": (
        "date,Symbol,open,close\n2019-02-11,AAA,1,2\n",
        "missing required column(s) high, low, volume",
    ),
    "empty file": ("", "is empty"),
    "header only": ("date,symbol,open,high,low,close,volume\n", "has no rows with a date"),
    "only NaN prices": (
        "date,symbol,open,high,low,close,volume\n2019-02-11,AAA,,,,,\n",
        "has no usable rows (1 rows read: 1 rows without prices or volume dropped (gaps)",
    ),
    "only bad dates": (
        "date,symbol,open,high,low,close,volume\nxx,AAA,1,2,0.5,1,1\n",
        "has no rows with a date",
    ),
}


@pytest.mark.parametrize(("content", "message"), ERRORS.values(), ids=ERRORS.keys())
def test_file_errors_are_one_clear_line(tmp_path: Path, content, message) -> None:
    p = tmp_path / "data.csv"
    if content is not None:
        p.write_text(content)
    with pytest.raises(ReplayDataError) as err:
        load_daily_file(p)
    text = str(err.value)
    assert message in text and str(p) in text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.parquet", b"this is not parquet at all", "cannot be read as Parquet"),
        ("noext", b"PAR1 but then garbage", "cannot be read as Parquet"),
        ("bad.csv", b"\xff\xfe\x00\x00garbage\x00", "cannot be read as CSV"),
    ],
    ids=["text-as-parquet", "sniffed-parquet", "binary-csv"],
)
def test_unreadable_formats(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(ReplayDataError, match=message):
        load_daily_file(p)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ReplayDataError, match="is not a file"):
        load_daily_file(tmp_path)


def test_replay_data_error_is_a_market_data_error() -> None:
    assert issubclass(ReplayDataError, MarketDataError)


# ============================================================================ universe
def test_default_universe_is_every_symbol_but_the_benchmark(tmp_path: Path) -> None:
    p = tmp_path / "with_spy.csv"
    p.write_text(
        "\n".join(
            ["date,symbol,open,high,low,close,volume", *_clean("AAA", 10), *_clean("SPY", 270)]
        )
    )
    m = ReplayMarket(p)
    u = m.universe()
    assert u.symbols == ("AAA",) and u.sector("AAA") == "Unknown"
    assert u.benchmark == "SPY" and m.has_benchmark
    assert isinstance(m, MarketData)


@pytest.mark.parametrize(
    ("text", "expected", "without_data"),
    [
        (
            "symbol,sector\nAAA,Tech\nBRK.B,Financials\nZZZ,Energy\nSPY,Index\n",
            {"AAA": "Tech", "BRK-B": "Financials"},
            ["ZZZ"],
        ),
        ("Symbol\nAAA\nbrk-b\n", {"AAA": "Unknown", "BRK-B": "Unknown"}, []),
        ("SYMBOL,Sector\nAAA,\nCCC,Utilities\n", {"AAA": "Unknown", "CCC": "Utilities"}, []),
    ],
    ids=["with-sector", "without-sector-column", "blank-sector"],
)
def test_universe_csv(tmp_path: Path, dirty_csv: Path, text, expected, without_data) -> None:
    u_path = tmp_path / "universe.csv"
    u_path.write_text(text)
    m = ReplayMarket(dirty_csv, universe_csv=u_path)
    assert dict(m.universe().sectors) == expected
    assert m.report.universe_without_data == without_data
    assert not m.has_benchmark  # the dirty file has no SPY


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "does not exist"),
        ("ticker_name,sector\nAAA,Tech\n", "no 'symbol' column"),
        ("symbol\nXXX\nYYY\n", "none of the 2 symbols"),
    ],
    ids=["missing", "no-symbol-column", "no-overlap"],
)
def test_universe_errors(tmp_path: Path, dirty_csv: Path, text, message) -> None:
    u_path = tmp_path / "universe.csv"
    if text is not None:
        u_path.write_text(text)
    with pytest.raises(ReplayDataError, match=message):
        ReplayMarket(dirty_csv, universe_csv=u_path)


def test_benchmark_from_a_separate_file(tmp_path: Path, dirty_csv: Path) -> None:
    etf = tmp_path / "etf.csv"
    rows = ["date,symbol,open,high,low,close,adj_close,volume,source"]
    for d in ("2019-02-08", *S, "2019-02-20"):  # wider than the data: trimmed to its range
        rows.append(f"{d},SPY,270,272,269,271,99.9,1000000,x")
        rows.append(f"{d},XLK,60,61,59,60.5,55.5,1000,x")
    etf.write_text("\n".join(rows))
    m = ReplayMarket(dirty_csv, benchmark_path=etf)
    assert m.has_benchmark
    assert "SPY" in m.bars and "XLK" not in m.bars
    spy = m.bars.frame("SPY")
    assert len(spy) == len(S) and (spy["close"] == 271).all()  # close, not adj_close
    assert m.benchmark_report is not None and m.benchmark_report.rows_loaded == len(S)
    assert "SPY" not in m.universe().symbols

    no_spy = tmp_path / "no_spy.csv"
    no_spy.write_text("\n".join(r for r in rows if "SPY" not in r))
    with pytest.raises(ReplayDataError, match="no rows for SPY"):
        ReplayMarket(dirty_csv, benchmark_path=no_spy)


# ============================================================================ market data
@pytest.fixture
def market(dirty_csv: Path) -> ReplayMarket:
    return ReplayMarket(dirty_csv, seed=5, quote_interval=60.0)


def test_daily_bars_window_missing_symbols_and_gaps(market: ReplayMarket) -> None:
    b = run(market.daily_bars(["CCC", "NOPE", "AAA"], date(2019, 2, 19), 4))
    assert [str(d) for d in b.dates] == S[2:]
    assert b.symbols == ("CCC", "NOPE", "AAA")
    assert np.isnan(b.close[:, 1]).all()
    assert np.isnan(b.close[0, 0]) and b.close[1, 0] == 32.5 and np.isnan(b.close[3, 0])
    assert b.close[:, 2].tolist() == [12.5, 13.5, 14.5, 15.5]
    # Before the data begins: rows exist (the calendar's sessions) but hold NaN.
    early = run(market.daily_bars(["AAA"], date(2019, 2, 12), 5))
    assert early.n_sessions == 5
    assert np.isnan(early.close[:3, 0]).all() and early.close[3:, 0].tolist() == [10.5, 11.5]


def test_daily_bars_as_of_the_clock(dirty_csv: Path) -> None:
    clock = FakeClock(datetime(2019, 2, 15, 10, 0, tzinfo=ET))
    m = ReplayMarket(dirty_csv, clock=clock)
    b = run(m.daily_bars(["AAA"], date(2019, 2, 15), 2))
    assert b.close[0, 0] == 13.5 and np.isnan(b.close[1, 0])  # the 15th has not closed yet
    clock.t = datetime(2019, 2, 15, 16, 0, tzinfo=ET)
    assert run(m.daily_bars(["AAA"], date(2019, 2, 15), 2)).close[1, 0] == 14.5


def test_minute_bars_consistent_with_the_day_and_deterministic(dirty_csv: Path) -> None:
    m1 = ReplayMarket(dirty_csv, seed=5)
    m2 = ReplayMarket(dirty_csv, seed=5)
    m3 = ReplayMarket(dirty_csv, seed=6)
    day = date(2019, 2, 14)
    df = run(m1.minute_bars("BBB", day))
    assert len(df) == 390
    assert df.index[0] == datetime(2019, 2, 14, 9, 31, tzinfo=ET)
    assert df.index[-1] == datetime(2019, 2, 14, 16, 0, tzinfo=ET)
    assert df["open"].iloc[0] == 20 and df["close"].iloc[-1] == 20.9
    assert df["high"].max() == 20.9 and df["low"].min() == 19  # the repaired envelope
    assert df["volume"].sum() == 5000
    pd.testing.assert_frame_equal(df, run(m2.minute_bars("BBB", day)))
    assert not df["close"].equals(run(m3.minute_bars("BBB", day))["close"])
    # A symbol's path does not depend on which other symbols were asked for first.
    run(m2.minute_bars("AAA", day))
    pd.testing.assert_frame_equal(df, run(m2.minute_bars("BBB", day)))


def test_minute_bars_window_clock_and_empty_cases(dirty_csv: Path) -> None:
    clock = FakeClock(datetime(2019, 2, 14, 9, 50, 30, tzinfo=ET))
    m = ReplayMarket(dirty_csv, clock=clock)
    day = date(2019, 2, 14)
    df = run(m.minute_bars("AAA", day))
    assert df.index[-1] == datetime(2019, 2, 14, 9, 50, tzinfo=ET) and len(df) == 20
    win = run(
        m.minute_bars(
            "AAA",
            day,
            start=datetime(2019, 2, 14, 9, 30, tzinfo=ET),
            end=datetime(2019, 2, 14, 9, 40, tzinfo=ET),
        )
    )
    assert len(win) == 10 and win.index[0].strftime("%H:%M") == "09:31"
    for sym, d in (("NOPE", day), ("CCC", date(2019, 2, 13)), ("AAA", date(2019, 2, 16))):
        empty = run(m.minute_bars(sym, d))
        assert empty.empty and list(empty.columns) == ["open", "high", "low", "close", "volume"]


def test_minute_bars_early_close(tmp_path: Path) -> None:
    p = tmp_path / "thanksgiving.csv"
    p.write_text(
        "date,symbol,open,high,low,close,volume\n"
        "2019-11-27,AAA,10,11,9,10.5,1000\n2019-11-29,AAA,10.5,11,10,10.8,777\n"
    )
    df = run(ReplayMarket(p).minute_bars("AAA", date(2019, 11, 29)))
    assert len(df) == 210 and df.index[-1].strftime("%H:%M") == "13:00"
    assert df["volume"].sum() == 777 and df["close"].iloc[-1] == 10.8


def test_snapshots_before_during_and_after_the_session(market: ReplayMarket) -> None:
    day = date(2019, 2, 14)
    at = lambda h, mi: datetime(2019, 2, 14, h, mi, tzinfo=ET)  # noqa: E731
    aaa_prev, aaa_open, aaa_close = 12.5, 13.0, 13.5

    night = run(market.snapshots(["AAA"], at(3, 0)))["AAA"]
    assert night.prev_close == aaa_prev and night.session_open is None
    assert night.latest_trade.price == aaa_prev
    assert night.latest_trade.at == datetime(2019, 2, 13, 16, 0, tzinfo=ET)

    pre = run(market.snapshots(["AAA", "NOPE"], at(9, 25)))
    s = pre["AAA"]
    assert s.prev_close == aaa_prev and s.session_open is None
    assert at(4, 0) <= s.latest_trade.at < at(9, 25)
    assert abs(s.latest_trade.price / aaa_open - 1) < 0.05
    assert s.latest_quote.bid < s.latest_trade.price < s.latest_quote.ask
    assert pre["NOPE"].latest_trade is None and pre["NOPE"].prev_close is None

    open_ = run(market.snapshots(["AAA"], at(9, 30)))["AAA"]
    assert open_.session_open == aaa_open and open_.latest_trade.price == aaa_open

    mid = run(market.snapshots(["AAA"], at(10, 0)))["AAA"]
    bars = run(market.minute_bars("AAA", day))
    assert mid.latest_trade.price == pytest.approx(bars.loc[at(10, 0), "close"])
    assert mid.session_open == aaa_open

    after = run(market.snapshots(["AAA"], at(17, 0)))["AAA"]
    assert after.latest_trade.price == aaa_close
    assert after.latest_trade.at == at(16, 0)


def test_snapshot_on_a_gap_day_has_no_open(market: ReplayMarket) -> None:
    s = run(market.snapshots(["CCC"], datetime(2019, 2, 13, 10, 0, tzinfo=ET)))["CCC"]
    assert s.prev_close == 31.5 and s.session_open is None
    assert s.latest_trade.price == 31.5


def test_snapshots_deterministic(dirty_csv: Path) -> None:
    at = datetime(2019, 2, 14, 9, 25, tzinfo=ET)
    a = run(ReplayMarket(dirty_csv, seed=1).snapshots(["AAA", "BBB"], at))
    b = run(ReplayMarket(dirty_csv, seed=1).snapshots(["BBB", "AAA"], at))
    assert a == b


def test_stream_follows_the_clock_and_ends_after_the_data(dirty_csv: Path) -> None:
    clock = FakeClock(datetime(2019, 2, 19, 8, 0, tzinfo=ET))  # the file's last session
    m = ReplayMarket(dirty_csv, clock=clock, quote_interval=60.0, seed=2)

    async def collect() -> list[Quote | TradeTick]:
        return [ev async for ev in m.stream(["AAA", "BBB", "NOPE"])]

    events = run(collect())
    assert {e.symbol for e in events} == {"AAA", "BBB"}
    times = [e.at for e in events]
    assert times == sorted(times)
    pre = [e for e in events if e.at < datetime(2019, 2, 19, 9, 30, tzinfo=ET)]
    assert pre and all(e.at >= datetime(2019, 2, 19, 8, 0, tzinfo=ET) for e in pre)
    opening = [
        e
        for e in events
        if isinstance(e, TradeTick) and e.at == datetime(2019, 2, 19, 9, 30, tzinfo=ET)
    ]
    assert {(e.symbol, e.price) for e in opening} == {("AAA", 15.0), ("BBB", 20.0)}
    closing = [
        e
        for e in events
        if isinstance(e, TradeTick) and e.at == datetime(2019, 2, 19, 16, 0, tzinfo=ET)
    ]
    assert {(e.symbol, e.price) for e in closing} == {("AAA", 15.5), ("BBB", 20.5)}
    quotes = [e for e in events if isinstance(e, Quote)]
    assert all(q.bid < q.ask for q in quotes)
    regular = [q for q in quotes if q.at >= datetime(2019, 2, 19, 9, 30, tzinfo=ET)]
    assert len(regular) == 2 * 390  # one quote a minute per symbol
    aaa = [e.price for e in events if isinstance(e, TradeTick) and e.symbol == "AAA"]
    assert min(aaa) >= 14.0 and max(aaa) <= 16.5  # inside AAA's day (plus pre-market drift)


def test_stream_needs_a_clock(market: ReplayMarket) -> None:
    async def first():
        async for ev in market.stream(["AAA"]):
            return ev

    with pytest.raises(MarketDataError, match="needs a clock"):
        run(first())


def test_report_survives_nan_everywhere(tmp_path: Path) -> None:
    """A file of nothing but NaN prices and one good bar still loads."""
    p = tmp_path / "nan.csv"
    p.write_text(
        "date,symbol,open,high,low,close,volume\n"
        "2019-02-11,AAA,nan,nan,nan,nan,nan\n2019-02-12,AAA,,,,,\n"
        "2019-02-13,AAA,1,1,1,1,1\n"
    )
    bars, rep = load_daily_file(p)
    assert rep.empty_rows == 2 and bars.n_sessions == 1 and rep.rows_loaded == 1
    assert math.isclose(bars.close[0, 0], 1.0)
    assert bars.last_date == date(2019, 2, 13)


@pytest.mark.parametrize(
    ("name", "encode"),
    [
        ("bars.csv.gz", lambda text: __import__("gzip").compress(text.encode())),
        ("bom.csv", lambda text: b"\xef\xbb\xbf" + text.encode()),
        ("crlf.txt", lambda text: text.replace("\n", "\r\n").encode()),
    ],
    ids=["gzip", "utf8-bom", "crlf-txt"],
)
def test_csv_variants(tmp_path: Path, name: str, encode) -> None:
    p = tmp_path / name
    p.write_bytes(encode("\n".join(["Date,Symbol,Open,High,Low,Close,Volume", *_clean("AAA", 10)])))
    bars, rep = load_daily_file(p)
    assert rep.is_clean and bars.frame("AAA")["close"].iloc[-1] == 15.5


def test_dates_with_times_and_other_formats(tmp_path: Path) -> None:
    p = tmp_path / "stamps.csv"
    p.write_text(
        "date,symbol,open,high,low,close,volume\n"
        "2019-02-11 00:00:00,AAA,1,2,0.5,1.5,10\n"
        "2019-02-12T00:00:00,AAA,1,2,0.5,1.5,10\n"
        "2019-02-13,AAA,1,2,0.5,1.5,10\n"
        "20190214,AAA,1,2,0.5,1.5,10\n"
    )
    bars, rep = load_daily_file(p)
    assert [str(d) for d in bars.dates] == S[:4]
    assert rep.unparseable_dates == 0 and rep.rows_loaded == 4


def test_out_of_calendar_requests_fail_cleanly(market: ReplayMarket) -> None:
    assert run(market.minute_bars("AAA", date(1800, 1, 2))).empty
    with pytest.raises(MarketDataError, match="no snapshot"):
        run(market.snapshots(["AAA"], datetime(1800, 1, 2, 10, 0, tzinfo=ET)))
    with pytest.raises(MarketDataError, match="cannot take"):
        run(market.daily_bars(["AAA"], date(2019, 2, 19), 0))


def test_stream_orders_pre_market_prints_across_symbols(dirty_csv: Path) -> None:
    """A clock that jumps over many prints at once still gets them in time order."""

    class CoarseClock(FakeClock):
        async def sleep_until(self, t: datetime) -> None:
            self.t = max(self.t, t) + timedelta(hours=2)  # overshoots every deadline

    clock = CoarseClock(datetime(2019, 2, 19, 3, 0, tzinfo=ET))
    m = ReplayMarket(dirty_csv, clock=clock, quote_interval=600.0)

    async def collect() -> list[Quote | TradeTick]:
        return [ev async for ev in m.stream(["AAA", "BBB", "BRK-B"])]

    events = run(collect())
    pre = [
        e
        for e in events
        if isinstance(e, TradeTick) and e.at < datetime(2019, 2, 19, 9, 30, tzinfo=ET)
    ]
    assert len({e.symbol for e in pre}) == 3 and len(pre) > 3
    assert [e.at for e in pre] == sorted(e.at for e in pre)


# ======================================================== bad bars are not served (§14)
def _spiky_file(tmp_path: Path) -> Path:
    """HELD: a 0.01 bar on 2019-02-14 between 11.x closes (a spike, issue 12's bad print);
    IDLE: zero volume on 2019-02-14; AAA clean."""
    rows = ["date,symbol,open,high,low,close,volume", *_clean("AAA", 10.0)]
    for i, d in enumerate(S):
        bad = d == "2019-02-14"
        p = 0.01 if bad else 11.0 + i * 0.1
        rows.append(f"{d},HELD,{p},{p},{p},{p},{1000 if not bad else 10}")
        rows.append(f"{d},IDLE,20,20.5,19.5,20,{0 if bad else 5000}")
    path = tmp_path / "spiky.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_a_spike_in_a_replay_file_is_not_served_anywhere(tmp_path: Path) -> None:
    day = date(2019, 2, 14)
    clock = FakeClock(datetime(2019, 2, 14, 8, 0, tzinfo=ET))
    m = ReplayMarket(_spiky_file(tmp_path), clock=clock, quote_interval=60.0)
    assert m.report.spikes == 1
    (spike,) = m.report.bar_report.of_kind("spike")
    assert (spike.symbol, spike.session) == ("HELD", day)
    assert "close 0.01 is 99.9% from the previous close 11.2" in spike.detail
    assert m.not_trading(["AAA", "HELD", "IDLE", "NOPE"], day) == {
        "HELD": "spike",
        "IDLE": "no_volume",
    }
    assert m.not_trading(["HELD", "IDLE"], date(2019, 2, 15)) == {}
    # No prints, no minute bars, no official open from the bad day; the daily bar is NaN with
    # its flag, so a scan reading it knows why.
    assert run(m.minute_bars("HELD", day)).empty
    snap = run(m.snapshots(["HELD"], datetime(2019, 2, 14, 11, 0, tzinfo=ET)))["HELD"]
    assert snap.session_open is None and snap.latest_trade.price == pytest.approx(11.2)

    async def collect() -> list[Quote | TradeTick]:
        out = []
        async for ev in m.stream(["AAA", "HELD", "IDLE"]):
            if ev.at.date() > day:
                break
            out.append(ev)
        return out

    events = run(collect())
    assert {e.symbol for e in events} == {"AAA"}
    clock.t = datetime(2019, 2, 19, 17, 0, tzinfo=ET)
    b = run(m.daily_bars(["HELD", "IDLE"], date(2019, 2, 19), 6))
    assert np.isnan(b.close[3, 0]) and b.flags[3, 0] == BarFlag.SPIKE
    assert b.close[3, 1] == 20 and b.flags[3, 1] == BarFlag.ZERO_VOLUME


def test_spike_detection_is_the_configured_threshold(tmp_path: Path) -> None:
    path = _spiky_file(tmp_path)
    assert ReplayMarket(path, spike_pct=None).report.spikes == 0  # the 0.01 bar is served
    assert ReplayMarket(path, spike_pct=0.999).report.spikes == 1
    assert ReplayMarket(path, spike_pct=0.9995).report.spikes == 0
