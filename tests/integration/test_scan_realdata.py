"""The scan end to end on real sessions of the S&P 500 file in ../shared/data (skipped when absent).

The replay market loads ``sp500_daily_2011_2022.parquet`` with SPY from the ETF file as the
benchmark and today's S&P 500 members (with GICS sectors, from ``sp500_universe``) as the
universe. Each session is checked against independent recomputations: SPY's regime from the
raw ETF rows with pandas, every candidate's indicators with ``ta``, its close with the raw file.
"""

from __future__ import annotations

import asyncio
import json
import math
from datetime import date, datetime, time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import ta

from workstation.core.calendar import ET
from workstation.core.clock import SimClock
from workstation.core.config import Config
from workstation.core.config_files import load_config
from workstation.core.events import EventBus, ScanFinished
from workstation.core.models import Regime
from workstation.core.paths import shipped_config_dir
from workstation.engine.scan import ScanResult, scan_session
from workstation.engine.scanner import Scanner, tradable_candidates
from workstation.market.replay import ReplayMarket
from workstation.market.universe import sp500_universe
from workstation.signals.ta_reference import ta_reference
from workstation.store import Store

pytestmark = pytest.mark.realdata

PARQUET_NAME = "sp500_daily_2011_2022.parquet"
ETF_NAME = "etf_daily_1993_2024.csv"
HISTORY = 300

# Session -> the regime SPY shows there (§5). March 2020 and June 2022 are the crash and the
# bear-market sell-off: 20-day volatility far above 25%. 2019 and 2021 were calm uptrends.
SESSIONS: dict[date, Regime] = {
    date(2019, 6, 28): Regime.TREND,
    date(2020, 3, 16): Regime.HIGH_VOL,
    date(2021, 11, 5): Regime.TREND,
    date(2022, 6, 16): Regime.HIGH_VOL,
}


@pytest.fixture(scope="module")
def cfg() -> Config:
    return load_config(shipped_config_dir())


@pytest.fixture(scope="module")
def files(shared_data: Path) -> dict[str, Path]:
    f = {"parquet": shared_data / PARQUET_NAME, "etf": shared_data / ETF_NAME}
    if not all(p.is_file() for p in f.values()):
        pytest.skip(f"real data files are absent from {shared_data}")
    return f


