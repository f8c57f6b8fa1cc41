"""A heartbeat on the Qt loop: how late does a periodic timer fire? That lateness is the time
the loop (the window, and with qasync the engines too) could not respond.

Used by the responsiveness test, ``bench/gui.py`` and ``workstation --self-test``.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, QTimer


class Heartbeat(QObject):
    """A ``period_ms`` precise timer; :attr:`worst_stall_ms` is the largest gap between two
    beats beyond the period (0 when the loop always answered in time).

    Each gap also records the CPU time the loop's thread used in it (``time.thread_time``):
    a long gap with little CPU is the operating system running other processes (a busy
    machine), a long gap with as much CPU is the loop's own work.
    """

    def __init__(self, period_ms: int = 10, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.period_ms = period_ms
        self.gaps_ms: list[float] = []
        self.cpu_ms: list[float] = []  # the loop thread's CPU time within each gap
        self._last: float | None = None
        self._last_cpu = 0.0
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(period_ms)
        self._timer.timeout.connect(self._beat)

    def start(self) -> None:
        self.gaps_ms.clear()
        self.cpu_ms.clear()
        self._last = time.perf_counter()
        self._last_cpu = time.thread_time()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        self._beat()

    def _beat(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        if self._last is not None:
            self.gaps_ms.append((now - self._last) * 1000.0)
            self.cpu_ms.append((cpu - self._last_cpu) * 1000.0)
        self._last, self._last_cpu = now, cpu

    @property
    def beats(self) -> int:
        return len(self.gaps_ms)

    @property
    def worst_stall_ms(self) -> float:
        """The longest time the loop was late: the largest gap minus the period."""
        return max((g - self.period_ms for g in self.gaps_ms), default=0.0)

    @property
    def worst_gap_cpu_ms(self) -> float:
        """The loop thread's CPU time during the longest gap (see the class docstring)."""
        if not self.gaps_ms:
            return 0.0
        i = max(range(len(self.gaps_ms)), key=self.gaps_ms.__getitem__)
        return self.cpu_ms[i]

    @property
    def worst_busy_ms(self) -> float:
        """The most CPU time the loop's thread spent between two beats, beyond the period:
        the longest stall the loop caused itself, whatever else the machine was doing."""
        return max((c - self.period_ms for c in self.cpu_ms), default=0.0)

    def percentile_ms(self, q: float) -> float:
        """The ``q`` quantile (0..1) of the gaps between beats."""
        if not self.gaps_ms:
            return 0.0
        gaps = sorted(self.gaps_ms)
        return gaps[min(len(gaps) - 1, int(q * len(gaps)))]
