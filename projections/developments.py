"""The developments projection: coded fields, reports and status changes by system time, and
the valid-time segments the timeline and the allegations board read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from projections.buffer import RowBuffer
from projections.entries import Added, Entry, FieldsFixed, Judged, Reported, ReportFixed, Retracted
from projections.projection import Projection
from projections.schema import (
    DEV_STATES,
    DEVELOPMENTS,
    FRONTIER,
    REPORTS,
    SEGMENTS,
    STATUS_CHANGES,
    Table,
    rows_of,
)
from projections.segments import Segment, segments
from projections.state import POS_MAX, DevState, evolve, start
from service.store.log import Cursor

_json = msgspec.json.Encoder(order="deterministic")


class KeptDevelopment(msgspec.Struct, array_like=True, gc=False):
    """A development's state and the ids of its open rows."""

    state: DevState
    fields_row: int = 0
    report_rows: list[int] = msgspec.field(default_factory=list)
    segments: list[tuple[int, Segment]] = msgspec.field(default_factory=list)


class _Touched:
    """What one commit changed of a development."""

    __slots__ = ("fields", "reports")

    def __init__(self) -> None:
        self.fields = False
        self.reports: set[int] = set()


def _text(value: Any) -> str | None:
    return None if value is None else _json.encode(value).decode()


class DevelopmentsProjection(Projection[KeptDevelopment]):
    """Rows of `tl_developments`, `tl_reports`, `tl_status_changes` and `tl_segments`."""

    name = "developments"
    kept_type = KeptDevelopment
    state_table = DEV_STATES
    versioned: tuple[Table, ...] = (DEVELOPMENTS, REPORTS, SEGMENTS)
    tables = (
        DEVELOPMENTS.name,
        REPORTS.name,
        STATUS_CHANGES.name,
        SEGMENTS.name,
        FRONTIER.name,
        DEV_STATES.name,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.frontier = 0  # the latest first_reported_on of any segment written so far
        self.latest = 0  # the same within the commit being folded

    def start_rebuild(self) -> None:
        """Hold every state in memory from an empty read model."""
        super().start_rebuild()
        self.frontier = 0

    def _prepare(self, cursor: Cursor, entries: Sequence[Entry]) -> None:
        if not self.ids:
            cursor.execute(f"SELECT max(first_reported_on) FROM {FRONTIER.name}")
            self.frontier = rows_of(cursor)[0][0] or 0
        super()._prepare(cursor, entries)

    def apply(self, commit: Sequence[Entry], buffer: RowBuffer) -> None:
        """Fold the commit's events, then write each touched development's changed rows."""
        touched: dict[Any, _Touched] = {}
        for entry in commit:
            key, event = entry.development, entry.event
            kept = self.kept.get(key)
            touch = touched.get(key)
            if touch is None:
                touch = touched[key] = _Touched()
            if kept is None:
                kept = self.kept[key] = KeptDevelopment(start(entry))
                touch.fields = True
                touch.reports.add(1)
                continue
            evolve(kept.state, entry)
            if isinstance(event, Reported | FieldsFixed):
                touch.fields = True
            elif isinstance(event, Added):
                touch.reports.add(len(kept.state.reports))
            elif isinstance(event, ReportFixed | Retracted):
                touch.reports.add(event.report)
            elif isinstance(event, Judged):
                buffer.insert(
                    STATUS_CHANGES,
                    [
                        key,
                        entry.position,
                        event.effective_on.toordinal(),
                        event.status,
                        event.reason,
                    ],
                )
        position = commit[0].position
        self.latest = self.frontier
        for key, touch in touched.items():
            self._write(key, self.kept[key], touch, position, buffer)
            self.dirty[key] = None
        if self.latest > self.frontier:
            self.frontier = self.latest
            buffer.insert(FRONTIER, [position, self.latest])

    def _write(
        self, key: Any, kept: KeptDevelopment, touch: _Touched, position: int, buffer: RowBuffer
    ) -> None:
        state = kept.state
        if touch.fields:
            if kept.fields_row:
                buffer.close(DEVELOPMENTS, kept.fields_row, position)
            kept.fields_row = self.next_id(DEVELOPMENTS)
            fields = state.fields
            buffer.insert(
                DEVELOPMENTS,
                [
                    kept.fields_row,
                    key,
                    position,
                    POS_MAX,
                    state.position,
                    fields["kind"],
                    fields["title"],
                    fields["stage"],
                    _text(fields["actors"]),
                    _text(fields["item"]),
                    fields["occurred"],
                    state.initial_status,
                ],
            )
        for number in sorted(touch.reports):
            report = state.reports[number - 1]
            if number <= len(kept.report_rows):
                buffer.close(REPORTS, kept.report_rows[number - 1], position)
            else:
                kept.report_rows.append(0)
            row_id = kept.report_rows[number - 1] = self.next_id(REPORTS)
            buffer.insert(
                REPORTS,
                [
                    row_id,
                    key,
                    number,
                    position,
                    POS_MAX,
                    report.position,
                    report.report.decode(),
                    report.corrections,
                    report.retracted_on,
                    report.retraction_reason,
                    report.retraction_position,
                ],
            )
        self._write_segments(key, kept, position, buffer)

    def _write_segments(
        self, key: Any, kept: KeptDevelopment, position: int, buffer: RowBuffer
    ) -> None:
        new = segments(kept.state)
        old = kept.segments
        if len(old) == len(new) and all(s == n for (_, s), n in zip(old, new, strict=True)):
            return
        unchanged = {segment: row_id for row_id, segment in old}
        rows: list[tuple[int, Segment]] = []
        for segment in new:
            row_id = unchanged.pop(segment, 0)
            if not row_id:
                row_id = self.next_id(SEGMENTS)
                shown = segment.shown
                self.latest = max(self.latest, shown.first_reported_on)
                buffer.insert(
                    SEGMENTS,
                    [
                        row_id,
                        key,
                        kept.state.position,
                        segment.valid_from,
                        segment.valid_to,
                        position,
                        POS_MAX,
                        *shown,
                    ],
                )
            rows.append((row_id, segment))
        for row_id in unchanged.values():
            buffer.close(SEGMENTS, row_id, position)
        kept.segments = rows
