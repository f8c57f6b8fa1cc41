"""Cyclic garbage holding Qt objects dies on the GUI thread, never in a worker thread."""

from __future__ import annotations

import gc
import threading

import pytest
from PySide6.QtCore import QObject

from workstation.ui.gc_guard import GuiThreadCollector, collection_on_gui_thread

pytestmark = pytest.mark.gui


class Cycle:
    """A Qt object in a reference cycle: only the cyclic collector can free it."""

    def __init__(self, died_in: list[str]) -> None:
        self.me = self
        self.qt = QObject()
        self.died_in = died_in

    def __del__(self) -> None:
        self.died_in.append(threading.current_thread().name)


def churn(into: list[object]) -> None:
    """Allocations far past the young generation's threshold, as a busy worker makes
    (kept: the count is of objects allocated and not yet freed)."""
    into.extend([i] for i in range(5 * gc.get_threshold()[0]))


def test_a_worker_thread_never_collects_the_windows_garbage(qtbot) -> None:
    died_in: list[str] = []
    enabled = gc.isenabled()
    gc.enable()  # as in a process without the guard: the worker would collect the cycle
    try:
        with collection_on_gui_thread() as collector:
            assert not gc.isenabled()
            Cycle(died_in)
            kept: list[object] = []
            worker = threading.Thread(target=churn, args=(kept,), name="worker")
            worker.start()
            worker.join(timeout=30)
            assert not worker.is_alive()
            assert died_in == []  # the worker went past every threshold and collected nothing
            assert collector.timer.isActive()
            qtbot.waitUntil(lambda: died_in != [], timeout=5000)  # the guard's timer did
            assert died_in == [threading.main_thread().name]
        assert gc.isenabled()  # given back as it was found
    finally:
        if not enabled:
            gc.disable()


def test_stop_collects_what_is_left_on_the_calling_thread(qtbot) -> None:
    died_in: list[str] = []
    collector = GuiThreadCollector(interval_ms=60_000)
    Cycle(died_in)
    assert died_in == []
    collector.stop()
    assert died_in == [threading.main_thread().name]
