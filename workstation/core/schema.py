"""A small schema engine: frozen dataclasses whose fields carry their allowed range.

``param(default, lo=0, hi=1, doc=...)`` declares a field; :func:`build` turns a
mapping read from YAML into the dataclass, collecting *every* problem as a
message that names the file, the key path, the bad value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from enum import Enum
from typing import Any, TypeVar

T = TypeVar("T")

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Bounds:
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False  # True: value must be > lo (not >=)
    choices: tuple[Any, ...] | None = None
    doc: str = ""

    def describe(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.lo is not None and self.hi is not None:
            left = "(" if self.lo_open else "["
            return f"{left}{_fmt(self.lo)} .. {_fmt(self.hi)}]"
        if self.lo is not None:
            return f"{'>' if self.lo_open else '>='} {_fmt(self.lo)}"
        if self.hi is not None:
            return f"<= {_fmt(self.hi)}"
        return "any"


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() and abs(x) >= 10_000 else f"{x:g}"


def param(
    default: Any,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    choices: tuple[Any, ...] | None = None,
    doc: str = "",
) -> Any:
    """A dataclass field with a default and its allowed range (shown in messages and the GUI)."""
    meta = {"bounds": Bounds(lo, hi, lo_open, choices, doc)}
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def bounds_of(f: dataclasses.Field[Any]) -> Bounds:
    return f.metadata.get("bounds", Bounds())


class SchemaError(ValueError):
    """Every problem found while building a configuration object."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def build(cls: type[T], data: Any, *, where: str, path: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; raise :class:`SchemaError` listing all problems.

    Missing keys take their defaults (so an older file keeps working after a new
    parameter is added); unknown keys are errors (they are usually typos that would
    otherwise be silently ignored).
    """
    errors: list[str] = []
    obj = _build(cls, data, where, path, errors)
    if errors:
        raise SchemaError(errors)
    return obj


def _key(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _build(cls: type[T], data: Any, where: str, path: str, errors: list[str]) -> T:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        errors.append(
            f"{where}: {path or 'top level'} must be a mapping of keys, "
            f"got {type(data).__name__} {data!r}"
        )
        return _defaults(cls)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            known = ", ".join(fields)
            errors.append(
                f"{where}: unknown key '{_key(path, str(key))}' (known keys here: {known})"
            )
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in data:
            continue
        kwargs[name] = _value(
            hints[name], data[name], bounds_of(f), where, _key(path, name), errors
        )
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # cross-field checks in __post_init__
        errors.append(f"{where}: {path or 'top level'}: {exc}")
        return _defaults(cls)


def _defaults(cls: type[T]) -> T:
    try:
        return cls()
    except TypeError:
        return None  # type: ignore[return-value]


def _value(tp: Any, raw: Any, b: Bounds, where: str, key: str, errors: list[str]) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if raw is None and type(None) in args:
            return None
        tp = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(tp), typing.get_args(tp)
    bad = f"{where}: {key} = {raw!r} is not valid"
    if dataclasses.is_dataclass(tp):
        return _build(tp, raw, where, key, errors)
    if origin is tuple:
        if not isinstance(raw, (list, tuple)):
            errors.append(f"{bad}: expected a list")
            return ()
        item_t = args[0] if args else Any
        return tuple(_value(item_t, v, b, where, f"{key}[{i}]", errors) for i, v in enumerate(raw))
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(raw, Mapping):
            errors.append(f"{bad}: expected a mapping")
            return {}
        vt = args[1] if len(args) == 2 else Any
        return {k: _value(vt, v, b, where, f"{key}.{k}", errors) for k, v in raw.items()}
    if tp is bool:
        if not isinstance(raw, bool):
            errors.append(f"{bad}: expected true or false")
            return False
        return raw
    if tp in (int, float):
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            errors.append(f"{bad}: expected a number, allowed {b.describe()}")
            return raw
        if tp is int and not float(raw).is_integer():
            errors.append(f"{bad}: expected a whole number, allowed {b.describe()}")
            return raw
        val = tp(raw)
        if isinstance(val, float) and not math.isfinite(val):
            errors.append(f"{bad}: expected a finite number, allowed {b.describe()}")
            return val
        too_low = b.lo is not None and (val <= b.lo if b.lo_open else val < b.lo)
        too_high = b.hi is not None and val > b.hi
        if too_low or too_high:
            errors.append(f"{where}: {key} = {raw!r} is out of range: allowed {b.describe()}")
        return val
    if tp is time:
        if isinstance(raw, int) and not isinstance(raw, bool):  # YAML 1.1 reads 20:00 as 1200
            raw = f"{raw // 60:02d}:{raw % 60:02d}"
        if not isinstance(raw, str) or not _HHMM.match(raw):
            errors.append(f'{bad}: expected a time of day as "HH:MM" (24 h, America/New_York)')
            return time(0, 0)
        hh, mm = raw.split(":")
        return time(int(hh), int(mm))
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(raw)
        except ValueError:
            allowed = ", ".join(str(m.value) for m in tp)
            errors.append(f"{bad}: allowed {allowed}")
            return next(iter(tp))
    if tp is str:
        if not isinstance(raw, str):
            errors.append(f"{bad}: expected text")
            return str(raw)
        if b.choices is not None and raw not in b.choices:
            errors.append(f"{bad}: allowed {b.describe()}")
        return raw
    return raw


def to_plain(obj: Any) -> Any:
    """A dataclass tree as plain YAML-able data (times as "HH:MM", enums as values)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, time):
        return obj.strftime("%H:%M")
    if isinstance(obj, tuple | list):
        return [to_plain(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj
