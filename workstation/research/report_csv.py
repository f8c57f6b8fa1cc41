"""The report's CSV files: the same figures as the JSON, one table each, for a spreadsheet.

Numbers are written at full precision (Python's shortest round-tripping form), a missing
figure as an empty cell with its reason in the ``null_reason(s)`` column, booleans as
``True``/``False``.

- ``trades.csv``: one row per trade, the columns of the trade record (``TRADE_FIELDS``);
- ``equity.csv``: per session, end-of-day equity, daily return, drawdown, benchmark value;
- ``stats.csv``, ``benchmark.csv``: ``figure, value, null_reason``;
- ``by_strategy.csv``, ``by_regime.csv``, ``by_exit_reason.csv``, ``by_year.csv``: one row per
  group, one column per figure, then ``null_reasons`` (``figure: reason; ...``);
- ``mfe_mae.csv``: per strategy and measure (``mfe_r``, ``mae_r``), count, mean, percentiles;
- ``scenarios.csv`` (several runs only): the comparison table.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from workstation.engine.trade_record import TRADE_FIELDS, trade_record
from workstation.research.figures import Figures, json_value
from workstation.research.results import COMPARISON_FIGURES, RunResult, comparison_row

BREAKDOWNS: tuple[str, ...] = ("by_strategy", "by_regime", "by_exit_reason", "by_year")


def _cell(v: Any) -> Any:
    v = json_value(v)
    return "" if v is None else v


def _write(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows([[_cell(v) for v in row] for row in rows])
    return path


def _reasons(reasons: Mapping[str, str]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in reasons.items())


def figures_csv(path: Path, figures: Figures) -> Path:
    rows = [(k, v, figures.null_reasons.get(k, "")) for k, v in figures.items()]
    return _write(path, ("figure", "value", "null_reason"), rows)


def groups_csv(path: Path, key: str, groups: Mapping[str, Figures]) -> Path:
    names: list[str] = []
    for g in groups.values():
        names += [k for k in g if k not in names]
    rows = [
        [group, *(g.values.get(n) for n in names), _reasons(g.null_reasons)]
        for group, g in groups.items()
    ]
    return _write(path, (key, *names, "null_reasons"), rows)


def equity_csv(path: Path, run: RunResult) -> Path:
    st = run.stats
    bench = st.benchmark_curve
    frame = pd.DataFrame(
        {
            "equity": st.curve.end_of_day,
            "return": st.returns,
            "drawdown": st.drawdown,
            "benchmark": bench if bench is not None else float("nan"),
        }
    )
    rows = [
        [d.date().isoformat(), *row] for d, row in zip(frame.index, frame.to_numpy(), strict=True)
    ]
    return _write(path, ("session", "equity", "return", "drawdown", "benchmark"), rows)


def write_csvs(
    directory: Path, run: RunResult, scenarios: Sequence[RunResult] = ()
) -> dict[str, Path]:
    """Every CSV of the report into ``directory``; returns them by name (``trades`` ...)."""
    st = run.stats
    out = {
        "trades": _write(
            directory / "trades.csv",
            TRADE_FIELDS,
            [list(trade_record(t).values()) for t in st.trades],  # keys in TRADE_FIELDS order
        ),
        "equity": equity_csv(directory / "equity.csv", run),
        "stats": figures_csv(directory / "stats.csv", st.stats),
        "benchmark": figures_csv(directory / "benchmark.csv", st.benchmark),
    }
    for name, key in zip(BREAKDOWNS, ("strategy", "regime", "exit_reason", "year"), strict=True):
        out[name] = groups_csv(directory / f"{name}.csv", key, getattr(st, name))
    rows = []
    for strategy, measures in st.excursions.items():
        for measure, q in measures.items():
            rows.append([strategy, measure, *q.values.values(), _reasons(q.null_reasons)])
    some = next(iter(next(iter(st.excursions.values()), {}).values()), None)
    cols = list(some) if some is not None else ["n", "mean", "p10", "p25", "p50", "p75", "p90"]
    out["mfe_mae"] = _write(
        directory / "mfe_mae.csv", ("strategy", "measure", *cols, "null_reasons"), rows
    )
    if scenarios:
        table = [comparison_row(r) for r in (run, *scenarios)]
        head = ("name", "overrides", "fill_model", "param_hash", *COMPARISON_FIGURES)
        out["scenarios"] = _write(
            directory / "scenarios.csv",
            (*head, "null_reasons"),
            [
                [
                    r["name"],
                    json.dumps(r["overrides"], sort_keys=True),
                    *(r[k] for k in head[2:]),
                    _reasons(r["null_reasons"]),
                ]
                for r in table
            ],
        )
    return out


__all__ = ["BREAKDOWNS", "equity_csv", "figures_csv", "groups_csv", "write_csvs"]
