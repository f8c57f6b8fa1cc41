"""rsi_reversion (trading rules §4): buy a short-term oversold stock in a long-term uptrend.

Fires when ``rsi14 < 30`` and ``close > sma200`` (both strict: RSI exactly 30, or a
close exactly on its 200-day average, does not fire). Strength ``(30 - rsi14) / 20``.
Long, group A (market-on-open), SL 1.5 ATR, TP 2.0 ATR.
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

NAME = "rsi_reversion"


@register_strategy(NAME)
@dataclass(frozen=True)
class RsiReversionParams(StrategyParams):
    # param() returns a dataclasses.field (ruff cannot tell): RUF009 does not apply.
    side: Side = param(Side.LONG)
    group: Group = param(Group.A)
    sl_atr: float = param(1.5, lo=0.1, hi=20.0, doc="stop-loss distance in ATRs")
    tp_atr: float = param(2.0, lo=0.1, hi=50.0, doc="take-profit distance in ATRs")
    rsi_below: float = param(30.0, lo=0.0, hi=100.0, doc="fires when rsi14 < this (strict)")
    above_sma200: bool = param(True, doc="also require close > sma200 (strict)")
    strength_span: float = param(
        20.0,
        lo=0.0,
        hi=100.0,
        lo_open=True,
        doc="RSI points below the threshold that give strength 1",
    )


def evaluate(data: StrategyInputs, p: RsiReversionParams) -> StrategyResult:
    checks = [compare("rsi14", data.rsi14, "<", "rsi_below", p.rsi_below)]
    uses = ["rsi14", "close"]
    if p.above_sma200:
        checks.append(compare("close", data.close, ">", "sma200", data.sma200))
        uses.append("sma200")
    strength = (p.rsi_below - data.rsi14) / p.strength_span
    return finish(
        NAME, data, checks, strength, f"({p.rsi_below:g} - rsi14) / {p.strength_span:g}", uses
    )


register_evaluator(NAME, evaluate)
