"""Control of one position: close it at market, move its stop or target.

Both dialogs default to the safe choice (Cancel has the focus; Enter does not trade). The
move dialog asks the engine (``EngineAPI.check_levels``) on every edit whether the move would
be allowed, so the trader reads the rule's verdict, its reason and its warnings before
anything is sent; the engine checks again when the move arrives.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workstation.core.numbers import signed, signed_pct
from workstation.engine.api import CommandRefused, EngineAPI
from workstation.engine.views import PositionView
from workstation.ui import theme

if TYPE_CHECKING:  # the window opens before the rules (and pandas) are imported
    from workstation.engine.rules.levels import LevelCheck


def _summary(p: PositionView) -> str:
    r = "" if math.isnan(p.pnl_r) else f", {signed(p.pnl_r, 2, ' R')}"
    return (
        f"{p.side} {p.qty:,d} @ {p.fill_price:,.2f} · last {p.last:,.2f} · P&amp;L "
        f"{signed(p.pnl)} ({signed_pct(p.pnl_pct)}{r}) · day {p.day} · {html.escape(p.strategy)}"
    )


def _buttons(dialog: QDialog, ok_text: str, danger: bool) -> tuple[QDialogButtonBox, QPushButton]:
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


class ClosePositionDialog(QDialog):
    """Close one position at market (exit reason MANUAL)."""

    def __init__(self, position: PositionView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        p = position
        self.position = p
        self.setWindowTitle(f"Close {p.symbol}")
        self.setObjectName("closePositionDialog")
        lay = QVBoxLayout(self)
        action = "Sell" if p.side.sign > 0 else "Buy back"
        head = QLabel(f"<h3 style='margin:0'>Close {html.escape(p.symbol)} at market?</h3>")
        lay.addWidget(head)
        what = QLabel(_summary(p))
        what.setTextFormat(Qt.TextFormat.RichText)
        what.setWordWrap(True)
        lay.addWidget(what)
        text = QLabel(
            f"{action} {p.qty:,d} shares with one market order; exit reason MANUAL. The "
            "protective stop at the broker is canceled first. If the position was opened "
            "today and the account is under the pattern-day-trader minimum, the close waits "
            "for the next session (the log says so)."
        )
        text.setWordWrap(True)
        lay.addWidget(text)
        box, self.ok_button = _buttons(self, f"Close {p.symbol}", danger=True)
        lay.addWidget(box)


def _fmt(x: float) -> str:
    return f"{x:.2f}" if math.isfinite(x) else ""


class MoveLevelsDialog(QDialog):
    """Move the SL and/or TP of one position, with the rule's verdict shown as you type."""

    def __init__(
        self, position: PositionView, engine: EngineAPI, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        p = position
        self.position = p
        self.engine = engine
        self.check: LevelCheck | None = None
        self.setWindowTitle(f"Move the stop / target of {p.symbol}")
        self.setObjectName("moveLevelsDialog")
        self.setMinimumWidth(520)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"<h3 style='margin:0'>{html.escape(p.symbol)}: stop and target</h3>"))
        what = QLabel(_summary(p))
        what.setTextFormat(Qt.TextFormat.RichText)
        what.setWordWrap(True)
        lay.addWidget(what)

        grid = QGridLayout()
        grid.setColumnStretch(2, 1)
        validator = QDoubleValidator(0.0, 1e9, 4, self)
        validator.setNotation(QDoubleValidator.Notation.StandardNotation)
        self.sl_edit = QLineEdit(_fmt(p.sl))
        self.tp_edit = QLineEdit(_fmt(p.tp))
        self._shown = (self.sl_edit.text(), self.tp_edit.text())
        for row, (label, edit, rule, moved, tip) in enumerate(
            (
                ("Stop loss", self.sl_edit, p.rule_sl, p.sl_moved, "exits at or beyond it"),
                ("Take profit", self.tp_edit, p.rule_tp, p.tp_moved, "exits at or beyond it"),
            )
        ):
            edit.setValidator(validator)
            edit.setToolTip(f"{label}: {tip} (the price you type, in dollars)")
            edit.setMaximumWidth(120)
            grid.addWidget(QLabel(label), row, 0)
            grid.addWidget(edit, row, 1)
            note = f"rule's level {rule:,.2f}" if math.isfinite(rule) else ""
            if moved:
                note += " · moved by you"
            hint = QLabel(note)
            hint.setObjectName("muted")
            grid.addWidget(hint, row, 2)
        emergency = QLabel(
            f"Emergency level {p.emergency:,.2f} (day 1 only; a looser stop must be confirmed)"
        )
        emergency.setObjectName("muted")
        grid.addWidget(emergency, 2, 0, 1, 3)
        self.beyond = QCheckBox("I accept a stop beyond the emergency level (more risk)")
        self.beyond.setVisible(False)
        self.note = QLineEdit()
        self.note.setPlaceholderText("optional: kept with the change in the audit log")
        grid.addWidget(QLabel("Why"), 3, 0)
        grid.addWidget(self.note, 3, 1, 1, 2)
        lay.addLayout(grid)
        lay.addWidget(self.beyond)
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.verdict.setTextFormat(Qt.TextFormat.RichText)
        self.verdict.setMinimumHeight(44)
        lay.addWidget(self.verdict)

        box, self.ok_button = _buttons(self, "Move", danger=False)
        self.reset_button = box.addButton(
            "Reset to the rule's levels", QDialogButtonBox.ButtonRole.ResetRole
        )
        self.reset_button.setAutoDefault(False)
        self.reset_button.setToolTip("Put both fields back on the levels the rules derive")
        self.reset_button.clicked.connect(self.reset_to_rule)
        lay.addWidget(box)

        self.sl_edit.textChanged.connect(self.revalidate)
        self.tp_edit.textChanged.connect(self.revalidate)
        self.beyond.toggled.connect(self.revalidate)
        self.revalidate()

    # ------------------------------------------------------------------ values
    def _value(self, edit: QLineEdit, shown: str) -> float | None:
        """The typed level, None when unchanged from what the dialog opened with; NaN for
        text that is not a number (the rule then says so)."""
        text = edit.text().strip()
        if text == shown:
            return None
        try:
            return float(text.replace(",", ""))
        except ValueError:
            return math.nan

    @property
    def new_sl(self) -> float | None:
        return self._value(self.sl_edit, self._shown[0])

    @property
    def new_tp(self) -> float | None:
        return self._value(self.tp_edit, self._shown[1])

    def reset_to_rule(self) -> None:
        p = self.position
        self.sl_edit.setText(_fmt(p.rule_sl) if p.sl_moved else self._shown[0])
        self.tp_edit.setText(_fmt(p.rule_tp) if p.tp_moved else self._shown[1])

    # ------------------------------------------------------------------ verdict
    def revalidate(self) -> None:
        pos, neg, warn = theme.hex_color("pos"), theme.hex_color("neg"), theme.hex_color("warn")
        try:
            c = self.engine.check_levels(
                self.position.symbol, self.new_sl, self.new_tp, self.beyond.isChecked()
            )
        except CommandRefused as exc:
            self.check = None
            self.verdict.setText(f"<span style='color:{neg}'>{html.escape(str(exc))}</span>")
            self.ok_button.setEnabled(False)
            return
        self.check = c
        self.beyond.setVisible(c.needs_confirmation or self.beyond.isChecked())
        if c.ok:
            lines = [f"<b style='color:{pos}'>Allowed:</b> {html.escape(c.detail)}"]
            lines += [f"<span style='color:{warn}'>⚠ {html.escape(w)}</span>" for w in c.warnings]
            self.verdict.setText("<br>".join(lines))
        else:
            self.verdict.setText(f"<span style='color:{neg}'>{html.escape(c.detail)}</span>")
        self.ok_button.setEnabled(c.ok)

    def accept(self) -> None:
        """ "Move": sent to the engine; the dialog stays open with the reason if refused."""
        if self.check is not None and self.check.ok and self.send():
            super().accept()

    def send(self) -> bool:
        """Send the move to the engine; False (and the reason shown) if it is refused."""
        try:
            self.engine.move_levels(
                self.position.symbol,
                self.new_sl,
                self.new_tp,
                self.beyond.isChecked(),
                self.note.text().strip(),
            )
        except CommandRefused as exc:
            neg = theme.hex_color("neg")
            self.verdict.setText(f"<span style='color:{neg}'>{html.escape(str(exc))}</span>")
            return False
        return True
