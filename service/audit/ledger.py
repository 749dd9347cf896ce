"""The audit tables, kept in the log's own database on SQLite and on PostgreSQL: `checkpoints`,
and `merkle_chunks`, the roots of the Merkle tree's whole chunks of `CHUNK` leaves, so a proof
reads a few thousand rows however long the log (`proofs.inclusion_proof`)."""

from __future__ import annotations

import threading
import weakref
from typing import Any

import msgspec

from service.audit.merkle import Frontier, leaf_hash, tree_root
from service.store.log import RECORDS, LogRecorder

TABLE = "checkpoints"
CHUNKS = "merkle_chunks"
CHUNK = 1024  # leaves per chunk: a power of two, so a chunk is a perfect subtree
_COLUMNS = "position, tree_size, head, tree_root, frontier, signed_at, public_key, signature"


class StoredCheckpoint(msgspec.Struct, frozen=True, kw_only=True):
    """A checkpoint row: what was signed, the signature, and the tree frontier to grow from."""

    position: int
    tree_size: int
    head: bytes
    tree_root: bytes
    frontier: Frontier
    signed_at_us: int
    public_key: bytes
    signature: bytes


_ready: weakref.WeakSet[LogRecorder] = weakref.WeakSet()
_ready_lock = threading.Lock()


def _binary(store: LogRecorder) -> str:
    return "BLOB" if store.placeholder == "?" else "bytea"


def ensure_table(store: LogRecorder) -> None:
    """Create the table if it does not exist, once per recorder (concurrent starters serialise)."""
    with _ready_lock:
        if store in _ready:
            return
        blob = _binary(store)
        store.create_beside(
            f"CREATE TABLE IF NOT EXISTS {TABLE} ("
            "position BIGINT PRIMARY KEY, "
            "tree_size BIGINT NOT NULL, "
            f"head {blob} NOT NULL, "
            f"tree_root {blob} NOT NULL, "
            f"frontier {blob} NOT NULL, "
            "signed_at BIGINT NOT NULL, "
            f"public_key {blob} NOT NULL, "
            f"signature {blob} NOT NULL)"
        )
        store.create_beside(
            f"CREATE TABLE IF NOT EXISTS {CHUNKS} ("
            "chunk BIGINT PRIMARY KEY, "
            "last_position BIGINT NOT NULL, "
            f"root {blob} NOT NULL)"
        )
        _ready.add(store)


def _row(row: Any) -> StoredCheckpoint:
    tree_size = int(row["tree_size"])
    return StoredCheckpoint(
        position=int(row["position"]),
        tree_size=tree_size,
        head=bytes(row["head"]),
        tree_root=bytes(row["tree_root"]),
        frontier=Frontier.unpack(tree_size, bytes(row["frontier"])),
        signed_at_us=int(row["signed_at"]),
        public_key=bytes(row["public_key"]),
        signature=bytes(row["signature"]),
    )


def _one(store: LogRecorder, where: str, params: tuple[object, ...]) -> StoredCheckpoint | None:
    ensure_table(store)
    with store.read_transaction() as cursor:
        cursor.execute(store.sql(f"SELECT {_COLUMNS} FROM {TABLE} {where}"), params)
        row = cursor.fetchone()
    return _row(row) if row else None


def at_position(store: LogRecorder, position: int) -> StoredCheckpoint | None:
    """The checkpoint signed at exactly this position."""
    return _one(store, "WHERE position = %s", (position,))


def latest(
    store: LogRecorder, *, at_or_before: int | None = None, public_key: bytes | None = None
) -> StoredCheckpoint | None:
    """The checkpoint at the highest position (not above `at_or_before`, by `public_key`)."""
    conditions, params = ["1 = 1"], list[object]()
    if at_or_before is not None:
        conditions.append("position <= %s")
        params.append(at_or_before)
    if public_key is not None:
        conditions.append("public_key = %s")
        params.append(public_key)
    where = " AND ".join(conditions)
    return _one(store, f"WHERE {where} ORDER BY position DESC LIMIT 1", tuple(params))


