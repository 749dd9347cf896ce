"""Inclusion proofs: that one stored event is in the tree a signed checkpoint committed to.

`inclusion_proof` builds one on the server from the stored links; `verify_event_proof` is all a
client needs to check it, with a checkpoint it keeps (and the public key it trusts).
"""

from __future__ import annotations

import base64
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
from service.audit.merkle import inclusion_path, leaf_hash, verify_inclusion
from service.errors import NotFound
from service.store.log import RECORDS
from service.store.records import GENESIS, chain_link


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


class _Leaves(msgspec.Struct):
    """The leaf hashes of a tree, and where one row sits in it with its predecessor's link."""

    hashes: list[bytes]
    index: int
    previous_link: bytes


def _leaves(timeline: Timeline, upto: int, position: int, page: int = 20_000) -> _Leaves:
    """Leaf hashes of every record up to `upto`, read page by page, and the place of `position`."""
    store = timeline.store
    query = store.sql(
        f"SELECT position, link FROM {RECORDS} WHERE position > %s AND position <= %s "
        "ORDER BY position LIMIT %s"
    )
    found = _Leaves([], -1, GENESIS)
    previous, after = GENESIS, 0
    while True:
        with store.read_transaction() as cursor:
            cursor.execute(query, (after, upto, page))
            rows = cursor.fetchall()
        for row in rows:
            link = bytes(row["link"])
            if int(row["position"]) == position:
                found.index, found.previous_link = len(found.hashes), previous
            found.hashes.append(leaf_hash(link))
            previous = link
        if len(rows) < page:
            return found
        after = int(rows[-1]["position"])


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
    if stored is None or stored.position < record.position:
        raise UnknownCheckpoint(
            f"no checkpoint covers position {record.position} yet; make one with "
            "POST /api/checkpoints",
            path="checkpoint",
        )
    leaves = _leaves(timeline, stored.position, record.position)
    if leaves.index < 0:  # its record vanished between the two reads
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
        previous_link=leaves.previous_link.hex(),
        link=record.link.hex(),
        leaf_index=leaves.index,
        tree_size=len(leaves.hashes),
        audit_path=[sibling.hex() for sibling in inclusion_path(leaves.index, leaves.hashes)],
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
