"""What the Optimize window shows, computed without Qt: the parameters a search can range over,
the trials as rows, the heatmap over two parameters, the values *Apply* proposes.

The trials come from the search's progress events (``trial``) while it runs and from its JSON
result (``workstation optimize --json``) when it ends; both carry each trial's ``params``,
``state`` and objective ``value``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workstation.core.config import Config
from workstation.core.overrides import bounds_of_key, current_value, split_key
from workstation.core.schema import SchemaError, to_plain

#: Files whose numbers a search ranges over (schedule.yaml holds times, app.yaml the account).
SEARCHABLE_FILES = ("strategies", "risk", "scanner")
#: Most distinct values a heatmap axis shows; more (a continuous search) are binned.
MAX_CELLS = 10


@dataclass(frozen=True)
class Searchable:
    """A parameter a search can range over: its key, value in force and allowed range."""

    key: str
    current: int | float
    allowed: str
    whole: bool

    def label(self) -> str:
        return f"{self.key}  (now {self.current}; allowed {self.allowed})"


def searchable(cfg: Config) -> list[Searchable]:
    """Every number of the strategy, risk and scanner files, by key, in file order."""
    out: list[Searchable] = []

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                walk(f"{prefix}.{k}", v)
        elif isinstance(node, int | float) and not isinstance(node, bool):
            try:
                allowed = bounds_of_key(cfg, prefix).describe()
            except SchemaError:
                return
            out.append(Searchable(prefix, node, allowed, isinstance(node, int)))

    for stem in SEARCHABLE_FILES:
        section = getattr(cfg, stem)
        plain = (
            {k: to_plain(v) for k, v in section.items()}
            if stem == "strategies"
            else to_plain(section)
        )
        walk(stem, plain)
    return out


def key_path(key: str) -> tuple[str, ...]:
    """``risk.exits.time_exit_day`` -> the parameter editor's (``risk.yaml``, ``exits``,
    ``time_exit_day``)."""
    filename, path = split_key(key)
    return (filename, *path)


def proposal(cfg: Config, params: Mapping[str, Any]) -> dict[tuple[str, ...], Any]:
    """The chosen values as the parameter editor takes them, in each parameter's type."""
    out: dict[tuple[str, ...], Any] = {}
    for key, value in params.items():
        current = current_value(cfg, key)
        if isinstance(current, int) and isinstance(value, float) and value.is_integer():
            value = int(value)
        out[key_path(key)] = value
    return out


def short(key: str) -> str:
    """A key as a column title: its last two parts (``bb_squeeze.sl_atr``)."""
    return ".".join(key.split(".")[-2:])


def params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{short(k)}={fmt_value(v)}" for k, v in params.items())


def fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def listed_searches(db_path: Path) -> list[Any]:
    """The searches of the home's store, newest first (SearchRow); none without a store."""
    from workstation.store import Store

    if not db_path.exists():
        return []
    store = Store.open(db_path)
    try:
        return store.searches()
    finally:
        store.close()


def search_line(row: Any) -> str:
    """One listed search as the set-up shows it."""
    best = row.best or {}
    value = best.get("value")
    shown = "" if value is None else f"  best {row.objective} {value:.3f}"
    return (
        f"{row.id}  {row.status:<11} {row.trials_done}/{row.trials_total} trials  "
        f"{' '.join(row.params)}{shown}"
    )


# ------------------------------------------------------------------------------ trials
@dataclass
class TrialRow:
    """One trial as the table shows it: ``data`` is the latest the search said of it (a
    ``queued`` or ``trial`` event, then its entry in the result, which adds the figures)."""

    stage: int
    number: int
    data: dict[str, Any]

    @property
    def key(self) -> tuple[int, int]:
        return self.stage, self.number

    @property
    def params(self) -> dict[str, Any]:
        return self.data["params"]

    @property
    def state(self) -> str:
        # "queued": handed to the cluster, waiting for or on a worker
        return "queued" if self.data.get("event") == "queued" else str(self.data["state"])

    @property
    def value(self) -> float | None:
        return None if self.state == "queued" else self.data.get("value")

    @property
    def reason(self) -> str | None:
        return self.data.get("reason")

    @property
    def wall_s(self) -> float | None:
        return self.data.get("wall_s")

    @property
    def worker(self) -> str | None:
        return self.data.get("worker")

    @property
    def figures(self) -> Mapping[str, Any] | None:
        return self.data.get("figures")


