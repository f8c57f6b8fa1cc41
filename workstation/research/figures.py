"""A named set of figures, with the reason for every figure that has no finite value.

A ratio can be undefined for a sample (no losing day: Sortino is infinite; no drawdown: Calmar
is 0/0). JSON has no NaN or infinity, and a bare ``null`` would leave the reader guessing, so
every non-finite figure becomes ``null`` in JSON *and* gets a sentence in ``null_reasons``
saying why. The reasons are decided where the figure is computed (the code that knows the
sample), not guessed afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any

import numpy as np

# Used when a figure came out non-finite and the code that made it gave no reason: it should
# not happen (every known case is named), but if it does the reader still sees that it is null
# on purpose.
UNEXPLAINED = "not defined for this sample"


def json_value(v: Any) -> Any:
    """``v`` as a JSON value: numpy scalars as Python numbers, non-finite floats as None,
    dates as ISO text."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, date):
        return v.isoformat()
    return v


def is_missing(v: Any) -> bool:
    """True for a figure that has no finite value (NaN, infinity or None)."""
    if v is None:
        return True
    if isinstance(v, np.generic):
        v = v.item()
    return isinstance(v, float) and not math.isfinite(v)


@dataclass(frozen=True)
class Figures(Mapping[str, Any]):
    """Figures in the order they were added (read like a mapping), and why any is missing."""

    values: Mapping[str, Any]
    null_reasons: Mapping[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def as_json(self) -> dict[str, Any]:
        """The figures with non-finite values as None, plus ``null_reasons`` (always present,
        empty when every figure has a value)."""
        out = {k: json_value(v) for k, v in self.values.items()}
        out["null_reasons"] = dict(self.null_reasons)
        return out


class FigureBuilder:
    """Collects figures; ``add(name, value, why=...)`` where ``why`` explains a non-finite
    ``value`` (it is ignored when the value is finite)."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._reasons: dict[str, str] = {}

    def add(self, name: str, value: Any, why: str | None = None) -> None:
        if isinstance(value, np.generic):
            value = value.item()
        self._values[name] = value
        if is_missing(value):
            self._reasons[name] = why or UNEXPLAINED
        else:
            self._reasons.pop(name, None)

    def update(self, other: Figures) -> None:
        for name, value in other.values.items():
            self.add(name, value, other.null_reasons.get(name))

    def build(self) -> Figures:
        return Figures(MappingProxyType(dict(self._values)), MappingProxyType(dict(self._reasons)))


__all__ = ["UNEXPLAINED", "FigureBuilder", "Figures", "is_missing", "json_value"]
