"""Benchmark of the SL/TP advice (``workstation advise sltp``): five years of trades.

Run from the repository root:  .venv/bin/python bench/sltp_advice.py [--trades 2000]

Measured in one process, on synthetic trades (five strategies, daily bars of a random walk
with ATR-sized ranges; about what five years of the combined scenario trade):

* **advice** -- ``sltp_advice.advise``: every trade under the default grid (15 stops x 31
  targets = 465 pairs, the current values added), both touch orders for the best pair, the
  re-simulation with each trade's own values, and 1000 bootstrap resamples with their
  out-of-bag judgement, for every strategy. Target: under 5 s (the Research window computes it
  in a worker thread when its page is shown; the CLI prints it).
* **baseline**, measured in the same run: the same what-if done trade by trade and pair by
  pair with the engine's own exit rule (``engine.rules.exits.exit_decision`` fed each day's
  prices), timed on a sample of trades and scaled to all of them and every pair: what the
  vectorised ``sltp_paths.simulate`` saves. Its results are checked equal on the sample.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import replace
from datetime import datetime
from datetime import time as dtime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workstation.core.calendar import ET
from workstation.core.config import ExitConfig
from workstation.core.models import Side
from workstation.engine.rules.exits import exit_decision
from workstation.research.sltp_advice import DEFAULT_GRID, Settings, advise
from workstation.research.sltp_paths import REASONS, ExitRules, TradePath, simulate

STRATEGIES = {
    "rsi_reversion": (1.5, 2.0),
    "bb_squeeze": (2.5, 4.0),
    "adx_pullback": (2.0, 3.0),
    "overbought_short": (2.0, 2.5),
    "regime_momentum": (2.0, 3.5),
}


def synthetic_trades(n: int, rules: ExitRules, seed: int = 1) -> list[TradePath]:
    rng = np.random.default_rng(seed)
    names = list(STRATEGIES)
    out = []
    for i in range(n):
        name = names[i % len(names)]
        side = Side.SHORT if name == "overbought_short" else Side.LONG
        fill = float(rng.uniform(20, 400))
        atr = fill * float(rng.uniform(0.01, 0.04))
        rows, price = [], fill
        for _ in range(rules.days):
            o = price + atr * rng.normal(0, 0.3)
            c = o + atr * rng.normal(0.02 * side.sign, 0.8)
            h = max(o, c) + atr * rng.exponential(0.4)
            lo = min(o, c) - atr * rng.exponential(0.4)
            rows.append((o, h, lo, c))
            price = c
        sl, tp = STRATEGIES[name]
        p = TradePath(i, name, side, fill, atr, sl, tp, "", 0.0, None, np.array(rows))
        own = simulate([p], np.array([[sl]]), np.array([[tp]]), rules)  # recorded as made
        out.append(replace(p, reason=REASONS[int(own.code[0, 0])], r=float(own.r[0, 0])))
    return out


class _Pos:
    def __init__(self, p: TradePath, sl: float, tp: float) -> None:
        self.side, self.fill_price, self.atr14 = p.side, p.fill, p.atr14
        self.sl_mult, self.tp_mult = sl, tp


def engine_exit(p: TradePath, sl: float, tp: float, cfg: ExitConfig, rules: ExitRules) -> float:
    """One trade under one pair with the engine's exit rule: the exit's move per share."""
    pos = _Pos(p, sl, tp)
    for j, (o, h, lo, c) in enumerate(p.bars):
        day = rules.first_day + j
        d = datetime(2025, 3, 3, tzinfo=ET)
        at = datetime.combine(d.date(), dtime(15, 50), ET)
        against, favour = (lo, h) if p.side is Side.LONG else (h, lo)
        feed = ((o, dtime(9, 30)), (against, dtime(10)), (favour, dtime(12)), (c, dtime(15, 50)))
        for k, (price, when) in enumerate(feed):
            dec = exit_decision(
                pos, float(price), datetime.combine(d.date(), when, ET), day, cfg, at
            )
            if dec.exit:
                px = price if (k == 0 or dec.level is None) else dec.level
                return p.side.sign * (px - p.fill)
    return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trades", type=int, default=2000)
    ap.add_argument("--sample", type=int, default=20, help="trades timed for the baseline")
    args = ap.parse_args()
    cfg = ExitConfig()
    rules = ExitRules(cfg.sltp_from_day, cfg.time_exit_day, 2.0, 30.0)
    paths = synthetic_trades(args.trades, rules)
    print(f"python {platform.python_version()}, {platform.machine()}, {args.trades} trades")

    t0 = time.perf_counter()
    advice = advise(paths, STRATEGIES, rules, Settings())
    advice_s = time.perf_counter() - t0
    pairs = len(DEFAULT_GRID.sl) * len(DEFAULT_GRID.tp)
    verdicts = {a.strategy: a.verdict for a in advice.strategies}
    print(f"advice: {advice_s:.2f} s for {args.trades} trades x ~{pairs} pairs ({verdicts})")

    sample = paths[: args.sample]
    s, t = DEFAULT_GRID.pairs()
    t0 = time.perf_counter()
    slow = np.array(
        [[engine_exit(p, a, b, cfg, rules) for a, b in zip(s, t, strict=True)] for p in sample]
    )
    sample_s = time.perf_counter() - t0
    baseline_s = sample_s * args.trades / len(sample)
    fast = simulate(sample, s.reshape(1, -1), t.reshape(1, -1), ExitRules(2, 5, 0.0))
    assert np.allclose(fast.move, slow, equal_nan=True), "the two what-ifs disagree"
    print(
        f"baseline (engine's exit_decision, trade by trade and pair by pair): {baseline_s:.1f} s "
        f"for the same trades x pairs (timed on {len(sample)} trades, results equal); "
        f"the vectorised what-if with the bootstrap is {baseline_s / advice_s:.0f}x faster"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
