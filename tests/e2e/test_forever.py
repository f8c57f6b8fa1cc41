"""``workstation run --headless --forever`` under a supervisor: SIGKILLed and restarted, it ends
exactly where an uninterrupted run ends, with no duplicate order and no missed alert.

The simulated market is cut short (``future_sessions: 5``: its last session is Thu 03-14), so
a forever run trades Mon 03-11 to Thu 03-14 from Friday's scan and ends by itself (exit 0).
The clock runs at max speed. Alerts go through apprise to a JSON endpoint on 127.0.0.1
started here. The supervisor is this test, acting as systemd's ``Restart=on-failure`` would:
it starts the run, SIGKILLs it whenever the endpoint has received a given number of alerts
(so the kills land mid-session, at different places), and starts it again after any exit
that is not a success, until it exits 0. Each restart takes the home's instance lock the
killed run held (the OS released it), so no two runs ever trade at once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.test_crash_restart import check_safety, final_state
from tests.sinks import JsonSink, json_sink

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).resolve().parents[2]


def same_fact(title: str) -> str:
    """An alert's title as the fact it reports ("End of day <session>" without the P&L)."""
    return title.split(": P&L", 1)[0] if title.startswith("End of day ") else title


def make_home(path: Path) -> Path:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKSTATION_")}
    env["WORKSTATION_HOME"] = str(path)
    subprocess.run(
        [sys.executable, "-m", "workstation", "config", "check"],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    app = path / "config" / "app.yaml"
    text = app.read_text().replace('today: ""', 'today: "2024-03-08"')
    app.write_text(text.replace("future_sessions: 260", "future_sessions: 5"))
    return path


def start(home: Path, sink: JsonSink) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKSTATION_")}
    env.update(WORKSTATION_HOME=str(home), WORKSTATION_NOTIFY_URLS=sink.url())
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "workstation",
            "--seed",
            "2",
            "run",
            "--headless",
            "--forever",
            "--speed",
            "max",
            "--json",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def supervise(home: Path, sink: JsonSink, kill_at: tuple[int, ...]) -> list[int]:
    """Run until a clean exit; kill at the given alert counts; restart after any failure.
    Returns the exit codes of every run (negative: killed by that signal)."""
    codes: list[int] = []
    todo = list(kill_at)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        proc = start(home, sink)
        while proc.poll() is None:
            if todo and len(sink.messages) >= todo[0]:
                todo.pop(0)
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
                break
            time.sleep(0.005)
        _out, err = proc.communicate(timeout=30)
        codes.append(proc.returncode)
        if proc.returncode == 0:
            return codes
        # like the systemd unit's RestartPreventExitStatus: a user error, or a store and
        # broker that disagree (an entry order written but never sent: a human decides)
        assert proc.returncode not in (2, 3), f"exit {proc.returncode}: {err.strip()}"
        time.sleep(0.2)  # RestartSec
    raise AssertionError(f"the supervised run did not finish: exit codes {codes}")


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    home = make_home(tmp_path_factory.mktemp("forever-base") / "home")
    with json_sink() as sink:
        codes = supervise(home, sink, ())
        titles = sink.titles()
    assert codes == [0]
    return home, titles


def test_forever_survives_sigkill_and_restarts(
    baseline: tuple[Path, list[str]], tmp_path: Path
) -> None:
    base_home, base_titles = baseline
    # the uninterrupted run traded all four sessions and said so
    assert sum(t.startswith("End of day ") for t in base_titles) == 4
    assert sum(t.startswith("Scan ready: ") for t in base_titles) == 4  # 03-08, 03-11 .. 03-13
    assert any(t.startswith("Entered ") for t in base_titles)
    assert any(t.startswith("Exited ") for t in base_titles)

    # SIGKILL when the endpoint has received this many alerts: early, mid-run, near the end
    n = len(base_titles)
    kill_at = (4, n // 2, n - 6)
    home = make_home(tmp_path / "home")
    with json_sink() as sink:
        codes = supervise(home, sink, kill_at)
        titles = sink.titles()
    assert codes == [-signal.SIGKILL] * len(kill_at) + [0], codes

    # no duplicate order, every position protected, the store's positions the exchange's...
    check_safety(home, unsent_allowed=True)
    # ... and the same trades and positions as the uninterrupted run
    assert final_state(home) == final_state(base_home)
    # no missed alert; an alert in flight at a kill may arrive twice, nothing else does.
    # (The end-of-day P&L of a session restarted mid-day is compared without its figures:
    # the day's start equity is not kept across a restart yet, issue 12 item 5.)
    assert set(map(same_fact, titles)) == set(map(same_fact, base_titles))
    extra = sum(n - 1 for n in Counter(titles).values())
    assert extra <= len(kill_at), Counter(titles).most_common(3)

    # the logs are JSON lines, one object each, from every run
    lines = (home / "data" / "logs" / "run.jsonl").read_text().splitlines()
    docs = [json.loads(line) for line in lines]
    assert docs and {"ts", "level", "logger", "msg"} <= set(docs[0])
    beat = json.loads((home / "data" / "heartbeat.json").read_text())
    assert beat["running"] is False and beat["mode"] == "sim"
