"""What makes two backtests the same run: a key over everything that decides their result.

A backtest is deterministic: the same trading parameters, ``app.yaml``'s ``backtest`` section
(costs, fill model, seed, starting equity; not ``years``, which only chooses a period, nor
``scan_workers``), the same bars (:func:`~workstation.research.scans.data_fingerprint`), the
same universe of each session, the same period and the same code trade the same trades to the
cent. :func:`run_key` hashes all of it, and every listed backtest carries its key in its
summary (``run_key``), so a command that needs a run that already exists (the current side of
a change preview: the track record's reference backtest of the parameters in force) reads its
store instead of running it again; :func:`find_run` looks it up.

The code is part of the key (:func:`code_fingerprint`): a run made by another version of the
engine is never taken for one of this version.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from workstation.core.config import Config
from workstation.core.schema import to_plain

if TYPE_CHECKING:
    from workstation.research.universe import Membership
    from workstation.store import BacktestRow, Store

#: ``app.yaml``'s backtest settings that do not change a run's result.
NOT_IN_KEY = ("years", "scan_workers", "universe")
KEY_VERSION = 1


@functools.cache
def code_fingerprint() -> str:
    """A hash of the package's Python sources (the window's ``ui`` package left out): runs of
    two versions of the code never share a key. A frozen build without sources hashes its
    version."""
    import workstation

    root = Path(workstation.__file__).resolve().parent
    h = hashlib.blake2b(digest_size=10)
    h.update(workstation.__version__.encode())
    for f in sorted(root.rglob("*.py")):
        rel = f.relative_to(root).as_posix()
        if rel.startswith("ui/"):
            continue
        h.update(rel.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def membership_hash(membership: Membership) -> str:
    """The universe of every session (mode, symbols, sectors, the member matrix)."""
    h = hashlib.blake2b(digest_size=10)
    u = membership.universe
    h.update(json.dumps([membership.mode, list(membership.symbols), u.benchmark]).encode())
    h.update(json.dumps(sorted(u.sectors.items())).encode())
    h.update(np.ascontiguousarray(membership.dates).view(np.int64).tobytes())
    h.update(np.ascontiguousarray(membership.member).tobytes())
    return h.hexdigest()


def run_key(cfg: Config, fingerprint: str, membership: Membership, first: date, last: date) -> str:
    """The key of a backtest of ``cfg`` over ``first`` .. ``last`` (see the module)."""
    settings = {k: v for k, v in to_plain(cfg.app.backtest).items() if k not in NOT_IN_KEY}
    blob = json.dumps(
        {
            "v": KEY_VERSION,
            "code": code_fingerprint(),
            "params": cfg.param_hash,
            "backtest": settings,
            "data": fingerprint,
            "universe": membership_hash(membership),
            "period": [first.isoformat(), last.isoformat()],
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def find_run(store: Store, param_hash: str, key: str) -> BacktestRow | None:
    """The newest listed backtest with ``key`` whose store file is still there."""
    for row in store.backtests(param_hash=param_hash):  # newest first
        if row.summary.get("run_key") == key and Path(row.path).is_file():
            return row
    return None


__all__ = ["code_fingerprint", "find_run", "membership_hash", "run_key"]
