"""The wired app: the real window on the real engines (simulated market and exchange, a real
store), driven as a user would, inside the qasync loop the app runs in.

Every test starts from a copy of one prepared home: the self-test's simulated date, the
20:00 scan of 2025-03-11 done and stored, the clock paused at 20:30 that evening (so nothing
moves unless a test moves it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import shutil
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import qasync
import shiboken6
import yaml
from PySide6.QtCore import QCoreApplication, QEvent, QSettings, Qt
from PySide6.QtWidgets import QDialog

from tests.gui.conftest import MemorySecrets
from tests.gui.load_rig import SCAN_DAY, SESSION, at
from workstation.app import make_window, watch_close
from workstation.context import open_context
from workstation.core.config_files import load_config
from workstation.core.events import ConfigReloaded, Event
from workstation.core.models import ApprovalState, OrderIntent, OrderRequest, OrderSide
from workstation.engine.assembly import Engines, build_sim
from workstation.engine.events import DifferenceResolved
from workstation.engine.reconcile import DifferenceKind
from workstation.engine.session_events import ApprovalChanged, EntryRejected
from workstation.selftest import prepare_home
from workstation.ui.dialogs.reconcile import ReconcileDialog
from workstation.ui.main_window import MainWindow

pytestmark = [pytest.mark.gui, pytest.mark.timeout(120)]


# ------------------------------------------------------------------ the rig
@pytest.fixture(scope="module")
def scanned_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with the scan of SCAN_DAY stored, the simulated clock at 20:30 that evening."""
    home = tmp_path_factory.mktemp("scanned") / "home"
    prepare_home(home)
    ctx = open_context(argparse.Namespace(home=str(home)))

    async def scan() -> None:
        engines = build_sim(ctx, speed=1.0, start=at(SCAN_DAY, "20:30"))
        engines.clock.pause()
        try:
            result = await engines.session.scan(SCAN_DAY)
            assert result is not None and len(result.candidates) == 12
        finally:
            await engines.facade.shutdown()

    asyncio.run(scan())
    return home


@pytest.fixture
def qloop(qapp: Any) -> Iterator[qasync.QEventLoop]:
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    quit_on_close = qapp.quitOnLastWindowClosed()
    qapp.setQuitOnLastWindowClosed(False)  # as in the app: closing stops the engines, not Qt
    yield loop
    qapp.setQuitOnLastWindowClosed(quit_on_close)
    # Whatever is still pending (a library's closing handshake) ends inside the loop: a
    # callback Qt ran later, outside it, would fail with "no running event loop".
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for t in pending:
        t.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    with contextlib.suppress(RuntimeError):
        loop.close()
    asyncio.set_event_loop(None)


def run(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], timeout: float = 30
) -> Any:
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


