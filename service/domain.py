"""The write-side domain: a development's state, the fold that builds it, one decision per event.

Decisions are pure but for the ids they draw for a new development or event: state + event as
posted -> event to store, or a `DomainError`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import date
from uuid import UUID

import msgspec
from msgspec import structs

from events import (
    Actors,
    AnyEvent,
    DevelopmentCorrected,
    DevelopmentReported,
    Figure,
    Item,
    Report,
    ReportAdded,
    ReportCorrected,
    ReportRetracted,
    StatusChanged,
    changed_fields,
    singular_of,
)
from service.errors import (
    AlreadyRetracted,
    DevelopmentExists,
    NothingToChange,
    PluralUnit,
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


_IDS_PER_DRAW = 256
_ids_of = msgspec.msgpack.Decoder(list[UUID])  # UUIDs from 16-byte strings, in C
_pool: list[UUID] = []  # random ids not handed out yet; `pop` hands each out once, any thread


def new_id() -> UUID:
    """A random (version 4) UUID; the system's randomness is drawn 4 KiB at a time.

    The ids of a draw are made at once: the random bytes get the version and variant bits of
    RFC 4122 and go through msgspec as one array of 16-byte strings.
    """
    try:
        return _pool.pop()
    except IndexError:
        pass
    block = bytearray(os.urandom(16 * _IDS_PER_DRAW))
    block[6::16] = bytes(byte & 0x0F | 0x40 for byte in block[6::16])  # version 4
    block[8::16] = bytes(byte & 0x3F | 0x80 for byte in block[8::16])  # RFC 4122 variant
    packed = bytearray(b"\xdc" + _IDS_PER_DRAW.to_bytes(2, "big"))  # an array of 256 ...
    for start in range(0, len(block), 16):
        packed += b"\xc4\x10" + block[start : start + 16]  # ... 16-byte strings
    _pool.extend(_ids_of.decode(packed))
    return _pool.pop()


def _refuse_plural_units(event: AnyEvent) -> None:
    figure: object
    match event:
        case DevelopmentReported(report=report) | ReportAdded(report=report):
            figure, path = report.figure, "$.report.figure.unit"
        case ReportCorrected(changes=changes):
            figure, path = changes.figure, "$.changes.figure.unit"
        case _:
            return
    if not isinstance(figure, Figure):  # none, or not corrected
        return
    singular = singular_of(figure.unit)
    if singular is not None:
        raise PluralUnit(
            f"{figure.unit!r}{PLURAL}write the unit as a singular noun, {singular!r} (a plural "
            "would count in a delivery series of its own)",
            path=path,
        )


PLURAL = " is a plural: "  # in the message of every refusal of a unit in the plural


def fold(events: Iterable[AnyEvent]) -> Development | None:
    """The state after every event of a stream, in version order."""
    state: Development | None = None
    for event in events:
        state = evolve(state, event)
    return state


def decide(state: Development | None, event: AnyEvent, *, plural_units: bool = False) -> AnyEvent:
    """Check `event` against the development's state; return it as it will be stored.

    The stored event carries its `event_id` and `development_id`, made here when absent. A
    figure's unit written as the plural of a counted unit is refused unless `plural_units`
    (an import of a log stored before the rule); an event stored before is a replay, never
    decided again. A development or report that is not there is said first (404).
    """
    event_id = event.event_id or new_id()
    if isinstance(event, DevelopmentReported):
        if state is not None:
            raise DevelopmentExists(
                f"development {state.id} was already reported", path="$.development_id"
            )
        if not plural_units:
            _refuse_plural_units(event)
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
            target = state.report(number)
            current = target.report
            if all(getattr(current, f) == getattr(changes, f) for f in changed_fields(changes)):
                raise NothingToChange(
                    f"report #{number} already has these values", path="$.changes"
                )
            retracted_on = target.retracted_on
            if (
                isinstance(changes.asserted_on, date)
                and retracted_on is not None
                and retracted_on < changes.asserted_on
            ):  # the rule a retraction meets, from the other side
                raise RetractionBeforeReport(
                    f"report #{number} was retracted effective {retracted_on}, before "
                    f"{changes.asserted_on}",
                    path="$.changes.asserted_on",
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
    if not plural_units:
        _refuse_plural_units(event)
    return structs.replace(event, event_id=event_id)
