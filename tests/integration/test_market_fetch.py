"""`workstation market fetch --market alpaca --years N` fills the bar cache through the real
alpaca-py against the fake Alpaca (paged, in chunks, resumable, incremental), and a backtest
then runs from the cache alone."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.fake_alpaca.fixture import fake_alpaca  # noqa: F401
from tests.fake_alpaca.server import FakeAlpacaServer
from tests.research.support import make_home
from workstation.cli import main
from workstation.core.calendar import ET, get_calendar

SECTORS = ["Energy", "Utilities", "Financials", "Industrials", "Health Care"]
N = 24
HISTORY = 420


def last_settled_session() -> date:
    """The fake's history ends at the last session the market treats as settled (closed 30
    minutes ago or more, AlpacaMarket's ``cache_settle``): a session closed minutes ago is
    fetched again by every call and never cached, by design, and a test run in the half hour
    after a close would otherwise count those bars (it failed at 16:20 ET)."""
    return get_calendar().last_completed_session(datetime.now(ET) - timedelta(minutes=30))


@pytest.fixture
def setup(
    tmp_path: Path,
    fake_alpaca: FakeAlpacaServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Path, Path, list[str]]:
    """A home, a universe file of N symbols, and the fake holding HISTORY daily bars of each
    (two symbols listed only recently) and of SPY, up to the last settled session."""
    cal = get_calendar()
    now = datetime.now(ET)
    days = cal.sessions_back(last_settled_session(), HISTORY)
    rng = np.random.default_rng(11)
    symbols = [f"S{i:02d}" for i in range(N)]
    rows = []
    for k, sym in enumerate([*symbols, "SPY"]):
        close = 40 * np.exp(np.cumsum(rng.normal(0.0005, 0.02, len(days))))
        start = 300 if k < 2 else 0  # S00 and S01 begin trading late
        for d, c in zip(days[start:], close[start:], strict=True):
            rows.append({"t": pd.Timestamp(d).tz_localize(ET), "symbol": sym, "open": c * 0.998,
                         "high": c * 1.02, "low": c * 0.98, "close": c,
                         "volume": 3_000_000.0})  # fmt: skip
    fake_alpaca.state.set_now(now)
    fake_alpaca.state.set_bars_frame(pd.DataFrame(rows), "1Day")
    universe = tmp_path / "universe.csv"
    pd.DataFrame({"symbol": symbols, "sector": [SECTORS[i % 5] for i in range(N)]}).to_csv(
        universe, index=False
    )
    for key, value in fake_alpaca.env().items():
        monkeypatch.setenv(key, value)
    home = make_home(tmp_path / "home", {"app.yaml": {"mode": "paper"}})
    return home, universe, [*symbols, "SPY"]


def _cached(home: Path) -> dict[str, int]:
    con = sqlite3.connect(home / "data" / "workstation.db")
    try:
        rows = con.execute("SELECT symbol, first_date, last_date FROM bar_series").fetchall()
    finally:
        con.close()
    return {s: 1 for s, _, _ in rows}


def _fetched(out: str) -> int:
    return int(out.split(" bars fetched now")[0].split(";")[-1].replace(",", "").strip())


def test_fetch_fills_the_cache_then_asks_only_what_is_new(
    setup: tuple[Path, Path, list[str]],
    fake_alpaca: FakeAlpacaServer,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    home, universe, _ = setup
    argv = ["--home", str(home), "--market", "alpaca", "--universe", str(universe), "market",
            "fetch", "--years", "1", "--chunk", "10"]  # fmt: skip
    state = fake_alpaca.state
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"{N + 1} of {N + 1} symbols have daily bars" in out
    assert _fetched(out) == (N - 1) * HISTORY + 2 * (HISTORY - 300)  # every bar there is
    assert len(_cached(home)) == N + 1
    assert state.request_count(prefix="/v2/stocks/bars") >= 3  # three chunks of symbols
    # Again: the cache reaches the last session; at most the last bar of each symbol is asked
    # again (to see that history was not re-adjusted meanwhile).
    assert main(argv) == 0
    assert _fetched(capsys.readouterr().out) <= N + 1


def test_an_interrupted_fetch_resumes_where_it_stopped(
    setup: tuple[Path, Path, list[str]],
    fake_alpaca: FakeAlpacaServer,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workstation.market.alpaca import AlpacaMarket

    home, universe, _ = setup
    argv = ["--home", str(home), "--market", "alpaca", "--universe", str(universe), "market",
            "fetch", "--years", "1", "--chunk", "10"]  # fmt: skip
    state = fake_alpaca.state
    real = AlpacaMarket.daily_bars
    calls = 0

    async def first_chunk_then_outage(self, *a, **kw):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 2:  # the data service goes down after the first chunk
            state.fail_next(10_000, status=500, path_prefix="/v2/stocks/bars")
        return await real(self, *a, **kw)

    monkeypatch.setattr(AlpacaMarket, "daily_bars", first_chunk_then_outage)
    assert main(argv) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("workstation: ")  # one clear line, no traceback
    assert len(_cached(home)) == 10  # the first chunk is kept
    monkeypatch.setattr(AlpacaMarket, "daily_bars", real)
    state.clear_faults()
    state.clear_requests()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"{N + 1} of {N + 1} symbols have daily bars" in out
    # Only the 15 symbols the first run did not reach were fetched whole.
    assert _fetched(out) <= 15 * HISTORY + 10


def test_a_backtest_runs_from_the_bar_cache(
    setup: tuple[Path, Path, list[str]],
    fake_alpaca: FakeAlpacaServer,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    home, universe, _ = setup
    base = ["--home", str(home), "--market", "alpaca", "--universe", str(universe)]
    assert main([*base, "market", "fetch", "--years", "1"]) == 0
    capsys.readouterr()
    fake_alpaca.state.fail_next(1000, status=500)  # the backtest must not need the network
    last = last_settled_session()
    first = get_calendar().sessions_back(last, 15)[0]
    assert main([*base, "backtest", "--from", first.isoformat(), "--to", last.isoformat(),
                 "--json", "--progress", "none"]) == 0  # fmt: skip
    doc = json.loads(capsys.readouterr().out)
    assert doc["period"]["sessions"] == 15
    assert doc["data_source"].startswith("alpaca bar cache")
    assert doc["universe"]["mode"] == "file"
