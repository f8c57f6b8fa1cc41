"""The figures of a run, read from its store: any store with the app's schema, a backtest's
``data/backtests/<id>.db`` or the main store of ``run --headless`` alike.

What is read: ``daily_performance`` (the start equity of the first session and the end-of-day
equity of every session: the return series), ``trades`` (exit session within the period),
``positions`` still open (exposure), and for each trade its candidate's scan (``candidates``
-> ``scans.regime``: the regime the trade was chosen in). SPY's daily closes are given by the
caller (the market knows them, the store does not have to).

Usage::

    result = compute_stats("data/backtests/42.db", Period(date(2021, 1, 4), date(2023, 12, 29)),
                           benchmark_closes=spy_close_series)
    result.stats["sharpe"], result.by_strategy["bollinger_reversion"]["win_rate"]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from workstation.research.benchmark import benchmark_figures
from workstation.research.exposure import exposure_figures, holdings
from workstation.research.figures import FigureBuilder, Figures
from workstation.research.returns import (
    TRADING_DAYS,
    EquityCurve,
    drawdown_series,
    return_figures,
)
from workstation.research.trade_stats import (
    DEFAULT_MIN_TRADES,
    excursion_figures,
    trade_figures,
)
from workstation.store import Store, TradeRow

UNKNOWN_REGIME = "unknown"  # a trade whose candidate or scan is not in the store


class EmptyPeriodError(ValueError):
    """The store has no completed session in the period asked for."""


@dataclass(frozen=True)
class Period:
    """Sessions from ``start`` to ``end``, both included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"the period ends ({self.end}) before it starts ({self.start})")


@dataclass(frozen=True)
class StatsOptions:
    """``risk_free_rate``: annual (0.04 = 4%). ``min_trades``: below it a group of trades is
    a small sample. ``min_sessions``: below it the period is short (annualised figures
    extrapolate less than a year)."""

    risk_free_rate: float = 0.0
    min_trades: int = DEFAULT_MIN_TRADES
    min_sessions: int = TRADING_DAYS


@dataclass(frozen=True)
class BacktestStats:
    """Everything computed from one store over one period."""

    period: Period
    options: StatsOptions
    curve: EquityCurve
    returns: pd.Series
    drawdown: pd.Series
    trades: tuple[TradeRow, ...]
    regimes: Mapping[int, str]  # trade id -> regime of the scan it came from
    stats: Figures
    by_strategy: Mapping[str, Figures]
    by_regime: Mapping[str, Figures]
    by_exit_reason: Mapping[str, Figures]
    by_year: Mapping[str, Figures]
    excursions: Mapping[str, Mapping[str, Figures]]  # strategy -> {"mfe_r", "mae_r"}
    benchmark: Figures
    benchmark_curve: pd.Series | None = field(default=None)  # SPY scaled to start equity


@contextmanager
def open_store(store: Store | str | Path) -> Iterator[Store]:
    """``store`` itself, or the store at a path (which must exist: reading results never
    creates an empty database), closed afterwards."""
    if isinstance(store, Store):
        yield store
        return
    path = Path(store).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no store at {path}; give the path of a run's database file")
    opened = Store.open(path)
    try:
        yield opened
    finally:
        opened.close()


def store_period(store: Store) -> Period:
    """The first to the last session with an end-of-day row."""
    rows = store.daily_performance()
    if not rows:
        raise EmptyPeriodError(f"{store.path} has no completed session yet")
    return Period(rows[0].session, rows[-1].session)


def equity_curve(store: Store, period: Period) -> EquityCurve:
    """The first session's start equity, then each session's end-of-day equity."""
    rows = store.daily_performance(period.start, period.end)
    if not rows:
        raise EmptyPeriodError(
            f"{store.path} has no completed session from {period.start} to {period.end}"
        )
    index = pd.DatetimeIndex([pd.Timestamp(r.session) for r in rows], name="session")
    eod = pd.Series([r.end_equity for r in rows], index=index, name="equity", dtype=float)
    return EquityCurve(start_equity=rows[0].start_equity, end_of_day=eod)


