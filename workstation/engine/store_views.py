"""Views built from the store (and the live position book): what the window shows.

:class:`StoreViews` turns store rows into the frozen view dataclasses of
:mod:`workstation.engine.views` -- the nightly candidates with the story of their pick, the
session's gap results, its orders (and the entries decided against without an order), the
closed trades and vetoed outcomes, the equity curve -- and the book's positions into position
views. It only reads; :class:`~workstation.engine.facade.Workstation` decides when (it caches
the results and rebuilds them after an event said they changed). No Qt here.
"""

from __future__ import annotations

import contextlib
import json
import math
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from workstation.core.calendar import ET
from workstation.core.models import (
    ApprovalState,
    Group,
    OrderIntent,
    OrderSide,
    OrderStatus,
    OrderType,
    ScoreParts,
    Side,
    TimeInForce,
)
from workstation.engine.events import PositionState
from workstation.engine.outcomes import Outcome, candidate_outcome
from workstation.engine.rules.approval import entry_time
from workstation.engine.session import TradingSession
from workstation.engine.vetoes import EntryTimes, veto_outcome
from workstation.engine.views import (
    CandidateView,
    DecisionView,
    GapView,
    OrderView,
    PassedOverView,
    PositionView,
    ScanReportView,
    TradeView,
    VetoView,
)
from workstation.store import CandidateRow, GapResultRow, OrderRow, ScanRow


def _nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _et(t: datetime | None) -> datetime | None:
    return None if t is None else t.astimezone(ET)


def _user_note(c: CandidateRow | None) -> str:
    """The note the user gave with the approval or veto (a policy's reason is not a note)."""
    if c is None or c.approval_source != "user":
        return ""
    return c.approval_note or ""


def _status(raw: str) -> tuple[OrderStatus, str]:
    """The view's status of a stored order status (the store also knows "replaced")."""
    try:
        return OrderStatus(raw), ""
    except ValueError:
        if raw == "replaced":
            return OrderStatus.CANCELED, "replaced by a new stop"
        return OrderStatus.ACCEPTED, raw


