"""Screenshots of the workstation for the user guide, taken offscreen.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--theme dark|light]
                                            [--engine real|fake] [--sessions N]

``--engine real`` (the default): the real engines on the simulated market, in a fresh
temporary home. A simulated week is run at max speed first -- the nightly scans (one
candidate a night vetoed with a note), the gap filter, entries, exits, the paper-tracked
vetoes -- and the clock is stopped at 11:05 of the last session, so every panel shows real
rows: today's candidates, gap results and orders, day-1 positions next to older ones, a
journal with several exit reasons, an equity curve. ``--engine fake`` uses the in-memory
FakeEngine of the GUI tests instead.

The window, every dock panel and every dialog are saved as PNG files (the reconciliation
dialog on a difference planted at the simulated exchange). The panels and dialogs of the
trader's desk (issue 13: position control, charts, risk, regime) are also saved as they look
in a window of 1280x800 and of 1920x1080, in the dark and the light theme
(``panel-NAME-WxH-THEME.png``, ``main-window-WxH-THEME.png``, ``dialog-NAME-THEME.png``).
So are the panels and dialogs the trial's fixes changed (issue 13: approvals, the re-run
scan, the status strip, readable words, the rest), the dialogs over the window they open on,
as the screen shows them (``dialog-NAME-WxH-THEME.png``). With the real engines the clock
then runs on to the evening's scan, where it pauses for the review
(``panel-status-review-WxH-THEME.png``, ``main-window-review-WxH-THEME.png``).

The Research window is shot by ``scripts/screenshots_research.py`` (real backtests run in it;
``--only research`` makes those alone, ``--only main`` the rest).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import sys
import tempfile
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtGui import QColor, QPainter  # noqa: E402
from PySide6.QtWidgets import QApplication, QDialog, QWidget  # noqa: E402

from workstation.core.config_files import ConfigManager  # noqa: E402
from workstation.core.paths import Paths  # noqa: E402
from workstation.engine.api import EngineAPI  # noqa: E402
from workstation.ui.dialogs.confirm import (  # noqa: E402
    FlattenAllDialog,
    KillSwitchDialog,
    LiveModeDialog,
)
from workstation.ui.dialogs.position import (  # noqa: E402
    ClosePositionDialog,
    MoveLevelsDialog,
)
from workstation.ui.main_window import MainWindow  # noqa: E402
from workstation.ui.price_chart import PriceChart  # noqa: E402

#: Window sizes the desk's panels are checked at (a laptop and a full-HD screen).
SCREEN_SIZES = ((1280, 800), (1920, 1080))
#: The panels new or changed for the trader's desk, shot at each screen size and theme.
DESK_PANELS = ("positions", "chart", "candidates", "risk", "regime")
#: The panels the trial's fixes changed (issue 13 items 1-4, 9, 10), shot the same way.
TRIAL_PANELS = ("status", "candidates", "gaps", "orders", "journal")

PANEL_SIZES = {
    "status": (1600, 80),
    "chart": (1200, 760),
    "candidates": (1000, 760),
    "positions": (1000, 700),
    "journal": (1400, 520),
    "orders": (1600, 560),  # wide enough for the reject reasons
    "log": (1200, 420),
}


class _NoSecrets:
    def has(self, name: str) -> bool:
        return name.startswith("paper:")

    def set(self, name: str, value: str) -> None:
        raise RuntimeError("screenshots never store keys")


def make_engine(kind: str) -> EngineAPI:
    if kind == "fake":
        from tests.gui.fake_engine import FakeEngine

        return FakeEngine("session")
    raise SystemExit(f"unknown engine {kind!r}: use real or fake")


VETO_NOTE = "earnings next week"

#: The alerts the simulated week raised (the Alerts menu is shown with them).
RAISED: list[Any] = []


async def simulate(home: Path, sessions: int) -> Any:
    """Run ``sessions`` simulated sessions at max speed (one veto a night) and stop the
    clock at 11:05 of the last one; returns the engines, paused there."""
    from workstation.context import open_context
    from workstation.core.events import ScanFinished
    from workstation.engine.assembly import build_sim
    from workstation.engine.scheduler import session_to_run
    from workstation.selftest import prepare_home

    prepare_home(home)
    ctx = open_context(argparse.Namespace(home=str(home)))
    engines = build_sim(ctx, speed=math.inf)
    facade, clock, cal = engines.facade, engines.clock, ctx.calendar

    def veto_last(ev: ScanFinished) -> None:
        # The user vetoes the last pick each night: the journal then shows what vetoes
        # would have done (paper tracks).
        views = facade.candidates()
        if views and views[-1].approval.value == "pending":
            facade.veto(views[-1].id, VETO_NOTE)

    engines.bus.subscribe(ScanFinished, veto_last)
    from workstation.notify.alert import AlertRaised
    from workstation.notify.center import AlertCenter

    AlertCenter(engines.bus, lambda: ctx.cfg, cal)
    engines.bus.subscribe(AlertRaised, lambda ev: RAISED.append(ev.alert))
    first = session_to_run(clock.now(), ctx.cfg.schedule, cal)
    last = cal.sessions_in_range(first, cal.end)[sessions - 1]
    facade.start()
    await clock.sleep_until(cal.at(last, "11:05"))
    clock.pause()
    if facade.error:
        raise SystemExit(f"the simulation stopped: {facade.error}")
    await asyncio.sleep(0.3)  # let coalesced view changes land
    # The trader tightened one stop by hand (shown with its mark in the positions table).
    for p in facade.positions():
        if not p.day_one and not p.exiting:
            sl = round(p.sl + p.side.sign * 0.25 * abs(p.last - p.sl), 2)
            with contextlib.suppress(Exception):
                facade.move_levels(p.symbol, sl=sl, note="tightened before earnings")
            break
    await asyncio.sleep(0.3)
    if facade.health is not None:  # the strip's health as of the paused moment, kept so:
        await facade.health.refresh()  # the shots run Qt outside the loop's turns
        await facade.health.stop()
    return engines


async def planted_difference(home: Path) -> Any:
    """Engines whose exchange holds a position the store does not know (for the dialog)."""
    from workstation.context import open_context
    from workstation.core.calendar import ET
    from workstation.core.models import OrderRequest, OrderSide
    from workstation.engine.assembly import build_sim
    from workstation.selftest import SIM_TODAY, prepare_home

    prepare_home(home)
    ctx = open_context(argparse.Namespace(home=str(home)))
    day = ctx.calendar.next_session(date.fromisoformat(SIM_TODAY))
    engines = build_sim(ctx, speed=math.inf, start=datetime.combine(day, time(10, 30), ET))
    engines.clock.pause()
    now = engines.clock.now()
    for sym, qty in (("AAPL", 40), ("MSFT", -15)):
        price = float(engines.market.price_at(sym, now))
        engines.broker.on_price(sym, price, now)
        side = OrderSide.BUY if qty > 0 else OrderSide.SELL
        engines.broker.submit_sync(OrderRequest(f"outside-{sym}", sym, side, abs(qty)))
    await engines.session.start()
    return engines


def sample_already_running(parent: QWidget | None = None) -> QDialog:
    """The dialog of an app started beside a running headless run (made-up holder)."""
    from workstation.instance import Holder
    from workstation.ui.dialogs.home_problem import already_running_box

    holder = Holder(
        48213, "trading-desk", "workstation run --headless --sessions 5", "2025-03-12T08:55:02"
    )
    return already_running_box("/home/trader/workstation", holder, parent)


def sample_store_lost(parent: QWidget | None = None) -> QDialog:
    """The dialog of a store deleted while the app ran (made-up paths)."""
    from workstation.ui.dialogs.home_problem import store_problem_box

    db = "/home/trader/workstation/data/workstation.db"
    return store_problem_box(
        "deleted",
        f"the store {db} was deleted while the workstation ran",
        "restore the backup workstation-20250312-143105.db, which holds everything it had, "
        "with 'workstation store restore', then start again",
        parent,
    )


def settle(app: QApplication, rounds: int = 5) -> None:
    for _ in range(rounds):
        app.processEvents()


def grab(widget: QWidget, path: Path, app: QApplication) -> None:
    settle(app)
    pix = widget.grab()
    if pix.isNull() or not pix.save(str(path)):
        raise SystemExit(f"could not save {path}")
    print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")


def show_dialog(dlg: QDialog, size: tuple[int, int | None], app: QApplication) -> None:
    """Show ``dlg`` at ``size``; a height of None keeps the dialog's natural height."""
    w, h = size
    dlg.adjustSize()
    dlg.resize(w, h if h is not None else dlg.sizeHint().height())
    dlg.show()
    settle(app)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    ap.add_argument("--theme", default="both", choices=("dark", "light", "both"))
    ap.add_argument("--engine", default="real", choices=("real", "fake"))
    ap.add_argument("--sessions", type=int, default=6, help="simulated sessions to run first")
    ap.add_argument(
        "--only",
        choices=("all", "main", "research"),
        default="all",
        help="main: the main window, its panels and dialogs; research: the Research window "
        "(scripts/screenshots_research.py: it runs real backtests)",
    )
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    if args.only in ("all", "research"):
        from scripts.screenshots_research import shoot_research

        themes = ("dark", "light") if args.theme == "both" else (args.theme,)
        shoot_research(app, out, themes)
    if args.only == "research":
        return 0
    if args.engine == "fake":
        with tempfile.TemporaryDirectory(prefix="ws-shots-") as tmp:
            paths = Paths.resolve(Path(tmp) / "home").ensure()
            manager = ConfigManager(paths.config_dir, paths.config_history_dir)
            engine = make_engine("fake")
            made = iter(range(100))

            def make_fake(theme_name: str) -> MainWindow:
                ini = Path(tmp) / f"ui{next(made)}.ini"
                return MainWindow(
                    engine,
                    manager,
                    settings=QSettings(str(ini), QSettings.Format.IniFormat),
                    paths=paths,
                    secrets=_NoSecrets(),
                    theme_name=theme_name,
                )

            shoot_all(app, make_fake, out, args.theme, None)
        return 0

    import qasync

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop, tempfile.TemporaryDirectory(prefix="ws-shots-") as tmp:
        _real(app, loop, Path(tmp), out, args.theme, args.sessions)
    return 0


