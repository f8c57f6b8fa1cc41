"""Wire alerts into a running process (the headless runner, the desktop app).

:func:`start_notifications` subscribes an :class:`AlertCenter` to the engines' bus and, when
notification URLs are configured, a :class:`Notifier` with its outbox in the data folder;
the outbox's leftovers from a previous run (killed before it could deliver) go out at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from workstation.core.calendar import TradingCalendar
from workstation.core.config import Config
from workstation.core.events import EventBus, LogEvent
from workstation.notify.center import AlertCenter
from workstation.notify.outbox import FILE_NAME, Outbox
from workstation.notify.sender import Notifier
from workstation.notify.urls import NotifyUrls, load_urls

log = logging.getLogger(__name__)

SOURCE = "notify"


@dataclass
class Notifications:
    center: AlertCenter
    notifier: Notifier | None = None
    urls: NotifyUrls = field(default_factory=NotifyUrls)

    def stop(self, flush_s: float = 5.0) -> bool:
        """Unsubscribe, deliver what can be within ``flush_s``, stop the sender thread."""
        self.center.close()
        if self.notifier is None:
            return True
        flushed = self.notifier.stop(flush_s)
        self.notifier.outbox.close()
        return flushed


def bus_report(bus: EventBus, clock_now: Callable[[], object]) -> Callable[[str, str], None]:
    """A report function for the sender thread: the log file, and a LogEvent on the bus
    published on the loop's thread (bus handlers run there)."""
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        loop = None

    def report(level: str, message: str) -> None:
        getattr(log, level.lower(), log.info)(message)
        if loop is None or loop.is_closed():
            return
        ev = LogEvent(clock_now(), level, SOURCE, message)  # type: ignore[arg-type]
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(bus.publish, ev)

    return report


def start_notifications(
    bus: EventBus,
    config: Callable[[], Config],
    calendar: TradingCalendar,
    data_dir: Path,
    *,
    real_broker: bool,
    clock_now: Callable[[], object],
    urls: NotifyUrls | None = None,
) -> Notifications:
    center = AlertCenter(bus, config, calendar, real_broker=real_broker)
    urls = load_urls() if urls is None else urls
    if not urls:
        return Notifications(center, None, urls)
    try:
        outbox = Outbox(data_dir / FILE_NAME)
    except Exception as exc:  # notifications must never stop trading
        log.error("notifications are off: the outbox cannot be opened (%s)", exc)
        bus.publish(
            LogEvent(
                clock_now(),  # type: ignore[arg-type]
                "ERROR",
                SOURCE,
                f"notifications are off: {data_dir / FILE_NAME} cannot be opened ({exc})",
            )
        )
        return Notifications(center, None, urls)
    notifier = Notifier(
        urls, outbox, lambda: config().app.notify, report=bus_report(bus, clock_now)
    )
    notifier.attach(bus)
    notifier.start()
    if outbox.undelivered():
        notifier.wake()  # what a killed run queued but could not send
    log.info("notifications: %s", urls)
    return Notifications(center, notifier, urls)


__all__ = ["Notifications", "bus_report", "start_notifications"]
