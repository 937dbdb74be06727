"""Renewal hash trees (`certreg-sorted-pair/1`) over a chosen algorithm, for evidence
records (anchor/evidence.py, docs/evidence-records.md)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from anchor.errors import EvidenceError, MerkleError

# Renewal algorithms. A root is anchored as contract words of 32 bytes each, never hashed
# down with an older algorithm: a SHA-512 root takes two anchorings (docs/evidence-records.md).
RENEWAL_ALGORITHMS: dict[str, Callable[[bytes], bytes]] = {
    "sha3-256": lambda data: hashlib.sha3_256(data).digest(),
    "sha512": lambda data: hashlib.sha512(data).digest(),
    "sha256": lambda data: hashlib.sha256(data).digest(),
}
DIGEST_SIZES = {"sha3-256": 32, "sha512": 64, "sha256": 32}
WORD = 32


def digest_of(algorithm: str, data: bytes) -> bytes:
    try:
        return RENEWAL_ALGORITHMS[algorithm](data)
    except KeyError:
        raise EvidenceError(f"unsupported renewal algorithm {algorithm!r}",
                            supported=sorted(RENEWAL_ALGORITHMS)) from None


def _node(algorithm: str, a: bytes, b: bytes) -> bytes:
    return digest_of(algorithm, b"\x01" + min(a, b) + max(a, b))


def tree_leaf(algorithm: str, value: bytes) -> bytes:
    """Leaves and inner nodes are domain-separated (0x00 / 0x01), as in RFC 6962."""
    return digest_of(algorithm, b"\x00" + value)


def sorted_pair_root(algorithm: str, value: bytes, path: Sequence[bytes]) -> bytes:
    node = tree_leaf(algorithm, value)
    for sibling in path:
        node = _node(algorithm, node, sibling)
    return node


@dataclass(frozen=True)
class SortedPairTree:
    """`certreg-sorted-pair/1`: leaves sorted, pairs hashed smaller first, an odd node
    moves up unchanged, so a path is the list of siblings alone."""

    algorithm: str
    levels: tuple[tuple[bytes, ...], ...]
    _index: dict[bytes, int] = field(repr=False, compare=False)

    @classmethod
    def of(cls, algorithm: str, values: Iterable[bytes]) -> SortedPairTree:
        leaves = sorted({tree_leaf(algorithm, v): v for v in values}.items())
        if not leaves:
            raise MerkleError("a renewal tree needs at least one leaf")
        level = tuple(node for node, _ in leaves)
        levels = [level]
        while len(level) > 1:
            level = tuple(_node(algorithm, level[i], level[i + 1]) if i + 1 < len(level)
                          else level[i] for i in range(0, len(level), 2))
            levels.append(level)
        return cls(algorithm, tuple(levels), {v: i for i, (_, v) in enumerate(leaves)})

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    def path(self, value: bytes) -> tuple[bytes, ...]:
        try:
            i = self._index[value]
        except KeyError:
            raise MerkleError("value is not a leaf of this renewal tree") from None
        siblings = []
        for level in self.levels[:-1]:
            sibling = i ^ 1
            if sibling < len(level):
                siblings.append(level[sibling])
            i //= 2
        return tuple(siblings)
