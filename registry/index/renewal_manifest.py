"""Renewal manifests (`certreg-renewal-manifest/2`): what a renewal batch covers, stored on
IPFS next to its root like a batch manifest (registry.index.manifest).

Each entry carries the evidence record it renews (P_i of docs/evidence-records.md) and, for
a hash-tree renewal, the document's digest under the new algorithm. With the anchoring
that is everything a renewal adds to a record, so the indexer rebuilds every document's
evidence record from chain + IPFS alone; `from_bytes` refuses a manifest whose leaves do
not cover its records or whose tree does not lead to its root.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from anchor.errors import EvidenceError, MerkleError
from anchor.evidence import (
    DIGEST_SIZES,
    KIND_HASH_TREE,
    KIND_MIGRATION,
    RENEWAL_ALGORITHMS,
    WORD,
    EvidenceRecord,
    SortedPairTree,
    canonical_json,
)
from anchor.merkle import MerkleBatch
from anchor.renewal_tree import digest_of
from registry.errors import ManifestInvalidError
from registry.index.manifest import load_manifest_json

RENEWAL_MANIFEST_FORMAT = "certreg-renewal-manifest/2"


@dataclass(frozen=True)
class RenewalCover:
    record: EvidenceRecord  # the evidence renewed (P_i)
    leaf: bytes
    document_digest: bytes | None  # H(document bytes), hash-tree renewals only
    # A migration's: the revocation the old contract held ({reason, revoked_at,
    # effective_from, replacement}); the new contract's revocation time is the migration's.
    revocation: dict[str, Any] | None = None

    @property
    def document_sha256(self) -> str:
        return self.record.document_sha256


@dataclass(frozen=True)
class RenewalManifest:
    kind: str
    algorithm: str
    root: bytes  # the whole root: one or two 32-byte words
    covers: tuple[RenewalCover, ...]

    @classmethod
    def of(cls, kind: str, algorithm: str, root: bytes,
           covered: Iterable[tuple[EvidenceRecord, bytes, bytes | None]],
           revocations: Mapping[str, dict[str, Any]] | None = None) -> RenewalManifest:
        revocations = revocations or {}
        return cls(kind, algorithm, root, tuple(
            RenewalCover(r, leaf, digest, revocations.get(r.document_sha256))
            for r, leaf, digest in covered))

    def to_bytes(self) -> bytes:
        return canonical_json({
            "format": RENEWAL_MANIFEST_FORMAT, "kind": self.kind, "algorithm": self.algorithm,
            "root": "0x" + self.root.hex(),
            "covers": [{"document_sha256": c.document_sha256, "leaf": "0x" + c.leaf.hex(),
                        "document_digest": None if c.document_digest is None
                        else "0x" + c.document_digest.hex(),
                        "evidence": c.record.to_dict(), "revocation": c.revocation}
                       for c in self.covers]})

    @property
    def words(self) -> tuple[bytes, ...]:
        return tuple(self.root[i:i + WORD] for i in range(0, len(self.root), WORD))

    def paths(self) -> dict[bytes, tuple[bytes, ...]]:
        """Each leaf's path to the root, in the kind's tree."""
        leaves = [c.leaf for c in self.covers]
        if self.kind == KIND_HASH_TREE:
            tree = SortedPairTree.of(self.algorithm, leaves)
            return {leaf: tree.path(leaf) for leaf in leaves}
        batch = MerkleBatch.of(leaves)
        return {leaf: tuple(batch.proof(leaf)) for leaf in leaves}

    @classmethod
    def from_bytes(cls, data: bytes) -> RenewalManifest:
        """The manifest, checked: every leaf covers its record, the tree leads to the root."""
        value = load_manifest_json(data, RENEWAL_MANIFEST_FORMAT)
        kind, algorithm = value.get("kind"), value.get("algorithm")
        if kind not in (KIND_HASH_TREE, KIND_MIGRATION) or algorithm not in RENEWAL_ALGORITHMS:
            raise ManifestInvalidError("unknown renewal kind or algorithm")
        size = DIGEST_SIZES[algorithm]
        covers = value.get("covers")
        if not isinstance(covers, list) or not covers:
            raise ManifestInvalidError("a renewal manifest covers a list of records")
        try:
            root = _bytes(value.get("root"), size if kind == KIND_HASH_TREE else WORD)
            parsed = tuple(_cover(kind, algorithm, entry) for entry in covers)
            manifest = cls(kind, algorithm, root, parsed)
            computed = (SortedPairTree.of(algorithm, (c.leaf for c in parsed)).root
                        if kind == KIND_HASH_TREE else MerkleBatch.of(c.leaf for c in parsed).root)
        except (EvidenceError, MerkleError) as exc:
            raise ManifestInvalidError(f"malformed renewal manifest: {exc.message}") from None
        if bytes(computed) != root:
            raise ManifestInvalidError("the renewal manifest's leaves do not lead to its root")
        return manifest


def is_renewal_manifest(data: bytes) -> bool:
    """Cheaply: canonical JSON sorts keys, so a renewal manifest (any version) starts with
    its algorithm and a batch manifest with its count."""
    return data.startswith(b'{"algorithm":')


def _bytes(value: object, size: int) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 2 + 2 * size:
        raise ManifestInvalidError(f"expected {size} bytes as 0x-prefixed hex")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise ManifestInvalidError(f"expected {size} bytes as 0x-prefixed hex") from None


def _cover(kind: str, algorithm: str, entry: object) -> RenewalCover:
    if not isinstance(entry, dict):
        raise ManifestInvalidError("a renewal manifest entry is an object")
    record = EvidenceRecord.from_dict(entry.get("evidence"))
    if entry.get("document_sha256") != record.document_sha256:
        raise ManifestInvalidError("an entry names another document than its evidence")
    size = DIGEST_SIZES[algorithm]
    leaf = _bytes(entry.get("leaf"), size)
    digest = None if kind == KIND_MIGRATION else _bytes(entry.get("document_digest"), size)
    previous = digest_of(algorithm, canonical_json(record.to_dict()))
    bound = digest if digest is not None else record.receipt.document_digest()
    if digest_of(algorithm, bound + previous) != leaf:
        raise ManifestInvalidError("an entry's leaf does not cover its evidence",
                                   document=record.document_sha256)
    revocation = entry.get("revocation")
    if revocation is not None and (
            kind != KIND_MIGRATION or not isinstance(revocation, dict)
            or set(revocation) != {"reason", "revoked_at", "effective_from", "replacement"}
            or not isinstance(revocation["reason"], str)
            or not all(isinstance(revocation[k], int) and not isinstance(revocation[k], bool)
                       for k in ("revoked_at", "effective_from"))
            or not (revocation["replacement"] is None
                    or isinstance(revocation["replacement"], str))):
        raise ManifestInvalidError("malformed carried revocation",
                                   document=record.document_sha256)
    return RenewalCover(record, leaf, digest, revocation)
