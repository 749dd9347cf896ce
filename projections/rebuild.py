"""Rebuilding read models from position 0 (`compare` checks that a rebuild equals the live rows),
up to the head the log had when it began: the runner folds what came since.

Readers see the old rows until a rebuild commits, then the new ones, and appends go on
meanwhile. On PostgreSQL a rebuild runs in one transaction (the log's lock is not taken) and
runners wait for it at their tracking rows. On a SQLite file a child process
(`projections.writer`) writes the rows into shadow tables, a short transaction at a time, so
appends and the runner (which goes on folding into the live tables) wait about half a second
at most; it builds the shadows' indexes, a transaction each, swaps the shadows in with one
short transaction of renames, and then drops the tables they replaced. Elsewhere (SQLite in
memory) a thread writes in the rebuild's one transaction. The fold holds the whole log in
memory while the writer writes what has settled: closed rows, and rows that stayed unchanged
a while (the few that change again are updated). It writes no per-development states: they
are the runner's cache, and the runner folds a state it lacks from that development's events.
On SQLite it builds the secondary indexes after the rows. It bumps the tracking generation so
a running runner drops what it holds.
"""

from __future__ import annotations

import gc
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import msgspec

from projections.buffer import RowBuffer
from projections.deliveries import DeliveriesProjection
from projections.developments import DevelopmentsProjection
from projections.dialect import Dialect, rows_of
from projections.entries import Entry, LogReader, commits
from projections.projection import Projection
from projections.runner import ensure_schema, make_projections
from projections.schema import (
    BOXES,
    FOLDS,
    INDEXES,
    PG_CURRENT_COVER,
    SECOND,
    SQLITE_BOXES,
    SQLITE_OLD_BOXES,
    TABLES,
    TRACKING,
    index_names,
    under_second_name,
)
from projections.writer import ChildCursor
from service.store.log import RECORDS, Cursor, LogRecorder, created
from service.store.sqlite import TimelineSQLiteRecorder

Progress = Callable[[int, int], None]  # (events folded, events to fold)
Write = Callable[[Cursor], None]
PAGE = 5_000
FLUSH_ROWS = 10_000


class Rebuilt(msgspec.Struct, frozen=True):
    """What a rebuild did: which projections, up to which position, how many events, how fast."""

    names: tuple[str, ...]
    position: int
    events: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        """Events folded per second of the whole rebuild."""
        return self.events / self.seconds if self.seconds else 0.0


class _Writer:
    """Runs writes in a thread while the fold goes on (SQLite lets go of the GIL)."""

    def __init__(self, cursor: Cursor) -> None:
        self.cursor = cursor
        self.queue: queue.Queue[Write | None] = queue.Queue(maxsize=4)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="rebuild-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (write := self.queue.get()) is not None:
            if self.error is None:
                try:
                    write(self.cursor)
                except BaseException as error:  # handed to the folding thread by `check`
                    self.error = error

    def check(self) -> None:
        """Raise what the writer failed with."""
        if self.error is not None:
            raise self.error

    def put(self, write: Write) -> None:
        """Run this write soon, after the ones put before."""
        self.check()
        self.queue.put(write)

    def close(self) -> None:
        """Wait for every write to be done."""
        self.queue.put(None)
        self.thread.join()
        self.check()


class _Shadowing:
    """Hands writes to the child, which writes them to shadows of the tables (`writer`)."""

    def __init__(self, cursor: ChildCursor, store: LogRecorder) -> None:
        self.cursor = cursor
        self.store = store

    def put(self, write: Write) -> None:
        """Run this write soon, after the ones put before, on the shadows."""
        write(self.cursor)

    def swap(self, projections: Sequence[Projection[Any]]) -> None:
        """Build the shadows' indexes, then put the shadows in place of the live tables; what
        is put after this runs in the swap's transaction."""
        # the names in use (with those of shadows an earlier rebuild left, which the child
        # drops first: a name is taken here that may be free by then, never the other way)
        with self.store.read_transaction() as cursor:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
            taken = {row[0] for row in rows_of(cursor)}
        for statement in (s for p in projections for s in INDEXES[p.name]):
            first = created(statement)
            if first + SECOND in taken and first in taken:
                # both names on the live table (an older version made the first beside the
                # second): it keeps the first, and the shadow's index takes the second
                self.cursor.execute(f"DROP INDEX IF EXISTS {first}{SECOND}")
            named = under_second_name(statement) if first in taken else statement
            # no IF NOT EXISTS: a name in use is an error, not a shadow left without its index
            self.cursor.execute(named.replace(" IF NOT EXISTS ", " ", 1))
        self.cursor.swap()
        if any(p.name == "deliveries" for p in projections):
            for statement in SQLITE_OLD_BOXES:  # in the swap's transaction
                self.cursor.execute(statement)


