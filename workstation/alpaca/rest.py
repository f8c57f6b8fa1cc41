"""REST plumbing: alpaca-py's blocking calls off the loop, bounded, rate limited and retried.

alpaca-py's REST clients make synchronous ``requests`` calls with no timeout and retry 429/504
with a blocking ``time.sleep(3)``. Here, each client is reconfigured (:func:`bound_client`):

* the SDK's own retries are switched off (``_retry = 0``, no retry codes): retrying is
  decided by :class:`RestCaller`, in async code, per the :class:`RetryPolicy`;
* its ``requests.Session`` gets a :class:`BoundedAdapter` that puts a timeout on every HTTP
  request (a stalled server cannot hold a worker thread forever: ``asyncio.wait_for`` around
  ``to_thread`` cannot kill a thread, only the socket timeout can) and takes a slot from the
  shared :class:`RateLimiter` (Alpaca allows 200 requests a minute per account; paging
  makes several requests out of one SDK call, so the limiter counts HTTP requests, not calls).

Every call runs in a worker thread (``asyncio.to_thread``) under an overall ``wait_for``; when
that expires the call is marked abandoned and its thread sends no further page requests.

:class:`ConnectionMonitor` turns outcomes into ``ConnectionStateChanged`` events per component
("market-data", "trading", "data-stream", "trading-stream"): ``connected`` after a success,
``degraded`` while retrying, ``down`` when retries are exhausted or the keys are refused.
Bad keys trip the shared :class:`AuthGate`: every later call fails at once with the same
:class:`~workstation.alpaca.errors.AlpacaAuthError`, without touching the network.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

import requests
from requests.adapters import HTTPAdapter

from workstation.alpaca.errors import (
    AlpacaAuthError,
    AlpacaRequestError,
    Classified,
    ErrorKind,
    classify,
)
from workstation.core.events import ConnectionStateChanged, Event

log = logging.getLogger(__name__)

T = TypeVar("T")

CONNECTED = "connected"
DEGRADED = "degraded"
DOWN = "down"

COMPONENT_DATA = "market-data"
COMPONENT_TRADING = "trading"
COMPONENT_DATA_STREAM = "data-stream"
COMPONENT_TRADING_STREAM = "trading-stream"


class _ClockLike(Protocol):
    def now(self) -> datetime: ...


# ---------------------------------------------------------------------------- retry policy


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failed call is tried again.

    ``attempts`` counts tries (reads; writes go through the broker's idempotent path with the
    same count). The n-th wait is ``base_delay_s * multiplier**(n-1)``, capped at
    ``max_delay_s``, +/- ``jitter`` (a fraction) so many clients do not retry in lock step.
    ``timeout_s`` bounds one HTTP request (connect and each read).
    """

    attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    multiplier: float = 2.0
    jitter: float = 0.25
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {self.attempts}")
        if self.base_delay_s < 0 or self.max_delay_s < 0 or self.multiplier < 1:
            raise ValueError("delays must be >= 0 and the multiplier >= 1")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {self.jitter}")
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")

    def delay(self, failures: int, error: Classified | None = None) -> float:
        """Seconds to wait after the ``failures``-th failed try."""
        base = min(self.max_delay_s, self.base_delay_s * self.multiplier ** max(0, failures - 1))
        wait = base * (1.0 + self.jitter * (2.0 * random.random() - 1.0))
        if error is not None and error.retry_after_s is not None:
            # Alpaca said how long; never longer than our cap (a test fake may say 60 s).
            wait = max(wait, min(error.retry_after_s, self.max_delay_s))
        return max(0.0, wait)


# ---------------------------------------------------------------------------- rate limiter


