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

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, Signal

from workstation.ui.group_process import KEPT_LINES, GroupProcess, kill_group
from workstation.ui.group_process import failure_line as _failure_line
from workstation.ui.research.launch import BacktestLaunch, RunRequest, describe
from workstation.ui.research.worker import Worker


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
    return _failure_line(lines, exit_code, "the backtest", skip_json=True)


class BacktestProcess(GroupProcess):
    """One run at a time. Signals: ``progress(Progress)``, ``finished(dict)`` (the JSON
    result), ``failed(str)`` (one line), ``cancelled(list[Path])`` (the files removed)."""

    WHAT = "the backtest"

    progress = Signal(object)
    cancelled = Signal(object)

    def __init__(self, launch: BacktestLaunch, worker: Worker, parent: QObject | None = None):
        super().__init__(parent)
        self.launch = launch
        self.worker = worker
        self.stores: list[Path] = []  # every store the run announced, in order
        self.last: Progress | None = None
        self._count = 1

    # ------------------------------------------------------------------ start
    def start(self, req: RunRequest) -> str:
        """Start the run of ``req``; returns the command as a user would type it."""
        if self.proc is not None:
            raise RuntimeError("a backtest is already running")
        exe, args = self.launch.command(req)
        self.stores, self.lines, self.last = [], [], None
        self._buffer, self._count, self._cancelling = b"", max(len(req.scenarios), 1), False
        self._spawn(exe, args)
        shown = describe(self.launch.arguments(req))
        self.started.emit(shown)
        return shown

    # ------------------------------------------------------------------ cancel
    def cancel(self) -> None:
        """Stop the run and everything it started; its partial stores are removed."""
        if self.proc is None or self._cancelling:
            return
        self._cancelling = True
        if self.pid is not None:
            kill_group(self.pid)
        else:
            self.proc.kill()

    # ------------------------------------------------------------------ output
    def _progress_line(self, line: str) -> bool:
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
            return True
        return False

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        proc = self.proc
        if proc is None:
            return
        out = self._rest_of_output()
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

    def _clean_up(self) -> None:
        from workstation.research.runs import remove_unlisted

        db, stores = self.launch.db_path, list(self.stores)
        self.worker.submit(
            lambda: remove_unlisted(db, stores),
            self.cancelled.emit,
            lambda exc: self.failed.emit(f"the stopped run's files could not be removed: {exc}"),
        )


def _parse(out: bytes) -> dict[str, Any]:
    text = out.decode("utf-8", "replace").strip().splitlines()
    doc = json.loads(text[-1]) if text else None
    if not isinstance(doc, dict):
        raise ValueError("the backtest printed no result")
    return doc


__all__ = ["KEPT_LINES", "BacktestProcess", "Progress", "failure_line"]
