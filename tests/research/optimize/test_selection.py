"""Honest selection on finished trials: the objective and --min-trades, a deterministic choice,
and walk-forward windows that choose on training sessions only and are judged on test
sessions stitched end to end."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from workstation.research.optimize.objective import (
    Objective,
    TrialRun,
    trade_from_json,
    trade_to_json,
)
from workstation.research.optimize.selection import TrialRecord, choose, walk_forward
from workstation.research.optimize.windows import Segment, make_windows, parse_walk_forward
from workstation.research.returns import return_figures
from workstation.store import TradeRow

SESSIONS = [date(2024, 1, 1) + timedelta(days=i) for i in range(60)]


def _trade(i: int, exit_session: date, pnl: float, r: float) -> TradeRow:
    at = datetime(exit_session.year, exit_session.month, exit_session.day, 15, tzinfo=UTC)
    return TradeRow(
        id=i, position_id=i, candidate_id=None, symbol=f"S{i}", side="long", strategy="x",
        qty=10, entry_price=100.0, entry_at=at - timedelta(days=2),
        entry_session=exit_session - timedelta(days=2), exit_price=100 + pnl / 10, exit_at=at,
        exit_session=exit_session, exit_reason="TAKE_PROFIT" if pnl > 0 else "STOP_LOSS",
        pnl=pnl, pnl_pct=pnl / 1000, r_multiple=r, days_held=3, sl_mult=2.0, atr14=1.0,
        mfe_price=None, mfe_pct=None, mfe_r=None, mfe_at=None, mae_price=None, mae_pct=None,
        mae_r=None, mae_at=None,
    )  # fmt: skip


def _trial(number: int, returns: np.ndarray, trades_every: int = 2) -> TrialRecord:
    trades = tuple(
        _trade(i, SESSIONS[i], 100.0 * np.sign(returns[i]) or 1.0, float(np.sign(returns[i])))
        for i in range(0, len(SESSIONS), trades_every)
    )
    rec = TrialRecord(0, number, {"k": number}, state="complete")
    rec.run = TrialRun(SESSIONS[0], tuple(SESSIONS), np.asarray(returns, dtype=float), trades)
    return rec


def _seg(i: int, j: int) -> Segment:
    return Segment(SESSIONS[i], SESSIONS[j - 1], j - i)


def test_segment_figures_are_the_backtesters() -> None:
    rng = np.random.default_rng(1)
    rec = _trial(0, rng.normal(0.001, 0.01, 60))
    f = rec.figures(_seg(10, 30))
    want = return_figures(
        pd.Series(rec.run.returns[10:30], index=pd.DatetimeIndex(SESSIONS[10:30]))
    )
    assert f["sharpe"] == pytest.approx(want["sharpe"])
    assert f["sessions"] == 20
    assert f["n_trades"] == 10  # exits on sessions 10, 12, ..., 28


def test_min_trades_and_undefined_figures_leave_a_trial_without_value() -> None:
    rec = _trial(0, np.full(60, 0.001), trades_every=10)
    seg = _seg(0, 30)
    assert Objective("sharpe", 0).score(rec.figures(seg)) == (
        None,
        "daily returns do not vary (standard deviation 0)",
    )
    value, why = Objective("expectancy", 5).score(rec.figures(seg))
    assert value is None and why == "3 trades, fewer than --min-trades 5"
    assert Objective("expectancy", 3).score(rec.figures(seg))[0] == pytest.approx(1.0)
    assert choose([rec], seg, Objective("sharpe", 0)) is None


def test_the_choice_is_the_highest_value_ties_by_parameters_not_finish_order() -> None:
    rng = np.random.default_rng(2)
    base = rng.normal(0.0, 0.01, 60)
    a, b, c = _trial(2, base + 0.002), _trial(1, base + 0.002), _trial(0, base)
    a.params, b.params, c.params = {"k": 2.0}, {"k": 1.5}, {"k": 1.0}
    for order in ([a, b, c], [c, b, a], [b, c, a]):
        got = choose(order, _seg(0, 60), Objective("sharpe", 0))
        assert got is not None and got.trial is b  # a and b tie: the smaller parameters
        assert got.candidates == 3 and got.deflated.n_trials == 3
    assert got.overfitting is not None and got.overfitting.trials == 3


def test_walk_forward_chooses_on_training_sessions_only() -> None:
    """Two trials that swap places every 10 sessions: whichever is the best on a window's 10
    training sessions is the worse on its 10 test sessions. A procedure that peeked at the
    test sessions would pick the other one; each window must pick the training winner, and
    the stitched out-of-sample result is its test returns end to end."""
    rng = np.random.default_rng(4)
    noise = rng.normal(0.0, 0.002, 60)
    early_r = noise + np.where(np.arange(60) % 20 < 10, 0.004, -0.002)
    late_r = noise + np.where(np.arange(60) % 20 < 10, -0.002, 0.004)
    early, late = _trial(0, early_r), _trial(1, late_r)
    windows, live = make_windows(SESSIONS, parse_walk_forward("10:10"))
    assert len(windows) == 5
    trials_of = {w.index: [early, late] for w in (*windows, live)}
    wf = walk_forward(windows, live, trials_of, Objective("sharpe", 0), starting_equity=1000.0)
    for w in wf.windows:
        assert w.choice is not None and w.choice.segment == w.window.train
        chosen = w.choice.trial
        other = late if chosen is early else early
        train, test = w.window.train, w.window.test
        assert chosen.figures(train)["sharpe"] > other.figures(train)["sharpe"]
        assert chosen.figures(test)["sharpe"] < other.figures(test)["sharpe"]  # no peeking
        assert w.oos_value == pytest.approx(chosen.figures(test)["sharpe"])
    picks = [w.choice.trial for w in wf.windows]
    test_returns = np.concatenate(
        [p.run.returns[SESSIONS.index(w.window.test.first) : SESSIONS.index(w.window.test.last) + 1]
         for p, w in zip(picks, wf.windows, strict=True)]
    )  # fmt: skip
    np.testing.assert_allclose(wf.curve.to_numpy(), 1000.0 * np.cumprod(1 + test_returns))
    assert len(wf.curve) == 50 and wf.curve.index[0] == pd.Timestamp(SESSIONS[10])
    assert wf.stitched["sessions"] == 50
    assert wf.live is not None and wf.live.choice is not None
    assert wf.live.choice.segment == live.train


def test_a_window_without_a_choice_stays_in_cash() -> None:
    flat = _trial(0, np.zeros(60), trades_every=100)  # 1 trade, no variance
    windows, live = make_windows(SESSIONS, parse_walk_forward("20:20"))
    wf = walk_forward(
        windows, live, {w.index: [flat] for w in (*windows, live)}, Objective("sharpe", 0),
        starting_equity=500.0,
    )  # fmt: skip
    assert all(w.choice is None for w in wf.windows)
    assert (wf.curve == 500.0).all() and len(wf.curve) == 40
    doc = wf.as_json(Objective("sharpe", 0))
    assert "no trial reached a sharpe value" in doc["windows"][0]["no_choice_reason"]


def test_trades_round_trip_through_json() -> None:
    t = _trade(7, SESSIONS[3], -50.0, -1.0)
    assert trade_from_json(trade_to_json(t)) == t
