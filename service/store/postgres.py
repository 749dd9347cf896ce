"""The log on PostgreSQL: the library's recorder plus `event_records`, under its table lock."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Any
from urllib.parse import parse_qsl
from uuid import UUID

import psycopg
import psycopg_pool
from eventsourcing.persistence import (
    ConnectionUnavailableError,
    IntegrityError,
    InterfaceError,
    InternalError,
    OperationalError,
    ProgrammingError,
)
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from eventsourcing.utils import Environment, EnvType
from psycopg.sql import SQL, Composed

from service.config import LIBPQ_OPTIONS, ConfigError, persistence_env
from service.errors import Busy, ReadOnly, Refused, StorageFull, Unavailable, Uninitialised
from service.store.log import RECORDS, Cursor, Locked, LogRecorder, Undecided
from service.store.records import Pending, StoredRecord, now_micros

_SCHEMA_LOCK = 7_263_941_001  # advisory lock id: one process creates the schema at a time

# Appends a group in one call: takes the lock (so the head cannot move), reads the head, extends
# the hash chain with `chain_link`'s formula (records.py) and inserts the events and their
# records at the head's successor positions, with one `recorded_at`: the server's clock read
# under the lock (or this process's, if ahead), clamped past the head's, so commits never share
# a system time and a commit that waited for the lock is not stamped with the time it began
# waiting (up to the lock timeout before it became visible: a `known_at` in that gap would have
# answered differently once it landed).
_APPEND_FUNCTION = """
CREATE OR REPLACE FUNCTION {events}_append(
    development_ids uuid[], versions bigint[], topics text[], states bytea[], event_ids uuid[],
    recorded_bys text[], digests text[], now_us bigint, lock_wait text)
RETURNS TABLE ("position" bigint, recorded_at bigint, link bytea)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    last_position bigint;
    last_recorded bigint;
    previous bytea;
    top bigint;
    at bigint;
    positions bigint[] := '{}';
    links bytea[] := '{}';
    -- copies in PL/pgSQL's expanded form: element i is reached directly, not by a walk
    ids uuid[] := development_ids;
    numbers bigint[] := versions;
    types text[] := topics;
    bodies bytea[] := states;
    eids uuid[] := event_ids;
    principals text[] := recorded_bys;
BEGIN
    PERFORM set_config('lock_timeout', lock_wait, true);
    LOCK TABLE {events} IN EXCLUSIVE MODE;
    SELECT r.position, r.recorded_at, r.link INTO last_position, last_recorded, previous
        FROM event_records r ORDER BY r.position DESC LIMIT 1;
    SELECT max(e.notification_id) INTO top FROM {events} e;
    last_position := greatest(coalesce(last_position, 0), coalesce(top, 0));
    at := greatest(now_us, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint,
        coalesce(last_recorded, 0) + 1);
    previous := coalesce(previous, decode(repeat('00', 32), 'hex'));
    FOR i IN 1 .. cardinality(ids) LOOP
        last_position := last_position + 1;
        previous := sha256(previous || convert_to(last_position::text || E'\\n' || ids[i]::text
            || E'\\n' || numbers[i]::text || E'\\n' || types[i] || E'\\n' || at::text || E'\\n'
            || eids[i]::text || E'\\n' || principals[i] || E'\\n', 'UTF8') || sha256(bodies[i]));
        positions[i] := last_position;
        links[i] := previous;
    END LOOP;
    INSERT INTO {events} (notification_id, originator_id, originator_version, topic, state)
        SELECT * FROM unnest(positions, ids, numbers, types, bodies);
    INSERT INTO event_records (position, event_id, recorded_at, recorded_by, digest, link)
        SELECT u.p, u.e, at, u.b, u.d, u.l
        FROM unnest(positions, eids, principals, digests, links) AS u(p, e, b, d, l);
    RETURN QUERY SELECT u.p, at, u.l FROM unnest(positions, links) AS u(p, l);
