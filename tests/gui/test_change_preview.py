""" "What would this change do?" in the parameter editor (issue 11.2), driven with real mouse and
key events: an edit, one button, both backtests in a child process (``workstation report
change`` and its scan workers) while the Qt loop keeps beating; Cancel stops it; a shorter
period chosen in the page runs to both equity curves, the figures side by side and the trades
that differ; saving keeps the preview with the version, and the History tab says what the
change was expected to do.

The home is the simulated market on 20 symbols with a fixed today, so a 0.1-year preview (27
sessions, twice) takes seconds.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from PySide6.QtCore import QCoreApplication, QEvent, Qt

from workstation.core.calendar import get_calendar
from workstation.core.config_files import ConfigManager
from workstation.core.paths import Paths
from workstation.market.universe import sp500_universe
from workstation.research.evidence.change_notes import preview_of, preview_path
from workstation.research.evidence.service import EvidenceService
from workstation.ui.dialogs.params import ParameterEditor
from workstation.ui.evidence.change import DEFAULT_YEARS, override_key, set_options
from workstation.ui.heartbeat import Heartbeat

pytestmark = pytest.mark.gui

CAL = get_calendar()
LEFT = Qt.MouseButton.LeftButton
TIME_EXIT = ("risk.yaml", "exits", "time_exit_day")


async def _until(cond: Any, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def small_home(paths: Paths, manager: ConfigManager, n_symbols: int = 20) -> Path:
    """Today 2024-06-14 on the simulated market; the universe CSV of ``n_symbols``."""
    for name, key, value in (("app.yaml", "sim", {"today": "2024-06-14"}),
                             ("risk.yaml", "portfolio", {"max_per_sector": 8})):  # fmt: skip
        f = paths.config_dir / name
        data = yaml.safe_load(f.read_text(encoding="utf-8"))
        data[key].update(value)
        f.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    manager.reload()
    u = sp500_universe()
    csv = paths.data_dir / "universe.csv"
    rows = [f"{s},{u.sector(s)}" for s in sorted(u.symbols)[:n_symbols]]
    csv.write_text("symbol,sector\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return csv


def _type(qtbot: Any, widget: Any, text: str) -> None:
    """Select what the field holds and type ``text`` over it, as a user does."""
    widget.setFocus()
    qtbot.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(widget, text)


def test_edits_become_set_options() -> None:
    assert override_key(TIME_EXIT) == "risk.exits.time_exit_day"
    edits = {TIME_EXIT: 2, ("strategies.yaml", "rsi_reversion", "sl_atr"): 1.75,
             ("risk.yaml", "exits", "time_exit_at"): "15:45"}  # fmt: skip
    assert set_options(edits) == [
        "--set", "risk.exits.time_exit_day=2",
        "--set", "strategies.rsi_reversion.sl_atr=1.75",
        "--set", 'risk.exits.time_exit_at="15:45"',
    ]  # fmt: skip


def test_the_preview_runs_off_the_loop_cancels_shows_both_runs_and_is_kept_on_save(
    qtbot: Any, qloop: Any, paths: Paths, manager: ConfigManager
) -> None:
    csv = small_home(paths, manager)
    service = EvidenceService(paths, "sim", CAL, lambda: manager.current, universe_csv=str(csv))
    editor = ParameterEditor(manager, confirm_live=lambda: False, evidence=service)
    editor.show()
    qtbot.waitExposed(editor)
    page = editor.preview
    beat = Heartbeat(10)
    canceled: list[Any] = []
    arrived: list[int] = []  # the heartbeat's gap count when each job's result arrived
    on_done = page._done

    def done(result: Any) -> None:
        arrived.append(beat.beats)
        on_done(result)

    page._done = done  # type: ignore[method-assign]

    async def scenario() -> None:
        beat.start()
        assert not editor.preview_btn.isEnabled()  # nothing edited yet
        _type(qtbot, editor.show_field(TIME_EXIT).widget, "2")
        assert editor.edits() == {TIME_EXIT: 2}
        qtbot.mouseClick(editor.preview_btn, LEFT)
        # one button runs it, over the default period (the last 3 years with data)
        assert editor.main_stack.currentIndex() == 2 and page.running
        assert page.years.value() == DEFAULT_YEARS
        job = page.job
        canceled.append(job)
        await asyncio.sleep(1.0)  # the child is loading the market
        qtbot.mouseClick(page.cancel_btn, LEFT)
        await _until(lambda: not page.running, 20, "the canceled preview to stop")
        assert "canceled" in page.head.text() and page.doc is None
        # a shorter period, typed into the page; Run
        _type(qtbot, page.years.lineEdit(), "0.1")
        assert page.years.value() == pytest.approx(0.1)
        qtbot.mouseClick(page.run_btn, LEFT)
        assert page.running and not page.run_btn.isEnabled() and page.cancel_btn.isEnabled()
        await _until(lambda: not page.running, 180, "the preview")
        beat.stop()

    try:
        qloop.run_until_complete(scenario())
        check(qtbot, editor, manager)
    finally:
        if beat._timer.isActive():  # the scenario failed before it stopped the heartbeat
            beat.stop()
        service.shutdown()
        editor.close()
        editor.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    [job] = canceled
    assert job.result is not None and job.result.canceled and job.proc.poll() is not None
    # The two backtests ran in a child process: the Qt loop never stalled for them while they
    # ran (every gap before the result arrived under 50 ms of the loop's own CPU). Showing the
    # result is a one-off layout of the page (its labels, curves and table: 30-50 ms at
    # times), held to 100 ms, the bound of a reply that feels immediate.
    assert beat.beats > 100 and len(arrived) == 2
    busy = [c - beat.period_ms for c in beat.cpu_ms]
    running = max(busy[: arrived[-1]])
    assert running < 50, f"the loop was busy {running:.0f} ms while the backtests ran"
    shown = max(busy[arrived[-1] :])
    assert shown < 100, f"showing the result kept the loop busy {shown:.0f} ms"


def check(qtbot: Any, editor: ParameterEditor, manager: ConfigManager) -> None:
    """What the page shows, then Review, Save and the History tab."""
    page = editor.preview
    doc = page.doc
    assert doc is not None, page.head.text()
    assert doc["period"] == {"start": "2024-05-07", "end": "2024-06-13", "sessions": 27}
    assert doc["changes"] == [{"key": "risk.exits.time_exit_day", "current": 5, "edited": 2}]
    # what the page shows: the headline, the figures side by side, both curves, the trades
    head = page.head.text()
    assert "2024-05-07 .. 2024-06-13" in head and "risk.exits.time_exit_day" in head
    figures = page.figures.text()
    for label in ("Total return", "Sharpe", "Max drawdown", "Win rate", "Profit factor"):
        assert label in figures
    curves = page.curves.getPlotItem().listDataItems()
    assert [c.name() for c in curves] == ["current", "edited"]
    assert all(len(c.getData()[0]) == 27 for c in curves)
    assert doc["differing_trades"] and page.trades.proxy.rowCount() == len(doc["differing_trades"])
    # Review and save from the preview page: the preview is kept with the version
    qtbot.mouseClick(editor.review_btn, LEFT)
    assert editor.main_stack.currentIndex() == 1
    assert "The change preview is kept with them" in editor.review_title.text()
    qtbot.mouseClick(editor.save_btn, LEFT)
    assert manager.current.risk.exits.time_exit_day == 2
    [version] = editor.versions("risk.yaml")
    assert preview_of(version) == doc
    assert json.loads(preview_path(version).read_text(encoding="utf-8")) == doc
    # The History tab: what the change was expected to do
    tabs = editor.tabs.tabBar()
    qtbot.mouseClick(tabs, LEFT, pos=tabs.tabRect(1).center())
    editor.history_file.setCurrentIndex(editor.history_file.findData("risk.yaml"))
    item = editor.history_list.item(0)
    assert item.text().endswith(" · previewed")
    rect = editor.history_list.visualItemRect(item)
    qtbot.mouseClick(editor.history_list.viewport(), LEFT, pos=rect.center())
    shown = editor.history_diff.toPlainText()
    assert "Expected of the change saved at" in shown
    assert "risk.exits.time_exit_day 5 -> 2: backtest 2024-05-07 .. 2024-06-13" in shown
