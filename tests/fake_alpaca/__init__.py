"""A fake Alpaca (REST, market-data and trading websockets) on loopback for the test suite.

Tests drive it through ``FakeAlpacaState``; ``FakeAlpacaServer`` serves a state on one port;
``tests.fake_alpaca.fixture.fake_alpaca`` is the pytest fixture; ``python -m tests.fake_alpaca``
runs one for a person to point the app at.
"""

from __future__ import annotations

from tests.fake_alpaca.models import AlpacaError, FakeAccount, FakeAsset
from tests.fake_alpaca.server import FakeAlpacaServer
from tests.fake_alpaca.state import (
    DEFAULT_KEY_ID,
    DEFAULT_NOW,
    DEFAULT_SECRET_KEY,
    FakeAlpacaState,
    RequestRecord,
)

__all__ = [
    "DEFAULT_KEY_ID",
    "DEFAULT_NOW",
    "DEFAULT_SECRET_KEY",
    "AlpacaError",
    "FakeAccount",
    "FakeAlpacaServer",
    "FakeAlpacaState",
    "FakeAsset",
    "RequestRecord",
]
