"""Gap results of the 09:25 filter: price used and its source, the gap, pass or drop."""

from __future__ import annotations

import html

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from workstation.engine.api import EngineAPI
from workstation.engine.views import GapView, ViewName
from workstation.engine.words import words
from workstation.ui import theme
from workstation.ui.panels.base import Panel, detail_line
from workstation.ui.tables import CENTER, Column, DataTable, hhmmss, money, pct


def gap_columns() -> list[Column]:
    return [
        Column("Symbol", lambda g: g.symbol),
        Column("Strategy", lambda g: g.strategy),
        Column("Side", lambda g: g.side, align=CENTER),
        Column("Group", lambda g: g.group, align=CENTER),
        Column("Prev close", lambda g: g.prev_close, money),
        Column("Price used", lambda g: g.price, money, tooltip="The pre-market price"),
        Column(
            "Source",
            lambda g: g.source,
            align=CENTER,
            tooltip="trade: latest pre-market trade; quote: mid of the latest quote; none",
        ),
        Column(
            "Gap",
            lambda g: g.gap,
            pct,
            color_fn=lambda g: theme.color("neg") if not g.passed else None,
            tooltip="price / previous close - 1",
        ),
        Column(
            "Result",
            lambda g: "PASS" if g.passed else "DROP",
            align=CENTER,
            color_fn=lambda g: theme.color("pos" if g.passed else "neg"),
        ),
        Column(
            "Reason",
            lambda g: words(g.reason),
            color_fn=lambda g: None if g.passed else theme.color("neg"),
            tooltip=lambda g: f"{g.reason}: {g.detail}" if g.detail else g.reason,
        ),
        Column("At", lambda g: g.at, hhmmss),
        Column("Detail", lambda g: g.detail, tooltip=lambda g: g.detail),
    ]


class GapsPanel(Panel):
    TITLE = "Gap results"
    OBJECT_NAME = "gaps"
    VIEWS = frozenset({ViewName.GAPS})

    def __init__(self, engine: EngineAPI, parent: QWidget | None = None) -> None:
        super().__init__(engine, parent)
        self.summary = QLabel()
        self.summary.setObjectName("muted")
        self.table = DataTable(gap_columns(), key=lambda g: g.candidate_id, export_name="gaps")
        self.detail = detail_line("Select a row: its gap result in full")
        self.table.row_selected.connect(self._show)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.summary)
        lay.addWidget(self.table)
        lay.addWidget(self.detail)
        self.refresh()

    def _show(self, g: GapView | None) -> None:
        if g is None:
            self.detail.setText("")
            return
        verdict = "passed" if g.passed else "dropped"
        self.detail.setText(
            f"<b>{html.escape(g.symbol)}</b> {verdict}: {html.escape(words(g.reason))} "
            f"<span style='color:{theme.hex_color('muted')}'>({g.reason})</span> - "
            f"{html.escape(g.detail)}"
        )

    def refresh(self) -> None:
        gaps: tuple[GapView, ...] = self.engine.gaps()
        self.table.set_rows(gaps)
        if gaps:
            dropped = sum(not g.passed for g in gaps)
            self.summary.setText(f"{len(gaps) - dropped} passed · {dropped} dropped")
        else:
            self.summary.setText("No gap results yet: the filter runs at 09:25 ET.")
        self._show(self.table.current_row())
