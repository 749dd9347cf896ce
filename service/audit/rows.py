"""The log as stored, read straight from both tables by ranges of positions.

No join: the events table and `event_records` are read separately and merged by position, so
a row missing from either table shows up as a half-empty `Slot` instead of vanishing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, cast
from uuid import UUID

import msgspec

from service.store.log import RECORDS, LogRecorder
from service.store.records import chain_link

PAGE = 5000


class EventRow(msgspec.Struct, frozen=True, gc=False):
    """What the events table holds at a position; a field is None when what is stored there
    is not of the type (or, for an id, the exact form) the service writes."""

    development_id: str | None  # canonical UUID text
    version: int | None
    topic: str | None
    state: bytes | None


class RecordRow(msgspec.Struct, frozen=True, gc=False):
    """What `event_records` holds at a position (None: see `EventRow`; a link not stored as
    bytes is b"", which no computed link equals)."""

    event_id: str | None
    recorded_at_us: int | None
    recorded_by: str | None
    link: bytes


class Slot(msgspec.Struct, frozen=True, gc=False):
    """One position of the log with whatever each table holds there."""

    position: int
    event: EventRow | None
    record: RecordRow | None


def link_of(previous: bytes, position: int, event: EventRow, record: RecordRow) -> bytes | None:
    """The link these stored values should carry after `previous`; None if they cannot hash,
    which equals no stored link, not even one that is not stored as bytes (b"")."""
    if (
        event.development_id is None
        or event.version is None
        or event.topic is None
        or event.state is None
        or record.event_id is None
        or record.recorded_at_us is None
        or record.recorded_by is None
    ):
        return None
    # chain_link puts ids into its header as str(UUID) gives them; handing it that text directly
    # saves parsing and formatting two UUIDs per row, more than half the cost of a verification.
    return chain_link(
        previous,
        position=position,
        development_id=cast(UUID, event.development_id),
        version=event.version,
        topic=event.topic,
        recorded_at_us=record.recorded_at_us,
        recorded_by=record.recorded_by,
        event_id=cast(UUID, record.event_id),
        state=event.state,
    )


# SQLite lets any column hold any type, and the chain hashes values as text: a version stored
# as '3', or a payload cast to text, hashes as the original did, yet the service's readers
# stumble on it. What the service never writes is not what it recorded: such a field is None.


def _blob(value: Any) -> bytes | None:
    """A BLOB (bytea) column's value; None when it holds anything else (text, a number)."""
    return bytes(value) if isinstance(value, bytes | memoryview) else None


def _integer(value: Any) -> int | None:
    return value if type(value) is int else None


def _text(value: Any) -> str | None:
    return value if type(value) is str else None


_HEX = re.compile(r"[0-9a-f]{32}", re.ASCII)
_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)


def sqlite_id(value: Any) -> str | None:
    """The text str(UUID) gives for an id as the SQLite store writes and looks it up: exactly
    32 lowercase hex digits. Any other form (capitals, dashes) is not the id the service
    recorded, since lookups compare the text: None."""
    if isinstance(value, str) and len(value) == 32 and _HEX.fullmatch(value):
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return None


def postgres_id(value: Any) -> str | None:
    """A uuid column cast to text: canonical by construction; None for anything else."""
    return value if isinstance(value, str) and _TEXT.fullmatch(value) else None


def _id_column(store: LogRecorder, name: str) -> str:
    """PostgreSQL answers a uuid column as canonical text when asked, sparing a parse per row."""
    return name if store.placeholder == "?" else f"{name}::text AS {name}"


def extent(store: LogRecorder) -> int:
    """The highest position either table holds; 0 for an empty log."""
    return max(_ends(store, "MAX"), default=0)


def lowest(store: LogRecorder) -> int | None:
    """The lowest position either table holds; None for an empty log."""
    return min(_ends(store, "MIN"), default=None)


def _ends(store: LogRecorder, aggregate: str) -> list[int]:
    """The `aggregate` (MIN or MAX) of the positions of each table that holds a row."""
    query = store.sql(
        f"SELECT (SELECT {aggregate}(position) FROM {RECORDS}) AS r, "
        f"(SELECT {aggregate}({store.position_column}) FROM {{events}}) AS e"
    )
    with store.read_transaction() as cursor:
        cursor.execute(query)
        row = cursor.fetchone()
    return [int(value) for value in (row["r"], row["e"]) if value is not None]


def read_range(store: LogRecorder, after: int, upto: int) -> list[Slot]:
    """Slots with positions in (after, upto], in position order.

    Positions are unique in each table, so a range holds at most `upto - after` rows of each;
    a narrow range also keeps PostgreSQL on the position index, however stale its statistics.
    """
    position = store.position_column
    events_sql = store.sql(
        f"SELECT {position} AS position, {_id_column(store, 'originator_id')}, "
        f"originator_version, topic, state FROM {{events}} "
        f"WHERE {position} > %s AND {position} <= %s ORDER BY {position}"
    )
    records_sql = store.sql(
        f"SELECT position, {_id_column(store, 'event_id')}, recorded_at, recorded_by, link "
        f"FROM {RECORDS} WHERE position > %s AND position <= %s ORDER BY position"
    )
    with store.read_transaction() as cursor:
        cursor.execute(events_sql, (after, upto))
        event_rows = cursor.fetchall()
        cursor.execute(records_sql, (after, upto))
        record_rows = cursor.fetchall()
    ident = sqlite_id if store.placeholder == "?" else postgres_id
    events = {
        int(r["position"]): EventRow(
            ident(r["originator_id"]),
            _integer(r["originator_version"]),
            _text(r["topic"]),
            _blob(r["state"]),
        )
        for r in event_rows
    }
    records = {
        int(r["position"]): RecordRow(
            ident(r["event_id"]),
            _integer(r["recorded_at"]),
            _text(r["recorded_by"]),
            _blob(r["link"]) or b"",
        )
        for r in record_rows
    }
    return [
        Slot(position, events.get(position), records.get(position))
        for position in sorted(events.keys() | records.keys())
    ]


def _next_position(store: LogRecorder, after: int) -> int | None:
    """The lowest position above `after` that either table holds."""
    query = store.sql(
        f"SELECT (SELECT MIN(position) FROM {RECORDS} WHERE position > %s) AS r, "
        f"(SELECT MIN({store.position_column}) FROM {{events}} "
        f"WHERE {store.position_column} > %s) AS e"
    )
    with store.read_transaction() as cursor:
        cursor.execute(query, (after, after))
        row = cursor.fetchone()
    found = [int(value) for value in (row["r"], row["e"]) if value is not None]
    return min(found) if found else None


def iter_slots(store: LogRecorder, after: int, end: int, size: int = PAGE) -> Iterator[list[Slot]]:
    """Pages of slots with positions in (after, end], in position order, skipping wide gaps."""
    while after < end:
        upto = min(end, after + size)
        page = read_range(store, after, upto)
        if page:
            yield page
            after = upto
            continue
        following = _next_position(store, upto)
        if following is None or following > end:
            return
        after = following - 1
