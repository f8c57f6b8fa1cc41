"""``workstation scan [--date YYYY-MM-DD] [--json]``: the nightly scan of one session."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from workstation.context import Context, command_line, market_error, open_context
from workstation.core.clock import Clock
from workstation.core.events import EventBus
from workstation.engine.scan import ScanError, ScanResult
from workstation.engine.scan_record import scan_document
from workstation.engine.scanner import Scanner, ScanRefused, compute_scan
from workstation.errors import UserError
from workstation.instance import HomeBusy, InstanceLock, took_over_message
from workstation.market.base import MarketData, MarketDataError
from workstation.store import Store
from workstation.store.home_store import open_home_store


def register(sub: Any, global_options: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "scan",
        help="scan a session (default: the last completed one) and persist its ranked top 12",
    )
    p.add_argument("--date", metavar="YYYY-MM-DD", help="the session to scan")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    global_options(p)
    p.set_defaults(handler=run_scan)


async def _scan_and_close(
    scanner: Scanner | None, market: MarketData, session: date, ctx: Context, clock: Clock
) -> ScanResult:
    try:
        if scanner is not None:
            outcome = await scanner.scan(session)
            assert outcome.result is not None  # scanned here, not computed elsewhere
            return outcome.result
        return await compute_scan(market, market.universe(), session, ctx.cfg, clock)
    finally:
        # A network market writes its bar cache in the background and owns connections.
        for name in ("flush_cache", "aclose"):
            fn = getattr(market, name, None)
            if fn is not None:
                await fn()


def parse_session(ctx: Context, market: MarketData, raw: str | None, now: datetime) -> date:
    from workstation.commands.market_cmd import last_completed_session

    last = last_completed_session(ctx, market, now)
    if raw is None:
        return last
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise UserError(f"--date {raw!r} is not a date: write it as YYYY-MM-DD") from None
    cal = ctx.calendar
    try:
        is_session = cal.is_session(day)
    except ValueError as exc:
        raise UserError(f"--date {day} is outside the NYSE calendar: {exc}") from exc
    if not is_session:
        before = cal.previous_session(day)
        raise UserError(
            f"{day} ({day:%A}) is not an NYSE session; the session before it is {before}"
        )
    first = _first_session(market)
    if day > last or (first is not None and day < first):
        span = f"{first} .. {last}" if first else f"up to {last}"
        raise UserError(f"{day} is outside the {market.name} market's data ({span})")
    return day


def _first_session(market: MarketData) -> date | None:
    first = getattr(market, "first_session", None)
    if isinstance(first, date):
        return first
    sessions = getattr(market, "sessions", None)
    return sessions[0] if sessions else None


def run_scan(args: argparse.Namespace) -> int:
    """Scan and save the result; beside a running workstation (which owns the home's store
    and trades from its scans) the scan is only shown, never saved."""
    ctx = open_context(args)
    lock = InstanceLock(ctx.paths.data_dir, ctx.paths.home)
    try:
        previous = lock.acquire(command_line(args))
    except HomeBusy as busy:
        sys.stderr.write(
            f"workstation: this scan is shown, not saved: the workstation running on this "
            f"home ({busy.holder.describe() if busy.holder else 'starting'}) owns its store\n"
        )
        return _scan(ctx, args, None)
    try:
        if previous is not None:
            sys.stderr.write(f"workstation: {took_over_message(previous)}\n")
        with open_home_store(ctx.paths, ctx.cfg.app.store) as store:
            return _scan(ctx, args, store)
    finally:
        lock.release()


def _scan(ctx: Context, args: argparse.Namespace, store: Store | None) -> int:
    """The scan of ``--date``; recorded in ``store`` (None: nothing is written)."""
    try:
        clock = ctx.clock()
        market = ctx.make_market(clock, store=store)
        session = parse_session(ctx, market, args.date, clock.now())
        bench = ctx.cfg.scanner.universe.benchmark
        if getattr(market, "has_benchmark", True) is False:
            raise UserError(
                f"the replay file has no {bench} rows: the market regime is "
                f"classified from {bench}; add its daily bars to the file"
            )
        scanner = (
            None
            if store is None
            else Scanner(
                market,
                lambda: ctx.cfg,
                store,
                ctx.paths.scans_dir,
                clock,
                EventBus(),
                calendar=ctx.calendar,
            )
        )
        refusal = scanner.rerun_refusal(session) if scanner is not None else ""
        if refusal:  # the list being traded (or traded) stays as it was: shown, not saved
            sys.stderr.write(f"workstation: this scan is shown, not saved: {refusal}\n")
            scanner = None
        try:
            result = asyncio.run(_scan_and_close(scanner, market, session, ctx, clock))
        except ScanRefused as exc:  # it became so while scanning
            raise UserError(f"scan of {session} not saved: {exc}") from exc
        except ScanError as exc:
            raise UserError(f"scan of {session} failed: {exc}") from exc
    except MarketDataError as exc:
        raise market_error(exc) from exc
    if args.json:
        json.dump({**scan_document(result), "saved": scanner is not None}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_result(result, market.name)
    return 0


def print_result(result: ScanResult, market: str) -> None:
    rep = result.report
    w = sys.stdout.write
    w(
        f"Scan of {result.session} ({market} market): regime {rep.regime} - "
        f"{result.regime.explain()}\n"
    )
    w(
        f"{rep.loaded} loaded, {rep.eligible} eligible, {len(rep.stale)} stale, "
        f"{len(rep.failed)} failed, {rep.duration_s * 1000:.0f} ms, parameters {rep.param_hash}\n"
    )
    if rep.stale:
        w(f"stale (skipped): {', '.join(rep.stale[:20])}{' ...' if len(rep.stale) > 20 else ''}\n")
    for line in rep.data_problems.lines():
        w(f"data: {line}\n")
    skipped = {k: v for k, v in rep.ineligible.items() if v}
    if skipped:
        w("ineligible: " + ", ".join(f"{k} {v}" for k, v in skipped.items()) + "\n")
    if not result.candidates:
        w("No candidates.\n")
        return
    w(
        f"\n{'#':>2}  {'symbol':<7}{'sector':<24}{'strategy':<18}{'side':<6}{'grp':<4}"
        f"{'score':>6}{'close':>10}{'atr14':>8}{'SL':>8}{'TP':>8}\n"
    )
    for c in result.candidates:
        w(
            f"{c.rank:>2}  {c.symbol:<7}{c.sector[:23]:<24}{c.strategy:<18}{c.side!s:<6}"
            f"{c.group!s:<4}{c.score:>6.1f}{c.close:>10.2f}{c.atr14:>8.2f}"
            f"{c.sl_distance:>8.2f}{c.tp_distance:>8.2f}\n"
        )
    passed = result.ranking.passed_over
    if passed:
        w(
            "\nPassed over (sector cap): "
            + "; ".join(f"{p.symbol} {p.entry.score:.1f} ({p.reason})" for p in passed[:5])
            + "\n"
        )
