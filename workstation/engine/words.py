"""Human words for the engine's codes, for the window, the log and the CLI.

The engine records codes (``GAP_WITHIN_LIMIT``, ``NOT_CONFIRMED``, ``STOP_LOSS``...): they
are stable, searchable and what the audit log and the tests speak. A trader reads words:
each code here has a short phrase; the code itself stays available beside it (the window
shows it in the tooltip). An unknown code reads as its words in lower case, never as
nothing. No Qt here.
"""

from __future__ import annotations

import re

#: code -> a short phrase, as a trader would say it.
WORDS: dict[str, str] = {
    # gap filter (rules §8)
    "GAP_WITHIN_LIMIT": "gap within the limit",
    "GAP_TOO_LARGE": "gap too large",
    "NO_PREMARKET_KEPT": "no pre-market price: kept",
    "NO_PREMARKET_DROPPED": "no pre-market price: dropped",
    "BAD_PREV_CLOSE": "no usable previous close",
    "GAP_FILTER_MISSED": "gap filter missed",
    # the six entry checks (rules §9) and the session's own reasons
    "KILL_SWITCH": "kill switch engaged",
    "ALREADY_HELD": "already held",
    "REENTRY_SAME_DAY": "exited today: no re-entry",
    "MAX_POSITIONS": "too many positions for the regime",
    "SECTOR_CAP": "sector cap reached",
    "NOT_SHORTABLE": "not shortable",
    "NOT_EASY_TO_BORROW": "not easy to borrow",
    "SIZE_BELOW_ONE": "size below one share",
    "BUYING_POWER": "not enough buying power",
    "NOT_APPROVED": "not approved",
    "NOT_CONFIRMED": "not confirmed at 09:50",
    "NO_PRICE": "no price",
    "WINDOW_MISSED": "entry window missed",
    "TRADING_BLOCKED": "trading blocked (reconciliation)",
    "BROKER_REJECTED": "rejected by the broker",
    "BROKER_UNCERTAIN": "no answer from the broker",
    "CONFIRMED": "confirmed at 09:50",
    # exits (rules §10-§12)
    "STOP_LOSS": "stop loss",
    "TAKE_PROFIT": "take profit",
    "TIME_EXIT": "time exit",  # the day is a parameter (exits.time_exit_day)
    "EMERGENCY": "emergency exit",
    "MANUAL": "closed by hand",
    # kill switch reasons
    "DAILY_LOSS": "daily loss limit",
    "USER": "engaged by hand",
    # regimes
    "TREND": "trend",
    "RANGING": "ranging",
    "HIGH_VOL": "high volatility",
    # why a ranked candidate was passed over (signals/ranking.py speaks lower case)
    "sector_cap": "sector cap",
    "below_cut": "below the cut",
    "superseded": "another strategy won the symbol",
}

#: Exit reasons read differently from the entry checks of the same name.
EXIT_WORDS: dict[str, str] = {
    "KILL_SWITCH": "flattened by the kill switch",
    "MANUAL": "closed by hand",
}

_CODE = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$")
_LEADING_CODE = re.compile(r"^([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(?::\s*|\s+-\s+|$)")


def is_code(text: str) -> bool:
    return bool(_CODE.match(text))


def words(code: str) -> str:
    """The phrase for ``code`` (an unknown code: its words in lower case)."""
    if not code:
        return ""
    known = WORDS.get(code)
    if known is not None:
        return known
    return code.replace("_", " ").lower() if is_code(code) else code


def exit_words(code: str) -> str:
    """The phrase for an exit reason."""
    return EXIT_WORDS.get(code) or words(code)


def split_reason(text: str) -> tuple[str, str]:
    """``"MAX_POSITIONS: 6 of 6 held"`` -> ``("MAX_POSITIONS", "6 of 6 held")``; text that
    does not start with a code -> ``("", text)``."""
    m = _LEADING_CODE.match(text or "")
    if m is None:
        return "", text or ""
    return m.group(1), text[m.end() :].strip()


def reason_words(text: str) -> str:
    """A reason as words: its leading code translated, the detail kept."""
    code, detail = split_reason(text)
    if not code:
        return text
    return f"{words(code)}: {detail}" if detail else words(code)


__all__ = ["EXIT_WORDS", "WORDS", "exit_words", "is_code", "reason_words", "split_reason", "words"]
