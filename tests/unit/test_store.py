"""The SQLite store: schema, every API round trip, migrations and the user-facing errors.

Every test uses a real database file in tmp_path (never :memory:): durability, WAL, locking and
corruption only mean something on a file.
"""

from __future__ import annotations

import math
import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from sqlite_utils import Database

from workstation.core.bars import DailyBars
from workstation.store import (
    SCHEMA_VERSION,
    NewCandidate,
    Store,
    StoreError,
    migrate,
)
from workstation.store import base as store_base
from workstation.store.bars import BAR_COLUMNS
from workstation.store.schema import APPLICATION_ID, MIGRATIONS

ET = ZoneInfo("America/New_York")
S1 = date(2024, 3, 11)
S2 = date(2024, 3, 12)
T0 = datetime(2024, 3, 11, 20, 0, tzinfo=ET)

TABLES = {
    "scans",
    "candidates",
    "approvals",
    "gap_results",
    "orders",
    "order_events",
    "fills",
    "positions",
    "trades",
    "mfe_mae",
    "equity_snapshots",
    "daily_performance",
    "audit_log",
    "param_sets",
    "bar_series",
    "paper_tracks",
    "backtests",
    "searches",
    "session_equity",
    "equity_marks",
    "entry_checks",
    "official_opens",
}


def cand(rank: int, symbol: str, **over: object) -> NewCandidate:
    values: dict[str, object] = {
        "rank": rank,
        "symbol": symbol,
        "sector": "Information Technology",
        "strategy": "rsi_reversion",
        "side": "long",
        "grp": "A",
        "score": 80.0 - rank,
        "score_strength": 0.6,
        "score_liquidity": 0.9,
        "score_rr": 0.67,
        "score_fit": 1.0,
        "strength": 0.6,
        "close": 100.0 + rank,
        "atr14": 2.0,
        "sl_mult": 1.5,
        "tp_mult": 2.0,
        "sl_dist": 3.0,
        "tp_dist": 4.0,
        "indicators": {"rsi14": 25.5, "sma200": 95.25, "dv20": 1.5e9},
        "explain": {"fired": "rsi14 < 30 and close > sma200"},
    }
    values.update(over)
    return NewCandidate(**values)  # type: ignore[arg-type]


def ok_scan(
    store: Store, session: date = S1, *, symbols: tuple[str, ...] = ("AAPL", "MSFT")
) -> int:
    return store.record_scan(
        session=session,
        param_hash="h1",
        status="ok",
        started_at=T0,
        finished_at=T0 + timedelta(seconds=42),
        regime="TREND",
        loaded=503,
        eligible=480,
        stale=2,
        failed=1,
        stale_symbols=["ZZZ", "AAA"],
        failed_symbols=["BRK.B"],
        duration_s=42.5,
        market="sim",
        candidates=[cand(i + 1, s) for i, s in enumerate(symbols)],
        ineligible={"spike": 1, "too_few_bars": 3},
        data_problems=PROBLEMS,
    )


PROBLEMS = {
    "counts": {"spike": 1, "zero_volume": 2},
    "by_kind": {"spike": {"XYZ": ["2024-03-05"]}, "zero_volume": {"ABC": ["2024-03-01"]}},
}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "home" / "workstation.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store.open(db_path, busy_timeout_s=0.5)
    yield s
    s.close()


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(str(path), isolation_level=None)


def new_order(store: Store, cid: str = "2024-03-12-AAPL-rsi-entry", **over: object):
    kwargs: dict[str, object] = {
        "at": T0,
        "session": S2,
        "symbol": "AAPL",
        "side": "buy",
        "qty": 10,
        "order_type": "market",
        "tif": "opg",
        "intent": "entry",
        "strategy": "rsi_reversion",
    }
    kwargs.update(over)
    return store.upsert_order(cid, **kwargs)  # type: ignore[arg-type]


# -- opening and the schema ----------------------------------------------------------------------


def test_open_creates_file_schema_and_pragmas(db_path: Path) -> None:
    assert not db_path.exists()
    s = Store.open(db_path, busy_timeout_s=1.25)
    try:
        assert db_path.is_file()
        assert s.schema_version == SCHEMA_VERSION == len(MIGRATIONS) == 10
        assert set(s.db.table_names()) == TABLES
        conn = s.db.conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 1250
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    finally:
        s.close()
    # the journal mode is persistent: another connection sees WAL too
    c = raw(db_path)
    assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    c.close()
    assert not list(db_path.parent.glob("*.bak"))  # nothing to back up for a new database


def test_indexes_for_the_obvious_queries(store: Store) -> None:
    for sql, index in [
        ("SELECT * FROM scans WHERE session = '2024-03-11' AND market = 'sim'", "scans_by_session"),
        ("SELECT * FROM candidates WHERE scan_id = 1", "sqlite_autoindex_candidates"),
        ("SELECT * FROM fills WHERE client_order_id = 'x'", "fills_by_order"),
        ("SELECT * FROM trades WHERE exit_session = '2024-03-11'", "trades_by_exit_session"),
        ("SELECT * FROM audit_log WHERE subject = 'x'", "audit_log_by_subject"),
        (
            "SELECT * FROM bar_series WHERE feed = 'sip' AND symbol = 'A'",
            "sqlite_autoindex_bar_series",
        ),
    ]:
        plan = str(store.db.conn.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall())
        assert index in plan, (sql, plan)


def test_writes_are_committed_before_the_call_returns(store: Store, db_path: Path) -> None:
    aid = store.audit("user", "kill_switch.engaged", "session:2024-03-11", {"why": "test"}, at=T0)
    other = raw(db_path)  # a separate connection sees the row while the store is still open
    row = other.execute(
        "SELECT actor, action, detail FROM audit_log WHERE id = ?", [aid]
    ).fetchone()
    other.close()
    assert row == ("user", "kill_switch.engaged", '{"why": "test"}')


def test_data_survives_close_and_reopen(db_path: Path) -> None:
    s = Store.open(db_path)
    scan_id = ok_scan(s)
    s.close()
    s2 = Store.open(db_path)
    try:
        assert [c.symbol for c in s2.candidates_for_scan(scan_id)] == ["AAPL", "MSFT"]
    finally:
        s2.close()


def test_closed_store_raises_store_error(db_path: Path) -> None:
    s = Store.open(db_path)
    s.close()
    s.close()  # idempotent
    assert s.closed
    with pytest.raises(StoreError, match="closed"):
        s.open_positions()


def test_context_manager_closes(db_path: Path) -> None:
    with Store.open(db_path) as s:
        s.audit("system", "app.started", at=T0)
    assert s.closed


def test_reopen_gives_an_independent_connection_usable_from_another_thread(store: Store) -> None:
    scan_id = ok_scan(store)
    with store.reopen() as other:
        assert other.db.conn is not store.db.conn
        with ThreadPoolExecutor(1) as ex:
            got = ex.submit(lambda: [c.symbol for c in other.candidates_for_scan(scan_id)])
            assert got.result(timeout=10) == ["AAPL", "MSFT"]
            # the store itself is also safe to call from another thread (serialised by a lock)
            aid = ex.submit(lambda: store.audit("engine", "t", at=T0)).result(timeout=10)
    assert store.audit_log(action="t")[0].id == aid


# -- conversions --------------------------------------------------------------------------------


def test_timestamps_are_stored_as_utc_iso_with_offset(store: Store) -> None:
    aid = store.audit("user", "x", at=datetime(2024, 3, 11, 9, 30, tzinfo=ET))
    text = store.db.conn.execute("SELECT at FROM audit_log WHERE id = ?", [aid]).fetchone()[0]
    assert text == "2024-03-11T13:30:00.000000+00:00"
    back = store.audit_log(action="x")[0].at
    assert back == datetime(2024, 3, 11, 9, 30, tzinfo=ET)
    assert back.tzinfo is not None


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"at": datetime(2024, 3, 11, 9, 30)}, ValueError),
        ({"at": "2024-03-11T09:30"}, TypeError),
    ],
    ids=["naive-datetime", "string"],
)
def test_bad_timestamps_are_refused(store: Store, kwargs: dict, error: type) -> None:
    with pytest.raises(error):
        store.audit("user", "x", **kwargs)
    assert store.audit_log() == []


def test_a_datetime_is_not_a_session_date(store: Store) -> None:
    with pytest.raises(TypeError, match="not a datetime"):
        store.latest_scan(datetime(2024, 3, 11, tzinfo=ET))


# -- scans, candidates, approvals ----------------------------------------------------------------


def test_scan_round_trip(store: Store) -> None:
    scan_id = ok_scan(store)
    scan = store.get_scan(scan_id)
    assert scan is not None
    assert scan.session == S1
    assert scan.market == "sim"
    assert scan.regime == "TREND"
    assert (scan.loaded, scan.eligible, scan.stale, scan.failed) == (503, 480, 2, 1)
    assert scan.stale_symbols == ["AAA", "ZZZ"]
    assert scan.failed_symbols == ["BRK.B"]
    assert scan.duration_s == 42.5
    assert scan.started_at == T0
    assert scan.finished_at == T0 + timedelta(seconds=42)
    assert scan.status == "ok" and scan.error is None and scan.superseded_by is None
    assert scan.ineligible == {"spike": 1, "too_few_bars": 3}
    assert scan.data_problems == PROBLEMS  # §14: named by kind and symbol in the store

    cands = store.candidates_for_scan(scan_id)
    assert [(c.rank, c.symbol) for c in cands] == [(1, "AAPL"), (2, "MSFT")]
    c = cands[0]
    assert c.scan_id == scan_id
    assert c.indicators == {"rsi14": 25.5, "sma200": 95.25, "dv20": 1.5e9}
    assert c.explain == {"fired": "rsi14 < 30 and close > sma200"}
    assert (c.score, c.close, c.atr14, c.sl_dist, c.tp_dist) == (79.0, 101.0, 2.0, 3.0, 4.0)
    assert (c.approval, c.approval_note, c.decided_at) == ("pending", None, None)
    assert store.get_candidate(c.id) == c


