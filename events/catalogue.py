"""The event catalogue: every fact the service records, as frozen structs tagged by `type`.

Tags and field names never change once stored; a change of meaning is a new event type.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

import msgspec

from events.values import (
    Actors,
    DevelopmentChanges,
    Item,
    Kind,
    OccurredText,
    Reason,
    Report,
    ReportChanges,
    Stage,
    Status,
    Title,
    check_day,
    check_occurred,
)

Version = Annotated[int, msgspec.Meta(ge=1, le=2**31)]
ReportNumber = Annotated[int, msgspec.Meta(ge=1, le=100_000)]


class Event(
    msgspec.Struct,
    frozen=True,
    forbid_unknown_fields=True,
    kw_only=True,
    omit_defaults=True,
    tag_field="type",
    gc=False,
):
    """Base of every event; `event_id` is the idempotency key (the server makes one if absent).

    Untracked by the garbage collector, like the values it holds: an event cannot form a cycle.
    """

    event_id: UUID | None = None


class DevelopmentReported(Event, tag="development_reported", kw_only=True, frozen=True):
    """A new development, with its first report."""

    development_id: UUID | None = None
    kind: Kind
    title: Title
    stage: Stage | None = None
    actors: Actors
    item: Item | None = None
    occurred: OccurredText | None = None
    status: Status = "alleged"
    report: Report

    def __post_init__(self) -> None:
        check_occurred(self.occurred)


class StreamEvent(Event, kw_only=True, frozen=True):
    """An event about an existing development; `expected_version` guards against lost updates."""

    development_id: UUID
    expected_version: Version | None = None


class ReportAdded(StreamEvent, tag="report_added", kw_only=True, frozen=True):
    """Another report about the development."""

    report: Report


class ReportCorrected(StreamEvent, tag="report_corrected", kw_only=True, frozen=True):
    """Our coding of a report was wrong: the named fields are replaced whole."""

    report: ReportNumber
    changes: ReportChanges
    reason: Reason


class ReportRetracted(StreamEvent, tag="report_retracted", kw_only=True, frozen=True):
    """The originator withdrew the report, from `effective_on`."""

    report: ReportNumber
    effective_on: date
    reason: Reason

    def __post_init__(self) -> None:
        check_day("effective_on", self.effective_on)


class DevelopmentCorrected(StreamEvent, tag="development_corrected", kw_only=True, frozen=True):
    """Our coding of the development was wrong: the named fields are replaced whole."""

    changes: DevelopmentChanges
    reason: Reason


class StatusChanged(StreamEvent, tag="status_changed", kw_only=True, frozen=True):
    """Our judgement of the development changed, from `effective_on`."""

    status: Status
    effective_on: date
    reason: Reason

    def __post_init__(self) -> None:
        check_day("effective_on", self.effective_on)


AnyEvent = (
    DevelopmentReported
    | ReportAdded
    | ReportCorrected
    | ReportRetracted
    | DevelopmentCorrected
    | StatusChanged
)
EVENT_TYPES: tuple[type[Event], ...] = (
    DevelopmentReported,
    ReportAdded,
    ReportCorrected,
    ReportRetracted,
    DevelopmentCorrected,
    StatusChanged,
)
TAGS: tuple[str, ...] = tuple(str(cls.__struct_config__.tag) for cls in EVENT_TYPES)


class Recorded(msgspec.Struct, frozen=True, kw_only=True):
    """An event as stored: the client's validated fields and what the server added."""

    position: int
    development_id: UUID
    version: int
    event_id: UUID
    recorded_at: datetime
    recorded_by: str
    event: AnyEvent

    @property
    def type(self) -> str:
        """The event's tag, e.g. `report_added`."""
        return str(self.event.__struct_config__.tag)