END
$$
"""


class TimelinePostgresRecorder(LogRecorder, PostgresApplicationRecorder):
    """Application recorder for PostgreSQL that also keeps the log's records and hash chain."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        _check_accepted(datastore)
        with _opening(datastore.pool):  # the library connects at once
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
                _literal(_APPEND_FUNCTION.replace("{events}", events_table_name)),
            ]
        )
        self.append_function = f"{events_table_name}_append"

    def discard_broken(self) -> None:
        """Test each idle pooled connection and replace those that broke (`LogRecorder`)."""
        self.datastore.pool.check()

    def existing(self, names: Iterable[str]) -> set[str]:
        """Which of these tables and indexes exist, found as every query finds them."""
        wanted = list(names)
        with self.read_transaction() as cursor:
            cursor.execute(
                "SELECT name FROM unnest(%s::text[]) AS name WHERE to_regclass(name) IS NOT NULL",
                (wanted,),
            )
            return {row["name"] for row in cursor.fetchall()}

    def create_table(self) -> None:
        """Create the schema under an advisory lock, so several processes may start at once.

        The library's own steps, on the one connection that holds the lock: a pool of one
        connection (`?pool_size=1&max_overflow=0`) has no second to lend them.
        """
        with _opening(self.datastore.pool), self.datastore.get_connection() as connection:
            connection.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
            try:
                for statement in self.sql_create_statements:
                    if "CREATE TYPE" in statement.as_string():  # no IF NOT EXISTS for types
                        with suppress(psycopg.errors.DuplicateObject), connection.transaction():
                            connection.execute(statement, prepare=False)
                with connection.transaction():
                    self._create_table(connection.cursor())
            finally:
                connection.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))
        with _opening(self.datastore.pool):
            self.datastore.register_type_adapters()

    def _errors(self) -> AbstractContextManager[None]:
        return _storage_errors(self.datastore.pool)

    @contextmanager
    def write_transaction(self) -> Iterator[Cursor]:
        """A transaction holding the library's EXCLUSIVE lock on the events table."""
        try:
            with (
                self._errors(),
                self.datastore.get_connection() as connection,
                connection.transaction(),
            ):
                cursor = connection.cursor()
                self._lock_table(cursor)
                yield cursor
        except psycopg.IntegrityError as error:
            raise IntegrityError(str(error)) from error

    @contextmanager
    def read_transaction(self) -> Iterator[Cursor]:
        """Autocommit: each statement sees a consistent snapshot of its own."""
        with self._errors(), self.datastore.get_connection() as connection:
            yield connection.cursor()

    @contextmanager
    def snapshot(self) -> Iterator[Cursor]:
        """REPEATABLE READ, READ ONLY: every statement sees the snapshot of the first."""
        with self._errors(), self.datastore.get_connection() as connection:
            cursor = connection.cursor()
            cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                yield cursor
            finally:  # nothing to keep (after an error it rolls back); a broken connection is
                if not connection.broken:  # the pool's to drop
                    cursor.execute("COMMIT")  # not connection.rollback(): measured 1 ms dearer

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """A read-write transaction that commits when the block ends without an error; a lock
        it waits for longer than the lock timeout makes it `Busy`."""
        with self._errors(), self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                SQL("SET LOCAL lock_timeout = '{0}s'").format(self.datastore.lock_timeout)
            )
            yield cursor

    def record(self, prepare: Callable[[Locked], Sequence[Pending]]) -> list[StoredRecord]:
        """Store what `prepare` decides: optimistically first, then under the lock if need be.

        The optimistic attempt decides from the last commit without any lock, then stores the
        group with one call of the append function (`_APPEND_FUNCTION`), a transaction of its
        own that takes the lock, extends the chain and inserts: one round trip, and the lock
        held only for the server's own work. What it decided from was current unless a
        constraint says otherwise (a version or an event id stored meanwhile), or `prepare`
        refused something a race may explain (`Undecided`); then the group is decided again
        under the lock.
        """
        try:
            pending = prepare(Locked(self, None))
            if not pending:
                return []
            with self._errors(), self.datastore.get_connection() as connection:
                return self._append(connection.cursor(), pending)
        except (psycopg.IntegrityError, IntegrityError, Undecided):
            pass  # lost a race, or may have: decided from something that changed meanwhile
        with self.write_transaction() as cursor:
            pending = prepare(Locked(self, cursor))
            if not pending:
                return []
            return self._append(cursor, pending)

    def _append(self, cursor: Cursor, pending: Sequence[Pending]) -> list[StoredRecord]:
        """Call the append function; the rows come back with their positions, time and links."""
        cursor.execute(
            f"SELECT * FROM {self.append_function}(%b::uuid[], %b::bigint[], %b::text[], "
            "%b::bytea[], %b::uuid[], %b::text[], %b::text[], %b::bigint, %b::text)",
            (
                [p.development_id for p in pending],
                [p.version for p in pending],
                [p.topic for p in pending],
                [p.state for p in pending],
                [p.event_id for p in pending],
                [p.recorded_by for p in pending],
                [p.digest for p in pending],
                now_micros(),
                f"{self.datastore.lock_timeout}s",
            ),
        )
        return self._stored(pending, cursor)

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


