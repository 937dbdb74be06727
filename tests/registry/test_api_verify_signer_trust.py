"""Signer trust through POST /v1/verify and `certreg verify FILE`: XAdES-X-L documents
signed under a test PKI, issued on anvil, verified with CERTREG_TRUST_ANCHORS set."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography import x509
from fastapi.testclient import TestClient

from registry.api.app import create_app
from registry.cli import main
from registry.documents.signing import sign_document
from registry.errors import ConfigurationError
from registry.issuance import Issuer
from registry.settings import Settings, load_settings
from tests.registry.api_fixtures import serve
from tests.registry.browser_fixtures import save_screenshot
from tests.registry.conftest import MakeDccs
from tests.registry.documents._pki_fixtures import (
    AFTER_SIGNING,
    SIGNED_AT,
    create_test_pki,
    with_validation_data,
    write_anchor,
)

REVOKED_AT = SIGNED_AT - dt.timedelta(days=1)


@pytest.fixture
def signed_under_test_pki(issuer: Issuer, settings: Settings, make_dccs: MakeDccs,
                          tmp_path: Path) -> tuple[dict[str, Path], Path]:
    """Signed documents by name (all but "never-issued" issued), and the anchor file
    that trusts their PKI."""
    pki = create_test_pki()
    elsewhere = create_test_pki("Elsewhere")
    ca = pki.issuing
    revoked = ca.issue_signer("Revoked Lab")
    signers = {"good": ca.issue_signer("Good Lab"), "revoked": revoked,
               "bes": ca.issue_signer("BES Lab"),
               "untrusted": elsewhere.issuing.issue_signer("Unknown Lab"),
               "never-issued": revoked, "compromised-after": ca.issue_signer("Stolen Key Lab"),
               "superseded-after": ca.issue_signer("Retired Key Lab")}
    ca.revoke(revoked.certificate, REVOKED_AT, x509.ReasonFlags.key_compromise)
    # Revoked after the claimed signing time, long before these documents are anchored.
    ca.revoke(signers["compromised-after"].certificate, AFTER_SIGNING + dt.timedelta(days=1),
              x509.ReasonFlags.key_compromise)
    ca.revoke(signers["superseded-after"].certificate, AFTER_SIGNING + dt.timedelta(days=1),
              x509.ReasonFlags.superseded)
    paths = {}
    sources = make_dccs(tmp_path / "in", len(signers), "PKI")
    for (name, signer), source in zip(signers.items(), sources, strict=True):
        signed = sign_document(source.read_bytes(), signer, signing_time=SIGNED_AT).data
        if name not in ("bes", "untrusted"):
            signed = with_validation_data(signed, ocsp_responses=[
                ca.ocsp_response(signer.certificate, AFTER_SIGNING + dt.timedelta(days=2))])
        path = tmp_path / f"{name}.xml"
        path.write_bytes(signed)
        paths[name] = path
    issuer.run([path for name, path in paths.items() if name != "never-issued"], batch_size=10)
    issuer.index()
    return paths, write_anchor(pki.anchor, tmp_path / "trusted-list.pem")


def _verify(client: TestClient, path: Path) -> dict:
    response = client.post("/v1/verify", content=path.read_bytes(),
                           headers={"Content-Type": "application/xml"})
    assert response.status_code == 200
    return response.json()


def test_api_verdicts_with_trust_anchors(signed_under_test_pki: tuple[dict[str, Path], Path],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    paths, anchor_file = signed_under_test_pki
    monkeypatch.setenv("CERTREG_TRUST_ANCHORS", str(anchor_file))
    client = TestClient(create_app(load_settings()))

    good = _verify(client, paths["good"])
    assert good["verdict"] == "valid", good["checks"]
    trust = good["signature"]["signer_trust"]
    assert trust["status"] == "trusted"
    assert [ref["subject"].split(",")[0] for ref in trust["chain"]] == [
        "CN=Good Lab", "CN=certreg Test Issuing CA", "CN=certreg Test Root CA"]
    assert trust["anchor"] == trust["chain"][-1]
    assert trust["revocation"]["status"] == "not-revoked"

    revoked = _verify(client, paths["revoked"])
    assert revoked["verdict"] == "signer-certificate-revoked"
    step = next(c for c in revoked["checks"] if c["name"] == "signature")
    assert step["status"] == "failed"
    assert REVOKED_AT.isoformat() in step["detail"] and "keyCompromise" in step["detail"]
    revoked_at = revoked["signature"]["signer_trust"]["revocation"]["revoked_at"]
    assert dt.datetime.fromisoformat(revoked_at) == REVOKED_AT
    # Authentic and anchored all the same: the later steps still ran.
    assert next(c for c in revoked["checks"] if c["name"] == "contract-verify")[
        "status"] == "passed"

    # Unknown to the registry, but the signer verdict still stands.
    assert _verify(client, paths["never-issued"])["verdict"] == "signer-certificate-revoked"

    # Revoked after its claimed signing time but before its anchoring, the document's only
    # proof of existence: for a compromised key the claim cannot be relied on.
    stolen = _verify(client, paths["compromised-after"])
    assert stolen["verdict"] == "signer-certificate-revoked"
    step = next(c for c in stolen["checks"] if c["name"] == "signature")
    assert step["number"] == 2 and "proof of existence" in step["detail"]
    assert stolen["signature"]["signer_trust"]["status"] == "revoked"
    superseded = _verify(client, paths["superseded-after"])
    assert superseded["verdict"] == "valid"
    assert superseded["signature"]["signer_trust"]["revocation"]["status"] == \
        "revoked-after-signing"

    untrusted = _verify(client, paths["untrusted"])
    assert untrusted["verdict"] == "signer-untrusted"
    assert untrusted["signature"]["signer_trust"]["status"] == "untrusted"

    bes = _verify(client, paths["bes"])
    assert bes["verdict"] == "valid"
    step = next(c for c in bes["checks"] if c["name"] == "signature")
    assert "no revocation data embedded; status unknown" in step["detail"]
    assert bes["signature"]["signer_trust"]["revocation"]["status"] == "unknown"


def test_api_without_trust_anchors_says_the_chain_was_not_checked(
        signed_under_test_pki: tuple[dict[str, Path], Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    paths, _ = signed_under_test_pki
    monkeypatch.delenv("CERTREG_TRUST_ANCHORS", raising=False)
    client = TestClient(create_app(load_settings()))
    body = _verify(client, paths["revoked"])
    assert body["verdict"] == "valid"  # as before this check existed
    step = next(c for c in body["checks"] if c["name"] == "signature")
    assert "not checked" in step["detail"] and "CERTREG_TRUST_ANCHORS" in step["detail"]
    assert body["signature"]["signer_trust"]["status"] == "unchecked"


def test_api_refuses_to_start_with_unreadable_anchors(settings: Settings, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTREG_TRUST_ANCHORS", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigurationError):
        create_app(load_settings())


def test_cli_verify_file_with_trust_anchors(signed_under_test_pki: tuple[dict[str, Path], Path],
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    paths, anchor_file = signed_under_test_pki
    monkeypatch.setenv("CERTREG_TRUST_ANCHORS", str(anchor_file))

    assert main(["verify", str(paths["revoked"]), "--json", "--no-metrology"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["verdict"] == "signer-certificate-revoked"
    assert result["signature"]["signer_trust"]["revocation"]["reason"] == "keyCompromise"

    assert main(["verify", str(paths["good"]), "--no-metrology"]) == 0
    text = capsys.readouterr().out
    assert "verdict: valid" in text and "chains to CN=certreg Test Root CA" in text

    assert main(["verify", str(paths["untrusted"]), "--json", "--no-metrology"]) == 1
    assert json.loads(capsys.readouterr().out)["verdict"] == "signer-untrusted"


def test_page_shows_a_revoked_signer(page, signed_under_test_pki: tuple[dict[str, Path], Path],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    paths, anchor_file = signed_under_test_pki
    monkeypatch.setenv("CERTREG_TRUST_ANCHORS", str(anchor_file))
    served = serve(load_settings())
    try:
        page.goto(served.url + "/")
        page.set_input_files("#file", str(paths["revoked"]))
        verdict = page.locator('#verdict[data-verdict="signer-certificate-revoked"]')
        verdict.wait_for(timeout=15_000)
        assert "Signer's certificate revoked" in verdict.inner_text()
        signature = page.locator("#signature").inner_text()
        assert "CN=Revoked Lab" in signature and "keyCompromise" in signature
        assert "certreg Test Root CA" in signature  # the anchor
        save_screenshot(page, "verification-page-signer-revoked")
    finally:
        served.stop()
