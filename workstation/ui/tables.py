"""Tables declared by their columns: one generic model, one view, no per-panel models.

A panel lists its :class:`Column` s (title, how to get the value from a row object,
how to format it, alignment, sort key, colour, tooltip) and hands rows (the engine's
frozen view dataclasses) to a :class:`DataTable`. Sorting goes through a proxy that
compares the Python sort keys (None last), so numbers sort as numbers and dates as dates.
Right-click gives "Copy" (selected rows as TSV, with the header) and "Export CSV...", after
the panel's own row actions (:meth:`DataTable.add_row_actions`).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QBrush,
    QColor,
    QGuiApplication,
    QKeySequence,
    QResizeEvent,
)
from PySide6.QtWidgets import QAbstractItemView, QFileDialog, QHeaderView, QMenu, QTableView

from workstation.core.numbers import signed, signed_pct

Row = Any
Index = QModelIndex | QPersistentModelIndex

LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
CENTER = Qt.AlignmentFlag.AlignCenter

#: Role under which the model hands the proxy a row's Python sort key.
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
#: Role under which the model hands out the row object itself.
ROW_ROLE = Qt.ItemDataRole.UserRole + 2


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def plain(v: Any) -> str:
    """A value as text when no format is given (enums by value, times short)."""
    if _is_missing(v):
        return ""
    if isinstance(v, Enum):
        return str(v.value)
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, float):
        return f"{v:,.2f}"
    return str(v)


def fmt_spec(spec: str) -> Callable[[Any], str]:
    """A formatter from a ``str.format`` spec such as ``"{:,.2f}"`` (missing values: empty)."""

    def f(v: Any) -> str:
        return "" if _is_missing(v) else spec.format(v)

    return f


# Formatters the panels share (signed ones never read "-0.00").
money = fmt_spec("{:,.2f}")
integer = fmt_spec("{:,d}")


def signed_money(v: Any) -> str:
    return "" if _is_missing(v) else signed(v, 2)


def pct(v: Any) -> str:
    return "" if _is_missing(v) else signed_pct(v)


def r_mult(v: Any) -> str:
    return "" if _is_missing(v) else signed(v, 2, " R")


#: A text column is at most this wide when fitted (its cell's tooltip and the panel's detail
#: line hold the rest); a number column is always as wide as its widest value.
TEXT_WIDTH_CAP = 360


def hhmmss(v: Any) -> str:
    return "" if v is None else v.strftime("%H:%M:%S")


@dataclass(frozen=True)
class Column:
    """One column: ``getter(row)`` gives the value; the rest say how to show it.

    ``fmt``: a callable value -> text or a ``str.format`` spec (default: :func:`plain`).
    ``align``: default right for numbers, left otherwise. ``sort_key``: row -> key
    (default: the value). ``color_fn``: row -> foreground colour (a QColor or a name) or
    None. ``background_fn``: row -> background colour or None. ``tooltip``: static text
    (the header's tooltip) or row -> text (a cell's).
    """

    title: str
    getter: Callable[[Row], Any]
    fmt: Callable[[Any], str] | str | None = None
    align: Qt.AlignmentFlag | None = None
    sort_key: Callable[[Row], Any] | None = None
    color_fn: Callable[[Row], QColor | str | None] | None = None
    tooltip: str | Callable[[Row], str] | None = None
    background_fn: Callable[[Row], QColor | str | None] | None = None
    width: int | None = None  # initial width in pixels (None: fit the contents)

    def text(self, row: Row) -> str:
        v = self.getter(row)
        f = self.fmt
        if f is None:
            return plain(v)
        if isinstance(f, str):
            return fmt_spec(f)(v)
        return f(v)

    def alignment(self, row: Row) -> Qt.AlignmentFlag:
        if self.align is not None:
            return self.align
        v = self.getter(row)
        return RIGHT if isinstance(v, int | float) and not isinstance(v, bool) else LEFT

    def key(self, row: Row) -> Any:
        return self.sort_key(row) if self.sort_key is not None else self.getter(row)

    def export_value(self, row: Row) -> Any:
        """The value in a CSV: raw numbers (full precision), text for everything else."""
        v = self.getter(row)
        if _is_missing(v):
            return ""
        if isinstance(v, Enum):
            return v.value
        if isinstance(v, datetime | date):
            return v.isoformat()
        if isinstance(v, bool | int | float | str):
            return v
        return self.text(row)


def side_column(title: str = "Side") -> Column:
    """A row's ``side`` (long / short), centred, green for long and red for short."""
    from workstation.core.models import Side
    from workstation.ui import theme

    return Column(
        title,
        lambda r: r.side,
        align=CENTER,
        color_fn=lambda r: theme.color("pos" if r.side is Side.LONG else "neg"),
    )


