"""Helpers for the audit tests: a log to tamper with, and a tamperer that edits rows in the database
directly (sqlite3 or psycopg), as someone with write access to it would. No tests here."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit
from uuid import UUID, uuid4

import psycopg

from events import Actors, DevelopmentReported, ReportAdded
from service.application import Timeline
from service.store.records import GENESIS, chain_link
from tests.structs import a_report


def a_development(title: str = "Containers of munitions") -> DevelopmentReported:
    """A transfer from the DPRK to Russia."""
    return DevelopmentReported(
        kind="transfer",
        title=title,
        actors=Actors(supplier="PRK", recipient="RUS"),
        report=a_report(),
    )


def record_log(timeline: Timeline, rows: int) -> list[UUID]:
    """Record `rows` events, one write each (positions 1..rows): developments and reports."""
    developments: list[UUID] = []
    for number in range(rows):
        if number % 3 == 2:
            event: Any = ReportAdded(development_id=developments[-1], report=a_report("Kyiv"))
        else:
            event = a_development(f"Shipment {number}")
        receipt = timeline.append([event], f"analyst-{number % 2}")[0].receipt
        developments.append(receipt.development_id)
    return developments


class Tamperer:
    """Edits the stored log through a raw connection, bypassing the service entirely."""

    def __init__(self, database_url: str) -> None:
        self.sqlite = database_url.startswith("sqlite")
        if self.sqlite:
            path = unquote(urlsplit(database_url).path)[1:]
            self._connection: Any = sqlite3.connect(path, isolation_level=None)
            self.events, self.position = "stored_events", "rowid"
        else:
            self._connection = psycopg.connect(database_url, autocommit=True)
            self.events, self.position = "timeline_events", "notification_id"

    def close(self) -> None:
        """Close the raw connection."""
        self._connection.close()

    def run(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Run a statement written with %s placeholders and {events}/{pos} names."""
        sql = sql.replace("{events}", self.events).replace("{pos}", self.position)
        if self.sqlite:
            sql = sql.replace("%s", "?")
        cursor = self._connection.execute(sql, tuple(params))
        return list(cursor.fetchall()) if cursor.description else []

    def _id(self, value: UUID) -> object:
        return value.hex if self.sqlite else value

    def state(self, position: int) -> bytes:
        """The stored payload at a position."""
        return bytes(self.run("SELECT state FROM {events} WHERE {pos} = %s", [position])[0][0])

    def edit_payload_byte(
        self, position: int, old: bytes = b"Shipment", new: bytes = b"Shipmunt"
    ) -> None:
        """Change a few bytes of the stored JSON, keeping it valid."""
        state = self.state(position)
        assert old in state
        self.set_state(position, state.replace(old, new, 1))

    def set_state(self, position: int, state: bytes) -> None:
        """Overwrite the stored payload at a position."""
        self.run("UPDATE {events} SET state = %s WHERE {pos} = %s", [state, position])

    def delete_event(self, position: int) -> None:
        """Delete the events row of a position."""
        self.run("DELETE FROM {events} WHERE {pos} = %s", [position])

    def delete_record(self, position: int) -> None:
        """Delete the `event_records` row of a position."""
        self.run("DELETE FROM event_records WHERE position = %s", [position])

    def delete_row(self, position: int) -> None:
        """Delete a position from both tables."""
        self.delete_event(position)
        self.delete_record(position)

    def swap_payloads(self, first: int, second: int) -> None:
        """Exchange the stored payloads of two positions."""
        one, two = self.state(first), self.state(second)
        self.set_state(first, two)
        self.set_state(second, one)

    def swap_rows(self, first: int, second: int) -> None:
        """Exchange everything two positions hold in both tables, links included."""
        events = "originator_id, originator_version, topic, state"
        records = "event_id, recorded_at, recorded_by, digest, link"
        one_e, two_e = (
            self.run(f"SELECT {events} FROM {{events}} WHERE {{pos}} = %s", [p])[0]
            for p in (first, second)
        )
        one_r, two_r = (
            self.run(f"SELECT {records} FROM event_records WHERE position = %s", [p])[0]
            for p in (first, second)
        )
        self.delete_row(first)
        self.delete_row(second)
        for position, event, record in ((first, two_e, two_r), (second, one_e, one_r)):
            self.run(
                f"INSERT INTO {{events}} ({{pos}}, {events}) VALUES (%s, %s, %s, %s, %s)",
                [position, *event],
            )
            self.run(
                f"INSERT INTO event_records (position, {records}) VALUES (%s, %s, %s, %s, %s, %s)",
                [position, *record],
            )

    def forge(
        self, position: int | None = None, *, link: bytes = b"\x5a" * 32, record: bool = True
    ) -> int:
        """Add a valid-looking event (at the end, or at a free position) with a link that was not
        earned; without `record`, only the events row."""
        state = self.state(1).replace(b"Shipment", b"Forgery", 1)
        position = position if position is not None else self.last_position() + 1
        self.run(
            "INSERT INTO {events} ({pos}, originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, 1, 'development_reported', %s)",
            [position, self._id(uuid4()), state],
        )
        if not record:
            return position
        [(recorded_at,)] = self.run("SELECT MAX(recorded_at) FROM event_records")
        self.run(
            "INSERT INTO event_records "
            "(position, event_id, recorded_at, recorded_by, digest, link) "
            "VALUES (%s, %s, %s, 'mallory', 'forged', %s)",
            [position, self._id(uuid4()), recorded_at + 1, link],
        )
        return position

    def forge_record(self, position: int) -> None:
        """Add only an `event_records` row, at a position of the caller's choosing."""
        self.run(
            "INSERT INTO event_records "
            "(position, event_id, recorded_at, recorded_by, digest, link) "
            "VALUES (%s, %s, 0, 'mallory', 'forged', %s)",
            [position, self._id(uuid4()), b"\x5a" * 32],
        )

    def last_position(self) -> int:
        """The highest position of the events table."""
        [(position,)] = self.run("SELECT MAX({pos}) FROM {events}")
        return int(position or 0)

    def leave_gap(self, timeline: Timeline) -> int:
        """Leave a free position with a row the service wrote after it: an events row without a
        record holds the next position while the service writes, then is removed (as a refused
        insert left one on PostgreSQL when positions came from the table's sequence)."""
        gap = self.forge(record=False)
        timeline.append([a_development("After the gap")], "analyst-0")
        self.delete_event(gap)
        return int(gap)

    def relink(self) -> None:
        """Recompute every stored link, as someone who knows the chain's formula would."""
        rows = self.run(
            "SELECT r.position, e.originator_id, e.originator_version, e.topic, e.state, "
            "r.event_id, r.recorded_at, r.recorded_by FROM event_records r "
            "JOIN {events} e ON e.{pos} = r.position ORDER BY r.position"
        )
        link = GENESIS
        for position, development, version, topic, state, event_id, at, by in rows:
            link = chain_link(
                link,
                position=position,
                development_id=UUID(str(development)),
                version=version,
                topic=topic,
                recorded_at_us=at,
                recorded_by=by,
                event_id=UUID(str(event_id)),
                state=bytes(state),
            )
            self.run("UPDATE event_records SET link = %s WHERE position = %s", [link, position])


def tampered_log(database_url: str, timeline: Timeline, rows: int) -> Iterator[Tamperer]:
    """The body of a `tamper` fixture: a log of `rows` events, and a tamperer on its database."""
    record_log(timeline, rows)
    tamperer = Tamperer(database_url)
    yield tamperer
    tamperer.close()
