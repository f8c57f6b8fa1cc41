"""Long work for the window, in worker processes: ``workstation ...`` run as a child.

A backtest (the track record's reference, a change preview, a drift report) takes seconds to
minutes of CPU and starts its own scan workers; the window must never wait for it. So the app
runs the CLI command in a child process (the same program: ``python -m workstation`` from
source, the bundle's executable when frozen), reads its progress from stderr (one JSON object
per line, ``--progress json``) and its result from stdout (``--json``), on two reader threads
that hand each line to the asyncio loop (with qasync, the Qt loop: callbacks run on the GUI
thread and may touch widgets there). Nothing here imports Qt.

The child runs in its own process group, so :meth:`ChildJob.cancel` stops it and its scan
workers together; a job started with ``background=True`` runs at a lower CPU priority (nice
10), so the live engines and the window keep the machine first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

#: How long a canceled child gets to stop before it is killed.
STOP_GRACE_S = 5.0


def workstation_command(*args: str) -> list[str]:
    """``[executable, ...]`` running ``workstation *args`` in a new process."""
    if getattr(sys, "frozen", False):
        return [sys.executable, *args]
    return [sys.executable, "-m", "workstation", *args]


@dataclass
class JobResult:
    """How a child ended: its exit code, its JSON result (None if it printed none) and the
    last line of its error output (the CLI's one-line error)."""

    returncode: int
    doc: dict[str, Any] | None
    error: str
    canceled: bool = False
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.doc is not None and not self.canceled


@dataclass(eq=False)  # a job is itself, not its arguments: it goes into sets
class ChildJob:
    """One ``workstation ...`` child (see the module docstring)."""

    args: Sequence[str]
    on_progress: Callable[[dict[str, Any]], None] | None = None
    on_done: Callable[[JobResult], None] | None = None
    background: bool = False
    env: dict[str, str] | None = None
    proc: subprocess.Popen[str] | None = field(default=None, init=False)
    result: JobResult | None = field(default=None, init=False)
    _canceled: bool = field(default=False, init=False)
    _done: asyncio.Future[JobResult] | None = field(default=None, init=False)

    def start(self) -> ChildJob:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a Qt slot outside a loop turn (tests): the thread's loop
            loop = asyncio.get_event_loop_policy().get_event_loop()
        self._done = loop.create_future()
        env = {**os.environ, **(self.env or {})}
        env.setdefault("QT_QPA_PLATFORM", "offscreen")  # a child never opens a window
        kwargs: dict[str, Any] = {}
        if os.name == "posix":
            kwargs["start_new_session"] = True  # its own group: cancel stops the workers too
        else:  # pragma: no cover - Windows
            kwargs["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            workstation_command(*self.args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env=env,
            **kwargs,
        )
        if self.background:
            _lower_priority(self.proc.pid)  # before it starts its workers, which inherit it
        out: list[str] = []
        errors: list[str] = []

        def read_stdout() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            out.append(self.proc.stdout.read())

        def read_stderr() -> None:
            assert self.proc is not None and self.proc.stderr is not None
            for line in self.proc.stderr:
                line = line.strip()
                if not line:
                    continue
                doc = _progress(line)
                if doc is None:
                    errors.append(line)
                elif self.on_progress is not None:
                    loop.call_soon_threadsafe(self._progress, doc)

        def wait() -> None:
            assert self.proc is not None
            readers = [threading.Thread(target=f, daemon=True) for f in (read_stdout, read_stderr)]
            for t in readers:
                t.start()
            code = self.proc.wait()  # no timeout: cancel() ends it, and this thread is a daemon
            for t in readers:  # the pipes close with the child (its workers exit with it)
                t.join(timeout=STOP_GRACE_S)
            result = JobResult(
                code,
                _document("".join(out)),
                _last_error(errors),
                self._canceled,
                time.perf_counter() - started,
            )
            loop.call_soon_threadsafe(self._finish, result)

        threading.Thread(target=wait, name="evidence-job", daemon=True).start()
        return self

    def _progress(self, doc: dict[str, Any]) -> None:
        if self.on_progress is not None and not self._canceled:
            self.on_progress(doc)

    def _finish(self, result: JobResult) -> None:
        self.result = result
        if self._done is not None and not self._done.done():
            self._done.set_result(result)
        if self.on_done is not None:
            self.on_done(result)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.result is None

    async def wait(self) -> JobResult:
        assert self._done is not None, "start() first"
        return await asyncio.shield(self._done)

    def cancel(self) -> None:
        """Stop the child and its workers (SIGTERM to its group, SIGKILL after the grace)."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        self._canceled = True
        _signal_group(proc, signal.SIGTERM)

        def reap() -> None:
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                _signal_group(proc, getattr(signal, "SIGKILL", signal.SIGTERM))

        threading.Thread(target=reap, daemon=True).start()


def _lower_priority(pid: int) -> None:
    setpriority = getattr(os, "setpriority", None)
    if setpriority is not None:
        with contextlib.suppress(OSError):
            setpriority(os.PRIO_PROCESS, pid, 10)


def _signal_group(proc: subprocess.Popen[str], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        if os.name == "posix":
            os.killpg(proc.pid, sig)
        else:  # pragma: no cover - Windows
            proc.terminate()


def _progress(line: str) -> dict[str, Any] | None:
    """The ``progress`` object of a ``--progress json`` line; None for any other line."""
    if not line.startswith("{"):
        return None
    try:
        doc = json.loads(line)
    except ValueError:
        return None
    prog = doc.get("progress") if isinstance(doc, dict) else None
    return prog if isinstance(prog, dict) else None


def _document(text: str) -> dict[str, Any] | None:
    text = text.strip()
    if not text:
        return None
    try:
        doc = json.loads(text.splitlines()[-1])
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _last_error(lines: list[str]) -> str:
    for line in reversed(lines):
        if line.startswith("workstation:"):
            return line.removeprefix("workstation:").strip()
    return lines[-1] if lines else ""


__all__ = ["ChildJob", "JobResult", "workstation_command"]
