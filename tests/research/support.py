"""Shared pieces of the backtester's tests: market files, homes and the two ways to trade them.

The parity tests run the same sessions of the same daily bars twice, as real processes:
``workstation run --headless`` on the replay market (every print every 5 seconds) and
``workstation backtest`` (the thinned stream), and require the same trades.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from workstation.core.calendar import ET, get_calendar
from workstation.core.clock import SimClock
from workstation.core.config import SimConfig
from workstation.market.sim import SimMarket
from workstation.market.universe import sp500_universe

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config"

#: The columns of a trade both commands print (the shape of ``run --headless --json`` exits).
TRADE_KEYS = (
    "symbol",
    "side",
    "strategy",
    "entry_session",
    "qty",
    "entry_price",
    "exit_at",
    "exit_price",
    "reason",
)


def sim_bars_file(path: Path, seed: int, today: str, history: int) -> Path:
    """The simulated market's daily history (every ticker and SPY) as a replay file."""
    cal = get_calendar()
    day = date.fromisoformat(today)
    clock = SimClock(datetime.combine(day, time(0), ET), speed=math.inf)
    cfg = SimConfig(seed=seed, today=today, history_sessions=history, future_sessions=5)
    market = SimMarket(sp500_universe(), cfg, clock, cal)
    bars = market.daily_bars_now(list(market.symbols), market.history_end, history)
    bars.to_long().to_parquet(path)
    return path


def make_home(path: Path, edits: dict[str, dict[str, Any]] | None = None) -> Path:
    """A home whose configuration is the shipped one with ``edits`` ({file: {dotted: value}})."""
    cfg = path / "config"
    cfg.mkdir(parents=True)
    for f in CONFIG.glob("*.yaml"):
        shutil.copy(f, cfg / f.name)
    for name, changes in (edits or {}).items():
        data = yaml.safe_load((cfg / name).read_text(encoding="utf-8")) or {}
        for key, value in changes.items():
            node = data
            *parents, leaf = key.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = value
        (cfg / name).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def workstation(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONUNBUFFERED": "1"}
    env.pop("WORKSTATION_HOME", None)
    return subprocess.run(
        [sys.executable, "-m", "workstation", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=REPO,
    )


def headless_trades(home: Path, market: str, first: str, sessions: int) -> list[dict[str, Any]]:
    r = workstation(
        "--home", str(home), "--market", market, "run", "--headless", "--from", first,
        "--sessions", str(sessions), "--speed", "max", "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    days = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert len(days) == sessions
    return [e for d in days for e in d["exits"]]


def backtest_doc(home: Path, market: str, first: str, last: str, *extra: str) -> dict[str, Any]:
    r = workstation(
        "--home", str(home), "--market", market, "backtest", "--from", first, "--to", last,
        "--json", *extra,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def comparable(trades: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Trades as tuples of TRADE_KEYS, prices to the cent, in exit order."""
    out = []
    for t in trades:
        row = tuple(
            round(t[k], 2) if k in ("entry_price", "exit_price") else t[k] for k in TRADE_KEYS
        )
        out.append(row)
    return sorted(out, key=lambda r: (r[6], r[0]))


def frame(trades: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(comparable(trades), columns=list(TRADE_KEYS))
