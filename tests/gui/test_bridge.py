"""The event bridge: engine events reach the GUI thread, market data is coalesced."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest
from PySide6.QtCore import QThread

from workstation.core.calendar import ET
from workstation.core.events import EventBus, LogEvent, QuoteEvent
from workstation.core.models import Quote
from workstation.engine.views import ViewName, ViewsChanged
from workstation.ui.bridge import EventBridge

pytestmark = pytest.mark.gui

T0 = datetime(2025, 3, 12, 9, 31, tzinfo=ET)


def test_events_published_on_another_thread_arrive_on_the_gui_thread(qtbot) -> None:
    bus = EventBus()
    bridge = EventBridge(bus, coalesce_ms=10)
    got: list[tuple[str, bool]] = []
    gui_thread = QThread.currentThread()
    bridge.event.connect(lambda ev: got.append((ev.message, QThread.currentThread() is gui_thread)))

    def publish() -> None:
        for i in range(50):
            bus.publish(LogEvent(T0, "INFO", "test", f"m{i}"))

    worker = threading.Thread(target=publish)
    worker.start()
    worker.join()
    assert got == []  # queued, not delivered on the worker thread
    qtbot.waitUntil(lambda: len(got) == 50, timeout=2000)
    assert [m for m, _ in got] == [f"m{i}" for i in range(50)]  # in order
    assert all(on_gui for _, on_gui in got)
    bridge.close()


def test_same_thread_events_are_delivered_at_once() -> None:
    bus = EventBus()
    bridge = EventBridge(bus)
    got: list[object] = []
    bridge.event.connect(got.append)
    ev = LogEvent(T0, "ERROR", "x", "boom")
    bus.publish(ev)
    assert got == [ev]
    bridge.close()
    bus.publish(LogEvent(T0, "ERROR", "x", "after close"))
    assert got == [ev]


def test_views_and_quotes_are_coalesced(qtbot) -> None:
    bus = EventBus()
    bridge = EventBridge(bus, coalesce_ms=20)
    views: list[frozenset[ViewName]] = []
    quotes: list[dict[str, float]] = []
    events: list[object] = []
    bridge.views_changed.connect(views.append)
    bridge.quotes.connect(quotes.append)
    bridge.event.connect(events.append)

    def flood() -> None:
        for i in range(2000):
            bus.publish(QuoteEvent(T0, Quote("AAPL", T0, 100 + i, 100.02 + i)))
            bus.publish(QuoteEvent(T0, Quote("MSFT", T0, 400, 400.1)))
        bus.publish(ViewsChanged.of(T0, ViewName.POSITIONS))
        bus.publish(ViewsChanged.of(T0, ViewName.ORDERS, ViewName.POSITIONS))

    worker = threading.Thread(target=flood)
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: bool(views) and bool(quotes), timeout=2000)
    qtbot.wait(50)
    assert len(quotes) == 1  # 4,000 quotes, one repaint
    assert quotes[0] == {"AAPL": pytest.approx(2099.01), "MSFT": pytest.approx(400.05)}
    assert views == [frozenset({ViewName.POSITIONS, ViewName.ORDERS})]
    # ViewsChanged also reaches `event`; the quotes do not.
    assert [type(e).__name__ for e in events] == ["ViewsChanged", "ViewsChanged"]
    bridge.close()