def test_candidates_accept_mappings_and_numpy_values(store: Store) -> None:
    rec = {
        **{k: getattr(cand(1, "NVDA"), k) for k in NewCandidate.__dataclass_fields__},
        "score": np.float64(77.5),
        "rank": np.int64(1),
        "indicators": {"rsi14": np.float64(22.0)},
    }
    scan_id = store.record_scan(
        session=S1, param_hash="h", status="ok", started_at=T0, finished_at=T0, candidates=[rec]
    )
    (c,) = store.candidates_for_scan(scan_id)
    assert (c.symbol, c.rank, c.score, c.indicators) == ("NVDA", 1, 77.5, {"rsi14": 22.0})


def test_bad_candidate_rolls_back_the_whole_scan(store: Store) -> None:
    with pytest.raises(ValueError, match="side"):
        store.record_scan(
            session=S1,
            param_hash="h",
            status="ok",
            started_at=T0,
            finished_at=T0,
            candidates=[cand(1, "AAPL"), cand(2, "MSFT", side="sideways")],
        )
    assert store.latest_scan(ok_only=False) is None


def test_a_failed_scan_cannot_carry_candidates(store: Store) -> None:
    with pytest.raises(ValueError, match="failed scan"):
        store.record_scan(
            session=S1,
            param_hash="h",
            status="failed",
            started_at=T0,
            finished_at=T0,
            error="boom",
            candidates=[cand(1, "AAPL")],
        )


def test_rerun_supersedes_but_keeps_the_old_scan(store: Store) -> None:
    first = ok_scan(store, symbols=("AAPL", "MSFT"))
    second = ok_scan(store, symbols=("NVDA",))
    failed = store.record_scan(
        session=S1,
        param_hash="h1",
        status="failed",
        started_at=T0 + timedelta(hours=1),
        finished_at=T0 + timedelta(hours=1, seconds=3),
        error="data feed timed out",
        market="sim",
    )
    latest = store.latest_scan(S1)
    assert latest is not None and latest.id == second
    assert store.get_scan(first).superseded_by == second  # type: ignore[union-attr]
    assert store.get_scan(second).superseded_by is None  # type: ignore[union-attr]
    # the old list stays for the audit trail
    assert [c.symbol for c in store.candidates_for_scan(first)] == ["AAPL", "MSFT"]
    # a failed re-run is visible but does not hide the good one
    attempt = store.latest_scan(S1, ok_only=False)
    assert attempt is not None and attempt.id == failed and attempt.error == "data feed timed out"
    assert [s.id for s in store.scans_for_session(S1)] == [first, second, failed]


def test_scans_with_pending_are_the_current_ok_scans_with_a_pending_candidate(
    store: Store,
) -> None:
    old = ok_scan(store, S1, symbols=("AAPL",))  # superseded below: never listed
    s1 = ok_scan(store, S1, symbols=("AAPL", "MSFT"))
    s2 = ok_scan(store, S2, symbols=("NVDA",))
    assert [s.id for s in store.scans_with_pending()] == [s1, s2]
    assert store.scans_with_pending(market="alpaca") == []
    for c in store.candidates_for_scan(s2):
        store.set_approval(c.id, "approved", at=T0)
    [first, second] = store.candidates_for_scan(s1)
    store.set_approval(first.id, "vetoed", at=T0)
    assert [s.id for s in store.scans_with_pending(market="sim")] == [s1]  # MSFT still pending
    store.set_approval(second.id, "skipped", "not approved", "policy", at=T0)
    assert store.scans_with_pending() == [] and old not in (s1, s2)
    # Read from the pending candidates' own index, not by walking every scan ever made.
    conn = store._require_open().conn
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT c.scan_id FROM candidates c WHERE c.approval = 'pending'"
    ).fetchall()
    assert [row[3] for row in plan] == ["SCAN c USING INDEX candidates_pending"]


def test_latest_scan_without_session_is_the_newest_session(store: Store) -> None:
    later = ok_scan(store, S2)
    ok_scan(store, S1)  # recorded after, but for an older session
    assert store.latest_scan().id == later  # type: ignore[union-attr]
    assert store.latest_scan(date(2024, 3, 13)) is None
    assert store.latest_scan(S1, market="alpaca") is None


def test_set_approval_updates_candidate_history_and_audit(store: Store) -> None:
    scan_id = ok_scan(store)
    c = store.candidates_for_scan(scan_id)[0]
    t1, t2 = T0 + timedelta(minutes=5), T0 + timedelta(minutes=9)
    store.set_approval(c.id, "vetoed", "earnings tomorrow", "user", at=t1)
    after = store.set_approval(c.id, "approved", "earnings moved", at=t2)
    assert (after.approval, after.approval_note, after.approval_source) == (
        "approved",
        "earnings moved",
        "user",
    )
    assert after.decided_at == t2
    hist = store.approvals_for(c.id)
    assert [(a.state, a.note, a.source, a.at) for a in hist] == [
        ("vetoed", "earnings tomorrow", "user", t1),
        ("approved", "earnings moved", "user", t2),
    ]
    audit = store.audit_log(subject=f"candidate:{c.id}")
    assert [(a.actor, a.action) for a in audit] == [
        ("user", "candidate.vetoed"),
        ("user", "candidate.approved"),
    ]
    assert audit[0].detail == {
        "symbol": "AAPL",
        "strategy": "rsi_reversion",
        "note": "earnings tomorrow",
        "previous": "pending",
    }
    assert audit[1].detail["previous"] == "vetoed"
    assert [(a.candidate_id, a.state) for a in store.approvals_for_scan(c.scan_id)] == [
        (c.id, "vetoed"),
        (c.id, "approved"),
    ]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("maybe", None, "user"), ValueError),
        (("approved", None, "robot"), ValueError),
    ],
    ids=["bad-state", "bad-source"],
)
def test_set_approval_rejects_bad_values(store: Store, args: tuple, error: type) -> None:
    c = store.candidates_for_scan(ok_scan(store))[0]
    with pytest.raises(error):
        store.set_approval(c.id, *args, at=T0)
    assert store.approvals_for(c.id) == []


def test_set_approval_on_unknown_candidate_writes_nothing(store: Store) -> None:
    with pytest.raises(KeyError):
        store.set_approval(999, "approved", at=T0)
    assert store.audit_log() == []


def test_policy_skip_is_recorded_as_policy(store: Store) -> None:
    c = store.candidates_for_scan(ok_scan(store))[1]
    row = store.set_approval(c.id, "skipped", "not approved", "policy", at=T0)
    assert (row.approval, row.approval_source) == ("skipped", "policy")
    assert store.audit_log()[-1].actor == "policy"


# -- gap results and paper tracks ----------------------------------------------------------------


def test_gap_result_round_trip_and_recheck_replaces(store: Store) -> None:
    a, b = store.candidates_for_scan(ok_scan(store))
    at = datetime(2024, 3, 12, 9, 25, tzinfo=ET)
    r = store.record_gap_result(
        a.id,
        session=S2,
        price=103.5,
        source="trade",
        prev_close=100.0,
        gap=0.035,
        passed=False,
        reason="gap 3.5% > 3%",
        at=at,
    )
    assert (r.price, r.source, r.gap, r.passed, r.reason) == (
        103.5,
        "trade",
        0.035,
        False,
        "gap 3.5% > 3%",
    )
    store.record_gap_result(
        b.id,
        session=S2,
        price=None,
        source="none",
        prev_close=50.0,
        gap=None,
        passed=True,
        reason="no pre-market price: on_no_premarket=keep",
        at=at,
    )
    again = store.record_gap_result(
        a.id,
        session=S2,
        price=101.0,
        source="quote",
        prev_close=100.0,
        gap=0.01,
        passed=True,
        reason=None,
        at=at + timedelta(minutes=1),
    )
    assert again.id == r.id and again.passed is True and again.source == "quote"
    results = store.gap_results(S2)
    assert [(g.candidate_id, g.passed, g.price) for g in results] == [
        (a.id, True, 101.0),
        (b.id, True, None),
    ]
    with pytest.raises(ValueError, match="gap source"):
        store.record_gap_result(
            a.id,
            session=S2,
            price=1.0,
            source="guess",
            prev_close=1.0,
            gap=0.0,
            passed=True,
            reason=None,
            at=at,
        )


@pytest.mark.parametrize(
    ("side", "entry", "exit_", "pnl", "pct", "r"),
    [
        ("long", 100.0, 106.0, 60.0, 0.06, 2.0),
        ("short", 100.0, 106.0, -60.0, -0.06, -2.0),
    ],
    ids=["long", "short"],
)
def test_paper_track_of_a_vetoed_candidate(
    store: Store, side: str, entry: float, exit_: float, pnl: float, pct: float, r: float
) -> None:
    scan_id = store.record_scan(
        session=S1,
        param_hash="h",
        status="ok",
        started_at=T0,
        finished_at=T0,
        candidates=[cand(1, "TSLA", side=side, sl_dist=3.0)],
    )
    c = store.candidates_for_scan(scan_id)[0]
    store.set_approval(c.id, "vetoed", at=T0)
    t_in = datetime(2024, 3, 12, 9, 30, tzinfo=ET)
    opened = store.open_paper_track(c.id, entry_price=entry, entry_at=t_in, qty=10, at=t_in)
    assert (opened.status, opened.symbol, opened.side, opened.exit_price) == (
        "open",
        "TSLA",
        side,
        None,
    )
    assert [p.candidate_id for p in store.paper_tracks(open_only=True)] == [c.id]
    t_out = t_in + timedelta(days=2)
    closed = store.close_paper_track(
        c.id, exit_price=exit_, exit_at=t_out, exit_reason="TAKE_PROFIT", at=t_out
    )
    assert closed.status == "closed"
    assert closed.pnl == pytest.approx(pnl)
    assert closed.pnl_pct == pytest.approx(pct)
    assert closed.r_multiple == pytest.approx(r)
    assert store.paper_tracks(open_only=True) == []
    with pytest.raises(ValueError, match="already closed"):
        store.close_paper_track(c.id, exit_price=1.0, exit_at=t_out, exit_reason="MANUAL", at=t_out)


