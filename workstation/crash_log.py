"""Crash reports: the traceback of an unexpected error, one file per crash, in the home.

The console gets one line naming the file (``workstation: unexpected error: ... (details in
PATH)``). Files go to ``<data>/logs/crashes/crash-YYYYMMDD-HHMMSS-<pid>.log``; those older than
:data:`KEEP_DAYS` days, and all but the newest :data:`KEEP_FILES`, are removed when a new one is
written. When the home itself cannot be written (the crash may be about that), the report goes
to a new file of its own in the system's temporary folder, never to a shared fixed name.
"""

from __future__ import annotations

import contextlib
import os
import platform
import tempfile
import time
import traceback
from datetime import datetime
from pathlib import Path

from workstation import __version__
from workstation.core.paths import Paths

CRASH_FOLDER = "crashes"
KEEP_DAYS = 30
KEEP_FILES = 50


def crash_folder(paths: Paths) -> Path:
    return paths.logs_dir / CRASH_FOLDER


def report_text(command: str) -> str:
    return (
        f"AutoTrader Workstation {__version__} crashed at "
        f"{datetime.now().astimezone().isoformat(timespec='seconds')}\n"
        f"command: {command}\n"
        f"python {platform.python_version()} on {platform.platform()}\n\n"
        f"{traceback.format_exc()}"
    )


def write_crash_report(home: str | None, command: str) -> Path:
    """Write the current exception's report; returns where it went."""
    text = report_text(command)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        folder = crash_folder(Paths.resolve(home))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"crash-{stamp}-{os.getpid()}.log"
        n = 2
        while path.exists():  # one file per crash, also for two in one second
            path = folder / f"crash-{stamp}-{os.getpid()}-{n}.log"
            n += 1
        path.write_text(text, encoding="utf-8")
    except OSError:
        fd, name = tempfile.mkstemp(prefix=f"workstation-crash-{stamp}-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        return Path(name)
    prune(folder)
    return path


def prune(folder: Path, *, now: float | None = None) -> list[Path]:
    """Remove reports older than KEEP_DAYS and all but the newest KEEP_FILES."""
    now = time.time() if now is None else now
    reports = sorted(folder.glob("crash-*.log"), key=lambda p: p.stat().st_mtime, reverse=True)
    gone = [
        p
        for i, p in enumerate(reports)
        if i >= KEEP_FILES or now - p.stat().st_mtime > KEEP_DAYS * 86400
    ]
    for p in gone:
        with contextlib.suppress(OSError):
            p.unlink()
    return gone


__all__ = ["CRASH_FOLDER", "KEEP_DAYS", "KEEP_FILES", "crash_folder", "prune", "write_crash_report"]
