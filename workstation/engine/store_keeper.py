"""Keeps the store safe while the engines run: watches its file and takes its backups.

* **Watch.** Every ``watch_s`` seconds of real time the store's file is checked in full
  (:meth:`Store.check`: still the same file, a database header, writable). Every write also
  checks it (one ``stat``), so an order is never sent after its store went away; the watch
  finds it when nothing is being written (overnight, a paused clock). A problem makes the
  store unusable: its listeners (the runner, the window) stop trading and say what to do.
* **Backups.** One when the engines start, one every ``every_s`` seconds of real time (not
  simulated time: at max speed a simulated week passes in seconds), one at a clean stop;
  each is a consistent online copy made off the loop (:mod:`workstation.store.backups`).
  Never from a store that is unusable, so a bad store never rotates good backups away;
  but a store whose file was deleted or replaced under it is saved once, through its still
  open connection, as the newest backup (so a restore loses nothing it had written).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from workstation.core.clock import Clock
from workstation.store import Store, StoreError
from workstation.store.backups import Backups
from workstation.store.file_watch import StoreUnusable

#: Problems after which the store's open connection still holds every record.
RESCUABLE = ("deleted", "replaced")

log = logging.getLogger(__name__)


class StoreKeeper:
    def __init__(
        self,
        store: Store,
        backups: Backups | None,
        *,
        every_s: float,
        watch_s: float = 1.0,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        #: The engines' clock, held while a backup is written: a simulated clock at max speed
        #: jumps ahead whenever nothing holds it, and the start backup runs in the day loop.
        self.clock = clock
        self.backups = backups
        self.every_s = every_s
        self.watch_s = watch_s
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._last_backup = -float("inf")
        self.taken: list[Path] = []
        self.error = ""  # the last backup failure, if any
        self.rescued: Path | None = None  # what a deleted/replaced store still held
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backup")
        store.on_problem(self._rescue)

    def _rescue(self, problem: StoreUnusable) -> None:
        """The store's file was deleted or replaced under it: its open connection still reads
        the data, so it goes to a backup now (the newest one, which a restore takes)."""
        if problem.kind not in RESCUABLE or self.backups is None or self.store.closed:
            return
        try:
            self.rescued = self.backups.take_with(self.store.copy_to, what=str(self.store.path))
        except StoreError as exc:
            log.error("could not save what the lost store held: %s", exc)
            return
        self.taken.append(self.rescued)
        log.warning("saved what the lost store held to %s", self.rescued)

    async def start(self) -> None:
        """Back up once, then watch and back up periodically until :meth:`stop`."""
        loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        await self.backup()
        if self._task is None:
            self._task = loop.create_task(self._run(), name="store-keeper")

    async def _run(self) -> None:
        while True:
            try:  # stop() ends the wait, never a backup half-way (it would leave a file behind)
                await asyncio.wait_for(self._stopping.wait(), self.watch_s)
                return
            except TimeoutError:
                pass
            if self.store.closed or self.store.check() is not None:
                return  # the listeners were told; nothing more to keep
            if time.monotonic() - self._last_backup >= self.every_s:
                await self.backup()

    async def backup(self) -> Path | None:
        """A backup now (None when there is no backup folder or the store is unusable)."""
        if self.backups is None or self.store.closed or self.store.check() is not None:
            return None
        self._last_backup = time.monotonic()
        try:
            # Its own thread pool, not asyncio.to_thread: qasync's default executor resumes the
            # awaiting task outside the running loop (asyncio.timeout then fails in it).
            loop = asyncio.get_running_loop()
            with self.clock.hold() if self.clock else contextlib.nullcontext():
                path = await loop.run_in_executor(
                    self._executor, self.backups.take, self.store.path
                )
        except StoreError as exc:
            self.error = str(exc)
            log.error("backup of the store failed: %s", exc)
            return None
        self.error = ""
        self.taken.append(path)
        log.info("backed up the store to %s", path)
        return path

    async def stop(self, *, backup: bool = True) -> None:
        """Stop watching; a last backup when the store is still fine (a clean stop)."""
        task, self._task = self._task, None
        if task is not None:
            self._stopping.set()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if backup:
            await self.backup()
        self._executor.shutdown(wait=False)


__all__ = ["StoreKeeper"]
