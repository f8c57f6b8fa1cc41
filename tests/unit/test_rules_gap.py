"""The 09:25 gap filter of trading rules §8, boundary by boundary."""

from __future__ import annotations

import math

import pytest

from workstation.core.config import GapConfig
from workstation.engine.rules.gap import (
    BAD_PREV_CLOSE,
    GAP_TOO_LARGE,
    GAP_WITHIN_LIMIT,
    NO_PREMARKET_DROPPED,
    NO_PREMARKET_KEPT,
    SOURCE_NONE,
    SOURCE_QUOTE,
    SOURCE_TRADE,
    gap_decision,
    premarket_price,
)

CFG = GapConfig()  # max_abs_gap 0.03, on_no_premarket keep


@pytest.mark.parametrize(
    ("trade", "quote", "price", "source"),
    [
        (101.5, (100.0, 100.2), 101.5, SOURCE_TRADE),
        (None, (100.0, 100.2), 100.1, SOURCE_QUOTE),
        (None, (99.99, 99.99), 99.99, SOURCE_QUOTE),  # locked quote is usable
        (math.nan, (50.0, 51.0), 50.5, SOURCE_QUOTE),  # NaN trade counts as none
        (0.0, (50.0, 51.0), 50.5, SOURCE_QUOTE),
        (-3.0, (50.0, 51.0), 50.5, SOURCE_QUOTE),
        (None, None, None, SOURCE_NONE),
        (None, (0.0, 100.2), None, SOURCE_NONE),  # bid <= 0
        (None, (100.0, 0.0), None, SOURCE_NONE),  # ask <= 0
        (None, (100.3, 100.1), None, SOURCE_NONE),  # crossed: ask < bid
        (None, (None, 100.1), None, SOURCE_NONE),
        (None, (math.nan, 100.1), None, SOURCE_NONE),
    ],
    ids=[
        "trade-wins-over-quote",
        "quote-mid-fallback",
        "locked-quote-mid",
        "nan-trade-falls-back-to-quote",
        "zero-trade-falls-back-to-quote",
        "negative-trade-falls-back-to-quote",
        "neither",
        "quote-bid-zero-unusable",
        "quote-ask-zero-unusable",
        "quote-crossed-unusable",
        "quote-bid-missing-unusable",
        "quote-bid-nan-unusable",
    ],
)
def test_premarket_price_source(trade, quote, price, source) -> None:
    got = premarket_price(trade, quote)
    assert got.source == source
    if price is None:
        assert got.price is None
    else:
        assert got.price == pytest.approx(price, rel=1e-12)
    p, s = got  # unpacks as a pair
    assert (p, s) == (got.price, got.source)


@pytest.mark.parametrize(
    ("prev", "price", "passed", "reason"),
    [
        (100.0, 103.0, True, GAP_WITHIN_LIMIT),  # +3% exactly (0.030000000000000027 in floats)
        (100.0, 97.0, True, GAP_WITHIN_LIMIT),  # -3% exactly
        (100.0, 103.01, False, GAP_TOO_LARGE),
        (100.0, 96.99, False, GAP_TOO_LARGE),
        (200.0, 206.0, True, GAP_WITHIN_LIMIT),
        (200.0, 194.0, True, GAP_WITHIN_LIMIT),
        (37.0, 38.11, True, GAP_WITHIN_LIMIT),  # 37 * 1.03 = 38.11
        (37.0, 35.89, True, GAP_WITHIN_LIMIT),  # 37 * 0.97 = 35.89
        (37.0, 38.12, False, GAP_TOO_LARGE),
        (100.0, 100.0, True, GAP_WITHIN_LIMIT),
        (100.0, 150.0, False, GAP_TOO_LARGE),
    ],
    ids=[
        "plus-3pct-exactly-passes",
        "minus-3pct-exactly-passes",
        "plus-3.01pct-drops",
        "minus-3.01pct-drops",
        "plus-3pct-at-200-passes",
        "minus-3pct-at-200-passes",
        "plus-3pct-odd-price-passes",
        "minus-3pct-odd-price-passes",
        "just-above-3pct-odd-price-drops",
        "no-gap",
        "huge-gap",
    ],
)
def test_gap_boundaries(prev, price, passed, reason) -> None:
    r = gap_decision(price, SOURCE_TRADE, prev, CFG)
    assert r.passed is passed
    assert r.reason == reason
    assert r.price == price and r.prev_close == prev and r.source == SOURCE_TRADE
    assert r.gap == pytest.approx(price / prev - 1.0, abs=1e-15)


def test_gap_uses_quote_mid_from_premarket_price() -> None:
    price, source = premarket_price(None, (102.9, 103.1))  # mid 103.0: +3% exactly
    r = gap_decision(price, source, 100.0, CFG)
    assert (r.passed, r.source, r.price) == (True, SOURCE_QUOTE, pytest.approx(103.0))
    price, source = premarket_price(None, (103.0, 103.1))  # mid 103.05: +3.05%
    r = gap_decision(price, source, 100.0, CFG)
    assert (r.passed, r.reason, r.source) == (False, GAP_TOO_LARGE, SOURCE_QUOTE)


@pytest.mark.parametrize(
    ("policy", "passed", "reason"),
    [("keep", True, NO_PREMARKET_KEPT), ("drop", False, NO_PREMARKET_DROPPED)],
    ids=["no-premarket-keep", "no-premarket-drop"],
)
def test_no_premarket_policy(policy, passed, reason) -> None:
    price, source = premarket_price(None, None)
    r = gap_decision(price, source, 100.0, GapConfig(on_no_premarket=policy))
    assert (r.passed, r.reason, r.price, r.gap, r.source) == (passed, reason, None, None, "none")
    assert r.prev_close == 100.0
    assert policy in r.detail


def test_default_policy_keeps() -> None:
    assert gap_decision(None, SOURCE_NONE, 100.0, GapConfig()).passed is True


@pytest.mark.parametrize(
    "prev",
    [None, math.nan, 0.0, -5.0, math.inf],
    ids=["prev-missing", "prev-nan", "prev-zero", "prev-negative", "prev-inf"],
)
@pytest.mark.parametrize("policy", ["keep", "drop"])
def test_bad_prev_close_always_drops(prev, policy) -> None:
    cfg = GapConfig(on_no_premarket=policy)
    for price in (100.0, None):
        r = gap_decision(price, SOURCE_TRADE if price else SOURCE_NONE, prev, cfg)
        assert r.passed is False
        assert r.reason == BAD_PREV_CLOSE
        assert r.gap is None
        assert "previous close" in r.detail


def test_custom_limit() -> None:
    cfg = GapConfig(max_abs_gap=0.05)
    assert gap_decision(105.0, SOURCE_TRADE, 100.0, cfg).passed is True
    assert gap_decision(105.01, SOURCE_TRADE, 100.0, cfg).passed is False
