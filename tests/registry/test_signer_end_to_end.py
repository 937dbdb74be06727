"""Issue #16 part 1 end to end: PTB declares the registry's signing certificate; a
document signed by a foreign key but anchored by PTB's authorised operator gets
`signer-not-issuer` through the API, the CLI and the page, and the declarations survive
a reindex and pass the audit. Real anvil, real pipeline, SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from anchor.chain import SigningCertificateKind
from anchor.cid import Cid
from registry.api.app import create_app
from registry.cli import EXIT_FAILURE, EXIT_OK, main
from registry.db.models import ChainSigningCertificate
from registry.documents.keys import SigningIdentityFiles, create_test_signing_identity
from registry.documents.signing import sign_document
from registry.issuance import Issuer
from registry.settings import Settings
from tests.anchor.registry_fixtures import PTB, RegistryWorld
from tests.registry.api_fixtures import serve
from tests.registry.browser_fixtures import save_screenshot
from tests.registry.conftest import MakeDccs

FAR_FUTURE = 2**64 - 1


@pytest.fixture
def documents(issuer: Issuer, world: RegistryWorld, signing_files: SigningIdentityFiles,
              make_dccs: MakeDccs, tmp_path: Path) -> dict[str, Path]:
    """"own": signed here with the declared identity; "foreign": signed elsewhere."""
    ours = x509.load_pem_x509_certificate(signing_files.certificate_pem.read_bytes())
    world.ptb_admin.declare_signing_certificate(
        PTB, ours.public_bytes(serialization.Encoding.DER),
        SigningCertificateKind.SIGNER, 0, FAR_FUTURE)
    own, other = make_dccs(tmp_path / "in", 2, "SIGNER")
    foreign = create_test_signing_identity("Not PTB", "Somewhere else", "FR")
    other.write_bytes(sign_document(other.read_bytes(), foreign).data)
    report = issuer.run([own, other], batch_size=2)
    paths = {}
    for name, submission in zip(("own", "foreign"), report.submissions, strict=True):
        paths[name] = tmp_path / f"{name}.xml"
        paths[name].write_bytes(issuer.store.get(Cid.parse(submission.cid)))
    issuer.index()
    return paths


def _verify(api: TestClient, path: Path) -> dict:
    response = api.post("/v1/verify", content=path.read_bytes(),
                        headers={"content-type": "application/xml"})
    assert response.status_code == 200
    return response.json()


def test_foreign_signer_is_not_the_issuer_in_the_api(settings: Settings,
                                                     documents: dict[str, Path],
                                                     signing_files: SigningIdentityFiles) -> None:
    ours = x509.load_pem_x509_certificate(signing_files.certificate_pem.read_bytes())
    with TestClient(create_app(settings)) as api:
        own = _verify(api, documents["own"])
        assert own["verdict"] == "valid"  # signed_here passes the same check
        assert own["signer"]["status"] == "declared"
        foreign = _verify(api, documents["foreign"])
        assert foreign["verdict"] == "signer-not-issuer"
        step = next(c for c in foreign["checks"] if c["name"] == "signer-is-issuer")
        assert step["status"] == "failed" and "Not PTB" in step["detail"]
        evidence = foreign["signer"]
        assert evidence["signer_fingerprint"] == foreign["signature"]["signer_fingerprint"]
        assert evidence["time_source"] == "signing-time"
        assert [d["certificate_sha256"] for d in evidence["declared"]] == [
            ours.fingerprint(hashes.SHA256()).hex()]
        (declared,) = api.get("/v1/issuers/PTB").json()["signing_certificates"]
        assert declared["kind"] == "signer" and "PTB test signer" in declared["subject"]
        assert declared["valid_until"].startswith("9999-12-31")
        assert x509.load_pem_x509_certificate(declared["certificate_pem"].encode()) == ours


def test_foreign_signer_is_not_the_issuer_in_the_cli(settings: Settings,
                                                     documents: dict[str, Path],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(documents["own"])]) == EXIT_OK
    capsys.readouterr()
    assert main(["verify", str(documents["foreign"])]) == EXIT_FAILURE
    text = capsys.readouterr().out
    assert "verdict: signer-not-issuer" in text
    assert "signer-is-issuer" in text and "signer: not-declared: " in text
    assert "declared signer: " in text and "PTB test signer" in text
    assert main(["verify", str(documents["foreign"]), "--json"]) == EXIT_FAILURE
    assert json.loads(capsys.readouterr().out)["signer"]["status"] == "not-declared"


def test_foreign_signer_is_not_the_issuer_on_the_page(page, settings: Settings,
                                                      documents: dict[str, Path]) -> None:
    app = serve(settings)
    try:
        page.goto(app.url + "/")
        page.set_input_files("#file", str(documents["foreign"]))
        page.locator("#verdict").wait_for(timeout=15_000)
        assert page.locator("#verdict").get_attribute("data-verdict") == "signer-not-issuer"
        assert "Signer is not the issuer" in page.locator("#verdict").inner_text()
        signer = page.locator("#signer").inner_text()
        assert "Not PTB" in signer and "not declared by the issuer" in signer
        assert "Declared by the issuer" in signer and "PTB test signer" in signer
        save_screenshot(page, "verification-page-signer-not-issuer")
    finally:
        app.stop()


def test_declarations_survive_reindex_and_pass_the_audit(
        issuer: Issuer, settings: Settings, world: RegistryWorld, documents: dict[str, Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    with TestClient(create_app(settings)) as api:
        before = api.get("/v1/issuers/PTB").json()["signing_certificates"]
    world.ptb_admin.withdraw_signing_certificate(PTB, bytes.fromhex(
        before[0]["certificate_sha256"]))
    assert main(["reindex"]) == EXIT_OK
    with TestClient(create_app(settings)) as api:
        (after,) = api.get("/v1/issuers/PTB").json()["signing_certificates"]
        assert {k: v for k, v in after.items() if not k.startswith("withdrawn")} == \
            {k: v for k, v in before[0].items() if not k.startswith("withdrawn")}
        assert after["withdrawn_block"] is not None
        # Anchored before the withdrawal: still the issuer's.
        assert _verify(api, documents["own"])["verdict"] == "valid"
    capsys.readouterr()
    assert main(["audit", "verify", "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["checked"]["signing_certificates"] == 1
    with issuer.sessions() as session, session.begin():
        session.execute(update(ChainSigningCertificate).values(kind="authority",
                                                               withdrawn_at=None))
        assert session.scalars(select(ChainSigningCertificate)).one().kind == "authority"
    assert main(["audit", "verify", "--json"]) == EXIT_FAILURE
    (found,) = json.loads(capsys.readouterr().out)["discrepancies"]
    assert found["kind"] == "signing-certificate-mismatch"
    assert "kind: database 'authority', chain 'signer'" in found["detail"]
    assert "withdrawn_at: database None" in found["detail"]
