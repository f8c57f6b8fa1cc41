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
