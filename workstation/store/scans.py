"""Scans, their candidates, approval decisions, gap results, paper tracks and parameter sets.

A scan run is always a new row (see :mod:`workstation.store.schema`): a successful re-run for
the same session and market supersedes the previous successful one, which stays in the
database with its candidates for the audit trail. ``set_approval`` and ``record_param_set``
write their own audit rows (in the same transaction); everything else leaves auditing to the
caller, which knows why it acted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from workstation.store import convert as cv
from workstation.store.base import StoreCore
from workstation.store.rows import (
    APPROVAL_SOURCES,
    APPROVAL_STATES,
    GAP_SOURCES,
    GROUPS,
    REGIMES,
    SIDES,
    ApprovalRow,
    CandidateRow,
    CarriedDecision,
    GapResultRow,
    NewCandidate,
    PaperTrackRow,
    ParamSetRow,
    ScanRow,
)


def _candidate_record(scan_id: int, c: NewCandidate | Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(c, NewCandidate):
        try:
            c = NewCandidate(**c)
        except TypeError as exc:
            raise ValueError(f"bad candidate record {dict(c)!r}: {exc}") from exc
    # A shallow copy: the nested indicators/explain become JSON text just below, so
    # dataclasses.asdict's deep copy of them (~1 ms a candidate) would be work thrown away.
    rec: dict[str, Any] = {f.name: getattr(c, f.name) for f in dataclasses.fields(c)}
    rec["scan_id"] = scan_id
    rec["rank"] = cv.integer(c.rank)
    rec["symbol"] = cv.text(c.symbol)
    rec["sector"] = cv.text(c.sector)
    rec["strategy"] = cv.text(c.strategy)
    rec["side"] = cv.choice("side", c.side, SIDES)
    rec["grp"] = cv.choice("grp", c.grp, GROUPS)
    for name in (
        "score",
        "score_strength",
        "score_liquidity",
        "score_rr",
        "score_fit",
        "strength",
        "close",
        "atr14",
        "sl_mult",
        "tp_mult",
        "sl_dist",
        "tp_dist",
    ):
        rec[name] = cv.finite(f"candidate {c.symbol} {name}", getattr(c, name))
    rec["indicators"] = cv.to_json(c.indicators)
    rec["explain"] = cv.to_json(c.explain)
    return rec


class ScansRepo(StoreCore):
    # -- parameter sets ------------------------------------------------------------------------
    def record_param_set(
        self,
        hash: str,
        yaml_text: str,
        source: str | None,
        *,
        at: datetime,
        actor: str = "user",
    ) -> tuple[ParamSetRow, bool]:
        """Store a parameter set once per hash; returns (row, created).

        A new hash is a parameter change and gets an audit row (``params.recorded``) by
        ``actor`` (``system`` when the app seeds its defaults).
        """
        with self._tx() as db:
            existing = self._param_set(db, hash)
            if existing is not None:
                return existing, False
            self._insert(
                db,
                "param_sets",
                {"hash": hash, "created_at": cv.ts(at), "yaml": yaml_text, "source": source},
            )
            self._audit_in(db, at, actor, "params.recorded", f"params:{hash}", {"source": source})
            row = self._param_set(db, hash)
            assert row is not None
            return row, True

    def param_set(self, hash: str) -> ParamSetRow | None:
        with self._read() as db:
            return self._param_set(db, hash)

    def param_sets(self) -> list[ParamSetRow]:
        """Every recorded parameter set, newest first."""
        rows = self._rows("SELECT * FROM param_sets ORDER BY created_at DESC, id DESC", [])
        return [cv.from_row(ParamSetRow, r) for r in rows]

    @staticmethod
    def _param_set(db: Any, hash: str) -> ParamSetRow | None:
        rows = list(db.query("SELECT * FROM param_sets WHERE hash = ?", [hash]))
        return cv.from_row(ParamSetRow, rows[0]) if rows else None

    # -- scans ---------------------------------------------------------------------------------
    def record_scan(
        self,
        *,
        session: date,
        param_hash: str,
        status: str,
        started_at: datetime,
        finished_at: datetime | None,
        regime: str | None = None,
        loaded: int = 0,
        eligible: int = 0,
        stale: int = 0,
        failed: int = 0,
        stale_symbols: Iterable[str] = (),
        failed_symbols: Iterable[str] = (),
        duration_s: float | None = None,
        error: str | None = None,
        market: str = "",
        candidates: Iterable[NewCandidate | Mapping[str, Any]] = (),
        ineligible: Mapping[str, int] | None = None,
        data_problems: Mapping[str, Any] | None = None,
        decisions: Mapping[tuple[str, str], CarriedDecision] | None = None,
    ) -> int:
        """Record one scan run and its ranked candidates in one transaction; returns its id.

        ``status`` is ``ok`` or ``failed`` (a failed run has an ``error`` and no candidates).
        A successful run supersedes the previous successful run of the same session/market.
        ``ineligible`` counts symbols per reason; ``data_problems`` is the scan report's
        ``BarReport.as_dict()`` (trading rules §14).
        ``decisions`` (by (symbol, strategy)) are the user's decisions carried over from the
        list it supersedes: set on the new candidates in the same transaction, each with a
        history row and an audit row ``candidate.carried`` naming the old candidate.
        """
        status = cv.choice("status", status, ("ok", "failed"))
        cands = list(candidates)
        if status == "failed" and cands:
            raise ValueError("a failed scan cannot have candidates")
        record = {
            "session": cv.day(session),
            "market": cv.text(market),
            "param_hash": param_hash,
            "status": status,
            "error": error,
            "regime": None if regime is None else cv.choice("regime", regime, REGIMES),
            "loaded": cv.integer(loaded),
            "eligible": cv.integer(eligible),
            "stale": cv.integer(stale),
            "failed": cv.integer(failed),
            "stale_symbols": cv.to_json(sorted(stale_symbols)),
            "failed_symbols": cv.to_json(sorted(failed_symbols)),
            "duration_s": cv.opt_num(duration_s),
            "started_at": cv.ts(started_at),
            "finished_at": cv.opt_ts(finished_at),
            "ineligible": cv.to_json(dict(ineligible or {})),
            "data_problems": cv.to_json(dict(data_problems or {})),
        }
        with self._tx() as db:
            scan_id = self._insert(db, "scans", record)
            if cands:
                db.table("candidates").insert_all([_candidate_record(scan_id, c) for c in cands])
            for (symbol, strategy), d in (decisions or {}).items():
                self._carry(
                    db,
                    scan_id,
                    symbol,
                    strategy,
                    d,
                    started_at if finished_at is None else finished_at,
                )
            if status == "ok":
                db.execute(
                    """
                    UPDATE scans SET superseded_by = ?
                    WHERE session = ? AND market = ? AND status = 'ok' AND id < ?
                      AND superseded_by IS NULL
                    """,
                    [scan_id, record["session"], record["market"], scan_id],
                )
            return scan_id

    def _carry(
        self,
        db: Any,
        scan_id: int,
        symbol: str,
        strategy: str,
        d: CarriedDecision,
        at: datetime,
    ) -> None:
        state = cv.choice("approval state", d.state, APPROVAL_STATES)
        rows = list(
            db.query(
                "SELECT id FROM candidates WHERE scan_id = ? AND symbol = ? AND strategy = ?",
                [scan_id, symbol, strategy],
            )
        )
        if not rows:
            return
        cid = rows[0]["id"]
        at_text = cv.ts(at)
        db.execute(
            "UPDATE candidates SET approval = ?, approval_note = ?, approval_source = 'user', "
            "decided_at = ? WHERE id = ?",
            [state, d.note, at_text, cid],
        )
        self._insert(
            db,
            "approvals",
            {"candidate_id": cid, "state": state, "note": d.note, "source": "user", "at": at_text},
        )
        self._audit_in(
            db,
            at,
            "engine",
            "candidate.carried",
            f"candidate:{cid}",
            {
                "symbol": symbol,
                "strategy": strategy,
                "state": state,
                "note": d.note,
                "from_candidate": d.from_candidate,
                "scan_id": scan_id,
            },
        )

    def get_scan(self, scan_id: int) -> ScanRow | None:
        row = self._one("SELECT * FROM scans WHERE id = ?", [scan_id])
        return None if row is None else cv.from_row(ScanRow, row)

    def latest_scan(
        self, session: date | None = None, *, market: str | None = None, ok_only: bool = True
    ) -> ScanRow | None:
        """The current scan: the newest successful run of ``session`` (default: any session,
        latest session first). ``ok_only=False`` returns the newest attempt whatever its status
        (to show a failure)."""
        where: list[str] = []
        params: list[Any] = []
        if session is not None:
            where.append("session = ?")
            params.append(cv.day(session))
        if market is not None:
            where.append("market = ?")
            params.append(market)
        if ok_only:
            where.append("status = 'ok'")
        sql = "SELECT * FROM scans"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY session DESC, id DESC LIMIT 1"
        row = self._one(sql, params)
        return None if row is None else cv.from_row(ScanRow, row)

    def scans_with_pending(self, *, market: str | None = None) -> list[ScanRow]:
        """Current (successful, not superseded) scans with a candidate still pending, oldest
        session first."""
        # From the pending candidates to their scans (the partial index candidates_pending
        # holds only those), not from every scan ever made to its candidates.
        sql = (
            "SELECT * FROM scans s WHERE s.status = 'ok' AND s.superseded_by IS NULL "
            "AND s.id IN (SELECT c.scan_id FROM candidates c WHERE c.approval = 'pending')"
        )
        params: list[Any] = []
        if market is not None:
            sql += " AND s.market = ?"
            params.append(market)
        rows = self._rows(sql + " ORDER BY s.session, s.id", params)
        return [cv.from_row(ScanRow, r) for r in rows]

    def scans_for_session(self, session: date) -> list[ScanRow]:
        """Every run for the session (oldest first), failed and superseded ones included."""
        rows = self._rows("SELECT * FROM scans WHERE session = ? ORDER BY id", [cv.day(session)])
        return [cv.from_row(ScanRow, r) for r in rows]

    # -- candidates and approvals --------------------------------------------------------------
    def candidates_for_scan(self, scan_id: int) -> list[CandidateRow]:
        rows = self._rows("SELECT * FROM candidates WHERE scan_id = ? ORDER BY rank", [scan_id])
        return [cv.from_row(CandidateRow, r) for r in rows]

    def get_candidate(self, candidate_id: int) -> CandidateRow | None:
        row = self._one("SELECT * FROM candidates WHERE id = ?", [candidate_id])
        return None if row is None else cv.from_row(CandidateRow, row)

    def vetoed_candidates(self, *, market: str | None = None) -> list[tuple[CandidateRow, date]]:
        """Every vetoed candidate of a current successful scan, and of a superseded one that
        was followed on paper, with its scan's session; oldest scan first, by rank."""
        sql = (
            "SELECT c.*, s.session AS scan_session FROM candidates c "
            "JOIN scans s ON s.id = c.scan_id WHERE c.approval = 'vetoed' AND s.status = 'ok' "
            "AND (s.superseded_by IS NULL "
            "OR EXISTS (SELECT 1 FROM paper_tracks p WHERE p.candidate_id = c.id))"
        )
        params: list[Any] = []
        if market is not None:
            sql += " AND s.market = ?"
            params.append(market)
        rows = self._rows(sql + " ORDER BY s.session, s.id, c.rank", params)
        return [(cv.from_row(CandidateRow, r), date.fromisoformat(r["scan_session"])) for r in rows]

    def set_approval(
        self,
        candidate_id: int,
        state: str,
        note: str | None = None,
        source: str = "user",
        *,
        at: datetime,
    ) -> CandidateRow:
        """Record a decision on a candidate: its current state, a history row and an audit row.

        Whether the decision is still allowed (before entry time) is the caller's rule. The
        audit row (``candidate.<state>``) names the state it replaced (``previous``): an undo
        reads ``candidate.pending`` with ``previous: approved``.
        """
        state = cv.choice("approval state", state, APPROVAL_STATES)
        source = cv.choice("approval source", source, APPROVAL_SOURCES)
        at_text = cv.ts(at)
        with self._tx() as db:
            before = list(db.query("SELECT approval FROM candidates WHERE id = ?", [candidate_id]))
            n = db.execute(
                """
                UPDATE candidates
                SET approval = ?, approval_note = ?, approval_source = ?, decided_at = ?
                WHERE id = ?
                """,
                [state, note, source, at_text, candidate_id],
            ).rowcount
            if n != 1:
                raise KeyError(f"no candidate with id {candidate_id}")
            self._insert(
                db,
                "approvals",
                {
                    "candidate_id": candidate_id,
                    "state": state,
                    "note": note,
                    "source": source,
                    "at": at_text,
                },
            )
            row = next(iter(db.query("SELECT * FROM candidates WHERE id = ?", [candidate_id])))
            self._audit_in(
                db,
                at,
                source,
                f"candidate.{state}",
                f"candidate:{candidate_id}",
                {
                    "symbol": row["symbol"],
                    "strategy": row["strategy"],
                    "note": note,
                    "previous": before[0]["approval"] if before else None,
                },
            )
            return cv.from_row(CandidateRow, row)

    def approvals_for(self, candidate_id: int) -> list[ApprovalRow]:
        """The decision history of a candidate, oldest first."""
        rows = self._rows(
            "SELECT * FROM approvals WHERE candidate_id = ? ORDER BY id", [candidate_id]
        )
        return [cv.from_row(ApprovalRow, r) for r in rows]

    def approvals_for_scan(self, scan_id: int) -> list[ApprovalRow]:
        """The decision history of every candidate of a scan, oldest first (one query)."""
        rows = self._rows(
            "SELECT a.* FROM approvals a JOIN candidates c ON c.id = a.candidate_id "
            "WHERE c.scan_id = ? ORDER BY a.id",
            [scan_id],
        )
        return [cv.from_row(ApprovalRow, r) for r in rows]

    # -- gap filter ----------------------------------------------------------------------------
    def record_gap_result(
        self,
        candidate_id: int,
        *,
        session: date,
        price: float | None,
        source: str,
        prev_close: float,
        gap: float | None,
        passed: bool,
        reason: str | None,
        at: datetime,
    ) -> GapResultRow:
        """The gap check of a candidate for a session; a re-check replaces the earlier result."""
        record = {
            "candidate_id": candidate_id,
            "session": cv.day(session),
            "price": cv.opt_finite("gap price", price),
            "source": cv.choice("gap source", source, GAP_SOURCES),
            "prev_close": cv.finite("prev_close", prev_close),
            "gap": cv.opt_finite("gap", gap),
            "passed": 1 if passed else 0,
            "reason": reason,
            "at": cv.ts(at),
        }
        with self._tx() as db:
            db.execute(
                """
                INSERT INTO gap_results
                    (candidate_id, session, price, source, prev_close, gap, passed, reason, at)
                VALUES (:candidate_id, :session, :price, :source, :prev_close, :gap, :passed,
                        :reason, :at)
                ON CONFLICT (candidate_id, session) DO UPDATE SET
                    price = excluded.price, source = excluded.source,
                    prev_close = excluded.prev_close, gap = excluded.gap,
                    passed = excluded.passed, reason = excluded.reason, at = excluded.at
                """,
                record,
            )
            row = next(
                iter(
                    db.query(
                        "SELECT * FROM gap_results WHERE candidate_id = ? AND session = ?",
                        [candidate_id, record["session"]],
                    )
                )
            )
            return cv.from_row(GapResultRow, row)

    def gap_results(self, session: date) -> list[GapResultRow]:
        rows = self._rows(
            "SELECT * FROM gap_results WHERE session = ? ORDER BY candidate_id", [cv.day(session)]
        )
        return [cv.from_row(GapResultRow, r) for r in rows]

    # -- paper tracking of vetoed candidates ---------------------------------------------------
    def open_paper_track(
        self,
        candidate_id: int,
        *,
        entry_price: float,
        entry_at: datetime,
        qty: float | None = None,
        at: datetime,
    ) -> PaperTrackRow:
        """Start following a vetoed candidate as if it had been entered at ``entry_price``."""
        with self._tx() as db:
            cands = list(db.query("SELECT * FROM candidates WHERE id = ?", [candidate_id]))
            if not cands:
                raise KeyError(f"no candidate with id {candidate_id}")
            c = cands[0]
            self._insert(
                db,
                "paper_tracks",
                {
                    "candidate_id": candidate_id,
                    "symbol": c["symbol"],
                    "side": c["side"],
                    "strategy": c["strategy"],
                    "qty": cv.opt_finite("qty", qty),
                    "entry_price": cv.finite("entry_price", entry_price),
                    "entry_at": cv.ts(entry_at),
                    "status": "open",
                    "updated_at": cv.ts(at),
                },
            )
            return self._paper_track(db, candidate_id)

    def close_paper_track(
        self,
        candidate_id: int,
        *,
        exit_price: float,
        exit_at: datetime,
        exit_reason: str,
        at: datetime,
    ) -> PaperTrackRow:
        """Close a paper track: P&L per share (times ``qty`` when known), percent and R.

        R uses the candidate's planned stop distance (``sl_dist``), the same risk unit as a
        real trade.
        """
        exit_price = cv.finite("exit_price", exit_price)
        with self._tx() as db:
            rows = list(
                db.query(
                    """
                    SELECT p.*, c.sl_dist FROM paper_tracks p
                    JOIN candidates c ON c.id = p.candidate_id WHERE p.candidate_id = ?
                    """,
                    [candidate_id],
                )
            )
            if not rows:
                raise KeyError(f"no paper track for candidate {candidate_id}")
            p = rows[0]
            if p["status"] != "open":
                raise ValueError(f"the paper track of candidate {candidate_id} is already closed")
            sign = 1.0 if p["side"] == "long" else -1.0
            per_share = sign * (exit_price - p["entry_price"])
            db.execute(
                """
                UPDATE paper_tracks SET exit_price = ?, exit_at = ?, exit_reason = ?, pnl = ?,
                    pnl_pct = ?, r_multiple = ?, status = 'closed', updated_at = ?
                WHERE candidate_id = ?
                """,
                [
                    exit_price,
                    cv.ts(exit_at),
                    cv.text(exit_reason),
                    None if p["qty"] is None else per_share * p["qty"],
                    per_share / p["entry_price"],
                    per_share / p["sl_dist"] if p["sl_dist"] else 0.0,
                    cv.ts(at),
                    candidate_id,
                ],
            )
            return self._paper_track(db, candidate_id)

    def paper_tracks(self, *, open_only: bool = False) -> list[PaperTrackRow]:
        sql = "SELECT * FROM paper_tracks"
        if open_only:
            sql += " WHERE status = 'open'"
        return [cv.from_row(PaperTrackRow, r) for r in self._rows(sql + " ORDER BY id")]

    @staticmethod
    def _paper_track(db: Any, candidate_id: int) -> PaperTrackRow:
        row = next(
            iter(db.query("SELECT * FROM paper_tracks WHERE candidate_id = ?", [candidate_id]))
        )
        return cv.from_row(PaperTrackRow, row)