class RateLimiter:
    """At most ``max_requests`` grants in any ``per_seconds`` window (thread-safe, blocking).

    Called from worker threads only (the adapter), so blocking there never stalls the loop.
    ``pause(s)`` holds every grant for ``s`` seconds (after a 429 the whole account waits).
    ``max_requests=0`` disables limiting.
    """

    def __init__(
        self,
        max_requests: int,
        per_seconds: float = 60.0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_requests < 0 or not per_seconds > 0:
            raise ValueError("max_requests must be >= 0 and per_seconds > 0")
        self.max_requests = max_requests
        self.per_seconds = per_seconds
        self._mono = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._grants: deque[float] = deque()
        self._paused_until = 0.0
        self.granted = 0
        self.waited_s = 0.0

    def _reserve(self) -> float:
        with self._lock:
            now = self._mono()
            t = max(now, self._paused_until)
            if self.max_requests:
                if len(self._grants) >= self.max_requests:
                    t = max(t, self._grants[0] + self.per_seconds)
                if self._grants:
                    t = max(t, self._grants[-1])  # grants stay in time order
                self._grants.append(t)
                while len(self._grants) > self.max_requests:
                    self._grants.popleft()
            self.granted += 1
            wait = t - now
            self.waited_s += wait
            return wait

    def acquire(self) -> float:
        """Block until a request may be sent; returns the seconds waited."""
        wait = self._reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, self._mono() + max(0.0, seconds))

    def expected_wait(self) -> float:
        """Roughly how long a request asked for now would wait (for call deadlines)."""
        with self._lock:
            now = self._mono()
            t = max(now, self._paused_until)
            if self.max_requests and len(self._grants) >= self.max_requests:
                t = max(t, self._grants[0] + self.per_seconds)
            return t - now


# ---------------------------------------------------------------------------- the adapter


class _CallToken:
    """Shared between an awaiting call and its worker thread: set when the call gave up."""

    __slots__ = ("abandoned",)

    def __init__(self) -> None:
        self.abandoned = False


_CALL: contextvars.ContextVar[_CallToken | None] = contextvars.ContextVar(
    "alpaca_call", default=None
)


class CallAbandoned(requests.exceptions.ConnectionError):
    """A page request not sent because its call already timed out."""


class BoundedAdapter(HTTPAdapter):
    """Puts a timeout on every request of a session and takes a rate-limiter slot first."""

    def __init__(self, timeout_s: float, limiter: RateLimiter | None, pool_maxsize: int = 16):
        super().__init__(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=0)
        self.timeout_s = timeout_s
        self.limiter = limiter

    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        token = _CALL.get()
        if token is not None and token.abandoned:
            raise CallAbandoned("request not sent: its call already gave up (time limit)")
        if self.limiter is not None:
            self.limiter.acquire()
            if token is not None and token.abandoned:
                raise CallAbandoned("request not sent: its call already gave up (time limit)")
        response = super().send(
            request,
            stream=stream,
            timeout=timeout if timeout is not None else (self.timeout_s, self.timeout_s),
            verify=verify,
            cert=cert,
            proxies=proxies,
        )
        # alpaca-py calls response.json(): big answers are decoded in steps (loop stays free).
        response.json = functools.partial(_stepwise_json, response)  # type: ignore[method-assign]
        return response


# ---------------------------------------------------------------------------- JSON in steps

_DECODER = json.JSONDecoder()
_SCAN = _DECODER.scan_once  # the C scanner behind raw_decode, without its Python frame
_WS = re.compile(r"[ \t\n\r]*")
_WS_CHARS = " \t\n\r"
STEPWISE_JSON_BYTES = 64 * 1024
ONE_CALL_BYTES = 64 * 1024  # an array of leaves up to this size is decoded in one C call


def _skip(s: str, i: int) -> int:
    return _WS.match(s, i).end()  # type: ignore[union-attr]


