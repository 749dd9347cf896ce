"""Inclusion proofs: that one stored event is in the tree a signed checkpoint committed to.

`inclusion_proof` builds one on the server from the stored links; `verify_event_proof` is all a
client needs to check it, with a checkpoint it keeps (and the public key it trusts).
"""

from __future__ import annotations

import base64
import bisect
from uuid import UUID

import msgspec

from service.application import Timeline
from service.audit import ledger
from service.audit.checkpoints import (
    Checkpoint,
    Hex32,
    UnknownCheckpoint,
    to_wire,
    verify_checkpoint_signature,
)
from service.audit.merkle import Chunked, leaf_hash, verify_inclusion
from service.errors import NotFound
from service.store.log import RECORDS, LogRecorder
from service.store.records import GENESIS, chain_link

PAGE = 20_000  # rows per read of the rows after the last chunk


class UnknownEvent(NotFound):
    """No event was recorded under this id."""

    title = "Unknown event"


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the chain hashes for one row, with the stored payload as base64."""

    position: int
    development_id: UUID
    version: int
    type: str
    event_id: UUID
    recorded_at_us: int
    recorded_by: str
    state_base64: str


class InclusionProof(msgspec.Struct, frozen=True, kw_only=True):
    """An event's row, its link (the Merkle leaf), and the audit path to a checkpoint's root."""

    entry: Entry
    previous_link: Hex32
    link: Hex32
    leaf_index: int
    tree_size: int
    audit_path: list[Hex32]
    checkpoint: Checkpoint


class _Place(msgspec.Struct):
    """A tree as far as a proof needs it, and where one row sits in it."""

    tree: Chunked
    index: int


def _place(store: LogRecorder, upto: int, position: int, *, stored: bool = True) -> _Place:
    """The tree of the rows up to `upto` from its stored chunk roots (none if not `stored`),
    with the leaves of the chunk holding `position` and of the rows after the last chunk:
    two chunks of rows and a root per chunk, where the whole tree would be every row."""
    roots, lasts = ledger.chunks(store, upto) if stored else ([], [])
    number = bisect.bisect_left(lasts, position)
    rows: list[tuple[int, int, bytes]] = []  # (leaf index, position, link)
    if number < len(lasts):  # in a whole chunk
        after = lasts[number - 1] if number else 0
        found = ledger.links(store, after, lasts[number], ledger.CHUNK)
        rows += [(number * ledger.CHUNK + i, at, link) for i, (at, link) in enumerate(found)]
    first, after = len(lasts) * ledger.CHUNK, lasts[-1] if lasts else 0
    while page := ledger.links(store, after, upto, PAGE):  # after the last chunk
        rows += [(first + i, at, link) for i, (at, link) in enumerate(page)]
        first, after = first + len(page), page[-1][0]
    leaves = {index: leaf_hash(link) for index, _, link in rows}
    index = next((index for index, at, _ in rows if at == position), -1)
    return _Place(Chunked(first, roots, leaves, ledger.CHUNK), index)


def _previous_link(store: LogRecorder, position: int) -> bytes:
    with store.read_transaction() as cursor:
        cursor.execute(
            store.sql(
                f"SELECT link FROM {RECORDS} WHERE position < %s ORDER BY position DESC LIMIT 1"
            ),
            (position,),
        )
        row = cursor.fetchone()
    return bytes(row["link"]) if row else GENESIS


def inclusion_proof(
    timeline: Timeline, event_id: UUID, checkpoint_position: int | None = None
) -> InclusionProof:
    """The proof that `event_id` is in the tree of the latest checkpoint (or of the one given)."""
    record = timeline.store.select_by_event_ids([event_id]).get(event_id)
    if record is None:
        raise UnknownEvent(f"no event was recorded with event_id {event_id}", path="event_id")
    store = timeline.store
    if checkpoint_position is None:
        stored = ledger.latest(store)
    else:
        stored = ledger.at_position(store, checkpoint_position)
        if stored is None:
            raise UnknownCheckpoint(
                f"no checkpoint was made at position {checkpoint_position}", path="checkpoint"
            )
    if stored is None or stored.position < record.position:
        raise UnknownCheckpoint(
            f"no checkpoint covers position {record.position} yet; make one with "
            "POST /api/checkpoints"
            if checkpoint_position is None
            else f"the checkpoint at {checkpoint_position} was made before position "
            f"{record.position}: ask for a later one",
            path="checkpoint",
        )
    place = _place(store, stored.position, record.position)
    if place.tree.size != stored.tree_size or place.tree.root() != stored.tree_root:
        # chunk roots that do not add up to the signed root (or a log that changed since):
        # the tree from every row, so the proof shows what the log holds now
        place = _place(store, stored.position, record.position, stored=False)
    if place.index < 0:  # its record vanished between the two reads
        raise UnknownEvent(f"event {event_id} is no longer in the log", path="event_id")
    return InclusionProof(
        entry=Entry(
            position=record.position,
            development_id=record.development_id,
            version=record.version,
            type=record.topic,
            event_id=record.event_id,
            recorded_at_us=record.recorded_at_us,
            recorded_by=record.recorded_by,
            state_base64=base64.b64encode(record.state).decode(),
        ),
        previous_link=_previous_link(store, record.position).hex(),
        link=record.link.hex(),
        leaf_index=place.index,
        tree_size=place.tree.size,
        audit_path=[sibling.hex() for sibling in place.tree.path(place.index)],
        checkpoint=to_wire(stored),
    )


def verify_event_proof(
    proof: InclusionProof,
    checkpoint: Checkpoint | None = None,
    public_key: bytes | None = None,
) -> bool:
    """Whether the proof shows its entry in the tree a validly signed checkpoint commits to.

    Pass the `checkpoint` you kept (else the proof's own is used) and the `public_key` you trust.
    """
    signed = checkpoint or proof.checkpoint
    if not verify_checkpoint_signature(signed, public_key) or proof.tree_size != signed.tree_size:
        return False
    entry = proof.entry
    try:
        link = chain_link(
            bytes.fromhex(proof.previous_link),
            position=entry.position,
            development_id=entry.development_id,
            version=entry.version,
            topic=entry.type,
            recorded_at_us=entry.recorded_at_us,
            recorded_by=entry.recorded_by,
            event_id=entry.event_id,
            state=base64.b64decode(entry.state_base64, validate=True),
        )
        path = [bytes.fromhex(sibling) for sibling in proof.audit_path]
    except ValueError:
        return False
    return link.hex() == proof.link and verify_inclusion(
        leaf_hash(link), proof.leaf_index, signed.tree_size, path, bytes.fromhex(signed.tree_root)
    )
