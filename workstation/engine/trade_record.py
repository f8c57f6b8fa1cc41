"""One closed trade as plain JSON-able data: the ``exits`` of ``run --headless --json`` and the
``trades`` of a backtest (``workstation.research``) are both made here, so the two shapes are
one shape and cannot drift apart.
"""

from __future__ import annotations

import math
from typing import Any

from workstation.core.calendar import ET
from workstation.store import TradeRow

# The keys of a trade record, in the order they are written (JSON objects, CSV columns).
TRADE_FIELDS: tuple[str, ...] = (
    "symbol",
    "side",
    "strategy",
    "qty",
    "entry_session",
    "entry_price",
    "exit_price",
    "exit_at",
    "reason",
    "days_held",
    "pnl",
    "r",
    "mfe_pct",
    "mae_pct",
    "mfe_r",
    "mae_r",
)


def finite_round(x: float | None, nd: int = 4) -> float | None:
    """``x`` rounded to ``nd`` places; None when missing or not finite (JSON has no NaN)."""
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), nd)


def trade_record(t: TradeRow) -> dict[str, Any]:
    """The record of one closed trade (keys: :data:`TRADE_FIELDS`); times in US/Eastern."""
    return {
        "symbol": t.symbol,
        "side": t.side,
        "strategy": t.strategy,
        "qty": int(t.qty),
        "entry_session": t.entry_session.isoformat(),
        "entry_price": finite_round(t.entry_price),
        "exit_price": finite_round(t.exit_price),
        "exit_at": t.exit_at.astimezone(ET).isoformat(),
        "reason": t.exit_reason,
        "days_held": t.days_held,
        "pnl": finite_round(t.pnl, 2),
        "r": finite_round(t.r_multiple),
        "mfe_pct": finite_round(t.mfe_pct, 5),
        "mae_pct": finite_round(t.mae_pct, 5),
        "mfe_r": finite_round(t.mfe_r),
        "mae_r": finite_round(t.mae_r),
    }


__all__ = ["TRADE_FIELDS", "finite_round", "trade_record"]