class StoreViews:
    """Reads the views of one :class:`TradingSession`'s store, book and clock."""

    def __init__(self, session: TradingSession) -> None:
        self.session = session
        self.store = session.store
        self.calendar = session.calendar
        self.clock = session.clock
        self.market = session.market
        self._scan_docs: dict[date, dict[str, Any]] = {}

    def forget_scan_files(self) -> None:
        """A new scan was recorded: read its JSON file again when asked."""
        self._scan_docs.clear()

    def view_session(self, now: datetime | None = None) -> date:
        """The session whose gap results, orders and day numbers are shown: from the
        pre-market step (when today's are made) the current one, before it the last one."""
        now = now or self.clock.now()
        cal = self.calendar
        today = cal.session_on_or_before(now.date())
        roll = cal.at(today, self.session.cfg.schedule.gap_filter_at)
        if today == now.date() and now < roll:
            return cal.previous_session(today)
        return today

    def latest_scan(self) -> ScanRow | None:
        """The newest scan: of the last completed session, or (before its 20:00 scan) the
        one before it."""
        now = self.clock.now()
        s = self.calendar.last_completed_session(now)
        for _ in range(5):
            row = self.store.latest_scan(s, market=self.market.name)
            if row is not None:
                return row
            s = self.calendar.previous_session(s)
        return None

    def scan_report(self) -> ScanReportView | None:
        """The latest scan's report, from its store row."""
        scan = self.latest_scan()
        if scan is None:
            return None
        return ScanReportView(
            session=scan.session,
            status=scan.status,
            regime=scan.regime or "",
            loaded=scan.loaded,
            eligible=scan.eligible,
            stale=tuple(scan.stale_symbols),
            failed=tuple(scan.failed_symbols),
            ineligible=scan.ineligible,
            data_problems=scan.data_problems,
            error=scan.error or "",
        )

    def regime_values(self) -> tuple[date | None, str | None, dict[str, Any]]:
        """The latest scan's session, regime and the values that decided it (its JSON file
        keeps them; empty when it did not record them)."""
        scan = self.latest_scan()
        if scan is None:
            return None, None, {}
        values = self._scan_doc(scan.session).get("regime_values") or {}
        return scan.session, scan.regime, dict(values)

    def candidates(self) -> tuple[tuple[CandidateView, ...], tuple[datetime | None, ...]]:
        """The views by rank, and each one's decision deadline (None: never decidable)."""
        scan = self.latest_scan()
        if scan is None or scan.status != "ok":
            return (), ()
        rows = self.store.candidates_for_scan(scan.id)
        history: dict[int, list[DecisionView]] = {}
        for a in self.store.approvals_for_scan(scan.id):
            history.setdefault(a.candidate_id, []).append(
                DecisionView(a.at.astimezone(ET), ApprovalState(a.state), a.source, a.note or "")
            )
        doc = self._scan_doc(scan.session)
        now = self.clock.now()
        cfg = self.session.cfg
        try:
            entry_session = self.calendar.next_session(scan.session)
        except Exception:
            entry_session = None
        last_rank = max((r.rank for r in rows), default=0)
        outcomes = self._outcomes(rows, entry_session) if entry_session is not None else {}
        deadlines: list[datetime | None] = []
        out = []
        for r in rows:
            outcome = outcomes.get(r.id)
            state = ApprovalState(r.approval)
            deadline: datetime | None = None
            if entry_session is not None and state is not ApprovalState.SKIPPED:
                deadline = entry_time(Group(r.grp), entry_session, cfg.schedule, self.calendar)
            decidable = deadline is not None and now < deadline
            rule = r.explain.get("rule") if isinstance(r.explain, dict) else None
            out.append(
                CandidateView(
                    id=r.id,
                    session=scan.session,
                    rank=r.rank,
                    symbol=r.symbol,
                    sector=r.sector,
                    strategy=r.strategy,
                    side=Side(r.side),
                    group=Group(r.grp),
                    score=r.score,
                    parts=ScoreParts(r.score_strength, r.score_liquidity, r.score_rr, r.score_fit),
                    approval=state,
                    note=r.approval_note or "",
                    close=r.close,
                    atr14=r.atr14,
                    sl_mult=r.sl_mult,
                    tp_mult=r.tp_mult,
                    regime=scan.regime or "",
                    indicators={
                        k: float(v) for k, v in (r.indicators or {}).items() if v is not None
                    },
                    explanation=rule or {},
                    passed_over=self._passed_over(r, doc, r.rank == last_rank),
                    decidable=decidable,
                    decide_by=deadline,
                    history=tuple(history.get(r.id, ())),
                    outcome=outcome.code if outcome else "",
                    outcome_text=outcome.text if outcome else "",
                    outcome_detail=outcome.detail if outcome else "",
                )
            )
            deadlines.append(deadline)
        order = sorted(range(len(out)), key=lambda i: out[i].rank)
        return tuple(out[i] for i in order), tuple(deadlines[i] for i in order)

    def _outcomes(self, rows: list[CandidateRow], entry_session: date) -> dict[int, Outcome]:
        """What became of each candidate at ``entry_session`` (see ``engine.outcomes``)."""
        if self.clock.now().date() < entry_session:
            return {}  # its session has not begun: nothing happened yet
        ids = {r.id for r in rows}
        orders = {
            o.candidate_id: o
            for o in self.store.orders_for_session(entry_session)
            if o.intent == OrderIntent.ENTRY and o.candidate_id in ids
        }
        gaps = {g.candidate_id: g for g in self.store.gap_results(entry_session)}
        rejected = self._audit_details("entry.rejected", entry_session)
        out: dict[int, Outcome] = {}
        for r in rows:
            o = candidate_outcome(
                order=orders.get(r.id),
                rejection=rejected.get(r.id, (None, None))[0],
                gap=gaps.get(r.id),
                approval=r.approval,
            )
            if o is not None:
                out[r.id] = o
        return out

    def _scan_doc(self, session: date) -> dict[str, Any]:
        """The scan's JSON file (its ranking report: who was passed over and why)."""
        doc = self._scan_docs.get(session)
        if doc is None:
            path = Path(self.session.scanner.scans_dir) / f"{session.isoformat()}.json"
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                doc = {}
            self._scan_docs[session] = doc
        return doc

    @staticmethod
    def _passed_over(
        r: CandidateRow, doc: dict[str, Any], last: bool
    ) -> tuple[PassedOverView, ...]:
        ranking = doc.get("ranking") or {}
        out: list[PassedOverView] = []
        capped = ranking.get("passed_over")
        if capped is None:  # no scan file: what the store kept
            capped = (r.explain or {}).get("passed_over_before") or []
        for p in capped:
            if r.symbol in (p.get("blocked_by") or ()):
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    out.append(PassedOverView.from_dict(p))
        for s in ranking.get("superseded") or ():
            if s.get("symbol") == r.symbol:
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    out.append(PassedOverView.from_superseded(s))
        if last:
            for p in ranking.get("runners_up") or ():
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    out.append(PassedOverView.from_dict(p))
        return tuple(out)

    def _candidate(self, cid: int, memo: dict[int, CandidateRow | None]) -> CandidateRow | None:
        if cid not in memo:
            memo[cid] = self.store.get_candidate(cid)
        return memo[cid]

    def _audit_details(
        self, action: str, session: date
    ) -> dict[int, tuple[dict[str, Any], datetime]]:
        """candidate id -> (detail, time) of its newest ``action`` audit row of ``session``."""
        since = self.calendar.at(self.calendar.previous_session(session), "00:00")
        out: dict[int, tuple[dict[str, Any], datetime]] = {}
        for row in self.store.audit_log(action=action, since=since, limit=None):
            d = row.detail or {}
            if d.get("session") != session.isoformat() or not row.subject.startswith("candidate:"):
                continue
            with contextlib.suppress(ValueError):
                out[int(row.subject.split(":", 1)[1])] = (d, row.at.astimezone(ET))
        return out

    def gaps(self) -> tuple[GapView, ...]:
        session = self.view_session()
        rows = self.store.gap_results(session)
        details = self._audit_details("gap.checked", session)
        memo: dict[int, CandidateRow | None] = {}
        out = []
        for g in rows:
            c = self._candidate(g.candidate_id, memo)
            if c is None:
                continue
            out.append(
                GapView(
                    candidate_id=g.candidate_id,
                    symbol=c.symbol,
                    strategy=c.strategy,
                    side=Side(c.side),
                    group=Group(c.grp),
                    prev_close=g.prev_close,
                    price=g.price,
                    source=g.source,
                    gap=g.gap,
                    passed=bool(g.passed),
                    reason=g.reason or "",
                    detail=str(details.get(g.candidate_id, ({}, None))[0].get("detail", "")),
                    at=_et(g.at),
                )
            )
        return tuple(sorted(out, key=lambda v: (self._rank(v.candidate_id, memo), v.symbol)))

    def _rank(self, cid: int, memo: dict[int, CandidateRow | None]) -> int:
        c = self._candidate(cid, memo)
        return c.rank if c is not None else 999

    def orders(self) -> tuple[OrderView, ...]:
        session = self.view_session()
        rows = self.store.orders_for_session(session)
        confirmations = self._audit_details("entry.confirmation", session)
        rejections = self._audit_details("entry.rejected", session)
        memo: dict[int, CandidateRow | None] = {}
        out: list[OrderView] = []
        entered: set[int] = set()
        for o in rows:
            c = self._candidate(o.candidate_id, memo) if o.candidate_id is not None else None
            if o.candidate_id is not None and o.intent == OrderIntent.ENTRY:
                entered.add(o.candidate_id)
            conf = confirmations.get(o.candidate_id) if o.candidate_id is not None else None
            out.append(self._order_view(o, c, conf[0] if conf else None))
        # Entries decided against without an order (a failed check, not confirmed at 09:50,
        # trading blocked): listed as "not sent" (never as a rejected order of 0 shares), so
        # the panel tells every entry's story.
        for cid, (d, at) in rejections.items():
            if cid in entered:
                continue
            c = self._candidate(cid, memo)
            if c is None:
                continue
            conf = confirmations.get(cid, (None, None))[0]
            reason = str(d.get("reason", ""))
            detail = str(d.get("detail", ""))
            out.append(
                OrderView(
                    client_order_id=f"not-entered:{session.isoformat()}:{c.symbol}:{cid}",
                    symbol=c.symbol,
                    side=OrderSide.to_open(Side(c.side)),
                    qty=0,
                    type=OrderType.MARKET,
                    tif=TimeInForce.OPG if c.grp == Group.A else TimeInForce.DAY,
                    status=OrderStatus.REJECTED,
                    intent=OrderIntent.ENTRY,
                    strategy=c.strategy,
                    group=Group(c.grp),
                    **self._confirmation(conf),
                    reject_reason=f"{reason}: {detail}" if detail else reason,
                    updated_at=at,
                    sent=False,
                )
            )
        far = datetime.max.replace(tzinfo=ET)
        return tuple(sorted(out, key=lambda v: (v.updated_at or far, v.client_order_id)))

    @staticmethod
    def _confirmation(conf: dict[str, Any] | None) -> dict[str, Any]:
        if not conf:
            return {}
        return {
            "confirm_open": conf.get("open"),
            "confirm_price": conf.get("price"),
            "confirm_threshold": conf.get("threshold"),
            "confirmed": bool(conf.get("confirmed")),
        }

    def _order_view(
        self, o: OrderRow, c: CandidateRow | None, conf: dict[str, Any] | None
    ) -> OrderView:
        status, note = _status(o.status)
        intent = OrderIntent(o.intent)
        reject = o.reject_reason or note
        return OrderView(
            client_order_id=o.client_order_id,
            symbol=o.symbol,
            side=OrderSide(o.side),
            qty=round(o.qty),
            type=OrderType(o.order_type),
            tif=TimeInForce(o.tif),
            status=status,
            intent=intent,
            strategy=o.strategy or "",
            group=Group(c.grp) if c is not None and intent is OrderIntent.ENTRY else None,
            filled_qty=round(o.filled_qty),
            avg_price=o.avg_fill_price,
            limit_price=o.limit_price,
            stop_price=o.stop_price,
            **(self._confirmation(conf) if intent is OrderIntent.ENTRY else {}),
            reject_reason=reject,
            updated_at=_et(o.updated_at),
            broker_status=o.broker_status or "",
        )

    def position(
        self,
        p: PositionState,
        today: date,
        sltp_from_day: int,
        emergency_pct: float,
        universe: Any,
    ) -> PositionView:
        try:
            day = self.calendar.day_number(p.entry_session, max(today, p.entry_session))
        except Exception:
            day = 1
        last = p.last_price if p.last_price is not None else p.fill_price
        sign = p.side.sign
        qty = int(p.open_qty)
        return PositionView(
            symbol=p.symbol,
            side=p.side,
            qty=qty,
            fill_price=p.fill_price,
            last=last,
            pnl=sign * (last - p.fill_price) * qty,
            strategy=p.strategy,
            day=day,
            day_one=day < sltp_from_day,
            sl=p.sl,
            tp=p.tp,
            emergency=p.fill_price * (1 - sign * emergency_pct),
            r_per_share=p.r_per_share,
            mfe_price=p.mfe_price,
            mfe_pct=p.mfe_pct,
            mfe_r=p.mfe_r,
            mae_price=p.mae_price,
            mae_pct=p.mae_pct,
            mae_r=p.mae_r,
            entry_at=_et(p.entry_at),
            mfe_at=_et(p.mfe_at),
            mae_at=_et(p.mae_at),
            sector=universe.sectors.get(p.symbol, ""),
            rule_sl=p.rule_sl,
            rule_tp=p.rule_tp,
            sl_moved=p.sl_moved,
            tp_moved=p.tp_moved,
            exiting=p.exiting,
        )

    def trades(self) -> tuple[TradeView, ...]:
        sectors = self.session.universe.sectors
        memo: dict[int, CandidateRow | None] = {}
        out: list[TradeView] = []
        for t in self.store.trades():
            c = self._candidate(t.candidate_id, memo) if t.candidate_id is not None else None
            out.append(
                TradeView(
                    id=t.id,
                    symbol=t.symbol,
                    side=Side(t.side),
                    qty=round(t.qty),
                    strategy=t.strategy,
                    entry_price=t.entry_price,
                    entry_at=_et(t.entry_at) or t.entry_at,
                    exit_price=t.exit_price,
                    exit_at=_et(t.exit_at) or t.exit_at,
                    exit_reason=t.exit_reason,
                    pnl=t.pnl,
                    r=t.r_multiple,
                    mfe_r=_nan(t.mfe_r),
                    mae_r=_nan(t.mae_r),
                    note=_user_note(c),
                    sector=sectors.get(t.symbol, ""),
                )
            )
        for p in self.store.paper_tracks():
            if p.status == "open" or p.exit_price is None or p.exit_at is None:
                continue
            c = self._candidate(p.candidate_id, memo)
            qty = round(p.qty or 0)
            pnl = (
                p.pnl
                if p.pnl is not None
                else Side(p.side).sign * (p.exit_price - p.entry_price) * qty
            )
            out.append(
                TradeView(
                    id=-p.id,  # real trades have positive ids: the journal keys by id
                    symbol=p.symbol,
                    side=Side(p.side),
                    qty=qty,
                    strategy=p.strategy,
                    entry_price=p.entry_price,
                    entry_at=_et(p.entry_at) or p.entry_at,
                    exit_price=p.exit_price,
                    exit_at=_et(p.exit_at) or p.exit_at,
                    exit_reason=p.exit_reason or "",
                    pnl=float(pnl),
                    r=_nan(p.r_multiple),
                    mfe_r=math.nan,
                    mae_r=math.nan,
                    vetoed=True,
                    note=_user_note(c) or "vetoed",
                    sector=sectors.get(p.symbol, ""),
                )
            )
        return tuple(sorted(out, key=lambda t: (t.exit_at, t.id)))

    def vetoes(self) -> tuple[VetoView, ...]:
        """Every vetoed candidate with its paper outcome, or why it has none (§7)."""
        now = self.clock.now()
        cal, schedule = self.calendar, self.session.cfg.schedule
        sectors = self.session.universe.sectors
        tracks = {p.candidate_id: p for p in self.store.paper_tracks()}
        gaps: dict[date, dict[int, GapResultRow]] = {}
        seen: set[tuple[date, str, str]] = set()
        out: list[VetoView] = []
        # Newest scan first: a re-run's carried-over veto is the one shown (unless only the
        # superseded run's candidate was followed on paper).
        vetoed = self.store.vetoed_candidates(market=self.market.name)
        for c, scan_session in sorted(vetoed, key=lambda v: (v[0].id not in tracks, -v[0].scan_id)):
            session = cal.next_session(scan_session)
            if (session, c.symbol, c.strategy) in seen:
                continue
            seen.add((session, c.symbol, c.strategy))
            if session not in gaps:
                gaps[session] = {g.candidate_id: g for g in self.store.gap_results(session)}
            group, track = Group(c.grp), tracks.get(c.id)
            conf = None
            if group is Group.B and track is None:
                rows = self.store.audit_log(
                    subject=f"candidate:{c.id}", action="entry.confirmation", limit=1
                )
                conf = rows[-1].detail if rows else None
            times = EntryTimes(
                cal.at(session, schedule.gap_filter_at),
                cal.open_time(session),
                cal.at(session, schedule.group_b_at),
            )
            state, why = veto_outcome(group, track, gaps[session].get(c.id), conf, times, now)
            followed: dict[str, Any] = {}
            if track is not None:
                followed = {
                    "qty": None if track.qty is None else round(track.qty),
                    "entry_price": track.entry_price,
                    "entry_at": _et(track.entry_at),
                    "exit_price": track.exit_price,
                    "exit_at": _et(track.exit_at),
                    "exit_reason": track.exit_reason or "",
                    "pnl": _nan(track.pnl),
                    "r": _nan(track.r_multiple),
                }
            out.append(
                VetoView(
                    candidate_id=c.id,
                    session=session,
                    symbol=c.symbol,
                    side=Side(c.side),
                    strategy=c.strategy,
                    group=group,
                    state=state,
                    why=why,
                    vetoed_at=_et(c.decided_at),
                    note=_user_note(c),
                    sector=sectors.get(c.symbol, ""),
                    **followed,
                )
            )
        return tuple(sorted(out, key=lambda v: (v.session, v.symbol, v.strategy)))

    def equity(self) -> pd.Series:
        rows = self.store.equity_snapshots()
        if not rows:
            return pd.Series([], index=pd.DatetimeIndex([], tz=ET), dtype=float, name="equity")
        s = pd.Series(
            [r.equity for r in rows],
            index=pd.DatetimeIndex([pd.Timestamp(r.at).tz_convert(ET) for r in rows]),
            dtype=float,
            name="equity",
        )
        return s[~s.index.duplicated(keep="last")].sort_index()


__all__ = ["StoreViews"]
