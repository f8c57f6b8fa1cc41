"""``workstation notify``: the notification channels (apprise URLs) from the command line.

* ``--test``: send a test message to every channel now; one line per channel (its URL
  masked); exit 0 when all worked, 1 when one failed, 2 when none is configured.
* ``--show``: list the channels (masked) and where they come from.
* ``--set``: read URLs from standard input (one per line, so they stay out of the shell's
  history) and store them in the OS keyring; ``--clear`` removes them.

The URLs come from ``WORKSTATION_NOTIFY_URLS`` or the OS keyring (see
:mod:`workstation.notify.urls`), never from a file of the home.
"""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Callable
from typing import Any

from workstation.errors import UserError


def register(sub: Any, global_options: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "notify",
        help="notification channels: send a test, show, set or clear the apprise URLs",
        description="Notifications go through apprise URLs (Telegram, Discord, Slack, e-mail, "
        "ntfy, Pushover, JSON webhooks...). They carry tokens, so they live in the OS keyring "
        "(or WORKSTATION_NOTIFY_URLS), never in a file. Exit codes of --test: 0 every channel "
        "worked, 1 one failed, 2 none configured.",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--test", action="store_true", help="send a test message to every channel")
    what.add_argument("--show", action="store_true", help="list the channels (masked)")
    what.add_argument(
        "--set",
        action="store_true",
        help="store the URLs read from standard input (one per line) in the OS keyring",
    )
    what.add_argument("--clear", action="store_true", help="remove the URLs from the OS keyring")
    global_options(p)
    p.set_defaults(handler=run_notify)


def run_notify(args: argparse.Namespace) -> int:
    from workstation.home import open_home
    from workstation.notify.urls import ENV_URLS, check_urls, load_urls, save_urls, split_urls

    if args.set:
        urls = split_urls(sys.stdin.read())
        problems = check_urls(urls)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise UserError(problems[0] + more, 2)
        save_urls(urls)
        print(f"stored {len(urls)} notification channel(s) in the OS keyring")
        return 0
    if args.clear:
        save_urls(())
        print("notification channels removed from the OS keyring")
        return 0
    urls = load_urls()
    if args.show:
        if not urls:
            print(f"no notification channels (set {ENV_URLS} or 'workstation notify --set')")
            return 0
        print(f"{len(urls.urls)} notification channel(s) from {urls.source}:")
        for name in urls.masked():
            print(f"  {name}")
        return 0
    if not urls:
        raise UserError(
            "no notification channels: add apprise URLs in Tools > Settings, or with "
            f"'workstation notify --set' (URLs on standard input), or in {ENV_URLS}",
            2,
        )
    from workstation.notify import messages
    from workstation.notify.sender import send_now

    _, config = open_home(args)
    notify_cfg = config.current.app.notify
    enabled = [
        name
        for name in (
            "scan_ready",
            "scan_failed",
            "gap_results",
            "entries",
            "exits",
            "kill_switch",
            "unprotected",
            "connection",
            "reconciliation",
            "missed_steps",
            "eod_summary",
        )
        if notify_cfg.enabled(name)
    ]
    alert = messages.test_message(socket.gethostname(), enabled)
    failed = 0
    for name, ok, error in send_now(
        urls, alert.title, alert.body, str(alert.level), notify_cfg.timeout_s
    ):
        if ok:
            print(f"{name}: sent")
        else:
            failed += 1
            print(f"{name}: FAILED ({error})")
    return 1 if failed else 0
