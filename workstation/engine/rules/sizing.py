"""Position sizing (trading rules §10).

``qty = floor(equity * risk_per_trade / (sl_mult * atr14))`` with ``risk_per_trade = 0.005``,
then capped so that ``qty * price <= equity * max_position_pct`` (0.15) and gross exposure
(existing + this entry) stays ``<= max_gross_exposure * equity`` (1.0). While the drawdown from
the equity peak *exceeds* 8%, ``risk_per_trade`` is multiplied by ``drawdown_risk_factor`` (0.5).

Choices made here:

* Exactly 8% drawdown does not halve (the spec says "exceeds"); the comparison uses the
  tolerance of :mod:`.numeric`, so ``1 - 92000/100000`` (0.07999999999999996) is exactly 8%.
* Floors are tolerant (:func:`.numeric.tolerant_floor`): a quotient that is an integer up to
  float noise gives that integer, not one share less.
* ``gross_exposure_now`` is the absolute notional of open positions *and* pending entry
  orders (the caller's sum), so two entries sent in the same minute cannot together break
  the cap. Longs and shorts both count (gross, not net).
* Buying power is not a cap here: §9 check 6 requires that buying power *covers* the size,
  so :func:`workstation.engine.rules.entries.check_entry` rejects instead of shrinking.
* Unusable inputs (equity, price, ATR or sl_mult missing, NaN or <= 0) give qty 0 with the
  reason: never size on garbage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from workstation.core.config import SizingConfig
from workstation.engine.rules.numeric import above, is_positive, tolerant_floor

# What limited the quantity.
CAPPED_BY_RISK = "risk"
CAPPED_BY_POSITION_PCT = "position_pct"
CAPPED_BY_GROSS_EXPOSURE = "gross_exposure"

# Reasons.
SIZED = "SIZED"
INVALID_INPUT = "INVALID_INPUT"


@dataclass(frozen=True)
class SizeDecision:
    qty: int
    risk_per_trade_used: float  # after drawdown halving
    capped_by: str | None  # CAPPED_BY_*; None when the inputs were unusable
    reason: str  # SIZED or INVALID_INPUT
    detail: str
    risk_qty: int = 0  # the quantity the risk budget alone allows (before the caps)


def drawdown(equity: float, peak: float) -> float:
    """Drawdown from the equity peak as a fraction (0.08 = 8% below the peak), never negative.

    A peak that is unusable (<= 0, NaN) or below the equity gives 0: there is no drawdown to
    measure. NaN equity gives NaN, which :func:`risk_per_trade` treats as a drawdown.
    """
    if not is_positive(peak):
        return 0.0
    if math.isnan(equity):
        return math.nan
    return max(0.0, 1.0 - equity / peak)


def drawdown_halving(dd: float, cfg: SizingConfig) -> bool:
    """True while the drawdown exceeds ``drawdown_halving_above`` (exactly 8%: False).

    An unknown (NaN) drawdown halves: the conservative side.
    """
    return math.isnan(dd) or above(dd, cfg.drawdown_halving_above)


def risk_per_trade(dd: float, cfg: SizingConfig) -> float:
    """The fraction of equity risked per trade at drawdown ``dd``."""
    base = cfg.risk_per_trade
    return base * cfg.drawdown_risk_factor if drawdown_halving(dd, cfg) else base


def position_size(
    equity: float,
    price: float,
    atr14: float,
    sl_mult: float,
    cfg: SizingConfig,
    gross_exposure_now: float = 0.0,
    drawdown: float = 0.0,
) -> SizeDecision:
    """Shares for one entry: risk-based, then the position and gross-exposure caps."""
    risk = risk_per_trade(drawdown, cfg)
    inputs = {"equity": equity, "price": price, "atr14": atr14, "sl_mult": sl_mult}
    bad = {name: v for name, v in inputs.items() if not is_positive(v)}
    if not (math.isfinite(gross_exposure_now) and gross_exposure_now >= 0.0):
        bad["gross_exposure_now"] = gross_exposure_now
    if bad:
        values = ", ".join(f"{n}={v!r}" for n, v in bad.items())
        return SizeDecision(0, risk, None, INVALID_INPUT, f"cannot size: unusable {values}")

    risk_qty = tolerant_floor(equity * risk / (sl_mult * atr14))
    qty, capped_by = risk_qty, CAPPED_BY_RISK
    pct_qty = tolerant_floor(equity * cfg.max_position_pct / price)
    if pct_qty < qty:
        qty, capped_by = pct_qty, CAPPED_BY_POSITION_PCT
    room = cfg.max_gross_exposure * equity - gross_exposure_now
    gross_qty = tolerant_floor(room / price)
    if gross_qty < qty:
        qty, capped_by = gross_qty, CAPPED_BY_GROSS_EXPOSURE

    halved = " (halved: drawdown above limit)" if risk != cfg.risk_per_trade else ""
    detail = (
        f"risk {risk:.4%}{halved} of equity {equity:,.2f} / ({sl_mult:g} x ATR {atr14:g}) = "
        f"{risk_qty} shares; position cap {pct_qty}, gross-exposure cap {max(gross_qty, 0)} "
        f"at {price:g}: {qty} shares (limited by {capped_by})"
    )
    return SizeDecision(qty, risk, capped_by, SIZED, detail, risk_qty)