def _value(s: str, i: int, depth: int, leaf: LeafArrays | None = None) -> tuple[Any, int]:
    i = _skip(s, i)
    c = s[i : i + 1]
    if depth and c == "{":
        obj: dict[str, Any] = {}
        i = _skip(s, i + 1)
        if s[i : i + 1] == "}":
            return obj, i + 1
        while True:
            key, i = _DECODER.raw_decode(s, i)
            i = _skip(s, i)
            if s[i : i + 1] != ":":
                raise ValueError(f"expected ':' at {i}")
            obj[key], i = _value(s, i + 1, depth - 1, leaf)
            i = _skip(s, i)
            c = s[i : i + 1]
            if c == ",":
                i = _skip(s, i + 1)
            elif c == "}":
                return obj, i + 1
            else:
                raise ValueError(f"expected ',' or '}}' at {i}")
    if depth and c == "[":
        if depth == 1:
            # An array of leaves (one symbol's bars in a page): one C call when it is short
            # (~300 daily bars, ~30 KB: well under a millisecond), which costs ~40% less CPU
            # than a call per leaf; leaf by leaf when it is long, so no call holds the GIL
            # for long. (The first ']' is the array's end when the leaves hold no ']' in a
            # string, as bars do not; if one did, only the size estimate would be off.)
            end = s.find("]", i)
            if 0 <= end - i <= ONE_CALL_BYTES:
                leaves, i = _DECODER.raw_decode(s, i)
            else:
                leaves, i = _leaf_array(s, _skip(s, i + 1), [])
            return (leaves if leaf is None else leaf(leaves)), i
        arr: list[Any] = []
        i = _skip(s, i + 1)
        if s[i : i + 1] == "]":
            return arr, i + 1
        while True:
            item, i = _value(s, i, depth - 1, leaf)
            arr.append(item)
            i = _skip(s, i)
            c = s[i : i + 1]
            if c == ",":
                i += 1
            elif c == "]":
                return arr, i + 1
            else:
                raise ValueError(f"expected ',' or ']' at {i}")
    return _DECODER.raw_decode(s, i)


def _leaf_array(s: str, i: int, arr: list[Any]) -> tuple[list[Any], int]:
    """The elements of an array (from ``i``, after ``[``), each decoded whole by the C
    scanner: the hot loop of a page of bars, kept free of Python-level calls."""
    scan = _SCAN
    append = arr.append
    n = len(s)
    if s[i : i + 1] == "]":
        return arr, i + 1
    while True:
        try:
            item, i = scan(s, i)
        except StopIteration:
            raise ValueError(f"expected a value at {i}") from None
        append(item)
        c = s[i] if i < n else ""
        if c in _WS_CHARS and c:
            i = _skip(s, i)
            c = s[i] if i < n else ""
        if c == ",":
            i += 1
            if i < n and s[i] in _WS_CHARS:
                i = _skip(s, i)
        elif c == "]":
            return arr, i + 1
        else:
            raise ValueError(f"expected ',' or ']' at {i}")


def loads_in_steps(text: str, depth: int = 3, leaf: LeafArrays | None = None) -> Any:
    """``json.loads`` for big answers, in many small C calls instead of one long one.

    ``json.loads`` holds the GIL for its whole run: 15-40 ms for a 1 MB page of 10 000 bars,
    during which the event loop thread cannot run (measured: it made the loop stall for
    300 ms with four pages decoding in turn). Here the top ``depth`` levels (an object of
    symbols, each an array of bars) are walked in Python, which lets other threads in every
    few milliseconds; an array of leaves up to ``ONE_CALL_BYTES`` (a symbol's bars in a page)
    is decoded by one call of the C scanner, a longer one leaf (one bar) at a time. Same
    result as ``json.loads`` (a ValueError on bad input), for about its CPU time (1.7 times
    it when every array is long). ``leaf``, if given, replaces each array of leaves by what it
    returns for it, as soon as it is decoded.
    """
    value, end = _value(text, 0, depth, leaf)
    if _skip(text, end) != len(text):
        raise json.JSONDecodeError("Extra data", text, end)
    return value


#: Held by a worker thread while it does long CPU-bound Python work (decoding a big answer,
#: converting bars, the cache's pandas work). Several requests may wait on the network at
#: once, but only one thread at a time competes with the event loop for the GIL: with two or
#: more busy threads the loop thread can lose the GIL hand-over several times in a row
#: (measured: 100-160 ms stalls on a loaded 2-core machine; under 30 ms with this lock).
HEAVY = threading.Lock()


