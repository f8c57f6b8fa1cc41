"""The window and a home it cannot use safely (issue 12 items 1 and 2): another workstation
already runs on it (the app does not start: a dialog says who runs and what to do), or its
store is deleted or emptied while it runs (trading stops, a dialog says what to do, the window
keeps working)."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox

from tests.gui.test_app import (  # noqa: F401 - fixtures
    prepare_home,
    qloop,
    run,
    scanned_home,
    until,
    wired,
)
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


# ------------------------------------------------------------------ the store goes away
@pytest.mark.parametrize("how", ["deleted", "emptied"])
def test_a_store_lost_while_the_app_runs_stops_trading_and_says_what_to_do(
    wired: Any,  # noqa: F811 - the fixture
    qloop: Any,  # noqa: F811
    qtbot: Any,
    tmp_path: Path,
    how: str,
) -> None:
    from workstation.core.events import Event
    from workstation.engine.api import CommandRefused
    from workstation.engine.events import ReconcileFinished, StoreFailed
    from workstation.engine.session_events import DayPlanned

    w = wired()
    facade = w.engines.facade
    facade.keeper.watch_s = 0.1  # type: ignore[union-attr]

    db = w.home / "data" / "workstation.db"
    seen: list[Event] = []
    w.engines.bus.subscribe(StoreFailed, seen.append)

    async def scenario() -> None:
        # One run of the loop, as in the app (qasync resumes a task whose loop was stopped
        # and started again between its steps outside the running loop).
        facade.start()
        # started: the start backup taken, reconciled, the day loop planning its day
        await until(lambda: bool(w.of(ReconcileFinished)) and bool(w.of(DayPlanned)))
        await asyncio.sleep(0.2)
        assert facade.keeper is not None and len(facade.keeper.taken) == 1
        if how == "deleted":
            db.unlink()
        else:
            db.write_bytes(b"")
        await until(lambda: getattr(w.win, "store_problem_dialog", None) is not None)
        await until(lambda: facade._run_task is not None and facade._run_task.done())

    run(qloop, scenario())
    box = w.win.store_problem_dialog
    qtbot.waitExposed(box)
    box.grab().save(str(tmp_path / f"store-{how}.png"))
    assert [e.kind for e in seen] == [how]
    assert box.windowTitle() == "Trading stopped: the store"
    assert box.text().endswith("Trading stopped.") and how.rstrip("d") in box.text()
    rescued = facade.keeper.rescued  # type: ignore[union-attr]
    if how == "deleted":  # its open connection still read everything: saved as a backup
        assert rescued is not None and rescued.parent == w.home / "data" / "backups"
        assert (
            f"quit the workstation, then restore the backup {rescued.name}, which holds "
            "everything it had, with 'workstation store restore'" in box.informativeText()
        )
    else:  # an emptied file cannot be read back: the newest backup is named
        assert rescued is None
        assert "quit the workstation, then restore it with 'workstation store restore' " in (
            box.informativeText()
        )
        assert "(newest backup: workstation-" in box.informativeText()
    assert str(db) in box.detailedText()
    assert "trading stopped" in w.win.statusBar().currentMessage()
    assert facade.store_problem is not None and facade.error.endswith("trading stopped")
    # nothing more is accepted, and the window keeps working on what it showed
    with pytest.raises(CommandRefused, match="trading stopped"):
        facade.approve(w.win.panels["candidates"].table.visible_rows()[0].id)
    w.win.refresh_all()
    assert len(w.win.panels["candidates"].table.visible_rows()) == 12
    status = facade.status()
    assert any(c.component == "store" and c.state == "down" for c in status.connections)
    assert not db.exists() or db.stat().st_size == 0, "nothing recreated or refilled the store"
    assert (tmp_path / f"store-{how}.png").stat().st_size > 5000
