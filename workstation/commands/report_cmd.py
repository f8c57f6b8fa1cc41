"""``workstation report drift|edge|change``: the evidence behind the trader's decisions (issue 11).

* ``report drift --from D --to D [--json]``: the sessions the app traded (simulated, paper or
  live: the home's store) against a backtest of the same sessions with the parameter versions
  then in force, trade by trade, with totals by cause
  (:mod:`workstation.research.evidence.drift`);
* ``report edge [--from D] [--to D] [--json]``: what the trader's approvals and vetoes did
  against the rules alone, by strategy and over time
  (:mod:`workstation.research.evidence.edge`);
* ``report change --set KEY=VALUE ... [--from D] [--to D] [--json]``: "what would this change
  do?", the parameters in force and the edited ones backtested over the same period (default:
  the last ``backtest.years`` years with data), compared
  (:mod:`workstation.research.evidence.change`).

Exit codes: 0 done, 2 a user error (a bad period, sessions the store has not traded).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import date
from typing import Any, TextIO

import yaml

from workstation.commands.backtest_cmd import cache_and_progress_options
from workstation.context import Context, open_context
from workstation.errors import UserError


def register(sub: Any, global_options: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "report",
        help="evidence on what was traded: drift against the backtest, the trader's edge",
        description="Reports on the sessions this home has traded. Exit codes: 0 done, "
        "2 a user error.",
    )
    kinds = p.add_subparsers(dest="report", metavar="REPORT")
    drift = kinds.add_parser(
        "drift",
        help="the traded sessions against a backtest of the same sessions, by cause",
        description="Backtest the sessions the app traded with the parameter versions then "
        "in force, and compare trade by trade: trades only live, only in the backtest, or in "
        "both (entry and exit slippage against the modelled fill, exit reason and timing), "
        "with totals by cause: gap at the open, missed or late orders, rejections, manual "
        "actions, vetoes, data differences.",
    )
    _period(drift, required=True)
    cache_and_progress_options(drift)
    global_options(drift)
    drift.set_defaults(handler=drift_command)
    edge = kinds.add_parser(
        "edge",
        help="what approvals and vetoes did against the rules alone",
        description="Every vetoed candidate is paper-tracked (what it would have done); every "
        "approval is compared with what the on_pending policy would have done alone. By "
        "strategy and by month.",
    )
    _period(edge, required=False)
    global_options(edge)
    edge.set_defaults(handler=edge_command)
    change = kinds.add_parser(
        "change",
        help="what a parameter change would do: both backtests side by side",
        description="Backtest the parameters in force and the same with --set KEY=VALUE "
        "changes over one period, and compare: the figures side by side, both equity curves "
        "and the trades that differ. A key is the file's stem and the path inside it "
        "(strategies.rsi_reversion.sl_atr, risk.exits.time_exit_day).",
    )
    change.add_argument(
        "--set",
        dest="sets",
        action="append",
        metavar="KEY=VALUE",
        required=True,
        help="a parameter to change (repeatable); VALUE is read as YAML",
    )
    change.add_argument("--from", dest="start", metavar="DATE")
    change.add_argument("--to", dest="end", metavar="DATE")
    change.add_argument(
        "--years",
        type=float,
        metavar="N",
        help="without --from: the last N years the market has data for (default: backtest.years)",
    )
    change.add_argument(
        "--rerun",
        action="store_true",
        help="run both backtests even when one of them already exists (by default a run "
        "with the same parameters, settings, data, period and code, such as the track "
        "record's backtest of the parameters in force, is read from its store)",
    )
    change.add_argument("--json", action="store_true", help="one JSON object on stdout")
    cache_and_progress_options(change)
    global_options(change)
    change.set_defaults(handler=change_command)
    p.set_defaults(handler=_needs_kind(p))


def _period(p: argparse.ArgumentParser, *, required: bool) -> None:
    p.add_argument("--from", dest="start", metavar="DATE", required=required)
    p.add_argument("--to", dest="end", metavar="DATE", required=required)
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")


def _needs_kind(p: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    def handler(_args: argparse.Namespace) -> int:
        raise UserError(
            "report needs a kind: 'workstation report drift', 'report edge' or 'report change'"
        )

    return handler


def _day(ctx: Context, raw: str | None, option: str) -> date | None:
    """A date of the period: any day (the reports take the sessions inside the period)."""
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise UserError(f"{option} {raw!r} is not a date: write it as YYYY-MM-DD") from None


def drift_command(args: argparse.Namespace) -> int:
    from workstation.commands.backtest_cmd import _progress
    from workstation.research.evidence.drift_run import run_drift

    ctx = open_context(args)
    start, end = _day(ctx, args.start, "--from"), _day(ctx, args.end, "--to")
    assert start is not None and end is not None
    report = run_drift(
        ctx,
        start,
        end,
        progress=_progress(sys.stderr, "drift", args.progress),
        use_cache=not args.no_cache,
    )
    return _emit(report.as_json(), args.json, print_drift)


def parse_sets(sets: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; each value read as YAML (``2.5``, ``true``, ``skip``)."""
    out: dict[str, Any] = {}
    for raw in sets:
        key, sep, value = raw.partition("=")
        if not sep or not key.strip():
            raise UserError(
                f"--set {raw!r} is not KEY=VALUE: write e.g. --set risk.exits.time_exit_day=3"
            )
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            out[key.strip()] = value
    return out


