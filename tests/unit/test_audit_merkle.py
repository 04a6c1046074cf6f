"""RFC 6962 Merkle trees: roots, the incremental root, audit paths and their check."""

from __future__ import annotations

import hashlib

import pytest

from audit_service.log.merkle import (
    EMPTY_ROOT,
    MerkleAccumulator,
    audit_path,
    leaf_hash,
    merkle_root,
    node_hash,
    root_from_path,
)

LEAVES = [leaf_hash(hashlib.sha256(bytes([i])).hexdigest()) for i in range(13)]


def test_roots_follow_rfc_6962() -> None:
    a, b, c = LEAVES[:3]
    assert merkle_root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert merkle_root([a]) == a
    assert merkle_root([a, b]) == node_hash(a, b)
    # Three leaves split 2 + 1: the largest power of two first.
    assert merkle_root([a, b, c]) == node_hash(node_hash(a, b), c)
    assert leaf_hash("00" * 32) == hashlib.sha256(b"\x00" + bytes(32)).digest()


def test_the_incremental_root_equals_the_root_at_every_size() -> None:
    tree = MerkleAccumulator()
    assert tree.root() == EMPTY_ROOT
    for size, leaf in enumerate(LEAVES, start=1):
        tree.add(leaf)
        assert (tree.size, tree.root()) == (size, merkle_root(LEAVES[:size]))


@pytest.mark.parametrize("size", range(1, len(LEAVES) + 1))
def test_every_leaf_has_a_path_to_the_root(size: int) -> None:
    leaves = LEAVES[:size]
    root = merkle_root(leaves)
    for index, leaf in enumerate(leaves):
        assert root_from_path(leaf, index, size, audit_path(leaves, index)) == root


def test_a_path_proves_only_its_own_leaf_and_position() -> None:
    # (The tree size is not proven by the path: the signed checkpoint states it.)
    leaves = LEAVES[:7]
    root = merkle_root(leaves)
    path = audit_path(leaves, 3)
    assert root_from_path(LEAVES[4], 3, 7, path) != root
    assert root_from_path(leaves[3], 2, 7, path) != root
    assert root_from_path(leaves[3], 3, 7, path[:-1]) != root
    assert root_from_path(leaves[3], 7, 7, path) is None
    with pytest.raises(IndexError):
        audit_path(leaves, 7)