def _real(
    app: QApplication, loop: Any, tmp: Path, out: Path, theme_name: str, sessions: int
) -> None:
    """The simulation runs in the loop; the screenshots are taken between its turns (Qt's
    processEvents must not run inside an asyncio task: it would re-enter other tasks)."""
    from workstation.app import make_window

    print(f"simulating {sessions} sessions at max speed...", flush=True)
    engines = loop.run_until_complete(simulate(tmp / "home", sessions))
    planted = loop.run_until_complete(planted_difference(tmp / "planted"))
    made = iter(range(100))

    def make(name: str) -> MainWindow:
        ini = tmp / f"ui{next(made)}.ini"
        settings = QSettings(str(ini), QSettings.Format.IniFormat)
        return make_window(engines, settings=settings, secrets=_NoSecrets(), theme_name=name)

    try:
        shoot_all(app, make, out, theme_name, planted)
        loop.run_until_complete(review_pause(engines))
        for name in ("dark", "light") if theme_name == "both" else (theme_name,):
            win = make(name)
            try:
                shoot_review(app, win, out, name)
            finally:
                _discard(win, app)
    finally:
        loop.run_until_complete(_stop(engines, planted))


async def _stop(*engines: Any) -> None:
    for e in engines:
        if e is not None:
            await e.facade.shutdown()


