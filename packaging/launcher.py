"""Entry point of the PyInstaller bundle: the same as the ``workstation`` console script.

PyInstaller needs a script file rather than a ``module:function`` entry point; this is it,
so the frozen ``workstation`` executable takes exactly the CLI's arguments, plus
``--bundle-info`` (see bundle_info.py), a packaging check that belongs to the bundle rather
than to the CLI.
"""

from __future__ import annotations

import multiprocessing
import sys


def run() -> int:
    if sys.argv[1:] == ["--bundle-info"]:
        from bundle_info import main as bundle_info

        return bundle_info()
    from workstation.cli import main

    return main()


if __name__ == "__main__":
    # A frozen program that starts a child process (pyqtgraph's multiprocess, a process
    # pool) re-runs this executable; freeze_support() makes that child do its job and exit
    # instead of opening a second workstation. A no-op when nothing spawns.
    multiprocessing.freeze_support()
    sys.exit(run())
