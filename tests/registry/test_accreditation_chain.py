"""Accreditation scope, end to end: governance records an issuer's accreditation (the
document on the content store, its hash on chain, through the CLI), the indexer reads
it, and verification checks each result of PTB's typical temperature DCC against the
scope valid on the calibration date, keeping the history."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from anchor.chain import GovernanceAction
from registry.cli import main
from registry.db.models import CertificateCitation, ChainAccreditation
from registry.documents.accreditation import AccreditationDocument
from registry.settings import Settings
from tests.anchor.registry_fixtures import LAB, PTB, RegistryWorld, account
from tests.registry.api_support import api_client
from tests.registry.trust_fixtures import TrustChain

LAB_CODE = "DAkkS-D-K-15070"
DAY = dt.timedelta(days=1)


def scope_document(maximum_celsius: str = "350", error_capability: str = "0.05") -> dict:
    """The typical temperature DCC reports reference and indicated values from 33 to
    320 degC (also in K) and five errors of indication with U = 0.061 K."""
    return {
        "format": "certreg.accreditation/1", "issuer": LAB_CODE, "body": "DAkkS",
        "number": "D-K-15070-01-00", "valid_from": "2020-01-01", "valid_until": "2030-12-31",
        "scope": [
            {"quantity": "temperature", "unit": "\\degreecelsius", "minimum": "-40",
             "maximum": maximum_celsius, "best_capability": "30",
             "capability_unit": "\\milli\\kelvin"},
            {"quantity": "error of indication", "unit": "\\kelvin", "minimum": "-1",
             "maximum": "1", "best_capability": error_capability,
             "ref_types": ["basic_measurementError"]},
        ]}


@pytest.fixture
def chain(world: RegistryWorld, settings: Settings, shared_dcc: Path,
          tmp_path: Path) -> TrustChain:
    return TrustChain(world, settings, shared_dcc, tmp_path)


def record(chain: TrustChain, document: dict, effective: dt.date) -> None:
    """Store the document and pass the governance action (2 of 3 governors)."""
    data = AccreditationDocument.from_json(json.dumps(document)).to_bytes()
    cid = chain.issuer(LAB).store.put(data)
    # Fresh clients: the CLI signs with the same governor accounts, so the fixtures'
    # cached nonces are stale.
    first, second = (chain.world.deployer.as_account(account(i)) for i in (1, 2))
    proposal_id, _ = first.propose(GovernanceAction.set_accreditation(
        LAB, hashlib.sha256(data).digest(), str(cid),
        int(dt.datetime.combine(effective, dt.time(), dt.UTC).timestamp())))
    second.approve(proposal_id)


def scope_of(client: TestClient, sha256: str) -> dict:
    response = client.get(f"/v1/verify/{sha256}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["verdict"] == "valid"
    return body["accreditation_scope"]


def test_accreditation_recorded_through_the_cli_is_checked_at_verification(
        chain: TrustChain, settings: Settings, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    today = chain.today
    path = tmp_path / "scope.json"
    path.write_text(json.dumps(scope_document()))
    assert main(["govern", "propose", "set-accreditation", "--issuer", LAB_CODE,
                 "--document", str(path), "--effective-from", (today - 30 * DAY).isoformat(),
                 "--dev-account", "1", "--json"]) == 0
    proposal = json.loads(capsys.readouterr().out)
    assert not proposal["executed"]
    assert main(["govern", "approve", str(proposal["proposal_id"]), "--dev-account", "2",
                 "--json"]) == 0
    capsys.readouterr()
    assert chain.world.deployer.accreditation_count(LAB) == 1

    within = chain.issue(LAB, "SCOPE-WITHIN", today - 10 * DAY)
    client = api_client(settings)
    scope = scope_of(client, within)
    assert scope["status"] == "within-scope", scope
    assert scope["accreditation"]["number"] == "D-K-15070-01-00"
    assert scope["accreditation"]["version"] == 1
    assert len(scope["results"]) == 25
    step = next(c for c in client.get(f"/v1/verify/{within}").json()["checks"]
                if c["name"] == "accreditation-scope")
    assert step["status"] == "passed"

    # A later version narrows the scope to 320 degC, just below the top point (320.004):
    # certificates calibrated under it are outside, naming the bound; the earlier one
    # is still judged by the scope of its own calibration date.
    record(chain, scope_document(maximum_celsius="320"), today - 5 * DAY)
    narrow = chain.issue(LAB, "SCOPE-NARROW", today)
    scope = scope_of(client, narrow)
    assert scope["status"] == "outside-scope"
    outside = [r for r in scope["results"] if r["verdict"] == "outside-scope"]
    assert outside and {r["bound"] for r in outside} == {"maximum"}
    assert any("320.004" in r["reason"] for r in outside)
    assert scope_of(client, within)["status"] == "within-scope"
    assert main(["verify", narrow]) == 0  # authentic: the verdict stands, step 11 fails
    text = capsys.readouterr().out
    assert "11. accreditation-scope" in text and "failed" in text
    assert "accreditation scope: outside-scope" in text

    # A capability better than the laboratory's (U = 0.061 K stated, 0.07 K accredited).
    record(chain, scope_document(error_capability="0.07"), today - 2 * DAY)
    capable = chain.issue(LAB, "SCOPE-CMC", today)
    scope = scope_of(client, capable)
    assert scope["status"] == "outside-scope"
    assert {r["bound"] for r in scope["results"] if r["verdict"] == "outside-scope"} == {
        "best_capability"}

    # Withdrawn from yesterday: nothing calibrated since is within an accreditation.
    assert main(["govern", "propose", "set-accreditation", "--issuer", LAB_CODE, "--withdraw",
                 "--effective-from", (today - DAY).isoformat(), "--dev-account", "1",
                 "--json"]) == 0
    proposal = json.loads(capsys.readouterr().out)
    assert main(["govern", "approve", str(proposal["proposal_id"]), "--dev-account", "3"]) == 0
    withdrawn = chain.issue(LAB, "SCOPE-WITHDRAWN", today)
    scope = scope_of(client, withdrawn)
    assert scope["status"] == "outside-scope" and "withdrawn" in scope["detail"]

    # An NMI without a recorded accreditation is reported as such, never "within".
    nmi = chain.issue(PTB, "SCOPE-NMI", today)
    assert scope_of(client, nmi)["status"] == "not-accredited"

    history = client.get(f"/v1/issuers/{LAB_CODE}/accreditations").json()["accreditations"]
    assert [h["version"] for h in history] == [1, 2, 3, 4]
    assert history[0]["document"]["number"] == "D-K-15070-01-00"
    assert history[-1]["document"] is None and history[-1]["document_sha256"] is None
    assert client.get("/v1/issuers/NOBODY/accreditations").status_code == 404


def test_accreditation_document_is_validated_before_anything_is_proposed(
        chain: TrustChain, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proposals_before = chain.world.deployer.contract.functions.proposalCount().call()
    bad = scope_document()
    bad["scope"][0]["minimum"] = "400"  # above its maximum
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    assert main(["govern", "propose", "set-accreditation", "--issuer", LAB_CODE,
                 "--document", str(path), "--effective-from", "2026-01-01",
                 "--dev-account", "1"]) == 3
    assert "accreditation-range-invalid" in capsys.readouterr().err
    other = dict(scope_document(), issuer="PTB")
    path.write_text(json.dumps(other))
    assert main(["govern", "propose", "set-accreditation", "--issuer", LAB_CODE,
                 "--document", str(path), "--effective-from", "2026-01-01",
                 "--dev-account", "1"]) == 3
    assert chain.world.deployer.contract.functions.proposalCount().call() == \
        proposals_before


def test_audit_verify_names_tampered_citations_and_accreditations(
        chain: TrustChain, capsys: pytest.CaptureFixture[str]) -> None:
    hashes = chain.four_levels("AUDIT")
    record(chain, scope_document(), chain.today - 30 * DAY)
    chain.issuer(LAB).index()
    assert main(["audit", "verify", "--json"]) == 0
    clean = json.loads(capsys.readouterr().out)
    assert clean["checked"]["citations"] == 3 and clean["checked"]["accreditations"] == 1

    # Point the working standard's citation elsewhere, and widen the recorded scope.
    sessions = chain.issuer(LAB).sessions
    with sessions() as session, session.begin():
        session.execute(update(CertificateCitation)
                        .where(CertificateCitation.citing_sha256 == hashes["work"])
                        .values(cited_sha256=hashes["nmi"]))
        row = session.scalars(select(ChainAccreditation)).one()
        row.document = dict(row.document, number="FORGED")
        row.effective_from = row.effective_from - 365 * DAY
    assert main(["audit", "verify", "--json"]) == 1
    found = {(d["kind"], d["subject"]) for d in json.loads(
        capsys.readouterr().out)["discrepancies"]}
    assert any(kind == "citation-mismatch" and hashes["work"] in subject
               for kind, subject in found)
    assert ("accreditation-mismatch", f"accreditation 1 of {LAB_CODE}") in found


def test_accreditation_scope_is_checked_offline_from_a_trace_bundle(
        chain: TrustChain, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record(chain, scope_document(), chain.today - 30 * DAY)
    hashes = chain.four_levels("OFFLINE")
    bundle = tmp_path / "bundle.json"
    assert main(["receipt", hashes["work"], "--with-chain", "-o", str(bundle)]) == 0
    capsys.readouterr()
    assert len(json.loads(bundle.read_text())["accreditation_documents"]) == 1
    assert main(["trace", "--bundle", str(bundle), "--json"]) == 0
    scopes = json.loads(capsys.readouterr().out)["accreditation_scope"]
    # WSL (the working standard's issuer) has no accreditation on chain; LAB's reference
    # certificate is within the scope the chain names; PTB is not accredited either.
    assert scopes["0x" + hashes["work"]]["status"] == "not-accredited"
    assert scopes["0x" + hashes["ref"]]["status"] == "within-scope"
    assert scopes["0x" + hashes["ref"]]["accreditation"]["number"] == "D-K-15070-01-00"
    # Without the document, or with another one, offline cannot say "within".
    value = json.loads(bundle.read_text())
    value["accreditation_documents"] = [base64.b64encode(AccreditationDocument.from_json(
        json.dumps(scope_document(maximum_celsius="999"))).to_bytes()).decode()]
    bundle.write_text(json.dumps(value))
    assert main(["trace", "--bundle", str(bundle), "--json"]) == 0
    scope = json.loads(capsys.readouterr().out)["accreditation_scope"]["0x" + hashes["ref"]]
    assert scope["status"] == "unchecked" and "hash the chain records" in scope["detail"]
