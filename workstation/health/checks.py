"""The health checks, as pure functions of what was gathered (:class:`HealthInputs`).

Each check answers one question an operator asks of an unattended trading box, with one of
three verdicts: ``ok``, ``degraded`` (works, but look at it soon) or ``failed`` (it is not
doing what it should: act now). The same functions serve ``workstation health`` (a scheduler
or a monitoring system reads its exit code) and the window's status strip.

``now`` is the engines' time: the wall clock against a real broker, the simulated time in a
simulation (so a simulated week is judged by its own timetable).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from workstation.core.calendar import ET, MarketState, TradingCalendar
from workstation.core.config import Config
from workstation.core.models import Order, OrderSide, OrderType, Side
from workstation.engine.positions import round_stop
from workstation.engine.reconcile import compare
from workstation.engine.rules.entries import StopTarget, sl_tp_from_fill
from workstation.engine.rules.exits import emergency_level, protective_stop_level
from workstation.engine.scheduler import StepName, step_times
from workstation.store import OrderRow, PositionRow, ScanRow


class Status(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    FAILED = "failed"

    @property
    def rank(self) -> int:
        return (Status.OK, Status.DEGRADED, Status.FAILED).index(self)


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    message: str
    details: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "status": str(self.status),
            "message": self.message,
            "details": list(self.details),
        }


@dataclass(frozen=True)
class EngineBeat:
    """What the running engine last said about itself (``<data>/heartbeat.json``)."""

    pid: int
    mode: str
    market: str
    wall: float  # epoch seconds of the beat
    clock: datetime  # the engines' time at the beat
    running: bool  # False: the engine wrote its last beat when it stopped
    last_trade_at: datetime | None = None  # engine time of the last price received
    connections: Mapping[str, str] = field(default_factory=dict)  # component -> state
    killed: bool = False  # its last beat said "running" but the process is gone


@dataclass(frozen=True)
class HealthInputs:
    """Everything the checks look at, gathered by the CLI or the running app."""

    now: datetime
    wall: float  # epoch seconds now
    cfg: Config
    calendar: TradingCalendar
    scans: Mapping[date, ScanRow | None]  # the newest attempt of each scan session asked for
    any_scan: bool  # the store has at least one scan
    steps_done: Mapping[date, Mapping[str, str]]  # session -> step -> "done" / "missed"
    positions: Sequence[PositionRow]
    open_orders: Sequence[OrderRow]
    broker_positions: Mapping[str, tuple[int, float]] | None  # None: the broker is unreachable
    broker_orders: Sequence[Order] | None
    broker_error: str = ""
    beat: EngineBeat | None = None
    in_process: bool = False  # asked by the running engine itself (the window)
    free_disk_mb: float = math.inf
    last_backup: datetime | None = None
    backup_note: str = ""


def _t(x: datetime) -> str:
    return f"{x.astimezone(ET):%Y-%m-%d %H:%M} ET"


def _ago(seconds: float) -> str:
    s = max(0, round(seconds))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s / 3600:.1f} h"


# ------------------------------------------------------------------------------ scan


def scan_due(inputs: HealthInputs) -> tuple[date, datetime]:
    """The scan that should have run by ``now``: the latest session whose scan time plus
    the grace is past (its candidates are what the next session trades)."""
    cal, sched = inputs.calendar, inputs.cfg.schedule
    grace = timedelta(minutes=inputs.cfg.app.health.scan_grace_min)
    s = cal.session_on_or_before(inputs.now)
    while cal.at(s, sched.scan_at) + grace > inputs.now:
        s = cal.previous_session(s)
    return s, cal.at(s, sched.scan_at)


def check_scan(inputs: HealthInputs) -> Check:
    session, due = scan_due(inputs)
    grace = timedelta(minutes=inputs.cfg.app.health.scan_grace_min)
    scan = inputs.scans.get(session)
    if scan is None:
        if not inputs.any_scan:
            return Check("scan", Status.DEGRADED, "no scan has run yet in this home")
        return Check(
            "scan",
            Status.FAILED,
            f"the scan of {session} (due {_t(due)}) did not run: the next session trades "
            "nothing new",
        )
    if scan.status != "ok":
        return Check(
            "scan",
            Status.FAILED,
            f"the scan of {session} failed: {scan.error or 'no reason recorded'}",
        )
    ran = scan.started_at
    if ran > due + grace:
        return Check(
            "scan",
            Status.DEGRADED,
            f"the scan of {session} ran late, at {_t(ran)} (due {_t(due)}); it succeeded",
        )
    return Check("scan", Status.OK, f"the scan of {session} ran at {_t(ran)} and succeeded")


# ----------------------------------------------------------------------------- steps


def check_steps(inputs: HealthInputs) -> Check:
    """Did each step of the day whose time (plus grace) has come run? The day is the session
    ``now`` belongs to (its scan was the previous evening); a weekend checks nothing more.

    A step recorded as missed, or not done when its deadline (plus grace) has passed, failed;
    a step not done yet after its time (plus grace) but before its deadline is late (it may
    still run: the engine is busy, or the clock runs faster than the grace)."""
    cal, cfg = inputs.calendar, inputs.cfg
    grace = timedelta(minutes=cfg.app.health.step_grace_min)
    session = _day_of(inputs)
    if session is None:
        return Check("steps", Status.OK, "no session today")
    done = inputs.steps_done.get(session, {})
    failed, late = [], []
    due = 0
    for name, at, deadline in step_times(session, cfg.schedule, cal, cfg.risk.exits):
        if name is StepName.SCAN or at + grace > inputs.now:
            continue  # the scan has its own check
        due += 1
        state = done.get(str(name))
        if state == "done":
            continue
        when = f"{name} ({at.astimezone(ET):%H:%M})"
        if state == "missed":
            failed.append(f"{when} was missed")
        elif deadline + grace <= inputs.now:
            failed.append(f"{when} has not run, and its deadline passed")
        else:
            late.append(f"{when} has not run yet")
    if failed:
        return Check(
            "steps",
            Status.FAILED,
            f"{session}: {len(failed)} of {due} due steps did not run",
            tuple(failed + late),
        )
    if late:
        return Check("steps", Status.DEGRADED, f"{session}: {len(late)} step(s) late", tuple(late))
    if due == 0:
        return Check("steps", Status.OK, f"{session}: no step due yet")
    return Check("steps", Status.OK, f"{session}: all {due} due steps ran")


def _day_of(inputs: HealthInputs) -> date | None:
    """The session whose steps are checked: today's, if today is a session."""
    cal = inputs.calendar
    today = inputs.now.astimezone(ET).date()
    return today if cal.is_session(today) else None


