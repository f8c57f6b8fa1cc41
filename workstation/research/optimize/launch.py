"""Start or resume a search from a home: the one entry point of the CLI and the app.

``prepare_search(ctx, SearchRequest(...))`` checks everything it can before any work (the
parameters against the schema's ranges, the period, the walk-forward), loads the history,
creates the search's file and lists it in the home's store, and returns a
:class:`~workstation.research.optimize.search.Search`; ``resume_search(ctx, id)`` does the same
for a search that stopped, from its file (its own spec, configuration and data: the market
data must be unchanged). Both raise :class:`~workstation.errors.UserError` (exit code 2) with
one line for anything the user can fix.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from workstation.context import Context
from workstation.core.calendar import ET
from workstation.core.config import SECTIONS, Config, build_section
from workstation.core.schema import SchemaError, to_plain
from workstation.errors import UserError
from workstation.research.history import History, load_history, resolve_period
from workstation.research.optimize.objective import OBJECTIVES, Objective
from workstation.research.optimize.search import Search
from workstation.research.optimize.searchfile import SearchFile, SearchFileError
from workstation.research.optimize.space import SpaceError, check_space, parse_param
from workstation.research.optimize.spec import (
    DEFAULT_IN_FLIGHT,
    SearchSpec,
    plan_search,
)
from workstation.research.optimize.windows import WindowError, parse_walk_forward
from workstation.research.optimize.worker import SharedData
from workstation.research.scans import ScanCache, data_fingerprint

DEFAULT_MIN_TRADES = 10


@dataclass(frozen=True)
class SearchRequest:
    """A search as a user asks for it (the CLI's options; the app's form).

    ``params``: ``KEY=SPEC`` strings. ``search`` None: grid when every dimension has points,
    else tpe. ``universe``: ``pit``, ``current`` or a CSV path (None: the backtest's default).
    ``workers``: local worker processes (None: one per core); ignored with ``scheduler``."""

    params: tuple[str, ...]
    start: str | None = None
    end: str | None = None
    search: str | None = None
    trials: int | None = None
    objective: str = "sharpe"
    min_trades: int = DEFAULT_MIN_TRADES
    walk_forward: str | None = None
    seed: int = 0
    scheduler: str | None = None
    workers: int | None = None
    universe: str | None = None
    scan_cache: bool = True
    in_flight: int = DEFAULT_IN_FLIGHT


def _fail(msg: str) -> UserError:
    return UserError(msg, exit_code=2)


def config_plain(cfg: Config) -> dict[str, Any]:
    return {
        "scanner": to_plain(cfg.scanner),
        "strategies": {k: to_plain(v) for k, v in cfg.strategies.items()},
        "risk": to_plain(cfg.risk),
        "schedule": to_plain(cfg.schedule),
        "app": to_plain(cfg.app),
    }


def config_from_plain(d: Mapping[str, Any]) -> Config:
    parts = {f.split(".")[0]: build_section(f, d[f.split(".")[0]]) for f in SECTIONS}
    parts["strategies"] = build_section("strategies.yaml", d["strategies"])
    return Config(**parts)


def check_request(cfg: Config, req: SearchRequest) -> SearchSpec:
    """The spec of ``req`` with its parameters checked against ``cfg``'s schema; the period
    is filled in later (it needs the data). One UserError line for anything wrong."""
    try:
        space = check_space(cfg, [parse_param(p) for p in req.params])
        objective = Objective(req.objective, req.min_trades)
        wf = None if req.walk_forward is None else parse_walk_forward(req.walk_forward)
        search = req.search or ("grid" if space.grid_size() is not None else "tpe")
        spec = SearchSpec(
            space=space,
            first=date.min,
            last=date.min,
            objective=objective,
            search=search,
            trials=req.trials,
            walk_forward=wf,
            seed=req.seed,
            in_flight=req.in_flight,
            scan_cache=req.scan_cache,
        )
        if search == "grid":
            space.grid()
    except (SpaceError, WindowError, ValueError) as exc:
        raise _fail(str(exc)) from None
    if req.objective not in OBJECTIVES:
        raise _fail(f"--objective {req.objective!r}: choose from {', '.join(OBJECTIVES)}")
    return spec


def _new_id() -> str:
    return f"{datetime.now(ET):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def _folder(ctx: Context) -> Path:
    return ctx.paths.data_dir / "optimize"


def _universe_ctx(ctx: Context, universe: str | None) -> Context:
    if universe is not None and universe not in ("pit", "current"):
        return dataclasses.replace(ctx, universe_csv=universe)
    return ctx


def _shared(history: History, cfg: Config, cache_path: Path | None) -> SharedData:
    data = history.data
    return SharedData(
        bars=data.bars,
        membership=history.membership,
        source=data.source,
        report=data.report,
        base=cfg,
        fingerprint=data_fingerprint(data.bars),
        cache_path=None if cache_path is None else str(cache_path),
    )


def _listing(ctx: Context, search_id: str) -> Any:
    from workstation.store import Store

    def update(status: str, done: int, best: Mapping[str, Any] | None) -> None:
        store = Store.open(ctx.paths.db_path)
        try:
            store.update_search(
                search_id, at=datetime.now(UTC), status=status, trials_done=done, best=best
            )
        finally:
            store.close()

    return update


def prepare_search(ctx: Context, req: SearchRequest) -> Search:
    """A new search, checked, its file created and listed, ready to ``run()``."""
    cfg = ctx.cfg
    spec = check_request(cfg, req)
    hint = ctx.session_arg(req.start, "--from") if req.start else None
    history = load_history(
        _universe_ctx(ctx, req.universe), req.universe, hint, cfg.app.backtest.years
    )
    period = resolve_period(ctx, history, req.start, req.end)
    spec = dataclasses.replace(spec, first=period.first, last=period.last)
    cal = ctx.calendar
    sessions = cal.sessions_in_range(period.first, period.last)
    try:
        plan = plan_search(spec, sessions)
    except (SpaceError, WindowError) as exc:
        raise _fail(str(exc)) from None
    search_id = _new_id()
    path = _folder(ctx) / f"{search_id}.db"
    cache_path = ctx.paths.data_dir / "cache" / "scans.db"
    shared = _shared(history, cfg, cache_path)
    file = SearchFile(path)
    file.put("id", search_id)
    file.put("created_at", datetime.now(UTC).isoformat(timespec="seconds"))
    file.put("spec", spec.as_json())
    file.put("config", config_plain(cfg))
    file.put("fingerprint", shared.fingerprint)
    file.put("market", ctx.market_spec)
    file.put("market_seed", ctx.seed)
    file.put("universe", req.universe)
    file.put("data_source", history.data.source)
    file.put("status", "new")
    _record(ctx, search_id, spec, plan.total, cfg, history, path)
    return _search(ctx, search_id, spec, plan, shared, file, history, req.scheduler, req.workers)


def _record(
    ctx: Context,
    search_id: str,
    spec: SearchSpec,
    total: int,
    cfg: Config,
    history: History,
    path: Path,
) -> None:
    from workstation.store import Store, StoreError

    try:
        store = Store.open(ctx.paths.db_path)
    except StoreError as exc:
        raise UserError(f"the search could not be listed in the home's store: {exc}") from None
    try:
        store.record_search(
            search_id,
            at=datetime.now(UTC),
            search=spec.search,
            objective=spec.objective.name,
            params=[f"{p.key}={p.text}" for p in spec.space.params],
            first=spec.first,
            last=spec.last,
            walk_forward=None if spec.walk_forward is None else spec.walk_forward.text,
            market=ctx.market_spec,
            data_source=history.data.source,
            param_hash=cfg.param_hash,
            trials_total=total,
            path=str(path),
        )
    finally:
        store.close()


def _search(
    ctx: Context,
    search_id: str,
    spec: SearchSpec,
    plan: Any,
    shared: SharedData,
    file: SearchFile,
    history: History,
    scheduler: str | None,
    workers: int | None,
    *,
    resumed: bool = False,
) -> Search:
    cfg = shared.base
    cal = ctx.calendar
    cache = ScanCache(Path(shared.cache_path)) if spec.scan_cache and shared.cache_path else None
    scan_days = [cal.previous_session(spec.first), *plan.sessions[:-1]]
    info = {
        "market": ctx.market_spec,
        "data_source": history.data.source,
        "universe": history.membership.mode,
        "param_hash": cfg.param_hash,
        "data_fingerprint": shared.fingerprint,
        "file": str(file.path),
    }
    return Search(
        search_id,
        spec,
        plan,
        shared,
        file,
        scheduler=scheduler,
        workers=workers,
        listing=_listing(ctx, search_id),
        scan_cache=cache,
        starting_equity=cfg.app.backtest.starting_equity,
        risk_free_rate=cfg.app.backtest.risk_free_rate,
        scan_days=scan_days,
        resumed=resumed,
        info=info,
    )


def resume_search(
    ctx: Context, search_id: str, *, scheduler: str | None = None, workers: int | None = None
) -> Search:
    """The search ``search_id`` of this home, ready to run again from where it stopped."""
    path = _folder(ctx) / f"{search_id}.db"
    if not path.is_file():
        raise _fail(
            f"--resume {search_id}: no such search in {_folder(ctx)} (the searches of this "
            "home are listed by 'workstation optimize --list')"
        )
    try:
        file = SearchFile.open_existing(path)
        spec = SearchSpec.from_json(file.get("spec"))
        cfg = config_from_plain(file.get("config"))
    except (SearchFileError, SchemaError, SpaceError, WindowError, KeyError, TypeError) as exc:
        raise _fail(f"--resume {search_id}: the search file cannot be read: {exc}") from None
    market = file.get("market")
    universe = file.get("universe")
    rctx = dataclasses.replace(
        _universe_ctx(ctx, universe), market_spec=market, seed=file.get("market_seed")
    )
    history = load_history(rctx, universe, spec.first, cfg.app.backtest.years)
    shared = _shared(history, cfg, ctx.paths.data_dir / "cache" / "scans.db")
    if shared.fingerprint != file.get("fingerprint"):
        raise _fail(
            f"--resume {search_id}: the market data ({market}) is not what the search started "
            "with; resume it with the same data, or start a new search"
        )
    sessions = ctx.calendar.sessions_in_range(spec.first, spec.last)
    plan = plan_search(spec, sessions)
    return _search(
        rctx, search_id, spec, plan, shared, file, history, scheduler, workers, resumed=True
    )


__all__ = [
    "DEFAULT_MIN_TRADES",
    "SearchRequest",
    "check_request",
    "config_from_plain",
    "config_plain",
    "prepare_search",
    "resume_search",
]
