"""Events of the trading engines (positions, exits, reconciliation), for the GUI and the runner.

They travel on the one :class:`~workstation.core.events.EventBus` beside the core events. Every
event here is published AFTER the state it describes is in the store (architecture principle 6:
persisted before shown), so a window that re-reads the store on an event never sees an older
state than the event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from workstation.core.events import Event
from workstation.core.models import ExitReason, Side

if TYPE_CHECKING:  # only for annotations: reconcile imports this module
    from workstation.engine.reconcile import Difference
    from workstation.store.rows import TradeRow


@dataclass(frozen=True)
class PositionState:
    """One open position as the position book holds it (a snapshot; plain values)."""

    position_id: int
    symbol: str
    side: Side
    qty: int  # shares bought (long) / sold (short) by the entry so far
    open_qty: int  # still held: qty minus what exit or stop fills already closed
    fill_price: float  # the ACTUAL average entry fill: SL/TP derive from it
    entry_session: date
    entry_at: datetime
    strategy: str
    atr14: float
    sl_mult: float
    tp_mult: float
    sl: float
    tp: float
    candidate_id: int | None
    stop_client_order_id: str | None  # the protective stop resting at the broker
    stop_price: float | None
    stop_qty: int
    exiting: bool  # an exit order is out (or being sent): no second exit
    exit_reason: ExitReason | None
    last_price: float | None
    last_at: datetime | None
    mfe_price: float
    mfe_at: datetime
    mae_price: float
    mae_at: datetime
    mfe_pct: float
    mae_pct: float
    mfe_r: float
    mae_r: float
    # The rule's SL/TP from the fill; ``sl``/``tp`` above are the levels IN FORCE, which
    # differ where the trader moved them (``sl_moved``/``tp_moved``).
    rule_sl: float = math.nan
    rule_tp: float = math.nan
    sl_moved: bool = False
    tp_moved: bool = False

    @property
    def r_per_share(self) -> float:
        return self.sl_mult * self.atr14


@dataclass(frozen=True)
class PositionOpened(Event):
    """The first entry fill of a symbol opened a position."""

    position: PositionState


@dataclass(frozen=True)
class PositionUpdated(Event):
    """Something about an open position changed; ``change`` says what.

    ``fill`` (the entry grew: qty, average, SL/TP), ``levels`` (the trader moved the SL or
    TP), ``excursion`` (a new MFE/MAE extreme or
    the periodic save), ``stop`` (the protective stop was placed or replaced), ``exiting``
    (an exit was decided and is being sent), ``exit_failed`` (the exit order did not go out
    or did not fill; the stop is back), ``partial_exit`` (part of the position closed),
    ``restored`` (reloaded from the store after a restart).
    """

    position: PositionState
    change: str


@dataclass(frozen=True)
class PositionClosed(Event):
    """The position is closed in the store; ``trade`` is the round trip as stored."""

    position: PositionState
    trade: TradeRow
    reason: ExitReason


@dataclass(frozen=True)
class LevelsMoved(Event):
    """The trader moved a position's SL and/or TP (stored, and the broker's stop replaced
    when the SL moved); ``warnings`` are what the move was warned about."""

    symbol: str
    old_sl: float
    new_sl: float
    old_tp: float
    new_tp: float
    beyond_emergency: bool = False
    warnings: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class ExitHeld(Event):
    """An exit rule fired but the exit may not go out now (the pattern-day-trader guard)."""

    symbol: str
    reason: ExitReason
    guard: str  # the PdtDecision reason, e.g. PDT_WAIT_NEXT_SESSION
    detail: str = ""


@dataclass(frozen=True)
class ProtectionProblem(Event):
    """A position's broker-side protective stop could not be placed or kept in step."""

    symbol: str
    detail: str


@dataclass(frozen=True)
class ReconcileFinished(Event):
    """The comparison of the store with the broker; empty ``differences``: they agree."""

    differences: tuple[Difference, ...]
    caught_up: tuple[str, ...] = ()  # client order ids brought up to date from the broker
    protected: tuple[str, ...] = ()  # symbols whose missing protective stop was re-placed
    not_sent: tuple[str, ...] = ()  # own stop/exit orders the broker never got, closed as such


@dataclass(frozen=True)
class DifferenceResolved(Event):
    difference: Difference
    action: str  # "adopt", "ignore" or "flatten"
    note: str = ""


@dataclass(frozen=True)
class StoreFailed(Event):
    """The store became unusable while the engines ran (deleted, replaced, emptied,
    read-only, a full disk): trading stopped. ``problem`` and ``advice`` are one line each."""

    kind: str  # a StoreUnusable kind
    problem: str
    advice: str


@dataclass(frozen=True)
class TradingGateChanged(Event):
    """Whether the engines may open new trades (blocked until store and broker agree)."""

    blocked: bool
    reason: str
    open_differences: int
