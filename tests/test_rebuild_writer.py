"""The child process that writes a rebuild on SQLite: all of it committed, or nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from projections.writer import ChildCursor
from service.errors import Busy


@pytest.fixture
def database(tmp_path: Path) -> str:
    path = tmp_path / "rebuild.db"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode = wal")
        connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        connection.execute("INSERT INTO t VALUES (1, 'before')")
    return str(path)


def rows(database: str) -> list[tuple[int, str]]:
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT id, name FROM t ORDER BY id").fetchall()


def test_a_committed_rebuild_is_seen_by_the_next_reader_at_once(database: str) -> None:
    child = ChildCursor(database, 5)
    child.execute("DELETE FROM t")
    child.executemany("INSERT INTO t VALUES (?, ?)", [(n, f"row {n}") for n in range(1, 1001)])
    child.commit()
    assert len(rows(database)) == 1000 and rows(database)[-1] == (1000, "row 1000")


def test_a_failing_statement_is_raised_by_the_parent_and_nothing_is_kept(database: str) -> None:
    child = ChildCursor(database, 5)
    child.execute("DELETE FROM t")
    child.executemany("INSERT INTO t VALUES (?, ?)", [(2, "two"), (2, "two again")])
    with pytest.raises(RuntimeError, match="IntegrityError: UNIQUE constraint failed"):
        child.commit()
    assert rows(database) == [(1, "before")]


def test_an_aborted_rebuild_leaves_the_tables_as_they_were(database: str) -> None:
    child = ChildCursor(database, 5)
    child.execute("DELETE FROM t")
    child.abort()
    assert rows(database) == [(1, "before")]


def test_a_write_lock_held_past_the_timeout_is_busy_and_nothing_is_kept(database: str) -> None:
    other = sqlite3.connect(database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        child = ChildCursor(database, 0.2)
        child.execute("DELETE FROM t")
        with pytest.raises(Busy, match="waited for the write lock"):
            child.commit()
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert rows(database) == [(1, "before")]
