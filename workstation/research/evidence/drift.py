"""The drift report: live (or simulated, or paper) trading against the rules alone.

The sessions the app traded are run again by the backtester with the parameter versions that
were in force (:mod:`.drift_run`); this module compares the two stores trade by trade
(:mod:`.records` reads both with the same code) and says, for every difference, its cause:

============ ==========================================================================
``gap``       gap at the open: the gap filter passed a candidate on one side and dropped
              it on the other, or a fill at the open (a market-on-open entry, a stop the
              open gapped through) at another price than the model's
``missed``    missed or late orders: a step the app did not run in time, a list that was
              never scanned, an entry order that did not fill before the cut-off, an order
              placed late
``rejection`` rejections: the broker refused an entry or an exit order
``manual``    manual actions: a position closed or flattened by hand, a stop or target
              moved, the kill switch engaged by the trader, a position adopted by hand
``veto``      vetoes: a candidate the trader vetoed (or never approved where the policy
              skips what is not approved) that the rules would have traded
``data``      data differences: the live scan picked another list (other bars), the 09:50
              confirmation or a short's borrow went another way, the day's prices met a
              stop or a target the model's path did not (or at another price or time)
============ ==========================================================================

A difference that only follows from an earlier one (a slot the vetoed trade left free, a size
computed from an equity that already differed, the daily loss limit reached on another
equity) is not a cause: it is reported as ``follow_on`` and its P&L counted apart. What no
record explains is ``unexplained`` (never hidden in another cause).

Money: a trade in both carries the live P&L minus the backtest's, split exactly into the
entry price (live quantity x entry slippage), the exit price (live quantity x exit slippage)
and the size ((live - backtest quantity) x the backtest's P&L per share); a trade on one side
only carries its whole P&L (+ live only, - backtest only). Slippage is signed so that positive
is worse for the trader than the modelled fill.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from workstation.research.evidence.records import Key, Records, Signal, Trade


class Cause(StrEnum):
    GAP = "gap"
    MISSED = "missed"
    REJECTION = "rejection"
    MANUAL = "manual"
    VETO = "veto"
    DATA = "data"
    UNEXPLAINED = "unexplained"


#: What each cause means, for people (the CLI, the panel, the JSON's ``causes`` labels).
CAUSE_TEXT: dict[Cause, str] = {
    Cause.GAP: "gap at the open",
    Cause.MISSED: "missed or late orders",
    Cause.REJECTION: "rejections",
    Cause.MANUAL: "manual actions",
    Cause.VETO: "vetoes",
    Cause.DATA: "data differences",
    Cause.UNEXPLAINED: "unexplained",
}
FOLLOW_ON = "follow_on"

PRICE_TOLERANCE = 0.005  # half a cent: prices equal to the cent are the same fill
TIME_TOLERANCE = timedelta(seconds=1)
LATE = timedelta(seconds=60)  # an order placed or filled this much after the model's is late

# Entry refusals that follow from the account's state (positions, sectors, equity, buying
# power, what was exited today): another state of the account, not a cause of their own.
_STATE_REASONS = frozenset(
    {
        "ALREADY_HELD",
        "REENTRY_SAME_DAY",
        "MAX_POSITIONS",
        "SECTOR_CAP",
        "SIZE_BELOW_ONE",
        "BUYING_POWER",
        "KILL_SWITCH",
    }
)
_BROKER_REASONS = frozenset({"BROKER_REJECTED", "BROKER_UNCERTAIN"})
# The broker's asset record (borrow) or the day's bar (no volume, a bad print): what the
# market said, which the backtest's history may say otherwise.
_DATA_REASONS = frozenset(
    {"NOT_SHORTABLE", "NOT_EASY_TO_BORROW", "NO_VOLUME", "NO_PRICE", "INVALID_BAR", "SPIKE"}
)
_MISSED_REASONS = frozenset({"WINDOW_MISSED", "TRADING_BLOCKED", "GAP_FILTER_MISSED"})


@dataclass(frozen=True)
class Attribution:
    """One cause (or ``follow_on``) of a difference, with what it did to the P&L."""

    cause: str  # a Cause value or FOLLOW_ON
    why: str
    pnl: float  # live minus backtest, the part this cause explains

    def as_json(self) -> dict[str, Any]:
        return {"cause": self.cause, "why": self.why, "pnl": round(self.pnl, 2)}


@dataclass(frozen=True)
class TradeDiff:
    """One trade of either side, or both, and how they differ."""

    kind: str  # "both", "live_only", "backtest_only"
    key: Key
    side: str
    live: Trade | None
    backtest: Trade | None
    attributions: tuple[Attribution, ...] = ()
    entry_slippage: float | None = None  # per share, + worse than the model
    exit_slippage: float | None = None
    entry_delay_s: float | None = None  # live entry time minus the model's
    exit_delay_s: float | None = None

    @property
    def differs(self) -> bool:
        return bool(self.attributions)

    @property
    def pnl_difference(self) -> float:
        return sum(a.pnl for a in self.attributions)

    @property
    def causes(self) -> set[str]:
        return {a.cause for a in self.attributions if a.cause != FOLLOW_ON}

    def as_json(self) -> dict[str, Any]:
        session, symbol, strategy = self.key
        return {
            "kind": self.kind,
            "entry_session": session.isoformat(),
            "symbol": symbol,
            "strategy": strategy,
            "side": self.side,
            "live": None if self.live is None else _trade_json(self.live),
            "backtest": None if self.backtest is None else _trade_json(self.backtest),
            "entry_slippage": _round(self.entry_slippage, 4),
            "exit_slippage": _round(self.exit_slippage, 4),
            "entry_slippage_bps": _bps(self.entry_slippage, self.backtest, "entry"),
            "exit_slippage_bps": _bps(self.exit_slippage, self.backtest, "exit"),
            "entry_delay_s": _round(self.entry_delay_s, 1),
            "exit_delay_s": _round(self.exit_delay_s, 1),
            "exit_reason_differs": (
                self.live is not None
                and self.backtest is not None
                and self.live.exit_reason != self.backtest.exit_reason
            ),
            "pnl_difference": round(self.pnl_difference, 2),
            "causes": sorted(self.causes),
            "attributions": [a.as_json() for a in self.attributions],
        }


def _round(v: float | None, digits: int) -> float | None:
    return None if v is None else round(v, digits)


def _bps(per_share: float | None, model: Trade | None, which: str) -> float | None:
    if per_share is None or model is None:
        return None
    price = model.entry_price if which == "entry" else model.exit_price
    return None if not price else round(per_share / price * 10_000, 1)


def _trade_json(t: Trade) -> dict[str, Any]:
    return {
        "qty": t.qty,
        "entry_price": t.entry_price,
        "entry_at": t.entry_at.isoformat(),
        "exit_price": t.exit_price,
        "exit_at": None if t.exit_at is None else t.exit_at.isoformat(),
        "exit_reason": t.exit_reason,
        "pnl": None if t.pnl is None else round(t.pnl, 2),
        "r": None if t.r is None else round(t.r, 3),
        "open": not t.closed,
    }


@dataclass(frozen=True)
class CauseTotal:
    cause: str
    count: int
    pnl: float

    def as_json(self) -> dict[str, Any]:
        label = FOLLOW_ON_TEXT if self.cause == FOLLOW_ON else CAUSE_TEXT[Cause(self.cause)]
        return {"cause": self.cause, "label": label, "count": self.count, "pnl": round(self.pnl, 2)}


FOLLOW_ON_TEXT = "follow-on (a consequence of an earlier difference, not a cause)"


@dataclass(frozen=True)
class DriftReport:
    """Live against the backtest of the same sessions (see the module docstring)."""

    first: date
    last: date
    sessions: int
    market: str
    param_hashes: tuple[str, ...]
    trades: tuple[TradeDiff, ...]
    live_pnl: float
    backtest_pnl: float
    carried_in: tuple[Trade, ...] = ()
    notes: tuple[str, ...] = ()
    backtest_store: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def differences(self) -> list[TradeDiff]:
        return [t for t in self.trades if t.differs]

    @property
    def drift(self) -> bool:
        return bool(self.differences)

    def totals(self) -> list[CauseTotal]:
        """Per cause (then follow-on): the differences it explains and their P&L."""
        count: dict[str, int] = defaultdict(int)
        pnl: dict[str, float] = defaultdict(float)
        for t in self.trades:
            for cause in {a.cause for a in t.attributions}:
                count[cause] += 1
            for a in t.attributions:
                pnl[a.cause] += a.pnl
        order = [*(c.value for c in Cause), FOLLOW_ON]
        return [CauseTotal(c, count[c], pnl[c]) for c in order if count[c]]

    @property
    def causes(self) -> set[str]:
        return {c.cause for c in self.totals() if c.cause != FOLLOW_ON}

    def as_json(self) -> dict[str, Any]:
        kinds = defaultdict(int)
        for t in self.trades:
            kinds[t.kind] += 1
        return {
            "period": {
                "start": self.first.isoformat(),
                "end": self.last.isoformat(),
                "sessions": self.sessions,
            },
            "market": self.market,
            "param_hashes": list(self.param_hashes),
            "drift": self.drift,
            "summary": {
                "trades_live": kinds["both"] + kinds["live_only"],
                "trades_backtest": kinds["both"] + kinds["backtest_only"],
                "both": kinds["both"],
                "live_only": kinds["live_only"],
                "backtest_only": kinds["backtest_only"],
                "both_differing": sum(1 for t in self.trades if t.kind == "both" and t.differs),
                "live_pnl": round(self.live_pnl, 2),
                "backtest_pnl": round(self.backtest_pnl, 2),
                "difference": round(self.live_pnl - self.backtest_pnl, 2),
            },
            "causes": [c.as_json() for c in self.totals()],
            "trades": [t.as_json() for t in self.trades],
            "carried_in": [
                {"symbol": t.key[1], "strategy": t.key[2], "entry_session": t.key[0].isoformat()}
                for t in self.carried_in
            ],
            "notes": list(self.notes),
            "backtest_store": self.backtest_store,
            **dict(self.meta),
        }


# ------------------------------------------------------------------------------ comparison
def compare(live: Records, backtest: Records) -> list[TradeDiff]:
    """Every trade of either store over the range, matched by (entry session, symbol,
    strategy), with the causes of each difference."""
    out: list[TradeDiff] = []
    for key in sorted(set(live.trades) | set(backtest.trades)):
        lt, bt = live.trades.get(key), backtest.trades.get(key)
        if lt is not None and bt is not None:
            out.append(_both(key, lt, bt, live))
        elif lt is not None:
            why = _live_only(key, lt, live, backtest)
            pnl = lt.pnl or 0.0
            out.append(TradeDiff("live_only", key, lt.side, lt, None, (why._replace(pnl),)))
        else:
            assert bt is not None
            why = _backtest_only(key, live, backtest)
            pnl = -(bt.pnl or 0.0)
            out.append(TradeDiff("backtest_only", key, bt.side, None, bt, (why._replace(pnl),)))
    return out


@dataclass(frozen=True)
class _Why:
    cause: str
    why: str

    def _replace(self, pnl: float) -> Attribution:
        return Attribution(self.cause, self.why, pnl)


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= PRICE_TOLERANCE


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return (a - b).total_seconds()


def _at_open(t: Trade, at: datetime | None) -> bool:
    """Whether ``at`` is the session's opening instant (09:30 ET, a fill at the open)."""
    return at is not None and at.hour == 9 and at.minute == 30 and at.second == 0


