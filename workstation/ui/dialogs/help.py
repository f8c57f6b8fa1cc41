"""Help: the user guide inside the app, and every keyboard shortcut in one list.

The guide is ``docs/user-guide.md`` (shipped in the bundle beside the program, with the
screenshots it shows), rendered by Qt's own Markdown support: no browser, no network. The
shortcut list is read from the window's actions as they are, so it can never fall behind.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QLabel,
    QScrollArea,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from workstation.core.paths import project_root


def user_guide_path() -> Path:
    """Where the user guide is (the source tree's docs/, or the bundle's)."""
    return project_root() / "docs" / "user-guide.md"


class UserGuideDialog(QDialog):
    """The user guide, with its screenshots, in a window of its own (not modal)."""

    def __init__(self, parent: QWidget | None = None, path: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("User guide")
        self.setObjectName("userGuideDialog")
        self.setModal(False)
        self.path = path or user_guide_path()
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        lay = QVBoxLayout(self)
        lay.addWidget(self.browser)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.rejected.connect(self.reject)
        lay.addWidget(box)
        self.setMinimumSize(640, 480)  # readable even where the screen is small
        self.resize(900, 760)
        self.load()

    def load(self) -> bool:
        """Show the guide; True when it was found."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError:
            self.browser.setHtml(
                f"<p>The user guide is not installed here: {html.escape(str(self.path))} "
                "was not found. It is docs/user-guide.md in the source tree.</p>"
            )
            return False
        # Relative links (screenshots/..., trading-rules.md) resolve next to the guide.
        self.browser.setSearchPaths([str(self.path.parent)])
        self.browser.document().setBaseUrl(QUrl.fromLocalFile(str(self.path.parent) + "/"))
        self.browser.setMarkdown(text)
        return True


def shortcut_rows(actions: Iterable[QAction]) -> list[tuple[str, str]]:
    """(keys, what it does) for every action with a shortcut, or with one named in its menu
    text after a tab (the decision keys, which live on the candidates panel); sorted by
    what they do, each once."""
    by_key: dict[str, str] = {}
    for a in actions:
        text, _, hint = a.text().partition("\t")
        what = text.replace("&", "").rstrip(".").strip()
        keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in a.shortcuts()]
        if hint:
            keys = [hint.strip()]
        for k in keys:
            # One line per key: a menu and a button of the same key say it the longer way.
            if k and what and len(what) > len(by_key.get(k, "")):
                by_key[k] = what
    return sorted(((k, w) for k, w in by_key.items()), key=lambda r: r[1].lower())


class ShortcutsDialog(QDialog):
    """Every keyboard shortcut of the window."""

    def __init__(self, rows: list[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.setObjectName("shortcutsDialog")
        self.rows = rows
        body = "".join(
            f"<tr><td style='padding:2px 14px 2px 0'><b>{html.escape(k)}</b></td>"
            f"<td>{html.escape(w)}</td></tr>"
            for k, w in rows
        )
        text = QLabel(
            "<p>Approve, veto and back to pending work while the candidates panel has the "
            "focus (its table or its note): they are chords, so text you type there never "
            "decides anything.</p>"
            f"<table cellspacing='0'>{body}</table>"
        )
        text.setTextFormat(Qt.TextFormat.RichText)
        text.setWordWrap(True)
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        scroll = QScrollArea()  # a small screen scrolls the list instead of cutting it
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(text)
        lay = QVBoxLayout(self)
        lay.addWidget(scroll)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.rejected.connect(self.reject)
        lay.addWidget(box)
        self.setMinimumSize(520, min(600, 140 + 22 * len(rows)))


__all__ = ["ShortcutsDialog", "UserGuideDialog", "shortcut_rows", "user_guide_path"]
