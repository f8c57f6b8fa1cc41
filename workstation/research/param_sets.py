"""The recorded parameter sets a backtest can run on (``workstation backtest --params HASH``).

Every scan records the trading parameters it used in the store's ``param_sets`` table (its
hash, time and source); every backtest records the set it started from there too. This module
finds one by its hash (or a unique beginning of it) and turns it into a configuration whose
``app.yaml`` part stays the one in force. Each way it can fail is one line naming what is wrong
and what to do.
"""

from __future__ import annotations

from pathlib import Path

from workstation.core.config import Config
from workstation.core.param_sets import config_with_params
from workstation.core.schema import SchemaError
from workstation.errors import UserError
from workstation.store import ParamSetRow, Store, StoreError

#: The shortest beginning of a hash accepted for the whole hash.
MIN_PREFIX = 4


def find_param_set(sets: list[ParamSetRow], key: str, where: Path) -> ParamSetRow:
    """The set whose hash is ``key``, or the only one that begins with it."""
    key = key.strip().lower()
    exact = [s for s in sets if s.hash == key]
    if exact:
        return exact[0]
    hits = [s for s in sets if len(key) >= MIN_PREFIX and s.hash.startswith(key)]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise UserError(
            f"--params {key}: {len(hits)} recorded parameter sets begin with it "
            f"({', '.join(s.hash for s in hits[:4])}); give more of the hash",
            exit_code=2,
        )
    newest = ", ".join(f"{s.hash} ({s.created_at:%Y-%m-%d})" for s in sets[:3]) or "none yet"
    raise UserError(
        f"--params {key}: no parameter set with that hash is recorded in {where} "
        f"(the newest: {newest}; a scan or a backtest records the set it used)",
        exit_code=2,
    )


def recorded_param_sets(db_path: Path) -> list[ParamSetRow]:
    """The sets recorded in the store at ``db_path``, newest first (none if it is absent)."""
    if not db_path.is_file():
        return []
    try:
        store = Store.open(db_path, integrity_check=False)
    except StoreError as exc:
        raise UserError(f"the parameter sets cannot be read: {exc}", exit_code=2) from None
    try:
        return store.param_sets()
    finally:
        store.close()


def config_of_param_set(cfg: Config, row: ParamSetRow) -> Config:
    """``cfg`` with the trading parameters of ``row`` (``app.yaml`` stays ``cfg``'s)."""
    try:
        return config_with_params(cfg, row.yaml)
    except SchemaError as exc:
        more = f" (and {len(exc.errors) - 1} more)" if len(exc.errors) > 1 else ""
        raise UserError(
            f"--params {row.hash}: the recorded set does not validate with this version of "
            f"the app: {exc.errors[0]}{more}",
            exit_code=2,
        ) from None


def load_param_set(cfg: Config, db_path: Path, key: str) -> tuple[Config, ParamSetRow]:
    """The configuration of the set ``key`` recorded in ``db_path``, and its row."""
    row = find_param_set(recorded_param_sets(db_path), key, db_path)
    return config_of_param_set(cfg, row), row


__all__ = [
    "MIN_PREFIX",
    "config_of_param_set",
    "find_param_set",
    "load_param_set",
    "recorded_param_sets",
]
