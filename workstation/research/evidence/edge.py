"""The human edge: what the trader's approvals and vetoes did against the rules alone.

Every candidate the trader decided on (the final decision at its entry time, by the user) is
compared with what the rules would have done without them:

* a **veto** stopped a trade the rules would have made. Every vetoed candidate the engine
  would have entered (it passed the gap filter; a group B one was also confirmed at 09:50) is
  followed on paper with the same rules (trading rules §7, ``paper_tracks``): the veto's edge
  is minus what that paper trade made (vetoing a loser gains). A vetoed candidate that would
  not have been entered anyway has no paper track and no edge;
* an **approval** is compared with the policy's default for a pending candidate
  (``on_pending``: ``approve`` on the simulated market, ``skip`` with a real broker by
  default). Where the default also approves, the approval changed nothing (edge 0, counted as
  agreeing with the rules); where the default skips, the approval made the trade, and its
  edge is what the trade made;
* a candidate **left to the policy** (still pending at its entry time) is shown for
  reference, with no edge.

Dollars are each trade's P&L (a paper trade is sized like a real one from the session's
starting equity); R does not depend on the size. A paper trade still open has no outcome yet
and is counted apart. Small samples are called small (fewer than ``min_trades`` decisions).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from workstation.core.calendar import TradingCalendar
from workstation.core.config import Config
from workstation.engine.rules.approval import on_pending_policy
from workstation.research.trade_stats import DEFAULT_MIN_TRADES
from workstation.store import Store

KINDS: dict[str, str] = {
    "vetoes": "vetoes",
    "approvals_changed": "approvals the policy would have skipped",
    "approvals_agreed": "approvals the policy would have made too",
    "left_to_policy": "left to the policy",
}


@dataclass(frozen=True)
class Decision:
    """One candidate the trader decided on (or left to the policy), and what it did."""

    candidate_id: int
    entry_session: date
    symbol: str
    strategy: str
    kind: str  # a key of KINDS
    note: str | None
    traded: bool  # a real (approvals) or paper (vetoes) trade came of it
    open: bool  # that trade is still open: no outcome yet
    outcome_pnl: float  # what the trade made (real or paper), 0 when none
    outcome_r: float
    edge_pnl: float  # what the decision added against the rules alone
    edge_r: float

    def as_json(self) -> dict[str, Any]:
        return {
            "candidate_id": self.candidate_id,
            "entry_session": self.entry_session.isoformat(),
            "symbol": self.symbol,
            "strategy": self.strategy,
            "kind": self.kind,
            "note": self.note,
            "traded": self.traded,
            "open": self.open,
            "outcome_pnl": round(self.outcome_pnl, 2),
            "outcome_r": round(self.outcome_r, 3),
            "edge_pnl": round(self.edge_pnl, 2),
            "edge_r": round(self.edge_r, 3),
        }


@dataclass
class _Group:
    decisions: int = 0
    closed: int = 0
    outcome_pnl: float = 0.0
    outcome_r: float = 0.0
    edge_pnl: float = 0.0
    edge_r: float = 0.0

    def add(self, d: Decision) -> None:
        self.decisions += 1
        if d.open:
            return
        self.closed += 1
        self.outcome_pnl += d.outcome_pnl
        self.outcome_r += d.outcome_r
        self.edge_pnl += d.edge_pnl
        self.edge_r += d.edge_r

    def as_json(self, min_trades: int) -> dict[str, Any]:
        return {
            "decisions": self.decisions,
            "n": self.decisions,
            "with_outcome": self.closed,
            "outcome_pnl": round(self.outcome_pnl, 2),
            "outcome_r": round(self.outcome_r, 3),
            "edge_pnl": round(self.edge_pnl, 2),
            "edge_r": round(self.edge_r, 3),
            "small_sample": self.closed < min_trades,
        }


@dataclass(frozen=True)
class EdgeReport:
    start: date | None
    end: date | None
    decisions: tuple[Decision, ...]
    policies: dict[str, str]  # market -> on_pending in force for it
    min_trades: int = DEFAULT_MIN_TRADES
    notes: tuple[str, ...] = ()
    curve: tuple[tuple[date, float], ...] = field(default=())

    def _human(self) -> list[Decision]:
        return [d for d in self.decisions if d.kind != "left_to_policy"]

    def total(self) -> _Group:
        g = _Group()
        for d in self._human():
            g.add(d)
        return g

    def by(self, key: str) -> dict[str, _Group]:
        out: dict[str, _Group] = defaultdict(_Group)
        for d in self._human():
            k = d.strategy if key == "strategy" else d.entry_session.strftime("%Y-%m")
            out[k].add(d)
        return dict(sorted(out.items()))

    def as_json(self) -> dict[str, Any]:
        total = self.total()
        by_kind: dict[str, _Group] = {k: _Group() for k in KINDS}
        for d in self.decisions:
            by_kind[d.kind].add(d)
        months = self.by("month")
        running = 0.0
        by_month = {}
        for m, g in months.items():
            running += g.edge_pnl
            by_month[m] = {**g.as_json(self.min_trades), "cumulative_pnl": round(running, 2)}
        return {
            "period": {
                "start": None if self.start is None else self.start.isoformat(),
                "end": None if self.end is None else self.end.isoformat(),
            },
            "policies": self.policies,
            "min_trades": self.min_trades,
            "total": {
                **total.as_json(self.min_trades),
                "decisions": total.decisions,
            },
            "by_kind": {
                k: {**g.as_json(self.min_trades), "label": KINDS[k]} for k, g in by_kind.items()
            },
            "by_strategy": {k: g.as_json(self.min_trades) for k, g in self.by("strategy").items()},
            "by_month": by_month,
            "curve": [{"session": d.isoformat(), "edge_pnl": round(v, 2)} for d, v in self.curve],
            "decisions": [d.as_json() for d in self.decisions],
            "notes": list(self.notes),
        }


def _decide(
    row: dict[str, Any], policy: str, trade: dict[str, Any] | None, paper: dict[str, Any] | None
) -> tuple[str, bool, bool, float, float, float, float]:
    """(kind, traded, open, outcome $, outcome R, edge $, edge R) of one candidate."""
    by_user = row["approval_source"] == "user"
    state = row["approval"]
    if by_user and state == "vetoed":
        if paper is None:
            return "vetoes", False, False, 0.0, 0.0, 0.0, 0.0
        if paper["status"] != "closed":
            return "vetoes", True, True, 0.0, 0.0, 0.0, 0.0
        pnl, r = float(paper["pnl"] or 0.0), float(paper["r_multiple"] or 0.0)
        return "vetoes", True, False, pnl, r, -pnl, -r
    outcome = _outcome(trade)
    if by_user and state == "approved":
        kind = "approvals_agreed" if policy == "approve" else "approvals_changed"
        traded, is_open, pnl, r = outcome
        edge = (pnl, r) if kind == "approvals_changed" else (0.0, 0.0)
        return kind, traded, is_open, pnl, r, *edge
    traded, is_open, pnl, r = outcome
    return "left_to_policy", traded, is_open, pnl, r, 0.0, 0.0


def _outcome(trade: dict[str, Any] | None) -> tuple[bool, bool, float, float]:
    if trade is None:
        return False, False, 0.0, 0.0
    if trade["pnl"] is None:
        return True, True, 0.0, 0.0
    return True, False, float(trade["pnl"]), float(trade["r_multiple"])


def human_edge(
    store: Store,
    start: date | None,
    end: date | None,
    cfg: Config,
    calendar: TradingCalendar,
) -> EdgeReport:
    """The decisions of the candidates whose entry session is in ``start`` .. ``end``."""
    q = store.db.query
    cands = list(
        q(
            "SELECT c.*, s.session AS scan_session, s.market AS market FROM candidates c "
            "JOIN scans s ON s.id = c.scan_id "
            "WHERE s.status = 'ok' AND s.superseded_by IS NULL ORDER BY s.session, c.rank"
        )
    )
    trades: dict[int, dict[str, Any]] = {}
    for p in q(
        "SELECT p.candidate_id, t.pnl, t.r_multiple FROM positions p "
        "LEFT JOIN trades t ON t.position_id = p.id WHERE p.candidate_id IS NOT NULL"
    ):
        trades[p["candidate_id"]] = p
    papers = {p["candidate_id"]: p for p in q("SELECT * FROM paper_tracks")}
    policies: dict[str, str] = {}
    out: list[Decision] = []
    for c in cands:
        entry = calendar.next_session(date.fromisoformat(c["scan_session"]))
        if (start is not None and entry < start) or (end is not None and entry > end):
            continue
        market = str(c["market"])
        policy = policies.setdefault(
            market, on_pending_policy(cfg.risk.approval, real_broker=market == "alpaca")
        )
        kind, traded, is_open, pnl, r, edge, edge_r = _decide(
            c, policy, trades.get(c["id"]), papers.get(c["id"])
        )
        if kind == "left_to_policy" and c["approval"] == "pending":
            continue  # not yet at its entry time
        out.append(
            Decision(
                c["id"], entry, c["symbol"], c["strategy"], kind, c["approval_note"],
                traded, is_open, pnl, r, edge, edge_r,
            )
        )  # fmt: skip
    return EdgeReport(start, end, tuple(out), policies, notes=_notes(out), curve=tuple(_curve(out)))


def _curve(decisions: Iterable[Decision]) -> list[tuple[date, float]]:
    """The cumulative edge by entry session (the chart over time)."""
    by_day: dict[date, float] = defaultdict(float)
    for d in decisions:
        if d.kind != "left_to_policy" and not d.open:
            by_day[d.entry_session] += d.edge_pnl
    running = 0.0
    out = []
    for day in sorted(by_day):
        running += by_day[day]
        out.append((day, running))
    return out


def _notes(decisions: list[Decision]) -> tuple[str, ...]:
    notes = []
    still_open = sum(1 for d in decisions if d.open and d.kind != "left_to_policy")
    if still_open:
        notes.append(f"{still_open} decision(s) have a trade still open: counted when it closes")
    untracked = sum(1 for d in decisions if d.kind == "vetoes" and not d.traded)
    if untracked:
        notes.append(
            f"{untracked} vetoed candidate(s) would not have been entered anyway (gap filter, "
            "09:50 confirmation): no paper trade, no edge"
        )
    return tuple(notes)


__all__ = ["KINDS", "Decision", "EdgeReport", "human_edge"]
