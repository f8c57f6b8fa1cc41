"""Settings: mode/market/theme to app.yaml (validated), keys to the keyring only."""

from __future__ import annotations

from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from tests.gui.conftest import MemorySecrets
from workstation.core.config_files import ConfigManager, load_config
from workstation.core.paths import Paths
from workstation.ui.dialogs.confirm import KillSwitchDialog
from workstation.ui.dialogs.settings import KEY_ID, SECRET, SettingsDialog, key_name

pytestmark = pytest.mark.gui


def make(qtbot: QtBot, manager: ConfigManager, paths: Paths, **kw: Any) -> SettingsDialog:
    d = SettingsDialog(manager, paths=paths, **kw)
    qtbot.addWidget(d)
    return d


def test_keys_go_to_the_keyring_and_nowhere_else(qtbot, manager, paths) -> None:
    secrets = MemorySecrets()
    d = make(qtbot, manager, paths, secrets=secrets)
    assert "no keys" in d.key_state.text()
    d.account.setCurrentText("paper")
    d.key_id.setText("PKTESTKEYID123")
    d.secret.setText("s3cr3t-value-xyz")
    before = {p.name: p.read_text() for p in paths.config_dir.glob("*.yaml")}
    assert d.save() is True
    assert secrets.values == {
        key_name("paper", KEY_ID): "PKTESTKEYID123",
        key_name("paper", SECRET): "s3cr3t-value-xyz",
    }
    assert d.key_id.text() == "" and d.secret.text() == ""  # never kept or shown again
    after = {p.name: p.read_text() for p in paths.config_dir.glob("*.yaml")}
    assert after == before  # no file was touched
    for p in [*paths.config_dir.rglob("*"), *paths.data_dir.rglob("*")]:
        if p.is_file():
            assert "s3cr3t-value-xyz" not in p.read_text(errors="ignore")


def test_theme_and_market_are_written_to_app_yaml(qtbot, manager, paths) -> None:
    themes: list[str] = []
    saved: list[list[str]] = []
    d = make(
        qtbot,
        manager,
        paths,
        secrets=MemorySecrets(),
        on_theme=themes.append,
        on_saved=saved.append,
    )
    d.theme.setCurrentText("light")
    d.market.setText("replay:/data/bars.parquet")
    assert d.save() is True
    cfg = load_config(paths.config_dir)
    assert cfg.app.theme == "light" and cfg.app.market == "replay:/data/bars.parquet"
    assert "# Mode and market." in (paths.config_dir / "app.yaml").read_text()  # comments kept
    assert themes == ["light"] and saved == [["app.yaml"]]


def test_bad_market_is_refused_with_its_message(qtbot, manager, paths) -> None:
    before = (paths.config_dir / "app.yaml").read_text()
    d = make(qtbot, manager, paths, secrets=MemorySecrets())
    d.market.setText("ftp://nowhere")
    assert d.save() is False
    assert "market = 'ftp://nowhere' is not valid" in d.error_box.text()
    assert (paths.config_dir / "app.yaml").read_text() == before


def test_live_mode_needs_the_typed_confirmation(qtbot, manager, paths) -> None:
    answers = [False, True]
    d = make(qtbot, manager, paths, secrets=MemorySecrets(), confirm_live=lambda: answers.pop(0))
    d.mode.setCurrentText("live")
    assert d.save() is False
    assert load_config(paths.config_dir).app.mode == "sim"
    assert d.save() is True
    assert load_config(paths.config_dir).app.mode == "live"


def test_kill_switch_dialog_without_positions(qtbot) -> None:
    d = KillSwitchDialog([])
    qtbot.addWidget(d)
    assert not d.flatten.isEnabled() and not d.flatten_requested


def test_keys_saved_by_the_dialog_are_the_keys_the_alpaca_adapter_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The dialog and workstation.alpaca.keys must agree on the keyring names."""
    import keyring

    from workstation.alpaca.keys import load_credentials
    from workstation.ui.dialogs.settings import KeyringStore

    stored: dict[tuple[str, str], str] = {}
    monkeypatch.setattr(keyring, "set_password", lambda s, u, p: stored.__setitem__((s, u), p))
    monkeypatch.setattr(keyring, "get_password", lambda s, u: stored.get((s, u)))
    store = KeyringStore()
    store.set(key_name("paper", KEY_ID), "PKDIALOG123456")
    store.set(key_name("paper", SECRET), "dialog-secret-value-000")
    creds = load_credentials("paper", env={})
    assert (creds.key_id, creds.secret_key, creds.source) == (
        "PKDIALOG123456",
        "dialog-secret-value-000",
        "keyring",
    )


def test_notification_urls_go_to_the_keyring_and_send_test_reaches_them(
    qtbot, manager, paths, monkeypatch
) -> None:
    """Typed URLs are tested through apprise against local endpoints (the dialog stays
    responsive: the send runs off the Qt thread), saved to the keyring only, and the alert
    switches land in app.yaml."""
    from PySide6.QtCore import Qt

    from tests.sinks import json_sink, mail_sink
    from workstation.notify.urls import KEYRING_USER

    monkeypatch.delenv("WORKSTATION_NOTIFY_URLS", raising=False)
    secrets = MemorySecrets()
    d = make(qtbot, manager, paths, secrets=secrets)
    d.show()
    assert d.channels_state.text().startswith("No notification channels")
    with json_sink() as js, mail_sink() as ms:
        lines = [f"{js.url()}?+X-Token=t0k3n-in-url", ms.url()]
        urls = "\n".join(lines)
        d.notify_urls.setFocus()
        qtbot.keyClicks(d.notify_urls, lines[0])
        qtbot.keyClick(d.notify_urls, Qt.Key.Key_Return)
        qtbot.keyClicks(d.notify_urls, lines[1])
        qtbot.mouseClick(d.send_test, Qt.MouseButton.LeftButton)
        assert not d.send_test.isEnabled()  # sending, in a worker thread
        qtbot.waitUntil(lambda: d.send_test.isEnabled(), timeout=15_000)
        assert d.test_result.text().count(": sent") == 2, d.test_result.text()
        assert "t0k3n" not in d.test_result.text()
        assert [m.title for m in js.messages] == ["AutoTrader Workstation: test notification"]
        assert ms.wait_for(1)
    gaps = d.alert_switches["gap_results"]
    qtbot.mouseClick(gaps, Qt.MouseButton.LeftButton)
    assert not gaps.isChecked()
    assert d.save() is True
    assert secrets.values == {KEYRING_USER: urls}
    assert d.notify_urls.toPlainText() == ""  # never kept in the widget
    cfg = load_config(paths.config_dir)
    assert cfg.app.notify.gap_results is False and cfg.app.notify.exits is True
    for p in [*paths.config_dir.rglob("*"), *paths.data_dir.rglob("*")]:
        if p.is_file():
            assert "t0k3n" not in p.read_text(errors="ignore")
    again = make(qtbot, manager, paths, secrets=secrets)
    assert again.channels_state.text().startswith("2 channel(s) stored: json://… #")
    assert "t0k3n" not in again.channels_state.text()


def test_a_url_apprise_does_not_understand_is_refused(qtbot, manager, paths) -> None:
    secrets = MemorySecrets()
    d = make(qtbot, manager, paths, secrets=secrets)
    d.notify_urls.setPlainText("nonsense://what")
    assert d.save() is False
    assert "is not a notification URL apprise understands" in d.error_box.text()
    assert secrets.values == {}
