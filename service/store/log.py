"""The write and read protocol of the log, shared by the SQLite and PostgreSQL recorders.

Each recorder extends the library's application recorder: events go to its table (position =
notification id); `event_records` holds, per position, the event id, system time, principal,
idempotency digest and hash-chain link, written in the same transaction while the writer holds
the lock that orders positions. That is where `recorded_at` is assigned (clamped past the
previous commit's, so "known at T" is always a prefix of the log and commits never share a
time) and where the chain is extended.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol
from uuid import UUID

from service.store.records import (
    Pending,
    StoredRecord,
)

RECORDS = "event_records"


class Cursor(Protocol):
    """The part of a DB-API cursor the log uses."""

    def execute(self, query: Any, params: Any = ...) -> Any: ...
    def executemany(self, query: Any, params_seq: Any) -> Any: ...
    def fetchall(self) -> Any: ...
    def fetchone(self) -> Any: ...


class LogRecorder:
    """Mixin that records and reads the log; engines supply transactions and SQL dialect."""

    events_table_name: str
    placeholder = "%s"

    @abstractmethod
    def write_transaction(self) -> AbstractContextManager[Cursor]:
        """A transaction that takes, first, the lock which orders positions."""

    @abstractmethod
    def read_transaction(self) -> AbstractContextManager[Cursor]:
        """A read whose every statement sees a consistent snapshot (on SQLite, all of them the
        same one; on PostgreSQL each its own, and no transaction to begin or end)."""

    @abstractmethod
    def snapshot(self) -> AbstractContextManager[Cursor]:
        """A read-only transaction whose statements all see one snapshot: a view reading its
        rows and then their titles never sees a commit (a rebuild, say) land between them."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Cursor]:
        """A plain read-write transaction, for tables beside the log (tokens, checkpoints)."""

    def discard_broken(self) -> None:
        """Close the pooled connections that broke (PostgreSQL ended them, say), so the next
        transaction gets a working one rather than meeting each broken one in turn; SQLite
        keeps none to break."""

    @abstractmethod
    def record(self, prepare: Callable[[Locked], Sequence[Pending]]) -> list[StoredRecord]:
        """Store the events `prepare` decides, atomically, after the head of the log.

        `prepare` reads through the `Locked` it is given; if it raises, nothing is stored. The
        events take the positions after the head, with one system time, clamped past the
        previous commit's, and the hash chain is extended over them.
        """

    @abstractmethod
    def id_param(self, value: UUID) -> object:
        """A UUID as this engine stores it."""

    @abstractmethod
    def id_value(self, value: Any) -> UUID:
        """A UUID from this engine's stored form."""

    @abstractmethod
    def existing(self, names: Iterable[str]) -> set[str]:
        """Which of these tables and indexes exist (in the schema queries find them in)."""

    def create_beside(self, statement: str) -> None:
        """Create a table beside the log under the log's lock, so concurrent starters never race.

        PostgreSQL's `CREATE TABLE IF NOT EXISTS` is not safe against a second process running it at
        the same moment (a duplicate key in `pg_type`); the write lock makes one wait for the other.
        A table that exists is not created again, so a process starting beside a rebuild (which
        holds that lock on SQLite) does not wait for it.
        """
        name = created(statement)
        if name in self.existing([name]):
            return
        with self.write_transaction() as cursor:
            cursor.execute(statement)

    def sql(self, text: str) -> str:
        """Statement text with this engine's placeholder and table names."""
        return text.replace("%s", self.placeholder).replace("{events}", self.events_table_name)

    # --- reading -------------------------------------------------------------------------

    _SELECT = (
        "SELECT r.position, e.originator_id, e.originator_version, e.topic, e.state, "
        "r.event_id, r.recorded_at, r.recorded_by, r.digest, r.link "
        f"FROM {RECORDS} r JOIN {{events}} e ON e.{{position_column}} = r.position "
    )
    position_column = "notification_id"

    def _select(
        self,
        where: str,
        params: Sequence[object],
        tail: str = "",
        cursor: Cursor | None = None,
    ) -> list[StoredRecord]:
        query = self.sql(
            self._SELECT.replace("{position_column}", self.position_column) + where + tail
        )
        if cursor is not None:
            cursor.execute(query, tuple(params))
            return [self._record(row) for row in cursor.fetchall()]
        with self.read_transaction() as reader:
            reader.execute(query, tuple(params))
            return [self._record(row) for row in reader.fetchall()]

    def _record(self, row: Any) -> StoredRecord:
        return StoredRecord(
            position=row["position"],
            development_id=self.id_value(row["originator_id"]),
            version=row["originator_version"],
            topic=row["topic"],
            state=stored_bytes(row["state"]),
            event_id=self.id_value(row["event_id"]),
            recorded_at_us=row["recorded_at"],
            recorded_by=row["recorded_by"],
            digest=row["digest"],
            link=stored_bytes(row["link"]),
        )

    def select_records(
        self, *, after: int = 0, limit: int = 1000, until_us: int | None = None
    ) -> list[StoredRecord]:
        """Rows of the log after a position, in position order, optionally known by a time."""
        where, params = "WHERE r.position > %s ", [after]
        if until_us is not None:
            where += "AND r.recorded_at <= %s "
            params.append(until_us)
        return self._select(where, [*params, limit], "ORDER BY r.position LIMIT %s")

    def iter_records(self, *, after: int = 0, page: int = 5000) -> Iterator[StoredRecord]:
        """Every row after a position, fetched page by page."""
        while True:
            rows = self.select_records(after=after, limit=page)
            yield from rows
            if len(rows) < page:
                return
            after = rows[-1].position

    def select_stream(
        self,
        development_id: UUID,
        *,
        until_us: int | None = None,
        after: int = 0,
        cursor: Cursor | None = None,
    ) -> list[StoredRecord]:
        """Rows of one development in version order, optionally known by a time; `after`: only
        those after a position (what a follower of one development has not seen yet)."""
        where, params = self._streams_where([development_id], until_us)
        if after:
            where += "AND r.position > %s "
            params.append(after)
        return self._select(where, params, "ORDER BY e.originator_version", cursor)

    def _streams_where(
        self, development_ids: Sequence[UUID], until_us: int | None
    ) -> tuple[str, list[object]]:
        marks = ", ".join(["%s"] * len(development_ids))
        where = f"WHERE e.originator_id IN ({marks}) "
        params: list[object] = [self.id_param(i) for i in development_ids]
        if until_us is not None:
            where += "AND r.recorded_at <= %s "
            params.append(until_us)
        return where, params

    def select_streams(
        self,
        development_ids: Sequence[UUID],
        *,
        until_us: int | None = None,
        chunk: int = 500,
        cursor: Cursor | None = None,
    ) -> dict[UUID, list[StoredRecord]]:
        """Rows of several developments, each in version order, optionally known by a time:
        one query per `chunk` of them. Developments without rows are left out."""
        found: dict[UUID, list[StoredRecord]] = {}
        for start in range(0, len(development_ids), chunk):
            where, params = self._streams_where(development_ids[start : start + chunk], until_us)
            order = "ORDER BY e.originator_id, e.originator_version"
            for row in self._select(where, params, order, cursor):
                found.setdefault(row.development_id, []).append(row)
        return found

    def select_by_event_ids(
        self, event_ids: Sequence[UUID], cursor: Cursor | None = None
    ) -> dict[UUID, StoredRecord]:
        """Rows stored under any of these event ids."""
        if not event_ids:
            return {}
        found: dict[UUID, StoredRecord] = {}
        for start in range(0, len(event_ids), 500):
            chunk = event_ids[start : start + 500]
            marks = ", ".join(["%s"] * len(chunk))
            rows = self._select(
                f"WHERE r.event_id IN ({marks}) ", [self.id_param(i) for i in chunk], "", cursor
            )
            found.update((row.event_id, row) for row in rows)
        return found

    def last_position(self, *, until_us: int | None = None) -> int:
        """The position of the last row, or of the last row known by a time; 0 if none.

        `recorded_at` never decreases along positions, so this bounds "known at T" exactly.
        """
        where, params = "", tuple[int, ...]()
        if until_us is not None:
            where, params = "WHERE recorded_at <= %s ", (until_us,)
        query = (
            f"SELECT position FROM {RECORDS} {where}"
            "ORDER BY recorded_at DESC, position DESC LIMIT 1"
        )
        with self.read_transaction() as cursor:
            cursor.execute(self.sql(query), params)
            row = cursor.fetchone()
        return int(row["position"]) if row else 0

    def tables_present(self) -> bool:
        """Whether the log's tables exist (a process started with CREATE_TABLE=no before
        `timeline init` ran finds none)."""
        names = {self.events_table_name, RECORDS}
        return self.existing(names) == names

    def settled_at(self) -> int | None:
        """The system time of the last event recorded; None when there is none.

        A commit still under way is recorded after it (`recorded_at` is clamped past the head
        the commit found under the lock), so the log known by this time is settled for good;
        the log known by "now" is not while a commit that read its clock earlier is under way.
        """
        query = f"SELECT recorded_at FROM {RECORDS} ORDER BY position DESC LIMIT 1"
        with self.read_transaction() as cursor:
            cursor.execute(query)
            row = cursor.fetchone()
        return int(row["recorded_at"]) if row else None


