"""Named backtest scenarios: the configuration with a few parameters changed.

The strategy desk's questions as variants run in one command (``--scenario NAME``, repeatable;
``--scenario all`` runs every built-in one), compared in one table:

* ``combined``: the configuration in force;
* one per strategy (``rsi_reversion``, ``bb_squeeze``, ...): that strategy alone;
* ``no-day1-skip``: SL/TP from day 1 (``risk.exits.sltp_from_day: 1``);
* ``time-exit-3`` / ``time-exit-7``: the time exit on day 3 / 7 instead of 5;
* ``gap-2`` / ``gap-5``: the gap filter at 2% / 5% instead of 3%;
* ``fill-pessimistic``: a day spanning both SL and TP touches the SL first.

A user adds scenarios in ``scenarios.yaml`` in the configuration folder::

    scenarios:
      wide-stops:
        description: rsi_reversion with a 2.5 ATR stop
        overrides:
          strategies.rsi_reversion.sl_atr: 2.5

validated like every configuration file: a bad name, an unknown key or a value out of range
is one line naming the file, the scenario, the key and the allowed range.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from workstation.core.config import Config
from workstation.core.overrides import apply_overrides
from workstation.core.schema import SchemaError
from workstation.errors import UserError

SCENARIOS_FILE = "scenarios.yaml"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    overrides: Mapping[str, Any] = field(default_factory=dict)


def builtin_scenarios(cfg: Config) -> dict[str, Scenario]:
    """The desk's scenarios for ``cfg`` (one per strategy of ``cfg``)."""
    out = {"combined": Scenario("combined", "the configuration in force")}
    for name in cfg.strategies:
        out[name] = Scenario(
            name,
            f"{name} alone",
            {f"strategies.{s}.enabled": s == name for s in cfg.strategies},
        )
    out.update(
        {
            "no-day1-skip": Scenario(
                "no-day1-skip", "SL/TP from day 1", {"risk.exits.sltp_from_day": 1}
            ),
            "time-exit-3": Scenario(
                "time-exit-3", "time exit on day 3", {"risk.exits.time_exit_day": 3}
            ),
            "time-exit-7": Scenario(
                "time-exit-7", "time exit on day 7", {"risk.exits.time_exit_day": 7}
            ),
            "gap-2": Scenario("gap-2", "gap filter at 2%", {"risk.gap.max_abs_gap": 0.02}),
            "gap-5": Scenario("gap-5", "gap filter at 5%", {"risk.gap.max_abs_gap": 0.05}),
            "fill-pessimistic": Scenario(
                "fill-pessimistic",
                "SL first when a day spans SL and TP",
                {"app.backtest.fill_model": "pessimistic"},
            ),
        }
    )
    return out


def load_user_scenarios(path: Path, cfg: Config) -> dict[str, Scenario]:
    """The scenarios of ``path`` (none if the file is absent), each checked against ``cfg``."""
    if not path.exists():
        return {}
    where = path.name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text; save it as UTF-8") from None
    except (OSError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"{path} cannot be read as YAML: {first}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping) or not isinstance(data.get("scenarios", {}), Mapping):
        raise UserError(f"{where}: must hold 'scenarios:', a mapping of name to scenario")
    unknown = set(data) - {"scenarios"}
    if unknown:
        raise UserError(f"{where}: unknown top-level key(s) {', '.join(sorted(unknown))}")
    out: dict[str, Scenario] = {}
    builtin = builtin_scenarios(cfg)
    for name, block in (data.get("scenarios") or {}).items():
        name = str(name)
        if not _NAME.match(name):
            raise UserError(
                f"{where}: scenario name {name!r} is not valid: lower-case letters, digits, "
                "'-' and '_', at most 40"
            )
        if name in builtin:
            raise UserError(f"{where}: scenario {name!r} is a built-in scenario: rename it")
        if not isinstance(block, Mapping):
            raise UserError(f"{where}: scenario {name!r} must be a mapping with 'overrides'")
        extra = set(block) - {"description", "overrides"}
        if extra:
            raise UserError(
                f"{where}: scenario {name!r}: unknown key(s) {', '.join(sorted(extra))} "
                "(allowed: description, overrides)"
            )
        overrides = block.get("overrides") or {}
        if not isinstance(overrides, Mapping) or not overrides:
            raise UserError(
                f"{where}: scenario {name!r}: 'overrides' must map parameter keys "
                "(e.g. strategies.rsi_reversion.sl_atr) to values"
            )
        scenario = Scenario(name, str(block.get("description") or ""), dict(overrides))
        scenario_config(cfg, scenario, where=where)  # validated now, not mid-run
        out[name] = scenario
    return out


def scenario_config(cfg: Config, scenario: Scenario, *, where: str = "scenario") -> Config:
    """``cfg`` with the scenario's overrides (one clear line if one is not valid)."""
    try:
        return apply_overrides(cfg, scenario.overrides)
    except SchemaError as exc:
        more = f" (and {len(exc.errors) - 1} more)" if len(exc.errors) > 1 else ""
        raise UserError(f"{where}: scenario {scenario.name!r}: {exc.errors[0]}{more}") from None


def resolve(names: list[str], cfg: Config, config_dir: Path) -> list[Scenario]:
    """The scenarios named (``all``: every built-in one; none: ``combined``)."""
    builtin = builtin_scenarios(cfg)
    user = load_user_scenarios(config_dir / SCENARIOS_FILE, cfg)
    known = {**builtin, **user}
    wanted: list[str] = []
    for n in names or ["combined"]:
        for part in str(n).split(","):
            part = part.strip()
            if part == "all":
                wanted.extend(builtin)
            elif part:
                wanted.append(part)
    out: list[Scenario] = []
    for n in dict.fromkeys(wanted):
        if n not in known:
            raise UserError(
                f"--scenario {n!r} is not known: choose from all, {', '.join(known)} "
                f"(add your own in {config_dir / SCENARIOS_FILE})"
            )
        out.append(known[n])
    return out


__all__ = [
    "SCENARIOS_FILE",
    "Scenario",
    "builtin_scenarios",
    "load_user_scenarios",
    "resolve",
    "scenario_config",
]
