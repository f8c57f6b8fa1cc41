"""The shipped service definitions (packaging/service/): each parses as its system reads it,
runs the command the CLI accepts (``run --headless --forever``), restarts after a failure and
not after a clean stop, and docs/operations.md names each of them."""

from __future__ import annotations

import configparser
import plistlib
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from workstation.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
SERVICE = REPO / "packaging" / "service"
TASK_NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}


def parses_as_a_forever_run(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert args.command == "run" and args.headless and args.forever
    assert args.handler.__name__ == "run_headless"


def test_the_systemd_user_unit() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    unit.read(SERVICE / "workstation.service", encoding="utf-8")
    svc = unit["Service"]
    exe, *argv = shlex.split(svc["ExecStart"])
    assert exe.endswith("/workstation")
    parses_as_a_forever_run(argv)
    assert svc["Restart"] == "on-failure"
    assert svc["KillSignal"] == "SIGTERM" and svc["SuccessExitStatus"] == "130"
    assert svc["RestartPreventExitStatus"].split() == ["2", "3", "4"]
    assert "WORKSTATION_HOME=" in svc["Environment"]
    assert unit["Install"]["WantedBy"] == "default.target"  # a user unit


def test_the_launchd_agent() -> None:
    plist = plistlib.loads((SERVICE / "com.autotrader.workstation.plist").read_bytes())
    assert plist["Label"] == "com.autotrader.workstation"
    exe, *argv = plist["ProgramArguments"]
    assert exe.endswith("/workstation")
    parses_as_a_forever_run(argv)
    assert plist["KeepAlive"] == {"SuccessfulExit": False}  # restart after a failure only
    assert plist["RunAtLoad"] is True and plist["ThrottleInterval"] >= 10
    assert "WORKSTATION_HOME" in plist["EnvironmentVariables"]


def test_the_windows_task() -> None:
    root = ET.fromstring((SERVICE / "workstation-task.xml").read_bytes())
    exec_ = root.find("t:Actions/t:Exec", TASK_NS)
    assert exec_ is not None
    command = exec_.findtext("t:Command", namespaces=TASK_NS) or ""
    assert command.endswith("workstation.exe")
    argv = shlex.split(exec_.findtext("t:Arguments", namespaces=TASK_NS) or "", posix=False)
    parses_as_a_forever_run([a.strip('"') for a in argv])
    settings = root.find("t:Settings", TASK_NS)
    assert settings is not None
    assert settings.findtext("t:ExecutionTimeLimit", namespaces=TASK_NS) == "PT0S"
    assert settings.findtext("t:MultipleInstancesPolicy", namespaces=TASK_NS) == "IgnoreNew"
    restart = settings.find("t:RestartOnFailure", TASK_NS)
    assert restart is not None and int(restart.findtext("t:Count", namespaces=TASK_NS)) > 0
    assert root.find("t:Triggers/t:LogonTrigger", TASK_NS) is not None


@pytest.mark.parametrize(
    "name", ["workstation.service", "com.autotrader.workstation.plist", "workstation-task.xml"]
)
def test_operations_doc_names_each_definition(name: str) -> None:
    assert f"`{name}`" in (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
