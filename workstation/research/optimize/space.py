"""The search space: one ``--param KEY=SPEC`` per dimension, checked against the schema before
anything starts.

``KEY`` is a parameter as the YAML files name it (``strategies.bb_squeeze.sl_atr``,
``risk.exits.time_exit_day``; see :mod:`workstation.core.overrides`). ``SPEC`` is one of:

* a list ``1.5,2,2.5`` (numbers, ``true``/``false`` or words such as ``path,pessimistic``);
* a stepped range ``1.0:3.0:0.25`` (both ends included);
* a continuous range ``1.0:3.0`` (random and tpe searches only: a grid needs points);
* an integer range ``int:3:7`` or ``int:2:10:2`` (step 1 by default);
* a log range ``log:0.01:0.1`` (log-uniform; random and tpe), or ``log:0.01:0.1:5`` (five
  points spaced evenly on a log scale, usable by every search).

Every value a search may try is checked the way ``workstation config check`` checks a file
(:func:`~workstation.core.overrides.apply_overrides`): a list's values and a grid's points one
by one, a continuous range at both ends, so a bad key, a value out of the schema's range, a
fraction for a whole-number parameter or a word for a number is refused with one line naming
the option, before any cluster starts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from workstation.core.config import Config
from workstation.core.overrides import apply_overrides, current_value
from workstation.core.schema import SchemaError

#: Parameter files whose values decide a scan (``research.scans.scan_params_hash``): a search
#: over any of their keys scans again for every new value; other keys reuse the cached scans.
SCAN_FILES = ("scanner", "strategies")

# A grid larger than this is almost surely a typo in a step (1.0:3.0:0.0001).
MAX_GRID = 100_000

Value = float | int | str | bool


class SpaceError(ValueError):
    """A ``--param`` that cannot be searched: the message is one line naming it."""


@dataclass(frozen=True)
class ParamSpec:
    """One dimension of the search.

    ``kind``: ``list`` (``values``), ``float`` (``lo``..``hi``, ``step`` or continuous),
    ``int`` (``lo``..``hi`` by ``step``), ``log`` (``lo``..``hi`` log-uniform, or ``points``
    points evenly spaced on a log scale)."""

    key: str
    kind: str
    text: str  # the SPEC as given (for messages and the search's record)
    values: tuple[Value, ...] = ()
    lo: float | None = None
    hi: float | None = None
    step: float | None = None
    points: int | None = None

    @property
    def option(self) -> str:
        return f"--param {self.key}={self.text}"

    @property
    def scan_affecting(self) -> bool:
        """True when a new value of this key needs a new scan (scanner or strategies file)."""
        return self.key.split(".", 1)[0] in SCAN_FILES

    def grid(self) -> tuple[Value, ...] | None:
        """Every point of this dimension, or None when it is continuous."""
        if self.kind == "list":
            return self.values
        assert self.lo is not None and self.hi is not None
        if self.kind == "int":
            step = int(self.step or 1)
            return tuple(range(int(self.lo), int(self.hi) + 1, step))
        if self.kind == "log":
            if self.points is None:
                return None
            if self.points == 1:
                return (self.lo,)
            a, b = math.log(self.lo), math.log(self.hi)
            n = self.points - 1
            return tuple(_tidy(math.exp(a + (b - a) * i / n)) for i in range(self.points))
        if self.step is None:
            return None
        n = math.floor((self.hi - self.lo) / self.step + 1e-9)
        return tuple(_tidy(self.lo + i * self.step) for i in range(n + 1))

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "spec": self.text,
            "kind": self.kind,
            "values": list(self.values) or None,
            "lo": self.lo,
            "hi": self.hi,
            "step": self.step,
            "points": self.points,
        }


def _tidy(x: float) -> float:
    """A grid point without the binary noise of repeated addition (0.30000000000000004)."""
    return float(f"{x:.12g}")


def _number(text: str, option: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SpaceError(f"{option}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise SpaceError(f"{option}: {text!r} is not a finite number")
    return value


def _scalar(text: str) -> Value:
    """A list item: a number when it reads as one, a YAML boolean, else the word."""
    word = text.strip()
    low = word.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        as_float = float(word)
    except ValueError:
        return word
    if not math.isfinite(as_float):
        return word
    return int(word) if word.lstrip("+-").isdigit() else as_float


def parse_param(arg: str) -> ParamSpec:
    """``KEY=SPEC`` as given to ``--param`` (see the module's docstring)."""
    key, sep, spec = arg.partition("=")
    key, spec = key.strip(), spec.strip()
    option = f"--param {arg}"
    if not sep or not key or not spec:
        raise SpaceError(
            f"{option}: write KEY=SPEC, e.g. strategies.bb_squeeze.sl_atr=1.5,2,2.5 or "
            "risk.exits.time_exit_day=int:3:7"
        )
    head, _, rest = spec.partition(":")
    if head in ("int", "log"):
        parts = rest.split(":") if rest else []
        if len(parts) not in (2, 3):
            raise SpaceError(f"{option}: write {head}:LO:HI or {head}:LO:HI:{_third(head)}")
        if head == "int":
            nums = [_number(p, option) for p in parts]
            if not all(n.is_integer() for n in nums):
                raise SpaceError(f"{option}: int ranges take whole numbers")
            lo, hi = int(nums[0]), int(nums[1])
            step = int(nums[2]) if len(nums) == 3 else 1
            if step < 1:
                raise SpaceError(f"{option}: the step must be 1 or more")
            if hi < lo:
                raise SpaceError(f"{option}: the range ends ({hi}) below its start ({lo})")
            return ParamSpec(key, "int", spec, lo=lo, hi=hi, step=step)
        lo, hi = _number(parts[0], option), _number(parts[1], option)
        if lo <= 0 or hi <= 0:
            raise SpaceError(f"{option}: a log range needs values above 0")
        if hi <= lo:
            raise SpaceError(f"{option}: the range ends ({hi:g}) at or below its start ({lo:g})")
        points = None
        if len(parts) == 3:
            n = _number(parts[2], option)
            if not n.is_integer() or n < 2:
                raise SpaceError(f"{option}: the number of points must be a whole number >= 2")
            points = int(n)
        return ParamSpec(key, "log", spec, lo=lo, hi=hi, points=points)
    if ":" in spec:
        parts = spec.split(":")
        if len(parts) not in (2, 3):
            raise SpaceError(f"{option}: write LO:HI or LO:HI:STEP, e.g. 1.0:3.0:0.25")
        lo, hi = _number(parts[0], option), _number(parts[1], option)
        if hi <= lo:
            raise SpaceError(f"{option}: the range ends ({hi:g}) at or below its start ({lo:g})")
        step = None
        if len(parts) == 3:
            step = _number(parts[2], option)
            if step <= 0:
                raise SpaceError(f"{option}: the step must be above 0")
            if (hi - lo) / step + 1 > MAX_GRID:
                raise SpaceError(f"{option}: the step makes more than {MAX_GRID:,} points")
        return ParamSpec(key, "float", spec, lo=lo, hi=hi, step=step)
    items = [s for s in (p.strip() for p in spec.split(",")) if s]
    if not items:
        raise SpaceError(f"{option}: give at least one value")
    values = tuple(_scalar(s) for s in items)
    if len(set(map(repr, values))) != len(values):
        raise SpaceError(f"{option}: a value is listed twice")
    return ParamSpec(key, "list", spec, values=values)


def _third(head: str) -> str:
    return "STEP" if head == "int" else "POINTS"


@dataclass(frozen=True)
class SearchSpace:
    """The dimensions of a search, in the order given."""

    params: tuple[ParamSpec, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(p.key for p in self.params)

    def grid_size(self) -> int | None:
        """Points of the full grid, or None when a dimension is continuous."""
        size = 1
        for p in self.params:
            g = p.grid()
            if g is None:
                return None
            size *= len(g)
        return size

    def grid(self) -> dict[str, list[Value]]:
        """The grid (every dimension's points), for a grid search."""
        out: dict[str, list[Value]] = {}
        for p in self.params:
            g = p.grid()
            if g is None:
                raise SpaceError(
                    f"{p.option}: a grid search needs points: give a list, a step "
                    "(LO:HI:STEP), int:LO:HI or log:LO:HI:POINTS"
                )
            out[p.key] = list(g)
        return out

    @property
    def scan_keys(self) -> tuple[str, ...]:
        """The keys whose values change the scan (each new value scans again)."""
        return tuple(p.key for p in self.params if p.scan_affecting)

    def as_json(self) -> list[dict[str, Any]]:
        return [p.as_json() for p in self.params]


def check_space(cfg: Config, params: Sequence[ParamSpec]) -> SearchSpace:
    """The search space, with every value it may try validated by the configuration's schema.

    Raises :class:`SpaceError` (one line) for a duplicate or unknown key, a value out of the
    schema's range, a fraction for a whole-number parameter, a range over a parameter that is
    not a number."""
    if not params:
        raise SpaceError("give at least one --param KEY=SPEC to search over")
    seen: set[str] = set()
    for p in params:
        if p.key in seen:
            raise SpaceError(f"{p.option}: {p.key} is given twice")
        seen.add(p.key)
        try:
            current = current_value(cfg, p.key)
        except SchemaError as exc:
            raise SpaceError(f"{p.option}: {'; '.join(exc.errors)}") from None
        if p.kind != "list":
            if isinstance(current, bool) or not isinstance(current, (int, float)):
                raise SpaceError(
                    f"{p.option}: {p.key} is not a number ({current!r}): list its values "
                    "instead, e.g. KEY=a,b"
                )
            if isinstance(current, int) and p.kind in ("float", "log"):
                g = p.grid()
                if g is None or not all(float(v).is_integer() for v in g):
                    raise SpaceError(f"{p.option}: {p.key} is a whole number: use int:LO:HI[:STEP]")
        for value in _probes(p, isinstance(current, int) and not isinstance(current, bool)):
            try:
                apply_overrides(cfg, {p.key: value})
            except SchemaError as exc:
                raise SpaceError(f"{p.option}: {'; '.join(exc.errors)}") from None
    space = SearchSpace(tuple(params))
    size = space.grid_size()
    if size is not None and size > MAX_GRID:
        raise SpaceError(f"the grid has {size:,} points (more than {MAX_GRID:,}): use fewer")
    return space


def _probes(p: ParamSpec, whole: bool) -> tuple[Value, ...]:
    """The values to validate: every point of a grid, both ends of a continuous range."""
    g = p.grid()
    if g is not None:
        if whole:
            return tuple(int(v) if isinstance(v, float) and v.is_integer() else v for v in g)
        return g
    assert p.lo is not None and p.hi is not None
    return (p.lo, p.hi)


def typed(value: Value, current: Any) -> Value:
    """``value`` in the type of the parameter (a whole-number parameter gets an int)."""
    if isinstance(current, int) and not isinstance(current, bool) and isinstance(value, float):
        return int(value) if value.is_integer() else value
    return value


__all__ = [
    "MAX_GRID",
    "SCAN_FILES",
    "ParamSpec",
    "SearchSpace",
    "SpaceError",
    "Value",
    "check_space",
    "parse_param",
    "typed",
]
