"""Alerts of facts recorded just before the process was killed, queued again at the start.

The crash window. Every fact is written to the trading store FIRST and published on the bus
after (architecture principle 6); the alert center turns the event into an alert and the
notifier commits it to the outbox (:mod:`workstation.notify.outbox`), a separate SQLite file.
A SIGKILL between the store's commit and the outbox's commit leaves the fact without its
alert, and the restarted process does not publish the event again: it reads the position,
the trade, the step done, back from the store as state, not as news.

Why re-derive at the start rather than write the fact and its outbox row in one transaction:

* one transaction needs one file. SQLite commits across ATTACHed files atomically only with
  a rollback journal, not in WAL mode (which both files use), so the outbox would have to
  move into the trading store: a notification table in the trading schema (a migration),
  the engines building alert texts inside their trades' transactions, and a locked or
  broken outbox able to fail a trade's write. The outbox is apart so that it never can.
* the facts are already durable, and every alert's key is a pure function of its fact
  (``entry:<position id>``, ``exit:<trade id>``, ``kill:on:<the moment, as stored>``,
  ``eod:<session>``, ``scan_ready:<scan id>``...), built by the same functions of
  :mod:`workstation.notify.messages` from the event or from the stored row. So at the start,
  before the engines publish anything, each recent fact's alert is offered to the outbox with
  ``INSERT OR IGNORE`` on its key:

  - its key is absent (the crash window): it is queued now -> no missed alert;
  - its key is present, pending or delivered: nothing is written -> no duplicate alert; and
    when the restarted engines raise the same fact again (a step re-run), the live alert hits
    the recovered row's key and is ignored the same way.

  Both hold whatever moment the kill came at: before the store's commit there is no fact
  (and no alert is owed); after the outbox's commit the key is there.

"Recent" is the day the restart lands in (:func:`recovery_since`): from the previous
session's close (its close and end-of-day bookkeeping belong to the evening a restart may
land in) on. An older fact is not offered: a restart a day later does not replay history,
and the window is far shorter than the week the outbox keeps its delivered keys (``KEEP_S``),
so a delivered key is never forgotten while its fact is still recent.

What is not re-derived, and why: reconciliation differences, an unprotected position and a
lost connection are conditions, not stored facts; the restart checks them again (the start's
reconciliation, its stop check, its connections) and alerts on what it finds. A failed scan
is re-run by the restart (the scan may run until 09:25), which reports its own outcome.

One duplicate stays possible and is not closed here: a channel that received an alert in the
instant before the kill, whose delivery the outbox could not record, gets it again after the
restart (a network peer cannot take part in a local commit). That window is one HTTP answer.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from workstation.core.calendar import TradingCalendar
from workstation.core.config import Config, ScheduleConfig
from workstation.core.events import ScanFinished
from workstation.engine.rules.approval import on_pending_policy
from workstation.engine.rules.gap import GapResult
from workstation.engine.scheduler import StepName, session_to_run
from workstation.engine.session_events import (
    GapChecked,
    KillSwitchChanged,
    SessionSummaryReady,
    StepMissed,
)
from workstation.engine.summary import build_summary
from workstation.notify import messages
from workstation.notify.alert import Alert
from workstation.notify.outbox import Outbox
from workstation.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Candidate:
    """A stored candidate as the scan-ready message reads a scan's candidate."""

    rank: int
    symbol: str
    side: str
    group: str
    strategy: str
    score: float
    close: float


def recovery_since(now: datetime, schedule: ScheduleConfig, calendar: TradingCalendar) -> datetime:
    """The start of what a restart at ``now`` recovers: the close of the session before the
    day ``now`` belongs to (so that day's evening scan, its session, and the previous
    session's close and end-of-day bookkeeping)."""
    day = session_to_run(now, schedule, calendar)
    return calendar.close_time(calendar.previous_session(day))


def stored_alerts(
    store: Store,
    cfg: Config,
    calendar: TradingCalendar,
    now: datetime,
    *,
    real_broker: bool,
) -> list[Alert]:
    """The alerts of the facts recorded in ``store`` since :func:`recovery_since`, in the
    order they happened, each with the key its live alert had."""
    since = recovery_since(now, cfg.schedule, calendar)
    sessions = calendar.sessions_in_range(
        calendar.session_on_or_before(since), session_to_run(now, cfg.schedule, calendar)
    )
    out: list[Alert] = []
    out.extend(_scans(store, cfg, calendar, sessions, since, real_broker))
    out.extend(_gaps(store, calendar, sessions, since))
    for p in store.positions_entered_since(since):
        out.append(
            messages.entry_of(
                p.id,
                p.symbol,
                p.side,
                p.qty,
                p.avg_entry,
                p.strategy,
                p.entry_session,
                p.entry_at,
                p.sl,
                p.tp,
                p.sl_mult,
                p.atr14,
                p.entry_at,
            )
        )
    for t in store.trades(since.date()):
        if t.exit_at >= since:
            out.append(messages.exit_of(t, t.exit_reason, t.exit_at))
    out.extend(_kill_switch(store, since))
    for row in store.audit_log(action="step.missed", since=since, limit=None):
        d = row.detail or {}
        session = date.fromisoformat(row.subject.removeprefix("session:"))
        deadline = datetime.fromisoformat(str(d.get("deadline")))
        ev = StepMissed(row.at, session, str(d.get("step")), deadline, str(d.get("why", "")))
        out.append(messages.missed_step(ev))
    out.extend(_end_of_day(store, calendar, since))
    return sorted(out, key=lambda a: a.at)


