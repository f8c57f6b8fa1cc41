"""The Broker protocol: what every broker (simulated, Alpaca) offers the engines."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from workstation.core.events import Event
from workstation.core.models import Account, Asset, Order, OrderRequest


class BrokerError(RuntimeError):
    """The broker refused or failed a request; ``reason`` is the broker's own words."""

    def __init__(self, message: str, reason: str = "", retryable: bool = False) -> None:
        super().__init__(message)
        self.reason = reason or message
        self.retryable = retryable


class OrderRejected(BrokerError):
    """The broker rejected an order (never retried blindly)."""


@runtime_checkable
class Broker(Protocol):
    name: str

    async def account(self) -> Account: ...

    async def positions(self) -> dict[str, tuple[int, float]]:
        """Open positions: symbol -> (signed qty, average entry price)."""
        ...

    async def open_orders(self) -> list[Order]: ...

    async def asset(self, symbol: str) -> Asset: ...

    async def submit(self, request: OrderRequest) -> Order:
        """Place ``request``, idempotently: if an order with its client order id exists,
        return that order instead of placing another. Raises OrderRejected."""
        ...

    async def order_by_client_id(self, client_order_id: str) -> Order | None: ...

    async def replace_stop(
        self,
        client_order_id: str,
        stop_price: float,
        new_client_order_id: str,
        qty: int | None = None,
    ) -> Order: ...

    async def cancel(self, client_order_id: str) -> None: ...

    def on_event(self, handler: Callable[[Event], None]) -> None:
        """Order updates and fills (OrderUpdated / OrderFilled events) go to ``handler``."""
        ...
