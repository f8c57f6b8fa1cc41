"""Parameter searches over backtests, on a Dask cluster, judged honestly (issue 10).

The API the CLI (``workstation optimize``) and the app's Optimize window share; nothing here
imports Qt. Start, watch, cancel, resume::

    from workstation.research.optimize import SearchRequest, prepare_search, resume_search

    search = prepare_search(ctx, SearchRequest(params=("risk.exits.time_exit_day=int:3:8",),
                                               start="2019-01-02", walk_forward="3y:1y"))
    result = search.run(listener)      # blocks; call it off the GUI thread
    search.cancel()                    # from any thread: stops cleanly, resumable
    search = resume_search(ctx, result.id)

``listener`` receives the events of :mod:`.events` on the search's thread; ``result`` is a
:class:`SearchResult` (``as_json()`` is ``--json``'s object). See docs/optimize.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Names are imported on first use (PEP 562): a Dask worker unpickles its task by importing
# ``workstation.research.optimize.worker``, which imports this package first; done eagerly,
# that would load Optuna, the search driver and the statistics (scipy) into every worker
# process for nothing (about a second of CPU each).
_WHERE = {
    "Cluster": "cluster",
    "ClusterError": "cluster",
    "ClusterReady": "events",
    "Finished": "events",
    "Listener": "events",
    "Planned": "events",
    "ScansAhead": "events",
    "SearchEvent": "events",
    "TrialDone": "events",
    "TrialQueued": "events",
    "WorkersChanged": "events",
    "SearchRequest": "launch",
    "check_request": "launch",
    "prepare_search": "launch",
    "resume_search": "launch",
    "Search": "search",
    "SearchResult": "search",
    "Choice": "selection",
    "TrialRecord": "selection",
    "WalkForwardResult": "selection",
}

if TYPE_CHECKING:
    from workstation.research.optimize.cluster import Cluster, ClusterError
    from workstation.research.optimize.events import (
        ClusterReady,
        Finished,
        Listener,
        Planned,
        ScansAhead,
        SearchEvent,
        TrialDone,
        TrialQueued,
        WorkersChanged,
    )
    from workstation.research.optimize.launch import (
        SearchRequest,
        check_request,
        prepare_search,
        resume_search,
    )
    from workstation.research.optimize.search import Search, SearchResult
    from workstation.research.optimize.selection import Choice, TrialRecord, WalkForwardResult


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "Choice",
    "Cluster",
    "ClusterError",
    "ClusterReady",
    "Finished",
    "Listener",
    "Planned",
    "ScansAhead",
    "Search",
    "SearchEvent",
    "SearchRequest",
    "SearchResult",
    "TrialDone",
    "TrialQueued",
    "TrialRecord",
    "WalkForwardResult",
    "WorkersChanged",
    "check_request",
    "prepare_search",
    "resume_search",
]