def _both(key: Key, lt: Trade, bt: Trade, live: Records) -> TradeDiff:
    sign = lt.sign
    entry_slip = sign * (lt.entry_price - bt.entry_price)
    exit_slip = (
        sign * (bt.exit_price - lt.exit_price)
        if lt.exit_price is not None and bt.exit_price is not None
        else None
    )
    entry_delay = _seconds(lt.entry_at, bt.entry_at)
    exit_delay = _seconds(lt.exit_at, bt.exit_at)
    atts: list[Attribution] = []

    # The entry: its price (the live quantity at the live price against the model's price).
    entry_pnl = -lt.qty * entry_slip
    if not _same(lt.entry_price, bt.entry_price) or abs(entry_delay or 0.0) > LATE.seconds:
        atts.append(_entry_cause(lt, bt, entry_delay)._replace(entry_pnl))

    # The exit: the reason, the time and the price.
    closed_both = lt.closed and bt.closed
    exit_pnl = -lt.qty * exit_slip if exit_slip is not None else 0.0
    differs = (
        lt.closed != bt.closed
        or lt.exit_reason != bt.exit_reason
        or not _same(lt.exit_price, bt.exit_price)
        or (exit_delay is not None and abs(exit_delay) > TIME_TOLERANCE.total_seconds())
    )
    if differs:
        why = _exit_cause(lt, bt, exit_delay, live)
        if closed_both:
            atts.append(why._replace(exit_pnl))
        else:  # one side still open at the end: no P&L to compare, the difference is noted
            atts.append(why._replace(0.0))

    # The size: another quantity at the model's P&L per share.
    if abs(lt.qty - bt.qty) > 1e-9:
        size_pnl = (lt.qty - bt.qty) * bt.pnl_per_share if closed_both else 0.0
        atts.append(
            Attribution(
                FOLLOW_ON,
                f"size {lt.qty:g} live, {bt.qty:g} in the backtest: sized from another equity",
                size_pnl,
            )
        )
    return TradeDiff(
        "both",
        key,
        lt.side,
        lt,
        bt,
        tuple(atts),
        entry_slippage=entry_slip,
        exit_slippage=exit_slip,
        entry_delay_s=entry_delay,
        exit_delay_s=exit_delay,
    )


