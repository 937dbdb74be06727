"""POST/GET /v1/verify against the real app, with certificates issued on anvil."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from registry.api.app import create_app
from registry.issuance import Issuer
from registry.settings import Settings
from tests.registry.api_fixtures import IssuedRegistry, issue_certificates
from tests.registry.conftest import MakeDccs


@pytest.fixture
def registry(issuer: Issuer, settings: Settings, make_dccs: MakeDccs,
             tmp_path: Path) -> IssuedRegistry:
    return issue_certificates(issuer, settings, make_dccs(tmp_path / "in", 3, "API"))


@pytest.fixture
def client(registry: IssuedRegistry) -> TestClient:
    return TestClient(create_app(registry.settings))


def test_api_verify_upload_raw_and_multipart(client: TestClient, registry: IssuedRegistry) -> None:
    raw = client.post("/v1/verify", content=registry.documents["valid"],
                      headers={"Content-Type": "application/xml"})
    assert raw.status_code == 200
    body = raw.json()
    assert body["verdict"] == "valid"
    assert body["document_sha256"] == "0x" + registry.hashes["valid"]
    assert body["issuer"]["code"] == "PTB" and body["issuer"]["status_at_issue"] == "active"
    assert body["anchoring"]["proof_checked_against_chain_root"] is True
    assert body["signature"]["status"] == "valid"
    assert {c["name"] for c in body["checks"] if c["status"] == "passed"} >= {
        "document-hash", "signature", "merkle-proof", "chain-root", "contract-verify"}
    multipart = client.post("/v1/verify", files={"file": ("cert.xml",
                                                          registry.documents["valid"])})
    assert multipart.status_code == 200 and multipart.json()["verdict"] == "valid"


def test_api_verify_by_hash_revoked_and_unknown(client: TestClient,
                                                registry: IssuedRegistry) -> None:
    revoked = client.get(f"/v1/verify/{registry.hashes['revoked']}").json()
    assert revoked["verdict"] == "revoked"
    assert revoked["revocation"]["reason"] == "superseded"
    assert revoked["revocation"]["replacement"] == "0x" + registry.replacement
    unknown = client.get(f"/v1/verify/0x{hashlib.sha256(b'nope').hexdigest()}")
    assert unknown.status_code == 200 and unknown.json()["verdict"] == "unknown"


def test_api_verify_tampered_certificate_is_signature_invalid(client: TestClient,
                                                              registry: IssuedRegistry) -> None:
    original = registry.documents["valid"]
    tampered = original.replace(b"API-00000", b"API-99999", 1)
    assert tampered != original
    body = client.post("/v1/verify", content=tampered,
                       headers={"Content-Type": "application/xml"}).json()
    assert body["verdict"] == "signature-invalid"


@pytest.mark.parametrize("path", ["/v1/verify/xyz", "/v1/verify/" + "0" * 63])
def test_api_verify_malformed_hash_is_a_4xx(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "request-invalid"


def test_api_verify_rejects_empty_and_unsupported_uploads(client: TestClient) -> None:
    empty = client.post("/v1/verify", content=b"")
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "request-invalid"
    binary = client.post("/v1/verify", content=b"\x00\x01 not a certificate")
    assert binary.status_code == 415
    assert binary.json()["error"]["code"] == "document-type-unsupported"


def test_api_verify_mismatched_hash_query(client: TestClient, registry: IssuedRegistry) -> None:
    body = client.post(f"/v1/verify?sha256={registry.hashes['revoked']}",
                       content=registry.documents["valid"]).json()
    assert body["verdict"] == "unknown"
    assert body["checks"][0]["status"] == "failed"


def test_api_old_dcc_without_schema_version_is_issued_and_verified_with_warnings(
        issuer: Issuer, settings: Settings, shared_dcc: Path) -> None:
    from registry.documents.signing import sign_document
    from tests.registry.documents.test_dcc_schema_location import (
        EXAMPLE_2_3,
        without_schema_version,
    )

    # A 2.2 DCC as institutes sign it: no schemaVersion, ds:Signature in the root.
    unsigned = without_schema_version((shared_dcc / EXAMPLE_2_3).read_bytes(),
                                      "https://ptb.de/dcc https://ptb.de/dcc/v2.2.0/dcc.xsd")
    signed = sign_document(unsigned, issuer.preparer.signing_identity).data
    report = issuer.run([signed], batch_size=10)
    (submission,) = report.submissions
    assert submission.status.value == "accepted" and submission.sha256 is not None
    assert {"schema-version-inferred", "signature-outside-schema"} <= set(submission.warnings)
    issuer.index()

    client = TestClient(create_app(settings))
    body = client.post("/v1/verify", content=signed,
                       headers={"Content-Type": "application/xml"}).json()
    assert body["verdict"] == "valid", body["checks"]
    assert body["signature"]["status"] == "valid"
    assert [w["code"] for w in body["warnings"]] == ["schema-version-inferred",
                                                   "signature-outside-schema"]
    tampered = signed.replace(b"</dcc:uniqueIdentifier>", b"X</dcc:uniqueIdentifier>", 1)
    forged = client.post("/v1/verify", content=tampered,
                         headers={"Content-Type": "application/xml"}).json()
    assert forged["verdict"] == "signature-invalid"
    assert client.get(f"/v1/verify/{submission.sha256}").json()["warnings"] == []
