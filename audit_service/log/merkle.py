"""RFC 6962 Merkle trees over a segment's records: roots, audit paths and their check."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

# RFC 6962 domain separation: a leaf can never be mistaken for an interior node.
_LEAF = b"\x00"
_NODE = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(record_hash: str) -> bytes:
    """The leaf of one record: its chain hash (hex), which covers its content and prev_hash."""
    return hashlib.sha256(_LEAF + bytes.fromhex(record_hash)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two below `size` (size >= 2): where RFC 6962 splits a tree."""
    return 1 << ((size - 1).bit_length() - 1)


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 6962."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def audit_path(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(m, D[n]) of RFC 6962: the sibling hashes from leaf `index` up to the root."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} of a tree of {len(leaves)}")
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*audit_path(leaves[:k], index), merkle_root(leaves[k:])]
    return [*audit_path(leaves[k:], index - k), merkle_root(leaves[:k])]


def root_from_path(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes | None:
    """The root that `path` leads to from `leaf` at `index` in a tree of `size` leaves
    (RFC 9162 §2.1.3.2); None when the path cannot belong to such a tree."""
    if not 0 <= index < size:
        return None
    fn, sn, node = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            node = node_hash(node, sibling)
        fn >>= 1
        sn >>= 1
    return node if sn == 0 else None


class MerkleAccumulator:
    """The root of a growing list of leaves in O(log n) memory and time per leaf: the
    perfect subtrees of the binary decomposition of n, largest first."""

    def __init__(self) -> None:
        self.size = 0
        self._peaks: list[tuple[int, bytes]] = []

    def add(self, leaf: bytes) -> None:
        self.size += 1
        peaks = self._peaks
        peaks.append((1, leaf))
        while len(peaks) >= 2 and peaks[-1][0] == peaks[-2][0]:
            (count, right), (_, left) = peaks.pop(), peaks.pop()
            peaks.append((2 * count, node_hash(left, right)))

    def root(self) -> bytes:
        """Equal to merkle_root of the leaves added so far."""
        if not self._peaks:
            return EMPTY_ROOT
        node = self._peaks[-1][1]
        for _, peak in reversed(self._peaks[:-1]):
            node = node_hash(peak, node)
        return node
