"""Keys (environment, OS keyring, masking) and endpoints (defaults, app.yaml, environment)."""

# The fixture is imported, and pytest injects it by parameter name: F811 is expected here.
# ruff: noqa: F811

from __future__ import annotations

import logging
from collections.abc import Iterator

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import NoKeyringError, PasswordDeleteError

from tests.fake_alpaca import FakeAlpacaServer
from tests.fake_alpaca.fixture import fake_alpaca  # noqa: F401
from tests.integration.alpaca_support import run
from workstation.alpaca.endpoints import (
    DATA_URL,
    PAPER_TRADING_STREAM_URL,
    PAPER_TRADING_URL,
    resolve_endpoints,
)
from workstation.alpaca.errors import AlpacaConfigError
from workstation.alpaca.keys import (
    SERVICE,
    AlpacaKeysMissing,
    Credentials,
    delete_from_keyring,
    load_credentials,
    save_to_keyring,
)
from workstation.alpaca.session import AlpacaSession
from workstation.broker.alpaca import AlpacaBroker
from workstation.core.config import AlpacaConfig
from workstation.errors import UserError

SECRET = "s3cr3t-s3cr3t-s3cr3t-s3cr3t-0000000000"


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.data.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.data[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.data:
            raise PasswordDeleteError(username)
        del self.data[(service, username)]


class NoKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise NoKeyringError("no backend")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise NoKeyringError("no backend")

    def delete_password(self, service: str, username: str) -> None:
        raise NoKeyringError("no backend")


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    before = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    try:
        yield ring
    finally:
        keyring.set_keyring(before)


def test_credentials_never_show_the_secret(caplog: pytest.LogCaptureFixture) -> None:
    creds = Credentials("PKABCDEFGHIJ12345678", SECRET)
    for text in (repr(creds), str(creds), f"{creds}", f"{creds!r}", repr([creds])):
        assert SECRET not in text
        assert "PKAB…5678" in text
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("keys: %s %r", creds, creds)
    assert SECRET not in caplog.text
    session = AlpacaSession(creds, resolve_endpoints(None, "paper", env={}))
    assert SECRET not in repr(session)


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"APCA_API_KEY_ID": "PK1234567890"}, "APCA_API_SECRET_KEY is not set"),
        ({"APCA_API_SECRET_KEY": SECRET}, "APCA_API_KEY_ID is not set"),
        ({"APCA_API_KEY_ID": " ", "APCA_API_SECRET_KEY": SECRET}, "APCA_API_KEY_ID is not set"),
    ],
    ids=["no-secret", "no-key", "blank-key"],
)
def test_half_a_key_pair_in_the_environment_is_refused(env: dict[str, str], match: str) -> None:
    with pytest.raises(AlpacaKeysMissing, match=match) as info:
        load_credentials("paper", env=env, use_keyring=False)
    assert SECRET not in str(info.value)
    assert isinstance(info.value, UserError)


def test_keys_from_the_environment_win_over_the_keyring(memory_keyring: MemoryKeyring) -> None:
    save_to_keyring(Credentials("PKRINGKEY0000", "ring-secret-000000"), "paper")
    env = {"APCA_API_KEY_ID": "PKENVKEY00000", "APCA_API_SECRET_KEY": SECRET}
    creds = load_credentials("paper", env=env)
    assert (creds.key_id, creds.secret_key, creds.source) == ("PKENVKEY00000", SECRET, "env")
    ring = load_credentials("paper", env={})
    assert (ring.key_id, ring.source) == ("PKRINGKEY0000", "keyring")
    assert memory_keyring.data[(SERVICE, "paper/key_id")] == "PKRINGKEY0000"
    with pytest.raises(AlpacaKeysMissing, match="no Alpaca live keys"):
        load_credentials("live", env={})  # paper and live keys are stored apart
    delete_from_keyring("paper")
    delete_from_keyring("paper")  # already gone: fine
    with pytest.raises(AlpacaKeysMissing, match="autotrader-workstation"):
        load_credentials("paper", env={})


def test_half_a_pair_in_the_keyring_and_no_keyring_at_all(
    memory_keyring: MemoryKeyring,
) -> None:
    memory_keyring.set_password(SERVICE, "paper/key_id", "PKONLYKEY000")
    with pytest.raises(AlpacaKeysMissing, match="only half"):
        load_credentials("paper", env={})
    keyring.set_keyring(NoKeyring())
    with pytest.raises(AlpacaKeysMissing, match="APCA_API_KEY_ID"):
        load_credentials("paper", env={})
    with pytest.raises(AlpacaConfigError, match="cannot store"):
        save_to_keyring(Credentials("PK1234567890", SECRET), "paper")


def test_endpoints_defaults_settings_and_environment() -> None:
    default = resolve_endpoints(None, "paper", env={})
    assert default.trading_url == PAPER_TRADING_URL and default.data_url == DATA_URL
    assert default.stream_url == "wss://stream.data.alpaca.markets/v2/iex"
    assert default.trading_stream_url == PAPER_TRADING_STREAM_URL and not default.live
    cfg = AlpacaConfig(trading_url="http://proxy.local:8080/v2/", feed="sip")
    configured = resolve_endpoints(cfg, "paper", env={})
    assert configured.trading_url == "http://proxy.local:8080"  # no /v2: the SDK adds it
    assert configured.stream_url == "wss://stream.data.alpaca.markets/v2/sip"
    env = {
        "APCA_API_BASE_URL": "http://127.0.0.1:9/",
        "APCA_API_DATA_URL": "http://127.0.0.1:10",
        "APCA_API_STREAM_URL": "ws://127.0.0.1:11/v2/iex",
        "APCA_API_TRADING_STREAM_URL": "ws://127.0.0.1:12/stream",
    }
    overridden = resolve_endpoints(cfg, "paper", env=env)
    assert overridden.trading_url == "http://127.0.0.1:9"
    assert overridden.data_url == "http://127.0.0.1:10"
    assert overridden.stream_url == "ws://127.0.0.1:11/v2/iex"
    assert overridden.trading_stream_url == "ws://127.0.0.1:12/stream"
    with pytest.raises(AlpacaConfigError, match="APCA_API_STREAM_URL"):
        resolve_endpoints(None, "paper", env={"APCA_API_STREAM_URL": "http://wrong"})
    with pytest.raises(AlpacaConfigError, match="not valid"):
        resolve_endpoints(None, "demo", env={})


def test_a_session_from_the_environment_talks_to_the_fake(
    fake_alpaca: FakeAlpacaServer, memory_keyring: MemoryKeyring
) -> None:
    # The app's path: --market alpaca --mode paper with the APCA_* variables of the fake.
    session = AlpacaSession.from_config(
        AlpacaConfig(timeout_s=2.0), mode="paper", env=fake_alpaca.env()
    )
    assert session.credentials.source == "env" and session.retry.timeout_s == 2.0
    broker = AlpacaBroker(session)

    async def scenario() -> None:
        account = await broker.account()
        assert account.equity == 100_000.0

    run(scenario)
