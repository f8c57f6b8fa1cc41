"""Typed events and the one event bus that carries them.

Engines publish frozen dataclasses; the GUI (through a Qt signal), the headless
runner and the store subscribe. Handlers must be quick: they run inline, in
publication order, on the publisher's thread (the asyncio loop thread).
A failing handler is logged and never stops the others.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

from workstation.core.models import Fill, Order, Quote, TradeTick

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    at: datetime


@dataclass(frozen=True)
class LogEvent(Event):
    level: str  # DEBUG/INFO/WARNING/ERROR
    source: str
    message: str


@dataclass(frozen=True)
class OrderUpdated(Event):
    order: Order
    previous_status: str | None = None


@dataclass(frozen=True)
class OrderFilled(Event):
    order: Order
    fill: Fill


@dataclass(frozen=True)
class QuoteEvent(Event):
    quote: Quote


@dataclass(frozen=True)
class TradeEvent(Event):
    trade: TradeTick


@dataclass(frozen=True)
class ConnectionStateChanged(Event):
    component: str  # "market-data", "trading", "data-stream", "trading-stream"
    state: str  # "connected", "degraded", "down"
    detail: str = ""


@dataclass(frozen=True)
class ClockChanged(Event):
    speed: float
    paused: bool


@dataclass(frozen=True)
class ScanStarted(Event):
    session: date


@dataclass(frozen=True)
class ScanFinished(Event):
    session: date
    scan_id: int | None
    regime: str
    candidates: tuple[Any, ...] = ()
    report: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScanFailed(Event):
    session: date
    attempt: int
    error: str
    final: bool


@dataclass(frozen=True)
class ConfigReloaded(Event):
    param_hash: str


@dataclass(frozen=True)
class ConfigRejected(Event):
    errors: tuple[str, ...]


E = TypeVar("E", bound=Event)
Handler = Callable[[Any], None]


class EventBus:
    """Publish/subscribe by event type (subclasses reach handlers of their bases)."""

    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = defaultdict(list)

    def subscribe(self, kind: type[E], handler: Callable[[E], None]) -> Callable[[], None]:
        """Call ``handler`` for every event of ``kind``; returns an unsubscribe function."""
        self._handlers[kind].append(handler)

        def unsubscribe() -> None:
            if handler in self._handlers[kind]:
                self._handlers[kind].remove(handler)

        return unsubscribe

    def publish(self, event: Event) -> None:
        for kind in type(event).__mro__:
            for handler in tuple(self._handlers.get(kind, ())):
                try:
                    handler(event)
                except Exception:  # a broken subscriber must not break the engine
                    log.exception("event handler %r failed on %s", handler, type(event).__name__)
