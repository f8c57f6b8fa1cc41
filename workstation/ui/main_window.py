"""The workstation's main window: dock panels, menus, themes, notifications, clean quit.

The window knows the engines only through :class:`~workstation.engine.api.EngineAPI`.
Engine events reach it through the :class:`~workstation.ui.bridge.EventBridge` (on the
GUI thread, with high-rate traffic coalesced); panels re-fetch only the views named in
``ViewsChanged``.

Layout and sizes are saved to ``QSettings`` on close and restored on start. Tests (and
``--home``) pass their own ``QSettings(path, QSettings.IniFormat)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import platform
from collections.abc import Awaitable, Callable
from importlib import metadata
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDockWidget,
    QMainWindow,
    QMessageBox,
    QStyle,
    QSystemTrayIcon,
    QTabBar,
    QWidget,
)

from workstation import __version__
from workstation.core.config import RankingConfig
from workstation.core.config_files import ConfigManager
from workstation.core.events import (
    ClockChanged,
    ConfigRejected,
    ConfigReloaded,
    Event,
    LogEvent,
    OrderFilled,
    ScanFailed,
    ScanFinished,
)
from workstation.core.paths import Paths
from workstation.engine.api import CommandRefused, ConfirmationNeeded, EngineAPI
from workstation.engine.event_log import carried_text
from workstation.engine.views import ViewName
from workstation.ui import theme
from workstation.ui.alert_tray import AlertTray
from workstation.ui.bridge import EventBridge
from workstation.ui.chart_data import ChartConfig
from workstation.ui.dialogs.confirm import (
    FlattenAllDialog,
    KillSwitchDialog,
    LiveModeDialog,
    QuitDialog,
    ReleaseKillSwitchDialog,
    RescanDialog,
)
from workstation.ui.dialogs.help import ShortcutsDialog, UserGuideDialog, shortcut_rows
from workstation.ui.dialogs.params import ParameterEditor
from workstation.ui.dialogs.settings import SecretStore, SettingsDialog
from workstation.ui.dock_scroll import DockScroll
from workstation.ui.evidence.panel import EvidencePanel
from workstation.ui.panels.base import Panel
from workstation.ui.panels.candidates import APPROVE_KEY, UNDO_KEY, VETO_KEY, CandidatesPanel
from workstation.ui.panels.chart import ChartPanel
from workstation.ui.panels.gaps import GapsPanel
from workstation.ui.panels.journal import JournalPanel
from workstation.ui.panels.log import LogPanel
from workstation.ui.panels.mfe_mae import MfeMaePanel
from workstation.ui.panels.orders import OrdersPanel
from workstation.ui.panels.performance import PerformancePanel
from workstation.ui.panels.positions import PositionsPanel
from workstation.ui.panels.regime import RegimePanel
from workstation.ui.panels.risk import RiskPanel
from workstation.ui.panels.status import StatusPanel
from workstation.ui.selection import SymbolSelection

log = logging.getLogger(__name__)

ORG_NAME = "AutoTrader"
APP_NAME = "AutoTrader Workstation"
LAYOUT_VERSION = 4  # bump when the docks change: an old saved layout is then ignored
#: The panels whose tables share the selected symbol (and the chart that follows it).
SHARED_SELECTION = ("candidates", "gaps", "positions", "orders", "journal", "risk")
SHUTDOWN_TIMEOUT_S = 10.0
SCAN_REVIEW_KEY = "sim/pause_at_scan"
CLOCK_SPEED_KEY = "sim/speed"  # the simulated clock's speed and pause, restored on relaunch
CLOCK_PAUSED_KEY = "sim/paused"


def versions() -> dict[str, str]:
    """Versions shown in the About box."""
    import pyqtgraph
    import PySide6
    from PySide6.QtCore import qVersion

    def dist(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "AutoTrader Workstation": __version__,
        "Python": platform.python_version(),
        "Qt": qVersion(),
        "PySide6": PySide6.__version__,
        "pyqtgraph": pyqtgraph.__version__,
        "alpaca-py": dist("alpaca-py"),
    }


class MainWindow(QMainWindow):
    #: The settings dialog saved (the file names; the keyring may have changed too).
    settings_saved = Signal(list)

    def __init__(
        self,
        engine: EngineAPI,
        config: ConfigManager | None = None,
        *,
        settings: QSettings | None = None,
        paths: Paths | None = None,
        shutdown: Callable[[], Awaitable[None] | None] | None = None,
        secrets: SecretStore | None = None,
        theme_name: str | None = None,
        restore_clock: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.engine = engine
        self.config = config
        self.paths = paths
        self.secrets = secrets
        self.settings = settings or QSettings(ORG_NAME, APP_NAME)
        self._shutdown_hook = shutdown or engine.shutdown
        self._shutdown_state = "running"  # running -> stopping -> stopped
        self.setWindowTitle(f"{APP_NAME} {__version__}")
        self.setObjectName("mainWindow")
        self.setDockNestingEnabled(True)
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks
            | QMainWindow.DockOption.AllowNestedDocks
            | QMainWindow.DockOption.AllowTabbedDocks
        )

        name = (
            theme_name
            or str(self.settings.value("ui/theme", ""))
            or (config.current.app.theme if config is not None else "dark")
        )
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.apply(app, name)

        #: The backtester's evidence (track records, previews, drift, edge): set once the
        #: engines run (:meth:`set_evidence`).
        self.evidence: Any = None
        self.bridge = EventBridge(engine.events, parent=self)
        self.selection = SymbolSelection(self)
        self.panels: dict[str, Panel] = {}
        self.docks: dict[str, QDockWidget] = {}
        self._build_panels()
        self._build_menus()
        self._default_layout()
        self._default_state = self.saveState(LAYOUT_VERSION)
        self._size_docks_when_shown = not self.restore_layout()

        self.bridge.event.connect(self._on_event)
        self.bridge.views_changed.connect(self._on_views_changed)
        self.bridge.quotes.connect(self._on_quotes)
        self.tray = self._make_tray()
        self.alerts = AlertTray(self)  # the same alerts as the notification channels
        self._kill_seen = engine.status().kill_switch
        self._review_seen = ""
        self.force_close = False  # the quit was asked already, or nobody is there to ask
        self.guide: UserGuideDialog | None = None
        self._apply_scan_review()
        if restore_clock:  # not when the clock's speed was given (--speed, the self-test)
            self._restore_clock()
        self.statusBar().showMessage("Ready", 3000)

    # --------------------------------------------------------------- panels
    def _ranking(self) -> RankingConfig:
        return self.config.current.scanner.ranking if self.config else RankingConfig()

    def _chart_config(self) -> ChartConfig:
        return ChartConfig.of(self.config.current) if self.config else ChartConfig()

    def _build_panels(self) -> None:
        e = self.engine
        panels: list[Panel] = [
            StatusPanel(e),
            CandidatesPanel(e, ranking=self._ranking, chart_config=self._chart_config),
            GapsPanel(e),
            OrdersPanel(e),
            PositionsPanel(e),
            ChartPanel(e, chart_config=self._chart_config, selection=self.selection),
            RiskPanel(e),
            RegimePanel(e, chart_config=self._chart_config),
            MfeMaePanel(e),
            JournalPanel(e),
            PerformancePanel(e),
            EvidencePanel(e),
            LogPanel(e),
        ]
        for p in panels:
            dock = QDockWidget(p.TITLE, self)
            dock.setObjectName(f"{p.OBJECT_NAME}Dock")
            # The status strip's height is its own (it wraps to the width); any other panel
            # may be shorter than its minimum in a short window: it scrolls.
            dock.setWidget(p if isinstance(p, StatusPanel) else DockScroll(p))
            dock.setFeatures(
                QDockWidget.DockWidgetFeature.DockWidgetMovable
                | QDockWidget.DockWidgetFeature.DockWidgetClosable
                | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            )
            p.message.connect(self.show_message)
            if hasattr(p, "exec_dialog"):  # the panel's confirmations go through the window's
                p.exec_dialog = lambda d: self.exec_dialog(d)  # type: ignore[attr-defined]
            self.panels[p.OBJECT_NAME] = p
            self.docks[p.OBJECT_NAME] = dock
        for name in SHARED_SELECTION:
            self._share_selection(self.panels[name])

    def _share_selection(self, panel: Panel) -> None:
        """A row selected in ``panel`` selects its symbol everywhere; a symbol selected
        elsewhere selects ``panel``'s row of it (when it has one)."""
        table = panel.table  # type: ignore[attr-defined]
        name = panel.OBJECT_NAME

        def chosen(row: object) -> None:
            symbol = getattr(row, "symbol", None)
            if symbol:
                self.selection.select(symbol, name)

        def follow(symbol: str, source: str) -> None:
            if source != name:
                table.select_where(lambda r: getattr(r, "symbol", None) == symbol)

        table.row_selected.connect(chosen)
        self.selection.changed.connect(follow)
        if not self.selection.symbol:  # the first table's current row starts the selection
            chosen(table.current_row())
        else:
            follow(self.selection.symbol, self.selection.source)

    def panel(self, name: str) -> Any:
        return self.panels[name]

    def set_evidence(self, service: Any) -> None:
        """The :class:`~workstation.research.evidence.service.EvidenceService` of the running
        engines: the candidates' track records, the drift and edge panel, the parameter
        editor's change preview."""
        self.evidence = service
        for name in ("candidates", "evidence"):
            self.panels[name].set_evidence(service)

    def _default_layout(self) -> None:
        d = self.docks
        top, left, right, bottom = (
            Qt.DockWidgetArea.TopDockWidgetArea,
            Qt.DockWidgetArea.LeftDockWidgetArea,
            Qt.DockWidgetArea.RightDockWidgetArea,
            Qt.DockWidgetArea.BottomDockWidgetArea,
        )
        for dock in d.values():
            dock.setFloating(False)
            dock.show()
        self.addDockWidget(top, d["status"])
        self.addDockWidget(left, d["candidates"])
        self.addDockWidget(right, d["positions"])
        self.splitDockWidget(d["candidates"], d["positions"], Qt.Orientation.Horizontal)
        self.tabifyDockWidget(d["candidates"], d["gaps"])
        self.tabifyDockWidget(d["candidates"], d["regime"])
        self.tabifyDockWidget(d["positions"], d["orders"])
        self.tabifyDockWidget(d["positions"], d["chart"])
        self.tabifyDockWidget(d["positions"], d["risk"])
        self.addDockWidget(bottom, d["journal"])
        self.tabifyDockWidget(d["journal"], d["performance"])
        self.tabifyDockWidget(d["journal"], d["mfe_mae"])
        self.tabifyDockWidget(d["journal"], d["evidence"])
        self.tabifyDockWidget(d["journal"], d["log"])
        d["candidates"].raise_()
        d["positions"].raise_()
        d["journal"].raise_()
        self.resize(1600, 1000)
        self.size_docks()

    def size_docks(self) -> None:
        """The default split of the window between the dock groups, for its size now: under
        the status strip, 74% of the height to the candidates' and the positions' groups,
        the rest to the journal's; the width 52:48 between candidates and positions. (Done
        again once the window shows: before, the docks have no geometry to share.)"""
        d = self.docks
        v, h = Qt.Orientation.Vertical, Qt.Orientation.Horizontal
        rest = self.height() - self.menuBar().sizeHint().height() - d["status"].height()
        rest -= self.statusBar().sizeHint().height()
        top = int(rest * 0.74)
        self.resizeDocks([d["candidates"], d["journal"]], [top, max(0, rest - top)], v)
        left = int(self.width() * 0.52)
        self.resizeDocks([d["candidates"], d["positions"]], [left, self.width() - left], h)

    def reset_layout(self) -> None:
        self.restoreState(self._default_state, LAYOUT_VERSION)
        for dock in self.docks.values():
            dock.show()
        QTimer.singleShot(0, self._hide_stale_tab_bars)
        QTimer.singleShot(0, self.size_docks)

    def _hide_stale_tab_bars(self) -> None:
        """Hide the tab bars Qt leaves behind (a two-dock group's bar stays, unhidden, when a
        third dock joins it before the window is shown, or after a state is restored): they
        show wherever no dock covers them, and a click on one switches nothing. The bar in
        use follows its group: raising another dock of the group moves its current tab; a
        left-over bar does not."""
        docks = {d.windowTitle(): d for d in self.docks.values()}
        for bar in self.findChildren(QTabBar):
            if bar.parent() is not self or bar.isHidden() or bar.count() < 2:
                continue
            current = bar.tabText(bar.currentIndex())
            other = bar.tabText((bar.currentIndex() + 1) % bar.count())
            if current not in docks or other not in docks:
                continue
            docks[other].raise_()
            follows = bar.tabText(bar.currentIndex()) == other
            docks[current].raise_()
            if not follows:
                bar.hide()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, self._hide_stale_tab_bars)  # once the docks are laid out
        if self._size_docks_when_shown:  # no saved layout: the default one, for this size
            self._size_docks_when_shown = False
            QTimer.singleShot(0, self.size_docks)  # once the docks have their geometry

    # ------------------------------------------------------------- settings
    def restore_layout(self) -> bool:
        geo = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        ok = False
        if isinstance(geo, QByteArray | bytes) and geo:
            self.restoreGeometry(QByteArray(geo))
        if isinstance(state, QByteArray | bytes) and state:
            ok = self.restoreState(QByteArray(state), LAYOUT_VERSION)
        return ok

    def save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState(LAYOUT_VERSION))
        self.settings.setValue("ui/theme", theme.current().name)
        self.settings.sync()

    def _apply_scan_review(self) -> None:
        """The pause at each nightly scan: on unless the user turned it off (remembered)."""
        status = self.panels["status"]
        on = str(self.settings.value(SCAN_REVIEW_KEY, "true")).lower() in ("true", "1")
        # The engine starts with it off; the proxy keeps it until the engines are attached.
        status.command("Pause at each nightly scan", self.engine.set_scan_review, on)
        status.refresh()
        status.review_box.toggled.connect(
            lambda v: self.settings.setValue(SCAN_REVIEW_KEY, bool(v))
        )

    def _restore_clock(self) -> None:
        """The clock's speed and pause as they were when the app was last closed (sim)."""
        speed = self.settings.value(CLOCK_SPEED_KEY)
        if speed is None:
            return
        try:
            value = float(str(speed))
        except ValueError:
            return
        paused = str(self.settings.value(CLOCK_PAUSED_KEY, "false")).lower() in ("true", "1")
        status = self.panels["status"]
        status.command("Clock speed", self.engine.set_speed, value)
        status.command(
            "Pause" if paused else "Resume", self.engine.pause if paused else self.engine.resume
        )

    def _remember_clock(self, ev: ClockChanged) -> None:
        if not self.engine.status().clock_adjustable:
            return
        self.settings.setValue(CLOCK_SPEED_KEY, str(ev.speed))
        self.settings.setValue(CLOCK_PAUSED_KEY, bool(ev.paused))

    # ---------------------------------------------------------------- menus
    def _action(
        self,
        text: str,
        slot: Callable[[], Any],
        shortcut: QKeySequence | str | None = None,
        tip: str = "",
    ) -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        if tip:
            a.setToolTip(tip)
            a.setStatusTip(tip)
        a.triggered.connect(lambda _=False: slot())
        return a

    def _build_menus(self) -> None:
        mb = self.menuBar()
        file = mb.addMenu("&File")
        self.export_journal_action = self._action(
            "Export journal as CSV...",
            self.panels["journal"].table.export_action.trigger,
            tip="Save the journal rows shown as a CSV file",
        )
        file.addAction(self.export_journal_action)
        file.addSeparator()
        # Ctrl+Q (Cmd+Q on macOS): the platform's StandardKey.Quit is empty on some desktops.
        self.quit_action = self._action("&Quit", self.quit_asking, "Ctrl+Q")
        file.addAction(self.quit_action)

        view = mb.addMenu("&View")
        for name, dock in self.docks.items():
            a = dock.toggleViewAction()
            a.setToolTip(f"Show or hide the {self.panels[name].TITLE} panel")
            view.addAction(a)
        view.addSeparator()
        view.addAction(self._action("Reset layout", self.reset_layout, tip="The default docks"))
        theme_menu = view.addMenu("Theme")
        group = QActionGroup(self)
        self.theme_actions: dict[str, QAction] = {}
        for name in theme.THEMES:
            a = QAction(name.capitalize(), self, checkable=True)
            a.setChecked(name == theme.current().name)
            a.triggered.connect(lambda _=False, n=name: self.set_theme(n))
            group.addAction(a)
            theme_menu.addAction(a)
            self.theme_actions[name] = a

        trading = mb.addMenu("&Trading")
        # The decision keys live on the candidates panel (active only while it has the
        # focus); the menu shows them as hints and acts on the panel's selection.
        cand = self.panels["candidates"]
        self.approve_action = self._action(
            f"Approve selected candidates\t{APPROVE_KEY}", cand.approve_selected
        )
        self.veto_action = self._action(f"Veto selected candidates\t{VETO_KEY}", cand.veto_selected)
        self.undo_action = self._action(
            f"Put selected back to pending\t{UNDO_KEY}",
            cand.undo_selected,
            tip="Undo an approval or veto (until the candidate's entry time)",
        )
        trading.addAction(self.approve_action)
        trading.addAction(self.veto_action)
        trading.addAction(self.undo_action)
        trading.addSeparator()
        # F2 and Delete live on the positions table (active only while it has the focus).
        positions = self.panels["positions"]
        self.move_levels_action = self._action(
            "Move stop / target...\tF2", positions.move_levels_selected
        )
        self.close_position_action = self._action(
            "Close position...\tDel", positions.close_selected
        )
        trading.addAction(self.move_levels_action)
        trading.addAction(self.close_position_action)
        trading.addSeparator()
        self.kill_action = self._action(
            "Kill switch...",
            self.toggle_kill_switch,
            "Ctrl+Shift+K",
            "Engage (or release) the kill switch: no new entries this session",
        )
        self.flatten_action = self._action(
            "Flatten all positions...",
            self.flatten_all,
            "Ctrl+Shift+F",
            "Close every position at market",
        )
        trading.addAction(self.kill_action)
        trading.addAction(self.flatten_action)
        trading.addSeparator()
        self.scan_action = self._action(
            "Run scan now",
            self.run_scan_now,
            "Ctrl+R",
            "Scan the last completed session now",
        )
        trading.addAction(self.scan_action)
        trading.addSeparator()
        status = self.panels["status"]
        self.pause_action = self._action(
            "Pause / resume clock", status._toggle_pause, "Ctrl+Space", "Simulation only"
        )
        self.jump_action = self._action(
            "Jump to next step",
            lambda: status.command("Jump to next step", self.engine.jump_to_next),
            "Ctrl+J",
            "Simulation only: fast-forward to the next scheduled step",
        )
        trading.addAction(self.pause_action)
        trading.addAction(self.jump_action)

        tools = mb.addMenu("T&ools")
        self.params_action = self._action(
            "Parameters...", self.open_parameters, "Ctrl+,", "Edit the strategy/risk/schedule YAML"
        )
        self.settings_action = self._action(
            "Settings...", self.open_settings, tip="Mode, market, Alpaca keys, theme"
        )
        tools.addAction(self.params_action)
        tools.addAction(self.settings_action)
        self.params_action.setEnabled(self.config is not None)
        self.settings_action.setEnabled(self.config is not None)

        help_ = mb.addMenu("&Help")
        self.guide_action = self._action(
            "User guide",
            self.open_user_guide,
            QKeySequence.StandardKey.HelpContents,
            "The user guide, panel by panel, with the keys",
        )
        self.shortcuts_action = self._action(
            "Keyboard shortcuts...", self.show_shortcuts, "Ctrl+/", "Every key of the window"
        )
        help_.addAction(self.guide_action)
        help_.addAction(self.shortcuts_action)
        help_.addSeparator()
        help_.addAction(self._action("About...", self.about))

    # ------------------------------------------------------------ dialogs
    def exec_dialog(self, dialog: QDialog) -> int:
        """Run a modal dialog (tests replace this to drive the dialog)."""
        return dialog.exec()

    def _command(self, what: str, fn: Callable[[], None]) -> bool:
        try:
            fn()
        except CommandRefused as exc:
            self.show_message(f"{what} refused: {exc}", "error")
            return False
        return True

    def toggle_kill_switch(self) -> None:
        st = self.engine.status()
        if st.kill_switch:
            dlg: QDialog = ReleaseKillSwitchDialog(st.kill_reason, self)
            if self.exec_dialog(dlg) == QDialog.DialogCode.Accepted:
                self._command("Release kill switch", self.engine.release_kill_switch)
                self.panels["status"].refresh()
            return
        kd = KillSwitchDialog(self.engine.positions(), self)
        if self.exec_dialog(kd) != QDialog.DialogCode.Accepted:
            return
        if self._command("Kill switch", self.engine.engage_kill_switch):
            self.show_message("Kill switch engaged: no new entries this session", "warning")
        if kd.flatten_requested:
            self._command("Flatten all", self.engine.flatten_all)
        # Show the new state at once; the engine's ViewsChanged confirms it shortly after.
        for name in ("status", "positions", "orders"):
            self.panels[name].refresh()

    def flatten_all(self) -> None:
        positions = self.engine.positions()
        if not positions:
            self.show_message("There are no open positions to flatten", "info")
            return
        if self.exec_dialog(FlattenAllDialog(positions, self)) == QDialog.DialogCode.Accepted:
            if self._command("Flatten all", self.engine.flatten_all):
                self.show_message(f"Flattening {len(positions)} positions", "warning")
            for name in ("status", "positions", "orders"):
                self.panels[name].refresh()

    def run_scan_now(self) -> None:
        """Scan now; a re-run over decisions asks first (the engine's question)."""
        try:
            self.engine.run_scan_now()
        except ConfirmationNeeded as question:
            if self.exec_dialog(RescanDialog(str(question), self)) != QDialog.DialogCode.Accepted:
                self.show_message("Scan not re-run: the list and its decisions stay", "info")
                return
            if not self._command("Run scan", lambda: self.engine.run_scan_now(confirm=True)):
                return
        except CommandRefused as exc:
            self.show_message(f"Run scan refused: {exc}", "error")
            return
        self.show_message("Scan started", "info")

    def confirm_live(self) -> bool:
        return self.exec_dialog(LiveModeDialog(self)) == QDialog.DialogCode.Accepted

    def _params_saved(self, files: list[str]) -> None:
        self.show_message(f"Saved {', '.join(files)}; reloading parameters", "info")
        self._command("Reload parameters", self.engine.reload_params)

    def parameter_editor(self) -> ParameterEditor:
        assert self.config is not None
        return ParameterEditor(
            self.config,
            self,
            on_saved=self._params_saved,
            confirm_live=self.confirm_live,
            evidence=self.evidence,
        )

    def open_parameters(self) -> None:
        if self.config is not None:
            self.exec_dialog(self.parameter_editor())

    def settings_dialog(self) -> SettingsDialog:
        assert self.config is not None
        return SettingsDialog(
            self.config,
            self,
            paths=self.paths,
            secrets=self.secrets,
            confirm_live=self.confirm_live,
            on_theme=self.set_theme,
            theme_in_use=theme.current().name,
            on_saved=self._settings_saved,
        )

    def _settings_saved(self, files: list[str]) -> None:
        self.show_message("Settings saved; mode and market take effect at the next start", "info")
        self.settings_saved.emit(files)

    def open_settings(self) -> None:
        if self.config is not None:
            self.exec_dialog(self.settings_dialog())

    def about_text(self) -> str:
        rows = "".join(f"<tr><td>{k}</td><td><b>{v}</b></td></tr>" for k, v in versions().items())
        return (
            f"<h3>{APP_NAME}</h3><p>Nightly S&amp;P 500 scan, human approval, rule-based "
            f"entries and exits through Alpaca.</p><table cellpadding='2'>{rows}</table>"
        )

    def open_user_guide(self) -> UserGuideDialog:
        if self.guide is None:
            self.guide = UserGuideDialog(self)
        self.guide.show()
        self.guide.raise_()
        return self.guide

    def shortcut_rows(self) -> list[tuple[str, str]]:
        actions = [*self.findChildren(QAction)]
        for p in self.panels.values():
            actions += p.findChildren(QAction)
        return shortcut_rows(actions)

    def show_shortcuts(self) -> None:
        self.exec_dialog(ShortcutsDialog(self.shortcut_rows(), self))

    def about(self) -> None:
        box = QMessageBox(self)
        box.setWindowTitle(f"About {APP_NAME}")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(self.about_text())
        self.exec_dialog(box)

    # -------------------------------------------------------------- theme
    def set_theme(self, name: str) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.apply(app, name)
        for n, a in self.theme_actions.items():
            a.setChecked(n == name)
        for p in self.panels.values():
            p.apply_theme()
        self.settings.setValue("ui/theme", name)

    # -------------------------------------------------------------- events
    def refresh_all(self) -> None:
        for p in self.panels.values():
            p.refresh()

    def _on_views_changed(self, views: frozenset[ViewName]) -> None:
        for p in self.panels.values():
            p.on_views_changed(views)
        if ViewName.STATUS in views:
            self._check_kill_switch()

    def _on_quotes(self, prices: dict[str, float]) -> None:
        for p in self.panels.values():
            p.on_quotes(prices)

    def _on_event(self, ev: Event) -> None:
        for p in self.panels.values():
            p.on_event(ev)
        if isinstance(ev, ClockChanged):
            self._remember_clock(ev)
        if isinstance(ev, OrderFilled):
            o, f = ev.order, ev.fill
            self.notify(
                "Fill",
                f"{f.side.value.upper()} {f.qty} {f.symbol} @ {f.price:,.2f} "
                f"({o.request.intent.value})",
            )
        elif isinstance(ev, ScanFinished):
            self.show_message(
                f"Scan of {ev.session} finished: {len(ev.candidates)} candidates"
                + carried_text(ev.report or {}),
                "info",
            )
        elif isinstance(ev, ScanFailed):
            self.show_message(
                f"Scan of {ev.session} failed (try {ev.attempt}): {ev.error}",
                "error" if ev.final else "warning",
            )
        elif isinstance(ev, ConfigReloaded):
            self.show_message(f"Parameters in force: {ev.param_hash}", "info")
        elif isinstance(ev, ConfigRejected):
            self.show_message("Parameters refused: " + "; ".join(ev.errors), "error")

    def _check_kill_switch(self) -> None:
        st = self.engine.status()
        if st.kill_switch and not self._kill_seen:
            self.notify("Kill switch engaged", st.kill_reason or "no new entries this session")
        self._kill_seen = st.kill_switch
        if st.pause_reason and st.pause_reason != self._review_seen:
            self.notify("Clock paused", f"for your {st.pause_reason}")
            self.docks["candidates"].raise_()
        self._review_seen = st.pause_reason

    # ------------------------------------------------------- notifications
    def _make_tray(self) -> QSystemTrayIcon | None:
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return None
        icon = self.windowIcon()
        if icon.isNull():  # a tray entry without an icon is invisible (and Qt warns)
            icon = self.style().standardIcon(QStyle.StandardPixmap.SP_ComputerIcon)
        tray = QSystemTrayIcon(icon, self)
        tray.setToolTip(APP_NAME)
        tray.show()
        return tray

    def notify(self, title: str, text: str) -> None:
        """A tray notification (where the desktop has a tray) and a status-bar line."""
        if self.tray is not None:
            self.tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, 5000)
        self.show_message(f"{title}: {text}", "info")

    def show_message(self, text: str, level: str = "info") -> None:
        color = {"error": theme.hex_color("neg"), "warning": theme.hex_color("warn")}.get(level)
        self.statusBar().setStyleSheet(f"QStatusBar {{ color: {color}; }}" if color else "")
        self.statusBar().showMessage(text, 15000 if level == "error" else 8000)
        if level in ("error", "warning"):
            self.panels["log"].add(
                LogEvent(self.engine.status().now, level.upper(), "workstation", text)
            )

    # ------------------------------------------------------------- closing
    def closeEvent(self, event: QCloseEvent) -> None:
        """Save the layout, then stop the engines; the window closes once they stopped.

        The shutdown hook may return an awaitable: it runs as a task on the running
        (qasync) loop while the window stays open, bounded by a timeout, and the window
        then closes itself. Without a running loop the hook is run to completion here.
        """
        if self._shutdown_state == "stopped":
            for p in self.panels.values():
                p.stop_refreshing()  # the engines stop (or have stopped) without the window
            event.accept()
            return
        event.ignore()
        if self._shutdown_state == "stopping":
            return
        # The user's close (the title bar's button) asks like File > Quit; a close by the
        # program (Ctrl-C, the app's own shutdown) has nobody to ask.
        if event.spontaneous() and not self.force_close and not self.confirm_quit():
            return
        self._shutdown_state = "stopping"
        self.save_layout()
        if self.evidence is not None:  # the backtests the window started stop with it
            self.evidence.shutdown()
        for p in self.panels.values():
            timer = getattr(p, "timer", None)
            if timer is not None:
                timer.stop()
            p.stop_refreshing()
        self.bridge.close()
        try:
            result = self._shutdown_hook()
        except Exception:
            log.exception("engine shutdown failed")
            result = None
        if inspect.isawaitable(result):
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            if loop is not None:
                task = loop.create_task(_bounded(result))
                task.add_done_callback(lambda _t: self._finish_close())
                self.statusBar().showMessage("Stopping the engines...")
                return
            with contextlib.suppress(Exception):
                asyncio.new_event_loop().run_until_complete(_bounded(result))
        self._finish_close()

    def confirm_quit(self) -> bool:
        """Quitting while positions are managed asks first (nothing to ask otherwise)."""
        try:
            positions = self.engine.positions()
            simulated = self.engine.status().clock_adjustable
        except Exception:  # the engines failed: nothing is managed
            return True
        if not positions:
            return True
        ok = self.exec_dialog(QuitDialog(positions, simulated, self)) == QDialog.DialogCode.Accepted
        if not ok:
            self.show_message("Not quit: the positions stay managed", "info")
        return ok

    def quit_asking(self) -> None:
        """File > Quit: asks first while positions are managed."""
        if self.confirm_quit():
            self.close_now()

    def close_now(self) -> None:
        """Quit without asking (Ctrl-C, SIGTERM: nobody is there to answer)."""
        self.force_close = True
        self.close()

    def _finish_close(self) -> None:
        self._shutdown_state = "stopped"
        if self.tray is not None:
            self.tray.hide()
        QTimer.singleShot(0, self.close)


async def _bounded(aw: Awaitable[None]) -> None:
    try:
        await asyncio.wait_for(_as_coro(aw), SHUTDOWN_TIMEOUT_S)
    except TimeoutError:
        log.error("the engines did not stop within %.0f s; closing anyway", SHUTDOWN_TIMEOUT_S)
    except Exception:
        log.exception("engine shutdown failed")


async def _as_coro(aw: Awaitable[None]) -> None:
    await aw
