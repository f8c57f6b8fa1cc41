"""The versioned schema: ``PRAGMA user_version`` and the ordered list of migrations.

``MIGRATIONS[i]`` takes a database at version ``i`` to version ``i + 1``. Each runs in its own
transaction together with the ``user_version`` bump, so a failed migration leaves the file at the
previous version. Migrations are append-only: a released one is never edited; a change is a new
function at the end of the list (and ``SCHEMA_VERSION`` follows from the list's length).

Column conventions are in :mod:`workstation.store.convert` (UTC ISO-8601 timestamps, dates as
``YYYY-MM-DD``, REAL money and prices, JSON text blobs).

Design choices recorded here because the schema is where they live:
- ``scans`` is append-only. A re-run scan for the same session and market is a new row; the
  previous successful one gets ``superseded_by`` pointing at it and keeps its candidates, so the
  audit trail shows both lists. The current scan of a session is its newest successful row; a
  failed re-run never hides an earlier successful one (both are kept, the failure is visible).
- ``positions`` allows one *open* position per symbol (partial unique index): the entry rules
  never hold a symbol twice, and the database refuses it even if an engine has a bug.
- ``orders.client_order_id`` is UNIQUE: the deterministic id is what makes a retried or restarted
  entry impossible to place twice; ``order_events`` and ``fills`` reference it.
- ``fills.fill_id`` (the broker's execution id) is UNIQUE: the same fill arriving from the stream
  and from a reconciliation poll is stored once.
- ``bar_cache`` (v2) kept one row per ``(feed, symbol, date)``; v3 replaced it with
  ``bar_series``: one row per ``(feed, symbol)`` holding that symbol's bars as packed arrays
  (layout in :mod:`workstation.store.bar_blobs`). The scanner reads ~500 symbols x 300 sessions
  at once, and 150,000 rows handed to Python one tuple at a time took 0.3-0.6 s where ~500 blobs
  read by numpy in place take a few ms. ``first_date``/``last_date`` answer "last cached date per
  symbol" and "which series overlap this window" without touching the blobs, and sit before
  them in the row so SQLite reads them without the blobs' overflow pages. It is a rowid table,
  not WITHOUT ROWID: its rows (~13 KB for 300 bars) are far above the size where a WITHOUT ROWID
  b-tree pays off.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sqlite_utils import Database

from workstation.store import bar_blobs

# "ATWS" -- marks the file as ours (PRAGMA application_id), so another app's SQLite file is
# recognised and refused instead of being "migrated".
APPLICATION_ID = 0x41545753

_V1: tuple[str, ...] = (
    """
    CREATE TABLE param_sets (
        id INTEGER PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        yaml TEXT NOT NULL,
        source TEXT
    )
    """,
    """
    CREATE TABLE scans (
        id INTEGER PRIMARY KEY,
        session TEXT NOT NULL,
        market TEXT NOT NULL DEFAULT '',
        param_hash TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
        error TEXT,
        regime TEXT CHECK (regime IS NULL OR regime IN ('TREND', 'RANGING', 'HIGH_VOL')),
        loaded INTEGER NOT NULL DEFAULT 0,
        eligible INTEGER NOT NULL DEFAULT 0,
        stale INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        stale_symbols TEXT NOT NULL DEFAULT '[]',
        failed_symbols TEXT NOT NULL DEFAULT '[]',
        duration_s REAL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        superseded_by INTEGER REFERENCES scans(id)
    )
    """,
    "CREATE INDEX scans_by_session ON scans(session, market, status, id)",
    "CREATE INDEX scans_by_param_hash ON scans(param_hash)",
    """
    CREATE TABLE candidates (
        id INTEGER PRIMARY KEY,
        scan_id INTEGER NOT NULL REFERENCES scans(id),
        rank INTEGER NOT NULL CHECK (rank >= 1),
        symbol TEXT NOT NULL,
        sector TEXT NOT NULL,
        strategy TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('long', 'short')),
        grp TEXT NOT NULL CHECK (grp IN ('A', 'B')),
        score REAL NOT NULL,
        score_strength REAL NOT NULL,
        score_liquidity REAL NOT NULL,
        score_rr REAL NOT NULL,
        score_fit REAL NOT NULL,
        strength REAL NOT NULL,
        close REAL NOT NULL,
        atr14 REAL NOT NULL,
        sl_mult REAL NOT NULL,
        tp_mult REAL NOT NULL,
        sl_dist REAL NOT NULL,
        tp_dist REAL NOT NULL,
        indicators TEXT NOT NULL DEFAULT '{}',
        explain TEXT NOT NULL DEFAULT '{}',
        approval TEXT NOT NULL DEFAULT 'pending'
            CHECK (approval IN ('pending', 'approved', 'vetoed', 'skipped')),
        approval_note TEXT,
        approval_source TEXT CHECK (approval_source IS NULL
                                    OR approval_source IN ('user', 'policy')),
        decided_at TEXT,
        UNIQUE (scan_id, rank),
        UNIQUE (scan_id, symbol)
    )
    """,
    "CREATE INDEX candidates_by_symbol ON candidates(symbol)",
    """
    CREATE TABLE approvals (
        id INTEGER PRIMARY KEY,
        candidate_id INTEGER NOT NULL REFERENCES candidates(id),
        state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'vetoed', 'skipped')),
        source TEXT NOT NULL CHECK (source IN ('user', 'policy')),
        at TEXT NOT NULL
    )
    """,
    "CREATE INDEX approvals_by_candidate ON approvals(candidate_id, id)",
    """
    CREATE TABLE gap_results (
        id INTEGER PRIMARY KEY,
        candidate_id INTEGER NOT NULL REFERENCES candidates(id),
        session TEXT NOT NULL,
        price REAL,
        source TEXT NOT NULL CHECK (source IN ('trade', 'quote', 'none')),
        prev_close REAL NOT NULL,
        gap REAL,
        passed INTEGER NOT NULL CHECK (passed IN (0, 1)),
        reason TEXT,
        at TEXT NOT NULL,
        UNIQUE (candidate_id, session)
    )
    """,
    "CREATE INDEX gap_results_by_session ON gap_results(session)",
    """
    CREATE TABLE positions (
        id INTEGER PRIMARY KEY,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('long', 'short')),
        qty REAL NOT NULL CHECK (qty > 0),
        avg_entry REAL NOT NULL,
        entry_session TEXT NOT NULL,
        entry_at TEXT NOT NULL,
        strategy TEXT NOT NULL,
        candidate_id INTEGER REFERENCES candidates(id),
        sl REAL,
        tp REAL,
        sl_mult REAL NOT NULL,
        tp_mult REAL NOT NULL,
        atr14 REAL NOT NULL,
        stop_client_order_id TEXT REFERENCES orders(client_order_id),
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
        closed_at TEXT,
        updated_at TEXT NOT NULL
    )
    """,
    "CREATE UNIQUE INDEX positions_one_open_per_symbol ON positions(symbol) WHERE status = 'open'",
    "CREATE INDEX positions_by_status ON positions(status)",
    """
    CREATE TABLE orders (
        id INTEGER PRIMARY KEY,
        client_order_id TEXT NOT NULL UNIQUE,
        broker_order_id TEXT,
        session TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
        qty REAL NOT NULL CHECK (qty > 0),
        order_type TEXT NOT NULL CHECK (order_type IN ('market', 'limit', 'stop', 'stop_limit')),
        tif TEXT NOT NULL CHECK (tif IN ('day', 'gtc', 'opg', 'cls', 'ioc', 'fok')),
        limit_price REAL,
        stop_price REAL,
        intent TEXT NOT NULL CHECK (intent IN ('entry', 'stop', 'exit', 'flatten')),
        strategy TEXT,
        candidate_id INTEGER REFERENCES candidates(id),
        position_id INTEGER REFERENCES positions(id),
        status TEXT NOT NULL,
        filled_qty REAL NOT NULL DEFAULT 0,
        avg_fill_price REAL,
        reject_reason TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )
    """,
    "CREATE INDEX orders_by_status ON orders(status)",
    "CREATE INDEX orders_by_session_symbol ON orders(session, symbol)",
    "CREATE INDEX orders_by_broker_id ON orders(broker_order_id)",
    "CREATE INDEX orders_by_position ON orders(position_id)",
    """
    CREATE TABLE order_events (
        id INTEGER PRIMARY KEY,
        client_order_id TEXT NOT NULL REFERENCES orders(client_order_id),
        from_status TEXT,
        to_status TEXT NOT NULL,
        at TEXT NOT NULL,
        detail TEXT
    )
    """,
    "CREATE INDEX order_events_by_order ON order_events(client_order_id, id)",
    """
    CREATE TABLE fills (
        id INTEGER PRIMARY KEY,
        fill_id TEXT NOT NULL UNIQUE,
        client_order_id TEXT NOT NULL REFERENCES orders(client_order_id),
        symbol TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
        qty REAL NOT NULL CHECK (qty > 0),
        price REAL NOT NULL,
        at TEXT NOT NULL
    )
    """,
    "CREATE INDEX fills_by_order ON fills(client_order_id)",
    "CREATE INDEX fills_by_symbol_time ON fills(symbol, at)",
    """
    CREATE TABLE trades (
        id INTEGER PRIMARY KEY,
        position_id INTEGER NOT NULL UNIQUE REFERENCES positions(id),
        candidate_id INTEGER REFERENCES candidates(id),
        symbol TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('long', 'short')),
        strategy TEXT NOT NULL,
        qty REAL NOT NULL,
        entry_price REAL NOT NULL,
        entry_at TEXT NOT NULL,
        entry_session TEXT NOT NULL,
        exit_price REAL NOT NULL,
        exit_at TEXT NOT NULL,
        exit_session TEXT NOT NULL,
        exit_reason TEXT NOT NULL CHECK (exit_reason IN
            ('STOP_LOSS', 'TAKE_PROFIT', 'TIME_EXIT', 'EMERGENCY', 'MANUAL', 'KILL_SWITCH')),
        pnl REAL NOT NULL,
        pnl_pct REAL NOT NULL,
        r_multiple REAL NOT NULL,
        days_held INTEGER NOT NULL,
        sl_mult REAL NOT NULL,
        atr14 REAL NOT NULL,
        mfe_price REAL,
        mfe_pct REAL,
        mfe_r REAL,
        mfe_at TEXT,
        mae_price REAL,
        mae_pct REAL,
        mae_r REAL,
        mae_at TEXT
    )
    """,
    "CREATE INDEX trades_by_exit_session ON trades(exit_session, symbol)",
    "CREATE INDEX trades_by_symbol ON trades(symbol, exit_at)",
    """
    CREATE TABLE mfe_mae (
        position_id INTEGER PRIMARY KEY REFERENCES positions(id),
        mfe_price REAL NOT NULL,
        mfe_pct REAL NOT NULL,
        mfe_r REAL NOT NULL,
        mfe_at TEXT NOT NULL,
        mae_price REAL NOT NULL,
        mae_pct REAL NOT NULL,
        mae_r REAL NOT NULL,
        mae_at TEXT NOT NULL,
        last_price_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE equity_snapshots (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        session TEXT NOT NULL,
        equity REAL NOT NULL,
        cash REAL NOT NULL,
        day_pnl REAL NOT NULL,
        peak_equity REAL NOT NULL,
        drawdown REAL NOT NULL
    )
    """,
    "CREATE INDEX equity_snapshots_by_time ON equity_snapshots(at)",
    "CREATE INDEX equity_snapshots_by_session ON equity_snapshots(session, at)",
    """
    CREATE TABLE daily_performance (
        session TEXT PRIMARY KEY,
        start_equity REAL NOT NULL,
        end_equity REAL NOT NULL,
        pnl REAL NOT NULL,
        pnl_pct REAL NOT NULL,
        trades INTEGER NOT NULL,
        wins INTEGER NOT NULL,
        updated_at TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL CHECK (actor IN ('user', 'engine', 'policy', 'system')),
        action TEXT NOT NULL,
        subject TEXT NOT NULL DEFAULT '',
        detail TEXT
    )
    """,
    "CREATE INDEX audit_log_by_time ON audit_log(at)",
    "CREATE INDEX audit_log_by_subject ON audit_log(subject, id)",
    "CREATE INDEX audit_log_by_action ON audit_log(action, id)",
    """
    CREATE TABLE paper_tracks (
        id INTEGER PRIMARY KEY,
        candidate_id INTEGER NOT NULL UNIQUE REFERENCES candidates(id),
        symbol TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('long', 'short')),
        strategy TEXT NOT NULL,
        qty REAL,
        entry_price REAL NOT NULL,
        entry_at TEXT NOT NULL,
        exit_price REAL,
        exit_at TEXT,
        exit_reason TEXT,
        pnl REAL,
        pnl_pct REAL,
        r_multiple REAL,
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
        updated_at TEXT NOT NULL
    )
    """,
    "CREATE INDEX paper_tracks_by_status ON paper_tracks(status)",
)


def _v0_to_v1(db: Database) -> None:
    """The initial schema."""
    for statement in _V1:
        db.execute(statement)
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")


def _v1_to_v2(db: Database) -> None:
    """Keep the note with each decision in the approvals history; add the daily-bar cache.

    v1 kept a note only on the candidate (its latest decision); v2 keeps it per decision so the
    history reads "vetoed: earnings tomorrow", then "approved: earnings moved". Existing history
    gets the candidate's note on its latest decision, which is the decision that note belongs to.
    """
    db.execute("ALTER TABLE approvals ADD COLUMN note TEXT")
    db.execute(
        """
        UPDATE approvals SET note = (
            SELECT c.approval_note FROM candidates c WHERE c.id = approvals.candidate_id)
        WHERE id IN (SELECT MAX(id) FROM approvals GROUP BY candidate_id)
        """
    )
    db.execute(
        """
        CREATE TABLE bar_cache (
            feed TEXT NOT NULL,
            symbol TEXT NOT NULL,
            date TEXT NOT NULL,
            open REAL,
            high REAL,
            low REAL,
            close REAL NOT NULL,
            volume REAL,
            PRIMARY KEY (feed, symbol, date)
        ) WITHOUT ROWID
        """
    )


# The current time in the store's timestamp convention (UTC, microseconds, "+00:00"), taken
# from SQLite's clock for bookkeeping columns such as ``bar_series.updated_at``.
UTC_NOW_SQL = "strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000+00:00'"


def _v2_to_v3(db: Database) -> None:
    """Cached bars as one row per (feed, symbol) with packed arrays; ``bar_cache`` goes.

    Every ``bar_cache`` row is carried over unchanged (a NULL field becomes NaN, which is how
    ``get_bars`` already returned it). One symbol at a time, so a large cache is converted in
    bounded memory.
    """
    db.execute(
        """
        CREATE TABLE bar_series (
            feed TEXT NOT NULL,
            symbol TEXT NOT NULL,
            first_date TEXT NOT NULL,
            last_date TEXT NOT NULL,
            n INTEGER NOT NULL CHECK (n >= 1),
            dates BLOB NOT NULL CHECK (length(dates) = 4 * n),
            ohlcv BLOB NOT NULL CHECK (length(ohlcv) = 40 * n),
            updated_at TEXT NOT NULL,
            PRIMARY KEY (feed, symbol)
        )
        """
    )
    conn = db.conn
    now = conn.execute(f"SELECT {UTC_NOW_SQL}").fetchone()[0]
    keys = conn.execute("SELECT DISTINCT feed, symbol FROM bar_cache ORDER BY feed, symbol")
    for feed, symbol in keys.fetchall():
        rows = conn.execute(
            "SELECT date, open, high, low, close, volume FROM bar_cache "
            "WHERE feed = ? AND symbol = ? ORDER BY date",
            (feed, symbol),
        ).fetchall()
        days = bar_blobs.text_days([r[0] for r in rows])
        # float64 turns SQLite's NULL (None) into NaN
        values = np.array([r[1:] for r in rows], dtype=np.float64)
        dates_blob, ohlcv_blob = bar_blobs.encode(days, values)
        conn.execute(
            "INSERT INTO bar_series (feed, symbol, first_date, last_date, n, dates, ohlcv, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (feed, symbol, rows[0][0], rows[-1][0], len(rows), dates_blob, ohlcv_blob, now),
        )
    db.execute("DROP TABLE bar_cache")


def _v3_to_v4(db: Database) -> None:
    """Scans record why symbols were ineligible and every data problem they read (trading
    rules §14: bad bars are counted and named by kind and symbol). Older scans: empty."""
    db.execute("ALTER TABLE scans ADD COLUMN ineligible TEXT NOT NULL DEFAULT '{}'")
    db.execute("ALTER TABLE scans ADD COLUMN data_problems TEXT NOT NULL DEFAULT '{}'")


def _v4_to_v5(db: Database) -> None:
    """The SL and TP a trader moved by hand, kept on the position.

    ``sl``/``tp`` stay the rule's levels from the fill (recomputed as partial fills move the
    average); ``sl_manual``/``tp_manual`` are the levels the trader set instead (NULL: the
    rule's apply). Kept apart so neither overwrites the other: the exit engine uses the manual
    level where there is one, and the journal can tell a rule's stop from a moved one.
    """
    db.execute("ALTER TABLE positions ADD COLUMN sl_manual REAL")
    db.execute("ALTER TABLE positions ADD COLUMN tp_manual REAL")


def _v5_to_v6(db: Database) -> None:
    """The backtests made from this home, each its own store file (issue 9): listed here with
    what it covered, so the app and the tools find them without opening every file."""
    db.execute(
        """
        CREATE TABLE backtests (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            scenario TEXT NOT NULL,
            first_session TEXT NOT NULL,
            last_session TEXT NOT NULL,
            market TEXT NOT NULL,
            data_source TEXT NOT NULL,
            param_hash TEXT NOT NULL,
            universe_mode TEXT NOT NULL,
            fill_model TEXT NOT NULL,
            path TEXT NOT NULL,
            overrides TEXT NOT NULL DEFAULT '{}',
            summary TEXT NOT NULL DEFAULT '{}'
        )
        """
    )
    db.execute("CREATE INDEX backtests_by_param_hash ON backtests(param_hash, created_at)")


def _v6_to_v7(db: Database) -> None:
    """The parameter searches made from this home (issue 10), each its own file
    (``<data>/optimize/<id>.db``, the trials): listed here with their status and best trial,
    so the app and ``workstation optimize --resume ID`` find them."""
    db.execute(
        """
        CREATE TABLE searches (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            status TEXT NOT NULL,
            search TEXT NOT NULL,
            objective TEXT NOT NULL,
            params TEXT NOT NULL DEFAULT '[]',
            first_session TEXT NOT NULL,
            last_session TEXT NOT NULL,
            walk_forward TEXT,
            market TEXT NOT NULL,
            data_source TEXT NOT NULL,
            param_hash TEXT NOT NULL,
            trials_total INTEGER NOT NULL,
            trials_done INTEGER NOT NULL DEFAULT 0,
            path TEXT NOT NULL,
            best TEXT
        )
        """
    )
    db.execute("CREATE INDEX searches_by_time ON searches(created_at)")


def _v7_to_v8(db: Database) -> None:
    """What the day's money decisions read, as columns, so each can be re-checked from the
    store alone (issue 12 items 5, 6 and 11).

    - ``session_equity``: each session's starting equity, written once when the session
      starts (a restart reads it instead of taking the broker's equity of the moment); the
      base of the daily loss limit and the day's P&L, and part of the drawdown peak.
    - ``equity_marks``: intraday equity the daily-loss check saw (its first check of the
      session, every new low of the session, the engagement).
    - ``entry_checks``: every run of the §9 checks with its inputs: the equity and peak the
      size was computed from, buying power, exposure, counts, the shortable and
      easy-to-borrow flags of the broker's asset, the parameter set, the decision.
    - ``official_opens``: the session's official open of each candidate as the engine read it
      at the open (group A's reference, group B's confirmation base).
    """
    db.execute(
        """
        CREATE TABLE session_equity (
            session TEXT PRIMARY KEY,
            start_equity REAL NOT NULL CHECK (start_equity > 0),
            source TEXT NOT NULL CHECK (source IN ('previous_close', 'broker')),
            at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE equity_marks (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            session TEXT NOT NULL,
            equity REAL NOT NULL,
            start_equity REAL NOT NULL,
            loss_limit REAL NOT NULL,
            engaged INTEGER NOT NULL CHECK (engaged IN (0, 1))
        )
        """
    )
    db.execute("CREATE INDEX equity_marks_by_session ON equity_marks(session, at)")
    db.execute(
        """
        CREATE TABLE entry_checks (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            session TEXT NOT NULL,
            candidate_id INTEGER NOT NULL REFERENCES candidates(id),
            symbol TEXT NOT NULL,
            grp TEXT NOT NULL CHECK (grp IN ('A', 'B')),
            side TEXT NOT NULL CHECK (side IN ('long', 'short')),
            sector TEXT NOT NULL,
            price REAL NOT NULL,
            atr14 REAL NOT NULL,
            sl_mult REAL NOT NULL,
            equity REAL NOT NULL,
            peak_equity REAL NOT NULL,
            drawdown REAL NOT NULL,
            buying_power REAL NOT NULL,
            gross_exposure REAL NOT NULL,
            kill_switch INTEGER NOT NULL CHECK (kill_switch IN (0, 1)),
            already_held INTEGER NOT NULL CHECK (already_held IN (0, 1)),
            exited_today INTEGER NOT NULL CHECK (exited_today IN (0, 1)),
            open_positions INTEGER NOT NULL,
            pending_entries INTEGER NOT NULL,
            sector_count INTEGER NOT NULL,
            regime_max_positions INTEGER NOT NULL,
            shortable INTEGER CHECK (shortable IS NULL OR shortable IN (0, 1)),
            easy_to_borrow INTEGER CHECK (easy_to_borrow IS NULL OR easy_to_borrow IN (0, 1)),
            param_hash TEXT NOT NULL,
            ok INTEGER NOT NULL CHECK (ok IN (0, 1)),
            check_number INTEGER NOT NULL,
            reason TEXT NOT NULL,
            qty INTEGER NOT NULL,
            risk_per_trade REAL NOT NULL,
            detail TEXT NOT NULL,
            client_order_id TEXT
        )
        """
    )
    db.execute("CREATE INDEX entry_checks_by_session ON entry_checks(session, id)")
    db.execute("CREATE INDEX entry_checks_by_candidate ON entry_checks(candidate_id, id)")
    db.execute(
        """
        CREATE TABLE official_opens (
            session TEXT NOT NULL,
            symbol TEXT NOT NULL,
            price REAL NOT NULL CHECK (price > 0),
            at TEXT NOT NULL,
            PRIMARY KEY (session, symbol)
        )
        """
    )


def _v8_to_v9(db: Database) -> None:
    """The broker's own word for each order's state (issue 12 item 8): Alpaca's ``new``
    (routed) and ``accepted`` (not yet routed) are both ``accepted`` in the engine's state
    machine, and a replaced stop ends ``canceled`` there; ``broker_status`` keeps what the
    broker said last (NULL: the simulated exchange, whose states are the engine's)."""
    db.execute("ALTER TABLE orders ADD COLUMN broker_status TEXT")


def _v9_to_v10(db: Database) -> None:
    """The candidates still pending approval, indexed by scan: the engine asks which current
    scans have one at every session, and over years of a backtest the question walked every
    scan ever made (19 ms a call after five years; with this index a few microseconds)."""
    db.execute("CREATE INDEX candidates_pending ON candidates(scan_id) WHERE approval = 'pending'")


Migration = Callable[[Database], None]

MIGRATIONS: tuple[Migration, ...] = (
    _v0_to_v1,
    _v1_to_v2,
    _v2_to_v3,
    _v3_to_v4,
    _v4_to_v5,
    _v5_to_v6,
    _v6_to_v7,
    _v7_to_v8,
    _v8_to_v9,
    _v9_to_v10,
)
SCHEMA_VERSION = len(MIGRATIONS)
