"""``workstation backtest``: the live engine's rules over history (see
:mod:`workstation.research.backtest`).

``--from/--to`` (sessions inclusive; default: the last ``backtest.years`` years the market has
data for), ``--scenario NAME`` (repeatable; ``all``), ``--fill-model``, ``--json`` (one
object on stdout), ``--report DIR`` (HTML + CSVs). Each scenario's run is its own store under
``<data>/backtests/``, listed in the main store.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import sys
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from workstation.errors import UserError

# The engine, pandas and the research package are imported when a backtest runs, not when the
# CLI registers its commands: every command, and the window's launch, pays for the latter.
if TYPE_CHECKING:
    import pandas as pd

    from workstation.context import Context
    from workstation.core.config import Config
    from workstation.research.backtest import BacktestRun
    from workstation.research.history import History, Period
    from workstation.research.scenarios import Scenario

_MODE_WORDS = ("pit", "current")


def register(sub: Any, global_options: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "backtest",
        help="run the trading rules over history (the live engine on a fast-forward clock)",
        description="Backtest: the same scan, rules and simulated broker as the live engine, "
        "over history. --universe pit scans each session's S&P 500 members (the default on "
        "real data), --universe current today's members (to show survivorship bias), "
        "--universe CSV a fixed list. Exit codes: 0 done, 2 a user error.",
    )
    p.add_argument("--from", dest="start", metavar="DATE", help="first session to trade")
    p.add_argument("--to", dest="end", metavar="DATE", help="last session to trade")
    p.add_argument(
        "--scenario",
        action="append",
        metavar="NAME",
        help="a named variant (repeatable; 'all': every built-in one); default: combined",
    )
    p.add_argument(
        "--fill-model", choices=("path", "pessimistic"), help="override backtest.fill_model"
    )
    p.add_argument(
        "--params",
        metavar="HASH",
        help="trade a parameter set recorded in the store (by its hash, or a unique "
        "beginning of it) instead of the files in force; app.yaml stays the current one",
    )
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument("--report", metavar="DIR", help="write an HTML report and CSVs into DIR")
    cache_and_progress_options(p)
    global_options(p)
    p.set_defaults(handler=backtest_command)


def cache_and_progress_options(p: argparse.ArgumentParser) -> None:
    """``--no-cache`` and ``--progress``, for every command that runs a backtest."""
    p.add_argument(
        "--no-cache", action="store_true", help="scan every session again (no scan cache)"
    )
    p.add_argument(
        "--progress",
        choices=("auto", "json", "none"),
        default="auto",
        help="progress on stderr: a bar on a terminal (auto), one JSON object a session "
        "(json, for the app), or none",
    )


def _run_id(scenario: str) -> str:
    from workstation.core.calendar import ET

    stamp = datetime.now(ET).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{scenario}"


def _progress(
    out: TextIO,
    name: str,
    mode: str,
    db: Path | None = None,
    first: date | None = None,
    total: int = 0,
) -> Callable[[int, int, date], None] | None:
    if mode == "json":
        # Each line names the store being written (``db``); the first comes before the store
        # exists, so an app that stops the run knows which file to remove.
        def line(i: int, n: int, day: date) -> None:
            doc: dict[str, Any] = {"scenario": name, "done": i, "total": n, "session": str(day)}
            if db is not None:
                doc["store"] = str(db)
            out.write(json.dumps({"progress": doc}) + "\n")
            out.flush()

        if db is not None and first is not None:
            line(0, total, first)
        return line
    if mode == "none" or not out.isatty():
        return None
    width = 30

    def show(i: int, n: int, day: date) -> None:
        done = int(width * i / n)
        out.write(f"\rbacktest {name}: [{'#' * done}{'-' * (width - done)}] {i}/{n} {day}")
        if i == n:
            out.write("\n")
        out.flush()

    return show


def _costs(cfg: Config) -> dict[str, float]:
    bt = cfg.app.backtest
    return {
        "slippage_bps": bt.slippage_bps,
        "open_slippage_bps": bt.open_slippage_bps,
        "commission_per_share": bt.commission_per_share,
        "sec_fee_rate": bt.sec_fee_rate,
        "taf_per_share": bt.taf_per_share,
        "taf_max": bt.taf_max,
    }


@dataclasses.dataclass(frozen=True)
class Backtests:
    """Scenarios backtested over one period with one scan service (see :func:`run_scenarios`)."""

    history: History
    period: Period
    coverage: dict[str, Any]
    closes: pd.Series  # the benchmark's closes
    results: list[tuple[Scenario, BacktestRun, Any, Config]]  # (.., RunResult, its config)
    reused: list[str] = dataclasses.field(default_factory=list)  # scenarios read, not run

    def info(self, ctx: Context, sc: Scenario, cfg: Config) -> Any:
        """The run information of ``sc`` over this period (what ``analyze`` reports)."""
        from workstation.research.backtest import ASSUMPTIONS
        from workstation.research.run_info import Coverage, RunInfo
        from workstation.research.stats import Period as StatsPeriod

        bars = self.history.data.bars
        first = ctx.calendar.sessions_in_range(self.period.first, self.period.last)[0]
        members = self.history.membership.coverage(first, bars)
        return RunInfo(
            market=ctx.market_spec,
            universe_mode=self.history.membership.mode,
            coverage=Coverage(members=members[1], with_data=members[0]),
            period=StatsPeriod(self.period.first, self.period.last),
            data_source=self.history.data.source,
            fill_model=cfg.app.backtest.fill_model,
            costs=_costs(cfg),
            assumptions=ASSUMPTIONS,
            name=sc.name,
            overrides=dict(sc.overrides),
            param_hash=cfg.param_hash,
        )


def run_scenarios(
    ctx: Context,
    cfg: Config,
    universe_arg: str | None,
    start: str | None,
    end: str | None,
    scenarios: list[Scenario],
    *,
    use_cache: bool = True,
    progress: str = "auto",
    reuse: bool = False,
) -> Backtests:
    """Backtest each scenario over the period (``--from``/``--to``, else the last ``cfg``'s
    ``backtest.years`` years), one after the other with one scan service; each run is its own
    store (its bars kept), analysed and listed in the home's store with its run key
    (:mod:`workstation.research.run_key`).

    ``reuse``: a scenario whose run already exists (a listed backtest with the same key: the
    same parameters, settings, data, universe, period and code) is read from its store, not
    run again; its name goes into ``reused``."""
    import pandas as pd

    from workstation.research.backtest import run_backtest
    from workstation.research.history import load_history, resolve_period
    from workstation.research.results import analyze
    from workstation.research.run_bars import keep_bars
    from workstation.research.run_key import run_key
    from workstation.research.scans import (
        INLINE_BELOW_SESSIONS,
        ScanCache,
        ScanService,
        data_fingerprint,
    )
    from workstation.research.scenarios import scenario_config
    from workstation.research.stats import StatsOptions
    from workstation.store import Store

    years = cfg.app.backtest.years
    start_hint = ctx.session_arg(start, "--from") if start else None
    history = load_history(ctx, universe_arg, start_hint, years)
    period = resolve_period(ctx, history, start, end, years=years)
    cal = ctx.calendar
    bars = history.data.bars
    bench = history.data.universe.benchmark
    closes = pd.Series(bars.close[:, bars.col(bench)], index=pd.DatetimeIndex(bars.dates)).dropna()
    sessions = cal.sessions_in_range(period.first, period.last)
    coverage = history.membership.report(sessions, bars)
    scan_days = [cal.previous_session(period.first), *sessions[:-1]]
    folder = ctx.paths.data_dir / "backtests"
    cache = ScanCache(ctx.paths.data_dir / "cache" / "scans.db") if use_cache else None
    done = Backtests(history, period, coverage, closes, [])
    fingerprint = data_fingerprint(bars)
    try:
        with ScanService(
            bars,
            history.membership,
            workers=cfg.app.backtest.scan_workers,
            cache=cache,
            fingerprint=fingerprint,
            inline=len(scan_days) < INLINE_BELOW_SESSIONS,
        ) as scans:
            for sc in scenarios:
                sc_cfg = scenario_config(cfg, sc)
                key = run_key(sc_cfg, fingerprint, history.membership, period.first, period.last)
                if reuse:
                    found = _reused(ctx, done, sc, sc_cfg, key, len(sessions), progress)
                    if found is not None:
                        done.results.append(found)
                        done.reused.append(sc.name)
                        continue
                scans.prefetch(scan_days, sc_cfg)
                db = folder / f"{_run_id(sc.name)}.db"
                shown = _progress(sys.stderr, sc.name, progress, db, period.first, len(sessions))
                with _removed_unless_finished(db):
                    run = _run_or_fail(
                        run_backtest(
                            sc_cfg,
                            history.data,
                            period.first,
                            period.last,
                            db,
                            scans,
                            cal,
                            progress=shown,
                        )
                    )
                    with Store.open(db) as kept:
                        keep_bars(kept, bars, bench, period.first, period.last)
                if run.differences:
                    raise UserError(f"the backtest's new store disagreed with its broker: {run}")
                options = StatsOptions(risk_free_rate=sc_cfg.app.backtest.risk_free_rate)
                info = done.info(ctx, sc, sc_cfg)
                result = analyze(db, info, benchmark_closes=closes, options=options)
                _list_run(ctx, db, sc, sc_cfg, period, history, result, base=cfg, key=key)
                done.results.append((sc, run, result, sc_cfg))
    finally:
        if cache is not None:
            cache.close()
    return done


def _reused(
    ctx: Context,
    done: Backtests,
    sc: Scenario,
    cfg: Config,
    key: str,
    n_sessions: int,
    progress: str,
) -> tuple[Scenario, BacktestRun, Any, Config] | None:
    """``sc``'s run read from the listed backtest with the same ``key``, if there is one."""
    from workstation.research.backtest import BacktestRun
    from workstation.research.results import analyze
    from workstation.research.run_key import find_run
    from workstation.research.stats import StatsOptions
    from workstation.store.home_store import open_home_store

    try:
        store = open_home_store(ctx.paths, ctx.cfg.app.store)
    except UserError:
        return None
    try:
        row = find_run(store, cfg.param_hash, key)
    finally:
        store.close()
    if row is None:
        return None
    db = Path(row.path)
    options = StatsOptions(risk_free_rate=cfg.app.backtest.risk_free_rate)
    result = analyze(db, done.info(ctx, sc, cfg), benchmark_closes=done.closes, options=options)
    shown = _progress(sys.stderr, sc.name, progress, db, done.period.first, n_sessions)
    if shown is not None:
        shown(n_sessions, n_sessions, done.period.last)
    run = BacktestRun(done.period.first, done.period.last, n_sessions, db)
    return sc, run, result, cfg


