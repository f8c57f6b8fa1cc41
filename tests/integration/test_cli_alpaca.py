"""`workstation --market alpaca ...` through the real alpaca-py against the fake Alpaca."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.fake_alpaca.fixture import fake_alpaca  # noqa: F401
from tests.fake_alpaca.server import FakeAlpacaServer
from workstation.cli import main
from workstation.core.calendar import ET, get_calendar

SECTORS = ["Energy", "Utilities", "Financials", "Industrials", "Health Care"]


@pytest.fixture
def alpaca_home(
    tmp_path: Path,
    fake_alpaca: FakeAlpacaServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Path, Path, str]:
    """A home, a 25-symbol universe file, and the fake holding 300 daily bars of each symbol
    and SPY up to the last session completed at the wall clock's now."""
    cal = get_calendar()
    now = datetime.now(ET)
    last = cal.last_completed_session(now)
    days = cal.sessions_back(last, 300)
    rng = np.random.default_rng(5)
    symbols = [f"S{i:02d}" for i in range(25)]
    rows = []
    for sym in [*symbols, "SPY"]:
        close = 50 * np.exp(np.cumsum(rng.normal(0.0004, 0.015, len(days))))
        for d, c in zip(days, close, strict=True):
            rows.append(
                {
                    "t": pd.Timestamp(d).tz_localize(ET),
                    "symbol": sym,  # as Alpaca: 00:00 ET
                    "open": c * 0.999,
                    "high": c * 1.01,
                    "low": c * 0.99,
                    "close": c,
                    "volume": 2_000_000.0,
                }
            )
    fake_alpaca.state.set_now(now)
    fake_alpaca.state.set_bars_frame(pd.DataFrame(rows), "1Day")
    universe = tmp_path / "universe.csv"
    pd.DataFrame(
        {"symbol": symbols, "sector": [SECTORS[i % len(SECTORS)] for i in range(25)]}
    ).to_csv(universe, index=False)
    for k, v in fake_alpaca.env().items():
        monkeypatch.setenv(k, v)
    return tmp_path / "home", universe, last.isoformat()


def test_scan_on_alpaca_data(
    alpaca_home: tuple[Path, Path, str],
    fake_alpaca: FakeAlpacaServer,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    home, universe, last = alpaca_home
    argv = [
        "--home",
        str(home),
        "--market",
        "alpaca",
        "--universe",
        str(universe),
        "scan",
        "--json",
    ]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["session"] == last
    assert doc["report"]["loaded"] == 25 and doc["report"]["stale"] == 0
    first = fake_alpaca.state.request_count(path="/v2/stocks/bars")
    assert first >= 1
    # The bar cache makes the second scan ask for at most the last session again.
    assert main(argv) == 0
    capsys.readouterr()
    assert fake_alpaca.state.request_count(path="/v2/stocks/bars") - first <= 1


def test_bad_keys_are_one_clear_line(
    alpaca_home: tuple[Path, Path, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home, universe, _ = alpaca_home
    monkeypatch.setenv("APCA_API_SECRET_KEY", "wrong-secret-0123456789abcdef")
    rc = main(
        [
            "--home",
            str(home),
            "--market",
            "alpaca",
            "--universe",
            str(universe),
            "market",
            "bars",
            "S01",
        ]
    )
    err = capsys.readouterr().err
    assert rc != 0 and err.count("\n") == 1
    assert "wrong-secret" not in err


def test_live_mode_is_refused_without_confirmation(
    alpaca_home: tuple[Path, Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    home, universe, _ = alpaca_home
    rc = main(
        [
            "--home",
            str(home),
            "--market",
            "alpaca",
            "--mode",
            "live",
            "--universe",
            str(universe),
            "scan",
        ]
    )
    err = capsys.readouterr().err
    assert rc != 0 and "live needs an explicit confirmation" in err