def shoot_all(
    app: QApplication,
    make: Callable[[str], MainWindow],
    out: Path,
    theme_name: str,
    planted: Any,
) -> None:
    """``theme_name`` "both": the dark set, then the light one. Each set on fresh windows
    (floating and re-docking every panel leaves Qt's old dock tab bars behind)."""
    for name in ("dark", "light") if theme_name == "both" else (theme_name,):
        shots: tuple[Callable[[MainWindow], None], ...] = (
            lambda w, n=name: shoot(app, w, out, n, planted),
            lambda w, n=name: shoot_desk(app, w, out, n),
            lambda w, n=name: shoot_trial(app, w, out, n, planted),
        )
        for shot in shots:
            win = make(name)
            try:
                shot(win)
            finally:
                _discard(win, app)


def _discard(win: MainWindow, app: QApplication) -> None:
    evidence = win.evidence
    if evidence is not None:
        # Its backtest children write into the home, and its listeners paint the window's
        # progress bars: both stopped before the window and the home go.
        evidence.shutdown()
        for job in list(evidence.jobs):
            if job.proc is not None:
                with contextlib.suppress(Exception):
                    job.proc.wait(timeout=30)
    win.bridge.close()  # the engines run on after it (the review pause): stop listening
    win._shutdown_state = "stopped"
    win.close()
    win.deleteLater()
    settle(app)