def recover(
    store: Store,
    outbox: Outbox,
    channels: Iterable[str],
    cfg: Config,
    calendar: TradingCalendar,
    now: datetime,
    *,
    real_broker: bool,
) -> list[str]:
    """Queue the recent facts' alerts whose keys the outbox lacks (see the module
    docstring); returns the keys queued. Kinds switched off in app.yaml stay off."""
    ids = sorted(set(channels))
    queued = []
    for alert in stored_alerts(store, cfg, calendar, now, real_broker=real_broker):
        if cfg.app.notify.enabled(str(alert.kind)) and outbox.put(alert, ids):
            queued.append(alert.key)
    return queued


# ---------------------------------------------------------------------------- the facts


def _scans(
    store: Store,
    cfg: Config,
    calendar: TradingCalendar,
    sessions: Iterable[date],
    since: datetime,
    real_broker: bool,
) -> list[Alert]:
    policy = on_pending_policy(cfg.risk.approval, real_broker)
    out = []
    for session in sessions:
        for scan in store.scans_for_session(session):
            if scan.status != "ok" or scan.finished_at is None or scan.finished_at < since:
                continue
            cands = tuple(
                _Candidate(c.rank, c.symbol, c.side, c.grp, c.strategy, c.score, c.close)
                for c in store.candidates_for_scan(scan.id)
            )
            ev = ScanFinished(scan.finished_at, session, scan.id, scan.regime or "", cands)
            out.append(messages.scan_ready(ev, calendar, cfg.schedule, policy))
    return out


def _gaps(
    store: Store, calendar: TradingCalendar, sessions: Iterable[date], since: datetime
) -> list[Alert]:
    """The gap filter's alert of each session whose filter ran to its end since: every
    candidate has its result (as the restart's own check counts it done, restart_steps), and
    the step was not missed (a missed filter has its own alert)."""
    out = []
    for session in sessions:
        results = store.gap_results(session)
        if not results or max(g.at for g in results) < since:
            continue
        day = f"session:{session.isoformat()}"
        missed = store.audit_log(subject=day, action="step.missed", limit=None)
        if any((r.detail or {}).get("step") == StepName.GAP_FILTER for r in missed):
            continue
        scan = store.latest_scan(calendar.previous_session(session))
        symbols = (
            {} if scan is None else {c.id: c.symbol for c in store.candidates_for_scan(scan.id)}
        )
        if not symbols or not set(symbols) <= {g.candidate_id for g in results}:
            continue  # killed in the middle of it: the restart runs it again, and alerts
        checks = [
            GapChecked(
                g.at,
                session,
                g.candidate_id,
                symbols.get(g.candidate_id, "?"),
                GapResult(g.price, g.source, g.prev_close, g.gap, g.passed, g.reason or "", ""),
            )
            for g in results
        ]
        out.append(messages.gap_results(session, checks))
    return out


def _kill_switch(store: Store, since: datetime) -> list[Alert]:
    out = []
    for row in store.audit_log(action="kill_switch.engaged", since=since, limit=None):
        d = row.detail or {}
        ev = KillSwitchChanged(row.at, True, str(d.get("reason", "")), str(d.get("detail", "")))
        out.append(messages.kill_switch(ev))
    for row in store.audit_log(action="kill_switch.released", since=since, limit=None):
        detail = (row.detail or {}).get("detail") or "released by the user"
        out.append(messages.kill_switch(KillSwitchChanged(row.at, False, "", str(detail))))
    return out


def _end_of_day(store: Store, calendar: TradingCalendar, since: datetime) -> list[Alert]:
    """The end-of-day summary of each session booked since: its figures are the stored
    ones (the title is the live alert's); the body is rebuilt from the store."""
    out = []
    for perf in store.daily_performance(since.date()):
        if perf.updated_at < since:
            continue
        session = perf.session
        prev = calendar.previous_session(session)
        scan = store.latest_scan(prev)
        day = f"session:{session.isoformat()}"
        missed = [
            str((r.detail or {}).get("step"))
            for r in store.audit_log(subject=day, action="step.missed", limit=None)
        ]
        summary = build_summary(
            store,
            session,
            scan_session=prev,
            candidates=[] if scan is None else store.candidates_for_scan(scan.id),
            regime=None if scan is None else scan.regime,
            market=scan.market if scan is not None else "",
            start_equity=perf.start_equity,
            end_equity=perf.end_equity,
            kill_switch=_engaged_on(store, session, perf.updated_at),
            missed=missed,
            since=calendar.at(prev, "00:00"),
        )
        opened = tuple(
            {"symbol": p.symbol, "side": p.side, "qty": p.qty} for p in store.open_positions()
        )
        summary = dataclasses.replace(summary, open_positions=opened)
        out.append(messages.eod_summary(SessionSummaryReady(perf.updated_at, summary)))
    return out


def _engaged_on(store: Store, session: date, at: datetime) -> bool:
    """Whether the kill switch of ``session`` was engaged at ``at`` (its last change)."""
    changes = [
        (r.at, r.action == "kill_switch.engaged")
        for action in ("kill_switch.engaged", "kill_switch.released")
        for r in store.audit_log(action=action, limit=None)
        if (r.detail or {}).get("session") == session.isoformat() and r.at <= at
    ]
    return max(changes)[1] if changes else False


__all__ = ["recover", "recovery_since", "stored_alerts"]
