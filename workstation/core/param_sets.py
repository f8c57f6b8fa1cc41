"""A parameter set as text and back, and two sets compared key by key.

The trading parameters (scanner, strategies, risk, schedule: what decides trades, not
``app.yaml``) are recorded in the store's ``param_sets`` table as YAML under their hash, by
every scan. A backtest can run on any recorded set (``workstation backtest --params HASH``):
:func:`config_with_params` rebuilds the configuration from that text through the same schema
as the files, ``app.yaml`` staying the one in force. The research window compares two runs'
sets with :func:`param_differences`, keyed as the YAML files and scenario overrides name a
parameter (``risk.exits.time_exit_day``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import yaml

from workstation.core.config import Config, build_section
from workstation.core.schema import SchemaError

#: The sections of a parameter set: file stem -> (file name, Config attribute).
PARAM_FILES: dict[str, tuple[str, str]] = {
    "scanner": ("scanner.yaml", "scanner"),
    "strategies": ("strategies.yaml", "strategies"),
    "risk": ("risk.yaml", "risk"),
    "schedule": ("schedule.yaml", "schedule"),
}


def params_yaml(cfg: Config) -> str:
    """The trading parameters of ``cfg`` as the YAML recorded under ``cfg.param_hash``."""
    return yaml.safe_dump(cfg.trading_params(), sort_keys=False)


def config_with_params(cfg: Config, text: str) -> Config:
    """``cfg`` with its trading parameters replaced by those of a recorded set ``text``.

    Every section is validated by the files' schema; a parameter added to the app after the
    set was recorded takes its default. Raises :class:`SchemaError` (every problem named) when
    the text is not such a set or a value no longer validates."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SchemaError([f"the parameter set is not readable YAML: {exc}"]) from None
    if not isinstance(data, Mapping):
        raise SchemaError(["the parameter set is not a mapping of scanner, strategies, ..."])
    unknown = sorted(set(map(str, data)) - set(PARAM_FILES))
    if unknown:
        raise SchemaError([f"the parameter set has unknown section(s) {', '.join(unknown)}"])
    errors: list[str] = []
    changes: dict[str, Any] = {}
    for stem, (filename, attr) in PARAM_FILES.items():
        try:
            changes[attr] = build_section(filename, data.get(stem))
        except SchemaError as exc:
            errors.extend(exc.errors)
    if errors:
        raise SchemaError(errors)
    return dataclasses.replace(cfg, **changes)


def flat_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested parameters as ``{"risk.exits.time_exit_day": 5, ...}`` (lists stay values)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flat_params(value, name + "."))
        else:
            out[name] = value
    return out


def param_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """Each key whose value differs between two flat parameter maps, sorted by key, as
    (key, value in ``a``, value in ``b``); a key one side lacks has None there."""
    keys = sorted(set(a) | set(b))
    return [(k, a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k)]


__all__ = [
    "PARAM_FILES",
    "config_with_params",
    "flat_params",
    "param_differences",
    "params_yaml",
]