def _cell(col: Column, row: Row) -> tuple[Any, ...]:
    """What a cell shows (text, colours, tooltip, sort key): equal means no repaint needed."""
    try:
        tip = col.tooltip(row) if callable(col.tooltip) else None
        fg = col.color_fn(row) if col.color_fn is not None else None
        bg = col.background_fn(row) if col.background_fn is not None else None
        fg = fg.name() if isinstance(fg, QColor) else fg
        bg = bg.name() if isinstance(bg, QColor) else bg
        return (col.text(row), fg, bg, tip, col.key(row))
    except Exception:  # a bad value: treat it as changed
        return (object(),)


def _brush(c: QColor | str | None) -> QBrush | None:
    if c is None:
        return None
    return QBrush(c if isinstance(c, QColor) else QColor(c))


class ColumnTableModel(QAbstractTableModel):
    """Rows of any objects, shown through a list of :class:`Column` s."""

    def __init__(
        self,
        columns: Sequence[Column],
        key: Callable[[Row], Hashable] | None = None,
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self.columns: tuple[Column, ...] = tuple(columns)
        self.key = key
        self._rows: list[Row] = []

    # ------------------------------------------------------------------ data
    @property
    def rows(self) -> tuple[Row, ...]:
        return tuple(self._rows)

    def row_at(self, r: int) -> Row:
        return self._rows[r]

    def set_rows(self, rows: Sequence[Row]) -> None:
        """Replace the rows. When the keys are unchanged only the cells are refreshed, so
        the selection, the scroll position and the sort stay as they are."""
        rows = list(rows)
        if (
            self.key is not None
            and len(rows) == len(self._rows)
            and all(self.key(a) == self.key(b) for a, b in zip(rows, self._rows, strict=True))
        ):
            old, self._rows = self._rows, rows
            self._announce_changes(old, rows)
            return
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def _announce_changes(self, old: Sequence[Row], new: Sequence[Row]) -> None:
        """dataChanged for the cells whose row object changed, one range per column and run
        of rows: the view repaints only those cells (repainting a whole table several times
        a second, for prices that move in a few columns, is what stalls a window)."""
        changed = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
        if not changed:
            return
        cols = [
            c
            for c, col in enumerate(self.columns)
            if any(_cell(col, old[i]) != _cell(col, new[i]) for i in changed)
        ]
        runs: list[tuple[int, int]] = []
        for i in changed:
            if runs and runs[-1][1] == i - 1:
                runs[-1] = (runs[-1][0], i)
            else:
                runs.append((i, i))
        for c in cols:
            for lo, hi in runs:
                self.dataChanged.emit(self.index(lo, c), self.index(hi, c))

    def append_rows(self, rows: Sequence[Row], max_rows: int | None = None) -> None:
        """Add rows at the end (cheap: no reset); drop the oldest beyond ``max_rows``."""
        if rows:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            self._rows.extend(rows)
            self.endInsertRows()
        if max_rows is not None and len(self._rows) > max_rows:
            extra = len(self._rows) - max_rows
            self.beginRemoveRows(QModelIndex(), 0, extra - 1)
            del self._rows[:extra]
            self.endRemoveRows()

    # ------------------------------------------------------------------ Qt API
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        col = self.columns[index.column()]
        try:
            if role == Qt.ItemDataRole.DisplayRole:
                return col.text(row)
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return col.alignment(row)
            if role == Qt.ItemDataRole.ForegroundRole and col.color_fn is not None:
                return _brush(col.color_fn(row))
            if role == Qt.ItemDataRole.BackgroundRole and col.background_fn is not None:
                return _brush(col.background_fn(row))
            if role == Qt.ItemDataRole.ToolTipRole and callable(col.tooltip):
                return col.tooltip(row)
            if role == SORT_ROLE:
                return col.key(row)
            if role == ROW_ROLE:
                return row
        except Exception:  # a bad value must not take the table (or the app) down
            return "?" if role == Qt.ItemDataRole.DisplayRole else None
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.columns):
            return None
        col = self.columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return col.title
        if role == Qt.ItemDataRole.ToolTipRole and isinstance(col.tooltip, str):
            return col.tooltip
        return None

    def sort_value(self, row: int, column: int) -> Any:
        return self.columns[column].key(self._rows[row])


