"""The parameter sets a store's sessions were traded with.

Every scan records the hash of the trading parameters it ran with (``scans.param_hash``) and
the parameters themselves once per hash (``param_sets.yaml``: the scanner, strategies, risk
and schedule files as plain data). The list a session trades is the previous session's scan,
so the set in force for a session is that scan's; a change saved during a day is applied by
the live engine at its next step, which this module approximates by the session (documented
in docs/evidence.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date

import yaml

from workstation.core.config import Config, build_section
from workstation.core.schema import SchemaError
from workstation.errors import UserError
from workstation.store import Store

#: The part of ``Config`` each key of a stored parameter set rebuilds, with its file.
_PARTS: dict[str, str] = {
    "scanner": "scanner.yaml",
    "strategies": "strategies.yaml",
    "risk": "risk.yaml",
    "schedule": "schedule.yaml",
}


def config_of_param_set(yaml_text: str, base: Config) -> Config:
    """``base`` (its app.yaml: costs, market) with the trading parameters of a stored set.

    Raises :class:`SchemaError` when the stored set no longer validates (a parameter this
    version of the app does not know)."""
    data = yaml.safe_load(yaml_text) or {}
    if not isinstance(data, Mapping):
        raise SchemaError(["the stored parameter set is not a mapping"])
    parts = {attr: build_section(filename, data.get(attr)) for attr, filename in _PARTS.items()}
    return dataclasses.replace(base, **parts)


def session_param_hashes(store: Store, sessions: list[date]) -> dict[date, str]:
    """The parameter hash each session traded with: that of the current successful scan of
    the session before it (sessions without one are left out)."""
    if not sessions:
        return {}
    rows = store.db.query(
        """
        SELECT session, param_hash FROM scans
        WHERE status = 'ok' AND superseded_by IS NULL AND session >= :a AND session < :b
        ORDER BY id
        """,
        {"a": _day_before(sessions[0]), "b": sessions[-1].isoformat()},
    )
    by_scan = {date.fromisoformat(r["session"]): r["param_hash"] for r in rows}
    out: dict[date, str] = {}
    scan_days = sorted(by_scan)
    for s in sessions:
        before = [d for d in scan_days if d < s]
        if before:
            out[s] = by_scan[before[-1]]
    return out


def _day_before(d: date) -> str:
    return date.fromordinal(d.toordinal() - 7).isoformat()  # a week covers any holiday gap


def configs_in_force(store: Store, sessions: list[date], base: Config) -> dict[date, Config]:
    """Each session's parameter set as a Config (``base``'s app.yaml); a session whose scan
    is missing takes the set of the session before it (or ``base``'s for the first)."""
    hashes = session_param_hashes(store, sessions)
    built: dict[str, Config] = {base.param_hash: base}
    out: dict[date, Config] = {}
    previous = base
    for s in sessions:
        h = hashes.get(s)
        if h is not None and h not in built:
            row = store.param_set(h)
            if row is None:
                raise UserError(
                    f"the store has no parameter set {h} (the scan before {s} used it): the "
                    "backtest cannot use the parameters that were in force"
                )
            try:
                built[h] = config_of_param_set(row.yaml, base)
            except SchemaError as exc:
                raise UserError(
                    f"the parameter set {h} in force on {s} no longer validates: {exc.errors[0]}"
                ) from None
        cfg = built[h] if h is not None else previous
        out[s] = cfg
        previous = cfg
    return out


__all__ = ["config_of_param_set", "configs_in_force", "session_param_hashes"]
