"""The headless runner SIGKILLed in an alert's crash window, and restarted: the alert is sent
exactly once.

The test-only hook kills the process at ``before_entry_alert`` (the first position of the run
is in the store, its PositionOpened is being published, its alert is not in the outbox yet)
or ``before_exit_alert`` (the same for the first closed trade). Alerts go through apprise to a
JSON endpoint on 127.0.0.1. The scenario is the crash tests' (seed 20: six group-A longs
entered on Monday 03-11, one exits at its take-profit on Tuesday 03-12). After the restart,
every position has its entry alert and every trade its exit alert, each once, and the one
the kill cut off among them.
"""

from __future__ import annotations

import signal
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.test_crash_restart import _home, _run, check_safety
from tests.sinks import json_sink
from workstation.notify.outbox import FILE_NAME, Outbox

pytestmark = pytest.mark.timeout(400)


def _ids(home: Path, sql: str) -> list[int]:
    con = sqlite3.connect(home / "data" / "workstation.db")
    try:
        return [r[0] for r in con.execute(sql)]
    finally:
        con.close()


def _keys(home: Path) -> set[str]:
    outbox = Outbox(home / "data" / FILE_NAME)
    try:
        return set(outbox.outcomes())
    finally:
        outbox.close()


@pytest.mark.parametrize(
    ("point", "sql", "key", "title"),
    [
        ("before_entry_alert", "SELECT id FROM positions ORDER BY id", "entry", "Entered "),
        ("before_exit_alert", "SELECT id FROM trades ORDER BY id", "exit", "Exited "),
    ],
    ids=["entry", "exit"],
)
def test_an_alert_cut_off_by_a_kill_is_sent_once_after_the_restart(
    tmp_path: Path, point: str, sql: str, key: str, title: str
) -> None:
    home = _home(tmp_path / "home")
    with json_sink() as sink:
        crashed = _run(home, WORKSTATION_CRASH_AT=point, WORKSTATION_NOTIFY_URLS=sink.url())
        assert crashed.returncode == -signal.SIGKILL, crashed.stderr
        # the window, as the kill left it: the fact is stored, its alert is not queued
        [first] = _ids(home, sql)
        assert f"{key}:{first}" not in _keys(home)

        restarted = _run(home, WORKSTATION_NOTIFY_URLS=sink.url())
        assert restarted.returncode == 0, restarted.stderr
        check_safety(home)
        facts = _ids(home, sql)
        keys = _keys(home)
        assert {f"{key}:{i}" for i in facts} <= keys
        assert sink.wait_for(lambda m: sum(x.title.startswith(title) for x in m) >= len(facts))
        sent = Counter(t for t in sink.titles() if t.startswith(title))
    # one alert a fact, none twice (the kill came before any of them was queued)
    assert sum(sent.values()) == len(facts) and set(sent.values()) == {1}, sent
    assert "before the restart but never queued go out now" in restarted.stderr + _log(home)


def _log(home: Path) -> str:
    path = home / "data" / "logs" / "run.jsonl"
    return path.read_text() if path.exists() else ""
