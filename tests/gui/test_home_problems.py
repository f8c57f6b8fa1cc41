"""The window and a home it cannot use safely (issue 12 items 1 and 2): another workstation
already runs on it (the app does not start: a dialog says who runs and what to do)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox

from tests.gui.test_app import prepare_home
from workstation.instance import InstanceLock


def test_the_app_does_not_start_beside_a_running_workstation(
    qapp: Any, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workstation.app import DesktopApp

    home = tmp_path / "home"
    prepare_home(home)
    running = InstanceLock(home / "data", home)
    running.acquire("workstation run --headless --sessions 5")
    shown: list[QMessageBox] = []

    def look(box: QMessageBox) -> int:
        box.show()
        qapp.processEvents()
        assert box.isVisible()
        box.grab().save(str(tmp_path / "already-running.png"))
        shown.append(box)
        box.close()
        return QMessageBox.StandardButton.Close.value

    monkeypatch.setattr(QMessageBox, "exec", look)
    args = argparse.Namespace(home=str(home), mode=None, market=None, universe=None, seed=None)
    try:
        desktop = DesktopApp(args)
        assert desktop.run() == 2
    finally:
        running.release()
    assert desktop.window is None, "no window, no engines"
    assert not (home / "data" / "workstation.db").exists()
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"workstation: another workstation is running on the home {home}")
    assert shown and shown[0] is desktop.refusal
    box = shown[0]
    assert box.windowTitle() == "Already running"
    assert box.text() == "Another AutoTrader Workstation is already running on this home."
    assert box.informativeText().startswith(f"Process {os.getpid()} on ")
    assert "workstation run --headless --sessions 5" in box.informativeText()
    assert "nothing was traded" in box.informativeText()
    assert box.detailedText() == f"Home: {home}"
    assert (tmp_path / "already-running.png").stat().st_size > 5000