def backtest_command(args: argparse.Namespace) -> int:
    from workstation.context import open_context
    from workstation.core.overrides import apply_overrides
    from workstation.research.results import results_json
    from workstation.research.scenarios import resolve

    universe_arg = getattr(args, "universe", None)
    if universe_arg in _MODE_WORDS:
        args.universe = None  # a mode, not a CSV for the context
    ctx = open_context(args)
    if args.params:
        _use_param_set(ctx, args.params)
    cfg = ctx.cfg
    if args.fill_model:
        cfg = apply_overrides(cfg, {"app.backtest.fill_model": args.fill_model})
    scenarios = resolve(args.scenario or [], cfg, ctx.paths.config_dir)
    done = run_scenarios(
        ctx,
        cfg,
        universe_arg,
        args.start,
        args.end,
        scenarios,
        use_cache=not args.no_cache,
        progress=args.progress,
    )
    results = done.results
    main, *others = [r[2] for r in results]
    doc = results_json(main, scenarios=others)
    doc["universe"]["coverage_over_period"] = done.coverage
    doc["data"] = data_problems(
        done.history, done.period, ctx.cfg.scanner.universe.history_sessions
    )
    doc["runs"] = [_run_json(sc, run) for sc, run, _, _ in results]
    if args.report:
        from workstation.research.report import write_report

        write_report(Path(args.report).expanduser(), main, scenarios=others)
    if args.json:
        sys.stdout.write(json.dumps(doc, allow_nan=False, separators=(",", ":")) + "\n")
    else:
        _print_text(doc, sys.stdout)
    return 0


