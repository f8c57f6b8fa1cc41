"""Orders and entries: every order of the session with its state, group, confirmation
prices and rejections, and the entries decided against before any order was sent ("not
sent", with why in words; the code and the details in the tooltip and the line below)."""

from __future__ import annotations

import html

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from workstation.core.models import OrderStatus
from workstation.engine.api import EngineAPI
from workstation.engine.views import OrderView, ViewName
from workstation.engine.words import split_reason, words
from workstation.ui import theme
from workstation.ui.panels.base import Panel, detail_line
from workstation.ui.tables import CENTER, Column, DataTable, hhmmss, money

STATUS_ROLE = {
    OrderStatus.FILLED: "pos",
    OrderStatus.PARTIALLY_FILLED: "accent",
    OrderStatus.REJECTED: "neg",
    OrderStatus.CANCELED: "muted",
    OrderStatus.EXPIRED: "muted",
    OrderStatus.NEW: "warn",
    OrderStatus.ACCEPTED: "warn",
}

NOT_SENT = "not sent"

FILTERS = {
    "All orders": lambda o: True,
    "Open": lambda o: o.sent and o.status.is_open,
    "Filled": lambda o: o.status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED),
    "Rejected / canceled": lambda o: (
        o.sent and (o.status in (OrderStatus.REJECTED, OrderStatus.CANCELED, OrderStatus.EXPIRED))
    ),
    "Not sent (decided against)": lambda o: not o.sent,
    "Entries only": lambda o: str(o.intent) == "entry",
}


def status_role(o: OrderView) -> str:
    return STATUS_ROLE.get(o.status, "text") if o.sent else "muted"


def status_text(o: OrderView) -> str:
    return str(o.status) if o.sent else NOT_SENT


def why_text(o: OrderView) -> str:
    """Why it was rejected or not sent, in words (the code and details: the tooltip)."""
    code, detail = split_reason(o.reject_reason)
    if code:
        return words(code)
    return detail


def why_tooltip(o: OrderView) -> str:
    code, detail = split_reason(o.reject_reason)
    if not code:
        return detail
    return f"{words(code)} ({code})" + (f"\n{detail}" if detail else "")


def _confirm_text(o: OrderView) -> str:
    if o.confirmed is None:
        return ""
    return "confirmed" if o.confirmed else "not confirmed"


def order_columns() -> list[Column]:
    return [
        Column("Updated", lambda o: o.updated_at, hhmmss),
        Column("Symbol", lambda o: o.symbol),
        Column("Side", lambda o: o.side, align=CENTER),
        Column(
            "Qty",
            lambda o: o.qty if o.sent else None,
            "{:,d}",
            tooltip="Shares ordered (none for an entry decided against before sending)",
        ),
        Column("Type", lambda o: o.type, align=CENTER),
        Column("TIF", lambda o: o.tif, align=CENTER, tooltip="opg: market-on-open"),
        Column("Intent", lambda o: o.intent, align=CENTER, tooltip="entry, stop, exit, flatten"),
        Column("Group", lambda o: o.group, align=CENTER),
        Column(
            "Status",
            status_text,
            align=CENTER,
            color_fn=lambda o: theme.color(status_role(o)),
            tooltip="not sent: the entry was decided against before any order went out",
        ),
        Column(
            "At broker",
            lambda o: o.broker_status,
            align=CENTER,
            tooltip="The broker's own word for the state (Alpaca: new = routed, accepted = "
            "held until the open, replaced = a stop replaced by a new one); blank on the "
            "simulated exchange, whose states are the Status column's",
        ),
        Column("Filled", lambda o: o.filled_qty if o.sent else None, "{:,d}"),
        Column("Avg price", lambda o: o.avg_price, money),
        Column("Stop", lambda o: o.stop_price, money),
        Column("Limit", lambda o: o.limit_price, money),
        Column("Open", lambda o: o.confirm_open, money, tooltip="Group B: the official open"),
        Column("09:50 price", lambda o: o.confirm_price, money, tooltip="Group B: latest trade"),
        Column(
            "Threshold",
            lambda o: o.confirm_threshold,
            money,
            tooltip="Group B: long needs price >= open x 0.997, short price <= open x 1.003",
        ),
        Column(
            "Confirmation",
            _confirm_text,
            color_fn=lambda o: (
                None if o.confirmed is None else theme.color("pos" if o.confirmed else "neg")
            ),
        ),
        Column("Strategy", lambda o: o.strategy),
        Column(
            "Why",
            why_text,
            color_fn=lambda o: theme.color("neg" if o.sent else "warn"),
            tooltip=why_tooltip,
        ),
        Column("Client order id", lambda o: o.client_order_id, tooltip=lambda o: o.client_order_id),
    ]


class OrdersPanel(Panel):
    TITLE = "Orders and entries"
    OBJECT_NAME = "orders"
    VIEWS = frozenset({ViewName.ORDERS})

    def __init__(self, engine: EngineAPI, parent: QWidget | None = None) -> None:
        super().__init__(engine, parent)
        self.filter = QComboBox()
        self.filter.addItems(list(FILTERS))
        self.filter.setToolTip("Show only some orders")
        self.filter.currentTextChanged.connect(self._apply_filter)
        self.summary = QLabel()
        self.summary.setObjectName("muted")
        top = QHBoxLayout()
        top.addWidget(self.filter)
        top.addWidget(self.summary, 1)
        self.table = DataTable(
            order_columns(), key=lambda o: o.client_order_id, export_name="orders"
        )
        self.detail = detail_line("Select a row: why it was rejected or not sent, in full")
        self.table.row_selected.connect(self._show)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.table)
        lay.addWidget(self.detail)
        self.refresh()

    def _show(self, o: OrderView | None) -> None:
        if o is None or not o.reject_reason:
            self.detail.setText("")
            return
        code, detail = split_reason(o.reject_reason)
        head = f"<b>{html.escape(o.symbol)}</b> {html.escape(status_text(o))}: "
        if code:
            head += (
                f"{html.escape(words(code))} "
                f"<span style='color:{theme.hex_color('muted')}'>({code})</span>"
            )
        self.detail.setText(head + (f" - {html.escape(detail)}" if detail else ""))

    def _apply_filter(self, name: str) -> None:
        self.table.set_filter(FILTERS.get(name))

    def refresh(self) -> None:
        orders = self.engine.orders()
        self.table.set_rows(orders)
        sent = [o for o in orders if o.sent]
        n_open = sum(o.status.is_open for o in sent)
        rejected = sum(o.status is OrderStatus.REJECTED for o in sent)
        not_sent = len(orders) - len(sent)
        self.summary.setText(
            f"{len(sent)} orders · {n_open} open · {rejected} rejected · "
            f"{not_sent} entries not sent"
            if orders
            else "No orders this session."
        )
        self._show(self.table.current_row())