def _literal(statement: str) -> Composed:
    """A statement as composed SQL, its braces kept as they are."""
    return SQL(statement.replace("{", "{{").replace("}", "}}")).format()


# A role without the privilege; a server that only reads (a standby, `default_transaction_
# read_only`): the store may not be written until an operator changes that.
_NOT_WRITABLE = (psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)


@contextmanager
def _storage_errors(pool: psycopg_pool.ConnectionPool[Any]) -> Iterator[None]:
    """The database's conditions as `StorageError`s: `Busy` (a lock or a pooled connection
    not granted in time), `StorageFull` (no room left where the tables are), `ReadOnly` (the
    role may not write a table, or the server only reads) or `Unavailable` (the server cannot
    be reached or the connection broke). The library's pool hands psycopg's errors on as its
    own, the original as their cause. A pool that handed out no connection in time had every
    one taken, or could not open one: one direct connection, as `pool` opens them, tells which."""
    try:
        yield
    except (ProgrammingError, InternalError, *_NOT_WRITABLE) as error:
        cause = error if isinstance(error, psycopg.Error) else error.__cause__
        if isinstance(cause, _NOT_WRITABLE):
            raise ReadOnly(str(error).strip()) from error
        if isinstance(cause, _GONE):  # its tables, or the append function, are gone
            raise Uninitialised(str(error).strip()) from error
        raise
    except (ConnectionUnavailableError, OperationalError, InterfaceError) as error:
        cause = error.__cause__
        if isinstance(cause, psycopg_pool.PoolTimeout):
            unreachable = _unreachable(pool)
            if unreachable:
                kind = Refused if refuses(unreachable) else Unavailable
                raise kind(f"{str(error).strip()}: {unreachable}") from error
        if isinstance(error, ConnectionUnavailableError) or isinstance(
            cause, psycopg.errors.LockNotAvailable | psycopg_pool.PoolTimeout
        ):
            raise Busy(str(error).strip()) from error
        if isinstance(cause, psycopg.errors.DiskFull):  # an OperationalError too: first
            raise StorageFull(str(error).strip()) from error
        if isinstance(cause, psycopg.OperationalError | psycopg.InterfaceError):
            raise Unavailable(str(error).strip()) from error
        raise


# What a database emptied under a running server answers
_GONE = (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedFunction)
# What a server says when it refuses a connection for a reason no retry will change.
_REFUSALS = ("does not exist", "authentication failed", "pg_hba.conf", "permission denied")
# What libpq says when the URL's TLS options cannot be met ("server does not support SSL, but
# SSL was required", "root certificate file ... does not exist", "certificate verify failed",
# "server certificate for ... does not match host name"); not a handshake cut short ("SSL
# SYSCALL error"), which a retry may get past
_TLS_FAILURES = ("does not support SSL", "certificate")
# TCP keepalives on every connection: a server or network gone silent (a machine switched
# off, a dropped route) breaks a connection waiting for an answer after about a minute,
# where TCP alone would wait for hours; the pool then opens another
KEEPALIVES = {
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
}


