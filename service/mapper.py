"""A msgspec mapper: stores an event's tag as the topic and its fields as compact JSON."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder

from events import AnyEvent, decode_event, encode


class StreamItem(msgspec.Struct, frozen=True):
    """An event at its place in a development's stream, as the library sees domain events."""

    originator_id: UUID
    originator_version: int
    event: AnyEvent


class _NoTranscoder(Transcoder):
    """The mapper encodes with msgspec itself; nothing should reach a transcoder."""

    def encode(self, obj: Any) -> bytes:
        raise NotImplementedError("events are encoded by EventMapper")

    def decode(self, data: bytes) -> Any:
        raise NotImplementedError("events are decoded by EventMapper")


def topic_of(event: AnyEvent) -> str:
    """The stored topic of an event: its stable tag, so modules can move freely."""
    topic = _TOPICS.get(type(event))
    if topic is None:
        topic = _TOPICS[type(event)] = str(event.__struct_config__.tag)
    return topic


_TOPICS: dict[type, str] = {}  # asking a struct for its config builds one each time


class EventMapper(Mapper[UUID]):
    """Maps `StreamItem`s to stored events and back, with one msgspec encoder and decoder."""

    def __init__(self) -> None:
        super().__init__(transcoder=_NoTranscoder())

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        """Encode the event; the topic is its `type` tag."""
        assert isinstance(domain_event, StreamItem)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=topic_of(domain_event.event),
            state=encode(domain_event.event),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        """Decode a stored event into a `StreamItem`."""
        originator_id = stored_event.originator_id
        return StreamItem(
            originator_id=originator_id if isinstance(originator_id, UUID) else UUID(originator_id),
            originator_version=stored_event.originator_version,
            event=decode_event(stored_event.state),
        )
