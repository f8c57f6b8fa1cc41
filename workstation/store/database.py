"""The store's sqlite-utils ``Database``, with reads that are one SQLite statement.

sqlite-utils' ``query`` guards every statement with ``SAVEPOINT`` and ``RELEASE`` (so that a
statement returning no rows can be rolled back before it refuses it): three SQLite calls and
an SQL parse for each read. The engine reads the store on every decision (the store, not
memory, is the truth a restart resumes from), and in a backtest those guards were a third of
all SQLite calls. A ``SELECT`` (or ``WITH``) cannot write, so it needs no guard; any other
statement still goes through sqlite-utils' own ``query``.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Sequence
from typing import Any

from sqlite_utils import Database

READ_ONLY_KEYWORDS = ("SELECT", "WITH")
#: The row keys of each column list a read has returned (the engine's reads are a few dozen
#: statements, run many thousand times).
_KEYS: dict[tuple[str, ...], tuple[str, ...]] = {}


def unique_keys(keys: Iterable[str]) -> list[str]:
    """Column names made unique as sqlite-utils makes them (a repeated name gets ``_2``,
    ``_3``..., skipping a suffix another column already has), so rows keep the same keys."""
    names = list(keys)
    taken = set(names)
    if len(taken) == len(names):
        return names
    seen: set[str] = set()
    out = []
    for name in names:
        new, suffix = name, 2
        if name in seen:
            while new in seen or new in taken:
                new = f"{name}_{suffix}"
                suffix += 1
        seen.add(new)
        out.append(new)
    return out


class StoreDatabase(Database):
    def query(
        self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None
    ) -> Generator[dict[str, Any], None, None]:
        head = sql.lstrip()[:6].upper()
        if not head.startswith(READ_ONLY_KEYWORDS):
            return super().query(sql, params)
        cursor = self.conn.execute(sql, params if params is not None else ())
        names = tuple(d[0] for d in cursor.description)
        keys = _KEYS.get(names)
        if keys is None:
            keys = _KEYS[names] = tuple(unique_keys(names))
        return (dict(zip(keys, row, strict=True)) for row in cursor)
