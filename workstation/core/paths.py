"""Where the user's configuration and data live.

``--home DIR`` or the ``WORKSTATION_HOME`` environment variable put both under one
folder (tests always do); otherwise the platform's user directories. The config
folder is seeded from the project's shipped ``config/`` on first run.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "autotrader-workstation"
HOME_ENV = "WORKSTATION_HOME"


def project_root() -> Path:
    """The source checkout (or the PyInstaller bundle's data folder)."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle)
    return Path(__file__).resolve().parents[2]


def shipped_config_dir() -> Path:
    return project_root() / "config"


def resources_dir() -> Path:
    return project_root() / "resources"


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path

    @property
    def db_path(self) -> Path:
        return self.data_dir / "workstation.db"

    @property
    def scans_dir(self) -> Path:
        return self.data_dir / "scans"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def home(self) -> Path:
        """The folder messages name: the ``--home`` folder when config and data share one,
        else the data folder (the store, the lock and the backups live there)."""
        parent = self.data_dir.parent
        return parent if self.config_dir.parent == parent else self.data_dir

    @property
    def config_history_dir(self) -> Path:
        return self.config_dir / "history"

    @staticmethod
    def resolve(home: str | os.PathLike[str] | None = None) -> Paths:
        home = home or os.environ.get(HOME_ENV) or None
        if home:
            root = Path(home).expanduser().resolve()
            return Paths(root / "config", root / "data")
        return Paths(
            Path(platformdirs.user_config_dir(APP_NAME)), Path(platformdirs.user_data_dir(APP_NAME))
        )

    def ensure(self) -> Paths:
        """Create the folders and seed missing config files from the shipped defaults."""
        for d in (self.config_dir, self.data_dir, self.scans_dir, self.logs_dir):
            d.mkdir(parents=True, exist_ok=True)
        shipped = shipped_config_dir()
        if shipped.is_dir():
            for src in sorted(shipped.glob("*.yaml")):
                dst = self.config_dir / src.name
                if not dst.exists():
                    shutil.copy2(src, dst)
        return self
