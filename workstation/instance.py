"""One process per home: the instance lock.

Everything that trades (the desktop app, ``workstation run --headless``) or replaces the store
(``workstation store restore``) holds the home's lock for its whole life: a second one on the
same home refuses to start, with one line naming the one that runs. Read-only commands run
beside it (the list is in ``docs/reliability.md``; each command's choice is made where the
command starts, with :func:`hold_home` or :meth:`InstanceLock.probe`).

The lock is an OS file lock (``filelock``: ``flock`` on Linux and macOS, ``LockFileEx`` on
Windows) on ``<data>/instance.lock``. The operating system releases it when its process ends,
however it ends, so a process killed with SIGKILL, or a machine that lost power, leaves no
lock behind: the next start simply gets it. Beside the lock, ``<data>/instance.json`` says who
holds it (pid, host, command, since when); a clean exit removes it, so finding it when taking
the lock means the previous holder did not exit cleanly (killed, crashed): the taker reports
that and takes over, and the engines' usual restart path (reconciliation with the broker,
resuming the simulated run) makes the take-over safe.

A lock file is only an advisory lock between workstations: it protects the home, not the
broker account. Two homes trading one Alpaca account are not detected.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from filelock import FileLock, Timeout

from workstation.errors import UserError

LOCK_FILE = "instance.lock"
INFO_FILE = "instance.json"

#: Exit code of a command refused because another instance holds the home.
EXIT_HOME_BUSY = 2


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a home."""

    pid: int
    host: str
    command: str
    since: str  # ISO time with offset, local time of the holder

    @staticmethod
    def me(command: str) -> Holder:
        return Holder(
            os.getpid(),
            socket.gethostname(),
            command,
            datetime.now().astimezone().isoformat(timespec="seconds"),
        )

    @property
    def started(self) -> str:
        """When it started, as ``YYYY-MM-DD HH:MM:SS`` (its own local time)."""
        try:
            return datetime.fromisoformat(self.since).strftime("%Y-%m-%d %H:%M:%S")
        except ValueError:
            return self.since

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, '{self.command}', since {self.started}"


class HomeBusy(UserError):
    """Another instance holds the home (one line naming it; exit code 2)."""

    def __init__(self, home: Path, holder: Holder | None, what: str = "") -> None:
        who = holder.describe() if holder else "its details are not written yet"
        action = what or "stop it first, or use another --home"
        super().__init__(
            f"another workstation is running on the home {home} ({who}); {action}",
            exit_code=EXIT_HOME_BUSY,
        )
        self.home = home
        self.holder = holder


class InstanceLock:
    """The lock of one home's data folder (see the module docstring)."""

    def __init__(self, data_dir: Path, home: Path | None = None) -> None:
        self.data_dir = data_dir
        #: What messages call the home: the --home folder, else the data folder.
        self.home = home or data_dir
        self.lock_path = data_dir / LOCK_FILE
        self.info_path = data_dir / INFO_FILE
        self._lock: FileLock | None = None
        self.holder: Holder | None = None

    @property
    def held(self) -> bool:
        return self._lock is not None

    def acquire(self, command: str, *, refusal: str = "") -> Holder | None:
        """Take the home for this process, or raise :class:`HomeBusy` at once (no waiting).

        Returns the holder that a killed or crashed process left behind (its info file was
        still there), None after a clean exit. ``refusal`` replaces the advice in the
        refusal's message."""
        if self._lock is not None:
            return None
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(
                f"cannot use the home folder {self.home}: {exc.strerror or exc}; "
                "choose another with --home",
                exit_code=2,
            ) from exc
        lock = FileLock(str(self.lock_path), is_singleton=False)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise HomeBusy(self.home, self.read_holder(), refusal) from None
        except OSError as exc:
            raise UserError(
                f"cannot lock the home folder {self.home} ({exc.strerror or exc}); "
                "check its permissions, or choose another with --home",
                exit_code=2,
            ) from exc
        self._lock = lock
        left_behind = self.read_holder()
        me = Holder.me(command)
        try:
            _write_json(self.info_path, asdict(me))
        except OSError as exc:
            self.release()
            raise UserError(
                f"cannot write in the home folder {self.home} ({exc.strerror or exc}); "
                "check its permissions, or choose another with --home",
                exit_code=2,
            ) from exc
        self.holder = me
        return left_behind

    def release(self) -> None:
        """Give the home back (idempotent); the info file goes first, then the lock."""
        lock, self._lock = self._lock, None
        if lock is None:
            return
        if self.holder is not None and self.read_holder() == self.holder:
            with contextlib.suppress(OSError):
                self.info_path.unlink()
        self.holder = None
        with contextlib.suppress(OSError):
            lock.release()

    def probe(self) -> Holder | None:
        """Who holds the home now (None: nobody). Takes and gives back the lock to know."""
        if self._lock is not None:
            return self.holder
        if not self.lock_path.exists():
            return None
        lock = FileLock(str(self.lock_path), is_singleton=False)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return self.read_holder() or Holder(0, "?", "?", "")
        except OSError:
            return None
        lock.release()
        return None

    def read_holder(self) -> Holder | None:
        """The info file's holder (None when absent or unreadable)."""
        try:
            raw = json.loads(self.info_path.read_text(encoding="utf-8"))
            return Holder(int(raw["pid"]), str(raw["host"]), str(raw["command"]), raw["since"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def __enter__(self) -> InstanceLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def took_over_message(previous: Holder) -> str:
    return (
        f"the previous workstation on this home ({previous.describe()}) ended without "
        "releasing it (killed or crashed); taking over"
    )


@contextlib.contextmanager
def hold_home(
    data_dir: Path,
    command: str,
    *,
    home: Path | None = None,
    say: bool = True,
    refusal: str = "",
) -> Iterator[InstanceLock]:
    """Hold the home for the block (:class:`HomeBusy` when another instance has it; its
    advice is ``refusal`` if given). A take-over after a crash is said on stderr (``say``)."""
    lock = InstanceLock(data_dir, home)
    previous = lock.acquire(command, refusal=refusal)
    try:
        if previous is not None and say:
            import sys

            sys.stderr.write(f"workstation: {took_over_message(previous)}\n")
        yield lock
    finally:
        lock.release()


def _write_json(path: Path, data: dict[str, object]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = [
    "EXIT_HOME_BUSY",
    "INFO_FILE",
    "LOCK_FILE",
    "Holder",
    "HomeBusy",
    "InstanceLock",
    "hold_home",
    "took_over_message",
]
