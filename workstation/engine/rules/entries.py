"""Entries (trading rules §9): the six checks in order, the group B confirmation, SL/TP.

Every approved, gap-passed candidate goes through :func:`check_entry`; the first failing check
gives the recorded reason and the candidate is not entered:

1. the kill switch is not engaged;
2. the symbol is not already held and was not exited today (no same-day re-entry);
3. open positions + pending entries < the regime's max open positions, and < 8 in any regime;
4. fewer than 3 open positions + pending entries in the candidate's sector;
5. shorts only if the broker marks the symbol shortable (and easy to borrow);
6. size (§10) gives at least 1 share, and buying power covers it.

Choices made here:

* Check 2 reports ``ALREADY_HELD`` before ``REENTRY_SAME_DAY`` when both apply. ``held``
  includes symbols with a pending entry order (a second order for the same symbol would be
  a double entry).
* Check 5: unknown asset information counts as not shortable (a short is never sent on a
  guess); ``easy_to_borrow`` is required when ``EntryConfig.require_easy_to_borrow`` (default).
* The sector "Unknown" is a sector like any other: at most 3 of them.
* Check 6 rejects when ``qty * price > buying_power``; it does not shrink the order (the spec
  says buying power must *cover* the size). ``buying_power`` is what is still available
  after pending entry orders.
* Group B confirmation: long confirmed if ``price >= open * 0.997``, short if
  ``price <= open * 1.003``; a price exactly on the threshold confirms, with the tolerance of
  :mod:`.numeric` (in floats ``100 * 1.003`` is ``100.29999999999998``). A missing or
  unusable price or open does not confirm.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from workstation.core.config import EntryConfig, RiskConfig
from workstation.core.models import Asset, Candidate, Side
from workstation.engine.rules.numeric import above, at_or_above, at_or_below, is_positive
from workstation.engine.rules.sizing import SizeDecision, position_size

# Rejection reasons, in check order (check number in brackets).
KILL_SWITCH = "KILL_SWITCH"  # [1]
ALREADY_HELD = "ALREADY_HELD"  # [2]
REENTRY_SAME_DAY = "REENTRY_SAME_DAY"  # [2]
MAX_POSITIONS = "MAX_POSITIONS"  # [3]
SECTOR_CAP = "SECTOR_CAP"  # [4]
NOT_SHORTABLE = "NOT_SHORTABLE"  # [5]
NOT_EASY_TO_BORROW = "NOT_EASY_TO_BORROW"  # [5]
SIZE_BELOW_ONE = "SIZE_BELOW_ONE"  # [6]
BUYING_POWER = "BUYING_POWER"  # [6]
ENTRY_OK = "OK"  # all six passed (check_number 0)

# Group B confirmation reasons.
CONFIRMED = "CONFIRMED"
NOT_CONFIRMED = "NOT_CONFIRMED"
NO_PRICE = "NO_PRICE"  # latest trade or official open missing/unusable


@dataclass(frozen=True)
class EntryContext:
    """The portfolio at the moment of an entry decision (built by the engine)."""

    kill_switch_engaged: bool
    held: frozenset[str]  # open positions and symbols with a pending entry order
    exited_today: frozenset[str]  # see reentry.exited_in_session
    open_positions: int
    pending_entries: int  # entry orders sent and not yet filled/canceled
    sector_counts: Mapping[str, int]  # open positions + pending entries per sector
    regime_max_positions: int  # RegimeConfig.limits(regime).max_positions
    equity: float
    buying_power: float  # still available after pending entry orders
    gross_exposure: float = 0.0  # |notional| of open positions + pending entries
    drawdown: float = 0.0  # from the equity peak, see sizing.drawdown

    @property
    def committed(self) -> int:
        return self.open_positions + self.pending_entries


@dataclass(frozen=True)
class EntryCandidate:
    """What the checks need of one candidate.

    ``price`` is the price the entry is sized at: for group A the gap filter's pre-market
    price (the previous close when there was none and the candidate was kept), for group B
    the 09:50 latest trade.
    """

    symbol: str
    sector: str
    side: Side
    price: float
    atr14: float
    sl_mult: float
    shortable: bool = False
    easy_to_borrow: bool = False

    @staticmethod
    def of(candidate: Candidate, price: float, asset: Asset | None) -> EntryCandidate:
        """From a scan candidate and the broker's asset record (None: unknown asset)."""
        return EntryCandidate(
            symbol=candidate.symbol,
            sector=candidate.sector,
            side=candidate.side,
            price=price,
            atr14=candidate.atr14,
            sl_mult=candidate.sl_mult,
            shortable=bool(asset and asset.shortable),
            easy_to_borrow=bool(asset and asset.easy_to_borrow),
        )