async def until(pred: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def stop(engines: Engines) -> None:
    await engines.facade.shutdown()


@dataclass
class Wired:
    engines: Engines
    win: MainWindow
    home: Path
    events: list[Event] = field(default_factory=list)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    async def jump(self, t: datetime) -> None:
        """Move the (paused) simulated clock to ``t``, waking what sleeps before it."""
        clock = self.engines.clock
        clock.jump_to(t)  # type: ignore[attr-defined]
        await until(lambda: clock.now() >= t)


@pytest.fixture
def wired(
    qtbot: Any, qloop: qasync.QEventLoop, scanned_home: Path, tmp_path: Path
) -> Iterator[Callable[..., Wired]]:
    made: list[Wired] = []

    def make(
        home: Path | None = None, *, start: datetime | None = None, reconcile: bool = True
    ) -> Wired:
        if home is None:
            home = tmp_path / "home"
            if not home.exists():
                shutil.copytree(scanned_home, home)
        ctx = open_context(argparse.Namespace(home=str(home)))
        engines = build_sim(ctx, speed=math.inf, start=start)
        engines.clock.pause()
        if reconcile:  # as the app does before trading: the store and the exchange agree
            assert qloop.run_until_complete(engines.session.start()) == []
        settings = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
        win = make_window(engines, settings=settings, secrets=MemorySecrets())
        win.exec_dialog = lambda _d: QDialog.DialogCode.Accepted  # type: ignore[method-assign]
        qtbot.addWidget(win)
        win.show()
        qtbot.waitExposed(win)
        w = Wired(engines, win, home)
        engines.bus.subscribe(Event, w.events.append)
        made.append(w)
        return w

    yield make
    for w in made:
        if shiboken6.isValid(w.win):
            w.win._shutdown_state = "stopped"
            w.win.close()
            w.win.deleteLater()
        qloop.run_until_complete(stop(w.engines))
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


# ------------------------------------------------------------------ approvals
def test_approve_and_veto_reach_the_engine_and_the_store(wired, qtbot) -> None:
    w = wired()
    store = w.engines.store
    cand = w.win.panels["candidates"]
    rows = cand.table.visible_rows()
    assert [c.rank for c in rows] == list(range(1, 13))
    scan = store.latest_scan(SCAN_DAY, market="sim")
    assert scan is not None
    assert {c.id for c in rows} == {c.id for c in store.candidates_for_scan(scan.id)}
    assert all(c.approval is ApprovalState.PENDING and c.decidable for c in rows)

    first, second = rows[0], rows[1]
    cand.table.select_row(0)
    qtbot.keyClicks(cand.note, "strong setup")
    qtbot.mouseClick(cand.approve_btn, Qt.MouseButton.LeftButton)
    cand.table.select_row(1)
    cand.table.setFocus()
    qtbot.waitUntil(cand.table.hasFocus, timeout=2000)
    qtbot.keyClicks(cand.table, "av")  # plain letters: typed into the note, never a decision
    assert cand.note.text() == "av" and store.get_candidate(second.id).approval == "pending"
    cand.note.clear()
    cand.table.setFocus()
    qtbot.waitUntil(cand.table.hasFocus, timeout=2000)
    ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(cand.table, Qt.Key.Key_V, ctrl_shift)  # the panel's veto key

    a, v = store.get_candidate(first.id), store.get_candidate(second.id)
    assert (a.approval, a.approval_note, a.approval_source) == ("approved", "strong setup", "user")
    assert (v.approval, v.approval_source) == ("vetoed", "user")
    changed = w.of(ApprovalChanged)
    assert [(e.candidate_id, e.state, e.source) for e in changed] == [
        (first.id, "approved", "user"),
        (second.id, "vetoed", "user"),
    ]
    shown = {c.id: c for c in cand.table.visible_rows()}
    assert shown[first.id].approval is ApprovalState.APPROVED
    assert shown[first.id].note == "strong setup"
    assert shown[second.id].approval is ApprovalState.VETOED

    # Undo (the panel's key) takes the veto back: pending in the store, with its audit row.
    row = [c.id for c in cand.table.visible_rows()].index(second.id)
    cand.table.select_row(row)
    cand.table.setFocus()
    qtbot.keyClick(cand.table, Qt.Key.Key_P, ctrl_shift)
    assert store.get_candidate(second.id).approval == "pending"
    assert [h.state for h in store.approvals_for(second.id)] == ["vetoed", "pending"]
    [audit] = store.audit_log(action="candidate.pending", limit=None)
    assert audit.subject == f"candidate:{second.id}" and audit.detail["previous"] == "vetoed"
    assert "back to pending" in w.win.statusBar().currentMessage()
    shown = {c.id: c for c in cand.table.visible_rows()}
    assert shown[second.id].approval is ApprovalState.PENDING
    assert [d.state for d in shown[second.id].history] == [
        ApprovalState.VETOED,
        ApprovalState.PENDING,
    ]


def test_a_decision_after_the_entry_time_is_refused_and_nothing_is_written(wired, qloop) -> None:
    w = wired()
    store = w.engines.store
    cand = w.win.panels["candidates"]
    group_a = next(c for c in cand.table.visible_rows() if str(c.group) == "A")
    run(qloop, w.jump(at(SESSION, "09:26")))
    w.win.refresh_all()
    row = next(i for i, c in enumerate(cand.table.visible_rows()) if c.id == group_a.id)
    assert not cand.table.visible_rows()[row].decidable
    cand.table.select_row(row)
    before = store.approvals_for(group_a.id)
    cand.approve_selected()
    assert store.approvals_for(group_a.id) == before
    assert store.get_candidate(group_a.id).approval == "pending"
    msg = w.win.statusBar().currentMessage()
    assert f"Approve {group_a.symbol} refused" in msg and "too late" in msg


def test_run_scan_now_asks_keeps_the_decisions_and_refuses_a_traded_list(
    wired, qtbot, qloop
) -> None:
    """The trial: "Run scan now" during the session discarded the approvals. Now it asks,
    the re-run keeps every decision, and once the entry times began it is refused."""
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from workstation.core.events import ScanFinished
    from workstation.ui.dialogs.confirm import RescanDialog

    w = wired()
    store = w.engines.store
    win, cand = w.win, w.win.panels["candidates"]
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win, timeout=2000)
    ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    cand.table.select_row(0)
    cand.table.setFocus()
    qtbot.keyClicks(cand.note, "strong")
    qtbot.keyClick(cand.note, Qt.Key.Key_A, ctrl_shift)  # approves #1, moves to #2
    cand.table.setFocus()
    qtbot.keyClick(cand.table, Qt.Key.Key_V, ctrl_shift)
    decided = {(c.symbol, c.strategy): c.approval for c in cand.table.visible_rows()[:2]}
    assert set(decided.values()) == {ApprovalState.APPROVED, ApprovalState.VETOED}

    asked: list[QDialog] = []

    def click_rerun(dialog: QDialog) -> int:
        asked.append(dialog)
        dialog.show()
        QTest.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)  # type: ignore[attr-defined]
        return dialog.result()

    win.exec_dialog = click_rerun  # type: ignore[method-assign]
    qtbot.keyClick(cand.table, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert len(asked) == 1 and isinstance(asked[0], RescanDialog)
    run(qloop, until(lambda: bool(w.of(ScanFinished))))
    scans = store.scans_for_session(SCAN_DAY)
    assert len(scans) == 2 and scans[0].superseded_by == scans[1].id
    w.win.refresh_all()
    now = {(c.symbol, c.strategy): c for c in cand.table.visible_rows()}
    assert {c.id for c in now.values()} == {c.id for c in store.candidates_for_scan(scans[1].id)}
    for key, state in decided.items():
        assert now[key].approval is state
    assert now[next(iter(decided))].note == "strong"
    assert sum(c.approval is ApprovalState.PENDING for c in now.values()) == 10

    # 09:47 of the entry session: the list is being traded; no question, a refusal.
    run(qloop, w.jump(at(SESSION, "09:47")))
    win.activateWindow()  # the dialog had been the active window
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win, timeout=2000)
    qtbot.keyClick(cand.table, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert len(asked) == 1
    assert "is traded from" in win.statusBar().currentMessage()
    assert len(store.scans_for_session(SCAN_DAY)) == 2


def test_max_speed_pauses_at_the_nightly_scan_for_review(wired, qtbot, qloop, tmp_path) -> None:
    """The trial: at Max, 18 sessions ran in 10 s and on_pending approved every pick. With the
    window's default (pause at each nightly scan), Max stops after the 20:00 scan with the
    twelve candidates pending on screen; Resume goes on from there."""
    from PySide6.QtWidgets import QApplication

    from workstation.engine.session_events import StepStarted

    home = tmp_path / "fresh"
    prepare_home(home)
    w = wired(home, start=at(SCAN_DAY, "19:58"))
    win, status, cand = w.win, w.win.panels["status"], w.win.panels["candidates"]
    assert status.review_box.isChecked() and w.engines.facade.scan_review  # on by default

    async def start() -> None:
        w.engines.facade.start()
        # Past the start-up (the reconciliation, the health watch's first checks) before the
        # loop stops for the click: a step of it that Qt ran outside the loop (the last events
        # qasync processes after run_until_complete) would fail with "no running event loop".
        await until(lambda: w.engines.facade.health is not None, timeout=30)
        await asyncio.sleep(0.3)

    run(qloop, start())
    qtbot.mouseClick(status.speed_buttons[math.inf], Qt.MouseButton.LeftButton)  # Max
    run(qloop, until(lambda: bool(w.engines.facade.status().pause_reason), timeout=60))
    st = w.engines.facade.status()
    assert st.clock_paused and at(SCAN_DAY, "20:00") <= st.now < at(SCAN_DAY, "20:01")
    assert [e.step for e in w.of(StepStarted)] == ["scan"]  # nothing after it ran
    run(qloop, until(lambda: status.review_note.isVisibleTo(status)))
    assert "12 candidates to approve or veto" in status.review_note.text()
    assert status.pause_btn.text() == "Resume"
    win.refresh_all()
    rows = cand.table.visible_rows()
    assert len(rows) == 12 and {c.approval for c in rows} == {ApprovalState.PENDING}
    # The user decides: veto the first (keys), then Resume (mouse).
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win, timeout=2000)
    cand.table.select_row(0)
    cand.table.setFocus()
    ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(cand.table, Qt.Key.Key_V, ctrl_shift)
    vetoed = rows[0].id
    qtbot.mouseClick(status.pause_btn, Qt.MouseButton.LeftButton)
    run(qloop, until(lambda: "group_a" in [e.step for e in w.of(StepStarted)], timeout=60))
    qtbot.mouseClick(status.pause_btn, Qt.MouseButton.LeftButton)  # pause again
    assert w.engines.store.get_candidate(vetoed).approval == "vetoed"  # the decision held
    assert not status.review_note.isVisibleTo(status)


