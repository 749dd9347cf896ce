"""The log on SQLite: the library's recorder plus `event_records`, written under BEGIN IMMEDIATE."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    ConnectionUnavailableError,
    IntegrityError,
    OperationalError,
)
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from service.config import ConfigError
from service.errors import Busy, ReadOnly, StorageFull, Unavailable, Uninitialised
from service.store.log import RECORDS, Cursor, Locked, LogRecorder, stored_bytes
from service.store.records import EMPTY_HEAD, Head, Pending, StoredRecord, chain_link, now_micros


class TimelineSQLiteRecorder(LogRecorder, SQLiteApplicationRecorder):
    """Application recorder for SQLite that also keeps the log's records and hash chain."""

    placeholder = "?"
    position_column = "rowid"

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        check_openable(datastore.pool.db_name)
        memory = datastore.pool.is_sqlite_memory_mode
        self._file = None if memory else datastore.pool.db_name  # the database's file
        if memory:
            # `:memory:` is a database per connection: a second one (a reader beside a
            # writer) opened an empty database, and its tables were missing (found by an
            # audit). One connection, which readers and the writer take in turn.
            datastore.pool.pool_size, datastore.pool.max_overflow = 1, 0
        super().__init__(datastore, events_table_name)

    def construct_create_table_statements(self) -> list[str]:
        """The library's events table, then the records table and its index."""
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {RECORDS} ("
            "position INTEGER PRIMARY KEY, "
            "event_id TEXT NOT NULL UNIQUE, "
            "recorded_at INTEGER NOT NULL, "
            "recorded_by TEXT NOT NULL, "
            "digest TEXT NOT NULL, "
            "link BLOB NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {RECORDS}_recorded_at "
            f"ON {RECORDS} (recorded_at, position)",
        ]

    def existing(self, names: Iterable[str]) -> set[str]:
        """Which of these tables and indexes exist."""
        wanted = list(names)
        marks = ", ".join("?" * len(wanted))
        with self.read_transaction() as cursor:
            cursor.execute(f"SELECT name FROM sqlite_master WHERE name IN ({marks})", wanted)
            return {row["name"] for row in cursor.fetchall()}

    def create_table(self) -> None:
        """The library's tables and ours; a held lock, a full disk or files that cannot be
        read or written said as such."""
        with _storage_errors(self._file):
            super().create_table()

    @contextmanager
    def write_transaction(self) -> Iterator[Cursor]:
        """BEGIN IMMEDIATE takes the database's write lock before the head is read; `Busy` when
        the lock (or this process's one writing connection) is not granted in time."""
        with _storage_errors(self._file), self.datastore.get_connection(commit=True) as connection:
            cursor = connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except sqlite3.IntegrityError as error:
                connection.rollback()
                raise IntegrityError(str(error)) from error
            except BaseException:
                connection.rollback()
                raise
            connection.commit()

    @contextmanager
    def read_transaction(self) -> Iterator[Cursor]:
        """A deferred transaction: one consistent snapshot of the WAL; no free connection, or
        files that cannot be read, said as such (`Busy`, `Unavailable`)."""
        with _storage_errors(self._file), self.datastore.transaction(commit=False) as cursor:
            yield cursor

    def snapshot(self) -> AbstractContextManager[Cursor]:
        """A deferred transaction already reads one snapshot."""
        return self.read_transaction()

    def transaction(self) -> AbstractContextManager[Cursor]:
        """A read-write transaction that commits when the block ends without an error: BEGIN
        IMMEDIATE, as a write of the log. A deferred one that read first and then wrote (a
        token's name checked, then the token stored) failed at once, whatever the lock timeout,
        when another connection was writing: SQLite cannot make such a reader wait."""
        return self.write_transaction()

    def record(self, prepare: Callable[[Locked], Sequence[Pending]]) -> list[StoredRecord]:
        """Decide the group under BEGIN IMMEDIATE, then store it after the head."""
        with self.write_transaction() as cursor:
            head = self._head(cursor)
            pending = prepare(Locked(self, cursor))
            if not pending:
                return []
            # strictly after the previous commit: commits never share a system time, which is how
            # readers of the log tell them apart (a clock behind the head is clamped past it)
            recorded_at = max(now_micros(), head.recorded_at_us + 1)
            link = head.link
            rows: list[StoredRecord] = []
            for position, p in enumerate(pending, head.next_position):
                link = chain_link(
                    link,
                    position=position,
                    development_id=p.development_id,
                    version=p.version,
                    topic=p.topic,
                    recorded_at_us=recorded_at,
                    recorded_by=p.recorded_by,
                    event_id=p.event_id,
                    state=p.state,
                )
                rows.append(
                    StoredRecord(
                        position=position,
                        development_id=p.development_id,
                        version=p.version,
                        topic=p.topic,
                        state=p.state,
                        event_id=p.event_id,
                        recorded_at_us=recorded_at,
                        recorded_by=p.recorded_by,
                        digest=p.digest,
                        link=link,
                    )
                )
            self._insert(cursor, rows)
        return rows

    def _head(self, cursor: Cursor) -> Head:
        """The last record, and the highest rowid of the events table (see `Head.top`)."""
        cursor.execute(
            f"SELECT (SELECT max(rowid) FROM {self.events_table_name}) AS top, "
            "r.position, r.recorded_at, r.link FROM (SELECT 1 AS one) AS o LEFT JOIN "
            f"(SELECT position, recorded_at, link FROM {RECORDS} ORDER BY position DESC LIMIT 1)"
            " AS r ON 1 = 1"
        )
        row = cursor.fetchone()
        top = int(row["top"] or 0)
        if row["position"] is None:
            return EMPTY_HEAD if not top else Head(0, 0, EMPTY_HEAD.link, top)
        return Head(row["position"], row["recorded_at"], stored_bytes(row["link"]), top)

    def _insert(self, cursor: Cursor, rows: Sequence[StoredRecord]) -> None:
        """Insert the events at their positions (rowids), then their records."""
        cursor.executemany(
            f"INSERT INTO {self.events_table_name} "
            "(rowid, originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?, ?)",
            [(r.position, r.development_id.hex, r.version, r.topic, r.state) for r in rows],
        )
        cursor.executemany(
            f"INSERT INTO {RECORDS} (position, event_id, recorded_at, recorded_by, digest, link) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (r.position, r.event_id.hex, r.recorded_at_us, r.recorded_by, r.digest, r.link)
                for r in rows
            ],
        )

    def id_param(self, value: UUID | str) -> object:
        """SQLite keeps UUIDs as 32 hex digits, like the library."""
        return value.hex if isinstance(value, UUID) else value

    def id_value(self, value: Any) -> UUID:
        """A UUID from 32 hex digits."""
        return UUID(value)


