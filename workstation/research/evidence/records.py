"""What one store says happened to each signal and trade of a range of sessions, in the form
the drift report compares (:mod:`.drift`): the live store of the app and the store of the
backtest of the same sessions read by the same code.

A *signal* is a candidate of the list a session traded (the scan of the session before), keyed
by (entry session, symbol, strategy); what became of it is read from the store's own records:
the approval, the gap result, the entry checks' rejection, the 09:50 confirmation, the entry
order. A *trade* is a position entered in the range (closed or still open at its end), keyed
the same way (a position without a candidate, adopted at a reconciliation, has the key of its
entry), with what the trader did to it: moved levels, an exit by hand, exit orders the broker
refused.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from workstation.core.calendar import ET
from workstation.store import Store
from workstation.store import convert as cv

Key = tuple[date, str, str]  # (entry session, symbol, strategy)


@dataclass(frozen=True)
class Signal:
    """One candidate of a traded list and what became of it."""

    key: Key
    candidate_id: int
    side: str
    group: str
    rank: int
    regime: str | None
    approval: str  # final state: approved, vetoed, skipped, pending
    approval_source: str | None  # user or policy
    approval_note: str | None
    gap_passed: bool | None  # None: no gap result recorded
    gap_source: str | None
    gap_reason: str | None
    rejection: str | None  # the entry checks' (or the broker's) last refusal reason
    rejection_check: int | None
    rejection_detail: str
    confirmed: bool | None  # group B at 09:50 (None: not checked)
    entry_status: str | None  # the entry order's status (None: no order)
    entry_reject_reason: str | None
    entered: bool  # a position came of it

    @property
    def entry_session(self) -> date:
        return self.key[0]

    @property
    def symbol(self) -> str:
        return self.key[1]

    @property
    def strategy(self) -> str:
        return self.key[2]


@dataclass(frozen=True)
class Trade:
    """A position entered in the range: closed (a trade) or still open at the range's end."""

    key: Key
    position_id: int
    candidate_id: int | None
    side: str
    group: str | None
    qty: float
    entry_price: float
    entry_at: datetime
    exit_price: float | None
    exit_at: datetime | None
    exit_session: date | None
    exit_reason: str | None
    pnl: float | None
    r: float | None
    levels_moved: bool  # the trader moved its SL or TP
    exit_requested_by_user: bool  # closed by hand (or flattened)
    rejected_exits: tuple[str, ...] = ()  # the broker's reasons for refused exit orders
    entry_order_at: datetime | None = None  # when the entry order was placed

    @property
    def closed(self) -> bool:
        return self.exit_at is not None

    @property
    def sign(self) -> float:
        return 1.0 if self.side == "long" else -1.0

    @property
    def pnl_per_share(self) -> float:
        return 0.0 if self.pnl is None or not self.qty else self.pnl / self.qty


@dataclass
class Records:
    """Everything the comparison reads of one store over a range of sessions."""

    first: date
    last: date
    signals: dict[Key, Signal] = field(default_factory=dict)
    trades: dict[Key, Trade] = field(default_factory=dict)
    scans: dict[date, str] = field(default_factory=dict)  # entry session -> 'ok' / 'failed'
    missed_steps: dict[date, list[str]] = field(default_factory=dict)
    kill_switch: dict[date, str] = field(default_factory=dict)  # session -> engaged by
    carried_in: list[Trade] = field(default_factory=list)  # entered before the range

    def missed(self, session: date, *steps: str) -> bool:
        got = self.missed_steps.get(session, [])
        return any(s in got for s in steps) if steps else bool(got)


def _day(v: Any) -> date:
    return date.fromisoformat(str(v)[:10])


def _detail(raw: Any) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        out = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}


