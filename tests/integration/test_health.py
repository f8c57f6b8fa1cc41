"""``workstation health`` against planted faults.

A real headless run (seed 2, the session of Mon 2024-03-11 from Friday's scan) leaves a home
with a store, a simulated exchange and six open positions with their stops. Each test copies
that home, plants a running engine's heartbeat (this test's own pid, the simulated time it
wants) and one fault, then runs the real command and checks the exit code and the message:
a missed scan, an unprotected position, a store/broker difference, stale market data, a
killed engine, a degraded connection, and (the baseline) a healthy home.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from workstation.broker.sim import SimBroker
from workstation.cli import main
from workstation.core.calendar import ET
from workstation.core.models import OrderType
from workstation.instance import InstanceLock
from workstation.store.backups import Backups

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def traded_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("health") / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKSTATION_")}
    env["WORKSTATION_HOME"] = str(home)
    run = [sys.executable, "-m", "workstation"]
    subprocess.run([*run, "config", "check"], env=env, cwd=REPO, check=True, capture_output=True)
    app = home / "config" / "app.yaml"
    app.write_text(app.read_text().replace('today: ""', 'today: "2024-03-08"'))
    done = subprocess.run(
        [*run, "--seed", "2", "run", "--headless", "--sessions", "1", "--speed", "max"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return home


@pytest.fixture
def home(traded_home: Path, tmp_path: Path) -> Path:
    h = tmp_path / "home"
    shutil.copytree(traded_home, h)
    Backups(h / "data" / "backups").take(h / "data" / "workstation.db")  # a fresh backup
    return h


@pytest.fixture(autouse=True)
def engine_lock(home: Path) -> Iterator[InstanceLock]:
    """This process stands in for the running engine: it holds the home's instance lock."""
    lock = InstanceLock(home / "data")
    lock.acquire("workstation run --headless --forever")
    yield lock
    lock.release()


def beat(home: Path, clock: datetime, **over: Any) -> None:
    """A running engine's heartbeat (this process stands in for it)."""
    doc = {
        "pid": os.getpid(),
        "mode": "sim",
        "market": "sim",
        "wall": time.time(),
        "clock": clock.isoformat(),
        "running": True,
        "last_trade_at": over.pop("last_trade_at", clock).isoformat(),
        "connections": {"market-data": "connected", "trading": "connected"},
    }
    doc.update(over)
    (home / "data" / "heartbeat.json").write_text(json.dumps(doc))


