"""Deciding a group of append requests, each request on its own: under the write lock on
SQLite; on PostgreSQL from the last commit first, and under the lock only when that lost a race.

Group commit: the writer gathers concurrent requests and stores them in one transaction. Each
request is decided against the developments as the requests before it in the group left them;
a refused request is dropped from the group and gets its error, the others go on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import msgspec

from events import AnyEvent, DevelopmentReported, decode_event, digest, encode
from service.domain import Development, decide, evolve, fold
from service.errors import DomainError, IdempotencyMismatch
from service.mapper import topic_of
from service.store.log import Locked, Undecided
from service.store.records import Pending, StoredRecord


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


def _as_stored(event: AnyEvent, record: StoredRecord) -> bool:
    """Whether `event` is the one `record` stored, the development id the server made filled in
    where the body gave none. The record's digest is of the body as first posted, or, after an
    export and import, of the event as stored: a retry of the body first posted is the same
    event on the copy too."""
    if isinstance(event, DevelopmentReported) and event.development_id is None:
        event = msgspec.structs.replace(event, development_id=record.development_id)
    return encode(event) == record.state


def receipt_of(record: StoredRecord) -> Receipt:
    """The receipt of a stored row."""
    return Receipt(
        event_id=record.event_id,
        development_id=record.development_id,
        version=record.version,
        position=record.position,
        recorded_at=record.recorded_at,
    )


class Request(msgspec.Struct, kw_only=True):
    """One client request: its events, all or nothing, and who asked."""

    events: Sequence[AnyEvent]
    recorded_by: str
    plural_units: bool = False  # units written as plurals let in (`decide`): an import's choice
    digests: list[str] = []  # per event: its fingerprint (made here, from the events)
    # per event index: a new development the client gives no id for, decided and encoded (no
    # later event can name it: its id is made here)
    fresh: dict[int, tuple[AnyEvent, bytes]] = {}

    def __post_init__(self) -> None:
        # What depends on nothing stored is worked out here, where the request is made (the
        # server's event loop): the writer thread, and the lock, then have less to do.
        self.digests = [digest(event) for event in self.events]
        for index, event in enumerate(self.events):
            if isinstance(event, DevelopmentReported) and event.development_id is None:
                with contextlib.suppress(DomainError):  # refused again, in order, later
                    decided = decide(None, event, plural_units=self.plural_units)
                    self.fresh[index] = (decided, encode(decided))


class _Earlier(msgspec.Struct, frozen=True):
    """An event id seen earlier in the group: its digest and where its receipt will come from."""

    digest: str
    slot: int  # index into the group's pending events


class Group:
    """The requests of one transaction, their decisions and, after the commit, their results."""

    def __init__(self, requests: Sequence[Request]) -> None:
        self.requests = requests
        self.errors: dict[int, DomainError] = {}
        # per request, per event: a stored receipt (replay), or a slot of this group's pending
        self.sources: list[list[Receipt | int]] = [[] for _ in requests]
        self.pending: list[Pending] = []

    def decide(self, log: Locked) -> list[Pending]:
        """Decide every request; return what is to be stored, in order.

        May be called again (after an optimistic attempt lost a race): it starts afresh.
        """
        self.errors = {}
        self.sources = [[] for _ in self.requests]
        self.pending = []
        ids = [e.event_id for r in self.requests for e in r.events if e.event_id is not None]
        stored = log.by_event_ids(ids)
        # the stored events of every development the group names, read together: one query
        # per 500 developments, where each had a query of its own (a batch of 1,000 reports on
        # PostgreSQL: 1,000 round trips)
        named = {
            event.development_id
            for request in self.requests
            for index, event in enumerate(request.events)
            if event.development_id is not None
            and index not in request.fresh
            and (event.event_id is None or event.event_id not in stored)
        }
        streams = log.streams(sorted(named, key=str)) if named else {}
        states: dict[UUID, Development | None] = {}
        earlier: dict[UUID, _Earlier] = {}
        for number, request in enumerate(self.requests):
            try:
                self._decide_request(number, request, streams, stored, states, earlier)
            except DomainError as error:
                # Refused from snapshots that may straddle another writer's commit of one of
                # its events: a resent event then looks new to the ids and already applied to
                # the stream (409 or 422, where it is a replay: 200)
                if log.optimistic and any(e.event_id is not None for e in request.events):
                    raise Undecided from error
                self.errors[number] = error
        return self.pending

    def _decide_request(
        self,
        number: int,
        request: Request,
        streams: dict[UUID, list[StoredRecord]],
        stored: dict[UUID, StoredRecord],
        states: dict[UUID, Development | None],
        earlier: dict[UUID, _Earlier],
    ) -> None:
        mine: dict[UUID, Development] = {}  # this request's effect, merged only if all succeed
        pending: list[Pending] = []
        sources: list[Receipt | int] = []
        ids: dict[UUID, _Earlier] = {}
        for index, event in enumerate(request.events):
            event_digest = request.digests[index]
            try:
                if event.event_id is not None:
                    replay = self._replay(event, event_digest, stored, earlier, ids)
                    if replay is not None:
                        sources.append(replay)
                        continue
                fresh = request.fresh.get(index)
                if fresh is None:
                    new_state, decided, encoded = self._decide(
                        event, streams, mine, states, plural_units=request.plural_units
                    )
                    mine[new_state.id] = new_state
                    development_id, version = new_state.id, new_state.version
                else:
                    decided, encoded = fresh
                    assert decided.development_id is not None
                    development_id, version = decided.development_id, 1
            except DomainError as error:
                error.index = index
                raise
            assert decided.event_id is not None
            slot = len(self.pending) + len(pending)
            ids[decided.event_id] = _Earlier(event_digest, slot)
            sources.append(slot)
            pending.append(
                Pending(
                    development_id=development_id,
                    version=version,
                    topic=topic_of(decided),
                    state=encoded,
                    event_id=decided.event_id,
                    recorded_by=request.recorded_by,
                    digest=event_digest,
                )
            )
        states.update(mine)
        earlier.update(ids)
        self.pending.extend(pending)
        self.sources[number] = sources

    @staticmethod
    def _decide(
        event: AnyEvent,
        streams: dict[UUID, list[StoredRecord]],
        mine: dict[UUID, Development],
        states: dict[UUID, Development | None],
        *,
        plural_units: bool,
    ) -> tuple[Development, AnyEvent, bytes]:
        """Decide an event on its development as stored (`streams`) and as this group left it."""
        development_id = event.development_id
        state = None
        if development_id is not None:
            if development_id not in states:
                states[development_id] = fold(
                    decode_event(row.state) for row in streams.get(development_id, ())
                )
            state = mine.get(development_id) or states[development_id]
        decided = decide(state, event, plural_units=plural_units)
        return evolve(state, decided), decided, encode(decided)

    @staticmethod
    def _replay(
        event: AnyEvent,
        event_digest: str,
        stored: dict[UUID, StoredRecord],
        earlier: dict[UUID, _Earlier],
        mine: dict[UUID, _Earlier],
    ) -> Receipt | int | None:
        """The receipt (or pending slot) of an event id seen before (stored, earlier in the
        group, or earlier in this request), or None for a new one.

        The same event is the same body as posted, or the event as it was stored, with the
        ids the server made filled in: as the log and an export give it back.
        """
        event_id = event.event_id
        assert event_id is not None
        twice = mine.get(event_id)
        if twice is not None:  # the same event twice in one request is one event, as over two
            if twice.digest != event_digest:
                raise IdempotencyMismatch(
                    f"event_id {event_id} appears twice in the batch with different bodies",
                    path="$.event_id",
                )
            return twice.slot
        before: StoredRecord | _Earlier | None = stored.get(event_id) or earlier.get(event_id)
        if before is None:
            return None
        as_stored = isinstance(before, StoredRecord) and _as_stored(event, before)
        if before.digest != event_digest and not as_stored:
            raise IdempotencyMismatch(
                f"event_id {event_id} was recorded with a different body", path="$.event_id"
            )
        return receipt_of(before) if isinstance(before, StoredRecord) else before.slot

    def results(self, records: Sequence[StoredRecord]) -> list[list[Outcome] | DomainError]:
        """Each request's outcomes (or error), once the group's records are committed."""
        receipts = [receipt_of(record) for record in records]
        acknowledged: set[int] = set()
        results: list[list[Outcome] | DomainError] = []
        for number, sources in enumerate(self.sources):
            if number in self.errors:
                results.append(self.errors[number])
                continue
            outcomes = []
            for source in sources:
                if isinstance(source, int):
                    outcomes.append(Outcome(receipts[source], created=source not in acknowledged))
                    acknowledged.add(source)
                else:
                    outcomes.append(Outcome(source, created=False))
            results.append(outcomes)
        return results
