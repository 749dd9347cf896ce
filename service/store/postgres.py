"""The log on PostgreSQL: the library's recorder plus `event_records`, under its table lock."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import IntegrityError
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.pq import TransactionStatus
from psycopg.sql import SQL, Composed, Identifier

from service.store.log import RECORDS, Cursor, LogRecorder
from service.store.records import Head, StoredRecord

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

    @contextmanager
    def locked(self) -> Iterator[tuple[Cursor, Head]]:
        """The write transaction of a group, its lock, notification and head in one round trip.

        Sent as one simple query (`BEGIN; SET LOCAL lock_timeout; LOCK TABLE; NOTIFY; SELECT
        head`), then one statement inserts the events and their records, then `COMMIT`: three
        round trips while the lock is held, whatever the size of the group.
        """
        with self.datastore.get_connection() as connection:
            cursor = connection.cursor()
            statements = [
                "BEGIN",
                *(_text(statement, connection) for statement in self.lock_table_statements),
                SQL("NOTIFY {0}").format(Identifier(self.channel_name)).as_string(connection),
                self.head_query,
            ]
            try:
                cursor.execute("; ".join(statements))
                while cursor.nextset():
                    pass  # the head is the last result
                yield cursor, self._head_of(cursor)
                cursor.execute("COMMIT")
            except BaseException as error:
                if connection.info.transaction_status != TransactionStatus.IDLE:
                    connection.rollback()
                if isinstance(error, psycopg.IntegrityError):
                    raise IntegrityError(str(error)) from error
                raise

    def insert_log(self, cursor: Cursor, rows: Sequence[StoredRecord]) -> None:
        """Insert the events at their positions and their records with one statement.

        Arrays of plain values sent in binary (`%b`) instead of the library's composite type:
        the same rows, and far less work to send a thousand of them. Positions are given, not
        drawn from the table's sequence: under the lock they are the head's successors.
        """
        cursor.execute(
            f"WITH events AS (INSERT INTO {self.events_table_name} "
            "(notification_id, originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::bigint[], %b::uuid[], %b::bigint[], %b::text[], %b::bytea[]))"
            f" INSERT INTO {RECORDS} "
            "(position, event_id, recorded_at, recorded_by, digest, link) "
            "SELECT * FROM unnest("
            "%b::bigint[], %b::uuid[], %b::bigint[], %b::text[], %b::text[], %b::bytea[])",
            (
                [r.position for r in rows],
                [r.development_id for r in rows],
                [r.version for r in rows],
                [r.topic for r in rows],
                [r.state for r in rows],
                [r.position for r in rows],
                [r.event_id for r in rows],
                [r.recorded_at_us for r in rows],
                [r.recorded_by for r in rows],
                [r.digest for r in rows],
                [r.link for r in rows],
            ),
        )

    def id_param(self, value: UUID) -> object:
        """PostgreSQL keeps UUIDs natively."""
        return value

    def id_value(self, value: Any) -> UUID:
        """Rows come back as UUIDs already."""
        return value if isinstance(value, UUID) else UUID(str(value))


def _text(statement: object, connection: psycopg.Connection[Any]) -> str:
    """A statement the library keeps as composed SQL, as text for a simple query."""
    if isinstance(statement, str):
        return statement
    if isinstance(statement, (SQL, Composed)):
        return statement.as_string(connection)
    raise TypeError(f"cannot send {statement!r} as a simple query")
