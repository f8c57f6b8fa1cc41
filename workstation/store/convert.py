"""Conversions between Python values and what the store keeps in SQLite.

Conventions (the whole schema follows them):
- timestamps: ISO-8601 text with offset, always converted to UTC and always with microseconds
  (``2024-03-11T13:30:00.000000+00:00``), so that text order is time order and ``ORDER BY at``
  / ``MAX(at)`` are correct whatever offset the caller used;
- dates (sessions): ``YYYY-MM-DD``;
- money, prices and quantities: REAL;
- structured blobs (indicators, explanations, symbol lists, details): JSON text.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from enum import Enum
from functools import cache
from pathlib import PurePath
from typing import Any, TypeVar

T = TypeVar("T")


def ts(value: datetime) -> str:
    """A tz-aware datetime as UTC ISO-8601 text (naive datetimes are refused: ambiguous)."""
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}: {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: the store needs a timezone-aware time")
    u = value.astimezone(UTC)
    # Rebuilt as a plain datetime so pandas.Timestamp and friends format the same way.
    plain = datetime(u.year, u.month, u.day, u.hour, u.minute, u.second, u.microsecond, UTC)
    return plain.isoformat(timespec="microseconds")


def opt_ts(value: datetime | None) -> str | None:
    return None if value is None else ts(value)


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def day(value: date) -> str:
    """A session date as ``YYYY-MM-DD``; a datetime is refused (which day would it be?)."""
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"expected a date (not a datetime), got {type(value).__name__}: {value!r}")
    return value.isoformat()


def opt_day(value: date | None) -> str | None:
    return None if value is None else day(value)


def num(value: Any) -> float:
    """Any real number (numpy scalars included) as a Python float."""
    if value is None or isinstance(value, bool):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def opt_num(value: Any) -> float | None:
    return None if value is None else num(value)


def finite(name: str, value: Any) -> float:
    """A number that must be finite (prices, quantities): NaN/inf is a caller bug."""
    out = num(value)
    if not math.isfinite(out):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return out


def opt_finite(name: str, value: Any) -> float | None:
    return None if value is None else finite(name, value)


def integer(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError(f"expected an integer, got {value!r}")
    return int(value)


def choice(name: str, value: Any, allowed: Iterable[str]) -> str:
    """``value`` (a str or a str-valued Enum) if it is one of ``allowed``, else ValueError."""
    text = value.value if isinstance(value, Enum) else value
    allowed = tuple(allowed)
    if text not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return str(text)


def text(value: Any) -> str:
    """A str or a str-valued Enum as plain text."""
    return str(value.value if isinstance(value, Enum) else value)


def opt_text(value: Any) -> str | None:
    return None if value is None else text(value)


def _json_default(obj: Any) -> Any:
    # numpy scalars and arrays without importing numpy here
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "shape", None) == ():
        return obj.item()
    if hasattr(obj, "tolist") and callable(obj.tolist):
        return obj.tolist()
    if isinstance(obj, datetime):
        return ts(obj) if obj.tzinfo is not None else obj.isoformat()
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    if isinstance(obj, PurePath):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__} as JSON: {obj!r}")


def to_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, default=_json_default)


def opt_json(obj: Any) -> str | None:
    return None if obj is None else to_json(obj)


# -- rows -> dataclasses -----------------------------------------------------------------------


def _converter(tp: Any) -> Callable[[Any], Any] | None:
    """How to turn a stored value into the field's type (None: keep as is)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _converter(args[0])
        return None
    if tp is datetime:
        return parse_ts
    if tp is date:
        return date.fromisoformat
    if tp is bool:
        return bool
    if tp is float:
        return float
    if tp in (dict, list) or origin in (dict, list):
        return json.loads
    return None


@cache
def _plan(cls: type) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f.name, _converter(hints[f.name])) for f in dataclasses.fields(cls))


def from_row(cls: type[T], row: Mapping[str, Any]) -> T:
    """Build the row dataclass ``cls`` from a database row (a column -> value mapping)."""
    kwargs: dict[str, Any] = {}
    for name, conv in _plan(cls):
        value = row[name]
        kwargs[name] = conv(value) if conv is not None and value is not None else value
    return cls(**kwargs)
