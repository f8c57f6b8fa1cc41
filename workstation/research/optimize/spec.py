"""A search as asked (:class:`SearchSpec`) and as it will run (:class:`Plan`: its stages).

A **stage** is one Optuna study: its trials each backtest the stage's span, and the value told
to the sampler is the objective over the stage's ``select`` sessions.

* Without walk-forward: one stage over the period; the value is the objective over the period.
* Walk-forward with ``grid`` or ``random``: the points tried do not depend on any result, so
  one set of trials serves every window: one stage whose trials each backtest the whole
  period once; each window then chooses among them on its training sessions and is judged on
  its test sessions, slices of the same runs (nothing after a window's training sessions
  decides its choice).
* Walk-forward with ``tpe``: the sampler learns from what it is told, so telling it results
  from later years would leak them into earlier choices. Each window is its own stage (its
  trials backtest its training and test sessions, and only the training sessions' objective
  is told), and so is the live window (its training sessions only): ``--trials`` trials each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from workstation.research.optimize.objective import Objective
from workstation.research.optimize.space import SearchSpace, SpaceError, parse_param
from workstation.research.optimize.windows import (
    Segment,
    WalkForward,
    Window,
    make_windows,
    parse_walk_forward,
    untested_tail,
)

SEARCHES = ("grid", "random", "tpe")
DEFAULT_TRIALS = 50
#: tpe: trials asked ahead of the results told (in trial order). Part of what the sampler
#: sees, so part of the search's identity: the same seed and in-flight gives the same trials
#: on 1 worker or 50.
DEFAULT_IN_FLIGHT = 8


@dataclass(frozen=True)
class SearchSpec:
    """What was asked. ``trials`` None: the grid's size (grid) or :data:`DEFAULT_TRIALS`."""

    space: SearchSpace
    first: date
    last: date
    objective: Objective
    search: str = "grid"
    trials: int | None = None
    walk_forward: WalkForward | None = None
    seed: int = 0
    in_flight: int = DEFAULT_IN_FLIGHT
    scan_cache: bool = True

    def __post_init__(self) -> None:
        if self.search not in SEARCHES:
            raise SpaceError(f"--search {self.search!r}: choose grid, random or tpe")
        if self.trials is not None and self.trials < 1:
            raise SpaceError(f"--trials {self.trials}: give 1 or more")
        if self.in_flight < 1:
            raise SpaceError("in_flight must be 1 or more")

    def as_json(self) -> dict[str, Any]:
        return {
            "params": [p.key + "=" + p.text for p in self.space.params],
            "space": self.space.as_json(),
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
            "objective": self.objective.as_json(),
            "search": self.search,
            "trials": self.trials,
            "walk_forward": None if self.walk_forward is None else self.walk_forward.as_json(),
            "seed": self.seed,
            "in_flight": self.in_flight,
            "scan_cache": self.scan_cache,
        }

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> SearchSpec:
        wf = d.get("walk_forward")
        obj = d["objective"]
        return SearchSpec(
            space=SearchSpace(tuple(parse_param(p) for p in d["params"])),
            first=date.fromisoformat(d["first"]),
            last=date.fromisoformat(d["last"]),
            objective=Objective(obj["name"], int(obj["min_trades"])),
            search=d["search"],
            trials=d.get("trials"),
            walk_forward=None if wf is None else parse_walk_forward(wf["spec"]),
            seed=int(d["seed"]),
            in_flight=int(d.get("in_flight", DEFAULT_IN_FLIGHT)),
            scan_cache=bool(d.get("scan_cache", True)),
        )


@dataclass(frozen=True)
class Stage:
    index: int
    first: date  # every trial of the stage backtests first .. last
    last: date
    select: Segment  # the sessions whose objective is told to the sampler
    trials: int
    windows: tuple[Window, ...]  # the walk-forward windows that choose among its trials


@dataclass(frozen=True)
class Plan:
    sessions: tuple[date, ...]  # the search's period
    stages: tuple[Stage, ...]
    windows: tuple[Window, ...]  # judged walk-forward windows (empty without walk-forward)
    live: Window | None  # the live window (walk-forward only)
    tail: Segment | None  # sessions after the last test window (judged by none)
    grid_size: int | None

    @property
    def total(self) -> int:
        return sum(s.trials for s in self.stages)

    def as_json(self) -> dict[str, Any]:
        return {
            "sessions": len(self.sessions),
            "stages": [
                {
                    "stage": s.index,
                    "first": s.first.isoformat(),
                    "last": s.last.isoformat(),
                    "select": s.select.as_json(),
                    "trials": s.trials,
                    "windows": ["live" if w.live else w.index for w in s.windows],
                }
                for s in self.stages
            ],
            "grid_size": self.grid_size,
            "trials": self.total,
        }


def plan_search(spec: SearchSpec, sessions: Sequence[date]) -> Plan:
    """The stages of ``spec`` over ``sessions`` (the period's sessions, in order)."""
    sessions = tuple(sessions)
    if not sessions:
        raise SpaceError(f"the period {spec.first} .. {spec.last} has no session")
    grid_size = spec.space.grid_size()
    if spec.search == "grid":
        spec.space.grid()  # every dimension needs points (one clear line if not)
        assert grid_size is not None
        trials = spec.trials or grid_size
        if trials > grid_size:
            raise SpaceError(
                f"--trials {trials}: the grid has {grid_size} points (a grid search tries "
                "each once; fewer trials try a random subset of them)"
            )
    else:
        trials = spec.trials or DEFAULT_TRIALS
    whole = Segment(sessions[0], sessions[-1], len(sessions))
    if spec.walk_forward is None:
        stage = Stage(0, whole.first, whole.last, whole, trials, ())
        return Plan(sessions, (stage,), (), None, None, grid_size)
    windows, live = make_windows(sessions, spec.walk_forward)
    tail = untested_tail(sessions, windows)
    if spec.search == "tpe":
        stages = [Stage(w.index, w.train.first, w.last, w.train, trials, (w,)) for w in windows]
        stages.append(Stage(live.index, live.train.first, live.last, live.train, trials, (live,)))
    else:
        stages = [Stage(0, whole.first, whole.last, whole, trials, (*windows, live))]
    return Plan(sessions, tuple(stages), tuple(windows), live, tail, grid_size)


__all__ = [
    "DEFAULT_IN_FLIGHT",
    "DEFAULT_TRIALS",
    "SEARCHES",
    "Plan",
    "SearchSpec",
    "Stage",
    "plan_search",
]
