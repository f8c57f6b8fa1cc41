"""regime_momentum (trading rules §4): buy the strongest 20-day movers in a trending market.

Fires when the regime is TREND, the ``roc20`` percentile among eligible symbols is
``>= 0.90`` (inclusive), ``close > sma50 > sma200`` (strict) and ``adx14 >= 20``
(inclusive). Strength ``(roc20 percentile - 0.90) / 0.10``. Long, group B (09:50
confirmation), SL 2.0 ATR, TP 3.5 ATR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workstation.core.config import StrategyParams, register_strategy
from workstation.core.models import Group, Regime, Side
from workstation.core.schema import param
from workstation.signals.strategy_api import (
    Check,
    StrategyInputs,
    StrategyResult,
    compare,
    finish,
    register_evaluator,
)

NAME = "regime_momentum"


@register_strategy(NAME)
@dataclass(frozen=True)
class RegimeMomentumParams(StrategyParams):
    # param() returns a dataclasses.field (ruff cannot tell): RUF009 does not apply.
    side: Side = param(Side.LONG)
    group: Group = param(Group.B)
    sl_atr: float = param(2.0, lo=0.1, hi=20.0, doc="stop-loss distance in ATRs")
    tp_atr: float = param(3.5, lo=0.1, hi=50.0, doc="take-profit distance in ATRs")
    required_regime: Regime = param(Regime.TREND, doc="fires only in this regime")
    roc_pct_min: float = param(
        0.90, lo=0.0, hi=1.0, doc="fires when the roc20 percentile >= this (inclusive)"
    )
    adx_min: float = param(20.0, lo=0.0, hi=100.0, doc="fires when adx14 >= this (inclusive)")
    strength_span: float = param(
        0.10, lo=0.0, hi=1.0, lo_open=True, doc="percentile above roc_pct_min that gives strength 1"
    )


def evaluate(data: StrategyInputs, p: RegimeMomentumParams) -> StrategyResult:
    in_regime = data.regime is p.required_regime
    checks = [
        Check(
            label=f"regime is {p.required_regime}",
            left="regime",
            op="==",
            right="required_regime",
            value=str(data.regime),
            threshold=str(p.required_regime),
            passed=np.bool_(in_regime),
        ),
        compare(
            "roc20_pct",
            data.roc20_pct,
            ">=",
            "roc_pct_min",
            p.roc_pct_min,
            label=f"roc20 percentile >= {p.roc_pct_min:g}",
        ),
        compare("close", data.close, ">", "sma50", data.sma50),
        compare("sma50", data.sma50, ">", "sma200", data.sma200),
        compare("adx14", data.adx14, ">=", "adx_min", p.adx_min),
    ]
    strength = (data.roc20_pct - p.roc_pct_min) / p.strength_span
    return finish(
        NAME,
        data,
        checks,
        strength,
        f"(roc20 percentile - {p.roc_pct_min:g}) / {p.strength_span:g}",
        ["roc20", "roc20_pct", "close", "sma50", "sma200", "adx14"],
    )


register_evaluator(NAME, evaluate)
