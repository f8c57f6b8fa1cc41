"""Cyclic garbage is collected on the GUI thread only.

Python runs a collection in whichever thread allocates past the threshold. When that is a
worker thread (the chart-data pool, the store writer, an Alpaca call, a notification sender)
and the garbage holds a Qt object, the object's C++ destructor runs in that thread: it takes
Qt's signal/slot lock, then waits for the GIL, which the GUI thread holds while it waits for
that same lock in its own ``QObject::disconnect``. The window then freezes for good: seen in
the test suite (py-spy: ``~QObject`` under ``gc_collect_main`` in the ``chart-data`` thread,
``QObject::disconnect`` from a widget's destructor in the main thread), where it cost a CI run.

So while a window lives, automatic collection is off and a timer on the GUI thread runs the
collection the interpreter would have run (pyqtgraph's ``GarbageCollector`` does the same for
the same reason). Reference counting still frees everything that is not in a cycle at once.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from PySide6.QtCore import QObject, QTimer

from workstation.core.gc_tuning import collect_due

INTERVAL_MS = 500  # at most two young collections a second: each costs well under 1 ms


class GuiThreadCollector(QObject):
    """Owns the collector's schedule from its creation to :meth:`stop` (or its deletion)."""

    def __init__(self, interval_ms: int = INTERVAL_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._restore = gc.isenabled()
        gc.disable()
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(collect_due)
        self.timer.start()

    def stop(self) -> None:
        """Collect what is left here, on the GUI thread, then give collection back."""
        self.timer.stop()
        gc.collect()
        if self._restore:
            gc.enable()


@contextmanager
def collection_on_gui_thread(parent: QObject | None = None) -> Iterator[GuiThreadCollector]:
    """For the time of the block: what every process that shows widgets runs under."""
    collector = GuiThreadCollector(parent=parent)
    try:
        yield collector
    finally:
        collector.stop()
