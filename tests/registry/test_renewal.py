"""Long-term validity against real anvil chains: a renewed receipt outlives SHA-256 in
the trust policy, tampering is refused by the step responsible, and a registry migrated
to a fresh contract keeps every verdict when the old chain is gone."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path

import jsonschema
import pytest

from anchor.chain import RegistryClient, RevocationReason
from anchor.evidence import (
    STEP_ANCHORINGS,
    STEP_DOCUMENT_HASH,
    STEP_RENEWAL_LEAVES,
    STEP_RENEWAL_PATHS,
    STEP_REVOCATION,
    STEP_TRUST_POLICY,
    EvidenceRecord,
    TrustPolicy,
    verify_evidence_record,
)
from anchor.merkle import MerkleBatch
from anchor.receipt import Receipt, StepStatus, Verdict
from anchor.services.anvil import AnvilNode
from registry.errors import MigrationError
from registry.renewal import MigrationExport, export_registry, import_export, renew_records
from tests.anchor.registry_fixtures import CID, LAB, RegistryWorld, deploy_world

LATER = dt.datetime(2101, 1, 1, tzinfo=dt.UTC)  # sha256 no longer trusted then
SHA256_ENDS = TrustPolicy.parse(["sha256=2100-01-01"])
SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "evidence-record.schema.json")
                    .read_text())


def assert_documented(record: EvidenceRecord) -> None:
    """The record is what docs/evidence-record.schema.json describes."""
    jsonschema.validate(json.loads(record.to_json()), SCHEMA)


def anchor_documents(client: RegistryClient, documents: list[bytes]) -> list[Receipt]:
    """Anchor the documents' SHA-256 as one batch; a receipt per document."""
    digests = [hashlib.sha256(d).digest() for d in documents]
    tree = MerkleBatch.of(digests)
    anchored = client.anchor_batch(tree.root, len(tree), CID)
    header = client.block_header(anchored.batch.block_number)
    assert header is not None
    return [Receipt(
        document_sha256="0x" + d.hex(), cid=CID, batch_id=anchored.batch.batch_id,
        merkle_root=tree.root, proof=tuple("0x" + p.hex() for p in tree.proof(d)),
        chain_id=client.chain_id, contract_address=client.address,
        transaction_hash=anchored.transaction_hash, block_number=header.number,
        block_hash=header.hash, issuer_id=anchored.batch.issuer_id,
        anchored_at=anchored.batch.anchored_at, manifest_cid=CID, encrypted=False)
        for d in digests]


def documents(label: str, n: int) -> list[bytes]:
    return [f"<certificate>{label} {i}</certificate>".encode() for i in range(n)]


def renewed(world: RegistryWorld, label: str, n: int = 3
            ) -> tuple[list[bytes], list[EvidenceRecord]]:
    docs = documents(label, n)
    records = [EvidenceRecord(r) for r in anchor_documents(world.ptb_operator, docs)]
    outcome = renew_records(world.ptb_operator, records,
                            {"0x" + hashlib.sha256(d).hexdigest(): d for d in docs})
    assert not outcome.skipped
    return docs, list(outcome.records)


def test_renewed_receipt_verifies_with_rpc_only_after_sha256_is_distrusted(
        world: RegistryWorld) -> None:
    docs, records = renewed(world, "renew")
    rpc = world.anvil.rpc_url
    plain = EvidenceRecord(records[0].receipt)
    assert verify_evidence_record(plain, docs[0], rpc).verdict is Verdict.VALID

    result = verify_evidence_record(records[0], docs[0], rpc)
    assert result.verdict is Verdict.VALID, result.steps
    assert [s.number for s in result.steps] == list(range(1, 8))
    assert all(s.status is StepStatus.PASSED for s in result.steps)
    assert records[0].renewals[0].algorithm == "sha3-256"

    # In 2101, with SHA-256 no longer trusted: the plain receipt proves nothing ...
    old = verify_evidence_record(plain, docs[0], rpc, policy=SHA256_ENDS, now=LATER)
    assert old.verdict is Verdict.INVALID
    assert old.first_failure is not None and old.first_failure.name == STEP_TRUST_POLICY
    # ... the renewed record, made while SHA-256 was trusted, still does.
    new = verify_evidence_record(records[0], docs[0], rpc, policy=SHA256_ENDS, now=LATER)
    assert new.verdict is Verdict.VALID, new.steps
    # Naming the document by its SHA-256 alone rests on SHA-256 again: refused.
    by_hash = verify_evidence_record(records[0], records[0].document_sha256, rpc,
                                     policy=SHA256_ENDS, now=LATER)
    assert by_hash.first_failure is not None and by_hash.first_failure.name == STEP_TRUST_POLICY
    # A renewal made after SHA-256 stopped being trusted extends nothing.
    too_late = TrustPolicy.parse(["sha256=2000-01-01"])
    late = verify_evidence_record(records[0], docs[0], rpc, policy=too_late)
    assert late.first_failure is not None and late.first_failure.name == STEP_TRUST_POLICY
    assert "after the evidence it renews" in late.first_failure.detail

    # The record survives its JSON form and still verifies.
    again = EvidenceRecord.from_json(records[0].to_json())
    assert again == records[0]
    assert verify_evidence_record(again, docs[0], rpc).verdict is Verdict.VALID