# -- orders, events, fills -----------------------------------------------------------------------


def test_order_create_update_and_events(store: Store) -> None:
    res = new_order(store, event_detail={"why": "group A entry"})
    assert res.created
    o = res.order
    assert (o.status, o.filled_qty, o.avg_fill_price, o.session, o.order_type, o.tif) == (
        "new",
        0.0,
        None,
        S2,
        "market",
        "opg",
    )
    t1 = T0 + timedelta(seconds=1)
    up = store.upsert_order(o.client_order_id, at=t1, status="accepted", broker_order_id="b-1")
    assert not up.created
    assert (up.order.status, up.order.broker_order_id, up.order.updated_at) == (
        "accepted",
        "b-1",
        t1,
    )
    assert up.order.created_at == T0
    # no change -> no event
    store.upsert_order(o.client_order_id, at=t1, status="accepted", symbol="AAPL")
    ev = store.order_events(o.client_order_id)
    assert [(e.from_status, e.to_status, e.detail) for e in ev] == [
        (None, "new", {"why": "group A entry"}),
        ("new", "accepted", None),
    ]
    extra = store.record_order_event(
        o.client_order_id,
        "accepted",
        at=t1,
        from_status="accepted",
        detail={"msg": "replace asked"},
    )
    assert extra.detail == {"msg": "replace asked"}
    assert len(store.order_events(o.client_order_id)) == 3
    assert store.order_by_broker_id("b-1") == store.order_by_client_id(o.client_order_id)
    assert store.order_by_client_id("nope") is None
    with pytest.raises(KeyError):
        store.record_order_event("nope", "new", at=t1)


def test_order_client_id_is_unique(store: Store) -> None:
    cid = "2024-03-12-AAPL-rsi-entry"
    assert new_order(store, cid).created
    again = new_order(store, cid, at=T0 + timedelta(seconds=5))
    assert not again.created
    assert store.db.conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 1
    # an order with the same id but a different identity is a bug, not an update
    with pytest.raises(ValueError, match="symbol 'AAPL' -> 'MSFT'"):
        new_order(store, cid, symbol="MSFT")
    # and the schema itself refuses a second row with the id
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        store.db.conn.execute(
            "INSERT INTO orders (client_order_id, session, symbol, side, qty, order_type, tif, "
            "intent, status, created_at, updated_at) VALUES (?, '2024-03-12', 'AAPL', 'buy', 1, "
            "'market', 'day', 'entry', 'new', 'x', 'x')",
            [cid],
        )


def test_creating_an_order_needs_its_identity(store: Store) -> None:
    with pytest.raises(
        ValueError, match="needs session, symbol, side, qty, order_type, tif, intent"
    ):
        store.upsert_order("x", at=T0, status="new")
    with pytest.raises(ValueError, match="time in force"):
        new_order(store, tif="forever")
    assert store.open_orders() == []


def test_open_orders_excludes_terminal_statuses(store: Store) -> None:
    statuses = ["new", "accepted", "partially_filled", "filled", "canceled", "rejected", "expired"]
    for i, st in enumerate(statuses):
        new_order(store, f"cid-{i}", symbol=f"S{i}", status=st)
    assert [o.status for o in store.open_orders()] == ["new", "accepted", "partially_filled"]
    assert all(o.is_open for o in store.open_orders())
    assert len(store.orders_for_session(S2)) == len(statuses)
    assert store.orders_for_session(S1) == []


def test_fill_is_idempotent_on_broker_fill_id(store: Store) -> None:
    cid = new_order(store, qty=10).order.client_order_id
    t = datetime(2024, 3, 12, 9, 30, 1, tzinfo=ET)
    first = store.record_fill("exec-1", cid, symbol="AAPL", side="buy", qty=4, price=100.0, at=t)
    assert not first.duplicate
    dup = store.record_fill("exec-1", cid, symbol="AAPL", side="buy", qty=4, price=100.0, at=t)
    assert dup.duplicate and dup.fill == first.fill
    store.record_fill("exec-2", cid, symbol="AAPL", side="buy", qty=6, price=101.0, at=t)
    assert [f.fill_id for f in store.fills_for_order(cid)] == ["exec-1", "exec-2"]
    o = store.order_by_client_id(cid)
    assert o is not None
    assert o.filled_qty == 10.0
    assert o.avg_fill_price == pytest.approx((4 * 100.0 + 6 * 101.0) / 10)
    # a redelivery with other numbers is still ignored (and logged), never double counted
    again = store.record_fill("exec-2", cid, symbol="AAPL", side="buy", qty=60, price=1.0, at=t)
    assert again.duplicate and again.fill.qty == 6.0
    assert store.order_by_client_id(cid).filled_qty == 10.0  # type: ignore[union-attr]


def test_fill_for_an_unknown_order_is_refused(store: Store) -> None:
    with pytest.raises(KeyError, match="unknown order"):
        store.record_fill("e", "nope", symbol="AAPL", side="buy", qty=1, price=1.0, at=T0)
    assert store.db.conn.execute("SELECT count(*) FROM fills").fetchone()[0] == 0


# -- positions, trades, MFE/MAE ------------------------------------------------------------------


def open_pos(store: Store, symbol: str = "AAPL", side: str = "long", **over: object):
    kwargs: dict[str, object] = {
        "symbol": symbol,
        "side": side,
        "qty": 10,
        "avg_entry": 100.0,
        "entry_session": S2,
        "entry_at": datetime(2024, 3, 12, 9, 30, 2, tzinfo=ET),
        "strategy": "rsi_reversion",
        "sl_mult": 1.5,
        "tp_mult": 2.0,
        "atr14": 2.0,
        "at": datetime(2024, 3, 12, 9, 30, 2, tzinfo=ET),
    }
    kwargs.update(over)
    return store.open_position(**kwargs)  # type: ignore[arg-type]


def test_position_open_update_and_one_open_per_symbol(store: Store) -> None:
    p = open_pos(store)
    assert (p.status, p.qty, p.avg_entry, p.sl, p.entry_session) == ("open", 10.0, 100.0, None, S2)
    with pytest.raises(ValueError, match="already has an open position"):
        open_pos(store)
    stop = new_order(
        store, "stop-1", side="sell", order_type="stop", tif="gtc", intent="stop", stop_price=93.0
    ).order
    t = datetime(2024, 3, 13, 9, 30, tzinfo=ET)
    up = store.update_position(
        p.id, at=t, sl=97.0, tp=104.0, stop_client_order_id=stop.client_order_id
    )
    assert (up.sl, up.tp, up.stop_client_order_id, up.updated_at) == (97.0, 104.0, "stop-1", t)
    assert [x.id for x in store.open_positions()] == [p.id]
    # the protective stop must be a stored order (written before it is sent)
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        store.update_position(p.id, at=t, stop_client_order_id="never-written")


def test_manual_levels_sit_beside_the_rules_levels(store: Store) -> None:
    p = open_pos(store, sl=97.0, tp=104.0)
    assert (p.sl_manual, p.tp_manual) == (None, None)  # the rule's levels apply
    t = datetime(2024, 3, 13, 10, 0, tzinfo=ET)
    moved = store.set_manual_levels(p.id, sl_manual=98.5, tp_manual=None, at=t)
    assert (moved.sl, moved.tp, moved.sl_manual, moved.tp_manual) == (97.0, 104.0, 98.5, None)
    # a later fill re-derives the rule's levels; the trader's stays
    again = store.update_position(p.id, at=t, avg_entry=100.5, sl=97.5, tp=104.5)
    assert (again.sl, again.sl_manual) == (97.5, 98.5)
    back = store.set_manual_levels(p.id, sl_manual=None, tp_manual=106.0, at=t)
    assert (back.sl_manual, back.tp_manual) == (None, 106.0)
    for bad in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError):
            store.set_manual_levels(p.id, sl_manual=bad, tp_manual=None, at=t)
    store.close_position(
        p.id, exit_price=99.0, exit_at=t, exit_session=S2, exit_reason="MANUAL", days_held=2
    )
    with pytest.raises(ValueError, match="closed"):
        store.set_manual_levels(p.id, sl_manual=98.0, tp_manual=None, at=t)


