"""bb_squeeze (trading rules §4): buy the breakout out of a Bollinger-band squeeze.

Fires when yesterday's ``bw_pct <= 0.20`` (inclusive: exactly 0.20 fires) and today's
``close > bb_up`` (strict). Strength ``1 - yesterday's bw_pct / 0.20``: the tighter
yesterday's squeeze, the stronger. Long, group A (market-on-open), SL 2.5 ATR, TP 4.0 ATR.
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

NAME = "bb_squeeze"


@register_strategy(NAME)
@dataclass(frozen=True)
class BbSqueezeParams(StrategyParams):
    # param() returns a dataclasses.field (ruff cannot tell): RUF009 does not apply.
    side: Side = param(Side.LONG)
    group: Group = param(Group.A)
    sl_atr: float = param(2.5, lo=0.1, hi=20.0, doc="stop-loss distance in ATRs")
    tp_atr: float = param(4.0, lo=0.1, hi=50.0, doc="take-profit distance in ATRs")
    bw_pct_max: float = param(
        0.20, lo=0.0, hi=1.0, lo_open=True, doc="fires when yesterday's bw_pct <= this (inclusive)"
    )


def evaluate(data: StrategyInputs, p: BbSqueezeParams) -> StrategyResult:
    checks = [
        compare(
            "prev_bw_pct",
            data.prev_bw_pct,
            "<=",
            "bw_pct_max",
            p.bw_pct_max,
            label=f"yesterday's bw_pct <= {p.bw_pct_max:g}",
        ),
        compare("close", data.close, ">", "bb_up", data.bb_up),
    ]
    strength = 1.0 - data.prev_bw_pct / p.bw_pct_max
    return finish(
        NAME,
        data,
        checks,
        strength,
        f"1 - yesterday's bw_pct / {p.bw_pct_max:g}",
        ["prev_bw_pct", "bw_pct", "close", "bb_up"],
    )


register_evaluator(NAME, evaluate)
