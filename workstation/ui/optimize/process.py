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

import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from typing import Any

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

from workstation.ui.optimize.launch import OptimizeForm, OptimizeLaunch, describe

KEPT_LINES = 40
GRACE_S = 20.0
_CLI_PREFIX = "workstation: "
#: Exit codes of ``workstation optimize`` (0 finished, 1 interrupted, 2 a user error, 130
#: cancelled); with 0, 1 and 130 it printed a result.
_WITH_RESULT = (0, 1, 130)

_ALIVE: set[int] = set()


@atexit.register
def _kill_leftovers() -> None:
    for pgid in list(_ALIVE):
        _kill_group(pgid)


def _kill_group(pid: int) -> None:
    if sys.platform == "win32":
        subprocess.Popen(["taskkill", "/F", "/T", "/PID", str(pid)])
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    _ALIVE.discard(pid)


def failure_line(lines: list[str], exit_code: int) -> str:
    """The one line a failed search is shown with: the command's own error line, else its
    last message, else the exit code."""
    for line in reversed(lines):
        if line.startswith(_CLI_PREFIX):
            return line[len(_CLI_PREFIX) :]
    for line in reversed(lines):
        if line.strip():
            return line.strip()
    return f"the search stopped with exit code {exit_code} and no message"


class SearchProcess(QObject):
    """One search at a time. Signals: ``started(str)`` (the command), ``event(dict)`` (each
    progress event), ``finished(dict)`` (the JSON result: finished, cancelled or
    interrupted; its ``status`` says which), ``failed(str)`` (one line)."""

    started = Signal(str)
    event = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    _parsed = Signal(object, object)  # (result or None, error or None), from the parse thread

    def __init__(self, launch: OptimizeLaunch, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.launch = launch
        self.proc: QProcess | None = None
        self.pid: int | None = None
        self.lines: list[str] = []
        self._buffer = b""
        self._cancelling = False
        self._grace = QTimer(self)
        self._grace.setSingleShot(True)
        self._grace.timeout.connect(self.kill)
        self._parsed.connect(self._result)

    @property
    def running(self) -> bool:
        return self.proc is not None

    @property
    def cancelling(self) -> bool:
        return self._cancelling

    def start(self, form: OptimizeForm) -> str:
        """Start the search of ``form``; returns the command as a user would type it."""
        if self.proc is not None:
            raise RuntimeError("a search is already running")
        exe, args = self.launch.command(form)
        self.lines, self._buffer, self._cancelling = [], b"", False
        proc = QProcess(self)
        proc.setProgram(exe)
        proc.setArguments(args)
        if sys.platform != "win32":
            # Its own session and process group: a kill ends the search and its cluster.
            params = QProcess.UnixProcessParameters()
            params.flags = QProcess.UnixProcessFlag.CreateNewSession
            proc.setUnixProcessParameters(params)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._finished)
        proc.errorOccurred.connect(self._error)
        proc.started.connect(self._started)
        self.proc = proc
        self.pid = None
        proc.start()
        shown = describe(self.launch.arguments(form))
        self.started.emit(shown)
        return shown

    def _started(self) -> None:
        if self.proc is not None:
            self.pid = int(self.proc.processId())
            _ALIVE.add(self.pid)

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
            _kill_group(self.pid)
        else:
            self.proc.kill()

    def wait_finished(self, msecs: int = 10_000) -> bool:
        """Block until the process ended (closing the app, tests)."""
        return self.proc is None or self.proc.waitForFinished(msecs)

    # ------------------------------------------------------------------ output
    def _read_stderr(self) -> None:
        if self.proc is None:
            return
        self._buffer += bytes(self.proc.readAllStandardError().data())
        *complete, self._buffer = self._buffer.split(b"\n")
        for raw in complete:
            self._line(raw.decode("utf-8", "replace").rstrip("\r"))

    def _line(self, line: str) -> None:
        if line.startswith("{"):
            try:
                doc = json.loads(line)
            except ValueError:
                doc = None
            if isinstance(doc, dict) and "event" in doc:
                self.event.emit(doc)
                return
        if line.strip():
            self.lines = [*self.lines[-(KEPT_LINES - 1) :], line]

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self.proc is not None:
            why = self.proc.errorString()
            self._done()
            self.failed.emit(f"the search could not start: {why}")

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        proc = self.proc
        if proc is None:
            return
        self._grace.stop()
        self._read_stderr()
        if self._buffer:
            self._line(self._buffer.decode("utf-8", "replace"))
            self._buffer = b""
        out = bytes(proc.readAllStandardOutput().data())
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

    def _done(self) -> None:
        if self.pid is not None:
            # Whatever the search left in its process group (a cluster worker orphaned by a
            # search killed before it could close its cluster) goes with it.
            _kill_group(self.pid)
        if self.proc is not None:
            self.proc.deleteLater()
        self.proc = None


def _parse(out: bytes) -> dict[str, Any]:
    text = out.decode("utf-8", "replace").strip().splitlines()
    doc = json.loads(text[-1]) if text else None
    if not isinstance(doc, dict) or "trials" not in doc:
        raise ValueError("the search printed no result")
    return doc


__all__ = ["GRACE_S", "SearchProcess", "failure_line"]