def at_size(app: QApplication, win: MainWindow, w: int, h: int) -> None:
    """The window at ``w`` x ``h`` with the default split of its docks for that size (as the
    first start on such a screen lays it out)."""
    for _ in range(2):  # the status strip re-flows to the new width after the first
        win.resize(w, h)
        settle(app, 10)
    win.size_docks()
    settle(app, 10)


def _select_positions(win: MainWindow) -> None:
    """Select the position that explains the most: a moved level, else day 1."""
    positions = win.panels["positions"]
    rows = positions.table.visible_rows()
    pick = next((i for i, p in enumerate(rows) if p.sl_moved or p.tp_moved), None)
    if pick is None:
        pick = next((i for i, p in enumerate(rows) if p.day_one), 0 if rows else None)
    if pick is not None:
        positions.table.select_row(pick)


def _wait_for_charts(app: QApplication, win: MainWindow, timeout_s: float = 5.0) -> None:
    """Let the charts' indicator computations (a worker thread) come back and draw."""
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        charts = win.findChildren(PriceChart)  # the chart, the candidates', the regime's
        if all(c._pending is None for c in charts):
            break
        app.processEvents()
        time.sleep(0.01)
    settle(app, 10)


def grab_docks(
    app: QApplication, win: MainWindow, names: tuple[str, ...], out: Path, tag: str
) -> None:
    """Each named dock as it sits in the window (brought to the front of its tab group)."""
    for name in names:
        dock = win.docks[name]
        dock.show()
        dock.raise_()
        settle(app, 20)
        _wait_for_charts(app, win)
        grab(dock, out / f"panel-{name.replace('_', '-')}-{tag}.png", app)


def shoot_desk(app: QApplication, win: MainWindow, out: Path, theme_name: str) -> None:
    """The desk's panels as they sit in a window of each screen size, and its dialogs."""
    win.show()
    for w, h in SCREEN_SIZES:
        at_size(app, win, w, h)
        _select_positions(win)
        settle(app, 20)
        grab(win, out / f"main-window-{w}x{h}-{theme_name}.png", app)
        grab_docks(app, win, DESK_PANELS, out, f"{w}x{h}-{theme_name}")
    win.resize(1600, 1000)
    settle(app, 10)
    positions = win.panels["positions"]
    rows = positions.table.visible_rows()
    later = next((p for p in rows if not p.day_one), rows[0] if rows else None)
    if later is None:
        return
    move = MoveLevelsDialog(later, win.engine, win)
    show_dialog(move, (560, None), app)
    # A tighter stop typed: the dialog shows the rule's verdict and what would change.
    sl = later.sl + later.side.sign * 0.5 * abs(later.last - later.sl)
    move.sl_edit.setText(f"{sl:.2f}")
    move.note.setText("protect half the open gain")
    grab(move, out / f"dialog-move-levels-{theme_name}.png", app)
    move.close()
    close = ClosePositionDialog(later, win)
    show_dialog(close, (520, None), app)
    grab(close, out / f"dialog-close-position-{theme_name}.png", app)
    close.close()


