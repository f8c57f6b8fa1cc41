"""The store's reads: one statement, the same rows and keys sqlite-utils' query gives."""

from __future__ import annotations

import sqlite3

import pytest
from sqlite_utils import Database

from workstation.store.database import StoreDatabase, unique_keys


@pytest.fixture
def db() -> StoreDatabase:
    conn = sqlite3.connect(":memory:")
    conn.executescript(
        "CREATE TABLE a (id INTEGER PRIMARY KEY, name TEXT, id_2 TEXT);"
        "INSERT INTO a VALUES (1, 'x', 'p'), (2, 'y', 'q');"
    )
    return StoreDatabase(conn, execute_plugins=False)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM a ORDER BY id",
        "  select id, name FROM a WHERE id = 2",
        "WITH t AS (SELECT * FROM a) SELECT * FROM t",
        "SELECT a.id, b.id, b.name, a.id FROM a JOIN a AS b ON b.id = a.id",  # repeated names
    ],
)
def test_rows_and_keys_equal_sqlite_utils(db: StoreDatabase, sql: str) -> None:
    theirs = list(Database(db.conn, execute_plugins=False).query(sql))
    assert list(db.query(sql)) == theirs


def test_a_read_is_one_statement(db: StoreDatabase) -> None:
    seen: list[str] = []
    db.conn.set_trace_callback(seen.append)
    assert [r["id"] for r in db.query("SELECT id FROM a WHERE id > ?", [0])] == [1, 2]
    assert seen == ["SELECT id FROM a WHERE id > 0"]


def test_anything_else_keeps_sqlite_utils_guard(db: StoreDatabase) -> None:
    with pytest.raises(ValueError, match="returns rows"):
        db.query("UPDATE a SET name = 'z'")
    assert [r["name"] for r in db.query("SELECT name FROM a")] == ["x", "y"]


@pytest.mark.parametrize(
    ("keys", "unique"),
    [
        (["id", "name"], ["id", "name"]),
        (["id", "id"], ["id", "id_2"]),
        (["id", "id", "id_2"], ["id", "id_3", "id_2"]),  # a suffix another column has: skipped
        (["x", "x", "x"], ["x", "x_2", "x_3"]),
    ],
)
def test_unique_keys(keys: list[str], unique: list[str]) -> None:
    assert unique_keys(keys) == unique
