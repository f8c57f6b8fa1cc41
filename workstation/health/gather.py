"""Gather what the health checks look at: from the store, the broker, the engine's heartbeat
and the file system.

Two ways in: :func:`gather_for_cli` (``workstation health``, another process than the engine:
the broker is the simulated exchange's state file, or Alpaca through its API) and
:func:`gather_in_process` (the running window: its own session's broker). Both end in
:func:`inputs_from_store`. Nothing here writes anything.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import shutil
import time
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from workstation.core.calendar import ET, TradingCalendar
from workstation.core.clock import Clock
from workstation.core.config import Config
from workstation.core.models import Order
from workstation.core.paths import Paths
from workstation.health.checks import EngineBeat, HealthInputs, scan_due
from workstation.health.heartbeat import FILE_NAME, read_beat
from workstation.store import Store, StoreError

SIM_STATE_FILE = "sim_exchange.json"


class _FixedClock:
    """The simulated exchange's saved time, as a clock (SimBroker.from_state needs one)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def engine_beat(paths: Paths) -> EngineBeat | None:
    """The heartbeat. A beat that says "running" while nobody holds the home's instance lock
    (the OS releases it when its process ends, however it ends) was left by a killed or
    crashed engine."""
    from workstation.instance import InstanceLock

    beat = read_beat(paths.data_dir / FILE_NAME)
    if beat is not None and beat.running and InstanceLock(paths.data_dir).probe() is None:
        beat = dataclasses.replace(beat, running=False, killed=True)
    return beat


def latest_backup(folder: Path) -> tuple[datetime | None, str]:
    """When the newest backup of the store in ``folder`` was written, and a note when none."""
    from workstation.store.backups import Backups

    latest = Backups(folder).latest()
    if latest is None:
        return None, f"nothing in {folder}"
    return datetime.fromtimestamp(latest.stat().st_mtime).astimezone(ET), ""


def free_disk_mb(path: Path) -> float:
    try:
        return shutil.disk_usage(path).free / 1e6
    except OSError:
        return math.nan


def inputs_from_store(
    store: Store,
    *,
    now: datetime,
    cfg: Config,
    calendar: TradingCalendar,
    data_dir: Path,
    backup_dir: Path | None = None,
    broker_positions: Mapping[str, tuple[int, float]] | None,
    broker_orders: Sequence[Order] | None,
    broker_error: str = "",
    beat: EngineBeat | None = None,
    in_process: bool = False,
) -> HealthInputs:
    probe = HealthInputs(
        now, time.time(), cfg, calendar, {}, False, {}, (), (), None, None
    )  # only for scan_due
    scan_session, _ = scan_due(probe)
    scan = store.latest_scan(scan_session, ok_only=False)
    any_scan = scan is not None or store.latest_scan(ok_only=False) is not None
    today = calendar.session_on_or_before(now)
    sessions = {today, calendar.previous_session(today)}
    steps: dict[date, dict[str, str]] = {}
    for s in sessions:
        states: dict[str, str] = {}
        for action, state in (("step.missed", "missed"), ("step.done", "done")):
            for row in store.audit_log(subject=f"session:{s.isoformat()}", action=action):
                states[str((row.detail or {}).get("step"))] = state
        steps[s] = states
    backup, note = latest_backup(backup_dir or data_dir / "backups")
    return HealthInputs(
        now=now,
        wall=time.time(),
        cfg=cfg,
        calendar=calendar,
        scans={scan_session: scan},
        any_scan=any_scan,
        steps_done=steps,
        positions=tuple(store.open_positions()),
        open_orders=tuple(store.open_orders()),
        broker_positions=broker_positions,
        broker_orders=broker_orders,
        broker_error=broker_error,
        beat=beat,
        in_process=in_process,
        free_disk_mb=free_disk_mb(data_dir),
        last_backup=backup,
        backup_note=note,
    )


# ----------------------------------------------------------------------------- the CLI


