"""The market regime as the regime panel shows it (trading rules §5).

:func:`build_regime_view` is pure: the facade and the GUI's fake engine give it the latest
scan's regime and the values that decided it (the scan's JSON file keeps them), and the
configuration in force; both show the same thing:

* today's regime and its inputs: the benchmark's volatility, ADX14 and the order of its close,
  SMA50 and SMA200 (``RegimeResult.as_dict()``);
* per strategy, whether each regime prefers it, allows it or does not permit it
  (``signals.ranking.permission_in``, the very test the ranking applies);
* each regime's cap on open positions (``risk_view.position_cap``, as the entry checks use it).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from workstation.core.config import RiskConfig, ScannerConfig
from workstation.core.models import Regime
from workstation.engine.risk_view import position_cap
from workstation.engine.views import RegimeView, StrategyFit
from workstation.signals.ranking import permission_in


def strategy_fits(scanner: ScannerConfig, strategies: Mapping[str, Any]) -> tuple[StrategyFit, ...]:
    """Each strategy of ``strategies`` (in its order) against every regime."""
    return tuple(
        StrategyFit(
            name,
            bool(getattr(params, "enabled", True)),
            {str(r): permission_in(name, scanner.regime.limits(r)) for r in Regime},
        )
        for name, params in strategies.items()
    )


def build_regime_view(
    session: date | None,
    regime: str | None,
    values: Mapping[str, Any] | None,
    *,
    scanner: ScannerConfig,
    risk: RiskConfig,
    strategies: Mapping[str, Any],
) -> RegimeView:
    return RegimeView(
        benchmark=scanner.universe.benchmark,
        session=session,
        regime=regime or "",
        values=dict(values or {}),
        fits=strategy_fits(scanner, strategies),
        caps={str(r): position_cap(str(r), scanner, risk) for r in Regime},
        vol_window=scanner.regime.vol_window,
    )


__all__ = ["build_regime_view", "strategy_fits"]
