"""The notifier: delivers queued alerts, one thread per channel.

Sending never blocks the engines. An alert raised on the engines' loop is only written to
the outbox (a short SQLite commit) and the channels' threads are woken; each thread does its
own network calls, bounded by ``notify.timeout_s`` and paced (``notify.min_interval_s``, or
less when the service needs no pause). One thread per channel, so a slow or dead channel
never delays another.

A channel that fails is retried with exponential backoff (``retry_backoff_s``, doubling, at
most ``retry_max_s``); it keeps the alerts in their order (the oldest undelivered is retried
first). Its failure is reported ONCE (a WARNING through ``report``) until it delivers again
(then an INFO line says so). An alert still not delivered after ``give_up_after_h`` is dropped
for that channel, with a warning. Nothing here raises into the caller.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from workstation.core.config import NotifyConfig
from workstation.core.events import EventBus
from workstation.notify.alert import AlertRaised
from workstation.notify.channels import Channel
from workstation.notify.outbox import Outbox
from workstation.notify.urls import NotifyUrls

log = logging.getLogger(__name__)

Report = Callable[[str, str], None]  # (level, message): a log line for the user


def _log_report(level: str, message: str) -> None:
    getattr(log, level.lower(), log.info)(message)


class _Worker:
    """Delivers the outbox to one channel, on its own thread."""

    def __init__(self, channel: Channel, owner: Notifier) -> None:
        self.channel = channel
        self.owner = owner
        self.failures = 0
        self.next_try = 0.0  # wall-clock time of the next attempt after a failure
        self.last_sent = -1e18  # monotonic time of the last send (pacing)
        self.failing = False
        self.busy = False
        self.wake_flag = False
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._run, name=f"notify {channel.name}", daemon=True)

    def wake(self) -> None:
        with self.cond:
            self.wake_flag = True
            self.cond.notify_all()

    def _stopping(self) -> bool:
        return self.owner.stopping

    def _run(self) -> None:
        while True:
            with self.cond:
                if self._stopping():
                    return
                self.wake_flag = False
                self.busy = True
            try:
                wait = self._pass()
            except Exception:  # never let the thread die: log, wait, try again
                log.exception("notification channel %s failed unexpectedly", self.channel.name)
                wait = 5.0
            with self.cond:
                self.busy = False
                if self._stopping():
                    return
                if not self.wake_flag:
                    self.cond.wait(wait)

    def _pass(self) -> float | None:
        """Send what is due; returns how long to wait before the next pass (None: until
        woken)."""
        owner = self.owner
        cfg = owner.config()
        clock = owner.clock
        if self.next_try > clock():
            return self.next_try - clock()
        cid = self.channel.id
        for q in owner.outbox.undelivered():
            if cid not in q.pending:
                continue
            if self._stopping():
                return None
            if clock() - q.queued > cfg.give_up_after_h * 3600.0:
                owner.outbox.drop(q.key, f"not delivered within {cfg.give_up_after_h:g} h", [cid])
                owner.say(
                    "WARNING",
                    f"notification '{q.title}' dropped for {self.channel.name}: not "
                    f"delivered within {cfg.give_up_after_h:g} h",
                )
                continue
            pace = min(cfg.min_interval_s, self.channel.native_pace_s)
            gap = self.last_sent + pace - time.monotonic()
            if gap > 0:
                with self.cond:  # a pause the stop can interrupt
                    if self.cond.wait_for(self._stopping, gap):
                        return None
            result = self.channel.send(q.title, q.body, q.level, cfg.timeout_s)
            self.last_sent = time.monotonic()
            if result.ok:
                owner.outbox.delivered(q.key, cid)
                self._succeeded()
                continue
            owner.outbox.attempted(q.key)
            self._failed(result.error, cfg)
            return max(0.0, self.next_try - clock())  # keep the order: retry this one first
        return None

    def _failed(self, error: str, cfg: NotifyConfig) -> None:
        self.failures += 1
        delay = min(cfg.retry_backoff_s * 2 ** (self.failures - 1), cfg.retry_max_s)
        self.next_try = self.owner.clock() + delay
        if not self.failing:
            self.failing = True
            self.owner.say(
                "WARNING",
                f"notification channel {self.channel.name} failed ({error}); retrying with "
                f"backoff from {cfg.retry_backoff_s:g} s (not reported again until it delivers)",
            )

    def _succeeded(self) -> None:
        if self.failing:
            self.owner.say(
                "INFO",
                f"notification channel {self.channel.name} delivers again (after "
                f"{self.failures} failed tries); the alerts it missed were sent",
            )
        self.failures, self.next_try, self.failing = 0, 0.0, False


class Notifier:
    """See the module docstring. ``start()`` it, ``attach()`` it to a bus, ``stop()`` it."""

    def __init__(
        self,
        urls: NotifyUrls,
        outbox: Outbox,
        config: Callable[[], NotifyConfig],
        *,
        report: Report | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.config = config
        self.clock = clock
        self._report = report or _log_report
        self.channels = {c.id: c for c in (Channel(u) for u in urls.urls)}
        self._workers = {cid: _Worker(c, self) for cid, c in self.channels.items()}
        self.stopping = False
        self._started = False
        self._unsubscribe: Callable[[], None] | None = None
        self.reports: list[tuple[str, str]] = []  # what was reported (tests, diagnostics)

    # ------------------------------------------------------------------ wiring
    def attach(self, bus: EventBus) -> None:
        self._unsubscribe = bus.subscribe(AlertRaised, self.submit)

    def detach(self) -> None:
        """No more alerts from the bus (what is queued is still delivered until stop)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def submit(self, ev: AlertRaised) -> None:
        """Queue an alert (on the caller's thread: one short commit) and wake the senders."""
        try:
            queued = self.outbox.put(ev.alert, self.channels)
        except Exception as exc:  # a broken outbox must never break the engines
            self.say("ERROR", f"notification not queued ({type(exc).__name__}: {exc})")
            return
        if queued:
            self.wake()

    def wake(self) -> None:
        for w in self._workers.values():
            w.wake()

    def start(self) -> Notifier:
        if not self._started:
            self._started = True
            stale = [c for c in self.channels.values() if not c.prepare()]
            for c in stale:
                self.say(
                    "WARNING",
                    f"notification channel {c.name}: apprise does not "
                    "understand this URL; it gets no alerts",
                )
                self._workers.pop(c.id)
            for q in self.outbox.undelivered():  # queued for channels since removed
                gone = [cid for cid in q.pending if cid not in self._workers]
                if gone:
                    self.outbox.drop(q.key, "channel removed", gone)
            for w in self._workers.values():
                w.thread.start()
        return self

    def stop(self, flush_s: float = 5.0) -> bool:
        """Deliver what can be delivered within ``flush_s`` seconds, then stop the threads.
        True when nothing was left undelivered (what is left goes out after the next start)."""
        self.detach()
        flushed = self.drain(flush_s) if self._started else False
        self.stopping = True
        for w in self._workers.values():
            w.wake()
        deadline = time.monotonic() + self.config().timeout_s + 1.0
        for w in self._workers.values():
            if w.thread.is_alive():
                w.thread.join(timeout=max(0.0, deadline - time.monotonic()))
        return flushed

    def drain(self, timeout_s: float) -> bool:
        """Wait until every queued alert went to every working channel (channels in backoff
        are not waited for); True when nothing is left at all."""
        deadline = time.monotonic() + timeout_s
        while self._waiting():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return not any(cid in self._workers for q in self.outbox.undelivered() for cid in q.pending)

    def _waiting(self) -> bool:
        """Something is queued for a channel that is not in backoff (or is being sent)."""
        if any(w.busy or w.wake_flag for w in self._workers.values()):
            return True
        for q in self.outbox.undelivered():
            for cid in q.pending:
                w = self._workers.get(cid)
                if w is not None and not w.failing:
                    return True
        return False

    def say(self, level: str, message: str) -> None:
        self.reports.append((level, message))
        try:
            self._report(level, message)
        except Exception:
            log.exception("reporting a notification problem failed")


def send_now(
    urls: NotifyUrls, title: str, body: str, level: str, timeout_s: float
) -> list[tuple[str, bool, str]]:
    """Send one message to every channel at once (``notify --test``, "Send test"): per channel
    its masked name, whether it worked and why not. Channels are tried one after the other."""
    out = []
    for url in urls.urls:
        ch = Channel(url)
        res = ch.send(title, body, level, timeout_s)
        out.append((ch.name, res.ok, res.error))
    return out


__all__ = ["Notifier", "Report", "send_now"]