class _InPlace(_Writer):
    """Writes in the tables themselves, in the one transaction of the rebuild."""

    def __init__(self, cursor: Cursor, sqlite: bool) -> None:
        super().__init__(cursor)
        self.sqlite = sqlite

    def swap(self, projections: Sequence[Projection[Any]]) -> None:
        """On SQLite, build the indexes dropped when the tables were cleared. PostgreSQL keeps
        them: `CREATE INDEX IF NOT EXISTS` would take a lock on the table that waits for a
        `REINDEX CONCURRENTLY` of an earlier rebuild's `tidy`, which waits for this
        transaction (a deadlock of two rebuilds, found by an audit)."""
        if self.sqlite:
            self.put(partial(_create_indexes, projections))


@contextmanager
def _writing(
    store: LogRecorder, projections: Sequence[Projection[Any]]
) -> Iterator[_InPlace | _Shadowing]:
    """A writer to the projections' tables, emptied, whose writes are committed together when
    the block ends without an error: in the rebuild's transaction or, on a SQLite file, by a
    swap of the shadow tables the child wrote (`writer`)."""
    dialect = Dialect(store)
    file = _sqlite_file(store)
    if file is None:
        with dialect.write() as cursor:
            writer = _InPlace(cursor, dialect.sqlite)
            try:
                if dialect.sqlite:  # 256 MiB: build indexes in memory
                    writer.put(partial(_execute, "PRAGMA cache_size = -262144", ()))
                else:  # runners wait at their tracking rows until the rebuild commits (`_LOCK`)
                    writer.put(partial(_execute, _LOCK, ([p.name for p in projections],)))
                    # the writer idles while the fold has nothing settled to write
                    statement = "SET LOCAL idle_in_transaction_session_timeout = 0"
                    writer.put(partial(_execute, statement, ()))
                for projection in projections:
                    writer.put(partial(_clear, dialect, projection.name, projection.tables))
                yield writer
            finally:
                writer.close()
        return
    tables = [table for p in projections for table in p.tables]
    if any(p.name == "deliveries" for p in projections):
        tables += BOXES
    creates = [s for s in dialect.ddl(TABLES).split(";") if "CREATE" in s]
    creates = [s for s in [*creates, *SQLITE_BOXES] if created(s) in tables]
    child = ChildCursor(*file, tables, creates)
    try:
        yield _Shadowing(child, store)
    except BaseException:
        child.abort()
        raise
    child.commit()


def _sqlite_file(store: LogRecorder) -> tuple[str, float] | None:
    """The store's SQLite file and lock timeout; None on PostgreSQL or SQLite in memory."""
    if not isinstance(store, TimelineSQLiteRecorder):
        return None
    pool = store.datastore.pool
    return None if pool.is_sqlite_memory_mode else (pool.db_name, pool.lock_timeout or 5)


@contextmanager
def _quiet_gc() -> Iterator[None]:
    # Millions of long-lived states make every collection rescan them; nothing here makes cycles.
    # A server (POST /api/projections/rebuild) froze what it built at start: frozen it stays.
    frozen, enabled = gc.get_freeze_count() > 0, gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.unfreeze()
        if frozen:
            gc.freeze()


def rebuild(
    store: LogRecorder | str,
    names: str | Sequence[str] | None = None,
    *,
    progress: Progress | None = None,
) -> Rebuilt:
    """Clear the named projections (all by default) and fold the log again from position 0.

    `store` is a timeline's store or a database URL; `names` one name or several of `NAMES`.
    """
    if isinstance(store, str):
        from service.application import Timeline  # a URL: this call opens the database

        timeline = Timeline(store)
        try:
            return rebuild(timeline.store, names, progress=progress)
        finally:
            timeline.close()
    if isinstance(names, str):
        names = [names]
    began = time.perf_counter()
    ensure_schema(store)
    dialect = Dialect(store)
    projections = make_projections(dialect, names)
    reader = LogReader(store)
    head = store.last_position()
    folded = last = 0
    pages: Iterable[list[Entry]] = reader.pages(0, PAGE)
    if dialect.sqlite and _sqlite_file(store) is None:  # in memory: one connection, which
        pages = list(pages)  # the rebuild's transaction holds; the log is read before
    with _quiet_gc(), _writing(store, projections) as writer:
        start_folding(projections)
        buffer = RowBuffer(dialect)
        for entries in pages:
            fold_page(projections, entries, buffer)
            folded += len(entries)
            last = entries[-1].position
            if buffer.count > FLUSH_ROWS:
                writer.put(buffer.spill().flush)
            if progress is not None:
                progress(folded, max(head, last))
            if last >= head:  # where the log was when it began: the runner folds what came since
                break
        for projection in projections:
            projection.finish_rebuild(buffer)
        writer.put(buffer.flush)
        writer.swap(projections)  # indexes built, tables swapped in: the rest is in the swap
        final = RowBuffer(dialect)
        for projection in projections:
            final.execute(
                f"UPDATE {TRACKING} SET position = %s, generation = generation + 1, fold = %s "
                "WHERE name = %s",
                [(last, FOLDS[projection.name], projection.name)],
            )
            projection.forget()
        writer.put(final.flush)
    tidy(store, names)
    return Rebuilt(tuple(p.name for p in projections), last, folded, time.perf_counter() - began)


