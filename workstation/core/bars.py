"""Daily bars of a whole universe as aligned 2-D arrays (sessions x symbols).

The scanner computes indicators for every symbol at once, so bars are kept
"wide": one float64 array per field, shape (T sessions, N symbols), NaN where a
symbol has no bar on a session. Markets return this type; conversions to and
from the long format (``date, symbol, open, high, low, close, volume``) live here.

Bars that went through the data validation of trading rules §14
(:mod:`workstation.market.validation`) carry ``flags``: per cell, what was found
(:class:`BarFlag`). The flags travel with every slice, so the scan (and a backtest) can
tell a symbol with a bad bar in its window from one with a plain gap.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume")


class BarFlag(enum.IntFlag):
    """What the validation found in one (session, symbol) cell (trading rules §14)."""

    INVALID = 1  # a price not finite or <= 0, or a volume not finite or negative
    DUPLICATE_CONFLICT = 2  # two rows for the same (symbol, session) disagree
    SPIKE = 4  # close far from the previous close and back the next session
    REPAIRED = 8  # high/low did not bracket open/close: widened
    ZERO_VOLUME = 16  # no shares traded that session


#: Flags of a bar that is not served at all: its cell is NaN, the symbol does not trade that
#: session, and a scan whose window holds it finds the symbol ineligible.
NOT_SERVED = BarFlag.INVALID | BarFlag.DUPLICATE_CONFLICT | BarFlag.SPIKE


@dataclass(frozen=True, eq=False)
class DailyBars:
    """Aligned daily OHLCV of many symbols.

    ``dates`` are session dates (``datetime64[D]``, ascending, unique);
    ``symbols`` the column order; each field an array of shape (T, N).
    ``flags``: the validation's :class:`BarFlag` bits per cell (uint8, shape (T, N)), or None
    for bars that were not validated.
    """

    dates: np.ndarray
    symbols: tuple[str, ...]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    flags: np.ndarray | None = None
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        dates = np.asarray(self.dates, dtype="datetime64[D]")
        object.__setattr__(self, "dates", dates)
        object.__setattr__(self, "symbols", tuple(self.symbols))
        shape = (len(dates), len(self.symbols))
        for name in FIELDS:
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            if arr.shape != shape:
                raise ValueError(f"DailyBars.{name} has shape {arr.shape}, expected {shape}")
            object.__setattr__(self, name, arr)
        if self.flags is not None:
            flags = np.asarray(self.flags, dtype=np.uint8)
            if flags.shape != shape:
                raise ValueError(f"DailyBars.flags has shape {flags.shape}, expected {shape}")
            object.__setattr__(self, "flags", flags)
        if len(dates) > 1 and not np.all(dates[1:] > dates[:-1]):
            raise ValueError("DailyBars.dates must be strictly ascending")
        object.__setattr__(self, "_index", {s: i for i, s in enumerate(self.symbols)})

    # -- shape -------------------------------------------------------------
    @property
    def n_sessions(self) -> int:
        return len(self.dates)

    @property
    def n_symbols(self) -> int:
        return len(self.symbols)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._index

    def col(self, symbol: str) -> int:
        """Column index of ``symbol`` (KeyError if absent)."""
        return self._index[symbol]

    @property
    def last_date(self) -> date | None:
        return None if len(self.dates) == 0 else self.dates[-1].astype(object)

    # -- slicing -----------------------------------------------------------
    def upto(self, day: date) -> DailyBars:
        """Sessions up to and including ``day``."""
        end = int(np.searchsorted(self.dates, np.datetime64(day, "D"), side="right"))
        return self._rows(slice(0, end))

    def tail(self, n: int) -> DailyBars:
        return self._rows(slice(max(0, self.n_sessions - n), self.n_sessions))

    def select(self, symbols: Sequence[str]) -> DailyBars:
        """Only ``symbols`` (in that order); unknown symbols raise KeyError."""
        idx = [self._index[s] for s in symbols]
        flags = None if self.flags is None else self.flags[:, idx]
        return DailyBars(
            self.dates, tuple(symbols), *(getattr(self, f)[:, idx] for f in FIELDS), flags=flags
        )

    def _rows(self, rows: slice) -> DailyBars:
        flags = None if self.flags is None else self.flags[rows]
        return DailyBars(
            self.dates[rows], self.symbols, *(getattr(self, f)[rows] for f in FIELDS), flags=flags
        )

    # -- validation flags --------------------------------------------------
    def flagged(self, flag: BarFlag) -> np.ndarray:
        """(T, N) mask of the cells with any bit of ``flag`` (all False when not validated)."""
        if self.flags is None:
            return np.zeros(self.close.shape, dtype=bool)
        return (self.flags & np.uint8(flag)) != 0

    # -- per-symbol view ---------------------------------------------------
    def frame(self, symbol: str, dropna: bool = True) -> pd.DataFrame:
        """One symbol's bars as a DataFrame indexed by date (rows without a close dropped)."""
        j = self._index[symbol]
        df = pd.DataFrame(
            {f: getattr(self, f)[:, j] for f in FIELDS},
            index=pd.DatetimeIndex(self.dates, name="date"),
        )
        return df.dropna(subset=["close"]) if dropna else df

    def last_bar_date(self) -> np.ndarray:
        """Per symbol, the date of its last bar with a finite close (NaT when none)."""
        has = np.isfinite(self.close)
        out = np.full(self.n_symbols, np.datetime64("NaT"), dtype="datetime64[D]")
        if self.n_sessions == 0:
            return out
        any_bar = has.any(axis=0)
        last = self.n_sessions - 1 - np.argmax(has[::-1], axis=0)
        out[any_bar] = self.dates[last[any_bar]]
        return out

    # -- long format -------------------------------------------------------
    def to_long(self) -> pd.DataFrame:
        t, n = self.close.shape
        df = pd.DataFrame(
            {
                "date": np.repeat(self.dates, n),
                "symbol": np.tile(np.array(self.symbols, dtype=object), t),
                **{f: getattr(self, f).reshape(-1) for f in FIELDS},
            }
        )
        return df.dropna(subset=["close"]).reset_index(drop=True)

    @classmethod
    def from_long(cls, df: pd.DataFrame, symbols: Iterable[str] | None = None) -> DailyBars:
        """Build from a long frame with columns ``date, symbol`` and the OHLCV fields.

        Duplicate (date, symbol) rows keep the last one.
        """
        d = df.dropna(subset=["symbol", "date"])
        sym_col = d["symbol"].astype(str).to_numpy()
        day_col = (
            pd.to_datetime(d["date"])
            .dt.tz_localize(None)
            .dt.normalize()
            .to_numpy()
            .astype("datetime64[D]")
        )
        keep = ~pd.DataFrame({"d": day_col, "s": sym_col}).duplicated(keep="last").to_numpy()
        sym_col, day_col = sym_col[keep], day_col[keep]
        dates, rows = np.unique(day_col, return_inverse=True)
        syms = tuple(sorted(set(sym_col.tolist()))) if symbols is None else tuple(symbols)
        index = {s: j for j, s in enumerate(syms)}
        cols = np.fromiter((index.get(s, -1) for s in sym_col), dtype=np.int64, count=len(sym_col))
        known = cols >= 0
        arrays = {}
        for f in FIELDS:
            # A scatter into (T, N) arrays: the same as five pandas pivots, ~3x faster.
            out = np.full((len(dates), len(syms)), np.nan)
            values = pd.to_numeric(d[f], errors="coerce").to_numpy(dtype=np.float64)[keep]
            out[rows[known], cols[known]] = values[known]
            arrays[f] = out
        return cls(dates, syms, **arrays)

    @classmethod
    def empty(cls, symbols: Sequence[str] = ()) -> DailyBars:
        z = np.empty((0, len(symbols)))
        return cls(np.array([], dtype="datetime64[D]"), tuple(symbols), z, z, z, z, z)
