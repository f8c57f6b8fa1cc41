"""The ``workstation`` command: the desktop app, and headless commands.

Errors are one clear line on stderr and a non-zero exit, never a traceback; the
traceback of an unexpected error goes to the log file named in that line.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence

from workstation import __version__
from workstation.errors import UserError

log = logging.getLogger("workstation")

#: When the program started (this module is the first one the ``workstation`` command
#: imports): the window's "appears within 3 s of launch" is measured from here.
STARTED = time.perf_counter()

Command = Callable[[argparse.Namespace], int]


def _global_options(p: argparse.ArgumentParser, top: bool = False) -> None:
    """The options every command takes, before or after the command name. On sub-commands
    their default is SUPPRESS, so they never overwrite a value given before the command."""
    saved = p.argument_default
    if not top:
        p.argument_default = argparse.SUPPRESS
    p.add_argument(
        "--home",
        metavar="DIR",
        help="folder for configuration and data (default: the platform's user "
        "folders; also WORKSTATION_HOME)",
    )
    p.add_argument(
        "--market",
        metavar="SOURCE",
        help="sim (default), replay:PATH (CSV or Parquet of daily bars; replay:PATH,BENCH "
        "takes the benchmark's bars from a second file) or alpaca",
    )
    p.add_argument(
        "--universe",
        metavar="CSV",
        help="CSV of symbols (and optional sector) replacing the S&P 500",
    )
    p.add_argument("--seed", type=int, metavar="N", help="seed of the simulated market")
    p.add_argument(
        "--mode",
        choices=("sim", "paper", "live"),
        help="broker: sim (default without keys), paper (default with keys), live",
    )
    p.argument_default = saved


def build_parser() -> argparse.ArgumentParser:
    from workstation.commands import register_all

    parser = argparse.ArgumentParser(
        prog="workstation",
        description="AutoTrader Workstation: nightly S&P 500 scan, human approval, rule-based "
        "entries and exits. With no command it opens the workstation on the "
        "simulated market.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="open the window (offscreen when there is no display), run one simulated "
        "session at max speed through the real engines and check what every panel shows; "
        "exit 0 when all is well, else 1 with the reason",
    )
    parser.add_argument(
        "--no-gui",
        action="store_true",
        help="no window: print tonight's scan instead ('workstation run --headless' trades "
        "without a window)",
    )
    _global_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    register_all(sub, _global_options)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    # Who holds a home is shown to a second instance by its command line (no secrets in it:
    # keys come from the environment or the keyring, never from arguments).
    args.command_line = shlex.join(["workstation", *argv])
    handler: Command | None = getattr(args, "handler", None)
    if handler is None:
        from workstation.commands import default_command

        handler = default_command
    try:
        return handler(args)
    except UserError as exc:
        print(f"workstation: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # output piped into e.g. `head`, which closed early
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the final flush
        return 0
    except KeyboardInterrupt:
        print("workstation: stopped", file=sys.stderr)
        return 130
    except Exception as exc:  # the last line of defence: no traceback on the console
        from workstation.crash_log import write_crash_report

        where = write_crash_report(getattr(args, "home", None), args.command_line)
        first = (str(exc).splitlines() or [""])[0]
        print(
            f"workstation: unexpected error: {type(exc).__name__}: {first} (details in {where})",
            file=sys.stderr,
        )
        return 70


if __name__ == "__main__":
    sys.exit(main())
