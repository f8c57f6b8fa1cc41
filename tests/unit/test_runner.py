"""The headless runner's parts: --speed, the crash hook, the cached market hours, the
simulated exchange file, and the errors users can cause (one line, non-zero exit)."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from workstation.cli import main
from workstation.core.calendar import ET, get_calendar
from workstation.core.events import EventBus, OrderFilled, OrderUpdated
from workstation.core.models import (
    Fill,
    Order,
    OrderIntent,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
)
from workstation.engine.crashpoints import POINTS, CrashHook
from workstation.engine.runner import STATE_FILE, MarketHours, parse_speed
from workstation.errors import UserError


@pytest.mark.parametrize(
    ("raw", "speed"),
    [
        ("max", math.inf),
        ("MAX", math.inf),
        ("60", 60.0),
        ("0.5", 0.5),
        ("1e9", math.inf),
        (None, None),
    ],
    ids=["max", "MAX", "60", "half", "1e9-is-max", "default"],
)
def test_parse_speed(raw: str | None, speed: float | None) -> None:
    assert parse_speed(raw) == speed


@pytest.mark.parametrize("raw", ["0", "-1", "fast", "nan", "inf"])
def test_bad_speeds_are_one_clear_error(raw: str) -> None:
    with pytest.raises(UserError, match="--speed"):
        parse_speed(raw)


def test_the_crash_hook_kills_at_the_nth_occurrence_of_its_point() -> None:
    kills: list[str] = []
    hook = CrashHook("after_partial_fill@2", kill=lambda: kills.append("killed"))
    assert hook.armed and hook.point == "after_partial_fill" and hook.nth == 2
    hook("after_opg_submit")
    hook("after_partial_fill")
    assert kills == []
    hook("after_partial_fill")
    assert kills == ["killed"]
    off = CrashHook(None, kill=lambda: kills.append("no"))
    for p in POINTS:
        off(p)
    assert not off.armed and kills == ["killed"]


def test_the_commit_crash_point_kills_at_a_commit_by_number_or_by_time(tmp_path: Path) -> None:
    from datetime import datetime, timedelta

    from workstation.core.calendar import ET
    from workstation.core.clock import SimClock
    from workstation.store import Store

    t0 = datetime(2024, 3, 12, 9, 30, tzinfo=ET)
    clock = SimClock(t0, speed=1.0)
    clock.pause()
    store = Store.open(tmp_path / "ws.db")
    kills: list[str] = []
    by_number = CrashHook("commit@3", kill=lambda: kills.append("n"))
    by_time = CrashHook(
        f"commit@{(t0 + timedelta(minutes=5)).isoformat()}", kill=lambda: kills.append("t")
    )
    by_number.attach_store(store, clock)
    by_time.attach_store(store, clock)
    for _ in range(3):
        store.audit("engine", "test", at=clock.now())
    assert kills == ["n"]
    clock.jump_to(t0 + timedelta(minutes=5))
    store.audit("engine", "test", at=clock.now())
    assert kills == ["n", "t"]
    store.close()


@pytest.mark.parametrize(
    "spec",
    [
        "nowhere",
        "after_opg_submit@x",
        "after_opg_submit@0",
        "commit@soon",
        "commit@2024-03-12T09:30",
    ],
)
def test_a_bad_crash_point_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="WORKSTATION_CRASH_AT"):
        CrashHook(spec)


def test_the_crash_hook_freezes_instead_of_dying_when_told(monkeypatch: pytest.MonkeyPatch) -> None:
    """WORKSTATION_CRASH_HOW=stop: SIGSTOP at the point (the test kills it when it chooses);
    unset or empty: SIGKILL; anything else is refused."""
    import signal

    from workstation.engine import crashpoints

    sent: list[int] = []
    monkeypatch.setattr(crashpoints.os, "kill", lambda _pid, sig: sent.append(sig))
    monkeypatch.setenv(crashpoints.CRASH_ENV, "after_opg_submit")
    for how in ("stop", "", "kill"):
        monkeypatch.setenv(crashpoints.HOW_ENV, how)
        CrashHook.from_env()("after_opg_submit")
    assert sent == [signal.SIGSTOP, signal.SIGKILL, signal.SIGKILL]
    monkeypatch.setenv(crashpoints.HOW_ENV, "pause")
    with pytest.raises(ValueError, match="WORKSTATION_CRASH_HOW"):
        CrashHook.from_env()


def test_market_hours_match_the_calendar() -> None:
    cal = get_calendar()
    hours = MarketHours(cal)
    t = datetime(2024, 11, 27, 0, 0, tzinfo=ET)  # Thanksgiving, an early close, a weekend
    while t < datetime(2024, 12, 3, tzinfo=ET):
        assert hours(t) == str(cal.market_state(t)), t
        t += timedelta(minutes=7)
    assert hours(datetime(2024, 11, 29, 12, 59, tzinfo=ET)) == "open"
    assert hours(datetime(2024, 11, 29, 13, 0, tzinfo=ET)) == "after_hours"


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    assert main(["--home", str(home), "config", "check"]) == 0
    app = home / "config" / "app.yaml"
    app.write_text(app.read_text().replace('today: ""', 'today: "2024-03-08"'))
    return home


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run"], "needs --headless"),
        (["run", "--headless", "--sessions", "0"], "--sessions must be at least 1"),
        (["run", "--headless", "--speed", "warp"], "--speed"),
        (["run", "--headless", "--mode", "live"], "needs --confirm-live"),
        (["run", "--headless", "--market", "alpaca"], "add --mode paper"),
    ],
    ids=["no-headless", "zero-sessions", "bad-speed", "live", "alpaca-market-sim-broker"],
)
def test_user_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    home = _home(tmp_path)
    capsys.readouterr()
    assert main(["--home", str(home), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_a_bad_crash_point_in_the_environment_is_a_user_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home(tmp_path)
    monkeypatch.setenv("WORKSTATION_CRASH_AT", "nowhere")
    capsys.readouterr()
    assert main(["--home", str(home), "run", "--headless"]) == 2
    assert "unknown point 'nowhere'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot read the simulated exchange"),
        (json.dumps({"version": 99}), "not a simulated exchange state of this version"),
        (
            json.dumps(
                {
                    "version": 1,
                    "meta": {
                        "market": "sim",
                        "seed": 99,
                        "today": "2024-03-08",
                        "history_sessions": 320,
                        "future_sessions": 260,
                    },
                }
            ),
            "belongs to another simulation",
        ),
    ],
    ids=["corrupt", "other-version", "other-seed"],
)
def test_a_bad_or_foreign_exchange_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    home = _home(tmp_path)
    (home / "data" / STATE_FILE).write_text(content)
    capsys.readouterr()
    assert main(["--home", str(home), "run", "--headless", "--speed", "max"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def _order(intent: OrderIntent, status: OrderStatus, filled: int = 0) -> Order:
    req = OrderRequest(
        "cid",
        "AAA",
        OrderSide.SELL,
        10,
        OrderType.STOP if intent is OrderIntent.STOP else OrderType.MARKET,
        stop_price=90.0 if intent is OrderIntent.STOP else None,
        intent=intent,
    )
    return Order(req, status, filled_qty=filled)


@pytest.mark.parametrize(
    ("point", "event", "exiting", "kills"),
    [
        ("after_partial_fill", "fill-partial-entry", False, 1),
        ("after_partial_fill", "fill-whole-entry", False, 0),
        ("between_exit_fill_and_stop_cancel", "fill-exit", False, 1),
        ("between_exit_fill_and_stop_cancel", "fill-stop", False, 1),
        ("between_exit_fill_and_stop_cancel", "fill-whole-entry", False, 0),
        ("between_stop_cancel_and_exit_submit", "stop-canceled", True, 1),
        ("between_stop_cancel_and_exit_submit", "stop-canceled", False, 0),  # a replacement
    ],
    ids=[
        "partial",
        "whole-entry-is-not-partial",
        "exit-fill",
        "stop-fill",
        "entry-fill-is-not-closing",
        "stop-canceled-while-exiting",
        "stop-replaced-not-exiting",
    ],
)
def test_the_crash_points_on_broker_events(
    point: str, event: str, exiting: bool, kills: int
) -> None:
    killed: list[int] = []
    hook = CrashHook(point, kill=lambda: killed.append(1))
    bus = EventBus()
    hook.attach(bus, lambda symbol: exiting)
    at = datetime(2024, 3, 12, 10, 0, tzinfo=ET)
    fill = Fill("f1", "cid", "AAA", OrderSide.SELL, 5, 100.0, at)
    if event == "fill-partial-entry":
        bus.publish(
            OrderFilled(at, _order(OrderIntent.ENTRY, OrderStatus.PARTIALLY_FILLED, 5), fill)
        )
    elif event == "fill-whole-entry":
        bus.publish(OrderFilled(at, _order(OrderIntent.ENTRY, OrderStatus.FILLED, 10), fill))
    elif event == "fill-exit":
        bus.publish(OrderFilled(at, _order(OrderIntent.EXIT, OrderStatus.FILLED, 10), fill))
    elif event == "fill-stop":
        bus.publish(OrderFilled(at, _order(OrderIntent.STOP, OrderStatus.FILLED, 10), fill))
    else:
        bus.publish(OrderUpdated(at, _order(OrderIntent.STOP, OrderStatus.CANCELED), "accepted"))
    assert len(killed) == kills