# ------------------------------------------------------------------ parameters
def test_a_parameter_edit_writes_valid_yaml_that_the_engine_reloads(wired, qloop) -> None:
    w = wired()
    session = w.engines.session
    old_hash = session.cfg.param_hash
    ed = w.win.parameter_editor()
    ed.field("risk.yaml", "gap", "max_abs_gap").set_text("0.045")
    assert ed.review()
    assert ed.save()
    run(qloop, until(lambda: bool(w.of(ConfigReloaded))))
    reloaded = w.of(ConfigReloaded)[-1]
    cfg = load_config(w.engines.ctx.paths.config_dir)  # the file on disk is valid
    assert cfg.risk.gap.max_abs_gap == 0.045
    assert (
        yaml.safe_load((w.engines.ctx.paths.config_dir / "risk.yaml").read_text())["gap"][
            "max_abs_gap"
        ]
        == 0.045
    )
    assert reloaded.param_hash == cfg.param_hash == session.cfg.param_hash != old_hash
    assert session.cfg.risk.gap.max_abs_gap == 0.045
    audit = w.engines.store.audit_log(action="params.reloaded")
    assert audit and audit[-1].detail == {"param_hash": cfg.param_hash}
    run(qloop, until(lambda: w.engines.facade.status().param_hash == cfg.param_hash))
    ed.close()


