"""The desktop app: a QApplication whose Qt loop is also the engines' asyncio loop (qasync).

``workstation`` with no command comes here (:func:`run_app`):

1. Qt is checked before anything else (:func:`qt_problem`): no display, a library Qt needs
   that is missing, or a Qt binding known to crash (``binding_problem``) each give ONE line
   naming the problem and the way out, and the app does not start.
2. The context (home, configuration, calendar) and the mode are resolved. ``--mode live``
   shows the live confirmation dialog FIRST: nothing is built and nothing connects unless
   the user types LIVE.
3. The engines are assembled (:mod:`workstation.engine.assembly`): the simulated market and
   exchange by default (the exchange's state is kept in the home's data folder, so the
   simulated account outlives the app), or Alpaca for paper/live.
4. The window opens on the :class:`~workstation.engine.facade.Workstation` facade, then the
   engines start as tasks of the same loop (reconciliation first; differences open the
   reconciliation dialog).
5. Quitting (File > Quit, the window's close button, Ctrl-C in the terminal) saves the
   layout, stops the engines and streams, saves the simulated exchange and closes the store,
   then the loop ends.

No engine work blocks the loop: the scan runs in an executor thread, the views are cached
(see the facade), and quotes reach the panels coalesced.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes.util
import logging
import logging.handlers
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from workstation.core.paths import HOME_ENV, Paths

if TYPE_CHECKING:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication, QMessageBox

    from workstation.context import Context
    from workstation.core.config_files import ConfigManager
    from workstation.core.events import EventBus
    from workstation.engine.assembly import Engines
    from workstation.engine.facade import Workstation
    from workstation.engine.proxy import EngineProxy
    from workstation.engine.views import Mode
    from workstation.health.heartbeat import Heartbeat
    from workstation.instance import Holder
    from workstation.notify.service import Notifications
    from workstation.ui.dialogs.reconcile import ReconcileDialog
    from workstation.ui.main_window import MainWindow

log = logging.getLogger("workstation.app")

UI_SETTINGS_FILE = "ui.ini"


# ------------------------------------------------------------------ can Qt start?
def display_problem(env: dict[str, str] | None = None, platform: str | None = None) -> str:
    """On Linux a window needs an X11 or Wayland display (or QT_QPA_PLATFORM=offscreen)."""
    env = dict(os.environ) if env is None else env
    platform = platform or sys.platform
    if not platform.startswith("linux"):
        return ""
    if env.get("QT_QPA_PLATFORM") or env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return ""
    return "there is no display (neither DISPLAY nor WAYLAND_DISPLAY is set)"


def _xcb_problem() -> str:
    """Qt's X11 plugin aborts the process when libxcb-cursor is missing: say so first."""
    if not sys.platform.startswith("linux"):
        return ""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform not in ("", "xcb") or not os.environ.get("DISPLAY"):
        return ""
    if os.environ.get("WAYLAND_DISPLAY") and not platform:
        return ""  # Qt picks Wayland
    if ctypes.util.find_library("xcb-cursor") is None:
        return (
            "the system library libxcb-cursor0, which Qt's X11 support needs, is missing "
            "(install it: sudo apt install libxcb-cursor0, or run scripts/bootstrap.sh)"
        )
    return ""


def qt_problem() -> str:
    """Why the window cannot open here, in one sentence; "" when it can."""
    problem = display_problem()
    if problem:
        return problem
    try:
        import qasync  # noqa: F401
        from PySide6 import QtWidgets  # noqa: F401
    except ImportError as exc:  # e.g. "libEGL.so.1: cannot open shared object file"
        return f"Qt cannot be loaded ({exc})"
    from workstation.ui.compat import binding_problem

    problem = binding_problem()
    if problem:
        return problem
    return _xcb_problem()


def no_window_message(problem: str) -> str:
    return (
        f"workstation: the window cannot open: {problem}. Use 'workstation run --headless' "
        "to trade without a window, or 'workstation --no-gui' for tonight's scan."
    )


