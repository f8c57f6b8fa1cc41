"""Alpaca API keys: from the environment or the OS keyring, never from YAML, logs or errors.

Where keys come from, first match wins:

1. the environment: ``APCA_API_KEY_ID`` and ``APCA_API_SECRET_KEY`` (Alpaca's own names);
2. the OS keyring (``keyring`` package), service ``autotrader-workstation``, user names
   ``"<mode>/key_id"`` and ``"<mode>/secret_key"`` with mode ``paper`` or ``live`` (paper and
   live accounts have different keys). :func:`save_to_keyring` writes them there.

:class:`Credentials` masks the secret in ``repr``/``str`` so a stray log line or traceback
cannot print it; the key id is shown shortened (it names the account, it is not a secret, but
there is no reason to spread it either).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

from workstation.alpaca.errors import AlpacaConfigError

log = logging.getLogger(__name__)

SERVICE = "autotrader-workstation"
ENV_KEY_ID = "APCA_API_KEY_ID"
ENV_SECRET_KEY = "APCA_API_SECRET_KEY"
MODES = ("paper", "live")


class AlpacaKeysMissing(AlpacaConfigError):
    """No usable keys were found."""


def mask(text: str, keep: int = 4) -> str:
    """``PKABCDEFGH1234`` -> ``PKAB…1234``: enough to tell two keys apart, no more."""
    if len(text) <= 2 * keep:
        return "…" * bool(text)
    return f"{text[:keep]}…{text[-keep:]}"


@dataclass(frozen=True, repr=False)
class Credentials:
    """An API key pair. ``repr`` and ``str`` never show the secret."""

    key_id: str
    secret_key: str
    source: str = "explicit"  # "env", "keyring" or "explicit"

    def __post_init__(self) -> None:
        key, secret = (self.key_id or "").strip(), (self.secret_key or "").strip()
        if not key or not secret:
            # Which half is missing, never what the other half is.
            missing = [n for n, v in (("key id", key), ("secret key", secret)) if not v]
            raise AlpacaKeysMissing(
                f"the Alpaca {' and '.join(missing)} from {self.source} is empty; "
                f"set {ENV_KEY_ID} and {ENV_SECRET_KEY}, or store both in the keyring"
            )
        object.__setattr__(self, "key_id", key)
        object.__setattr__(self, "secret_key", secret)

    @property
    def masked_key_id(self) -> str:
        return mask(self.key_id)

    def __repr__(self) -> str:
        return (
            f"Credentials(key_id={self.masked_key_id!r}, secret_key='********', "
            f"source={self.source!r})"
        )

    __str__ = __repr__


def keyring_user(mode: str, part: str) -> str:
    """The keyring user name of one credential (``part``: key_id or secret_key); the GUI's
    settings dialog stores keys under the same names, so what it saves is what is read."""
    return f"{mode}/{part}"


_keyring_user = keyring_user


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise AlpacaConfigError(f"Alpaca mode {mode!r} is not valid: use 'paper' or 'live'")
    return mode


def _from_keyring(mode: str, service: str) -> Credentials | None:
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:  # pragma: no cover - keyring is a runtime dependency
        return None
    try:
        key = keyring.get_password(service, _keyring_user(mode, "key_id"))
        secret = keyring.get_password(service, _keyring_user(mode, "secret_key"))
    except (KeyringError, RuntimeError, OSError) as exc:
        # No keyring backend on this machine (a server, a container): not an error by itself.
        log.info("OS keyring unavailable (%s); Alpaca keys must come from the environment", exc)
        return None
    if key and secret:
        return Credentials(key, secret, source="keyring")
    if key or secret:
        raise AlpacaKeysMissing(
            f"the keyring service {service!r} has only half of the {mode} keys "
            f"({_keyring_user(mode, 'key_id')} and {_keyring_user(mode, 'secret_key')} are both "
            "needed); store both again"
        )
    return None


def load_credentials(
    mode: str = "paper",
    *,
    env: Mapping[str, str] | None = None,
    use_keyring: bool = True,
    service: str = SERVICE,
) -> Credentials:
    """The keys for ``mode`` ("paper"/"live"): environment first, then the keyring.

    Raises :class:`AlpacaKeysMissing` with what to do when neither has them.
    """
    _check_mode(mode)
    environ = os.environ if env is None else env
    key, secret = environ.get(ENV_KEY_ID, ""), environ.get(ENV_SECRET_KEY, "")
    if key or secret:
        if not (key.strip() and secret.strip()):
            half = ENV_KEY_ID if not key.strip() else ENV_SECRET_KEY
            raise AlpacaKeysMissing(
                f"{half} is not set but its partner is: set both {ENV_KEY_ID} and "
                f"{ENV_SECRET_KEY} (or neither, to use the keyring)"
            )
        return Credentials(key, secret, source="env")
    if use_keyring:
        found = _from_keyring(mode, service)
        if found is not None:
            return found
    raise AlpacaKeysMissing(
        f"no Alpaca {mode} keys: set {ENV_KEY_ID} and {ENV_SECRET_KEY} in the environment, "
        f"or store them in the OS keyring (service {service!r}, users "
        f"{_keyring_user(mode, 'key_id')!r} and {_keyring_user(mode, 'secret_key')!r})"
    )


def save_to_keyring(credentials: Credentials, mode: str = "paper", service: str = SERVICE) -> None:
    """Store ``credentials`` for ``mode`` in the OS keyring (AlpacaConfigError if impossible)."""
    _check_mode(mode)
    import keyring
    from keyring.errors import KeyringError

    try:
        keyring.set_password(service, _keyring_user(mode, "key_id"), credentials.key_id)
        keyring.set_password(service, _keyring_user(mode, "secret_key"), credentials.secret_key)
    except (KeyringError, RuntimeError, OSError) as exc:
        raise AlpacaConfigError(
            f"cannot store the Alpaca keys in the OS keyring ({type(exc).__name__}); "
            f"use the environment variables {ENV_KEY_ID} / {ENV_SECRET_KEY} instead"
        ) from None


def delete_from_keyring(mode: str = "paper", service: str = SERVICE) -> None:
    """Remove the keys of ``mode`` from the keyring (missing entries are fine)."""
    _check_mode(mode)
    import keyring
    from keyring.errors import KeyringError, PasswordDeleteError

    for part in ("key_id", "secret_key"):
        try:
            keyring.delete_password(service, _keyring_user(mode, part))
        except PasswordDeleteError:
            pass
        except (KeyringError, RuntimeError, OSError) as exc:
            raise AlpacaConfigError(
                f"cannot remove the Alpaca keys from the OS keyring ({type(exc).__name__})"
            ) from None
