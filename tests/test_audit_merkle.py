"""The Merkle tree follows RFC 6962: roots, frontiers and inclusion proofs, checked exhaustively
for small trees against the RFC's recursive definitions."""

from __future__ import annotations

import hashlib

import pytest

from service.audit.merkle import (
    EMPTY_ROOT,
    Chunked,
    Frontier,
    GrowingTree,
    inclusion_path,
    leaf_hash,
    node_hash,
    tree_root,
    verify_inclusion,
)


def leaves(count: int) -> list[bytes]:
    return [leaf_hash(f"row {i}".encode()) for i in range(count)]


def rfc_mth(items: list[bytes]) -> bytes:
    """MTH of RFC 6962 section 2.1, written as the RFC states it."""
    if not items:
        return hashlib.sha256(b"").digest()
    if len(items) == 1:
        return items[0]
    k = 1
    while k * 2 < len(items):
        k *= 2
    return node_hash(rfc_mth(items[:k]), rfc_mth(items[k:]))


def rfc_path(m: int, items: list[bytes]) -> list[bytes]:
    """PATH of RFC 6962 section 2.1.1."""
    if len(items) == 1:
        return []
    k = 1
    while k * 2 < len(items):
        k *= 2
    if m < k:
        return [*rfc_path(m, items[:k]), rfc_mth(items[k:])]
    return [*rfc_path(m - k, items[k:]), rfc_mth(items[:k])]


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert tree_root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("size", range(34))
def test_growing_tree_root_equals_the_rfc_root_at_every_size(size: int) -> None:
    tree = GrowingTree(Frontier())
    for leaf in leaves(size):
        tree.append(leaf)
    frontier = tree.frontier()
    assert frontier.size == size and frontier.is_consistent()
    assert frontier.root() == tree_root(leaves(size)) == rfc_mth(leaves(size))


def test_frontier_survives_packing_and_grows_on_from_where_it_stopped() -> None:
    # Given a tree of 13 leaves stored as a packed frontier
    tree = GrowingTree(Frontier())
    for leaf in leaves(13):
        tree.append(leaf)
    stored = tree.frontier()
    restored = Frontier.unpack(13, stored.pack())
    # When it is grown to 21 from the stored frontier
    resumed = GrowingTree(restored)
    for leaf in leaves(21)[13:]:
        resumed.append(leaf)
    # Then the root is the root of all 21 leaves
    assert restored == stored
    assert resumed.frontier().root() == tree_root(leaves(21))


def test_frontier_with_a_missing_subtree_is_not_consistent() -> None:
    assert not Frontier(13, (bytes(32), bytes(32))).is_consistent()


@pytest.mark.parametrize("size", range(1, 34))
def test_every_leaf_has_the_rfc_path_and_it_verifies(size: int) -> None:
    items = leaves(size)
    root = tree_root(items)
    for index in range(size):
        path = inclusion_path(index, items)
        assert path == rfc_path(index, items)
        assert verify_inclusion(items[index], index, size, path, root)


def test_proof_fails_for_another_leaf_index_size_root_or_sibling() -> None:
    items = leaves(11)
    root = tree_root(items)
    path = inclusion_path(6, items)
    assert verify_inclusion(items[6], 6, 11, path, root)
    assert not verify_inclusion(items[5], 6, 11, path, root)
    assert not verify_inclusion(items[6], 5, 11, path, root)
    assert not verify_inclusion(items[6], 6, 7, path, root)
    assert not verify_inclusion(items[6], 6, 11, path, tree_root(items[:10]))
    assert not verify_inclusion(items[6], 6, 11, [path[0], bytes(32), *path[2:]], root)
    assert not verify_inclusion(items[6], 6, 11, path[:-1], root)
    assert not verify_inclusion(items[6], 11, 11, path, root)


def test_path_of_a_leaf_outside_the_tree_is_refused() -> None:
    with pytest.raises(IndexError):
        inclusion_path(3, leaves(3))


@pytest.mark.parametrize("size", range(1, 40))
def test_a_tree_known_by_its_chunk_roots_gives_the_rfc_root_and_paths(size: int) -> None:
    # Given a tree whose first whole chunks of 4 leaves are known only by their roots
    items = leaves(size)
    for known in range(size // 4 + 1):
        roots = [tree_root(items[4 * c : 4 * c + 4]) for c in range(known)]
        tail = {i: items[i] for i in range(4 * known, size)}
        assert Chunked(size, roots, tail, 4).root() == rfc_mth(items)
        for index in range(size):
            # When the path of a leaf is asked with only its chunk's leaves and the tail's
            chunk = index // 4
            own = {i: items[i] for i in range(4 * chunk, 4 * chunk + 4)} if chunk < known else {}
            path = Chunked(size, roots, tail | own, 4).path(index)
            # Then it is the RFC's path (a leaf it was not given would raise KeyError)
            assert path == rfc_path(index, items)
