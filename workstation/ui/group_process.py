"""A ``workstation`` command in its own process group, watched from the Qt loop.

What the backtest (:mod:`workstation.ui.research.process`) and the parameter search
(:mod:`workstation.ui.optimize.process`) share: the command is started as a :class:`QProcess`,
on POSIX the leader of its own session and process group, so that one ``killpg`` ends it with
every process it started (scan workers, a Dask cluster); on Windows ``taskkill /T`` does the
same. The loop only reads lines: a subclass takes the JSON progress lines of stderr
(:meth:`GroupProcess._progress_line`), the other lines are kept for the error message, and
the result is read from stdout when the process ends. The process groups still alive when
the app exits are killed by an ``atexit`` hook.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys

from PySide6.QtCore import QObject, QProcess, Signal

#: Lines of the command's stderr kept (the error of a failed command is among the last).
KEPT_LINES = 40
CLI_PREFIX = "workstation: "

# Process groups of the commands alive in this process: killed if the app exits meanwhile.
_ALIVE: set[int] = set()


@atexit.register
def _kill_leftovers() -> None:
    for pgid in list(_ALIVE):
        kill_group(pgid)


def kill_group(pid: int) -> None:
    """Kill the process group that ``pid`` leads (on Windows, its process tree)."""
    if sys.platform == "win32":
        subprocess.Popen(["taskkill", "/F", "/T", "/PID", str(pid)])
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    _ALIVE.discard(pid)


def failure_line(lines: list[str], exit_code: int, what: str, *, skip_json: bool = False) -> str:
    """The one line a failed command is shown with: the command's own error line, else its
    last message (``skip_json``: not a JSON line), else the exit code."""
    for line in reversed(lines):
        if line.startswith(CLI_PREFIX):
            return line[len(CLI_PREFIX) :]
    for line in reversed(lines):
        if line.strip() and not (skip_json and line.startswith("{")):
            return line.strip()
    return f"{what} stopped with exit code {exit_code} and no message"


class GroupProcess(QObject):
    """One command at a time. Signals: ``started(str)`` (the command as typed),
    ``finished(dict)`` (its JSON result), ``failed(str)`` (one line). ``WHAT`` names the
    command's run in messages ("the backtest")."""

    WHAT = "the command"
    #: When it ended: kill whatever it left in its process group (True), or only forget it.
    KILL_LEFTOVERS = False

    started = Signal(str)
    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.proc: QProcess | None = None
        self.pid: int | None = None
        self.lines: list[str] = []
        self._buffer = b""
        self._cancelling = False

    @property
    def running(self) -> bool:
        return self.proc is not None

    def _spawn(self, exe: str, args: list[str]) -> None:
        """Start ``exe args`` in its own session and process group."""
        proc = QProcess(self)
        proc.setProgram(exe)
        proc.setArguments(args)
        if sys.platform != "win32":
            # Its own session and process group: a kill ends it and all it started.
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

    def _started(self) -> None:
        if self.proc is not None:
            self.pid = int(self.proc.processId())
            _ALIVE.add(self.pid)

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
        if line.startswith("{") and self._progress_line(line):
            return
        if line.strip():
            self.lines = [*self.lines[-(KEPT_LINES - 1) :], line]

    def _progress_line(self, line: str) -> bool:
        """Take a JSON line of stderr; False: it is not progress (kept as a message)."""
        return False

    def _rest_of_output(self) -> bytes:
        """At the end: the stderr lines not read yet, then all of stdout."""
        assert self.proc is not None
        self._read_stderr()
        if self._buffer:
            self._line(self._buffer.decode("utf-8", "replace"))
            self._buffer = b""
        return bytes(self.proc.readAllStandardOutput().data())

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self.proc is not None:
            why = self.proc.errorString()
            self._done()
            self.failed.emit(f"{self.WHAT} could not start: {why}")

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        raise NotImplementedError

    def _done(self) -> None:
        if self.pid is not None:
            if self.KILL_LEFTOVERS:
                kill_group(self.pid)
            else:
                _ALIVE.discard(self.pid)
        if self.proc is not None:
            self.proc.deleteLater()
        self.proc = None


__all__ = ["CLI_PREFIX", "KEPT_LINES", "GroupProcess", "failure_line", "kill_group"]
