""" "What would this change do?" (issue 11.2): the parameters in force against the edited ones,
backtested over the same period and compared.

The two runs are ordinary backtests (``workstation report change`` runs them with one scan
service, so a change outside the scanner and strategy files scans once); this module compares
their results:

* the figures side by side (the scenario table's columns: return, Sharpe, drawdown, trades,
  win rate, profit factor, expectancy...) and the difference;
* both equity curves, session by session;
* the trades that differ. A trade is keyed by its entry session, symbol, strategy and side,
  the same signal on both sides; it is *only with the current values*, *only with the edited
  ones*, or *in both*, and a trade in both differs when its size, exit (reason, time, price) or
  P&L does. Trades that are the same on both sides are counted, not listed.

Nothing here runs a backtest or reads a clock: pure functions of two analysed runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from workstation.engine.trade_record import trade_record
from workstation.research.figures import json_value
from workstation.research.results import COMPARISON_FIGURES, RunResult
from workstation.store import TradeRow

TradeKey = tuple[date, str, str, str]  # entry session, symbol, strategy, side

#: A P&L difference below a cent is no difference (float sums of the same fills).
CENT = 0.005


def trade_key(t: TradeRow) -> TradeKey:
    return (t.entry_session, t.symbol, t.strategy, t.side)


@dataclass(frozen=True)
class TradeChange:
    """One signal traded differently (or only) with the edited values."""

    key: TradeKey
    current: TradeRow | None
    edited: TradeRow | None

    @property
    def kind(self) -> str:
        if self.current is None:
            return "edited_only"
        return "current_only" if self.edited is None else "both"

    @property
    def pnl_difference(self) -> float:
        """Edited P&L minus current P&L (a trade on one side only counts whole)."""
        return (self.edited.pnl if self.edited else 0.0) - (
            self.current.pnl if self.current else 0.0
        )

    def what(self) -> str:
        """The difference in words."""
        a, b = self.current, self.edited
        if a is None:
            return "only with the edited values"
        if b is None:
            return "only with the current values"
        parts = []
        if a.qty != b.qty:
            parts.append(f"size {a.qty:g} -> {b.qty:g}")
        if a.exit_reason != b.exit_reason:
            parts.append(f"exit {a.exit_reason} -> {b.exit_reason}")
        if a.exit_session != b.exit_session:
            parts.append(f"exit day {a.exit_session} -> {b.exit_session}")
        elif a.exit_at != b.exit_at:
            parts.append("exit time")
        if abs(a.exit_price - b.exit_price) > 1e-9:
            parts.append(f"exit price {a.exit_price:,.2f} -> {b.exit_price:,.2f}")
        return ", ".join(parts) or "P&L"

    def as_json(self) -> dict[str, Any]:
        d, symbol, strategy, side = self.key
        return {
            "entry_session": d.isoformat(),
            "symbol": symbol,
            "strategy": strategy,
            "side": side,
            "kind": self.kind,
            "what": self.what(),
            "current": None if self.current is None else trade_record(self.current),
            "edited": None if self.edited is None else trade_record(self.edited),
            "pnl_difference": round(self.pnl_difference, 2),
        }


def _differs(a: TradeRow, b: TradeRow) -> bool:
    return (
        a.qty != b.qty
        or a.exit_reason != b.exit_reason
        or a.exit_at != b.exit_at
        or abs(a.exit_price - b.exit_price) > 1e-9
        or abs(a.pnl - b.pnl) >= CENT
    )


def trade_changes(
    current: Sequence[TradeRow], edited: Sequence[TradeRow]
) -> tuple[list[TradeChange], int]:
    """The signals traded differently, in entry order, and how many are the same."""
    a = {trade_key(t): t for t in current}
    b = {trade_key(t): t for t in edited}
    out, same = [], 0
    for key in sorted(a.keys() | b.keys()):
        ta, tb = a.get(key), b.get(key)
        if ta is not None and tb is not None and not _differs(ta, tb):
            same += 1
            continue
        out.append(TradeChange(key, ta, tb))
    return out, same


def equity_points(run: RunResult) -> list[list[Any]]:
    """``[[session, equity], ...]``, the start first (the session before the period)."""
    curve = run.stats.curve
    points: list[list[Any]] = [["start", round(curve.start_equity, 2)]]
    for ts, v in curve.end_of_day.items():
        points.append([ts.date().isoformat(), round(float(v), 2)])
    return points


def figures(run: RunResult) -> dict[str, Any]:
    s = run.stats.stats
    return {k: json_value(s[k]) for k in COMPARISON_FIGURES}


def _difference(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in COMPARISON_FIGURES:
        x, y = a.get(k), b.get(k)
        both_numbers = isinstance(x, int | float) and isinstance(y, int | float)
        out[k] = y - x if both_numbers and not isinstance(x, bool) else None
    return out


def preview_json(
    current: RunResult,
    edited: RunResult,
    changes: Mapping[str, tuple[Any, Any]],
    *,
    stores: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The preview as one JSON object (``workstation report change --json``)."""
    diffs, same = trade_changes(current.stats.trades, edited.stats.trades)
    fa, fb = figures(current), figures(edited)
    period = current.stats.period
    kinds = [d.kind for d in diffs]
    return {
        "period": {
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "sessions": len(current.stats.returns),
        },
        "market": current.info.market,
        "data_source": current.info.data_source,
        "changes": [
            {"key": k, "current": json_value(a), "edited": json_value(b)}
            for k, (a, b) in changes.items()
        ],
        "current": {
            "param_hash": current.param_hash,
            "stats": fa,
            "equity": equity_points(current),
            "store": (stores or {}).get("current"),
        },
        "edited": {
            "param_hash": edited.param_hash,
            "stats": fb,
            "equity": equity_points(edited),
            "store": (stores or {}).get("edited"),
        },
        "difference": _difference(fa, fb),
        "trades": {
            "same": same,
            "differing": kinds.count("both"),
            "current_only": kinds.count("current_only"),
            "edited_only": kinds.count("edited_only"),
            "pnl_difference": round(sum(d.pnl_difference for d in diffs), 2),
        },
        "differing_trades": [d.as_json() for d in diffs],
    }


def summary_line(doc: Mapping[str, Any]) -> str:
    """One line for the parameter history: what the change was expected to do."""
    a, b = doc["current"]["stats"], doc["edited"]["stats"]
    t = doc["trades"]
    p = doc["period"]

    def pct(v: Any) -> str:
        return "n/a" if v is None else f"{v:+.1%}"

    def num(v: Any) -> str:
        return "n/a" if v is None else f"{v:.2f}"

    changes = ", ".join(f"{c['key']} {c['current']} -> {c['edited']}" for c in doc["changes"])
    return (
        f"{changes}: backtest {p['start']} .. {p['end']}: return {pct(a['total_return'])} -> "
        f"{pct(b['total_return'])}, Sharpe {num(a['sharpe'])} -> {num(b['sharpe'])}, max "
        f"drawdown {pct(a['max_drawdown'])} -> {pct(b['max_drawdown'])}, trades "
        f"{a['n_trades']} -> {b['n_trades']} ({t['differing']} differ, "
        f"{t['current_only']} dropped, {t['edited_only']} added)"
    )


__all__ = [
    "TradeChange",
    "equity_points",
    "figures",
    "preview_json",
    "summary_line",
    "trade_changes",
    "trade_key",
]
