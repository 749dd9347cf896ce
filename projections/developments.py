"""The developments projection: coded fields, reports and status changes by system time, and
the valid-time segments the timeline and the allegations board read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from projections.buffer import RowBuffer
from projections.dialect import rows_of
from projections.entries import Added, Entry, FieldsFixed, Judged, Reported, ReportFixed, Retracted
from projections.projection import Disagree, Projection
from projections.schema import (
    ACTOR_DEVELOPMENTS,
    DEV_STATES,
    DEVELOPMENTS,
    FRONTIER,
    REPORTS,
    SEGMENTS,
    STATUS_CHANGES,
    Table,
)
from projections.segments import Segment, segments
from projections.state import (
    POS_MAX,
    DevState,
    actor_key,
    actor_names,
    corrected,
    evolve,
    name_key,
    start,
)
from service.store.log import Cursor

_json = msgspec.json.Encoder(order="deterministic")
_DEVELOPMENTS, _REPORTS, _SEGMENTS = DEVELOPMENTS.name, REPORTS.name, SEGMENTS.name
_ACTOR_KEYS = 100_000  # actor keys remembered


class KeptDevelopment(msgspec.Struct, array_like=True, gc=False):
    """A development's state, the ids of its open rows, and its reports' JSON.

    The JSON of report n is `documents[n - 1]`, empty when not held: it is not stored with the
    state (it would double what a rebuild writes) but read back from the report's open row when
    a correction or a retraction needs it (`_prepare`).
    """

    state: DevState
    fields_row: int = 0
    report_rows: list[int] = msgspec.field(default_factory=list)
    segments: list[tuple[int, Segment]] = msgspec.field(default_factory=list)
    documents: list[bytes] = msgspec.field(default_factory=list)


# `_encode_states` writes a kept development as the tuple of its first four fields, the same
# msgpack array less the documents, which decode as an empty list.
assert KeptDevelopment.__struct_fields__ == (
    "state",
    "fields_row",
    "report_rows",
    "segments",
    "documents",
)


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
        ACTOR_DEVELOPMENTS.name,
        DEV_STATES.name,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.frontier = 0  # the latest first_reported_on of any segment written so far
        self.latest = 0  # the same within the commit being folded
        self.actor_keys: dict[str | None, str] = {}  # actor_key by the actors' JSON
        self.actors: set[tuple[str, Any]] = set()  # (actor, development) named in the commit

    def _encode_states(self, keys: list[Any]) -> list[Sequence[Any]]:
        encode, kept = self._encoder.encode, self.kept
        found: list[Sequence[Any]] = []
        for key in keys:
            held = kept[key]
            found.append(
                (key, encode((held.state, held.fields_row, held.report_rows, held.segments)))
            )
        return found

    def start_rebuild(self) -> None:
        """Hold every state in memory from an empty read model."""
        super().start_rebuild()
        self.frontier = 0

    def _prepare(self, cursor: Cursor, entries: Sequence[Entry]) -> None:
        if not self.ids:
            cursor.execute(f"SELECT max(first_reported_on) FROM {FRONTIER.name}")
            self.frontier = rows_of(cursor)[0][0] or 0
        super()._prepare(cursor, entries)
        wanted: dict[int, tuple[KeptDevelopment, int]] = {}  # row id -> (kept, report number)
        for entry in entries:
            event = entry.event
            kept = self.kept.get(entry.development)
            if kept is None or not isinstance(event, (ReportFixed, Retracted)):
                continue
            documents = kept.documents
            if len(documents) < len(kept.report_rows):  # read back without its documents
                documents.extend([b""] * (len(kept.report_rows) - len(documents)))
            number = event.report
            if number <= len(documents) and not documents[number - 1]:
                wanted[kept.report_rows[number - 1]] = (kept, number)
        query = f"SELECT id, report FROM {_REPORTS} WHERE id IN ({{marks}})"
        for row_id, report in self.dialect.select_in(cursor, query, list(wanted)):
            kept, number = wanted[row_id]
            kept.documents[number - 1] = report.encode()

    def _restore(self, cursor: Cursor, states: dict[Any, DevState]) -> None:
        # The ids of the development's current rows; its reports' JSON is read back if needed.
        restored = {key: KeptDevelopment(state) for key, state in states.items()}
        keys, current = list(restored), f"development_id IN ({{marks}}) AND pos_to = {POS_MAX}"
        query = f"SELECT development_id, id FROM {_DEVELOPMENTS} WHERE {current}"
        for key, row_id in self.dialect.select_in(cursor, query, keys):
            restored[key].fields_row = row_id
        query = f"SELECT development_id, number, id FROM {_REPORTS} WHERE {current}"
        for key, number, row_id in self.dialect.select_in(cursor, query, keys):
            rows = restored[key].report_rows
            rows.extend([0] * (number - len(rows)))
            rows[number - 1] = row_id
        starts: dict[Any, dict[int, int]] = {}  # segment row ids by development and valid_from
        query = f"SELECT development_id, id, valid_from FROM {_SEGMENTS} WHERE {current}"
        for key, row_id, valid_from in self.dialect.select_in(cursor, query, keys):
            starts.setdefault(key, {})[valid_from] = row_id
        for key, kept in restored.items():
            found = starts.get(key, {})
            shown = segments(kept.state)
            if sorted(found) != [segment[0] for segment in shown]:
                raise Disagree(self.name, key, "segments")
            if len(kept.report_rows) != len(kept.state.reports) or 0 in kept.report_rows:
                raise Disagree(self.name, key, "reports")
            kept.segments = [(found[segment[0]], segment) for segment in shown]
            self.kept[key] = kept

    def apply(self, commit: Sequence[Entry], buffer: RowBuffer) -> None:
        """Fold the commit's events, then write each touched development's changed rows."""
        kept_all = self.kept
        if not self.complete:  # a rebuild writes them at its end
            self.actors.clear()  # what a commit that failed half-way left
        touched: dict[Any, set[int]] = {}  # report numbers changed, by development
        fields: set[Any] = set()  # developments whose coded fields changed
        for entry in commit:
            key, event = entry.development, entry.event
            kept = kept_all.get(key)
            if kept is None:
                state = start(entry)  # refuses a stream that begins with another event
                assert isinstance(event, Reported)
                kept_all[key] = KeptDevelopment(state, documents=[bytes(event.report)])
                fields.add(key)
                reports = touched.get(key)
                if reports is None:
                    touched[key] = {1}
                else:
                    reports.add(1)
                continue
            reports = touched.get(key)
            if reports is None:
                reports = touched[key] = set()
            evolve(kept.state, entry)
            documents = kept.documents
            if isinstance(event, Added):
                number = len(kept.state.reports)
                documents.extend([b""] * (number - 1 - len(documents)))  # read back without
                documents.append(bytes(event.report))
                reports.add(number)
            elif isinstance(event, ReportFixed):
                original = msgspec.json.decode(documents[event.report - 1])
                documents[event.report - 1] = corrected(original, event)
                reports.add(event.report)
            elif isinstance(event, Retracted):
                reports.add(event.report)
            elif isinstance(event, (FieldsFixed, Reported)):
                fields.add(key)
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
        dirty = self.dirty
        for key, reports in touched.items():
            self._write(key, kept_all[key], key in fields, reports, position, buffer)
            dirty[key] = None
        if self.latest > self.frontier:
            self.frontier = self.latest
            buffer.insert(FRONTIER, [position, self.latest])
        if self.actors and not self.complete:
            self._save_actors(buffer, list(self.actors))

    def finish_rebuild(self, buffer: RowBuffer) -> None:
        """Queue every (actor, development) pair the rebuild found, in one statement."""
        self._save_actors(buffer, list(self.actors))
        self.actors.clear()

    def _save_actors(self, buffer: RowBuffer, rows: list[tuple[str, Any]]) -> None:
        """Add the (actor, development) pairs not recorded yet: a pair is never taken out, so
        that a development is found by every actor it ever named (the filter then keeps the
        rows that name it)."""
        table = ACTOR_DEVELOPMENTS.name
        if self.dialect.sqlite:
            statement = f"INSERT INTO {table} (actor, development_id) VALUES (%s, %s)"
            buffer.execute(f"{statement} ON CONFLICT DO NOTHING", rows)
        else:  # one statement over arrays, not one per pair
            buffer.execute(
                f"INSERT INTO {table} (actor, development_id) SELECT * FROM "
                "unnest(%b::text[], %b::uuid[]) ON CONFLICT DO NOTHING",
                [([actor for actor, _ in rows], [key for _, key in rows])],
            )

    def _write(
        self,
        key: Any,
        kept: KeptDevelopment,
        fields_changed: bool,
        reports: set[int],
        position: int,
        buffer: RowBuffer,
    ) -> None:
        state = kept.state
        ids = self.ids
        if fields_changed:
            if kept.fields_row:
                buffer.close(DEVELOPMENTS, kept.fields_row, position)
            kept.fields_row = ids[_DEVELOPMENTS] = ids[_DEVELOPMENTS] + 1
            fields = state.fields
            self.actors.update((name_key(name), key) for name in actor_names(fields["actors"]))
            actors = _text(fields["actors"])
            if not state.actors_key:  # developments share actors: their key is worked out once
                found = self.actor_keys.get(actors)
                if found is None:
                    if len(self.actor_keys) >= _ACTOR_KEYS:
                        self.actor_keys.clear()
                    found = self.actor_keys[actors] = actor_key(fields["actors"])
                state.actors_key = found
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
                    actors,
                    _text(fields["item"]),
                    fields["occurred"],
                    state.initial_status,
                ],
            )
        report_rows = kept.report_rows
        for number in sorted(reports) if len(reports) > 1 else reports:
            report = state.reports[number - 1]
            if number <= len(report_rows):
                buffer.close(REPORTS, report_rows[number - 1], position)
            else:
                report_rows.append(0)
            row_id = report_rows[number - 1] = ids[_REPORTS] = ids[_REPORTS] + 1
            buffer.insert(
                REPORTS,
                [
                    row_id,
                    key,
                    number,
                    position,
                    POS_MAX,
                    report.position,
                    kept.documents[number - 1].decode(),
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
        unchanged: dict[Segment, int] = {}
        if old:
            if len(old) == len(new) and all(s == n for (_, s), n in zip(old, new, strict=True)):
                return
            unchanged = {segment: row_id for row_id, segment in old}
        rows: list[tuple[int, Segment]] = []
        ids = self.ids
        for segment in new:
            row_id = unchanged.pop(segment, 0)
            if not row_id:
                row_id = ids[_SEGMENTS] = ids[_SEGMENTS] + 1
                valid_from, valid_to, shown = segment
                if shown[0] > self.latest:  # first_reported_on
                    self.latest = shown[0]
                buffer.insert(
                    SEGMENTS,
                    [
                        row_id,
                        key,
                        kept.state.position,
                        valid_from,
                        valid_to,
                        position,
                        POS_MAX,
                        *shown,
                    ],
                )
            rows.append((row_id, segment))
        for row_id in unchanged.values():
            buffer.close(SEGMENTS, row_id, position)
        kept.segments = rows
