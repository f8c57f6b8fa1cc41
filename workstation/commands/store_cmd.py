"""``workstation store backups`` and ``workstation store restore [BACKUP]``.

``backups`` lists the store's backups (newest first) with what each holds; it reads only, so
it runs beside a running workstation. ``restore`` puts a backup in place of the store: it
holds the home while it works, so it refuses while a workstation runs on the home, and it
never deletes anything (the current store is moved aside first).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from workstation.context import command_line
from workstation.errors import UserError
from workstation.home import open_home
from workstation.instance import hold_home
from workstation.store.backups import BackupInfo, restore
from workstation.store.errors import StoreError
from workstation.store.home_store import home_backups


def register(sub: Any, global_options: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("store", help="the store's backups: list them, restore one")
    ssub = p.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    lst = ssub.add_parser(
        "backups",
        help="list the store's backups, newest first (runs beside a running workstation)",
    )
    global_options(lst)
    lst.set_defaults(handler=run_backups)
    res = ssub.add_parser(
        "restore",
        help="put a backup (default: the newest) in place of the store; the current store is "
        "kept aside, never deleted. Refused while a workstation runs on the home",
    )
    res.add_argument("backup", nargs="?", help="a backup's name (as listed) or path")
    global_options(res)
    res.set_defaults(handler=run_restore)


def _describe(info: BackupInfo) -> str:
    if info.problem:
        return f"NOT restorable: {info.problem}"
    return (
        f"{info.orders} orders, {info.trades} trades, {info.open_positions} open positions, "
        f"last activity {_short(info.last_activity)}"
    )


def _short(at: str | None) -> str:
    return at[:19].replace("T", " ") if at else "none"


def run_backups(args: argparse.Namespace) -> int:
    paths, config = open_home(args)
    backups = home_backups(paths, config.current.app.store)
    found = backups.paths()
    out = sys.stdout
    if not found:
        out.write(
            f"no backups in {backups.folder} yet (the workstation takes one when it starts, "
            "every store.backup_every_min minutes while it runs, and when it stops)\n"
        )
        return 0
    out.write(f"{len(found)} backups of {paths.db_path} in {backups.folder}, newest first:\n")
    for path in found:
        info = backups.describe(path)
        out.write(
            f"  {info.name:<34} {info.taken:%Y-%m-%d %H:%M:%S} {info.size / 1e6:8.2f} MB  "
            f"{_describe(info)}\n"
        )
    return 0


def run_restore(args: argparse.Namespace) -> int:
    paths, config = open_home(args)
    backups = home_backups(paths, config.current.app.store)
    # Replacing the store under a running workstation would lose what it writes next.
    with hold_home(
        paths.data_dir,
        command_line(args),
        home=paths.home,
        refusal="stop it first (nothing was restored)",
    ):
        try:
            backup = backups.resolve(args.backup)
            done = restore(backup, paths.db_path)
        except StoreError as exc:
            raise UserError(str(exc), exit_code=2) from exc
    info = done.backup
    aside = (
        f"the previous store is kept as {done.kept_aside}"
        if done.kept_aside
        else "there was no store to keep"
    )
    sys.stdout.write(
        f"restored {info.name} (taken {info.taken:%Y-%m-%d %H:%M:%S}: {_describe(info)}) "
        f"into {done.store}; {aside}. The next start compares it with the broker before "
        "anything trades.\n"
    )
    return 0
