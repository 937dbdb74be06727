"""Merkle batches compatible with OpenZeppelin's `MerkleProof` and `StandardMerkleTree`.

A batch commits to many document digests with one 32-byte root on chain. The
layout is exactly `@openzeppelin/merkle-tree`'s StandardMerkleTree with leaf
encoding `["bytes32"]` (sorted leaves, array-backed complete binary tree,
commutative pair hashing), so proofs built here verify with
`MerkleProof.verify` on chain and with the JavaScript library off chain.
"""

from __future__ import annotations

from collections import deque
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

    def position(self, document_digest: bytes) -> int:
        """The document's leaf index in `tree` (leaves fill it from the end, in sorted order)."""
        try:
            return self._tree_index[document_digest]
        except KeyError:
            raise MerkleError("document is not in this batch") from None

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

    def multiproof(self, document_digests: Iterable[bytes]) -> MultiProof:
        """One proof for several documents, exactly as `@openzeppelin/merkle-tree`'s
        `getMultiProof` builds it (so `MerkleProof.multiProofVerify` accepts it): the
        documents come back in the order the proof needs them, deepest right-most first."""
        indices = [self.position(digest) for digest in document_digests]
        if not indices:
            raise MerkleError("a multiproof needs at least one document")
        indices.sort(reverse=True)
        if len(set(indices)) != len(indices):
            raise MerkleError("a multiproof cannot prove the same document twice")
        by_index = {i: d for d, i in self._tree_index.items()}
        queue = deque(indices)
        proof: list[bytes] = []
        flags: list[bool] = []
        while queue and queue[0] > 0:
            j = queue.popleft()
            sibling = j + 1 if j % 2 else j - 1
            if queue and queue[0] == sibling:
                flags.append(True)
                queue.popleft()
            else:
                flags.append(False)
                proof.append(self.tree[sibling])
            queue.append((j - 1) // 2)
        return MultiProof(tuple(by_index[i] for i in indices), tuple(proof), tuple(flags))


@dataclass(frozen=True)
class MultiProof:
    """Several documents' inclusion in one tree: OpenZeppelin's multiproof."""

    document_digests: tuple[bytes, ...]  # in the order the proof consumes their leaves
    proof: tuple[bytes, ...]
    proof_flags: tuple[bool, ...]


def process_multiproof(leaves: Sequence[bytes], proof: Sequence[bytes],
                       proof_flags: Sequence[bool]) -> bytes:
    """The root `leaves` lead to by `proof` and `proof_flags` (OpenZeppelin's algorithm)."""
    if len(leaves) + len(proof) != len(proof_flags) + 1:
        raise MerkleError("multiproof lengths do not fit together")
    if any(len(node) != 32 for node in (*leaves, *proof)):
        raise MerkleError("every leaf and proof element is 32 bytes")
    queue = deque(leaves)
    siblings = iter(proof)
    for flag in proof_flags:
        a = queue.popleft()
        b = queue.popleft() if flag else next(siblings)
        queue.append(hash_pair(a, b))
    if next(siblings, None) is not None:
        raise MerkleError("multiproof has unused proof elements")
    if proof_flags:
        return queue.pop()
    return leaves[0] if leaves else proof[0]


def verify_multiproof(root: bytes, multiproof: MultiProof) -> bool:
    leaves = [leaf_hash(d) for d in multiproof.document_digests]
    try:
        return process_multiproof(leaves, multiproof.proof, multiproof.proof_flags) == root
    except (MerkleError, IndexError, StopIteration):
        return False