def health(home: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    rc = main(["--home", str(home), "health", "--json"])
    out = capsys.readouterr().out
    doc = json.loads(out)
    assert doc["exit_code"] == rc
    return rc, {c["name"]: c for c in doc["checks"]}


def et(day: int, h: int, m: int) -> datetime:
    return datetime(2024, 3, day, h, m, tzinfo=ET)


def exchange(home: Path) -> tuple[dict[str, Any], SimBroker]:
    state = json.loads((home / "data" / "sim_exchange.json").read_text())

    class Frozen:
        def now(self) -> datetime:
            return datetime.fromisoformat(state["clock"])

    return state, SimBroker.from_state(state["broker"], Frozen())  # type: ignore[arg-type]


def save_exchange(home: Path, state: dict[str, Any], broker: SimBroker) -> None:
    state["broker"] = broker.snapshot_state()
    (home / "data" / "sim_exchange.json").write_text(json.dumps(state))


def problems(checks: dict[str, Any]) -> dict[str, str]:
    return {n: c["status"] for n, c in checks.items() if c["status"] != "ok"}


def test_a_healthy_home_exits_0(home: Path, capsys) -> None:
    beat(home, et(11, 16, 10), last_trade_at=et(11, 15, 59))
    rc, checks = health(home, capsys)
    assert (rc, problems(checks)) == (0, {})
    assert checks["scan"]["message"] == (
        "the scan of 2024-03-08 ran at 2024-03-08 20:00 ET and succeeded"
    )
    assert checks["steps"]["message"] == "2024-03-11: all 9 due steps ran"
    assert checks["protection"]["message"] == (
        "all 6 position(s) have a resting stop at the right level"
    )
    assert checks["broker"]["message"] == "the store and the broker agree (6 positions)"
    # the text form says the same, one line per check
    assert main(["--home", str(home), "health"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0] == "health at 2024-03-11 16:10:00 ET: ok" and len(text) == 9


def test_a_missed_scan_fails(home: Path, capsys) -> None:
    beat(home, et(11, 20, 45))  # Monday 20:45: Monday's 20:00 scan has not run
    rc, checks = health(home, capsys)
    assert (rc, problems(checks)) == (2, {"scan": "failed"})
    assert checks["scan"]["message"] == (
        "the scan of 2024-03-11 (due 2024-03-11 20:00 ET) did not run: the next session "
        "trades nothing new"
    )


def test_an_unprotected_position_fails(home: Path, capsys) -> None:
    state, broker = exchange(home)
    stop = next(o for o in broker.open_orders_sync() if o.request.type is OrderType.STOP)
    broker.cancel_sync(stop.client_order_id)  # gone at the broker, the store still has it
    save_exchange(home, state, broker)
    beat(home, et(11, 16, 10), last_trade_at=et(11, 15, 59))
    rc, checks = health(home, capsys)
    assert rc == 2
    assert checks["protection"]["status"] == "failed"
    assert checks["protection"]["details"] == [
        f"{stop.symbol}: UNPROTECTED, no protective stop at the broker"
    ]
    assert checks["broker"]["status"] == "failed"  # the store still has the stop as open


def test_a_stop_at_the_wrong_level_fails(home: Path, capsys) -> None:
    """The store and the exchange agree on a stop that is 5% looser than the rules say."""
    state, broker = exchange(home)
    stop = next(o for o in broker.open_orders_sync() if o.request.type is OrderType.STOP)
    moved = round(stop.request.stop_price * 1.05, 2)  # type: ignore[operator]
    for o in state["broker"]["orders"]:
        if o["request"]["client_order_id"] == stop.client_order_id:
            o["request"]["stop_price"] = moved
    (home / "data" / "sim_exchange.json").write_text(json.dumps(state))
    con = sqlite3.connect(home / "data" / "workstation.db")
    con.execute(
        "UPDATE orders SET stop_price = ? WHERE client_order_id = ?",
        (moved, stop.client_order_id),
    )
    con.commit()
    con.close()
    beat(home, et(11, 16, 10), last_trade_at=et(11, 15, 59))
    rc, checks = health(home, capsys)
    assert (rc, problems(checks)) == (2, {"protection": "failed"})
    (line,) = checks["protection"]["details"]
    assert line.startswith(f"{stop.symbol}: stop at {moved} but the rules say ")


def test_a_store_broker_difference_fails(home: Path, capsys) -> None:
    con = sqlite3.connect(home / "data" / "workstation.db")
    (symbol,) = con.execute(
        "SELECT symbol FROM positions WHERE status = 'open' ORDER BY symbol"
    ).fetchone()
    con.execute("UPDATE positions SET qty = qty + 10 WHERE symbol = ?", (symbol,))
    con.commit()
    con.close()
    beat(home, et(11, 16, 10), last_trade_at=et(11, 15, 59))
    rc, checks = health(home, capsys)
    assert (rc, problems(checks)) == (2, {"broker": "failed", "protection": "failed"})
    assert checks["broker"]["message"].startswith("the store and the broker disagree (1 diff")
    assert checks["broker"]["details"][0].startswith("position_mismatch: the store has ")


def test_stale_market_data_fails(home: Path, capsys) -> None:
    # Monday 15:00, market open, six positions held: the last price came at 14:20
    beat(home, et(11, 15, 0), last_trade_at=et(11, 14, 20))
    rc, checks = health(home, capsys)
    assert (rc, problems(checks)) == (2, {"data": "failed"})
    assert checks["data"]["message"] == (
        "no price of a held symbol for 40 min (last 2024-03-11 14:20 ET): stale data"
    )


def test_a_killed_engine_fails_and_a_degraded_stream_degrades(
    home: Path, capsys, engine_lock: InstanceLock
) -> None:
    beat(home, et(11, 16, 10), connections={"data-stream": "degraded"})
    rc, checks = health(home, capsys)
    assert (rc, problems(checks)) == (1, {"data": "degraded"})
    assert checks["data"]["message"] == "connection degraded: data-stream"

    engine_lock.release()  # the engine's process ended without a last beat: killed
    rc, checks = health(home, capsys)
    assert (rc, checks["engine"]["status"]) == (2, "failed")
    assert "was killed or crashed" in checks["engine"]["message"]


def test_an_empty_store_fails_the_check_and_says_what_to_do(home: Path, capsys) -> None:
    """A store emptied behind the app's back is a failed check naming it, not a crash."""
    beat(home, et(11, 16, 10))
    db = home / "data" / "workstation.db"
    for extra in db.parent.glob("workstation.db-*"):
        extra.unlink()
    db.write_bytes(b"")
    rc, checks = health(home, capsys)
    assert rc == 2 and checks["broker"]["status"] == "failed"
    assert f"{db} is empty (0 bytes)" in checks["broker"]["message"]
    assert "workstation store restore" in checks["broker"]["message"]
    assert db.stat().st_size == 0, "health never replaces a store"
