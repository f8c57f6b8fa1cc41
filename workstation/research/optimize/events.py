"""What a running search tells whoever watches it: the terminal's progress line, the app's
Optimize window, ``--progress json``.

A listener is a callable taking one event; the search calls it on its own thread (the one
that called :meth:`~workstation.research.optimize.search.Search.run`), in this order:

``Planned`` (once) -> ``ClusterReady`` (once) -> ``ScansAhead`` (0..n, while scans are computed
before the trials) -> ``TrialQueued`` / ``TrialDone`` (interleaved; a resumed search replays
the trials it had finished as ``TrialDone`` with ``replayed`` true) and ``WorkersChanged``
(whenever the number of connected workers changes) -> ``Finished`` (once, always last, also
when the search is cancelled or fails).

Every event is small, immutable and turns into one JSON object (``as_json``, with ``event``
naming it), so a GUI in another process can read them as JSON lines.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from workstation.research.figures import json_value


@dataclass(frozen=True)
class SearchEvent:
    name: ClassVar[str] = "event"

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": self.name}
        for f in dataclasses.fields(self):
            out[f.name] = _plain(getattr(self, f.name))
        return out


def _plain(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return json_value(v)


@dataclass(frozen=True)
class Planned(SearchEvent):
    """The search is checked and about to start: how many trials it will make."""

    name: ClassVar[str] = "planned"
    search_id: str
    total: int  # trials in all
    stages: int  # 1, or one per walk-forward window (plus the live one) for tpe
    keys: tuple[str, ...]
    rescans: tuple[str, ...]  # keys that change the scan: their trials scan again
    resumed: bool


@dataclass(frozen=True)
class ClusterReady(SearchEvent):
    name: ClassVar[str] = "cluster"
    address: str
    local: bool  # a LocalCluster started for this search
    workers: int
    dashboard: str | None


@dataclass(frozen=True)
class WorkersChanged(SearchEvent):
    name: ClassVar[str] = "workers"
    workers: int


@dataclass(frozen=True)
class ScansAhead(SearchEvent):
    """Scans computed once for every trial (those that share the base scan parameters)."""

    name: ClassVar[str] = "scans"
    done: int
    total: int
    cached: int  # found in the home's scan cache, not computed


@dataclass(frozen=True)
class TrialQueued(SearchEvent):
    name: ClassVar[str] = "queued"
    stage: int
    number: int
    params: Mapping[str, Any]
    attempt: int


@dataclass(frozen=True)
class TrialDone(SearchEvent):
    """A trial finished: ``state`` complete (``value`` may be null, with ``reason``), failed
    (``reason`` says why) or replayed from the search file."""

    name: ClassVar[str] = "trial"
    stage: int
    number: int
    params: Mapping[str, Any]
    state: str  # complete | failed
    value: float | None
    reason: str | None
    wall_s: float | None
    worker: str | None
    done: int  # trials finished so far, all stages
    total: int
    best_value: float | None  # best so far of this stage
    best_params: Mapping[str, Any] | None
    replayed: bool = False


@dataclass(frozen=True)
class Finished(SearchEvent):
    """The last event: ``status`` finished, cancelled (resume it), interrupted (the cluster or
    the process was lost; resume it) or failed (``message`` says why)."""

    name: ClassVar[str] = "finished"
    search_id: str
    status: str
    done: int
    total: int
    message: str | None = None


Listener = Callable[[SearchEvent], None]

__all__ = [
    "ClusterReady",
    "Finished",
    "Listener",
    "Planned",
    "ScansAhead",
    "SearchEvent",
    "TrialDone",
    "TrialQueued",
    "WorkersChanged",
]
