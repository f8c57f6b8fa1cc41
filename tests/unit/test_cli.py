"""The CLI: real commands, one clear line and a non-zero exit on every error."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tests.unit.test_scanner import CANDIDATE_KEYS
from workstation.cli import main

SIM_TODAY = "2026-11-21"  # a Saturday: the history ends on Friday 2026-11-20


@pytest.fixture
def sim_home(tmp_path: Path) -> Path:
    """A home whose simulated market has a fixed 'today' (deterministic)."""
    h = tmp_path / "home"
    assert main(["--home", str(h), "config", "check"]) == 0
    app = h / "config" / "app.yaml"
    app.write_text(app.read_text().replace('today: ""', f'today: "{SIM_TODAY}"'))
    return h


def test_config_check_active_and_file(sim_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--home", str(sim_home), "config", "check"]) == 0
    assert "valid (parameter set" in capsys.readouterr().out
    bad = sim_home / "config" / "risk.yaml"
    bad.write_text("gap:\n  max_abs_gap: 3\nexits:\n  time_exit_day: 0\n")
    assert main(["config", "check", str(bad)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "risk.yaml: gap.max_abs_gap = 3 is out of range: allowed [0 .. 1]",
        "risk.yaml: exits.time_exit_day = 0 is out of range: allowed [1 .. 100]",
    ]
    # the active configuration is invalid too now: every command refuses with one line
    assert main(["--home", str(sim_home), "scan"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "configuration is invalid" in err


def test_config_check_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", "/nonexistent/risk.yaml"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_global_options_before_or_after_the_command(tmp_path: Path) -> None:
    assert main(["--home", str(tmp_path / "a"), "config", "check"]) == 0
    assert main(["config", "check", "--home", str(tmp_path / "b")]) == 0
    assert (tmp_path / "a" / "config" / "risk.yaml").exists()
    assert (tmp_path / "b" / "config" / "risk.yaml").exists()


def test_market_bars(sim_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--home", str(sim_home), "market", "bars", "AAPL", "--days", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("AAPL (Information Technology), sim market, 3 sessions to 2026-11-20")
    assert len(out) == 5 and out[-1].startswith("2026-11-20")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["market", "bars", "NOPE"], "NOPE is not in the sim market's universe"),
        (["market", "bars", "AAPL", "--days", "0"], "--days must be at least 1"),
        (["scan", "--date", "2026-11-21"], "2026-11-21 (Saturday) is not an NYSE session"),
        (["scan", "--date", "2026-11-26"], "2026-11-26 (Thursday) is not an NYSE session"),
        (["scan", "--date", "2026-12-01"], "is outside the sim market's data"),
        (["scan", "--date", "2001-02-03x"], "is not a date: write it as YYYY-MM-DD"),
        (["--market", "replay:/nonexistent.csv", "scan"], "does not exist"),
        (["--market", "nasdaq", "scan"], "--market 'nasdaq' is not valid"),
    ],
    ids=[
        "unknown-symbol",
        "bad-days",
        "weekend",
        "thanksgiving",
        "future",
        "bad-date",
        "missing-replay-file",
        "bad-market",
    ],
)
def test_errors_are_one_line(
    sim_home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["--home", str(sim_home), *argv]) != 0
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_scan_json_is_one_object_with_the_required_fields(
    sim_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--home", str(sim_home), "scan", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["session"] == "2026-11-20"
    assert doc["regime"] in ("TREND", "RANGING", "HIGH_VOL")
    assert 1 <= len(doc["candidates"]) <= 12
    for c in doc["candidates"]:
        assert set(c) >= CANDIDATE_KEYS, CANDIDATE_KEYS - set(c)
        assert c["sl"] == pytest.approx(c["sl_mult"] * c["atr14"])
    scores = [c["score"] for c in doc["candidates"]]
    assert scores == sorted(scores, reverse=True)
    for key in ("loaded", "eligible", "stale", "failed", "duration_s", "param_hash"):
        assert key in doc["report"]
    assert (sim_home / "data" / "scans" / "2026-11-20.json").exists()


def test_a_traded_list_is_shown_again_but_never_replaced(
    sim_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--home", str(sim_home), "scan", "--date", "2026-11-19", "--json"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["saved"] is True
    assert main(argv) == 0  # 2026-11-19's list was traded on 11-20: shown, not saved
    out = capsys.readouterr()
    again = json.loads(out.out)
    assert again["saved"] is False and again["candidates"] == first["candidates"]
    assert "shown, not saved" in out.err and "is traded from" in out.err
    from workstation.store import Store

    with Store.open(sim_home / "data" / "workstation.db") as store:
        assert len(store.scans_for_session(date(2026, 11, 19))) == 1


def test_replay_without_spy_is_a_clear_error(
    sim_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    days = pd.bdate_range("2024-01-02", periods=30)
    rows = [
        {
            "date": d.date(),
            "symbol": "AAA",
            "open": 10,
            "high": 11,
            "low": 9,
            "close": 10,
            "volume": 1000,
        }
        for d in days
    ]
    path = tmp_path / "bars.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    rc = main(["--home", str(sim_home), "--market", f"replay:{path}", "scan"])
    err = capsys.readouterr().err
    assert rc != 0 and "has no SPY rows" in err and err.count("\n") == 1
