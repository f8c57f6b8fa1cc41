"""Run the drift report: a backtest of the sessions the app traded, compared with them.

1. The sessions: those of ``--from`` .. ``--to`` the home's store has traded (a daily
   performance row); the backtest covers every session from the first to the last of them, so
   a session the app missed is traded by the backtest and shows as missed.
2. The parameters: each session's set from the scan that made its list (:mod:`.params`),
   applied before the session as the live engine reloads between steps.
3. The history: the same market's daily bars (the simulated market with the seed and "today"
   of the simulation that was traded, the replay file, or the Alpaca bar cache) and the same
   fixed universe the app scanned (not point-in-time membership: the app scans its universe).
4. The account: the live equity at the start of the first session; for the simulated and
   replay markets the costs of the simulated exchange the app traded against (its slippage
   and commission, no regulatory fees), for Alpaca the ``backtest`` section's.
5. The comparison (:mod:`.drift`) of the two stores, read by the same code (:mod:`.records`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from workstation.context import Context
from workstation.core.calendar import ET
from workstation.core.clock import SimClock
from workstation.core.config import Config
from workstation.core.models import Universe
from workstation.core.overrides import apply_overrides
from workstation.errors import UserError
from workstation.research.backtest import BacktestData, BacktestError, run_backtest
from workstation.research.evidence.drift import DriftReport, compare
from workstation.research.evidence.params import configs_in_force
from workstation.research.evidence.records import read_records
from workstation.research.history import load_history
from workstation.research.scans import INLINE_BELOW_SESSIONS, ScanCache, ScanService
from workstation.research.universe import Membership, fixed_membership
from workstation.store import Store, StoreError

Progress = Callable[[int, int, date], None]


@dataclasses.dataclass(frozen=True)
class DriftInput:
    """What the backtest of the traded sessions needs, read from the home's store."""

    first: date
    last: date
    sessions: list[date]
    start_equity: float
    market_kind: str  # "sim", "replay" or "alpaca": the market the sessions were traded on


def market_kind(spec: str) -> str:
    return "replay" if spec.startswith("replay:") else spec


def traded_sessions(store: Store, start: date, end: date) -> list[date]:
    """Sessions in ``start`` .. ``end`` the store has end-of-day bookkeeping for."""
    return [p.session for p in store.daily_performance() if start <= p.session <= end]


def drift_input(ctx: Context, store: Store, start: date, end: date) -> DriftInput:
    """The traded sessions and the account they started with (one clear line if none)."""
    if start > end:
        raise UserError(f"the period is empty: --from {start} is after --to {end}")
    traded = traded_sessions(store, start, end)
    if not traded:
        raise UserError(
            f"the store has no traded session between {start} and {end} (no end-of-day "
            "record): choose sessions the app has traded"
        )
    first, last = traded[0], traded[-1]
    kinds = {
        str(r["market"])
        for r in store.db.query(
            "SELECT DISTINCT market FROM scans WHERE session >= :a AND session <= :b",
            {"a": (first - timedelta(days=7)).isoformat(), "b": last.isoformat()},
        )
    }
    kind = market_kind(ctx.market_spec)
    if kinds and kind not in kinds:
        raise UserError(
            f"these sessions were traded on the {', '.join(sorted(kinds))} market, not "
            f"{kind}: run the report with the same --market"
        )
    perf = next(p for p in store.daily_performance() if p.session == first)
    return DriftInput(
        first,
        last,
        ctx.calendar.sessions_in_range(first, last),
        float(perf.start_equity),
        kind,
    )


def account_config(ctx: Context, base: Config, kind: str, equity: float) -> Config:
    """``base`` with the account the live sessions had: its starting equity, and the costs
    of the simulated exchange when that is what they traded against."""
    changes: dict[str, Any] = {"app.backtest.starting_equity": equity}
    if kind in ("sim", "replay"):
        sim = ctx.sim_config()
        changes.update(
            {
                "app.backtest.slippage_bps": sim.slippage_bps,
                "app.backtest.open_slippage_bps": 0.0,
                "app.backtest.commission_per_share": sim.commission_per_share,
                "app.backtest.sec_fee_rate": 0.0,
                "app.backtest.taf_per_share": 0.0,
                "app.backtest.fill_model": "path",
            }
        )
    else:
        changes["app.backtest.fill_model"] = "path"
    return apply_overrides(base, changes)


def _sim_meta(ctx: Context) -> dict[str, Any]:
    """The simulation the home traded (its exchange file), else the configured one."""
    from workstation.engine.runner import STATE_FILE

    sim = ctx.sim_config()
    meta = {
        "seed": sim.seed,
        "today": sim.today,
        "history_sessions": sim.history_sessions,
        "future_sessions": sim.future_sessions,
    }
    path = ctx.paths.data_dir / STATE_FILE
    if path.exists():
        try:
            saved = json.loads(path.read_text(encoding="utf-8")).get("meta") or {}
        except (OSError, ValueError):
            saved = {}
        meta.update({k: saved[k] for k in meta if saved.get(k) not in (None, "")})
    return meta


