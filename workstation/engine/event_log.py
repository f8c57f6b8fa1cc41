"""The day's story in the Log panel: one line per engine event the engines do not log
themselves (the scan, approvals, gap results, the 09:50 confirmation, entries and their
rejections, fills, positions opened and closed, paper tracks, the kill switch, parameters,
reconciliation, the session's result). Errors and warnings the engines log directly."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workstation.core.bar_problems import INELIGIBLE_KINDS, problems_text
from workstation.core.events import (
    ConfigRejected,
    ConfigReloaded,
    Event,
    OrderFilled,
    ScanFinished,
    ScanStarted,
)
from workstation.core.numbers import signed
from workstation.engine.events import (
    DifferenceResolved,
    LevelsMoved,
    PositionClosed,
    PositionOpened,
    ReconcileFinished,
)
from workstation.engine.scheduler import StepName
from workstation.engine.session_events import (
    ApprovalChanged,
    ConfirmationChecked,
    EntryRejected,
    EntrySubmitted,
    GapChecked,
    KillSwitchChanged,
    PaperTrackClosed,
    PaperTrackOpened,
    SessionSummaryReady,
    StepStarted,
)
from workstation.engine.words import exit_words, words

#: What each step is called in the status panel.
STEP_TEXT: dict[str, str] = {
    StepName.SCAN: "Nightly scan",
    StepName.PREMARKET: "Pre-market",
    StepName.GAP_FILTER: "Gap filter",
    StepName.GROUP_A: "Group A entries",
    StepName.OPEN: "Market open",
    StepName.GROUP_B: "Group B confirmation",
    StepName.ENTRY_CUTOFF: "Entry cutoff",
    StepName.TIME_EXIT: "Time exit",
    StepName.CLOSE: "Market close",
    StepName.EOD: "End of day",
}


def _money(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.2f}"


def carried_text(report: Mapping[str, Any]) -> str:
    """What a re-run scan did with the user's decisions ("" for a first scan)."""
    carried = report.get("decisions_carried") or 0
    dropped = report.get("decisions_dropped") or []
    if not carried and not dropped:
        return ""
    out = f"; {carried} decision{'s' if carried != 1 else ''} carried over"
    if dropped:
        names = ", ".join(
            f"{d.get('symbol')} {d.get('strategy')} ({d.get('state')})" for d in dropped
        )
        out += f"; dropped (not in the new list): {names}"
    return out


