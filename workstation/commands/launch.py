"""``workstation`` with no command.

Until the desktop window is wired to the engines (issue 6), it opens the workstation's
home, builds the simulated S&P 500 market and shows the nightly scan of the last
completed session: a real scan, persisted like the 20:00 one.
"""

from __future__ import annotations

import argparse
import sys

from workstation.commands.scan_cmd import run_scan


def launch(args: argparse.Namespace) -> int:
    sys.stdout.write(
        "AutoTrader Workstation: simulated S&P 500 market, the nightly scan of "
        "the last completed session\n\n"
    )
    args.date = None
    args.json = False
    return run_scan(args)
