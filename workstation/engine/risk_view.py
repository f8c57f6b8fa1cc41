"""The portfolio's risk as the risk view shows it, from the positions and the account.

:func:`build_risk` is pure (no I/O, no clock): the facade and the GUI's fake engine feed it
their positions, pending entries and account, so both show the same arithmetic:

* **Exposure**: long and short notional at the last price; gross = long + short, net =
  long - short; pending entry orders apart (the sizing rule counts them in the gross).
* **Open risk (portfolio heat)**: for each position, what it loses from its last price if its
  ACTIVE stop is hit: the emergency level on day 1, the stop loss (as moved, if moved) from
  day 2; never below zero. In R: that loss over the position's one R (``sl_mult * atr14`` per
  share, times the shares); the portfolio's is the sum. A stop that locks in a gain still
  risks the way back to it.
* **Caps**: open positions + pending entries against min(the regime's cap, the cap of any
  regime) (trading rules §9 check 3); per sector against the sector cap (check 4).
* **Daily loss**: the kill switch engages at ``start * (1 - daily_loss_limit)``
  (``rules.risk.daily_loss_level``); the room left is equity minus that level.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from workstation.core.config import RiskConfig, ScannerConfig
from workstation.core.models import Regime, Side
from workstation.engine.rules.risk import daily_loss_level
from workstation.engine.views import PositionRisk, PositionView, RiskView, SectorLoad


@dataclass(frozen=True)
class PendingEntry:
    """An entry order still working: its symbol, sector and notional at its reference price."""

    symbol: str
    sector: str
    notional: float


def position_risk(p: PositionView) -> PositionRisk:
    stop = p.active_stop
    per_share = max(0.0, p.side.sign * (p.last - stop)) if math.isfinite(stop) else math.nan
    risk = per_share * p.qty
    one_r = p.r_per_share * p.qty
    return PositionRisk(
        symbol=p.symbol,
        side=p.side,
        sector=p.sector or "Unknown",
        notional=abs(p.qty * p.last),
        stop=stop,
        stop_kind="emergency" if p.day_one else "stop loss",
        risk=risk,
        risk_r=risk / one_r if one_r > 0 and math.isfinite(risk) else math.nan,
    )


def position_cap(regime: str | None, scanner: ScannerConfig, risk: RiskConfig) -> int:
    """min(the regime's max open positions, the cap of any regime); the cap of any regime
    alone before a scan has named a regime."""
    overall = risk.portfolio.max_open_positions
    try:
        limits = scanner.regime.limits(Regime(regime))
    except ValueError:
        return overall
    return min(limits.max_positions, overall)


def build_risk(
    positions: Sequence[PositionView],
    pending: Iterable[PendingEntry],
    *,
    equity: float,
    cash: float,
    buying_power: float,
    start_equity: float,
    regime: str | None,
    scanner: ScannerConfig,
    risk: RiskConfig,
    kill_switch: bool,
    kill_reason: str = "",
) -> RiskView:
    per = tuple(position_risk(p) for p in positions)
    pend = tuple(pending)
    longs = sum(r.notional for r in per if r.side is Side.LONG)
    shorts = sum(r.notional for r in per if r.side is Side.SHORT)
    open_risk = sum(r.risk for r in per if math.isfinite(r.risk))
    held = Counter(r.sector for r in per)
    # A pending entry of a symbol already held is its growing position, counted once (as the
    # entry checks count it).
    held_symbols = {r.symbol for r in per}
    waiting = [e for e in pend if e.symbol not in held_symbols]
    queued = Counter(e.sector or "Unknown" for e in waiting)
    notional: defaultdict[str, float] = defaultdict(float)
    for r in per:
        notional[r.sector] += r.notional
    for e in waiting:
        notional[e.sector or "Unknown"] += e.notional
    cap = risk.portfolio.max_per_sector
    sectors = tuple(
        SectorLoad(s, held[s], queued[s], cap, notional[s])
        for s in sorted(set(held) | set(queued), key=lambda s: (-(held[s] + queued[s]), s))
    )
    limit = risk.portfolio.daily_loss_limit
    known = math.isfinite(start_equity)
    level = daily_loss_level(start_equity, risk.portfolio) if known else math.nan
    return RiskView(
        equity=equity,
        cash=cash,
        buying_power=buying_power,
        long_exposure=longs,
        short_exposure=shorts,
        pending_exposure=sum(e.notional for e in waiting),
        max_gross=equity * risk.sizing.max_gross_exposure,
        open_risk=open_risk,
        open_risk_r=sum(r.risk_r for r in per if math.isfinite(r.risk_r)),
        positions=tuple(sorted(per, key=lambda r: -r.risk if math.isfinite(r.risk) else 0.0)),
        open_positions=len(per),
        pending_entries=len(waiting),
        regime=regime,
        position_cap=position_cap(regime, scanner, risk),
        any_regime_cap=risk.portfolio.max_open_positions,
        sectors=sectors,
        sector_cap=cap,
        start_equity=start_equity,
        daily_loss_limit=limit,
        kill_level=level,
        kill_switch=kill_switch,
        kill_reason=kill_reason,
    )


__all__ = ["PendingEntry", "build_risk", "position_cap", "position_risk"]
