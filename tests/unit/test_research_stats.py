"""workstation.research.stats on a planted store: every figure against an independent
computation (plain numpy, written from the definitions in docs/backtesting.md, not from
empyrical), and the edge cases of research-stack.md (no losing day, no drawdown, one
observation, no trades) named, not left as a bare null."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.unit.research_plant import (
    EQUITY,
    SPY,
    START,
    STILL_OPEN,
    TRADES,
    D,
    Planted,
    plant,
    plant_example,
)
from workstation.research.stats import (
    EmptyPeriodError,
    Period,
    StatsOptions,
    compute_stats,
)
from workstation.store import Store


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    return plant_example(tmp_path / "planted.db")


def hand_returns(start: float, equity: list[float]) -> np.ndarray:
    e = np.array([start, *equity])
    return e[1:] / e[:-1] - 1


def hand_sharpe(r: np.ndarray, rf: float = 0.0) -> float:
    x = r - rf
    return x.mean() / x.std(ddof=1) * math.sqrt(252)


def hand_sortino(r: np.ndarray, rf: float = 0.0) -> float:
    x = r - rf
    downside = math.sqrt(np.mean(np.minimum(x, 0.0) ** 2)) * math.sqrt(252)
    return x.mean() * 252 / downside


def hand_max_drawdown(start: float, equity: list[float]) -> float:
    worst, peak = 0.0, start
    for e in equity:
        peak = max(peak, e)
        worst = min(worst, e / peak - 1)
    return worst


def test_return_figures_equal_hand_computation(planted: Path) -> None:
    res = compute_stats(planted)
    s = res.stats
    r = hand_returns(START, EQUITY)
    assert res.period == Period(D[0], D[-1])
    assert s["sessions"] == 8
    assert s["start_equity"] == START and s["end_equity"] == EQUITY[-1]
    assert s["total_return"] == pytest.approx(EQUITY[-1] / START - 1, rel=1e-12)
    assert s["cagr"] == pytest.approx((EQUITY[-1] / START) ** (252 / 8) - 1, rel=1e-9)
    assert s["annual_volatility"] == pytest.approx(r.std(ddof=1) * math.sqrt(252), rel=1e-9)
    assert s["sharpe"] == pytest.approx(hand_sharpe(r), rel=1e-9)
    assert s["sortino"] == pytest.approx(hand_sortino(r), rel=1e-9)
    mdd = hand_max_drawdown(START, EQUITY)
    assert mdd == pytest.approx(99_000 / 101_000 - 1)
    assert s["max_drawdown"] == pytest.approx(mdd, rel=1e-12)
    assert s["calmar"] == pytest.approx(s["cagr"] / abs(mdd), rel=1e-9)
    # peak 101,000 at the end of 12-27, trough 12-29, back above it on 01-02: 3 sessions
    assert s["max_drawdown_peak"] == "2023-12-27"
    assert s["max_drawdown_trough"] == "2023-12-29"
    assert s["max_drawdown_recovery"] == "2024-01-02"
    assert s["max_drawdown_duration"] == 3
    assert s["longest_drawdown"] == 2
    assert s["short_period"] is True  # 8 sessions < 252
    assert list(res.returns) == pytest.approx(list(r), rel=1e-12)
    dd = [
        e / p - 1 for e, p in zip(EQUITY, np.maximum.accumulate([START, *EQUITY])[1:], strict=True)
    ]
    assert list(res.drawdown) == pytest.approx(dd, abs=1e-15)


def test_trade_figures_equal_hand_computation(planted: Path) -> None:
    s = compute_stats(planted).stats
    pnl = [t.pnl for t in TRADES]
    r = [t.r for t in TRADES]
    assert pnl == [300.0, -100.0, 200.0, -10.0, 0.0]
    assert s["n_trades"] == 5 and s["small_sample"] is True
    assert (s["wins"], s["losses"]) == (2, 2)  # the trade at exactly 0 is neither
    assert s["win_rate"] == pytest.approx(2 / 5)
    assert s["net_pnl"] == pytest.approx(390.0)
    assert s["profit_factor"] == pytest.approx(500 / 110)
    assert s["expectancy_r"] == pytest.approx(sum(r) / 5) == pytest.approx(1.0)
    assert s["avg_win_r"] == pytest.approx((1.5 + 5.0) / 2)
    assert s["avg_loss_r"] == pytest.approx((-1.0 - 0.5) / 2)
    assert (s["best_r"], s["worst_r"]) == (pytest.approx(5.0), pytest.approx(-1.0))
    assert s["trades_per_year"] == pytest.approx(5 * 252 / 8)


def test_exposure_counts_held_sessions_and_entry_notional(planted: Path) -> None:
    s = compute_stats(planted).stats
    held = [*TRADES, STILL_OPEN]
    gross = []
    for d, eq in zip(D, EQUITY, strict=True):
        notional = sum(
            p.qty * p.entry
            for p in held
            if p.entry_session <= d and (p is STILL_OPEN or d <= p.exit_session)
        )
        gross.append(notional / eq)
    assert s["exposure_sessions"] == pytest.approx(7 / 8)  # nothing held on 12-27
    assert s["avg_gross_exposure"] == pytest.approx(np.mean(gross))
    assert s["max_gross_exposure"] == pytest.approx(max(gross))


def test_breakdowns(planted: Path) -> None:
    res = compute_stats(planted, options=StatsOptions(min_trades=2))
    assert {k: v["n_trades"] for k, v in res.by_strategy.items()} == {
        "bb_squeeze": 3,
        "rsi_reversion": 2,
    }
    assert {k: v["n_trades"] for k, v in res.by_regime.items()} == {
        "HIGH_VOL": 1,
        "RANGING": 1,
        "TREND": 2,
        "unknown": 1,  # DDD has no candidate
    }
    assert res.by_regime["TREND"]["net_pnl"] == pytest.approx(500.0)
    assert res.by_regime["HIGH_VOL"]["small_sample"] is True
    assert res.by_regime["TREND"]["small_sample"] is False  # 2 >= min_trades=2
    assert {k: v["n_trades"] for k, v in res.by_exit_reason.items()} == {
        "STOP_LOSS": 2,
        "TAKE_PROFIT": 1,
        "TIME_EXIT": 2,
    }
    assert res.by_exit_reason["STOP_LOSS"]["profit_factor"] == 0.0
    y23, y24 = res.by_year["2023"], res.by_year["2024"]
    assert (y23["n_trades"], y24["n_trades"]) == (1, 4)
    assert (y23["sessions"], y24["sessions"]) == (3, 5)
    assert y23["total_return"] == pytest.approx(99_000 / START - 1)
    assert y24["total_return"] == pytest.approx(104_000 / 99_000 - 1)
    assert y24["max_drawdown"] == pytest.approx(hand_max_drawdown(99_000, EQUITY[3:]))


def test_mfe_mae_quantiles_per_strategy(planted: Path) -> None:
    ex = compute_stats(planted).excursions
    bb = ex["bb_squeeze"]["mfe_r"]
    assert bb["n"] == 3 and bb["p50"] == pytest.approx(0.5)
    rsi = ex["rsi_reversion"]
    assert rsi["mfe_r"]["n"] == 1  # DDD has no recorded excursion: left out, not a 0
    assert rsi["mfe_r"]["p90"] == pytest.approx(5.5)
    assert rsi["mae_r"]["p10"] == pytest.approx(-0.75)
    values = [0.1, 0.4, 0.2, 0.9, 0.3]
    from workstation.research.trade_stats import quantiles

    q = quantiles(values)
    assert [q["p10"], q["p25"], q["p50"], q["p75"], q["p90"]] == pytest.approx(
        list(np.percentile(values, [10, 25, 50, 75, 90]))
    )


def test_a_period_narrows_trades_and_returns(planted: Path) -> None:
    res = compute_stats(planted, Period(D[3], D[-1]))
    assert res.stats["sessions"] == 5
    assert res.curve.start_equity == EQUITY[2]  # the first session's own start equity
    assert res.stats["n_trades"] == 4  # AAA exited before the period
    assert res.stats["total_return"] == pytest.approx(EQUITY[-1] / EQUITY[2] - 1)


def test_risk_free_rate_is_annual(planted: Path) -> None:
    s = compute_stats(planted, options=StatsOptions(risk_free_rate=0.05)).stats
    r = hand_returns(START, EQUITY)
    rf = 1.05 ** (1 / 252) - 1
    assert s["sharpe"] == pytest.approx(hand_sharpe(r, rf), rel=1e-9)
    assert s["sortino"] == pytest.approx(hand_sortino(r, rf), rel=1e-9)
    assert s["risk_free_rate"] == 0.05


def test_no_losing_day_and_no_drawdown(tmp_path: Path) -> None:
    days = list(zip(D[:4], [100_500.0, 101_000.0, 101_000.0, 102_000.0], strict=True))
    win = Planted("AAA", "bb_squeeze", "long", 10, 10.0, 12.0, D[0], D[1], "TAKE_PROFIT", "TREND")
    s = compute_stats(plant(tmp_path / "up.db", START, days, [win])).stats
    assert s["sortino"] is None or math.isinf(s["sortino"])
    j = s.as_json()
    assert j["sortino"] is None and "no losing session" in j["null_reasons"]["sortino"]
    assert s["max_drawdown"] == 0.0 and s["max_drawdown_duration"] == 0
    assert j["calmar"] is None and "no drawdown" in j["null_reasons"]["calmar"]
    assert (
        j["max_drawdown_peak"] is None and "no drawdown" in j["null_reasons"]["max_drawdown_peak"]
    )
    assert j["profit_factor"] is None
    assert "no losing trade" in j["null_reasons"]["profit_factor"]
    assert math.isfinite(s["sharpe"])
    json.dumps(j, allow_nan=False)


def test_one_observation(tmp_path: Path) -> None:
    s = compute_stats(plant(tmp_path / "one.db", START, [(D[0], 99_000.0)])).stats
    j = s.as_json()
    assert s["sessions"] == 1
    assert s["total_return"] == pytest.approx(-0.01)
    assert s["max_drawdown"] == pytest.approx(-0.01)  # the start counts as a peak
    assert s["max_drawdown_duration"] == 1
    for name in ("sharpe", "sortino", "annual_volatility"):
        assert j[name] is None
        assert "fewer than 2 sessions" in j["null_reasons"][name]
    assert j["n_trades"] == 0 and j["small_sample"] is True
    for name in ("win_rate", "profit_factor", "expectancy_r"):
        assert j[name] is None and j["null_reasons"][name] == "no trades"
    json.dumps(j, allow_nan=False)


def test_flat_returns(tmp_path: Path) -> None:
    days = [(d, START) for d in D[:3]]
    j = compute_stats(plant(tmp_path / "flat.db", START, days)).stats.as_json()
    assert j["sharpe"] is None and "do not vary" in j["null_reasons"]["sharpe"]
    assert j["exposure_sessions"] == 0.0


def test_empty_period_and_missing_file(tmp_path: Path, planted: Path) -> None:
    with pytest.raises(EmptyPeriodError, match="no completed session from 2025-01-02"):
        compute_stats(planted, Period(date(2025, 1, 2), date(2025, 2, 1)))
    empty = tmp_path / "empty.db"
    Store.open(empty).close()
    with pytest.raises(EmptyPeriodError, match="no completed session yet"):
        compute_stats(empty)
    missing = tmp_path / "nope.db"
    with pytest.raises(FileNotFoundError, match="no store at"):
        compute_stats(missing)
    assert not missing.exists()  # reading results never creates a database
    with pytest.raises(ValueError, match="ends"):
        Period(D[2], D[1])


def test_an_open_store_is_read_and_left_open(planted: Path) -> None:
    with Store.open(planted) as st:
        assert compute_stats(st).stats["n_trades"] == 5
        assert not st.closed


# -- benchmark -------------------------------------------------------------------------------
def test_benchmark_is_buy_and_hold_from_the_close_before_the_period(planted: Path) -> None:
    res = compute_stats(planted, benchmark_closes=SPY)
    b = res.benchmark
    closes = SPY.to_numpy()
    r = closes[1:] / closes[:-1] - 1
    assert b["symbol"] == "SPY" and b["base_date"] == "2023-12-26" and b["base_close"] == 470.0
    assert b["sessions"] == 8 and b["missing_closes"] == 0
    assert b["total_return"] == pytest.approx(474 / 470 - 1)
    assert b["sharpe"] == pytest.approx(hand_sharpe(r), rel=1e-9)
    assert b["max_drawdown"] == pytest.approx(hand_max_drawdown(470, list(closes[1:])))
    assert res.benchmark_curve is not None
    assert res.benchmark_curve.iloc[-1] == pytest.approx(START * 474 / 470)
    assert list(res.benchmark_curve.index) == list(res.curve.sessions)


def test_benchmark_edges(planted: Path) -> None:
    # No close before the period: bought at the first session's close, said so
    res = compute_stats(planted, benchmark_closes=SPY.iloc[1:])
    assert res.benchmark["base_date"] == "2023-12-27"
    assert "first return is 0" in res.benchmark["base_note"]
    assert res.returns.index.equals(res.curve.sessions)
    # A session without a close keeps the previous one, and is counted
    gappy = SPY.drop(pd.Timestamp("2024-01-03"))
    assert compute_stats(planted, benchmark_closes=gappy).benchmark["missing_closes"] == 1
    # Dates as plain date objects and tz-aware timestamps are accepted
    as_dates = pd.Series(SPY.to_numpy(), index=[t.date() for t in SPY.index])
    tz = pd.Series(SPY.to_numpy(), index=SPY.index.tz_localize("America/New_York"))
    for closes in (as_dates, tz):
        assert compute_stats(planted, benchmark_closes=closes).benchmark["base_close"] == 470.0
    # None at all: every figure null with the reason
    j = compute_stats(planted).benchmark.as_json()
    assert j["total_return"] is None and j["null_reasons"]["sharpe"] == "no SPY closes were given"
    outside = pd.Series([1.0, 2.0], index=pd.to_datetime(["2020-01-02", "2020-01-03"]))
    j = compute_stats(planted, benchmark_closes=outside).benchmark.as_json()
    assert "no SPY close in 2023-12-27..2024-01-08" in j["null_reasons"]["cagr"]
    json.dumps(j, allow_nan=False)
