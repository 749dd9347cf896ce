"""The log as the projections read it: lean decoding and pages cut at commit boundaries.

The read models need a handful of fields per event, and a rebuild decodes millions of events, so
the stored JSON is decoded into lean structs here instead of the catalogue's validating ones (every
stored event was validated when it was appended). Figures are decoded as `events.Figure`, so the
bounds of a qualifier are computed in one place; reports and development fields are kept as raw
JSON for the detail view.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import msgspec

from events import Figure
from service.store.log import RECORDS, LogRecorder


class LeanSource(msgspec.Struct, frozen=True, gc=False):
    """The originator of a report (the only field of the source a view groups by)."""

    originator: str


class LeanReport(msgspec.Struct, frozen=True, gc=False):
    """What the views need of a report."""

    source: LeanSource
    asserted_on: date
    stance: str = "supports"
    figure: Figure | None = None


class Reported(msgspec.Struct, frozen=True, gc=False, tag="development_reported", tag_field="type"):
    """`development_reported`: the coded fields, the initial status and the first report."""

    kind: str
    title: str
    actors: dict[str, Any]
    report: msgspec.Raw
    stage: str | None = None
    item: dict[str, Any] | None = None
    occurred: str | None = None
    status: str = "alleged"


class Added(msgspec.Struct, frozen=True, gc=False, tag="report_added", tag_field="type"):
    """`report_added`."""

    report: msgspec.Raw


class ReportFixed(msgspec.Struct, frozen=True, gc=False, tag="report_corrected", tag_field="type"):
    """`report_corrected`: fields of report `report` replaced whole."""

    report: int
    changes: dict[str, Any]


class Retracted(msgspec.Struct, frozen=True, gc=False, tag="report_retracted", tag_field="type"):
    """`report_retracted`."""

    report: int
    effective_on: date
    reason: str


class FieldsFixed(
    msgspec.Struct, frozen=True, gc=False, tag="development_corrected", tag_field="type"
):
    """`development_corrected`: coded fields replaced whole."""

    changes: dict[str, Any]


class Judged(msgspec.Struct, frozen=True, gc=False, tag="status_changed", tag_field="type"):
    """`status_changed`."""

    status: str
    effective_on: date
    reason: str


LeanEvent = Reported | Added | ReportFixed | Retracted | FieldsFixed | Judged

_event_decoder = msgspec.json.Decoder(LeanEvent)
_report_decoder = msgspec.json.Decoder(LeanReport)
_json_encoder = msgspec.json.Encoder(order="deterministic")


def decode_report(raw: bytes) -> LeanReport:
    """The fields of a stored report the views use."""
    return _report_decoder.decode(raw)


def encode_json(value: Any) -> bytes:
    """JSON with sorted keys, for fields kept as documents."""
    return _json_encoder.encode(value)


class Entry(msgspec.Struct, frozen=True, gc=False):
    """One event of the log: its position, system time, development (as stored) and fields."""

    position: int
    recorded_at_us: int
    development: Any  # the engine's own form of the UUID: 32 hex digits on SQLite, uuid on PG
    event: LeanEvent


class LogReader:
    """Reads the log after a position in pages that never split one commit (one system time)."""

    def __init__(self, store: LogRecorder) -> None:
        self.store = store
        select = (
            "SELECT r.position, r.recorded_at, e.originator_id, e.state "
            f"FROM {RECORDS} r JOIN {{events}} e ON e.{store.position_column} = r.position "
        )
        self._query = store.sql(select + "WHERE r.position > %s ORDER BY r.position LIMIT %s")
        # Events of some developments up to a position (`{marks}`: their ids), in log order.
        self.streams_query = store.sql(
            select + "WHERE e.originator_id IN ({marks}) AND r.position <= %s ORDER BY r.position"
        )
        position = store.position_column
        # The developments of the events at some positions (`{marks}`).
        self.owners_query = store.sql(
            f"SELECT DISTINCT originator_id FROM {store.events_table_name} "
            f"WHERE {position} IN ({{marks}})"
        )
        self._developments = store.sql(
            f"SELECT DISTINCT originator_id FROM {store.events_table_name} "
            f"WHERE {position} > %s AND {position} <= %s"
        )

    def developments_between(self, after: int, upto: int) -> set[Any]:
        """The developments with events after position `after` up to `upto`."""
        with self.store.read_transaction() as cursor:
            cursor.execute(self._developments, (after, upto))
            rows = cursor.fetchall()
        return {row["originator_id"] if isinstance(row, dict) else row[0] for row in rows}

    def _fetch(self, after: int, limit: int) -> list[Entry]:
        with self.store.read_transaction() as cursor:
            if self.store.placeholder == "?":  # SQLite: read a long log through memory
                cursor.execute("PRAGMA mmap_size = 17179869184")
            cursor.execute(self._query, (after, limit))
            return entries_of(cursor.fetchall())

    def page(self, after: int, limit: int) -> list[Entry]:
        """Entries after `after`, about `limit` of them, never ending inside one commit.

        Events stored by one transaction share their `recorded_at`, so a `known_at` query sees
        all of them or none: a page that ends inside such a run is cut before it, or read on to
        its end when the run fills the page, and no read-model version starts inside a commit.
        """
        entries = self._fetch(after, limit)
        if len(entries) < limit:
            return entries  # the head of the log: commits are whole
        last = entries[-1].recorded_at_us
        cut = len(entries)
        while cut > 0 and entries[cut - 1].recorded_at_us == last:
            cut -= 1
        if cut > 0:
            return entries[:cut]
        while True:  # one commit fills the page: read on to its end
            more = self._fetch(entries[-1].position, limit)
            run = [entry for entry in more if entry.recorded_at_us == last]
            entries.extend(run)
            if len(run) < len(more) or len(more) < limit:
                return entries

    def pages(self, after: int, limit: int) -> Iterator[list[Entry]]:
        """Every page after `after` up to the head of the log as it is while reading."""
        while True:
            entries = self.page(after, limit)
            if not entries:
                return
            yield entries
            after = entries[-1].position


def entries_of(rows: Sequence[Any]) -> list[Entry]:
    """Entries from rows of (position, recorded_at, originator_id, state), decoded."""
    if rows and isinstance(rows[0], dict):  # psycopg's dict rows
        rows = [(r["position"], r["recorded_at"], r["originator_id"], r["state"]) for r in rows]
    decode = _event_decoder.decode
    return [Entry(row[0], row[1], row[2], decode(row[3])) for row in rows]


def commits(entries: Sequence[Entry]) -> Iterator[Sequence[Entry]]:
    """Consecutive runs of entries with one system time: what one commit stored."""
    start = 0
    for index in range(1, len(entries) + 1):
        if index == len(entries) or entries[index].recorded_at_us != entries[start].recorded_at_us:
            yield entries[start:index]
            start = index