# ------------------------------------------------------------------------ protection


@dataclass(frozen=True)
class _Pos:
    side: Side
    fill_price: float
    atr14: float
    sl_mult: float
    tp_mult: float


def _stop_session(inputs: HealthInputs) -> date:
    """The session the resting stops were last levelled for: today's once its premarket
    step ran, else the previous session's."""
    cal = inputs.calendar
    today = cal.session_on_or_before(inputs.now)
    if inputs.steps_done.get(today, {}).get(str(StepName.PREMARKET)) == "done":
        return today
    if today == inputs.now.astimezone(ET).date():
        return cal.previous_session(today)
    return today


def _manual_levels(p: PositionRow, pos: _Pos) -> StopTarget | None:
    """The levels in force when the trader moved the SL or TP (None: the rule's), as the
    position book has them."""
    sl_manual = getattr(p, "sl_manual", None)
    tp_manual = getattr(p, "tp_manual", None)
    if sl_manual is None and tp_manual is None:
        return None
    rule = sl_tp_from_fill(pos.side, pos.fill_price, pos.atr14, pos.sl_mult, pos.tp_mult)
    return StopTarget(
        rule.sl if sl_manual is None else sl_manual, rule.tp if tp_manual is None else tp_manual
    )


def expected_stop_levels(p: PositionRow, inputs: HealthInputs) -> set[float]:
    """The protective stop levels the rules allow for ``p`` now (the emergency level too on
    the entry day, where the pattern-day-trader guard may keep the SL off; from day 2 the SL
    the trader moved by hand, if any)."""
    cal, exits = inputs.calendar, inputs.cfg.risk.exits
    side = Side(p.side)
    pos = _Pos(side, p.avg_entry, p.atr14, p.sl_mult, p.tp_mult)
    session = max(_stop_session(inputs), p.entry_session)
    day = max(1, cal.day_number(p.entry_session, session))
    manual = _manual_levels(p, pos)  # a level the trader moved by hand rules instead
    levels = {round_stop(protective_stop_level(pos, day, exits, manual), side)}
    if session == p.entry_session:
        levels.add(round_stop(emergency_level(side, p.avg_entry, exits), side))
    return levels