@pytest.mark.parametrize(
    ("side", "exit_price", "pnl", "pct", "r"),
    [
        ("long", 104.0, 40.0, 0.04, 4.0 / 3.0),
        ("long", 97.0, -30.0, -0.03, -1.0),
        ("short", 97.0, 30.0, 0.03, 1.0),
        ("short", 104.0, -40.0, -0.04, -4.0 / 3.0),
    ],
    ids=["long-win", "long-stop", "short-win", "short-stop"],
)
def test_close_position_makes_a_trade(
    store: Store, side: str, exit_price: float, pnl: float, pct: float, r: float
) -> None:
    p = open_pos(store, side=side)
    mfe_at = datetime(2024, 3, 13, 11, 0, tzinfo=ET)
    mae_at = datetime(2024, 3, 12, 10, 0, tzinfo=ET)
    store.update_mfe_mae(
        p.id,
        mfe_price=105.0,
        mfe_pct=0.05,
        mfe_r=5 / 3,
        mfe_at=mfe_at,
        mae_price=98.0,
        mae_pct=-0.02,
        mae_r=-2 / 3,
        mae_at=mae_at,
        last_price_at=mfe_at,
        at=mfe_at,
    )
    exit_at = datetime(2024, 3, 14, 15, 50, tzinfo=ET)
    t = store.close_position(
        p.id,
        exit_price=exit_price,
        exit_at=exit_at,
        exit_session=date(2024, 3, 14),
        exit_reason="TAKE_PROFIT",
        days_held=3,
    )
    assert (t.position_id, t.symbol, t.side, t.qty, t.entry_price, t.exit_price) == (
        p.id,
        "AAPL",
        side,
        10.0,
        100.0,
        exit_price,
    )
    assert t.pnl == pytest.approx(pnl)
    assert t.pnl_pct == pytest.approx(pct)
    assert t.r_multiple == pytest.approx(r)
    assert (t.days_held, t.exit_reason, t.strategy, t.exit_at, t.entry_session) == (
        3,
        "TAKE_PROFIT",
        "rsi_reversion",
        exit_at,
        S2,
    )
    assert (t.mfe_price, t.mfe_at, t.mae_price, t.mae_at) == (105.0, mfe_at, 98.0, mae_at)
    assert store.open_positions() == []
    closed = store.get_position(p.id)
    assert closed is not None and closed.status == "closed" and closed.closed_at == exit_at
    assert store.trades() == [t]
    assert store.trades(start=date(2024, 3, 15)) == []
    assert store.symbols_exited(date(2024, 3, 14)) == {"AAPL"}
    assert store.symbols_exited(S2) == set()
    with pytest.raises(ValueError, match="already closed"):
        store.close_position(
            p.id,
            exit_price=1.0,
            exit_at=exit_at,
            exit_session=date(2024, 3, 14),
            exit_reason="MANUAL",
            days_held=3,
        )
    with pytest.raises(ValueError, match="closed"):
        store.update_position(p.id, at=exit_at, sl=1.0)
    # the symbol can be held again later
    assert open_pos(store).id != p.id


def test_close_position_rejects_unknown_exit_reason(store: Store) -> None:
    p = open_pos(store)
    with pytest.raises(ValueError, match="exit reason"):
        store.close_position(
            p.id, exit_price=1.0, exit_at=T0, exit_session=S2, exit_reason="BORED", days_held=1
        )
    assert [x.id for x in store.open_positions()] == [p.id]
    assert store.trades() == []


def test_mfe_mae_upsert(store: Store) -> None:
    p = open_pos(store)
    t1 = datetime(2024, 3, 12, 10, 0, tzinfo=ET)
    t2 = datetime(2024, 3, 12, 11, 0, tzinfo=ET)
    store.update_mfe_mae(
        p.id,
        mfe_price=101.0,
        mfe_pct=0.01,
        mfe_r=1 / 3,
        mfe_at=t1,
        mae_price=99.0,
        mae_pct=-0.01,
        mae_r=-1 / 3,
        mae_at=t1,
        last_price_at=t1,
        at=t1,
    )
    m = store.update_mfe_mae(
        p.id,
        mfe_price=102.0,
        mfe_pct=0.02,
        mfe_r=2 / 3,
        mfe_at=t2,
        mae_price=99.0,
        mae_pct=-0.01,
        mae_r=-1 / 3,
        mae_at=t1,
        last_price_at=t2,
        at=t2,
    )
    assert (m.mfe_price, m.mfe_at, m.mae_at, m.last_price_at) == (102.0, t2, t1, t2)
    assert store.get_mfe_mae(p.id) == m
    assert store.db.conn.execute("SELECT count(*) FROM mfe_mae").fetchone()[0] == 1
    assert store.get_mfe_mae(999) is None


# -- equity, performance, audit, params -----------------------------------------------------------


def test_equity_snapshots_and_peak(store: Store) -> None:
    base = datetime(2024, 3, 12, 16, 5, tzinfo=ET)
    for i, eq in enumerate([100_000.0, 102_000.0, 99_000.0]):
        store.record_equity(
            at=base + timedelta(days=i),
            session=date(2024, 3, 12 + i),
            equity=eq,
            cash=eq / 2,
            day_pnl=eq - 100_000.0,
            peak_equity=max(100_000.0, min(eq, 102_000.0)),
            drawdown=0.0,
        )
    last = store.latest_equity()
    assert last is not None and last.equity == 99_000.0 and last.session == date(2024, 3, 14)
    assert store.peak_equity() == 102_000.0
    assert [e.equity for e in store.equity_snapshots(date(2024, 3, 13))] == [102_000.0]
    assert len(store.equity_snapshots(since=base + timedelta(days=1))) == 2


def test_empty_store_has_no_equity(store: Store) -> None:
    assert store.latest_equity() is None
    assert store.peak_equity() is None


def test_a_session_start_is_fixed_once_and_counts_for_the_peak(store: Store) -> None:
    """Issue 12 items 5 and 6: the start is written when the session starts and a restart
    gets it back; the drawdown peak includes every session's start, not only end-of-day
    equities (a first day that lost money had a peak below its start)."""
    d = date(2024, 3, 12)
    t = datetime(2024, 3, 12, 9, 25, tzinfo=ET)
    row = store.record_session_start(d, start_equity=100_000.0, source="broker", at=t)
    assert (row.session, row.start_equity, row.source) == (d, 100_000.0, "broker")
    again = store.record_session_start(
        d, start_equity=99_985.2, source="broker", at=t + timedelta(hours=2)
    )
    assert again == row  # the first one stays
    assert store.session_start(d) == row and store.session_start(date(2024, 3, 13)) is None
    store.record_equity(
        at=t.replace(hour=16, minute=5),
        session=d,
        equity=96_678.58,
        cash=96_678.58,
        day_pnl=-3_321.42,
        peak_equity=100_000.0,
        drawdown=0.0332,
    )
    assert store.peak_equity() == 100_000.0
    with pytest.raises(ValueError, match="source"):
        store.record_session_start(d, start_equity=1.0, source="guess", at=t)


def test_equity_marks_are_kept_per_session(store: Store) -> None:
    d = date(2024, 3, 12)
    t = datetime(2024, 3, 12, 10, 0, tzinfo=ET)
    for i, (eq, engaged) in enumerate([(99_000.0, False), (97_900.0, True)]):
        store.record_equity_mark(
            at=t + timedelta(minutes=i),
            session=d,
            equity=eq,
            start_equity=100_000.0,
            loss_limit=0.02,
            engaged=engaged,
        )
    marks = store.equity_marks(d)
    assert [(m.equity, m.engaged, m.loss_limit) for m in marks] == [
        (99_000.0, False, 0.02),
        (97_900.0, True, 0.02),
    ]
    assert store.equity_marks(date(2024, 3, 13)) == []
    assert store.peak_equity() is None  # intraday marks are not a peak


def test_official_opens_keep_the_first_reading(store: Store) -> None:
    d = date(2024, 3, 12)
    t = datetime(2024, 3, 12, 9, 30, tzinfo=ET)
    store.record_official_open(d, "AAPL", 170.25, at=t)
    assert store.record_official_open(d, "AAPL", 171.0, at=t).price == 170.25
    assert {s: r.price for s, r in store.official_opens(d).items()} == {"AAPL": 170.25}


def test_daily_performance_upsert(store: Store) -> None:
    store.record_daily_performance(
        S2, start_equity=100_000, end_equity=99_000, trades=2, wins=0, at=T0
    )
    row = store.record_daily_performance(
        S2, start_equity=100_000, end_equity=101_000, trades=3, wins=2, at=T0
    )
    assert (row.pnl, row.pnl_pct, row.trades, row.wins) == (1_000.0, 0.01, 3, 2)
    store.record_daily_performance(
        S1, start_equity=100_000, end_equity=100_000, trades=0, wins=0, at=T0
    )
    assert [d.session for d in store.daily_performance()] == [S1, S2]
    assert [d.session for d in store.daily_performance(start=S2)] == [S2]


def test_audit_log_filters_and_order(store: Store) -> None:
    store.audit("engine", "entry.rejected", "candidate:1", {"reason": "sector full"}, at=T0)
    store.audit("user", "kill_switch.engaged", "", None, at=T0 + timedelta(minutes=1))
    store.audit("engine", "entry.rejected", "candidate:2", {"reason": "kill switch"}, at=T0)
    assert [a.subject for a in store.audit_log(action="entry.rejected")] == [
        "candidate:1",
        "candidate:2",
    ]
    assert store.audit_log(subject="candidate:2")[0].detail == {"reason": "kill switch"}
    assert [a.action for a in store.audit_log(limit=2)] == ["kill_switch.engaged", "entry.rejected"]
    assert [a.action for a in store.audit_log(since=T0 + timedelta(seconds=30))] == [
        "kill_switch.engaged"
    ]
    with pytest.raises(ValueError, match="audit actor"):
        store.audit("martian", "x", at=T0)


def test_param_set_recorded_once_per_hash(store: Store) -> None:
    row, created = store.record_param_set("abc", "risk: 0.005\n", "config/params.yaml", at=T0)
    assert created and row.yaml == "risk: 0.005\n" and row.source == "config/params.yaml"
    again, created2 = store.record_param_set("abc", "risk: 0.005\n", "other.yaml", at=T0)
    assert not created2 and again == row
    assert store.param_set("abc") == row
    assert store.param_set("zzz") is None
    assert [a.action for a in store.audit_log(subject="params:abc")] == ["params.recorded"]


# -- bar cache ------------------------------------------------------------------------------------