def change_command(args: argparse.Namespace) -> int:
    from workstation.commands.backtest_cmd import run_scenarios
    from workstation.core.overrides import apply_overrides, current_value
    from workstation.core.schema import SchemaError
    from workstation.research.evidence.change import preview_json
    from workstation.research.scenarios import Scenario

    ctx = open_context(args)
    cfg = ctx.cfg
    sets = parse_sets(args.sets)
    try:  # one clear line before any backtest runs
        if args.years is not None:  # app.yaml is not in the parameter hash: both sides share it
            cfg = apply_overrides(cfg, {"app.backtest.years": args.years})
    except SchemaError as exc:
        raise UserError(f"--years {args.years:g}: {exc.errors[0]}") from None
    try:
        apply_overrides(cfg, sets)
        changes = {k: (current_value(cfg, k), v) for k, v in sets.items()}
    except SchemaError as exc:
        more = f" (and {len(exc.errors) - 1} more)" if len(exc.errors) > 1 else ""
        raise UserError(f"--set: {exc.errors[0]}{more}") from None
    # Not "combined": a preview's period (and its --years) is the user's choice, and the track
    # record takes the newest combined run of the parameters in force as its reference.
    current = Scenario("preview-current", "the configuration in force")
    edited = Scenario("preview-edited", "the edited values", sets)
    done = run_scenarios(
        ctx,
        cfg,
        getattr(args, "universe", None),
        args.start,
        args.end,
        [current, edited],
        use_cache=not args.no_cache,
        progress=args.progress,
        reuse=not args.rerun,
    )
    (_, run_a, a, _), (_, run_b, b, _) = done.results
    stores = {"current": str(run_a.db_path), "edited": str(run_b.db_path)}
    doc = preview_json(a, b, changes, stores=stores)
    doc["reused"] = [n.removeprefix("preview-") for n in done.reused]
    return _emit(doc, args.json, print_change)


def _emit(
    doc: dict[str, Any], as_json: bool, text: Callable[[dict[str, Any], TextIO], None]
) -> int:
    """One JSON object on stdout, or the report as text."""
    if as_json:
        sys.stdout.write(json.dumps(doc, allow_nan=False, separators=(",", ":")) + "\n")
    else:
        text(doc, sys.stdout)
    return 0


def _money(v: float | None) -> str:
    return "n/a" if v is None else f"{v:+,.2f}"


def print_drift(doc: dict[str, Any], out: TextIO) -> None:
    p, s = doc["period"], doc["summary"]
    out.write(
        f"Drift {p['start']} .. {p['end']} ({p['sessions']} sessions), market {doc['market']}, "
        f"parameters {', '.join(doc['param_hashes'])}\n"
        f"trades: {s['trades_live']} live, {s['trades_backtest']} in the backtest; "
        f"{s['both']} in both ({s['both_differing']} differing), {s['live_only']} only live, "
        f"{s['backtest_only']} only in the backtest\n"
        f"P&L: live {_money(s['live_pnl'])}, backtest {_money(s['backtest_pnl'])}, "
        f"difference {_money(s['difference'])}\n"
    )
    if not doc["drift"]:
        out.write(
            "\nNo drift: every trade matches the backtest (price to the cent, reason, time).\n"
        )
    else:
        out.write(f"\n{'cause':<26}{'trades':>7}{'P&L':>14}\n")
        for c in doc["causes"]:
            label = c["label"].split(" (")[0]
            out.write(f"{label:<26}{c['count']:>7}{_money(c['pnl']):>14}\n")
        out.write("\n")
        for t in doc["trades"]:
            if not t["attributions"]:
                continue
            kind = {"both": "both", "live_only": "live only", "backtest_only": "backtest only"}
            out.write(
                f"{t['entry_session']} {t['symbol']:<6}{t['strategy']:<18}{kind[t['kind']]:<14}"
                f"{_money(t['pnl_difference']):>12}  "
                + "; ".join(f"{a['cause']}: {a['why']}" for a in t["attributions"])
                + "\n"
            )
    for note in doc["notes"]:
        out.write(f"\nnote: {note}\n")
    out.write(f"\nbacktest store: {doc['backtest_store']}\n")


