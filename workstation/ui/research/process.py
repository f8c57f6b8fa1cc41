"""A backtest running in its own process, watched from the Qt loop.

The run is ``workstation backtest ... --json --progress json`` (see :mod:`.launch`) started as
a :class:`QProcess`. The loop only reads lines: each progress line on stderr (one JSON object
a session, naming the store being written) moves the bar; the result is the JSON object on
stdout. A run that fails shows the command's own one-line error.

Cancel stops the whole process tree at once: on POSIX the run is the leader of its own session
and process group, so one ``killpg`` also ends the scan workers it spawned (and any they
spawned); on Windows ``taskkill /T`` does the same. The stores the run announced and that are
not listed as finished runs are then deleted (off the loop): a stopped run leaves no result.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, Signal

from workstation.ui.research.launch import BacktestLaunch, RunRequest, describe
from workstation.ui.research.worker import Worker

#: Lines of the run's stderr kept (the error of a failed run is among the last).
KEPT_LINES = 40
_CLI_PREFIX = "workstation: "

# Process groups of the runs alive in this process: killed if the app exits without a Cancel.
_ALIVE: set[int] = set()


@atexit.register
def _kill_leftovers() -> None:
    for pgid in list(_ALIVE):
        _kill_group(pgid)


def _kill_group(pid: int) -> None:
    if sys.platform == "win32":
        subprocess.Popen(["taskkill", "/F", "/T", "/PID", str(pid)])
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    _ALIVE.discard(pid)


@dataclass(frozen=True)
class Progress:
    """One progress line: session ``done`` of ``total`` of scenario number ``index`` (from 1)
    of ``count``; ``store``: the file being written."""

    scenario: str
    done: int
    total: int
    session: str
    store: str
    index: int
    count: int

    @property
    def fraction(self) -> float:
        """Of the whole command (all its scenarios), from 0 to 1."""
        part = self.done / self.total if self.total else 0.0
        return min((self.index - 1 + part) / max(self.count, 1), 1.0)

    def text(self) -> str:
        which = f"scenario {self.index} of {self.count}, " if self.count > 1 else ""
        return f"{self.scenario} ({which}session {self.done} of {self.total}" + (
            f": {self.session})" if self.done else ")"
        )


def failure_line(lines: list[str], exit_code: int) -> str:
    """The one line a failed run is shown with: the command's own error line, else its last
    message, else the exit code."""
    for line in reversed(lines):
        if line.startswith(_CLI_PREFIX):
            return line[len(_CLI_PREFIX) :]
    for line in reversed(lines):
        if line.strip() and not line.startswith("{"):
            return line.strip()
    return f"the backtest stopped with exit code {exit_code} and no message"


class BacktestProcess(QObject):
    """One run at a time. Signals: ``progress(Progress)``, ``finished(dict)`` (the JSON
    result), ``failed(str)`` (one line), ``cancelled(list[Path])`` (the files removed)."""

    started = Signal(str)
    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal(object)

    def __init__(self, launch: BacktestLaunch, worker: Worker, parent: QObject | None = None):
        super().__init__(parent)
        self.launch = launch
        self.worker = worker
        self.proc: QProcess | None = None
        self.pid: int | None = None
        self.stores: list[Path] = []  # every store the run announced, in order
        self.lines: list[str] = []
        self.last: Progress | None = None
        self._buffer = b""
        self._count = 1
        self._cancelling = False

    # ------------------------------------------------------------------ state
    @property
    def running(self) -> bool:
        return self.proc is not None

    # ------------------------------------------------------------------ start
    def start(self, req: RunRequest) -> str:
        """Start the run of ``req``; returns the command as a user would type it."""
        if self.proc is not None:
            raise RuntimeError("a backtest is already running")
        exe, args = self.launch.command(req)
        self.stores, self.lines, self.last = [], [], None
        self._buffer, self._count, self._cancelling = b"", max(len(req.scenarios), 1), False
        proc = QProcess(self)
        proc.setProgram(exe)
        proc.setArguments(args)
        if sys.platform != "win32":
            # Its own session and process group: Cancel ends the run and its scan workers.
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
        shown = describe(self.launch.arguments(req))
        self.started.emit(shown)
        return shown

    def _started(self) -> None:
        if self.proc is not None:
            self.pid = int(self.proc.processId())
            _ALIVE.add(self.pid)

    # ------------------------------------------------------------------ cancel
    def cancel(self) -> None:
        """Stop the run and everything it started; its partial stores are removed."""
        if self.proc is None or self._cancelling:
            return
        self._cancelling = True
        if self.pid is not None:
            _kill_group(self.pid)
        else:
            self.proc.kill()

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
            with contextlib.suppress(ValueError, KeyError, TypeError):
                p = json.loads(line)["progress"]
                store = Path(p["store"])
                if store not in self.stores:
                    self.stores.append(store)
                self.last = Progress(
                    scenario=str(p["scenario"]),
                    done=int(p["done"]),
                    total=int(p["total"]),
                    session=str(p["session"]),
                    store=str(store),
                    index=len(self.stores),
                    count=max(self._count, len(self.stores)),
                )
                self.progress.emit(self.last)
                return
        if line.strip():
            self.lines = [*self.lines[-(KEPT_LINES - 1) :], line]

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self.proc is not None:
            why = self.proc.errorString()
            self._done()
            self.failed.emit(f"the backtest could not start: {why}")

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        proc = self.proc
        if proc is None:
            return
        self._read_stderr()
        if self._buffer:
            self._line(self._buffer.decode("utf-8", "replace"))
            self._buffer = b""
        out = bytes(proc.readAllStandardOutput().data())
        cancelling = self._cancelling
        self._done()
        if cancelling:
            self._clean_up()
            return
        if status == QProcess.ExitStatus.NormalExit and code == 0:
            self.worker.submit(lambda: _parse(out), self.finished.emit, self._unreadable)
            return
        self.failed.emit(failure_line(self.lines, code))

    def _unreadable(self, exc: Exception) -> None:
        self.failed.emit(f"the backtest's result could not be read: {exc}")

    def _done(self) -> None:
        if self.pid is not None:
            _ALIVE.discard(self.pid)
        if self.proc is not None:
            self.proc.deleteLater()
        self.proc = None

    def _clean_up(self) -> None:
        from workstation.research.runs import remove_unlisted

        db, stores = self.launch.db_path, list(self.stores)
        self.worker.submit(
            lambda: remove_unlisted(db, stores),
            self.cancelled.emit,
            lambda exc: self.failed.emit(f"the stopped run's files could not be removed: {exc}"),
        )

    def wait_finished(self, msecs: int = 10_000) -> bool:
        """Block until the process ended (closing the app)."""
        return self.proc is None or self.proc.waitForFinished(msecs)


def _parse(out: bytes) -> dict[str, Any]:
    text = out.decode("utf-8", "replace").strip().splitlines()
    doc = json.loads(text[-1]) if text else None
    if not isinstance(doc, dict):
        raise ValueError("the backtest printed no result")
    return doc


__all__ = ["KEPT_LINES", "BacktestProcess", "Progress", "failure_line"]
