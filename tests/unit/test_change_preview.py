""" "What would this change do?" (issue 11.2): the comparison of two analysed runs, the
``--set`` options, and the preview kept beside a saved version. Pure functions on planted
stores (real SQLite files written through the store API)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.unit.research_plant import EQUITY, INFO, SPY, START, TRADES, D, plant
from workstation.commands.report_cmd import parse_sets
from workstation.errors import UserError
from workstation.research.evidence.change import (
    preview_json,
    summary_line,
    trade_changes,
)
from workstation.research.evidence.change_notes import keep_preview, preview_of, preview_path
from workstation.research.results import analyze
from workstation.store import TradeRow

DAY = date(2024, 3, 4)


def trade(symbol: str = "AAA", **changes: Any) -> TradeRow:
    """A closed long trade entered on DAY (the fields a comparison reads, the rest fixed)."""
    base = TradeRow(
        id=1, position_id=1, candidate_id=1, symbol=symbol, side="long", strategy="bb_squeeze",
        qty=100, entry_price=50.0, entry_at=datetime(2024, 3, 4, 14, 30, tzinfo=UTC),
        entry_session=DAY, exit_price=53.0, exit_at=datetime(2024, 3, 7, 19, 50, tzinfo=UTC),
        exit_session=date(2024, 3, 7), exit_reason="TIME_EXIT", pnl=300.0, pnl_pct=0.06,
        r_multiple=1.5, days_held=3, sl_mult=2.0, atr14=1.0, mfe_price=None, mfe_pct=None,
        mfe_r=None, mfe_at=None, mae_price=None, mae_pct=None, mae_r=None, mae_at=None,
    )  # fmt: skip
    return dataclasses.replace(base, **changes)


# (edited trade's changes, listed as differing?, the words that say how)
CHANGES = [
    ({}, False, None),
    ({"id": 7, "position_id": 9}, False, None),  # another store's ids: the same trade
    ({"pnl": 300.004}, False, None),  # under a cent: float sums of the same fills
    ({"pnl": 300.01}, True, "P&L"),
    ({"qty": 120, "pnl": 360.0}, True, "size 100 -> 120"),
    ({"exit_reason": "TAKE_PROFIT"}, True, "exit TIME_EXIT -> TAKE_PROFIT"),
    (
        {"exit_session": date(2024, 3, 6), "exit_at": datetime(2024, 3, 6, 19, 50, tzinfo=UTC)},
        True,
        "exit day 2024-03-07 -> 2024-03-06",
    ),
    ({"exit_at": datetime(2024, 3, 7, 15, 0, tzinfo=UTC)}, True, "exit time"),
    ({"exit_price": 52.5, "pnl": 250.0}, True, "exit price 53.00 -> 52.50"),
    (
        {"exit_reason": "STOP_LOSS", "exit_price": 48.0, "pnl": -200.0},
        True,
        "exit TIME_EXIT -> STOP_LOSS, exit price 53.00 -> 48.00",
    ),
]


@pytest.mark.parametrize(("changes", "differs", "what"), CHANGES)
def test_a_trade_in_both_differs_when_its_size_exit_or_pnl_does(
    changes: dict[str, Any], differs: bool, what: str | None
) -> None:
    a, b = trade(), trade(**changes)
    diffs, same = trade_changes([a], [b])
    assert (len(diffs), same) == ((1, 0) if differs else (0, 1))
    if differs:
        [d] = diffs
        assert d.kind == "both" and d.what() == what
        assert d.pnl_difference == pytest.approx(b.pnl - a.pnl)


# (current trades, edited trades, kinds in entry order, same)
SIDES = [
    ([], [], [], 0),
    ([trade()], [], ["current_only"], 0),
    ([], [trade()], ["edited_only"], 0),
    # the same symbol and day, another strategy or side: another signal
    ([trade()], [trade(strategy="rsi_reversion")], ["current_only", "edited_only"], 0),
    ([trade()], [trade(side="short")], ["current_only", "edited_only"], 0),
    # entered a session later: another signal
    ([trade()], [trade(entry_session=date(2024, 3, 5))], ["current_only", "edited_only"], 0),
    (
        [trade("AAA"), trade("BBB"), trade("CCC", entry_session=date(2024, 3, 1))],
        [trade("BBB"), trade("AAA", qty=50, pnl=150.0), trade("DDD")],
        ["current_only", "both", "edited_only"],  # CCC (Mar 1), AAA, DDD; BBB the same
        1,
    ),
]


@pytest.mark.parametrize(("current", "edited", "kinds", "same"), SIDES)
def test_trades_are_matched_by_entry_session_symbol_strategy_and_side(
    current: list[TradeRow], edited: list[TradeRow], kinds: list[str], same: int
) -> None:
    diffs, n_same = trade_changes(current, edited)
    assert [d.kind for d in diffs] == kinds and n_same == same
    # a trade on one side only counts whole in the P&L difference
    total = sum(t.pnl for t in edited) - sum(t.pnl for t in current)
    assert sum(d.pnl_difference for d in diffs) == pytest.approx(total)
    for d in diffs:
        words = {"current_only": "only with the current values",
                 "edited_only": "only with the edited values"}  # fmt: skip
        if d.kind in words:
            assert d.what() == words[d.kind]


def _run(path: Path, trades: list[Any], equity: list[float], name: str) -> Any:
    plant(path, START, list(zip(D, equity, strict=True)), trades)
    info = dataclasses.replace(INFO, name=name, param_hash=f"hash-{name}")
    return analyze(path, info, benchmark_closes=SPY)


def test_the_preview_puts_figures_curves_and_differing_trades_side_by_side(
    tmp_path: Path,
) -> None:
    # the edited values drop BBB's losing trade and end 1,000 higher
    edited_trades = [t for t in TRADES if t.symbol != "BBB"]
    edited_equity = [e + (1_000.0 if i >= 4 else 0.0) for i, e in enumerate(EQUITY)]
    a = _run(tmp_path / "a.db", list(TRADES), list(EQUITY), "current")
    b = _run(tmp_path / "b.db", edited_trades, edited_equity, "edited")
    changes = {"risk.exits.time_exit_day": (5, 3)}
    doc = preview_json(a, b, changes, stores={"current": "a.db", "edited": "b.db"})
    json.dumps(doc, allow_nan=False)  # one JSON object, no NaN
    assert doc["period"] == {"start": "2023-12-27", "end": "2024-01-08", "sessions": 8}
    assert doc["changes"] == [{"key": "risk.exits.time_exit_day", "current": 5, "edited": 3}]
    assert doc["current"]["param_hash"] == "hash-current" and doc["edited"]["store"] == "b.db"
    # both equity curves, from the start through every session's end
    assert doc["current"]["equity"][0] == ["start", START]
    assert doc["current"]["equity"][1:] == [
        [d.isoformat(), e] for d, e in zip(D, EQUITY, strict=True)
    ]
    assert doc["edited"]["equity"][-1] == ["2024-01-08", EQUITY[-1] + 1_000.0]
    sa, sb = doc["current"]["stats"], doc["edited"]["stats"]
    assert (sa["n_trades"], sb["n_trades"]) == (5, 4)
    assert sa["total_return"] == pytest.approx(EQUITY[-1] / START - 1)
    assert sb["total_return"] == pytest.approx((EQUITY[-1] + 1_000.0) / START - 1)
    assert doc["difference"]["n_trades"] == -1
    assert doc["difference"]["total_return"] == pytest.approx(0.01)
    assert doc["difference"]["small_sample"] is None  # not a number: no difference
    # the trades: BBB only with the current values, the other four the same
    assert doc["trades"] == {
        "same": 4, "differing": 0, "current_only": 1, "edited_only": 0,
        "pnl_difference": 100.0,  # BBB lost 100: dropping it gains 100
    }  # fmt: skip
    [bbb] = doc["differing_trades"]
    assert (bbb["symbol"], bbb["kind"], bbb["edited"]) == ("BBB", "current_only", None)
    assert bbb["current"]["pnl"] == pytest.approx(-100.0)
    line = summary_line(doc)
    assert line.startswith(
        "risk.exits.time_exit_day 5 -> 3: backtest 2023-12-27 .. 2024-01-08: return +4.0% -> +5.0%"
    )
    assert "trades 5 -> 4 (0 differ, 1 dropped, 0 added)" in line


@pytest.mark.parametrize(
    ("sets", "parsed"),
    [
        (["risk.exits.time_exit_day=3"], {"risk.exits.time_exit_day": 3}),
        (["strategies.rsi_reversion.sl_atr=1.75"], {"strategies.rsi_reversion.sl_atr": 1.75}),
        (["strategies.bb_squeeze.enabled=false"], {"strategies.bb_squeeze.enabled": False}),
        (['risk.exits.time_exit_at="15:50"'], {"risk.exits.time_exit_at": "15:50"}),
        ([" a.b = x ", "a.c="], {"a.b": "x", "a.c": ""}),
        (["a.b=[1, 2"], {"a.b": "[1, 2"}),  # not YAML: the text as it is
    ],
)
def test_set_options_are_key_equals_yaml_value(sets: list[str], parsed: dict[str, Any]) -> None:
    assert parse_sets(sets) == parsed


@pytest.mark.parametrize("bad", ["nokey", "=3", " =3"])
def test_a_set_without_key_and_value_is_one_line(bad: str) -> None:
    with pytest.raises(UserError, match=r"is not KEY=VALUE: write e\.g\. --set"):
        parse_sets([bad])


def test_the_preview_is_kept_beside_the_versions_a_save_writes(tmp_path: Path) -> None:
    history = tmp_path / "history"
    history.mkdir()
    risk = history / "risk.20241203-101500.yaml"
    strat = history / "strategies.20241203-101500.yaml"
    pruned = history / "risk.20240101-090000.yaml"
    for v in (risk, strat, pruned):
        v.write_text("x: 1\n", encoding="utf-8")
    doc = {"period": {"start": "2022-01-03"}, "trades": {"same": 1}}
    keep_preview([pruned], {"old": True})
    pruned.unlink()  # the history pruned that version
    written = keep_preview([risk, strat], doc)
    assert written == [preview_path(risk), preview_path(strat)]
    assert preview_path(risk).name == "risk.20241203-101500.preview.json"
    assert preview_of(risk) == doc and preview_of(strat) == doc
    assert not preview_path(pruned).exists()  # its preview went with it
    assert sorted(p.name for p in history.glob("*.yaml")) == [risk.name, strat.name]
    assert not list(history.glob("*.tmp"))
    # a version without a preview, or with an unreadable one: None
    other = history / "scanner.20241203-101500.yaml"
    assert preview_of(other) is None
    preview_path(other).write_text("{not json", encoding="utf-8")
    assert preview_of(other) is None