def _entry_cause(lt: Trade, bt: Trade, delay: float | None) -> _Why:
    if delay is not None and delay > LATE.total_seconds():
        return _Why(Cause.MISSED, f"entered {delay:.0f} s after the model's entry")
    if lt.group == "A" or _at_open(lt, lt.entry_at):
        return _Why(
            Cause.GAP,
            f"filled at the open at {lt.entry_price:,.2f}, the model at {bt.entry_price:,.2f}",
        )
    return _Why(
        Cause.DATA,
        f"entry filled at {lt.entry_price:,.2f}, the model at {bt.entry_price:,.2f}",
    )


def _exit_cause(lt: Trade, bt: Trade, delay: float | None, live: Records) -> _Why:
    if lt.exit_requested_by_user or lt.exit_reason == "MANUAL":
        return _Why(Cause.MANUAL, "closed by hand" + _vs(bt))
    if lt.exit_reason == "KILL_SWITCH":
        by = live.kill_switch.get(lt.exit_session) if lt.exit_session else None
        if by == "user" or lt.exit_requested_by_user:
            return _Why(Cause.MANUAL, "flattened with the kill switch by the trader" + _vs(bt))
    if lt.levels_moved:
        return _Why(Cause.MANUAL, "its stop or target was moved by hand" + _vs(bt))
    if lt.rejected_exits:
        return _Why(
            Cause.REJECTION, f"an exit order was refused ({lt.rejected_exits[0]})" + _vs(bt)
        )
    session = lt.exit_session or bt.exit_session
    if session is not None and live.missed(session, "time_exit", "market_close", "premarket"):
        return _Why(Cause.MISSED, f"a step of {session} was missed" + _vs(bt))
    if (
        lt.exit_reason == bt.exit_reason
        and lt.exit_at is not None
        and _at_open(lt, lt.exit_at)
        and _at_open(bt, bt.exit_at)
    ):
        return _Why(
            Cause.GAP,
            f"stopped at the open at {lt.exit_price:,.2f}, the model at {bt.exit_price:,.2f}",
        )
    if delay is not None and lt.exit_reason == bt.exit_reason and delay > LATE.total_seconds():
        return _Why(Cause.MISSED, f"exited {delay:.0f} s after the model's exit")
    return _Why(Cause.DATA, "the day's prices met the rules elsewhere" + _vs(bt))


