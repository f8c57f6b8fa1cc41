"""overbought_short (trading rules §4): short an overextended stock above its upper band.

Fires when ``rsi14 > 75`` (strict: exactly 75 does not fire) and ``close > bb_up``
(strict). Strength ``(rsi14 - 75) / 15``. Short, group B (09:50 confirmation),
SL 2.0 ATR, TP 2.5 ATR.
"""

from __future__ import annotations

from dataclasses import dataclass

from workstation.core.config import StrategyParams, register_strategy
from workstation.core.models import Group, Side
from workstation.core.schema import param
from workstation.signals.strategy_api import (
    StrategyInputs,
    StrategyResult,
    compare,
    finish,
    register_evaluator,
)

NAME = "overbought_short"


@register_strategy(NAME)
@dataclass(frozen=True)
class OverboughtShortParams(StrategyParams):
    # param() returns a dataclasses.field (ruff cannot tell): RUF009 does not apply.
    side: Side = param(Side.SHORT)
    group: Group = param(Group.B)
    sl_atr: float = param(2.0, lo=0.1, hi=20.0, doc="stop-loss distance in ATRs")
    tp_atr: float = param(2.5, lo=0.1, hi=50.0, doc="take-profit distance in ATRs")
    rsi_above: float = param(75.0, lo=0.0, hi=100.0, doc="fires when rsi14 > this (strict)")
    strength_span: float = param(
        15.0,
        lo=0.0,
        hi=100.0,
        lo_open=True,
        doc="RSI points above the threshold that give strength 1",
    )


def evaluate(data: StrategyInputs, p: OverboughtShortParams) -> StrategyResult:
    checks = [
        compare("rsi14", data.rsi14, ">", "rsi_above", p.rsi_above),
        compare("close", data.close, ">", "bb_up", data.bb_up),
    ]
    strength = (data.rsi14 - p.rsi_above) / p.strength_span
    return finish(
        NAME,
        data,
        checks,
        strength,
        f"(rsi14 - {p.rsi_above:g}) / {p.strength_span:g}",
        ["rsi14", "close", "bb_up"],
    )


register_evaluator(NAME, evaluate)
