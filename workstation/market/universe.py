"""The scanned universe: current S&P 500 members with GICS sectors, or a user's CSV.

The default comes from the ``pitindex`` package, which ships ``sp500_current.csv``
(ticker, gics_sector, ...) inside the wheel: it is read straight from the installed
package, so it works offline and costs a few milliseconds. Tickers keep the dot style
Alpaca uses (``BRK.B``); a hyphen style (``BRK-B``, Yahoo's) is converted.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from workstation.core.models import Universe

BENCHMARK = "SPY"
UNKNOWN_SECTOR = "Unknown"

# The eleven GICS sectors (names exactly as S&P and pitindex spell them).
GICS_SECTORS: tuple[str, ...] = (
    "Communication Services",
    "Consumer Discretionary",
    "Consumer Staples",
    "Energy",
    "Financials",
    "Health Care",
    "Industrials",
    "Information Technology",
    "Materials",
    "Real Estate",
    "Utilities",
)


class UniverseError(ValueError):
    """A universe file that cannot be used; the message names the file and the fix."""


def normalize_symbol(raw: object) -> str:
    """``brk-b`` / ``BRK-B`` / `` BRK.B `` -> ``BRK.B`` (Alpaca's class-share style)."""
    return str(raw).strip().upper().replace("-", ".").replace("/", ".")


def sp500_universe(benchmark: str = BENCHMARK) -> Universe:
    """The current S&P 500 members (503 share classes) with their GICS sectors."""
    try:
        ref = resources.files("pitindex.data").joinpath("sp500_current.csv")
        with resources.as_file(ref) as path:
            df = pd.read_csv(path, usecols=["ticker", "gics_sector"], dtype=str)
    except (ModuleNotFoundError, FileNotFoundError, ValueError) as exc:
        # Only a broken installation gets here: pitindex is a runtime dependency.
        raise UniverseError(
            "the S&P 500 member list of the 'pitindex' package could not be read "
            f"({exc}); reinstall the workstation or pass --universe CSV"
        ) from exc
    sectors = {
        normalize_symbol(t): (s.strip() if isinstance(s, str) and s.strip() else UNKNOWN_SECTOR)
        for t, s in zip(df["ticker"], df["gics_sector"], strict=True)
        if isinstance(t, str) and t.strip()
    }
    return Universe.of(sectors, benchmark)


def universe_from_csv(path: str | Path, benchmark: str = BENCHMARK) -> Universe:
    """A universe from a CSV with a ``symbol`` column and an optional ``sector`` column.

    Column names are matched case-insensitively (``ticker`` is accepted for ``symbol``);
    a missing or blank sector is ``Unknown``; duplicate symbols keep the first row.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise UniverseError(
            f"universe file {p} does not exist; give the path of a CSV with a 'symbol' column"
        )
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise UniverseError(
            f"universe file {p} is empty; it needs a header line 'symbol,sector' and one "
            "symbol per line"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise UniverseError(f"universe file {p} is not a readable CSV ({exc})") from None

    cols = {str(c).strip().lower(): c for c in df.columns}
    sym_col = cols.get("symbol", cols.get("ticker"))
    if sym_col is None:
        found = ", ".join(str(c) for c in df.columns) or "none"
        raise UniverseError(
            f"universe file {p} has no 'symbol' column (columns found: {found}); "
            "add a header line 'symbol,sector'"
        )
    sec_col = cols.get("sector", cols.get("gics_sector"))

    sectors: dict[str, str] = {}
    for i, raw in enumerate(df[sym_col]):
        sym = normalize_symbol(raw)
        if not sym or sym in sectors:
            continue
        sec = str(df[sec_col].iloc[i]).strip() if sec_col is not None else ""
        sectors[sym] = sec or UNKNOWN_SECTOR
    if not sectors:
        raise UniverseError(f"universe file {p} lists no symbols; add one symbol per line")
    return Universe.of(sectors, normalize_symbol(benchmark))


def load_universe(source: str, benchmark: str = BENCHMARK) -> Universe:
    """``'sp500'`` -> :func:`sp500_universe`; anything else is a CSV path."""
    if source.strip().lower() == "sp500":
        return sp500_universe(benchmark)
    return universe_from_csv(source, benchmark)
