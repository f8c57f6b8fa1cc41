"""A run's results as one JSON object (``workstation backtest --json``), and the scenario
comparison table.

Pure functions of (store, metadata): nothing here looks at the clock, the configuration or
the market. ``analyze`` reads the store once; ``results_json`` and the report
(:mod:`workstation.research.report`) both render its result, so the JSON and the HTML show the
same numbers.

Usage::

    run = analyze(store_path, RunInfo(market="sim", universe_mode="point-in-time"),
                  benchmark_closes=spy_closes)
    print(json.dumps(results_json(run, scenarios=[other_run]), allow_nan=False))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from workstation.engine.trade_record import trade_record
from workstation.research.figures import Figures, json_value
from workstation.research.run_info import RunInfo
from workstation.research.stats import (
    BacktestStats,
    Period,
    StatsOptions,
    compute_stats,
    open_store,
)
from workstation.store import Store

# The columns of the scenario comparison table (JSON rows, the report's table, scenarios.csv).
COMPARISON_FIGURES: tuple[str, ...] = (
    "sessions",
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_duration",
    "calmar",
    "n_trades",
    "win_rate",
    "profit_factor",
    "expectancy_r",
    "exposure_sessions",
    "trades_per_year",
    "small_sample",
)


@dataclass(frozen=True)
class RunResult:
    """One analysed run: its metadata, the parameter hashes its scans used, its figures."""

    info: RunInfo
    param_hashes: tuple[str, ...]
    stats: BacktestStats

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def param_hash(self) -> str | None:
        """The given hash, else the last one the run's scans used."""
        if self.info.param_hash is not None:
            return self.info.param_hash
        return self.param_hashes[-1] if self.param_hashes else None


def scan_param_hashes(store: Store, period: Period) -> tuple[str, ...]:
    """The parameter-set hashes of the successful scans that fed the period's sessions (the
    last scan before its first session up to the scan of its last-but-one), in order of first
    use: a run whose parameters changed shows each."""
    start, end = period.start.isoformat(), period.end.isoformat()
    rows = store.db.query(
        """
        SELECT param_hash FROM scans
        WHERE status = 'ok' AND session < :end AND session >= COALESCE(
            (SELECT MAX(session) FROM scans WHERE status = 'ok' AND session < :start), :start)
        GROUP BY param_hash ORDER BY MIN(id)
        """,
        {"start": start, "end": end},
    )
    return tuple(r["param_hash"] for r in rows)


def analyze(
    store: Store | str | Path,
    info: RunInfo,
    *,
    benchmark_closes: pd.Series | None = None,
    options: StatsOptions | None = None,
) -> RunResult:
    """Read ``store`` over ``info.period`` and compute every figure."""
    with open_store(store) as st:
        stats = compute_stats(st, info.period, benchmark_closes=benchmark_closes, options=options)
        hashes = scan_param_hashes(st, stats.period)
    return RunResult(info=info, param_hashes=hashes, stats=stats)


def _groups_json(groups: Mapping[str, Figures]) -> dict[str, Any]:
    return {k: v.as_json() for k, v in groups.items()}


def comparison_row(run: RunResult) -> dict[str, Any]:
    """One row of the scenario table: the run's name, overrides, hash and key figures."""
    s = run.stats.stats
    row: dict[str, Any] = {
        "name": run.name,
        "overrides": {k: json_value(v) for k, v in run.info.overrides.items()},
        "fill_model": run.info.fill_model,
        "param_hash": run.param_hash,
    }
    row.update({k: json_value(s[k]) for k in COMPARISON_FIGURES})
    row["null_reasons"] = {k: s.null_reasons[k] for k in COMPARISON_FIGURES if k in s.null_reasons}
    return row


def results_json(run: RunResult, *, scenarios: Sequence[RunResult] = ()) -> dict[str, Any]:
    """The ``--json`` object of ``run``; with ``scenarios`` (the other named runs of the same
    command), ``scenarios`` is the comparison table: ``run`` first, then each of them. Every
    value is JSON-safe (``json.dumps(..., allow_nan=False)`` works): a figure that is not a
    finite number is null, with its reason in the group's ``null_reasons``."""
    st = run.stats
    info = run.info
    by_strategy = _groups_json(st.by_strategy)
    for name, excursions in st.excursions.items():
        by_strategy[name].update({k: v.as_json() for k, v in excursions.items()})
    return {
        "name": info.name,
        "period": {
            "start": st.period.start.isoformat(),
            "end": st.period.end.isoformat(),
            "sessions": len(st.returns),
        },
        "market": info.market,
        "data_source": info.data_source,
        "param_hash": run.param_hash,
        "param_hashes": list(run.param_hashes),
        "universe": {
            "mode": info.universe_mode,
            "coverage": None if info.coverage is None else info.coverage.as_json(),
        },
        "fill_model": info.fill_model,
        "costs": {k: json_value(v) for k, v in info.costs.items()},
        "assumptions": list(info.assumptions),
        "options": {
            "risk_free_rate": st.options.risk_free_rate,
            "min_trades": st.options.min_trades,
            "min_sessions": st.options.min_sessions,
        },
        "stats": st.stats.as_json(),
        "by_strategy": by_strategy,
        "by_regime": _groups_json(st.by_regime),
        "by_exit_reason": _groups_json(st.by_exit_reason),
        "by_year": _groups_json(st.by_year),
        "benchmark": st.benchmark.as_json(),
        "trades": [trade_record(t) for t in st.trades],
        "scenarios": [comparison_row(r) for r in (run, *scenarios)] if scenarios else [],
    }


def backtest_json(
    store: Store | str | Path,
    info: RunInfo,
    *,
    benchmark_closes: pd.Series | None = None,
    options: StatsOptions | None = None,
    scenarios: Sequence[RunResult] = (),
) -> dict[str, Any]:
    """``results_json(analyze(store, info, ...), scenarios=scenarios)`` in one call."""
    run = analyze(store, info, benchmark_closes=benchmark_closes, options=options)
    return results_json(run, scenarios=scenarios)


__all__ = [
    "COMPARISON_FIGURES",
    "RunResult",
    "analyze",
    "backtest_json",
    "comparison_row",
    "results_json",
    "scan_param_hashes",
]
