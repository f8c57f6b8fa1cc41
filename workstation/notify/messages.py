"""The text of each alert, as pure functions of the engines' events.

Short enough for a phone's lock screen in the title, the facts a trader acts on in the body
(one line each). Prices in dollars with cents, times in ET as the trading rules state them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from workstation.core.calendar import ET, TradingCalendar
from workstation.core.config import ScheduleConfig
from workstation.core.events import ConnectionStateChanged, ScanFailed, ScanFinished
from workstation.core.models import Group
from workstation.engine.events import (
    PositionClosed,
    PositionOpened,
    ProtectionProblem,
    ReconcileFinished,
)
from workstation.engine.rules.approval import ON_PENDING_APPROVE, entry_time
from workstation.engine.session_events import (
    GapChecked,
    KillSwitchChanged,
    SessionSummaryReady,
    StepMissed,
)
from workstation.notify.alert import Alert, AlertKind, Level, Panel
from workstation.store.rows import TradeRow

MAX_LINES = 12  # the top 12; longer lists are cut with "... and N more"


def _money(x: float | None, sign: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{'+' if sign and x >= 0 else '-' if x < 0 else ''}${abs(x):,.2f}"


def _num(x: float | None, fmt: str = ".2f") -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return format(x, fmt)


def _shares(q: float) -> str:
    return str(int(q)) if float(q).is_integer() else f"{q:g}"


def _day(d: date) -> str:
    return f"{d:%a %Y-%m-%d}"


def _cut(lines: Sequence[str], limit: int = MAX_LINES) -> list[str]:
    if len(lines) <= limit:
        return list(lines)
    return [*lines[:limit], f"... and {len(lines) - limit} more"]


def instant(at: datetime) -> str:
    """A moment as the store writes it (UTC, microseconds): a key built from an event's time
    and one rebuilt from the stored row's time after a restart are the same text, whatever
    time zone the clock used."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def duration_text(seconds: float) -> str:
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


# ------------------------------------------------------------------------------ scans


def scan_ready(
    ev: ScanFinished,
    calendar: TradingCalendar,
    schedule: ScheduleConfig,
    on_pending: str,
) -> Alert:
    """The nightly top 12 in short, and the time by which to approve each group."""
    entry = calendar.next_session(ev.session)
    cands = list(ev.candidates)
    groups = sorted({str(getattr(c, "group", "")) for c in cands} - {""})
    deadlines = {g: entry_time(Group(g), entry, schedule, calendar) for g in groups}
    lines = []
    for c in cands:
        side = str(getattr(c, "side", ""))
        lines.append(
            f"{c.rank:>2}. {c.symbol} {side} ({getattr(c, 'group', '?')}) {c.strategy} "
            f"score {_num(c.score, '.1f')} close {_num(c.close)}"
        )
    if deadlines:
        first = min(deadlines.values())
        by = f", approve by {first:%H:%M} ET {_day(entry)}"
        when = "; ".join(f"group {g} by {t:%H:%M}" for g, t in deadlines.items())
        pending = (
            "still pending then: approved automatically"
            if on_pending == ON_PENDING_APPROVE
            else "still pending then: NOT entered"
        )
        foot = [f"Approve or veto: {when} ET on {_day(entry)} ({pending})."]
    else:
        by = ""
        foot = [f"Nothing to approve: no candidate for {_day(entry)}."]
    head = [f"Regime {ev.regime or 'n/a'}; scan of {_day(ev.session)}."]
    return Alert(
        AlertKind.SCAN_READY,
        f"scan_ready:{ev.scan_id if ev.scan_id is not None else ev.session.isoformat()}",
        f"Scan ready: {len(cands)} candidate{'s' if len(cands) != 1 else ''}{by}",
        "\n".join([*head, *_cut(lines), *foot]),
        Level.INFO,
        ev.at,
        Panel.CANDIDATES,
    )


def scan_failed(ev: ScanFailed, calendar: TradingCalendar) -> Alert:
    entry = calendar.next_session(ev.session)
    return Alert(
        AlertKind.SCAN_FAILED,
        f"scan_failed:{ev.session.isoformat()}",
        f"Scan FAILED for {_day(ev.session)} (try {ev.attempt})",
        f"{ev.error}\nNo new candidates for {_day(entry)}: nothing new is entered "
        "(never yesterday's list). Run the scan again from Trading > Run scan now.",
        Level.FAILURE,
        ev.at,
        Panel.CANDIDATES,
    )