def data_problems(history: History, period: Period, warmup: int) -> dict[str, Any]:
    """What the data validation (rules §14) found: in the whole source, and in the bars the
    period's scans and sessions read (its warm-up included), by kind and symbol. Those bars
    were not served (invalid, conflicting, spikes) or not traded (zero volume)."""
    import numpy as np

    from workstation.market.validation import problems_in

    bars = history.data.bars
    start = np.datetime64(period.first, "D")
    i = max(0, int(np.searchsorted(bars.dates, start)) - warmup - 1)
    window = bars.upto(period.last)
    window = window.tail(window.n_sessions - i)
    report = problems_in(window.select([s for s in history.membership.symbols if s in window]))
    source = history.data.report
    return {
        "source": [] if source is None else source.lines(),
        "period": report.as_dict(),
        "period_lines": report.lines(),
    }


def _use_param_set(ctx: Context, key: str) -> None:
    """Make the recorded parameter set ``key`` the configuration of this command."""
    from workstation.research.param_sets import load_param_set

    cfg, row = load_param_set(ctx.cfg, ctx.paths.db_path, key)
    if cfg.param_hash != row.hash:
        sys.stderr.write(
            f"note: parameter set {row.hash} was recorded by an earlier version of the app; "
            f"with the parameters added since at their defaults its hash is {cfg.param_hash}\n"
        )
    ctx.config.current = cfg  # this command only: nothing is written to the files


