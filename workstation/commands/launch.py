"""``workstation`` with no command: the desktop window on the simulated market.

* ``--self-test``: the window offscreen, one simulated session at max speed through the real
  engines, then a check of every panel against the store (:mod:`workstation.selftest`);
* ``--no-gui``: no window; the nightly scan of the last completed session is printed (a real
  scan, persisted like the 20:00 one);
* otherwise the app (:mod:`workstation.app`). When Qt cannot start (no display, a missing
  system library, a broken binding) it prints one line naming the problem and the headless
  commands to use instead.
"""

from __future__ import annotations

import argparse
import sys


def launch(args: argparse.Namespace) -> int:
    from workstation.cli import STARTED

    if getattr(args, "self_test", False):
        from workstation.selftest import run_self_test

        return run_self_test(args, t0=STARTED)
    if getattr(args, "no_gui", False):
        return print_scan(args)
    from workstation.app import run_app

    return run_app(args, t0=STARTED)


def print_scan(args: argparse.Namespace) -> int:
    from workstation.commands.scan_cmd import run_scan

    sys.stdout.write(
        "AutoTrader Workstation (no window): the simulated S&P 500 market, the nightly scan "
        "of the last completed session\n\n"
    )
    args.date = None
    args.json = False
    return run_scan(args)
