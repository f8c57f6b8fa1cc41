"""The kinds of data problem of trading rules §14 and how they read, for every place that
names them (scan report, log, CLI, window). Plain Python: the window imports it before
numpy and pandas are loaded."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

INVALID_BAR = "invalid_bar"
DUPLICATE_CONFLICT = "duplicate_conflict"
SPIKE = "spike"
REPAIRED = "repaired"
ZERO_VOLUME = "zero_volume"
NO_VOLUME = "no_volume"  # the reason a zero-volume session is not entered

#: Problem kinds in report order. The first three are not served and make a symbol ineligible.
KIND_ORDER: tuple[str, ...] = (INVALID_BAR, DUPLICATE_CONFLICT, SPIKE, REPAIRED, ZERO_VOLUME)
INELIGIBLE_KINDS: tuple[str, ...] = KIND_ORDER[:3]

#: kind -> (one, many, what was done about it)
WORDS: dict[str, tuple[str, str, str]] = {
    INVALID_BAR: ("invalid bar", "invalid bars", "not served"),
    DUPLICATE_CONFLICT: ("duplicate conflict", "duplicate conflicts", "not served"),
    SPIKE: ("spike", "spikes", "not served"),
    REPAIRED: ("repaired bar", "repaired bars", "high/low widened"),
    ZERO_VOLUME: ("zero-volume bar", "zero-volume bars", "no entry that session"),
}


def counted(kind: str, n: int) -> str:
    one, many, consequence = WORDS[kind]
    return f"{n} {one if n == 1 else many} ({consequence})"


def problems_text(report: Mapping[str, Any], symbols_shown: int = 8) -> str:
    """One line from a report's plain form (``{"by_kind": {kind: {symbol: [sessions]}}}``,
    e.g. a scan report's ``data_problems``): ``"1 spike (not served): HELD 2024-03-05; ..."``;
    "" when there is none."""
    parts = []
    by_kind = report.get("by_kind") or {}
    for kind in KIND_ORDER:
        syms = by_kind.get(kind) or {}
        if not syms:
            continue
        n = sum(len(days) for days in syms.values())
        named = [
            f"{sym} {', '.join(days[:3])}{' ...' if len(days) > 3 else ''}"
            for sym, days in sorted(syms.items())[:symbols_shown]
        ]
        more = f" and {len(syms) - symbols_shown} more symbols" if len(syms) > symbols_shown else ""
        parts.append(f"{counted(kind, n)}: {'; '.join(named)}{more}")
    return "; ".join(parts)


def unserved(report: Mapping[str, Any]) -> int:
    """Bars of a report's plain form that are not served (invalid, conflicting, spikes)."""
    counts = report.get("counts") or {}
    return sum(int(counts.get(k) or 0) for k in INELIGIBLE_KINDS)
