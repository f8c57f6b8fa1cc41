"""Parameter overrides by key, as the YAML files name them: ``strategies.bb_squeeze.sl_atr``.

Backtest scenarios and parameter searches change a few parameters of the configuration in
force. A key is the file's stem followed by the path inside it (``risk.exits.time_exit_day``,
``scanner.ranking.top_n``, ``strategies.rsi_reversion.enabled``, ``app.backtest.fill_model``);
the new configuration is rebuilt through the same schema as the files, so a value out of its
range, of the wrong type or under an unknown key is refused with the file, key and allowed
range named, exactly as in ``workstation config check``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from workstation.core.config import SECTIONS, Config, build_section
from workstation.core.schema import SchemaError, bounds_of, to_plain

#: File stem -> the Config attribute it builds.
_FILES: dict[str, tuple[str, str]] = {
    "scanner": ("scanner.yaml", "scanner"),
    "strategies": ("strategies.yaml", "strategies"),
    "risk": ("risk.yaml", "risk"),
    "schedule": ("schedule.yaml", "schedule"),
    "app": ("app.yaml", "app"),
}


def split_key(key: str) -> tuple[str, list[str]]:
    """``risk.exits.time_exit_day`` -> (``risk.yaml``, [``exits``, ``time_exit_day``])."""
    parts = [p for p in str(key).strip().split(".") if p]
    if len(parts) < 2 or parts[0] not in _FILES:
        known = ", ".join(f"{stem}.…" for stem in _FILES)
        raise SchemaError(
            [f"{key!r} is not a parameter key: write FILE.PATH.NAME, FILE one of {known}"]
        )
    return _FILES[parts[0]][0], parts[1:]


def _plain(cfg: Config, attr: str) -> Any:
    value = getattr(cfg, attr)
    if attr == "strategies":
        return {name: to_plain(p) for name, p in value.items()}
    return to_plain(value)


def current_value(cfg: Config, key: str) -> Any:
    """The value of ``key`` in ``cfg`` (as plain YAML data); SchemaError if unknown."""
    filename, path = split_key(key)
    node: Any = _plain(cfg, _FILES[key.split(".")[0]][1])
    for i, part in enumerate(path):
        if not isinstance(node, Mapping) or part not in node:
            where = ".".join(path[:i]) or "the top level"
            known = ", ".join(sorted(node)) if isinstance(node, Mapping) else "none"
            raise SchemaError(
                [
                    f"{filename}: unknown key '{'.'.join(path)}' ({part!r} under {where}; "
                    f"known: {known})"
                ]
            )
        node = node[part]
    return node


def apply_overrides(cfg: Config, overrides: Mapping[str, Any]) -> Config:
    """``cfg`` with each key set to its value, validated by the files' schema.

    Raises :class:`SchemaError` listing every problem (unknown key, out of range, wrong type).
    """
    if not overrides:
        return cfg
    errors: list[str] = []
    by_file: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        try:
            current_value(cfg, key)  # the key must exist: no silent typo
        except SchemaError as exc:
            errors.extend(exc.errors)
            continue
        stem = key.split(".")[0]
        attr = _FILES[stem][1]
        data = by_file.setdefault(attr, _plain(cfg, attr))
        *parents, leaf = split_key(key)[1]
        node = data
        for part in parents:
            node = node[part]
        node[leaf] = value
    changes: dict[str, Any] = {}
    for attr, data in by_file.items():
        filename = next(f for f, a in _FILES.values() if a == attr)
        try:
            changes[attr] = build_section(filename, data)
        except SchemaError as exc:
            errors.extend(exc.errors)
    if errors:
        raise SchemaError(errors)
    return dataclasses.replace(cfg, **changes)


def bounds_of_key(cfg: Config, key: str) -> Any:
    """The schema's bounds of ``key`` (``Bounds``: lo, hi, choices), for range checks of a
    search before it starts."""
    filename, path = split_key(key)
    current_value(cfg, key)
    if filename == "strategies.yaml":
        obj: Any = cfg.strategies[path[0]]
        path = path[1:]
    else:
        obj = getattr(cfg, _FILES[key.split(".")[0]][1])
    *parents, leaf = path
    for part in parents:
        obj = getattr(obj, part)
    for f in dataclasses.fields(obj):
        if f.name == leaf:
            return bounds_of(f)
    raise SchemaError([f"{filename}: {'.'.join(path)} has no schema bounds"])


__all__ = ["SECTIONS", "apply_overrides", "bounds_of_key", "current_value", "split_key"]
