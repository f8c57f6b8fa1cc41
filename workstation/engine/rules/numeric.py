"""Float-safe comparisons for the rule boundaries of the trading rules.

The spec states its boundaries in decimal ("exactly 3% passes", "touching the SL exits",
"exactly -2% engages"), but binary floats cannot hold most decimals: ``103/100 - 1`` is
``0.030000000000000027`` and ``100 * 1.003`` is ``100.29999999999998``. Compared naively, a
price sitting exactly on a boundary would land on either side depending on rounding noise.

The policy, used by every module of this package: two quantities within :data:`REL_TOL`
(1e-9) *relative* of each other are the same number, so an inclusive boundary includes them
and a strict one excludes them. Why 1e-9: float noise of a few operations is ~1e-16 relative,
while the smallest real difference the rules ever see is a sub-penny tick (0.0001 on a
$1 stock, 1e-4 relative; a cent on a $10,000 price, 1e-6): the tolerance sits seven orders
of magnitude above the noise and three below any real price step, so it never changes a
decision except on a value that *is* the boundary.

Where possible the modules compare in the price (or dollar) domain, e.g. the gap filter checks
``|price - prev_close| <= max_abs_gap * prev_close`` rather than the ratio, which keeps the
operands near the magnitudes the tolerance is scaled to.

Every comparison is False when an operand is NaN; callers validate inputs before comparing.
"""

from __future__ import annotations

import math
import numbers

#: Relative tolerance under which two values count as equal at a rule boundary.
REL_TOL = 1e-9


def _slack(a: float, b: float) -> float:
    return REL_TOL * max(abs(a), abs(b))


def at_or_below(a: float, b: float) -> bool:
    """``a <= b``, with values within the tolerance counting as equal (so: True)."""
    return a <= b + _slack(a, b)


def at_or_above(a: float, b: float) -> bool:
    """``a >= b``, with values within the tolerance counting as equal (so: True)."""
    return a >= b - _slack(a, b)


def above(a: float, b: float) -> bool:
    """``a > b`` by more than the tolerance (values within it count as equal: False)."""
    return a > b + _slack(a, b)


def below(a: float, b: float) -> bool:
    """``a < b`` by more than the tolerance (values within it count as equal: False)."""
    return a < b - _slack(a, b)


def tolerant_floor(x: float) -> int:
    """``floor(x)``, except that a value within the tolerance below an integer is that integer.

    ``500 / (1.5 * 3.3333333333333335)`` should be 100 shares, not 99 because the
    quotient came out as 99.99999999999999. Negative values give 0 (no negative share counts).
    """
    if not math.isfinite(x) or x <= 0.0:
        return 0
    return math.floor(x + REL_TOL * x)


def is_positive(x: object) -> bool:
    """True for a finite real number above zero (a usable price, equity, ATR or multiplier).

    None, NaN, infinities, bools and strings are not usable numbers.
    """
    if type(x) is float:  # the hot path: exits call this on every quote
        return math.isfinite(x) and x > 0.0
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        return False
    v = float(x)
    return math.isfinite(v) and v > 0.0
