"""The `checkpoints` table, kept in the log's own database on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import weakref
from typing import Any

import msgspec

from service.audit.merkle import Frontier
from service.store.log import LogRecorder

TABLE = "checkpoints"
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


def covering(store: LogRecorder, position: int) -> StoredCheckpoint | None:
    """The earliest checkpoint whose tree includes `position`."""
    return _one(store, "WHERE position >= %s ORDER BY position LIMIT 1", (position,))


def insert(store: LogRecorder, checkpoint: StoredCheckpoint) -> StoredCheckpoint:
    """Store a checkpoint; if one was stored at that position meanwhile, answer that one."""
    ensure_table(store)
    with store.write_transaction() as cursor:
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
    stored = at_position(store, checkpoint.position)
    assert stored is not None
    return stored