@pytest.fixture(scope="module")
def market(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> ReplayMarket:
    sp = sp500_universe()
    csv = tmp_path_factory.mktemp("universe") / "sp500.csv"
    pd.DataFrame({"symbol": sp.symbols, "sector": [sp.sector(s) for s in sp.symbols]}).to_csv(
        csv, index=False
    )
    return ReplayMarket(files["parquet"], universe_csv=csv, benchmark_path=files["etf"])


@pytest.fixture(scope="module")
def scans(market: ReplayMarket, cfg: Config) -> dict[date, tuple[ScanResult, object]]:
    u = market.universe()
    out = {}
    for session in SESSIONS:
        bars = market.daily_bars_sync([*u.symbols, u.benchmark], session, HISTORY)
        out[session] = (scan_session(bars, u, session, cfg), bars)
    return out


@pytest.fixture(scope="module")
def raw_closes(files: dict[str, Path]) -> pd.Series:
    df = pd.read_parquet(files["parquet"], columns=["date", "symbol", "close"])
    df["date"] = pd.to_datetime(df["date"]).dt.tz_localize(None).dt.normalize()
    want = pd.DatetimeIndex(list(SESSIONS))
    df = df[df["date"].isin(want)].dropna(subset=["symbol"])
    return df.set_index(["date", "symbol"])["close"]


@pytest.fixture(scope="module")
def spy(files: dict[str, Path]) -> pd.DataFrame:
    etf = pd.read_csv(files["etf"], parse_dates=["date"])
    return etf[etf["symbol"] == "SPY"].set_index("date").sort_index()


def test_universe_has_sectors(market: ReplayMarket) -> None:
    u = market.universe()
    assert 400 < len(u.symbols) <= 503
    assert "SPY" not in u.symbols and u.benchmark == "SPY"
    assert len(set(u.sectors.values())) == 11  # the GICS sectors, not "Unknown"


@pytest.mark.parametrize("session", list(SESSIONS), ids=str)
def test_regime_is_plausible_and_recomputes_from_raw_spy(
    scans: dict, spy: pd.DataFrame, cfg: Config, session: date
) -> None:
    res: ScanResult = scans[session][0]
    reg = res.regime
    assert reg.regime is SESSIONS[session], reg.explain()
    # Independently from the ETF file's SPY rows (OHLC, never adj_close).
    s = spy.loc[: pd.Timestamp(session)].tail(HISTORY)
    assert s.index[-1] == pd.Timestamp(session)
    logret = np.log(s["close"]).diff().tail(cfg.scanner.regime.vol_window)
    vol = float(logret.std(ddof=1)) * math.sqrt(252)
    assert reg.vol == pytest.approx(vol, rel=1e-9)
    adx = ta.trend.ADXIndicator(s["high"], s["low"], s["close"], 14).adx().iloc[-1]
    assert reg.adx == pytest.approx(float(adx), rel=1e-9)
    assert reg.sma50 == pytest.approx(float(s["close"].tail(50).mean()), rel=1e-9)
    assert reg.sma200 == pytest.approx(float(s["close"].tail(200).mean()), rel=1e-9)
    if SESSIONS[session] is Regime.HIGH_VOL:
        assert vol > 0.25
    else:
        assert vol <= 0.25 and adx >= 20


@pytest.mark.parametrize("session", list(SESSIONS), ids=str)
def test_candidate_invariants(
    scans: dict, market: ReplayMarket, cfg: Config, raw_closes: pd.Series, session: date
) -> None:
    res, bars = scans[session]
    u = market.universe()
    rep, cands = res.report, res.candidates
    rk = cfg.scanner.ranking
    limits = cfg.scanner.regime.limits(res.regime.regime)

    assert rep.universe == len(u.symbols)
    assert rep.loaded + len(rep.failed) == rep.universe
    assert rep.eligible + sum(rep.ineligible.values()) + len(rep.stale) == rep.loaded
    assert rep.eligible > 400  # the bulk of the index is liquid and has the history
    for s in rep.stale:  # stale: its last bar is before the session
        j = bars.col(s)
        assert bars.last_bar_date()[j] < np.datetime64(session, "D")

    assert 0 < len(cands) <= rk.top_n
    assert len({c.symbol for c in cands}) == len(cands)
    assert max(pd.Series([c.sector for c in cands]).value_counts()) <= rk.max_per_sector
    scores = [c.score for c in cands]
    assert scores == sorted(scores, reverse=True)
    bad = set(rep.stale) | set(rep.failed)
    for c in cands:
        assert c.symbol not in bad
        assert c.sector == u.sector(c.symbol) != "Unknown"
        assert c.strategy in (*limits.preferred, *limits.allowed)
        assert c.regime is res.regime.regime
        assert c.close == raw_closes[(pd.Timestamp(session), c.symbol)]
        assert c.close >= 5 and c.indicators["dv20"] >= 20e6
        assert math.isfinite(c.atr14) and c.atr14 > 0
        assert 0 <= c.strength <= 1 and 0 < c.score <= 100


@pytest.mark.parametrize("session", list(SESSIONS), ids=str)
def test_candidate_indicators_equal_ta(scans: dict, session: date) -> None:
    res, bars = scans[session]
    cands = res.candidates
    ref = ta_reference(bars.select([c.symbol for c in cands]))
    for j, c in enumerate(cands):
        for name, value in c.indicators.items():
            if name in ("dv20_pct", "roc20_pct"):  # percentiles across symbols, not ta's
                continue
            want = float(ref.prev("bw_pct")[j] if name == "prev_bw_pct" else ref.last(name)[j])
            assert value == pytest.approx(want, rel=1e-9, abs=1e-12), (session, c.symbol, name)


def test_scanner_persists_a_real_session(market: ReplayMarket, cfg: Config, tmp_path: Path) -> None:
    session = date(2021, 11, 5)
    clock = SimClock(datetime.combine(session, time(20), tzinfo=ET), speed=math.inf)
    bus = EventBus()
    finished: list[ScanFinished] = []
    bus.subscribe(ScanFinished, finished.append)
    with Store.open(tmp_path / "workstation.db") as store:
        scanner = Scanner(market, lambda: cfg, store, tmp_path, clock, bus)
        result = asyncio.run(scanner.scan(session))
        rows = tradable_candidates(store, session, market="replay")
        scan = store.latest_scan(session)
    doc = json.loads((tmp_path / "2021-11-05.json").read_text())
    assert doc["regime"] == "TREND" == scan.regime
    assert [c["symbol"] for c in doc["candidates"]] == [c.symbol for c in result.candidates]
    assert [r.symbol for r in rows] == [c.symbol for c in result.candidates]
    assert scan.market == "replay" and scan.eligible == result.report.eligible
    assert len(finished) == 1 and finished[0].scan_id == scan.id
