"""The search driver's asks, without a cluster: a tpe search proposes the same trials whatever
order its results come back in (1 worker returns them in order, many workers in any order),
past TPE's random start-up trials, where what it learnt decides what it asks."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from optuna.trial import TrialState

from tests.research.support import make_home
from workstation.core.config import Config
from workstation.core.config_files import ConfigManager
from workstation.core.overrides import current_value
from workstation.research.optimize.objective import Objective
from workstation.research.optimize.search import StageDriver
from workstation.research.optimize.space import check_space, parse_param
from workstation.research.optimize.spec import SearchSpec, plan_search

SESSIONS = [date(2024, 1, 1) + timedelta(days=i) for i in range(30)]
TRIALS = 16  # TPE's first 10 are its random start-up; the other 6 follow what it learnt


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Config:
    home = make_home(tmp_path_factory.mktemp("driver") / "home")
    return ConfigManager(home / "config", home / "config" / "history").current


def _value(params: dict[str, float]) -> float:
    """A smooth objective with its peak inside the space (TPE's model has something to find)."""
    return (
        -((params["risk.exits.time_exit_day"] - 5) ** 2)
        - (100 * (params["risk.exits.emergency_pct"] - 0.06)) ** 2
    )


def _asks(cfg: Config, in_flight: int, finish: str, seed: int = 0) -> list[tuple[int, dict]]:
    """Run a stage's asks and tells with results returned in ``finish`` order: ``order`` (one
    worker), ``reverse`` (the newest of those in flight first) or ``shuffle``."""
    space = check_space(
        cfg,
        [
            parse_param("risk.exits.time_exit_day=int:2:9"),
            parse_param("risk.exits.emergency_pct=0.02:0.1"),
        ],
    )
    spec = SearchSpec(
        space, SESSIONS[0], SESSIONS[-1], Objective("sharpe"), "tpe", TRIALS, None, 3, in_flight
    )
    stage = plan_search(spec, SESSIONS).stages[0]
    current = {p.key: current_value(cfg, p.key) for p in space.params}
    d = StageDriver(stage, spec, current)
    rng = random.Random(seed)
    asked: list[tuple[int, dict]] = []
    running: list[tuple[int, dict]] = []
    while not d.done:
        while d.can_ask():
            number, params = d.ask()
            asked.append((number, params))
            running.append((number, params))
        if finish == "order":
            i = 0
        elif finish == "reverse":
            i = len(running) - 1
        else:
            i = rng.randrange(len(running))
        number, params = running.pop(i)
        d.result(number, TrialState.COMPLETE, _value(params), params)
    assert not running and len(asked) == TRIALS
    return asked


@pytest.mark.parametrize("in_flight", [1, 3])
def test_tpe_asks_the_same_trials_whatever_order_results_come_back(
    cfg: Config, in_flight: int
) -> None:
    one_worker = _asks(cfg, in_flight, "order")
    assert [n for n, _ in one_worker] == list(range(TRIALS))
    assert _asks(cfg, in_flight, "reverse") == one_worker
    for seed in range(3):
        assert _asks(cfg, in_flight, "shuffle", seed) == one_worker
    # past the start-up trials TPE follows its model: it found the peak's neighbourhood
    learnt = [p for _, p in one_worker[10:]]
    assert any(abs(p["risk.exits.time_exit_day"] - 5) <= 1 for p in learnt)