def gap_results(session: date, checks: Sequence[GapChecked]) -> Alert:
    """The 09:25 gap filter of a session: one line per candidate."""
    passed = [c for c in checks if c.result.passed]
    lines = []
    for c in checks:
        r = c.result
        gap = "n/a" if r.gap is None else f"{r.gap:+.2%}"
        verdict = "pass" if r.passed else "DROP"
        lines.append(f"{c.symbol}: gap {gap} ({r.source}) {verdict} {r.reason}")
    return Alert(
        AlertKind.GAP_RESULTS,
        f"gap:{session.isoformat()}",
        f"Gap filter {_day(session)}: {len(passed)} passed, {len(checks) - len(passed)} dropped",
        "\n".join(_cut(lines)),
        Level.INFO,
        checks[-1].at if checks else datetime.now(ET),
        Panel.GAPS,
    )


# -------------------------------------------------------------------------- positions


def entry(ev: PositionOpened) -> Alert:
    p = ev.position
    return entry_of(
        p.position_id,
        p.symbol,
        str(p.side),
        p.qty,
        p.fill_price,
        p.strategy,
        p.entry_session,
        p.entry_at,
        p.sl,
        p.tp,
        p.sl_mult,
        p.atr14,
        ev.at,
    )


def entry_of(
    position_id: int,
    symbol: str,
    side: str,
    qty: float,
    fill_price: float,
    strategy: str,
    entry_session: date,
    entry_at: datetime,
    sl: float | None,
    tp: float | None,
    sl_mult: float,
    atr14: float,
    at: datetime,
) -> Alert:
    """The entry alert from its facts (the event's, or the stored position's after a
    restart: :mod:`workstation.notify.recover`); the key is the position's id."""
    risk = qty * sl_mult * atr14
    return Alert(
        AlertKind.ENTRY,
        f"entry:{position_id}",
        f"Entered {symbol}: {side} {_shares(qty)} @ {_num(fill_price)}",
        f"{strategy}, session {_day(entry_session)}, filled "
        f"{entry_at.astimezone(ET):%H:%M:%S} ET\n"
        f"SL {_num(sl)}, TP {_num(tp)}; 1R = {_money(risk)} "
        f"({sl_mult:g} x ATR {_num(atr14)})",
        Level.SUCCESS,
        at,
        Panel.POSITIONS,
        symbol,
    )


def exit_(ev: PositionClosed) -> Alert:
    return exit_of(ev.trade, str(ev.reason), ev.at)


def exit_of(t: TradeRow, reason: str, at: datetime) -> Alert:
    """The exit alert of a stored round trip (the event's, or the store's after a restart);
    the key is the trade's id."""
    r = t.r_multiple
    r_text = "n/a" if r is None or not math.isfinite(r) else f"{r:+.2f}R"
    return Alert(
        AlertKind.EXIT,
        f"exit:{t.id}",
        f"Exited {t.symbol} ({reason}): P&L {_money(t.pnl, sign=True)}, {r_text}",
        f"{t.side} {t.qty:g} {t.symbol}: entry {_num(t.entry_price)} on "
        f"{t.entry_session}, exit {_num(t.exit_price)} at "
        f"{t.exit_at.astimezone(ET):%Y-%m-%d %H:%M} ET\n"
        f"{reason}, P&L {_money(t.pnl, sign=True)} ({t.pnl_pct:+.2%}), {r_text}, "
        f"held {t.days_held} day{'s' if t.days_held != 1 else ''} ({t.strategy})",
        Level.SUCCESS if t.pnl >= 0 else Level.WARNING,
        at,
        Panel.JOURNAL,
        t.symbol,
    )


def unprotected(ev: ProtectionProblem) -> Alert:
    return Alert(
        AlertKind.UNPROTECTED,
        f"unprotected:{ev.symbol}:{ev.at.isoformat()}",
        f"UNPROTECTED: {ev.symbol} has no protective stop at the broker",
        f"{ev.detail}\nThe engine keeps watching the exit levels while it runs; check the "
        "position (Positions panel) or flatten it.",
        Level.FAILURE,
        ev.at,
        Panel.POSITIONS,
        ev.symbol,
    )


def kill_switch(ev: KillSwitchChanged) -> Alert:
    if ev.engaged:
        return Alert(
            AlertKind.KILL_SWITCH,
            f"kill:on:{instant(ev.at)}",
            f"KILL SWITCH engaged ({ev.reason})",
            f"{ev.detail}\nNo new entries this session; open entry orders are canceled. "
            "Positions keep their protective stops.",
            Level.FAILURE,
            ev.at,
            Panel.STATUS,
        )
    return Alert(
        AlertKind.KILL_SWITCH,
        f"kill:off:{instant(ev.at)}",
        "Kill switch released",
        ev.detail or "new entries allowed again",
        Level.INFO,
        ev.at,
        Panel.STATUS,
    )


