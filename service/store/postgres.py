"""The log on PostgreSQL: the library's recorder plus `event_records`, under its table lock."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import IntegrityError
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.pq import TransactionStatus
from psycopg.sql import SQL, Composed, Identifier

from service.store.log import RECORDS, Cursor, Locked, LogRecorder
from service.store.records import GENESIS, Pending, StoredRecord, now_micros

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

    def record(self, prepare: Callable[[Locked], Sequence[Pending]]) -> list[StoredRecord]:
        """Store what `prepare` decides: optimistically first, then under the lock if need be.

        The optimistic attempt decides from the last commit without any lock, then sends
        `BEGIN`, the lock, the insert and `COMMIT` in one pipeline: the lock is held for the
        server's own work only, never for a round trip. Whatever it decided from was current
        unless a constraint says otherwise (a version or an event id stored meanwhile); then
        the group is decided again under the lock, as `LogRecorder.record` does.
        """
        with self.read_transaction() as cursor:
            pending = prepare(Locked(self, cursor))
        if not pending:
            return []
        with self.datastore.get_connection() as connection:
            try:
                with connection.pipeline():
                    steps = connection.cursor()
                    steps.execute("BEGIN")
                    for statement in [*self.lock_table_statements, self._notify]:
                        steps.execute(statement)
                    insert = connection.cursor()
                    self._insert_chained(insert, pending)
                    steps.execute("COMMIT")
                return self._stored(pending, insert)
            except psycopg.IntegrityError:
                pass  # lost a race: decided from something that changed before the lock
            finally:
                if connection.info.transaction_status != TransactionStatus.IDLE:
                    connection.rollback()
        with self.write_transaction() as cursor:
            pending = prepare(Locked(self, cursor))
            if not pending:
                return []
            cursor.execute(self._notify)
            self._insert_chained(cursor, pending)
            return self._stored(pending, cursor)

    def insert_log(self, cursor: Cursor, rows: Sequence[StoredRecord]) -> None:
        """Not used: `record` extends the chain in the database (see `_insert_chained`)."""
        raise NotImplementedError("PostgreSQL records through `record`")

    @property
    def _notify(self) -> SQL | Composed:
        return SQL("NOTIFY {0}").format(Identifier(self.channel_name))

    def _insert_chained(self, cursor: Cursor, pending: Sequence[Pending]) -> None:
        """One statement that places the events after the head and extends the hash chain.

        Run under the lock. Positions follow the head (the last record, or a stray events row
        beyond it); `recorded_at` is this process's clock clamped to the head's; each link is
        `chain_link`'s formula, with the parts that do not depend on the position, the time or
        the previous link (text around them, the payload's hash) prepared here.
        """
        now = now_micros()
        cursor.execute(
            self._chained_sql,
            (
                [p.development_id for p in pending],
                [p.version for p in pending],
                [p.topic for p in pending],
                [p.state for p in pending],
                [p.event_id for p in pending],
                [p.recorded_by for p in pending],
                [p.digest for p in pending],
                [f"\n{p.development_id}\n{p.version}\n{p.topic}\n" for p in pending],
                [f"\n{p.event_id}\n{p.recorded_by}\n" for p in pending],
                [hashlib.sha256(p.state).digest() for p in pending],
                now,
                GENESIS,
            ),
        )

    @property
    def _chained_sql(self) -> str:
        return (
            "WITH RECURSIVE params AS (SELECT "
            "%b::uuid[] AS development_id, %b::bigint[] AS version, %b::text[] AS topic, "
            "%b::bytea[] AS state, %b::uuid[] AS event_id, %b::text[] AS recorded_by, "
            "%b::text[] AS digest, %b::text[] AS before_time, %b::text[] AS after_time, "
            "%b::bytea[] AS body), "
            f"head AS ({self.head_query}), "
            "base AS (SELECT greatest(coalesce(h.position, 0), coalesce(h.top, 0)) AS position, "
            "greatest(%b::bigint, coalesce(h.recorded_at, 0)) AS recorded_at, "
            "coalesce(h.link, %b::bytea) AS link FROM head h), "
            "chain AS (SELECT 0 AS n, b.position, b.link FROM base b UNION ALL "
            "SELECT c.n + 1, c.position + 1, sha256(c.link || convert_to((c.position + 1)::text"
            " || p.before_time[c.n + 1] || b.recorded_at::text || p.after_time[c.n + 1], 'UTF8')"
            " || p.body[c.n + 1]) FROM chain c, params p, base b "
            "WHERE c.n < cardinality(p.development_id)), "
            f"stored AS (INSERT INTO {self.events_table_name} "
            "(notification_id, originator_id, originator_version, topic, state) "
            "SELECT c.position, p.development_id[c.n], p.version[c.n], p.topic[c.n], p.state[c.n]"
            " FROM chain c, params p WHERE c.n > 0) "
            f"INSERT INTO {RECORDS} (position, event_id, recorded_at, recorded_by, digest, link) "
            "SELECT c.position, p.event_id[c.n], b.recorded_at, p.recorded_by[c.n], "
            "p.digest[c.n], c.link FROM chain c, params p, base b WHERE c.n > 0 "
            "RETURNING position, recorded_at, link"
        )

    @staticmethod
    def _stored(pending: Sequence[Pending], cursor: Cursor) -> list[StoredRecord]:
        rows = sorted(cursor.fetchall(), key=lambda row: int(row["position"]))
        return [
            StoredRecord(
                position=int(row["position"]),
                development_id=p.development_id,
                version=p.version,
                topic=p.topic,
                state=p.state,
                event_id=p.event_id,
                recorded_at_us=int(row["recorded_at"]),
                recorded_by=p.recorded_by,
                digest=p.digest,
                link=bytes(row["link"]),
            )
            for p, row in zip(pending, rows, strict=True)
        ]

    def id_param(self, value: UUID) -> object:
        """PostgreSQL keeps UUIDs natively."""
        return value

    def id_value(self, value: Any) -> UUID:
        """Rows come back as UUIDs already."""
        return value if isinstance(value, UUID) else UUID(str(value))
