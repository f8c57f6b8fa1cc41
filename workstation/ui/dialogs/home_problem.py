"""The dialogs for a home the app cannot use safely: another workstation already runs on it,
or its store went missing, empty or read-only while the app ran.

Each says what happened, what the app did about it (nothing traded / trading stopped) and what
to do, in words a trader reads at a glance; the details (paths, pids) are selectable text.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from workstation.instance import Holder


def _box(parent: QWidget | None, title: str, headline: str, body: str, details: str) -> QMessageBox:
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Critical)
    box.setWindowTitle(title)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(headline)
    box.setInformativeText(body)
    if details:
        box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Close)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.setObjectName("homeProblem")
    # QMessageBox wraps at a narrow width; commands and paths read better on fewer lines.
    box.setStyleSheet("QLabel#qt_msgbox_informativelabel { min-width: 520px; }")
    return box


def already_running_box(
    home: str, holder: Holder | None, parent: QWidget | None = None
) -> QMessageBox:
    """A second app (or an app beside ``run --headless``) on one home: it does not start."""
    who = (
        f"Process {holder.pid} on {holder.host} has been running since {holder.started}:\n"
        f"{holder.command}"
        if holder
        else "It is starting up."
    )
    return _box(
        parent,
        "Already running",
        "Another AutoTrader Workstation is already running on this home.",
        f"{who}\n\nOnly one workstation may trade from a home at a time, so this one "
        "does not start and nothing was traded. Switch to the running one, or stop it "
        "first; to run a second workstation, give it another home (--home DIR).",
        f"Home: {home}",
    )


_STORE_HEADLINES = {
    "deleted": "The workstation's store was deleted.",
    "replaced": "The workstation's store was replaced by another file.",
    "emptied": "The workstation's store was emptied.",
    "damaged": "The workstation's store was overwritten.",
    "read_only": "The workstation's store became read-only.",
    "disk_full": "The disk of the workstation's store is full.",
    "io_error": "The workstation's store cannot be read or written.",
}


def store_problem_box(
    kind: str, problem: str, advice: str, parent: QWidget | None = None
) -> QMessageBox:
    """The store went away (or cannot be written) while the app ran: trading stopped."""
    headline = _STORE_HEADLINES.get(kind, "The workstation's store cannot be used.")
    box = _box(
        parent,
        "Trading stopped: the store",
        f"{headline} Trading stopped.",
        "No order is sent without its record in the store, so the workstation sends none "
        "now. Open positions keep their protective stops at the broker.\n\n"
        f"What to do: quit the workstation, then {advice}.",
        problem[:1].upper() + problem[1:],
    )
    box.setWindowModality(Qt.WindowModality.NonModal)
    return box
