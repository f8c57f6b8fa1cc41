"""``workstation run --headless --mode paper`` is wired to Alpaca (the fake Alpaca on loopback):
it reconciles the paper account with the store before any trading, and refuses to trade while
they disagree (differences printed, exit 3). A whole paper session runs on the wall clock, so
it is not run here."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.fake_alpaca import FakeAlpacaServer, FakeAlpacaState
from workstation.cli import main
from workstation.core.calendar import ET
from workstation.store import Store


@pytest.fixture
def fake() -> Iterator[FakeAlpacaServer]:
    # The paper runner trades on this computer's clock: the fake's runs with it.
    server = FakeAlpacaServer(FakeAlpacaState(now=datetime.now(ET), clock_running=True)).start()
    try:
        yield server
    finally:
        server.stop()


def _paper_run(home: Path, fake: FakeAlpacaServer, monkeypatch: pytest.MonkeyPatch) -> int:
    for k, v in fake.env().items():
        monkeypatch.setenv(k, v)
    return main(["--home", str(home), "run", "--headless", "--mode", "paper", "--sessions", "1"])


def test_paper_mode_reconciles_with_the_alpaca_account_first(
    tmp_path: Path,
    fake: FakeAlpacaServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake.state.set_position("AAPL", 10, 190.0)  # bought outside the app
    home = tmp_path / "home"
    rc = _paper_run(home, fake, monkeypatch)
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


@pytest.mark.parametrize(
    ("offset", "refused"),
    [
        (timedelta(seconds=-31), True),  # the broker is behind: this computer is fast
        (timedelta(minutes=10), True),
        (timedelta(days=-900), True),  # the fake's usual 2024 date: every step "missed"
        (timedelta(seconds=20), False),  # apart, under the timetable's 30 s: warned
    ],
    ids=["31s-fast", "10min-slow", "900-days", "20s-warned"],
)
def test_a_broker_clock_elsewhere_is_named_at_start(
    tmp_path: Path,
    fake: FakeAlpacaServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    offset: timedelta,
    refused: bool,
) -> None:
    """Issue 12.8: with the broker's clock elsewhere, scans failed as "stale data" and the
    run reported every step "missed"; the clocks are compared first and the run refuses
    (one line naming both clocks, exit 2, nothing sent) beyond the timetable's slack."""
    fake.state.set_now(datetime.now(ET) + offset, running=True)
    fake.state.set_position("AAPL", 10, 190.0)  # a difference: the run stops there if it goes on
    home = tmp_path / "home"
    rc = _paper_run(home, fake, monkeypatch)
    err = capsys.readouterr().err
    assert fake.state.orders() == []
    store = Store.open(home / "data" / "workstation.db")
    try:
        [row] = store.audit_log(action="clock.checked", limit=None)
    finally:
        store.close()
    assert row.detail is not None
    assert row.detail["offset_s"] == pytest.approx(offset.total_seconds(), abs=2.0)
    if refused:
        assert rc == 2, err
        assert err.count("\n") == 1, err
        assert "Alpaca's clock reads" in err and "this computer's" in err
        assert "set the system clock (NTP)" in err and "nothing was traded" in err
        assert row.detail["verdict"] == "refused"
    else:
        assert rc == 3, err  # on to the reconciliation, which finds AAPL
        assert row.detail["verdict"] == "apart"
        log = (home / "data" / "logs" / "run.jsonl").read_text(encoding="utf-8")
        assert "this computer is 20 s slow" in log
