"""``workstation run --headless --mode paper`` is wired to Alpaca (the fake Alpaca on loopback):
it reconciles the paper account with the store before any trading, and refuses to trade while
they disagree (differences printed, exit 3). A whole paper session runs on the wall clock, so
it is not run here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_alpaca import FakeAlpacaServer, FakeAlpacaState
from workstation.cli import main


@pytest.fixture
def fake() -> Iterator[FakeAlpacaServer]:
    server = FakeAlpacaServer(FakeAlpacaState()).start()
    try:
        yield server
    finally:
        server.stop()


def test_paper_mode_reconciles_with_the_alpaca_account_first(
    tmp_path: Path,
    fake: FakeAlpacaServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for k, v in fake.env().items():
        monkeypatch.setenv(k, v)
    fake.state.set_position("AAPL", 10, 190.0)  # bought outside the app
    home = tmp_path / "home"
    rc = main(["--home", str(home), "run", "--headless", "--mode", "paper", "--sessions", "1"])
    err = capsys.readouterr().err
    assert rc == 3, err
    assert "the store and the broker disagree (1 difference)" in err
    assert "position_only_at_broker: the broker holds +10 AAPL @ 190" in err
    assert fake.state.orders() == []  # nothing was sent


def test_paper_mode_without_keys_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for k in ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    home = tmp_path / "home"
    rc = main(["--home", str(home), "run", "--headless", "--mode", "paper"])
    err = capsys.readouterr().err
    assert rc != 0 and err.count("\n") == 1 and "no Alpaca paper keys" in err


def test_live_mode_is_refused_headless(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--home", str(tmp_path / "home"), "run", "--headless", "--mode", "live"])
    assert rc == 2 and "live trading from the headless runner needs --confirm-live" in (
        capsys.readouterr().err
    )
