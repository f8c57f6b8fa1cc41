"""Derive the simulated market's table of public facts per symbol from the real data files.

    .venv/bin/python scripts/make_symbol_facts.py [--data ../shared/data] [--check]

Writes ``workstation/market/data/symbol_facts.csv`` (shipped with the package; the real data
files themselves are not): one row per S&P 500 member of September 2022 plus SPY, with

* ``close``         -- the closing price on ``date`` (2022-09-09, the file's last session). The
  file's prices are adjusted for splits and dividends *as of 2022*, so on its last session they
  are the prices that printed that day (AMZN 133.27 after its 20-for-1 split);
* ``dollar_volume`` -- the median of close x volume over the 252 sessions to ``date``;
* ``vol``           -- the annualised volatility, sample stdev (ddof=1) of the daily log returns
  times sqrt(252), over the whole span of the file from ``since`` to ``date`` (2011-09-08
  onwards, ~11 years with its calm years and its crises: the long-run level, which is what the
  simulated market's own regime mix reproduces; a single year would carry that year's mood);
* ``beta``          -- the slope of the symbol's daily log returns on SPY's over the same span
  (sessions both have);
* ``sessions``      -- the number of daily returns behind ``vol`` and ``beta``.

Sources (``--data``, default ``../shared/data`` from the repository root, see its README):
``sp500_daily_2011_2022.parquet`` for the stocks (Yahoo, split- and dividend-adjusted) and
``etf_daily_1993_2024.csv`` for SPY (split-adjusted OHLC; its spliced ``adj_close`` is not used).
Tickers are written in Alpaca's dot style (``BRK.B``). Seven members renamed their ticker after
2022 without a change of company; their rows carry the new ticker (``RENAMED`` below), so the
current member list finds them. Symbols that are not current members are kept: a user's
universe file may name them.

``--check`` compares the shipped table with a fresh derivation and exits 1 if they differ
(the test suite runs the same comparison when the data folder is present).
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "workstation" / "market" / "data" / "symbol_facts.csv"
STOCKS = "sp500_daily_2011_2022.parquet"
ETFS = "etf_daily_1993_2024.csv"
BENCHMARK = "SPY"
DOLLAR_VOLUME_SESSIONS = 252
TRADING_DAYS = 252

# Ticker changes after September 2022 of the same company (public S&P/exchange notices).
RENAMED = {
    "ABC": "COR",  # AmerisourceBergen -> Cencora, 2023
    "BK": "BNY",  # The Bank of New York Mellon, 2024
    "FLT": "CPAY",  # FleetCor -> Corpay, 2024
    "NLOK": "GEN",  # NortonLifeLock -> Gen Digital, 2022-11
    "PEAK": "DOC",  # Healthpeak Properties, 2024
    "PKI": "RVTY",  # PerkinElmer -> Revvity, 2023
    "RE": "EG",  # Everest Re -> Everest Group, 2023
}
COLUMNS = ("symbol", "date", "close", "dollar_volume", "vol", "beta", "since", "sessions")


def _log_returns(dates: np.ndarray, close: np.ndarray) -> pd.Series:
    ok = np.isfinite(close) & (close > 0)
    s = pd.Series(np.log(close[ok]), index=pd.DatetimeIndex(dates[ok]))
    return s.diff().iloc[1:]


def _facts(
    symbol: str, frame: pd.DataFrame, spy_returns: pd.Series, last_day: pd.Timestamp
) -> dict[str, object]:
    dates = frame["date"].to_numpy()
    close = frame["close"].to_numpy(dtype=np.float64)
    volume = frame["volume"].to_numpy(dtype=np.float64)
    r = _log_returns(dates, close)
    both = pd.concat([r, spy_returns], axis=1, join="inner").dropna()
    x, y = both.iloc[:, 1].to_numpy(), both.iloc[:, 0].to_numpy()
    beta = float(np.cov(y, x, ddof=1)[0, 1] / np.var(x, ddof=1))
    dv = close[-DOLLAR_VOLUME_SESSIONS:] * volume[-DOLLAR_VOLUME_SESSIONS:]
    return {
        "symbol": symbol,
        "date": last_day.date().isoformat(),
        "close": round(float(close[-1]), 2),
        "dollar_volume": float(f"{float(np.nanmedian(dv)):.3g}"),
        "vol": round(float(r.std(ddof=1)) * math.sqrt(TRADING_DAYS), 4),
        "beta": round(beta, 3),
        "since": pd.Timestamp(dates[0]).date().isoformat(),
        "sessions": len(r),
    }


def derive(data: Path) -> pd.DataFrame:
    """The facts table from the real files in ``data``."""
    stocks = pd.read_parquet(
        data / STOCKS, columns=["date", "symbol", "close", "volume"]
    ).sort_values(["symbol", "date"], kind="stable")
    stocks = stocks[stocks["symbol"] != "^GSPC"]
    last_day = stocks["date"].max()
    # One span for every symbol: from the day most series begin (a few start in 1998).
    since = stocks.groupby("symbol")["date"].min().mode().iloc[0]
    stocks = stocks[stocks["date"] >= since]
    etf = pd.read_csv(data / ETFS, usecols=["date", "symbol", "close", "volume"])
    spy = etf[etf["symbol"] == BENCHMARK].copy()
    spy["date"] = pd.to_datetime(spy["date"])
    spy = spy[(spy["date"] >= since) & (spy["date"] <= last_day)]
    spy = spy.sort_values("date")
    spy_returns = _log_returns(spy["date"].to_numpy(), spy["close"].to_numpy(dtype=np.float64))

    rows = [_facts(BENCHMARK, spy, spy_returns, last_day)]
    for symbol, frame in stocks.groupby("symbol", sort=True):
        if frame["date"].iloc[-1] != last_day:
            continue  # left the index before September 2022: no price "today"
        ticker = str(symbol).replace("-", ".")
        rows.append(_facts(RENAMED.get(ticker, ticker), frame, spy_returns, last_day))
    out = pd.DataFrame(rows, columns=list(COLUMNS))
    return out.sort_values("symbol", kind="stable").reset_index(drop=True)


def to_csv(table: pd.DataFrame) -> str:
    buf = io.StringIO()
    table.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="compare with the shipped table")
    args = ap.parse_args(argv)
    missing = [n for n in (STOCKS, ETFS) if not (args.data / n).is_file()]
    if missing:
        print(f"make_symbol_facts: {', '.join(missing)} not in {args.data}; pass --data DIR")
        return 2
    text = to_csv(derive(args.data))
    if args.check:
        same = args.out.is_file() and args.out.read_text(encoding="utf-8") == text
        print(f"{args.out}: {'matches' if same else 'DIFFERS from'} the derivation")
        return 0 if same else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({text.count(chr(10)) - 1} symbols)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
