"""A vetoed candidate's paper outcome, or why it has none (trading rules §7).

A vetoed candidate is followed on paper only where a real entry would have happened: group A
when it passed the gap filter and the session opened with a price for it; group B when it
passed the gap filter and was confirmed at 09:50 with a price (engine/paper.py). Every other
veto is still shown, with why nothing was followed, so the journal tells each veto's story:
the trader sees what a veto cost or saved, and which vetoes the rules would have dropped
anyway. No Qt here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from workstation.core.models import Group
from workstation.engine.views import VetoState
from workstation.engine.words import exit_words, words
from workstation.store import GapResultRow, PaperTrackRow


@dataclass(frozen=True)
class EntryTimes:
    """When the trading session's steps that decide a paper entry happen."""

    gap_filter: datetime  # 09:25: the gap results
    open: datetime  # 09:30: group A enters at the official open
    group_b: datetime  # 09:50: group B's confirmation


def veto_outcome(
    group: Group,
    track: PaperTrackRow | None,
    gap: GapResultRow | None,
    confirmation: dict[str, Any] | None,
    times: EntryTimes,
    now: datetime,
) -> tuple[VetoState, str]:
    """Where the paper outcome of a vetoed candidate of ``group`` stands at ``now``, and that
    in words. ``confirmation``: the 09:50 audit detail of a group B candidate."""
    if track is not None:
        if track.status != "open" and track.exit_price is not None:
            return VetoState.CLOSED, f"paper exit: {exit_words(track.exit_reason or '')}"
        return VetoState.FOLLOWING, f"followed on paper from {track.entry_price:,.2f}"
    entry = times.open if group is Group.A else times.group_b
    when = "the open" if group is Group.A else "09:50 if confirmed"
    if gap is None:
        if now < times.gap_filter:
            return VetoState.WAITING, f"followed on paper from {when}, if it passes the gap filter"
        return VetoState.NOT_FOLLOWED, "no gap result: the gap filter did not check it"
    if not gap.passed:
        return VetoState.NOT_FOLLOWED, f"dropped at the gap filter: {words(gap.reason or '')}"
    if now < entry:
        return VetoState.WAITING, f"passed the gap filter: followed on paper from {when}"
    if group is Group.A:
        return VetoState.NOT_FOLLOWED, "no opening price for it"
    if confirmation is None:
        return VetoState.NOT_FOLLOWED, "no 09:50 confirmation was made"
    if not confirmation.get("confirmed"):
        return VetoState.NOT_FOLLOWED, words("NOT_CONFIRMED")
    return VetoState.NOT_FOLLOWED, "no price at 09:50"


__all__ = ["EntryTimes", "veto_outcome"]
