"""The child process that writes a rebuild on SQLite: into shadow tables, a short transaction
at a time, then swapped in place of the live ones: all of it, or nothing."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from projections.writer import SHADOW, ChildCursor
from service.errors import Busy

CREATE = "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"


@pytest.fixture
def database(tmp_path: Path) -> str:
    path = tmp_path / "rebuild.db"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode = wal")
        connection.execute(CREATE)
        connection.execute("INSERT INTO t VALUES (1, 'before')")
    return str(path)


def rows(database: str, table: str = "t") -> list[tuple[int, str]]:
    with sqlite3.connect(database) as connection:
        return connection.execute(f"SELECT id, name FROM {table} ORDER BY id").fetchall()


def settled(database: str) -> list[tuple[int, str]]:
    """The shadow's rows once a child has committed some (within ten seconds)."""
    began = time.monotonic()
    while time.monotonic() - began < 10:
        try:
            if found := rows(database, f"t{SHADOW}"):
                return found
        except sqlite3.OperationalError:  # the shadow is not made yet
            pass
        time.sleep(0.01)
    return []


def rebuilding(database: str, timeout: float = 5) -> ChildCursor:
    """A writer rebuilding table `t`."""
    return ChildCursor(database, timeout, ["t"], [CREATE])


def test_a_swapped_rebuild_is_seen_by_the_next_reader_at_once(database: str) -> None:
    child = rebuilding(database)
    child.executemany("INSERT INTO t VALUES (?, ?)", [(n, f"row {n}") for n in range(1, 1001)])
    child.execute("CREATE INDEX IF NOT EXISTS t_name ON t (name)")  # on the shadow
    child.swap()
    child.execute("INSERT INTO t VALUES (?, ?)", (1001, "after the swap"))
    child.commit()
    assert len(rows(database)) == 1001 and rows(database)[-1] == (1001, "after the swap")
    with sqlite3.connect(database) as connection:
        names = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert names == {"t", "t_name"}  # the shadow took the table's name; none is left


def test_writes_to_the_shadows_let_another_writer_in_between(database: str) -> None:
    child = rebuilding(database)
    child.executemany("INSERT INTO t VALUES (?, ?)", [(2, "two")])
    # once what it was sent is committed to the shadow, readable there
    assert settled(database) == [(2, "two")]
    # another connection writes the live table while the rebuild waits for its next rows
    other = sqlite3.connect(database, timeout=5, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (3, 'live')")
    other.execute("COMMIT")
    other.close()
    assert rows(database) == [(1, "before"), (3, "live")]
    child.swap()
    child.commit()
    assert rows(database) == [(2, "two")]


def test_a_failing_statement_is_raised_by_the_parent_and_the_live_rows_are_kept(
    database: str,
) -> None:
    child = rebuilding(database)
    child.executemany("INSERT INTO t VALUES (?, ?)", [(2, "two"), (2, "two again")])
    child.swap()
    with pytest.raises(RuntimeError, match="IntegrityError: UNIQUE constraint failed"):
        child.commit()
    assert rows(database) == [(1, "before")]


def test_an_aborted_rebuild_leaves_the_tables_as_they_were(database: str) -> None:
    child = rebuilding(database)
    child.executemany("INSERT INTO t VALUES (?, ?)", [(2, "two")])
    child.swap()
    child.abort()
    assert rows(database) == [(1, "before")]


def test_a_write_lock_held_past_the_timeout_is_busy_and_nothing_is_kept(database: str) -> None:
    other = sqlite3.connect(database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        child = rebuilding(database, 0.2)
        child.executemany("INSERT INTO t VALUES (?, ?)", [(2, "two")])
        child.swap()
        with pytest.raises(Busy, match="waited for the write lock"):
            child.commit()
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert rows(database) == [(1, "before")]


def test_a_second_rebuild_of_the_same_file_is_busy_while_the_first_runs(database: str) -> None:
    first = rebuilding(database)
    first.executemany("INSERT INTO t VALUES (?, ?)", [(2, "first")])
    assert settled(database) == [(2, "first")]
    second = rebuilding(database, 0.2)
    second.executemany("INSERT INTO t VALUES (?, ?)", [(3, "second")])
    second.swap()
    with pytest.raises(Busy, match="another rebuild of this database is running"):
        second.commit()
    first.swap()
    first.commit()
    assert rows(database) == [(2, "first")]
