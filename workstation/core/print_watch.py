"""Which prints can make the engine act: the bounds a price stream may skip inside.

The live and simulated streams show every print. The backtester's market shows only the prints
that can change a decision (a backtest of five years cannot afford ~4,700 prints a symbol a
day through the event loop), and asks each part of the engine where its reactions begin:

* the position book: the exit rules of §12 (emergency level on day 1, SL/TP from day 2, the
  time exit on day 5, the PDT guard's hold);
* the simulated exchange: its resting orders (a stop triggers, a limit becomes marketable, a
  market order fills at the next print);
* the paper tracker: the same exit rules for vetoed candidates.

Each answers with a :class:`PrintWatch`: it may act on a print at ``price`` at time ``at``
only if ``price <= lo`` or ``price >= hi`` or ``at >= from_time``. The bounds are computed by
the very functions that decide (``rules.exits``, the exchange's order book), so they can only
be looser than the decision, never tighter: a print the bounds flag is checked against the
real decision (``reacts_to``) before anything relies on it, and a print outside the bounds
cannot make that part act.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from workstation.core.calendar import ET

#: Bounds are widened by this relative margin: the rules compare with a 1e-9 relative
#: tolerance (``rules.numeric``), so a print a hair beyond a level may still count as touching it.
MARGIN = 1e-7

_NEVER = datetime.max.replace(tzinfo=ET)


@dataclass(frozen=True)
class PrintWatch:
    """A part of the engine may react to a print only outside ``(lo, hi)`` or from ``from_time``."""

    lo: float = -math.inf
    hi: float = math.inf
    from_time: datetime = _NEVER

    @staticmethod
    def always() -> PrintWatch:
        """Every print matters (e.g. a market order waiting for one)."""
        return PrintWatch(math.inf, -math.inf)

    @staticmethod
    def below(level: float) -> PrintWatch:
        return PrintWatch(lo=level)

    @staticmethod
    def above(level: float) -> PrintWatch:
        return PrintWatch(hi=level)

    def widened(self) -> PrintWatch:
        lo = self.lo + abs(self.lo) * MARGIN if math.isfinite(self.lo) else self.lo
        hi = self.hi - abs(self.hi) * MARGIN if math.isfinite(self.hi) else self.hi
        return PrintWatch(lo, hi, self.from_time)

    def flags(self, price: float, at: datetime) -> bool:
        return price <= self.lo or price >= self.hi or at >= self.from_time

    @staticmethod
    def union(watches: Iterable[PrintWatch]) -> PrintWatch | None:
        """Where any of ``watches`` may react; None when there are none."""
        out: PrintWatch | None = None
        for w in watches:
            out = (
                w
                if out is None
                else PrintWatch(
                    max(out.lo, w.lo), min(out.hi, w.hi), min(out.from_time, w.from_time)
                )
            )
        return out


__all__ = ["MARGIN", "PrintWatch"]
