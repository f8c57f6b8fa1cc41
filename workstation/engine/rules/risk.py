"""Portfolio risk (trading rules §11): the daily loss limit, the kill switch and the PDT guard.

* Daily loss limit: when equity falls ``daily_loss_limit`` (2%) below the session's starting
  equity, the kill switch engages: new entries are blocked for the session and open entry
  orders are canceled (the engine's part). Flattening is a separate, explicit user action.
* Pattern-day-trader guard: with equity below ``pdt_equity_min`` ($25,000) a same-day exit
  is allowed only for the emergency exit; other exits wait for the next session.

Choices made here:

* "Falls 2% below" is read as ``equity <= start * (1 - 0.02)``: landing exactly on -2%
  engages (the conservative reading), with the tolerance of :mod:`.numeric` so float noise in
  ``start * 0.98`` cannot move the boundary.
* An unusable equity or starting equity (missing, NaN, <= 0) counts as breached: the engine
  cannot know the loss, so it blocks entries rather than trading blind.
* A daily-loss engagement lasts for its session; :meth:`KillSwitch.for_session` releases it
  on a later session. A user engagement lasts until the user releases it.
* PDT: exactly $25,000 is not below. Unknown (NaN) equity applies the guard. The guard is
  literal: only ``EMERGENCY`` may exit the same day under $25,000; a manual or kill-switch
  flatten of a position opened today waits for the next session like any other exit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from workstation.core.config import PortfolioConfig
from workstation.core.models import ExitReason
from workstation.engine.rules.numeric import at_or_below, below, is_positive

# Why the kill switch is engaged.
KS_DAILY_LOSS = "DAILY_LOSS"
KS_USER = "USER"

# PDT guard reasons.
PDT_NOT_APPLICABLE = "PDT_NOT_APPLICABLE"  # equity at or above the minimum
PDT_NOT_SAME_DAY = "PDT_NOT_SAME_DAY"  # not a day trade
PDT_EMERGENCY_ALLOWED = "PDT_EMERGENCY_ALLOWED"
PDT_WAIT_NEXT_SESSION = "PDT_WAIT_NEXT_SESSION"


def daily_loss_level(session_start_equity: float, cfg: PortfolioConfig) -> float:
    """The equity at which the daily loss limit engages."""
    return session_start_equity * (1.0 - cfg.daily_loss_limit)


def daily_loss_breached(equity: float, session_start_equity: float, cfg: PortfolioConfig) -> bool:
    """True when equity is at or below ``start * (1 - daily_loss_limit)`` (exactly -2%: True)."""
    if not (is_positive(session_start_equity) and equity is not None and math.isfinite(equity)):
        return True
    return at_or_below(equity, daily_loss_level(session_start_equity, cfg))


@dataclass(frozen=True)
class KillSwitch:
    """The kill switch's state; every change returns a new instance."""

    engaged: bool = False
    reason: str = ""  # KS_DAILY_LOSS or KS_USER while engaged
    at: datetime | None = None  # when it was engaged (or released)
    session: date | None = None  # the session it was engaged in
    detail: str = ""

    @staticmethod
    def off() -> KillSwitch:
        return KillSwitch()

    def engage(self, reason: str, at: datetime, session: date, detail: str = "") -> KillSwitch:
        """Engaged for ``reason``; an engaged switch keeps its first reason and time."""
        if self.engaged:
            return self
        return KillSwitch(True, reason, at, session, detail)

    def release(self, at: datetime) -> KillSwitch:
        return KillSwitch(False, "", at, None, "released")

    def for_session(self, session: date, at: datetime) -> KillSwitch:
        """The state at the start of ``session``: a daily-loss engagement of an earlier
        session is released (it blocks entries "for the session"); a user one stays."""
        if (
            self.engaged
            and self.reason == KS_DAILY_LOSS
            and self.session is not None
            and session > self.session
        ):
            return KillSwitch(False, "", at, None, f"daily-loss engagement of {self.session} ended")
        return self

    def check_daily_loss(
        self,
        equity: float,
        session_start_equity: float,
        at: datetime,
        session: date,
        cfg: PortfolioConfig,
    ) -> KillSwitch:
        """Engaged for the daily loss limit if it is breached, else unchanged."""
        if self.engaged or not daily_loss_breached(equity, session_start_equity, cfg):
            return self
        level = (
            daily_loss_level(session_start_equity, cfg)
            if is_positive(session_start_equity)
            else math.nan
        )
        return self.engage(
            KS_DAILY_LOSS,
            at,
            session,
            f"equity {equity!r} at or below {level:,.2f} "
            f"({cfg.daily_loss_limit:.2%} under the session's start {session_start_equity!r})",
        )


class PdtDecision(NamedTuple):
    """Whether an exit may be sent now (unpacks as ``(allowed, reason)``)."""

    allowed: bool
    reason: str


def pdt_applies(equity: float, cfg: PortfolioConfig) -> bool:
    """True when equity is below ``pdt_equity_min`` (exactly 25,000: False; NaN: True)."""
    return equity is None or math.isnan(equity) or below(equity, cfg.pdt_equity_min)


def pdt_allows_exit(
    equity: float, is_same_day_exit: bool, reason: ExitReason, cfg: PortfolioConfig
) -> PdtDecision:
    """May this exit go out now? Under the PDT minimum a same-day exit must be EMERGENCY."""
    if not pdt_applies(equity, cfg):
        return PdtDecision(True, PDT_NOT_APPLICABLE)
    if not is_same_day_exit:
        return PdtDecision(True, PDT_NOT_SAME_DAY)
    if reason is ExitReason.EMERGENCY:
        return PdtDecision(True, PDT_EMERGENCY_ALLOWED)
    return PdtDecision(False, PDT_WAIT_NEXT_SESSION)
