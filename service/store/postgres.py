"""The log on PostgreSQL: the library's recorder plus `event_records`, under its table lock."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
)
from psycopg.sql import SQL

from service.store.log import RECORDS, Cursor, LogRecorder

_SCHEMA_LOCK = 7_263_941_001  # advisory lock id: one process creates the schema at a time


class TimelinePostgresRecorder(LogRecorder, PostgresApplicationRecorder):
    """Application recorder for PostgreSQL that also keeps the log's records and hash chain."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self.sql_create_statements.extend(
            [
                SQL(
                    f"CREATE TABLE IF NOT EXISTS {RECORDS} ("
                    "position bigint PRIMARY KEY, "
                    "event_id uuid NOT NULL UNIQUE, "
                    "recorded_at bigint NOT NULL, "
                    "recorded_by text NOT NULL, "
                    "digest text NOT NULL, "
                    "link bytea NOT NULL)"
                ).format(),
                SQL(
                    f"CREATE INDEX IF NOT EXISTS {RECORDS}_recorded_at "
                    f"ON {RECORDS} (recorded_at, position)"
                ).format(),
            ]
        )

    def create_table(self) -> None:
        """Create the schema under an advisory lock, so several processes may start at once."""
        with self.datastore.get_connection() as connection:
            connection.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
            try:
                super().create_table()
            finally:
                connection.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))

    @contextmanager
    def write_transaction(self) -> Iterator[Cursor]:
        """A transaction holding the library's EXCLUSIVE lock on the events table."""
        try:
            with self.datastore.get_connection() as connection, connection.transaction():
                cursor = connection.cursor()
                self._lock_table(cursor)
                yield cursor
        except psycopg.IntegrityError as error:
            raise IntegrityError(str(error)) from error

    @contextmanager
    def read_transaction(self) -> Iterator[Cursor]:
        """One statement in autocommit mode sees a consistent snapshot."""
        with self.datastore.get_connection() as connection:
            yield connection.cursor()

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """A read-write transaction that commits when the block ends without an error."""
        with self.datastore.transaction(commit=True) as cursor:
            yield cursor

    def insert_stored(self, cursor: Cursor, stored: Sequence[StoredEvent]) -> list[int]:
        """Notify listeners and insert, as the library does; return the positions."""
        assert isinstance(cursor, psycopg.Cursor)
        self._notify_channel(cursor)
        PostgresAggregateRecorder._insert_stored_events(self, cursor, stored)
        return [int(row["notification_id"]) for row in cursor.fetchall()]

    def id_param(self, value: UUID) -> object:
        """PostgreSQL keeps UUIDs natively."""
        return value

    def id_value(self, value: Any) -> UUID:
        """Rows come back as UUIDs already."""
        return value if isinstance(value, UUID) else UUID(str(value))
