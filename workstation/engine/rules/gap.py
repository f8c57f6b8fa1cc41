"""The 09:25 gap filter (trading rules §8).

``gap = premarket_price / prev_close - 1``; the candidate is dropped if ``abs(gap) > max_abs_gap``
(0.03). A gap of exactly 3% either way passes. The pre-market price is the latest trade before
09:25; without one, the mid of the latest quote; with neither, ``on_no_premarket`` (keep/drop).

Choices this module makes (the spec leaves them open; each is the conservative one):

* The boundary is checked in the price domain, ``|price - prev_close| <= max_abs_gap *
  prev_close``, with the tolerance of :mod:`.numeric`: in floats ``103/100 - 1`` is
  ``0.030000000000000027``, which a naive ``>`` would drop although the rule passes it.
  The recorded ``gap`` is still ``price / prev_close - 1``.
* A trade price that is missing, NaN, infinite or not positive is no trade.
* A quote is unusable (treated as no quote) when bid or ask is missing/NaN/<= 0 or the quote
  is crossed (``ask < bid``): its mid would be a price nobody can trade at. A locked quote
  (``ask == bid``) is usable.
* A missing, NaN or non-positive ``prev_close`` drops the candidate whatever the policy:
  the gap cannot be known and the rule must never trade on garbage.
* "Before 09:25" is the caller's part: it passes the latest trade and quote as of 09:25.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from workstation.core.config import GapConfig
from workstation.engine.rules.numeric import above, is_positive

# Source of the pre-market price.
SOURCE_TRADE = "trade"
SOURCE_QUOTE = "quote"
SOURCE_NONE = "none"

# Gap result reasons (stored with every candidate's gap result).
GAP_WITHIN_LIMIT = "GAP_WITHIN_LIMIT"
GAP_TOO_LARGE = "GAP_TOO_LARGE"
NO_PREMARKET_KEPT = "NO_PREMARKET_KEPT"
NO_PREMARKET_DROPPED = "NO_PREMARKET_DROPPED"
BAD_PREV_CLOSE = "BAD_PREV_CLOSE"


class PremarketPrice(NamedTuple):
    """The price the gap filter uses and where it came from (unpacks as ``(price, source)``)."""

    price: float | None
    source: str  # SOURCE_TRADE, SOURCE_QUOTE or SOURCE_NONE


@dataclass(frozen=True)
class GapResult:
    """The recorded gap result of one candidate."""

    price: float | None  # the pre-market price used (None: there was none)
    source: str  # SOURCE_TRADE / SOURCE_QUOTE / SOURCE_NONE
    prev_close: float | None
    gap: float | None  # price / prev_close - 1 (None when either is unusable)
    passed: bool
    reason: str  # one of the constants above
    detail: str  # a sentence for the log and the GUI


def usable_quote_mid(bid: float | None, ask: float | None) -> float | None:
    """The mid of a usable quote, else None (see the module doc for what is unusable)."""
    if not (is_positive(bid) and is_positive(ask)):
        return None
    assert bid is not None and ask is not None  # narrowed by is_positive
    if ask < bid:
        return None
    return (bid + ask) / 2.0


def premarket_price(
    latest_trade_price: float | None,
    latest_quote: tuple[float | None, float | None] | None,
) -> PremarketPrice:
    """The latest trade before 09:25; without one, the mid of the latest (usable) quote."""
    if is_positive(latest_trade_price):
        assert latest_trade_price is not None
        return PremarketPrice(float(latest_trade_price), SOURCE_TRADE)
    if latest_quote is not None:
        bid, ask = latest_quote
        mid = usable_quote_mid(bid, ask)
        if mid is not None:
            return PremarketPrice(mid, SOURCE_QUOTE)
    return PremarketPrice(None, SOURCE_NONE)


def gap_decision(
    price: float | None, source: str, prev_close: float | None, cfg: GapConfig
) -> GapResult:
    """Pass or drop one candidate on its pre-market gap."""
    if not is_positive(prev_close):
        return GapResult(
            price if is_positive(price) else None,
            source if is_positive(price) else SOURCE_NONE,
            prev_close,
            None,
            False,
            BAD_PREV_CLOSE,
            f"previous close {prev_close!r} is missing or not a positive number: "
            "the gap cannot be computed, candidate dropped",
        )
    assert prev_close is not None
    prev = float(prev_close)
    if not is_positive(price):
        keep = cfg.on_no_premarket == "keep"
        return GapResult(
            None,
            SOURCE_NONE,
            prev,
            None,
            keep,
            NO_PREMARKET_KEPT if keep else NO_PREMARKET_DROPPED,
            "no pre-market trade or usable quote: "
            + ("kept (on_no_premarket = keep)" if keep else "dropped (on_no_premarket = drop)"),
        )
    assert price is not None
    p = float(price)
    gap = p / prev - 1.0
    limit = cfg.max_abs_gap
    if above(abs(p - prev), limit * prev):
        return GapResult(
            p,
            source,
            prev,
            gap,
            False,
            GAP_TOO_LARGE,
            f"gap {gap:+.2%} ({source} {p:g} vs previous close {prev:g}) "
            f"is beyond +/-{limit:.2%}: dropped",
        )
    return GapResult(
        p,
        source,
        prev,
        gap,
        True,
        GAP_WITHIN_LIMIT,
        f"gap {gap:+.2%} ({source} {p:g} vs previous close {prev:g}) is within +/-{limit:.2%}",
    )
