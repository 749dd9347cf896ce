"""What each event of a development's stream changed: `before` and `after` of every field it set.

Pure: folds the stream with `service.domain.evolve` and compares the states around each event.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import msgspec

from events import (
    AnyEvent,
    DevelopmentCorrected,
    DevelopmentReported,
    ReportAdded,
    ReportCorrected,
    ReportRetracted,
    StatusChanged,
    changed_fields,
)
from service.domain import Development, evolve


class Change(msgspec.Struct, frozen=True):
    """One field an event changed, as plain JSON values."""

    field: str
    before: Any
    after: Any


def plain(value: object) -> Any:
    """`value` as JSON values, with the fields a struct holds at their defaults: a figure
    corrected to `exact` says `"qualifier": "exact"`, which the log's encoding leaves out (the
    change would read as the qualifier removed). Fields that hold nothing are left out."""
    if isinstance(value, msgspec.Struct):
        fields = ((name, getattr(value, name)) for name in value.__struct_fields__)
        return {name: plain(field) for name, field in fields if field is not None and field != ()}
    if isinstance(value, tuple | list):
        return [plain(item) for item in value]
    return msgspec.to_builtins(value)


def _differences(before: object, after: object, fields: Iterable[str]) -> list[Change]:
    changes = []
    for name in fields:
        old, new = getattr(before, name), getattr(after, name)
        if old != new:
            changes.append(Change(name, plain(old), plain(new)))
    return changes


def changes_of(
    state: Development | None, status: str | None, event: AnyEvent
) -> list[Change] | None:
    """What `event` changes given the state before it and, for a status change, the status it
    replaces on its `effective_on`; None if it adds, not changes."""
    match event:
        case ReportCorrected(report=number, changes=corrections):
            assert state is not None
            old = state.reports[number - 1].report
            return _differences(old, corrections, changed_fields(corrections))
        case DevelopmentCorrected(changes=corrections):
            assert state is not None
            return _differences(state, corrections, changed_fields(corrections))
        case ReportRetracted(report=number, effective_on=effective_on):
            assert state is not None
            before = state.reports[number - 1].retracted_on
            return [Change("retraction.effective_on", plain(before), plain(effective_on))]
        case StatusChanged(status=new_status):
            return [Change("status", status, new_status)]
    return None


def history_changes(events: Iterable[AnyEvent]) -> list[list[Change] | None]:
    """For each event of a stream in version order, the changes it made (see `changes_of`).

    A status change's `before` is the status in effect on its `effective_on` as recorded until
    then, not the last one recorded: judged `disputed` from December after `confirmed` from
    March, it replaced what held in December.
    """
    state: Development | None = None
    initial: str | None = None
    judged: list[tuple[date, str]] = []  # (effective_on, status), in recording order
    result: list[list[Change] | None] = []
    for event in events:
        status = None
        if isinstance(event, StatusChanged):
            status = _in_effect(initial, judged, event.effective_on)
        result.append(changes_of(state, status, event))
        if isinstance(event, DevelopmentReported):
            initial = event.status
        elif isinstance(event, StatusChanged):
            judged.append((event.effective_on, event.status))
        state = evolve(state, event)
    return result


def report_numbers(events: Iterable[AnyEvent]) -> list[int | None]:
    """For each event of a stream in version order, the number of the report it is about: the
    first report for `development_reported`, the next for `report_added`, the one it names for
    a correction or retraction of a report; None for the others, which are about the
    development."""
    found: list[int | None] = []
    reports = 0
    for event in events:
        match event:
            case DevelopmentReported() | ReportAdded():
                reports += 1
                found.append(reports)
            case ReportCorrected(report=number) | ReportRetracted(report=number):
                found.append(number)
            case _:
                found.append(None)
    return found


def _in_effect(initial: str | None, judged: list[tuple[date, str]], day: date) -> str | None:
    """The status on `day`: the latest change effective by then (ties: the later recorded)."""
    found = initial
    latest: date | None = None
    for effective_on, status in judged:
        if effective_on <= day and (latest is None or effective_on >= latest):
            found, latest = status, effective_on
    return found
