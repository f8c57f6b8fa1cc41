"""The human edge (issue 11, part 4): each decision against the rules alone, on a store planted
through the real store API (a real SQLite file), with outcomes chosen to be checked by hand.

Two lists: one traded on the simulated market (``on_pending`` approves by default: an
approval agrees with the rules), one with a real broker (``alpaca``: the default skips, so an
approval made the trade). Vetoes are judged by their paper tracks.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from tests.unit.test_store import cand
from workstation.core.calendar import get_calendar
from workstation.core.config import Config
from workstation.research.evidence.edge import human_edge
from workstation.store import Store

CAL = get_calendar()
SIM_SCAN, BROKER_SCAN = date(2024, 3, 11), date(2024, 4, 15)


def _at(d: date, hh: int = 14) -> datetime:
    return datetime.combine(d, time(hh, 0), tzinfo=UTC)


def _plant(path: Path) -> Path:
    with Store.open(path) as s:
        for scan_day, market in ((SIM_SCAN, "sim"), (BROKER_SCAN, "alpaca")):
            entry = CAL.next_session(scan_day)
            sid = s.record_scan(
                session=scan_day, param_hash="p", status="ok", started_at=_at(scan_day, 23),
                finished_at=_at(scan_day, 23), regime="TREND", market=market,
                candidates=[
                    cand(1, "VET", strategy="bb_squeeze"),  # vetoed: the paper trade lost
                    cand(2, "WIN", strategy="bb_squeeze"),  # vetoed: the paper trade won
                    cand(3, "GAP", strategy="rsi_reversion"),  # vetoed: never enterable
                    cand(4, "APP", strategy="rsi_reversion"),  # approved: traded, +R
                    cand(5, "POL", strategy="rsi_reversion"),  # left to the policy
                ],
            )  # fmt: skip
            c = {x.symbol: x.id for x in s.candidates_for_scan(sid)}
            at = _at(scan_day, 23)
            for sym in ("VET", "WIN", "GAP"):
                s.set_approval(c[sym], "vetoed", "not this one", "user", at=at)
            s.set_approval(c["APP"], "approved", None, "user", at=at)
            s.set_approval(c["POL"], "approved", "on_pending", "policy", at=_at(entry, 13))
            # sl_dist is 3.0: one R is $3 a share
            s.open_paper_track(c["VET"], entry_price=100.0, entry_at=_at(entry), qty=10, at=at)
            s.close_paper_track(
                c["VET"], exit_price=97.0, exit_at=_at(entry, 18), exit_reason="STOP_LOSS", at=at
            )
            s.open_paper_track(c["WIN"], entry_price=50.0, entry_at=_at(entry), qty=20, at=at)
            s.close_paper_track(
                c["WIN"], exit_price=56.0, exit_at=_at(entry, 18), exit_reason="TAKE_PROFIT", at=at
            )
            for sym, exit_price in (("APP", 106.0), ("POL", 97.0)):
                pos = s.open_position(
                    symbol=sym, side="long", qty=5, avg_entry=100.0, entry_session=entry,
                    entry_at=_at(entry), strategy="rsi_reversion", sl_mult=1.5, tp_mult=2.0,
                    atr14=2.0, candidate_id=c[sym], at=_at(entry),
                )  # fmt: skip
                s.close_position(
                    pos.id, exit_price=exit_price, exit_at=_at(entry, 19), exit_session=entry,
                    exit_reason="TAKE_PROFIT", days_held=1,
                )  # fmt: skip
    return path


def test_each_decision_is_judged_against_what_the_rules_alone_would_have_done(
    tmp_path: Path,
) -> None:
    store = Store.open(_plant(tmp_path / "ws.db"))
    try:
        report = human_edge(store, None, None, Config(), CAL)
    finally:
        store.close()
    doc = report.as_json()
    assert doc["policies"] == {"sim": "approve", "alpaca": "skip"}
    by = {(d["symbol"], d["entry_session"][:7]): d for d in doc["decisions"]}
    # Vetoes: minus what the paper trade made. VET lost $30 (-1R): the veto gained it.
    vet = by[("VET", "2024-03")]
    assert (vet["kind"], vet["outcome_pnl"], vet["edge_pnl"], vet["edge_r"]) == (
        "vetoes", -30.0, 30.0, 1.0,
    )  # fmt: skip
    win = by[("WIN", "2024-03")]
    assert (win["outcome_pnl"], win["edge_pnl"], win["edge_r"]) == (120.0, -120.0, -2.0)
    gap = by[("GAP", "2024-03")]
    assert (gap["traded"], gap["edge_pnl"]) == (False, 0.0)
    # An approval the sim's policy would have made anyway changed nothing...
    app_sim = by[("APP", "2024-03")]
    assert (app_sim["kind"], app_sim["outcome_pnl"], app_sim["edge_pnl"]) == (
        "approvals_agreed", 30.0, 0.0,
    )  # fmt: skip
    # ... with a real broker the policy skips: the approval made the trade, +$30 (+2R).
    app_broker = by[("APP", "2024-04")]
    assert (app_broker["kind"], app_broker["edge_pnl"], app_broker["edge_r"]) == (
        "approvals_changed", 30.0, 2.0,
    )  # fmt: skip
    assert by[("POL", "2024-03")]["kind"] == "left_to_policy"
    # Totals: per list 30 - 120 + 0 (vetoes), plus the broker list's approval +30.
    assert doc["total"]["edge_pnl"] == pytest.approx(2 * (30 - 120) + 30)
    assert doc["total"]["decisions"] == 8  # 2 x (3 vetoes + 1 approval); the policy's apart
    assert doc["total"]["small_sample"] is True
    assert doc["by_kind"]["left_to_policy"]["n"] == 2
    strat = doc["by_strategy"]
    assert strat["bb_squeeze"]["edge_pnl"] == pytest.approx(2 * (30 - 120))
    assert strat["rsi_reversion"]["edge_pnl"] == pytest.approx(30)
    months = doc["by_month"]
    assert list(months) == ["2024-03", "2024-04"]
    assert months["2024-04"]["cumulative_pnl"] == pytest.approx(doc["total"]["edge_pnl"])
    assert doc["curve"][-1]["edge_pnl"] == pytest.approx(doc["total"]["edge_pnl"])
    assert any("would not have been entered" in n for n in doc["notes"])


def test_the_period_selects_candidates_by_their_entry_session(tmp_path: Path) -> None:
    store = Store.open(_plant(tmp_path / "ws.db"))
    try:
        april = human_edge(store, date(2024, 4, 1), None, Config(), CAL).as_json()
        march = human_edge(store, None, date(2024, 3, 31), Config(), CAL).as_json()
    finally:
        store.close()
    assert {d["entry_session"][:7] for d in april["decisions"]} == {"2024-04"}
    assert march["total"]["edge_pnl"] == pytest.approx(30 - 120)
    assert april["policies"] == {"alpaca": "skip"}


def test_report_edge_prints_json_and_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from workstation.cli import main

    home = tmp_path / "home"
    assert main(["--home", str(home), "config", "check"]) == 0
    _plant(home / "data" / "workstation.db")
    capsys.readouterr()
    assert main(["--home", str(home), "report", "edge", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["total"]["edge_pnl"] == pytest.approx(2 * (30 - 120) + 30)
    assert main(["--home", str(home), "report", "edge", "--from", "2024-04-01"]) == 0
    text = capsys.readouterr().out
    assert "vetoes" in text and "by strategy" in text and "2024-04" in text
    assert main(["--home", str(home), "report", "edge", "--from", "2024-13-01"]) != 0
    assert "is not a date" in capsys.readouterr().err
