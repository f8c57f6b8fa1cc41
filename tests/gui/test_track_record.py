"""The track record in the candidate detail (issue 11.1), driven with real mouse events.

A backtest store of the parameter set in force is planted through the real store API (a real
SQLite file) and listed in the home's store; selecting a candidate shows how its strategy did
there: in every regime, in the candidate's regime and in its sector, the distribution of
outcomes, the last comparable signals, and a plain sentence when the sample is too small. A
second test builds the missing backtest for real (``workstation backtest`` in a child process)
while the Qt loop keeps beating.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from PySide6.QtCore import Qt

from tests.unit.research_plant import Planted, plant
from workstation.core.calendar import get_calendar
from workstation.core.config_files import ConfigManager
from workstation.core.paths import Paths
from workstation.research.evidence.service import EvidenceService
from workstation.research.evidence.status import RecordState
from workstation.store import Store
from workstation.ui.heartbeat import Heartbeat

pytestmark = pytest.mark.gui

CAL = get_calendar()


def _sessions_before(n: int, end: date) -> list[date]:
    """The ``n`` sessions before ``end``."""
    return CAL.sessions_in_range(date(end.year - 2, 1, 1), end)[-n - 1 : -1]


def plant_reference(
    paths: Paths, param_hash: str, strategy: str, side: str, sector: str, before: date
) -> Path:
    """A backtest of 40 trades of ``strategy`` in RANGING (8 of them in ``sector``: a small
    sample there) and 5 in TREND, listed in the home's store under ``param_hash``, ending the
    session before ``before`` (fresh for a candidate of that session)."""
    days = _sessions_before(120, before)
    trades = []
    for i in range(45):
        regime = "RANGING" if i < 40 else "TREND"
        win = i % 5 < 3  # 60% winners: +2R, losers -1R (sl_mult 2 x atr 1 = $2 a share)
        exit_price = 104.0 if win else 98.0
        exit_price = exit_price if side == "long" else 200 - exit_price
        reason = "TAKE_PROFIT" if win else "STOP_LOSS"
        trades.append(
            Planted(
                f"S{i:02d}", strategy, side, 10, 100.0, exit_price, days[2 * i],
                days[2 * i + 2], reason, regime,
            )
        )  # fmt: skip
    path = paths.data_dir / "backtests" / "planted-combined.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    plant(path, 100_000.0, [(d, 100_000.0) for d in days], trades)
    with Store.open(path) as s:  # sector: 8 of the RANGING trades are in the candidate's
        s.db.execute(
            "UPDATE candidates SET sector = CASE WHEN id <= 8 THEN ? ELSE 'Utilities' END",
            [sector],
        )
        s.db.conn.commit()
    with Store.open(paths.db_path) as main:
        main.record_backtest(
            "planted-combined",
            at=datetime(2025, 1, 2, tzinfo=UTC),
            scenario="combined",
            first=days[0],
            last=days[-1],
            market="sim",
            data_source="planted",
            param_hash=param_hash,
            universe_mode="current",
            fill_model="path",
            path=str(path),
            overrides={},
            summary={},
        )
    return path


async def _until(cond: Any, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def _click_row(qtbot: Any, table: Any, row: int) -> None:
    index = table.proxy.index(row, 1)
    rect = table.visualRect(index)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_selecting_a_candidate_shows_its_track_record_in_its_regime_and_sector(
    qtbot: Any, qloop: Any, make_window: Any, engine: Any, paths: Paths, manager: ConfigManager
) -> None:
    win = make_window(engine)
    panel = win.panel("candidates")
    first = engine.candidates()[0]
    plant_reference(
        paths,
        manager.current.param_hash,
        first.strategy,
        str(first.side),
        first.sector,
        max(c.session for c in engine.candidates()),
    )
    service = EvidenceService(paths, "sim", CAL, lambda: manager.current)

    async def scenario() -> None:
        win.set_evidence(service)
        panel.table.setFocus()
        _click_row(qtbot, panel.table, 1)
        _click_row(qtbot, panel.table, 0)  # a real click on the first candidate
        view = panel.track
        await _until(
            lambda: view.status is not None and view.status.state is RecordState.READY,
            20,
            "the track record",
        )

    qloop.run_until_complete(scenario())
    view = panel.track
    record = view.status.record
    assert record is not None and record.strategy == first.strategy
    strategy, regime, sector = (record.scope(n) for n in ("strategy", "regime", "sector"))
    assert (strategy.n, regime.n, sector.n) == (45, 40, 8)
    assert regime.figures["win_rate"] == pytest.approx(24 / 40)
    assert regime.figures["expectancy_r"] == pytest.approx((24 * 2 - 16 * 1) / 40)
    assert not regime.small and sector.small
    assert "far too few to mean anything" in sector.verdict()
    html = view.text.toPlainText()
    assert "Track record" in html and first.strategy in html and "RANGING" in html
    assert "small sample" in html
    assert "Last 5 comparable signals" in html
    assert view.bars.isVisible() and sum(view.bars.counts) == 40
    # losers in the bin from -1R, winners in the bin from +2R (half an R wide, from -3R)
    assert view.bars.counts[5] == 16 and view.bars.counts[11] == 24
    assert view.bars._label(11) == "+2 .. +2.5 R"
    assert service.builds_started == 0  # a fresh reference: nothing built
    service.shutdown()


def test_a_missing_backtest_is_built_in_the_background_and_the_window_keeps_beating(
    qtbot: Any, qloop: Any, make_window: Any, engine: Any, paths: Paths, manager: ConfigManager
) -> None:
    # A short default period (about 25 sessions) keeps the real build in seconds.
    app = paths.config_dir / "app.yaml"
    data = yaml.safe_load(app.read_text())
    data["backtest"]["years"] = 0.1
    data["sim"]["today"] = "2025-03-14"
    app.write_text(yaml.safe_dump(data, sort_keys=False))
    manager.reload()
    win = make_window(engine)
    panel = win.panel("candidates")
    service = EvidenceService(paths, "sim", CAL, lambda: manager.current)
    beat = Heartbeat(10)
    seen: list[str] = []

    async def scenario() -> None:
        win.set_evidence(service)
        # The new window's first layout and paint (every dock: ~85 ms of the loop's CPU) is
        # the window's start, not the build's: let it happen before the heartbeat measures.
        await asyncio.sleep(0.5)
        beat.start()
        _click_row(qtbot, panel.table, 0)
        view = panel.track
        await _until(lambda: service.builds_started == 1, 20, "the build to start")
        seen.append(view.state.text() or view.text.toPlainText())
        await _until(
            lambda: view.status is not None and view.status.state is RecordState.READY,
            600,
            "the built track record",
        )
        beat.stop()

    try:
        qloop.run_until_complete(scenario())
    finally:
        service.shutdown()
    assert any("Building a backtest of the parameters in force" in s for s in seen), seen
    record = panel.track.status.record
    assert record is not None and record.book.param_hash == manager.current.param_hash
    with Store.open(paths.db_path) as main:
        [row] = main.backtests(param_hash=manager.current.param_hash)
    assert row.scenario == "combined" and record.book.backtest_id == row.id
    assert "From the backtest" in panel.track.text.toPlainText()
    # The build ran in a child process: the Qt loop never stalled for it.
    assert beat.beats > 50
    assert beat.worst_busy_ms < 50, f"the loop was busy {beat.worst_busy_ms:.0f} ms"
