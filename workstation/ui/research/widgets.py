"""Small widget makers the research window's views share."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget


def note(text: str = "", name: str = "muted") -> QLabel:
    """A word-wrapped line of secondary text (``name``: its style, e.g. ``fieldError``)."""
    label = QLabel(text)
    label.setObjectName(name)
    label.setWordWrap(True)
    return label


def button(text: str, tip: str, slot: Callable[[], object]) -> QPushButton:
    b = QPushButton(text)
    b.setToolTip(tip)
    b.clicked.connect(lambda _=False: slot())
    return b


def stacked(*widgets: QWidget) -> QWidget:
    """The widgets one under the other, without margins; the first takes the spare height."""
    box = QWidget()
    lay = QVBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    for i, w in enumerate(widgets):
        lay.addWidget(w, 1 if i == 0 else 0)
    return box


__all__ = ["button", "note", "stacked"]