# ------------------------------------------------------------------ pieces
def home_given(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "home", None) or os.environ.get(HOME_ENV))


def ui_settings(paths: Paths, own_file: bool) -> QSettings:
    """The window's layout and theme: the platform's settings store, or (with --home, so a
    home is self-contained, and in tests) an INI file in the home's config folder."""
    from PySide6.QtCore import QSettings

    from workstation.ui.main_window import APP_NAME, ORG_NAME

    if own_file:
        return QSettings(str(paths.config_dir / UI_SETTINGS_FILE), QSettings.Format.IniFormat)
    return QSettings(ORG_NAME, APP_NAME)


def setup_file_log(paths: Paths) -> None:
    """Engine and app messages go to <data>/logs/workstation.log (rotated)."""
    root = logging.getLogger("workstation")
    target = str(paths.logs_dir / "workstation.log")
    if any(getattr(h, "baseFilename", None) == target for h in root.handlers):
        return
    with contextlib.suppress(OSError):
        handler = logging.handlers.RotatingFileHandler(
            target, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        if root.level == logging.NOTSET or root.level > logging.INFO:
            root.setLevel(logging.INFO)


def attach_research(win: MainWindow, launch: Any) -> None:
    """*Research > Backtest...* (the research window, workstation/ui/research/)."""
    from workstation.ui.research import attach_research as attach

    attach(win, launch)


def attach_optimize(win: MainWindow, launch: Any) -> None:
    """*Research > Optimize...* (the Optimize window, workstation/ui/optimize/)."""
    from workstation.ui.optimize import attach_optimize as attach

    attach(win, launch)


def make_window(
    engines: Engines,
    *,
    settings: QSettings,
    secrets: Any = None,
    theme_name: str | None = None,
) -> MainWindow:
    """The main window on the engines' facade, with the reconciliation wired in."""
    from workstation.ui.main_window import MainWindow
    from workstation.ui.optimize.launch import OptimizeLaunch
    from workstation.ui.research.launch import BacktestLaunch

    ctx = engines.ctx
    win = MainWindow(
        engines.facade,
        ctx.config,
        settings=settings,
        paths=ctx.paths,
        shutdown=engines.facade.shutdown,
        secrets=secrets,
        theme_name=theme_name,
    )
    attach_reconciliation(win, engines.facade)
    attach_store_problem(win)
    win.set_evidence(evidence_service(ctx))
    attach_research(win, BacktestLaunch(ctx.paths, ctx.market_spec, ctx.seed, ctx.universe_csv))
    attach_optimize(win, OptimizeLaunch(ctx.paths, ctx.market_spec, ctx.seed, ctx.universe_csv))
    return win


def evidence_service(ctx: Context) -> Any:
    """The window's evidence (track records, change previews, drift and edge reports) for
    the app's home, market and configuration."""
    from workstation.research.evidence.service import EvidenceService

    return EvidenceService(
        ctx.paths,
        ctx.market_spec,
        ctx.calendar,
        lambda: ctx.cfg,
        universe_csv=ctx.universe_csv,
        seed=ctx.seed,
    )


def attach_reconciliation(win: MainWindow, facade: Workstation) -> None:
    """Trading > Reconcile with the broker..., and the dialog opening by itself when the
    start-up comparison finds differences."""
    from PySide6.QtGui import QAction

    from workstation.engine.events import (
        DifferenceResolved,
        ReconcileFinished,
        TradingGateChanged,
    )

    action = QAction("Reconcile with the broker...", win)
    action.setToolTip("The differences between the app's records and the broker, to resolve")
    action.setStatusTip(action.toolTip())
    action.triggered.connect(lambda _=False: open_reconcile(win, facade))
    trading = next(
        (a.menu() for a in win.menuBar().actions() if a.text().replace("&", "") == "Trading"),
        None,
    )
    if trading is not None:
        trading.insertAction(win.scan_action, action)
        trading.insertSeparator(win.scan_action)
    win.addAction(action)
    win.reconcile_action = action  # type: ignore[attr-defined]
    win.reconcile_dialog = None  # type: ignore[attr-defined]

    def on_event(ev: object) -> None:
        if isinstance(ev, ReconcileFinished) and ev.differences:
            open_reconcile(win, facade)
            win.notify(
                "Reconciliation needed",
                f"{len(ev.differences)} difference(s) with the broker: new trades are blocked",
            )
        elif isinstance(ev, DifferenceResolved | TradingGateChanged | ReconcileFinished):
            dlg = getattr(win, "reconcile_dialog", None)
            if dlg is not None:
                dlg.refresh()

    win.bridge.event.connect(on_event)


def attach_store_problem(win: MainWindow) -> None:
    """The store went away while the app ran (the engines stopped trading): a dialog says
    what happened and what to do; the status bar and the log say it too."""
    from workstation.engine.events import StoreFailed
    from workstation.ui.dialogs.home_problem import store_problem_box

    win.store_problem_dialog = None  # type: ignore[attr-defined]

    def on_event(ev: object) -> None:
        if not isinstance(ev, StoreFailed) or getattr(win, "store_problem_dialog", None):
            return
        box = store_problem_box(ev.kind, ev.problem, ev.advice, win)
        win.store_problem_dialog = box  # type: ignore[attr-defined]
        win.notify("Trading stopped", ev.problem)  # the tray, where there is one
        win.show_message(f"{ev.problem}; trading stopped: {ev.advice}", "error")
        box.show()
        box.raise_()

    win.bridge.event.connect(on_event)


def open_reconcile(win: MainWindow, facade: Workstation) -> ReconcileDialog:
    from workstation.ui.dialogs.reconcile import ReconcileDialog

    dlg: ReconcileDialog | None = getattr(win, "reconcile_dialog", None)
    if dlg is None:
        dlg = ReconcileDialog(facade, win)
        dlg.resolved.connect(lambda _k, _a: win.show_message(resolved_text(facade), "info"))
        win.reconcile_dialog = dlg  # type: ignore[attr-defined]
    dlg.refresh()
    dlg.show()
    dlg.raise_()
    return dlg


def resolved_text(facade: Workstation) -> str:
    """After a difference is resolved: what that means for new entries, truthfully."""
    if facade.trading_blocked:
        return "Difference resolved; others remain: new entries stay blocked"
    if facade.status().kill_switch:
        return "Difference resolved; new entries stay blocked by the kill switch"
    return "Difference resolved: the app and the broker agree; new entries are allowed"


def watch_close(win: MainWindow, on_closed: Callable[[], None]) -> Any:
    """Call ``on_closed`` once the window has really closed (after its shutdown hook)."""
    from PySide6.QtCore import QEvent, QObject

    class _Filter(QObject):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if event.type() in (QEvent.Type.Hide, QEvent.Type.Close) and (
                getattr(win, "_shutdown_state", "") == "stopped"
            ):
                on_closed()
            return False

    f = _Filter(win)
    win.installEventFilter(f)
    return f


# ------------------------------------------------------------------ the app
def open_home(args: argparse.Namespace) -> tuple[Paths, ConfigManager]:
    """The home's folders and configuration (cheap: what the window needs to open)."""
    from workstation.home import open_home as _open_home

    return _open_home(args)


def context_for(args: argparse.Namespace, paths: Paths, config: ConfigManager) -> Context:
    """The full context: adds the NYSE calendar (the slow part: built off the loop)."""
    from workstation.context import Context
    from workstation.core.calendar import get_calendar

    market = getattr(args, "market", None) or config.current.app.market
    return Context(
        paths,
        config,
        get_calendar(),
        market,
        getattr(args, "universe", None),
        getattr(args, "seed", None),
    )


class DesktopApp:
    """One run of the desktop app (see the module docstring).

    The window opens first, on an :class:`~workstation.engine.proxy.EngineProxy`; the
    calendar, market and simulated exchange are built in a worker thread meanwhile, the
    store and session on the loop; then the proxy hands over to the real facade.
    """

    def __init__(
        self,
        args: argparse.Namespace,
        *,
        t0: float | None = None,
        speed: float | None = None,
        settings: QSettings | None = None,
        secrets: Any = None,
    ) -> None:
        self.args = args
        self.t0 = time.perf_counter() if t0 is None else t0
        self.speed = speed  # the simulated clock's (None: app.yaml's)
        self.settings = settings
        self.secrets = secrets
        self.engines: Engines | None = None
        self.window: MainWindow | None = None
        self.proxy: EngineProxy | None = None
        self.closed: asyncio.Future[None] | None = None
        self.notifications: Notifications | None = None
        self.heartbeat: Heartbeat | None = None
        self.shown_after: float | None = None  # seconds from launch to the window shown
        self.ready_after: float | None = None  # ... to the engines running
        #: The holder a killed or crashed workstation left on this home (taken over).
        self.took_over: Holder | None = None
        self.refusal: QMessageBox | None = None  # the "already running" dialog, if shown

    def run(self) -> int:
        from PySide6.QtWidgets import QApplication

        from workstation.ui.gc_guard import collection_on_gui_thread
        from workstation.ui.main_window import APP_NAME, ORG_NAME

        app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "workstation"])
        assert isinstance(app, QApplication)
        app.setOrganizationName(ORG_NAME)
        app.setApplicationName(APP_NAME)
        app.setQuitOnLastWindowClosed(False)  # the loop ends when the engines have stopped
        with collection_on_gui_thread(app):  # gc_guard says why
            return self._run_locked(app)

    def _run_locked(self, app: QApplication) -> int:
        from workstation.context import command_line
        from workstation.instance import HomeBusy, InstanceLock
        from workstation.ui import theme
        from workstation.ui.dialogs.home_problem import already_running_box

        paths, config = open_home(self.args)
        setup_file_log(paths)
        # One workstation per home, taken before anything connects or asks (live mode).
        lock = InstanceLock(paths.data_dir, paths.home)
        try:
            self.took_over = lock.acquire(command_line(self.args))
        except HomeBusy as busy:
            sys.stderr.write(f"workstation: {busy}\n")
            theme.apply(app, config.current.app.theme)
            self.refusal = already_running_box(str(busy.home), busy.holder)
            self.refusal.exec()
            return busy.exit_code
        try:
            return self._run(app, paths, config)
        finally:
            lock.release()

    def _run(self, app: QApplication, paths: Paths, config: ConfigManager) -> int:
        from PySide6.QtWidgets import QDialog

        from workstation.engine.views import Mode
        from workstation.errors import UserError
        from workstation.ui import theme
        from workstation.ui.dialogs.confirm import LiveModeDialog

        raw = (getattr(self.args, "mode", None) or config.current.app.mode or "sim").lower()
        if raw == "backtest":
            raise UserError("mode 'backtest' has no window: use --mode sim (or run headless)")
        try:
            mode = Mode(raw)
        except ValueError:
            raise UserError(f"--mode {raw!r} is not valid: use sim, paper or live") from None
        confirm_live = False
        if mode is Mode.LIVE:
            # Before anything is built: no connection, no order, unless the user types LIVE.
            theme.apply(app, config.current.app.theme)
            if LiveModeDialog().exec() != QDialog.DialogCode.Accepted:
                sys.stderr.write(
                    "workstation: live trading was not confirmed; nothing was connected\n"
                )
                return 1
            confirm_live = True
        import qasync

        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        try:
            with loop:
                return loop.run_until_complete(self.main(paths, config, mode, confirm_live))
        finally:
            asyncio.set_event_loop(None)

    async def build(self, ctx: Context, mode: Mode, confirm_live: bool, bus: EventBus) -> Engines:
        from workstation.core.gc_tuning import freeze_startup_heap
        from workstation.engine.assembly import assemble_sim, build_alpaca, sim_parts
        from workstation.engine.views import Mode

        if mode is Mode.SIM:
            parts = await asyncio.to_thread(lambda: sim_parts(ctx, speed=self.speed))
            engines = assemble_sim(ctx, parts, bus=bus)
        else:
            engines = await build_alpaca(ctx, mode, confirm_live=confirm_live, bus=bus)
        freeze_startup_heap()  # no full-GC pauses of the Qt loop from the start-up heap
        return engines

    def open_window(self, paths: Paths, config: ConfigManager, mode: Mode) -> MainWindow:
        """The window, shown at once on an engine proxy (the engines come later)."""
        from workstation.core.events import EventBus
        from workstation.engine.proxy import EngineProxy
        from workstation.ui.dialogs.settings import KeyringStore
        from workstation.ui.main_window import MainWindow
        from workstation.ui.optimize.launch import OptimizeLaunch
        from workstation.ui.research.launch import BacktestLaunch

        proxy = EngineProxy(EventBus(), mode)
        self.proxy = proxy
        win = MainWindow(
            proxy,  # type: ignore[arg-type]
            config,
            settings=self.settings or ui_settings(paths, home_given(self.args)),
            paths=paths,
            shutdown=proxy.shutdown,
            secrets=self.secrets if self.secrets is not None else KeyringStore(),
            restore_clock=self.speed is None,
        )
        attach_reconciliation(win, proxy)  # type: ignore[arg-type]
        attach_store_problem(win)
        args = self.args
        market = getattr(args, "market", None) or config.current.app.market
        launch = BacktestLaunch(
            paths, market, getattr(args, "seed", None), getattr(args, "universe", None)
        )
        attach_research(win, launch)
        attach_optimize(
            win,
            OptimizeLaunch(
                paths, market, getattr(args, "seed", None), getattr(args, "universe", None)
            ),
        )
        self.window = win
        closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = closed
        watch_close(win, lambda: closed.done() or closed.set_result(None))
        win.show()
        self.shown_after = time.perf_counter() - self.t0
        return win

    async def start_engines(
        self, paths: Paths, config: ConfigManager, mode: Mode, confirm_live: bool
    ) -> Engines | None:
        """Build the engines (the slow parts off the loop), hand the window over to them.
        None when the window was closed meanwhile (the engines are then stopped again)."""
        from workstation.errors import UserError

        proxy, win = self.proxy, self.window
        assert proxy is not None and win is not None
        try:
            ctx = await asyncio.to_thread(context_for, self.args, paths, config)
            engines = await self.build(ctx, mode, confirm_live, proxy.events)
        except (UserError, OSError) as exc:
            proxy.fail(f"the engines could not start: {exc}")
            win.show_message(f"The engines could not start: {exc}", "error")
            raise
        self.engines = engines
        if proxy.closing:  # the window was closed while the engines were being built
            await engines.facade.shutdown()
            return None
        proxy.attach(engines.facade)
        win.set_evidence(evidence_service(ctx))
        self.ready_after = time.perf_counter() - self.t0
        engines.facade.log(
            "INFO",
            f"workstation started ({mode} mode, {engines.market.name} market, home "
            f"{paths.data_dir.parent}); window shown after {self.shown_after:.2f} s, "
            f"engines ready after {self.ready_after:.2f} s",
        )
        for note in config.notes:  # what the files leave to the defaults or switch off
            engines.facade.log("WARNING", f"configuration: {note}")
        if self.took_over is not None:
            from workstation.instance import took_over_message

            engines.facade.log("WARNING", took_over_message(self.took_over))
        for name in ("candidates", "positions"):
            table = win.panels[name].table
            if table.current_row() is None and table.proxy.rowCount():
                table.select_row(0)
        return engines

    async def main(
        self, paths: Paths, config: ConfigManager, mode: Mode, confirm_live: bool
    ) -> int:
        from workstation.errors import UserError

        win = self.open_window(paths, config, mode)
        assert self.closed is not None
        with _interrupts(win):
            try:
                engines = await self.start_engines(paths, config, mode, confirm_live)
            except (UserError, OSError):
                await self.closed  # the message is in the window until the user closes it
                raise
            if engines is None:
                return 0
            self.start_alerts(engines)
            engines.facade.start()
            await self.closed
        await engines.facade.shutdown()  # idempotent: the window's hook already ran it
        await self.stop_alerts()
        return 0

    def start_alerts(self, engines: Engines) -> None:
        """Alerts from the engines' events to the tray and (with URLs) the channels; the
        settings dialog's new channels take effect at once."""
        from workstation.engine.views import Mode
        from workstation.health.heartbeat import FILE_NAME, Heartbeat
        from workstation.notify.service import start_notifications

        ctx = engines.ctx
        self.heartbeat = Heartbeat(
            ctx.paths.data_dir / FILE_NAME,
            engines.bus,
            engines.clock.now,
            mode=str(engines.mode),
            market=ctx.market_spec,
        ).start()
        self.notifications = start_notifications(
            engines.bus,
            lambda: ctx.cfg,
            ctx.calendar,
            ctx.paths.data_dir,
            real_broker=engines.mode in (Mode.PAPER, Mode.LIVE),
            clock_now=engines.clock.now,
            store=engines.store,  # the alerts a killed run recorded but never queued
        )
        if self.window is not None:
            self.window.settings_saved.connect(lambda _files: self._reload_channels(ctx))

    def _reload_channels(self, ctx: Context) -> None:
        from workstation.notify.service import stop_sender
        from workstation.notify.urls import load_urls

        notes = self.notifications
        if notes is None:
            return
        urls = load_urls()
        if urls.urls == notes.urls.urls:
            return
        old = notes.use_channels(urls, lambda: ctx.cfg)
        if old is not None:  # its thread may sit in a send: stopped off the Qt thread
            asyncio.get_running_loop().run_in_executor(None, stop_sender, old, 2.0)

    async def stop_alerts(self) -> None:
        beat, self.heartbeat = self.heartbeat, None
        if beat is not None:
            beat.stop()
        notes, self.notifications = self.notifications, None
        if notes is not None:
            await asyncio.to_thread(notes.stop, 5.0)


