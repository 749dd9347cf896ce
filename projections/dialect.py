"""What differs between SQLite and PostgreSQL for the read models: types, placeholders, reads."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Any

from service.store.log import Cursor, LogRecorder

MMAP_BYTES = 1 << 34  # the most of a SQLite file read through memory (16 GiB of address space)
CHUNK = 500  # keys per IN (...) query


class Dialect:
    """Column types and statements that differ between SQLite and PostgreSQL."""

    def __init__(self, store: LogRecorder) -> None:
        self.store = store
        self.sqlite = store.placeholder == "?"
        self._pinned: ContextVar[Cursor | None] = ContextVar(f"pinned-{id(self)}", default=None)
        if self.sqlite:
            self.types = {
                "pk": "INTEGER PRIMARY KEY",
                "uuid": "TEXT",
                "int": "INTEGER",
                "text": "TEXT",
                "blob": "BLOB",
                "real": "REAL",
                "keyed": " WITHOUT ROWID",  # a table that is its primary key's one B-tree
            }
        else:
            self.types = {
                "pk": "bigint PRIMARY KEY",
                "uuid": "uuid",
                "int": "bigint",
                "text": "text",
                "blob": "bytea",
                "real": "double precision",
                "keyed": "",
            }

    def sql(self, text: str) -> str:
        """Statement text with this engine's placeholder."""
        return self.store.sql(text)

    @contextmanager
    def read(self) -> Iterator[Cursor]:
        """A read whose statements see one snapshot; on SQLite the file is memory-mapped.

        A long history outgrows SQLite's small page cache; reading through the map instead of
        a system call per page keeps a query's cost close to what it is on a small database.
        """
        pinned = self._pinned.get()
        if pinned is not None:  # inside `pinned`: its snapshot
            yield pinned
            return
        with self.store.snapshot() as cursor:
            if self.sqlite:
                cursor.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
            yield cursor

    @contextmanager
    def pinned(self) -> Iterator[Cursor]:
        """A read whose snapshot every `read` inside the block (in this thread) shares."""
        with self.read() as cursor:
            token = self._pinned.set(cursor)
            try:
                yield cursor
            finally:
                self._pinned.reset(token)

    def write(self) -> AbstractContextManager[Cursor]:
        """A transaction writing read models. On SQLite `BEGIN IMMEDIATE`: the file's one write
        lock, taken before anything is read. On PostgreSQL a plain transaction, never the lock
        that orders the log's positions: appends do not wait for the read models."""
        return self.store.write_transaction() if self.sqlite else self.store.transaction()

    def select_in(
        self, cursor: Cursor, query: str, keys: Sequence[Any], after: Sequence[Any] = ()
    ) -> Iterator[Any]:
        """The rows of `query` for every key, its `{marks}` filled with a few hundred at a time
        (`after`: parameters that follow the keys)."""
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start : start + CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(self.sql(query.format(marks=marks)), (*chunk, *after))
            yield from rows_of(cursor)

    def ddl(self, text: str) -> str:
        """DDL with `{pk}`, `{uuid}`, `{int}`, `{text}`, `{blob}`, `{real}`, `{keyed}` filled in."""
        return text.format(**self.types)


def rows_of(cursor: Cursor) -> list[Any]:
    """All rows of the last statement as tuples, whatever the engine's row type."""
    rows = cursor.fetchall()
    if rows and isinstance(rows[0], dict):
        return [tuple(row.values()) for row in rows]
    return [tuple(row) for row in rows]