LeafArrays = Callable[[list[Any]], Any]
#: Set around one SDK call in its worker thread (:func:`with_leaf_arrays`): every array of
#: leaves of its answers (one symbol's bars in a page) is handed to this converter as soon as
#: it is decoded, so a page's thousands of small dicts never outlive the page. (Kept, they
#: pushed the collector into full collections during a fetch, each holding the GIL.)
_LEAF_ARRAYS: contextvars.ContextVar[LeafArrays | None] = contextvars.ContextVar(
    "alpaca_leaf_arrays", default=None
)


def with_leaf_arrays(convert: LeafArrays, call: Callable[[], T]) -> T:
    """``call()`` with ``convert`` applied to the arrays of leaves of its JSON answers."""
    token = _LEAF_ARRAYS.set(convert)
    try:
        return call()
    finally:
        _LEAF_ARRAYS.reset(token)


def _stepwise_json(response: requests.Response, **kwargs: Any) -> Any:
    leaf = _LEAF_ARRAYS.get()
    if kwargs or (leaf is None and len(response.content) < STEPWISE_JSON_BYTES):
        return requests.Response.json(response, **kwargs)
    text = response.text
    try:
        with HEAVY:
            return loads_in_steps(text, leaf=leaf)
    except ValueError as exc:
        raise requests.exceptions.JSONDecodeError(str(exc), text[:100], 0) from exc


def bound_client(client: Any, timeout_s: float, limiter: RateLimiter | None) -> Any:
    """Switch off an alpaca-py REST client's own retries and bound its requests (in place).

    alpaca-py 0.44 ``RESTClient`` keeps its retry settings in ``_retry`` (extra tries),
    ``_retry_wait`` (a blocking sleep in seconds) and ``_retry_codes`` (429, 504), and its
    ``requests.Session`` in ``_session``.
    """
    client._retry = 0
    client._retry_wait = 0
    client._retry_codes = []
    adapter = BoundedAdapter(timeout_s, limiter)
    client._session.mount("http://", adapter)
    client._session.mount("https://", adapter)
    return client


def _run_with_token(token: _CallToken, fn: Callable[[], T]) -> T:
    _CALL.set(token)  # this worker's context is a copy: the setting dies with the call
    return fn()


# ---------------------------------------------------------------------------- state + auth


class Publisher:
    """Delivers events to handlers and an optional event bus, on the caller's thread."""

    def __init__(self, bus: Any | None = None) -> None:
        self.bus = bus
        self._handlers: list[Callable[[Event], None]] = []

    def subscribe(self, handler: Callable[[Event], None]) -> Callable[[], None]:
        self._handlers.append(handler)

        def unsubscribe() -> None:
            if handler in self._handlers:
                self._handlers.remove(handler)

        return unsubscribe

    def publish(self, event: Event) -> None:
        for handler in tuple(self._handlers):
            try:
                handler(event)
            except Exception:  # a broken subscriber must not break the adapter
                log.exception("event handler %r failed on %s", handler, type(event).__name__)
        if self.bus is not None:
            self.bus.publish(event)


class ConnectionMonitor:
    """The connection state of each component; publishes ConnectionStateChanged on changes.

    An event goes out when a component's state changes, and when it stays ``down`` for a new
    reason (the user should see the latest one).
    """

    def __init__(self, publisher: Publisher, clock: _ClockLike) -> None:
        self._publisher = publisher
        self._clock = clock
        self._states: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()  # set() is called from the loop thread only; cheap anyway

    def state(self, component: str) -> str | None:
        entry = self._states.get(component)
        return entry[0] if entry else None

    def detail(self, component: str) -> str:
        entry = self._states.get(component)
        return entry[1] if entry else ""

    def states(self) -> dict[str, str]:
        return {c: s for c, (s, _) in self._states.items()}

    def set(self, component: str, state: str, detail: str = "") -> None:
        with self._lock:
            old = self._states.get(component)
            if old is not None and old[0] == state and (state != DOWN or old[1] == detail):
                return
            self._states[component] = (state, detail)
        if state == CONNECTED:
            log.info("%s: connected", component)
        else:
            log.warning("%s: %s%s", component, state, f" ({detail})" if detail else "")
        self._publisher.publish(ConnectionStateChanged(self._clock.now(), component, state, detail))