def check_protection(inputs: HealthInputs) -> Check:
    if not inputs.positions:
        return Check("protection", Status.OK, "no open positions")
    if inputs.broker_orders is None:
        return Check(
            "protection",
            Status.FAILED,
            f"cannot see the broker's orders ({inputs.broker_error or 'unreachable'}): "
            f"{len(inputs.positions)} position(s) not verified",
        )
    tol = inputs.cfg.app.health.stop_tolerance
    problems: list[str] = []
    for p in inputs.positions:
        side = Side(p.side)
        closing = OrderSide.SELL if side is Side.LONG else OrderSide.BUY
        mine = [
            o
            for o in inputs.broker_orders
            if o.symbol == p.symbol and o.request.side is closing and o.status.is_open
        ]
        stops = [o for o in mine if o.request.type is OrderType.STOP]
        exits = [o for o in mine if o.request.type is OrderType.MARKET]
        qty = round(p.qty)
        covered = sum(o.remaining_qty for o in stops) + sum(o.remaining_qty for o in exits)
        if not stops and not exits:
            problems.append(f"{p.symbol}: UNPROTECTED, no protective stop at the broker")
            continue
        if covered < qty:
            problems.append(f"{p.symbol}: the stop covers {covered} of {qty} shares")
            continue
        want = expected_stop_levels(p, inputs)
        for o in stops:
            level = o.request.stop_price
            if level is None or min(abs(level - w) for w in want) > tol + 1e-9:
                shown = " or ".join(f"{w:.2f}" for w in sorted(want))
                problems.append(f"{p.symbol}: stop at {level} but the rules say {shown}")
    if problems:
        return Check(
            "protection",
            Status.FAILED,
            f"{len(problems)} of {len(inputs.positions)} position(s) not protected as the "
            "rules say",
            tuple(problems),
        )
    return Check(
        "protection",
        Status.OK,
        f"all {len(inputs.positions)} position(s) have a resting stop at the right level",
    )


# ---------------------------------------------------------------------------- broker


def check_broker(inputs: HealthInputs) -> Check:
    if inputs.broker_positions is None or inputs.broker_orders is None:
        return Check(
            "broker",
            Status.FAILED,
            f"the broker cannot be asked ({inputs.broker_error or 'unreachable'})",
        )
    diffs = compare(
        inputs.positions,
        inputs.open_orders,
        inputs.broker_positions,
        [o for o in inputs.broker_orders if o.status.is_open],
    )
    if diffs:
        return Check(
            "broker",
            Status.FAILED,
            f"the store and the broker disagree ({len(diffs)} difference"
            f"{'s' if len(diffs) != 1 else ''}): new trades are blocked until resolved",
            tuple(f"{d.kind}: {d.message}" for d in diffs),
        )
    n = len(inputs.positions)
    return Check(
        "broker", Status.OK, f"the store and the broker agree ({n} position{'s' * (n != 1)})"
    )


# ------------------------------------------------------------------- engine and data


def check_engine(inputs: HealthInputs) -> Check:
    if inputs.in_process:
        return Check("engine", Status.OK, "running (this window)")
    beat = inputs.beat
    if beat is None:
        return Check("engine", Status.FAILED, "no engine is running on this home")
    age = inputs.wall - beat.wall
    if beat.killed:
        return Check(
            "engine",
            Status.FAILED,
            f"the engine (pid {beat.pid}, {beat.mode} mode) was killed or crashed: its last "
            f"beat, {_ago(age)} ago, said it was running",
        )
    if not beat.running:
        return Check(
            "engine",
            Status.FAILED,
            f"the engine stopped {_ago(age)} ago (pid {beat.pid}, {beat.mode} mode)",
        )
    limit = inputs.cfg.app.health.heartbeat_stale_s
    if age > limit:
        return Check(
            "engine",
            Status.FAILED,
            f"the engine (pid {beat.pid}) has given no sign of life for {_ago(age)}: hung "
            "or killed",
        )
    return Check(
        "engine",
        Status.OK,
        f"running: pid {beat.pid}, {beat.mode} mode on the {beat.market} market, last beat "
        f"{_ago(age)} ago",
    )