def trade_regimes(store: Store, trades: Sequence[TradeRow]) -> dict[int, str]:
    """The regime of the scan whose candidate each trade entered (``unknown`` when the
    trade has no candidate, e.g. a position adopted at reconciliation). One query: the
    candidate -> scan join for every trade at once."""
    ids = [t.id for t in trades]
    out = dict.fromkeys(ids, UNKNOWN_REGIME)
    for chunk in range(0, len(ids), 500):  # SQLite's bound-parameter limit
        part = ids[chunk : chunk + 500]
        rows = store.db.query(
            "SELECT t.id, s.regime FROM trades t "
            "JOIN candidates c ON c.id = t.candidate_id JOIN scans s ON s.id = c.scan_id "
            f"WHERE t.id IN ({', '.join('?' for _ in part)})",
            part,
        )
        out.update({r["id"]: r["regime"] or UNKNOWN_REGIME for r in rows})
    return out


def _groups(
    trades: Sequence[TradeRow], key: Callable[[TradeRow], str]
) -> dict[str, list[TradeRow]]:
    groups: dict[str, list[TradeRow]] = {}
    for t in trades:
        groups.setdefault(key(t), []).append(t)
    return dict(sorted(groups.items()))


def _by(
    trades: Sequence[TradeRow], key: Callable[[TradeRow], str], min_trades: int
) -> dict[str, Figures]:
    return {k: trade_figures(g, min_trades=min_trades) for k, g in _groups(trades, key).items()}


def _by_year(
    trades: Sequence[TradeRow], returns: pd.Series, opts: StatsOptions
) -> dict[str, Figures]:
    """Per calendar year: the year's return figures (drawdown from the year's first equity)
    and the figures of the trades that exited in it."""
    by_trade = _groups(trades, lambda t: str(t.exit_session.year))
    years = sorted({str(d.year) for d in returns.index} | set(by_trade))
    out: dict[str, Figures] = {}
    for year in years:
        f = FigureBuilder()
        f.update(trade_figures(by_trade.get(year, []), min_trades=opts.min_trades))
        in_year = returns[returns.index.year == int(year)]
        f.update(return_figures(in_year, risk_free_rate=opts.risk_free_rate))
        out[year] = f.build()
    return out


def compute_stats(
    store: Store | str | Path,
    period: Period | None = None,
    *,
    benchmark_closes: pd.Series | None = None,
    benchmark_symbol: str = "SPY",
    options: StatsOptions | None = None,
) -> BacktestStats:
    """The figures of the run in ``store`` over ``period`` (default: every session it has).

    ``benchmark_closes``: the benchmark's daily closes indexed by date (they should reach at
    least the session before the period, the buy-and-hold's entry price). Raises
    :class:`EmptyPeriodError` when the store has no session in the period."""
    opts = options or StatsOptions()
    with open_store(store) as st:
        period = period or store_period(st)
        curve = equity_curve(st, period)
        every_trade = st.trades()  # exposure also counts trades that exit after the period
        trades = tuple(t for t in every_trade if period.start <= t.exit_session <= period.end)
        regimes = trade_regimes(st, trades)
        held = holdings(every_trade, st.open_positions())
    returns = curve.returns()
    f = FigureBuilder()
    f.add("start_equity", curve.start_equity)
    f.add("end_equity", float(curve.end_of_day.iloc[-1]))
    f.add("risk_free_rate", opts.risk_free_rate)
    f.update(return_figures(returns, risk_free_rate=opts.risk_free_rate))
    f.add("short_period", len(returns) < opts.min_sessions)
    f.update(trade_figures(trades, min_trades=opts.min_trades))
    f.update(exposure_figures(held, curve, len(trades)))
    strategies = _groups(trades, lambda t: t.strategy)
    bench, bench_curve = benchmark_figures(
        benchmark_closes,
        curve,
        symbol=benchmark_symbol,
        risk_free_rate=opts.risk_free_rate,
    )
    return BacktestStats(
        period=period,
        options=opts,
        curve=curve,
        returns=returns,
        drawdown=drawdown_series(returns),
        trades=trades,
        regimes=regimes,
        stats=f.build(),
        by_strategy=_by(trades, lambda t: t.strategy, opts.min_trades),
        by_regime=_by(trades, lambda t: regimes[t.id], opts.min_trades),
        by_exit_reason=_by(trades, lambda t: t.exit_reason, opts.min_trades),
        by_year=_by_year(trades, returns, opts),
        excursions={k: excursion_figures(g) for k, g in strategies.items()},
        benchmark=bench,
        benchmark_curve=bench_curve,
    )


__all__ = [
    "UNKNOWN_REGIME",
    "BacktestStats",
    "EmptyPeriodError",
    "Period",
    "StatsOptions",
    "compute_stats",
    "equity_curve",
    "open_store",
    "store_period",
    "trade_regimes",
]