def _sim_state(paths: Paths) -> dict[str, Any] | None:
    try:
        return json.loads((paths.data_dir / SIM_STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _sim_broker(state: dict[str, Any], at: datetime) -> tuple[Any, str]:
    from workstation.broker.sim import SimBroker

    try:
        return SimBroker.from_state(state["broker"], _FixedClock(at)), ""  # type: ignore[arg-type]
    except Exception as exc:
        return None, f"the simulated exchange's state cannot be read: {exc}"


async def _alpaca_side(ctx: Any, clock: Clock) -> tuple[Any, Any, str]:
    """Positions and all recent orders from Alpaca (None, None, why on failure)."""
    from workstation.alpaca.session import AlpacaSession
    from workstation.broker.alpaca import AlpacaBroker

    try:
        asess = AlpacaSession.from_config(ctx.cfg.app.alpaca, mode=ctx.mode, clock=clock)
        broker = AlpacaBroker(asess, calendar=ctx.calendar)
    except Exception as exc:
        return None, None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    try:
        positions = await broker.positions()
        orders = await broker.open_orders()
        return positions, orders, ""
    except Exception as exc:
        return None, None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        close = getattr(broker, "aclose", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()


def gather_for_cli(ctx: Any) -> HealthInputs:
    """For ``workstation health``: the engines' time and broker of the home's mode."""
    import asyncio

    from workstation.core.clock import WallClock
    from workstation.store.home_store import backup_folder

    paths: Paths = ctx.paths
    beat = engine_beat(paths)
    mode = ctx.mode
    broker_positions: Mapping[str, tuple[int, float]] | None = None
    broker_orders: Sequence[Order] | None = None
    error = ""
    if mode == "sim":
        state = _sim_state(paths)
        fresh = beat is not None and beat.running
        if fresh:
            assert beat is not None
            now = beat.clock.astimezone(ET)
        elif state is not None and state.get("clock"):
            now = datetime.fromisoformat(state["clock"]).astimezone(ET)
        else:
            now = WallClock().now()
        if state is None:
            error = f"no simulated exchange in {paths.data_dir / SIM_STATE_FILE}"
        else:
            broker, error = _sim_broker(state, now)
            if broker is not None:
                broker_positions = broker.positions_sync()
                broker_orders = broker.open_orders_sync()
    else:
        clock = WallClock()
        now = clock.now()
        broker_positions, broker_orders, error = asyncio.run(_alpaca_side(ctx, clock))
    db = paths.db_path
    if not db.is_file():
        return _no_store(ctx, now, beat, f"there is no store at {db}")
    try:
        store = Store.open(db, integrity_check=False)
    except StoreError as exc:  # empty, damaged, unreadable: a failed check, not a crash
        return _no_store(ctx, now, beat, str(exc))
    try:
        return inputs_from_store(
            store,
            now=now,
            cfg=ctx.cfg,
            calendar=ctx.calendar,
            data_dir=paths.data_dir,
            backup_dir=backup_folder(paths, ctx.cfg.app.store),
            broker_positions=broker_positions,
            broker_orders=broker_orders,
            broker_error=error,
            beat=beat,
        )
    finally:
        store.close()


def _no_store(ctx: Any, now: datetime, beat: EngineBeat | None, why: str) -> HealthInputs:
    """What health can say without a usable store (``why``: what is wrong with it)."""
    return HealthInputs(
        now=now,
        wall=time.time(),
        cfg=ctx.cfg,
        calendar=ctx.calendar,
        scans={},
        any_scan=False,
        steps_done={},
        positions=(),
        open_orders=(),
        broker_positions=None,
        broker_orders=None,
        broker_error=why,
        beat=beat,
        free_disk_mb=free_disk_mb(ctx.paths.data_dir),
        backup_note=why,
    )


__all__ = ["engine_beat", "gather_for_cli", "inputs_from_store", "latest_backup"]
