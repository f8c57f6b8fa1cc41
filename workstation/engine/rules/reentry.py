"""No same-day re-entry (trading rules §9 check 2 and §12).

After any exit of a symbol it cannot be entered again that session; on a later session it can.
The caller keeps, per symbol, the session of its latest exit (any reason, including MANUAL and
KILL_SWITCH, and exits of positions opened on earlier sessions).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date


def reentry_allowed(symbol: str, session: date, last_exit_session: Mapping[str, date]) -> bool:
    """False if ``symbol`` was exited during ``session``."""
    return last_exit_session.get(symbol) != session


def exited_in_session(session: date, last_exit_session: Mapping[str, date]) -> frozenset[str]:
    """The symbols exited during ``session``: the ``exited_today`` of an entry context."""
    return frozenset(s for s, d in last_exit_session.items() if d == session)
