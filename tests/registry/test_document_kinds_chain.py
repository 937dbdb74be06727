"""Typed legal-metrology documents end to end on anvil: a classifier, a DCC reference
standard and verification certificates issued through the real pipeline (embedded store,
contract, indexer, SQLite or PostgreSQL), then searched, verified, traced, revoked,
and the projection rebuilt."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from anchor.chain import RevocationReason
from registry.cli import EXIT_INPUT, EXIT_OK, main
from registry.db.cascade import affected_by
from registry.issuance import DocumentSource, SubmissionStatus
from registry.settings import Settings
from tests.anchor.registry_fixtures import LAB, PTB, RegistryWorld
from tests.registry.api_support import (
    PTB_CODE,
    api_client,
    api_token,
    bearer,
    without_rate_limits,
)
from tests.registry.trust_fixtures import TrustChain

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _classifier(version: str, valid_from: dt.date) -> bytes:
    document = json.loads((EXAMPLES / "mi-classifier" / "coomet-mi-kinds-2026.1.json")
                          .read_text(encoding="utf-8"))
    document.update(version=version, issue_date=valid_from.isoformat(),
                    valid_from=valid_from.isoformat())
    return json.dumps(document, ensure_ascii=False, indent=1).encode()


def _verification(number: str, serial: str, day: dt.date, standard: str | None = None,
                  code: str = "17.02.01") -> bytes:
    """The fuel-dispenser example, performed on `day`, citing the DCC `standard` by hash."""
    document: dict[str, Any] = json.loads(
        (EXAMPLES / "verification" / "fuel-dispenser-periodic.json").read_text(encoding="utf-8"))
    document["number"] = number
    document["instrument"]["serial_number"] = serial
    document["instrument"]["classifier_code"]["code"] = code
    document["verification"].update(date=day.isoformat(),
                                    valid_until=(day + dt.timedelta(days=730)).isoformat())
    document["issue_date"] = day.isoformat()
    if standard is not None:
        document["reference_standards"] = [{
            "name": "20 L proving measure", "certificate": {"number": "KIND-STD-00000",
                                                           "sha256": standard}}]
    return json.dumps(document, ensure_ascii=False, indent=1).encode()


def _get(client: TestClient, url: str, **params: Any) -> dict[str, Any]:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_verification_certificate_issue_anchor_index_search_verify_revoke(
        world: RegistryWorld, settings: Settings, shared_dcc: Path, tmp_path: Path) -> None:
    chain = TrustChain(world, settings, shared_dcc, tmp_path)
    today = chain.today
    nmi = chain.issuer(PTB)
    # The directory goes first: codes are checked against the anchored version in force.
    (directory,) = nmi.run([DocumentSource("kinds.json", _classifier(
        "2026.1", today - dt.timedelta(days=30)))]).submissions
    assert directory.status is SubmissionStatus.ACCEPTED, directory.error
    standard_sha256 = chain.issue(PTB, "KIND-STD-00000", today)
    # A laboratory verifies instruments with the NMI-calibrated standard.
    issuer = chain.issuer(LAB)
    # Its own later "version" of PTB's directory, with an extra code, does not count:
    # the directory belongs to the issuer that anchored its first version.
    squatted = json.loads(_classifier("2026.2", today - dt.timedelta(days=1)))
    squatted["codes"].append({"code": "17.02.99", "parent": "17.02", "names": [
        {"lang": "en", "text": "x"}, {"lang": "ru", "text": "x"}]})
    (squat,) = issuer.run([DocumentSource("squat.json", json.dumps(squatted).encode())]
                          ).submissions
    assert squat.status is SubmissionStatus.ACCEPTED, squat.error
    report = issuer.run([
        DocumentSource("vc-1.json", _verification("VC-KIND-1", "SN-KIND-1", today,
                                                   standard_sha256)),
        DocumentSource("vc-2.json", _verification("VC-KIND-2", "SN-KIND-2", today)),
        DocumentSource("vc-bad.json", _verification("VC-KIND-3", "SN-KIND-3", today,
                                                     code="17.02.99")),
    ], "verification-certificate", batch_size=2)
    first, second, unknown_code = report.submissions
    assert first.status is SubmissionStatus.ACCEPTED, first.error
    assert second.status is SubmissionStatus.ACCEPTED, second.error
    assert unknown_code.status is SubmissionStatus.REJECTED
    assert unknown_code.error_code == "classifier-code-unknown"
    assert "17.02.99" in (unknown_code.error or "")
    assert first.receipt is not None and first.receipt.document_sha256 == "0x" + first.sha256

    client = api_client(settings)
    # Search by the instrument, the approval number, the classifier code and the type.
    found = _get(client, "/v1/search", serial="sn-kind-1")
    assert [item["sha256"] for item in found["items"]] == ["0x" + first.sha256]
    assert found["items"][0]["document_type"] == "verification-certificate"
    assert found["items"][0]["unique_identifier"] == "VC-KIND-1"
    assert found["items"][0]["calibrated_from"] == today.isoformat()
    by_approval = _get(client, "/v1/search", approval_number="DE-21-MI005-PTB014")
    assert by_approval["total"] == 2
    assert _get(client, "/v1/search", classifier_code="17.02.01",
                type="verification-certificate")["total"] == 2
    assert _get(client, "/v1/search", manufacturer="tokheim dispensers gmbh",
                model="Quantium 510 H 4P")["total"] == 2
    assert _get(client, "/v1/search", type="mi-classifier", number="COOMET-MI-KINDS")[
        "total"] == 2  # search finds both; only PTB's counts for code checks
    assert _get(client, "/v1/search", type="mi-classifier", number="COOMET-MI-KINDS@2026.1",
                issuer="PTB")["total"] == 1
    assert _get(client, "/v1/search", serial="SN-KIND-3")["total"] == 0

    # Verification by upload (JSON) and by hash; traceability reaches the DCC by hash.
    data = _verification("VC-KIND-1", "SN-KIND-1", today, standard_sha256)
    verified = client.post("/v1/verify", content=data,
                           headers={"Content-Type": "application/json"})
    assert verified.status_code == 200, verified.text
    assert verified.json()["verdict"] == "valid"
    assert verified.json()["document_sha256"] == "0x" + first.sha256
    assert verified.json()["metadata"]["format"] == "certreg.kind-metadata/1"
    tree = _get(client, f"/v1/certificates/0x{first.sha256}/traceability")
    assert tree["status"] == "complete", tree["first_problem"]
    assert [n["certificate_number"] for n in tree["nodes"]] == ["VC-KIND-1", "KIND-STD-00000"]
    standard_link = next(link for link in tree["links"]
                         if link["citation"]["role"] == "reference-standard"
                         and link["cited"] is not None)
    assert standard_link["resolved_by"] == "hash"
    assert standard_link["cited"] == "0x" + standard_sha256
    assert standard_link["verdict"] == "sound"

    # Revoking the standard cascades to the verification that used it, not the other one.
    affected = affected_by(issuer.sessions, standard_sha256, today)
    assert [a.sha256 for a in affected] == [first.sha256]

    issuer.revoke(first.sha256, RevocationReason.WITHDRAWN)
    issuer.index()
    assert _get(client, f"/v1/verify/{first.sha256}")["verdict"] == "revoked"
    assert _get(client, "/v1/search", serial="SN-KIND-1")["items"][0]["revoked"] is True
    assert _get(client, f"/v1/verify/{second.sha256}")["verdict"] == "valid"
    assert second.sha256 is not None

    # Supersession: the corrected certificate is issued, the old one revoked by it.
    corrected = json.loads(_verification("VC-KIND-2", "SN-KIND-2", today))
    corrected["number"] = "VC-KIND-2-R1"
    outcome = issuer.supersede(second.sha256, DocumentSource(
        "vc-2-r1.json", json.dumps(corrected).encode()))
    assert outcome.new.status is SubmissionStatus.ACCEPTED, outcome.new.error
    old = _get(client, f"/v1/verify/{second.sha256}")
    assert old["verdict"] == "revoked"
    assert old["revocation"]["replacement"] == "0x" + outcome.new.sha256
    assert _get(client, "/v1/search", number="VC-KIND-2-R1")["items"][0]["sha256"] \
        == "0x" + outcome.new.sha256

    # The projection is rebuilt from chain + IPFS alone: the same search answers.
    before = _get(client, "/v1/search", approval_number="DE-21-MI005-PTB014")
    issuer.indexer.rebuild()
    assert _get(client, "/v1/search", approval_number="DE-21-MI005-PTB014") == before


def test_api_issuance_accepts_typed_json_and_refuses_unknown_codes(settings: Settings) -> None:
    api_settings = without_rate_limits(settings)
    client = api_client(api_settings)
    token = api_token(api_settings, PTB_CODE)
    headers = bearer(token) | {"Content-Type": "application/json"}
    today = _today()

    def issue(document: bytes, **params: str):
        return client.post("/v1/issuance/documents", content=document, params=params,
                           headers=headers)

    refused = issue(_verification("VC-API-0", "SN-API-0", today))
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "classifier-code-unknown"
    assert "no version of directory COOMET-MI-KINDS" in refused.json()["error"]["message"]

    directory = issue(_classifier("2026.1", today), document_type="mi-classifier")
    assert directory.status_code == 201, directory.text
    accepted = issue(_verification("VC-API-1", "SN-API-1", today),
                     document_type="verification-certificate")
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["state"] == "anchored"

    mismatch = issue(_verification("VC-API-2", "SN-API-2", today), document_type="type-approval")
    assert mismatch.status_code == 422
    assert mismatch.json()["error"]["code"] == "document-type-mismatch"
    duplicate_key = issue(b'{"type": "certreg.verification/1", "type": "x"}')
    assert duplicate_key.status_code == 422
    assert duplicate_key.json()["error"]["code"] == "json-duplicate-key"


def test_cli_issues_typed_json_by_its_own_type_and_verifies_it(
        issuer_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys,
        tmp_path: Path) -> None:
    for name, value in issuer_env.items():
        monkeypatch.setenv(name, value)

    def cli(*argv: str) -> tuple[int, dict[str, Any]]:
        code = main([*argv, "--json"])
        return code, json.loads(capsys.readouterr().out)

    today = _today()
    directory, good, bad = (tmp_path / name for name in ("kinds.json", "vc.json", "bad.json"))
    directory.write_bytes(_classifier("2026.1", today))
    good.write_bytes(_verification("VC-CLI-1", "SN-CLI-1", today))
    bad.write_bytes(_verification("VC-CLI-2", "SN-CLI-2", today, code="99.99"))
    code, dry = cli("issue", str(good), "--dry-run")
    assert code == EXIT_OK and dry["documents"][0]["status"] == "dry-run"
    code, report = cli("issue", str(directory))
    assert code == EXIT_OK, report
    code, report = cli("issue", str(good), str(bad))
    assert code == EXIT_INPUT
    assert [d["status"] for d in report["documents"]] == ["accepted", "rejected"]
    assert report["documents"][1]["error"]["code"] == "classifier-code-unknown"
    code, verdict = cli("verify", str(good))
    assert code == EXIT_OK and verdict["verdict"] == "valid"
