"""Signed checkpoints: the head of the chain and the Merkle root at a position, signed with Ed25519.

A checkpoint is only signed over a chain that verifies from the signer's previous checkpoint (or
from the start), that still holds the latest checkpoint stored whatever key signed it, and that
reaches every stored checkpoint (none lies beyond the head). It carries the tree on from the
signer's previous checkpoint's stored frontier, so making one costs the events since then, and
stores the roots of the tree's chunks completed since, for proofs. The same JSON shape is
served by the API and kept in files.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from service.application import Timeline
from service.audit import ledger
from service.audit.chain import Anchor, below_the_start, walk
from service.audit.classify import Break
from service.audit.keys import Signer, signer_for
from service.audit.ledger import StoredCheckpoint
from service.errors import NotFound, Unprocessable
from service.store.log import LogRecorder
from service.store.records import from_micros, now_micros, to_micros

logger = logging.getLogger(__name__)

DOMAIN = b"timeline-checkpoint-v1\n"

Hex32 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$", description="32 bytes, hex")]
Hex64 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{128}$", description="64 bytes, hex")]


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A signed statement that the log held `tree_size` rows up to `position` with this head."""

    position: int
    tree_size: int
    head: Hex32
    tree_root: Hex32
    signed_at: str
    public_key: Hex32
    signature: Hex64


class UnknownCheckpoint(NotFound):
    """No checkpoint was made at this position (or none yet)."""

    title = "Unknown checkpoint"


class EmptyLog(Unprocessable):
    """Nothing was recorded yet, so there is nothing to sign."""

    title = "Empty log"


class LogTampered(Unprocessable):
    """The chain does not verify since the last checkpoint; the service refuses to sign it."""

    title = "Log does not verify"


class CheckpointFileError(ValueError):
    """A checkpoint file that cannot be read; the message says why."""


def signed_at_micros(text: str) -> int:
    """A checkpoint's `signed_at` (RFC 3339 with an offset) in microseconds since the epoch."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"signed_at {text!r} has no offset")
    return to_micros(moment)


def format_signed_at(micros: int) -> str:
    """RFC 3339, UTC, with microseconds."""
    return (
        from_micros(micros)
        .astimezone(UTC)
        .isoformat(timespec="microseconds")
        .replace("+00:00", "Z")
    )


def signed_message(
    position: int, tree_size: int, head: bytes, tree_root: bytes, signed_at_us: int
) -> bytes:
    """The exact bytes a checkpoint's signature covers, behind a domain-separation prefix."""
    return (
        DOMAIN
        + (
            f"position={position}\ntree_size={tree_size}\nhead={head.hex()}\n"
            f"tree_root={tree_root.hex()}\nsigned_at={signed_at_us}\n"
        ).encode()
    )


def to_wire(stored: StoredCheckpoint) -> Checkpoint:
    """A stored checkpoint in the shape served and kept in files."""
    return Checkpoint(
        position=stored.position,
        tree_size=stored.tree_size,
        head=stored.head.hex(),
        tree_root=stored.tree_root.hex(),
        signed_at=format_signed_at(stored.signed_at_us),
        public_key=stored.public_key.hex(),
        signature=stored.signature.hex(),
    )


