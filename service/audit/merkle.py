"""A Merkle tree over the log in the style of RFC 6962 / RFC 9162: leaves, roots, inclusion proofs.

The leaf of a row is its hash-chain link, so a leaf commits to the row and to every row before it.
Pure functions over bytes; `GrowingTree` adds one leaf at a time keeping only a `Frontier`,
O(log n) hashes, which is what a checkpoint stores to carry the tree on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import msgspec

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


class Frontier(msgspec.Struct, frozen=True):
    """The roots of the perfect subtrees of a tree of `size` leaves, largest first."""

    size: int = 0
    hashes: tuple[bytes, ...] = ()

    def root(self) -> bytes:
        """The Merkle tree hash of the leaves so far (RFC 6962 MTH)."""
        if not self.hashes:
            return EMPTY_ROOT
        root = self.hashes[-1]
        for subtree in reversed(self.hashes[:-1]):
            root = node_hash(subtree, root)
        return root

    def is_consistent(self) -> bool:
        """One subtree per 1 bit of `size`, each a 32-byte hash."""
        return self.size.bit_count() == len(self.hashes) and all(len(h) == 32 for h in self.hashes)

    def pack(self) -> bytes:
        """The subtree hashes, concatenated, for storage."""
        return b"".join(self.hashes)

    @classmethod
    def unpack(cls, size: int, packed: bytes) -> Frontier:
        """A frontier from `pack()` output and its tree size."""
        return cls(size, tuple(packed[i : i + 32] for i in range(0, len(packed), 32)))


class GrowingTree:
    """A tree grown leaf by leaf from a frontier."""

    def __init__(self, start: Frontier) -> None:
        self.size = start.size
        self._hashes = list(start.hashes)

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash on the right."""
        hashes = self._hashes
        hashes.append(leaf)
        size = self.size
        while size & 1:
            right = hashes.pop()
            hashes[-1] = node_hash(hashes[-1], right)
            size >>= 1
        self.size += 1

    def frontier(self) -> Frontier:
        """The current frontier."""
        return Frontier(self.size, tuple(self._hashes))


def _split(size: int) -> int:
    """The largest power of two smaller than `size` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def tree_root(leaves: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of a list of leaf hashes."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(tree_root(leaves[:k]), tree_root(leaves[k:]))


def path_in(index: int, size: int, root: Callable[[int, int], bytes]) -> list[bytes]:
    """The audit path of leaf `index` in a tree of `size` leaves (RFC 6962 PATH), leaf side
    first, where `root(a, b)` is the Merkle tree hash of leaves a to b - 1."""
    if not 0 <= index < size:
        raise IndexError(f"leaf {index} is not in a tree of {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        middle = start + _split(end - start)
        if index < middle:
            path.append(root(middle, end))
            end = middle
        else:
            path.append(root(start, middle))
            start = middle
    path.reverse()
    return path


def inclusion_path(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The audit path of leaf `index` in the tree of `leaves` (RFC 6962 PATH), leaf side first."""
    return path_in(index, len(leaves), lambda start, end: tree_root(leaves[start:end]))


class Chunked:
    """A tree of `size` leaves known by the roots of its first whole chunks of `chunk` leaves
    (aligned perfect subtrees, so the MTH of a range made of whole chunks needs no leaf) and
    the hashes of the other leaves it is asked about."""

    def __init__(
        self, size: int, chunk_roots: Sequence[bytes], leaves: dict[int, bytes], chunk: int
    ) -> None:
        assert chunk & (chunk - 1) == 0, "a chunk is a power of two leaves"
        self.size, self.chunk_roots, self.leaves, self.chunk = size, chunk_roots, leaves, chunk

    def root(self, start: int = 0, end: int | None = None) -> bytes:
        """The Merkle tree hash of leaves `start` to `end - 1` (all by default)."""
        end = self.size if end is None else end
        if end - start == self.chunk and start % self.chunk == 0:
            number = start // self.chunk
            if number < len(self.chunk_roots):
                return self.chunk_roots[number]
        if end - start == 1:
            return self.leaves[start]
        if end == start:
            return EMPTY_ROOT
        middle = start + _split(end - start)
        return node_hash(self.root(start, middle), self.root(middle, end))

    def path(self, index: int) -> list[bytes]:
        """The audit path of leaf `index`: its chunk's leaves must be known."""
        return path_in(index, self.size, self.root)


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """Whether `path` proves leaf hash `leaf` at `index` in the tree of `tree_size` with `root`.

    The algorithm of RFC 9162 section 2.1.3.2; needs nothing from the server but these values.
    """
    if not 0 <= index < tree_size:
        return False
    fn, sn, result = index, tree_size - 1, leaf
    for sibling in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and result == root