@contextlib.contextmanager
def _interrupts(win: MainWindow) -> Any:
    """Ctrl-C / SIGTERM close the window (a clean quit), instead of killing the loop."""
    from PySide6.QtCore import QTimer

    previous: dict[int, Any] = {}

    def handler(_sig: int, _frame: object) -> None:
        QTimer.singleShot(0, win.close_now)

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, OSError):
            previous[sig] = signal.signal(sig, handler)
    # Python runs signal handlers between bytecodes: wake it now and then while Qt waits.
    tick = QTimer()
    tick.setInterval(250)
    tick.timeout.connect(lambda: None)
    tick.start()
    try:
        yield
    finally:
        tick.stop()
        for sig, old in previous.items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, old)


def run_app(args: argparse.Namespace, *, t0: float | None = None) -> int:
    """``workstation``: open the window (one line on stderr and exit 1 if Qt cannot)."""
    problem = qt_problem()
    if problem:
        sys.stderr.write(no_window_message(problem) + "\n")
        return 1
    return DesktopApp(args, t0=t0).run()


__all__ = [
    "DesktopApp",
    "attach_reconciliation",
    "display_problem",
    "make_window",
    "no_window_message",
    "open_reconcile",
    "qt_problem",
    "run_app",
    "ui_settings",
    "watch_close",
]
