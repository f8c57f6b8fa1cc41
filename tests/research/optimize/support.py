"""A small home for search tests: the simulated market on 10 symbols with a fixed "today", so
a trial (a backtest of a few sessions) takes well under a second, and `workstation optimize`
run in this process or as a real one (its local cluster, or a scheduler given by address).
Either way its trials run on Dask workers that are processes of their own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.research.support import REPO, make_home
from workstation.cli import main
from workstation.market.universe import sp500_universe

TODAY = "2024-06-14"
FIRST, LAST = "2024-03-01", "2024-03-28"  # 20 sessions
# Two exit parameters: neither changes the scan (the scans are computed once for all trials).
EXIT_PARAMS = (
    "--param", "risk.exits.time_exit_day=int:2:3",
    "--param", "risk.exits.emergency_pct=0.03,0.07",
)  # fmt: skip


def small_home(root: Path, n_symbols: int = 10) -> tuple[Path, Path]:
    """(home, universe CSV): the shipped configuration, livelier so a few weeks trade."""
    home = make_home(
        root / "home",
        {
            "app.yaml": {"sim.today": TODAY},
            "risk.yaml": {"portfolio.max_per_sector": 8},
        },
    )
    u = sp500_universe()
    csv = root / "universe.csv"
    rows = [f"{s},{u.sector(s)}" for s in sorted(u.symbols)[:n_symbols]]
    csv.write_text("symbol,sector\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return home, csv


def optimize_cmd(home: Path, csv: Path, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "workstation", "--home", str(home), "--universe", str(csv),
        "optimize", *args,
    ]  # fmt: skip


def env() -> dict[str, str]:
    e = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONUNBUFFERED": "1"}
    e.pop("WORKSTATION_HOME", None)
    return e


def run_optimize(
    home: Path, csv: Path, *args: str, timeout: float = 600
) -> tuple[int, dict[str, Any] | None, list[dict[str, Any]], str]:
    """(exit code, the --json result, the progress events, stderr's other lines)."""
    r = subprocess.run(
        optimize_cmd(home, csv, *args, "--json", "--progress", "json"),
        capture_output=True, text=True, timeout=timeout, env=env(), cwd=REPO,
    )  # fmt: skip
    return (r.returncode, *_parse(r.stdout, r.stderr))


def optimize_here(
    capsys: pytest.CaptureFixture[str], home: Path, csv: Path, *args: str
) -> tuple[int, dict[str, Any] | None, list[dict[str, Any]], str]:
    """``run_optimize`` through ``main()`` in this process (the imports already paid for; the
    local cluster's workers are still processes of their own)."""
    capsys.readouterr()
    rc = main(["--home", str(home), "--universe", str(csv), "optimize", *args, "--json",
               "--progress", "json"])  # fmt: skip
    return (rc, *_parse(*capsys.readouterr()))


def _parse(out: str, err: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]], str]:
    events, other = [], []
    for line in err.splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
        elif line.strip():
            other.append(line)
    return (json.loads(out) if out.strip() else None), events, "\n".join(other)


def by_params(doc: dict[str, Any]) -> dict[str, Any]:
    """Each trial's value by its parameters (what must not depend on workers or order)."""
    return {
        json.dumps(t["params"], sort_keys=True): (t["state"], t["value"]) for t in doc["trials"]
    }


def choices(doc: dict[str, Any]) -> list[Any]:
    wf = doc["walk_forward"]
    out = [(w["window"], w["chosen"] and w["chosen"]["params"], w["out_of_sample_value"])
           for w in wf["windows"]]  # fmt: skip
    out.append(("live", wf["live"]["chosen"] and wf["live"]["chosen"]["params"]))
    out.append(("stitched", wf["out_of_sample"]["value"]))
    return out
