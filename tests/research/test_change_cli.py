"""``workstation report change`` (issue 11.2) as a user runs it, on the simulated market with a
small universe: the parameters in force and the edited ones backtested over the last N years
with data (``--years`` reaches the period), compared; bad input is one line before anything
runs. In this process through ``main()`` (the scans still run in worker processes)."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from tests.research.optimize.support import small_home
from workstation.cli import main
from workstation.core.calendar import get_calendar
from workstation.research.evidence.change import trade_changes
from workstation.store import Store

pytestmark = pytest.mark.slow

CAL = get_calendar()


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return small_home(tmp_path_factory.mktemp("change"), n_symbols=20)


def _change(home: Path, csv: Path, *args: str) -> list[str]:
    return ["--home", str(home), "--universe", str(csv), "report", "change", *args]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "risk.exits.nope=3"], "--set: risk.yaml: unknown key 'exits.nope'"),
        (["--set", "risk.exits.time_exit_day=0"],
         "--set: risk.yaml: exits.time_exit_day = 0 is out of range: allowed [1 .. 100]"),
        (["--set", "time_exit_day"], "--set 'time_exit_day' is not KEY=VALUE"),
        (["--set", "risk.exits.time_exit_day=2", "--years", "0.01"],
         "--years 0.01: app.yaml: backtest.years = 0.01 is out of range"),
        (["--set", "risk.exits.time_exit_day=2", "--from", "2024-03-02"],
         "--from 2024-03-02 is not an NYSE session"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2_before_anything_runs(
    small: tuple[Path, Path], capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    home, csv = small
    rc = main(_change(home, csv, *args))
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert err.count("\n") == 0 and err.startswith("workstation: ") and message in err, err
    assert not list((home / "data").glob("backtests/*.db"))


def test_both_backtests_over_the_last_years_side_by_side(
    small: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    home, csv = small
    rc = main(_change(home, csv, "--set", "risk.exits.time_exit_day=2", "--years", "0.1",
                      "--json", "--progress", "none"))  # fmt: skip
    out, err = capsys.readouterr()
    assert rc == 0, err
    doc = json.loads(out)
    # --years 0.1 (36.5 days) before the last session with data (today 2024-06-14)
    last = CAL.previous_session(date(2024, 6, 14))
    assert doc["period"]["end"] == last.isoformat() == "2024-06-13"
    assert doc["period"]["start"] == "2024-05-07"  # the first session on or after May 7.5
    sessions = CAL.sessions_in_range(date(2024, 5, 7), last)
    assert doc["period"]["sessions"] == len(sessions) == 27
    assert doc["changes"] == [{"key": "risk.exits.time_exit_day", "current": 5, "edited": 2}]
    for side in ("current", "edited"):
        assert len(doc[side]["equity"]) == 1 + len(sessions)
    # both runs are listed in the home's store, not as the track record's reference
    con = sqlite3.connect(home / "data" / "workstation.db")
    listed = dict(con.execute("SELECT scenario, param_hash FROM backtests").fetchall())
    con.close()
    assert set(listed) == {"preview-current", "preview-edited"}
    assert listed["preview-current"] == doc["current"]["param_hash"]
    assert listed["preview-edited"] == doc["edited"]["param_hash"] != listed["preview-current"]
    # the trades that differ are those of the two stores, compared
    with Store.open(doc["current"]["store"]) as a, Store.open(doc["edited"]["store"]) as b:
        ta, tb = a.trades(), b.trades()
    diffs, same = trade_changes(ta, tb)
    assert doc["trades"]["same"] == same
    assert [(d["symbol"], d["kind"]) for d in doc["differing_trades"]] == [
        (d.key[1], d.kind) for d in diffs
    ]
    assert doc["current"]["stats"]["n_trades"] == len(ta)
    assert doc["edited"]["stats"]["n_trades"] == len(tb)
    # a time exit on day 2 instead of day 5 shortens trades: it never holds one longer
    both = [d for d in diffs if d.kind == "both"]
    assert both and all(d.edited.exit_session <= d.current.exit_session for d in both)
    assert max(t.days_held for t in tb) < max(t.days_held for t in ta)


def _trades(path: str | Path) -> list[dict[str, object]]:
    """A store's trades, every field exact (only the row ids left out), in entry order."""
    import dataclasses

    with Store.open(Path(path)) as s:
        rows = [dataclasses.asdict(t) for t in s.trades()]
    for r in rows:
        for k in ("id", "position_id", "candidate_id"):
            r.pop(k)
    return sorted(rows, key=lambda r: (r["entry_at"], r["symbol"], r["strategy"]))


def test_each_side_is_a_plain_backtest_and_an_existing_run_is_read_not_run_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ONE ENGINE: the preview's two sides are exactly ``workstation backtest`` of the same
    parameters and period. The current side is the stored backtest of the parameters in force
    when there is one (read, not run again); the edited side equals a plain backtest of the
    edited files; a second preview of the same edit runs nothing."""
    home, csv = small_home(tmp_path, n_symbols=20)
    period = ["--from", "2024-05-07", "--to", "2024-06-13"]
    base = ["--home", str(home), "--universe", str(csv)]

    def run(*args: str) -> dict[str, object]:
        rc = main([*base, *args, *period, "--json", "--progress", "none"])
        out, err = capsys.readouterr()
        assert rc == 0, err
        return json.loads(out)

    plain = run("backtest")
    [plain_run] = plain["runs"]
    doc = run("report", "change", "--set", "risk.exits.time_exit_day=2")
    assert doc["reused"] == ["current"]
    assert doc["current"]["store"] == plain_run["store"]
    for k, v in doc["current"]["stats"].items():
        assert plain["stats"][k] == v, k
    # the edited side against a plain backtest of the edited files
    risk = home / "config" / "risk.yaml"
    text = risk.read_text(encoding="utf-8")
    assert "time_exit_day: 5" in text
    risk.write_text(text.replace("time_exit_day: 5", "time_exit_day: 2"), encoding="utf-8")
    edited_plain = run("backtest")
    assert edited_plain["param_hash"] == doc["edited"]["param_hash"]
    for k, v in doc["edited"]["stats"].items():
        assert edited_plain["stats"][k] == v, k
    assert _trades(edited_plain["runs"][0]["store"]) == _trades(doc["edited"]["store"])
    assert _trades(plain_run["store"]) != _trades(doc["edited"]["store"])
    risk.write_text(text, encoding="utf-8")
    # the same preview again: both sides exist, nothing runs; --rerun runs both, same result
    again = run("report", "change", "--set", "risk.exits.time_exit_day=2")
    assert again["reused"] == ["current", "edited"]
    rerun = run("report", "change", "--set", "risk.exits.time_exit_day=2", "--rerun")
    assert rerun["reused"] == []
    for d in (again, rerun):
        assert d["current"]["stats"] == doc["current"]["stats"]
        assert d["edited"]["stats"] == doc["edited"]["stats"]
        assert d["differing_trades"] == doc["differing_trades"]
    assert rerun["current"]["store"] != doc["current"]["store"]
    assert _trades(rerun["current"]["store"]) == _trades(plain_run["store"])
