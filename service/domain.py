"""The write-side domain: a development's state, the fold that builds it, one decision per event.

Decisions are pure: state + event as posted -> event to store, or a `DomainError`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import date
from uuid import UUID, SafeUUID

import msgspec
from msgspec import structs

from events import (
    Actors,
    AnyEvent,
    DevelopmentCorrected,
    DevelopmentReported,
    Item,
    Report,
    ReportAdded,
    ReportCorrected,
    ReportRetracted,
    StatusChanged,
    changed_fields,
)
from service.errors import (
    AlreadyRetracted,
    DevelopmentExists,
    NothingToChange,
    RetractionBeforeReport,
    UnknownDevelopment,
    UnknownReport,
    VersionConflict,
)


class ReportState(msgspec.Struct, frozen=True, kw_only=True):
    """A report as it stands after every correction, and its retraction if any."""

    number: int
    report: Report
    corrections: int = 0
    retracted_on: date | None = None


class Development(msgspec.Struct, frozen=True, kw_only=True):
    """What the write side needs to decide on a development: its fields, reports and version."""

    id: UUID
    version: int
    kind: str
    title: str
    stage: str | None
    actors: Actors
    item: Item | None
    occurred: str | None
    status: str
    reports: tuple[ReportState, ...]

    def report(self, number: int) -> ReportState:
        """The report with this number, or `UnknownReport`."""
        if not 1 <= number <= len(self.reports):
            raise UnknownReport(
                f"development {self.id} has {len(self.reports)} report(s), not #{number}",
                path="$.report",
            )
        return self.reports[number - 1]


def evolve(state: Development | None, event: AnyEvent) -> Development:
    """Apply one stored event to the state; the only way state changes."""
    if isinstance(event, DevelopmentReported):
        assert event.development_id is not None
        return Development(
            id=event.development_id,
            version=1,
            kind=event.kind,
            title=event.title,
            stage=event.stage,
            actors=event.actors,
            item=event.item,
            occurred=event.occurred,
            status=event.status,
            reports=(ReportState(number=1, report=event.report),),
        )
    assert state is not None, "a stream starts with development_reported"
    version = state.version + 1
    match event:
        case ReportAdded(report=report):
            number = len(state.reports) + 1
            reports = (*state.reports, ReportState(number=number, report=report))
            return structs.replace(state, version=version, reports=reports)
        case ReportCorrected(report=number, changes=changes):
            old = state.reports[number - 1]
            new_report = structs.replace(
                old.report, **{name: getattr(changes, name) for name in changed_fields(changes)}
            )
            new = structs.replace(old, report=new_report, corrections=old.corrections + 1)
            return structs.replace(state, version=version, reports=_put(state.reports, new))
        case ReportRetracted(report=number, effective_on=effective_on):
            new = structs.replace(state.reports[number - 1], retracted_on=effective_on)
            return structs.replace(state, version=version, reports=_put(state.reports, new))
        case DevelopmentCorrected(changes=changes):
            fields = {name: getattr(changes, name) for name in changed_fields(changes)}
            return structs.replace(state, version=version, **fields)
        case StatusChanged():
            return structs.replace(state, version=version)
    raise TypeError(f"unknown event {type(event).__name__}")  # pragma: no cover


def _put(reports: tuple[ReportState, ...], new: ReportState) -> tuple[ReportState, ...]:
    return tuple(new if r.number == new.number else r for r in reports)


_VERSION_4 = (~(0xC000 << 48) & ~(0xF000 << 64)) & (2**128 - 1)  # clears variant and version
_RFC_4122_V4 = (0x8000 << 48) | (4 << 76)  # sets them: RFC 4122 variant, version 4
_UNKNOWN = SafeUUID.unknown  # an enum member: looked up once, not per id
_pool: list[int] = []  # random ids not handed out yet; `pop` hands each out once, any thread


def new_id() -> UUID:
    """A random (version 4) UUID; the system's randomness is drawn 4 KiB at a time.

    Built as `UUID(int=..., version=4)` builds it, without its argument checks: ids are made
    for every event of a batch.
    """
    try:
        value = _pool.pop()
    except IndexError:
        block = os.urandom(4096)
        _pool.extend(
            int.from_bytes(block[start : start + 16]) & _VERSION_4 | _RFC_4122_V4
            for start in range(0, 4096, 16)
        )
        value = _pool.pop()
    made = object.__new__(UUID)
    object.__setattr__(made, "int", value)
    object.__setattr__(made, "is_safe", _UNKNOWN)
    return made


def fold(events: Iterable[AnyEvent]) -> Development | None:
    """The state after every event of a stream, in version order."""
    state: Development | None = None
    for event in events:
        state = evolve(state, event)
    return state


def decide(state: Development | None, event: AnyEvent) -> AnyEvent:
    """Check `event` against the development's state; return it as it will be stored.

    The stored event carries its `event_id` and `development_id`, made here when absent.
    """
    event_id = event.event_id or new_id()
    if isinstance(event, DevelopmentReported):
        if state is not None:
            raise DevelopmentExists(
                f"development {state.id} was already reported", path="$.development_id"
            )
        return structs.replace(
            event, event_id=event_id, development_id=event.development_id or new_id()
        )
    if state is None:
        raise UnknownDevelopment(
            f"no development {event.development_id} has been reported", path="$.development_id"
        )
    if event.expected_version is not None and event.expected_version != state.version:
        raise VersionConflict(
            f"development {state.id} is at version {state.version}, not {event.expected_version}",
            path="$.expected_version",
        )
    match event:
        case ReportCorrected(report=number, changes=changes):
            current = state.report(number).report
            if all(getattr(current, f) == getattr(changes, f) for f in changed_fields(changes)):
                raise NothingToChange(
                    f"report #{number} already has these values", path="$.changes"
                )
        case ReportRetracted(report=number, effective_on=effective_on):
            target = state.report(number)
            if target.retracted_on is not None:
                raise AlreadyRetracted(
                    f"report #{number} was retracted effective {target.retracted_on}",
                    path="$.report",
                )
            if effective_on < target.report.asserted_on:
                raise RetractionBeforeReport(
                    f"report #{number} was asserted on {target.report.asserted_on}, "
                    f"after {effective_on}",
                    path="$.effective_on",
                )
        case DevelopmentCorrected(changes=changes):
            if all(getattr(state, f) == getattr(changes, f) for f in changed_fields(changes)):
                raise NothingToChange("the development already has these values", path="$.changes")
        case ReportAdded() | StatusChanged():
            pass
    return structs.replace(event, event_id=event_id)