@contextlib.contextmanager
def _removed_unless_finished(db: Path) -> Iterator[None]:
    """A run that stops half-way (an error, Ctrl-C) leaves no partial store behind: only a
    finished run's store is kept and listed."""
    try:
        yield
    except BaseException:
        from workstation.research.runs import delete_store

        delete_store(db)
        raise


def _run_or_fail(coro: Any) -> BacktestRun:
    from workstation.research.backtest import BacktestError

    try:
        return asyncio.run(coro)
    except BacktestError as exc:
        raise UserError(f"backtest stopped: {exc}", exit_code=1) from None


def _list_run(
    ctx: Context,
    db: Path,
    sc: Scenario,
    cfg: Config,
    period: Period,
    history: History,
    result: Any,
    *,
    base: Config,
    key: str = "",
) -> None:
    """List the run in the home's store (the app's research views find it there), with the
    parameter set the command started from (so it can be backtested again by its hash)."""
    from workstation.core.calendar import ET
    from workstation.core.param_sets import params_yaml
    from workstation.research.results import comparison_row
    from workstation.store.home_store import open_home_store

    try:
        store = open_home_store(ctx.paths, ctx.cfg.app.store)
    except UserError as exc:
        raise UserError(f"the backtest is in {db}, but it could not be listed: {exc}") from None
    info = result.info
    summary = {
        **comparison_row(result),
        "costs": dict(info.costs),
        "coverage": None if info.coverage is None else info.coverage.as_json(),
        "risk_free_rate": result.stats.options.risk_free_rate,
        "run_key": key,
    }
    try:
        now = datetime.now(ET)
        store.record_param_set(
            base.param_hash, params_yaml(base), f"backtest {db.stem}", at=now, actor="user"
        )
        store.record_backtest(
            db.stem,
            at=now,
            scenario=sc.name,
            first=period.first,
            last=period.last,
            market=ctx.market_spec,
            data_source=history.data.source,
            param_hash=cfg.param_hash,
            universe_mode=history.membership.mode,
            fill_model=cfg.app.backtest.fill_model,
            path=str(db),
            overrides=dict(sc.overrides),
            summary=summary,
        )
    finally:
        store.close()


def _run_json(sc: Scenario, run: BacktestRun) -> dict[str, Any]:
    return {
        "scenario": sc.name,
        "store": str(run.db_path),
        "sessions": run.sessions,
        "wall_s": round(run.wall_s, 3),
        "prints": run.prints,
    }


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:+.2%}" if pct else f"{v:.2f}"
    return str(v)


def _print_text(doc: dict[str, Any], out: TextIO) -> None:
    p = doc["period"]
    u = doc["universe"]
    cov = u.get("coverage_over_period") or {}
    out.write(
        f"Backtest {p['start']} .. {p['end']} ({p['sessions']} sessions), {doc['data_source']}\n"
        f"universe {u['mode']}, coverage min {cov.get('coverage_min')} mean "
        f"{cov.get('coverage_mean')}; parameters {doc['param_hash']}; fills "
        f"{doc['fill_model']}\n"
    )
    rows = doc["scenarios"] or [{"name": doc["name"], **doc["stats"]}]
    out.write(
        f"\n{'scenario':<18}{'trades':>7}{'win':>8}{'PF':>7}{'exp R':>7}{'return':>9}"
        f"{'CAGR':>9}{'Sharpe':>8}{'maxDD':>9}\n"
    )
    for r in rows:
        out.write(
            f"{r['name']:<18}{_fmt(r.get('n_trades')):>7}{_fmt(r.get('win_rate'), True):>8}"
            f"{_fmt(r.get('profit_factor')):>7}{_fmt(r.get('expectancy_r')):>7}"
            f"{_fmt(r.get('total_return'), True):>9}{_fmt(r.get('cagr'), True):>9}"
            f"{_fmt(r.get('sharpe')):>8}{_fmt(r.get('max_drawdown'), True):>9}"
            f"{'  (small sample)' if r.get('small_sample') else ''}\n"
        )
    b = doc.get("benchmark") or {}
    out.write(
        f"{'SPY buy & hold':<18}{'':>7}{'':>8}{'':>7}{'':>7}"
        f"{_fmt(b.get('total_return'), True):>9}{_fmt(b.get('cagr'), True):>9}"
        f"{_fmt(b.get('sharpe')):>8}{_fmt(b.get('max_drawdown'), True):>9}\n"
    )
    for line in doc["data"]["period_lines"]:
        out.write(f"\ndata: {line}")
    for r in doc["runs"]:
        out.write(f"\n{r['scenario']}: store {r['store']} ({r['wall_s']:.1f} s)")
    out.write("\n")


__all__ = ["backtest_command", "cache_and_progress_options", "register"]
