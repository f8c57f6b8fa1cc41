"""The float tolerance every rule boundary uses (engine/rules/numeric.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workstation.engine.rules.numeric import (
    above,
    at_or_above,
    at_or_below,
    below,
    is_positive,
    tolerant_floor,
)


@pytest.mark.parametrize(
    ("a", "b", "le", "ge", "gt", "lt"),
    [
        (100.3, 100 * 1.003, True, True, False, False),  # 100.29999999999998: equal
        (103 / 100 - 1, 0.03, True, True, False, False),  # 0.030000000000000027: equal
        (100.31, 100.3, False, True, True, False),  # a real cent apart
        (0.0301, 0.03, False, True, True, False),
        (0.0001, 0.0002, True, False, False, True),  # small values: relative, not absolute
        (math.nan, 1.0, False, False, False, False),
    ],
    ids=["price-noise", "fraction-noise", "a-cent-above", "fraction-above", "tiny-values", "nan"],
)
def test_comparisons(a, b, le, ge, gt, lt) -> None:
    assert at_or_below(a, b) is le
    assert at_or_above(a, b) is ge
    assert above(a, b) is gt
    assert below(a, b) is lt


@pytest.mark.parametrize(
    ("x", "n"),
    [
        (95040 * 0.005 / (1.5 * 1.1), 288),  # 287.99999999999994 in floats
        (287.5, 287),
        (287.999, 287),
        (0.999999, 0),
        (1.0, 1),
        (0.0, 0),
        (-3.2, 0),
        (math.nan, 0),
        (math.inf, 0),
    ],
    ids=[
        "noise-below-288",
        "half",
        "real-fraction",
        "under-one",
        "one",
        "zero",
        "negative",
        "nan",
        "inf",
    ],
)
def test_tolerant_floor(x, n) -> None:
    assert tolerant_floor(x) == n


@pytest.mark.parametrize(
    ("x", "ok"),
    [
        (1.0, True),
        (1, True),
        (0.0, False),
        (-1.0, False),
        (math.nan, False),
        (math.inf, False),
        (None, False),
        (True, False),
        (np.float64(2.5), True),
        (np.int64(3), True),
        ("12", False),
        ("abc", False),
    ],
)
def test_is_positive(x, ok) -> None:
    assert is_positive(x) is ok
