"""The trades the SL/TP advice is computed on, with their daily bars: a backtest's (from its
own store and the bars it kept) or the app's own (from the home's store and the market's bars).

Day numbers are sessions of the trading calendar, the entry session being day 1 (§12), so a
session the symbol did not trade is a day without a bar, not a day skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from workstation.core.bars import DailyBars
from workstation.core.calendar import TradingCalendar, get_calendar
from workstation.core.config import Config
from workstation.core.models import Side
from workstation.research.run_bars import FEED
from workstation.research.sltp_advice import Advice, Settings, advise
from workstation.research.sltp_paths import ExitRules, TradePath
from workstation.research.stats import open_store
from workstation.store import BacktestRow, Store, TradeRow


def exit_rules(cfg: Config, slippage_bps: float | None = None) -> ExitRules:
    """The exit rules and position cap of ``cfg``, with its backtest slippage unless
    ``slippage_bps`` says."""
    ex, size = cfg.risk.exits, cfg.risk.sizing
    slip = cfg.app.backtest.slippage_bps if slippage_bps is None else slippage_bps
    cap = size.max_position_pct / size.risk_per_trade
    return ExitRules(ex.sltp_from_day, ex.time_exit_day, float(slip), float(cap))


def current_values(cfg: Config) -> dict[str, tuple[float, float]]:
    """Each configured strategy's SL and TP multipliers (ATRs), in the configuration's order."""
    return {name: (float(p.sl_atr), float(p.tp_atr)) for name, p in cfg.strategies.items()}


def _day_sessions(cal: TradingCalendar, entry: date, rules: ExitRules) -> list[date]:
    """The sessions of days ``rules.first_day`` .. (the entry session is day 1)."""
    span = timedelta(days=(rules.first_day + rules.days) * 7 // 5 + 20)  # weekends, holidays
    days = cal.sessions_in_range(entry, min(entry + span, cal.last_session))
    first = rules.first_day - 1
    return days[first : first + rules.days]


def trade_paths(
    trades: Sequence[TradeRow],
    tp_mults: Mapping[int, float],
    bars: DailyBars,
    rules: ExitRules,
    cal: TradingCalendar | None = None,
) -> list[TradePath]:
    """Each trade with its bars from day ``rules.first_day`` (``tp_mults``: the TP multiplier
    of each trade's position; a trade whose position is not known is left out)."""
    cal = cal or get_calendar()
    dates = np.asarray(bars.dates, dtype="datetime64[D]")
    out = []
    for t in trades:
        tp_mult = tp_mults.get(t.position_id)
        if tp_mult is None:
            continue
        rows = np.full((rules.days, 4), np.nan)
        sessions = _day_sessions(cal, t.entry_session, rules)
        if t.symbol in bars and sessions:
            col = bars.col(t.symbol)
            want = np.array(sessions, dtype="datetime64[D]")
            at = np.searchsorted(dates, want)
            found = (at < len(dates)) & (dates[np.minimum(at, len(dates) - 1)] == want)
            idx = at[found]
            rows[: len(sessions)][found] = np.column_stack(
                [bars.open[idx, col], bars.high[idx, col], bars.low[idx, col], bars.close[idx, col]]
            )
        day_of_exit = cal.day_number(t.entry_session, t.exit_session)
        out.append(
            TradePath(
                trade_id=t.id,
                strategy=t.strategy,
                side=Side(t.side),
                fill=float(t.entry_price),
                atr14=float(t.atr14),
                sl_mult=float(t.sl_mult),
                tp_mult=float(tp_mult),
                reason=t.exit_reason,
                r=float(t.r_multiple),
                kept_exit=float(t.exit_price) if day_of_exit < rules.first_day else None,
                bars=rows,
            )
        )
    return out


def store_paths(
    store: Store, rules: ExitRules, bars: DailyBars | None = None, feed: str = FEED
) -> tuple[list[TradePath], int]:
    """The closed trades of ``store`` as paths (with ``bars``, else the store's bars of
    ``feed``), and how many trades it holds."""
    trades = store.trades()
    positions = {t.position_id: store.get_position(t.position_id) for t in trades}
    tp = {k: float(p.tp_mult) for k, p in positions.items() if p is not None}
    if bars is None:
        bars = store.get_daily_bars(sorted({t.symbol for t in trades}), None, None, feed)
    return trade_paths(trades, tp, bars, rules), len(trades)


@dataclass(frozen=True)
class AdviceSource:
    """Whose trades an advice was computed on."""

    kind: str  # "backtest" or "app"
    name: str  # the run's id, or the home's store
    trades: int  # closed trades it holds
    period: tuple[date, date] | None = None


def run_advice(
    row: BacktestRow, run_config: Config | None, now: Config, settings: Settings | None = None
) -> tuple[Advice, AdviceSource]:
    """The advice from the trades of the backtest ``row`` lists: followed with the run's exit
    rules (``run_config``; the current ones when the run's are not recorded) and its slippage,
    beside the multipliers of the current configuration ``now``."""
    costs = row.summary.get("costs") or {}
    slip = costs.get("slippage_bps")
    rules = exit_rules(run_config or now, None if slip is None else float(slip))
    with open_store(Path(row.path)) as store:
        paths, count = store_paths(store, rules)
    source = AdviceSource("backtest", row.id, count, (row.first_session, row.last_session))
    return advise(paths, current_values(now), rules, settings or Settings()), source


__all__ = [
    "AdviceSource",
    "current_values",
    "exit_rules",
    "run_advice",
    "store_paths",
    "trade_paths",
]
