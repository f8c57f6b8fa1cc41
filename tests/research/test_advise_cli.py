"""``workstation advise sltp`` (issue 10 item 4) on a real backtest: four weeks of a replay
file (the simulated market's history) on a small universe, pessimistic fills, run once as its
own process; the advice is then asked in-process.

* every configured strategy is listed, with its trades, the current values, and "too few to
  advise" under the threshold; with a lower threshold, the best pair and its intervals;
* the daily-bar what-if reproduces the backtest: the trades followed with the values they were
  made with come out with the recorded exit reasons and nearly the recorded expectancy;
* the app's own trades (here: the same trades in a home's store, on the same replay file)
  give the same advice as the backtest's; on bars that do not reproduce them, no advice;
* every mistake is one line and exit code 2.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.research.support import make_home, sim_bars_file, workstation
from workstation.cli import main
from workstation.research.runs import listed_runs

FIRST, LAST = "2025-02-03", "2025-02-28"
SIM_TODAY = "2025-03-11"
STRATEGIES = ["rsi_reversion", "bb_squeeze", "adx_pullback", "overbought_short", "regime_momentum"]
CONFIGURED = {  # strategies.yaml as shipped: (sl_atr, tp_atr)
    "rsi_reversion": [1.5, 2.0],
    "bb_squeeze": [2.5, 4.0],
    "adx_pullback": [2.0, 3.0],
    "overbought_short": [2.0, 2.5],
    "regime_momentum": [2.0, 3.5],
}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from workstation.market.universe import sp500_universe

    root = tmp_path_factory.mktemp("advise")
    home = make_home(root / "home", {"app.yaml": {"sim.today": SIM_TODAY}})
    u = sp500_universe()
    csv = root / "universe.csv"
    rows = ["symbol,sector", *(f"{s},{u.sector(s)}" for s in sorted(u.symbols)[::16])]
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    market = f"replay:{sim_bars_file(root / 'bars.parquet', 3, SIM_TODAY, 340)}"
    r = workstation(
        "--home", str(home), "--market", market, "--universe", str(csv), "backtest",
        "--from", FIRST, "--to", LAST, "--fill-model", "pessimistic", "--json",
        "--progress", "none",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return {
        "home": home, "csv": csv, "doc": json.loads(r.stdout), "root": root, "market": market,
    }  # fmt: skip


def advise(
    capsys: pytest.CaptureFixture[str],
    home: Path,
    *args: str,
    universe: Path | None = None,
    market: str = "sim",
) -> tuple[int, str, str]:
    extra = ["--universe", str(universe)] if universe else []
    code = main(["--home", str(home), "--market", market, *extra, "advise", "sltp", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_every_strategy_with_its_trades_and_too_few_to_advise(
    made: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = advise(capsys, made["home"], "--backtest", "latest", "--json")
    assert code == 0, err
    doc = json.loads(out)
    run = listed_runs(made["home"] / "data" / "workstation.db")[0]
    assert doc["source"] == {
        "kind": "backtest",
        "name": run.id,
        "trades": made["doc"]["stats"]["n_trades"],
        "period": [FIRST, LAST],
    }
    assert doc["settings"]["touch"] == "pessimistic" and doc["settings"]["min_trades"] == 30
    assert [s["strategy"] for s in doc["strategies"]] == STRATEGIES
    by = {s["strategy"]: s for s in doc["strategies"]}
    for name, s in by.items():
        n = made["doc"]["by_strategy"].get(name, {}).get("n_trades") or 0
        assert s["n_trades"] + s["left_out"] == n
        assert s["verdict"] == "thin"  # four weeks: fewer than 30 trades each
        assert "too few to advise (at least 30 are needed)" in s["message"]
        assert s["best"] is None
        if s["n_trades"]:
            assert [s["current"]["sl_atr"], s["current"]["tp_atr"]] == CONFIGURED[name]
    assert any("touch the stop first" in a for a in doc["assumptions"])


def test_the_what_if_reproduces_the_backtests_exits(
    made: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = advise(
        capsys, made["home"], "--backtest", "latest", "--json", "--min-trades", "3",
        "--resamples", "200",
    )  # fmt: skip
    assert code == 0, err
    checked = 0
    for s in json.loads(out)["strategies"]:
        if s["n_trades"] < 3:
            assert s["verdict"] == "thin"
            continue
        checked += 1
        # the backtest's pessimistic fills and the daily-bar model take the same exits
        assert s["check"]["same_exit_reason"] >= 0.9, s
        recorded, simulated = (
            s["check"]["recorded_expectancy_r"],
            s["check"]["simulated_expectancy_r"],
        )
        assert simulated == pytest.approx(recorded, abs=0.1), s
        assert s["verdict"] in ("advise", "keep")
        best, current = s["best"], s["current"]
        assert best["expectancy_r"] >= current["expectancy_r"]
        lo, hi = best["interval"]
        assert lo <= best["expectancy_r"] <= hi
        assert sum(best["exits"].values()) == s["n_trades"]
        assert s["improvement_out_of_bag"][0] <= s["improvement_out_of_bag"][1]
    assert checked >= 2


def test_the_apps_own_trades_on_the_same_bars_give_the_same_advice(
    made: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """A home whose store holds the backtest's trades (a store is a store), on the replay
    file the backtest ran on: the advice from the market's bars equals the advice from the
    bars the run kept. On the simulated market (other bars) the trades do not come out as
    recorded: no advice, said."""
    run = listed_runs(made["home"] / "data" / "workstation.db")[0]
    app_home = make_home(made["root"] / "app-home", {"app.yaml": {"sim.today": SIM_TODAY}})
    (app_home / "data").mkdir()
    shutil.copy(run.path, app_home / "data" / "workstation.db")
    args = ["--json", "--min-trades", "3", "--resamples", "200"]
    code, out, err = advise(
        capsys, app_home, "--app", *args, universe=made["csv"], market=made["market"]
    )
    assert code == 0, err
    app = json.loads(out)
    code, out, err = advise(capsys, made["home"], "--backtest", run.id, *args)
    assert code == 0, err
    bt = json.loads(out)
    assert app["source"]["kind"] == "app" and app["source"]["trades"] == bt["source"]["trades"]
    assert app["strategies"] == bt["strategies"]

    code, out, err = advise(capsys, app_home, "--app", *args, universe=made["csv"])
    assert code == 0, err
    verdicts = {s["verdict"] for s in json.loads(out)["strategies"] if s["n_trades"] >= 3}
    assert verdicts == {"mismatch"}


def test_the_text_names_each_strategy_and_the_assumptions(
    made: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = advise(capsys, made["home"], "--backtest", "latest", "--strategy", "bb_squeeze")
    assert code == 0
    assert out.startswith("SL/TP advice from backtest ")
    assert "bb_squeeze: " in out and "rsi_reversion" not in out
    assert "Assumptions:" in out and "pessimistic" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backtest", "nope"], "--backtest nope: no such run in this home"),
        (["--backtest", "latest", "--sl", "1:x:1"], "--sl '1:x:1': write LO:HI:STEP in ATRs"),
        (["--backtest", "latest", "--tp", "3:1:0.5"], "--tp 3:1:0.5: needs 0 < LO <= HI"),
        (["--backtest", "latest", "--sl", "0.1:20:0.01"], "use at most 200"),
        (["--backtest", "latest", "--strategy", "foo"], "--strategy foo: not a strategy here"),
        (["--backtest", "latest", "--min-trades", "1"], "--min-trades 1: give at least 2"),
        (["--backtest", "latest", "--resamples", "5"], "--resamples 5: give 100 to 100000"),
        (["--app"], "the app has no store yet"),
    ],
    ids=[
        "unknown-run",
        "bad-axis",
        "empty-axis",
        "huge-axis",
        "unknown-strategy",
        "min-trades",
        "resamples",
        "app-without-store",
    ],
)
def test_a_mistake_is_one_line(
    made: dict[str, Any], capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    home = made["home"] if args[0] != "--app" else make_home(made["root"] / f"empty-{len(args)}")
    code, out, err = advise(capsys, home, *args)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err


def test_a_home_without_backtests_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = advise(capsys, make_home(tmp_path / "home"), "--backtest", "latest")
    assert code == 2
    assert err.strip() == (
        "workstation: this home has no backtests yet: run 'workstation backtest' first"
    )
