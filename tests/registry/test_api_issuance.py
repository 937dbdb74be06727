"""Issuance over HTTP: the CLI's pipeline behind per-issuer API credentials.

Real anvil, real embedded store, SQLite; PTB's operator is the registry's operator key
unless a test configures LAB's.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from anchor.accounts import create_keystore
from anchor.cid import Cid
from anchor.encryption import DocumentKey
from anchor.receipt import Receipt, Verdict, verify_receipt
from anchor.services.anvil import dev_private_key
from anchor.store import EmbeddedStore, get_confidential
from registry.cli import EXIT_INPUT, EXIT_OK, main
from registry.db import open_database
from registry.db.credentials import ApiCredential
from registry.settings import Settings
from tests.anchor.registry_fixtures import PTB, RegistryWorld
from tests.registry.api_support import (
    LAB_CODE,
    PTB_CODE,
    api_client,
    api_token,
    bearer,
    issued_document_count,
    stored_blob_count,
    without_rate_limits,
)
from tests.registry.conftest import MakeDccs

KEYSTORE_PASSWORD = "lab operator keystore pw"


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return without_rate_limits(settings)


@pytest.fixture
def client(api_settings: Settings) -> TestClient:
    return api_client(api_settings)


@pytest.fixture
def dccs(make_dccs: MakeDccs, tmp_path: Path) -> list[bytes]:
    return [p.read_bytes() for p in make_dccs(tmp_path / "dcc", 3, "HTTP")]


def issue(client: TestClient, token: str, document: bytes, **params: str):
    return client.post("/v1/issuance/documents", content=document, params=params,
                       headers=bearer(token) | {"Content-Type": "application/xml"})


def test_api_issuance_issues_with_a_receipt_anyone_can_check(
        client: TestClient, api_settings: Settings, world: RegistryWorld,
        dccs: list[bytes]) -> None:
    token = api_token(api_settings, PTB_CODE)
    response = issue(client, token, dccs[0])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "accepted" and body["state"] == "anchored"
    assert body["key"] is None and response.headers["cache-control"] == "no-store"
    receipt = Receipt.from_dict(body["receipt"])
    assert receipt.document_sha256 == body["sha256"]
    assert verify_receipt(receipt, world.anvil.rpc_url).verdict is Verdict.VALID
    # The registry's own verification agrees, and the document is the issuer's (signed).
    verified = client.get(f"/v1/verify/{body['sha256']}").json()
    assert verified["verdict"] == "valid" and verified["issuer"]["code"] == PTB_CODE

    again = issue(client, token, dccs[0])
    assert again.status_code == 200 and again.json()["status"] == "already-anchored"
    assert again.json()["sha256"] == body["sha256"]

    status = client.get(f"/v1/issuance/documents/{body['sha256']}", headers=bearer(token))
    assert status.status_code == 200
    assert status.json()["state"] == "anchored" and status.json()["receipt"] == body["receipt"]


def test_api_issuance_encrypted_returns_the_key_once(
        client: TestClient, api_settings: Settings, dccs: list[bytes]) -> None:
    token = api_token(api_settings, PTB_CODE)
    response = client.post("/v1/issuance/documents", params={"encrypt": "true"},
                           headers=bearer(token),
                           files={"file": ("cert.xml", dccs[1], "application/xml")})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["encrypted"] and body["key"]
    plaintext = get_confidential(EmbeddedStore(api_settings.blob_dir), Cid.parse(body["cid"]),
                                 DocumentKey.from_text(body["key"]))
    assert "0x" + hashlib.sha256(plaintext).hexdigest() == body["sha256"]

    again = client.post("/v1/issuance/documents", params={"encrypt": "true"},
                        headers=bearer(token),
                        files={"file": ("cert.xml", dccs[1], "application/xml")})
    assert again.status_code == 200 and again.json()["key"] is None


def test_api_issuance_revokes_for_its_own_issuer(
        client: TestClient, api_settings: Settings, dccs: list[bytes]) -> None:
    token = api_token(api_settings, PTB_CODE)
    old = issue(client, token, dccs[0]).json()["sha256"]
    new = issue(client, token, dccs[1]).json()["sha256"]
    response = client.post("/v1/issuance/revocations", headers=bearer(token), json={
        "sha256": old, "reason": "superseded", "replacement": new})
    assert response.status_code == 200, response.text
    assert response.json()["reason"] == "superseded" and response.json()["replacement"] == new
    verdict = client.get(f"/v1/verify/{old}").json()
    assert verdict["verdict"] == "revoked"
    assert client.get(f"/v1/verify/{new}").json()["verdict"] == "valid"
    # Revocation is irreversible: a different second revocation is refused.
    again = client.post("/v1/issuance/revocations", headers=bearer(token),
                        json={"sha256": old, "reason": "withdrawn"})
    assert again.status_code == 409 and again.json()["error"]["code"] == \
        "document-already-revoked"
    unknown = client.post("/v1/issuance/revocations", headers=bearer(token),
                          json={"sha256": "ab" * 32, "reason": "withdrawn"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "document-not-found"


@pytest.mark.parametrize("authorization", [None, "Bearer certreg_not-a-real-token",
                                           "Basic dXNlcjpwYXNz", "Bearer "])
def test_api_issuance_refuses_requests_without_a_valid_credential(
        client: TestClient, api_settings: Settings, dccs: list[bytes],
        authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for response in (
            client.post("/v1/issuance/documents", content=dccs[0], headers=headers),
            client.post("/v1/issuance/revocations", headers=headers,
                        json={"sha256": "ab" * 32, "reason": "withdrawn"}),
            client.get(f"/v1/issuance/documents/{'ab' * 32}", headers=headers)):
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert issued_document_count(api_settings) == 0 and stored_blob_count(api_settings) == 0


def test_api_issuance_lab_credential_cannot_act_as_ptb(
        client: TestClient, api_settings: Settings, world: RegistryWorld,
        dccs: list[bytes]) -> None:
    ptb_token, lab_token = api_token(api_settings, PTB_CODE), api_token(api_settings, LAB_CODE)
    ptb_document = issue(client, ptb_token, dccs[0]).json()
    blobs_before = stored_blob_count(api_settings)

    # This registry's operator serves PTB: a LAB credential can do nothing through it.
    refused = issue(client, lab_token, dccs[1])
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "issuer-not-served"
    revoke = client.post("/v1/issuance/revocations", headers=bearer(lab_token),
                         json={"sha256": ptb_document["sha256"], "reason": "withdrawn"})
    assert revoke.status_code == 403 and revoke.json()["error"]["code"] == "issuer-not-served"
    status = client.get(f"/v1/issuance/documents/{ptb_document['sha256']}",
                        headers=bearer(lab_token))
    assert status.status_code == 403
    assert issued_document_count(api_settings) == 1
    assert stored_blob_count(api_settings) == blobs_before
    assert client.get(f"/v1/verify/{ptb_document['sha256']}").json()["verdict"] == "valid"
    assert world.outsider.get_revocation(
        PTB, bytes.fromhex(ptb_document["sha256"][2:])) is None


def test_api_issuance_lab_registry_cannot_revoke_ptb_documents(
        client: TestClient, api_settings: Settings, world: RegistryWorld,
        dccs: list[bytes], tmp_path: Path) -> None:
    ptb_document = issue(client, api_token(api_settings, PTB_CODE), dccs[0]).json()
    # A second registry process on the same database, acting through LAB's operator key.
    keystore = tmp_path / "lab-operator.json"
    create_keystore(keystore, KEYSTORE_PASSWORD, dev_private_key(7))
    lab_client = api_client(api_settings.model_copy(update={
        "operator_keystore": keystore, "operator_password": SecretStr(KEYSTORE_PASSWORD),
        "data_dir": tmp_path / "lab-data",
        "database_url": api_settings.effective_database_url}))
    lab_token = api_token(api_settings, LAB_CODE)

    revoke = lab_client.post("/v1/issuance/revocations", headers=bearer(lab_token),
                             json={"sha256": ptb_document["sha256"], "reason": "withdrawn"})
    assert revoke.status_code == 404 and revoke.json()["error"]["code"] == "document-not-found"
    status = lab_client.get(f"/v1/issuance/documents/{ptb_document['sha256']}",
                            headers=bearer(lab_token))
    assert status.status_code == 404
    ptb_on_lab = lab_client.post("/v1/issuance/revocations",
                                 headers=bearer(api_token(api_settings, PTB_CODE)),
                                 json={"sha256": ptb_document["sha256"], "reason": "withdrawn"})
    assert ptb_on_lab.status_code == 403
    assert world.outsider.get_revocation(
        PTB, bytes.fromhex(ptb_document["sha256"][2:])) is None
    # ...while LAB issues its own documents through it.
    lab_document = issue(lab_client, lab_token, dccs[2])
    assert lab_document.status_code == 201, lab_document.text
    assert lab_document.json()["receipt"]["issuer_id"].endswith(
        LAB_CODE.encode().hex().ljust(64, "0"))


def test_api_issuance_rejects_invalid_documents_with_the_pipeline_code(
        client: TestClient, api_settings: Settings, shared_dcc: Path) -> None:
    token = api_token(api_settings, PTB_CODE)
    response = issue(client, token, (shared_dcc / "invalid" / "bad_date.xml").read_bytes())
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "dcc-schema-invalid"
    assert issued_document_count(api_settings) == 0 and stored_blob_count(api_settings) == 0


def test_api_key_cli_creates_lists_and_revokes(
        client: TestClient, api_settings: Settings, dccs: list[bytes],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def cli(*argv: str) -> tuple[int, dict | None, str]:
        code = main([*argv, "--json"])
        out, err = capsys.readouterr()
        return code, (json.loads(out) if out.strip() else None), err

    code, created, err = cli("api-key", "create", "--issuer", PTB_CODE, "--label", "LIMS")
    assert code == EXIT_OK, err
    token = created["token"]
    assert created["issuer"] == PTB_CODE and created["active"]
    assert issue(client, token, dccs[0]).status_code == 201

    # Only the token's SHA-256 is stored, and no listing shows the token.
    with open_database(api_settings.effective_database_url)() as session:
        rows = session.scalars(select(ApiCredential)).all()
    assert [row.token_sha256 for row in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    assert all(token not in str(vars(row)) for row in rows)
    code, listed, _ = cli("api-key", "list")
    assert code == EXIT_OK and token not in json.dumps(listed)
    assert [c["id"] for c in listed["credentials"]] == [created["id"]]

    code, revoked, _ = cli("api-key", "revoke", str(created["id"]))
    assert code == EXIT_OK and not revoked["active"]
    response = issue(client, token, dccs[1])
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"

    # The last stderr line is the CLI's error; the API's access log may precede it.
    code, _, err = cli("api-key", "create", "--issuer", "NO-SUCH-NMI")
    assert code == EXIT_INPUT
    assert json.loads(err.splitlines()[-1])["error"]["code"] == "configuration-invalid"
    code, _, err = cli("api-key", "revoke", "999")
    assert code == EXIT_INPUT
    assert json.loads(err.splitlines()[-1])["error"]["code"] == "credential-not-found"