def long_bars(symbols: tuple[str, ...], days: int, start: str = "2024-01-02") -> pd.DataFrame:
    dates = pd.bdate_range(start, periods=days)
    rows = []
    for j, s in enumerate(symbols):
        for i, d in enumerate(dates):
            c = 100.0 + 10 * j + i
            rows.append((d, s, c - 0.5, c + 1.0, c - 1.0, c, 1e6 + i))
    return pd.DataFrame(rows, columns=["date", "symbol", "open", "high", "low", "close", "volume"])


def test_bar_cache_round_trip(store: Store) -> None:
    bars = long_bars(("MSFT", "AAPL"), 5)
    assert store.put_bars("sip", bars) == 10
    got = store.get_bars(["AAPL", "MSFT", "NOPE"], None, None, "sip")
    assert list(got.columns) == ["date", "symbol", "open", "high", "low", "close", "volume"]
    expected = bars.sort_values(["date", "symbol"]).reset_index(drop=True)
    assert got["symbol"].tolist() == expected["symbol"].tolist()
    assert (
        got["date"].dt.strftime("%Y-%m-%d").tolist()
        == expected["date"].dt.strftime("%Y-%m-%d").tolist()
    )
    for f in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(got[f].to_numpy(), expected[f].to_numpy())
    assert pd.api.types.is_datetime64_any_dtype(got["date"])
    # date range and symbol filter, both bounds inclusive
    part = store.get_bars(["AAPL"], date(2024, 1, 3), date(2024, 1, 5), "sip")
    assert part["date"].dt.day.tolist() == [3, 4, 5]
    assert set(part["symbol"]) == {"AAPL"}
    # feeds are separate caches
    assert store.get_bars(["AAPL"], None, None, "iex").empty
    assert store.bar_cache_last_dates("sip") == {"AAPL": date(2024, 1, 8), "MSFT": date(2024, 1, 8)}
    assert store.bar_cache_last_dates("iex") == {}


def test_bar_cache_replaces_skips_missing_close_and_keeps_missing_volume(store: Store) -> None:
    store.put_bars("sip", long_bars(("AAPL",), 3))
    fix = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-01-03", "2024-01-05", "2024-01-08"]).tz_localize(ET),
            "symbol": ["AAPL"] * 3,
            "open": [1.0, 2.0, 3.0],
            "high": [1.0, 2.0, 3.0],
            "low": [1.0, 2.0, 3.0],
            "close": [1.5, 2.5, np.nan],
            "volume": [10.0, np.nan, 30.0],
        }
    )
    assert store.put_bars("sip", fix) == 2  # the bar without a close is not a bar
    got = store.get_bars(["AAPL"], None, None, "sip")
    # Jan 3 replaced, Jan 4 kept, Jan 5 added, Jan 8 (no close) skipped
    assert got["close"].tolist() == [100.0, 1.5, 102.0, 2.5]
    assert got["volume"].iloc[1] == 10.0
    assert math.isnan(got["volume"].iloc[3])
    assert store.bar_cache_last_dates("sip") == {"AAPL": date(2024, 1, 5)}
    with pytest.raises(ValueError, match="volume"):
        store.put_bars("sip", fix.drop(columns=["volume"]))
    assert store.put_bars("sip", fix.iloc[0:0]) == 0


def test_bar_cache_many_symbols(store: Store) -> None:
    symbols = tuple(f"S{i:03d}" for i in range(600))  # more than one IN (...) chunk
    store.put_bars("sip", long_bars(symbols, 20))
    got = store.get_bars(symbols, None, None, "sip")
    assert len(got) == 600 * 20
    assert got["symbol"].nunique() == 600
    assert len(store.bar_cache_last_dates("sip")) == 600


FIELDS = ("open", "high", "low", "close", "volume")


def day_bars(symbol: str, days: list[str], base: float) -> pd.DataFrame:
    """One symbol's bars on ``days`` (``MM-DD`` of 2024); close ``base + i``, the rest near it."""
    closes = [base + i for i in range(len(days))]
    return pd.DataFrame(
        {
            "date": pd.to_datetime([f"2024-{d}" for d in days]),
            "symbol": symbol,
            "open": [c - 0.5 for c in closes],
            "high": [c + 1.0 for c in closes],
            "low": [c - 1.0 for c in closes],
            "close": closes,
            "volume": [1e6 * (i + 1) for i in range(len(days))],
        }
    )


def series_row(store: Store, feed: str, symbol: str) -> dict:
    row = store.db.conn.execute(
        "SELECT first_date, last_date, n, typeof(dates), typeof(ohlcv), length(dates), "
        "length(ohlcv), updated_at FROM bar_series WHERE feed = ? AND symbol = ?",
        (feed, symbol),
    ).fetchone()
    keys = ("first", "last", "n", "dates_type", "ohlcv_type", "dates_len", "ohlcv_len", "at")
    return dict(zip(keys, row, strict=True))


@pytest.mark.parametrize(
    ("cached", "new"),
    [
        (["01-02", "01-03", "01-04"], ["01-05", "01-08"]),
        (["01-05", "01-08"], ["01-02", "01-03"]),
        (["01-02", "01-03", "01-04"], ["01-04", "01-05"]),
        (["01-04", "01-05"], ["01-02", "01-04"]),
        (["01-02", "01-04", "01-08"], ["01-03", "01-04", "01-05", "01-09"]),
        (["01-02", "01-03", "01-04"], ["01-02", "01-03", "01-04"]),
        (["01-02", "01-05", "01-08"], ["01-03"]),
    ],
    ids=[
        "append",
        "prepend",
        "overlap-last",
        "overlap-first",
        "interleaved",
        "same-dates",
        "fill-a-gap",
    ],
)
def test_put_bars_merges_into_the_cached_series_new_values_win(
    store: Store, cached: list[str], new: list[str]
) -> None:
    assert store.put_bars("sip", day_bars("AAPL", cached, 100.0)) == len(cached)
    store.put_bars("sip", day_bars("MSFT", ["01-03"], 50.0))  # another symbol, untouched
    assert store.put_bars("sip", day_bars("AAPL", new, 200.0)) == len(new)

    expected: dict[str, tuple[float, ...]] = {}
    for frame in (day_bars("AAPL", cached, 100.0), day_bars("AAPL", new, 200.0)):
        for r in frame.itertuples(index=False):
            expected[r.date.strftime("%Y-%m-%d")] = tuple(getattr(r, f) for f in FIELDS)
    days = sorted(expected)
    got = store.get_bars(["AAPL"], None, None, "sip")
    assert got["date"].dt.strftime("%Y-%m-%d").tolist() == days
    assert got["symbol"].tolist() == ["AAPL"] * len(days)
    assert [tuple(r) for r in got[list(FIELDS)].itertuples(index=False)] == [
        expected[d] for d in days
    ]
    row = series_row(store, "sip", "AAPL")
    assert (row["first"], row["last"], row["n"]) == (days[0], days[-1], len(days))
    assert (row["dates_type"], row["ohlcv_type"]) == ("blob", "blob")
    assert (row["dates_len"], row["ohlcv_len"]) == (4 * len(days), 40 * len(days))
    assert store.bar_cache_last_dates("sip") == {
        "AAPL": date.fromisoformat(days[-1]),
        "MSFT": date(2024, 1, 3),
    }
    assert store.get_bars(["MSFT"], None, None, "sip")["close"].tolist() == [50.0]


def test_bar_series_blob_layout(store: Store) -> None:
    """int32 days since 1970-01-01 and float64 n x 5 OHLCV rows, little-endian, row-major."""
    bars = day_bars("AAPL", ["01-02", "01-03"], 100.0)
    bars.loc[1, "volume"] = np.nan
    store.put_bars("sip", bars)
    store.put_bars("sip", day_bars("AAPL", ["01-04"], 300.0))  # appended inside SQLite
    dates_blob, ohlcv_blob = store.db.conn.execute(
        "SELECT dates, ohlcv FROM bar_series WHERE feed = 'sip' AND symbol = 'AAPL'"
    ).fetchone()
    epoch = date(1970, 1, 1)
    assert np.frombuffer(dates_blob, "<i4").tolist() == [
        (date(2024, 1, d) - epoch).days for d in (2, 3, 4)
    ]
    np.testing.assert_array_equal(
        np.frombuffer(ohlcv_blob, "<f8").reshape(3, 5),
        [
            [99.5, 101.0, 99.0, 100.0, 1e6],
            [100.5, 102.0, 100.0, 101.0, np.nan],
            [299.5, 301.0, 299.0, 300.0, 1e6],
        ],
    )


