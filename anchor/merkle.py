"""Merkle batches compatible with OpenZeppelin's `MerkleProof` and `StandardMerkleTree`.

A batch commits to many document digests with one 32-byte root on chain. The
layout is exactly `@openzeppelin/merkle-tree`'s StandardMerkleTree with leaf
encoding `["bytes32"]` (sorted leaves, array-backed complete binary tree,
commutative pair hashing), so proofs built here verify with
`MerkleProof.verify` on chain and with the JavaScript library off chain.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from eth_hash.auto import keccak

from anchor.errors import MerkleError


def leaf_hash(document_digest: bytes) -> bytes:
    """keccak256(bytes.concat(keccak256(abi.encode(bytes32)))) — the double hash
    keeps a leaf from ever being mistaken for an inner node (second-preimage)."""
    if len(document_digest) != 32:
        raise MerkleError("a leaf value is a 32-byte document digest")
    return keccak(keccak(document_digest))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """OpenZeppelin's commutative keccak256: the smaller node first."""
    return keccak(a + b) if a < b else keccak(b + a)


def process_proof(leaf: bytes, proof: Iterable[bytes]) -> bytes:
    node = leaf
    for sibling in proof:
        if len(sibling) != 32:
            raise MerkleError("every proof element is 32 bytes")
        node = hash_pair(node, sibling)
    return node


def verify_proof(root: bytes, document_digest: bytes, proof: Sequence[bytes]) -> bool:
    """True when `proof` shows `document_digest` is a leaf of the tree with `root`."""
    return process_proof(leaf_hash(document_digest), proof) == root


@dataclass(frozen=True)
class MerkleBatch:
    """An immutable Merkle tree over distinct document digests.

    `tree` is the array form: tree[0] is the root, the children of i are 2i+1
    and 2i+2, and the leaves fill the last len(digests) slots in sorted order.
    """

    document_digests: tuple[bytes, ...]
    tree: tuple[bytes, ...]
    _tree_index: dict[bytes, int] = field(repr=False, compare=False)

    @classmethod
    def of(cls, document_digests: Iterable[bytes]) -> MerkleBatch:
        digests = tuple(document_digests)
        if not digests:
            raise MerkleError("a batch needs at least one document")
        leaves = [leaf_hash(d) for d in digests]
        if len(set(leaves)) != len(leaves):
            raise MerkleError("a batch must not contain the same document twice")
        order = sorted(range(len(digests)), key=leaves.__getitem__)
        size = 2 * len(leaves) - 1
        nodes: list[bytes] = [b""] * size
        tree_index: dict[bytes, int] = {}
        for rank, original in enumerate(order):
            position = size - 1 - rank
            nodes[position] = leaves[original]
            tree_index[digests[original]] = position
        for i in range(size - 1 - len(leaves), -1, -1):
            nodes[i] = hash_pair(nodes[2 * i + 1], nodes[2 * i + 2])
        return cls(digests, tuple(nodes), tree_index)

    @property
    def root(self) -> bytes:
        return self.tree[0]

    def __len__(self) -> int:
        return len(self.document_digests)

    def __contains__(self, document_digest: object) -> bool:
        return document_digest in self._tree_index

    def proof(self, document_digest: bytes) -> tuple[bytes, ...]:
        """Sibling hashes from the leaf up to (not including) the root."""
        try:
            i = self._tree_index[document_digest]
        except KeyError:
            raise MerkleError("document is not in this batch") from None
        siblings: list[bytes] = []
        while i > 0:
            siblings.append(self.tree[i + 1 if i % 2 else i - 1])
            i = (i - 1) // 2
        return tuple(siblings)
