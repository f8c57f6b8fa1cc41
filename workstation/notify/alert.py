"""What an alert is: a small immutable message with a stable key and the panel it is about.

Alerts are built from the engines' typed events (:mod:`workstation.notify.center`) and travel
on the same event bus as :class:`AlertRaised`; the notification channels (apprise) and the
window's tray both subscribe to that one event, so they carry the same alerts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from workstation.core.events import Event


class AlertKind(StrEnum):
    """The configurable kinds: each value is the switch's name under ``notify:`` in app.yaml."""

    SCAN_READY = "scan_ready"
    SCAN_FAILED = "scan_failed"
    GAP_RESULTS = "gap_results"
    ENTRY = "entries"
    EXIT = "exits"
    KILL_SWITCH = "kill_switch"
    UNPROTECTED = "unprotected"
    CONNECTION = "connection"
    RECONCILIATION = "reconciliation"
    MISSED_STEP = "missed_steps"
    EOD_SUMMARY = "eod_summary"
    TEST = "test"


class Level(StrEnum):
    """How the channels present it (apprise's notify types)."""

    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    FAILURE = "failure"


class Panel(StrEnum):
    """The window's panel an alert opens when clicked in the tray."""

    NONE = ""
    CANDIDATES = "candidates"
    GAPS = "gaps"
    POSITIONS = "positions"
    JOURNAL = "journal"
    STATUS = "status"
    LOG = "log"


@dataclass(frozen=True)
class Alert:
    """One alert. ``key`` identifies the fact it reports (a scan, a trade, a session's end of
    day): the same fact queued twice (a step re-run after a restart) is delivered once.
    ``panel``/``item`` say what a click on it opens (``item``: a symbol, or "" for the panel)."""

    kind: AlertKind
    key: str
    title: str
    body: str
    level: Level
    at: datetime
    panel: Panel = Panel.NONE
    item: str = ""

    def text(self) -> str:
        return f"{self.title}\n{self.body}" if self.body else self.title


@dataclass(frozen=True)
class AlertRaised(Event):
    alert: Alert


__all__ = ["Alert", "AlertKind", "AlertRaised", "Level", "Panel"]
