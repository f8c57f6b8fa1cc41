"""Numbers as a trader reads them: signed amounts without "-0.00", dollar volumes in $ with
K/M/B. Shared by the window, the log and the CLI. No Qt here."""

from __future__ import annotations

import math


def _finite(x: float | None) -> bool:
    return x is not None and isinstance(x, int | float) and math.isfinite(x)


def signed(x: float | None, digits: int = 2, suffix: str = "", *, grouped: bool = True) -> str:
    """``+1,234.50``; a value that rounds to zero reads ``+0.00`` (never ``-0.00``);
    missing or not finite: ``""``."""
    if not _finite(x):
        return ""
    assert x is not None
    v = round(float(x), digits)
    if v == 0:
        v = 0.0  # also turns -0.0 into 0.0
    spec = f"{{:+{',' if grouped else ''}.{digits}f}}"
    return spec.format(v) + suffix


def signed_pct(x: float | None, digits: int = 2) -> str:
    """A fraction as a signed percentage: 0.0123 -> ``+1.23%`` (never ``-0.00%``)."""
    if not _finite(x):
        return ""
    assert x is not None
    return signed(100.0 * float(x), digits, "%", grouped=False)


def dollars_compact(x: float | None) -> str:
    """A dollar volume: ``$1.23B``, ``$456.7M``, ``$12.3K``, ``$950``."""
    if not _finite(x):
        return ""
    assert x is not None
    v = float(x)
    sign = "-" if v < 0 else ""
    a = abs(v)
    for size, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if a >= size * 0.9995:  # 999.96M reads $1.00B, not $1000.0M
            q = a / size
            return f"{sign}${q:,.{2 if q < 9.995 else 1}f}{unit}"
    return f"{sign}${a:,.0f}"


__all__ = ["dollars_compact", "signed", "signed_pct"]
