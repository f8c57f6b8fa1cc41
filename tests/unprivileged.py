"""Run a subprocess that meets file permissions as an ordinary user does.

Tests run as root in CI containers, and root writes read-only files anyway (the capability
CAP_DAC_OVERRIDE). For a read-only store or home to be read-only to the program under test,
its process drops that capability (and CAP_DAC_READ_SEARCH, CAP_FOWNER) from its bounding set
before it starts: a program started by root gets only the capabilities of that set.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable

import pytest

_PR_CAPBSET_DROP = 24
_CAPS = (1, 2, 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER


def _drop() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in _CAPS:
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def as_ordinary_user() -> Callable[[], None] | None:
    """A ``preexec_fn`` for subprocess (None when not root: permissions already apply).
    Skips the test where root cannot drop the capabilities (no CAP_SETPCAP)."""
    if os.name != "posix" or os.geteuid() != 0:
        return None
    import subprocess
    import sys

    probe = subprocess.run(
        [sys.executable, "-c", "open('/proc/self/status').read()"], preexec_fn=_drop, check=False
    )
    if probe.returncode != 0:
        pytest.skip("root here cannot drop CAP_DAC_OVERRIDE: read-only files are writable")
    return _drop
