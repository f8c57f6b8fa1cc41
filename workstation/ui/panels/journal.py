"""Journal: closed trades with their exit reasons, and every vetoed candidate: its paper
outcome once closed, still followed on paper, waiting for its entry time, or not followed and
why (a veto the rules would have dropped anyway)."""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workstation.core.models import Side
from workstation.core.numbers import signed
from workstation.engine.api import EngineAPI
from workstation.engine.views import TradeView, VetoState, VetoView, ViewName
from workstation.engine.words import exit_words
from workstation.ui import theme
from workstation.ui.panels.base import Panel
from workstation.ui.tables import CENTER, Column, DataTable, money, pct, r_mult, signed_money

ALL_STRATEGIES = "All strategies"
KINDS = ("Trades and vetoed", "Trades only", "Vetoed only")
ALL_REASONS = "All exit reasons"


def _dt(v: object) -> str:
    return "" if v is None else v.strftime("%Y-%m-%d %H:%M")  # type: ignore[attr-defined]


#: A journal row: a closed trade or paper outcome, or a veto with no paper exit (yet).
Row = TradeView | VetoView

#: The Kind column of a veto without a paper exit (a closed one is a "vetoed (paper)" trade).
VETO_KIND = {
    VetoState.WAITING: "vetoed (waiting)",
    VetoState.FOLLOWING: "vetoed (on paper)",
    VetoState.NOT_FOLLOWED: "vetoed (not followed)",
}


def _pnl_color(t: Row) -> QColor | None:
    if math.isnan(t.pnl):
        return None
    return theme.color("pos" if t.pnl >= 0 else "neg")


def _kind(t: Row) -> str:
    if isinstance(t, VetoView):
        return VETO_KIND.get(t.state, "vetoed")
    return "vetoed (paper)" if t.vetoed else "trade"


def _reason(t: Row) -> str:
    """The exit reason in words; for a veto without a paper exit, where it stands."""
    return t.why if isinstance(t, VetoView) else exit_words(t.exit_reason)


def _reason_tooltip(t: Row) -> str:
    if isinstance(t, VetoView):
        return f"Vetoed for {t.session:%Y-%m-%d} (group {t.group}): {t.why}"
    return t.exit_reason


def journal_columns() -> list[Column]:
    return [
        Column("Exit", lambda t: t.exit_at, _dt),
        Column("Symbol", lambda t: t.symbol),
        Column(
            "Side",
            lambda t: t.side,
            align=CENTER,
            color_fn=lambda t: theme.color("pos" if t.side is Side.LONG else "neg"),
        ),
        Column("Strategy", lambda t: t.strategy),
        Column("Qty", lambda t: t.qty, "{:,d}"),
        Column("Entry", lambda t: t.entry_at, _dt),
        Column("Entry price", lambda t: t.entry_price, money),
        Column("Exit price", lambda t: t.exit_price, money),
        Column(
            "Exit reason",
            _reason,
            sort_key=lambda t: t.exit_reason,
            color_fn=lambda t: theme.color("muted") if isinstance(t, VetoView) else None,
            tooltip=_reason_tooltip,
        ),
        Column("P&L", lambda t: t.pnl, signed_money, color_fn=_pnl_color),
        Column("P&L %", lambda t: t.pnl_pct, pct, color_fn=_pnl_color),
        Column("R", lambda t: t.r, r_mult, color_fn=_pnl_color),
        Column("MFE", lambda t: t.mfe_r, r_mult),
        Column("MAE", lambda t: t.mae_r, r_mult),
        Column(
            "Kind",
            _kind,
            align=CENTER,
            color_fn=lambda t: theme.color("warn") if t.vetoed else None,
            tooltip=(
                "vetoed (paper): what a vetoed candidate did on paper, by the same rules; "
                "on paper: still followed; waiting: its entry time has not come; not "
                "followed: a real entry would not have happened either (why: Exit reason)"
            ),
        ),
        Column("Note", lambda t: t.note, tooltip=lambda t: t.note),
    ]


