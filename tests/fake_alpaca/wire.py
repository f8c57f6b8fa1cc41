"""Alpaca wire-format helpers: timestamps, numbers and error bodies as Alpaca writes them."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

NY = ZoneInfo("America/New_York")

# A fixed namespace so that an asset's id is the same in every run (Alpaca's ids are stable).
_ASSET_NS = uuid.UUID("6f1f0d2e-3c53-4f55-9a55-7a1a0c0ffee0")


def asset_id(symbol: str) -> str:
    return str(uuid.uuid5(_ASSET_NS, symbol.upper()))


def ensure_aware(dt: datetime) -> datetime:
    """Naive datetimes are taken as UTC, as alpaca-py itself does for request parameters."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def rfc3339_utc(dt: datetime) -> str:
    """Order/trade timestamps: ``2024-06-03T14:00:00.123456Z`` (Alpaca prints UTC with ``Z``)."""
    dt = ensure_aware(dt).astimezone(UTC)
    if dt.microsecond:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_et(dt: datetime) -> str:
    """The clock endpoint prints Eastern time with its offset, e.g. ``...T09:30:00-04:00``."""
    return ensure_aware(dt).astimezone(NY).isoformat()


def parse_time(value: str, *, end_of_day: bool = False) -> datetime:
    """Parse an RFC 3339 timestamp or a bare ``YYYY-MM-DD`` date (Alpaca accepts both).

    A bare date means midnight Eastern time (the start of that day), or the end of that day
    when ``end_of_day`` is set, which is how Alpaca treats ``end=2024-06-03``.
    """
    text = value.strip()
    if len(text) == 10:
        d = date.fromisoformat(text)
        at = time(23, 59, 59, 999999) if end_of_day else time(0)
        return datetime.combine(d, at, tzinfo=NY).astimezone(UTC)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    return ensure_aware(datetime.fromisoformat(text)).astimezone(UTC)


def num(x: float) -> str:
    """Quantities and prices as Alpaca's trading API prints them: decimal strings, no exponent."""
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        raise ValueError(f"not a finite number: {x!r}")
    if float(x).is_integer():
        return str(int(x))
    text = f"{float(x):.9f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def error_body(code: int, message: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    body.update(extra)
    return body


UNAUTHORIZED = error_body(40110000, "request is not authorized")
FORBIDDEN = error_body(40310000, "forbidden")
RATE_LIMITED = error_body(42910000, "rate limit exceeded")
