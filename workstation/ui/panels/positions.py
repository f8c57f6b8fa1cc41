"""Positions with the day-1 badge and MFE/MAE, and a live chart of the selected one.

Each position is controlled from the table's context menu or the keyboard (while the table has
the focus): F2 moves its stop or target, Delete closes it at market; both ask first.
"""

from __future__ import annotations

import time as _time
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QColor, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from workstation.core.numbers import signed, signed_pct
from workstation.engine.api import EngineAPI
from workstation.engine.views import PositionView, ViewName
from workstation.ui import theme
from workstation.ui.charts import CandlestickItem, fit_y, hline, make_plot, style_plot
from workstation.ui.dialogs.position import ClosePositionDialog, MoveLevelsDialog
from workstation.ui.panels.base import Panel
from workstation.ui.tables import (
    CENTER,
    Column,
    DataTable,
    money,
    pct,
    r_mult,
    side_column,
    signed_money,
)

if TYPE_CHECKING:  # imported where used: the window opens before pandas is loaded
    import pandas as pd

DAILY_SESSIONS = 60
CHART_REFETCH_S = 1.0  # re-read the bars at most this often; quotes move the last point between
LIVE_CHART_S = 1.0  # move the last point with the quotes at most this often (once a second)


def _pnl_color(p: PositionView) -> QColor:
    return theme.color("pos" if p.pnl >= 0 else "neg")


def _day_text(p: PositionView) -> str:
    return f"{p.day} · SL/TP off" if p.day_one else str(p.day)


class Level(float):
    """A price level that knows whether the trader moved it (shown with a mark; sorts and
    exports as the number)."""

    moved: bool

    def __new__(cls, value: float, moved: bool = False) -> Level:
        obj = super().__new__(cls, value)
        obj.moved = moved
        return obj


