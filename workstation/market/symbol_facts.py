"""Public facts per real symbol that the simulated market starts from.

The table ``data/symbol_facts.csv`` ships with the package: for each S&P 500 member of
September 2022 and SPY, the closing price and median daily dollar volume on the table's date
(2022-09-09), and the long-run annualised volatility and beta to SPY (2011-09 to 2022-09).
``scripts/make_symbol_facts.py`` derives it from the real daily bars in ``../shared/data``
(which the package does not ship) and documents every column.

A symbol the table does not know (a member listed later, a user's own universe) gets the
facts of a table row drawn at random by the simulation: realistic, if not its own.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from importlib import resources

import numpy as np
import pandas as pd

FACTS_FILE = "symbol_facts.csv"
_FIELDS = ("close", "vol", "beta", "dollar_volume")


class SymbolFactsError(RuntimeError):
    """The shipped table is missing or unreadable: a broken installation."""


@dataclass(frozen=True)
class SymbolFacts:
    """Facts of N symbols in a given order; NaN (and ``known`` False) where unknown."""

    close: np.ndarray  # price on ``day``
    vol: np.ndarray  # annualised volatility of daily log returns, long run
    beta: np.ndarray  # slope on SPY's daily log returns, long run
    dollar_volume: np.ndarray  # median close x volume a day, the year to ``day``
    day: date

    @property
    def known(self) -> np.ndarray:
        return np.isfinite(self.close)

    def __len__(self) -> int:
        return len(self.close)


@dataclass(frozen=True)
class _Table:
    symbols: tuple[str, ...]
    values: np.ndarray  # (n, 4) in _FIELDS order
    day: date
    index: dict[str, int]


@functools.lru_cache(maxsize=1)
def _table() -> _Table:
    try:
        ref = resources.files("workstation.market").joinpath("data", FACTS_FILE)
        with ref.open("r", encoding="utf-8") as f:
            df = pd.read_csv(f, dtype={"symbol": str, "date": str})
    except (OSError, ValueError) as exc:
        raise SymbolFactsError(
            f"the simulated market's table of symbol facts ({FACTS_FILE}) could not be read "
            f"({exc}); reinstall the workstation"
        ) from exc
    days = set(df["date"])
    if len(days) != 1:
        raise SymbolFactsError(f"{FACTS_FILE} mixes dates {sorted(days)}; regenerate it")
    symbols = tuple(df["symbol"])
    values = df[list(_FIELDS)].to_numpy(dtype=np.float64)
    index = {s: i for i, s in enumerate(symbols)}
    return _Table(symbols, values, date.fromisoformat(days.pop()), index)


def facts_date() -> date:
    """The session the table's prices and dollar volumes describe."""
    return _table().day


def facts_for(symbols: Sequence[str]) -> SymbolFacts:
    """The table's facts of ``symbols`` (NaN rows for symbols it does not know)."""
    t = _table()
    rows = np.array([t.index.get(s, -1) for s in symbols], dtype=np.int64)
    out = np.full((len(rows), len(_FIELDS)), np.nan)
    known = rows >= 0
    out[known] = t.values[rows[known]]
    return SymbolFacts(*(out[:, k].copy() for k in range(len(_FIELDS))), day=t.day)


def stock_rows(benchmark: str = "SPY") -> np.ndarray:
    """(n, 4) close, vol, beta, dollar volume of every stock in the table (the benchmark left
    out): the population a symbol without facts of its own is drawn from."""
    t = _table()
    keep = np.array([s != benchmark for s in t.symbols])
    return t.values[keep]
