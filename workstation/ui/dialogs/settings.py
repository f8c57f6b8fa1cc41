"""Settings: market and mode, Alpaca keys (to the OS keyring, never shown again), folders,
theme. Mode, market and theme are written to app.yaml (validated, atomically); the keys
go to the keyring only and are never written to a file, a log or the database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from workstation.alpaca.keys import keyring_user
from workstation.core.config_files import ConfigError, ConfigManager
from workstation.core.paths import APP_NAME, Paths
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

        keyring.set_password(self.service, name, value)


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

        look = QGroupBox("Appearance")
        a = QFormLayout(look)
        self.theme = QComboBox()
        self.theme.addItems(["dark", "light"])
        self.theme.setCurrentText(app.theme)
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
        for w in (trading, keys, look, folders, self.error_box, box):
            lay.addWidget(w)
        self._show_key_state()

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
        if ("theme",) in changes and self.on_theme is not None:
            self.on_theme(self.theme.currentText())
        if changes and self.on_saved is not None:
            self.on_saved(["app.yaml"])
        self.accept()
        return True

    def _error(self, text: str) -> None:
        self.error_box.setText(text)
        self.error_box.setVisible(True)