def stored_bytes(value: Any) -> bytes:
    """A BLOB (bytea) column's value as bytes. SQLite lets a tampered one hold text: served
    as its UTF-8 bytes rather than failing the read (`timeline verify` reports the row)."""
    return value.encode() if isinstance(value, str) else bytes(value)


class Undecided(Exception):
    """An optimistic decision that may rest on a race: decide the group again under the lock."""


class Locked:
    """Reads of the log for deciding a group: under the write lock, or (optimistically, on
    PostgreSQL) from the last commit, where the table's constraints catch a lost race.

    Without a cursor each read is its own snapshot, and a group that reads nothing borrows no
    connection at all. Snapshots taken one after the other can disagree: the event ids looked
    up before another writer's commit, a stream read after it. What is stored is then caught by
    the constraints, but a refusal is not: a decider that refuses an event it may have missed
    (one with an event id) raises `Undecided` when `optimistic`.
    """

    def __init__(self, recorder: LogRecorder, cursor: Cursor | None) -> None:
        self._recorder = recorder
        self._cursor = cursor
        self.optimistic = cursor is None

    def streams(self, development_ids: Sequence[UUID]) -> dict[UUID, list[StoredRecord]]:
        """Every row of these developments, each in version order; those without rows are
        left out."""
        return self._recorder.select_streams(development_ids, cursor=self._cursor)

    def by_event_ids(self, event_ids: Sequence[UUID]) -> dict[UUID, StoredRecord]:
        """Rows stored under any of these event ids."""
        return self._recorder.select_by_event_ids(event_ids, self._cursor)


def created(statement: str) -> str:
    """The name of what a `CREATE … IF NOT EXISTS name …` statement creates."""
    return statement.split("IF NOT EXISTS", 1)[1].split()[0]
