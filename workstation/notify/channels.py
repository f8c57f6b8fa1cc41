"""The edge to apprise: one :class:`Channel` per notification URL.

One apprise object per URL (not one for all) so that each channel succeeds, fails and is
retried on its own: a dead Discord webhook must not delay the e-mail. Every send passes
``timeout=`` (apprise's own HTTP timeouts are 4 s connect/read, e-mail's 15 s connect) and
plain text (mail's default HTML part would fold the lines). apprise's own pacing (most
services sleep 5.5 s between two messages, inside ``notify`` and so inside its timeout: a paced
send could time out and then still go out, twice) is switched off; the sender paces each
channel itself (:attr:`Channel.native_pace_s`, at most ``notify.min_interval_s``). Failures
never raise: apprise
reports them in its result and its log, which is captured per call and redacted (it may quote the
address, and the address may be the token) before anyone sees it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from workstation.notify.urls import fingerprint, mask_url, redact

log = logging.getLogger(__name__)

# apprise logs every request at DEBUG with the full address: never let it reach the app's
# log files through the root logger. Failures are captured per send (LogCapture) instead.
_apprise_log = logging.getLogger("apprise")
_apprise_log.propagate = False
_apprise_log.addHandler(logging.NullHandler())


def instantiate(url: str) -> Any | None:
    """apprise's plugin object for ``url``, or None when apprise does not understand it."""
    import apprise

    try:
        return apprise.Apprise.instantiate(url)
    except Exception:  # apprise raises on some malformed URLs instead of returning None
        return None


@dataclass(frozen=True)
class SendResult:
    ok: bool
    error: str = ""  # redacted: safe for logs and the window


class Channel:
    """One notification URL. ``id`` (a hash) names it in the outbox; ``name`` in messages."""

    def __init__(self, url: str) -> None:
        self._url = url
        self.id = fingerprint(url) + fingerprint(url[::-1])  # 12 hex digits
        self.name = mask_url(url)
        self._apprise: Any = None
        self.service = ""
        self.native_pace_s = 0.0  # apprise's pause between two messages of this service

    def __repr__(self) -> str:
        return f"Channel({self.name})"

    def _ensure(self) -> Any:
        if self._apprise is None:
            import apprise

            plugin = instantiate(self._url)
            if plugin is None:
                return None
            self.service = str(getattr(plugin, "service_name", "") or "")
            self.native_pace_s = float(getattr(plugin, "request_rate_per_sec", 0.0) or 0.0)
            plugin.request_rate_per_sec = 0  # paced by the sender, outside the timeout
            ap = apprise.Apprise()
            ap.add(plugin)
            self._apprise = ap
        return self._apprise

    def prepare(self) -> bool:
        """Build the apprise object now (False: apprise does not understand the URL)."""
        return self._ensure() is not None

    def send(self, title: str, body: str, level: str, timeout_s: float) -> SendResult:
        """Deliver one message; never raises, never blocks much longer than ``timeout_s``."""
        import apprise

        ap = self._ensure()
        if ap is None:
            return SendResult(False, "apprise does not understand this URL")
        captured: list[str] = []  # this call's own log (apprise captures it per call)

        def keep(entry: Any, _plugin: Any = None) -> None:
            if str(getattr(entry, "level", "")).upper() in ("WARNING", "ERROR", "CRITICAL"):
                captured.append(str(getattr(entry, "message", entry)))

        try:
            result = ap.notify(
                body=body or title,
                title=title,
                notify_type=level,
                body_format=apprise.NotifyFormat.TEXT,
                timeout=timeout_s,
                log_callback=keep,
                log_level=logging.WARNING,
            )
        except Exception as exc:  # a plugin bug must not end the sender
            return SendResult(False, redact(f"{type(exc).__name__}: {exc}", [self._url]))
        text = "\n".join(captured)
        if result:
            return SendResult(True)
        status = getattr(getattr(result, "status", None), "name", "FAILURE")
        detail = " ".join(text.strip().splitlines()[-2:])
        why = f"{status.lower()}" + (f": {detail}" if detail else "")
        return SendResult(False, redact(why, [self._url]))


__all__ = ["Channel", "SendResult", "instantiate"]