def test_an_invalid_value_is_refused_with_its_message_and_nothing_is_written(wired, qloop) -> None:
    w = wired()
    config_dir = w.engines.ctx.paths.config_dir
    before = {p.name: p.read_bytes() for p in config_dir.glob("*.yaml")}
    history = (
        sorted(p.name for p in (config_dir / "history").glob("*"))
        if (config_dir / "history").exists()
        else []
    )
    old_hash = w.engines.session.cfg.param_hash
    ed = w.win.parameter_editor()
    ed.field("scanner.yaml", "indicators", "rsi_window").set_text("1")
    assert not ed.review()
    assert ed.last_errors and any("rsi_window" in e for e in ed.last_errors)
    assert "rsi_window" in ed.error_box.text()
    assert not ed.save()
    run(qloop, asyncio.sleep(0.1))
    assert {p.name: p.read_bytes() for p in config_dir.glob("*.yaml")} == before
    after = (
        sorted(p.name for p in (config_dir / "history").glob("*"))
        if (config_dir / "history").exists()
        else []
    )
    assert after == history
    assert not w.of(ConfigReloaded)
    assert w.engines.session.cfg.param_hash == old_hash
    ed.close()


# ------------------------------------------------------------------ kill switch
def test_the_kill_switch_blocks_entries(wired, qloop) -> None:
    w = wired()
    session, store, win = w.engines.session, w.engines.store, w.win
    cand = win.panels["candidates"]
    cand.table.selectAll()
    cand.approve_selected()
    assert all(c.approval == "approved" for c in session.candidates(SESSION))

    win.kill_action.trigger()  # the confirmation is accepted (no flatten)
    run(qloop, until(lambda: session.kill.engaged))
    run(qloop, until(lambda: "ENGAGED" in win.panels["status"].kill.value.text()))

    async def morning() -> None:
        await w.jump(at(SESSION, "09:25"))
        await session.premarket(SESSION)
        await session.gap_filter(SESSION)
        await session.enter_group_a(SESSION)
        await w.jump(at(SESSION, "09:30"))
        await session.market_open(SESSION)
        await w.jump(at(SESSION, "09:50"))
        await session.enter_group_b(SESSION)

    run(qloop, morning())
    entries = [o for o in store.orders_for_session(SESSION) if o.intent == OrderIntent.ENTRY]
    assert entries == []
    rejected = {e.candidate_id: e for e in w.of(EntryRejected)}
    passed = {g.candidate_id for g in store.gap_results(SESSION) if g.passed}
    kill_blocked = {cid for cid, e in rejected.items() if e.reason == "KILL_SWITCH"}
    assert kill_blocked and kill_blocked <= passed, [
        (e.symbol, e.reason) for e in rejected.values()
    ]
    # Every gap-passed candidate that reached the checks was stopped by check 1.
    assert all(e.check == 1 for e in rejected.values() if e.reason == "KILL_SWITCH")
    win.refresh_all()
    shown = [o for o in win.panels["orders"].table.visible_rows() if o.intent == OrderIntent.ENTRY]
    killed = {o.symbol for o in shown if o.reject_reason.startswith("KILL_SWITCH")}
    assert killed == {rejected[cid].symbol for cid in kill_blocked}
    # The rest never reached the checks: group B candidates below their open at 09:50.
    others = [o for o in shown if o.symbol not in killed]
    assert all(o.reject_reason.startswith("NOT_CONFIRMED") for o in others), others

    win.kill_action.trigger()  # releases (confirmed)
    run(qloop, until(lambda: not session.kill.engaged))


