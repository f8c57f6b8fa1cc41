"""The trading rules as pure functions (architecture principle 3).

Data in, decision out: no I/O, no clock reads, no mutation. The live engines and the
backtester call the very same functions. One module per concern, each returning a small
frozen decision with its reason:

* :mod:`.gap` the 09:25 gap filter (§8);
* :mod:`.approval` approvals and the ``on_pending`` policy (§7);
* :mod:`.entries` the six entry checks, the group B confirmation, SL/TP from the fill (§9);
* :mod:`.sizing` position size with drawdown halving (§10);
* :mod:`.risk` the daily loss limit, kill switch and PDT guard (§11);
* :mod:`.exits` exits and the broker-side protective stop level (§12);
* :mod:`.levels` moving a position's SL or TP by hand;
* :mod:`.mfe_mae` maximum favourable / adverse excursion (§13);
* :mod:`.reentry` no same-day re-entry;
* :mod:`.prints` which intraday prints are acted on (a jump waits for a second print, §14);
* :mod:`.numeric` the float tolerance every rule boundary uses.
"""

from __future__ import annotations

from workstation.engine.rules.approval import (
    Resolution,
    can_decide,
    entry_time,
    on_pending_policy,
    resolve_pending,
    user_decision,
)
from workstation.engine.rules.entries import (
    Confirmation,
    EntryCandidate,
    EntryContext,
    EntryDecision,
    StopTarget,
    check_entry,
    confirm_group_b,
    sl_tp_from_fill,
)
from workstation.engine.rules.exits import (
    ExitDecision,
    PositionLike,
    emergency_level,
    exit_decision,
    levels_in_force,
    protective_stop_level,
)
from workstation.engine.rules.gap import GapResult, PremarketPrice, gap_decision, premarket_price
from workstation.engine.rules.levels import LevelCheck, check_levels
from workstation.engine.rules.mfe_mae import Excursions, backfill, update_excursions
from workstation.engine.rules.prints import PrintDecision, PrintState, PrintVerdict, judge_print
from workstation.engine.rules.reentry import exited_in_session, reentry_allowed
from workstation.engine.rules.risk import (
    KillSwitch,
    PdtDecision,
    daily_loss_breached,
    daily_loss_level,
    pdt_allows_exit,
    pdt_applies,
)
from workstation.engine.rules.sizing import SizeDecision, drawdown, position_size, risk_per_trade

__all__ = [
    "Confirmation",
    "EntryCandidate",
    "EntryContext",
    "EntryDecision",
    "Excursions",
    "ExitDecision",
    "GapResult",
    "KillSwitch",
    "LevelCheck",
    "PdtDecision",
    "PositionLike",
    "PremarketPrice",
    "PrintDecision",
    "PrintState",
    "PrintVerdict",
    "Resolution",
    "SizeDecision",
    "StopTarget",
    "backfill",
    "can_decide",
    "check_entry",
    "check_levels",
    "confirm_group_b",
    "daily_loss_breached",
    "daily_loss_level",
    "drawdown",
    "emergency_level",
    "entry_time",
    "exit_decision",
    "exited_in_session",
    "gap_decision",
    "judge_print",
    "levels_in_force",
    "on_pending_policy",
    "pdt_allows_exit",
    "pdt_applies",
    "position_size",
    "premarket_price",
    "protective_stop_level",
    "reentry_allowed",
    "resolve_pending",
    "risk_per_trade",
    "sl_tp_from_fill",
    "update_excursions",
    "user_decision",
]
