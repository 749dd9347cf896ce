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
    """What the events table holds at a position."""

    development_id: str | None  # canonical UUID text; None: the stored id is not a UUID any more
    version: Any
    topic: Any
    state: bytes


class RecordRow(msgspec.Struct, frozen=True, gc=False):
    """What `event_records` holds at a position."""

    event_id: str | None
    recorded_at_us: Any
    recorded_by: Any
    link: bytes


class Slot(msgspec.Struct, frozen=True, gc=False):
    """One position of the log with whatever each table holds there."""

    position: int
    event: EventRow | None
    record: RecordRow | None


def link_of(previous: bytes, position: int, event: EventRow, record: RecordRow) -> bytes:
    """The link these stored values should carry after `previous`; b"" if they cannot hash."""
    if event.development_id is None or record.event_id is None:
        return b""
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


def _bytes(value: Any) -> bytes:
    if isinstance(value, str):  # SQLite lets a tampered BLOB column hold text
        return value.encode()
    return bytes(value) if value is not None else b""


_HEX = re.compile(r"[0-9a-f]{32}", re.ASCII)
_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)


def canonical_id(value: Any) -> str | None:
    """The text str(UUID) gives for a stored id (32 hex digits, UUID text or a UUID); else None."""
    if isinstance(value, str):
        if len(value) == 32 and _HEX.fullmatch(value):  # SQLite
            return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
        if _TEXT.fullmatch(value):  # PostgreSQL, cast to text
            return value
    try:
        return str(value if isinstance(value, UUID) else UUID(value))
    except (ValueError, TypeError, AttributeError):
        return None


def _id_column(store: LogRecorder, name: str) -> str:
    """PostgreSQL answers a uuid column as canonical text when asked, sparing a parse per row."""
    return name if store.placeholder == "?" else f"{name}::text AS {name}"


def extent(store: LogRecorder) -> int:
    """The highest position either table holds; 0 for an empty log."""
    query = store.sql(
        f"SELECT (SELECT MAX(position) FROM {RECORDS}) AS r, "
        f"(SELECT MAX({store.position_column}) FROM {{events}}) AS e"
    )
    with store.read_transaction() as cursor:
        cursor.execute(query)
        row = cursor.fetchone()
    return max(int(row["r"] or 0), int(row["e"] or 0))


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
    events = {
        int(r["position"]): EventRow(
            canonical_id(r["originator_id"]),
            r["originator_version"],
            r["topic"],
            _bytes(r["state"]),
        )
        for r in event_rows
    }
    records = {
        int(r["position"]): RecordRow(
            canonical_id(r["event_id"]), r["recorded_at"], r["recorded_by"], _bytes(r["link"])
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
