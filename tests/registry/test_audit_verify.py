"""`certreg audit verify`: the database against the chain; tampering is found and named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from anchor.chain import RevocationReason
from registry.cli import EXIT_FAILURE, EXIT_OK, main
from registry.db import AuditEvent, ChainBatch, ChainDocument, ChainIssuer, ChainRevocation
from registry.issuance import Issuer
from tests.anchor.registry_fixtures import LAB
from tests.registry.conftest import MakeDccs


def _audit(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = main(["audit", "verify", "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
def issued(issuer: Issuer, make_dccs: MakeDccs, tmp_path: Path) -> list[str]:
    report = issuer.run(make_dccs(tmp_path / "in", 5, "AUDIT"), batch_size=3)
    hashes = [s.sha256 for s in report.submissions]
    issuer.revoke(hashes[0], RevocationReason.WITHDRAWN)
    return hashes


def test_audit_verify_passes_on_an_untouched_projection(
        issuer: Issuer, issued: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _audit(capsys)
    assert code == EXIT_OK and report["consistent"] is True
    assert report["discrepancies"] == []
    assert report["checked"] == {"batches": 2, "documents": 5, "revocations": 1,
                                 "issuers": 2, "citations": 0,
                                 "events": report["checked"]["events"]}
    assert report["checked"]["events"] > 10


def test_audit_verify_names_every_tampered_row(
        issuer: Issuer, issued: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    forged = "ee" * 32
    with issuer.sessions() as session, session.begin():
        session.execute(update(ChainBatch).where(ChainBatch.batch_id == 1).values(root=forged))
        session.execute(update(ChainDocument).where(ChainDocument.sha256 == issued[3])
                        .values(sha256=forged))
        session.execute(delete(ChainDocument).where(ChainDocument.sha256 == issued[1]))
        session.execute(update(ChainRevocation).values(reason="error"))
        session.execute(update(ChainIssuer).where(ChainIssuer.issuer_id == LAB.hex())
                        .values(country="FR"))
        operator_added = session.scalars(select(AuditEvent).where(
            AuditEvent.name == "OperatorAdded")).first()
        session.delete(operator_added)
    code, report = _audit(capsys)
    assert code == EXIT_FAILURE and report["consistent"] is False
    found = {(d["kind"], d["subject"]) for d in report["discrepancies"]}
    assert ("batch-mismatch", "batch 1") in found
    assert ("document-proof-invalid", f"document 0x{forged} in batch 2") in found
    assert ("document-missing-in-db", f"document 0x{issued[3]} in batch 2") in found
    assert ("document-count-mismatch", "batch 1") in found  # the deleted row
    assert ("document-missing-in-db", f"document 0x{issued[1]} in batch 1") in found
    assert ("revocation-mismatch", f"revocation of 0x{issued[0]} by PTB") in found
    assert ("issuer-mismatch", "issuer DAkkS-D-K-15070") in found
    assert ("event-missing-in-db", f"event OperatorAdded at {operator_added.tx_hash}"
                                   f"#{operator_added.log_index}") in found
    assert ("event-count-mismatch", "OperatorAdded events") in found
    details = {d["kind"]: d["detail"] for d in report["discrepancies"]}
    assert f"root: database '0x{forged}'" in details["batch-mismatch"]
    assert "reason: database 'error', chain 'withdrawn'" in details["revocation-mismatch"]


def test_audit_verify_finds_deleted_batches_and_revocations(
        issuer: Issuer, issued: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with issuer.sessions() as session, session.begin():
        session.execute(delete(ChainRevocation))
        session.execute(delete(ChainBatch).where(ChainBatch.batch_id == 2))
    code, report = _audit(capsys)
    assert code == EXIT_FAILURE
    found = {(d["kind"], d["subject"]) for d in report["discrepancies"]}
    assert found == {("batch-missing-in-db", "batch 2"),
                     ("revocation-missing-in-db", f"revocation of 0x{issued[0]} by PTB")}
