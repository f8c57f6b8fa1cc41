"""adx_pullback (trading rules §4): buy a pullback to the 20-day EMA in a strong uptrend.

Fires when ``adx14 >= 25``, ``pdi > mdi``, ``close > sma50``,
``abs(close/ema20 - 1) <= 0.01`` and ``40 <= rsi14 <= 55`` (every bound inclusive
except the strict ``>``). Strength ``(adx14 - 25) / 25``. Long, group B (09:50
confirmation), SL 2.0 ATR, TP 3.0 ATR.

The EMA band is evaluated as ``abs(close - ema20) <= ema_band * ema20``, which is
the same inequality for ``ema20 > 0`` (always true for eligible symbols). Why: in
binary floating point ``close/ema20 - 1`` can never be exactly ``0.01`` (0.01's
mantissa has bits below the 2**-53 grid that ``x - 1`` lands on), so with the
division form a close exactly 1% from its EMA (101 vs 100, or 99 vs 100) would
fail by 1e-17 although the rule says it passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workstation.core.config import StrategyParams, register_strategy
from workstation.core.models import Group, Side
from workstation.core.schema import param
from workstation.signals.strategy_api import (
    Check,
    StrategyInputs,
    StrategyResult,
    compare,
    finish,
    register_evaluator,
)

NAME = "adx_pullback"


@register_strategy(NAME)
@dataclass(frozen=True)
class AdxPullbackParams(StrategyParams):
    # param() returns a dataclasses.field (ruff cannot tell): RUF009 does not apply.
    side: Side = param(Side.LONG)
    group: Group = param(Group.B)
    sl_atr: float = param(2.0, lo=0.1, hi=20.0, doc="stop-loss distance in ATRs")
    tp_atr: float = param(3.0, lo=0.1, hi=50.0, doc="take-profit distance in ATRs")
    adx_min: float = param(25.0, lo=0.0, hi=100.0, doc="fires when adx14 >= this (inclusive)")
    ema_band: float = param(
        0.01, lo=0.0, hi=0.5, doc="fires when abs(close/ema20 - 1) <= this (inclusive)"
    )
    rsi_min: float = param(40.0, lo=0.0, hi=100.0, doc="fires when rsi14 >= this (inclusive)")
    rsi_max: float = param(55.0, lo=0.0, hi=100.0, doc="fires when rsi14 <= this (inclusive)")
    strength_span: float = param(
        25.0, lo=0.0, hi=100.0, lo_open=True, doc="ADX points above adx_min that give strength 1"
    )

    def __post_init__(self) -> None:
        if self.rsi_min > self.rsi_max:
            raise ValueError(
                f"rsi_min ({self.rsi_min:g}) must not be above rsi_max ({self.rsi_max:g})"
            )


def evaluate(data: StrategyInputs, p: AdxPullbackParams) -> StrategyResult:
    with np.errstate(divide="ignore", invalid="ignore"):
        ema_dist = np.abs(data.close / data.ema20 - 1.0)
    band = Check(
        label=f"|close/ema20 - 1| <= {p.ema_band:g}",
        left="ema20_distance",
        op="<=",
        right="ema_band",
        value=ema_dist,
        threshold=p.ema_band,
        passed=np.abs(data.close - data.ema20) <= p.ema_band * data.ema20,
    )
    checks = [
        compare("adx14", data.adx14, ">=", "adx_min", p.adx_min),
        compare("pdi", data.pdi, ">", "mdi", data.mdi),
        compare("close", data.close, ">", "sma50", data.sma50),
        band,
        compare("rsi14", data.rsi14, ">=", "rsi_min", p.rsi_min),
        compare("rsi14", data.rsi14, "<=", "rsi_max", p.rsi_max),
    ]
    strength = (data.adx14 - p.adx_min) / p.strength_span
    return finish(
        NAME,
        data,
        checks,
        strength,
        f"(adx14 - {p.adx_min:g}) / {p.strength_span:g}",
        ["adx14", "pdi", "mdi", "close", "sma50", "ema20", "rsi14"],
    )


register_evaluator(NAME, evaluate)
