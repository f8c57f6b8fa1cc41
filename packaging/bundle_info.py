"""``workstation --bundle-info``: what a built bundle holds and can load, as one JSON object.

A support and packaging check, answered without opening a window or touching the user's
files: the Python the bundle carries, the keyring backend it would use on this machine
(backends are found through entry points, the classic thing a frozen program loses), the
Qt platform plugins it ships, the shipped configuration files, the S&P 500 member list and
the time-zone database. Every probe reports its own error instead of failing the others.

The launcher answers it before the CLI parses its arguments; it works from the source tree
too (``python packaging/launcher.py --bundle-info``), which is how the tests compare the two.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

FLAG = "--bundle-info"


def _probe(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as exc:  # a probe that fails is information, not a crash
        return {"error": f"{type(exc).__name__}: {exc}"}


def _keyring() -> dict[str, Any]:
    import keyring
    import keyring.backend

    def name(cls: type) -> str:
        return f"{cls.__module__}.{cls.__qualname__}"

    chosen = keyring.get_keyring()  # loads the backends named by entry points
    return {
        "backend": name(type(chosen)),
        # every backend class found (Secret Service, KWallet, macOS, Windows, ...) and the
        # ones usable on this machine right now (Secret Service needs a D-Bus session)
        "discovered": sorted(name(c) for c in keyring.backend.KeyringBackend._classes),
        "viable": sorted(name(type(b)) for b in keyring.backend.get_all_keyring()),
        # the Secret Service backend (GNOME Keyring, KWallet) talks D-Bus through these
        "secret_service_libs": _importable("secretstorage", "jeepney", "cryptography"),
    }


def _importable(*modules: str) -> dict[str, bool]:
    import importlib

    found: dict[str, bool] = {}
    for module in modules:
        try:
            importlib.import_module(module)
            found[module] = True
        except ImportError:
            found[module] = False
    return found


def _qt_platforms() -> list[str]:
    from PySide6.QtCore import QLibraryInfo

    folder = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    names = (p.name for p in folder.iterdir() if p.is_file())
    # libqxcb.so / qxcb.dll / libqxcb.dylib -> xcb
    return sorted(n.split(".")[0].removeprefix("lib").removeprefix("q") for n in names)


def _config_files() -> list[str]:
    from workstation.core.paths import shipped_config_dir

    return sorted(p.name for p in shipped_config_dir().glob("*.yaml"))


def _sp500() -> int:
    from workstation.market.universe import sp500_universe

    return len(sp500_universe().symbols)


def _timezone() -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime(2026, 7, 1, 12, tzinfo=ZoneInfo("America/New_York")).strftime("%Z %z")


def _sqlite() -> str:
    import sqlite3

    return sqlite3.sqlite_version


def info() -> dict[str, Any]:
    from workstation import __version__

    return {
        "workstation": __version__,
        "frozen": bool(getattr(sys, "frozen", False)),
        "python": sys.version.split()[0],
        "bundle": getattr(sys, "_MEIPASS", None),
        "keyring": _probe(_keyring),
        "qt_platforms": _probe(_qt_platforms),
        "config_files": _probe(_config_files),
        "sp500_symbols": _probe(_sp500),
        "timezone": _probe(_timezone),
        "sqlite": _probe(_sqlite),
    }


def main() -> int:
    sys.stdout.write(json.dumps(info(), indent=2) + "\n")
    return 0