def read_records(store: Store, first: date, last: date, sessions: Iterable[date]) -> Records:
    """The signals and trades of ``sessions`` (``first`` .. ``last``) in ``store``."""
    days = sorted(set(sessions))
    rec = Records(first, last)
    q = store.db.query
    # The list each session traded: the current successful scan of the session before it.
    scan_rows = list(
        q(
            "SELECT id, session, status, regime, superseded_by FROM scans "
            "WHERE session < :b AND session >= :a ORDER BY id",
            {"a": date.fromordinal(first.toordinal() - 10).isoformat(), "b": last.isoformat()},
        )
    )
    entry_of: dict[str, date] = {}  # scan session -> the session it traded
    for s in days:
        before = [r["session"] for r in scan_rows if _day(r["session"]) < s]
        if before:
            entry_of.setdefault(max(before), s)
    current: dict[str, dict[str, Any]] = {}
    for r in scan_rows:
        if r["session"] not in entry_of:
            continue
        entry = entry_of[r["session"]]
        if r["status"] == "ok" and r["superseded_by"] is None:
            current[r["session"]] = r
            rec.scans[entry] = "ok"
        else:
            rec.scans.setdefault(entry, str(r["status"]))
    scan_ids = {r["id"]: (entry_of[s], r["regime"]) for s, r in current.items()}

    cands: dict[int, dict[str, Any]] = {}
    if scan_ids:
        marks = ",".join(str(i) for i in scan_ids)
        for c in q(f"SELECT * FROM candidates WHERE scan_id IN ({marks}) ORDER BY scan_id, rank"):
            cands[c["id"]] = c
    gaps: dict[int, dict[str, Any]] = {}
    rejections: dict[int, dict[str, Any]] = {}
    confirmations: dict[int, bool] = {}
    entry_orders: dict[int, dict[str, Any]] = {}
    if cands:
        ids = ",".join(str(i) for i in cands)
        for g in q(f"SELECT * FROM gap_results WHERE candidate_id IN ({ids})"):
            gaps[g["candidate_id"]] = g
        for o in q(
            f"SELECT * FROM orders WHERE intent = 'entry' AND candidate_id IN ({ids}) ORDER BY id"
        ):
            entry_orders[o["candidate_id"]] = o
        subjects = ",".join(f"'candidate:{i}'" for i in cands)
        for a in q(
            "SELECT action, subject, detail FROM audit_log WHERE action IN "
            f"('entry.rejected', 'entry.confirmation') AND subject IN ({subjects}) ORDER BY id"
        ):
            cid = int(a["subject"].split(":", 1)[1])
            d = _detail(a["detail"])
            if a["action"] == "entry.rejected":
                rejections[cid] = d
            else:
                confirmations[cid] = bool(d.get("confirmed"))

    positions = list(
        q(
            "SELECT p.*, t.exit_price, t.exit_at, t.exit_session, t.exit_reason, t.pnl, "
            "t.r_multiple FROM positions p LEFT JOIN trades t ON t.position_id = p.id "
            "WHERE p.entry_session <= :b AND (t.exit_session IS NULL OR t.exit_session >= :a) "
            "ORDER BY p.id",
            {"a": first.isoformat(), "b": last.isoformat()},
        )
    )
    pos_ids = [p["id"] for p in positions]
    moves: dict[str, list[datetime]] = defaultdict(list)  # symbol -> times levels were moved
    by_user: set[tuple[str, date]] = set()  # (symbol, session) of exits the trader asked for
    rejected_exits: dict[int, list[str]] = defaultdict(list)
    entry_order_at: dict[int, datetime] = {}
    if pos_ids:
        ids = ",".join(str(i) for i in pos_ids)
        for o in q(
            "SELECT position_id, intent, status, reject_reason, created_at FROM orders "
            f"WHERE position_id IN ({ids}) ORDER BY id"
        ):
            if o["intent"] in ("exit", "flatten", "stop") and o["status"] == "rejected":
                rejected_exits[o["position_id"]].append(str(o["reject_reason"] or "rejected"))
            if o["intent"] == "entry" and o["position_id"] not in entry_order_at:
                entry_order_at[o["position_id"]] = cv.parse_ts(o["created_at"]).astimezone(ET)
    for a in q(
        "SELECT action, actor, subject, at, detail FROM audit_log WHERE action IN "
        "('position.levels_moved', 'position.exit_requested', 'positions.flatten_all', "
        "'step.missed', 'kill_switch.engaged') AND at >= :a ORDER BY id",
        {"a": date.fromordinal(first.toordinal() - 1).isoformat()},
    ):
        at = cv.parse_ts(a["at"]).astimezone(ET)
        d = _detail(a["detail"])
        action = a["action"]
        if action == "position.levels_moved":
            moves[a["subject"]].append(at)
        elif action == "position.exit_requested":
            by_user.add((a["subject"], at.date()))
        elif action == "positions.flatten_all" and a["actor"] == "user":
            by_user.update((sym, at.date()) for sym in d.get("symbols", []))
        elif action == "step.missed":
            subject = str(a["subject"])
            session = _day(subject.split(":", 1)[1]) if ":" in subject else at.date()
            rec.missed_steps.setdefault(session, []).append(str(d.get("step", "")))
        elif action == "kill_switch.engaged":
            rec.kill_switch.setdefault(_day(d.get("session") or at.date()), str(a["actor"]))

    group_of = {cid: c["grp"] for cid, c in cands.items()}
    for p in positions:
        key: Key = (_day(p["entry_session"]), p["symbol"], p["strategy"])
        exit_at = cv.parse_ts(p["exit_at"]).astimezone(ET) if p["exit_at"] else None
        entry_at = cv.parse_ts(p["entry_at"]).astimezone(ET)
        trade = Trade(
            key=key,
            position_id=p["id"],
            candidate_id=p["candidate_id"],
            side=p["side"],
            group=group_of.get(p["candidate_id"]) if p["candidate_id"] is not None else None,
            qty=float(p["qty"]),
            entry_price=float(p["avg_entry"]),
            entry_at=entry_at,
            exit_price=None if p["exit_price"] is None else float(p["exit_price"]),
            exit_at=exit_at,
            exit_session=_day(p["exit_session"]) if p["exit_session"] else None,
            exit_reason=p["exit_reason"],
            pnl=None if p["pnl"] is None else float(p["pnl"]),
            r=None if p["r_multiple"] is None else float(p["r_multiple"]),
            levels_moved=(
                p["sl_manual"] is not None
                or p["tp_manual"] is not None
                or any(entry_at <= t <= (exit_at or t) for t in moves.get(p["symbol"], ()))
            ),
            exit_requested_by_user=(
                exit_at is not None and (p["symbol"], exit_at.date()) in by_user
            ),
            rejected_exits=tuple(rejected_exits.get(p["id"], ())),
            entry_order_at=entry_order_at.get(p["id"]),
        )
        if key[0] < first:
            rec.carried_in.append(trade)
        else:
            rec.trades[key] = trade

    entered = {p["candidate_id"] for p in positions if p["candidate_id"] is not None}
    for cid, c in cands.items():
        entry, regime = scan_ids[c["scan_id"]]
        key = (entry, c["symbol"], c["strategy"])
        g = gaps.get(cid)
        rej = rejections.get(cid)
        order = entry_orders.get(cid)
        rec.signals[key] = Signal(
            key=key,
            candidate_id=cid,
            side=c["side"],
            group=c["grp"],
            rank=int(c["rank"]),
            regime=regime,
            approval=c["approval"],
            approval_source=c["approval_source"],
            approval_note=c["approval_note"],
            gap_passed=None if g is None else bool(g["passed"]),
            gap_source=None if g is None else g["source"],
            gap_reason=None if g is None else g["reason"],
            rejection=None if rej is None else str(rej.get("reason")),
            rejection_check=None if rej is None else rej.get("check"),
            rejection_detail="" if rej is None else str(rej.get("detail", "")),
            confirmed=confirmations.get(cid),
            entry_status=None if order is None else order["status"],
            entry_reject_reason=None if order is None else order["reject_reason"],
            entered=cid in entered,
        )
    return rec


__all__ = ["Key", "Records", "Signal", "Trade", "read_records"]
