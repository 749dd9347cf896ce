"""What every projection shares: per-development states kept between batches, and row ids."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

import msgspec

from projections.buffer import RowBuffer
from projections.dialect import Dialect, rows_of
from projections.entries import Entry, LogReader, entries_of
from projections.schema import TRACKING, Table
from projections.state import DevState, replay
from service.store.log import Cursor


class Moved(Exception):
    """The tracking position changed under a batch: someone else advanced or rebuilt it."""


class Disagree(RuntimeError):
    """The read models' rows of a development disagree with its events (written by a version
    that folded them otherwise): only a rebuild brings them back in line."""

    def __init__(self, projection: str, development: Any, what: str) -> None:
        super().__init__(
            f"{projection}: the current rows of development {development} disagree with its "
            f"events ({what}); run `timeline projections rebuild {projection}`"
        )


class Outdated(RuntimeError):
    """Read models written by another version of their fold (`schema.FOLDS`): they answer only
    once rebuilt, as `timeline serve` and `timeline projections run` do when they start."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        super().__init__(
            f"the read models of {', '.join(names)} were written by another version of this "
            "service and are rebuilt from the log before they answer (`timeline projections "
            "run` does it when it starts; or run `timeline projections rebuild`)"
        )


K = TypeVar("K", bound=msgspec.Struct)

MAX_KEPT = 100_000  # states kept in memory between batches; the rest are read back when needed


class Projection(ABC, Generic[K]):
    """A read model fed by the log: folds each commit into row changes for a `RowBuffer`.

    States live in `kept` while a batch runs and in the projection's state table between runs,
    a cache: a state it lacks is folded again from its development's events. A rebuild writes
    none; with `complete` set, every state is in memory and nothing is read back.
    """

    name: str
    kept_type: type[K]
    state_table: Table
    versioned: tuple[Table, ...]  # tables whose rows have ids handed out here
    tables: tuple[str, ...]  # every table of the projection, cleared by a rebuild

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.kept: dict[Any, K] = {}
        self.dirty: dict[Any, None] = {}
        self.ids: dict[str, int] = {}
        self.complete = False
        self.synced: tuple[int, int] | None = None  # the (position, generation) kept reflects
        self.expected: tuple[int, int] = (0, 0)  # the tracking a batch being folded starts from
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(self.kept_type)
        self._streams = LogReader(dialect.store).streams_query

    def forget(self) -> None:
        """Drop everything held in memory; the next batch reads it back from the tables."""
        self.kept.clear()
        self.dirty.clear()
        self.ids.clear()
        self.complete = False
        self.synced = None

    def start_rebuild(self) -> None:
        """Hold every state in memory from an empty read model."""
        self.forget()
        self.complete = True
        self.ids = {table.name: 0 for table in self.versioned}

    def finish_rebuild(self, buffer: RowBuffer) -> None:
        """Queue what a rebuild writes once, at its end."""

    def next_id(self, table: Table) -> int:
        """A new row id for `table`."""
        self.ids[table.name] += 1
        return self.ids[table.name]

    @contextmanager
    def reading(self) -> Iterator[Cursor]:
        """A read of states consistent with `expected`, or `Moved`.

        SQLite reads one snapshot; PostgreSQL reads in a transaction that holds a share lock on
        the tracking row, so a runner committing meanwhile waits until the read is done.
        """
        sqlite = self.dialect.sqlite
        with self.dialect.store.read_transaction() if sqlite else self.dialect.write() as cursor:
            cursor.execute(
                self.dialect.sql(
                    f"SELECT position, generation FROM {TRACKING} WHERE name = %s"
                    + ("" if sqlite else " FOR SHARE")
                ),
                (self.name,),
            )
            found = rows_of(cursor)
            if not found or (found[0][0], found[0][1]) != self.expected:
                raise Moved(self.name)
            yield cursor

    def prepare(self, entries: Sequence[Entry]) -> None:
        """Read back the row-id counters and the states a batch needs."""
        if self.complete and self.ids:
            return
        with self.reading() as cursor:
            self._prepare(cursor, entries)

    def _prepare(self, cursor: Cursor, entries: Sequence[Entry]) -> None:
        sql = self.dialect.sql
        if not self.ids:
            for table in self.versioned:
                cursor.execute(sql(f"SELECT max(id) AS top FROM {table.name}"))
                self.ids[table.name] = rows_of(cursor)[0][0] or 0
        if self.complete:
            return
        kept = self.kept
        missing = list(dict.fromkeys(e.development for e in entries if e.development not in kept))
        query = (
            f"SELECT development_id, state FROM {self.state_table.name} "
            "WHERE development_id IN ({marks})"
        )
        for key, blob in self.dialect.select_in(cursor, query, missing):
            kept[key] = self._decoder.decode(blob)
        # States not stored (a rebuild writes none) are folded from their development's events.
        unstored = [key for key in missing if key not in kept]
        streams: dict[Any, list[Entry]] = {}
        rows = self.dialect.select_in(cursor, self._streams, unstored, self.expected[:1])
        for entry in entries_of(list(rows)):
            streams.setdefault(entry.development, []).append(entry)
        if streams:  # developments new in this batch have no events yet
            self._restore(cursor, {key: replay(found) for key, found in streams.items()})

    @abstractmethod
    def _restore(self, cursor: Cursor, states: dict[Any, DevState]) -> None:
        """Keep these states, folded from the log, with what the tables say of them."""

    @abstractmethod
    def apply(self, commit: Sequence[Entry], buffer: RowBuffer) -> None:
        """Fold one commit (events sharing a system time) into row changes."""

    def save(self, buffer: RowBuffer) -> None:
        """Queue the changed states for writing, and keep the memory bounded."""
        self._save(buffer, list(self.dirty))
        self.dirty.clear()
        if not self.complete and len(self.kept) > MAX_KEPT:
            for key in list(self.kept)[: len(self.kept) // 2]:
                del self.kept[key]

    def _save(self, buffer: RowBuffer, keys: list[Any]) -> None:
        rows = self._encode_states(keys)
        table = self.state_table.name
        upsert = "ON CONFLICT (development_id) DO UPDATE SET state = excluded.state"
        if self.dialect.sqlite:
            buffer.execute(
                f"INSERT INTO {table} (development_id, state) VALUES (%s, %s) {upsert}", rows
            )
        elif rows:  # one statement over arrays, not one per state
            buffer.execute(
                f"INSERT INTO {table} (development_id, state) "
                f"SELECT * FROM unnest(%b::uuid[], %b::bytea[]) {upsert}",
                [([key for key, _ in rows], [blob for _, blob in rows])],
            )

    def _encode_states(self, keys: list[Any]) -> list[Sequence[Any]]:
        encode, kept = self._encoder.encode, self.kept
        return [(key, encode(kept[key])) for key in keys]
