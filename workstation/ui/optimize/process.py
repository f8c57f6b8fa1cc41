"""A parameter search running in its own process, watched from the Qt loop.

The search is ``workstation optimize ... --json --progress json`` (see :mod:`.launch`) started
as a :class:`QProcess`, leader of its own session and process group (the local Dask cluster's
scheduler and workers are its children). The loop only reads lines: each progress line on
stderr is one event of :mod:`workstation.research.optimize.events` (planned, cluster, scans,
queued, trial, workers, finished); the result is the JSON object on stdout, parsed in a
thread.

Cancel asks the search to stop (SIGTERM: the command cancels the trials in flight, closes
its cluster, keeps every finished trial in its file and prints what it has, exit 130; the
search can be resumed). A search that has not stopped ``GRACE_S`` seconds later is killed
with its whole process group (its running trials are then marked interrupted on resume).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from typing import Any

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

from workstation.ui.group_process import GroupProcess, kill_group
from workstation.ui.group_process import failure_line as _failure_line
from workstation.ui.optimize.launch import OptimizeForm, OptimizeLaunch, describe

GRACE_S = 20.0
#: Exit codes of ``workstation optimize`` (0 finished, 1 interrupted, 2 a user error, 130
#: cancelled); with 0, 1 and 130 it printed a result.
_WITH_RESULT = (0, 1, 130)


def failure_line(lines: list[str], exit_code: int) -> str:
    """The one line a failed search is shown with: the command's own error line, else its
    last message, else the exit code."""
    return _failure_line(lines, exit_code, "the search")


class SearchProcess(GroupProcess):
    """One search at a time. Signals: ``started(str)`` (the command), ``event(dict)`` (each
    progress event), ``finished(dict)`` (the JSON result: finished, cancelled or
    interrupted; its ``status`` says which), ``failed(str)`` (one line)."""

    WHAT = "the search"
    # Whatever the search left in its process group (a cluster worker orphaned by a search
    # killed before it could close its cluster) goes with it when it ends.
    KILL_LEFTOVERS = True

    event = Signal(object)
    _parsed = Signal(object, object)  # (result or None, error or None), from the parse thread

    def __init__(self, launch: OptimizeLaunch, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.launch = launch
        self._grace = QTimer(self)
        self._grace.setSingleShot(True)
        self._grace.timeout.connect(self.kill)
        self._parsed.connect(self._result)

    @property
    def cancelling(self) -> bool:
        return self._cancelling

    def start(self, form: OptimizeForm) -> str:
        """Start the search of ``form``; returns the command as a user would type it."""
        if self.proc is not None:
            raise RuntimeError("a search is already running")
        exe, args = self.launch.command(form)
        self.lines, self._buffer, self._cancelling = [], b"", False
        self._spawn(exe, args)
        shown = describe(self.launch.arguments(form))
        self.started.emit(shown)
        return shown

    # ------------------------------------------------------------------ stop
    def cancel(self) -> None:
        """Ask the search to stop cleanly (it keeps its finished trials and can resume);
        kill it if it has not stopped within GRACE_S seconds."""
        if self.proc is None or self._cancelling:
            return
        self._cancelling = True
        if self.pid is not None and sys.platform != "win32":
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            self._grace.start(int(GRACE_S * 1000))
        else:
            self.kill()

    def kill(self) -> None:
        """End the search and its whole process group at once."""
        if self.proc is None:
            return
        self._cancelling = True
        if self.pid is not None:
            kill_group(self.pid)
        else:
            self.proc.kill()

    # ------------------------------------------------------------------ output
    def _progress_line(self, line: str) -> bool:
        try:
            doc = json.loads(line)
        except ValueError:
            return False
        if isinstance(doc, dict) and "event" in doc:
            self.event.emit(doc)
            return True
        return False

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        proc = self.proc
        if proc is None:
            return
        self._grace.stop()
        out = self._rest_of_output()
        killed = status != QProcess.ExitStatus.NormalExit
        self._done()
        if killed or code not in _WITH_RESULT or not out.strip():
            if self._cancelling:
                self.failed.emit(
                    "the search was stopped; its finished trials are kept: resume it to go on"
                )
            else:
                self.failed.emit(failure_line(self.lines, code))
            return

        def parse() -> None:  # off the loop: a long search's result is a few MB
            try:
                self._parsed.emit(_parse(out), None)
            except ValueError as exc:
                self._parsed.emit(None, exc)

        threading.Thread(target=parse, name="optimize-result", daemon=True).start()

    def _result(self, doc: dict[str, Any] | None, error: Exception | None) -> None:
        if doc is None:
            self.failed.emit(f"the search's result could not be read: {error}")
        else:
            self.finished.emit(doc)


def _parse(out: bytes) -> dict[str, Any]:
    text = out.decode("utf-8", "replace").strip().splitlines()
    doc = json.loads(text[-1]) if text else None
    if not isinstance(doc, dict) or "trials" not in doc:
        raise ValueError("the search printed no result")
    return doc


__all__ = ["GRACE_S", "SearchProcess", "failure_line"]
