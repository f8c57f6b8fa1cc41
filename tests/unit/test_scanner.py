"""The scanner engine: load, scan, persist (JSON + store), publish, retry (trading rules §1, §6).

Every test runs a :class:`Scanner` on the simulated market with a max-speed ``SimClock`` (so
the retry backoff is simulated time, checked to the second) and a real ``Store`` in tmp_path.
Failures come from :class:`FlakyMarket`, a real ``MarketData`` that delegates to the sim market
and refuses ``daily_bars`` a given number of times.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from workstation.core.bars import DailyBars
from workstation.core.calendar import ET
from workstation.core.clock import SimClock
from workstation.core.config import Config, SimConfig
from workstation.core.config_files import load_config
from workstation.core.events import (
    Event,
    EventBus,
    LogEvent,
    ScanFailed,
    ScanFinished,
    ScanStarted,
)
from workstation.core.models import Quote, Snapshot, TradeTick, Universe
from workstation.core.paths import shipped_config_dir
from workstation.engine.scanner import Scanner, tradable_candidates
from workstation.market.base import MarketData, MarketDataError
from workstation.market.sim import SimMarket
from workstation.market.universe import sp500_universe
from workstation.store import Store

TODAY = date(2024, 6, 14)  # the simulation's "today": its history ends on 2024-06-13
SESSION = date(2024, 6, 13)
PREVIOUS = date(2024, 6, 12)


class FlakyMarket:
    """A MarketData that answers like ``inner`` except that its first ``failures`` calls of
    ``daily_bars`` raise (``failures=None``: every call raises)."""

    def __init__(self, inner: SimMarket, failures: int | None) -> None:
        self.inner = inner
        self.name = inner.name
        self.failures = failures
        self.calls = 0

    def universe(self) -> Universe:
        return self.inner.universe()

    async def daily_bars(self, symbols: Sequence[str], end: date, sessions: int) -> DailyBars:
        self.calls += 1
        if self.failures is None or self.calls <= self.failures:
            raise MarketDataError(f"daily bars unavailable (outage, call {self.calls})")
        return await self.inner.daily_bars(symbols, end, sessions)

    async def minute_bars(
        self,
        symbol: str,
        session: date,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pd.DataFrame:
        return await self.inner.minute_bars(symbol, session, start, end)

    async def snapshots(self, symbols: Sequence[str], at: datetime) -> dict[str, Snapshot]:
        return await self.inner.snapshots(symbols, at)

    def stream(self, symbols: Sequence[str]) -> AsyncIterator[Quote | TradeTick]:
        return self.inner.stream(symbols)


@dataclasses.dataclass
class Rig:
    clock: SimClock
    sim: SimMarket
    store: Store
    scans_dir: Path
    bus: EventBus
    events: list[Event]
    cfg: Config

    def scanner(self, market: MarketData | None = None, cfg: list[Config] | None = None) -> Scanner:
        """A scanner; ``cfg`` (a list) lets a test swap the configuration between scans."""
        box = cfg if cfg is not None else [self.cfg]
        return Scanner(
            market or self.sim, lambda: box[0], self.store, self.scans_dir, self.clock, self.bus
        )

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture(scope="module")
def cfg() -> Config:
    return load_config(shipped_config_dir())


@pytest.fixture
def rig(tmp_path: Path, cfg: Config) -> Iterator[Rig]:
    clock = SimClock(datetime.combine(SESSION, time(20), tzinfo=ET), speed=math.inf)
    sim = SimMarket(sp500_universe(), SimConfig(seed=7, today=TODAY.isoformat()), clock)
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(Event, events.append)
    store = Store.open(tmp_path / "workstation.db")
    scans_dir = tmp_path / "scans"
    scans_dir.mkdir()
    yield Rig(clock, sim, store, scans_dir, bus, events, cfg)
    store.close()


CANDIDATE_KEYS = {
    "symbol",
    "sector",
    "strategy",
    "side",
    "group",
    "score",
    "strength",
    "close",
    "atr14",
    "sl",
    "tp",
    "indicators",
    "explain",
}
REPORT_KEYS = {"loaded", "eligible", "stale", "failed", "duration_s", "param_hash"}


def test_scan_persists_json_and_store_rows_and_publishes(rig: Rig) -> None:
    result = asyncio.run(rig.scanner().scan(SESSION))
    cands = result.candidates
    assert len(cands) == 12

    # The JSON file of the session.
    path = rig.scans_dir / f"{SESSION.isoformat()}.json"
    doc = json.loads(path.read_text())
    assert doc["session"] == "2024-06-13"
    assert doc["regime"] == result.report.regime == "TREND"  # seed 7's 2024-06-13
    assert len(doc["candidates"]) == 12
    for c, j in zip(cands, doc["candidates"], strict=True):
        assert set(j) >= CANDIDATE_KEYS
        assert (j["symbol"], j["strategy"], j["score"]) == (c.symbol, c.strategy, c.score)
        assert j["sl"] == pytest.approx(c.sl_mult * c.atr14, rel=1e-15)
        assert j["tp"] == pytest.approx(c.tp_mult * c.atr14, rel=1e-15)
        assert j["indicators"] == dict(c.indicators)
        assert j["explain"]["rule"]  # why it fired: the rule's checks
    rep = doc["report"]
    assert set(rep) >= REPORT_KEYS
    # Every member but one trades over $20M a day at its real dollar volume (NWS does not).
    assert (rep["loaded"], rep["eligible"], rep["stale"], rep["failed"]) == (503, 502, 0, 0)
    assert rep["param_hash"] == rig.cfg.param_hash
    assert rep["duration_s"] > 0

    # The store rows: the scan and its candidates, equal to the JSON.
    scan = rig.store.latest_scan(SESSION)
    assert scan is not None and scan.status == "ok" and scan.error is None
    assert (scan.session, scan.market, scan.regime, scan.param_hash) == (
        SESSION,
        "sim",
        doc["regime"],
        rep["param_hash"],
    )
    assert (scan.loaded, scan.eligible, scan.stale, scan.failed) == (
        rep["loaded"],
        rep["eligible"],
        rep["stale"],
        rep["failed"],
    )
    assert scan.stale_symbols == rep["stale_symbols"] and scan.failed_symbols == []
    assert scan.duration_s == pytest.approx(rep["duration_s"], abs=5e-5)  # JSON rounds to 0.1 ms
    rows = rig.store.candidates_for_scan(scan.id)
    assert len(rows) == len(doc["candidates"])
    for row, j in zip(rows, doc["candidates"], strict=True):
        assert (row.rank, row.symbol, row.sector, row.strategy, row.side, row.grp) == (
            j["rank"],
            j["symbol"],
            j["sector"],
            j["strategy"],
            j["side"],
            j["group"],
        )
        assert (row.score, row.strength, row.close, row.atr14, row.sl_dist, row.tp_dist) == (
            j["score"],
            j["strength"],
            j["close"],
            j["atr14"],
            j["sl"],
            j["tp"],
        )
        assert (row.score_strength, row.score_liquidity, row.score_rr, row.score_fit) == (
            j["score_parts"]["strength"],
            j["score_parts"]["liquidity"],
            j["score_parts"]["reward_risk"],
            j["score_parts"]["fit"],
        )
        assert row.indicators == j["indicators"]
        assert row.explain == j["explain"]
        assert row.approval == "pending"
    assert rig.store.param_set(rig.cfg.param_hash) is not None
    assert [c.symbol for c in tradable_candidates(rig.store, SESSION)] == [c.symbol for c in cands]

    # Events: started, then finished with the stored id and the result.
    kinds = [type(e) for e in rig.events if isinstance(e, ScanStarted | ScanFinished | ScanFailed)]
    assert kinds == [ScanStarted, ScanFinished]
    fin = rig.of(ScanFinished)[0]
    assert (fin.session, fin.scan_id, fin.regime) == (SESSION, scan.id, "TREND")
    assert fin.candidates == cands
    assert fin.report == result.report.as_dict()
    assert rig.of(ScanStarted)[0].session == SESSION


def test_two_failures_then_success_backs_off(rig: Rig) -> None:
    market = FlakyMarket(rig.sim, failures=2)
    t0 = rig.clock.now()
    result = asyncio.run(rig.scanner(market).scan_with_retries(SESSION))
    backoff = rig.cfg.scanner.retry.backoff_s
    assert result is not None and len(result.candidates) == 12
    assert market.calls == 3
    # Backoff 60 s before the 2nd try, doubled (120 s) before the 3rd: simulated time.
    started = [e.at - t0 for e in rig.of(ScanStarted)]
    assert started == [
        timedelta(0),
        timedelta(seconds=backoff),
        timedelta(seconds=backoff + 2 * backoff),
    ]
    assert rig.clock.now() - t0 == timedelta(seconds=3 * backoff)
    failed = rig.of(ScanFailed)
    assert [(e.attempt, e.final) for e in failed] == [(1, False), (2, False)]
    assert all("outage" in e.error for e in failed)
    assert [e.level for e in rig.of(LogEvent)] == ["WARNING", "WARNING"]
    assert len(rig.of(ScanFinished)) == 1
    rows = rig.store.scans_for_session(SESSION)
    assert [r.status for r in rows] == ["ok"]  # attempts that were retried leave no row


def test_final_failure_trades_nothing_next_session_not_the_old_list(rig: Rig) -> None:
    # An older session scanned fine ...
    asyncio.run(rig.scanner().scan(PREVIOUS))
    old = tradable_candidates(rig.store, PREVIOUS)
    assert len(old) == 12
    # ... then every try of the next one fails.
    market = FlakyMarket(rig.sim, failures=None)
    rig.events.clear()
    t0 = rig.clock.now()
    result = asyncio.run(rig.scanner(market).scan_with_retries(SESSION))
    assert result is None
    tries = rig.cfg.scanner.retry.tries
    assert market.calls == tries == 3
    failed = rig.of(ScanFailed)
    assert [(e.attempt, e.final) for e in failed] == [(1, False), (2, False), (3, True)]
    assert [e.level for e in rig.of(LogEvent)] == ["WARNING", "WARNING", "ERROR"]
    assert rig.of(ScanFinished) == []
    assert rig.clock.now() - t0 == timedelta(seconds=3 * rig.cfg.scanner.retry.backoff_s)

    # One failed row with the error; the session's candidates are none, not yesterday's.
    rows = rig.store.scans_for_session(SESSION)
    assert [(r.status, r.regime) for r in rows] == [("failed", None)]
    assert rows[0].error == "MarketDataError: daily bars unavailable (outage, call 3)"
    assert rig.store.candidates_for_scan(rows[0].id) == []
    assert tradable_candidates(rig.store, SESSION) == []
    assert rig.store.latest_scan(SESSION, ok_only=False).status == "failed"
    # The older list is still there (for the audit trail), only not tradable next session.
    assert rig.store.latest_scan().session == PREVIOUS
    assert [c.id for c in tradable_candidates(rig.store, PREVIOUS)] == [c.id for c in old]
    assert not (rig.scans_dir / f"{SESSION.isoformat()}.json").exists()
    audit = rig.store.audit_log(action="scan_failed", subject=f"session:{SESSION}")
    assert len(audit) == 1


def test_manual_rescan_supersedes_the_previous_one(rig: Rig, cfg: Config) -> None:
    box = [cfg]
    scanner = rig.scanner(cfg=box)
    asyncio.run(scanner.scan(SESSION))
    # The user edits the parameters (top 5) and re-scans the same session by hand.
    top5 = dataclasses.replace(cfg.scanner.ranking, top_n=5)
    box[0] = dataclasses.replace(cfg, scanner=dataclasses.replace(cfg.scanner, ranking=top5))
    second = asyncio.run(scanner.scan(SESSION))
    assert len(second.candidates) == 5

    first_row, second_row = rig.store.scans_for_session(SESSION)
    assert first_row.superseded_by == second_row.id and second_row.superseded_by is None
    assert (first_row.param_hash, second_row.param_hash) == (cfg.param_hash, box[0].param_hash)
    assert rig.store.latest_scan(SESSION).id == second_row.id
    now = tradable_candidates(rig.store, SESSION)
    assert [c.symbol for c in now] == [c.symbol for c in second.candidates]
    # The superseded list stays stored (audit trail); the same top 5 lead both lists.
    old = rig.store.candidates_for_scan(first_row.id)
    assert len(old) == 12 and [c.symbol for c in old[:5]] == [c.symbol for c in now]
    doc = json.loads((rig.scans_dir / f"{SESSION.isoformat()}.json").read_text())
    assert len(doc["candidates"]) == 5 and doc["report"]["param_hash"] == box[0].param_hash
    assert [e.scan_id for e in rig.of(ScanFinished)] == [first_row.id, second_row.id]


def test_flaky_market_is_a_market(rig: Rig) -> None:
    """The wrapper is a real MarketData: the scanner takes its universe from it."""
    market = FlakyMarket(rig.sim, failures=0)
    assert isinstance(market, MarketData)
    scanner = rig.scanner(market)
    assert scanner.universe == rig.sim.universe()
    assert len(scanner.universe.symbols) == 503


def test_a_rescan_carries_the_decisions_over_and_reports_the_dropped(rig: Rig, cfg: Config) -> None:
    box = [cfg]
    scanner = rig.scanner(cfg=box)
    asyncio.run(scanner.scan(SESSION))
    first = rig.store.candidates_for_scan(rig.store.latest_scan(SESSION).id)
    t = datetime.combine(SESSION, time(20, 10), tzinfo=ET)
    rig.store.set_approval(first[0].id, "approved", "strong", at=t)
    rig.store.set_approval(first[1].id, "vetoed", "earnings", at=t)
    rig.store.set_approval(first[2].id, "approved", None, at=t)
    rig.store.set_approval(first[2].id, "pending", None, at=t)  # undone: nothing to carry
    rig.store.set_approval(first[9].id, "vetoed", "too far", at=t)  # drops out of a top 5
    top5 = dataclasses.replace(cfg.scanner.ranking, top_n=5)
    box[0] = dataclasses.replace(cfg, scanner=dataclasses.replace(cfg.scanner, ranking=top5))
    asyncio.run(scanner.scan(SESSION))

    new = {(c.symbol, c.strategy): c for c in tradable_candidates(rig.store, SESSION)}
    assert len(new) == 5
    by_key = {(c.symbol, c.strategy): c for c in first}
    states = {k: (c.approval, c.approval_note, c.approval_source) for k, c in new.items()}
    k0, k1, k2 = ((first[i].symbol, first[i].strategy) for i in range(3))
    assert states[k0] == ("approved", "strong", "user")
    assert states[k1] == ("vetoed", "earnings", "user")
    assert states[k2][0] == "pending"
    assert all(s[0] == "pending" for k, s in states.items() if k not in (k0, k1))
    # The old list is untouched (the audit trail), the new one has one history row each.
    assert rig.store.get_candidate(first[0].id).approval == "approved"
    assert [h.state for h in rig.store.approvals_for(new[k0].id)] == ["approved"]
    carried = rig.store.audit_log(action="candidate.carried", limit=None)
    assert sorted((r.detail["symbol"], r.detail["from_candidate"]) for r in carried) == sorted(
        [(k0[0], by_key[k0].id), (k1[0], by_key[k1].id)]
    )
    fin = rig.of(ScanFinished)[-1]
    assert fin.report["decisions_carried"] == 2
    assert fin.report["decisions_dropped"] == [
        {"symbol": first[9].symbol, "strategy": first[9].strategy, "state": "vetoed"}
    ]


@pytest.mark.parametrize(
    ("hhmm", "refused"),
    [("09:24:59", False), ("09:25", True), ("09:47", True)],
    ids=["last-second-before", "at-group-a-entry-time", "the-trial-0947"],
)
def test_a_list_being_traded_is_never_replaced(rig: Rig, hhmm: str, refused: bool) -> None:
    from workstation.engine.scanner import ScanRefused

    scanner = rig.scanner()
    asyncio.run(scanner.scan(SESSION))
    entry_session = date(2024, 6, 14)
    rig.clock.jump_to(datetime.combine(entry_session, time.fromisoformat(hhmm), tzinfo=ET))
    if refused:
        with pytest.raises(ScanRefused, match="is traded from"):
            asyncio.run(scanner.scan_with_retries(SESSION))
        assert len(rig.store.scans_for_session(SESSION)) == 1  # nothing recorded, no retry
        assert len(rig.of(ScanStarted)) == 1
    else:
        asyncio.run(scanner.scan(SESSION))
        assert len(rig.store.scans_for_session(SESSION)) == 2