def test_renewing_twice_chains_the_renewals(world: RegistryWorld) -> None:
    docs, records = renewed(world, "twice", 2)
    document = {records[0].document_sha256: docs[0]}
    second = renew_records(world.ptb_operator, records[:1], document, algorithm="sha512")
    record = second.records[0]
    assert [r.algorithm for r in record.renewals] == ["sha3-256", "sha512"]
    assert record.renewals[0] == records[0].renewals[0]
    # A 64-byte root is anchored as two words, each its own batch; none is rehashed.
    words = record.renewals[1].anchorings
    assert len(words) == 2 and words[0].batch_id != words[1].batch_id
    assert record.renewals[1].root == words[0].root + words[1].root[2:]
    result = verify_evidence_record(record, docs[0], world.anvil.rpc_url)
    assert result.verdict is Verdict.VALID, result.steps
    assert "renewal 2 word 2" in result.step(STEP_ANCHORINGS).detail
    # Keccak family (keccak256, sha3-256) and SHA-256 all distrusted after the second
    # renewal was made: SHA-512 alone carries the evidence.
    policy = TrustPolicy.parse(["sha3-256=2100-01-01", "keccak256=2100-01-01",
                                "sha256=2100-01-01"])
    assert verify_evidence_record(record, docs[0], world.anvil.rpc_url, policy=policy,
                                  now=LATER).verdict is Verdict.VALID
    assert verify_evidence_record(records[0], docs[0], world.anvil.rpc_url, policy=policy,
                                  now=LATER).verdict is Verdict.INVALID
    assert_documented(record)
    mixed = json.loads(record.to_json())
    mixed["renewals"][1]["anchorings"].pop()  # a SHA-512 root needs both words
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(mixed, SCHEMA)
    # One word of the root swapped for another batch's: the anchorings step refuses it.
    swapped = dataclasses.replace(record.renewals[1], anchorings=(words[0], dataclasses.replace(
        words[1], batch_id=words[0].batch_id)))
    tampered = dataclasses.replace(record, renewals=(record.renewals[0], swapped))
    result = verify_evidence_record(tampered, docs[0], world.anvil.rpc_url)
    assert result.first_failure is not None and result.first_failure.name == STEP_ANCHORINGS


def _tamper_leaf(record: EvidenceRecord) -> EvidenceRecord:
    renewal = dataclasses.replace(record.renewals[0], leaf="0x" + "11" * 32)
    return dataclasses.replace(record, renewals=(renewal,))


def _tamper_receipt(record: EvidenceRecord) -> EvidenceRecord:
    # The receipt's claim changes (another anchoring block): the renewal no longer covers it.
    receipt = dataclasses.replace(record.receipt, block_number=record.receipt.block_number + 1)
    return dataclasses.replace(record, receipt=receipt)


def _tamper_path(record: EvidenceRecord) -> EvidenceRecord:
    renewal = dataclasses.replace(record.renewals[0], path=("0x" + "22" * 32,))
    return dataclasses.replace(record, renewals=(renewal,))


def _tamper_anchoring(record: EvidenceRecord) -> EvidenceRecord:
    anchoring = dataclasses.replace(record.renewals[0].anchorings[0],
                                    batch_id=record.receipt.batch_id)
    renewal = dataclasses.replace(record.renewals[0], anchorings=(anchoring,))
    return dataclasses.replace(record, renewals=(renewal,))


@pytest.mark.parametrize(("tamper", "step"), [
    (_tamper_leaf, STEP_RENEWAL_LEAVES),
    (_tamper_receipt, STEP_RENEWAL_LEAVES),
    (_tamper_path, STEP_RENEWAL_PATHS),
    (_tamper_anchoring, STEP_ANCHORINGS),
])
def test_tampered_record_is_refused_by_the_step_responsible(world: RegistryWorld, tamper,
                                                            step: str) -> None:
    docs, records = renewed(world, f"tamper-{step}-{tamper.__name__}")
    result = verify_evidence_record(tamper(records[0]), docs[0], world.anvil.rpc_url)
    assert result.verdict is Verdict.INVALID
    assert result.first_failure is not None and result.first_failure.name == step, result.steps


def test_other_document_is_refused_at_the_document_step(world: RegistryWorld) -> None:
    docs, records = renewed(world, "other-document")
    result = verify_evidence_record(records[0], docs[1], world.anvil.rpc_url)
    assert result.verdict is Verdict.INVALID
    assert result.first_failure is not None
    assert result.first_failure.name == STEP_DOCUMENT_HASH


def _verdict(result) -> tuple:
    revocation = result.revocation
    return (result.verdict, None if revocation is None else
            (revocation.reason, revocation.effective_from, revocation.replacement))


