"""Readable numbers and words (issue 13 item 9): no "-0.00", dollar volumes in $ with a
unit, codes as words with the code kept."""

from __future__ import annotations

import math

import pytest

from workstation.core.numbers import dollars_compact, signed, signed_pct
from workstation.engine.words import exit_words, reason_words, split_reason, words


@pytest.mark.parametrize(
    ("x", "digits", "suffix", "text"),
    [
        (-0.004, 2, " R", "+0.00 R"),  # the trial's "-0.00 R"
        (-0.0, 2, "", "+0.00"),
        (-0.005, 2, "", "-0.01"),  # rounds away from zero: a real loss shows
        (0.004, 2, "", "+0.00"),
        (1234.5, 2, "", "+1,234.50"),
        (-98765.432, 2, "", "-98,765.43"),
        (math.nan, 2, "", ""),
        (None, 2, "", ""),
    ],
)
def test_signed_never_says_minus_zero(x, digits, suffix, text) -> None:
    assert signed(x, digits, suffix) == text


@pytest.mark.parametrize(
    ("x", "text"), [(-0.00004, "+0.00%"), (0.0123, "+1.23%"), (-0.05, "-5.00%"), (math.inf, "")]
)
def test_signed_pct(x, text) -> None:
    assert signed_pct(x) == text


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (950, "$950"),
        (12_345, "$12.3K"),
        (1_234_567, "$1.23M"),
        (456_700_000, "$456.7M"),
        (999_960_000, "$1.00B"),
        (3_210_000_000, "$3.21B"),
        (-2_500_000, "-$2.50M"),
        (math.nan, ""),
    ],
)
def test_dollar_volumes_have_a_dollar_sign_and_a_unit(x, text) -> None:
    assert dollars_compact(x) == text


@pytest.mark.parametrize(
    ("code", "text"),
    [
        ("GAP_WITHIN_LIMIT", "gap within the limit"),
        ("NOT_CONFIRMED", "not confirmed at 09:50"),
        ("MAX_POSITIONS", "too many positions for the regime"),
        ("SOME_NEW_CODE", "some new code"),  # never nothing
        ("", ""),
    ],
)
def test_codes_read_as_words(code, text) -> None:
    assert words(code) == text


def test_exit_reasons_and_reasons_with_details() -> None:
    assert exit_words("KILL_SWITCH") == "flattened by the kill switch"
    assert exit_words("STOP_LOSS") == "stop loss"
    assert split_reason("MAX_POSITIONS: 6 of 6 held") == ("MAX_POSITIONS", "6 of 6 held")
    assert split_reason("insufficient buying power") == ("", "insufficient buying power")
    assert reason_words("NOT_CONFIRMED: 101.2 below 101.7") == (
        "not confirmed at 09:50: 101.2 below 101.7"
    )
    assert reason_words("BROKER_REJECTED") == "rejected by the broker"
