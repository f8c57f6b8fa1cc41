"""The backtests made from a home, read back: what the research window shows and compares.

``workstation backtest`` lists each finished run in the home's store (``Store.backtests()``)
with the path of its own store file. Everything here reads those files and nothing else: the
figures through :func:`~workstation.research.results.analyze` (the benchmark from the bars the
run kept, :mod:`workstation.research.run_bars`), the parameters from the set recorded in the
run's store, a trade's chart from its position and the kept bars. Slow parts (a long run's
analysis takes about a second) are for a worker thread; nothing here knows about Qt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from workstation.core.config import Config
from workstation.core.param_sets import config_with_params, flat_params, param_differences
from workstation.core.schema import SchemaError
from workstation.research.backtest import ASSUMPTIONS
from workstation.research.results import RunResult, analyze
from workstation.research.run_bars import kept_bars, kept_closes
from workstation.research.run_info import Coverage, RunInfo
from workstation.research.stats import Period, StatsOptions, open_store
from workstation.store import BacktestRow, Store, TradeRow

#: The benchmark when a run's parameter set does not name one.
DEFAULT_BENCHMARK = "SPY"


class RunUnreadable(Exception):
    """A listed run whose store cannot be read (moved, deleted, damaged): one line why."""


@dataclass(frozen=True)
class OpenedRun:
    """A listed run read back: its listing, its figures and its parameters (flat keys)."""

    row: BacktestRow
    result: RunResult
    params: Mapping[str, Any]
    config: Config | None = None  # its trading parameters (None: not recorded or no longer valid)

    @property
    def id(self) -> str:
        return self.row.id

    @property
    def path(self) -> Path:
        return Path(self.row.path)

    def param(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)


def listed_runs(db_path: Path) -> list[BacktestRow]:
    """The runs listed in the home's store at ``db_path``, newest first (none if absent)."""
    if not Path(db_path).is_file():
        return []
    with Store.open(db_path, integrity_check=False) as store:
        return store.backtests()


def run_info(row: BacktestRow) -> RunInfo:
    """What the listing says about a run (costs and coverage: runs listed since they are
    recorded; older ones show them as not reported)."""
    s = row.summary
    cov = s.get("coverage")
    return RunInfo(
        market=row.market,
        universe_mode=row.universe_mode,
        coverage=None if not cov else Coverage(int(cov["members"]), int(cov["with_data"])),
        param_hash=row.param_hash,
        period=Period(row.first_session, row.last_session),
        data_source=row.data_source,
        fill_model=row.fill_model,
        costs=dict(s.get("costs") or {}),
        assumptions=ASSUMPTIONS,
        name=row.scenario,
        overrides=dict(row.overrides),
    )


def _params_of(store: Store, param_hash: str) -> tuple[dict[str, Any], Config | None]:
    """The run's parameter set as flat keys, and as a configuration (app.yaml's defaults)."""
    got = store.param_set(param_hash)
    if got is None:
        return {}, None
    data = yaml.safe_load(got.yaml)
    try:
        config: Config | None = config_with_params(Config(), got.yaml)
    except SchemaError:  # recorded by a version whose parameters no longer validate
        config = None
    return (flat_params(data) if isinstance(data, Mapping) else {}), config


def open_run(row: BacktestRow, *, min_trades: int | None = None) -> OpenedRun:
    """Read the run ``row`` lists: its figures (SPY from the bars it kept) and parameters."""
    path = Path(row.path)
    if not path.is_file():
        raise RunUnreadable(f"the store of run {row.id} is gone ({path}); run it again")
    options = StatsOptions(risk_free_rate=float(row.summary.get("risk_free_rate") or 0.0))
    if min_trades is not None:
        options = StatsOptions(options.risk_free_rate, min_trades, options.min_sessions)
    try:
        with open_store(path) as store:
            params, config = _params_of(store, row.param_hash)
            bench = str(params.get("scanner.universe.benchmark") or DEFAULT_BENCHMARK)
            closes = kept_closes(store, bench)
            result = analyze(store, run_info(row), benchmark_closes=closes, options=options)
    except Exception as exc:  # a damaged or foreign file: say which and why, in one line
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RunUnreadable(f"run {row.id} cannot be read from {path}: {first}") from None
    return OpenedRun(row, result, params, config)


# ------------------------------------------------------------------ two runs compared
def run_settings(run: OpenedRun) -> dict[str, Any]:
    """What a run was made with besides its trading parameters, keyed like them."""
    row = run.row
    out: dict[str, Any] = {
        "period": f"{row.first_session} to {row.last_session}",
        "market": row.market,
        "data source": row.data_source,
        "universe": row.universe_mode,
        "app.backtest.fill_model": row.fill_model,
    }
    for name, value in (row.summary.get("costs") or {}).items():
        out[f"app.backtest.{name}"] = value
    if "risk_free_rate" in row.summary:
        out["app.backtest.risk_free_rate"] = row.summary["risk_free_rate"]
    return out


