"""User-facing errors: one clear line that says what is wrong and what to do."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; the CLI prints the message alone and exits with
    ``exit_code`` (2 unless a command documents another)."""

    exit_code = 2

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