def level_text(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    return f"{v:,.2f}" + (" ✎" if getattr(v, "moved", False) else "")


def _level_tip(p: PositionView, which: str) -> str:
    if p.day_one:
        return "not active on day 1"
    if which == "sl":
        name, moved, rule = "stop loss", p.sl_moved, p.rule_sl
    else:
        name, moved, rule = "take profit", p.tp_moved, p.rule_tp
    if moved:
        return f"{name}, moved by you (the rule's level: {rule:,.2f}); F2 to move it"
    return f"{name} (the rule's level); F2 to move it"


def position_columns() -> list[Column]:
    return [
        Column("Symbol", lambda p: p.symbol),
        side_column(),
        Column("Qty", lambda p: p.qty, "{:,d}"),
        Column("Fill", lambda p: p.fill_price, money, tooltip="Average fill price"),
        Column("Last", lambda p: p.last, money),
        Column("P&L", lambda p: p.pnl, signed_money, color_fn=_pnl_color),
        Column("P&L %", lambda p: p.pnl_pct, pct, color_fn=_pnl_color),
        Column(
            "Day",
            _day_text,
            align=CENTER,
            sort_key=lambda p: p.day,
            background_fn=lambda p: theme.color("warn") if p.day_one else None,
            color_fn=lambda p: theme.color("base") if p.day_one else None,
            tooltip="Sessions held (entry session = day 1). Day 1: SL/TP are off, only the "
            "emergency exit applies",
        ),
        Column(
            "SL",
            lambda p: Level(p.sl, p.sl_moved),
            level_text,
            color_fn=lambda p: theme.color("muted") if p.day_one else theme.color("neg"),
            tooltip=lambda p: _level_tip(p, "sl"),
        ),
        Column(
            "TP",
            lambda p: Level(p.tp, p.tp_moved),
            level_text,
            color_fn=lambda p: theme.color("muted") if p.day_one else theme.color("pos"),
            tooltip=lambda p: _level_tip(p, "tp"),
        ),
        Column(
            "Emergency",
            lambda p: p.emergency if p.day_one else None,
            money,
            tooltip="Day-1 emergency exit level",
        ),
        Column(
            "MFE",
            lambda p: p.mfe_r,
            r_mult,
            tooltip=lambda p: f"{p.mfe_price:,.2f} ({signed_pct(p.mfe_pct)})",
        ),
        Column(
            "MAE",
            lambda p: p.mae_r,
            r_mult,
            tooltip=lambda p: f"{p.mae_price:,.2f} ({signed_pct(p.mae_pct)})",
        ),
        Column("MFE %", lambda p: p.mfe_pct, pct),
        Column("MAE %", lambda p: p.mae_pct, pct),
        Column("Strategy", lambda p: p.strategy),
        Column("Sector", lambda p: p.sector),
    ]


class PositionsPanel(Panel):
    TITLE = "Positions"
    OBJECT_NAME = "positions"
    VIEWS = frozenset({ViewName.POSITIONS})

    def __init__(self, engine: EngineAPI, parent: QWidget | None = None) -> None:
        super().__init__(engine, parent)
        self.summary = QLabel()
        self.summary.setObjectName("muted")
        self.table = DataTable(position_columns(), key=lambda p: p.symbol, export_name="positions")
        self.table.row_selected.connect(lambda _p: self.update_chart(force=True))
        self.table.setToolTip("F2: move the stop / target · Delete: close the position")
        self.levels_action = QAction("Move stop / target...", self)
        self.levels_action.setShortcut(QKeySequence(Qt.Key.Key_F2))
        self.levels_action.setToolTip("Move the selected position's stop loss or take profit")
        self.levels_action.triggered.connect(self.move_levels_selected)
        self.close_action = QAction("Close position...", self)
        self.close_action.setShortcut(QKeySequence(Qt.Key.Key_Delete))
        self.close_action.setToolTip("Close the selected position at market (exit reason MANUAL)")
        self.close_action.triggered.connect(self.close_selected)
        self.table.add_row_actions([self.levels_action, self.close_action])
        self.table.about_to_show_menu.connect(self._enable_actions)
        self.span = QComboBox()
        self.span.addItems(["Intraday", "Daily"])
        self.span.setToolTip("Chart of the selected position: today's minutes or daily bars")
        self.span.currentIndexChanged.connect(lambda _i: self.update_chart(force=True))
        self.plot, self.axis = make_plot("%H:%M")
        self.plot.setToolTip("Entry, SL, TP (dashed when off on day 1) and MFE / MAE marks")
        self._line: pg.PlotDataItem | None = None
        self._xy: tuple[np.ndarray, np.ndarray] | None = None
        self._chart_key: tuple[str, str] | None = None
        self._fetched_at = 0.0
        # What the last full draw put on the chart, for in-place updates.
        self._marks: dict[str, tuple[Any, ...]] = {}
        self._levels: tuple[object, ...] | None = None
        self._nbars = 0
        self._chart_pending = False
        self._quoted_at = 0.0

        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(QLabel("Chart:"))
        top.addWidget(self.span)
        upper = QWidget()
        ul = QVBoxLayout(upper)
        ul.setContentsMargins(0, 0, 0, 0)
        ul.addLayout(top)
        ul.addWidget(self.table)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(upper)
        split.addWidget(self.plot)
        split.setSizes([260, 300])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(split)
        self.refresh()
        if self.table.proxy.rowCount():
            self.table.select_row(0)

    # ---------------------------------------------------------------- control
    def exec_dialog(self, dialog: QDialog) -> int:
        """Run a modal dialog (the main window routes it through its own hook)."""
        return dialog.exec()

    def _enable_actions(self, p: PositionView | None) -> None:
        self.levels_action.setEnabled(p is not None and not p.exiting)
        self.close_action.setEnabled(p is not None and not p.exiting)

    def _selected(self, what: str) -> PositionView | None:
        p: PositionView | None = self.table.current_row()
        if p is None:
            self.message.emit(f"{what}: select a position first", "warning")
        elif p.exiting:
            self.message.emit(f"{what}: {p.symbol} is already being exited", "warning")
            return None
        return p

    def close_selected(self) -> None:
        """Close the selected position at market, after a confirmation."""
        p = self._selected("Close position")
        if p is None:
            return
        if self.exec_dialog(ClosePositionDialog(p, self)) != QDialog.DialogCode.Accepted:
            return
        if self.command(f"Close {p.symbol}", self.engine.close_position, p.symbol):
            self.message.emit(f"Closing {p.symbol} at market (MANUAL)", "warning")
        self.refresh()

    def move_levels_selected(self) -> None:
        """Move the selected position's stop or target (the dialog checks as you type)."""
        p = self._selected("Move stop / target")
        if p is None:
            return
        dlg = MoveLevelsDialog(p, self.engine, self)
        if self.exec_dialog(dlg) != QDialog.DialogCode.Accepted:
            return
        c = dlg.check
        self.message.emit(f"{p.symbol}: {c.detail if c else 'levels'} sent", "info")
        self.refresh()

    # ---------------------------------------------------------------- display
    def refresh(self) -> None:
        positions = self.engine.positions()
        self.table.set_rows(positions)
        if positions:
            total = sum(p.pnl for p in positions)
            day1 = sum(p.day_one for p in positions)
            self.summary.setText(
                f"{len(positions)} open · P&L {signed(total)}"
                + (f" · {day1} on day 1 (SL/TP off)" if day1 else "")
            )
        else:
            self.summary.setText("No open positions.")
        # The chart in the next turn of the loop: the table's repaint and the chart's then
        # fall in different frames (one long frame is what the user feels as a stall).
        if not self._chart_pending:
            self._chart_pending = True
            QTimer.singleShot(0, self._deferred_chart)

    def _deferred_chart(self) -> None:
        self._chart_pending = False
        self.update_chart()

    def on_quotes(self, prices: dict[str, float]) -> None:
        """Move the chart's last point with the live price between bar re-reads (at most
        every LIVE_CHART_S: a repaint per quote batch is more than the eye needs)."""
        p = self.table.current_row()
        if p is None or self._line is None or self._xy is None or p.symbol not in prices:
            return
        if self.span.currentIndex() != 0:
            return
        now = _time.monotonic()
        if now - self._quoted_at < LIVE_CHART_S:
            return
        self._quoted_at = now
        x, y = self._xy
        if len(y):
            y = y.copy()
            y[-1] = prices[p.symbol]
            self._xy = (x, y)
            self._line.setData(x, y)

    def update_chart(self, force: bool = False) -> None:
        p: PositionView | None = self.table.current_row()
        if p is None:
            self.plot.clear()
            self._line = None
            self.plot.setTitle("Select a position")
            self._chart_key = None
            return
        key = (p.symbol, self.span.currentText())
        now = _time.monotonic()
        drawn = self._levels is not None  # False: the last attempt had no bars yet
        if (
            not force
            and drawn
            and key == self._chart_key
            and now - self._fetched_at < CHART_REFETCH_S
            and self._levels == self._levels_of(p)  # moved levels are drawn at once
        ):
            return
        same = not force and key == self._chart_key
        self._chart_key, self._fetched_at = key, now
        if same and self._update_in_place(p):
            return
        self._draw(p)

    @staticmethod
    def _levels_of(p: PositionView) -> tuple[object, ...]:
        return (
            p.symbol,
            p.side,
            p.qty,
            p.day,
            p.fill_price,
            p.sl,
            p.tp,
            p.emergency,
            p.day_one,
            p.sl_moved,
            p.tp_moved,
        )

    def _update_in_place(self, p: PositionView) -> bool:
        """Move what moved (the price line, the MFE/MAE marks) without rebuilding the chart:
        creating labelled level lines costs tens of milliseconds, and this runs every second
        while prices stream. False when a full redraw is needed (levels, span or shape
        changed)."""
        if self._levels != self._levels_of(p) or not self._marks:
            return False
        intraday = self.span.currentIndex() == 0
        df = (
            self.engine.intraday(p.symbol)
            if intraday
            else self.engine.daily_bars(p.symbol, DAILY_SESSIONS)
        )
        if df.empty or len(df) < self._nbars or (not intraday and len(df) != self._nbars):
            return False
        # The marks first: a mark moving on or off the chart needs the full redraw.
        moves = []
        for label, price, at in (("MFE", p.mfe_price, p.mfe_at), ("MAE", p.mae_price, p.mae_at)):
            xi = _x_of(df.index, at, intraday)
            kind, *items = self._marks[label]
            if (kind == "point") != (xi is not None) or (kind == "line" and items[0] is None):
                return False
            moves.append((label, price, at, xi, kind, items))
        x = np.arange(len(df), dtype=float)
        if intraday:
            if self._line is None:
                return False
            y = df["close"].to_numpy(float)
            self._line.setData(x, y)
            self._xy = (x, y)
            if len(df) != self._nbars:
                self.axis.set_times(list(df.index), "%H:%M")
        for label, price, at, xi, kind, items in moves:
            if kind == "point":
                scatter, text = items
                scatter.setData([xi], [price])
                text.setText(f"{label} {price:,.2f}")
                text.setPos(xi, price)
            else:
                line = items[0]
                when = f" ({at:%m-%d %H:%M})" if at is not None else ""
                line.setValue(price)
                line.label.setFormat(f"{label}{when} {price:,.2f}")
        self._nbars = len(df)
        levels = [p.fill_price, p.sl, p.tp, p.mfe_price, p.mae_price]
        if p.day_one:
            levels.append(p.emergency)
        fit_y(self.plot.getPlotItem(), [float(df["low"].min()), float(df["high"].max()), *levels])
        return True

    def _draw(self, p: PositionView) -> None:
        t = theme.current()
        self.plot.clear()
        self._marks = {}
        self._levels = None
        item = self.plot.getPlotItem()
        intraday = self.span.currentIndex() == 0
        df = (
            self.engine.intraday(p.symbol)
            if intraday
            else self.engine.daily_bars(p.symbol, DAILY_SESSIONS)
        )
        if df.empty:
            self._line = None
            self.plot.setTitle(f"{p.symbol}: no bars yet", color=t.chart_fg)
            return
        times = list(df.index)
        x = np.arange(len(df), dtype=float)
        self.axis.set_times(times, "%H:%M" if intraday else "%m-%d")
        if intraday:
            y = df["close"].to_numpy(float)
            self._line = self.plot.plot(x, y, pen=pg.mkPen(t.accent, width=1.5))
            self._xy = (x, y)
        else:
            candles = CandlestickItem()
            candles.set_data(*(df[c].to_numpy(float) for c in ("open", "high", "low", "close")))
            item.addItem(candles)
            self._line, self._xy = None, None
        off = p.day_one
        hline(item, p.fill_price, "Entry", t.chart_fg)
        sl_text = "SL (off day 1)" if off else ("SL (moved)" if p.sl_moved else "SL")
        tp_text = "TP (off day 1)" if off else ("TP (moved)" if p.tp_moved else "TP")
        hline(item, p.sl, sl_text, t.neg, dashed=off)
        hline(item, p.tp, tp_text, t.pos, dashed=off)
        if off:
            hline(item, p.emergency, "Emergency", t.warn, dashed=True)
        # MFE / MAE: a marker where (and when) they happened, when that is on the chart.
        for label, price, at, col in (
            ("MFE", p.mfe_price, p.mfe_at, t.pos),
            ("MAE", p.mae_price, p.mae_at, t.neg),
        ):
            xi = _x_of(df.index, at, intraday)
            if xi is None:  # it happened before this chart's first bar: show the level
                when = f" ({at:%m-%d %H:%M})" if at is not None else ""
                line = hline(
                    item, price, f"{label}{when}", col, dashed=True, width=0.8, label_at=0.55
                )
                self._marks[label] = ("line", line)
                continue
            scatter = self.plot.plot(
                [xi],
                [price],
                pen=None,
                symbol="t" if label == "MAE" else "t1",
                symbolSize=13,
                symbolBrush=pg.mkBrush(col),
                symbolPen=pg.mkPen(col),
            )
            text = pg.TextItem(
                f"{label} {price:,.2f}", color=col, anchor=(0.5, 1.6 if label == "MFE" else -0.6)
            )
            text.setPos(xi, price)
            item.addItem(text)
            self._marks[label] = ("point", scatter, text)
        self._levels = self._levels_of(p)
        self._nbars = len(df)
        levels = [p.fill_price, p.sl, p.tp, p.mfe_price, p.mae_price]
        if off:
            levels.append(p.emergency)
        fit_y(item, [float(df["low"].min()), float(df["high"].max()), *levels])
        self.plot.setTitle(
            f"{p.symbol} {'intraday' if intraday else 'daily'} · {p.side} {p.qty} @ "
            f"{p.fill_price:,.2f} · day {p.day}",
            color=t.chart_fg,
        )

    def apply_theme(self) -> None:
        style_plot(self.plot)
        self.update_chart(force=True)


def _x_of(index: pd.Index, at: object, intraday: bool) -> float | None:
    """The chart x of time ``at`` (the bar containing it), or None when off the chart."""
    import pandas as pd

    if at is None or not len(index):
        return None
    ts = pd.Timestamp(at)  # type: ignore[arg-type]
    idx = pd.DatetimeIndex(index)
    if not intraday:
        days = idx.normalize() if idx.tz is None else idx.tz_convert(ts.tz).normalize()
        hit = np.flatnonzero(days.date == ts.date())
        return float(hit[0]) if len(hit) else None
    if ts < idx[0] - pd.Timedelta(minutes=1) or ts > idx[-1]:
        return None
    # Minute bars are stamped with their end: the bar containing ``at`` is the first end >= at.
    return float(min(int(idx.searchsorted(ts, side="left")), len(idx) - 1))
