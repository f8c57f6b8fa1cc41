"""What a run's results are about: the facts a store does not hold (market, data source,
universe and its coverage, fill model, costs, the modelling assumptions), given by whoever
produced the run (the backtester, or a test) and stated in every JSON object and report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workstation.research.stats import Period

# What daily bars cannot say and how it is modelled (rules §15): stated in every report.
# The backtester owns the exact wording: it passes its own text as ``RunInfo.assumptions``;
# this default states the rules as the spec gives them, for runs made without it.
MODELLING_ASSUMPTIONS: tuple[str, ...] = (
    "Decisions are the live engine's own: the same scan, rule functions and simulated "
    "broker fill model, run over history on a fast-forward clock.",
    "Each session sees only the bars up to that session and the index members of that "
    "session (point in time).",
    "Daily bars carry no intraday path: the pre-market price, the 09:50 price and the order "
    "in which a day touches the stop loss and the take profit are modelled, not observed.",
    "With pessimistic fills, a day whose range spans both the stop loss and the take profit "
    "hits the stop loss first.",
    "Costs are parameters: slippage on market and opening orders, commission per share, "
    "regulatory fees on sells.",
)


@dataclass(frozen=True)
class Coverage:
    """Index members with data over members (point-in-time universes can miss delisted
    symbols' bars: the share is the survivorship the run could not avoid)."""

    members: int
    with_data: int

    @property
    def ratio(self) -> float | None:
        return self.with_data / self.members if self.members else None

    def as_json(self) -> dict[str, Any]:
        return {"members": self.members, "with_data": self.with_data, "ratio": self.ratio}


@dataclass(frozen=True)
class RunInfo:
    """``market``: ``sim``, ``replay:PATH`` or ``alpaca``; ``universe_mode``: e.g.
    ``point-in-time``, ``current``, ``csv``. ``param_hash`` None: read from the store's scans.
    ``period`` None: every session in the store. ``name`` and ``overrides``: the scenario."""

    market: str
    universe_mode: str
    coverage: Coverage | None = None
    param_hash: str | None = None
    period: Period | None = None
    data_source: str = ""
    fill_model: str = "standard"
    costs: Mapping[str, float] = field(default_factory=dict)
    assumptions: tuple[str, ...] = MODELLING_ASSUMPTIONS
    name: str = "combined"
    overrides: Mapping[str, Any] = field(default_factory=dict)


__all__ = ["MODELLING_ASSUMPTIONS", "Coverage", "RunInfo"]
