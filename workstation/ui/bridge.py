"""Carries engine events from the :class:`EventBus` onto the Qt GUI thread.

The bus calls its handlers on the publisher's thread. Panels must only be touched on
the GUI thread, so the bridge re-emits every event through Qt signals: emitted on the
GUI thread they are delivered at once; published on any other thread they are queued
to the GUI thread (in order) by an internal queued connection.

High-rate traffic is coalesced so that 2,000 quotes a second never mean 2,000 repaints:

* ``event(object)``: every event except market data (``QuoteEvent``/``TradeEvent``);
* ``views_changed(frozenset)``: the union of the :class:`ViewsChanged` names seen during
  ``coalesce_ms`` (the panels re-fetch at most that often);
* ``quotes(dict)``: symbol -> latest price seen during ``coalesce_ms``.
"""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal

from workstation.core.events import Event, EventBus, QuoteEvent, TradeEvent
from workstation.engine.views import ViewsChanged


class EventBridge(QObject):
    event = Signal(object)
    views_changed = Signal(frozenset)
    quotes = Signal(dict)

    _incoming = Signal(object)  # internal: hands a foreign-thread event to the GUI thread
    _wake = Signal()  # internal: something is waiting to be flushed

    def __init__(self, bus: EventBus, coalesce_ms: int = 100, parent: QObject | None = None):
        super().__init__(parent)
        self._bus = bus
        self._lock = threading.Lock()
        self._views: set[Any] = set()
        self._prices: dict[str, float] = {}
        self._flush_scheduled = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(max(0, coalesce_ms))
        self._timer.timeout.connect(self.flush)
        self._incoming.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._wake.connect(self._start_timer, Qt.ConnectionType.QueuedConnection)
        self._unsubscribe = bus.subscribe(Event, self._on_event)

    def close(self) -> None:
        """Stop listening to the bus (idempotent)."""
        self._unsubscribe()
        self._timer.stop()

    # --------------------------------------------------------- any thread
    def _on_event(self, ev: Event) -> None:
        if isinstance(ev, QuoteEvent | TradeEvent | ViewsChanged):
            self._coalesce(ev)
            if not isinstance(ev, ViewsChanged):
                return
        if QThread.currentThread() is self.thread():
            self._deliver(ev)
        else:
            self._incoming.emit(ev)

    def _coalesce(self, ev: Event) -> None:
        with self._lock:
            if isinstance(ev, QuoteEvent):
                self._prices[ev.quote.symbol] = ev.quote.mid
            elif isinstance(ev, TradeEvent):
                self._prices[ev.trade.symbol] = ev.trade.price
            else:
                assert isinstance(ev, ViewsChanged)
                self._views.update(ev.views)
            if self._flush_scheduled:
                return
            self._flush_scheduled = True
        # A QTimer may only be started from its own thread: ask the GUI thread to do it.
        if QThread.currentThread() is self.thread():
            self._start_timer()
        else:
            self._wake.emit()

    # --------------------------------------------------------- GUI thread
    def _deliver(self, ev: Event) -> None:
        self.event.emit(ev)

    def _start_timer(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Emit what has been coalesced so far (the timer calls this; tests may too)."""
        with self._lock:
            views, self._views = frozenset(self._views), set()
            prices, self._prices = self._prices, {}
            self._flush_scheduled = False
        if prices:
            self.quotes.emit(prices)
        if views:
            self.views_changed.emit(views)
