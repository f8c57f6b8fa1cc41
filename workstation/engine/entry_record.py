"""The record of one run of the entry checks: every input they read, as store columns.

:func:`entry_check_values` turns what :meth:`TradingSession._try_enter` had in hand (the
candidate, the portfolio context, the peak the drawdown came from, the broker's asset record,
the decision) into the columns of the store's ``entry_checks`` table, so a sizing decision can
be re-checked from the store alone (issue 12 item 11): ``position_size(equity, price, atr14,
sl_mult, sizing parameters of param_hash, gross_exposure, drawdown(equity, peak_equity))``
gives ``qty`` again.
"""

from __future__ import annotations

from typing import Any

from workstation.core.config import Config
from workstation.core.models import Asset, Group
from workstation.engine.rules.entries import EntryCandidate, EntryContext, EntryDecision
from workstation.engine.rules.sizing import risk_per_trade


def entry_check_values(
    *,
    candidate_id: int,
    group: Group,
    c: EntryCandidate,
    ctx: EntryContext,
    peak_equity: float,
    asset: Asset | None,
    decision: EntryDecision,
    cfg: Config,
    client_order_id: str | None,
) -> dict[str, Any]:
    """The ``entry_checks`` columns of one decision (``asset`` None: unknown at the broker,
    recorded as NULL flags)."""
    size = decision.size
    return {
        "candidate_id": candidate_id,
        "symbol": c.symbol,
        "grp": str(group),
        "side": str(c.side),
        "sector": c.sector,
        "price": c.price,
        "atr14": c.atr14,
        "sl_mult": c.sl_mult,
        "equity": ctx.equity,
        "peak_equity": peak_equity,
        "drawdown": ctx.drawdown,
        "buying_power": ctx.buying_power,
        "gross_exposure": ctx.gross_exposure,
        "kill_switch": ctx.kill_switch_engaged,
        "already_held": c.symbol in ctx.held,
        "exited_today": c.symbol in ctx.exited_today,
        "open_positions": ctx.open_positions,
        "pending_entries": ctx.pending_entries,
        "sector_count": ctx.sector_counts.get(c.sector, 0),
        "regime_max_positions": ctx.regime_max_positions,
        "shortable": None if asset is None else asset.shortable,
        "easy_to_borrow": None if asset is None else asset.easy_to_borrow,
        "param_hash": cfg.param_hash,
        "ok": decision.ok,
        "check_number": decision.check_number,
        "reason": decision.reason,
        "qty": decision.qty,
        "risk_per_trade": (
            size.risk_per_trade_used
            if size is not None
            else risk_per_trade(ctx.drawdown, cfg.risk.sizing)
        ),
        "detail": decision.detail,
        "client_order_id": client_order_id,
    }


__all__ = ["entry_check_values"]