# ------------------------------------------------------------------ layout and quit
def test_the_layout_survives_a_restart_and_quitting_stops_the_engines(wired, qtbot, qloop) -> None:
    w = wired()
    win = w.win
    win.resize(780, 700)  # the offscreen screen is 800x800
    win.docks["log"].close()
    win.removeDockWidget(win.docks["orders"])
    win.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, win.docks["orders"])
    win.docks["orders"].show()
    qtbot.wait(20)
    size_before = (win.width(), win.height())
    closed = qloop.create_future()
    watch_close(win, lambda: closed.done() or closed.set_result(None))
    win.close()  # the real quit: layout saved, engines stopped, exchange saved, store closed
    run(qloop, closed)
    assert w.engines.store.closed
    assert w.engines.facade.stopped
    state = yaml.safe_load((w.home / "data" / "sim_exchange.json").read_text())  # JSON is YAML
    assert state["clock"].startswith("2025-03-11T20:30")

    again = wired(w.home)
    assert (again.win.width(), again.win.height()) == size_before
    assert not again.win.docks["log"].isVisible()
    assert again.win.dockWidgetArea(again.win.docks["orders"]) == (
        Qt.DockWidgetArea.BottomDockWidgetArea
    )
    # The store was reopened with the same scan: the restart lost nothing.
    assert len(again.win.panels["candidates"].table.visible_rows()) == 12


# ------------------------------------------------------------------ reconciliation
def plant_broker_position(w: Wired, symbol: str = "AAPL", qty: int = 10) -> float:
    """A position placed at the exchange outside the app (the store knows nothing of it)."""
    now = w.engines.clock.now()
    price = float(w.engines.market.price_at(symbol, now))
    broker = w.engines.broker
    broker.on_price(symbol, price, now)
    broker.submit_sync(OrderRequest("outside-1", symbol, OrderSide.BUY, qty))
    assert broker.positions_sync()[symbol][0] == qty
    return price


