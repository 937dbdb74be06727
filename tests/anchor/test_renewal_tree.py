"""certreg-sorted-pair/1 renewal trees: every path leads to the root, nothing else does,
and the root is what the documented rule gives (computed here independently)."""

from __future__ import annotations

import hashlib

import pytest

from anchor.errors import EvidenceError, MerkleError
from anchor.renewal_tree import DIGEST_SIZES, SortedPairTree, sorted_pair_root, tree_leaf


def values(n: int, size: int) -> list[bytes]:
    return [hashlib.shake_256(f"value {i}".encode()).digest(size) for i in range(n)]


def documented_root(algorithm: str, leaves: list[bytes]) -> bytes:
    """docs/evidence-records.md, literally: H(0x00||v) sorted, H(0x01||min||max) pairwise,
    an odd last node moves up."""
    h = {"sha3-256": hashlib.sha3_256, "sha512": hashlib.sha512,
         "sha256": hashlib.sha256}[algorithm]
    level = sorted(h(b"\x00" + v).digest() for v in leaves)
    while len(level) > 1:
        pairs = [level[i:i + 2] for i in range(0, len(level), 2)]
        level = [h(b"\x01" + min(p) + max(p)).digest() if len(p) == 2 else p[0]
                 for p in pairs]
    return level[0]


@pytest.mark.parametrize("algorithm", sorted(DIGEST_SIZES))
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13])
def test_every_path_leads_to_the_documented_root(algorithm: str, n: int) -> None:
    leaves = values(n, DIGEST_SIZES[algorithm])
    tree = SortedPairTree.of(algorithm, leaves)
    assert tree.root == documented_root(algorithm, leaves)
    assert len(tree.root) == DIGEST_SIZES[algorithm]
    for value in leaves:
        assert sorted_pair_root(algorithm, value, tree.path(value)) == tree.root
    outsider = values(n + 1, DIGEST_SIZES[algorithm])[-1]
    with pytest.raises(MerkleError):
        tree.path(outsider)
    assert sorted_pair_root(algorithm, outsider, tree.path(leaves[0])) != tree.root


def test_an_inner_node_is_no_leaf() -> None:
    """Domain separation: presenting an inner node as a leaf value with the rest of the
    path does not reach the root."""
    leaves = values(4, 32)
    tree = SortedPairTree.of("sha3-256", leaves)
    inner = tree.levels[1][0]
    assert sorted_pair_root("sha3-256", inner, tree.levels[1][1:2]) != tree.root
    assert tree_leaf("sha3-256", inner) != inner


def test_unknown_algorithm_and_empty_tree_are_refused() -> None:
    with pytest.raises(EvidenceError):
        SortedPairTree.of("md5", values(2, 16))
    with pytest.raises(MerkleError):
        SortedPairTree.of("sha3-256", [])
