"""The ``fake_alpaca`` pytest fixture: a fresh fake Alpaca server per test.

Import it into a conftest (``from tests.fake_alpaca.fixture import fake_alpaca  # noqa: F401``)
or list ``tests.fake_alpaca.fixture`` in ``pytest_plugins``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fake_alpaca.server import FakeAlpacaServer
from tests.fake_alpaca.state import FakeAlpacaState


@pytest.fixture
def fake_alpaca() -> Iterator[FakeAlpacaServer]:
    """A started FakeAlpacaServer on 127.0.0.1 (free port). Drive it with ``.state``; point
    clients at ``.base_url``, ``.data_stream_url``, ``.trading_stream_url`` with
    ``.key_id``/``.secret_key`` (or ``.env()`` for the APCA_* variables). The clock starts
    frozen at DEFAULT_NOW (2024-06-03 08:00 New York, before the open)."""
    server = FakeAlpacaServer(FakeAlpacaState()).start()
    try:
        yield server
    finally:
        server.stop()
