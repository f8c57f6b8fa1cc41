"""Reconciliation: the store and the broker disagree; the user decides, difference by
difference, and trading stays blocked until every one is resolved.

Each row is one :class:`~workstation.engine.reconcile.Difference` with the actions that make
sense for its kind (the engine's ``Difference.actions``):

* **Adopt**: take the broker's side (manage a position only the broker holds, with a strategy
  and ATR for its SL/TP; close a position only the store has; take the broker's quantity;
  place the missing stop; track an order placed outside the app ...);
* **Ignore**: acknowledge it and change nothing;
* **Flatten**: close it out at the broker (market order, or cancel the unknown order).

The dialog never decides anything itself: it sends the choice to the engine
(:meth:`ReconcileAPI.resolve`) and shows the outcome. It is not modal: the window (and the
engines' exits and stops, which are never blocked) keep running meanwhile.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workstation.engine.api import CommandRefused
from workstation.engine.positions import EntryPlan
from workstation.engine.reconcile import Difference, DifferenceKind, Resolution
from workstation.ui import theme

KIND_TEXT: dict[DifferenceKind, str] = {
    DifferenceKind.POSITION_ONLY_AT_BROKER: "Position only at the broker",
    DifferenceKind.POSITION_ONLY_IN_STORE: "Position only in the app",
    DifferenceKind.POSITION_MISMATCH: "Quantity or side differs",
    DifferenceKind.STOP_MISSING: "Protective stop missing",
    DifferenceKind.STOP_MISMATCH: "Stop does not cover the position",
    DifferenceKind.ORDER_ONLY_AT_BROKER: "Order only at the broker",
    DifferenceKind.ORDER_ONLY_IN_STORE: "Order only in the app",
}

ACTION_TIP: dict[Resolution, str] = {
    Resolution.ADOPT: "Take the broker's side: the app's records follow the broker",
    Resolution.IGNORE: "Acknowledge it and change nothing (it no longer blocks trading)",
    Resolution.FLATTEN: "Close it out at the broker (market order, or cancel the order)",
}

COLUMNS = ("Difference", "Symbol", "App", "Broker", "Details", "Resolve")


class ReconcileAPI(Protocol):
    """What the dialog needs of the engines (:class:`~workstation.engine.facade.Workstation`)."""

    def differences(self) -> tuple[Difference, ...]: ...

    @property
    def trading_blocked(self) -> bool: ...

    def suggest_plan(self, difference: Difference) -> EntryPlan | None: ...

    def resolve(
        self, key: str, action: Resolution | str, note: str = "", plan: EntryPlan | None = None
    ) -> asyncio.Task[Any]: ...


def _qty(q: int | None) -> str:
    return "-" if q is None else f"{q:+d}"


def reconcile_texts(differences: int, blocked: bool, kill_switch: bool) -> tuple[str, str]:
    """The banner and the explanation for the state: each state says one thing only (never
    "all resolved" beside "they disagree", never "trading allowed" under the kill switch)."""
    neg, warn, pos = theme.hex_color("neg"), theme.hex_color("warn"), theme.hex_color("pos")
    if differences:
        n = differences
        return (
            f"<span style='color:{neg}; font-weight:700'>New trades are blocked</span>: "
            f"{n} difference{'s' if n != 1 else ''} to resolve.",
            "The app's records and the broker disagree. Nothing is changed until you choose, "
            "per difference: <b>Adopt</b> the broker's side, <b>Ignore</b> it, or "
            "<b>Flatten</b> it at the broker. Exits and protective stops keep working "
            "meanwhile; only new entries wait.",
        )
    if blocked:
        return (
            f"<span style='color:{warn}; font-weight:700'>Not reconciled yet</span>: the "
            "comparison with the broker is still running.",
            "New entries wait until the app's records and the broker's have been compared.",
        )
    agree = (
        f"<span style='color:{pos}; font-weight:700'>All differences resolved</span>: the "
        "app and the broker agree."
    )
    if kill_switch:
        return (
            agree + f" <span style='color:{neg}; font-weight:700'>New entries stay blocked"
            "</span>: the kill switch is engaged (Trading > Kill switch... releases it).",
            "Nothing is left to reconcile.",
        )
    return agree + " New entries are allowed.", "Nothing is left to reconcile."


def plan_text(plan: EntryPlan | None) -> str:
    if plan is None:
        return "no strategy/ATR found: cannot adopt"
    return (
        f"adopt as {plan.side} {plan.strategy}: ATR14 {plan.atr14:.2f}, "
        f"SL {plan.sl_mult:g} ATR, TP {plan.tp_mult:g} ATR"
    )


class ReconcileDialog(QDialog):
    """Lists the open differences with Adopt / Ignore / Flatten per row."""

    #: A resolution finished (the difference key and the action), or failed (with the error).
    resolved = Signal(str, str)
    failed = Signal(str, str)

    def __init__(self, api: ReconcileAPI, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.api = api
        self.setWindowTitle("Reconcile with the broker")
        self.setObjectName("reconcileDialog")
        self.setModal(False)
        self._busy: set[str] = set()
        self._plans: dict[str, EntryPlan | None] = {}
        self.buttons: dict[tuple[str, Resolution], QPushButton] = {}
        self.rows: list[Difference] = []

        lay = QVBoxLayout(self)
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.banner)
        self.intro = QLabel()
        self.intro.setWordWrap(True)
        lay.addWidget(self.intro)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        rows = self.table.verticalHeader()
        rows.setVisible(False)
        # Row heights follow the wrapped details as the dialog is resized.
        rows.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.table.setWordWrap(True)
        lay.addWidget(self.table, 1)

        note_row = QHBoxLayout()
        note_row.addWidget(QLabel("Note:"))
        self.note = QLineEdit()
        self.note.setPlaceholderText("Why (stored in the audit log with your choice)")
        note_row.addWidget(self.note, 1)
        lay.addLayout(note_row)

        self.message = QLabel()
        self.message.setWordWrap(True)
        lay.addWidget(self.message)

        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.rejected.connect(self.reject)
        self.close_button = box.button(QDialogButtonBox.StandardButton.Close)
        lay.addWidget(box)
        self.resize(980, 420)
        self.refresh()

    # ----------------------------------------------------------------- display
    def refresh(self) -> None:
        diffs = tuple(self.api.differences())
        self.rows = list(diffs)
        self.buttons.clear()
        self.table.setRowCount(len(diffs))
        for r, d in enumerate(diffs):
            cells = (
                KIND_TEXT.get(d.kind, str(d.kind)),
                d.symbol,
                _qty(d.store_qty),
                _qty(d.broker_qty),
                self._details(d),
            )
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(d.message)
                if c == 0 and d.kind in (DifferenceKind.STOP_MISSING,):
                    item.setForeground(theme.color("neg"))
                self.table.setItem(r, c, item)
            self.table.setCellWidget(r, 5, self._actions(d))
        banner, intro = reconcile_texts(len(diffs), self.api.trading_blocked, self._kill_switch())
        self.banner.setText(banner)
        self.intro.setText(intro)
        self.table.setVisible(bool(diffs))

    def _kill_switch(self) -> bool:
        status = getattr(self.api, "status", None)
        try:
            return bool(status().kill_switch) if callable(status) else False
        except Exception:  # the engines are not there yet
            return False

    def _details(self, d: Difference) -> str:
        if d.kind is DifferenceKind.POSITION_ONLY_AT_BROKER:
            if d.key not in self._plans:
                self._plans[d.key] = self.api.suggest_plan(d)
            return f"{d.message}\n{plan_text(self._plans[d.key])}"
        return d.message

    def _actions(self, d: Difference) -> QWidget:
        w = QWidget()
        lay = QHBoxLayout(w)
        lay.setContentsMargins(2, 0, 2, 0)
        lay.setSpacing(4)
        busy = d.key in self._busy
        for action in (Resolution.ADOPT, Resolution.IGNORE, Resolution.FLATTEN):
            b = QPushButton(action.value.capitalize())
            b.setObjectName(f"{action.value}Button")
            b.setToolTip(ACTION_TIP[action])
            allowed = action in d.actions
            if action is Resolution.ADOPT and d.kind is DifferenceKind.POSITION_ONLY_AT_BROKER:
                allowed = allowed and self._plans.get(d.key) is not None
            b.setEnabled(allowed and not busy)
            if action is Resolution.FLATTEN:
                b.setProperty("danger", True)
            b.clicked.connect(lambda _=False, k=d.key, a=action: self.choose(k, a))
            self.buttons[(d.key, action)] = b
            lay.addWidget(b)
        return w

    # ----------------------------------------------------------------- actions
    def button(self, key: str, action: Resolution | str) -> QPushButton:
        return self.buttons[(key, Resolution(action))]

    def choose(self, key: str, action: Resolution | str) -> asyncio.Task[Any] | None:
        """Send one resolution to the engine (what the row's button does)."""
        res = Resolution(action)
        d = next((x for x in self.rows if x.key == key), None)
        if d is None:
            return None
        note = self.note.text().strip()
        plan = self._plans.get(key) if d.kind is DifferenceKind.POSITION_ONLY_AT_BROKER else None
        try:
            task = self.api.resolve(key, res, note, plan)
        except CommandRefused as exc:
            self._show(f"{res.value.capitalize()} {d.symbol} refused: {exc}", "neg")
            self.refresh()
            return None
        self._busy.add(key)
        self._show(f"{res.value.capitalize()} {d.symbol}...", "muted")
        self.refresh()
        task.add_done_callback(lambda t, k=key, s=d.symbol, a=res: self._done(t, k, s, a))
        return task

    def _done(self, task: asyncio.Task[Any], key: str, symbol: str, action: Resolution) -> None:
        self._busy.discard(key)
        if task.cancelled():
            self._show(f"{action.value.capitalize()} {symbol} was canceled", "warn")
        elif task.exception() is not None:
            exc = task.exception()
            self._show(f"{action.value.capitalize()} {symbol} failed: {exc}", "neg")
            self.failed.emit(key, str(exc))
        else:
            self.note.clear()
            self._show(f"{symbol}: {action.value} done", "pos")
            self.resolved.emit(key, action.value)
        self.refresh()

    def _show(self, text: str, role: str) -> None:
        self.message.setText(f"<span style='color:{theme.hex_color(role)}'>{text}</span>")

    def on_event(self, _event: object) -> None:
        """An engine event (the window forwards reconciliation events): show the new state."""
        self.refresh()


__all__ = ["KIND_TEXT", "ReconcileAPI", "ReconcileDialog", "plan_text"]
