"""The Timeline application: appends events to development streams and reads the log back.

Built on the `eventsourcing` library: one stream per development, the library's recorders
extended with the log's records (see `service.store`), and a msgspec mapper.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from events import AnyEvent, Recorded, decode_event
from service.config import ConfigError, creates_tables, persistence_env, redacted, sqlite_file
from service.domain import Development, evolve
from service.errors import Conflict, DomainError, ReadOnly, Unavailable
from service.mapper import EventMapper, StreamItem
from service.store.log import LogRecorder
from service.store.records import StoredRecord, from_micros
from service.store.sqlite import check_openable, writable
from service.writing import Group, Outcome, Request


class NoTables(ConfigError):
    """The database holds no timeline, and this process was told to make none."""


_NOT_MADE = "CREATE_TABLE=no: this process creates none"


def _no_file(url: str, why: str) -> ConfigError:
    """A SQLite file that is not there, and is not to be made."""
    return NoTables(
        f"no database at {sqlite_file(url)} ({url}): {why}; run `timeline init` on it first"
    )


def _no_tables(url: str, why: str) -> ConfigError:
    """A database without the log's tables, which are not to be made."""
    return NoTables(
        f"no timeline tables in {redacted(url)} ({why}): run `timeline init` on it first"
    )


def _unopened(path: Path, error: BaseException) -> BaseException:
    """What SQLite's refusal to open `path` means, said for the person who named it (SQLite
    says "file is not a database" or "unable to open database file"); any other error as is."""
    cause = error if isinstance(error, sqlite3.Error) else error.__cause__
    name = getattr(cause, "sqlite_errorname", "")
    if name in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
        return ConfigError(f"{path} is not a SQLite database, or it is damaged ({cause})")
    if name.startswith("SQLITE_CANTOPEN") and not writable(str(path)):
        made = "made" if not path.exists() else "opened for writing"
        return ReadOnly(f"the SQLite database {path} cannot be {made}: this user may not write "
                        f"it or its folder ({cause})")  # fmt: skip
    if name.startswith("SQLITE_CANTOPEN"):
        return Unavailable(f"the SQLite database {path} cannot be opened ({cause})")
    return error


def check_database(url: str) -> None:
    """Raise what opening the timeline at `url` to serve it would raise, making nothing: a
    setting (`ConfigError`), a server refusing or out of reach, a file that may not be written.
    A database without the log's tables passes when this process would make them."""
    path = sqlite_file(url)
    if path is not None and (not path.exists() or path.stat().st_size == 0):  # to be made
        check_openable(str(path))
        if not creates_tables():
            raise _no_file(url, _NOT_MADE)
        if not writable(str(path)):
            raise ReadOnly(f"the SQLite database {path} cannot be made: its folder is read-only")
        return
    try:
        Timeline(url, existing=True).close()  # makes nothing: no file, no table
    except NoTables:
        if not creates_tables():
            raise _no_tables(url, _NOT_MADE) from None


MAX_ATTEMPTS = 3  # `record` decides under the lock at last; a clash then means a writer ignored it


def recorded_of(record: StoredRecord) -> Recorded:
    """A stored row decoded into the event and what the server added."""
    return Recorded(
        position=record.position,
        development_id=record.development_id,
        version=record.version,
        event_id=record.event_id,
        recorded_at=from_micros(record.recorded_at_us),
        recorded_by=record.recorded_by,
        event=decode_event(record.state),
    )


def _project(state: Development | None, items: Iterable[StreamItem]) -> Development | None:
    for item in items:
        state = evolve(state, item.event)
    return state


class Timeline(Application[UUID]):
    """Appends events to development streams and reads them back, on SQLite or PostgreSQL."""

    name = "Timeline"

    def __init__(self, database: str, *, create: bool = False, existing: bool = False) -> None:
        """The timeline at `database`; `create`: make its tables whatever CREATE_TABLE says;
        `existing`: make none whatever it says (a database without them is refused)."""
        self.database = database
        env = persistence_env(database)
        path = sqlite_file(database)
        makes = create or (not existing and creates_tables())
        # why none are made: said where a database without them is refused
        why = "this command creates none" if existing else _NOT_MADE
        if not makes and path is not None and not path.exists():  # SQLite would make it empty
            raise _no_file(database, why)
        if create or existing:
            env["CREATE_TABLE"] = "yes" if create else "no"
        try:
            super().__init__(env=env)
            present = self.store.tables_present()  # SQLite reads the file first here
        except BaseException as error:  # a server refusing, say: its pool closed now, not by
            factory = getattr(self, "factory", None)  # the collector in some other thread
            if factory is not None:
                factory.close()
            said = error if path is None else _unopened(path, error)
            if said is error:
                raise
            raise said from error
        if not present:
            self.close()
            raise _no_tables(database, why)

    def construct_mapper(self) -> EventMapper:
        """One msgspec mapper instead of the library's JSON transcoder."""
        return EventMapper()

    @property
    def store(self) -> LogRecorder:
        """The recorder, with the log's own reads and writes."""
        return cast(LogRecorder, self.recorder)

    def close(self) -> None:
        """Release the database connections."""
        self.factory.close()

    # --- writing -------------------------------------------------------------------------

    def append(
        self, events: Sequence[AnyEvent], recorded_by: str, *, plural_units: bool = False
    ) -> list[Outcome]:
        """Append events atomically, in order; all are stored or none.

        An event whose `event_id` was stored before with the same body is not stored again:
        its outcome carries the original receipt. Raises a `DomainError` (with `index` set to
        the event's place in `events`) when any event is refused; with `plural_units`, a unit
        written as a plural is not a reason (`service.domain.decide`).
        """
        request = Request(events=events, recorded_by=recorded_by, plural_units=plural_units)
        result = self.append_group([request])[0]
        if isinstance(result, DomainError):
            raise result
        return result

    def append_group(self, requests: Sequence[Request]) -> list[list[Outcome] | DomainError]:
        """Append several requests in one transaction (group commit); each succeeds or fails alone.

        A request's events are all stored or none; a refused request gets its `DomainError`
        and leaves the others untouched.
        """
        for _ in range(MAX_ATTEMPTS):
            group = Group(requests)
            try:
                records = self.store.record(group.decide)
            except IntegrityError:
                continue  # a writer that ignored the lock stored a version or id first
            return group.results(records)
        raise Conflict("the log kept changing under concurrent writes; try again")

    # --- reading -------------------------------------------------------------------------

    def development(self, development_id: UUID) -> Development | None:
        """The write-side state of a development, or None when nothing was recorded."""
        try:
            state: Development = self.repository.get(development_id, projector_func=_project)
        except AggregateNotFoundError:
            return None
        return state

    def stream(self, development_id: UUID, *, until_us: int | None = None) -> list[Recorded]:
        """A development's events in version order, optionally as known by a time."""
        return [recorded_of(r) for r in self.store.select_stream(development_id, until_us=until_us)]

    def streams(
        self, development_ids: Sequence[UUID], *, until_us: int | None = None
    ) -> dict[UUID, list[Recorded]]:
        """Several developments' events, each in version order, optionally as known by a time."""
        found = self.store.select_streams(development_ids, until_us=until_us)
        return {key: [recorded_of(r) for r in rows] for key, rows in found.items()}