def drift_history(ctx: Context, first: date, last: date) -> tuple[BacktestData, Membership]:
    """The daily bars the traded sessions saw, their warm-up included, and the fixed universe
    the app scanned."""
    warmup = ctx.cfg.scanner.universe.history_sessions
    cal = ctx.calendar
    if ctx.market_spec != "sim":
        history = load_history(ctx, "current", first, 1.0)
        if history.last_session < last:
            raise UserError(
                f"the market's history ends {history.last_session}: it does not cover the "
                f"sessions up to {last} (fetch the bars first: workstation market fetch)"
            )
        if first < history.earliest_start:
            raise UserError(
                f"the market's history allows a backtest from {history.earliest_start} at "
                f"the earliest (the scan needs {warmup} sessions before): choose a later --from"
            )
        return history.data, history.membership
    from workstation.market.sim import SimMarket

    meta = _sim_meta(ctx)
    sim = dataclasses.replace(
        ctx.sim_config(),
        seed=int(meta["seed"]),
        today=str(meta["today"] or ""),
        history_sessions=int(meta["history_sessions"]),
        future_sessions=int(meta["future_sessions"]),
    )
    after = datetime.combine(cal.next_session(last), time(0), ET)
    market = SimMarket(ctx.universe(), sim, SimClock(after, speed=math.inf), cal)
    symbols = [*market.symbols]
    bench = market.universe().benchmark
    if bench not in symbols:
        symbols.append(bench)
    needed = len(cal.sessions_in_range(first, last)) + warmup + 1
    bars = market.daily_bars_now(symbols, last, needed + 5)
    if bars.n_sessions < needed:
        raise UserError(
            f"the simulated market's history does not reach {warmup} sessions before {first}: "
            "the drift report cannot scan its first session"
        )
    universe = market.universe()
    fixed = Universe.of({s: universe.sector(s) for s in universe.symbols}, bench)
    membership = fixed_membership(bars, fixed, "current")
    source = f"sim (seed {sim.seed}, today {sim.today})"
    return BacktestData(bars, membership.universe, source, None), membership


def run_drift(
    ctx: Context,
    start: date,
    end: date,
    *,
    progress: Progress | None = None,
    use_cache: bool = True,
    workers: int | None = None,
) -> DriftReport:
    """The drift report of the home's sessions ``start`` .. ``end`` (see the module doc)."""
    try:
        store = Store.open(ctx.paths.db_path)
    except StoreError as exc:
        raise UserError(str(exc)) from None
    try:
        inp = drift_input(ctx, store, start, end)
        base = account_config(ctx, ctx.cfg, inp.market_kind, inp.start_equity)
        configs = configs_in_force(store, inp.sessions, base)
        data, membership = drift_history(ctx, inp.first, inp.last)
        folder = ctx.paths.data_dir / "backtests"
        stamp = datetime.now(ET).strftime("%Y%m%d-%H%M%S")
        db = folder / f"{stamp}-drift-{inp.first}-{inp.last}.db"
        _backtest(ctx, inp, configs, data, membership, db, progress, use_cache, workers)
        live = read_records(store, inp.first, inp.last, inp.sessions)
    finally:
        store.close()
    bt_store = Store.open(db)
    try:
        backtest = read_records(bt_store, inp.first, inp.last, inp.sessions)
    finally:
        bt_store.close()
    trades = compare(live, backtest)
    hashes = tuple(dict.fromkeys(c.param_hash for c in configs.values()))
    return DriftReport(
        first=inp.first,
        last=inp.last,
        sessions=len(inp.sessions),
        market=ctx.market_spec,
        param_hashes=hashes,
        trades=tuple(trades),
        live_pnl=sum(t.live.pnl or 0.0 for t in trades if t.live is not None),
        backtest_pnl=sum(t.backtest.pnl or 0.0 for t in trades if t.backtest is not None),
        carried_in=tuple(live.carried_in),
        notes=_notes(live, inp),
        backtest_store=str(db),
        meta={"data_source": data.source, "start_equity": round(inp.start_equity, 2)},
    )


def _notes(live: Any, inp: DriftInput) -> tuple[str, ...]:
    notes = []
    if live.carried_in:
        names = ", ".join(f"{t.key[1]} ({t.key[0]})" for t in live.carried_in)
        notes.append(
            f"positions entered before {inp.first} are not compared (the backtest starts "
            f"flat): {names}; a slot or a sector they held shows as a follow-on difference"
        )
    return tuple(notes)


def _backtest(
    ctx: Context,
    inp: DriftInput,
    configs: dict[date, Config],
    data: BacktestData,
    membership: Membership,
    db: Path,
    progress: Progress | None,
    use_cache: bool,
    workers: int | None,
) -> None:
    cal = ctx.calendar
    cache = ScanCache(ctx.paths.data_dir / "cache" / "scans.db") if use_cache else None
    first_cfg = configs[inp.first]
    try:
        with ScanService(
            data.bars,
            membership,
            workers=workers if workers is not None else first_cfg.app.backtest.scan_workers,
            cache=cache,
            inline=len(inp.sessions) < INLINE_BELOW_SESSIONS,
        ) as scans:
            scan_days = [cal.previous_session(s) for s in inp.sessions]
            for day, session in zip(scan_days, inp.sessions, strict=True):
                scans.prefetch([day], configs[session])
            run = asyncio.run(
                run_backtest(
                    first_cfg,
                    data,
                    inp.first,
                    inp.last,
                    db,
                    scans,
                    cal,
                    progress=progress,
                    params=configs.__getitem__,
                )
            )
    except BacktestError as exc:
        raise UserError(f"the drift report's backtest stopped: {exc}", exit_code=1) from None
    finally:
        if cache is not None:
            cache.close()
    if run.differences:
        raise UserError("the drift report's new backtest store disagreed with its broker")


__all__ = [
    "DriftInput",
    "account_config",
    "drift_history",
    "drift_input",
    "market_kind",
    "run_drift",
    "traded_sessions",
]