def _vs(bt: Trade) -> str:
    if not bt.closed:
        return " (the backtest still holds it)"
    return (
        f" (the backtest: {bt.exit_reason} at {bt.exit_price:,.2f} on {bt.exit_at:%Y-%m-%d %H:%M})"
    )


def _signal_fate(s: Signal, records: Records) -> _Why | None:
    """Why ``s`` did not become a position in ``records`` (None: nothing recorded says)."""
    session = s.entry_session
    if s.approval == "vetoed":
        note = f" ({s.approval_note})" if s.approval_note else ""
        return _Why(Cause.VETO, f"vetoed by the trader{note}")
    if s.approval == "skipped":
        if s.approval_note and "expired" in s.approval_note:
            return _Why(Cause.MISSED, "the app was not running at its entry time (expired)")
        return _Why(Cause.VETO, "not approved in time (on_pending: skip)")
    steps = ("gap_filter", "premarket", "group_a") if s.group == "A" else ("gap_filter", "group_b")
    if records.missed(session, *steps):
        return _Why(Cause.MISSED, f"the {'/'.join(steps)} step of {session} was missed")
    if s.gap_passed is False:
        if s.gap_source == "none" and records.missed(session):
            return _Why(Cause.MISSED, "no gap check: a step was missed")
        return _Why(Cause.GAP, f"dropped by the gap filter ({s.gap_reason or 'gap'})")
    if s.rejection is not None:
        reason = s.rejection
        if reason in _BROKER_REASONS:
            return _Why(Cause.REJECTION, s.rejection_detail or "the broker refused the order")
        if reason in _MISSED_REASONS:
            return _Why(Cause.MISSED, s.rejection_detail or reason)
        if reason == "KILL_SWITCH" and records.kill_switch.get(session) == "user":
            return _Why(Cause.MANUAL, "the trader had engaged the kill switch")
        if reason in _DATA_REASONS:
            return _Why(Cause.DATA, s.rejection_detail or reason)
        if reason in _STATE_REASONS:
            return _Why(FOLLOW_ON, f"{reason}: {s.rejection_detail}")
    if s.confirmed is False:
        return _Why(Cause.DATA, "not confirmed at 09:50 (another price at 09:50)")
    if s.entry_status == "rejected":
        return _Why(Cause.REJECTION, f"the broker refused the order ({s.entry_reject_reason})")
    if s.entry_status in ("canceled", "expired"):
        return _Why(Cause.MISSED, f"the entry order did not fill ({s.entry_status})")
    if s.rejection is not None:
        return _Why(FOLLOW_ON, f"{s.rejection}: {s.rejection_detail}")
    return None


