"""Confirmations for the actions that move money (kill switch, flatten all, live mode) or
undo the user's work (a re-run scan over decisions).

Each dialog defaults to the safe choice (Cancel has the focus; Enter does not trade).
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workstation.core.numbers import signed
from workstation.engine.views import PositionView
from workstation.ui.tables import Column, DataTable, money, signed_money


def _positions_table(positions: Sequence[PositionView]) -> DataTable:
    t = DataTable(
        [
            Column("Symbol", lambda p: p.symbol),
            Column("Side", lambda p: p.side),
            Column("Qty", lambda p: p.qty, "{:,d}"),
            Column("Last", lambda p: p.last, money),
            Column("P&L", lambda p: p.pnl, signed_money),
        ],
        key=lambda p: p.symbol,
    )
    t.set_rows(positions)
    t.setMinimumHeight(min(60 + 22 * len(positions), 240))
    return t


def _buttons(
    dialog: QDialog, ok_text: str, danger: bool = True
) -> tuple[QDialogButtonBox, QPushButton]:
    box = QDialogButtonBox()
    ok = box.addButton(ok_text, QDialogButtonBox.ButtonRole.AcceptRole)
    if danger:
        ok.setObjectName("danger")
    cancel = box.addButton(QDialogButtonBox.StandardButton.Cancel)
    ok.setAutoDefault(False)
    ok.setDefault(False)
    cancel.setDefault(True)
    cancel.setFocus()
    box.accepted.connect(dialog.accept)
    box.rejected.connect(dialog.reject)
    return box, ok


class KillSwitchDialog(QDialog):
    """Engage the kill switch; flattening is a separate, explicit choice below it."""

    def __init__(self, positions: Sequence[PositionView], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Engage the kill switch")
        self.setObjectName("killSwitchDialog")
        lay = QVBoxLayout(self)
        head = QLabel("<h3 style='margin:0'>Engage the kill switch?</h3>")
        lay.addWidget(head)
        text = QLabel(
            "New entries are blocked for the rest of the session and open entry orders are "
            "canceled.<br>Open positions stay open with their protective stops and exits."
        )
        text.setWordWrap(True)
        lay.addWidget(text)

        sep = QFrame()
        sep.setFrameShape(QFrame.Shape.HLine)
        lay.addWidget(sep)
        n = len(positions)
        self.flatten = QCheckBox(f"Also flatten all {n} open positions now (market orders)")
        self.flatten.setToolTip("A separate action: closes every position at market")
        self.flatten.setEnabled(n > 0)
        self.flatten.setChecked(False)
        lay.addWidget(self.flatten)
        if n:
            lay.addWidget(_positions_table(positions))
        else:
            none = QLabel("There are no open positions.")
            none.setObjectName("muted")
            lay.addWidget(none)
        box, self.ok_button = _buttons(self, "Engage kill switch")
        self.flatten.toggled.connect(
            lambda on: self.ok_button.setText(
                "Engage and flatten all" if on else "Engage kill switch"
            )
        )
        lay.addWidget(box)

    @property
    def flatten_requested(self) -> bool:
        return self.flatten.isChecked()


class ReleaseKillSwitchDialog(QDialog):
    def __init__(self, reason: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Release the kill switch")
        lay = QVBoxLayout(self)
        why = f" (engaged: {reason})" if reason else ""
        text = QLabel(
            f"<h3 style='margin:0'>Release the kill switch?</h3>The kill switch is on{why}. "
            "Releasing it allows new entries again this session."
        )
        text.setWordWrap(True)
        lay.addWidget(text)
        box, self.ok_button = _buttons(self, "Release kill switch", danger=False)
        lay.addWidget(box)


class FlattenAllDialog(QDialog):
    def __init__(self, positions: Sequence[PositionView], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Flatten all positions")
        self.setObjectName("flattenDialog")
        lay = QVBoxLayout(self)
        n = len(positions)
        total = sum(p.pnl for p in positions)
        text = QLabel(
            f"<h3 style='margin:0'>Close all {n} positions at market?</h3>"
            f"Every position below is closed with a market order (exit reason MANUAL) and "
            f"open orders are canceled. Open P&L now: <b>{signed(total)}</b>."
        )
        text.setWordWrap(True)
        lay.addWidget(text)
        lay.addWidget(_positions_table(positions))
        box, self.ok_button = _buttons(self, f"Flatten {n} positions")
        self.ok_button.setEnabled(n > 0)
        lay.addWidget(box)


class RescanDialog(QDialog):
    """Re-run a scan whose list has decisions: the engine's question, Cancel by default."""

    def __init__(self, question: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Re-run the scan")
        self.setObjectName("rescanDialog")
        lay = QVBoxLayout(self)
        text = QLabel(f"<h3 style='margin:0'>Re-run the scan?</h3>{question}")
        text.setWordWrap(True)
        text.setMinimumWidth(420)
        lay.addWidget(text)
        box, self.ok_button = _buttons(self, "Re-run and keep the decisions", danger=False)
        lay.addWidget(box)


class QuitDialog(QDialog):
    """Quit while the app manages open positions: say what goes on, and what does not."""

    def __init__(
        self, positions: Sequence[PositionView], simulated: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Quit with open positions")
        self.setObjectName("quitDialog")
        lay = QVBoxLayout(self)
        n = len(positions)
        if simulated:
            meanwhile = (
                "The simulated market stands still while the app is closed: the positions, "
                "their stops and the clock are saved and go on when you start it again."
            )
        else:
            meanwhile = (
                "While the app is closed the protective stops stay at the broker and still "
                "exit there, but nothing else is watched: no take-profit, no time exit, no "
                "daily-loss check, no new stop levels. They resume when you start it again."
            )
        text = QLabel(
            f"<h3 style='margin:0'>Quit while {n} position{'s are' if n != 1 else ' is'} "
            f"managed?</h3>{meanwhile}"
        )
        text.setWordWrap(True)
        lay.addWidget(text)
        lay.addWidget(_positions_table(positions))
        box, self.ok_button = _buttons(self, "Quit")
        lay.addWidget(box)


class LiveModeDialog(QDialog):
    """Live trading needs the user to type LIVE: a click alone is not enough."""

    WORD = "LIVE"

    def __init__(self, parent: QWidget | None = None, account: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Trade with real money")
        self.setObjectName("liveModeDialog")
        lay = QVBoxLayout(self)
        banner = QLabel("LIVE TRADING")
        banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        banner.setStyleSheet(
            "QLabel { background: #c62828; color: white; font-size: 20px; font-weight: 800;"
            " padding: 8px; border-radius: 4px; }"
        )
        lay.addWidget(banner)
        acct = f" (account {account})" if account else ""
        text = QLabel(
            f"Orders will be sent to your <b>live</b> Alpaca account{acct} and trade real "
            "money. Approved candidates are entered automatically at their entry times and "
            "positions are exited by the rules.<br><br>"
            f"Type <b>{self.WORD}</b> to confirm."
        )
        text.setWordWrap(True)
        lay.addWidget(text)
        self.word = QLineEdit()
        self.word.setPlaceholderText(self.WORD)
        self.word.setToolTip(f"Type {self.WORD} (capital letters) to enable the button")
        lay.addWidget(self.word)
        box, self.ok_button = _buttons(self, "Switch to live trading")
        self.ok_button.setEnabled(False)
        self.word.textChanged.connect(lambda t: self.ok_button.setEnabled(t.strip() == self.WORD))
        lay.addWidget(box)
        self.word.setFocus()

    def accept(self) -> None:
        if self.word.text().strip() != self.WORD:  # Enter in the field must not bypass it
            return
        super().accept()

    @staticmethod
    def confirm(parent: QWidget | None = None, account: str = "") -> bool:
        return LiveModeDialog(parent, account).exec() == QDialog.DialogCode.Accepted