def check_openable(name: str) -> None:
    """A file path SQLite could never open is the setting's fault, not the disk's: say which.
    (SQLite says only "unable to open database file".)"""
    if name == ":memory:" or name.startswith("file:"):
        return
    path = Path(name)
    if path.is_dir():
        raise ConfigError(f"the SQLite database {name} is a directory, not a file")
    if not path.parent.is_dir():
        raise ConfigError(
            f"the SQLite database {name} cannot be made: {path.parent} is not a folder"
        )


@contextmanager
def _storage_errors(database: str | None = None) -> Iterator[None]:
    """The file's write lock (the lock timeout) or a connection of this process's pool not
    granted in time, as `Busy`; a full disk (or size limit), as `StorageFull`; files that
    cannot be opened, read or written, as `Unavailable`, and `ReadOnly` when this process may
    not write them. The library's transactions hand
    sqlite3's errors on as its own, the original as their cause."""
    try:
        yield
    except ConnectionUnavailableError as error:
        raise Busy(f"no free connection to the database: {error}") from error
    except (sqlite3.OperationalError, OperationalError) as error:
        cause = error if isinstance(error, sqlite3.Error) else error.__cause__
        name = getattr(cause, "sqlite_errorname", "")
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            raise Busy(f"the database's write lock: {error}") from error
        if name == "SQLITE_FULL":
            raise StorageFull(f"no room to write: {error}") from error
        if name.startswith("SQLITE_CANTOPEN") and database and not writable(database):
            # a folder this process may not write: the WAL's files cannot be made beside it
            raise ReadOnly(f"it may not be written (nor its folder): {error}") from error
        if name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")):  # a disk failing, or full
            raise Unavailable(f"its files could not be used: {error}") from error
        if name.startswith(("SQLITE_READONLY", "SQLITE_PERM")):  # permissions, or `mode=ro`
            raise ReadOnly(f"it may not be written: {error}") from error
        if str(error).startswith("no such table: "):  # emptied under a running server
            raise Uninitialised(f"its tables are gone: {error}") from error
        raise


def writable(database: str) -> bool:
    """Whether this process may write the database file and make files in its folder."""
    path = Path(database)
    folder = path.parent if str(path.parent) else Path(".")
    return os.access(folder, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))
