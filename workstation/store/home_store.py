"""The home's store as the app and the commands open it, and its backups.

One place decides what opening the home's ``workstation.db`` may do: a store that is missing
while backups of it exist is NOT silently replaced by a new, empty one (it was deleted or
moved: restore it, or start afresh on purpose), and every problem is one line for the user.
"""

from __future__ import annotations

from pathlib import Path

from workstation.core.config import StoreConfig
from workstation.core.paths import Paths
from workstation.errors import UserError
from workstation.store.backups import Backups
from workstation.store.errors import StoreError
from workstation.store.store import Store

BACKUP_FOLDER = "backups"

#: Exit code of ``run --headless`` when its store became unusable while it ran.
EXIT_STORE_UNUSABLE = 4


def backup_folder(paths: Paths, cfg: StoreConfig) -> Path:
    if cfg.backup_dir:
        folder = Path(cfg.backup_dir).expanduser()
        return folder if folder.is_absolute() else paths.data_dir / folder
    return paths.data_dir / BACKUP_FOLDER


def home_backups(paths: Paths, cfg: StoreConfig) -> Backups:
    return Backups(backup_folder(paths, cfg), cfg.backups_kept)


def open_home_store(paths: Paths, cfg: StoreConfig) -> Store:
    """The home's store, or one UserError line (exit code 2) saying what to do."""
    db = paths.db_path
    if not db.exists():
        latest = home_backups(paths, cfg).latest()
        if latest is not None:
            raise UserError(
                f"the store {db} is missing, but its backups are in {latest.parent} (newest "
                f"{latest.name}): restore it with 'workstation store restore', or move the "
                "backups folder away to start a new, empty store",
                exit_code=2,
            )
    try:
        return Store.open(db)
    except StoreError as exc:
        raise UserError(str(exc), exit_code=2) from exc


def restore_advice(paths: Paths, cfg: StoreConfig, kind: str, rescued: Path | None = None) -> str:
    """What to do about a store that became unusable (see ``StoreUnusable.kind``);
    ``rescued``: the backup its open connection was saved to (nothing it held is lost)."""
    if rescued is not None:
        return (
            f"restore the backup {rescued.name}, which holds everything it had, with "
            "'workstation store restore', then start again"
        )
    if kind == "read_only":
        return "make it and its folder writable again, then start the workstation again"
    if kind == "disk_full":
        return "free some disk space, then start the workstation again"
    latest = home_backups(paths, cfg).latest()
    newest = f" (newest backup: {latest.name})" if latest else ""
    return f"restore it with 'workstation store restore'{newest}, then start again"


__all__ = [
    "BACKUP_FOLDER",
    "EXIT_STORE_UNUSABLE",
    "backup_folder",
    "home_backups",
    "open_home_store",
    "restore_advice",
]