class AuthGate:
    """Once Alpaca refuses the keys, every call fails at once with the same message."""

    def __init__(self) -> None:
        self._message: str | None = None

    @property
    def tripped(self) -> bool:
        return self._message is not None

    @property
    def message(self) -> str | None:
        return self._message

    def check(self) -> None:
        if self._message is not None:
            raise AlpacaAuthError(self._message)

    def trip(self, message: str) -> AlpacaAuthError:
        if self._message is None:
            self._message = message
            log.error("%s", message)
        return AlpacaAuthError(self._message)


# ---------------------------------------------------------------------------- the caller


class RestCaller:
    """Runs SDK calls of one component in threads, with deadlines, state and retries."""

    def __init__(
        self,
        component: str,
        policy: RetryPolicy,
        limiter: RateLimiter,
        monitor: ConnectionMonitor,
        auth: AuthGate,
        auth_message: Callable[[Classified], str],
    ) -> None:
        self.component = component
        self.policy = policy
        self.limiter = limiter
        self.monitor = monitor
        self.auth = auth
        self._auth_message = auth_message
        self.calls = 0  # SDK calls started (for tests and the bench)

    def _deadline(self, requests_expected: int) -> float:
        # Each HTTP request is bounded by the adapter's timeout (connect + read); the overall
        # deadline only catches what slips through (a server trickling bytes forever).
        per_request = 2 * self.policy.timeout_s
        return per_request * max(1, requests_expected) + self.limiter.expected_wait() + 1.0

    async def attempt(self, what: str, fn: Callable[[], T], *, requests_expected: int = 1) -> T:
        """One try of ``fn`` in a worker thread. Raises AlpacaRequestError (classified),
        AlpacaAuthError for refused keys; anything unclassifiable propagates (a bug)."""
        self.auth.check()
        token = _CallToken()
        self.calls += 1
        try:
            result = await asyncio.wait_for(
                asyncio.to_thread(_run_with_token, token, fn), self._deadline(requests_expected)
            )
        except BaseException as exc:
            token.abandoned = True
            if isinstance(exc, asyncio.CancelledError):
                raise
            error = classify(exc)
            if error is None:
                raise
            if error.kind is ErrorKind.AUTH:
                self.monitor.set(self.component, DOWN, "API keys refused")
                raise self.auth.trip(self._auth_message(error)) from None
            if error.kind is ErrorKind.RATE_LIMIT:
                # The whole account is over its budget: hold every request, not just this one.
                self.limiter.pause(self.policy.delay(1, error))
            if error.retryable:
                self.monitor.set(self.component, DEGRADED, f"{what}: {error.describe()}")
            else:
                self.monitor.set(self.component, CONNECTED)  # it answered, just said no
            raise AlpacaRequestError(what, error) from exc
        self.monitor.set(self.component, CONNECTED)
        return result

    async def backoff(self, failures: int, error: Classified) -> None:
        await asyncio.sleep(self.policy.delay(failures, error))

    def give_up(self, what: str, error: Classified, attempts: int) -> AlpacaRequestError:
        """Mark the component down after the last retry; returns the error to raise."""
        self.monitor.set(
            self.component, DOWN, f"{what}: {error.describe()} ({attempts} tries, giving up)"
        )
        return AlpacaRequestError(what, error, attempts)

    async def read(
        self,
        what: str,
        fn: Callable[[], T],
        *,
        requests_expected: int = 1,
        attempts: int | None = None,
        retry_not_found: bool = False,
    ) -> T:
        """``fn`` (a read: safe to repeat), retried on 429/5xx/network/timeouts with backoff."""
        tries = attempts or self.policy.attempts
        for n in range(1, tries + 1):
            try:
                return await self.attempt(what, fn, requests_expected=requests_expected)
            except AlpacaRequestError as exc:
                err = exc.error
                retry = err.retryable or (retry_not_found and err.kind is ErrorKind.NOT_FOUND)
                if not retry:
                    raise
                if n == tries:
                    raise self.give_up(what, err, tries) from exc
                await self.backoff(n, err)
        raise AssertionError("unreachable")  # pragma: no cover
