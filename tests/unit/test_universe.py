"""The universe: S&P 500 members with GICS sectors from pitindex, or a user's CSV."""

from __future__ import annotations

from pathlib import Path

import pytest

from workstation.market.universe import (
    GICS_SECTORS,
    UniverseError,
    load_universe,
    normalize_symbol,
    sp500_universe,
    universe_from_csv,
)


def test_sp500_has_503_members_in_the_11_gics_sectors() -> None:
    u = sp500_universe()
    assert len(u.symbols) == 503
    assert set(u.sectors.values()) == set(GICS_SECTORS)
    assert len(GICS_SECTORS) == 11
    assert u.benchmark == "SPY"
    assert "SPY" not in u.sectors  # the benchmark is not a scanned member
    assert list(u.symbols) == sorted(u.symbols)


@pytest.mark.parametrize(
    ("symbol", "sector"),
    [
        ("AAPL", "Information Technology"),
        ("JPM", "Financials"),
        ("XOM", "Energy"),
        ("BRK.B", "Financials"),  # Alpaca's class-share style, not BRK-B
        ("BF.B", "Consumer Staples"),
    ],
    ids=["aapl", "jpm", "xom", "brk.b", "bf.b"],
)
def test_sp500_known_members_and_sectors(symbol: str, sector: str) -> None:
    assert sp500_universe().sector(symbol) == sector


def test_sp500_has_no_hyphenated_tickers() -> None:
    assert not [s for s in sp500_universe().symbols if "-" in s]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("brk-b", "BRK.B"), (" BRK.B ", "BRK.B"), ("BF/B", "BF.B"), ("aapl", "AAPL")],
    ids=["hyphen", "spaces", "slash", "lower"],
)
def test_normalize_symbol(raw: str, expected: str) -> None:
    assert normalize_symbol(raw) == expected


def write(tmp_path: Path, text: str, name: str = "u.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_csv_with_sectors(tmp_path: Path) -> None:
    u = universe_from_csv(
        write(tmp_path, "symbol,sector\nMSFT,Information Technology\nxom,Energy\n")
    )
    assert dict(u.sectors) == {"MSFT": "Information Technology", "XOM": "Energy"}
    assert u.benchmark == "SPY"


def test_csv_without_sector_column_is_unknown(tmp_path: Path) -> None:
    u = universe_from_csv(write(tmp_path, "Symbol\nAAPL\nbrk-b\nAAPL\n"))
    assert dict(u.sectors) == {"AAPL": "Unknown", "BRK.B": "Unknown"}


def test_csv_blank_sector_is_unknown(tmp_path: Path) -> None:
    u = universe_from_csv(write(tmp_path, "symbol,sector\nAAPL,\nJPM,Financials\n"))
    assert u.sector("AAPL") == "Unknown"
    assert u.sector("JPM") == "Financials"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("", "is empty"),
        ("ticker_name,sector\nAAPL,IT\n", "no 'symbol' column"),
        ("symbol,sector\n", "lists no symbols"),
        ("symbol\n  \n", "lists no symbols"),
    ],
    ids=["missing-file", "empty-file", "no-symbol-column", "header-only", "blank-symbols"],
)
def test_csv_errors_are_clear(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "universe.csv"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(UniverseError, match=message) as exc:
        universe_from_csv(path)
    assert str(path) in str(exc.value)


def test_load_universe_dispatches(tmp_path: Path) -> None:
    assert len(load_universe("sp500").symbols) == 503
    assert load_universe(str(write(tmp_path, "symbol\nNVDA\n"))).symbols == ("NVDA",)
