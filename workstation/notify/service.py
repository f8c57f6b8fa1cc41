"""Wire alerts into a running process (the headless runner, the desktop app).

:func:`start_notifications` subscribes an :class:`AlertCenter` to the engines' bus and, when
notification URLs are configured, a :class:`Notifier` with its outbox in the data folder;
the outbox's leftovers from a previous run (killed before it could deliver) go out at once,
and so do the alerts of the facts that run recorded in the store without queuing their alerts
(killed in between: :mod:`workstation.notify.recover`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from workstation.core.calendar import TradingCalendar
from workstation.core.config import Config
from workstation.core.events import EventBus, LogEvent
from workstation.notify.center import AlertCenter
from workstation.notify.outbox import FILE_NAME, Outbox
from workstation.notify.sender import Notifier
from workstation.notify.urls import NotifyUrls, load_urls

if TYPE_CHECKING:
    from workstation.store import Store

log = logging.getLogger(__name__)

SOURCE = "notify"


@dataclass
class Notifications:
    center: AlertCenter
    notifier: Notifier | None = None
    urls: NotifyUrls = field(default_factory=NotifyUrls)
    data_dir: Path | None = None
    report: Callable[[str, str], None] | None = None

    def use_channels(self, urls: NotifyUrls, config: Callable[[], Config]) -> Notifier | None:
        """Switch to ``urls`` (the settings changed): a new sender from now on; the old one
        is detached at once and returned, for the caller to ``stop()`` off its thread."""
        old, self.notifier, self.urls = self.notifier, None, urls
        if old is not None:
            old.detach()
        if urls and self.data_dir is not None:
            self.notifier = _start_sender(self.center.bus, urls, config, self.data_dir, self.report)
        return old

    def stop(self, flush_s: float = 5.0) -> bool:
        """Unsubscribe, deliver what can be within ``flush_s``, stop the sender threads."""
        self.center.close()
        if self.notifier is None:
            return True
        return stop_sender(self.notifier, flush_s)


def stop_sender(notifier: Notifier, flush_s: float) -> bool:
    flushed = notifier.stop(flush_s)
    notifier.outbox.close()
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
    store: Store | None = None,
) -> Notifications:
    """Call it before the engines publish anything of this run: with ``store``, the recent
    facts' alerts a killed run did not queue are queued first (each once, by its key)."""
    center = AlertCenter(bus, config, calendar, real_broker=real_broker)
    urls = load_urls() if urls is None else urls
    report = bus_report(bus, clock_now)
    notifier = _start_sender(bus, urls, config, data_dir, report) if urls else None
    if notifier is not None and store is not None:
        _recover(notifier, store, config(), calendar, clock_now(), real_broker, report)
    return Notifications(center, notifier, urls, data_dir, report)


def _recover(
    notifier: Notifier,
    store: Store,
    cfg: Config,
    calendar: TradingCalendar,
    now: object,
    real_broker: bool,
    report: Callable[[str, str], None],
) -> None:
    from workstation.notify.recover import recover

    try:
        keys = recover(
            store,
            notifier.outbox,
            notifier.channels,
            cfg,
            calendar,
            now,  # type: ignore[arg-type]
            real_broker=real_broker,
        )
    except Exception as exc:  # notifications must never stop trading
        log.exception("recovering alerts failed")
        report("ERROR", f"alerts of facts before the restart not checked ({exc})")
        return
    if keys:
        report(
            "INFO",
            f"notifications: {len(keys)} alert(s) recorded before the restart but never "
            f"queued go out now ({', '.join(keys)})",
        )
        notifier.wake()


def _start_sender(
    bus: EventBus,
    urls: NotifyUrls,
    config: Callable[[], Config],
    data_dir: Path,
    report: Callable[[str, str], None] | None,
) -> Notifier | None:
    try:
        outbox = Outbox(data_dir / FILE_NAME)
    except Exception as exc:  # notifications must never stop trading
        message = f"notifications are off: {data_dir / FILE_NAME} cannot be opened ({exc})"
        if report is not None:
            report("ERROR", message)
        else:
            log.error(message)
        return None
    notifier = Notifier(urls, outbox, lambda: config().app.notify, report=report)
    notifier.attach(bus)
    notifier.start()
    if outbox.undelivered():
        notifier.wake()  # what a killed run queued but could not send
    log.info("notifications: %s", urls)
    return notifier


__all__ = ["Notifications", "bus_report", "start_notifications", "stop_sender"]
