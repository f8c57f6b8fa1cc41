"""A planted store for the research tests: a handful of sessions, scans and trades written
through the real store API into a real SQLite file (no mocks), with values chosen so every
figure can be computed by hand in the test."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

import pandas as pd

from tests.unit.test_store import cand
from workstation.research.run_info import Coverage, RunInfo
from workstation.store import Store


@dataclass(frozen=True)
class Planted:
    symbol: str
    strategy: str
    side: str
    qty: int
    entry: float
    exit: float
    entry_session: date
    exit_session: date
    reason: str
    regime: str | None  # None: a trade without a candidate (adopted position)
    days_held: int = 3
    sl_mult: float = 2.0
    atr14: float = 1.0
    mfe_r: float | None = 0.5
    mae_r: float | None = -0.25

    @property
    def pnl(self) -> float:
        sign = 1 if self.side == "long" else -1
        return sign * (self.exit - self.entry) * self.qty

    @property
    def r(self) -> float:
        sign = 1 if self.side == "long" else -1
        return sign * (self.exit - self.entry) / (self.sl_mult * self.atr14)


def at(d: date, hh: int = 15, mm: int = 0) -> datetime:
    return datetime.combine(d, time(hh, mm), tzinfo=UTC)


def plant(
    path: Path,
    start_equity: float,
    days: Sequence[tuple[date, float]],
    trades: Sequence[Planted] = (),
    *,
    open_positions: Sequence[Planted] = (),
) -> Path:
    """``days``: (session, end-of-day equity); each session starts at the previous end.
    ``open_positions`` are opened and left open (their exit fields are ignored)."""
    with Store.open(path) as s:
        for i, p in enumerate([*trades, *open_positions]):
            cid = None
            if p.regime is not None:
                scan = s.record_scan(
                    session=p.entry_session,
                    param_hash="planted",
                    status="ok",
                    started_at=at(p.entry_session, 1, i % 60),
                    finished_at=at(p.entry_session, 1, i % 60),
                    regime=p.regime,
                    market=f"m{i}",  # one scan per trade: none supersedes another
                    candidates=[cand(1, p.symbol, strategy=p.strategy, side=p.side)],
                )
                cid = s.candidates_for_scan(scan)[0].id
            pos = s.open_position(
                symbol=p.symbol,
                side=p.side,
                qty=p.qty,
                avg_entry=p.entry,
                entry_session=p.entry_session,
                entry_at=at(p.entry_session, 14, 30),
                strategy=p.strategy,
                sl_mult=p.sl_mult,
                tp_mult=3.0,
                atr14=p.atr14,
                candidate_id=cid,
                at=at(p.entry_session, 14, 30),
            )
            if i >= len(trades):
                continue
            if p.mfe_r is not None and p.mae_r is not None:
                risk = p.sl_mult * p.atr14
                s.update_mfe_mae(
                    pos.id,
                    mfe_price=p.entry + p.mfe_r * risk,
                    mfe_pct=p.mfe_r * risk / p.entry,
                    mfe_r=p.mfe_r,
                    mfe_at=at(p.exit_session, 15),
                    mae_price=p.entry + p.mae_r * risk,
                    mae_pct=p.mae_r * risk / p.entry,
                    mae_r=p.mae_r,
                    mae_at=at(p.exit_session, 15),
                    last_price_at=at(p.exit_session, 15),
                    at=at(p.exit_session, 15),
                )
            s.close_position(
                pos.id,
                exit_price=p.exit,
                exit_at=at(p.exit_session, 19, 50),
                exit_session=p.exit_session,
                exit_reason=p.reason,
                days_held=p.days_held,
            )
        prev = start_equity
        for session, end in days:
            s.record_daily_performance(
                session, start_equity=prev, end_equity=end, trades=0, wins=0, at=at(session, 21)
            )
            prev = end
    return path


D = [
    date(2023, 12, 27),
    date(2023, 12, 28),
    date(2023, 12, 29),
    date(2024, 1, 2),
    date(2024, 1, 3),
    date(2024, 1, 4),
    date(2024, 1, 5),
    date(2024, 1, 8),
]
START = 100_000.0
EQUITY = [101_000.0, 100_000.0, 99_000.0, 102_000.0, 101_500.0, 103_000.0, 102_000.0, 104_000.0]
TRADES = [
    Planted("AAA", "bb_squeeze", "long", 100, 50.0, 53.0, D[1], D[2], "TAKE_PROFIT", "TREND"),
    Planted("BBB", "bb_squeeze", "long", 50, 100.0, 98.0, D[1], D[4], "STOP_LOSS", "RANGING"),
    Planted(
        "CCC", "rsi_reversion", "short", 20, 200.0, 190.0, D[3], D[6], "TIME_EXIT", "TREND",
        mfe_r=5.5, mae_r=-0.75,
    ),
    Planted(
        "DDD", "rsi_reversion", "long", 10, 40.0, 39.0, D[5], D[7], "STOP_LOSS", None,
        mfe_r=None, mae_r=None,
    ),
    Planted("EEE", "bb_squeeze", "long", 30, 10.0, 10.0, D[6], D[7], "TIME_EXIT", "HIGH_VOL"),
]  # fmt: skip
STILL_OPEN = Planted("FFF", "adx_pullback", "long", 10, 100.0, 0.0, D[7], D[7], "", "TREND")


def plant_example(path: Path) -> Path:
    """Eight sessions over a year end, five trades (two strategies, every regime, a short,
    a flat trade, one without a candidate and one without excursions) and one open position."""
    return plant(
        path,
        START,
        list(zip(D, EQUITY, strict=True)),
        TRADES,
        open_positions=[STILL_OPEN],
    )


# SPY closes from the session before the example's first to its last
SPY = pd.Series(
    [470.0, 475.0, 476.0, 474.0, 472.0, 468.0, 467.0, 469.0, 474.0],
    index=pd.to_datetime(["2023-12-26", *[d.isoformat() for d in D]]),
)

# What the example run is said to be (the metadata a backtest would give)
INFO = RunInfo(
    market="replay:/data/sp500.parquet",
    universe_mode="point-in-time",
    coverage=Coverage(members=505, with_data=480),
    data_source="replay file of daily bars",
    fill_model="pessimistic",
    costs={"slippage_bps": 5.0, "commission_per_share": 0.0},
)
