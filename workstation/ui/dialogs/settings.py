"""Settings: market and mode, Alpaca keys (to the OS keyring, never shown again), notification
channels (apprise URLs, to the OS keyring too: they carry tokens) and which alerts go out,
folders, theme. Mode, market, theme and the alert switches are written to app.yaml (validated,
atomically); the keys and URLs go to the keyring only and are never written to a file, a log or
the database."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workstation.alpaca.keys import keyring_user
from workstation.core.config_files import ConfigError, ConfigManager
from workstation.core.paths import APP_NAME, Paths
from workstation.notify import messages
from workstation.notify.urls import ENV_URLS, KEYRING_USER, check_urls, mask_url, split_urls
from workstation.ui.yaml_edit import set_values

KEY_ID = "APCA_API_KEY_ID"
SECRET = "APCA_API_SECRET_KEY"


def key_name(account: str, name: str) -> str:
    """The keyring user name of one credential: paper and live keys are different keys.
    The same names the Alpaca adapter reads (workstation.alpaca.keys.keyring_user)."""
    return keyring_user(account, "key_id" if name == KEY_ID else "secret_key")


class SecretStore(Protocol):
    def has(self, name: str) -> bool: ...

    def set(self, name: str, value: str) -> None: ...

    def get(self, name: str) -> str | None: ...


#: The alert switches of app.yaml's ``notify:`` section, with their labels in the dialog.
ALERT_SWITCHES: tuple[tuple[str, str], ...] = (
    ("scan_ready", "Scan ready (top 12, approve-by time)"),
    ("scan_failed", "Scan failed"),
    ("gap_results", "Gap filter results"),
    ("entries", "Entries"),
    ("exits", "Exits (reason, P&&L, R)"),
    ("kill_switch", "Kill switch"),
    ("unprotected", "Position without protection"),
    ("connection", "Connection lost / restored"),
    ("reconciliation", "Reconciliation differences"),
    ("missed_steps", "Missed steps"),
    ("eod_summary", "End-of-day summary"),
)


class KeyringStore:
    """The OS keyring (service ``autotrader-workstation``)."""

    def __init__(self, service: str = APP_NAME) -> None:
        self.service = service

    def has(self, name: str) -> bool:
        try:
            import keyring

            return keyring.get_password(self.service, name) is not None
        except Exception:  # no keyring backend: nothing is stored
            return False

    def set(self, name: str, value: str) -> None:
        import keyring

        if value:
            keyring.set_password(self.service, name, value)
        elif self.has(name):
            keyring.delete_password(self.service, name)

    def get(self, name: str) -> str | None:
        try:
            import keyring

            return keyring.get_password(self.service, name)
        except Exception:  # no keyring backend: nothing is stored
            return None


class _TestResults(QObject):
    """Carries the results of "Send test" from its worker thread to the dialog."""

    done = Signal(list)


class SettingsDialog(QDialog):
    def __init__(
        self,
        manager: ConfigManager,
        parent: QWidget | None = None,
        *,
        paths: Paths | None = None,
        secrets: SecretStore | None = None,
        confirm_live: Callable[[], bool] | None = None,
        on_theme: Callable[[str], None] | None = None,
        on_saved: Callable[[list[str]], None] | None = None,
        theme_in_use: str | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self.manager = manager
        self.secrets = secrets or KeyringStore()
        self.confirm_live = confirm_live
        self.on_theme = on_theme
        self.on_saved = on_saved
        app = manager.current.app

        trading = QGroupBox("Market and mode")
        f = QFormLayout(trading)
        self.mode = QComboBox()
        self.mode.addItems(["sim", "paper", "live"])
        self.mode.setCurrentText(app.mode if app.mode in ("sim", "paper", "live") else "sim")
        self.mode.setToolTip(
            "sim: simulated broker; paper: Alpaca paper account; live: real money "
            "(asks you to type LIVE). Takes effect at the next start."
        )
        self.market = QLineEdit(app.market)
        self.market.setToolTip("sim, alpaca, or replay:PATH (a CSV or Parquet of daily bars)")
        f.addRow("Mode", self.mode)
        f.addRow("Market data", self.market)

        keys = QGroupBox("Alpaca API keys (stored in the OS keyring, never shown again)")
        k = QFormLayout(keys)
        self.account = QComboBox()
        self.account.addItems(["paper", "live"])
        self.account.currentTextChanged.connect(lambda _t: self._show_key_state())
        self.key_id = QLineEdit()
        self.key_id.setPlaceholderText("leave empty to keep the stored key")
        self.secret = QLineEdit()
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret.setPlaceholderText("leave empty to keep the stored secret")
        self.key_state = QLabel()
        self.key_state.setObjectName("muted")
        k.addRow("Account", self.account)
        k.addRow("Key id", self.key_id)
        k.addRow("Secret key", self.secret)
        k.addRow("", self.key_state)

        alerts = self._notifications_box(manager)

        look = QGroupBox("Appearance")
        a = QFormLayout(look)
        self.theme = QComboBox()
        self.theme.addItems(["dark", "light"])
        # The theme on screen (View > Theme may have changed it since app.yaml was written).
        self.theme_in_use = theme_in_use or app.theme
        self.theme.setCurrentText(self.theme_in_use)
        self.theme.setToolTip("The theme in use; saving also makes it app.yaml's default")
        a.addRow("Theme", self.theme)

        folders = QGroupBox("Folders")
        fl = QFormLayout(folders)
        p = paths or Paths(manager.config_dir, manager.config_dir.parent / "data")
        for label, path in (("Configuration", p.config_dir), ("Data", p.data_dir)):
            v = QLabel(str(path))
            v.setToolTip("Start with --home DIR (or WORKSTATION_HOME) to use another folder")
            fl.addRow(label, v)

        self.error_box = QLabel("")
        self.error_box.setObjectName("errorBox")
        self.error_box.setWordWrap(True)
        self.error_box.setVisible(False)
        box = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        box.accepted.connect(self.save)
        box.rejected.connect(self.reject)

        lay = QVBoxLayout(self)
        for w in (trading, keys, alerts, look, folders, self.error_box, box):
            lay.addWidget(w)
        self._show_key_state()
        self._show_channels()

    # ---------------------------------------------------------------- notifications
    def _notifications_box(self, manager: ConfigManager) -> QGroupBox:
        box = QGroupBox("Notifications (apprise URLs, stored in the OS keyring, never shown again)")
        box.setObjectName("notificationsBox")
        v = QVBoxLayout(box)
        self.channels_state = QLabel()
        self.channels_state.setObjectName("muted")
        self.channels_state.setWordWrap(True)
        self.notify_urls = QPlainTextEdit()
        self.notify_urls.setObjectName("notifyUrls")
        self.notify_urls.setPlaceholderText(
            "One apprise URL per line, e.g. tgram://bot-token/chat-id, "
            "discord://webhook-id/token, mailto://user:pass@smtp.example.com?to=me@example.com, "
            "ntfy://topic. Leave empty to keep the stored channels."
        )
        self.notify_urls.setFixedHeight(64)
        self.notify_urls.setToolTip(
            "Replaces the stored channels when you save. Each URL carries its channel's token: "
            "it goes to the OS keyring only (or set " + ENV_URLS + " in the environment)."
        )
        self.clear_urls = QCheckBox("Remove the stored channels")
        buttons = QHBoxLayout()
        self.send_test = QPushButton("Send test")
        self.send_test.setObjectName("sendTest")
        self.send_test.setToolTip(
            "Send a test message to the URLs typed above, or else to the stored channels"
        )
        self.send_test.clicked.connect(self.start_test)
        self.test_result = QLabel("")
        self.test_result.setObjectName("testResult")
        self.test_result.setWordWrap(True)
        buttons.addWidget(self.send_test)
        buttons.addWidget(self.test_result, 1)
        grid = QGridLayout()
        notify = manager.current.app.notify
        self.alert_switches: dict[str, QCheckBox] = {}
        for i, (name, label) in enumerate(ALERT_SWITCHES):
            cb = QCheckBox(label)
            cb.setObjectName(f"alert_{name}")
            cb.setChecked(notify.enabled(name))
            cb.setToolTip(f"app.yaml: notify.{name}")
            self.alert_switches[name] = cb
            grid.addWidget(cb, i // 3, i % 3)
        v.addWidget(self.channels_state)
        v.addWidget(self.notify_urls)
        v.addWidget(self.clear_urls)
        v.addLayout(buttons)
        v.addLayout(grid)
        self._results = _TestResults(self)
        self._results.done.connect(self._test_done)
        self.test_thread: threading.Thread | None = None
        return box

    def _stored_urls(self) -> tuple[str, ...]:
        getter = getattr(self.secrets, "get", None)
        raw = getter(KEYRING_USER) if callable(getter) else None
        return split_urls(raw or "")

    def _show_channels(self) -> None:
        env = split_urls(os.environ.get(ENV_URLS, ""))
        stored = self._stored_urls()
        if env:
            text = (
                f"{len(env)} channel(s) from the environment ({ENV_URLS}), which wins over "
                f"the keyring: {', '.join(mask_url(u) for u in env)}"
            )
        elif stored:
            text = f"{len(stored)} channel(s) stored: {', '.join(mask_url(u) for u in stored)}"
        else:
            text = "No notification channels: alerts show in the window only."
        self.channels_state.setText(text)

    def _test_urls(self) -> tuple[str, ...]:
        typed = split_urls(self.notify_urls.toPlainText())
        if typed:
            return typed
        return split_urls(os.environ.get(ENV_URLS, "")) or self._stored_urls()

    def start_test(self) -> None:
        """Send a test message off the Qt thread; the result shows when it is back."""
        urls = self._test_urls()
        if not urls:
            self.test_result.setText("No URL to test: type one above.")
            return
        problems = check_urls(urls)
        if problems:
            self.test_result.setText(problems[0])
            return
        from workstation.notify.sender import send_now
        from workstation.notify.urls import NotifyUrls

        enabled = [n for n, cb in self.alert_switches.items() if cb.isChecked()]
        alert = messages.test_message(socket.gethostname(), enabled)
        timeout = self.manager.current.app.notify.timeout_s
        self.send_test.setEnabled(False)
        self.test_result.setText(f"Sending to {len(urls)} channel(s)...")

        def work() -> None:
            try:
                res = send_now(NotifyUrls(urls, "dialog"), alert.title, alert.body, "info", timeout)
            except Exception as exc:  # never leave the button disabled
                res = [("test", False, f"{type(exc).__name__}")]
            self._results.done.emit(res)

        self.test_thread = threading.Thread(target=work, name="send-test", daemon=True)
        self.test_thread.start()

    def _test_done(self, results: list[tuple[str, bool, str]]) -> None:
        self.send_test.setEnabled(True)
        self.test_result.setText(
            "; ".join(
                f"{name}: {'sent' if ok else 'FAILED (' + err + ')'}" for name, ok, err in results
            )
        )

    def _show_key_state(self) -> None:
        acct = self.account.currentText()
        have = [n for n in (KEY_ID, SECRET) if self.secrets.has(key_name(acct, n))]
        self.key_state.setText(
            f"{acct}: key id and secret stored"
            if len(have) == 2
            else f"{acct}: {'only the key id' if have == [KEY_ID] else 'no keys'} stored"
        )

    def save(self) -> bool:
        app = self.manager.current.app
        changes = {}
        if self.mode.currentText() != app.mode:
            changes[("mode",)] = self.mode.currentText()
        if self.market.text().strip() != app.market:
            changes[("market",)] = self.market.text().strip()
        if self.theme.currentText() != app.theme:
            changes[("theme",)] = self.theme.currentText()
        for name, cb in self.alert_switches.items():
            if cb.isChecked() != app.notify.enabled(name):
                changes[("notify", name)] = cb.isChecked()
        urls = split_urls(self.notify_urls.toPlainText())
        problems = check_urls(urls)
        if problems:
            self._error(problems[0])
            return False
        new_theme = self.theme.currentText() != self.theme_in_use
        if changes.get(("mode",)) == "live" and not (
            self.confirm_live is not None and self.confirm_live()
        ):
            self._error("Live mode was not confirmed; nothing was saved.")
            return False
        if changes:
            path = self.manager.config_dir / "app.yaml"
            old = path.read_text(encoding="utf-8") if path.exists() else ""
            try:
                self.manager.save("app.yaml", set_values(old, changes))
            except ConfigError as exc:
                self._error("\n".join(exc.errors))
                return False
            except OSError as exc:
                self._error(f"app.yaml could not be written: {exc}")
                return False
        acct = self.account.currentText()
        try:
            if self.key_id.text().strip():
                self.secrets.set(key_name(acct, KEY_ID), self.key_id.text().strip())
            if self.secret.text().strip():
                self.secrets.set(key_name(acct, SECRET), self.secret.text().strip())
        except Exception as exc:  # no keyring backend on this system
            self._error(
                f"The keys could not be stored in the OS keyring ({exc}). Set the "
                f"environment variables {KEY_ID} and {SECRET} instead."
            )
            return False
        finally:
            self.key_id.clear()
            self.secret.clear()  # never kept in the widget once handed over
        try:
            if urls:
                self.secrets.set(KEYRING_USER, "\n".join(urls))
            elif self.clear_urls.isChecked():
                self.secrets.set(KEYRING_USER, "")
        except Exception as exc:
            self._error(
                f"The notification URLs could not be stored in the OS keyring "
                f"({type(exc).__name__}). Set {ENV_URLS} in the environment instead."
            )
            return False
        finally:
            self.notify_urls.clear()  # never kept in the widget once handed over
        if new_theme and self.on_theme is not None:
            self.on_theme(self.theme.currentText())
        channels_changed = bool(urls) or self.clear_urls.isChecked()
        if (changes or channels_changed) and self.on_saved is not None:
            self.on_saved(["app.yaml"] if changes else [])
        self.accept()
        return True

    def _error(self, text: str) -> None:
        self.error_box.setText(text)
        self.error_box.setVisible(True)
