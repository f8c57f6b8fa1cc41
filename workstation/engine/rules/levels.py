"""Moving an open position's stop loss or take profit by hand: what the rules allow.

A trader may move the SL or the TP of a position (the positions panel's context menu). The
move is checked here, in this order; the first failing check refuses it with its reason:

1. ``SLTP_OFF``: before ``sltp_from_day`` (day 1) SL and TP are not active, only the
   emergency exit is (§12), so there is no SL or TP to move: a day-1 SL never exists.
2. ``NOT_A_PRICE``: a new level must be a finite price above zero.
3. ``NO_CHANGE``: nothing differs from the levels in force (the audit never records a
   move that moved nothing).
4. ``NO_PRICE``: without a price of the symbol since the position was loaded, a level cannot
   be put on the right side of the market.
5. ``STOP_THROUGH_PRICE`` / ``TARGET_THROUGH_PRICE``: a stop at or beyond the last price (a
   long's at or above it) or a target at or beyond it (a long's at or below it) would exit at
   once; the way to exit now is to close the position.
6. ``BEYOND_EMERGENCY``: a stop looser than the emergency level (a long's below
   ``fill * (1 - emergency_pct)``) risks more than the rules ever do on day 1; refused unless
   the move says so explicitly (``beyond_emergency_ok``), and then recorded as such.

A move that passes may still carry warnings, shown to the trader and recorded with it: a stop
looser than the one in force (more risk than now), a target further away than the rule's.

Boundaries use the tolerance of :mod:`.numeric`: a stop exactly ON the last price is through
it (touching a level exits, §12), a stop exactly on the emergency level is not beyond it.
"""

from __future__ import annotations

from dataclasses import dataclass

from workstation.core.config import ExitConfig
from workstation.core.models import Side
from workstation.engine.rules.entries import StopTarget
from workstation.engine.rules.exits import emergency_level
from workstation.engine.rules.numeric import above, at_or_above, at_or_below, below, is_positive

OK = "OK"
SLTP_OFF = "SLTP_OFF"
NOT_A_PRICE = "NOT_A_PRICE"
NO_CHANGE = "NO_CHANGE"
NO_PRICE = "NO_PRICE"
STOP_THROUGH_PRICE = "STOP_THROUGH_PRICE"
TARGET_THROUGH_PRICE = "TARGET_THROUGH_PRICE"
BEYOND_EMERGENCY = "BEYOND_EMERGENCY"


@dataclass(frozen=True)
class LevelCheck:
    """The decision on a move: ``sl``/``tp`` are the levels in force if it is made."""

    ok: bool
    reason: str  # OK or the first failing check's constant
    detail: str  # one sentence for the trader
    sl: float
    tp: float
    beyond_emergency: bool = False  # the stop is looser than the emergency level (accepted)
    warnings: tuple[str, ...] = ()

    @property
    def needs_confirmation(self) -> bool:
        """Refused only because the stop is beyond the emergency level: saying so allows it."""
        return self.reason == BEYOND_EMERGENCY


def _looser(side: Side, a: float, b: float) -> bool:
    """Stop ``a`` is looser (further from the market, more risk) than stop ``b``."""
    return below(a, b) if side is Side.LONG else above(a, b)


def check_levels(
    side: Side,
    fill_price: float,
    last_price: float | None,
    day_number: int,
    current: StopTarget,
    rule: StopTarget,
    new_sl: float | None,
    new_tp: float | None,
    cfg: ExitConfig,
    *,
    beyond_emergency_ok: bool = False,
) -> LevelCheck:
    """May the SL become ``new_sl`` and the TP ``new_tp`` (None: unchanged)?

    ``current`` are the levels in force, ``rule`` the ones the rules derive from the fill.
    """
    sl = current.sl if new_sl is None else new_sl
    tp = current.tp if new_tp is None else new_tp

    def refuse(reason: str, detail: str) -> LevelCheck:
        return LevelCheck(False, reason, detail, current.sl, current.tp)

    if day_number < cfg.sltp_from_day:
        return refuse(
            SLTP_OFF,
            f"day {day_number}: SL and TP are off until day {cfg.sltp_from_day}, only the "
            "emergency exit applies; close the position to exit now",
        )
    for name, value in (("stop", new_sl), ("target", new_tp)):
        if value is not None and not is_positive(value):
            return refuse(NOT_A_PRICE, f"the new {name} {value!r} is not a price above zero")
    same_sl = at_or_above(sl, current.sl) and at_or_below(sl, current.sl)
    same_tp = at_or_above(tp, current.tp) and at_or_below(tp, current.tp)
    if same_sl and same_tp:
        return refuse(NO_CHANGE, f"the stop {sl:,.2f} and the target {tp:,.2f} are already set")
    if not is_positive(last_price):
        return refuse(NO_PRICE, "no price seen yet for this position; wait for a print")
    assert last_price is not None
    long = side is Side.LONG
    if not same_sl and (at_or_above(sl, last_price) if long else at_or_below(sl, last_price)):
        where = "at or above" if long else "at or below"
        return refuse(
            STOP_THROUGH_PRICE,
            f"a stop at {sl:,.2f} is {where} the last price {last_price:,.2f} and would exit at "
            "once; close the position instead",
        )
    if not same_tp and (at_or_below(tp, last_price) if long else at_or_above(tp, last_price)):
        where = "at or below" if long else "at or above"
        return refuse(
            TARGET_THROUGH_PRICE,
            f"a target at {tp:,.2f} is {where} the last price {last_price:,.2f} and would exit "
            "at once; close the position instead",
        )
    emergency = emergency_level(side, fill_price, cfg)
    beyond = not same_sl and _looser(side, sl, emergency)
    if beyond and not beyond_emergency_ok:
        return refuse(
            BEYOND_EMERGENCY,
            f"a stop at {sl:,.2f} is looser than the emergency level {emergency:,.2f} "
            f"({cfg.emergency_pct:.0%} against the fill {fill_price:,.2f}): confirm that you "
            "accept that risk",
        )
    warnings: list[str] = []
    if beyond:
        warnings.append(f"the stop is beyond the emergency level {emergency:,.2f}")
    elif not same_sl and _looser(side, sl, current.sl):
        warnings.append(f"the stop is looser than the one in force ({current.sl:,.2f})")
    elif not same_sl and _looser(side, sl, rule.sl):
        warnings.append(f"the stop is looser than the rule's SL ({rule.sl:,.2f})")
    if not same_tp and (above(tp, rule.tp) if long else below(tp, rule.tp)):
        warnings.append(f"the target is further than the rule's TP ({rule.tp:,.2f})")
    moved = []
    if not same_sl:
        moved.append(f"stop {current.sl:,.2f} -> {sl:,.2f}")
    if not same_tp:
        moved.append(f"target {current.tp:,.2f} -> {tp:,.2f}")
    return LevelCheck(True, OK, ", ".join(moved), sl, tp, beyond, tuple(warnings))


__all__ = [
    "BEYOND_EMERGENCY",
    "NOT_A_PRICE",
    "NO_CHANGE",
    "NO_PRICE",
    "OK",
    "SLTP_OFF",
    "STOP_THROUGH_PRICE",
    "TARGET_THROUGH_PRICE",
    "LevelCheck",
    "check_levels",
]