def edge_command(args: argparse.Namespace) -> int:
    from workstation.research.evidence.edge import human_edge
    from workstation.store import Store, StoreError

    ctx = open_context(args)
    start, end = _day(ctx, args.start, "--from"), _day(ctx, args.end, "--to")
    try:
        store = Store.open(ctx.paths.db_path)
    except StoreError as exc:
        raise UserError(str(exc)) from None
    try:
        report = human_edge(store, start, end, ctx.cfg, ctx.calendar)
    finally:
        store.close()
    return _emit(report.as_json(), args.json, print_edge)


def print_edge(doc: dict[str, Any], out: TextIO) -> None:
    t = doc["total"]
    out.write(
        f"Human edge {doc['period']['start'] or 'start'} .. {doc['period']['end'] or 'now'}: "
        f"{t['decisions']} decisions, edge {_money(t['edge_pnl'])} "
        f"({t['edge_r']:+.2f} R)" + ("  (small sample)" if t["small_sample"] else "") + "\n"
    )
    out.write(f"\n{'':<42}{'n':>5}{'outcome $':>12}{'R':>8}{'edge $':>12}\n")
    for kind in ("vetoes", "approvals_changed", "approvals_agreed", "left_to_policy"):
        g = doc["by_kind"][kind]
        out.write(
            f"{g['label']:<42}{g['n']:>5}{_money(g['outcome_pnl']):>12}"
            f"{g['outcome_r']:>+8.2f}{_money(g['edge_pnl']):>12}\n"
        )
    out.write(f"\nby strategy\n{'':<20}{'n':>5}{'edge $':>12}{'edge R':>8}\n")
    for name, g in doc["by_strategy"].items():
        out.write(f"{name:<20}{g['decisions']:>5}{_money(g['edge_pnl']):>12}{g['edge_r']:>+8.2f}\n")
    out.write(f"\nby month\n{'':<20}{'n':>5}{'edge $':>12}{'total $':>12}\n")
    for month, g in doc["by_month"].items():
        out.write(
            f"{month:<20}{g['decisions']:>5}{_money(g['edge_pnl']):>12}"
            f"{_money(g['cumulative_pnl']):>12}\n"
        )
    for note in doc["notes"]:
        out.write(f"\nnote: {note}\n")


__all__ = ["drift_command", "edge_command", "print_drift", "print_edge", "register"]


def print_change(doc: dict[str, Any], out: TextIO) -> None:
    from workstation.research.evidence.change import summary_line

    p = doc["period"]
    out.write(f"What would this change do? {p['start']} .. {p['end']} ({p['sessions']} sessions)\n")
    for c in doc["changes"]:
        out.write(f"  {c['key']}: {c['current']!r} -> {c['edited']!r}\n")
    a, b, d = doc["current"]["stats"], doc["edited"]["stats"], doc["difference"]
    out.write(f"\n{'':<22}{'current':>12}{'edited':>12}{'difference':>12}\n")
    for k in ("total_return", "cagr", "sharpe", "max_drawdown", "n_trades", "win_rate",
              "profit_factor", "expectancy_r"):  # fmt: skip
        pct = k in ("total_return", "cagr", "max_drawdown", "win_rate")
        out.write(
            f"{k:<22}{_figure(a[k], pct):>12}{_figure(b[k], pct):>12}{_figure(d[k], pct):>12}\n"
        )
    t = doc["trades"]
    out.write(
        f"\ntrades: {t['same']} the same, {t['differing']} differ, {t['current_only']} only "
        f"with the current values, {t['edited_only']} only with the edited ones; P&L "
        f"{_money(t['pnl_difference'])}\n"
    )
    for x in doc["differing_trades"][:40]:
        out.write(
            f"  {x['entry_session']} {x['symbol']:<6}{x['strategy']:<16}{x['what']:<48}"
            f"{_money(x['pnl_difference']):>12}\n"
        )
    if len(doc["differing_trades"]) > 40:
        out.write(f"  ... and {len(doc['differing_trades']) - 40} more (--json lists all)\n")
    out.write(summary_line(doc) + "\n")


def _figure(v: Any, pct: bool) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return str(v)
    return f"{v:+.1%}" if pct else f"{v:,.2f}" if isinstance(v, float) else str(v)
