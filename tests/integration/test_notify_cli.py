"""``workstation notify`` and a headless run with notifications, as real processes: the URLs
come from the environment or from a keyring backend (tests/file_keyring.py: keyring's API on
a file in a temporary folder outside the home), the endpoints are local servers started here, and
afterwards nothing in the home (YAML, logs, the store, the outbox) holds a URL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sinks import JsonSink, MailSink, json_sink, mail_sink

REPO = Path(__file__).resolve().parents[2]
TOKEN = "Tok3nThatMustNotLeak"


def env_for(tmp: Path, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKSTATION_")}
    env.update(
        WORKSTATION_HOME=str(home),
        PYTHON_KEYRING_BACKEND="tests.file_keyring.FileKeyring",
        WORKSTATION_TEST_KEYRING=str(tmp / "keyring.json"),  # outside the home
    )
    env.update(extra)
    return env


def ws(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workstation", *args],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def sinks() -> tuple[JsonSink, MailSink]:
    with json_sink() as js, mail_sink() as ms:
        yield js, ms


def test_notify_test_sends_to_every_channel(tmp_path: Path, sinks) -> None:
    js, ms = sinks
    env = env_for(tmp_path, tmp_path / "home", WORKSTATION_NOTIFY_URLS=f"{js.url()}\n{ms.url()}")
    done = ws(env, "notify", "--test")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and all(line.endswith(": sent") for line in lines)
    assert lines[0].startswith("json://… #") and lines[1].startswith("mailto://… #")
    for sink in (js, ms):
        (msg,) = sink.messages
        assert msg.title == "AutoTrader Workstation: test notification"
        assert "Alerts that go out: scan_ready, scan_failed, gap_results" in msg.body


def test_notify_test_exit_codes(tmp_path: Path, sinks) -> None:
    js, _ = sinks
    js.fail(-1)
    env = env_for(tmp_path, tmp_path / "home", WORKSTATION_NOTIFY_URLS=js.url())
    failed = ws(env, "notify", "--test")
    assert failed.returncode == 1
    assert "FAILED (failure: Failed to send JSON POST notification" in failed.stdout
    none = ws(env_for(tmp_path, tmp_path / "home"), "notify", "--test")
    assert none.returncode == 2 and none.stdout == ""
    assert none.stderr.startswith("workstation: no notification channels:")
    assert none.stderr.count("\n") == 1
    bad = ws(env_for(tmp_path, tmp_path / "home"), "notify", "--set", stdin="nonsense://x\n")
    assert bad.returncode == 2 and "is not a notification URL apprise understands" in bad.stderr


def test_urls_set_in_the_keyring_are_used_and_never_written_to_the_home(
    tmp_path: Path, sinks
) -> None:
    js, ms = sinks
    home = tmp_path / "home"
    env = env_for(tmp_path, home)
    url = js.url() + f"?+X-Token={TOKEN}"
    stored = ws(env, "notify", "--set", stdin=f"# my channels\n{url}\n{ms.url()}\n")
    assert stored.returncode == 0, stored.stderr
    shown = ws(env, "notify", "--show")
    assert "2 notification channel(s) from keyring:" in shown.stdout
    assert TOKEN not in shown.stdout and str(js.port) not in shown.stdout

    assert ws(env, "config", "check").returncode == 0  # seeds the home
    app = home / "config" / "app.yaml"
    text = app.read_text().replace('today: ""', 'today: "2024-03-08"')
    app.write_text(text.replace("min_interval_s: 1.0", "min_interval_s: 0.0"))  # no pacing
    run = ws(env, "--seed", "2", "run", "--headless", "--sessions", "1", "--speed", "max")
    assert run.returncode == 0, run.stderr
    titles = js.titles()
    assert titles[0] == "Scan ready: 12 candidates, approve by 09:25 ET Mon 2024-03-11"
    # seed 2's Monday on the simulated market of real prices and volatilities (issue 13.11)
    assert titles[1] == "Gap filter Mon 2024-03-11: 11 passed, 1 dropped"
    assert [t for t in titles if t.startswith("Entered ")]
    assert titles[-1] == "End of day Mon 2024-03-11: P&L +$129.76 (+0.13%)"
    assert js.headers[0]["X-Token"] == TOKEN  # the channel got its token...
    assert ms.wait_for(len(titles))

    # ... and nothing the app wrote holds it: YAML, logs, the SQLite store and outbox, scans
    written = [p for p in home.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {
        "app.yaml",
        "workstation.db",
        "notify_outbox.db",
        "run.jsonl",
    }
    for p in written:
        data = p.read_bytes()
        for secret in (TOKEN, f"127.0.0.1:{js.port}", f"127.0.0.1:{ms.port}"):
            assert secret.encode() not in data, f"{secret} leaked into {p}"
    for out in (run.stdout, run.stderr, stored.stdout, stored.stderr):
        assert TOKEN not in out

    cleared = ws(env, "notify", "--clear")
    assert cleared.returncode == 0
    assert "no notification channels" in ws(env, "notify", "--show").stdout
