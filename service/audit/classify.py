"""Name what happened where the recomputed chain first stops matching the stored one.

Given the last position that verified (and its link) and the rows after it, decide between
`changed`, `deleted`, `inserted` and `reordered`, using only what the chain itself proves:
a stored link that the following row was built on was genuine when it was written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import msgspec

from service.audit.rows import EventRow, RecordRow, Slot, link_of

Kind = Literal["changed", "deleted", "inserted", "reordered"]


class Break(msgspec.Struct, frozen=True):
    """The first place the stored log differs from what was recorded."""

    kind: Kind
    position: int
    detail: str


def _follows(previous: bytes, slot: Slot) -> bool:
    """Whether `slot` is a complete row whose stored link was built on `previous`."""
    if slot.event is None or slot.record is None:
        return False
    return link_of(previous, slot.position, slot.event, slot.record) == slot.record.link


def _moved_from(previous: bytes, slot: Slot, later: Sequence[Slot]) -> int | None:
    """The later position holding what belongs at `slot` (whole row, either table, or payload)."""
    assert slot.event is not None and slot.record is not None
    here_event, here_record = slot.event, slot.record
    for other in later:
        if other.event is None or other.record is None:
            continue
        there_event, there_record = other.event, other.record
        payload_swapped = EventRow(
            here_event.development_id, here_event.version, here_event.topic, there_event.state
        )
        candidates: tuple[tuple[EventRow, RecordRow], ...] = (
            (there_event, there_record),
            (there_event, here_record),
            (here_event, there_record),
            (payload_swapped, here_record),
        )
        targets = (here_record.link, there_record.link)
        for event, record in candidates:
            if link_of(previous, slot.position, event, record) in targets:
                return other.position
    return None


def classify(trusted_position: int, trusted_link: bytes, window: Sequence[Slot]) -> Break:
    """The kind and position of the first break; `window` starts at the first unverified slot."""
    slot, following = window[0], window[1:]
    after = following[0] if following else None
    position = slot.position
    skipped = after is not None and _follows(trusted_link, after)
    if slot.record is None:
        if skipped:
            return Break(
                "inserted",
                position,
                f"position {position} has an event but no record, and the chain skips it: "
                "no write made this row",
            )
        return Break(
            "deleted",
            position,
            f"the record of position {position} is missing (its event row is still there)",
        )
    if slot.event is None:
        if after is not None and _follows(slot.record.link, after):
            return Break(
                "deleted",
                position,
                f"the event of position {position} is missing (its record is still there)",
            )
        if skipped:
            return Break(
                "inserted",
                position,
                f"position {position} has a record but no event, and the chain skips it",
            )
        return Break("deleted", position, f"the event of position {position} is missing")
    moved = _moved_from(trusted_link, slot, following)
    if moved is not None:
        return Break(
            "reordered",
            position,
            f"what was recorded at position {position} now sits at position {moved}",
        )
    if skipped:
        return Break(
            "inserted",
            position,
            f"position {position} does not belong to the chain: the row after it follows "
            f"position {trusted_position} directly",
        )
    if position > trusted_position + 1:
        missing = (
            f"position {trusted_position + 1}"
            if position == trusted_position + 2
            else f"positions {trusted_position + 1}-{position - 1}"
        )
        forged = "" if after is not None else f", unless position {position} is a forged row"
        return Break(
            "deleted",
            trusted_position + 1,
            f"the link of position {position} was computed over a row that is no longer "
            f"there ({missing} missing{forged})",
        )
    if after is None:
        return Break(
            "inserted",
            position,
            f"the last row, position {position}, does not follow the chain: a forged row, "
            "or the last event edited",
        )
    return Break(
        "changed",
        position,
        f"the stored fields of position {position} no longer hash to its link",
    )
