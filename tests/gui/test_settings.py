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
