"""What was recorded in a window of system time, grouped by development, with each event's diffs.

The diffs are the history's own (`service.history.history_changes` over the whole stream), so a
correction recorded on Friday is compared with the state it corrected, however old.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from datetime import UTC, date
from typing import Any
from uuid import UUID

import msgspec

from events import AnyEvent, DevelopmentReported, Recorded, ReportAdded
from service.application import Timeline
from service.domain import fold
from service.history import Change, history_changes, plain, report_numbers
from service.spreadsheet import csv_table

MAX_PAGE = 5000


class Changed(msgspec.Struct, frozen=True):
    """One event recorded in the window and the fields it changed (None: it added, not changed),
    and the number of the report it is about (None: it is about the development)."""

    recorded: Recorded
    changes: list[Change] | None
    report: int | None = None


class DevelopmentChanges(msgspec.Struct, frozen=True):
    """The events of one development recorded in the window, in position order."""

    development_id: UUID
    title: str
    events: list[Changed]


class ChangesPage(msgspec.Struct, frozen=True):
    """A page of the window: developments in order of their first event in it; `next` is the
    `after` of the following page, or None."""

    groups: list[DevelopmentChanges]
    next: int | None


def changes_between(
    timeline: Timeline, since_us: int, until_us: int, *, after: int = 0, limit: int = 1000
) -> ChangesPage:
    """Events with `since_us < recorded_at <= until_us` after position `after`, at most `limit`."""
    store = timeline.store
    # recorded_at never decreases along positions, so the window is a range of positions:
    # after the last row recorded by `since`, up to the last row recorded by `until`
    start = max(after, store.last_position(until_us=since_us))
    end = store.last_position(until_us=until_us)
    if end <= start:
        return ChangesPage([], None)
    rows = [
        row
        for row in store.select_records(after=start, limit=min(limit, end - start))
        if row.position <= end
    ]
    positions = {row.position for row in rows}
    following = rows[-1].position if rows and rows[-1].position < end else None
    touched = list(dict.fromkeys(row.development_id for row in rows))
    streams = timeline.streams(touched, until_us=until_us)
    groups = [development_changes(key, streams[key], positions) for key in touched]
    return ChangesPage(groups, following)


def development_changes(
    development_id: UUID, stream: Sequence[Recorded], positions: Container[int] | None = None
) -> DevelopmentChanges:
    """A development's events (those at `positions`, or all) with their diffs against the state
    each one met, and its title after the whole `stream`."""
    diffs = history_changes(recorded.event for recorded in stream)
    numbers = report_numbers(recorded.event for recorded in stream)
    state = fold(recorded.event for recorded in stream)
    return DevelopmentChanges(
        development_id=development_id,
        title=state.title if state else "",
        events=[
            Changed(recorded, changes, number)
            for recorded, changes, number in zip(stream, diffs, numbers, strict=True)
            if positions is None or recorded.position in positions
        ],
    )


CSV_COLUMNS = (
    "development_id",
    "title",
    "position",
    "version",
    "type",
    "event_id",
    "recorded_at",
    "recorded_by",
    "reason",
    "field",
    "before",
    "after",
    "effective_on",
    "report",  # last: a column added after the others
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    return msgspec.json.encode(value).decode()


def _added(event: AnyEvent) -> Change:
    """The row of an event that changed no field: a report it added is its `after` (who said
    what, when), as a correction's new value is; another has neither."""
    if isinstance(event, DevelopmentReported | ReportAdded):
        return Change("report", None, plain(event.report))
    return Change("", None, None)


def changes_csv(page: ChangesPage) -> str:
    """One row per changed field; an event that changed no field (it added) gets one row, a
    report it added in `after` (field `report`). A
    status change or a retraction carries the date it takes effect in `effective_on`; an event
    about one report (reported with the development, added, corrected, retracted) its number
    in `report`."""
    rows: list[list[Any]] = [list(CSV_COLUMNS)]
    for group in page.groups:
        for item in group.events:
            recorded = item.recorded
            recorded_at = recorded.recorded_at.astimezone(UTC).replace(tzinfo=None)
            common = [
                str(group.development_id),
                group.title,
                recorded.position,
                recorded.version,
                recorded.type,
                str(recorded.event_id),
                recorded_at.isoformat(timespec="microseconds") + "Z",
                recorded.recorded_by,
                _cell(getattr(recorded.event, "reason", None)),
            ]
            effective_on = _cell(getattr(recorded.event, "effective_on", None))
            report = _cell(item.report)
            for change in item.changes or [_added(recorded.event)]:
                before, after = _cell(change.before), _cell(change.after)
                rows.append([*common, change.field, before, after, effective_on, report])
    return csv_table(rows)