def test_put_bars_duplicates_missing_and_infinite_values(store: Store) -> None:
    bars = pd.DataFrame(
        {
            "date": ["2024-01-02", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"],
            "symbol": ["AAPL"] * 5,
            "open": [1.0, 2.0, np.nan, 4.0, 5.0],
            "high": [1.0, 2.0, np.inf, 4.0, 5.0],
            "low": [1.0, 2.0, 3.0, -np.inf, 5.0],
            "close": [1.0, 2.0, 3.0, np.inf, np.nan],
            "volume": [1.0, 2.0, 3.0, 4.0, None],
        }
    )
    # the second Jan 2 row wins; Jan 4 (infinite close) and Jan 5 (no close) are not bars
    assert store.put_bars("sip", bars) == 2
    got = store.get_bars(["AAPL"], None, None, "sip")
    np.testing.assert_array_equal(
        got[list(FIELDS)].to_numpy(), [[2.0, 2.0, 2.0, 2.0, 2.0], [np.nan, np.nan, 3.0, 3.0, 3.0]]
    )
    # missing fields survive the append path (bytes concatenated inside SQLite) as NaN too
    later = bars.iloc[[2]].assign(date="2024-01-08", volume=np.nan)
    assert store.put_bars("sip", later) == 1
    got = store.get_bars(["AAPL"], date(2024, 1, 8), None, "sip")
    np.testing.assert_array_equal(
        got[list(FIELDS)].to_numpy(), [[np.nan, np.nan, 3.0, 3.0, np.nan]]
    )
    assert store.put_bars("sip", bars.assign(close=np.nan)) == 0
    with pytest.raises(ValueError, match="1 bar rows with a close have no date"):
        store.put_bars("sip", bars.assign(date=[None, "2024-01-02", "2024-01-03", None, None]))
    assert store.get_bars(["AAPL"], None, None, "sip")["close"].tolist() == [2.0, 3.0, 3.0]


def _per_symbol(bars: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {
        str(sym): (
            g["date"].to_numpy().astype("datetime64[D]"),
            g[list(FIELDS)].to_numpy(dtype=np.float64),
        )
        for sym, g in bars.groupby("symbol", sort=False)
    }


def test_bar_series_are_the_same_cache_as_put_and_get_bars(store: Store, tmp_path: Path) -> None:
    """put_bar_series / get_bar_series (the Alpaca adapter's, without frames) store and read
    exactly what put_bars / get_bars do, merges, appends and skipped bars included."""
    other = Store.open(tmp_path / "other.db")
    try:
        first, later = long_bars(("MSFT", "AAPL"), 6), long_bars(("AAPL", "NVDA"), 4, "2024-01-08")
        later.loc[0, "close"] = np.nan  # no close, no bar
        later.loc[1, "high"] = np.inf  # stored as NaN
        for frame in (first, later):
            assert store.put_bars("sip", frame) == other.put_bar_series("sip", _per_symbol(frame))
        for lo in (None, date(2024, 1, 9)):
            want = store.get_bars(["AAPL", "MSFT", "NVDA", "NOPE"], lo, None, "sip")
            got = other.get_bar_series(["AAPL", "MSFT", "NVDA", "NOPE"], lo, None, "sip")
            assert sorted(got) == sorted(set(want["symbol"]))
            for sym, (d, v) in got.items():
                rows = want[want["symbol"] == sym]
                assert d.dtype == np.dtype("datetime64[D]")
                assert d.tolist() == rows["date"].to_numpy().astype("datetime64[D]").tolist()
                np.testing.assert_array_equal(v, rows[list(FIELDS)].to_numpy())
        assert store.bar_cache_last_dates("sip") == other.bar_cache_last_dates("sip")
        # a date given twice keeps the last bar, as in put_bars
        days = np.array(["2024-01-02", "2024-01-02"], "datetime64[D]")
        twice = (days, np.ones((2, 5)) * [[1.0], [2.0]])
        assert other.put_bar_series("iex", {"AAPL": twice}) == 1
        assert other.get_bar_series(["AAPL"], None, None, "iex")["AAPL"][1][0, 3] == 2.0
        assert other.get_bar_series(["AAPL"], None, None, "nope") == {}
    finally:
        other.close()


def test_put_bars_stamps_updated_at(store: Store) -> None:
    store.put_bars("sip", day_bars("AAPL", ["01-02"], 100.0), at=T0)
    assert series_row(store, "sip", "AAPL")["at"] == "2024-03-12T00:00:00.000000+00:00"
    store.put_bars("sip", day_bars("AAPL", ["01-03"], 100.0), at=T0 + timedelta(days=1))
    assert series_row(store, "sip", "AAPL")["at"] == "2024-03-13T00:00:00.000000+00:00"
    store.put_bars("sip", day_bars("MSFT", ["01-02"], 100.0))  # the database's clock
    stamp = datetime.fromisoformat(series_row(store, "sip", "MSFT")["at"])
    assert stamp.utcoffset() == timedelta(0) and stamp.year >= 2024


def test_bar_cache_empty_answers(store: Store) -> None:
    store.put_bars("sip", day_bars("AAPL", ["01-02", "01-03"], 100.0))
    for symbols, start, end, feed in [
        ([], None, None, "sip"),
        (["NOPE"], None, None, "sip"),
        (["AAPL"], None, None, "iex"),
        (["AAPL"], date(2024, 1, 4), None, "sip"),
        (["AAPL"], None, date(2024, 1, 1), "sip"),
        (["AAPL"], date(2024, 1, 3), date(2024, 1, 2), "sip"),
    ]:
        got = store.get_bars(symbols, start, end, feed)
        assert got.empty and list(got.columns) == list(BAR_COLUMNS)
        assert pd.api.types.is_datetime64_any_dtype(got["date"])
        assert got["symbol"].dtype == object
        assert all(got[f].dtype == np.float64 for f in FIELDS)
        daily = store.get_daily_bars(symbols, start, end, feed)
        assert (daily.n_sessions, daily.symbols) == (0, ())
        assert daily.close.shape == (0, 0) and daily.dates.dtype == np.dtype("datetime64[D]")
    assert store.bar_cache_last_dates("iex") == {}


def test_get_bars_dtypes_and_order(store: Store) -> None:
    store.put_bars("sip", long_bars(("MSFT", "AAPL", "BRK.B"), 3))
    got = store.get_bars(("MSFT", "BRK.B", "AAPL", "MSFT"), None, None, "sip")
    assert got.dtypes.astype(str).to_dict() == {
        "date": "datetime64[us]",
        "symbol": "object",
        **dict.fromkeys(FIELDS, "float64"),
    }
    assert isinstance(got.index, pd.RangeIndex) and got.index.start == 0
    assert list(zip(got["date"].dt.day, got["symbol"], strict=True)) == [
        (d, s) for d in (2, 3, 4) for s in ("AAPL", "BRK.B", "MSFT")
    ]


def ragged_bars(far_apart: bool) -> pd.DataFrame:
    """Symbols with different histories: late starts, holes, NaN fields, another feed's bars."""
    rng = np.random.default_rng(11)
    days = pd.bdate_range("2023-06-01", periods=80)
    frames = []
    for j, sym in enumerate(("AAA", "BBB", "CCC", "DDD", "EEE", "SPY")):
        keep = rng.random(len(days)) > 0.15 * (j % 3)  # AAA and DDD have every session
        d = days[keep][j * 3 :]  # later symbols start later
        n = len(d)
        close = 50 + rng.normal(0, 1, n).cumsum()
        vol = rng.integers(1, 9, n) * 1e5
        vol[rng.random(n) < 0.1] = np.nan
        frames.append(
            pd.DataFrame(
                {
                    "date": d,
                    "symbol": sym,
                    "open": close + 0.1,
                    "high": close + 1,
                    "low": close - 1,
                    "close": close,
                    "volume": vol,
                }
            )
        )
    if far_apart:  # a series decades away: the union of dates is sorted, not masked
        frames.append(day_bars("OLD", ["01-02"], 9.0).assign(date=pd.Timestamp("1985-03-04")))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("far_apart", [False, True], ids=["one-era", "decades-apart"])
@pytest.mark.parametrize(
    ("symbols", "start", "end"),
    [
        (("AAA", "BBB", "CCC", "DDD", "EEE", "SPY", "OLD"), None, None),
        (("SPY", "EEE", "AAA", "NOPE"), date(2023, 7, 3), date(2023, 8, 15)),
        (("EEE", "CCC"), None, date(2023, 6, 20)),
        (("BBB", "OLD"), date(2023, 9, 1), None),
        (("AAA",), date(2023, 6, 10), date(2023, 6, 11)),
    ],
    ids=["everything", "window", "before-late-starts", "from-a-date", "weekend-only"],
)
def test_get_daily_bars_equals_from_long_of_get_bars(
    store: Store,
    far_apart: bool,
    symbols: tuple[str, ...],
    start: date | None,
    end: date | None,
) -> None:
    store.put_bars("sip", ragged_bars(far_apart))
    store.put_bars("iex", day_bars("AAA", ["01-02"], 1.0))  # another feed is not mixed in
    expected = DailyBars.from_long(store.get_bars(symbols, start, end, "sip"))
    got = store.get_daily_bars(symbols, start, end, "sip")
    assert isinstance(got, DailyBars)
    assert got.symbols == expected.symbols
    assert got.dates.dtype == expected.dates.dtype
    np.testing.assert_array_equal(got.dates, expected.dates)
    for f in FIELDS:
        assert getattr(got, f).dtype == np.float64
        np.testing.assert_array_equal(getattr(got, f), getattr(expected, f), err_msg=f)


def test_get_daily_bars_values(store: Store) -> None:
    """Not only equal to from_long: the right bar in the right cell, NaN where none."""
    store.put_bars("sip", day_bars("AAPL", ["01-02", "01-03", "01-04"], 100.0))
    store.put_bars("sip", day_bars("MSFT", ["01-03", "01-05"], 50.0))
    got = store.get_daily_bars(["MSFT", "AAPL"], date(2024, 1, 3), None, "sip")
    assert got.symbols == ("AAPL", "MSFT")
    assert got.dates.astype(str).tolist() == ["2024-01-03", "2024-01-04", "2024-01-05"]
    np.testing.assert_array_equal(got.close, [[101.0, 50.0], [102.0, np.nan], [np.nan, 51.0]])
    np.testing.assert_array_equal(got.volume, [[2e6, 1e6], [3e6, np.nan], [np.nan, 2e6]])
    # MSFT's series spans Jan 4 but has no bar on it: it is absent, as from get_bars
    only = store.get_daily_bars(["MSFT", "AAPL"], date(2024, 1, 4), date(2024, 1, 4), "sip")
    assert only.symbols == ("AAPL",) and only.close.tolist() == [[102.0]]
    assert store.get_bars(["MSFT", "AAPL"], date(2024, 1, 4), date(2024, 1, 4), "sip")[
        "symbol"
    ].tolist() == ["AAPL"]


def test_damaged_series_is_a_store_error_and_last_dates_skip_the_blobs(
    store: Store, db_path: Path
) -> None:
    store.put_bars("sip", long_bars(("AAPL", "MSFT"), 3))
    c = raw(db_path)
    c.execute("PRAGMA ignore_check_constraints = ON")  # what a damaged page could hold
    c.execute("UPDATE bar_series SET ohlcv = x'00' WHERE symbol = 'MSFT'")
    c.close()
    for read in (store.get_bars, store.get_daily_bars):
        with pytest.raises(StoreError, match="damaged cached bars of MSFT on feed sip"):
            read(["AAPL", "MSFT"], None, None, "sip")
    assert len(store.get_bars(["AAPL"], None, None, "sip")) == 3
    assert store.bar_cache_last_dates("sip") == {"AAPL": date(2024, 1, 4), "MSFT": date(2024, 1, 4)}


# -- migrations -----------------------------------------------------------------------------------


def make_v1_database(path: Path) -> None:
    """A database as the first release left it: only the v1 migration, with some rows."""
    conn = sqlite3.connect(str(path))
    db = Database(conn)
    conn.execute("PRAGMA journal_mode = WAL")
    assert migrate(db, 1) == 1
    conn.execute(
        "INSERT INTO scans (id, session, param_hash, status, started_at, regime, loaded) "
        "VALUES (1, '2024-03-11', 'h1', 'ok', '2024-03-12T00:00:00.000000+00:00', 'TREND', 503)"
    )
    conn.execute(
        "INSERT INTO candidates (id, scan_id, rank, symbol, sector, strategy, side, grp, score, "
        "score_strength, score_liquidity, score_rr, score_fit, strength, close, atr14, sl_mult, "
        "tp_mult, sl_dist, tp_dist, approval, approval_note, approval_source, decided_at) "
        "VALUES (7, 1, 1, 'AAPL', 'IT', 'rsi_reversion', 'long', 'A', 80, 0.6, 0.9, 0.67, 1, 0.6, "
        "101, 2, 1.5, 2, 3, 4, 'approved', 'earnings moved', 'user', "
        "'2024-03-12T00:09:00.000000+00:00')"
    )
    conn.executemany(
        "INSERT INTO approvals (candidate_id, state, source, at) VALUES (7, ?, 'user', ?)",
        [
            ("vetoed", "2024-03-12T00:05:00.000000+00:00"),
            ("approved", "2024-03-12T00:09:00.000000+00:00"),
        ],
    )
    conn.commit()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert "bar_cache" not in db.table_names()
    conn.close()


def test_migrating_v1_keeps_data_adds_new_parts_and_leaves_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "workstation.db"
    make_v1_database(path)
    s = Store.open(path)
    try:
        assert s.schema_version == SCHEMA_VERSION
        scan = s.latest_scan(S1)
        assert scan is not None and scan.id == 1 and scan.loaded == 503
        (c,) = s.candidates_for_scan(1)
        assert (c.id, c.symbol, c.approval, c.approval_note) == (
            7,
            "AAPL",
            "approved",
            "earnings moved",
        )
        # v2: each decision keeps its note; the latest decision got the candidate's note
        assert [(a.state, a.note) for a in s.approvals_for(7)] == [
            ("vetoed", None),
            ("approved", "earnings moved"),
        ]
        # v2: the bar cache exists and works
        assert s.put_bars("sip", long_bars(("AAPL",), 2)) == 2
        # and new writes work on migrated data
        s.set_approval(7, "vetoed", "changed my mind", at=T0)
        assert s.approvals_for(7)[-1].note == "changed my mind"
    finally:
        s.close()
    backup = tmp_path / "workstation.db.v1.bak"
    assert backup.is_file()
    b = sqlite3.connect(str(backup))
    assert b.execute("PRAGMA user_version").fetchone()[0] == 1
    assert b.execute("SELECT symbol FROM candidates").fetchall() == [("AAPL",)]
    assert b.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
    b.close()
    # opening the current database again makes no further backup
    Store.open(path).close()
    assert sorted(p.name for p in tmp_path.glob("*.bak")) == ["workstation.db.v1.bak"]


V2_BARS = [  # (feed, symbol, date, open, high, low, close, volume) as the v2 cache held them
    ("sip", "MSFT", "2024-01-03", 370.0, 372.5, 368.25, 371.0, 2.5e7),
    ("sip", "AAPL", "2024-01-03", 184.0, None, 183.0, 184.25, 5.8e7),
    ("sip", "AAPL", "2024-01-02", 187.0, 188.5, 183.9, 185.5, None),
    ("sip", "AAPL", "2024-01-05", None, None, None, 181.0, 6.2e7),
    ("sip", "MSFT", "2024-01-02", 373.0, 375.75, 366.5, 370.75, 2.4e7),
    ("iex", "AAPL", "2024-01-02", 187.1, 188.4, 184.0, 185.4, 1.0e6),
]


def make_v2_database(path: Path) -> None:
    """A database as the second release left it: bars in ``bar_cache``, one row per bar."""
    make_v1_database(path)
    conn = sqlite3.connect(str(path))
    assert migrate(Database(conn), 2) == 2
    conn.executemany("INSERT INTO bar_cache VALUES (?, ?, ?, ?, ?, ?, ?, ?)", V2_BARS)
    conn.commit()
    conn.close()


def test_migrating_v2_turns_the_bar_cache_into_series(tmp_path: Path) -> None:
    path = tmp_path / "workstation.db"
    make_v2_database(path)
    with Store.open(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert set(s.db.table_names()) == TABLES  # bar_cache is gone
        got = s.get_bars(["AAPL", "MSFT"], None, None, "sip")
        expected = [
            ("2024-01-02", "AAPL", 187.0, 188.5, 183.9, 185.5, math.nan),
            ("2024-01-02", "MSFT", 373.0, 375.75, 366.5, 370.75, 2.4e7),
            ("2024-01-03", "AAPL", 184.0, math.nan, 183.0, 184.25, 5.8e7),
            ("2024-01-03", "MSFT", 370.0, 372.5, 368.25, 371.0, 2.5e7),
            ("2024-01-05", "AAPL", math.nan, math.nan, math.nan, 181.0, 6.2e7),
        ]
        assert got["date"].dt.strftime("%Y-%m-%d").tolist() == [r[0] for r in expected]
        assert got["symbol"].tolist() == [r[1] for r in expected]
        np.testing.assert_array_equal(got[list(FIELDS)].to_numpy(), [r[2:] for r in expected])
        assert str(got["date"].dtype) == "datetime64[us]"
        iex = s.get_bars(["AAPL"], None, None, "iex")
        assert iex["close"].tolist() == [185.4] and iex["volume"].tolist() == [1.0e6]
        assert s.bar_cache_last_dates("sip") == {"AAPL": date(2024, 1, 5), "MSFT": date(2024, 1, 3)}
        assert s.bar_cache_last_dates("iex") == {"AAPL": date(2024, 1, 2)}
        row = series_row(s, "sip", "AAPL")
        assert (row["first"], row["last"], row["n"]) == ("2024-01-02", "2024-01-05", 3)
        # the earlier migrations' data is still there, and the cache takes new bars
        assert s.candidates_for_scan(1)[0].symbol == "AAPL"
        assert s.put_bars("sip", day_bars("AAPL", ["01-05", "01-08"], 190.0)) == 2
        assert s.get_bars(["AAPL"], date(2024, 1, 5), None, "sip")["close"].tolist() == [
            190.0,
            191.0,
        ]
    backup = tmp_path / "workstation.db.v2.bak"
    assert backup.is_file()
    b = sqlite3.connect(str(backup))
    assert b.execute("PRAGMA user_version").fetchone()[0] == 2
    assert b.execute("SELECT count(*) FROM bar_cache").fetchone()[0] == len(V2_BARS)
    b.close()
    assert sorted(p.name for p in tmp_path.glob("*.bak")) == ["workstation.db.v2.bak"]


def test_a_failing_v3_migration_keeps_the_bar_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "workstation.db"
    make_v2_database(path)

    def broken_v3(db: Database) -> None:
        MIGRATIONS[2](db)
        raise RuntimeError("disk says no")

    monkeypatch.setattr(store_base, "MIGRATIONS", (*MIGRATIONS[:2], broken_v3))
    with pytest.raises(StoreError, match=r"from schema v2 to v3 failed \(disk says no\)"):
        Store.open(path)
    c = raw(path)
    assert c.execute("PRAGMA user_version").fetchone()[0] == 2
    assert c.execute("SELECT count(*) FROM bar_cache").fetchone()[0] == len(V2_BARS)
    names = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    c.close()
    assert "bar_series" not in names


def test_an_existing_backup_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "workstation.db"
    make_v1_database(path)
    old_backup = tmp_path / "workstation.db.v1.bak"
    old_backup.write_bytes(b"an earlier backup")
    Store.open(path).close()
    assert old_backup.read_bytes() == b"an earlier backup"
    assert (tmp_path / "workstation.db.v1.2.bak").is_file()


def test_a_failing_migration_leaves_the_file_at_the_old_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "workstation.db"
    make_v1_database(path)

    def broken_v2(db: Database) -> None:
        db.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("disk says no")

    monkeypatch.setattr(store_base, "MIGRATIONS", (MIGRATIONS[0], broken_v2))
    with pytest.raises(StoreError, match=r"from schema v1 to v2 failed \(disk says no\)"):
        Store.open(path)
    c = raw(path)
    assert c.execute("PRAGMA user_version").fetchone()[0] == 1
    names = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    c.close()
    assert "half_done" not in names and "bar_cache" not in names
    assert (tmp_path / "workstation.db.v1.bak").is_file()


def test_migrate_rejects_an_unknown_target(tmp_path: Path) -> None:
    conn = sqlite3.connect(str(tmp_path / "x.db"))
    with pytest.raises(ValueError, match="target schema version"):
        migrate(Database(conn), SCHEMA_VERSION + 1)
    conn.close()


# -- files the store must refuse (and leave untouched) --------------------------------------------


def assert_untouched(path: Path, before: bytes) -> None:
    assert path.read_bytes() == before


def test_random_bytes_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "workstation.db"
    data = random.Random(7).randbytes(8192)
    path.write_bytes(data)
    with pytest.raises(StoreError) as err:
        Store.open(path)
    msg = str(err.value)
    assert msg == (
        f"{path} is not a valid workstation database (file is not a database); "
        "move it aside or restore a backup"
    )
    assert "\n" not in msg
    assert_untouched(path, data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["workstation.db"]


def filled_database(path: Path) -> bytes:
    with Store.open(path) as s:
        ok_scan(s)
        s.put_bars("sip", long_bars(tuple(f"S{i}" for i in range(40)), 60))
    data = path.read_bytes()
    assert len(data) > 40 * 4096
    return data


@pytest.mark.parametrize(
    "keep",
    [lambda n: n // 2, lambda n: 4096 * 3, lambda n: 50],
    ids=["half", "three-pages", "partial-header"],
)
def test_truncated_database_is_refused_untouched(
    tmp_path: Path, keep: Callable[[int], int]
) -> None:
    path = tmp_path / "workstation.db"
    data = filled_database(path)
    cut = data[: keep(len(data))]
    path.write_bytes(cut)
    with pytest.raises(StoreError, match=r"is not a valid workstation database .*restore a backup"):
        Store.open(path)
    assert_untouched(path, cut)


def test_a_file_shorter_than_a_header_is_refused_before_sqlite_sees_it(tmp_path: Path) -> None:
    path = tmp_path / "workstation.db"
    path.write_bytes(b"SQLite format 3\x00" + bytes(20))
    with pytest.raises(
        StoreError, match=r"\(truncated: 36 bytes, shorter than a database header\)"
    ):
        Store.open(path)
    assert path.read_bytes() == b"SQLite format 3\x00" + bytes(20)


def test_damaged_pages_are_found_at_open(tmp_path: Path) -> None:
    """Header and schema intact, data pages scribbled over: only the integrity check sees it."""
    path = tmp_path / "workstation.db"
    data = bytearray(filled_database(path))
    page = 4096
    n_pages = len(data) // page
    rng = random.Random(3)
    # the bar cache was written last, so the last third of the file is its pages
    for p in range(2 * n_pages // 3, n_pages - 1, 2):
        data[p * page : (p + 1) * page] = rng.randbytes(page)
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError) as err:
        Store.open(path)
    msg = str(err.value)
    assert msg.startswith(f"{path} is not a valid workstation database (damaged: ")
    assert msg.endswith("; move it aside or restore a backup")
    assert "\n" not in msg
    assert_untouched(path, bytes(data))


def test_migrating_v4_keeps_open_positions_on_the_rules_levels(tmp_path: Path) -> None:
    path = tmp_path / "workstation.db"
    conn = sqlite3.connect(str(path))
    assert migrate(Database(conn), 4) == 4
    conn.execute(
        "INSERT INTO positions (id, symbol, side, qty, avg_entry, entry_session, entry_at, "
        "strategy, sl, tp, sl_mult, tp_mult, atr14, status, updated_at) VALUES (1, 'AAPL', "
        "'long', 10, 100, '2024-03-12', '2024-03-12T13:30:00.000000+00:00', 'rsi_reversion', "
        "97, 104, 1.5, 2, 2, 'open', '2024-03-12T13:30:00.000000+00:00')"
    )
    conn.commit()
    conn.close()
    with Store.open(path) as s:
        (p,) = s.open_positions()
        assert (p.symbol, p.sl, p.tp, p.sl_manual, p.tp_manual) == ("AAPL", 97, 104, None, None)
        moved = s.set_manual_levels(1, sl_manual=98.0, tp_manual=None, at=T0)
        assert moved.sl_manual == 98.0
    assert (tmp_path / "workstation.db.v4.bak").is_file()


def test_newer_schema_is_refused_untouched(db_path: Path) -> None:
    Store.open(db_path).close()
    c = raw(db_path)
    c.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    c.close()
    before = db_path.read_bytes()
    with pytest.raises(StoreError, match=rf"newer version .*v{SCHEMA_VERSION}\b.*upgrade the app"):
        Store.open(db_path)
    assert_untouched(db_path, before)


def test_another_applications_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    c = raw(path)
    c.execute("CREATE TABLE notes (body TEXT)")
    c.execute("INSERT INTO notes VALUES ('hello')")
    c.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="another application"):
        Store.open(path)
    assert_untouched(path, before)


@pytest.mark.parametrize(
    ("sqlite_message", "expected"),
    [
        ("database is locked", "is locked by another process (still busy after 0.5 s)"),
        ("file is not a database", "is not a valid workstation database (file is not a database)"),
        ("attempt to write a readonly database", "check the file's permissions"),
        ("disk I/O error", "cannot use /x/ws.db (disk I/O error); move it aside"),
    ],
    ids=["locked", "not-a-database", "read-only", "other"],
)
def test_sqlite_errors_at_open_become_one_line_messages(sqlite_message: str, expected: str) -> None:
    err = store_base._translate(sqlite3.OperationalError(sqlite_message), Path("/x/ws.db"), 0.5)
    assert isinstance(err, StoreError)
    assert str(err).startswith("/x/ws.db ") or str(err).startswith("cannot ")
    assert expected in str(err)
    assert "\n" not in str(err)


def test_a_folder_is_not_a_database(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a folder"):
        Store.open(tmp_path)


# -- locking --------------------------------------------------------------------------------------


@pytest.mark.parametrize("wal", [True, False], ids=["workstation-db-in-wal", "rollback-journal-db"])
def test_locked_database_is_reported_quickly(tmp_path: Path, wal: bool) -> None:
    path = tmp_path / "workstation.db"
    Store.open(path).close()
    if not wal:  # the same store in rollback-journal mode (an empty file is refused as such)
        con = raw(path)
        con.execute("PRAGMA journal_mode = DELETE")
        con.close()
    holder = raw(path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        t = time.monotonic()
        with pytest.raises(StoreError) as err:
            Store.open(path, busy_timeout_s=0.2)
        elapsed = time.monotonic() - t
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    msg = str(err.value)
    assert str(path) in msg and "locked" in msg and "another workstation is running" in msg
    assert "\n" not in msg
    assert 0.15 <= elapsed < 3.0
    # once the other process lets go, the database opens normally
    Store.open(path, busy_timeout_s=0.2).close()


def test_lock_taken_while_running_becomes_store_error(store: Store, db_path: Path) -> None:
    holder = raw(db_path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match=r"locked .*another workstation"):
            store.audit("user", "x", at=T0)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    store.audit("user", "y", at=T0)  # usable again, and the failed write left nothing behind
    assert [a.action for a in store.audit_log()] == ["y"]


def test_wal_readers_do_not_block_the_writer(store: Store, db_path: Path) -> None:
    ok_scan(store)
    reader = raw(db_path)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM candidates").fetchone()[0] == 2
    try:
        ok_scan(store, S2)  # a write while a read transaction is open elsewhere
    finally:
        reader.execute("COMMIT")
        reader.close()
    assert store.latest_scan().session == S2  # type: ignore[union-attr]


def test_store_file_lives_where_asked(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "ws.db"
    with Store.open(str(path)) as s:
        assert s.path == path
    assert path.is_file()
    assert os.path.getsize(path) > 0


def test_a_backtest_is_listed_with_its_period_market_parameters_and_summary(store: Store) -> None:
    at = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
    for i, (scenario, h) in enumerate([("combined", "aaa"), ("gap-2", "bbb"), ("combined", "aaa")]):
        store.record_backtest(
            f"run-{i}",
            at=at.replace(minute=i),
            scenario=scenario,
            first=date(2019, 1, 2),
            last=date(2021, 12, 31),
            market="replay:/data/sp500.parquet",
            data_source="replay:/data/sp500.parquet",
            param_hash=h,
            universe_mode="pit",
            fill_model="path",
            path=f"/home/data/backtests/run-{i}.db",
            overrides={"risk.gap.max_abs_gap": 0.02} if scenario == "gap-2" else {},
            summary={"n_trades": 100 + i, "sharpe": 0.8},
        )
    rows = store.backtests()
    assert [r.id for r in rows] == ["run-2", "run-1", "run-0"]  # newest first
    assert [r.id for r in store.backtests(param_hash="aaa")] == ["run-2", "run-0"]
    gap = store.backtest("run-1")
    assert gap is not None and gap.overrides == {"risk.gap.max_abs_gap": 0.02}
    assert (gap.first_session, gap.last_session) == (date(2019, 1, 2), date(2021, 12, 31))
    assert gap.summary == {"n_trades": 101, "sharpe": 0.8}
    [audit] = store.audit_log(action="backtest.recorded", subject="backtest:run-1")
    assert audit.detail == {"path": "/home/data/backtests/run-1.db"}
    with pytest.raises(sqlite3.IntegrityError):  # an id is listed once
        store.record_backtest(
            "run-1", at=at, scenario="x", first=date(2019, 1, 2), last=date(2019, 1, 3),
            market="sim", data_source="sim", param_hash="c", universe_mode="current",
            fill_model="path", path="/x", overrides={}, summary={},
        )  # fmt: skip
