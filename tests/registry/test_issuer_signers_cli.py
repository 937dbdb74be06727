"""`certreg issuer declare-signer|withdraw-signer|show` and `certreg govern propose
declare-signer|withdraw-signer` against a real anvil."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization

from anchor.accounts import create_keystore
from anchor.services.anvil import dev_private_key
from registry.cli import EXIT_INPUT, EXIT_USAGE
from registry.documents.keys import create_test_certificate_authority, create_test_signing_identity
from tests.registry.test_contract_cli import addr, cli  # noqa: F401 - the fixture


@pytest.fixture
def registry(cli) -> str:  # noqa: F811
    cli("contract", "deploy", "--dev-account", "0", "--governor", addr(1), "--governor", addr(2),
        "--governor", addr(3), "--threshold", "2")
    _, proposal, _ = cli("govern", "propose", "register-issuer", "--issuer", "BelGIM",
                         "--country", "BY", "--kind", "nmi", "--admin", addr(4),
                         "--dev-account", "1")
    cli("govern", "approve", str(proposal["proposal_id"]), "--dev-account", "2")
    return "BelGIM"


def _pem(tmp_path: Path, name: str, certificate) -> Path:
    path = tmp_path / f"{name}.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def test_issuer_admin_declares_and_withdraws_a_signing_certificate(
        cli, registry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    identity = create_test_signing_identity("BelGIM signer", "BelGIM", "BY")
    certificate = _pem(tmp_path, "signer", identity.certificate)
    fingerprint = identity.certificate.fingerprint(hashes.SHA256()).hex()
    keystore = create_keystore(tmp_path / "admin.json", "admin pass", dev_private_key(4)).path
    monkeypatch.setenv("CERTREG_KEYSTORE_PASSWORD", "admin pass")

    code, _, err = cli("issuer", "declare-signer", registry, "--certificate", str(certificate),
                       "--dev-account", "5")
    assert code == EXIT_INPUT and "IssuerUnauthorizedAdmin" in err
    code, declared, _ = cli("issuer", "declare-signer", registry, "--certificate",
                            str(certificate), "--valid-from", "2026-01-01",
                            "--valid-until", "2027-06-30T12:00:00", "--keystore", str(keystore))
    assert code == 0
    assert (declared["certificate_sha256"], declared["kind"], declared["valid_from"],
            declared["valid_until"]) == (fingerprint, "signer", "2026-01-01T00:00:00+00:00",
                                         "2027-06-30T12:00:00+00:00")
    code, shown, _ = cli("issuer", "show", registry)
    assert [d["certificate_sha256"] for d in shown["signing_certificates"]] == [fingerprint]

    code, withdrawn, _ = cli("issuer", "withdraw-signer", registry, "--sha256", fingerprint,
                             "--keystore", str(keystore))
    assert code == 0 and withdrawn["certificate_sha256"] == fingerprint
    _, shown, _ = cli("issuer", "show", registry)
    assert shown["signing_certificates"][0]["withdrawn_at"] is not None
    code, _, err = cli("issuer", "withdraw-signer", registry, "--certificate", str(certificate),
                       "--keystore", str(keystore))
    assert code == EXIT_INPUT and "SigningCertificateWithdrawnAlready" in err


def test_declarations_that_cannot_be_right_are_refused(cli, registry: str,  # noqa: F811
                                                       tmp_path: Path) -> None:
    leaf = _pem(tmp_path, "leaf", create_test_signing_identity("Leaf", "BelGIM", "BY").certificate)
    code, _, err = cli("issuer", "declare-signer", registry, "--certificate", str(leaf), "--ca",
                       "--dev-account", "4")
    assert code == EXIT_INPUT and json.loads(err)["error"]["code"] == "signing-certificate-invalid"
    code, _, err = cli("issuer", "declare-signer", registry, "--certificate", str(leaf),
                       "--valid-from", "2027-01-01", "--valid-until", "2026-01-01",
                       "--dev-account", "4")
    assert code == EXIT_INPUT and "ends" in json.loads(err)["error"]["message"]
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    code, _, err = cli("issuer", "declare-signer", registry, "--certificate", str(junk),
                       "--dev-account", "4")
    assert code == EXIT_INPUT and json.loads(err)["error"]["code"] == "signing-certificate-invalid"
    with pytest.raises(SystemExit) as exited:
        cli("issuer", "declare-signer", registry, "--certificate", str(leaf), "--valid-from",
            "soon", "--dev-account", "4")
    assert exited.value.code == EXIT_USAGE


def test_governance_declares_a_ca_with_two_approvals(cli, registry: str,  # noqa: F811
                                                     tmp_path: Path) -> None:
    ca = create_test_certificate_authority("BelGIM CA", "BelGIM", "BY")
    path = _pem(tmp_path, "ca", ca.certificate)
    code, proposal, _ = cli("govern", "propose", "declare-signer", "--issuer", registry,
                            "--certificate", str(path), "--ca", "--dev-account", "1")
    assert code == 0 and proposal["kind"] == "declare-signing-certificate"
    assert not proposal["executed"]
    assert cli("issuer", "show", registry)[1]["signing_certificates"] == []
    code, approved, _ = cli("govern", "approve", str(proposal["proposal_id"]),
                            "--dev-account", "3")
    assert code == 0 and approved["executed"]
    (declared,) = cli("issuer", "show", registry)[1]["signing_certificates"]
    assert declared["kind"] == "authority"
    assert declared["valid_until"] == ca.certificate.not_valid_after_utc.replace(
        microsecond=0).astimezone(dt.UTC).isoformat()
    _, proposal, _ = cli("govern", "propose", "withdraw-signer", "--issuer", registry,
                         "--certificate", str(path), "--dev-account", "2")
    cli("govern", "approve", str(proposal["proposal_id"]), "--dev-account", "1")
    assert cli("issuer", "show", registry)[1]["signing_certificates"][0]["withdrawn_at"]