def parameter_differences(a: OpenedRun, b: OpenedRun) -> list[tuple[str, Any, Any]]:
    """Every setting and trading parameter whose value differs between two runs (key,
    value in ``a``, value in ``b``): the run settings first, then the parameters by key."""
    settings = param_differences(run_settings(a), run_settings(b))
    params = param_differences(a.params, b.params)
    return settings + params


# ------------------------------------------------------------------ a trade on the chart
@dataclass(frozen=True)
class TradeChart:
    """A trade and the daily bars around it, with the levels it was managed by.

    ``bars``: daily bars indexed by session, the last ``show`` of them shown (the ones before
    are the indicators' warm-up). ``entry_index`` / ``exit_index``: the shown bars of the entry
    and exit sessions; ``sltp_index``: the first shown bar on which the stop loss and take
    profit applied (day ``sltp_from_day``); before it only the emergency exit at ``emergency``
    did."""

    trade: TradeRow
    bars: pd.DataFrame
    show: int
    entry_index: int
    exit_index: int
    sl: float | None
    tp: float | None
    emergency: float | None
    sltp_index: int

    @property
    def dates(self) -> list[date]:
        """The sessions of the shown bars."""
        return [d.date() for d in self.bars.index[len(self.bars) - self.show :]]


def _bar_index(dates: Sequence[date], day: date) -> int:
    """The bar of ``day``, or of the first bar after it (the last bar if none)."""
    for i, d in enumerate(dates):
        if d >= day:
            return i
    return max(len(dates) - 1, 0)


def trade_chart(
    run: OpenedRun, trade: TradeRow, *, before: int = 20, after: int = 8, warmup: int = 260
) -> TradeChart:
    """The chart of ``trade`` (a trade of ``run``): ``before`` sessions before its entry to
    ``after`` after its exit shown, with ``warmup`` sessions more before them for the
    indicators, from the bars the run kept."""
    days = (before + warmup) * 7 // 5 + 10
    start = pd.Timestamp(trade.entry_session) - pd.Timedelta(days=days)
    end = pd.Timestamp(trade.exit_session) + pd.Timedelta(days=after * 7 // 5 + 10)
    with open_store(run.path) as store:
        position = store.get_position(trade.position_id)
        got = kept_bars(store, trade.symbol, start.date(), end.date())
    bars = got.set_index(pd.DatetimeIndex(got["date"])).drop(columns=["date"])
    dates = [d.date() for d in bars.index]
    entry, exit_ = _bar_index(dates, trade.entry_session), _bar_index(dates, trade.exit_session)
    bars = bars.iloc[: exit_ + after + 1]
    first = max(entry - before, 0)
    show = len(bars) - first
    sl = tp = None
    if position is not None:
        sl = position.sl_manual if position.sl_manual is not None else position.sl
        tp = position.tp_manual if position.tp_manual is not None else position.tp
    sltp_day = int(run.param("risk.exits.sltp_from_day", 2))
    pct = run.param("risk.exits.emergency_pct")
    sign = 1.0 if trade.side == "long" else -1.0
    emergency = None if pct is None else trade.entry_price * (1.0 - sign * float(pct))
    return TradeChart(
        trade=trade,
        bars=bars,
        show=show,
        entry_index=entry - first,
        exit_index=exit_ - first,
        sl=sl,
        tp=tp,
        emergency=emergency,
        sltp_index=min(entry + sltp_day - 1, exit_) - first,
    )


# ------------------------------------------------------------------ a stopped run
def delete_store(db: Path) -> list[Path]:
    """Delete the SQLite file ``db`` with its write-ahead log and index; the files removed."""
    removed = []
    for part in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        if part.exists():
            part.unlink()
            removed.append(part)
    return removed


def remove_unlisted(db_path: Path, stores: Iterable[Path]) -> list[Path]:
    """Delete each of ``stores`` (the files a stopped run was writing) that the home's store
    does not list as a finished run; returns the files removed. A listed run is never
    touched: only a finished run is listed, and its store is a result."""
    listed = {Path(r.path).resolve() for r in listed_runs(db_path)}
    removed: list[Path] = []
    for db in stores:
        db = Path(db)
        if db.resolve() not in listed:
            removed.extend(delete_store(db))
    return removed


__all__ = [
    "DEFAULT_BENCHMARK",
    "OpenedRun",
    "RunUnreadable",
    "TradeChart",
    "delete_store",
    "listed_runs",
    "open_run",
    "parameter_differences",
    "remove_unlisted",
    "run_info",
    "run_settings",
    "trade_chart",
]
