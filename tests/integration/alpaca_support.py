"""Helpers for the Alpaca adapter tests (tests/integration/test_alpaca_*.py): a settable clock,
a session pointed at the fake Alpaca with short timeouts and backoffs, universe bar frames,
the orders the tests place."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import threading
import traceback
from collections.abc import Awaitable, Callable, Iterable
from datetime import date, datetime
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from tests.fake_alpaca import FakeAlpacaServer
from tests.fake_alpaca.sessions import xnys
from tests.fake_alpaca.wire import NY
from workstation.alpaca.endpoints import resolve_endpoints
from workstation.alpaca.keys import Credentials
from workstation.alpaca.rest import RetryPolicy
from workstation.alpaca.session import AlpacaSession
from workstation.core.events import ConnectionStateChanged, Event
from workstation.core.models import (
    OrderIntent,
    OrderRequest,
    OrderSide,
    OrderType,
    TimeInForce,
    client_order_id,
)

T = TypeVar("T")

# Short everything: a test must fail fast, never wait out production backoffs.
FAST_RETRY = RetryPolicy(
    attempts=4, base_delay_s=0.01, max_delay_s=0.05, multiplier=2.0, jitter=0.0, timeout_s=2.0
)
FAST_RECONNECT = (0.05, 0.2)

#: The session the order tests place their orders in (a Monday).
MON = date(2024, 6, 3)


def cid(symbol: str, intent: OrderIntent = OrderIntent.ENTRY, seq: int = 0) -> str:
    return client_order_id(MON, symbol, "test", intent, seq)


def buy(symbol: str, qty: int, tif: TimeInForce = TimeInForce.DAY) -> OrderRequest:
    return OrderRequest(cid(symbol), symbol, OrderSide.BUY, qty, tif=tif, strategy="test")


def stop(symbol: str, qty: int, price: float, seq: int = 0) -> OrderRequest:
    """A protective sell stop (GTC) of a long position."""
    return OrderRequest(
        cid(symbol, OrderIntent.STOP, seq),
        symbol,
        OrderSide.SELL,
        qty,
        type=OrderType.STOP,
        tif=TimeInForce.GTC,
        stop_price=price,
        intent=OrderIntent.STOP,
        strategy="test",
    )


class SetClock:
    """A clock the test moves by hand (the adapters only call ``now()``)."""

    def __init__(self, t: datetime) -> None:
        self.t = t

    def now(self) -> datetime:
        return self.t


class FakeTime:
    """A clock that reads the fake Alpaca's clock: the adapter and the fake agree on "now"."""

    def __init__(self, fake: FakeAlpacaServer) -> None:
        self.state = fake.state

    def now(self) -> datetime:
        return self.state.now


def make_session(
    fake: FakeAlpacaServer,
    clock: SetClock | FakeTime | None = None,
    *,
    retry: RetryPolicy = FAST_RETRY,
    secret: str | None = None,
    feed: str = "iex",
    requests_per_minute: int = 180,
    rate_window_s: float = 60.0,
) -> AlpacaSession:
    from workstation.core.config import AlpacaConfig

    env = fake.env()
    endpoints = resolve_endpoints(AlpacaConfig(feed=feed), "paper", env=env)
    creds = Credentials(fake.key_id, secret if secret is not None else fake.secret_key)
    return AlpacaSession(
        creds,
        endpoints,
        retry=retry,
        clock=clock or FakeTime(fake),
        requests_per_minute=requests_per_minute,
        rate_window_s=rate_window_s,
    )


def sessions_until(end: date, n: int) -> list[date]:
    return [s.day for s in xnys().between(date(2015, 1, 1), end)][-n:]


def bar_frame(symbols: Iterable[str], days: list[date], seed: int = 1) -> pd.DataFrame:
    """Daily bars for ``symbols`` on ``days``: a distinct, reproducible price path each."""
    syms = list(symbols)
    rng = np.random.default_rng(seed)
    n = len(days)
    base = 20.0 + 3.0 * np.arange(len(syms))[:, None]
    close = base * np.exp(np.cumsum(rng.normal(0, 0.01, (len(syms), n)), axis=1))
    close = np.round(close, 2)
    return pd.DataFrame(
        {
            "symbol": np.repeat(syms, n),
            "date": np.tile(np.array(days, dtype="datetime64[D]"), len(syms)),
            "open": np.round(close * 0.995, 2).ravel(),
            "high": np.round(close * 1.01, 2).ravel(),
            "low": np.round(close * 0.99, 2).ravel(),
            "close": close.ravel(),
            "volume": np.round(rng.uniform(1e5, 1e7, close.shape)).ravel(),
        }
    )


def run(coro_fn: Callable[[], Awaitable[T]], timeout: float = 60.0) -> T:
    async def main() -> T:
        return await asyncio.wait_for(coro_fn(), timeout)

    return asyncio.run(main())


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


class Recorder:
    """Collects events; ``states(component)`` is the sequence of connection states."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def states(self, component: str) -> list[str]:
        return [e.state for e in self.of(ConnectionStateChanged) if e.component == component]

    def details(self, component: str) -> list[str]:
        return [e.detail for e in self.of(ConnectionStateChanged) if e.component == component]


def at_ny(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=NY)


# ---------------------------------------------------------------------------- a remote fake


def _remote_main(conn: Any) -> None:
    from tests.fake_alpaca import FakeAlpacaServer, FakeAlpacaState

    server = FakeAlpacaServer(FakeAlpacaState()).start()
    conn.send(server.env())
    while True:
        op, name, args, kwargs = conn.recv()
        if op == "stop":
            server.stop()
            conn.send((True, None))
            return
        try:
            if op == "call":
                value = getattr(server.state, name)(*args, **kwargs)
            else:  # "get": a dotted attribute path of the state
                value = server.state
                for part in name.split("."):
                    value = getattr(value, part)
            conn.send((True, value))
        except Exception:
            conn.send((False, traceback.format_exc()))


class RemoteFake:
    """The fake Alpaca in a child process, driven through its state's methods over a pipe.

    For measurements of this process's event loop: a fake in a thread here would compete for
    the GIL (its JSON encoding), which the real Alpaca never does."""

    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._lock = threading.Lock()
        self._proc = ctx.Process(target=_remote_main, args=(child,), daemon=True)
        self._proc.start()
        self.env: dict[str, str] = self._conn.recv()
        self.key_id = self.env["APCA_API_KEY_ID"]
        self.secret_key = self.env["APCA_API_SECRET_KEY"]

    def _ask(self, op: str, name: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self._conn.send((op, name, args, kwargs))
            ok, value = self._conn.recv()
        if not ok:
            raise RuntimeError(f"remote fake: {name} failed:\n{value}")
        return value

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._ask("call", name, *args, **kwargs)

    def get(self, path: str) -> Any:
        return self._ask("get", path)

    def close(self) -> None:
        if self._proc.is_alive():
            self._ask("stop", "")
            self._proc.join(10)
