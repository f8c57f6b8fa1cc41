"""What the window needs to know about a track record's state, without the research stack
(the window opens before pandas, the calendar and the store are imported)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workstation.research.evidence.track_record import TrackRecord

#: Outcome bins in R: half an R wide from -3R to +4R, the ends open.
BIN_EDGES: tuple[float, ...] = tuple(x / 2 for x in range(-6, 9))


class RecordState(StrEnum):
    READY = "ready"  # a record from a reference that is fresh enough
    WORKING = "working"  # finding, loading or building the reference
    FAILED = "failed"  # the build failed: message says why
    UNAVAILABLE = "unavailable"  # no home to read or build from


@dataclass(frozen=True)
class RecordStatus:
    """What the track record of one candidate is now."""

    state: RecordState
    message: str = ""
    record: TrackRecord | None = None  # also while a fresher reference is being built
    progress: float | None = None  # 0..1 while building


__all__ = ["BIN_EDGES", "RecordState", "RecordStatus"]
