"""The command line that starts this workstation again, as a child process.

From the source tree it is ``python -m workstation ...``; from the PyInstaller bundle the
bundle's own executable (``sys.executable``), which takes the CLI's arguments directly. The
app runs backtests this way (a worker process, never on the Qt loop), and so does the
self-test.
"""

from __future__ import annotations

import sys


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def workstation_command(*args: str) -> list[str]:
    """``[executable, ...]`` running ``workstation *args`` in a new process."""
    if is_frozen():
        return [sys.executable, *args]
    return [sys.executable, "-m", "workstation", *args]


__all__ = ["is_frozen", "workstation_command"]
