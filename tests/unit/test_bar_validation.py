"""Daily-bar validation of trading rules §14: every boundary from the spec, as tables."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from workstation.core.bars import BarFlag, DailyBars
from workstation.market.validation import (
    BarReport,
    duplicate_conflicts,
    problems_in,
    validate_bars,
)

NAN = float("nan")
INF = float("inf")
DATES = np.array(
    ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08"], dtype="datetime64[D]"
)


def one_symbol(rows: list[tuple[float, float, float, float, float]], sym: str = "AAA") -> DailyBars:
    arr = np.array(rows, dtype=float)
    return DailyBars(DATES[: len(rows)], (sym,), *(arr[:, k : k + 1] for k in range(5)))


def flat(close: float, volume: float = 1e6) -> tuple[float, float, float, float, float]:
    return (close, close, close, close, volume)


def kinds(report: BarReport) -> list[tuple[str, str]]:
    return [(p.kind, p.session.isoformat()) for p in report.problems]


# --------------------------------------------------------------------------- invalid bars


@pytest.mark.parametrize(
    ("bar", "found"),
    [
        pytest.param((10, 11, 9, 10, 1e6), [], id="a-good-bar"),
        pytest.param((0.0001, 0.0001, 0.0001, 0.0001, 1), [], id="a-tiny-positive-price-is-valid"),
        pytest.param((10, 11, 9, 0.0, 1e6), ["invalid_bar"], id="close-0"),
        pytest.param((10, 11, -1, 10, 1e6), ["invalid_bar"], id="low-negative"),
        pytest.param((10, 11, 9, NAN, 1e6), ["invalid_bar"], id="close-nan-others-present"),
        pytest.param((10, INF, 9, 10, 1e6), ["invalid_bar"], id="high-infinite"),
        pytest.param((10, 11, 9, 10, -1), ["invalid_bar"], id="volume-negative"),
        pytest.param((10, 11, 9, 10, NAN), ["invalid_bar"], id="volume-nan"),
        pytest.param((NAN, NAN, NAN, NAN, 5.0), ["invalid_bar"], id="volume-without-prices"),
        pytest.param((NAN, NAN, NAN, NAN, NAN), [], id="no-value-at-all-is-a-gap-not-a-bar"),
        pytest.param((10, 11, 9, 10, 0.0), ["zero_volume"], id="volume-0-is-served-and-named"),
    ],
)
def test_invalid_bar_table(bar: tuple[float, ...], found: list[str]) -> None:
    bars = one_symbol([flat(10.0), bar, flat(10.0)])  # type: ignore[list-item]
    v = validate_bars(bars)
    assert [k for k, _ in kinds(v.report)] == found
    served = v.bars.close[1, 0]
    if "invalid_bar" in found:
        assert np.isnan(served) and np.isnan(v.bars.volume[1, 0])  # not served at all
        assert v.bars.flags[1, 0] == BarFlag.INVALID
        assert v.report.problems[0].detail  # says what was wrong
    elif found == ["zero_volume"]:
        assert served == 10 and v.bars.flags[1, 0] == BarFlag.ZERO_VOLUME
    assert v.bars.flags[0, 0] == 0 and v.bars.flags[2, 0] == 0


# ------------------------------------------------------------------------------- spikes


@pytest.mark.parametrize(
    ("close", "next_close", "spike"),
    [
        pytest.param(150.0, 100.0, False, id="exactly-50pct-up-is-not-more-than"),
        pytest.param(150.01, 100.0, True, id="just-over-50pct-up-and-back"),
        pytest.param(50.0, 100.0, False, id="exactly-50pct-down"),
        pytest.param(49.99, 100.0, True, id="just-over-50pct-down-and-back"),
        pytest.param(0.01, 100.0, True, id="the-0.01-print-of-issue-12"),
        pytest.param(0.01, 110.0, True, id="next-exactly-10pct-away-is-back"),
        pytest.param(0.01, 90.0, True, id="next-exactly-10pct-below-is-back"),
        pytest.param(0.01, 110.01, False, id="next-just-over-10pct-is-not-back"),
        pytest.param(0.01, 0.01, False, id="stays-there-a-real-move"),
        pytest.param(300.0, 280.0, False, id="a-real-jump-that-holds"),
    ],
)
def test_spike_boundaries(close: float, next_close: float, spike: bool) -> None:
    bars = one_symbol([flat(100.0), flat(close), flat(next_close)])
    v = validate_bars(bars, spike_pct=0.5)
    assert (kinds(v.report) == [("spike", "2024-03-05")]) is spike
    assert bool(np.isnan(v.bars.close[1, 0])) is spike  # a spike is not served
    assert v.bars.close[2, 0] == next_close


def test_no_spike_detection_without_a_next_session_or_for_live_data() -> None:
    last = one_symbol([flat(100.0), flat(100.0), flat(0.01)])
    assert not validate_bars(last, spike_pct=0.5).report  # the last bar has no next close
    middle = one_symbol([flat(100.0), flat(0.01), flat(100.0)])
    assert not validate_bars(middle, spike_pct=None).report  # live data: no spike rule


def test_spike_neighbours_skip_gaps_and_invalid_bars() -> None:
    # 100, a gap, 0.01, an invalid bar, 101: the 0.01's neighbours are 100 and 101.
    bars = one_symbol([flat(100.0), (NAN,) * 5, flat(0.01), (10, 11, 9, 0.0, 1), flat(101.0)])
    v = validate_bars(bars, spike_pct=0.5)
    assert kinds(v.report) == [("invalid_bar", "2024-03-07"), ("spike", "2024-03-06")]


def test_spike_pct_is_the_parameter() -> None:
    bars = one_symbol([flat(100.0), flat(125.0), flat(101.0)])
    assert not validate_bars(bars, spike_pct=0.5).report
    assert kinds(validate_bars(bars, spike_pct=0.2).report) == [("spike", "2024-03-05")]


# ---------------------------------------------------------------------- high/low repair


@pytest.mark.parametrize(
    ("bar", "counted", "high", "low"),
    [
        pytest.param((10.0, 11.0, 9.0, 10.5), False, 11.0, 9.0, id="brackets"),
        pytest.param(
            (10.0, 10.5 * (1 - 1e-12), 9.0, 10.5), False, 10.5, 9.0, id="float-noise-silent"
        ),
        pytest.param((10.0, 10.4, 9.0, 10.5), True, 10.5, 9.0, id="high-below-close"),
        pytest.param((10.0, 11.0, 10.2, 10.5), True, 11.0, 10.0, id="low-above-open"),
        pytest.param((10.0, 9.0, 11.0, 10.5), True, 11.0, 9.0, id="high-and-low-swapped"),
    ],
)
def test_high_low_repair(
    bar: tuple[float, float, float, float], counted: bool, high: float, low: float
) -> None:
    v = validate_bars(one_symbol([flat(10.0), (*bar, 1e6)]))
    assert (kinds(v.report) == [("repaired", "2024-03-05")]) is counted
    assert v.bars.high[1, 0] == high and v.bars.low[1, 0] == low
    assert v.bars.close[1, 0] == bar[3]  # served


# ------------------------------------------------------------------- duplicate conflicts


@pytest.mark.parametrize(
    ("second", "conflict"),
    [
        pytest.param((10.0, 11.0, 9.0, 10.5, 1e6), False, id="identical-rows-are-one-bar"),
        pytest.param((10.0, 11.0, 9.0, 10.5 * (1 + 1e-12), 1e6), False, id="float-noise-agrees"),
        pytest.param((10.0, 11.0, 9.0, 10.5 * (1 + 1e-6), 1e6), True, id="a-real-difference"),
        pytest.param((10.0, 11.0, 9.0, 10.5, 2e6), True, id="volume-differs"),
        pytest.param((10.0, 11.0, 9.0, NAN, 1e6), True, id="nan-vs-a-value"),
    ],
)
def test_duplicate_conflict_table(second: tuple[float, ...], conflict: bool) -> None:
    keys = np.array([7, 3, 7])
    values = np.array([(10.0, 11.0, 9.0, 10.5, 1e6), (1, 1, 1, 1, 1), second])
    first, bad = duplicate_conflicts(keys, values)
    assert first.tolist() == [True, True, False]
    assert bad.tolist() == [conflict, False, conflict]


def test_nan_equals_nan_in_duplicates() -> None:
    row = (10.0, 11.0, 9.0, 10.5, NAN)
    _, bad = duplicate_conflicts(np.array([1, 1]), np.array([row, row]))
    assert not bad.any()


def test_conflicting_cells_are_not_served_and_named() -> None:
    bars = one_symbol([flat(10.0), flat(11.0), flat(12.0)])
    conflicts = np.zeros((3, 1), dtype=bool)
    conflicts[1, 0] = True
    v = validate_bars(bars, conflicts=conflicts, spike_pct=0.5)
    assert kinds(v.report) == [("duplicate_conflict", "2024-03-05")]
    assert np.isnan(v.bars.close[1, 0]) and v.bars.flags[1, 0] == BarFlag.DUPLICATE_CONFLICT


# --------------------------------------------------------------------- flags and reports


def test_flags_travel_with_slices_and_validation_is_idempotent() -> None:
    rng = np.random.default_rng(3)
    close = 100 + rng.normal(0, 1, (4, 3)).cumsum(axis=0)
    close[1, 2] = 0.01  # a spike of CCC
    volume = np.full((4, 3), 1e6)
    volume[2, 0] = 0.0  # AAA traded nothing
    bars = DailyBars(DATES[:4], ("AAA", "BBB", "CCC"), close, close, close, close, volume)
    v = validate_bars(bars, spike_pct=0.5)
    assert v.report.by_kind() == {
        "spike": {"CCC": ["2024-03-05"]},
        "zero_volume": {"AAA": ["2024-03-06"]},
    }
    assert v.report.counts()["spike"] == 1 and v.report.symbols() == ("CCC",)
    assert v.bars.select(["CCC"]).upto(date(2024, 3, 5)).flagged(BarFlag.SPIKE).tolist() == [
        [False],
        [True],
    ]
    assert problems_in(v.bars.tail(2)).by_kind() == {"zero_volume": {"AAA": ["2024-03-06"]}}
    again = validate_bars(v.bars, spike_pct=0.5)
    np.testing.assert_array_equal(again.bars.flags, v.bars.flags)
    np.testing.assert_array_equal(again.bars.close, v.bars.close)
    lines = v.report.lines()
    assert lines[0].startswith("1 spike (not served) in 1 symbol (CCC): CCC 2024-03-05: close 0.01")
    assert "zero-volume bar (no entry that session)" in lines[1]


def test_unvalidated_bars_have_no_flags() -> None:
    bars = one_symbol([flat(10.0)])
    assert bars.flags is None and not bars.flagged(BarFlag.INVALID).any()
    assert not problems_in(bars)
