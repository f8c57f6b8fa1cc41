"""The generic column table: sorting by Python keys, copy as TSV, CSV export, filters."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication

from workstation.ui.tables import Column, DataTable, signed_money

pytestmark = pytest.mark.gui


@dataclass(frozen=True)
class Row:
    sym: str
    pnl: float | None
    qty: int
    at: datetime


ROWS = [
    Row("MSFT", 12.5, 10, datetime(2025, 3, 12, 9, 31)),
    Row("AAPL", -100.0, 200, datetime(2025, 3, 12, 9, 30)),
    Row("KO", None, 3, datetime(2025, 3, 12, 9, 45)),
    Row("NVDA", 1500.25, 25, datetime(2025, 3, 11, 15, 0)),
]


def make_table(qtbot) -> DataTable:
    t = DataTable(
        [
            Column("Symbol", lambda r: r.sym),
            Column("P&L", lambda r: r.pnl, signed_money),
            Column("Qty", lambda r: r.qty, "{:,d}"),
            Column("At", lambda r: r.at),
        ],
        key=lambda r: r.sym,
    )
    qtbot.addWidget(t)
    t.set_rows(ROWS)
    t.show()
    return t


def symbols(t: DataTable) -> list[str]:
    return [r.sym for r in t.visible_rows()]


@pytest.mark.parametrize(
    ("column", "order", "expected"),
    [
        (1, Qt.SortOrder.AscendingOrder, ["AAPL", "MSFT", "NVDA", "KO"]),  # None last
        (1, Qt.SortOrder.DescendingOrder, ["KO", "NVDA", "MSFT", "AAPL"]),
        (2, Qt.SortOrder.AscendingOrder, ["KO", "MSFT", "NVDA", "AAPL"]),  # 3 < 10 < 25 < 200
        (0, Qt.SortOrder.AscendingOrder, ["AAPL", "KO", "MSFT", "NVDA"]),
        (3, Qt.SortOrder.AscendingOrder, ["NVDA", "AAPL", "MSFT", "KO"]),  # datetimes
    ],
    ids=["pnl-asc-none-last", "pnl-desc", "qty-numeric-not-text", "symbol", "datetime"],
)
def test_sort_uses_python_keys(qtbot, column, order, expected) -> None:
    t = make_table(qtbot)
    assert symbols(t) == ["MSFT", "AAPL", "KO", "NVDA"]  # source order before any click
    t.sortByColumn(column, order)
    assert symbols(t) == expected


def test_header_click_sorts(qtbot) -> None:
    t = make_table(qtbot)
    header = t.horizontalHeader()
    pos = QPoint(header.sectionViewportPosition(2) + 5, header.height() // 2)
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    first = symbols(t)
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert {tuple(first), tuple(symbols(t))} == {
        ("KO", "MSFT", "NVDA", "AAPL"),
        ("AAPL", "NVDA", "MSFT", "KO"),
    }


def test_display_formats_and_missing_values(qtbot) -> None:
    t = make_table(qtbot)
    m = t.proxy
    assert m.index(0, 1).data() == "+12.50"
    assert m.index(1, 2).data() == "200"
    assert m.index(2, 1).data() == ""  # None shows empty, never "None"
    assert m.index(3, 1).data() == "+1,500.25"


def test_copy_selected_rows_as_tsv(qtbot) -> None:
    t = make_table(qtbot)
    t.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    t.select_row(0)
    t.selectionModel().select(
        t.proxy.index(2, 0),
        t.selectionModel().SelectionFlag.Select | t.selectionModel().SelectionFlag.Rows,
    )
    text = t.copy_selection()
    lines = text.splitlines()
    assert lines[0] == "Symbol\tP&L\tQty\tAt"
    assert lines[1] == "AAPL\t-100.00\t200\t2025-03-12 09:30:00"
    assert lines[2] == "MSFT\t+12.50\t10\t2025-03-12 09:31:00"
    assert len(lines) == 3
    assert QGuiApplication.clipboard().text() == text


def test_ctrl_c_copies(qtbot) -> None:
    t = make_table(qtbot)
    t.select_row(1)
    t.setFocus()
    QGuiApplication.clipboard().setText("")
    t.copy_action.trigger()
    assert QGuiApplication.clipboard().text().splitlines()[1].startswith("AAPL\t")


def test_export_csv_writes_visible_rows_raw_values(qtbot, tmp_path: Path) -> None:
    t = make_table(qtbot)
    t.set_filter(lambda r: r.qty >= 10)
    t.sortByColumn(2, Qt.SortOrder.DescendingOrder)
    out = tmp_path / "rows.csv"
    t.ask_export_path = lambda: str(out)  # type: ignore[method-assign]
    t.export_action.trigger()
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["Symbol", "P&L", "Qty", "At"]
    assert [r[0] for r in rows[1:]] == ["AAPL", "NVDA", "MSFT"]  # KO filtered out
    assert rows[1][1] == "-100.0"  # full precision, not the display text
    assert rows[2][3] == "2025-03-11T15:00:00"


def test_export_cancelled_writes_nothing(qtbot, tmp_path: Path) -> None:
    t = make_table(qtbot)
    t.ask_export_path = lambda: ""  # type: ignore[method-assign]
    t.export_action.trigger()
    assert list(tmp_path.iterdir()) == []


def test_refresh_with_same_keys_keeps_selection(qtbot) -> None:
    t = make_table(qtbot)
    t.select_row(2)
    assert t.current_row().sym == "KO"
    t.set_rows([Row(r.sym, (r.pnl or 0) + 1, r.qty, r.at) for r in ROWS])
    assert t.current_row().sym == "KO"
    assert t.current_row().pnl == 1.0
    # A different row set (reset) restores the selection by key.
    t.set_rows([ROWS[2], ROWS[0]])
    assert t.current_row().sym == "KO"


def test_bad_value_does_not_break_the_table(qtbot) -> None:
    t = DataTable([Column("x", lambda r: 1 / r, "{:.2f}")])
    qtbot.addWidget(t)
    t.set_rows([2, 0])
    assert t.proxy.index(0, 0).data() == "0.50"
    assert t.proxy.index(1, 0).data() == "?"


def test_a_larger_number_arriving_later_is_never_cut(qtbot) -> None:
    """The trial: P&L cells read "1,23..." once the values outgrew the first fit."""
    t = make_table(qtbot)
    fm = t.fontMetrics()
    big = [Row("MSFT", -12_345_678.91, 10, ROWS[0].at), *ROWS[1:]]
    t.set_rows(big)
    assert t.columnWidth(1) >= fm.horizontalAdvance(signed_money(-12_345_678.91)) + 8
    # A column the user resized stays as the user left it.
    t.horizontalHeader().resizeSection(2, 31)
    t.set_rows([Row("MSFT", 1.0, 123_456_789, ROWS[0].at)])
    assert t.columnWidth(2) == 31