class TimelinePostgresFactory(PostgresFactory):
    """The library's factory, whose pool's connections also carry `KEEPALIVES` and the TLS
    options of the database URL (`config.LIBPQ_OPTIONS`)."""

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        kwargs = self.datastore.pool.kwargs  # the pool opens its connections later
        assert isinstance(kwargs, dict)  # the library's datastore gives its pool a dict
        kwargs.update(_libpq_options(self.env.get(LIBPQ_OPTIONS) or ""))


def _libpq_options(tls: str) -> dict[str, str]:
    """What every connection adds to the library's settings: `KEEPALIVES` and the URL's TLS
    options (`tls`, a query string)."""
    return {**KEEPALIVES, **dict(parse_qsl(tls))}


def refuses(said: str) -> bool:
    """Whether libpq's `said` is the server refusing the connection for a reason no retry
    changes (`_REFUSALS`)."""
    return "FATAL:" in said and any(refusal in said for refusal in _REFUSALS)


def _check_accepted(datastore: PostgresDatastore) -> None:
    """Connect once, directly, and raise `ConfigError` when the server refuses the database,
    role or password. The pool retries every failed connection until its connect timeout, so
    a misspelt database name would read as a server out of reach 30 s later. A server that
    does not answer is left to the pool, which waits for it to start."""
    try:
        _connect(datastore.pool, timeout=datastore.pool.timeout)
    except psycopg.OperationalError as error:
        said = str(error).strip().splitlines()[-1] if str(error).strip() else ""
        if refuses(said):
            reason = said.split("FATAL:", 1)[1].strip()
            raise ConfigError(f"the PostgreSQL server refused the connection: {reason}") from None
        whole = " ".join(str(error).split())  # libpq's reason, then its hint on another line
        if any(failure in whole for failure in _TLS_FAILURES):  # `?sslmode=` and its files
            reason = whole.split(" failed: ", 2)[-1]
            raise ConfigError(f"the connection to PostgreSQL failed its TLS: {reason}") from None


def _connect(pool: psycopg_pool.ConnectionPool[Any], *, timeout: float) -> None:
    """Open and close one connection as the pool would open it, directly."""
    kwargs = pool.kwargs() if callable(pool.kwargs) else pool.kwargs
    conninfo = pool.conninfo() if callable(pool.conninfo) else pool.conninfo
    settings = {key: value for key, value in (kwargs or {}).items() if key != "row_factory"}
    psycopg.connect(conninfo, **settings, connect_timeout=max(1, int(timeout))).close()


def _unreachable(pool: psycopg_pool.ConnectionPool[Any]) -> str:
    """Why the server cannot be connected to now, or "" when it can (the pool was only full)."""
    return _why_not(lambda: _connect(pool, timeout=2))  # libpq's least


def unreachable(url: str) -> str:
    """Why the PostgreSQL database at `url` cannot be connected to now (within 2 s), or ""."""
    env = persistence_env(url)
    settings = {
        "dbname": env["POSTGRES_DBNAME"],
        "host": env["POSTGRES_HOST"],
        "port": env["POSTGRES_PORT"],
        "user": env["POSTGRES_USER"],
        "password": env["POSTGRES_PASSWORD"],
        **_libpq_options(env[LIBPQ_OPTIONS]),
    }
    conninfo = psycopg.conninfo.make_conninfo(**settings, connect_timeout=2)
    return _why_not(lambda: psycopg.connect(conninfo).close())


def _why_not(connect: Callable[[], None]) -> str:
    try:
        connect()
    except psycopg.OperationalError as error:
        said = str(error).strip().splitlines()
        return said[0].removeprefix("connection failed: ") if said else "no connection"
    return ""


@contextmanager
def _opening(pool: psycopg_pool.ConnectionPool[Any]) -> Iterator[None]:
    """`_storage_errors` for a store being opened: a pool that cannot hand out a connection within
    the connect timeout has no other user to wait for, so the server is `Unavailable` (and a
    direct connection says why, when it fails too)."""
    try:
        with _storage_errors(pool):
            yield
    except Busy as error:
        raise Unavailable(str(error)) from error