# -------------------------------------------------------------------- the day, the system


def reconciliation(ev: ReconcileFinished) -> Alert:
    diffs = ev.differences
    lines = [f"{d.kind}: {d.message}" for d in diffs]
    keys = ",".join(sorted(d.key for d in diffs))
    return Alert(
        AlertKind.RECONCILIATION,
        f"reconcile:{ev.at.isoformat()}:{keys}",
        f"Reconciliation: {len(diffs)} difference{'s' if len(diffs) != 1 else ''} with the "
        "broker; new trades blocked",
        "\n".join(
            [*_cut(lines), "Resolve them in Trading > Reconcile with the broker... (window)."]
        ),
        Level.FAILURE,
        ev.at,
        Panel.POSITIONS,
    )


def missed_step(ev: StepMissed) -> Alert:
    return Alert(
        AlertKind.MISSED_STEP,
        f"missed:{ev.session.isoformat()}:{ev.step}",
        f"Missed: {ev.step} of {_day(ev.session)}",
        f"Its deadline {ev.deadline.astimezone(ET):%H:%M} ET passed before it could run: "
        f"{ev.consequence}.",
        Level.WARNING,
        ev.at,
        Panel.STATUS,
    )


def connection_lost(ev: ConnectionStateChanged, down_for_s: float, since: datetime) -> Alert:
    return Alert(
        AlertKind.CONNECTION,
        f"conn:{ev.component}:lost:{since.isoformat()}",
        f"Connection lost: {ev.component} {ev.state} for {duration_text(down_for_s)}",
        f"{ev.component} is {ev.state} since {since.astimezone(ET):%H:%M:%S} ET"
        + (f": {ev.detail}" if ev.detail else "")
        + ". Protective stops rest at the broker; exits decided by the engine wait.",
        Level.FAILURE,
        ev.at,
        Panel.STATUS,
    )


def connection_restored(ev: ConnectionStateChanged, down_for_s: float, since: datetime) -> Alert:
    return Alert(
        AlertKind.CONNECTION,
        f"conn:{ev.component}:restored:{since.isoformat()}",
        f"Connection restored: {ev.component} after {duration_text(down_for_s)}",
        f"{ev.component} is {ev.state} again" + (f" ({ev.detail})" if ev.detail else "") + ".",
        Level.SUCCESS,
        ev.at,
        Panel.STATUS,
    )


def eod_summary(ev: SessionSummaryReady) -> Alert:
    s = ev.summary
    lines = [
        f"Equity {_money(s.end_equity)} (start {_money(s.start_equity)}), "
        f"P&L {_money(s.pnl, sign=True)} ({s.pnl_pct:+.2%})",
        f"Entries {len(s.entries)}, exits {len(s.exits)}, open positions "
        f"{len(s.open_positions)}, regime {s.regime or 'n/a'}",
    ]
    for x in _cut([_exit_line(x) for x in s.exits], 8):
        lines.append(f"  {x}")
    if s.missed:
        lines.append(f"Missed steps: {', '.join(s.missed)}")
    if s.kill_switch:
        lines.append("Kill switch engaged")
    lines.extend(s.notes)
    return Alert(
        AlertKind.EOD_SUMMARY,
        f"eod:{s.session.isoformat()}",
        f"End of day {_day(s.session)}: P&L {_money(s.pnl, sign=True)} ({s.pnl_pct:+.2%})",
        "\n".join(lines),
        Level.INFO,
        ev.at,
        Panel.JOURNAL,
    )


def _exit_line(x: dict[str, Any]) -> str:
    if x.get("symbol") is None:  # "... and N more"
        return str(x)
    r = x.get("r")
    r_text = "n/a" if r is None else f"{r:+.2f}R"
    return f"{x.get('symbol')} {x.get('reason')} {_money(x.get('pnl'), sign=True)} {r_text}"


def test_message(host: str, enabled: Sequence[str]) -> Alert:
    now = datetime.now(ET)
    return Alert(
        AlertKind.TEST,
        f"test:{now.isoformat()}",
        "AutoTrader Workstation: test notification",
        f"Sent by 'Send test' on {host} at {now:%Y-%m-%d %H:%M:%S} ET.\n"
        f"Alerts that go out: {', '.join(enabled) or 'none (all switched off in app.yaml)'}.",
        Level.INFO,
        now,
    )


__all__ = [
    "connection_lost",
    "connection_restored",
    "duration_text",
    "entry",
    "entry_of",
    "eod_summary",
    "exit_",
    "exit_of",
    "gap_results",
    "instant",
    "kill_switch",
    "missed_step",
    "reconciliation",
    "scan_failed",
    "scan_ready",
    "test_message",
    "unprotected",
]