def latest_of_each_key(store: LogRecorder) -> list[StoredCheckpoint]:
    """The checkpoint at the highest position of each public key, the latest first."""
    ensure_table(store)
    query = (
        f"SELECT {_COLUMNS} FROM {TABLE} WHERE position IN "
        f"(SELECT MAX(position) FROM {TABLE} GROUP BY public_key) ORDER BY position DESC"
    )
    with store.read_transaction() as cursor:
        cursor.execute(store.sql(query))
        return [_row(row) for row in cursor.fetchall()]


def insert(
    store: LogRecorder, checkpoint: StoredCheckpoint, *, unless_after: int | None = None
) -> StoredCheckpoint:
    """Store a checkpoint; if one was stored at that position meanwhile, answer that one. With
    `unless_after`, store none when one beyond that position was stored meanwhile (another
    process made the one that was due), and answer the latest."""
    ensure_table(store)
    position = checkpoint.position
    with store.write_transaction() as cursor:  # one writer at a time: the check holds
        if unless_after is not None:
            cursor.execute(f"SELECT max(position) AS top FROM {TABLE}")
            top = cursor.fetchone()["top"]
            if top is not None and top > unless_after:
                position = int(top)
        if position == checkpoint.position:
            cursor.execute(
                store.sql(
                    f"INSERT INTO {TABLE} ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (position) DO NOTHING"
                ),
                (
                    checkpoint.position,
                    checkpoint.tree_size,
                    checkpoint.head,
                    checkpoint.tree_root,
                    checkpoint.frontier.pack(),
                    checkpoint.signed_at_us,
                    checkpoint.public_key,
                    checkpoint.signature,
                ),
            )
    stored = at_position(store, position)
    assert stored is not None
    return stored


def links(store: LogRecorder, after: int, upto: int, limit: int) -> list[tuple[int, bytes]]:
    """(position, link) of the log's rows after `after`, up to `upto`, at most `limit`."""
    with store.read_transaction() as cursor:
        cursor.execute(
            store.sql(
                f"SELECT position, link FROM {RECORDS} WHERE position > %s AND position <= %s "
                "ORDER BY position LIMIT %s"
            ),
            (after, upto, limit),
        )
        return [(int(row["position"]), bytes(row["link"])) for row in cursor.fetchall()]


def chunks(store: LogRecorder, upto: int) -> tuple[list[bytes], list[int]]:
    """The roots of the tree's whole chunks that end at or before `upto`, from the first, and
    the position of each one's last row."""
    ensure_table(store)
    with store.read_transaction() as cursor:
        cursor.execute(
            store.sql(
                f"SELECT chunk, last_position, root FROM {CHUNKS} WHERE last_position <= %s "
                "ORDER BY chunk"
            ),
            (upto,),
        )
        rows = cursor.fetchall()
    roots: list[bytes] = []
    lasts: list[int] = []
    for row in rows:
        if int(row["chunk"]) != len(roots):  # a gap: those after it cannot be placed
            break
        roots.append(bytes(row["root"]))
        lasts.append(int(row["last_position"]))
    return roots, lasts


def fill_chunks(store: LogRecorder, upto: int, *, batch: int = 64) -> int:
    """Store the root of every whole chunk of rows up to position `upto` not stored yet, reading
    only the rows after the last one stored; how many it stored. Concurrent callers store the
    same roots: the first wins."""
    roots, lasts = chunks(store, upto)
    number, after = len(roots), (lasts[-1] if lasts else 0)
    while True:
        made: list[tuple[int, int, bytes]] = []
        while len(made) < batch:
            rows = links(store, after, upto, CHUNK)
            if len(rows) < CHUNK:
                break
            root = tree_root([leaf_hash(link) for _, link in rows])
            after = rows[-1][0]
            made.append((number, after, root))
            number += 1
        if made:
            with store.write_transaction() as cursor:
                cursor.executemany(
                    store.sql(
                        f"INSERT INTO {CHUNKS} (chunk, last_position, root) VALUES (%s, %s, %s) "
                        "ON CONFLICT (chunk) DO NOTHING"
                    ),
                    made,
                )
        if len(made) < batch:
            return number - len(roots)