class JournalPanel(Panel):
    TITLE = "Journal"
    OBJECT_NAME = "journal"
    VIEWS = frozenset({ViewName.TRADES, ViewName.CANDIDATES})  # vetoes change with both

    def __init__(self, engine: EngineAPI, parent: QWidget | None = None) -> None:
        super().__init__(engine, parent)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter: symbol or note")
        self.search.setClearButtonEnabled(True)
        self.strategy = QComboBox()
        self.strategy.addItem(ALL_STRATEGIES)
        self.kind = QComboBox()
        self.kind.addItems(KINDS)
        self.reason = QComboBox()
        self.reason.addItem(ALL_REASONS)
        self.export_btn = QPushButton("Export CSV...")
        self.export_btn.setToolTip("Save the rows shown (filtered, sorted) as a CSV file")
        self.summary = QLabel()
        self.summary.setObjectName("muted")
        for w in (self.strategy, self.kind, self.reason):
            w.currentIndexChanged.connect(lambda _i: self.apply_filter())
        self.search.textChanged.connect(lambda _t: self.apply_filter())
        self.table = DataTable(journal_columns(), key=lambda t: t.id, export_name="journal")
        self.export_btn.clicked.connect(self.table.export_action.trigger)
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.strategy)
        top.addWidget(self.kind)
        top.addWidget(self.reason)
        top.addWidget(self.export_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.table)
        lay.addWidget(self.summary)
        self.refresh()

    @staticmethod
    def _sync(
        combo: QComboBox, first: str, items: list[str], label: Callable[[str], str] = str
    ) -> None:
        """Offer ``items`` (each shown as ``label(item)``, filtered on the item itself)."""
        if [combo.itemData(i) for i in range(1, combo.count())] == items:
            return
        cur = combo.currentData()
        combo.blockSignals(True)
        combo.clear()
        combo.addItem(first, None)
        for item in items:
            combo.addItem(label(item), item)
        combo.setCurrentIndex(max(combo.findData(cur), 0) if cur is not None else 0)
        combo.blockSignals(False)

    def refresh(self) -> None:
        # A closed paper outcome is already a trade row: the other vetoes are added.
        rows: list[Row] = [*self.engine.trades()]
        rows += [v for v in self.engine.vetoes() if v.state is not VetoState.CLOSED]
        self._sync(self.strategy, ALL_STRATEGIES, sorted({t.strategy for t in rows}))
        reasons = sorted({t.exit_reason for t in rows if t.exit_reason})
        self._sync(self.reason, ALL_REASONS, reasons, exit_words)
        self.table.set_rows(rows)
        self.apply_filter()

    def apply_filter(self) -> None:
        text = self.search.text().strip().lower()
        strategy = self.strategy.currentData()
        kind = self.kind.currentIndex()
        reason = self.reason.currentData()

        def keep(t: Row) -> bool:
            if text and text not in t.symbol.lower() and text not in t.note.lower():
                return False
            if strategy is not None and t.strategy != strategy:
                return False
            if (kind == 1 and t.vetoed) or (kind == 2 and not t.vetoed):
                return False
            return reason is None or t.exit_reason == reason

        self.table.set_filter(keep)
        self.summary.setText(footer(self.table.visible_rows()))


def footer(rows: list[Row]) -> str:
    """The trades' P&L, and every veto counted: closed on paper (what they would have
    made), still followed, waiting, not followed."""
    real = [t for t in rows if not t.vetoed]
    closed = [t for t in rows if isinstance(t, TradeView) and t.vetoed]
    state = [t.state for t in rows if isinstance(t, VetoView)]
    text = f"{len(real)} trades, P&L {signed(sum(t.pnl for t in real))}"
    n = len(closed) + len(state)
    if not n:
        return text + " · no vetoes"
    parts = [f"{len(closed)} closed on paper, would have made {signed(sum(t.pnl for t in closed))}"]
    for st, words in (
        (VetoState.FOLLOWING, "still followed on paper"),
        (VetoState.WAITING, "waiting for the entry time"),
        (VetoState.NOT_FOLLOWED, "not followed"),
    ):
        if k := state.count(st):
            parts.append(f"{k} {words}")
    return f"{text} · {n} vetoed: " + ", ".join(parts)
