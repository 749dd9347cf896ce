"""What the log holds beside each stored event, and the hash chain that links the rows."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from functools import lru_cache
from uuid import UUID

import msgspec

GENESIS = bytes(32)
MAX_POSITION = 2**63 - 1  # the largest position either database can hold (signed 64 bits)


class Pending(msgspec.Struct, frozen=True, kw_only=True):
    """An event decided and encoded, waiting for its position and system time."""

    development_id: UUID
    version: int
    topic: str
    state: bytes
    event_id: UUID
    recorded_by: str
    digest: str


class StoredRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One row of the log: the stored event and what the server added when recording it."""

    position: int
    development_id: UUID
    version: int
    topic: str
    state: bytes
    event_id: UUID
    recorded_at_us: int
    recorded_by: str
    digest: str
    link: bytes

    @property
    def recorded_at(self) -> datetime:
        """System time of recording, UTC, microseconds."""
        return from_micros(self.recorded_at_us)


class Head(msgspec.Struct, frozen=True):
    """The last row of the log: where the next one goes and what it must not precede."""

    position: int
    recorded_at_us: int
    link: bytes
    top: int = 0  # the events table's highest position: a row without a record may pass `position`

    @property
    def next_position(self) -> int:
        """Where the next event goes: after the last record and after any stray events row."""
        return max(self.position, self.top) + 1


EMPTY_HEAD = Head(0, 0, GENESIS)


def now_micros() -> int:
    """The current UTC time in microseconds since the epoch."""
    return time.time_ns() // 1000


@lru_cache(maxsize=1024)  # the rows of one commit share their time
def from_micros(micros: int) -> datetime:
    """A UTC datetime from microseconds since the epoch."""
    return datetime.fromtimestamp(micros // 1_000_000, UTC).replace(microsecond=micros % 1_000_000)


def to_micros(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def chain_link(
    previous: bytes,
    *,
    position: int,
    development_id: UUID,
    version: int,
    topic: str,
    recorded_at_us: int,
    recorded_by: str,
    event_id: UUID,
    state: bytes,
) -> bytes:
    """The link of a row: a hash of the previous link and everything stored for the row."""
    header = (
        f"{position}\n{development_id}\n{version}\n{topic}\n{recorded_at_us}\n"
        f"{event_id}\n{recorded_by}\n"
    ).encode()
    return hashlib.sha256(previous + header + hashlib.sha256(state).digest()).digest()
