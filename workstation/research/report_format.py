"""How each figure reads in the report: its label and its number format."""

from __future__ import annotations

from typing import Any

from workstation.research.figures import is_missing

# name -> (label, kind); kind: pct, ratio, r, money, int, num, days, text, bool
FIGURES: dict[str, tuple[str, str]] = {
    "start_equity": ("Starting equity", "money"),
    "end_equity": ("Final equity", "money"),
    "risk_free_rate": ("Risk-free rate (annual)", "pct"),
    "sessions": ("Sessions", "int"),
    "total_return": ("Total return", "pct"),
    "cagr": ("CAGR", "pct"),
    "annual_volatility": ("Volatility (annual)", "pct"),
    "sharpe": ("Sharpe", "ratio"),
    "sortino": ("Sortino", "ratio"),
    "max_drawdown": ("Max drawdown", "pct"),
    "max_drawdown_duration": ("Max drawdown duration (sessions)", "int"),
    "max_drawdown_peak": ("Max drawdown peak", "text"),
    "max_drawdown_trough": ("Max drawdown trough", "text"),
    "max_drawdown_recovery": ("Max drawdown recovered on", "text"),
    "longest_drawdown": ("Longest drawdown (sessions)", "int"),
    "calmar": ("Calmar", "ratio"),
    "short_period": ("Shorter than a year", "bool"),
    "n_trades": ("Trades", "int"),
    "small_sample": ("Small sample", "bool"),
    "wins": ("Winners", "int"),
    "losses": ("Losers", "int"),
    "win_rate": ("Win rate", "pct"),
    "net_pnl": ("Net P&L", "money"),
    "gross_profit": ("Gross profit", "money"),
    "gross_loss": ("Gross loss", "money"),
    "profit_factor": ("Profit factor", "ratio"),
    "expectancy_r": ("Expectancy (R per trade)", "r"),
    "avg_win_r": ("Average winner", "r"),
    "avg_loss_r": ("Average loser", "r"),
    "best_r": ("Best trade", "r"),
    "worst_r": ("Worst trade", "r"),
    "avg_days_held": ("Average days held", "num"),
    "exposure_sessions": ("Sessions with a position", "pct"),
    "avg_gross_exposure": ("Average gross exposure", "pct"),
    "max_gross_exposure": ("Max gross exposure", "pct"),
    "trades_per_year": ("Trades per year", "num"),
    "symbol": ("Symbol", "text"),
    "base_date": ("Bought at the close of", "text"),
    "base_close": ("Buy price", "num"),
    "end_close": ("Last close", "num"),
    "missing_closes": ("Sessions without a close", "int"),
    "base_note": ("Note", "text"),
}

# The trade list's columns (the trade record's keys) as the report prints them.
TRADE_COLUMNS: dict[str, tuple[str, str]] = {
    "symbol": ("Symbol", "text"),
    "side": ("Side", "text"),
    "strategy": ("Strategy", "text"),
    "qty": ("Qty", "int"),
    "entry_session": ("Entry session", "text"),
    "entry_price": ("Entry", "price"),
    "exit_price": ("Exit", "price"),
    "exit_at": ("Exit at (ET)", "time"),
    "reason": ("Reason", "text"),
    "days_held": ("Days", "int"),
    "pnl": ("P&L", "money"),
    "r": ("R", "r"),
    "mfe_pct": ("MFE %", "pct"),
    "mae_pct": ("MAE %", "pct"),
    "mfe_r": ("MFE", "r"),
    "mae_r": ("MAE", "r"),
}

MISSING = "\u2014"  # an em dash: the cell of a figure without a value


def label(name: str, table: dict[str, tuple[str, str]] = FIGURES) -> str:
    return table.get(name, (name.replace("_", " ").capitalize(), "num"))[0]


def fmt(name: str, value: Any, table: dict[str, tuple[str, str]] = FIGURES) -> str:
    """``value`` of figure (or trade column) ``name`` as the report prints it."""
    if is_missing(value):
        return MISSING
    kind = table.get(name, ("", "num"))[1]
    if kind == "time":  # 2024-03-11T15:50:01-04:00 -> 2024-03-11 15:50:01
        return str(value)[:19].replace("T", " ")
    if kind == "bool" or isinstance(value, bool):
        return "yes" if value else "no"
    if kind == "text" or isinstance(value, str):
        return str(value)
    v = float(value)
    if kind == "pct":
        return f"{v:.2%}"
    if kind in ("ratio", "price"):
        return f"{v:,.2f}"
    if kind == "r":
        return f"{v:+.2f}R"
    if kind == "money":
        return f"{v:,.2f}"
    if kind == "int":
        return f"{int(v):,}"
    return f"{v:,.2f}"


__all__ = ["FIGURES", "MISSING", "TRADE_COLUMNS", "fmt", "label"]