def update_rows(rows: dict[tuple[int, int], TrialRow], event: Mapping[str, Any]) -> TrialRow:
    """Apply one ``queued`` or ``trial`` event (or one trial of the result) to ``rows``."""
    key = (int(event["stage"]), int(event["number"]))
    old = rows.get(key)
    data = dict(event)
    if old is not None and event.get("event") != "queued":
        # what the search said before and not now (a worker, the figures) stays
        data = {**{k: v for k, v in old.data.items() if k != "event"}, **data}
    rows[key] = TrialRow(key[0], key[1], data)
    return rows[key]


# ------------------------------------------------------------------------------ heatmap
@dataclass(frozen=True)
class Heatmap:
    """The best objective value over each pair of values of two parameters (the others at
    whatever they were: each cell is the best trial that had that pair). ``values[y][x]`` is
    None where no trial with that pair has a value; ``trials[y][x]`` is that best trial's
    (stage, number) and ``counts[y][x]`` how many trials fell in the cell."""

    x_key: str
    y_key: str
    x_labels: tuple[str, ...]
    y_labels: tuple[str, ...]
    values: tuple[tuple[float | None, ...], ...]
    trials: tuple[tuple[tuple[int, int] | None, ...], ...]
    counts: tuple[tuple[int, ...], ...]

    def value_range(self) -> tuple[float, float] | None:
        got = [v for row in self.values for v in row if v is not None]
        return (min(got), max(got)) if got else None


def _axis(values: Sequence[Any]) -> tuple[list[str], list[Any]]:
    """(labels, a function's breakpoints): distinct values as they are, or equal-width bins
    when there are more than MAX_CELLS numbers (a continuous search)."""
    distinct = sorted(set(values), key=lambda v: (isinstance(v, str), v))
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in distinct)
    if len(distinct) <= MAX_CELLS or not numeric:
        return [fmt_value(v) for v in distinct], distinct
    lo, hi = float(distinct[0]), float(distinct[-1])
    step = (hi - lo) / MAX_CELLS
    edges = [lo + i * step for i in range(MAX_CELLS + 1)]
    labels = [f"{edges[i]:.4g}-{edges[i + 1]:.4g}" for i in range(MAX_CELLS)]
    return labels, edges


def _cell(value: Any, stops: Sequence[Any], binned: bool) -> int:
    if not binned:
        return stops.index(value)
    # the last edge closes the last bin
    return min(max(0, int((float(value) - stops[0]) / (stops[1] - stops[0]))), len(stops) - 2)


def heatmap(rows: Iterable[TrialRow], x_key: str, y_key: str) -> Heatmap:
    """The heatmap of ``rows`` over ``x_key`` (columns) and ``y_key`` (rows)."""
    rows = [r for r in rows if x_key in r.params and y_key in r.params]
    x_labels, xs = _axis([r.params[x_key] for r in rows])
    y_labels, ys = _axis([r.params[y_key] for r in rows])
    x_binned, y_binned = len(xs) != len(x_labels), len(ys) != len(y_labels)
    nx, ny = len(x_labels), len(y_labels)
    values: list[list[float | None]] = [[None] * nx for _ in range(ny)]
    trials: list[list[tuple[int, int] | None]] = [[None] * nx for _ in range(ny)]
    counts = [[0] * nx for _ in range(ny)]
    for r in rows:
        i = _cell(r.params[y_key], ys, y_binned)
        j = _cell(r.params[x_key], xs, x_binned)
        counts[i][j] += 1
        v = r.value
        if v is None or not math.isfinite(v):
            continue
        if values[i][j] is None or v > values[i][j]:  # type: ignore[operator]
            values[i][j], trials[i][j] = v, r.key
    return Heatmap(
        x_key,
        y_key,
        tuple(x_labels),
        tuple(y_labels),
        tuple(tuple(r) for r in values),
        tuple(tuple(r) for r in trials),
        tuple(tuple(r) for r in counts),
    )


__all__ = [
    "MAX_CELLS",
    "Heatmap",
    "Searchable",
    "TrialRow",
    "fmt_value",
    "heatmap",
    "key_path",
    "listed_searches",
    "params_text",
    "proposal",
    "search_line",
    "searchable",
    "short",
    "update_rows",
]
