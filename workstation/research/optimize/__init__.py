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
