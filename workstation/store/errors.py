"""The one exception the store raises for problems a user can cause or fix."""

from __future__ import annotations


class StoreError(Exception):
    """The database cannot be used: corrupt, locked, too new, closed or not ours.

    The message is one line that names the file and says what to do; the UI and the CLI show it
    as is. Programming errors (a bad argument, a constraint the caller broke) stay ``ValueError``
    / ``KeyError`` / ``sqlite3.IntegrityError`` so they are not mistaken for the user's problem.
    """