@pytest.mark.parametrize("action", ["adopt", "ignore", "flatten"])
def test_the_reconciliation_dialog_resolves_a_planted_difference(
    wired, qtbot, qloop, tmp_path: Path, action: str
) -> None:
    home = tmp_path / "fresh"
    prepare_home(home)
    w = wired(home, start=at(SESSION, "10:30"), reconcile=False)
    plant_broker_position(w)
    session, store, broker, win = w.engines.session, w.engines.store, w.engines.broker, w.win
    diffs = run(qloop, session.start())
    assert [(d.kind, d.symbol, d.broker_qty) for d in diffs] == [
        (DifferenceKind.POSITION_ONLY_AT_BROKER, "AAPL", 10)
    ]
    # The window opened the dialog by itself; trading is blocked and says so.
    qtbot.waitUntil(lambda: getattr(win, "reconcile_dialog", None) is not None, timeout=3000)
    dlg: ReconcileDialog = win.reconcile_dialog  # type: ignore[attr-defined]
    assert dlg.isVisible() and dlg.table.rowCount() == 1
    assert "blocked" in dlg.banner.text()
    assert session.gate.blocked and w.engines.facade.trading_blocked
    assert any(
        c.component == "reconciliation" and c.state == "down"
        for c in w.engines.facade.status().connections
    )
    key = diffs[0].key
    assert dlg.button(key, "adopt").isEnabled()  # a plan was found (strategy and ATR)
    assert "adopt as long" in dlg.table.item(0, 4).text()

    assert "disagree" in dlg.intro.text() and "resolved" not in dlg.banner.text()
    if action == "ignore":  # the kill switch is engaged meanwhile: entries stay blocked
        w.engines.facade.engage_kill_switch()
    dlg.note.setText(f"test {action}")
    qtbot.mouseClick(dlg.button(key, action), Qt.MouseButton.LeftButton)
    run(qloop, until(lambda: not session.gate.blocked))
    resolved = w.of(DifferenceResolved)
    assert [(e.difference.key, e.action, e.note) for e in resolved] == [
        (key, action, f"test {action}")
    ]
    assert store.audit_log(action=f"reconcile.{action}")
    qtbot.waitUntil(lambda: dlg.table.rowCount() == 0, timeout=3000)
    # Each state says one thing: resolved, never beside "disagree"; "allowed" only when
    # nothing else blocks new entries.
    assert "All differences resolved" in dlg.banner.text()
    assert "disagree" not in dlg.intro.text() and not dlg.table.isVisible()
    message = win.statusBar().currentMessage()
    if action == "ignore":
        assert "kill switch" in dlg.banner.text() and "allowed" not in dlg.banner.text()
        assert "kill switch" in message and "allowed" not in message
    else:
        assert "New entries are allowed" in dlg.banner.text()
        assert "new entries are allowed" in message
    if action == "adopt":
        assert [p.symbol for p in store.open_positions()] == ["AAPL"]
        stops = [o for o in broker.open_orders_sync() if o.symbol == "AAPL"]
        assert len(stops) == 1 and str(stops[0].request.type) == "stop"
        assert "AAPL" in session.book.held()
    elif action == "ignore":
        assert store.open_positions() == []
        assert broker.positions_sync()["AAPL"][0] == 10
    else:
        assert broker.positions_sync().get("AAPL", (0, 0.0))[0] == 0
        assert store.open_positions() == []
    assert not any(c.component == "reconciliation" for c in w.engines.facade.status().connections)


# ------------------------------------------------------------------ live mode, no window
def test_live_mode_asks_first_and_nothing_connects_without_the_word(
    monkeypatch: pytest.MonkeyPatch, qapp: Any, tmp_path: Path, capsys: Any
) -> None:
    from PySide6.QtCore import QTimer

    from workstation.app import DesktopApp
    from workstation.engine import assembly
    from workstation.engine.views import Mode
    from workstation.errors import UserError
    from workstation.ui.dialogs.confirm import LiveModeDialog

    home = tmp_path / "home"
    prepare_home(home)
    built: list[tuple[Mode, bool]] = []

    async def fake_alpaca(ctx: Any, mode: Mode, *, confirm_live: bool = False, bus: Any = None):
        built.append((mode, confirm_live))
        raise UserError("stopped here by the test")

    monkeypatch.setattr(assembly, "build_alpaca", fake_alpaca)
    asked: list[str] = []

    def refuse(dlg: LiveModeDialog) -> QDialog.DialogCode:
        asked.append(dlg.windowTitle())
        return QDialog.DialogCode.Rejected

    monkeypatch.setattr(LiveModeDialog, "exec", refuse)
    quit_on_close = qapp.quitOnLastWindowClosed()
    args = argparse.Namespace(home=str(home), mode="live", market=None, universe=None, seed=None)
    try:
        assert DesktopApp(args).run() == 1
        assert asked == ["Trade with real money"] and built == []
        assert "live trading was not confirmed; nothing was connected" in capsys.readouterr().err

        # Confirmed: only now is the Alpaca side built, for a LIVE account, confirmed.
        monkeypatch.setattr(LiveModeDialog, "exec", lambda _d: QDialog.DialogCode.Accepted)
        desktop = DesktopApp(args)
        badges: list[str] = []

        def look_and_close() -> None:
            assert desktop.window is not None
            badges.append(desktop.window.panels["status"].badge.text())
            desktop.window.close()

        QTimer.singleShot(1500, look_and_close)
        with pytest.raises(UserError, match="stopped here by the test"):
            desktop.run()
        assert built == [(Mode.LIVE, True)]
        assert badges and "LIVE" in badges[0]
    finally:
        qapp.setQuitOnLastWindowClosed(quit_on_close)
        asyncio.set_event_loop(None)


