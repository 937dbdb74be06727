"""Renewal manifests as the indexer reads them (pure: no chain needed to check a
manifest's own consistency): every leaf must cover its evidence, the tree its root."""

from __future__ import annotations

import hashlib
import json

import pytest

from anchor.evidence import KIND_HASH_TREE, KIND_MIGRATION, EvidenceRecord, renewal_leaf
from anchor.merkle import MerkleBatch
from anchor.receipt import Receipt
from anchor.renewal_tree import SortedPairTree
from registry.errors import ManifestInvalidError
from registry.index.renewal_manifest import RenewalManifest, is_renewal_manifest

DOCUMENTS = [f"<certificate>{i}</certificate>".encode() for i in range(3)]


def records() -> list[EvidenceRecord]:
    digests = [hashlib.sha256(d).digest() for d in DOCUMENTS]
    tree = MerkleBatch.of(digests)
    return [EvidenceRecord(Receipt(
        document_sha256="0x" + d.hex(), cid="bafkreitest", batch_id=1,
        merkle_root=tree.root, proof=tuple("0x" + p.hex() for p in tree.proof(d)),
        chain_id=31337, contract_address="0x" + "11" * 20, transaction_hash="0x" + "22" * 32,
        block_number=5, block_hash="0x" + "33" * 32, issuer_id="0x" + "44" * 32,
        anchored_at=1_764_700_000, manifest_cid="bafkreimanifest", encrypted=False))
        for d in digests]


def hash_tree_manifest(algorithm: str = "sha512") -> RenewalManifest:
    covered = [(r, *renewal_leaf(r, KIND_HASH_TREE, algorithm, d))
               for r, d in zip(records(), DOCUMENTS, strict=True)]
    tree = SortedPairTree.of(algorithm, (leaf for _, leaf, _ in covered))
    return RenewalManifest.of(KIND_HASH_TREE, algorithm, tree.root, covered)


def test_renewal_manifest_round_trips_and_gives_each_leaf_its_path() -> None:
    manifest = hash_tree_manifest()
    data = manifest.to_bytes()
    assert is_renewal_manifest(data)
    parsed = RenewalManifest.from_bytes(data)
    assert parsed == manifest and len(parsed.words) == 2  # a SHA-512 root: two words
    tree = SortedPairTree.of("sha512", (c.leaf for c in manifest.covers))
    assert parsed.paths() == {c.leaf: tree.path(c.leaf) for c in manifest.covers}


@pytest.mark.parametrize("tamper", [
    lambda v: v["covers"][0]["evidence"]["receipt"].update(block_number=6),  # P_i edited
    lambda v: v["covers"][1].update(document_digest="0x" + "55" * 64),
    lambda v: v.update(root="0x" + "66" * 64),
    lambda v: v["covers"].pop(),  # a leaf left out: the tree no longer leads to the root
    lambda v: v["covers"][0].update(document_sha256=v["covers"][1]["document_sha256"]),
    lambda v: v["covers"][0].update(revocation={"reason": "withdrawn"}),
    lambda v: v.update(format="certreg-renewal-manifest/1"),
])
def test_inconsistent_renewal_manifest_is_refused(tamper) -> None:
    value = json.loads(hash_tree_manifest().to_bytes())
    tamper(value)
    with pytest.raises(ManifestInvalidError):
        RenewalManifest.from_bytes(json.dumps(value, sort_keys=True).encode())


def test_migration_manifest_carries_revocations() -> None:
    covered = [(r, renewal_leaf(r, KIND_MIGRATION, "sha3-256")[0], None) for r in records()]
    tree = MerkleBatch.of(leaf for _, leaf, _ in covered)
    revocation = {"reason": "withdrawn", "revoked_at": 1_764_700_100,
                  "effective_from": 1_764_600_000, "replacement": None}
    manifest = RenewalManifest.of(KIND_MIGRATION, "sha3-256", tree.root, covered,
                                  {covered[0][0].document_sha256: revocation})
    parsed = RenewalManifest.from_bytes(manifest.to_bytes())
    assert [c.revocation for c in parsed.covers] == [revocation, None, None]
    assert parsed.paths()[covered[1][1]] == tuple(tree.proof(covered[1][1]))
