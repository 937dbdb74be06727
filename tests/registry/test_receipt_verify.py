"""Receipts: JSON form, and `verify_receipt`'s numbered steps against a real chain.

Receipts come from a real issuance (anvil + embedded store); each tampered variant
must be refused by the step that is responsible for it, named in the result."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from anchor.chain import RevocationReason
from anchor.cid import Cid
from anchor.errors import ReceiptError
from anchor.receipt import (
    RECEIPT_FORMAT,
    STEP_BATCH_ROOT,
    STEP_CHAIN_ID,
    STEP_CONTRACT_VERIFY,
    STEP_DOCUMENT_HASH,
    STEP_MERKLE_PROOF,
    STEP_REVOCATION,
    STEP_TRANSACTION,
    Receipt,
    StepStatus,
    Verdict,
    verify_receipt,
)
from registry.issuance import Issuer
from tests.registry.conftest import MakeDccs


@pytest.fixture
def issued(issuer: Issuer, make_dccs: MakeDccs, tmp_path: Path) -> list[Receipt]:
    """Two batches (5 + 2 documents); one receipt per document."""
    report = issuer.run(make_dccs(tmp_path / "in", 7, "RCPT"), batch_size=5)
    receipts = [r.receipt for r in report.submissions]
    assert all(r is not None for r in receipts)
    return receipts  # type: ignore[return-value]


def _document_bytes(issuer: Issuer, receipt: Receipt) -> bytes:
    return issuer.store.get(Cid.parse(receipt.cid))


def test_receipt_of_an_issued_document_verifies_step_by_step(issuer: Issuer,
                                                             issued: list[Receipt]) -> None:
    receipt = issued[0]
    verification = verify_receipt(receipt, issuer.client.w3.provider.endpoint_uri,
                                  _document_bytes(issuer, receipt))
    assert verification.verdict is Verdict.VALID
    assert [s.number for s in verification.steps] == [1, 2, 3, 4, 5, 6, 7]
    assert all(s.status is StepStatus.PASSED for s in verification.steps), verification.steps
    assert verification.revocation is None


def test_receipt_without_document_bytes_skips_only_the_hash_step(
        issuer: Issuer, issued: list[Receipt]) -> None:
    verification = verify_receipt(issued[-1], issuer.client)
    assert verification.verdict is Verdict.VALID
    assert verification.step(STEP_DOCUMENT_HASH).status is StepStatus.SKIPPED
    skipped = verify_receipt(issued[-1], issuer.client, check_transaction=False)
    assert skipped.step(STEP_TRANSACTION).status is StepStatus.SKIPPED


def test_receipt_json_round_trips_with_a_stable_key_order(issued: list[Receipt]) -> None:
    receipt = issued[0]
    text = receipt.to_json()
    assert Receipt.from_json(text) == receipt
    assert Receipt.from_json(text).to_json() == text
    keys = list(json.loads(text))
    assert keys[:2] == ["format", "document_sha256"]
    assert json.loads(text)["format"] == RECEIPT_FORMAT
    assert json.loads(text)["leaf_encoding"] == "OpenZeppelin StandardMerkleTree [bytes32]"
    assert json.loads(text)["anchored_at_iso"].endswith("Z")


@pytest.mark.parametrize("change", [
    {"format": "certreg-receipt/2"},
    {"batch_id": "1"},
    {"proof": ["0x1234"]},
    {"contract_address": "0xnot-an-address"},
])
def test_malformed_receipt_json_is_refused(issued: list[Receipt], change: dict) -> None:
    value = issued[0].to_dict() | change
    with pytest.raises(ReceiptError):
        Receipt.from_json(json.dumps(value))


def test_wrong_document_bytes_fail_the_hash_step(issuer: Issuer, issued: list[Receipt]) -> None:
    other = _document_bytes(issuer, issued[1])
    verification = verify_receipt(issued[0], issuer.client, other)
    assert verification.verdict is Verdict.INVALID
    assert verification.first_failure is not None
    assert verification.first_failure.name == STEP_DOCUMENT_HASH


def test_tampered_proof_fails_offline_and_on_chain(issuer: Issuer,
                                                   issued: list[Receipt]) -> None:
    receipt = issued[0]
    flipped = receipt.proof[0][:-1] + ("0" if receipt.proof[0][-1] != "0" else "1")
    tampered = dataclasses.replace(receipt, proof=(flipped, *receipt.proof[1:]))
    verification = verify_receipt(tampered, issuer.client)
    assert verification.verdict is Verdict.INVALID
    assert verification.first_failure.name == STEP_MERKLE_PROOF
    assert verification.step(STEP_CONTRACT_VERIFY).status is StepStatus.FAILED


def test_proof_of_another_batch_fails_the_chain_root_step(issuer: Issuer,
                                                          issued: list[Receipt]) -> None:
    first_batch, second_batch = issued[0], issued[-1]
    assert first_batch.batch_id != second_batch.batch_id
    # Self-consistent offline (proof leads to the root), but the chain's batch has another.
    claimed = dataclasses.replace(first_batch, batch_id=second_batch.batch_id)
    verification = verify_receipt(claimed, issuer.client)
    assert verification.step(STEP_MERKLE_PROOF).status is StepStatus.PASSED
    assert verification.first_failure.name == STEP_BATCH_ROOT
    assert verification.verdict is Verdict.INVALID


def test_wrong_root_fails_the_proof_step(issuer: Issuer, issued: list[Receipt]) -> None:
    wrong = dataclasses.replace(issued[0], merkle_root=issued[-1].merkle_root)
    verification = verify_receipt(wrong, issuer.client)
    assert verification.first_failure.name == STEP_MERKLE_PROOF
    assert verification.step(STEP_BATCH_ROOT).status is StepStatus.FAILED


def test_receipt_for_another_chain_fails_and_skips_the_chain_steps(
        issuer: Issuer, issued: list[Receipt]) -> None:
    verification = verify_receipt(dataclasses.replace(issued[0], chain_id=1), issuer.client)
    assert verification.verdict is Verdict.INVALID
    assert verification.first_failure.name == STEP_CHAIN_ID
    assert {verification.step(name).status for name in (
        STEP_BATCH_ROOT, STEP_CONTRACT_VERIFY, STEP_TRANSACTION)} == {StepStatus.SKIPPED}


def test_wrong_transaction_fails_the_transaction_step(issuer: Issuer,
                                                      issued: list[Receipt]) -> None:
    first, second = issued[0], issued[-1]
    wrong = dataclasses.replace(first, transaction_hash=second.transaction_hash,
                                block_number=second.block_number,
                                block_hash=second.block_hash)
    verification = verify_receipt(wrong, issuer.client)
    assert verification.first_failure.name == STEP_TRANSACTION
    assert "no BatchAnchored log" in verification.first_failure.detail


def test_revoked_document_gets_verdict_revoked_with_reason(issuer: Issuer,
                                                           issued: list[Receipt]) -> None:
    receipt = issued[2]
    issuer.revoke(receipt.document_sha256, RevocationReason.OUT_OF_TOLERANCE,
                  effective_from=1_700_000_000)
    verification = verify_receipt(receipt, issuer.client, _document_bytes(issuer, receipt))
    assert verification.verdict is Verdict.REVOKED
    assert verification.first_failure.name == STEP_REVOCATION
    assert verification.revocation is not None
    assert verification.revocation.reason == "out_of_tolerance"
    assert verification.revocation.effective_from == 1_700_000_000
    # The other documents of the same batch are unaffected.
    assert verify_receipt(issued[3], issuer.client).verdict is Verdict.VALID