def test_migration_keeps_every_verdict_when_the_old_chain_is_gone(tmp_path: Path) -> None:
    # Both chains are private: the suite's shared chain may have been reverted (reorg
    # tests), leaving its clock behind the old chain's revocation times.
    new_node = AnvilNode.start(workdir=tmp_path / "new-chain")
    try:
        _migrate_and_compare(new_node, tmp_path)
    finally:
        new_node.stop()


def _migrate_and_compare(new_node: AnvilNode, tmp_path: Path) -> None:
    world = deploy_world(new_node)
    old_node = AnvilNode.start(workdir=tmp_path / "old-chain", chain_id=31338)
    try:
        old = deploy_world(old_node)
        docs = documents("migrate", 6)
        receipts = anchor_documents(old.ptb_operator, docs)
        lab_docs = documents("lab", 2)
        lab_receipts = anchor_documents(old.lab_operator, lab_docs)
        batch = MerkleBatch.of(r.document_digest() for r in receipts)
        batch_id = receipts[0].batch_id
        now = old.ptb_operator.w3.eth.get_block("latest")["timestamp"]
        # 1: withdrawn, effective a day back; 2 superseded by 3; 4 and 5 revoked together.
        old.ptb_operator.revoke(receipts[1].document_digest(), batch_id,
                                batch.proof(receipts[1].document_digest()),
                                RevocationReason.WITHDRAWN, effective_from=now - 86_400)
        old.ptb_operator.revoke(receipts[2].document_digest(), batch_id,
                                batch.proof(receipts[2].document_digest()),
                                RevocationReason.SUPERSEDED, receipts[3].document_digest())
        old.ptb_operator.revoke_many(batch_id, batch.multiproof(
            [receipts[4].document_digest(), receipts[5].document_digest()]),
            RevocationReason.ERROR)
        # Records renewed once on the old chain before migrating: both kinds in one chain.
        records = [EvidenceRecord(r) for r in receipts]
        records = [*renew_records(old.ptb_operator, records[:3], {
            r.document_sha256: d for r, d in zip(records[:3], docs[:3], strict=True)}).records,
            *records[3:]]
        before = [_verdict(verify_evidence_record(r, d, old_node.rpc_url))
                  for r, d in zip(records, docs, strict=True)]
        assert [v[0] for v in before] == [Verdict.VALID, Verdict.REVOKED, Verdict.REVOKED,
                                          Verdict.VALID, Verdict.REVOKED, Verdict.REVOKED]
        export = MigrationExport.from_json(export_registry(
            old.outsider, [*records, *(EvidenceRecord(r) for r in lab_receipts)]).to_json())
        assert len(export.revocations) == 4
    finally:
        old_node.stop()

    outcome = import_export(world.ptb_operator, export)
    assert import_export(world.ptb_operator, export).anchoring == outcome.anchoring  # resumable
    migrated = {r.document_sha256: r for r in outcome.records}
    assert len(migrated) == 6  # LAB's records are left for LAB's operator
    rpc = world.anvil.rpc_url  # the old chain is gone: only the new one answers
    after = []
    for record, document in zip(records, docs, strict=True):
        result = verify_evidence_record(migrated[record.document_sha256], document, rpc)
        assert "covered by later renewals" in result.step(STEP_ANCHORINGS).detail
        after.append(_verdict(result))
    assert after == before
    for record in migrated.values():
        assert_documented(record)
    # Unmigrated, an old receipt now proves nothing: its chain does not answer.
    assert verify_evidence_record(records[0], docs[0], rpc).verdict is Verdict.INVALID
    # The migrated evidence still outlives SHA-256 where a hash-tree renewal covers the
    # document (record 0), and is refused where only SHA-256 binds it (record 3).
    assert verify_evidence_record(migrated[records[0].document_sha256], docs[0], rpc,
                                  policy=SHA256_ENDS, now=LATER).verdict is Verdict.VALID
    refused = verify_evidence_record(migrated[records[3].document_sha256], docs[3], rpc,
                                     policy=SHA256_ENDS, now=LATER)
    assert refused.first_failure is not None
    assert refused.first_failure.name == STEP_TRUST_POLICY
    renewed_again = renew_records(world.ptb_operator, [migrated[records[3].document_sha256]],
                                  {records[3].document_sha256: docs[3]}).records[0]
    assert verify_evidence_record(renewed_again, docs[3], rpc, policy=SHA256_ENDS,
                                  now=LATER).verdict is Verdict.VALID
    assert verify_evidence_record(migrated[records[1].document_sha256], docs[1], rpc
                                  ).step(STEP_REVOCATION).status is StepStatus.FAILED

    # A migration anchored under another issuer would hand it the revocations: refused.
    moved = migrated[records[3].document_sha256]
    foreign = dataclasses.replace(moved.renewals[-1], anchorings=(dataclasses.replace(
        moved.renewals[-1].anchorings[0], issuer_id=LAB),))
    result = verify_evidence_record(dataclasses.replace(moved, renewals=(foreign,)), docs[3],
                                    rpc)
    assert result.first_failure is not None and result.first_failure.name == STEP_ANCHORINGS
    assert "under another issuer" in result.first_failure.detail

    with pytest.raises(MigrationError):
        import_export(world.outsider.as_account(world.spare), export)
