"""Rebuilding read models from position 0, and checking that a rebuild equals the live rows.

A rebuild runs in one transaction: readers see the old rows until it commits, then the new
ones; on SQLite it holds the write lock meanwhile (appends wait). It folds the whole log in
memory, writes each row once (closed rows as they close, open rows at the end), builds the
secondary indexes after the rows on SQLite, and bumps the tracking generation so a running
runner drops what it holds.
"""

from __future__ import annotations

import gc
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import msgspec

from projections.buffer import RowBuffer
from projections.deliveries import DeliveriesProjection
from projections.entries import LogReader, commits
from projections.runner import ProjectionRunner, ensure_schema, make_projections, read_tracking
from projections.schema import BOX, INDEXES, SQLITE_BOX, TRACKING, Dialect, index_names, rows_of
from service.store.log import Cursor, LogRecorder

Progress = Callable[[int, int], None]  # (events folded, events to fold)
PAGE = 20_000
FLUSH_ROWS = 50_000


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
    """Writes closed rows in a thread while the fold goes on (SQLite lets go of the GIL)."""

    def __init__(self, cursor: Cursor) -> None:
        self.cursor = cursor
        self.queue: queue.Queue[RowBuffer | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="rebuild-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (buffer := self.queue.get()) is not None:
            if self.error is None:
                try:
                    buffer.flush(self.cursor, with_open=False)
                except BaseException as error:  # handed to the folding thread by `check`
                    self.error = error

    def check(self) -> None:
        """Raise what the writer failed with."""
        if self.error is not None:
            raise self.error

    def put(self, buffer: RowBuffer) -> None:
        """Write these rows soon."""
        self.check()
        self.queue.put(buffer)

    def close(self) -> None:
        """Wait for every row to be written."""
        self.queue.put(None)
        self.thread.join()
        self.check()


@contextmanager
def _quiet_gc() -> Iterator[None]:
    # Millions of long-lived states make every collection rescan them; nothing here makes cycles.
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


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
    with _quiet_gc(), store.write_transaction() as cursor:
        if dialect.sqlite:
            cursor.execute("PRAGMA cache_size = -262144")  # 256 MiB: build indexes in memory
        tracking = read_tracking(dialect, cursor)
        for projection in projections:
            _clear(dialect, cursor, projection.name, projection.tables)
            projection.start_rebuild()
        if len(projections) == 2 and isinstance(projections[1], DeliveriesProjection):
            projections[1].folded_by = projections[0]  # in NAMES order: developments first
        buffer = RowBuffer(dialect)
        writer = _Writer(cursor)
        try:
            for entries in reader.pages(0, PAGE):
                for commit in commits(entries):
                    for projection in projections:
                        projection.apply(commit, buffer)
                folded += len(entries)
                last = entries[-1].position
                if buffer.count > FLUSH_ROWS:
                    writer.put(buffer.take_done())
                if progress is not None:
                    progress(folded, max(head, last))
        finally:
            writer.close()
        for projection in projections:
            projection.save(buffer, rebuilding=True)
            if isinstance(projection, DeliveriesProjection):
                projection.save_pieces(buffer)
        buffer.flush(cursor)
        for projection in projections:
            for statement in INDEXES[projection.name]:
                cursor.execute(statement)
            generation = tracking.get(projection.name, (0, 0))[1] + 1
            cursor.execute(
                dialect.sql(
                    f"UPDATE {TRACKING} SET position = %s, generation = %s WHERE name = %s"
                ),
                (last, generation, projection.name),
            )
            projection.forget()
    return Rebuilt(tuple(p.name for p in projections), last, folded, time.perf_counter() - began)


def _clear(dialect: Dialect, cursor: Cursor, name: str, tables: Sequence[str]) -> None:
    if dialect.sqlite:  # rows go in faster without indexes; they are built again at the end
        for index in index_names(name):
            cursor.execute(f"DROP INDEX IF EXISTS {index}")
    for table in tables:
        cursor.execute(f"DELETE FROM {table}")
    if name == "deliveries" and dialect.sqlite:  # emptying an R-tree row by row is slow
        cursor.execute(f"DROP TABLE IF EXISTS {BOX}")
        cursor.execute(SQLITE_BOX)


def snapshot(store: LogRecorder, names: Sequence[str] | None = None) -> dict[str, list[Any]]:
    """Every row of the named projections' tables, in a stable order, for comparisons."""
    dialect = Dialect(store)
    found: dict[str, list[Any]] = {}
    with store.read_transaction() as cursor:
        for projection in make_projections(dialect, names):
            for table in projection.tables:
                cursor.execute(f"SELECT * FROM {table}")
                found[table] = sorted(rows_of(cursor), key=repr)
    return found


def verify_rebuild(store: LogRecorder, names: Sequence[str] | None = None) -> dict[str, str]:
    """Catch up, rebuild and compare with the rows before; what differs, by read-model table.

    The tables of states (`*_state`) are left out: they are the runner's memory between
    batches, not read models, and hold caches that depend on how the fold got there.
    """
    ProjectionRunner(store).catch_up()
    before = snapshot(store, names)
    rebuild(store, names)
    after = snapshot(store, names)
    differences: dict[str, str] = {}
    for table, rows in before.items():
        if table.endswith("_state"):
            continue
        if rows != after[table]:
            missing = [row for row in rows if row not in after[table]][:3]
            extra = [row for row in after[table] if row not in rows][:3]
            differences[table] = f"live only: {missing!r}; rebuilt only: {extra!r}"
    return differences
