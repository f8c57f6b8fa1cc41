"""Where the trials run: a local Dask cluster started for the search (one worker process per
core, one thread each), or a running scheduler reached by its address.

Every listener of a local cluster binds 127.0.0.1, the dashboard included (Dask's default
binds 0.0.0.0:8787, even with the dashboard "off"). Worker processes start with *spawn*: they
import the workstation afresh (in the frozen bundle, they start from the bundle's own
executable: ``multiprocessing.freeze_support()`` in packaging/launcher.py). A cluster reached
by address needs the workstation installed, in the same version, where its workers run.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from types import TracebackType
from typing import Any

from workstation.errors import UserError

#: Seconds to wait for a scheduler to answer, and for a first worker to join it.
CONNECT_TIMEOUT_S = 10.0
WORKERS_TIMEOUT_S = 60.0


class ClusterError(UserError):
    """The cluster cannot be reached or has no worker: one line saying what to do."""


class Cluster:
    """``with Cluster(None, workers=2) as c: c.client.submit(...)``.

    ``address`` None starts a LocalCluster of ``workers`` processes (default: one per core),
    closed with the context; an address connects to that scheduler, which is left running
    (its workers are not this process's to stop)."""

    def __init__(
        self,
        address: str | None = None,
        *,
        workers: int | None = None,
        local_directory: Path | None = None,
    ) -> None:
        self.address_arg = address
        self.n_workers = workers or os.cpu_count() or 1
        self.local_directory = local_directory
        self.client: Any = None
        self._cluster: Any = None

    @property
    def local(self) -> bool:
        return self.address_arg is None

    @property
    def address(self) -> str:
        return str(self.client.scheduler.address) if self.client is not None else ""

    @property
    def dashboard(self) -> str | None:
        try:
            link = self.client.dashboard_link
        except Exception:  # no HTTP service reported
            return None
        return str(link) if link else None

    def workers(self) -> int:
        """Workers connected now (0 when the scheduler cannot be asked)."""
        try:
            return len(self.client.scheduler_info(n_workers=-1).get("workers", {}))
        except Exception:
            return 0

    def __enter__(self) -> Cluster:
        from distributed import Client, LocalCluster

        if self.address_arg is None:
            kwargs: dict[str, Any] = {}
            if self.local_directory is not None:
                kwargs["local_directory"] = str(self.local_directory)
            self._cluster = LocalCluster(
                n_workers=self.n_workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
                # CRITICAL, not ERROR: a worker heartbeating while the cluster closes logs
                # a traceback (a race in distributed's shutdown) at the end of a search that
                # went well. What a trial or a worker does wrong comes back through its future.
                silence_logs=logging.CRITICAL,
                **kwargs,
            )
            self.client = Client(self._cluster, set_as_default=False)
            return self
        try:
            self.client = Client(
                self.address_arg, timeout=f"{CONNECT_TIMEOUT_S}s", set_as_default=False
            )
        except (OSError, TimeoutError) as exc:
            raise ClusterError(
                f"--scheduler {self.address_arg}: no Dask scheduler answered within "
                f"{CONNECT_TIMEOUT_S:.0f} s ({type(exc).__name__}); start one with "
                "'dask scheduler' and give its address (tcp://HOST:8786)",
                exit_code=2,
            ) from None
        try:
            self.client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
        except (OSError, TimeoutError):
            self.close()
            raise ClusterError(
                f"--scheduler {self.address_arg}: no worker joined within "
                f"{WORKERS_TIMEOUT_S:.0f} s; start workers with 'dask worker "
                f"{self.address_arg}' where the workstation is installed",
                exit_code=2,
            ) from None
        return self

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):  # a scheduler already gone: nothing to close
                self.client.close()
            self.client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


__all__ = ["CONNECT_TIMEOUT_S", "WORKERS_TIMEOUT_S", "Cluster", "ClusterError"]
