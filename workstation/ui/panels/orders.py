"""Orders and entries: every order of the session with its state, group, confirmation
prices and rejections."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from workstation.core.models import OrderStatus
from workstation.engine.api import EngineAPI
from workstation.engine.views import OrderView, ViewName
from workstation.ui import theme
from workstation.ui.panels.base import Panel
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

FILTERS = {
    "All orders": lambda o: True,
    "Open": lambda o: o.status.is_open,
    "Filled": lambda o: o.status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED),
    "Rejected / canceled": lambda o: (
        o.status in (OrderStatus.REJECTED, OrderStatus.CANCELED, OrderStatus.EXPIRED)
    ),
    "Entries only": lambda o: str(o.intent) == "entry",
}


def _confirm_text(o: OrderView) -> str:
    if o.confirmed is None:
        return ""
    return "confirmed" if o.confirmed else "not confirmed"


def order_columns() -> list[Column]:
    return [
        Column("Updated", lambda o: o.updated_at, hhmmss),
        Column("Symbol", lambda o: o.symbol),
        Column("Side", lambda o: o.side, align=CENTER),
        Column("Qty", lambda o: o.qty, "{:,d}"),
        Column("Type", lambda o: o.type, align=CENTER),
        Column("TIF", lambda o: o.tif, align=CENTER, tooltip="opg: market-on-open"),
        Column("Intent", lambda o: o.intent, align=CENTER, tooltip="entry, stop, exit, flatten"),
        Column("Group", lambda o: o.group, align=CENTER),
        Column(
            "Status",
            lambda o: o.status,
            align=CENTER,
            color_fn=lambda o: theme.color(STATUS_ROLE.get(o.status, "text")),
        ),
        Column(
            "At broker",
            lambda o: o.broker_status,
            align=CENTER,
            tooltip="The broker's own word for the state (Alpaca: new = routed, accepted = "
            "held until the open, replaced = a stop replaced by a new one); blank on the "
            "simulated exchange, whose states are the Status column's",
        ),
        Column("Filled", lambda o: o.filled_qty, "{:,d}"),
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
            "Reject reason",
            lambda o: o.reject_reason,
            color_fn=lambda o: theme.color("neg"),
            tooltip=lambda o: o.reject_reason,
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
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.table)
        self.refresh()

    def _apply_filter(self, name: str) -> None:
        self.table.set_filter(FILTERS.get(name))

    def refresh(self) -> None:
        orders = self.engine.orders()
        self.table.set_rows(orders)
        n_open = sum(o.status.is_open for o in orders)
        rejected = sum(o.status is OrderStatus.REJECTED for o in orders)
        self.summary.setText(
            f"{len(orders)} orders · {n_open} open · {rejected} rejected"
            if orders
            else "No orders this session."
        )
