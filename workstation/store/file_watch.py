"""Is the store's file still the one the app opened? (issue 12 item 2)

SQLite keeps writing to the file it opened even after that file was deleted, replaced or
truncated underneath it: a run whose store was deleted used to finish "fine", its records
written into a file nobody can open again. So the store remembers the identity of its file
(device and inode) and checks, before every write transaction (one ``stat``, about a
microsecond), that the path still names that file and that it still has a database header.
A periodic check (:meth:`FileWatch.full_check`) also reads the header and asks whether the
file may still be written. The first problem found makes the store unusable for good: every
later write raises :class:`StoreUnusable`, and the engines stop trading (every order is
written to the store before it is sent, so no order leaves after the store is gone).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from workstation.store.errors import StoreError

SQLITE_MAGIC = b"SQLite format 3\x00"
HEADER_SIZE = 100
_APP_ID_OFFSET = 68


class StoreUnusable(StoreError):
    """The store's file went away, was replaced or emptied, or can no longer be written.

    ``kind`` is one of ``deleted``, ``replaced``, ``emptied``, ``damaged``, ``read_only``,
    ``disk_full``, ``io_error``; the message is one line naming the file and what happened.
    """

    def __init__(self, path: Path, kind: str, what: str) -> None:
        super().__init__(f"the store {path} {what}")
        self.path = path
        self.kind = kind
        self.what = what


@dataclass(frozen=True)
class FileIdentity:
    device: int
    inode: int

    @staticmethod
    def of(path: Path) -> FileIdentity:
        st = os.stat(path)
        return FileIdentity(st.st_dev, st.st_ino)


class FileWatch:
    """The identity of a store's file and the checks against it."""

    def __init__(self, path: Path, application_id: int) -> None:
        self.path = path
        self.application_id = application_id
        self.identity = FileIdentity.of(path)

    def quick_check(self) -> StoreUnusable | None:
        """One ``stat``: the path still names our file, and the file is not empty."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return StoreUnusable(self.path, "deleted", "was deleted while the workstation ran")
        except OSError as exc:
            return StoreUnusable(self.path, "io_error", f"cannot be checked ({exc.strerror})")
        if (st.st_dev, st.st_ino) != (self.identity.device, self.identity.inode):
            return StoreUnusable(
                self.path, "replaced", "was replaced by another file while the workstation ran"
            )
        if st.st_size < HEADER_SIZE:
            return StoreUnusable(
                self.path,
                "emptied",
                f"was emptied while the workstation ran ({st.st_size} bytes left)",
            )
        return None

    def full_check(self) -> StoreUnusable | None:
        """:meth:`quick_check`, then the header (still a workstation database) and whether
        the file and its folder may still be written."""
        problem = self.quick_check()
        if problem is not None:
            return problem
        try:
            with self.path.open("rb") as fh:
                head = fh.read(HEADER_SIZE)
        except OSError as exc:
            return StoreUnusable(self.path, "io_error", f"cannot be read ({exc.strerror})")
        app_id = int.from_bytes(head[_APP_ID_OFFSET : _APP_ID_OFFSET + 4], "big")
        if not head.startswith(SQLITE_MAGIC) or app_id != self.application_id:
            return StoreUnusable(
                self.path, "damaged", "was overwritten while the workstation ran (bad header)"
            )
        if not writable(self.path):
            return StoreUnusable(
                self.path, "read_only", "became read-only while the workstation ran"
            )
        return None


def writable(path: Path) -> bool:
    """The file and its folder (SQLite creates its -wal and -shm files there) are writable
    by this process."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


def sqlite_problem(path: Path, exc: BaseException) -> StoreUnusable | None:
    """The StoreUnusable a SQLite error means, if it says the file cannot be written."""
    msg = str(exc).lower()
    if "readonly" in msg or "read-only" in msg:
        return StoreUnusable(path, "read_only", f"cannot be written ({exc})")
    if "disk is full" in msg or "database or disk is full" in msg:
        return StoreUnusable(path, "disk_full", f"cannot be written: the disk is full ({exc})")
    if "disk i/o error" in msg:
        return StoreUnusable(path, "io_error", f"cannot be written: disk I/O error ({exc})")
    return None


__all__ = [
    "HEADER_SIZE",
    "SQLITE_MAGIC",
    "FileIdentity",
    "FileWatch",
    "StoreUnusable",
    "sqlite_problem",
    "writable",
]
