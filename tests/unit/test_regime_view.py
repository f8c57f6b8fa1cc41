"""The regime panel's data (issue 13 item 8): the regime of each session of the benchmark's
history by the scan's own rule and without look-ahead, today's values read back as written,
and which strategies each regime prefers, allows or turns off, as trading rules §5 lists."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from workstation.core.config import RegimeConfig, RiskConfig, ScannerConfig
from workstation.core.config_files import load_config
from workstation.core.models import Regime
from workstation.core.paths import shipped_config_dir
from workstation.engine.regime_view import build_regime_view, strategy_fits
from workstation.signals.ranking import ALLOWED, NOT_PERMITTED, PREFERRED
from workstation.signals.regime import RegimeResult, classify_regime, regime_history
from workstation.ui.chart_data import chart_data

P, A, OFF = PREFERRED, ALLOWED, NOT_PERMITTED


def spy_bars(n: int = 520, seed: int = 7) -> pd.DataFrame:
    """A calm uptrend, a volatile sell-off, a recovery and a flat range: every regime."""
    r = np.random.default_rng(seed)
    segs = [(200, 0.0009, 0.007), (50, -0.004, 0.025), (150, 0.0015, 0.008), (n - 400, 0, 0.006)]
    steps = np.concatenate([r.normal(mu, sd, k) for k, mu, sd in segs])
    close = 300.0 * np.exp(np.cumsum(steps))
    spread = close * 0.004
    return pd.DataFrame(
        {
            "open": close - spread * r.uniform(-1, 1, n),
            "high": close + spread,
            "low": close - spread,
            "close": close,
            "volume": np.full(n, 8e7),
        },
        index=pd.bdate_range("2022-01-03", periods=n),
    )


def test_each_session_is_what_a_scan_of_that_session_saw() -> None:
    """No look-ahead: the regime of session i from the whole history equals the regime a scan
    of session i computes from the bars up to it alone (every 9th session, to stay fast)."""
    cfg = load_config(shipped_config_dir()).scanner
    bars = spy_bars()
    n = len(bars)
    full = chart_data("SPY", bars, cfg.indicators, n, cfg.regime).regimes
    assert {r.regime for r in full if r is not None} == set(Regime)  # the fixture has all
    assert full[:199] == (None,) * 199  # no SMA200 yet
    for i in range(199, n, 9):
        alone = chart_data("SPY", bars.iloc[: i + 1], cfg.indicators, 1, cfg.regime).regimes[-1]
        assert alone == full[i], i


def test_the_history_is_the_rule_applied_at_each_session() -> None:
    cfg = RegimeConfig()
    closes = np.linspace(100.0, 130.0, 40)
    adx = np.full(40, 25.0)
    sma50 = closes - 5.0
    sma200 = closes - 10.0
    sma200[-1] = math.nan  # a missing value gives no regime, never a guess
    hist = regime_history(closes, adx, sma50, sma200, cfg)
    assert hist[:20] == (None,) * 20  # 21 closes make the first 20 returns
    for i in range(20, 39):
        assert hist[i] == classify_regime(closes[: i + 1], 25.0, sma50[i], sma200[i], cfg)
        assert hist[i] is not None and hist[i].regime is Regime.TREND
    assert hist[39] is None


def test_values_read_back_as_the_scan_wrote_them() -> None:
    r = classify_regime(np.linspace(100, 90, 30), 31.0, 95.0, 99.0, RegimeConfig())
    assert r.stacked == "below" and r.regime is Regime.TREND
    assert RegimeResult.from_dict(r.as_dict()) == r
    partial = RegimeResult.from_dict({"regime": "RANGING", "vol": None})
    assert partial.regime is Regime.RANGING and math.isnan(partial.vol)


#: Trading rules §5, row by row: (regime, preferred, allowed, max open positions).
SPEC = [
    (Regime.TREND, {"regime_momentum", "adx_pullback", "bb_squeeze"}, {"rsi_reversion"}, 8),
    (Regime.RANGING, {"rsi_reversion", "overbought_short"}, {"bb_squeeze", "adx_pullback"}, 6),
    (Regime.HIGH_VOL, {"rsi_reversion"}, {"overbought_short"}, 4),
]


@pytest.mark.parametrize(
    ("regime", "preferred", "allowed", "cap"), SPEC, ids=[str(s[0]) for s in SPEC]
)
def test_strategies_each_regime_prefers_allows_or_turns_off(
    regime: Regime, preferred: set[str], allowed: set[str], cap: int
) -> None:
    config = load_config(shipped_config_dir())
    view = build_regime_view(
        None,
        str(regime),
        {},
        scanner=config.scanner,
        risk=config.risk,
        strategies=config.strategies,
    )
    assert [f.strategy for f in view.fits] == list(config.strategies)  # the file's order
    got = {f.strategy: f.fits[str(regime)] for f in view.fits}
    for name, fit in got.items():
        assert fit == (P if name in preferred else A if name in allowed else OFF), name
    assert view.caps[str(regime)] == cap


def test_a_disabled_strategy_and_a_tighter_overall_cap_are_shown() -> None:
    config = load_config(shipped_config_dir())
    strategies = dict(config.strategies)
    name = next(iter(strategies))
    strategies[name] = type(strategies[name])(**{**vars(strategies[name]), "enabled": False})
    fits = strategy_fits(config.scanner, strategies)
    assert [f.enabled for f in fits] == [f.strategy != name for f in fits]
    risk = RiskConfig(portfolio=type(config.risk.portfolio)(max_open_positions=5))
    view = build_regime_view(
        None, None, None, scanner=ScannerConfig(), risk=risk, strategies=strategies
    )
    assert dict(view.caps) == {"TREND": 5, "RANGING": 5, "HIGH_VOL": 4}
    assert view.regime == "" and view.session is None and dict(view.values) == {}