@dataclass(frozen=True)
class EntryDecision:
    ok: bool
    qty: int  # shares to order when ok, else 0
    reason: str  # ENTRY_OK or the first failing check's constant
    check_number: int  # 1..6 of the failing check; 0 when ok
    detail: str
    size: SizeDecision | None = None  # set once check 6 ran


def _reject(
    check: int, reason: str, detail: str, size: SizeDecision | None = None
) -> EntryDecision:
    return EntryDecision(False, 0, reason, check, detail, size)


def check_entry(c: EntryCandidate, ctx: EntryContext, cfg: RiskConfig) -> EntryDecision:
    """Run the six checks of §9 in order; the first failing one is the decision."""
    # 1. kill switch
    if ctx.kill_switch_engaged:
        return _reject(1, KILL_SWITCH, "the kill switch is engaged: no new entries")
    # 2. held / exited today
    if c.symbol in ctx.held:
        return _reject(2, ALREADY_HELD, f"{c.symbol} is already held or has a pending entry")
    if c.symbol in ctx.exited_today:
        return _reject(2, REENTRY_SAME_DAY, f"{c.symbol} was exited this session")
    # 3. position count caps: the regime's and the one of any regime
    cap = min(ctx.regime_max_positions, cfg.portfolio.max_open_positions)
    if ctx.committed >= cap:
        which = (
            "the regime's maximum"
            if ctx.regime_max_positions <= cfg.portfolio.max_open_positions
            else "the maximum in any regime"
        )
        return _reject(
            3,
            MAX_POSITIONS,
            f"{ctx.open_positions} open + {ctx.pending_entries} pending = {ctx.committed} "
            f"reaches {which} of {cap}",
        )
    # 4. sector cap
    in_sector = ctx.sector_counts.get(c.sector, 0)
    if in_sector >= cfg.portfolio.max_per_sector:
        return _reject(
            4,
            SECTOR_CAP,
            f"sector {c.sector!r} already has {in_sector} open + pending "
            f"(max {cfg.portfolio.max_per_sector})",
        )
    # 5. shorts: shortable and easy to borrow
    if c.side is Side.SHORT:
        if not c.shortable:
            return _reject(5, NOT_SHORTABLE, f"{c.symbol} is not shortable at the broker")
        if cfg.entries.require_easy_to_borrow and not c.easy_to_borrow:
            return _reject(5, NOT_EASY_TO_BORROW, f"{c.symbol} is not easy to borrow")
    # 6. size and buying power
    size = position_size(
        ctx.equity,
        c.price,
        c.atr14,
        c.sl_mult,
        cfg.sizing,
        gross_exposure_now=ctx.gross_exposure,
        drawdown=ctx.drawdown,
    )
    if size.qty < 1:
        return _reject(6, SIZE_BELOW_ONE, f"size below one share: {size.detail}", size)
    cost = size.qty * c.price
    if not is_positive(ctx.buying_power) or above(cost, ctx.buying_power):
        return _reject(
            6,
            BUYING_POWER,
            f"{size.qty} x {c.price:g} = {cost:,.2f} exceeds buying power {ctx.buying_power!r}",
            size,
        )
    return EntryDecision(True, size.qty, ENTRY_OK, 0, size.detail, size)


# ----------------------------------------------------------------- group B confirmation


@dataclass(frozen=True)
class Confirmation:
    confirmed: bool
    price: float | None  # the latest trade at 09:50
    open: float | None  # the session's official open
    threshold: float | None  # open * confirm_long (long) or open * confirm_short (short)
    reason: str  # CONFIRMED, NOT_CONFIRMED or NO_PRICE


def confirm_group_b(
    side: Side, price: float | None, official_open: float | None, cfg: EntryConfig
) -> Confirmation:
    """The 09:50 confirmation: long if ``price >= open*0.997``, short if ``price <= open*1.003``."""
    if not (is_positive(price) and is_positive(official_open)):
        return Confirmation(False, price, official_open, None, NO_PRICE)
    assert price is not None and official_open is not None
    if side is Side.LONG:
        threshold = official_open * cfg.confirm_long
        ok = at_or_above(price, threshold)
    else:
        threshold = official_open * cfg.confirm_short
        ok = at_or_below(price, threshold)
    return Confirmation(ok, price, official_open, threshold, CONFIRMED if ok else NOT_CONFIRMED)


# ------------------------------------------------------------------------------ SL / TP


class StopTarget(NamedTuple):
    """Unpacks as ``(sl, tp)``."""

    sl: float
    tp: float


def sl_tp_from_fill(
    side: Side, fill_price: float, atr14: float, sl_mult: float, tp_mult: float
) -> StopTarget:
    """SL and TP from the actual average fill: long ``fill -/+ mult*atr``, short mirrored."""
    if side is Side.LONG:
        return StopTarget(fill_price - sl_mult * atr14, fill_price + tp_mult * atr14)
    return StopTarget(fill_price + sl_mult * atr14, fill_price - tp_mult * atr14)