def verify_checkpoint_signature(checkpoint: Checkpoint, public_key: bytes | None = None) -> bool:
    """Whether the signature covers the checkpoint's fields under its key (or `public_key`)."""
    try:
        key = bytes.fromhex(checkpoint.public_key)
        if public_key is not None and key != public_key:
            return False
        message = signed_message(
            checkpoint.position,
            checkpoint.tree_size,
            bytes.fromhex(checkpoint.head),
            bytes.fromhex(checkpoint.tree_root),
            signed_at_micros(checkpoint.signed_at),
        )
        Ed25519PublicKey.from_public_bytes(key).verify(bytes.fromhex(checkpoint.signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _trusted_start(timeline: Timeline, signer: Signer, at_or_before: int) -> Anchor:
    """The latest intact checkpoint of this signer up to a position, to resume the chain from."""
    previous = ledger.latest(
        timeline.store, at_or_before=at_or_before, public_key=signer.public_key
    )
    if previous is None:
        return Anchor()
    intact = (
        previous.frontier.is_consistent()
        and previous.frontier.root() == previous.tree_root
        and verify_checkpoint_signature(to_wire(previous))
    )
    return Anchor(previous.position, previous.head, previous.frontier) if intact else Anchor()


def make_checkpoint(timeline: Timeline, signer: Signer | None = None) -> Checkpoint:
    """Sign the current head of the log, after verifying the chain up to it."""
    return sign_head(timeline, signer)[0]


def sign_head(
    timeline: Timeline, signer: Signer | None = None, *, unless_after: int | None = None
) -> tuple[Checkpoint, bool]:
    """The checkpoint of the current head, and whether this call made it (False: it existed).
    With `unless_after`, none is made when a checkpoint beyond that position was stored while
    this one was being made (another process's): that one is answered, with False."""
    store = timeline.store
    inserted = below_the_start(store)  # such a row can hide the head itself (`last_position`)
    if inserted is not None:
        raise _refusal(inserted)
    # read before the head: a checkpoint another process makes meanwhile is of a head the
    # read below finds, so one beyond it means rows were deleted, not a race
    latest = ledger.latest(store)
    head_position = timeline.store.last_position()
    if latest is not None and latest.position > head_position:
        raise LogTampered(
            f"refusing to sign: the checkpoint at position {latest.position} lies beyond the "
            f"log's head at position {head_position}, so rows it signed were deleted (the log "
            "was truncated); run `timeline verify`"
        )
    if head_position == 0:
        raise EmptyLog("nothing has been recorded yet, so there is no head to sign")
    existing = ledger.at_position(store, head_position)
    if existing is not None:
        found = ledger.links(store, head_position - 1, head_position, 1)
        if not found or found[0][1] != existing.head:
            # the row it signed was deleted and its position taken again, or rewritten
            raise LogTampered(
                f"refusing to answer: the checkpoint at position {head_position} signed head "
                f"{existing.head.hex()}, and the log's row there now has "
                f"{found[0][1].hex() if found else 'no link'}; run `timeline verify`"
            )
        ledger.fill_chunks(store, head_position)  # those of a version that stored none
        return to_wire(existing), False
    # the key is loaded, or made, only to sign: not for a log with nothing to sign
    signer = signer or signer_for(timeline.database)
    start = _trusted_start(timeline, signer, head_position - 1)  # one may land at the head now
    _say_if_the_key_changed(store, signer, head_position)
    # the latest checkpoint, whatever key signed it, is not trusted to resume from (anyone
    # can make a key), but must still hold: a new key would otherwise sign a rewritten log
    previous = latest if latest is not None and latest.position > start.position else None
    marks = {head_position} | ({previous.position} if previous else set())
    walked = walk(
        store, end=head_position, start=start, tree_until=head_position, marks=frozenset(marks)
    )
    if walked.problem is not None:
        raise _refusal(walked.problem)
    if previous is not None:
        _require_extends(previous, walked.marks.get(previous.position))
    mark = walked.marks[head_position]
    signed_at = now_micros()
    root = mark.frontier.root()
    stored = ledger.insert(
        store,
        StoredCheckpoint(
            position=head_position,
            tree_size=mark.frontier.size,
            head=mark.link,
            tree_root=root,
            frontier=mark.frontier,
            signed_at_us=signed_at,
            public_key=signer.public_key,
            signature=signer.sign(
                signed_message(head_position, mark.frontier.size, mark.link, root, signed_at)
            ),
        ),
        unless_after=unless_after,
    )
    ledger.fill_chunks(store, head_position)  # the rows up to it verified: proofs may use them
    return to_wire(stored), stored.signed_at_us == signed_at


def _refusal(problem: Break) -> LogTampered:
    """The refusal to sign a log that breaks, saying where and how."""
    return LogTampered(
        f"refusing to sign: {problem.kind} at position {problem.position} ({problem.detail})"
    )


def _require_extends(previous: StoredCheckpoint, mark: Anchor | None) -> None:
    """Refuse to sign unless `previous` is genuine (under its own key) and the log, as
    recomputed up to its position (`mark`), still holds what it signed."""
    at, key = previous.position, previous.public_key.hex()
    if not verify_checkpoint_signature(to_wire(previous)):
        raise LogTampered(
            f"refusing to sign: the checkpoint at position {at} does not verify with its own "
            f"public key {key}; run `timeline verify`"
        )
    if (
        mark is None
        or mark.link != previous.head
        or mark.frontier.size != previous.tree_size
        or mark.frontier.root() != previous.tree_root
    ):
        found = f"its head there is now {mark.link.hex()}" if mark else "it holds no row there"
        raise LogTampered(
            f"refusing to sign: the log no longer extends the checkpoint at position {at} "
            f"signed with public key {key}: {found}, the checkpoint signed "
            f"{previous.head.hex()}; run `timeline verify`"
        )


def _say_if_the_key_changed(store: LogRecorder, signer: Signer, position: int) -> None:
    """Warn when the last checkpoint was signed with another key: a database restored or
    copied without its key file makes a new one, and verifiers that pinned the old key will
    not trust what it signs."""
    earlier = ledger.latest(store, at_or_before=position - 1)
    if earlier is not None and earlier.public_key != signer.public_key:
        logger.warning(
            "the checkpoint at position %s is signed with public key %s, the one at %s was "
            "signed with %s: the signing key changed (a database restored or copied without "
            "its key file?); verifiers that pinned the earlier key will not trust this one",
            position,
            signer.public_key.hex(),
            earlier.position,
            earlier.public_key.hex(),
        )


def maybe_checkpoint(
    timeline: Timeline, every: int, signer: Signer | None = None
) -> Checkpoint | None:
    """Make a checkpoint when the last one is `every` or more positions behind the head.

    Two indexed reads when there is nothing to do: cheap enough to call after every write.
    """
    head_position = timeline.store.last_position()
    previous = ledger.latest(timeline.store)
    since = previous.position if previous else 0
    if head_position - since < every:
        return None
    # every worker of every server asks every few seconds: the first to store one makes it
    checkpoint, made = sign_head(timeline, signer, unless_after=since)
    return checkpoint if made else None


def latest_checkpoint(timeline: Timeline) -> Checkpoint:
    """The most recent checkpoint; `UnknownCheckpoint` when none was made yet."""
    stored = ledger.latest(timeline.store)
    if stored is None:
        raise UnknownCheckpoint("no checkpoint has been made yet", path="position")
    return to_wire(stored)


def checkpoint_at(timeline: Timeline, position: int, *, path: str = "position") -> Checkpoint:
    """The checkpoint made at `position`; `UnknownCheckpoint` naming `path` when there is none."""
    stored = ledger.at_position(timeline.store, position)
    if stored is None:
        raise UnknownCheckpoint(f"no checkpoint was made at position {position}", path=path)
    return to_wire(stored)


def dump_checkpoint(checkpoint: Checkpoint) -> bytes:
    """The checkpoint as a JSON document (the API's shape), for a file kept elsewhere."""
    return msgspec.json.format(msgspec.json.encode(checkpoint), indent=2) + b"\n"


def load_checkpoint(data: bytes) -> Checkpoint:
    """A checkpoint from JSON as the API serves it; `CheckpointFileError` if it is not one."""
    try:
        checkpoint = msgspec.json.decode(data, type=Checkpoint)
        signed_at_micros(checkpoint.signed_at)
    except (msgspec.DecodeError, ValueError) as error:
        raise CheckpointFileError(f"not a timeline checkpoint: {error}") from None
    return checkpoint


def read_checkpoint_file(path: Path) -> Checkpoint:
    """A checkpoint from a JSON file (e.g. saved from `GET /api/checkpoints/latest`)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CheckpointFileError(f"cannot read {path}: {error.strerror}") from None
    return load_checkpoint(data)
