"""The simulated market's regime mix beside real SPY's, measured in the same run.

Run from the repository root:  .venv/bin/python bench/sim_regimes.py [--seeds N] [--data DIR]

Every regime is the trading rules' (spec section 5) as the scan classifies it
(``workstation.engine.scan.regime_history``: indicators, then ``classify_regime`` session by
session), on real SPY (``etf_daily_1993_2024.csv``) and on the simulated SPY
(``generate_benchmark``: the same bars as the SPY column of a SimMarket of that seed).

Printed:

* real SPY: every session 1993-2024 and 2019-2021 (the issue's 95 / 291 / 371);
* the long run: 8 simulated stretches of 2,000 sessions after "today" (seeds 1-8) pooled,
  against the 99.9% range of the same pooled share in real history (moving-block bootstrap,
  blocks of 500 sessions: regimes last weeks to months and bull or bear markets years, so
  sessions are not independent);
* the start: the first 20 and 120 sessions after "today" of N seeds (the app's default
  history of 320 sessions and 260 to come), against real SPY after every session in the
  situation the simulation conditions "today" on (>= 5 TREND sessions in the last 21, not
  below the 200-session average, no HIGH_VOL in the last 40), resampled N at a time: the
  99.9% range of the mean HIGH_VOL sessions in the next 20, of the mean TREND sessions in
  the next 120, and of the number of starts with 10+ HIGH_VOL or at most 5 TREND;
* the sessions per second of the whole measurement.

tests/unit/test_sim_regimes.py asserts the simulated figures against the ranges printed here.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from workstation.core.bars import DailyBars  # noqa: E402
from workstation.core.config import Config  # noqa: E402
from workstation.engine.scan import regime_history  # noqa: E402
from workstation.market.sim_daily import generate_benchmark  # noqa: E402

CODES = {"RANGING": 0, "TREND": 1, "HIGH_VOL": 2}
NAMES = ("RANGING", "TREND", "HIGH_VOL")
HISTORY, FUTURE = 320, 260  # SimConfig's defaults
LONG_SEEDS, LONG_SESSIONS, BLOCK = tuple(range(1, 9)), 2000, 500
START_HV, START_TREND = 20, 120
RESAMPLES = 20_000


def codes(bars: DailyBars) -> np.ndarray:
    """Regime codes per session (-1 before the indicators exist)."""
    return np.array([-1 if r is None else CODES[str(r)] for r in regime_history(bars, Config())])


def sim_forward(seed: int, history: int, future: int) -> np.ndarray:
    """Regime codes of the sessions after "today" of a simulated market."""
    dates = np.datetime64("2001-01-02") + np.arange(history + future)
    return codes(generate_benchmark(dates, history - 1, seed))[history:]


def real_spy(data: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    df = pd.read_csv(data / "etf_daily_1993_2024.csv")
    spy = df[df["symbol"] == "SPY"].sort_values("date")
    dates = np.array(spy["date"].tolist(), dtype="datetime64[D]")
    ohlcv = [spy[k].to_numpy(np.float64)[:, None] for k in ("open", "high", "low", "close")]
    bars = DailyBars(dates, ("SPY",), *ohlcv, np.ones((len(dates), 1)))
    return dates, codes(bars), spy["close"].to_numpy(np.float64)


def starts_like_today(reg: np.ndarray, close: np.ndarray) -> np.ndarray:
    """Rows of real history in the situation the simulation conditions "today" on."""
    sma200 = pd.Series(close).rolling(200).mean().to_numpy()
    rows = []
    for t in range(240, len(reg) - START_TREND):
        month, recent = reg[t - 20 : t + 1], reg[t - 39 : t + 1]
        if (month == 1).sum() >= 5 and close[t] >= sma200[t] and not (recent == 2).any():
            rows.append(t)
    return np.array(rows)


def pct(lo_hi: np.ndarray) -> str:
    return f"[{lo_hi[0]:.3f}, {lo_hi[1]:.3f}]"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=40, help="simulated starts (seeds 1..N)")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args(argv)
    if not (args.data / "etf_daily_1993_2024.csv").is_file():
        print(f"bench/sim_regimes.py: etf_daily_1993_2024.csv not in {args.data}; pass --data")
        return 2
    rng = np.random.default_rng(20241)
    t0 = time.perf_counter()
    dates, reg, close = real_spy(args.data)
    real_s = time.perf_counter() - t0
    ok = reg >= 0
    print("bench/sim_regimes.py: regimes as the scan classifies them (spec section 5)\n")
    print("== real SPY (etf_daily_1993_2024.csv) ==")
    in_1921 = ok & (dates >= np.datetime64("2019-01-01")) & (dates <= np.datetime64("2021-12-31"))
    c1921 = Counter(NAMES[k] for k in reg[in_1921])
    print(f"2019-2021: {sum(c1921.values())} sessions, {dict(sorted(c1921.items()))}")
    real = reg[ok]
    shares = [float(np.mean(real == k)) for k in range(3)]
    print(
        f"{str(dates[ok][0])[:4]}-{str(dates[-1])[:4]}: {len(real)} sessions, "
        + ", ".join(f"{n} {s:.3f}" for n, s in zip(NAMES, shares, strict=True))
    )

    seeds = f"{LONG_SEEDS[0]}-{LONG_SEEDS[-1]}"
    print(f"\n== the long run: seeds {seeds}, {LONG_SESSIONS} sessions after today each ==")
    t1 = time.perf_counter()
    sim_long = np.concatenate([sim_forward(s, HISTORY, LONG_SESSIONS) for s in LONG_SEEDS])
    long_s = time.perf_counter() - t1
    n_blocks = len(sim_long) // BLOCK
    starts = rng.integers(0, len(real) - BLOCK + 1, (RESAMPLES, n_blocks))
    boot = np.empty((RESAMPLES, 3))
    for i in range(RESAMPLES):
        sample = real[(starts[i][:, None] + np.arange(BLOCK)).ravel()]
        boot[i] = [np.mean(sample == k) for k in range(3)]
    print(
        f"{'regime':<9} {'simulated':>9}  {'real':>6}  real 99.9% range ({len(sim_long)} sessions)"
    )
    for k, name in enumerate(NAMES):
        sim_share = float(np.mean(sim_long == k))
        band = np.percentile(boot[:, k], [0.05, 99.95])
        inside = "ok" if band[0] <= sim_share <= band[1] else "OUTSIDE"
        print(f"{name:<9} {sim_share:9.3f}  {shares[k]:6.3f}  {pct(band)}  {inside}")

    n = args.seeds
    print(f"\n== the start: seeds 1..{n}, history {HISTORY} + {FUTURE} sessions ==")
    t2 = time.perf_counter()
    fwd = [sim_forward(s, HISTORY, FUTURE) for s in range(1, n + 1)]
    start_s = time.perf_counter() - t2
    hv = np.array([int((f[:START_HV] == 2).sum()) for f in fwd])
    tr = np.array([int((f[:START_TREND] == 1).sum()) for f in fwd])
    rows = starts_like_today(reg, close)
    real_hv = np.array([int((reg[t + 1 : t + 1 + START_HV] == 2).sum()) for t in rows])
    real_tr = np.array([int((reg[t + 1 : t + 1 + START_TREND] == 1).sum()) for t in rows])
    pick = rng.integers(0, len(rows), (RESAMPLES, n))
    figures = (
        ("mean HIGH_VOL in the first 20", hv.mean(), real_hv.mean(), real_hv[pick].mean(axis=1)),
        ("starts with 10+ HIGH_VOL of 20", (hv >= 10).sum(), None, (real_hv[pick] >= 10).sum(1)),
        ("mean TREND in the first 120", tr.mean(), real_tr.mean(), real_tr[pick].mean(axis=1)),
        ("starts with <= 5 TREND of 120", (tr <= 5).sum(), None, (real_tr[pick] <= 5).sum(1)),
    )
    print(f"real starts in the same situation: {len(rows)} sessions of {len(real)}")
    print(f"{'':<32} {'simulated':>9}  {'real':>6}  real 99.9% range for {n} starts")
    for label, value, real_value, dist in figures:
        band = np.percentile(dist, [0.05, 99.95])
        inside = "ok" if band[0] <= value <= band[1] else "OUTSIDE"
        rv = f"{real_value:6.2f}" if real_value is not None else f"{'':>6}"
        print(f"{label:<32} {float(value):9.2f}  {rv}  {pct(band)}  {inside}")
    print(f"seeds 1-3, HIGH_VOL in the first 20: {hv[:3].tolist()} (was 17, 14, 13)")
    print(f"seed 4, TREND in the first 120: {tr[3]} (was 1)")

    total = len(real) + len(sim_long) + sum(len(f) for f in fwd)
    took = time.perf_counter() - t0
    print(
        f"\ntime: real {real_s:.2f} s, long run {long_s:.2f} s, starts {start_s:.2f} s; "
        f"{total / took:,.0f} sessions classified per second overall"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
