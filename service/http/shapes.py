"""The JSON shapes the API answers: receipts and log items, with times in RFC 3339, UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Protocol
from uuid import UUID

import msgspec

from events import Recorded
from service.history import Change
from service.store.records import StoredRecord, from_micros

Time = Annotated[
    str,
    msgspec.Meta(
        description="RFC 3339, UTC, with microseconds: 2024-02-23T10:15:00.123456Z",
        examples=["2024-02-23T10:15:00.123456Z"],
        extra_json_schema={"extra": {"format": "date-time"}},  # Litestar reads "extra"
    ),
]


@lru_cache(maxsize=256)  # the receipts of one commit share their time
def format_time(moment: datetime) -> str:
    """A moment as RFC 3339 in UTC with microseconds and `Z`, always the same width."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def format_micros(micros: int) -> str:
    """Microseconds since the epoch as RFC 3339 (see `format_time`)."""
    return format_time(from_micros(micros))


class Receipt(Protocol):
    """What the application tells about a stored event."""

    @property
    def event_id(self) -> UUID: ...
    @property
    def development_id(self) -> UUID: ...
    @property
    def version(self) -> int: ...
    @property
    def position(self) -> int: ...
    @property
    def recorded_at(self) -> datetime: ...


class ReceiptBody(msgspec.Struct, frozen=True, kw_only=True):
    """What the client is told about a stored event."""

    event_id: UUID
    development_id: UUID
    version: int
    position: int
    recorded_at: Time


class Receipts(msgspec.Struct, frozen=True):
    """The receipts of a batch, in the order of its events."""

    receipts: list[ReceiptBody]


class LogItem(msgspec.Struct, frozen=True, kw_only=True):
    """One stored event: where it sits, what the server added, and its fields as stored."""

    position: int
    version: int
    type: str
    event_id: UUID
    development_id: UUID
    recorded_at: Time
    recorded_by: str
    event: dict[str, Any]


class LogPage(msgspec.Struct, frozen=True):
    """A page of the log; `next` is the `after` of the following page, null at the end."""

    items: list[LogItem]
    next: int | None


class HistoryItem(LogItem, frozen=True, kw_only=True, omit_defaults=True):
    """A stored event of a development; `changes` says what a correction or status change did."""

    changes: list[Change] | None = None


class History(msgspec.Struct, frozen=True):
    """Every event of one development recorded by `known_at`, in version order."""

    development_id: UUID
    known_at: Time
    items: list[HistoryItem]


def receipt_body(receipt: Receipt) -> ReceiptBody:
    """The receipt as answered."""
    return ReceiptBody(
        event_id=receipt.event_id,
        development_id=receipt.development_id,
        version=receipt.version,
        position=receipt.position,
        recorded_at=format_time(receipt.recorded_at),
    )


def log_item(record: StoredRecord) -> LogItem:
    """A row of the log as answered; the event's fields are the stored JSON."""
    return LogItem(
        position=record.position,
        version=record.version,
        type=record.topic,
        event_id=record.event_id,
        development_id=record.development_id,
        recorded_at=format_micros(record.recorded_at_us),
        recorded_by=record.recorded_by,
        event=msgspec.json.decode(record.state),
    )


def history_item(recorded: Recorded, changes: list[Change] | None) -> HistoryItem:
    """An event of a stream as answered, in the same shape as the log's items."""
    return HistoryItem(
        position=recorded.position,
        version=recorded.version,
        type=recorded.type,
        event_id=recorded.event_id,
        development_id=recorded.development_id,
        recorded_at=format_time(recorded.recorded_at),
        recorded_by=recorded.recorded_by,
        event=msgspec.to_builtins(recorded.event),
        changes=changes,
    )
