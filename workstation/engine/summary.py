"""The end-of-day summary of a session, built from the store (what the headless runner prints).

Everything comes from what was persisted, so a summary after a crash and restart shows the
same as one of an uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from workstation.core.calendar import ET
from workstation.engine.events import PositionState
from workstation.engine.trade_record import finite_round as _r
from workstation.engine.trade_record import trade_record
from workstation.store import CandidateRow, Store


@dataclass(frozen=True)
class SessionSummary:
    """One session: regime, candidates, gap results, entries, rejections, exits with reasons,
    open positions, paper tracks of vetoes, P&L and MFE/MAE."""

    session: date
    scan_session: date
    market: str
    regime: str | None
    start_equity: float
    end_equity: float
    kill_switch: bool = False
    candidates: tuple[dict[str, Any], ...] = ()
    gaps: tuple[dict[str, Any], ...] = ()
    entries: tuple[dict[str, Any], ...] = ()
    rejections: tuple[dict[str, Any], ...] = ()
    exits: tuple[dict[str, Any], ...] = ()
    open_positions: tuple[dict[str, Any], ...] = ()
    paper: tuple[dict[str, Any], ...] = ()
    missed: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def pnl(self) -> float:
        return self.end_equity - self.start_equity

    @property
    def pnl_pct(self) -> float:
        return self.pnl / self.start_equity if self.start_equity > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (one object per session in ``--json``)."""
        return {
            "session": self.session.isoformat(),
            "scan_session": self.scan_session.isoformat(),
            "market": self.market,
            "regime": self.regime,
            "start_equity": round(self.start_equity, 2),
            "end_equity": round(self.end_equity, 2),
            "pnl": round(self.pnl, 2),
            "pnl_pct": round(self.pnl_pct, 6),
            "kill_switch": self.kill_switch,
            "candidates": list(self.candidates),
            "gaps": list(self.gaps),
            "entries": list(self.entries),
            "rejections": list(self.rejections),
            "exits": list(self.exits),
            "open_positions": list(self.open_positions),
            "paper": list(self.paper),
            "missed": list(self.missed),
            "notes": list(self.notes),
        }


def _et_date(t: datetime | None) -> date | None:
    return None if t is None else t.astimezone(ET).date()


def build_summary(
    store: Store,
    session: date,
    *,
    scan_session: date,
    candidates: Sequence[CandidateRow],
    regime: str | None,
    market: str,
    start_equity: float,
    end_equity: float,
    kill_switch: bool,
    positions: Sequence[PositionState] = (),
    missed: Sequence[str] = (),
    since: datetime | None = None,
    notes: Sequence[str] = (),
) -> SessionSummary:
    """The summary of ``session`` from the store. ``since`` bounds the audit-log search
    (the day's start)."""
    by_id = {c.id: c for c in candidates}
    cands = tuple(
        {
            "id": c.id,
            "rank": c.rank,
            "symbol": c.symbol,
            "sector": c.sector,
            "strategy": c.strategy,
            "side": c.side,
            "group": c.grp,
            "score": _r(c.score, 2),
            "approval": c.approval,
            "note": c.approval_note or "",
        }
        for c in candidates
    )
    gaps = tuple(
        {
            "symbol": by_id[g.candidate_id].symbol if g.candidate_id in by_id else "?",
            "price": _r(g.price),
            "source": g.source,
            "prev_close": _r(g.prev_close),
            "gap": _r(g.gap, 6),
            "passed": g.passed,
            "reason": g.reason,
        }
        for g in store.gap_results(session)
    )
    entries = tuple(
        {
            "symbol": o.symbol,
            "side": o.side,
            "group": "A" if o.tif == "opg" else "B",
            "strategy": o.strategy,
            "qty": int(o.qty),
            "filled_qty": int(o.filled_qty),
            "avg_fill_price": _r(o.avg_fill_price),
            "status": o.status,
            "client_order_id": o.client_order_id,
        }
        for o in store.orders_for_session(session)
        if o.intent == "entry"
    )
    rejections: list[dict[str, Any]] = []
    for row in store.audit_log(action="entry.rejected", since=since, limit=None):
        d = row.detail or {}
        if d.get("session") != session.isoformat():
            continue
        rejections.append(
            {
                "symbol": d.get("symbol"),
                "group": d.get("group"),
                "reason": d.get("reason"),
                "check": d.get("check"),
                "detail": d.get("detail"),
            }
        )
    exits = tuple(trade_record(t) for t in store.trades(session, session))
    open_pos = tuple(
        {
            "symbol": p.symbol,
            "side": str(p.side),
            "qty": p.open_qty,
            "fill_price": _r(p.fill_price),
            "last": _r(p.last_price),
            "sl": _r(p.sl),
            "tp": _r(p.tp),
            "entry_session": p.entry_session.isoformat(),
            "mfe_r": _r(p.mfe_r),
            "mae_r": _r(p.mae_r),
        }
        for p in positions
    )
    paper = tuple(
        {
            "symbol": p.symbol,
            "side": p.side,
            "strategy": p.strategy,
            "status": p.status,
            "entry_price": _r(p.entry_price),
            "exit_price": _r(p.exit_price),
            "reason": p.exit_reason,
            "r": _r(p.r_multiple),
            "pnl": _r(p.pnl, 2),
        }
        for p in store.paper_tracks()
        if _et_date(p.entry_at) == session or _et_date(p.exit_at) == session
    )
    return SessionSummary(
        session=session,
        scan_session=scan_session,
        market=market,
        regime=regime,
        start_equity=start_equity,
        end_equity=end_equity,
        kill_switch=kill_switch,
        candidates=cands,
        gaps=gaps,
        entries=entries,
        rejections=tuple(rejections),
        exits=exits,
        open_positions=open_pos,
        paper=paper,
        missed=tuple(missed),
        notes=tuple(notes),
    )


