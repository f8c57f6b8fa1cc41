"""The market regime of trading rules §5: the volatility, ADX and stacking boundaries."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from workstation.core.config import RegimeConfig
from workstation.core.models import Regime
from workstation.signals.regime import RegimeError, annualized_vol, classify_regime

CFG = RegimeConfig()


def closes_with_vol(target: float, lead: int = 30) -> np.ndarray:
    """Closes whose last 20 daily log returns have annualized sample stdev ``target``.

    The returns are nine +a/-a pairs and one small +b/-b pair (mean 0, sample variance
    (18*a**2 + 2*b**2)/19). The window starts at 1.0 so that the log prices are small and
    finely resolved; ``lead`` calm sessions before it must not matter.
    """
    b_frac = 1 / 64
    a = math.sqrt(target**2 / 252 * 19 / (18 + 2 * b_frac**2))
    b = a * b_frac
    rets = np.array([a if k % 2 == 0 else -a for k in range(18)] + [b, -b])
    window = np.exp(np.concatenate([[0.0], np.cumsum(rets)]))
    calm = np.exp(-0.001 * np.arange(lead, 0, -1))
    return np.concatenate([calm, window])


def closes_with_vol_exactly(target: float) -> np.ndarray:
    """Closes whose computed annualized vol is *exactly* ``target``.

    Moving the close between the two small returns by one ulp changes the vol by a
    fraction of an ulp, so a walk over it lands on the target exactly.
    """
    base = closes_with_vol(target)
    step = float(np.spacing(base[-2]))
    for k in range(1000):
        for sign in (1, -1):
            c = base.copy()
            c[-2] = base[-2] + sign * k * step
            if annualized_vol(c) == target:
                return c
    raise AssertionError("no input found whose vol is exactly the target")


def stacked_above() -> dict[str, float]:
    return {"spy_adx14": 25.0, "spy_sma50": 390.0, "spy_sma200": 380.0}


def test_vol_matches_pandas_definition() -> None:
    rng = np.random.default_rng(3)
    c = 300 * np.exp(np.cumsum(rng.normal(0, 0.012, 260)))
    s = pd.Series(c)
    expected = np.log(s).diff().tail(20).std(ddof=1) * math.sqrt(252)
    assert annualized_vol(c) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("vol", "regime"),
    [
        pytest.param(0.25 * (1 + 1e-9), Regime.HIGH_VOL, id="vol-just-above-0.25-high-vol"),
        pytest.param(0.25 * (1 - 1e-9), Regime.TREND, id="vol-just-below-0.25-not-high-vol"),
        pytest.param(0.40, Regime.HIGH_VOL, id="vol-0.40-high-vol-overrides-trend"),
        pytest.param(0.10, Regime.TREND, id="vol-0.10-trend"),
    ],
)
def test_volatility_boundary(vol: float, regime: Regime) -> None:
    c = closes_with_vol(vol)
    kw = stacked_above()
    kw["spy_sma50"] = c[-1] * 0.9
    kw["spy_sma200"] = c[-1] * 0.8
    res = classify_regime(c, cfg=CFG, **kw)
    assert res.vol == pytest.approx(vol, rel=1e-12)
    assert res.regime is regime


def test_vol_exactly_025_is_not_high_vol() -> None:
    c = closes_with_vol_exactly(0.25)
    res = classify_regime(c, 25.0, c[-1] * 0.9, c[-1] * 0.8, CFG)
    assert res.vol == 0.25
    assert res.high_vol is False
    assert res.regime is Regime.TREND


def calm_closes(last: float = 400.0) -> np.ndarray:
    c = closes_with_vol(0.10)
    return c * (last / c[-1])


@pytest.mark.parametrize(
    ("close", "adx", "sma50", "sma200", "regime", "stacked"),
    [
        pytest.param(
            400.0,
            20.0,
            390.0,
            380.0,
            Regime.TREND,
            "above",
            id="adx-exactly-20-stacked-above-trend",
        ),
        pytest.param(
            400.0,
            19.999,
            390.0,
            380.0,
            Regime.RANGING,
            "above",
            id="adx-19.999-stacked-above-ranging",
        ),
        pytest.param(
            400.0,
            20.0,
            410.0,
            420.0,
            Regime.TREND,
            "below",
            id="adx-exactly-20-stacked-below-trend",
        ),
        pytest.param(
            400.0,
            35.0,
            390.0,
            395.0,
            Regime.RANGING,
            "none",
            id="mixed-close-above-sma50-below-sma200-ranging",
        ),
        pytest.param(
            400.0,
            35.0,
            410.0,
            395.0,
            Regime.RANGING,
            "none",
            id="mixed-close-below-sma50-above-sma200-ranging",
        ),
        pytest.param(
            400.0, 35.0, 400.0, 380.0, Regime.RANGING, "none", id="close-equals-sma50-not-stacked"
        ),
        pytest.param(
            400.0, 35.0, 390.0, 390.0, Regime.RANGING, "none", id="sma50-equals-sma200-not-stacked"
        ),
        pytest.param(
            400.0, 5.0, 410.0, 420.0, Regime.RANGING, "below", id="low-adx-stacked-below-ranging"
        ),
    ],
)
def test_trend_boundaries(
    close: float, adx: float, sma50: float, sma200: float, regime: Regime, stacked: str
) -> None:
    res = classify_regime(calm_closes(close), adx, sma50, sma200, CFG)
    assert res.close == close
    assert (res.regime, res.stacked) == (regime, stacked)
    assert str(regime) in res.explain()


def test_thresholds_come_from_config() -> None:
    c = calm_closes()
    strict = RegimeConfig(trend_adx_min=30.0, high_vol_above=0.05)
    assert classify_regime(c, 25.0, 390.0, 380.0, strict).regime is Regime.HIGH_VOL
    loose_vol = RegimeConfig(trend_adx_min=30.0)
    assert classify_regime(c, 25.0, 390.0, 380.0, loose_vol).regime is Regime.RANGING


@pytest.mark.parametrize(
    ("closes", "adx", "sma200", "message"),
    [
        pytest.param(
            np.full(20, 400.0),
            25.0,
            380.0,
            r"SPY: 20 daily close\(s\).*at least 21",
            id="20-closes-too-short",
        ),
        pytest.param(np.array([]), 25.0, 380.0, r"SPY: 0 daily close", id="no-closes"),
        pytest.param(
            np.r_[np.full(30, 400.0), np.nan],
            25.0,
            380.0,
            "missing or non-positive",
            id="nan-last-close",
        ),
        pytest.param(
            np.full(30, 400.0), float("nan"), 380.0, "SPY: adx14 not available", id="adx-nan"
        ),
        pytest.param(
            np.full(30, 400.0), 25.0, float("nan"), "SPY: sma200 not available", id="sma200-nan"
        ),
    ],
)
def test_insufficient_spy_data_is_a_clear_error(
    closes: np.ndarray, adx: float, sma200: float, message: str
) -> None:
    with pytest.raises(RegimeError, match=message):
        classify_regime(closes, adx, 390.0, sma200, CFG)


def test_regime_error_is_a_value_error_and_result_serializes() -> None:
    assert issubclass(RegimeError, ValueError)
    d = classify_regime(calm_closes(), 25.0, 390.0, 380.0, CFG).as_dict()
    assert d["regime"] == "TREND" and d["stacked"] == "above" and d["adx14"] == 25.0
