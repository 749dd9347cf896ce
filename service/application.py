"""The Timeline application: appends events to development streams and reads the log back.

Built on the `eventsourcing` library: one stream per development, the library's recorders
extended with the log's records (see `service.store`), and a msgspec mapper.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast
from uuid import UUID

import msgspec
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from events import AnyEvent, Recorded, decode_event, digest, encode
from service.config import persistence_env
from service.domain import Development, decide, evolve, fold
from service.errors import Conflict, DomainError, IdempotencyMismatch
from service.mapper import EventMapper, StreamItem, topic_of
from service.store.log import Locked, LogRecorder
from service.store.records import Pending, StoredRecord, from_micros

MAX_ATTEMPTS = 3  # decisions run under the write lock; a clash means a writer ignored it


class Receipt(msgspec.Struct, frozen=True, kw_only=True):
    """What the client is told about a stored event."""

    event_id: UUID
    development_id: UUID
    version: int
    position: int
    recorded_at: datetime


class Outcome(msgspec.Struct, frozen=True):
    """A receipt and whether this request stored the event (False: an idempotent replay)."""

    receipt: Receipt
    created: bool


def receipt_of(record: StoredRecord) -> Receipt:
    """The receipt of a stored row."""
    return Receipt(
        event_id=record.event_id,
        development_id=record.development_id,
        version=record.version,
        position=record.position,
        recorded_at=record.recorded_at,
    )


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

    def __init__(self, database: str) -> None:
        self.database = database
        super().__init__(env=persistence_env(database))

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

    def append(self, events: Sequence[AnyEvent], recorded_by: str) -> list[Outcome]:
        """Append events atomically, in order; all are stored or none.

        An event whose `event_id` was stored before with the same body is not stored again:
        its outcome carries the original receipt. Raises a `DomainError` (with `index` set to
        the event's place in `events`) when any event is refused.
        """
        for _ in range(MAX_ATTEMPTS):
            try:
                return self._append_once(events, recorded_by)
            except IntegrityError:
                continue  # another writer stored a version or event id first: decide again
        raise Conflict("the development kept changing under concurrent writes; try again")

    def _append_once(self, events: Sequence[AnyEvent], recorded_by: str) -> list[Outcome]:
        digests = [digest(event) for event in events]
        replays: dict[int, Receipt] = {}

        def prepare(log: Locked) -> list[Pending]:
            replays.update(self._replays(log, events, digests))
            return self._decide(log, events, digests, replays, recorded_by)

        records = iter(self.store.record(prepare))
        return [
            Outcome(replays[i], created=False)
            if i in replays
            else Outcome(receipt_of(next(records)), created=True)
            for i in range(len(events))
        ]

    def _decide(
        self,
        log: Locked,
        events: Sequence[AnyEvent],
        digests: Sequence[str],
        replays: dict[int, Receipt],
        recorded_by: str,
    ) -> list[Pending]:
        """Decide each event against its development as left by the events before it."""
        states: dict[UUID, Development | None] = {}
        pending: list[Pending] = []
        for index, (event, event_digest) in enumerate(zip(events, digests, strict=True)):
            if index in replays:
                continue
            development_id = event.development_id
            try:
                if development_id is not None and development_id not in states:
                    states[development_id] = fold(
                        decode_event(row.state) for row in log.stream(development_id)
                    )
                state = states.get(development_id) if development_id else None
                stored = decide(state, event)
            except DomainError as error:
                error.index = index
                raise
            new_state = evolve(state, stored)
            states[new_state.id] = new_state
            assert stored.event_id is not None
            pending.append(
                Pending(
                    development_id=new_state.id,
                    version=new_state.version,
                    topic=topic_of(stored),
                    state=encode(stored),
                    event_id=stored.event_id,
                    recorded_by=recorded_by,
                    digest=event_digest,
                )
            )
        return pending

    def _replays(
        self, log: Locked, events: Sequence[AnyEvent], digests: Sequence[str]
    ) -> dict[int, Receipt]:
        """Events already stored under their `event_id`; refuse an id reused for another body."""
        ids = [event.event_id for event in events if event.event_id is not None]
        seen: dict[UUID, int] = {}
        for index, event in enumerate(events):
            if event.event_id is not None and seen.setdefault(event.event_id, index) != index:
                error = IdempotencyMismatch(
                    f"event_id {event.event_id} appears twice in the batch", path="$.event_id"
                )
                error.index = index
                raise error
        found = log.by_event_ids(ids)
        replays: dict[int, Receipt] = {}
        for index, event in enumerate(events):
            record = found.get(event.event_id) if event.event_id else None
            if record is None:
                continue
            if record.digest != digests[index]:
                error = IdempotencyMismatch(
                    f"event_id {event.event_id} was recorded with a different body",
                    path="$.event_id",
                )
                error.index = index
                raise error
            replays[index] = receipt_of(record)
        return replays

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

    def records(self, *, after: int = 0, limit: int = 1000) -> list[StoredRecord]:
        """Rows of the log after a position."""
        return self.store.select_records(after=after, limit=limit)


def event_fields(event: AnyEvent) -> dict[str, Any]:
    """The event's own fields as plain JSON values, `type` first."""
    fields: dict[str, Any] = msgspec.to_builtins(event)
    return fields