def format_summary(s: SessionSummary) -> str:
    """The human-readable block of one session."""
    lines = [
        f"== {s.session} ({s.session:%a}) - {s.market} market, regime {s.regime or 'n/a'} "
        f"(scan of {s.scan_session}) ==",
        f"P&L {s.pnl:+,.2f} ({s.pnl_pct:+.2%}); equity {s.start_equity:,.2f} -> "
        f"{s.end_equity:,.2f}" + ("; KILL SWITCH engaged" if s.kill_switch else ""),
    ]
    if s.missed:
        lines.append("missed steps: " + ", ".join(s.missed))
    lines.extend(f"note: {n}" for n in s.notes)
    if s.candidates:
        lines.append(f"candidates ({len(s.candidates)}):")
        for c in s.candidates:
            lines.append(
                f"  {c['rank']:>2} {c['symbol']:<6} {c['strategy']:<17} {c['side']:<5} "
                f"{c['group']} score {c['score']:>5} {c['approval']}"
            )
    else:
        lines.append("candidates: none")
    if s.gaps:
        passed = sum(1 for g in s.gaps if g["passed"])
        lines.append(f"gap filter: {passed} of {len(s.gaps)} passed")
        for g in s.gaps:
            if not g["passed"]:
                gap = "n/a" if g["gap"] is None else f"{g['gap']:+.2%}"
                lines.append(f"  dropped {g['symbol']:<6} gap {gap} ({g['reason']})")
    for e in s.entries:
        price = "" if e["avg_fill_price"] is None else f" @ {e['avg_fill_price']:.2f}"
        lines.append(
            f"entry {e['symbol']:<6} {e['side']:<4} {e['filled_qty']}/{e['qty']}{price} "
            f"group {e['group']} ({e['status']})"
        )
    for r in s.rejections:
        lines.append(f"not entered {r['symbol']:<6} {r['reason']}: {r['detail']}")
    for x in s.exits:
        mfe = "n/a" if x["mfe_r"] is None else f"{x['mfe_r']:+.2f}R"
        mae = "n/a" if x["mae_r"] is None else f"{x['mae_r']:+.2f}R"
        lines.append(
            f"exit {x['symbol']:<6} {x['reason']:<11} {x['qty']} @ {x['exit_price']:.2f} "
            f"(in {x['entry_price']:.2f}, day {x['days_held']}) P&L {x['pnl']:+,.2f} "
            f"R {x['r'] if x['r'] is not None else 'n/a'} MFE {mfe} MAE {mae}"
        )
    for p in s.open_positions:
        lines.append(
            f"open {p['symbol']:<6} {p['side']:<5} {p['qty']} @ {p['fill_price']} last "
            f"{p['last']} SL {p['sl']} TP {p['tp']} MFE {p['mfe_r']}R MAE {p['mae_r']}R"
        )
    for p in s.paper:
        out = "open" if p["status"] == "open" else f"{p['reason']} @ {p['exit_price']} R {p['r']}"
        lines.append(f"paper (vetoed) {p['symbol']:<6} {p['side']:<5} in {p['entry_price']}: {out}")
    return "\n".join(lines)


__all__ = ["SessionSummary", "build_summary", "format_summary"]
