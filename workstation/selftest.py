"""``workstation --self-test``: the whole app, end to end, in about fifteen seconds.

It opens the real window (offscreen when there is no display: it sets
``QT_QPA_PLATFORM=offscreen`` itself) on the real engines in a fresh temporary home, and runs
one simulated trading day at max speed:

1. the 20:00 scan of the simulated "today" (a fixed date, so every run is the same); the
   clock pauses after it for the review (the window's default, at every speed);
2. every candidate is approved through the candidates panel, then the last one is vetoed
   (with a note), as a user would, and the clock resumed;
3. the next session runs: gap filter, group A market-on-open orders, the open, the group B
   confirmation, the entry cutoff;
4. at 14:00 "Flatten all" is chosen from the window (its confirmation accepted): every
   position exits at market;
5. after the end-of-day step the clock is paused and what the PANELS show is checked against
   the store and the simulated broker: the candidates (1..12, same symbols and approvals), one
   gap result per candidate, the session's orders, no open positions, the journal's trades,
   the status strip's equity, the log;
6. a short backtest (``workstation backtest``, five sessions of the simulated market, as a
   child process like the app's Research window starts it, scan workers included) runs to
   its end and lists itself in the home's store.

Exit 0 with one summary line when every check holds; otherwise 1 with one line naming the
first check that failed (the temporary home is then kept, and named, for a look). It runs
from the source tree and from the PyInstaller bundle alike.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from workstation.app import display_problem, qt_problem
from workstation.core.clock import SimClock

SIM_TODAY = "2025-03-11"  # a Tuesday: the scan of 03-11, then the session of Wed 03-12
TIMEOUT_S = 180.0
VETO_NOTE = "self-test veto"


class SelfTestFailed(Exception):
    """One check failed; the message says which, in one line."""


@dataclass
class Report:
    session: date | None = None
    candidates: int = 0
    vetoed: int = 0
    gaps: int = 0
    gaps_passed: int = 0
    orders: int = 0
    entries_filled: int = 0
    positions_opened: int = 0
    trades: int = 0
    journal: int = 0
    shown_after: float = math.nan
    backtest_sessions: int = 0
    backtest_trades: int = 0
    notes: list[str] = field(default_factory=list)

    def line(self, total_s: float) -> str:
        return (
            f"workstation self-test passed: session {self.session} on the simulated market: "
            f"{self.candidates} candidates ({self.vetoed} vetoed), {self.gaps} gap results "
            f"({self.gaps_passed} passed), {self.orders} orders ({self.entries_filled} entries "
            f"filled), {self.positions_opened} positions opened and flattened, "
            f"{self.journal} journal rows; a backtest of {self.backtest_sessions} sessions "
            f"({self.backtest_trades} trades); window shown after {self.shown_after:.1f} s, "
            f"{total_s:.1f} s in all"
        )


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise SelfTestFailed(message)


def prepare_home(root: Path) -> None:
    """A fresh home on the fixed simulated date (the shipped configuration otherwise)."""
    from workstation.core.config_files import ConfigManager
    from workstation.core.paths import Paths

    paths = Paths.resolve(root).ensure()
    manager = ConfigManager(paths.config_dir, paths.config_history_dir)
    app_yaml = paths.config_dir / "app.yaml"
    text = app_yaml.read_text(encoding="utf-8")
    lines = []
    for line in text.splitlines():
        if line.strip().startswith("today:"):
            indent = line[: len(line) - len(line.lstrip())]
            line = f'{indent}today: "{SIM_TODAY}"'
        lines.append(line)
    manager.save("app.yaml", "\n".join(lines) + "\n")


def run_self_test(args: argparse.Namespace, *, t0: float | None = None) -> int:
    t0 = time.perf_counter() if t0 is None else t0
    if display_problem():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    problem = qt_problem()
    if problem:
        sys.stderr.write(f"workstation self-test failed: the window cannot open: {problem}\n")
        return 1
    root = Path(tempfile.mkdtemp(prefix="workstation-selftest-"))
    ok = False
    try:
        report = _run(root / "home", t0)
        check_backtest(root / "home", report)
        ok = True
        sys.stdout.write(report.line(time.perf_counter() - t0) + "\n")
        return 0
    except SelfTestFailed as exc:
        sys.stderr.write(f"workstation self-test failed: {exc} (files kept in {root})\n")
        return 1
    except Exception as exc:  # an unexpected error is a failed self-test, in one line
        sys.stderr.write(
            f"workstation self-test failed: {type(exc).__name__}: {exc} (files kept in {root})\n"
        )
        return 1
    finally:
        if ok:
            shutil.rmtree(root, ignore_errors=True)


def _run(home: Path, t0: float) -> Report:
    import qasync
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from workstation.ui.gc_guard import collection_on_gui_thread

    prepare_home(home)
    _quiet_offscreen_warnings()
    app = QApplication.instance() or QApplication(["workstation-self-test"])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    settings = QSettings(str(home / "ui.ini"), QSettings.Format.IniFormat)
    try:
        with loop, collection_on_gui_thread(app):
            return loop.run_until_complete(
                asyncio.wait_for(_session(home, settings, t0), TIMEOUT_S)
            )
    except TimeoutError:
        raise SelfTestFailed(
            f"the simulated session did not finish within {TIMEOUT_S:.0f} s"
        ) from None
    finally:
        asyncio.set_event_loop(None)


async def _until(pred: Any, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        _check(loop.time() < deadline, f"waited {timeout:.0f} s in vain")
        await asyncio.sleep(0.01)


async def _session(home: Path, settings: Any, t0: float) -> Report:
    from PySide6.QtWidgets import QDialog

    from workstation.app import DesktopApp, open_home
    from workstation.engine.scheduler import session_to_run
    from workstation.engine.session_events import StepFinished
    from workstation.engine.views import Mode

    desktop = DesktopApp(
        argparse.Namespace(home=str(home)),
        t0=t0,
        speed=math.inf,
        settings=settings,
        secrets=_NoSecrets(),
    )
    paths, config = open_home(desktop.args)
    win = desktop.open_window(paths, config, Mode.SIM)
    # Confirmations are accepted, as the user would; nothing else is modal here.
    win.exec_dialog = lambda _dlg: QDialog.DialogCode.Accepted  # type: ignore[method-assign]
    report = Report(shown_after=desktop.shown_after or math.nan)
    engines = await desktop.start_engines(paths, config, Mode.SIM, False)
    _check(engines is not None, "the window closed while the engines were starting")
    assert engines is not None and desktop.closed is not None
    closed = desktop.closed
    ctx = engines.ctx
    facade, clock, cal, bus = engines.facade, engines.clock, ctx.calendar, engines.bus
    assert isinstance(clock, SimClock)

    session = session_to_run(clock.now(), ctx.cfg.schedule, cal)
    scan_day = cal.previous_session(session)
    report.session = session
    day_over = asyncio.Event()

    def on_step(ev: StepFinished) -> None:
        if ev.session == session and ev.step == "eod":
            clock.pause()  # freeze the world before the next evening's scan
            day_over.set()

    bus.subscribe(StepFinished, on_step)
    facade.start()
    try:
        # 1. The clock stops after the 20:00 scan for the review (the window's default):
        #    approve everything, then veto the last, in the panel; then resume.
        await _until(lambda: bool(facade.status().pause_reason) or bool(facade.error))
        _check(not facade.error, f"the engines stopped: {facade.error}")
        _check(
            clock.paused and clock.now() < cal.at(scan_day, "20:30"),
            f"the clock did not pause for the review after the scan (now {clock.now():%H:%M})",
        )
        win.refresh_all()
        cand = win.panels["candidates"]
        rows = cand.table.visible_rows()
        _check(bool(rows), f"the scan of {scan_day} showed no candidates")
        cand.table.selectAll()
        cand.approve_selected()
        cand.table.select_row(len(rows) - 1)
        cand.note.setText(VETO_NOTE)
        cand.veto_selected()
        win.panels["status"].pause_btn.click()  # Resume: the day goes on at max speed
        # 2. During the session: flatten every position from the window.
        await clock.sleep_until(cal.at(session, "14:00"))
        _check(not facade.error, f"the engines stopped: {facade.error}")
        win.refresh_all()
        held = win.panels["positions"].table.visible_rows()
        _check(bool(held), f"no position was open at 14:00 of {session}")
        report.positions_opened = len(held)
        win.flatten_all()
        # 3. The end of the day; then let the window catch up (its refreshes are coalesced).
        await day_over.wait()
        _check(not facade.error, f"the engines stopped: {facade.error}")
        await asyncio.sleep(0.5)
        win.refresh_all()
        check_panels(win, engines, session, scan_day, report)
    finally:
        win.close()
        try:
            await asyncio.wait_for(asyncio.shield(closed), 20)
        except TimeoutError:
            report.notes.append("the window took more than 20 s to close")
        await facade.shutdown()
    _check(engines.store.closed, "the store was not closed at quit")
    return report


BACKTEST_FROM, BACKTEST_TO = "2025-02-24", "2025-02-28"


def check_backtest(home: Path, report: Report) -> None:
    """A five-session backtest of the simulated market, run as the app runs one."""
    import json
    import subprocess

    from workstation.core.paths import Paths
    from workstation.launch import workstation_command
    from workstation.store import Store

    cmd = workstation_command(
        "--home", str(home), "--market", "sim", "backtest", "--from", BACKTEST_FROM,
        "--to", BACKTEST_TO, "--json", "--progress", "none",
    )  # fmt: skip
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise SelfTestFailed(f"the backtest did not finish within {TIMEOUT_S:.0f} s") from None
    _check(r.returncode == 0, f"the backtest failed: {(r.stderr.strip() or '?').splitlines()[-1]}")
    doc = json.loads(r.stdout)
    report.backtest_sessions = int(doc["period"]["sessions"])
    report.backtest_trades = len(doc["trades"])
    _check(report.backtest_sessions == 5, f"the backtest ran {report.backtest_sessions} sessions")
    store_file = Path(doc["runs"][0]["store"])
    _check(store_file.is_file(), f"the backtest's store {store_file} is missing")
    with Store.open(Paths.resolve(home).db_path) as store:
        listed = [b.path for b in store.backtests()]
    _check(str(store_file) in listed, "the backtest is not listed in the home's store")


def _rows(win: Any, name: str) -> list[Any]:
    return list(win.panels[name].table.source.rows)


def check_panels(win: Any, engines: Any, session: date, scan_day: date, report: Report) -> None:
    """What the panels show against the store and the broker (raises SelfTestFailed)."""
    from workstation.core.models import ApprovalState

    store = engines.store
    scan = store.latest_scan(scan_day, market=engines.market.name)
    _check(scan is not None and scan.status == "ok", f"no successful scan of {scan_day} stored")
    stored = {c.id: c for c in store.candidates_for_scan(scan.id)}
    cands = _rows(win, "candidates")
    report.candidates = len(cands)
    _check(1 <= len(cands) <= 12, f"the candidates panel shows {len(cands)} rows (1..12 expected)")
    _check(
        {c.id for c in cands} == set(stored),
        f"the candidates panel shows {sorted(c.symbol for c in cands)}, the store has "
        f"{sorted(c.symbol for c in stored.values())}",
    )
    for c in cands:
        _check(
            str(c.approval) == stored[c.id].approval,
            f"{c.symbol}: the panel shows {c.approval}, the store {stored[c.id].approval}",
        )
    vetoed = [c for c in cands if c.approval is ApprovalState.VETOED]
    report.vetoed = len(vetoed)
    _check(
        len(vetoed) == 1 and vetoed[0].note == VETO_NOTE,
        f"{len(vetoed)} vetoed candidates shown (1 with the note {VETO_NOTE!r} expected)",
    )

    gaps = _rows(win, "gaps")
    stored_gaps = {g.candidate_id: g for g in store.gap_results(session)}
    report.gaps = len(gaps)
    report.gaps_passed = sum(g.passed for g in gaps)
    _check(
        len(gaps) == len(cands) == len(stored_gaps),
        f"the gap panel shows {len(gaps)} rows for {len(cands)} candidates "
        f"({len(stored_gaps)} gap results stored)",
    )
    for g in gaps:
        s = stored_gaps.get(g.candidate_id)
        _check(
            s is not None and bool(s.passed) == g.passed,
            f"gap result of {g.symbol} differs from the store",
        )

    orders = _rows(win, "orders")
    stored_orders = {o.client_order_id: o for o in store.orders_for_session(session)}
    shown = {o.client_order_id: o for o in orders if not o.client_order_id.startswith("not-")}
    report.orders = len(orders)
    _check(
        set(shown) == set(stored_orders),
        f"the orders panel shows {len(shown)} orders, the store has {len(stored_orders)} for "
        f"{session}",
    )
    for cid, o in shown.items():
        st = stored_orders[cid].status
        _check(
            str(o.status) == st or (st == "replaced" and str(o.status) == "canceled"),
            f"order {cid}: the panel shows {o.status}, the store {st}",
        )
    report.entries_filled = sum(
        1 for o in shown.values() if str(o.intent) == "entry" and o.filled_qty > 0
    )
    _check(report.entries_filled > 0, f"no entry was filled on {session}")

    positions = _rows(win, "positions")
    broker_held = {s: q for s, (q, _avg) in engines.broker.positions_sync().items() if q}
    _check(
        len(positions) == len(store.open_positions()) == len(broker_held) == 0,
        f"after flattening, the positions panel shows {len(positions)}, the store "
        f"{len(store.open_positions())} and the broker {len(broker_held)} open positions",
    )

    journal = _rows(win, "journal")
    trades = store.trades()
    closed_paper = [p for p in store.paper_tracks() if p.status != "open"]
    # Every other veto is listed too: followed on paper, waiting, or not followed and why.
    other_vetoes = [v for v in win.engine.vetoes() if str(v.state) != "closed"]
    report.journal = len(journal)
    report.trades = len(trades)
    _check(
        len(journal) == len(trades) + len(closed_paper) + len(other_vetoes),
        f"the journal shows {len(journal)} rows; the store has {len(trades)} trades, "
        f"{len(closed_paper)} closed vetoed outcomes and {len(other_vetoes)} other vetoes",
    )
    _check(
        len(trades) >= report.positions_opened,
        f"{report.positions_opened} positions were flattened but {len(trades)} trades stored",
    )

    equity = engines.broker.account_sync().equity
    shown_equity = win.panels["status"].equity.value.text()
    _check(
        shown_equity == f"${equity:,.2f}",
        f"the status strip shows equity {shown_equity}, the broker ${equity:,.2f}",
    )
    _check(bool(_rows(win, "log")), "the log panel is empty")


def _quiet_offscreen_warnings() -> None:
    """The offscreen platform warns on every dock resize ("This plugin does not support
    propagateSizeHints()"): noise, not news. Other Qt messages still reach stderr."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    def handler(kind: QtMsgType, _context: object, message: str) -> None:
        if "propagateSizeHints" in message:
            return
        if kind in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg):
            sys.stderr.write(message + "\n")

    qInstallMessageHandler(handler)


class _NoSecrets:
    """The self-test never touches the OS keyring."""

    def has(self, name: str) -> bool:
        return False

    def set(self, name: str, value: str) -> None:
        raise RuntimeError("the self-test stores no keys")


__all__ = ["SIM_TODAY", "Report", "SelfTestFailed", "check_panels", "run_self_test"]
