"""The "Drift & edge" panel (issue 11, parts 3 and 4), driven with real mouse events.

The human edge is computed from decisions planted in the home's real store (the same ones as
tests/unit/test_human_edge.py); the drift report runs ``workstation report drift`` in a real
child process (here over a period the home never traded: its one-line refusal is shown, the
window keeps running), and a report with a manual exit is shown trade by trade with its cause.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from PySide6.QtCore import Qt

from tests.gui.test_track_record import _until
from tests.unit.test_drift_causes import DAY, _records, _signal, _trade
from tests.unit.test_human_edge import _plant
from workstation.core.calendar import get_calendar
from workstation.core.config_files import ConfigManager
from workstation.core.paths import Paths
from workstation.research.evidence.drift import DriftReport, compare
from workstation.research.evidence.service import EvidenceService

pytestmark = pytest.mark.gui

CAL = get_calendar()


def test_the_edge_and_a_refused_drift_report_in_the_panel(
    qtbot: Any, qloop: Any, make_window: Any, engine: Any, paths: Paths, manager: ConfigManager
) -> None:
    _plant(paths.db_path)
    win = make_window(engine)
    panel = win.panel("evidence")
    win.docks["evidence"].raise_()  # a tab behind the journal: bring it up to click on it
    service = EvidenceService(paths, "sim", CAL, lambda: manager.current)
    panel.set_period(date(2024, 3, 1), date(2024, 4, 30))

    async def scenario() -> None:
        win.set_evidence(service)
        await _until(lambda: panel.edge_doc is not None, 20, "the edge report")
        panel.edge_doc = None
        qtbot.mouseClick(panel.edge_btn, Qt.MouseButton.LeftButton)
        await _until(lambda: panel.edge_doc is not None, 20, "the refreshed edge report")
        qtbot.mouseClick(panel.run_btn, Qt.MouseButton.LeftButton)
        assert not panel.run_btn.isEnabled() and panel.cancel_btn.isEnabled()
        await _until(lambda: "failed" in panel.drift_head.text(), 120, "the drift refusal")

    try:
        qloop.run_until_complete(scenario())
    finally:
        service.shutdown()
    doc = panel.edge_doc
    assert doc["total"]["decisions"] == 8
    assert doc["total"]["edge_pnl"] == pytest.approx(2 * (30 - 120) + 30)
    kinds = {r.name: r for r in panel.kinds.source.rows}
    assert len(kinds) == 4 and sum(r.decisions for r in kinds.values()) >= 8
    assert "small sample" in panel.edge_head.text()
    assert "no traded session" in panel.drift_head.text()  # the CLI's one line, not a trace
    assert panel.run_btn.isEnabled() and not panel.cancel_btn.isEnabled()


def test_a_drift_report_is_shown_by_cause_and_trade(
    qtbot: Any, make_window: Any, engine: Any
) -> None:
    win = make_window(engine)
    panel = win.panel("evidence")
    live = _trade(exit_reason="MANUAL", exit_price=51.0)
    diffs = compare(_records(_signal(), live), _records(_signal(), _trade()))
    doc = DriftReport(DAY, DAY, 1, "sim", ("h",), tuple(diffs), 100.0, 200.0).as_json()
    panel.show_drift(doc)
    head = panel.drift_head.text()
    assert "Drift" in head and "-100.00" in head
    assert [r.cause for r in panel.causes.source.rows] == ["manual"]
    [row] = panel.trades.source.rows
    assert row.causes == "manual" and row.live_exit.startswith("MANUAL")
