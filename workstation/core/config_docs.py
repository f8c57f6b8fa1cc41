"""Render the configuration reference (docs/configuration.md) from the schema itself,
so the documentation cannot drift from the code (a test compares the two)."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from workstation.core.config import SECTIONS, STRATEGY_PARAMS, _load_strategy_modules
from workstation.core.schema import bounds_of, to_plain

HEADER = """# Configuration reference

Generated from the code by `python -m workstation.core.config_docs > docs/configuration.md`
(a test fails when this page is out of date). The files live in the configuration folder
(`--home DIR/config`, or the platform's user folder), seeded from the project's `config/` on
first run. Every value is checked on load and on save: a bad value is refused with a message
naming the file, the key, the value and the allowed range, and the previous good configuration
stays in force. Missing keys take the defaults below; unknown keys are refused (usually typos).
Times are `"HH:MM"` in America/New_York. API keys are never configured here.
"""


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is tuple:
        return "list"
    name = getattr(tp, "__name__", str(tp))
    return {"time": "time HH:MM", "str": "text", "bool": "true/false"}.get(name, name)


def _rows(cls: type, prefix: str, default: Any = None) -> list[str]:
    rows: list[str] = []
    hints = typing.get_type_hints(cls)
    default = cls() if default is None else default
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        value = getattr(default, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            rows.extend(_rows(tp, key + ".", value))
            continue
        b = bounds_of(f)
        shown = to_plain(value)
        if isinstance(shown, list):
            shown = ", ".join(map(str, shown)) or "(none)"
        rows.append(f"| `{key}` | {_type_name(tp)} | `{shown}` | {b.describe()} | {b.doc} |")
    return rows


def render() -> str:
    _load_strategy_modules()
    out = [HEADER]
    for filename, cls in SECTIONS.items():
        out += [
            f"\n## {filename}\n",
            "| key | type | default | allowed | meaning |",
            "|---|---|---|---|---|",
            *_rows(cls, ""),
        ]
    out += [
        "\n## strategies.yaml\n",
        "One block per strategy, in tie-break order (the first listed wins a tie in score). "
        "Adding a strategy is one module in `workstation/signals/strategies/` and one block "
        "here.",
    ]
    for name, cls in STRATEGY_PARAMS.items():
        out += [
            f"\n### {name}\n",
            "| key | type | default | allowed | meaning |",
            "|---|---|---|---|---|",
            *_rows(cls, ""),
        ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(render(), end="")
