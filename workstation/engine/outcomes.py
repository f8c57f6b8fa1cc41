"""What became of a nightly candidate at its entry session, in a trader's words.

The engines record why a candidate was not entered as a code (``MAX_POSITIONS``, the gap
filter's ``GAP_TOO_LARGE``, ...) with a detail (audit ``entry.rejected``, gap results,
orders). :func:`candidate_outcome` puts them together, the first that applies:

1. an entry order: entered (filled), working, or not filled (canceled / expired / rejected);
2. a recorded refusal of the entry checks or the steps (``entry.rejected``);
3. vetoed (followed on paper);
4. the gap filter dropped it; skipped (not approved in time);
5. nothing yet (before its entry time).

:data:`ENTRY_WORDS` says each code in words. No Qt here: the candidates table shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Short enough for a table cell (the engine's detail, in the tooltip, says the rest).
ENTRY_WORDS: dict[str, str] = {
    # the six checks of trading rules §9, in order
    "KILL_SWITCH": "kill switch on",
    "ALREADY_HELD": "already held or pending",
    "REENTRY_SAME_DAY": "exited earlier that session",
    "MAX_POSITIONS": "position limit reached",
    "SECTOR_CAP": "sector limit reached",
    "NOT_SHORTABLE": "not shortable",
    "NOT_EASY_TO_BORROW": "not easy to borrow",
    "SIZE_BELOW_ONE": "size under one share",
    "BUYING_POWER": "not enough buying power",
    # the steps of the session
    "NOT_APPROVED": "not approved in time",
    "NOT_CONFIRMED": "not confirmed at 09:50",
    "WINDOW_MISSED": "entry window missed",
    "TRADING_BLOCKED": "trading blocked (reconcile)",
    "BROKER_REJECTED": "rejected by the broker",
    "BROKER_UNCERTAIN": "no answer from the broker",
    "GAP_FILTER_MISSED": "gap filter missed",
    # data (trading rules §14)
    "NO_VOLUME": "did not trade that session",
    "INVALID_BAR": "invalid bar that session",
    "SPIKE": "spike bar that session",
    "DUPLICATE_CONFLICT": "conflicting bars that session",
}

GAP_WORDS: dict[str, str] = {
    "GAP_TOO_LARGE": "gap too large",
    "NO_PREMARKET_DROPPED": "no pre-market price",
    "BAD_PREV_CLOSE": "no usable previous close",
}

ENTERED = "ENTERED"
WORKING = "WORKING"
NOT_FILLED = "NOT_FILLED"
VETOED = "VETOED"
SKIPPED = "SKIPPED"


@dataclass(frozen=True)
class Outcome:
    code: str
    text: str  # what the table shows
    detail: str = ""  # the engine's own words (a tooltip)


def words(code: str) -> str:
    """A refusal code in words (the code itself, lower-cased, when it has none yet)."""
    return ENTRY_WORDS.get(code) or GAP_WORDS.get(code) or code.replace("_", " ").lower()


def candidate_outcome(
    *,
    order: Any | None = None,
    rejection: dict[str, Any] | None = None,
    gap: Any | None = None,
    approval: str = "",
) -> Outcome | None:
    """The outcome of one candidate from its entry order row (``status``, ``filled_qty``,
    ``avg_fill_price``, ``reject_reason``), its ``entry.rejected`` audit detail (``reason``,
    ``detail``), its gap result row (``passed``, ``reason``, ``gap``) and its approval state.
    None: nothing happened yet."""
    if order is not None:
        filled = float(order.filled_qty or 0)
        price = order.avg_fill_price
        at = f" @ {price:,.2f}" if price else ""
        if order.status in ("new", "accepted", "partially_filled"):
            part = f", {filled:,.0f} filled{at}" if filled else ""
            return Outcome(WORKING, f"entry order working{part}")
        if filled > 0:  # filled, or the rest canceled at the cut-off: what filled is held
            return Outcome(ENTERED, f"entered: {filled:,.0f}{at}")
        why = order.reject_reason or order.status
        return Outcome(NOT_FILLED, f"not entered: order {order.status}", str(why))
    if rejection is not None:
        code = str(rejection.get("reason", ""))
        return Outcome(code, f"not entered: {words(code)}", str(rejection.get("detail", "")))
    # Your veto is why a candidate was not entered, whatever its gap did.
    if approval == "vetoed":
        return Outcome(VETOED, "vetoed: followed on paper")
    if gap is not None and not gap.passed:
        code = str(gap.reason or "")
        size = f" ({gap.gap:+.2%})" if gap.gap is not None else ""
        return Outcome(code, f"dropped at 09:25: {words(code)}{size}")
    if approval == "skipped":
        return Outcome(SKIPPED, "skipped: not approved in time")
    return None


__all__ = [
    "ENTERED",
    "ENTRY_WORDS",
    "GAP_WORDS",
    "NOT_FILLED",
    "SKIPPED",
    "VETOED",
    "WORKING",
    "Outcome",
    "candidate_outcome",
    "words",
]