class ColumnSortProxy(QSortFilterProxyModel):
    """Sorts by the columns' Python sort keys (missing values last) and filters rows with
    an optional predicate over the row object."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._predicate: Callable[[Row], bool] | None = None
        self.setDynamicSortFilter(True)

    def set_filter(self, predicate: Callable[[Row], bool] | None) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9 (invalidateFilter is deprecated)
            self.beginFilterChange()
            self._predicate = predicate
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:  # pragma: no cover - older Qt
            self._predicate = predicate
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        if self._predicate is None:
            return True
        model = self.sourceModel()
        assert isinstance(model, ColumnTableModel)
        try:
            return bool(self._predicate(model.row_at(source_row)))
        except Exception:
            return True

    def lessThan(self, left: Index, right: Index) -> bool:
        model = self.sourceModel()
        assert isinstance(model, ColumnTableModel)
        a = model.sort_value(left.row(), left.column())
        b = model.sort_value(right.row(), right.column())
        # Missing values sort after everything in ascending order.
        if _is_missing(a) or _is_missing(b):
            return not _is_missing(a) and _is_missing(b)
        if isinstance(a, Enum):
            a = a.value
        if isinstance(b, Enum):
            b = b.value
        try:
            return bool(a < b)
        except TypeError:
            return str(a) < str(b)


class DataTable(QTableView):
    """A sortable table of rows with right-click Copy / Export CSV.

    ``row_selected(row)`` is emitted with the current row object (or None).
    """

    row_selected = Signal(object)
    #: Emitted with the current row before the context menu opens (to enable its actions).
    about_to_show_menu = Signal(object)

    def __init__(
        self,
        columns: Sequence[Column],
        key: Callable[[Row], Hashable] | None = None,
        parent: Any = None,
        *,
        export_name: str = "table",
    ) -> None:
        super().__init__(parent)
        self.source = ColumnTableModel(columns, key, self)
        self.proxy = ColumnSortProxy(self)
        self.proxy.setSourceModel(self.source)
        self.setModel(self.proxy)
        self.export_name = export_name
        self.setSortingEnabled(True)
        self.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # source order until a click
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(22)
        header = self.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        header.setSectionsMovable(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        # Fit columns to the first rows only: measuring thousands of cells is slow.
        header.setResizeContentsPrecision(40)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._context_menu)
        self.copy_action = QAction("Copy", self)
        self.copy_action.setShortcut(QKeySequence.StandardKey.Copy)
        self.copy_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.copy_action.triggered.connect(self.copy_selection)
        self.addAction(self.copy_action)
        self.export_action = QAction("Export CSV...", self)
        self.export_action.triggered.connect(self._export_dialog)
        self.selectionModel().currentRowChanged.connect(self._current_changed)
        self._row_actions: list[QAction] = []
        self.menu: QMenu | None = None  # the context menu while it is open
        self._sized = False
        self._sizing = False  # True while the table sizes its own columns
        self._user_sized: set[int] = set()  # columns the user resized: never touched again
        header.sectionResized.connect(self._on_section_resized)
        self._selected_keys: list[Hashable] = []
        self._current_key: Hashable | None = None
        self.source.modelAboutToBeReset.connect(self._remember_selection)
        self.source.modelReset.connect(self._restore_selection)

    # ----------------------------------------------------------------- rows
    def set_rows(self, rows: Sequence[Row]) -> None:
        self.source.set_rows(rows)
        if rows:
            self._fit_columns(rows)

    def append_rows(self, rows: Sequence[Row], max_rows: int | None = None) -> None:
        self.source.append_rows(rows, max_rows)
        if not self._sized and self.source.rowCount():
            self._fit_columns(self.source.rows)

    def _on_section_resized(self, index: int, _old: int, _new: int) -> None:
        if not self._sizing:
            self._user_sized.add(index)

    def _fit_columns(self, rows: Sequence[Row]) -> None:
        """Size the columns to their header and to the first and last rows (cheaper than
        Qt's resizeColumnsToContents, which renders every cell). The first time every column
        is fitted; afterwards a column only ever grows, so a larger P&L that arrives later is
        never cut ("1,23..."), and a column the user resized stays as the user left it.
        Number columns take their widest value; text columns at most TEXT_WIDTH_CAP."""
        first = not self._sized
        self._sized = True
        fm = self.fontMetrics()
        bold = self.horizontalHeader().fontMetrics()
        sample = list(rows[:40]) + (list(rows[-40:]) if len(rows) > 40 else [])
        last = len(self.source.columns) - 1
        self._sizing = True
        try:
            for i, col in enumerate(self.source.columns):
                if i == last and self.horizontalHeader().stretchLastSection():
                    continue  # it takes the remaining width; sizing it would push it off-screen
                if i in self._user_sized:
                    continue
                if col.width is not None:
                    if first:
                        self.setColumnWidth(i, col.width)
                    continue
                widest = bold.horizontalAdvance(col.title) + 24  # room for the sort arrow
                number = False
                for row in sample:
                    try:
                        widest = max(widest, fm.horizontalAdvance(col.text(row)) + 16)
                        number = number or col.alignment(row) == RIGHT
                    except Exception:
                        continue
                want = widest if number else min(widest, TEXT_WIDTH_CAP)
                if first or want > self.columnWidth(i):
                    self.setColumnWidth(i, want)
        finally:
            self._sizing = False

    def set_filter(self, predicate: Callable[[Row], bool] | None) -> None:
        self.proxy.set_filter(predicate)

    def visible_rows(self) -> list[Row]:
        """The rows as shown: filtered and in the current sort order."""
        return [self.proxy.index(r, 0).data(ROW_ROLE) for r in range(self.proxy.rowCount())]

    def selected_rows(self) -> list[Row]:
        rows = sorted({i.row() for i in self.selectionModel().selectedRows()})
        return [self.proxy.index(r, 0).data(ROW_ROLE) for r in rows]

    def current_row(self) -> Row | None:
        idx = self.currentIndex()
        return idx.data(ROW_ROLE) if idx.isValid() else None

    def resizeEvent(self, event: QResizeEvent) -> None:
        """A table made shorter (a smaller window, a dock's divider) keeps its current row
        in sight."""
        super().resizeEvent(event)
        if event.size().height() < event.oldSize().height():
            current = self.currentIndex()
            if current.isValid():
                self.scrollTo(current)

    def select_row(self, r: int) -> None:
        """Make proxy row ``r`` the current, selected row."""
        idx = self.proxy.index(r, 0)
        self.setCurrentIndex(idx)
        self.selectionModel().select(
            idx,
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )

    def select_where(self, predicate: Callable[[Row], bool]) -> bool:
        """Make the first shown row that satisfies ``predicate`` current (unless the current
        row already does); False when no row does (the selection is left alone)."""
        cur = self.current_row()
        if cur is not None and predicate(cur):
            return True
        for r in range(self.proxy.rowCount()):
            row = self.proxy.index(r, 0).data(ROW_ROLE)
            try:
                hit = predicate(row)
            except Exception:
                hit = False
            if hit:
                self.select_row(r)
                self.scrollTo(self.proxy.index(r, 0))
                return True
        return False

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.row_selected.emit(current.data(ROW_ROLE) if current.isValid() else None)

    def _remember_selection(self) -> None:
        key = self.source.key
        if key is None:
            return
        self._selected_keys = [key(r) for r in self.selected_rows()]
        cur = self.current_row()
        self._current_key = key(cur) if cur is not None else None

    def _restore_selection(self) -> None:
        key = self.source.key
        if key is None or (not self._selected_keys and self._current_key is None):
            return
        wanted = set(self._selected_keys)
        sel = self.selectionModel()
        current: QModelIndex | None = None
        for r in range(self.proxy.rowCount()):
            row = self.proxy.index(r, 0).data(ROW_ROLE)
            k = key(row)
            if k in wanted:
                sel.select(
                    self.proxy.index(r, 0),
                    QItemSelectionModel.SelectionFlag.Select
                    | QItemSelectionModel.SelectionFlag.Rows,
                )
            if k == self._current_key:
                current = self.proxy.index(r, 0)
        if current is not None:
            sel.setCurrentIndex(current, QItemSelectionModel.SelectionFlag.NoUpdate)
        else:
            self.row_selected.emit(None)

    # ------------------------------------------------------------ copy/export
    def add_row_actions(self, actions: Sequence[QAction]) -> None:
        """Actions on the current row, first in the context menu; their shortcuts work while
        the table has the focus (never from another panel or a text field)."""
        for a in actions:
            a.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
            self.addAction(a)
            self._row_actions.append(a)

    def _context_menu(self, pos: Any) -> None:
        idx = self.indexAt(pos)
        if idx.isValid() and not self.selectionModel().isRowSelected(idx.row(), QModelIndex()):
            self.select_row(idx.row())  # right-click acts on the row under the mouse
        self.about_to_show_menu.emit(self.current_row())
        menu = QMenu(self)
        if self._row_actions:
            for a in self._row_actions:
                menu.addAction(a)
            menu.addSeparator()
        menu.addAction(self.copy_action)
        menu.addAction(self.export_action)
        self.copy_action.setEnabled(bool(self.selectionModel().selectedRows()))
        self.menu = menu
        try:
            menu.exec(self.viewport().mapToGlobal(pos))
        finally:
            self.menu = None
            menu.deleteLater()

    def tsv(self, rows: Sequence[Row]) -> str:
        """``rows`` as tab-separated text: the header line, then one line per row."""
        cols = self._visible_columns()
        lines = ["\t".join(c.title for c in cols)]
        for row in rows:
            lines.append("\t".join(c.text(row).replace("\t", " ") for c in cols))
        return "\n".join(lines) + "\n"

    def copy_selection(self) -> str:
        text = self.tsv(self.selected_rows())
        QGuiApplication.clipboard().setText(text)
        return text

    def _visible_columns(self) -> list[Column]:
        header = self.horizontalHeader()
        order = sorted(
            (header.visualIndex(i), i)
            for i in range(len(self.source.columns))
            if not header.isSectionHidden(i)
        )
        return [self.source.columns[i] for _, i in order]

    def export_csv(self, path: str | Path) -> int:
        """Write the visible rows (filtered, sorted) to ``path``; returns the row count."""
        cols = self._visible_columns()
        rows = self.visible_rows()
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([c.title for c in cols])
        for row in rows:
            w.writerow([c.export_value(row) for c in cols])
        Path(path).write_text(buf.getvalue(), encoding="utf-8")
        return len(rows)

    def ask_export_path(self) -> str:
        """The file to export to (tests replace this; an empty string cancels)."""
        path, _ = QFileDialog.getSaveFileName(
            self, "Export CSV", f"{self.export_name}.csv", "CSV files (*.csv)"
        )
        return path

    def _export_dialog(self) -> None:
        path = self.ask_export_path()
        if not path:
            return
        try:
            self.export_csv(path)
        except OSError as exc:
            from PySide6.QtWidgets import QMessageBox

            QMessageBox.warning(
                self,
                "Export CSV",
                f"Could not write {path}: {exc.strerror or exc}.\nChoose another folder.",
            )
