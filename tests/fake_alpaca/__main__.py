"""Run the fake Alpaca for a person: ``python -m tests.fake_alpaca [--port 8765]``.

Prints the URLs and the APCA_* environment variables that point the app at it, then serves
until Ctrl-C. By default its clock follows the wall clock, a few demo symbols have a year of
synthetic daily bars, and their prices move every second on the streams.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from tests.fake_alpaca.server import FakeAlpacaServer
from tests.fake_alpaca.state import DEFAULT_KEY_ID, DEFAULT_SECRET_KEY, FakeAlpacaState
from tests.fake_alpaca.wire import NY

DEMO_SYMBOLS = ("AAPL", "MSFT", "AMZN", "NVDA", "JPM", "XOM", "SPY", "QQQ")


def _demo_bars(state: FakeAlpacaState, symbols: tuple[str, ...], sessions: int) -> dict[str, float]:
    """A seeded random walk of daily bars over the last ``sessions`` sessions before now."""
    rng = random.Random(7)
    days = [
        s.day
        for s in state.sessions.between(
            (state.now - timedelta(days=sessions * 2)).date(), state.now.date() - timedelta(days=1)
        )
    ][-sessions:]
    last: dict[str, float] = {}
    for i, sym in enumerate(symbols):
        price = 50.0 + 40.0 * i
        rows = []
        for day in days:
            o = price * math.exp(rng.gauss(0, 0.005))
            c = o * math.exp(rng.gauss(0.0003, 0.015))
            h = max(o, c) * (1 + abs(rng.gauss(0, 0.006)))
            low = min(o, c) * (1 - abs(rng.gauss(0, 0.006)))
            ohlc = {k: round(x, 2) for k, x in zip("ohlc", (o, h, low, c), strict=True)}
            rows.append({"t": day, **ohlc, "v": rng.randint(2, 40) * 10**6})
            price = ohlc["c"]
        state.set_bars(sym, "1Day", rows)
        last[sym] = round(price, 2)
    return last


def _load_bars_file(state: FakeAlpacaState, path: Path) -> int:
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    frame.columns = [str(c).lower() for c in frame.columns]
    keep = [c for c in ("date", "symbol", "open", "high", "low", "close", "volume") if c in frame]
    return state.set_bars_frame(frame[keep], "1Day")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fake_alpaca", description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765, help="0 picks a free port (default 8765)")
    ap.add_argument("--key", default=DEFAULT_KEY_ID)
    ap.add_argument("--secret", default=DEFAULT_SECRET_KEY)
    ap.add_argument("--now", help="start the clock here (ISO time, New York if naive)")
    ap.add_argument("--frozen", action="store_true", help="do not let the clock run")
    ap.add_argument("--bars", type=Path, help="daily bars file (parquet/csv: date,symbol,ohlcv)")
    ap.add_argument("--ticks", type=float, default=1.0, help="seconds between demo ticks; 0=off")
    args = ap.parse_args(argv)

    now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=NY)
    state = FakeAlpacaState(args.key, args.secret, now=now, clock_running=not args.frozen)
    if args.bars:
        print(f"loaded {_load_bars_file(state, args.bars)} daily bars from {args.bars}")
        prices: dict[str, float] = {}
    else:
        prices = _demo_bars(state, DEMO_SYMBOLS, 300)
        for sym, p in prices.items():
            state.set_price(sym, p)
            state.set_quote(sym, p - 0.01, p + 0.01)

    server = FakeAlpacaServer(state, args.host, args.port).start()
    print(f"fake Alpaca serving on {server.base_url}")
    print(f"  REST (trading and data): {server.base_url}")
    print(f"  market data stream:      {server.data_stream_url}  (also /v2/sip)")
    print(f"  trading stream:          {server.trading_stream_url}")
    print(f"  clock: {state.now.isoformat()} ({'frozen' if args.frozen else 'running'})")
    print("\nPoint the app at it with:\n")
    for name, value in server.env().items():
        print(f"export {name}={value}")
    print("\nCtrl-C to stop.")
    sys.stdout.flush()
    rng = random.Random(11)
    try:
        while True:
            if args.ticks > 0 and prices:
                time.sleep(args.ticks)
                for sym in prices:
                    prices[sym] = round(prices[sym] * math.exp(rng.gauss(0, 0.0008)), 2)
                    state.push_trade(sym, prices[sym], rng.randint(1, 20) * 100)
                    state.push_quote(sym, prices[sym] - 0.01, prices[sym] + 0.01)
            else:
                time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopping")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