def check_data(inputs: HealthInputs) -> Check:
    beat = inputs.beat
    if beat is None or not beat.running:
        return Check(
            "data",
            Status.OK if inputs.in_process else Status.DEGRADED,
            "no running engine to receive market data",
        )
    down = sorted(c for c, s in beat.connections.items() if s == "down")
    shaky = sorted(c for c, s in beat.connections.items() if s == "degraded")
    if down:
        return Check("data", Status.FAILED, f"connection down: {', '.join(down)}")
    state = inputs.calendar.market_state(inputs.now)
    limit = timedelta(minutes=inputs.cfg.app.health.data_stale_min)
    if str(state) == MarketState.OPEN.value and inputs.positions:
        last = beat.last_trade_at
        open_at = inputs.calendar.open_time(inputs.now)
        since = last if last is not None and last >= open_at else None
        if since is None and inputs.now - open_at > limit:
            return Check(
                "data",
                Status.FAILED,
                f"no price of a held symbol since the open ({_t(open_at)}): stale data",
            )
        if since is not None and inputs.now - since > limit:
            gone = (inputs.now - since).total_seconds()
            return Check(
                "data",
                Status.FAILED,
                f"no price of a held symbol for {_ago(gone)} (last {_t(since)}): stale data",
            )
    if shaky:
        return Check("data", Status.DEGRADED, f"connection degraded: {', '.join(shaky)}")
    if beat.last_trade_at is None:
        return Check("data", Status.OK, "connected; no price received yet")
    return Check("data", Status.OK, f"connected; last price {_t(beat.last_trade_at)}")


# ------------------------------------------------------------------- disk and backup


def check_disk(inputs: HealthInputs) -> Check:
    h = inputs.cfg.app.health
    free = inputs.free_disk_mb
    text = f"{free:,.0f} MB free in the data folder"
    if free < h.critical_free_disk_mb:
        return Check("disk", Status.FAILED, f"only {text}: the store may fail to write")
    if free < h.min_free_disk_mb:
        return Check("disk", Status.DEGRADED, f"only {text} (want {h.min_free_disk_mb:g} MB)")
    return Check("disk", Status.OK, text)


def check_backup(inputs: HealthInputs) -> Check:
    h = inputs.cfg.app.health
    if inputs.last_backup is None:
        note = f" ({inputs.backup_note})" if inputs.backup_note else ""
        return Check("backup", Status.DEGRADED, f"no backup of the store yet{note}")
    age = inputs.wall - inputs.last_backup.timestamp()
    if age > h.backup_max_age_h * 3600:
        return Check(
            "backup",
            Status.DEGRADED,
            f"the newest backup of the store is {_ago(age)} old (want at most "
            f"{h.backup_max_age_h:g} h)",
        )
    return Check("backup", Status.OK, f"the newest backup of the store is {_ago(age)} old")


CHECKS = (
    check_engine,
    check_scan,
    check_steps,
    check_protection,
    check_broker,
    check_data,
    check_disk,
    check_backup,
)


def run_checks(inputs: HealthInputs) -> list[Check]:
    out = []
    for check in CHECKS:
        try:
            out.append(check(inputs))
        except Exception as exc:  # a check that cannot decide says so, it does not crash
            name = check.__name__.removeprefix("check_")
            out.append(Check(name, Status.FAILED, f"check failed: {type(exc).__name__}: {exc}"))
    return out


__all__ = [
    "CHECKS",
    "Check",
    "EngineBeat",
    "HealthInputs",
    "Status",
    "check_backup",
    "check_broker",
    "check_data",
    "check_disk",
    "check_engine",
    "check_protection",
    "check_scan",
    "check_steps",
    "expected_stop_levels",
    "run_checks",
    "scan_due",
]