async def review_pause(engines: Any) -> None:
    """Run on (max speed, the review on) to the evening's scan, where the clock pauses."""
    facade = engines.facade
    facade.set_scan_review(True)
    facade.set_speed(math.inf)
    facade.resume()
    for _ in range(12_000):
        if facade.status().pause_reason or facade.error:
            break
        await asyncio.sleep(0.01)
    if not facade.status().pause_reason:
        raise SystemExit(f"the clock did not pause at the evening's scan {facade.error}")
    await asyncio.sleep(0.3)  # let coalesced view changes land


def over_window(win: MainWindow, dlg: QDialog, path: Path, app: QApplication) -> None:
    """The window with the dialog over its middle, as the screen shows it."""
    dlg.adjustSize()
    dlg.resize(min(dlg.width(), win.width() - 40), min(dlg.height(), win.height() - 40))
    dlg.show()
    settle(app, 10)
    pix = win.grab()
    shot = dlg.grab()
    painter = QPainter(pix)
    painter.fillRect(pix.rect(), QColor(0, 0, 0, 90))
    painter.drawPixmap((pix.width() - shot.width()) // 2, (pix.height() - shot.height()) // 2, shot)
    painter.end()
    if not pix.save(str(path)):
        raise SystemExit(f"could not save {path}")
    print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    dlg.close()


def trial_dialogs(win: MainWindow, planted: Any) -> list[tuple[str, Callable[[], QDialog]]]:
    """The dialogs the trial's fixes changed, made on the engines the window shows."""
    from workstation.engine.facade import rescan_question
    from workstation.ui.dialogs.confirm import RescanDialog

    out: list[tuple[str, Callable[[], QDialog]]] = []
    engine: Any = win.engine
    views = getattr(engine, "views", None)
    if views is not None and views.latest_scan() is not None:
        day = views.latest_scan().session
        decided = engine.session.scanner.decisions(day)
        if decided:
            question = rescan_question(day, decided)
            out.append(("dialog-rescan", lambda: RescanDialog(question, win)))
    out.append(("dialog-settings", win.settings_dialog))
    positions = engine.positions()
    if positions:
        from workstation.ui.dialogs.confirm import QuitDialog

        simulated = engine.status().clock_adjustable
        out.append(("dialog-quit", lambda: QuitDialog(positions, simulated, win)))
    from workstation.ui.dialogs.help import ShortcutsDialog, UserGuideDialog

    out.append(("dialog-shortcuts", lambda: ShortcutsDialog(win.shortcut_rows(), win)))
    out.append(("dialog-user-guide", lambda: UserGuideDialog(win)))
    if planted is not None:
        from workstation.ui.dialogs.reconcile import ReconcileDialog

        out.append(("dialog-reconcile", lambda: ReconcileDialog(planted.facade, win)))
    return out


def shoot_trial(
    app: QApplication, win: MainWindow, out: Path, theme_name: str, planted: Any
) -> None:
    """The panels the trial's fixes changed, in place, and their dialogs over the window, at
    each screen size."""
    win.show()
    for w, h in SCREEN_SIZES:
        at_size(app, win, w, h)
        grab_docks(app, win, TRIAL_PANELS, out, f"{w}x{h}-{theme_name}")
        for name, make in trial_dialogs(win, planted):
            over_window(win, make(), out / f"{name}-{w}x{h}-{theme_name}.png", app)


def shoot_review(app: QApplication, win: MainWindow, out: Path, theme_name: str) -> None:
    """The window and the status strip while the clock waits for the review of a scan."""
    win.show()
    win.refresh_all()
    for w, h in SCREEN_SIZES:
        at_size(app, win, w, h)
        win.docks["candidates"].raise_()
        settle(app, 20)
        grab(win, out / f"main-window-review-{w}x{h}-{theme_name}.png", app)
        grab(win.docks["status"], out / f"panel-status-review-{w}x{h}-{theme_name}.png", app)
    if theme_name == "dark":
        win.resize(1600, 1000)
        settle(app, 20)
        grab(win.docks["status"], out / "panel-status-review.png", app)


def shoot(app: QApplication, win: MainWindow, out: Path, theme_name: str, planted: Any) -> None:
    """Save the window, each dock and each dialog of ``win`` as PNG files in ``out``."""
    manager = win.config
    assert manager is not None
    # One saved version so the History tab has something to show.
    risk = manager.config_dir / "risk.yaml"
    manager.save("risk.yaml", risk.read_text().replace("max_abs_gap: 0.03", "max_abs_gap: 0.035"))
    manager.save("risk.yaml", risk.read_text().replace("max_abs_gap: 0.035", "max_abs_gap: 0.03"))
    engine = win.engine
    win.resize(1600, 1000)
    win.show()
    settle(app, 20)
    for name in ("candidates", "positions", "journal"):
        table = win.panels[name].table
        if table.current_row() is None and table.proxy.rowCount():
            table.select_row(0)
    _select_positions(win)
    settle(app, 20)
    suffix = "" if theme_name == "dark" else "-light"
    grab(win, out / f"main-window{suffix}.png", app)
    if theme_name != "dark":
        return

    # Each dock on its own, floated at a readable size (the layout was grabbed above).
    for name, dock in win.docks.items():
        dock.setFloating(True)
        dock.resize(*PANEL_SIZES.get(name, (1200, 560)))
        dock.show()
        settle(app, 10)
        grab(dock, out / f"panel-{name.replace('_', '-')}.png", app)
        dock.setFloating(False)
    win.reset_layout()

    if RAISED:  # the week's alerts, as the Alerts menu (and the tray icon's menu) lists them
        for alert in RAISED[-14:]:
            win.alerts.show(alert)
        menu = win.alerts.menu
        menu.popup(win.mapToGlobal(win.rect().topLeft()))
        settle(app, 10)
        grab(menu, out / "menu-alerts.png", app)
        menu.close()

    shots: list[tuple[str, Callable[[], QDialog], tuple[int, int | None]]] = [
        ("dialog-kill-switch", lambda: KillSwitchDialog(engine.positions(), win), (560, 420)),
        ("dialog-flatten-all", lambda: FlattenAllDialog(engine.positions(), win), (560, 400)),
        ("dialog-live-mode", lambda: LiveModeDialog(win), (460, None)),
        ("dialog-settings", win.settings_dialog, (560, None)),
        ("dialog-already-running", lambda: sample_already_running(win), (640, None)),
        ("dialog-store-lost", lambda: sample_store_lost(win), (640, None)),
    ]
    for name, make, size in shots:
        dlg = make()
        show_dialog(dlg, size, app)
        if name == "dialog-kill-switch":
            dlg.flatten.setChecked(True)  # type: ignore[attr-defined]
        grab(dlg, out / f"{name}.png", app)
        dlg.close()

    if planted is not None:
        from workstation.ui.dialogs.reconcile import ReconcileDialog

        dlg = ReconcileDialog(planted.facade, win)
        show_dialog(dlg, (1100, 360), app)
        grab(dlg, out / "dialog-reconcile.png", app)
        dlg.close()

    ed = win.parameter_editor()
    show_dialog(ed, (1100, 720), app)
    ed.show_field(("strategies.yaml", "rsi_reversion", "rsi_below"))
    grab(ed, out / "dialog-parameters.png", app)
    ed.field("risk.yaml", "gap", "max_abs_gap").set_text("0.04")
    ed.field("risk.yaml", "exits", "time_exit_at").set_text("15:45")
    ed.show_field(("risk.yaml", "gap", "max_abs_gap"))
    ed.review()
    grab(ed, out / "dialog-parameters-review.png", app)
    ed.revert()
    ed.field("scanner.yaml", "indicators", "rsi_window").set_text("1")
    ed.show_field(("scanner.yaml", "indicators", "rsi_window"))
    ed.review()
    grab(ed, out / "dialog-parameters-invalid.png", app)
    ed.revert()
    ed.tabs.setCurrentIndex(1)
    ed.history_file.setCurrentIndex(ed.history_file.findData("risk.yaml"))
    grab(ed, out / "dialog-parameters-history.png", app)
    ed.close()
    settle(app)


if __name__ == "__main__":
    raise SystemExit(main())
