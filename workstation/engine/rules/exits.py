"""Exits (trading rules §12), checked on every price update of a held position.

Days are counted in sessions, the entry session is day 1 (``TradingCalendar.day_number``).

* Before ``sltp_from_day`` (day 1): no SL/TP; the emergency exit only: long when
  ``price <= fill * (1 - 0.07)``, short when ``price >= fill * (1 + 0.07)``.
* From ``sltp_from_day`` (day 2): long exits when ``price <= SL`` (STOP_LOSS) or
  ``price >= TP`` (TAKE_PROFIT); short mirrored. The emergency rule no longer applies (the
  spec limits it to day 1; from day 2 the SL is the protection).
* From ``time_exit_day`` (day 5) at or after the time exit time (15:50, or 10 minutes before
  an early close; the caller passes ``TradingCalendar.time_exit_time`` of today): TIME_EXIT.
  A position still held on a later day (the time exit could not be executed: the app was
  down, or the PDT guard held it) is stale and exits at once, whatever the time.

Choices made here:

* Touching a level exits: a price exactly on the emergency level, the SL or the TP exits,
  with the tolerance of :mod:`.numeric` (``fill - sl_mult * atr14`` carries float noise).
* When several rules apply at once the reason is, in this order: EMERGENCY, STOP_LOSS,
  TAKE_PROFIT, TIME_EXIT. The action is the same (a market exit); the price-based reason is
  what actually happened, and a stop beats a target, so results are never flattered.
* An unusable price (missing, NaN, <= 0) never triggers a price rule; the time exit still
  applies, since it does not depend on the price.
* ``levels``: the SL and TP in force when the trader moved them by hand (stored on the
  position, checked by :mod:`.levels`); None means the rule's, from the fill. The day-1
  emergency rule never changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from workstation.core.config import ExitConfig
from workstation.core.models import ExitReason, Side
from workstation.core.print_watch import PrintWatch
from workstation.engine.rules.entries import StopTarget, sl_tp_from_fill
from workstation.engine.rules.numeric import at_or_above, at_or_below, is_positive


class PositionLike(Protocol):
    """What the exit rules read of a position (``core.models.Position`` fits)."""

    @property
    def side(self) -> Side: ...
    @property
    def fill_price(self) -> float: ...
    @property
    def atr14(self) -> float: ...
    @property
    def sl_mult(self) -> float: ...
    @property
    def tp_mult(self) -> float: ...


@dataclass(frozen=True)
class ExitDecision:
    exit: bool
    reason: ExitReason | None
    level: float | None  # the level that was touched (None for no exit and TIME_EXIT)
    detail: str = ""


HOLD = ExitDecision(False, None, None)


def emergency_level(side: Side, fill_price: float, cfg: ExitConfig) -> float:
    """Day-1 emergency level: ``fill * 0.93`` for a long, ``fill * 1.07`` for a short."""
    if side is Side.LONG:
        return fill_price * (1.0 - cfg.emergency_pct)
    return fill_price * (1.0 + cfg.emergency_pct)


def _check_day(day_number: int) -> None:
    if day_number < 1:
        raise ValueError(f"day_number must be >= 1 (the entry session is day 1), got {day_number}")


def levels_in_force(position: PositionLike, levels: StopTarget | None = None) -> StopTarget:
    """The SL and TP that apply from ``sltp_from_day``: ``levels`` when given (moved by hand),
    else the rule's from the fill."""
    if levels is not None:
        return levels
    return sl_tp_from_fill(
        position.side, position.fill_price, position.atr14, position.sl_mult, position.tp_mult
    )


def protective_stop_level(
    position: PositionLike,
    day_number: int,
    cfg: ExitConfig,
    levels: StopTarget | None = None,
) -> float:
    """The broker-side stop price: the emergency level before ``sltp_from_day``, then the SL."""
    _check_day(day_number)
    if day_number < cfg.sltp_from_day:
        return emergency_level(position.side, position.fill_price, cfg)
    return levels_in_force(position, levels).sl


def exit_decision(
    position: PositionLike,
    price: float | None,
    now: datetime,
    day_number: int,
    cfg: ExitConfig,
    time_exit_time: datetime,
    levels: StopTarget | None = None,
) -> ExitDecision:
    """Should the position exit at ``price`` seen at ``now`` on day ``day_number``?"""
    _check_day(day_number)
    side = position.side
    if is_positive(price):
        assert price is not None
        if day_number < cfg.sltp_from_day:
            level = emergency_level(side, position.fill_price, cfg)
            hit = at_or_below(price, level) if side is Side.LONG else at_or_above(price, level)
            if hit:
                return ExitDecision(
                    True,
                    ExitReason.EMERGENCY,
                    level,
                    f"day {day_number}: price {price:g} touched the emergency level {level:g} "
                    f"({cfg.emergency_pct:.0%} against the fill {position.fill_price:g})",
                )
        else:
            sl, tp = levels_in_force(position, levels)
            if side is Side.LONG:
                sl_hit, tp_hit = at_or_below(price, sl), at_or_above(price, tp)
            else:
                sl_hit, tp_hit = at_or_above(price, sl), at_or_below(price, tp)
            if sl_hit:
                return ExitDecision(
                    True, ExitReason.STOP_LOSS, sl, f"price {price:g} touched the stop {sl:g}"
                )
            if tp_hit:
                return ExitDecision(
                    True, ExitReason.TAKE_PROFIT, tp, f"price {price:g} touched the target {tp:g}"
                )
    if day_number > cfg.time_exit_day:
        return ExitDecision(
            True,
            ExitReason.TIME_EXIT,
            None,
            f"day {day_number} is past the time-exit day {cfg.time_exit_day}: stale position",
        )
    if day_number == cfg.time_exit_day and now >= time_exit_time:
        return ExitDecision(
            True,
            ExitReason.TIME_EXIT,
            None,
            f"day {day_number} at {now:%H:%M:%S}: time exit from {time_exit_time:%H:%M}",
        )
    return HOLD


def exit_watch(
    position: PositionLike,
    day_number: int,
    cfg: ExitConfig,
    time_exit_time: datetime,
    now: datetime,
    *,
    emergency_only: bool = False,
    levels: StopTarget | None = None,
) -> PrintWatch:
    """Where :func:`exit_decision` can say "exit" for the rest of ``now``'s session: below or
    above the levels of the position's day, or from the time exit on (at once for a stale
    position). ``emergency_only``: only the day-1 emergency level counts (a rule exit held by
    the PDT guard). ``levels``: as for :func:`exit_decision`. Widened by
    :data:`~workstation.core.print_watch.MARGIN`, so it is never tighter than the decision."""
    _check_day(day_number)
    side = position.side
    if emergency_only or day_number < cfg.sltp_from_day:
        level = emergency_level(side, position.fill_price, cfg)
        watch = PrintWatch.below(level) if side is Side.LONG else PrintWatch.above(level)
    else:
        sl, tp = levels_in_force(position, levels)
        watch = PrintWatch(sl, tp) if side is Side.LONG else PrintWatch(tp, sl)
    if day_number > cfg.time_exit_day:
        watch = PrintWatch(watch.lo, watch.hi, now)
    elif day_number == cfg.time_exit_day:
        watch = PrintWatch(watch.lo, watch.hi, time_exit_time)
    return watch.widened()