@pytest.mark.parametrize(
    ("env", "platform", "problem"),
    [
        ({}, "linux", True),
        ({"DISPLAY": ":0"}, "linux", False),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", False),
        ({"QT_QPA_PLATFORM": "offscreen"}, "linux", False),
        ({}, "win32", False),
        ({}, "darwin", False),
    ],
    ids=["linux-no-display", "x11", "wayland", "offscreen", "windows", "macos"],
)
def test_a_missing_display_is_named(env: dict[str, str], platform: str, problem: bool) -> None:
    from workstation.app import display_problem

    text = display_problem(env, platform)
    assert bool(text) is problem
    if problem:
        assert "DISPLAY" in text


def test_no_window_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    import workstation.app as app_module

    monkeypatch.setattr(app_module, "qt_problem", lambda: "there is no display (test)")
    assert app_module.run_app(argparse.Namespace()) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("workstation: the window cannot open: there is no display (test).")
    assert "workstation run --headless" in err and "--no-gui" in err


def test_no_gui_prints_tonights_scan_and_the_flags_are_top_level(
    tmp_path: Path, capsys: Any
) -> None:
    from workstation.cli import build_parser, main

    args = build_parser().parse_args(["--self-test"])
    assert args.self_test and not args.no_gui
    home = tmp_path / "home"
    prepare_home(home)
    assert main(["--home", str(home), "--no-gui"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("AutoTrader Workstation (no window)")
    assert "Scan of 2025-03-10 (sim market)" in out  # at 00:00 of 03-11: the 10th is the last


# ------------------------------------------------------------------ paper mode (fake Alpaca)
def test_paper_mode_runs_on_alpaca_and_shows_the_accounts_differences(
    qtbot: Any,
    qloop: qasync.QEventLoop,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The window on Alpaca (the fake on loopback): the broker's trade stream starts, the
    account is reconciled with the store before any trading, its difference is shown in
    the dialog, and quitting closes the streams and the store.

    Everything runs inside the loop, as in the app: with network streams open, Qt events
    processed outside a loop turn would run their callbacks with no running loop."""
    from tests.fake_alpaca import FakeAlpacaServer, FakeAlpacaState
    from workstation.engine.assembly import build_alpaca
    from workstation.engine.views import Mode

    server = FakeAlpacaServer(FakeAlpacaState()).start()
    for k, v in server.env().items():
        monkeypatch.setenv(k, v)
    server.state.set_position("AAPL", 10, 190.0)  # bought outside the app
    home = tmp_path / "home"
    prepare_home(home)
    ctx = open_context(argparse.Namespace(home=str(home)))

    async def scenario() -> None:
        engines = await build_alpaca(ctx, Mode.PAPER)
        settings = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
        win = make_window(engines, settings=settings, secrets=MemorySecrets())
        qtbot.addWidget(win)
        win.show()
        assert win.panels["status"].badge.text() == "PAPER"
        assert not win.panels["status"].speed_box.isVisible()  # the wall clock: no controls
        diffs = await engines.session.start()
        assert [(d.kind, d.symbol, d.broker_qty) for d in diffs] == [
            (DifferenceKind.POSITION_ONLY_AT_BROKER, "AAPL", 10)
        ]
        # The fake's clock is in 2024: the clocks are compared first and trading is blocked
        # with a reason naming both (issue 12.8), beside the difference.
        clocks = engines.session.clock_check
        assert clocks is not None and clocks.verdict == "refused"
        assert engines.session.gate.reason.startswith("Alpaca's clock reads 2024-06-03")
        await until(lambda: getattr(win, "reconcile_dialog", None) is not None)
        assert win.reconcile_dialog.table.rowCount() == 1  # type: ignore[attr-defined]
        assert engines.facade.trading_blocked
        closed = asyncio.get_running_loop().create_future()
        watch_close(win, lambda: closed.done() or closed.set_result(None))
        win.close()  # the real quit
        await closed
        assert engines.store.closed
        assert not engines.broker.trading_stream.running
        await until(lambda: server.state.streams.trading_connections == 0)
        await asyncio.sleep(0.2)  # the websocket library's closing handshake

    try:
        run(qloop, scenario())
    finally:
        server.stop()
