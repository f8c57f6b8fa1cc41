"""Position sizing of trading rules §10: risk, the two caps and drawdown halving."""

from __future__ import annotations

import math

import pytest

from workstation.core.config import SizingConfig
from workstation.engine.rules.sizing import (
    CAPPED_BY_GROSS_EXPOSURE,
    CAPPED_BY_POSITION_PCT,
    CAPPED_BY_RISK,
    INVALID_INPUT,
    SIZED,
    drawdown,
    position_size,
    risk_per_trade,
)

CFG = SizingConfig()  # risk 0.005, position 15%, gross 1.0, halving above 8% dd, factor 0.5


@pytest.mark.parametrize(
    ("equity", "price", "atr", "sl", "gross", "qty", "capped_by"),
    [
        # 100000 * 0.005 / (2 * 2) = 125 shares; 125 * 50 = 6,250 < 15,000
        (100_000, 50.0, 2.0, 2.0, 0.0, 125, CAPPED_BY_RISK),
        # risk allows 333, 15% of 100,000 at 500 allows 30
        (100_000, 500.0, 1.0, 1.5, 0.0, 30, CAPPED_BY_POSITION_PCT),
        # risk allows 500, the cap exactly 150 (150 * 100 = 15,000 = 15% of equity)
        (100_000, 100.0, 0.5, 2.0, 0.0, 150, CAPPED_BY_POSITION_PCT),
        # the cap at a price that divides 15,000 with a remainder: floor(15000/101) = 148
        (100_000, 101.0, 0.5, 2.0, 0.0, 148, CAPPED_BY_POSITION_PCT),
        # 95,000 already out: room 5,000 at 50 = 100 shares (risk 125, position cap 300)
        (100_000, 50.0, 2.0, 2.0, 95_000.0, 100, CAPPED_BY_GROSS_EXPOSURE),
        # gross room exactly one share
        (100_000, 50.0, 2.0, 2.0, 99_950.0, 1, CAPPED_BY_GROSS_EXPOSURE),
        # gross exposure already at 1.0 x equity: nothing more
        (100_000, 50.0, 2.0, 2.0, 100_000.0, 0, CAPPED_BY_GROSS_EXPOSURE),
        (100_000, 50.0, 2.0, 2.0, 130_000.0, 0, CAPPED_BY_GROSS_EXPOSURE),
        # 1000 * 0.005 / (2 * 10) = 0.25 share: below one
        (1_000, 50.0, 10.0, 2.0, 0.0, 0, CAPPED_BY_RISK),
        # exactly one share by risk: 2000 * 0.005 / (2 * 5) = 1
        (2_000, 10.0, 5.0, 2.0, 0.0, 1, CAPPED_BY_RISK),
        # 95040 * 0.005 / (1.5 * 1.1) is 288 exactly, 287.99999999999994 in floats
        (95_040, 10.0, 1.1, 1.5, 0.0, 288, CAPPED_BY_RISK),
    ],
    ids=[
        "risk-binds",
        "position-pct-binds",
        "position-pct-exactly-15pct",
        "position-pct-floor",
        "gross-exposure-binds",
        "gross-exposure-one-share-room",
        "gross-exposure-full",
        "gross-exposure-over",
        "size-under-one-share",
        "size-exactly-one-share",
        "float-noise-floor-288-not-287",
    ],
)
def test_position_size(equity, price, atr, sl, gross, qty, capped_by) -> None:
    d = position_size(equity, price, atr, sl, CFG, gross_exposure_now=gross, drawdown=0.0)
    assert d.qty == qty
    assert d.capped_by == capped_by
    assert d.reason == SIZED
    assert d.risk_per_trade_used == 0.005
    assert d.qty * price <= equity * CFG.max_position_pct + 1e-6
    assert gross + d.qty * price <= equity * CFG.max_gross_exposure + 1e-6 or d.qty == 0


@pytest.mark.parametrize(
    ("equity", "peak", "dd", "risk"),
    [
        (100_000, 100_000, 0.0, 0.005),
        (92_000, 100_000, 0.08, 0.005),  # exactly 8% (0.07999999999999996 in floats)
        (91_990, 100_000, 0.0801, 0.0025),  # 8.01%: halved
        (91_999, 100_000, 0.08001, 0.0025),
        (80_000, 100_000, 0.20, 0.0025),
        (105_000, 100_000, 0.0, 0.005),  # above the peak: no drawdown
    ],
    ids=[
        "no-drawdown",
        "dd-8pct-exactly-not-halved",
        "dd-8.01pct-halved",
        "dd-8.001pct-halved",
        "dd-20pct-halved",
        "above-peak",
    ],
)
def test_drawdown_halving(equity, peak, dd, risk) -> None:
    got = drawdown(equity, peak)
    assert got == pytest.approx(dd, abs=1e-12)
    assert risk_per_trade(got, CFG) == risk
    d = position_size(equity, 10.0, 1.0, 2.0, CFG, drawdown=got)
    assert d.risk_per_trade_used == risk
    assert d.qty == math.floor(equity * risk / 2.0 + 1e-9)


def test_halving_changes_the_quantity() -> None:
    full = position_size(92_000, 10.0, 1.0, 2.0, CFG, drawdown=drawdown(92_000, 100_000))
    half = position_size(91_990, 10.0, 1.0, 2.0, CFG, drawdown=drawdown(91_990, 100_000))
    assert full.qty == 230  # 92000 * 0.005 / 2
    assert half.qty == 114  # 91990 * 0.0025 / 2 = 114.98...
    assert "halved" in half.detail and "halved" not in full.detail


def test_unknown_drawdown_halves() -> None:
    assert risk_per_trade(math.nan, CFG) == 0.0025


@pytest.mark.parametrize(
    ("equity", "peak", "dd"),
    [(100.0, 0.0, 0.0), (100.0, math.nan, 0.0), (100.0, -5.0, 0.0)],
    ids=["peak-zero", "peak-nan", "peak-negative"],
)
def test_drawdown_unusable_peak(equity, peak, dd) -> None:
    assert drawdown(equity, peak) == dd


@pytest.mark.parametrize(
    ("equity", "price", "atr", "sl", "gross", "bad"),
    [
        (100_000, 50.0, 0.0, 2.0, 0.0, "atr14"),
        (100_000, 50.0, math.nan, 2.0, 0.0, "atr14"),
        (100_000, 50.0, -1.0, 2.0, 0.0, "atr14"),
        (100_000, 0.0, 2.0, 2.0, 0.0, "price"),
        (100_000, math.nan, 2.0, 2.0, 0.0, "price"),
        (math.nan, 50.0, 2.0, 2.0, 0.0, "equity"),
        (0.0, 50.0, 2.0, 2.0, 0.0, "equity"),
        (100_000, 50.0, 2.0, 0.0, 0.0, "sl_mult"),
        (100_000, 50.0, 2.0, 2.0, math.nan, "gross_exposure_now"),
        (100_000, 50.0, 2.0, 2.0, -1.0, "gross_exposure_now"),
    ],
    ids=[
        "atr-zero",
        "atr-nan",
        "atr-negative",
        "price-zero",
        "price-nan",
        "equity-nan",
        "equity-zero",
        "sl-mult-zero",
        "gross-nan",
        "gross-negative",
    ],
)
def test_unusable_inputs_give_zero(equity, price, atr, sl, gross, bad) -> None:
    d = position_size(equity, price, atr, sl, CFG, gross_exposure_now=gross)
    assert d.qty == 0
    assert d.reason == INVALID_INPUT
    assert d.capped_by is None
    assert bad in d.detail
