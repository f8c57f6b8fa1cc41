"""What can go wrong talking to Alpaca, sorted into kinds the retry policy acts on.

Every failure of a REST call is classified once (:func:`classify`) into an :class:`ErrorKind`
with two properties that decide what happens next:

* ``retryable``: trying again later may succeed (429, 5xx, network errors, timeouts);
* ``ambiguous``: for a write, the server may have acted even though we got no answer
  (5xx, network errors, timeouts). An ambiguous write is never simply repeated: the broker
  first looks the order up by its client order id.

No message built here ever contains a secret key: the texts come from Alpaca's response
bodies, the HTTP status and the exception class, never from request headers.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any

import requests
from alpaca.common.exceptions import APIError

from workstation.broker.base import BrokerError
from workstation.errors import UserError
from workstation.market.base import MarketDataError


class ErrorKind(enum.StrEnum):
    AUTH = "auth"  # 401, or 403 "forbidden": the keys are wrong or not allowed
    RATE_LIMIT = "rate_limit"  # 429: not processed, try again after a pause
    SERVER = "server"  # 5xx: Alpaca (or its gateway) failed; a write may have happened
    TIMEOUT = "timeout"  # no answer in time; a write may have happened
    NETWORK = "network"  # connection refused/reset/DNS; a write may have happened
    BAD_RESPONSE = "bad_response"  # an answer the SDK could not read (truncated, HTML)
    NOT_FOUND = "not_found"  # 404
    REJECTED = "rejected"  # 403/422 on a request Alpaca understood and refused
    BAD_REQUEST = "bad_request"  # other 4xx


_RETRYABLE = frozenset(
    {
        ErrorKind.RATE_LIMIT,
        ErrorKind.SERVER,
        ErrorKind.TIMEOUT,
        ErrorKind.NETWORK,
        ErrorKind.BAD_RESPONSE,
    }
)
# 429 is answered before Alpaca processes anything; the others may hide a completed write.
_AMBIGUOUS = _RETRYABLE - {ErrorKind.RATE_LIMIT}

# 403 bodies that mean "these keys may not do this at all" rather than "this order is refused".
_AUTH_403_MESSAGES = ("forbidden", "request is not authorized", "unauthorized")


@dataclass(frozen=True)
class Classified:
    """One failed request, as the retry policy sees it."""

    kind: ErrorKind
    status: int | None = None  # HTTP status, when there was an answer
    code: int | None = None  # Alpaca's error code from the JSON body
    message: str = ""  # Alpaca's own words, or a short description of the failure
    retry_after_s: float | None = None  # from Retry-After, when Alpaca sent one

    @property
    def retryable(self) -> bool:
        return self.kind in _RETRYABLE

    @property
    def ambiguous(self) -> bool:
        return self.kind in _AMBIGUOUS

    def describe(self) -> str:
        where = f"HTTP {self.status}" if self.status is not None else str(self.kind)
        return f"{where}: {self.message}" if self.message else where


def _body(err: APIError) -> tuple[int | None, str]:
    """Alpaca's (code, message) from an APIError, tolerating HTML and empty bodies."""
    raw = str(err)
    try:
        data: Any = json.loads(raw)
    except ValueError:
        text = " ".join(raw.split())
        # An HTML error page (a gateway's 502/503/504): keep its title, not the markup.
        if "<title>" in text:
            text = text.split("<title>", 1)[1].split("</title>", 1)[0]
        return None, text[:200]
    if isinstance(data, dict):
        code = data.get("code")
        msg = data.get("message", "")
        return (int(code) if isinstance(code, int | float) else None), str(msg)
    return None, raw[:200]


def _retry_after(err: APIError) -> float | None:
    resp = err.response
    if resp is None:
        return None
    value = resp.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def classify(exc: BaseException) -> Classified | None:
    """The kind of a failed SDK call, or None for an exception that is a bug, not a failure."""
    if isinstance(exc, APIError):
        status = exc.status_code
        code, message = _body(exc)
        if status == 401:
            return Classified(ErrorKind.AUTH, status, code, message)
        if status == 403:
            if message.strip().lower() in _AUTH_403_MESSAGES or not message:
                return Classified(ErrorKind.AUTH, status, code, message)
            return Classified(ErrorKind.REJECTED, status, code, message)
        if status == 429:
            return Classified(ErrorKind.RATE_LIMIT, status, code, message, _retry_after(exc))
        if status == 404:
            return Classified(ErrorKind.NOT_FOUND, status, code, message)
        if status == 422:
            return Classified(ErrorKind.REJECTED, status, code, message)
        if status is not None and status >= 500:
            return Classified(ErrorKind.SERVER, status, code, message)
        return Classified(ErrorKind.BAD_REQUEST, status, code, message)
    if isinstance(exc, requests.exceptions.Timeout | TimeoutError):
        return Classified(ErrorKind.TIMEOUT, message=f"no answer in time ({type(exc).__name__})")
    if isinstance(exc, requests.exceptions.JSONDecodeError):
        return Classified(ErrorKind.BAD_RESPONSE, message="unreadable answer (not JSON)")
    if isinstance(exc, requests.exceptions.ConnectionError | ConnectionError):
        return Classified(ErrorKind.NETWORK, message=_network_message(exc))
    if isinstance(exc, requests.exceptions.RequestException):
        return Classified(ErrorKind.NETWORK, message=type(exc).__name__)
    return None


def _network_message(exc: BaseException) -> str:
    # requests' messages name the host and path (never headers); keep them short.
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__


# ------------------------------------------------------------------------------ exceptions


class AlpacaRequestError(RuntimeError):
    """A REST call failed for good (after any retries); ``error`` says how."""

    def __init__(self, what: str, error: Classified, attempts: int = 1) -> None:
        tries = f" after {attempts} tries" if attempts > 1 else ""
        super().__init__(f"Alpaca {what} failed{tries}: {error.describe()}")
        self.what = what
        self.error = error
        self.attempts = attempts


class AlpacaAuthError(BrokerError, MarketDataError, UserError):
    """Alpaca refused the API keys. One clear message; never retried; never shows the secret.

    It is a BrokerError and a MarketDataError (engines that handle those stop cleanly) and a
    UserError (the CLI prints the message alone).
    """

    def __init__(self, message: str) -> None:
        BrokerError.__init__(self, message, reason="unauthorized", retryable=False)


class AlpacaConfigError(UserError):
    """Keys, endpoints or mode that cannot be used; the message says what to change."""


class LiveTradingNotConfirmed(AlpacaConfigError):
    """Live trading was selected without the explicit confirmation it requires."""
