"""Notification URLs: from the environment or the OS keyring, never from YAML, logs or the store.

An apprise URL carries the channel's token (``tgram://BOTTOKEN/CHATID``,
``discord://WEBHOOK_ID/WEBHOOK_TOKEN``, ``mailto://user:password@host``), so it is a secret like
the Alpaca keys and is kept the same way. First match wins:

1. the environment: ``WORKSTATION_NOTIFY_URLS``, URLs separated by whitespace (a server, a
   container, a service unit's ``EnvironmentFile``);
2. the OS keyring, service ``autotrader-workstation``, user ``notify/urls``: one entry holding
   the URLs one per line (the settings dialog and ``workstation notify set`` write it).

:class:`NotifyUrls` never shows a URL in ``repr``/``str``; :func:`mask_url` gives what may be
shown: the service's scheme and a short fingerprint to tell two channels apart.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from workstation.errors import UserError

log = logging.getLogger(__name__)

SERVICE = "autotrader-workstation"
KEYRING_USER = "notify/urls"
ENV_URLS = "WORKSTATION_NOTIFY_URLS"

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


class NotifyUrlError(UserError):
    """The URLs cannot be read, stored or understood (one line, exit code 2)."""

    exit_code = 2


def split_urls(text: str) -> tuple[str, ...]:
    """URLs separated by whitespace or newlines, blank lines and ``#`` comments dropped."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        out.extend(part for part in line.split() if part)
    return tuple(dict.fromkeys(out))  # a URL given twice is one channel


def fingerprint(url: str) -> str:
    """Six hex digits of the URL's hash: tells channels apart without revealing them."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:6]


def mask_url(url: str) -> str:
    """``tgram://123:ABC/456`` -> ``tgram://… #1a2b3c``: the service and a fingerprint only
    (the host or path of many services IS the token)."""
    m = _SCHEME.match(url.strip())
    scheme = m.group(1).lower() if m else "?"
    return f"{scheme}://… #{fingerprint(url)}"


def redact(text: str, urls: Iterable[str]) -> str:
    """``text`` with every piece of every URL (host, path segments, user, password, query
    values) of four characters or more replaced by ``***``: a library's error message may
    quote the address it failed to reach."""
    pieces: set[str] = set()
    for url in urls:
        body = _SCHEME.sub("", url)
        pieces.add(url)
        pieces.update(p for p in re.split(r"[/:@?&=,;+#\s]", body) if len(p) >= 4)
    for piece in sorted(pieces, key=len, reverse=True):
        text = text.replace(piece, "***")
    return text


@dataclass(frozen=True, repr=False)
class NotifyUrls:
    """The channels' URLs and where they came from; ``repr``/``str`` never show a URL."""

    urls: tuple[str, ...] = ()
    source: str = "none"  # "env", "keyring" or "none"

    def __bool__(self) -> bool:
        return bool(self.urls)

    def masked(self) -> list[str]:
        return [mask_url(u) for u in self.urls]

    def __repr__(self) -> str:
        return f"NotifyUrls({len(self.urls)} channel(s) from {self.source}: {self.masked()})"

    __str__ = __repr__


def _keyring_errors() -> tuple[type[BaseException], ...]:
    from keyring.errors import KeyringError

    return (KeyringError, RuntimeError, OSError)


def load_urls(
    *, env: Mapping[str, str] | None = None, use_keyring: bool = True, service: str = SERVICE
) -> NotifyUrls:
    """The URLs in force: the environment first, then the keyring; none is not an error
    (notifications are optional). A keyring that cannot be read is logged, not raised."""
    environ = os.environ if env is None else env
    raw = environ.get(ENV_URLS, "")
    if raw.strip():
        return NotifyUrls(split_urls(raw), "env")
    if not use_keyring:
        return NotifyUrls()
    import keyring

    try:
        stored = keyring.get_password(service, KEYRING_USER)
    except _keyring_errors() as exc:
        # No keyring backend on this machine (a server, a container): not an error by itself.
        log.info("OS keyring unavailable (%s): no notification URLs from it", type(exc).__name__)
        return NotifyUrls()
    if not stored:
        return NotifyUrls()
    return NotifyUrls(split_urls(stored), "keyring")


def save_urls(urls: Iterable[str], *, service: str = SERVICE) -> None:
    """Store ``urls`` in the keyring (an empty list removes the entry)."""
    import keyring
    from keyring.errors import PasswordDeleteError

    clean = split_urls("\n".join(urls))
    try:
        if clean:
            keyring.set_password(service, KEYRING_USER, "\n".join(clean))
        else:
            with contextlib.suppress(PasswordDeleteError):
                keyring.delete_password(service, KEYRING_USER)
    except _keyring_errors() as exc:
        raise NotifyUrlError(
            f"cannot store the notification URLs in the OS keyring ({type(exc).__name__}); "
            f"set {ENV_URLS} in the environment instead"
        ) from None


def check_urls(urls: Iterable[str]) -> list[str]:
    """One message per URL apprise does not understand (the URL itself masked)."""
    from workstation.notify.channels import instantiate

    problems = []
    for url in urls:
        if instantiate(url) is None:
            problems.append(
                f"{mask_url(url)} is not a notification URL apprise understands (check the "
                "scheme and the parts it needs, e.g. json://host:port/path, "
                "mailto://host?from=a@b&to=c@d, tgram://token/chat)"
            )
    return problems


__all__ = [
    "ENV_URLS",
    "KEYRING_USER",
    "SERVICE",
    "NotifyUrlError",
    "NotifyUrls",
    "check_urls",
    "fingerprint",
    "load_urls",
    "mask_url",
    "redact",
    "save_urls",
    "split_urls",
]
