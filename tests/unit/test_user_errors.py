"""User errors are ONE line and exit code 2, never 'unexpected error ... exit 70' (issue 12
item 10). Table-driven: each case prepares a home, runs the real CLI (``workstation.cli.main``
in-process, or a subprocess where the case needs one) and checks the line.

Also here: what a valid but partial configuration leaves to the defaults or switches off
(named by ``config check``), and the crash report of a real unexpected error (in the home, one
file per crash, pruned).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from workstation.cli import main
from workstation.core.paths import Paths
from workstation.crash_log import KEEP_FILES, crash_folder

REPO = Path(__file__).resolve().parents[2]
NOT_UTF8 = "mode: sim\ntheme: dark   # th\xe9me\n".encode("latin-1")


def _csv(tmp: Path, text: str) -> str:
    path = tmp / "universe.csv"
    path.write_text(text)
    return str(path)


Setup = Callable[[Path, Path], list[str]]  # (home, tmp) -> argv after --home


def _bad_app_yaml(home: Path, tmp: Path) -> list[str]:
    (home / "config" / "app.yaml").write_bytes(NOT_UTF8)
    return ["scan"]


def _bad_strategies_yaml(home: Path, tmp: Path) -> list[str]:
    (home / "config" / "strategies.yaml").write_bytes(NOT_UTF8)
    return ["config", "check"]


def _bad_file_checked(home: Path, tmp: Path) -> list[str]:
    path = tmp / "risk.yaml"
    path.write_bytes(b"gap:\n  max_abs_gap: 0.03 # \xff\n")
    return ["config", "check", str(path)]


CASES: list[tuple[str, Setup, str]] = [
    ("yaml-not-utf8", _bad_app_yaml, "app.yaml: is not UTF-8 text (byte 0xe9 on line 2)"),
    (
        "strategies-not-utf8",
        _bad_strategies_yaml,
        "strategies.yaml: is not UTF-8 text (byte 0xe9 on line 2); save it as UTF-8",
    ),
    ("checked-file-not-utf8", _bad_file_checked, "risk.yaml: is not UTF-8 text (byte 0xff"),
    (
        "universe-empty",
        lambda h, t: ["--universe", _csv(t, ""), "scan"],
        "universe.csv is empty; it needs a header line 'symbol,sector'",
    ),
    (
        "universe-no-symbol-column",
        lambda h, t: ["--universe", _csv(t, "name,sector\nApple,Information Technology\n"), "scan"],
        "has no 'symbol' column (columns found: name, sector)",
    ),
    (
        "universe-unknown-symbol-sim",
        lambda h, t: ["--universe", _csv(t, "symbol\nAAPL\nZZZZ\n"), "scan"],
        "the simulated market does not know ZZZZ (it simulates the S&P 500 members); remove "
        "it, or trade it on --market replay:PATH or alpaca",
    ),
    (
        "universe-unknown-symbol-bars",
        lambda h, t: ["--universe", _csv(t, "symbol\nZZZZ\nQQQQ\n"), "market", "bars", "ZZZZ"],
        "the simulated market does not know QQQQ, ZZZZ",
    ),
    (
        "seed-negative",
        lambda h, t: ["--seed", "-1", "scan"],
        "--seed -1 is not valid: give a whole number from 0 to 2147483647",
    ),
    (
        "seed-negative-run",
        lambda h, t: ["run", "--headless", "--seed", "-1"],
        "--seed -1 is not valid",
    ),
]


@pytest.mark.parametrize(("name", "setup", "message"), CASES, ids=[c[0] for c in CASES])
def test_a_user_error_is_one_line_and_exit_2(
    home: Path, tmp_path: Path, capsys: Any, name: str, setup: Setup, message: str
) -> None:
    argv = setup(home, tmp_path)
    capsys.readouterr()
    code = main(["--home", str(home), *argv])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert message in lines[0]
    assert "unexpected error" not in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [["scan"], ["config", "check"], ["run", "--headless"]])
def test_a_home_that_is_a_file_is_one_line(tmp_path: Path, capsys: Any, argv: list[str]) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("not a folder")
    assert main(["--home", str(file), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"workstation: cannot use the home folder {file}: Not a directory")
    assert file.read_text() == "not a folder"


def _subprocess(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WORKSTATION_", "APCA_"))}
    env.update(kw.pop("env", {}))
    return subprocess.run(
        [sys.executable, "-m", "workstation", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["scan"], "cannot lock the home folder {home} (Permission denied)"),
        (["run", "--headless", "--speed", "max"], "cannot lock the home folder {home}"),
    ],
    ids=["scan", "run"],
)
def test_a_read_only_home_is_one_line(tmp_path: Path, argv: list[str], message: str) -> None:
    from tests.unprivileged import as_ordinary_user

    home = tmp_path / "home"
    Paths.resolve(home).ensure()
    folders = [home, *(p for p in home.rglob("*") if p.is_dir())]
    for d in folders:
        d.chmod(0o555)
    try:
        done = _subprocess(["--home", str(home), *argv], preexec_fn=as_ordinary_user())
    finally:
        for d in folders:
            d.chmod(0o755)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1
    assert message.format(home=home) in done.stderr


def test_a_new_home_in_a_read_only_folder_is_one_line(tmp_path: Path) -> None:
    from tests.unprivileged import as_ordinary_user

    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        done = _subprocess(["--home", str(parent / "home"), "scan"], preexec_fn=as_ordinary_user())
    finally:
        parent.chmod(0o755)
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"workstation: cannot use the home folder {parent / 'home'}: Permission denied "
        f"({parent / 'home'}); choose another with --home, or fix its permissions\n"
    )


def test_paper_without_a_connection_is_one_line_not_sdk_tracebacks(tmp_path: Path) -> None:
    """It printed ~90 lines of the SDK's stream tracebacks, then exit 70."""
    with socket.socket() as s:  # a port nothing listens on: connections are refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = tmp_path / "home"
    done = _subprocess(
        ["--home", str(home), "run", "--headless", "--mode", "paper"],
        env={
            "APCA_API_KEY_ID": "PKTESTKEY0000000000",
            "APCA_API_SECRET_KEY": "test-secret-not-real",
            "APCA_API_BASE_URL": f"http://127.0.0.1:{port}",
            "APCA_API_DATA_URL": f"http://127.0.0.1:{port}",
            "APCA_API_STREAM_URL": f"ws://127.0.0.1:{port}",
            "APCA_API_TRADING_STREAM_URL": f"ws://127.0.0.1:{port}",
        },
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("workstation: the broker failed: Alpaca ")
    assert "network" in done.stderr and "check the network connection" in done.stderr
    assert "Traceback" not in done.stderr and "test-secret-not-real" not in done.stderr
    log = (home / "data" / "logs" / "run.jsonl").read_text()
    assert "Traceback" in log, "the SDK's details went to the run's log"
    assert "test-secret-not-real" not in log


# ------------------------------------------------------------------ valid, with notes
def test_a_partial_configuration_is_valid_and_says_what_it_leaves_out(
    home: Path, capsys: Any
) -> None:
    (home / "config" / "strategies.yaml").write_text(
        "rsi_reversion:\n  enabled: true\n  side: long\n  group: A\n  sl_atr: 2.0\n"
    )
    (home / "config" / "risk.yaml").write_text("")
    (home / "config" / "schedule.yaml").write_text('scan_at: "20:00"\n')
    assert main(["--home", str(home), "config", "check"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{home / 'config'}: valid (parameter set ")
    assert out[0].endswith("notes:")
    notes = [line.strip() for line in out[1:]]
    for strategy in ("adx_pullback", "bb_squeeze", "overbought_short", "regime_momentum"):
        assert (
            f"strategies.yaml: no '{strategy}' block: that strategy is off (copy its block "
            "from the project's config/strategies.yaml to turn it on)"
        ) in notes
    assert any(
        n.startswith("strategies.yaml: rsi_reversion: no tp_atr, ") and "the defaults apply" in n
        for n in notes
    )
    assert "risk.yaml: empty: every value takes its default" in notes
    assert "schedule.yaml: no 'group_b_at': the default '09:50' applies" in notes
    assert not any("no strategy is on" in n for n in notes)

    (home / "config" / "strategies.yaml").write_text("")
    assert main(["--home", str(home), "config", "check"]) == 0
    assert "strategies.yaml: no strategy is on: every scan will find no candidates" in (
        capsys.readouterr().out
    )


def test_the_shipped_configuration_has_no_notes(home: Path, capsys: Any) -> None:
    assert main(["--home", str(home), "config", "check"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "notes" not in out


# ------------------------------------------------------------------ crash reports
def test_an_unexpected_error_leaves_one_report_per_crash_in_the_home(
    home: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workstation.commands import config_cmd

    def boom(_args: Any) -> int:
        raise RuntimeError("a bug\nwith a second line")

    monkeypatch.setattr(config_cmd, "run_check", boom)
    folder = crash_folder(Paths.resolve(home))
    folder.mkdir(parents=True)
    old = time.time() - 40 * 86400
    for i in range(KEEP_FILES + 5):  # older reports: the oldest go
        p = folder / f"crash-20240101-0000{i:02d}-1.log"
        p.write_text("old")
        os.utime(p, (old + i, old + i))
    reports = []
    for _ in range(2):
        assert main(["--home", str(home), "config", "check"]) == 70
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert err.startswith("workstation: unexpected error: RuntimeError: a bug (details in ")
        where = Path(err.rsplit("(details in ", 1)[1].rstrip(")\n"))
        assert where.parent == folder and where.name.startswith("crash-")
        text = where.read_text()
        assert "RuntimeError: a bug" in text and "Traceback" in text
        assert f"command: workstation --home {home} config check" in text
        reports.append(where)
    assert len(set(reports)) == 2
    left = sorted(folder.glob("crash-*.log"))
    assert set(reports) <= set(left)
    assert all(p.read_text() != "old" for p in left), "reports older than 30 days are gone"
