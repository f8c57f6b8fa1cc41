"""Intraday print confirmation (trading rules §14).

A print more than ``print_jump_pct`` away from the last accepted price is acted on only when a
second print within ``confirm_s`` confirms it; until then the broker's protective stop is the
protection. Day-1 emergency exits follow the same rule: a real crash prints many times, a bad
tick (the 0.01 print that once sold a position at R -17.98) prints once.

:func:`judge_print` is the decision, pure; the engine keeps one :class:`PrintState` per symbol
(:class:`workstation.engine.print_guard.PrintGuard`) and acts on the prints the decision returns.

* A print that is not a usable price (not finite, ``<= 0``) is never acted on.
* With no accepted price yet (the engine's first print of a symbol, and no position to take a
  reference from), the print is accepted: there is nothing to jump from.
* A print within ``print_jump_pct`` of the last accepted price is accepted (the boundary
  itself included: "more than" is a jump); a pending jump is dropped (it was a bad tick).
* A jump confirms the pending one when it comes within ``confirm_s`` seconds after it (the
  boundary included) and lies within ``print_jump_pct`` of it: both are acted on, in order,
  and the newer becomes the last accepted price.
* Any other jump becomes the pending one (a newer jump replaces an older or expired one).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from workstation.core.config import DataValidationConfig
from workstation.engine.rules.numeric import at_or_below, is_positive


class PrintVerdict(enum.StrEnum):
    FIRST = "first"  # no accepted price before: accepted
    ACCEPTED = "accepted"  # within print_jump_pct of the last accepted price
    CONFIRMED = "confirmed"  # a jump, confirmed by a second print: both acted on
    HELD = "held"  # a jump waiting for a second print: not acted on
    INVALID = "invalid"  # not a usable price: never acted on


@dataclass(frozen=True, slots=True)
class PrintState:
    """What the engine remembers of one symbol's prints."""

    last_price: float | None = None  # the last accepted price
    last_at: datetime | None = None
    pending_price: float | None = None  # an unconfirmed jump
    pending_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PrintDecision:
    verdict: PrintVerdict
    act_on: tuple[tuple[float, datetime], ...]  # the prints to act on, oldest first
    state: PrintState  # the symbol's state after this print
    detail: str = ""


def _within(price: float, ref: float, pct: float) -> bool:
    return at_or_below(abs(price - ref), pct * ref)


def judge_print(
    state: PrintState, price: float, at: datetime, cfg: DataValidationConfig
) -> PrintDecision:
    """What to do with a print of ``price`` at ``at`` given the symbol's ``state``."""
    if not is_positive(price):
        return PrintDecision(PrintVerdict.INVALID, (), state, f"print {price!r} is not a price")
    last = state.last_price
    if last is None:
        return PrintDecision(PrintVerdict.FIRST, ((price, at),), PrintState(price, at))
    if _within(price, last, cfg.print_jump_pct):
        return PrintDecision(PrintVerdict.ACCEPTED, ((price, at),), PrintState(price, at))
    pending, since = state.pending_price, state.pending_at
    if pending is not None and since is not None:
        waited = (at - since).total_seconds()
        in_time = waited >= 0.0 and at_or_below(waited, cfg.confirm_s)
        if in_time and _within(price, pending, cfg.print_jump_pct):
            return PrintDecision(
                PrintVerdict.CONFIRMED,
                ((pending, since), (price, at)),
                PrintState(price, at),
                f"print {price:g} confirms {pending:g} of {waited:g} s before "
                f"(last accepted {last:g})",
            )
    move = price / last - 1.0
    return PrintDecision(
        PrintVerdict.HELD,
        (),
        PrintState(last, state.last_at, price, at),
        f"print {price:g} is {move:+.1%} from the last accepted {last:g} (more than "
        f"{cfg.print_jump_pct:.0%}): not acted on until a second print within "
        f"{cfg.confirm_s:g} s confirms it; the broker's protective stop stands meanwhile",
    )
