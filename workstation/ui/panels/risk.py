"""Risk: the account, the exposure, the open risk to the stops (portfolio heat), the position
and sector caps, and how far equity can still fall before the kill switch engages."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter, QPaintEvent, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QGroupBox,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from workstation.engine.api import EngineAPI
from workstation.engine.views import RiskView, SectorLoad, ViewName
from workstation.ui import theme
from workstation.ui.panels.base import Panel
from workstation.ui.tables import CENTER, Column, DataTable, money, side_column

WARN_AT = 0.8  # a gauge turns amber from 80% of its limit, red at 100%


def _money(x: float) -> str:
    return f"${x:,.2f}" if math.isfinite(x) else "n/a"


def _pct(x: float) -> str:
    return f"{x:.1%}" if math.isfinite(x) else "n/a"


def _share(a: float, b: float) -> float:
    """a / b, NaN when b is not a positive number (no equity known yet)."""
    return a / b if math.isfinite(b) and b > 0 else math.nan


def _r(x: float) -> str:
    return f"{x:.2f} R" if math.isfinite(x) else "n/a"


def position_risk_columns() -> list[Column]:
    return [
        Column("Symbol", lambda r: r.symbol),
        side_column(),
        Column("Value", lambda r: r.notional, money, tooltip="Quantity x last price"),
        Column(
            "Stop",
            lambda r: r.stop,
            money,
            tooltip=lambda r: f"the active stop: the {r.stop_kind}",
        ),
        Column("Stop is", lambda r: r.stop_kind),
        Column(
            "At risk",
            lambda r: r.risk,
            money,
            tooltip="Lost from the last price if the active stop is hit",
        ),
        Column(
            "At risk (R)", lambda r: r.risk_r, "{:.2f} R", tooltip="One R = SL multiple x ATR14"
        ),
        Column("Sector", lambda r: r.sector),  # last: it takes the width left
    ]


def sector_columns() -> list[Column]:
    def load_color(s: SectorLoad) -> object:
        if s.used >= s.cap:
            return theme.color("neg")
        return theme.color("warn") if s.used >= s.cap - 1 else None

    return [
        Column("Sector", lambda s: s.sector, width=130, tooltip=lambda s: s.sector),
        Column(
            "Of cap",
            lambda s: f"{s.used} of {s.cap}",
            align=CENTER,
            sort_key=lambda s: s.used / s.cap if s.cap else 0,
            color_fn=load_color,
            tooltip=lambda s: (
                f"{s.positions} open + {s.pending} pending entries against the "
                f"sector cap of {s.cap} (risk.yaml: portfolio.max_per_sector)"
            ),
        ),
        Column("Value", lambda s: s.notional, money),
    ]


class Bar(QWidget):
    """How much of a limit is used, as a thin bar in its role's colour.

    Painted by hand rather than a ``QProgressBar``: that one repaints synchronously on every
    ``setValue`` (flushing whatever else of the window was due to be painted, pyqtgraph's
    charts included, inside the call), and its colour needs a style sheet that costs
    milliseconds to apply. This one schedules a repaint only when what it shows changed, and
    reads the theme's colour when it paints.
    """

    HEIGHT = 8

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.value = 0.0  # 0..1
        self.role = "pos"
        self.setFixedHeight(self.HEIGHT)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set(self, value: float, role: str) -> None:
        if (value, role) != (self.value, self.role):
            self.value, self.role = value, role
            self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        r = self.rect()
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(theme.color("alt_base"))
        p.drawRect(r)
        p.setPen(theme.color("border"))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(r.adjusted(0, 0, -1, -1))
        filled = round((r.width() - 2) * self.value)
        if filled > 0:
            p.fillRect(r.x() + 1, r.y() + 1, filled, r.height() - 2, theme.color(self.role))
        p.end()


class Gauge(QWidget):
    """One line "caption: the figures" over a bar of how much of a limit is used."""

    def __init__(self, caption: str, tooltip: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.caption = caption
        self.bar = Bar()
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 2)
        lay.setSpacing(1)
        lay.addWidget(self.text)
        lay.addWidget(self.bar)
        self.setToolTip(tooltip)
        self.used = math.nan

    def set(self, used: float, text: str) -> None:
        """``used``: the share of the limit used (0..1, more is over it)."""
        self.used = used
        shown = 0.0 if not math.isfinite(used) else min(max(used, 0.0), 1.0)
        role = "pos" if not math.isfinite(used) or used < WARN_AT else "warn"
        if math.isfinite(used) and used >= 1.0:
            role = "neg"
        self.bar.set(shown, role)
        muted = theme.hex_color("muted")
        html = f"<span style='color:{muted}'>{self.caption}:</span> {text}"
        if html != self.text.text():
            self.text.setText(html)


class RiskPanel(Panel):
    TITLE = "Risk"
    OBJECT_NAME = "risk"
    VIEWS = frozenset({ViewName.STATUS, ViewName.POSITIONS, ViewName.ORDERS, ViewName.CANDIDATES})
    REFRESH_MS = 300  # the risk view changes with every price

    def __init__(self, engine: EngineAPI, parent: QWidget | None = None) -> None:
        super().__init__(engine, parent)
        self.last: RiskView | None = None
        self.values: dict[str, QLabel] = {}

        account = QGroupBox("Account and exposure")
        grid = QGridLayout(account)
        grid.setHorizontalSpacing(18)
        grid.setVerticalSpacing(2)
        cells = (
            ("equity", "Equity", "Account equity"),
            ("cash", "Cash", "Cash in the account"),
            ("buying_power", "Buying power", "What the broker lets you buy now"),
            ("pending", "Pending entries", "Entry orders still working, at their reference price"),
            ("long", "Long", "Long positions at the last price (share of equity)"),
            ("short", "Short", "Short positions at the last price (share of equity)"),
            ("gross", "Gross", "Long + short (share of equity)"),
            ("net", "Net", "Long - short (share of equity)"),
        )
        self._cells: list[tuple[QLabel, QLabel]] = []
        for key, caption, tip in cells:
            cap = QLabel(caption)
            cap.setObjectName("muted")
            val = QLabel("-")
            val.setObjectName("statusValue")
            val.setTextFormat(Qt.TextFormat.RichText)
            for w in (cap, val):
                w.setToolTip(tip)
            self._cells.append((cap, val))
            self.values[key] = val
        self._grid, self._columns = grid, 0
        self._lay_cells(3)

        limits = QGroupBox("Limits")
        lg = QGridLayout(limits)
        lg.setHorizontalSpacing(18)
        self.heat = Gauge(
            "Open risk (heat)",
            "What the portfolio loses from the last prices if every active stop is hit "
            "(the emergency level on day 1, the stop loss from day 2); the bar is full at 10% "
            "of equity",
        )
        self.kill = Gauge(
            "Daily loss limit",
            "The kill switch engages when equity falls to the session's start minus the daily "
            "loss limit (risk.yaml: portfolio.daily_loss_limit); the bar is the loss so far",
        )
        self.cap = Gauge(
            "Positions",
            "Open positions + pending entries against min(the regime's max open positions, "
            "the cap of any regime) (scanner.yaml: regime, risk.yaml: portfolio)",
        )
        self.gross = Gauge("Gross exposure", "Long + short against equity x max_gross_exposure")
        for i, g in enumerate((self.heat, self.kill, self.cap, self.gross)):
            lg.addWidget(g, i, 0)
        lg.setVerticalSpacing(4)

        inner = QWidget()
        il = QVBoxLayout(inner)
        il.setContentsMargins(0, 0, 0, 0)
        il.addWidget(account)
        il.addWidget(limits)
        il.addStretch(1)
        # Never cut: on a small screen the figures scroll instead.
        upper = QScrollArea()
        upper.setWidget(inner)
        upper.setWidgetResizable(True)
        upper.setFrameShape(QFrame.Shape.NoFrame)

        self.sectors = DataTable(sector_columns(), key=lambda s: s.sector, export_name="sectors")
        self.sectors.setToolTip("Open positions and pending entries per sector, against the cap")
        self.table = DataTable(
            position_risk_columns(), key=lambda r: r.symbol, export_name="position-risk"
        )
        self.table.setToolTip("Each position's risk to its active stop, largest first")
        tables = QSplitter(Qt.Orientation.Horizontal)
        tables.addWidget(self.table)
        tables.addWidget(self.sectors)
        tables.setSizes([640, 300])
        tables.setStretchFactor(0, 2)
        tables.setStretchFactor(1, 1)
        self.empty = QLabel()
        self.empty.setObjectName("muted")
        self.empty.setWordWrap(True)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(upper)
        split.addWidget(tables)
        split.setSizes([330, 230])
        self.split, self.upper = split, upper
        self._sized = False
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.empty)
        lay.addWidget(split, 1)
        self.refresh()

    def refresh(self) -> None:
        view = self.engine.risk()
        if view is None:  # the engines are starting
            self.empty.setText("Waiting for the engines...")
            return
        if view == self.last:
            return
        self.last = view
        self.empty.setText("")
        self.empty.setVisible(False)
        pos, neg = theme.hex_color("pos"), theme.hex_color("neg")
        eq = view.equity
        v = self.values
        v["equity"].setText(_money(eq))
        v["cash"].setText(_money(view.cash))
        v["buying_power"].setText(_money(view.buying_power))
        for key, amount in (
            ("long", view.long_exposure),
            ("short", view.short_exposure),
            ("gross", view.gross_exposure),
        ):
            v[key].setText(f"{_money(amount)} ({_pct(_share(amount, eq))})")
        net = view.net_exposure
        v["net"].setText(
            f"<span style='color:{pos if net >= 0 else neg}'>{net:+,.2f}</span> "
            f"({_pct(_share(net, eq))})"
        )
        v["pending"].setText(f"{view.pending_entries} · {_money(view.pending_exposure)}")

        self.heat.set(
            view.heat / 0.1 if math.isfinite(view.heat) else math.nan,  # full bar at 10%
            f"<b>{_money(view.open_risk)}</b> = {_pct(view.heat)} of equity, "
            f"<b>{_r(view.open_risk_r)}</b> ({view.open_positions} positions)",
        )
        self._kill(view)
        used = view.open_positions + view.pending_entries
        self.cap.set(
            used / view.position_cap if view.position_cap else math.nan,
            f"<b>{view.open_positions}</b> open + <b>{view.pending_entries}</b> pending = "
            f"<b>{used}</b> of <b>{view.position_cap}</b> "
            + (
                f"(the {view.regime} regime's cap; {view.any_regime_cap} in any)"
                if view.regime
                else "(no scan yet: the cap of any regime)"
            ),
        )
        self.gross.set(
            _share(view.gross_exposure, view.max_gross),
            f"{_money(view.gross_exposure)} of {_money(view.max_gross)} "
            f"({_pct(_share(view.gross_exposure, view.max_gross))})",
        )
        self.sectors.set_rows(view.sectors)
        self.table.set_rows(view.positions)

    def _kill(self, view: RiskView) -> None:
        start = view.start_equity
        if not math.isfinite(start) or start <= 0:
            self.kill.set(math.nan, "the session has not started: no starting equity yet")
            return
        allowed = start * view.daily_loss_limit
        lost = max(0.0, start - view.equity)
        room = view.loss_room
        neg = theme.hex_color("neg")
        if view.kill_switch:
            why = f" ({view.kill_reason})" if view.kill_reason else ""
            text = f"<b style='color:{neg}'>ENGAGED{why}</b>: no new entries this session"
        else:
            text = (
                f"<b>{_money(room)}</b> to go: the kill switch engages at "
                f"{_money(view.kill_level)} ({view.daily_loss_limit:.0%} under the start, "
                f"{_money(start)})"
            )
        self.kill.set(_share(lost, allowed), text)

    def _lay_cells(self, columns: int) -> None:
        """The account's figures in ``columns`` columns (four on a wide panel, fewer on a
        narrow one: a figure is never cut)."""
        if columns == self._columns:
            return
        self._columns = columns
        for cap, val in self._cells:
            self._grid.removeWidget(cap)
            self._grid.removeWidget(val)
        for i, (cap, val) in enumerate(self._cells):
            row, col = divmod(i, columns)
            self._grid.addWidget(cap, 2 * row, col)
            self._grid.addWidget(val, 2 * row + 1, col)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        width = event.size().width()
        self._lay_cells(4 if width >= 760 else 3 if width >= 480 else 2)

    def showEvent(self, event: QShowEvent) -> None:
        """The first time it shows: the figures get the height they need (when the panel
        has it), the tables the rest."""
        super().showEvent(event)
        if not self._sized:
            self._sized = True
            need = self.upper.widget().sizeHint().height() + 4
            total = sum(self.split.sizes())
            if total > 0:
                top = min(need, int(total * 0.7))
                self.split.setSizes([top, total - top])

    def apply_theme(self) -> None:
        self.last = None  # the same figures, in the new theme's colours
        self.refresh()