def start_folding(projections: Sequence[Projection[Any]]) -> None:
    """Make the projections ready to fold the log from position 0."""
    for projection in projections:
        projection.start_rebuild()
    first, *others = projections  # in NAMES order: developments first
    if isinstance(first, DevelopmentsProjection) and others:
        assert isinstance(others[0], DeliveriesProjection)
        others[0].folded_by = first


def fold_page(
    projections: Sequence[Projection[Any]], entries: Sequence[Entry], buffer: RowBuffer
) -> None:
    """Fold a page of the log, commit by commit, into `buffer`."""
    for commit in commits(entries):
        for projection in projections:
            projection.apply(commit, buffer)


def tidy(store: LogRecorder, names: Sequence[str] | None = None) -> None:
    """On PostgreSQL, VACUUM (ANALYZE) the named projections' tables (all by default), and
    ANALYZE the log's.

    A rebuild leaves every old row dead and every new one without a visibility-map bit, so
    index-only scans fetch the heap and the planner's statistics are stale until autovacuum
    comes: measured at 1M events, the timeline's first page went from 5.4 ms to 1.8 ms. The
    log's statistics matter to the runner's reads of a few developments' events.

    It also builds the index of the current delivery rows again, beside readers and writers
    (`CONCURRENTLY`): a rebuild writes rows current that it closes later, and at 1M events
    that left the index 4x its size (8,111 pages for 70,962 rows, 2,051 built afresh), a point
    of the view reading 249 of its pages, 11 once built again (0.5 s).
    """
    dialect = Dialect(store)
    if dialect.sqlite:
        return
    with store.read_transaction() as cursor:  # autocommit: VACUUM runs outside a transaction
        # One tidy at a time: two rebuilds' tidies deadlocked (one's DROP INDEX waiting for
        # the other's REINDEX, which waited for it; found by an audit). The lock is tried, not
        # waited for: a REINDEX CONCURRENTLY waits for every older snapshot in the database,
        # that of a statement waiting for the lock too
        cursor.execute("SELECT pg_try_advisory_lock(%s)", (_TIDY_LOCK,))
        while not rows_of(cursor)[0][0]:
            time.sleep(0.1)
            cursor.execute("SELECT pg_try_advisory_lock(%s)", (_TIDY_LOCK,))
        try:
            for projection in make_projections(dialect, names):
                for table in projection.tables:
                    cursor.execute(f"VACUUM (ANALYZE) {table}")
                if projection.name == "deliveries":
                    # what an interrupted REINDEX CONCURRENTLY leaves: an invalid copy, kept
                    # up to date by every write and never read
                    for leftover in ("_ccnew", "_ccold"):
                        cursor.execute(f"DROP INDEX IF EXISTS {PG_CURRENT_COVER}{leftover}")
                    cursor.execute(f"REINDEX INDEX CONCURRENTLY {PG_CURRENT_COVER}")
            for table in (store.events_table_name, RECORDS):
                cursor.execute(f"ANALYZE {table}")
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", (_TIDY_LOCK,))


_TIDY_LOCK = 7_263_941_003  # advisory lock id (the schema's is ..._002)


# PostgreSQL: the rebuild takes its tracking rows first. A runner's batch passes through its
# tracking row before it touches a row, so it waits there, and never holds that row while
# waiting for rows the rebuild deleted (a deadlock once the rebuild moves the tracking).
_LOCK = f"SELECT name FROM {TRACKING} WHERE name = ANY(%s) ORDER BY name FOR UPDATE"


def _execute(statement: str, params: Sequence[Any], cursor: Cursor) -> None:
    cursor.execute(statement, params)


def _create_indexes(projections: Sequence[Projection[Any]], cursor: Cursor) -> None:
    for projection in projections:
        for statement in INDEXES[projection.name]:
            cursor.execute(statement)


def _clear(dialect: Dialect, name: str, tables: Sequence[str], cursor: Cursor) -> None:
    if dialect.sqlite:  # rows go in faster without indexes; they are built again at the end
        for index in index_names(name):
            cursor.execute(f"DROP INDEX IF EXISTS {index}")
            cursor.execute(f"DROP INDEX IF EXISTS {index}{SECOND}")
    for table in tables:
        cursor.execute(f"DELETE FROM {table}")
    if name == "deliveries" and dialect.sqlite:  # emptying an R-tree row by row is slow
        for box, create in zip(BOXES, SQLITE_BOXES, strict=True):
            cursor.execute(f"DROP TABLE IF EXISTS {box}")
            cursor.execute(create)
        for statement in SQLITE_OLD_BOXES:
            cursor.execute(statement)