def describe(ev: Event) -> tuple[str, str, str] | None:
    """The log line (level, source, message) of an engine event the engines do not log
    themselves: the Log panel tells the day's story (scan, gaps, entries, fills, exits,
    approvals, kill switch, reconciliation), not only its problems."""
    if isinstance(ev, ScanStarted):
        return "INFO", "scanner", f"nightly scan of {ev.session} started"
    if isinstance(ev, ScanFinished):
        rep = ev.report or {}
        extra = ""
        level = "INFO"
        if rep:
            extra = (
                f"; {rep.get('loaded', '?')} loaded, {rep.get('eligible', '?')} eligible, "
                f"{rep.get('stale', 0)} stale, {float(rep.get('duration_s', 0.0)):.2f} s"
            )
            problems = problems_text(rep.get("data_problems") or {})
            if problems:
                # §14: every bad bar the scan read is named, with what was done about it.
                extra += f"; data problems: {problems}"
                counts = (rep.get("data_problems") or {}).get("counts") or {}
                if any(counts.get(k) for k in INELIGIBLE_KINDS):
                    level = "WARNING"
        return (
            level,
            "scanner",
            f"scan of {ev.session}: {len(ev.candidates)} candidates, regime {ev.regime}{extra}"
            + carried_text(rep),
        )
    if isinstance(ev, StepStarted):
        late = " (late)" if ev.late else ""
        return "DEBUG", "scheduler", f"{ev.session}: {STEP_TEXT.get(ev.step, ev.step)}{late}"
    if isinstance(ev, ApprovalChanged):
        if ev.source != "user":  # the policy's note says what happened
            return "INFO", "approvals", f"{ev.symbol}: {ev.note or ev.state}"
        note = f" ({ev.note})" if ev.note else ""
        if ev.state == "pending":
            was = f" (was {ev.previous})" if ev.previous else ""
            return "INFO", "approvals", f"{ev.symbol} back to pending: undone by the user{was}"
        return "INFO", "approvals", f"{ev.symbol} {ev.state} by the user{note}"
    if isinstance(ev, GapChecked):
        r = ev.result
        level = "INFO" if r.passed else "WARNING"
        return (
            level,
            "gap",
            f"{ev.symbol}: {'pass' if r.passed else 'drop'}, {words(r.reason)} - {r.detail}",
        )
    if isinstance(ev, ConfirmationChecked):
        c = ev.confirmation
        return (
            "INFO",
            "entries",
            f"{ev.symbol}: 09:50 {'confirmed' if c.confirmed else 'not confirmed'} (price "
            f"{_money(c.price)}, open {_money(c.open)}, threshold {_money(c.threshold)})",
        )
    if isinstance(ev, EntrySubmitted):
        return (
            "INFO",
            "entries",
            f"{ev.symbol}: group {ev.group} entry of {ev.qty} sent (sized at {ev.price:,.2f})",
        )
    if isinstance(ev, EntryRejected):
        return (
            "INFO",
            "entries",
            f"{ev.symbol}: not entered - {words(ev.reason)} ({ev.reason}): {ev.detail}",
        )
    if isinstance(ev, OrderFilled):
        f = ev.fill
        return (
            "INFO",
            "orders",
            f"fill: {f.side} {f.qty} {f.symbol} @ {f.price:,.2f} ({ev.order.request.intent})",
        )
    if isinstance(ev, PositionOpened):
        p = ev.position
        return (
            "INFO",
            "positions",
            f"{p.symbol}: {p.side} {p.qty} @ {p.fill_price:,.2f} opened (SL {p.sl:,.2f}, "
            f"TP {p.tp:,.2f})",
        )
    if isinstance(ev, PositionClosed):
        t = ev.trade
        return (
            "INFO",
            "positions",
            f"{t.symbol}: closed, {exit_words(str(ev.reason))} ({ev.reason}) @ "
            f"{t.exit_price:,.2f}, P&L {signed(t.pnl)} ({signed(t.r_multiple, 2, ' R')})",
        )
    if isinstance(ev, LevelsMoved):
        moved = []
        if abs(ev.new_sl - ev.old_sl) > 1e-9:
            moved.append(f"stop {ev.old_sl:,.2f} -> {ev.new_sl:,.2f}")
        if abs(ev.new_tp - ev.old_tp) > 1e-9:
            moved.append(f"target {ev.old_tp:,.2f} -> {ev.new_tp:,.2f}")
        extra = "".join(f"; {w}" for w in ev.warnings) + (f" ({ev.note})" if ev.note else "")
        level = "WARNING" if ev.beyond_emergency else "INFO"
        return level, "positions", f"{ev.symbol}: {', '.join(moved)} by the user{extra}"
    if isinstance(ev, PaperTrackOpened):
        return (
            "INFO",
            "paper",
            f"{ev.symbol}: vetoed, followed on paper from {ev.entry_price:,.2f}",
        )
    if isinstance(ev, PaperTrackClosed):
        r = "" if ev.r_multiple is None else f" ({signed(ev.r_multiple, 2, ' R')})"
        return (
            "INFO",
            "paper",
            f"{ev.symbol}: paper exit, {exit_words(str(ev.reason))} @ {ev.exit_price:,.2f}{r}",
        )
    if isinstance(ev, KillSwitchChanged) and not ev.engaged:
        return "WARNING", "risk", f"kill switch released ({ev.detail})"
    if isinstance(ev, ConfigReloaded):
        return "INFO", "config", f"parameters in force: {ev.param_hash}"
    if isinstance(ev, ConfigRejected):
        return "ERROR", "config", "parameters refused: " + "; ".join(ev.errors)
    if isinstance(ev, ReconcileFinished):
        n = len(ev.differences)
        if not n:
            return "INFO", "reconcile", "the store and the broker agree (reconciled)"
        return None  # each difference is logged by the reconciler
    if isinstance(ev, DifferenceResolved):
        note = f" ({ev.note})" if ev.note else ""
        return "INFO", "reconcile", f"{ev.difference.symbol}: {ev.action}{note}"
    if isinstance(ev, SessionSummaryReady):
        s = ev.summary
        return (
            "INFO",
            "session",
            f"{s.session} done: P&L {signed(s.pnl)}, equity {s.end_equity:,.2f}",
        )
    return None


__all__ = ["STEP_TEXT", "carried_text", "describe"]