def _backtest_only(key: Key, live: Records, backtest: Records) -> _Why:
    session = key[0]
    signal = live.signals.get(key)
    if signal is None:
        scan = live.scans.get(session)
        if scan is None:
            return _Why(Cause.MISSED, f"no scan made the list of {session}")
        if scan != "ok":
            return _Why(Cause.MISSED, f"the scan for {session} failed")
        return _Why(Cause.DATA, "not in the live list (the live scan saw other data)")
    fate = _signal_fate(signal, live)
    if fate is not None:
        return fate
    if signal.entered:  # entered live under another key (another strategy won the symbol)
        return _Why(Cause.DATA, "entered live as another trade")
    return _Why(Cause.UNEXPLAINED, "the live store records no reason it was not entered")


def _live_only(key: Key, lt: Trade, live: Records, backtest: Records) -> _Why:
    if lt.candidate_id is None:
        return _Why(Cause.MANUAL, "a position taken on by hand (adopted at a reconciliation)")
    signal = backtest.signals.get(key)
    if signal is None:
        return _Why(Cause.DATA, "not in the backtest's list (the live scan saw other data)")
    fate = _signal_fate(signal, backtest)
    if fate is not None:
        if fate.cause == Cause.VETO:  # the backtest approves every candidate
            return _Why(Cause.UNEXPLAINED, fate.why)
        return fate
    return _Why(Cause.UNEXPLAINED, "the backtest records no reason it was not entered")


__all__ = [
    "CAUSE_TEXT",
    "FOLLOW_ON",
    "Attribution",
    "Cause",
    "CauseTotal",
    "DriftReport",
    "TradeDiff",
    "compare",
]
