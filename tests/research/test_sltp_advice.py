"""SL/TP advice from MFE/MAE (workstation.research.sltp_advice): the verdicts at their
boundaries (too few trades, better beyond chance or not), the intervals, the agreement with
the recorded exits, and what is left out."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from workstation.core.models import Side
from workstation.research.sltp_advice import (
    ADVISE,
    KEEP,
    MISMATCH,
    THIN,
    Grid,
    Settings,
    advise,
    advise_strategy,
)
from workstation.research.sltp_paths import REASONS, ExitRules, Touch, TradePath, simulate

RULES = ExitRules(sltp_from_day=2, time_exit_day=5, slippage_bps=0.0)
NO = (math.nan,) * 4
SMALL = Grid(Grid.steps(1.0, 3.0, 0.5), Grid.steps(1.0, 5.0, 0.5))
FAST = Settings(grid=SMALL, resamples=300)


def trade(days, i: int = 0, strategy: str = "s", reason: str = "TIME_EXIT", r: float = 0.0):
    """A long at 100 with ATR 1, made with SL 2 / TP 4, bars from day 2."""
    rows = list(days) + [NO] * (RULES.days - len(days))
    return TradePath(i, strategy, Side.LONG, 100.0, 1.0, 2.0, 4.0, reason, r, None, np.array(rows))


def as_made(p: TradePath) -> TradePath:
    """``p`` with the exit reason and R its own values give on its bars (as a run records)."""
    out = simulate([p], np.array([[p.sl_mult]]), np.array([[p.tp_mult]]), RULES)
    return replace(p, reason=REASONS[int(out.code[0, 0])], r=float(out.r[0, 0]))


def runs_up_then_fades(i: int) -> TradePath:
    """Reaches +3 ATR on day 2, fades to -1.5 ATR by the day-5 close: a 4 ATR target never
    fills, a 3 ATR one always does (recorded as the time exit it was at TP 4)."""
    wobble = 0.1 * (i % 3)
    days = [
        (100, 103.0 + wobble, 99.5, 102),
        (102, 102.5, 100, 100.5),
        (100.5, 101, 99, 99.5),
        (99.5, 100, 98.4, 98.5),
    ]
    return trade(days, i, r=-0.75)


def noise(i: int, rng: np.random.Generator) -> TradePath:
    days = []
    price = 100.0
    for _ in range(4):
        o = price + rng.normal(0, 0.5)
        c = o + rng.normal(0, 1.0)
        days.append((o, max(o, c) + rng.exponential(0.5), min(o, c) - rng.exponential(0.5), c))
        price = c
    return as_made(trade(days, i))


@pytest.mark.parametrize(
    ("count", "min_trades", "verdict"),
    [
        (0, 30, THIN),
        (29, 30, THIN),
        (30, 30, ADVISE),
        (5, 5, ADVISE),
        (4, 5, THIN),
        (1, 1, THIN),  # one trade cannot be resampled: never advice
        (2, 1, ADVISE),
    ],
    ids=[
        "none",
        "one-short",
        "exactly-enough",
        "lower-threshold",
        "below-it",
        "one-trade",
        "two-trades",
    ],
)
def test_thin_evidence_is_said_instead_of_advice(count, min_trades, verdict) -> None:
    paths = [runs_up_then_fades(i) for i in range(count)]
    settings = Settings(grid=SMALL, resamples=300, min_trades=min_trades)
    a = advise_strategy("s", paths, (2.0, 4.0), RULES, settings)
    assert a.verdict == verdict
    assert a.n_trades == count
    if verdict == THIN:
        assert a.best is None
        assert f"{count} trades" in a.message and "too few to advise" in a.message
        assert f"at least {max(min_trades, 2)}" in a.message
        if count:  # the current values' expectancy is still shown, without an interval
            assert a.current is not None and a.current.interval is None
            assert a.current.expectancy == pytest.approx(-0.75)
    else:
        assert a.best is not None


def test_a_clearly_better_target_is_advised_with_its_intervals() -> None:
    paths = [runs_up_then_fades(i) for i in range(40)]
    a = advise_strategy("s", paths, (2.0, 4.0), RULES, FAST)
    assert a.verdict == ADVISE
    assert a.current is not None and a.best is not None
    assert (a.current.sl, a.current.tp) == (2.0, 4.0)
    assert a.current.expectancy == pytest.approx(-0.75)  # -1.5 ATR / 2 ATR stop
    assert a.current.exits["TIME_EXIT"] == 40
    # the best is the widest stop that is never touched with the 3 ATR target: SL 1 would
    # be touched on day 4 only after the target filled on day 2, so every SL ties; the tightest
    # stop gives the most R for the same +3 ATR
    assert a.best.tp == 3.0 and a.best.sl == 1.0
    assert a.best.expectancy == pytest.approx(3.0)
    assert a.best.exits["TAKE_PROFIT"] == 40
    assert a.best.interval is not None and a.best.interval.lo <= 3.0 <= a.best.interval.hi
    assert a.improvement == pytest.approx(3.75)
    assert a.improvement_oob is not None and a.improvement_oob.lo > 0
    assert a.at_edge == ("SL low",)
    assert "SL 1 / TP 3 ATR" in a.message and "+3.00R" in a.message and "edge" in a.message
    assert a.stability is not None and a.stability > 0.9
    assert a.surface is not None and a.surface.shape == (len(SMALL.sl), len(SMALL.tp))


def test_without_structure_the_current_values_are_kept() -> None:
    rng = np.random.default_rng(3)
    paths = [noise(i, rng) for i in range(60)]
    a = advise_strategy("s", paths, (2.0, 4.0), RULES, FAST)
    assert a.verdict == KEEP
    assert a.improvement_oob is not None and a.improvement_oob.lo <= 0
    assert a.message.startswith("Keep SL 2 / TP 4")


def test_the_current_values_are_candidates_even_off_the_grid() -> None:
    paths = [runs_up_then_fades(i) for i in range(40)]
    a = advise_strategy("s", paths, (1.7, 2.9), RULES, FAST)
    assert a.current is not None and (a.current.sl, a.current.tp) == (1.7, 2.9)
    assert a.current.exits["TAKE_PROFIT"] == 40  # 2.9 ATR is reached
    assert a.made_with == (2.0, 4.0)  # the trades were made with other values: said


@pytest.mark.parametrize(
    ("mismatched", "verdict", "agreement"),
    [(0, ADVISE, 1.0), (8, ADVISE, 0.8), (9, MISMATCH, 31 / 40), (20, MISMATCH, 0.5)],
    ids=["all-reproduced", "exactly-80%", "under-80%", "half"],
)
def test_bars_that_do_not_reproduce_the_trades_give_no_advice(
    mismatched, verdict, agreement
) -> None:
    """Trades recorded as stopped out while their bars say they reached the time exit: the
    bars are not the ones the trades were made on."""
    made = [runs_up_then_fades(i) for i in range(40)]
    paths = [replace(p, reason="STOP_LOSS", r=-1.0) if p.trade_id < mismatched else p for p in made]
    paths += [replace(made[0], trade_id=99, reason="MANUAL")]  # not a rule exit: not checked
    a = advise_strategy("s", paths, (2.0, 4.0), RULES, FAST)
    assert a.agreement == pytest.approx(agreement)
    assert a.verdict == verdict
    assert a.recorded_expectancy == pytest.approx(
        (-1.0 * mismatched - 0.75 * (41 - mismatched)) / 41
    )
    assert a.simulated_expectancy == pytest.approx(-0.75)
    if verdict == MISMATCH:
        assert a.current is None and a.best is None
        assert a.message.startswith("No advice: the daily bars at hand do not reproduce")
        assert f"{agreement:.0%} of 40 exits" in a.message


def test_trades_without_the_bars_to_their_exit_are_left_out_and_counted() -> None:
    short = trade([(100, 101, 99.5, 100.5)], 99)  # one day of bars: no exit for any pair
    a = advise_strategy("s", [*(runs_up_then_fades(i) for i in range(30)), short], (2, 4), RULES)
    assert a.n_trades == 30 and a.left_out == 1


def test_the_other_touch_assumption_bounds_the_advice() -> None:
    # a day spanning both 2 ATR levels: pessimistic -1R, optimistic +1R
    paths = [as_made(trade([(100, 102.5, 97.5, 100)], i)) for i in range(30)]
    grid = Grid((2.0,), (2.0, 3.0))
    pess = advise_strategy("s", paths, (2.0, 3.0), RULES, Settings(grid=grid, resamples=200))
    assert pess.best is not None and pess.best.ambiguous == 30
    assert pess.best.expectancy == pytest.approx(-1.0)
    assert pess.other_touch_expectancy == pytest.approx(1.0)
    opt = Settings(grid=grid, resamples=200, touch=Touch.OPTIMISTIC)
    assert advise_strategy("s", paths, (2.0, 3.0), RULES, opt).best.expectancy == 1.0


def test_the_same_seed_gives_the_same_advice() -> None:
    rng = np.random.default_rng(5)
    paths = [noise(i, rng) for i in range(40)]
    a = advise_strategy("s", paths, (2.0, 4.0), RULES, FAST)
    b = advise_strategy("s", paths, (2.0, 4.0), RULES, FAST)
    assert a.improvement_oob == b.improvement_oob and a.message == b.message


def test_every_strategy_of_the_configuration_is_listed_with_or_without_trades() -> None:
    paths = [runs_up_then_fades(i) for i in range(3)]
    paths += [trade(runs_up_then_fades(0).bars[:4].tolist(), 9, strategy="legacy")]
    got = advise(paths, {"a": (1.5, 2.0), "s": (2.0, 4.0)}, RULES, FAST)
    assert [s.strategy for s in got.strategies] == ["a", "s", "legacy"]
    assert got.get("a").verdict == THIN and got.get("a").n_trades == 0
    assert got.get("legacy").current.sl == 2.0  # not configured: the values it was made with
    assert any("first" in line and "pessimistic" in line for line in got.assumptions)


@pytest.mark.parametrize(
    ("lo", "hi", "step", "axis"),
    [(0.5, 1.0, 0.25, (0.5, 0.75, 1.0)), (1.0, 1.0, 0.5, (1.0,)), (0.1, 0.3, 0.1, (0.1, 0.2, 0.3))],
)
def test_grid_axes(lo, hi, step, axis) -> None:
    assert Grid.steps(lo, hi, step) == axis


@pytest.mark.parametrize(("lo", "hi", "step"), [(0, 1, 0.5), (2, 1, 0.5), (1, 2, 0)])
def test_a_bad_grid_is_refused(lo, hi, step) -> None:
    with pytest.raises(ValueError, match="0 < lo <= hi and step > 0"):
        Grid.steps(lo, hi, step)
