"""The what-if behind the SL/TP advice: a trade followed day by day on daily bars under other
multipliers (workstation.research.sltp_paths), at every boundary of §12, and day by day
against the engine's own exit rule (exit_decision)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, time

import numpy as np
import pytest

from workstation.core.calendar import ET
from workstation.core.config import ExitConfig
from workstation.core.models import ExitReason, Side
from workstation.engine.rules.entries import sl_tp_from_fill
from workstation.engine.rules.exits import exit_decision
from workstation.research.sltp_paths import (
    HELD,
    KEPT,
    STALE_SESSIONS,
    STOP_LOSS,
    TAKE_PROFIT,
    TIME_EXIT,
    ExitRules,
    Touch,
    TradePath,
    simulate,
)

RULES = ExitRules(sltp_from_day=2, time_exit_day=5, slippage_bps=0.0)
NO = (math.nan,) * 4
QUIET = (100.0, 100.5, 99.5, 100.0)  # touches neither 97 nor 104


def path(days: list[tuple[float, ...]], side: Side = Side.LONG, kept: float | None = None):
    """A trade filled at 100 with ATR 2, bars from day 2 (missing days: NaN)."""
    rows = list(days) + [NO] * (RULES.days - len(days))
    return TradePath(1, "s", side, 100.0, 2.0, 1.5, 2.0, "TIME_EXIT", 0.0, kept, np.array(rows))


def one(p: TradePath, sl: float = 1.5, tp: float = 2.0, touch=Touch.PESSIMISTIC, rules=RULES):
    out = simulate([p], np.array([[sl]]), np.array([[tp]]), rules, touch)
    return float(out.r[0, 0]), int(out.code[0, 0]), bool(out.ambiguous[0, 0])


# A long filled at 100, ATR 2: SL 1.5 ATR = 97, TP 2 ATR = 104; one R = 3.
@pytest.mark.parametrize(
    ("days", "r", "code", "ambiguous"),
    [
        ([(100, 101, 97.0, 99)], -1.0, STOP_LOSS, False),  # the low touches the stop exactly
        ([(100, 101, 97.01, 99), QUIET, QUIET, (100, 101, 99, 100.6)], 0.2, TIME_EXIT, False),
        ([(100, 104.0, 99, 103)], 4 / 3, TAKE_PROFIT, False),  # the high touches the target
        ([(100, 103.99, 99, 103), QUIET, QUIET, (100, 101, 99, 99.4)], -0.2, TIME_EXIT, False),
        ([(100, 104.5, 96.5, 100)], -1.0, STOP_LOSS, True),  # both: the stop (pessimistic)
        ([QUIET, (95.0, 96, 94, 95.5)], -5 / 3, STOP_LOSS, False),  # gapped through: the open
        ([QUIET, (106.0, 107, 105, 106)], 2.0, TAKE_PROFIT, False),  # above the target: open
        ([QUIET, (97.0, 98, 96.9, 97.5)], -1.0, STOP_LOSS, False),  # opens on the stop
        ([QUIET, QUIET, QUIET, (100, 101, 99, 101.5)], 0.5, TIME_EXIT, False),  # day-5 close
        ([QUIET, QUIET, QUIET, NO, (102.0, 103, 101, 102)], 2 / 3, TIME_EXIT, False),  # stale
        ([QUIET, QUIET, QUIET, NO, (96.0, 97, 95, 96)], -4 / 3, STOP_LOSS, False),  # stale, gap
        ([QUIET, QUIET], math.nan, HELD, False),  # no bar reaches the exit: not followed
    ],
    ids=[
        "low-on-stop",
        "low-a-cent-above",
        "high-on-target",
        "high-a-cent-below",
        "both-in-range",
        "gap-through-stop",
        "gap-through-target",
        "opens-on-stop",
        "time-exit-close",
        "stale-next-open",
        "stale-open-through-stop",
        "path-ends",
    ],
)
def test_a_long_day_by_day(days, r, code, ambiguous) -> None:
    got_r, got_code, got_amb = one(path(days))
    assert got_code == code
    assert got_amb is ambiguous
    if math.isnan(r):
        assert math.isnan(got_r)
    else:
        assert got_r == pytest.approx(r, abs=1e-12)


def test_optimistic_takes_the_target_when_a_day_spans_both() -> None:
    assert one(path([(100, 104.5, 96.5, 100)]), touch=Touch.OPTIMISTIC) == (
        pytest.approx(4 / 3),
        TAKE_PROFIT,
        True,
    )


def test_a_short_is_mirrored() -> None:
    # short at 100, ATR 2: SL 103, TP 96
    assert one(path([(100, 103.0, 99, 100)], Side.SHORT))[:2] == (-1.0, STOP_LOSS)
    assert one(path([(100, 101, 96.0, 97)], Side.SHORT))[:2] == (pytest.approx(4 / 3), TAKE_PROFIT)
    assert one(path([(95.0, 96, 94, 95)], Side.SHORT))[:2] == (pytest.approx(5 / 3), TAKE_PROFIT)
    quiet = [QUIET] * 3 + [(100, 101, 99, 98.5)]
    assert one(path(quiet, Side.SHORT))[:2] == (pytest.approx(0.5), TIME_EXIT)


def test_a_trade_that_ended_before_the_sltp_keeps_its_exit_under_every_candidate() -> None:
    p = path([(50, 51, 49, 50)], kept=93.0)  # the day-1 emergency exit at 93
    out = simulate([p], np.array([[1.0, 2.0]]), np.array([[1.0, 6.0]]), RULES)
    assert out.code.tolist() == [[KEPT, KEPT]]
    # the same loss in dollars, in R of each candidate's stop: -7 / (1 * 2), -7 / (2 * 2)
    assert out.r.tolist() == [[-3.5, -1.75]]


def test_slippage_is_paid_against_the_position_on_every_simulated_exit() -> None:
    rules = ExitRules(2, 5, slippage_bps=10.0)
    r, code, _ = one(path([(100, 101, 97.0, 99)]), rules=rules)
    assert code == STOP_LOSS and r == pytest.approx((97 * 0.999 - 100) / 3)
    r, code, _ = one(path([(100, 101, 96.0, 97)], Side.SHORT), rules=rules)
    assert code == TAKE_PROFIT and r == pytest.approx(-(96 * 1.001 - 100) / 3)


def test_the_sltp_from_a_later_day_and_a_shorter_time_exit() -> None:
    rules = ExitRules(sltp_from_day=3, time_exit_day=3)
    # bars start at day 3: the first row is day 3, the time-exit day
    assert one(path([(100, 101, 97.0, 99)]), rules=rules)[1] == STOP_LOSS
    assert one(path([(100, 101, 99, 101.5)]), rules=rules)[:2] == (pytest.approx(0.5), TIME_EXIT)


def test_candidates_are_a_grid_over_many_trades_at_once() -> None:
    a = path([(100, 103, 98, 102), (102, 105, 101, 104)])  # +1.5 ATR then +2.5
    b = path([(100, 100.5, 95, 96)])  # -2.5 ATR on day 2
    sl = np.array([[1.0, 1.0, 3.0, 3.0]])
    tp = np.array([[1.0, 2.0, 1.0, 2.0]])
    out = simulate([a, b], sl, tp, RULES)
    assert out.code.tolist() == [
        [STOP_LOSS, STOP_LOSS, TAKE_PROFIT, TAKE_PROFIT],  # SL 1 ATR = 98 touched on day 2
        [STOP_LOSS, STOP_LOSS, HELD, HELD],  # SL 3 ATR = 94 never touched, no more bars
    ]
    assert out.ambiguous[0].tolist() == [True, False, False, False]
    assert out.complete.tolist() == [True, False]


# ---------------------------------------------------------------- against the engine's rule
@dataclass(frozen=True)
class _Pos:
    side: Side
    fill_price: float
    atr14: float
    sl_mult: float
    tp_mult: float


def _engine_exit(pos: _Pos, bars: np.ndarray, cfg: ExitConfig) -> tuple[float, str] | None:
    """The trade's exit as the engine's exit_decision decides it, fed each day's prices in
    the pessimistic order: the open, the extreme against the position, the one for it, and
    the close at the time-exit time; None: it never exits on these bars."""
    for j, (o, h, lo, c) in enumerate(bars):
        if not (np.isfinite([o, h, lo, c]).all() and min(o, h, lo, c) > 0):
            continue  # no bar (or an unusable one): no price that session
        day = max(2, cfg.sltp_from_day) + j
        d = datetime(2025, 3, 3 + j, tzinfo=ET)
        exit_at = datetime.combine(d.date(), time(15, 50), ET)
        against, favour = (lo, h) if pos.side is Side.LONG else (h, lo)
        feed = [(o, time(9, 30)), (against, time(10, 0)), (favour, time(12, 0)), (c, time(15, 50))]
        for k, (price, at) in enumerate(feed):
            now = datetime.combine(d.date(), at, ET)
            dec = exit_decision(pos, float(price), now, day, cfg, exit_at)
            if dec.exit:
                assert dec.reason is not None
                if dec.reason is ExitReason.TIME_EXIT or k == 0:
                    return float(price), str(dec.reason)
                return float(dec.level), str(dec.reason)  # touched during the day: the level
    return None


def test_day_by_day_it_decides_as_the_engines_exit_rule() -> None:
    rng = np.random.default_rng(7)
    cfg = ExitConfig()
    rules = ExitRules(cfg.sltp_from_day, cfg.time_exit_day, 0.0)
    names = {STOP_LOSS: "STOP_LOSS", TAKE_PROFIT: "TAKE_PROFIT", TIME_EXIT: "TIME_EXIT"}
    checked = 0
    for _ in range(300):
        side = Side.LONG if rng.random() < 0.5 else Side.SHORT
        fill = float(rng.uniform(10, 500))
        atr = fill * float(rng.uniform(0.005, 0.05))
        pos = _Pos(side, fill, atr, float(rng.choice([0.5, 1.5, 2.25])), float(rng.choice([1, 3])))
        sl, tp = sl_tp_from_fill(side, fill, atr, pos.sl_mult, pos.tp_mult)
        rows = []
        for _d in range(rules.days):
            o = fill + atr * rng.normal(0, 1.5)
            c = fill + atr * rng.normal(0, 1.5)
            h = max(o, c) + atr * rng.exponential(0.7)
            lo = min(o, c) - atr * rng.exponential(0.7)
            u = rng.random()
            if u < 0.3:  # a day whose extreme is exactly a level (touching exits)
                level = sl if u < 0.15 else tp
                if level < min(o, c):
                    lo = level
                elif level > max(o, c):
                    h = level
            u = rng.random()
            rows.append(NO if u < 0.1 else (o, h, -1.0, c) if u < 0.12 else (o, h, lo, c))
        bars = np.array(rows)
        p = TradePath(0, "s", side, fill, atr, pos.sl_mult, pos.tp_mult, "", 0.0, None, bars)
        out = simulate([p], np.array([[pos.sl_mult]]), np.array([[pos.tp_mult]]), rules)
        want = _engine_exit(pos, bars, cfg)
        if want is None:
            assert out.code[0, 0] == HELD
            continue
        price, reason = want
        assert names[int(out.code[0, 0])] == reason
        r = side.sign * (price - fill) / (pos.sl_mult * atr)
        assert out.r[0, 0] == pytest.approx(r, rel=1e-9, abs=1e-9)
        checked += 1
    assert checked > 250


def test_the_path_holds_the_days_to_the_time_exit_and_the_stale_sessions() -> None:
    assert RULES.days == 4 + STALE_SESSIONS  # days 2, 3, 4, 5
    assert ExitRules(sltp_from_day=1, time_exit_day=5).first_day == 2  # never the entry day


@pytest.mark.parametrize(
    ("sl", "cap", "risked"),
    [
        (2.0, 30.0, 1.0),  # stop 4 > 100 / 30: the cap does not bind, the R of the stop
        (1.5, 30.0, 1.2),  # stop 3 < 100 / 30: the cap binds, a little: +4 / (100 / 30)
        (2.0, 25.0, 1.0),  # stop 4 = 100 / 25: exactly on the cap, the R of the stop
        (0.5, 30.0, 4 / (100 / 30)),  # stop 1: 3.3x the shares the cap allows
        (0.5, 0.0, 4.0),  # no cap: the R of the stop
    ],
    ids=["wide-stop", "binds", "on-the-cap", "tight-stop", "no-cap"],
)
def test_the_position_cap_limits_what_a_tight_stop_earns(sl, cap, risked) -> None:
    p = path([(100, 104.0, 99.5, 103)])  # +4 at the 2 ATR target
    rules = ExitRules(2, 5, 0.0, position_cap=cap)
    out = simulate([p], np.array([[sl]]), np.array([[2.0]]), rules)
    assert out.code[0, 0] == TAKE_PROFIT and out.move[0, 0] == pytest.approx(4.0)
    assert out.r[0, 0] == pytest.approx(4.0 / (sl * 2.0))  # the record's R: per share / stop
    assert out.risked[0, 0] == pytest.approx(risked)
