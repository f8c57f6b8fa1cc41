"""Work off the Qt loop: a function runs in a worker thread, its result comes back on the GUI
thread (through a queued signal), where the window uses it.

Reading a run's store, analysing it, drawing up a trade's chart data and writing a report take
from milliseconds to seconds: none of it may run on the loop that keeps the window (and, in
the app, the engines) responsive.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)


class _Done(QObject):
    ok = Signal(object)
    failed = Signal(object)


class _Job(QRunnable):
    def __init__(self, fn: Callable[[], Any], done: _Done) -> None:
        super().__init__()
        self.fn = fn
        self.done = done

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as exc:  # reported on the GUI thread, never lost
            self.done.failed.emit(exc)
        else:
            self.done.ok.emit(result)


class Worker(QObject):
    """Runs functions in its own thread pool; :meth:`pending` counts those not done yet."""

    def __init__(self, parent: QObject | None = None, threads: int = 2) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self._live: set[_Done] = set()

    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[Exception], None],
    ) -> None:
        """Run ``fn()`` in a worker thread; then ``on_done(result)`` or ``on_error(exc)`` on
        the GUI thread."""
        done = _Done(self)  # lives in the GUI thread: its signals arrive there, queued
        self._live.add(done)

        def finish(callback: Callable[[Any], None], value: Any) -> None:
            self._live.discard(done)
            done.deleteLater()
            try:
                callback(value)
            except Exception:  # a bug in a callback must not take the window down
                log.exception("research window: a result could not be shown")

        done.ok.connect(lambda v: finish(on_done, v))
        done.failed.connect(lambda e: finish(on_error, e))
        self.pool.start(_Job(fn, done))

    @property
    def pending(self) -> int:
        return len(self._live)

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until the running jobs ended (closing the window, tests)."""
        return self.pool.waitForDone(msecs)


__all__ = ["Worker"]
