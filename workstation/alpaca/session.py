"""One Alpaca account as the app uses it: keys, endpoints and the plumbing shared by the
market (data) and the broker (trading).

Shared per account, because Alpaca counts per account: the rate limiter (HTTP requests per
minute), the auth gate (once the keys are refused, nothing is sent any more), and the
connection monitor (the GUI's connected/degraded/down per component).

Build one with :meth:`AlpacaSession.from_config` (keys from the environment or keyring) or
directly from :class:`~workstation.alpaca.keys.Credentials` and
:class:`~workstation.alpaca.endpoints.Endpoints`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from alpaca.data.historical import StockHistoricalDataClient
from alpaca.trading.client import TradingClient

from workstation.alpaca.endpoints import Endpoints, resolve_endpoints
from workstation.alpaca.errors import Classified, ErrorKind
from workstation.alpaca.keys import (
    ENV_KEY_ID,
    ENV_SECRET_KEY,
    SERVICE,
    Credentials,
    load_credentials,
)
from workstation.alpaca.rest import (
    COMPONENT_DATA,
    COMPONENT_TRADING,
    AuthGate,
    ConnectionMonitor,
    Publisher,
    RateLimiter,
    RestCaller,
    RetryPolicy,
    _ClockLike,
    bound_client,
)
from workstation.core.config import AlpacaConfig
from workstation.core.events import Event

log = logging.getLogger(__name__)


class AlpacaSession:
    """Credentials, endpoints and the shared limiter / auth gate / monitor of one account."""

    def __init__(
        self,
        credentials: Credentials,
        endpoints: Endpoints,
        *,
        retry: RetryPolicy | None = None,
        requests_per_minute: int = 180,
        rate_window_s: float = 60.0,
        clock: _ClockLike | None = None,
        bus: Any | None = None,
    ) -> None:
        if not 0 <= requests_per_minute <= 200:
            raise ValueError(
                f"requests_per_minute must be within 0..200 (Alpaca's limit), "
                f"got {requests_per_minute}"
            )
        if clock is None:
            from workstation.core.clock import WallClock

            clock = WallClock()
        self.credentials = credentials
        self.endpoints = endpoints
        self.retry = retry or RetryPolicy()
        self.clock = clock
        self.publisher = Publisher(bus)
        self.monitor = ConnectionMonitor(self.publisher, clock)
        self.limiter = RateLimiter(requests_per_minute, rate_window_s)
        self.auth = AuthGate()
        self._trading_client: TradingClient | None = None
        self._data_client: StockHistoricalDataClient | None = None
        self.trading_rest = RestCaller(
            COMPONENT_TRADING, self.retry, self.limiter, self.monitor, self.auth, self.auth_message
        )
        self.data_rest = RestCaller(
            COMPONENT_DATA, self.retry, self.limiter, self.monitor, self.auth, self.auth_message
        )

    @classmethod
    def from_config(
        cls,
        config: AlpacaConfig | None = None,
        *,
        mode: str = "paper",
        confirm_live: bool = False,
        credentials: Credentials | None = None,
        env: Mapping[str, str] | None = None,
        use_keyring: bool = True,
        retry: RetryPolicy | None = None,
        clock: _ClockLike | None = None,
        bus: Any | None = None,
    ) -> AlpacaSession:
        """Endpoints from ``config`` + environment, keys from the environment or keyring.

        ``mode="live"`` requires ``confirm_live=True`` (LiveTradingNotConfirmed otherwise).
        """
        cfg = config or AlpacaConfig()
        endpoints = resolve_endpoints(cfg, mode, confirm_live=confirm_live, env=env)
        creds = credentials or load_credentials(mode, env=env, use_keyring=use_keyring)
        policy = retry or RetryPolicy(timeout_s=cfg.timeout_s)
        return cls(
            creds,
            endpoints,
            retry=policy,
            requests_per_minute=cfg.requests_per_minute,
            clock=clock,
            bus=bus,
        )

    # ------------------------------------------------------------------ properties
    @property
    def live(self) -> bool:
        return self.endpoints.live

    @property
    def mode(self) -> str:
        return self.endpoints.mode

    @property
    def feed(self) -> str:
        return self.endpoints.feed

    def on_event(self, handler: Callable[[Event], None]) -> Callable[[], None]:
        """ConnectionStateChanged (and calendar warnings) go to ``handler``; returns unsubscribe."""
        return self.publisher.subscribe(handler)

    def publish(self, event: Event) -> None:
        self.publisher.publish(event)

    def auth_message(self, error: Classified) -> str:
        """The one message for refused keys: what, which account, what to do. No secret."""
        host = urlsplit(self.endpoints.trading_url).netloc
        return (
            f"Alpaca refused the API keys (key id {self.credentials.masked_key_id}, "
            f"{self.mode} account at {host}; keys from {self.credentials.source}): "
            f"{error.describe()}. Check {ENV_KEY_ID} / {ENV_SECRET_KEY} or the keyring "
            f"service {SERVICE!r}; paper and live accounts have different keys."
        )

    def auth_message_for_stream(self, answer: str) -> str:
        """The refused-keys message for a websocket's authentication answer."""
        return self.auth_message(Classified(ErrorKind.AUTH, message=f"stream answered {answer!r}"))

    # ------------------------------------------------------------------ SDK clients
    @property
    def trading_client(self) -> TradingClient:
        """alpaca-py's TradingClient (raw JSON answers), retries off, requests bounded."""
        if self._trading_client is None:
            client = TradingClient(
                self.credentials.key_id,
                self.credentials.secret_key,
                paper=not self.live,
                raw_data=True,
                url_override=self.endpoints.trading_url,
            )
            self._trading_client = bound_client(client, self.retry.timeout_s, self.limiter)
        return self._trading_client

    @property
    def data_client(self) -> StockHistoricalDataClient:
        """alpaca-py's StockHistoricalDataClient (raw JSON answers), retries off, bounded."""
        if self._data_client is None:
            client = StockHistoricalDataClient(
                self.credentials.key_id,
                self.credentials.secret_key,
                raw_data=True,
                url_override=self.endpoints.data_url,
            )
            self._data_client = bound_client(client, self.retry.timeout_s, self.limiter)
        return self._data_client

    def close(self) -> None:
        """Close the HTTP connection pools."""
        for client in (self._trading_client, self._data_client):
            if client is not None:
                client._session.close()

    def __repr__(self) -> str:
        return (
            f"AlpacaSession({self.mode}, key_id={self.credentials.masked_key_id!r}, "
            f"trading={self.endpoints.trading_url!r}, data={self.endpoints.data_url!r}, "
            f"feed={self.feed!r})"
        )
