"""Intraday print confirmation (trading rules §14): the boundaries of print_jump_pct and
confirm_s, as tables."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from workstation.core.config import DataValidationConfig
from workstation.engine.print_guard import PrintGuard
from workstation.engine.rules.prints import PrintState, PrintVerdict, judge_print

ET = ZoneInfo("America/New_York")
T0 = datetime(2024, 3, 12, 10, 0, tzinfo=ET)
CFG = DataValidationConfig()  # print_jump_pct 0.2, confirm_s 60
NAN = float("nan")


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("price", "verdict"),
    [
        pytest.param(100.0, PrintVerdict.ACCEPTED, id="unchanged"),
        pytest.param(80.0, PrintVerdict.ACCEPTED, id="exactly-20pct-down-is-not-more-than"),
        pytest.param(120.0, PrintVerdict.ACCEPTED, id="exactly-20pct-up"),
        pytest.param(79.99, PrintVerdict.HELD, id="just-over-20pct-down"),
        pytest.param(120.01, PrintVerdict.HELD, id="just-over-20pct-up"),
        pytest.param(0.01, PrintVerdict.HELD, id="the-0.01-print-of-issue-12"),
        pytest.param(0.0, PrintVerdict.INVALID, id="zero"),
        pytest.param(-5.0, PrintVerdict.INVALID, id="negative"),
        pytest.param(NAN, PrintVerdict.INVALID, id="nan"),
    ],
)
def test_a_print_against_the_last_accepted_price(price: float, verdict: PrintVerdict) -> None:
    state = PrintState(100.0, s(0))
    d = judge_print(state, price, s(1), CFG)
    assert d.verdict is verdict
    if verdict is PrintVerdict.ACCEPTED:
        assert d.act_on == ((price, s(1)),) and d.state == PrintState(price, s(1))
    else:
        assert d.act_on == ()  # not acted on: no exit, no MFE/MAE
        assert (d.state.last_price, d.state.last_at) == (100.0, s(0))
    if verdict is PrintVerdict.HELD:
        assert (d.state.pending_price, d.state.pending_at) == (price, s(1))
        assert "protective stop" in d.detail


@pytest.mark.parametrize(
    ("second", "after_s", "verdict"),
    [
        pytest.param(0.012, 5.0, PrintVerdict.CONFIRMED, id="second-print-5s-later"),
        pytest.param(0.012, 60.0, PrintVerdict.CONFIRMED, id="exactly-confirm_s-later"),
        pytest.param(0.012, 60.001, PrintVerdict.HELD, id="just-after-confirm_s"),
        pytest.param(0.012, -1.0, PrintVerdict.HELD, id="an-older-print-does-not-confirm"),
        pytest.param(0.0120, 0.0, PrintVerdict.CONFIRMED, id="same-instant"),
        pytest.param(0.008, 5.0, PrintVerdict.CONFIRMED, id="exactly-20pct-from-the-pending"),
        pytest.param(0.0079, 5.0, PrintVerdict.HELD, id="over-20pct-from-the-pending"),
        pytest.param(99.0, 5.0, PrintVerdict.ACCEPTED, id="back-to-normal-drops-the-jump"),
        pytest.param(300.0, 5.0, PrintVerdict.HELD, id="a-jump-the-other-way"),
    ],
)
def test_a_second_print_confirms_a_jump(
    second: float, after_s: float, verdict: PrintVerdict
) -> None:
    held = judge_print(PrintState(100.0, s(0)), 0.01, s(10), CFG)
    assert held.verdict is PrintVerdict.HELD
    d = judge_print(held.state, second, s(10 + after_s), CFG)
    assert d.verdict is verdict
    if verdict is PrintVerdict.CONFIRMED:
        # Both are acted on, in order; the newer is the last accepted price.
        assert d.act_on == ((0.01, s(10)), (second, s(10 + after_s)))
        assert d.state == PrintState(second, s(10 + after_s))
    elif verdict is PrintVerdict.HELD:
        assert d.act_on == ()
        assert (d.state.pending_price, d.state.pending_at) == (second, s(10 + after_s))
        assert d.state.last_price == 100.0
    else:
        assert d.act_on == ((second, s(10 + after_s)),) and d.state.pending_price is None


def test_the_first_print_is_accepted_without_a_reference() -> None:
    d = judge_print(PrintState(), 0.01, s(0), CFG)
    assert d.verdict is PrintVerdict.FIRST and d.act_on == ((0.01, s(0)),)


def test_a_real_crash_is_acted_on_at_its_second_print() -> None:
    state = PrintState(100.0, s(0))
    acted = []
    for i, price in enumerate((70.0, 69.0, 68.5, 68.0)):  # -30%, printing every 5 s
        d = judge_print(state, price, s(5 * (i + 1)), CFG)
        state = d.state
        acted += [p for p, _ in d.act_on]
    assert acted == [70.0, 69.0, 68.5, 68.0]  # nothing lost: the jump and all after it


@pytest.mark.parametrize(
    ("pct", "confirm_s", "price", "after_s", "acted"),
    [
        pytest.param(0.5, 60.0, 70.0, 0.0, True, id="30pct-is-no-jump-at-50pct"),
        pytest.param(0.1, 60.0, 85.0, 0.0, False, id="15pct-is-a-jump-at-10pct"),
        pytest.param(0.2, 10.0, 50.0, 11.0, False, id="confirm_s-10-too-late"),
        pytest.param(0.2, 10.0, 50.0, 10.0, True, id="confirm_s-10-in-time"),
    ],
)
def test_the_numbers_are_parameters(
    pct: float, confirm_s: float, price: float, after_s: float, acted: bool
) -> None:
    cfg = DataValidationConfig(print_jump_pct=pct, confirm_s=confirm_s)
    d = judge_print(PrintState(100.0, s(0)), price, s(1), cfg)
    if after_s:
        d = judge_print(d.state, price, s(1 + after_s), cfg)
    assert bool(d.act_on) is acted


# -- the engine's state: PrintGuard -----------------------------------------------------------
def _guard(reference: float | None = None) -> tuple[PrintGuard, list[tuple[str, str]]]:
    logged: list[tuple[str, str]] = []
    guard = PrintGuard(
        lambda: CFG, lambda level, msg: logged.append((level, msg)), lambda _sym: reference
    )
    return guard, logged


def test_the_guard_keeps_state_per_symbol_and_logs_each_held_jump() -> None:
    guard, logged = _guard()
    assert guard.accept("AAA", 100.0, s(0)) == ((100.0, s(0)),)
    assert guard.accept("BBB", 10.0, s(0)) == ((10.0, s(0)),)
    assert guard.accept("AAA", 0.01, s(1)) == ()
    assert guard.accept("BBB", 10.1, s(2)) == ((10.1, s(2)),)  # BBB is not held up by AAA
    assert guard.accept("AAA", 100.1, s(3)) == ((100.1, s(3)),)
    assert (guard.held, guard.confirmed) == (1, 0)
    assert logged == [("WARNING", logged[0][1])] and logged[0][1].startswith("AAA: print 0.01")


def test_a_reference_judges_the_first_print_and_a_new_session_forgets() -> None:
    guard, _ = _guard(reference=100.0)
    assert guard.accept("AAA", 0.01, s(0)) == ()  # judged against the position's 100
    assert guard.accept("AAA", 0.011, s(30)) == ((0.01, s(0)), (0.011, s(30)))  # confirmed
    assert guard.confirmed == 1
    guard.new_session()
    assert (guard.held, guard.confirmed) == (0, 0)
    assert guard.accept("AAA", 0.011, s(100)) == ()  # again against the reference


def test_the_guard_watch_for_a_thinned_stream() -> None:
    guard, _ = _guard()
    assert guard.watch("AAA", s(0)).flags(100.0, s(0))  # nothing accepted yet: every print
    guard.accept("AAA", 100.0, s(0))
    w = guard.watch("AAA", s(1))
    assert not w.flags(81.0, s(1)) and not w.flags(119.0, s(1))
    assert w.flags(80.0, s(1)) and w.flags(120.0, s(1))  # the band's edges (widened: looser)
    assert not guard.reacts_to("AAA", 119.0, s(1)) and guard.reacts_to("AAA", 121.0, s(1))
    guard.accept("AAA", 50.0, s(10))  # held: every print matters until confirm_s passes
    assert guard.watch("AAA", s(70)).flags(100.0, s(70))
    assert not guard.watch("AAA", s(70.001)).flags(100.0, s(70.001))
    assert guard.reacts_to("AAA", 100.0, s(20))  # drops the pending jump
