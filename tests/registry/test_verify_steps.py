"""Verification steps against a real contract on anvil.

The index is an in-memory stand-in (the database is pure bookkeeping here); the
chain is real, so every "read from the chain" claim is tested for real.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Sequence
from pathlib import Path

import pytest

from anchor.chain import IssuerStatus, RevocationReason
from anchor.merkle import MerkleBatch
from anchor.services.anvil import AnvilNode
from registry.documents.keys import create_test_signing_identity
from registry.documents.signing import sign_document, verify_signature
from registry.verify import CheckStatus, IndexedAnchoring, Verdict, verify_certificate
from registry.verify.signer import DeclaredSigningCertificate
from registry.verify.steps import IssuerSnapshot
from tests.anchor.registry_fixtures import PTB, RegistryWorld, deploy_world


@dataclasses.dataclass
class MemoryIndex:
    rows: list[IndexedAnchoring] = dataclasses.field(default_factory=list)
    status_at: str | None = "active"
    declarations: list[DeclaredSigningCertificate] = dataclasses.field(default_factory=list)

    def anchorings(self, sha256: str) -> Sequence[IndexedAnchoring]:
        return [r for r in self.rows if r.sha256 == sha256]

    def issuer(self, issuer_id: str) -> IssuerSnapshot | None:
        return IssuerSnapshot(issuer_id, "DE", "national-metrology-institute", "active")

    def issuer_status_at(self, issuer_id: str, block_number: int) -> str | None:
        return self.status_at

    def signing_certificates(self, issuer_id: str) -> Sequence[DeclaredSigningCertificate]:
        return self.declarations


@pytest.fixture(scope="module")
def world(anvil: AnvilNode) -> RegistryWorld:
    return deploy_world(anvil)


@pytest.fixture(scope="module")
def identity():
    return create_test_signing_identity("Test NMI signer", "Test NMI", "DE")


@pytest.fixture(scope="module")
def signed_documents(shared_dcc: Path, identity) -> list[bytes]:
    example = (shared_dcc / "examples" / "dcc_gp_temperature_simplified_v12.xml").read_bytes()
    marker = b"<dcc:uniqueIdentifier>"
    assert marker in example
    return [sign_document(example.replace(marker, marker + f"VERIFY-{i}-".encode(), 1),
                          identity).data for i in range(3)]


def anchor(world: RegistryWorld, documents: list[bytes],
           salt: str) -> tuple[MemoryIndex, list[str]]:
    digests = [hashlib.sha256(d).digest() for d in documents]
    batch = MerkleBatch.of(digests)
    anchored = world.ptb_operator.anchor_batch(batch.root, len(batch), f"manifest-{salt}")
    index = MemoryIndex()
    for document, digest in zip(documents, digests, strict=True):
        index.rows.append(IndexedAnchoring(
            sha256=digest.hex(), batch_id=anchored.batch.batch_id, issuer_id=PTB.hex(),
            merkle_root=batch.root.hex(), proof=tuple("0x" + p.hex() for p in batch.proof(digest)),
            transaction_hash=anchored.transaction_hash, block_number=anchored.batch.block_number,
            anchored_at=dt.datetime.fromtimestamp(anchored.batch.anchored_at, dt.UTC),
            manifest_cid=f"manifest-{salt}", cid="bafk-doc", document_type="dcc",
            unique_identifier=None, encrypted=False, metadata={"size": len(document)}))
    return index, [d.hex() for d in digests]


def run(index: MemoryIndex, world: RegistryWorld, sha256: str | None = None,
        document: bytes | None = None):
    return verify_certificate(sha256, document, index=index, chain=world.outsider,
                              verify_signature=verify_signature)


def test_verify_valid_by_hash_and_by_document(world, signed_documents) -> None:
    index, hashes = anchor(world, signed_documents, "valid")
    by_hash = run(index, world, sha256=hashes[0])
    assert by_hash.verdict is Verdict.VALID
    assert by_hash.anchoring.proof_checked_against_chain_root
    assert by_hash.issuer.code == "PTB" and by_hash.issuer.status_now == "active"
    assert by_hash.check("signature").status is CheckStatus.SKIPPED
    by_document = run(index, world, document=signed_documents[1])
    assert by_document.verdict is Verdict.VALID
    assert by_document.signature.status == "valid"
    assert "signature" in by_document.checks_run and "chain-root" in by_document.checks_run
    assert [c.number for c in by_document.checks] == list(range(1, 12))


def test_verify_unknown_document(world, signed_documents) -> None:
    index, _ = anchor(world, signed_documents[:1], "unknown")
    result = run(index, world, sha256=hashlib.sha256(b"never issued").hexdigest())
    assert result.verdict is Verdict.UNKNOWN
    assert result.check("index-lookup").status is CheckStatus.FAILED
    assert result.check("revocation").status is CheckStatus.SKIPPED


def test_verify_document_that_is_not_the_hash_asked_about(world, signed_documents) -> None:
    index, hashes = anchor(world, signed_documents[:2], "mismatch")
    result = run(index, world, sha256=hashes[0], document=signed_documents[1])
    assert result.verdict is Verdict.UNKNOWN
    assert result.check("document-hash").status is CheckStatus.FAILED


def test_verify_never_trusts_the_index_root(world, signed_documents) -> None:
    index, hashes = anchor(world, signed_documents, "tampered-index")
    # An attacker with database access invents an anchoring: a self-consistent tree
    # over a forged document, claimed to be batch 1's.
    forged = hashlib.sha256(b"forged certificate").digest()
    fake_batch = MerkleBatch.of([forged, hashlib.sha256(b"x").digest()])
    index.rows.append(dataclasses.replace(
        index.rows[0], sha256=forged.hex(), merkle_root=fake_batch.root.hex(),
        proof=tuple("0x" + p.hex() for p in fake_batch.proof(forged))))
    result = run(index, world, sha256=forged.hex())
    assert result.verdict is Verdict.UNKNOWN
    assert result.check("merkle-proof").status is CheckStatus.PASSED
    assert result.check("chain-root").status is CheckStatus.FAILED
    # A corrupted proof in the index is caught before the chain is asked.
    index.rows[0] = dataclasses.replace(index.rows[0], proof=("0x" + "00" * 32,))
    assert run(index, world, sha256=hashes[0]).check("merkle-proof").status is \
        CheckStatus.FAILED


def test_verify_revoked_with_reason_and_replacement(world, signed_documents) -> None:
    index, hashes = anchor(world, signed_documents, "revoked")
    row = index.rows[2]
    replacement = hashlib.sha256(b"corrected").digest()
    world.ptb_operator.revoke(bytes.fromhex(hashes[2]), row.batch_id,
                              [bytes.fromhex(p[2:]) for p in row.proof],
                              RevocationReason.SUPERSEDED, replacement)
    result = run(index, world, document=signed_documents[2])
    assert result.verdict is Verdict.REVOKED
    assert result.revocation.reason == "superseded"
    assert result.revocation.replacement == "0x" + replacement.hex()
    assert run(index, world, sha256=hashes[0]).verdict is Verdict.VALID


def test_verify_issuer_not_authorised_at_issue(world, signed_documents, identity) -> None:
    index, hashes = anchor(world, signed_documents, "authorisation")
    index.status_at = IssuerStatus.SUSPENDED.name.lower()
    assert run(index, world, sha256=hashes[0]).verdict is Verdict.ISSUER_NOT_AUTHORISED_AT_ISSUE
    index.status_at = "active"
    assert run(index, world, sha256=hashes[0]).verdict is Verdict.VALID


def test_verify_signature_invalid_even_when_anchored(world, signed_documents) -> None:
    tampered = signed_documents[0].replace(b"VERIFY-0-", b"VERIFY-X-", 1)
    index, _ = anchor(world, [tampered], "bad-signature")
    result = run(index, world, document=tampered)
    assert result.verdict is Verdict.SIGNATURE_INVALID
    assert result.check("signature").status is CheckStatus.FAILED
    assert result.check("contract-verify").status is CheckStatus.PASSED
