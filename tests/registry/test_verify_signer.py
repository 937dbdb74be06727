"""Step 8, signer-is-issuer: the document's signer against the declarations of the issuer
that anchored it, on a real contract (anvil); the declarations come from a stand-in index
(the projection of them is tested in test_index_signing_certificates)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from anchor.services.anvil import AnvilNode
from registry.documents.keys import (
    SigningIdentity,
    create_test_certificate_authority,
    create_test_signing_identity,
)
from registry.documents.signing import sign_document
from registry.verify import CheckStatus, Verdict
from registry.verify.signer import (
    MAX_KEY_INFO_CERTIFICATES,
    DeclaredSigningCertificate,
    check_signer,
    issued_under,
)
from tests.anchor.registry_fixtures import RegistryWorld, deploy_world
from tests.registry.test_verify_steps import anchor, run

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
YEAR = dt.timedelta(days=365)
FOREVER = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def world(anvil: AnvilNode) -> RegistryWorld:
    return deploy_world(anvil)


@pytest.fixture(scope="module")
def example(shared_dcc: Path) -> bytes:
    return (shared_dcc / "examples" / "dcc_gp_temperature_simplified_v12.xml").read_bytes()


def signed(example: bytes, identity: SigningIdentity, tag: str,
           signing_time: dt.datetime | None = None) -> bytes:
    marker = b"<dcc:uniqueIdentifier>"
    return sign_document(example.replace(marker, marker + f"SIGNER-{tag}-".encode(), 1),
                         identity, signing_time=signing_time).data


def declared(certificate: x509.Certificate, kind: str = "signer", *,
             valid_from: dt.datetime = NOW - 2 * YEAR, valid_until: dt.datetime = FOREVER,
             withdrawn_block: int | None = None) -> DeclaredSigningCertificate:
    return DeclaredSigningCertificate(
        certificate_sha256=certificate.fingerprint(hashes.SHA256()).hex(), kind=kind,
        certificate=certificate.public_bytes(serialization.Encoding.DER),
        subject=certificate.subject.rfc4514_string(), valid_from=valid_from,
        valid_until=valid_until, withdrawn_block=withdrawn_block,
        withdrawn_at=None if withdrawn_block is None else NOW)


def intermediate_ca(root: SigningIdentity, name: str) -> SigningIdentity:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)])
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(root.certificate.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(NOW - YEAR).not_valid_after(NOW + YEAR)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(root.private_key, hashes.SHA256()))
    return SigningIdentity(private_key=key, certificate=certificate, chain=(root.certificate,))


@pytest.fixture(scope="module")
def issuer_identity() -> SigningIdentity:
    return create_test_signing_identity("PTB signer", "Test PTB", "DE",
                                        not_valid_before=NOW - YEAR, valid_for=3 * YEAR)


def test_signer_declared_by_the_issuer_is_valid(world, example, issuer_identity) -> None:
    document = signed(example, issuer_identity, "declared")
    index, _ = anchor(world, [document], "signer-declared")
    index.declarations = [declared(issuer_identity.certificate)]
    result = run(index, world, document=document)
    assert result.verdict is Verdict.VALID
    assert result.check("signer-is-issuer").status is CheckStatus.PASSED
    assert result.signer.status == "declared" and result.signer.time_source == "signing-time"
    assert result.signer.matched.certificate_sha256 == result.signature.signer_fingerprint


def test_foreign_signer_is_not_the_issuer(world, example, issuer_identity) -> None:
    foreign = create_test_signing_identity("Someone else", "Elsewhere", "FR")
    document = signed(example, foreign, "foreign")
    index, hashes_ = anchor(world, [document], "signer-foreign")
    index.declarations = [declared(issuer_identity.certificate)]
    result = run(index, world, document=document)
    assert result.verdict is Verdict.SIGNER_NOT_ISSUER
    step = result.check("signer-is-issuer")
    assert step.status is CheckStatus.FAILED and "Someone else" in step.detail
    assert result.signer.signer_fingerprint == result.signature.signer_fingerprint
    assert [d.subject for d in result.signer.declared] == [
        issuer_identity.certificate.subject.rfc4514_string()]
    # By hash alone there is no signer to check: the step says so, the verdict stands.
    by_hash = run(index, world, sha256=hashes_[0])
    assert by_hash.verdict is Verdict.VALID
    assert by_hash.check("signer-is-issuer").status is CheckStatus.SKIPPED


def test_issuer_without_declarations_is_reported_not_failed(world, example) -> None:
    document = signed(example, create_test_signing_identity("Anyone", "Any", "DE"), "none")
    index, _ = anchor(world, [document], "signer-none")
    result = run(index, world, document=document)
    assert result.verdict is Verdict.VALID
    step = result.check("signer-is-issuer")
    assert step.status is CheckStatus.SKIPPED and "declares no signing certificates" in step.detail
    assert result.signer.status == "issuer-declares-none"


@pytest.mark.parametrize(("signed_at", "verdict"), [
    (NOW - YEAR + dt.timedelta(days=10), Verdict.SIGNER_NOT_ISSUER),  # before validFrom
    (NOW - dt.timedelta(days=100), Verdict.VALID),
    (NOW - dt.timedelta(days=10), Verdict.SIGNER_NOT_ISSUER),  # after validUntil
])
def test_signer_outside_the_declared_period_is_not_the_issuer(
        world, example, issuer_identity, signed_at, verdict) -> None:
    document = signed(example, issuer_identity, f"period-{signed_at:%Y%m%d}", signed_at)
    index, _ = anchor(world, [document], f"signer-period-{signed_at:%Y%m%d}")
    index.declarations = [declared(issuer_identity.certificate,
                                   valid_from=NOW - dt.timedelta(days=200),
                                   valid_until=NOW - dt.timedelta(days=50))]
    result = run(index, world, document=document)
    assert result.verdict is verdict
    assert result.signer.time_used == signed_at
    if verdict is Verdict.SIGNER_NOT_ISSUER:
        assert "not " + signed_at.isoformat() in result.check("signer-is-issuer").detail


def test_withdrawal_counts_from_its_block_on(world, example, issuer_identity) -> None:
    document = signed(example, issuer_identity, "withdrawn")
    index, _ = anchor(world, [document], "signer-withdrawn")
    block = index.rows[0].block_number
    index.declarations = [declared(issuer_identity.certificate, withdrawn_block=block + 1)]
    assert run(index, world, document=document).verdict is Verdict.VALID
    index.declarations = [declared(issuer_identity.certificate, withdrawn_block=block)]
    result = run(index, world, document=document)
    assert result.verdict is Verdict.SIGNER_NOT_ISSUER
    assert "withdrawn at block" in result.check("signer-is-issuer").detail


def test_certificate_authority_declaration(world, example) -> None:
    ca = create_test_certificate_authority("PTB test CA", "Test PTB", "DE")
    leaf = create_test_signing_identity("PTB signer 2", "Test PTB", "DE", issuer=ca)
    document = signed(example, leaf, "ca")
    index, _ = anchor(world, [document], "signer-ca")
    index.declarations = [declared(ca.certificate, "authority")]
    result = run(index, world, document=document)
    assert result.verdict is Verdict.VALID
    assert "issued under the declared CA" in result.check("signer-is-issuer").detail
    # Same name, other key: the issuing signature decides, not the names.
    impostor = create_test_certificate_authority("PTB test CA", "Test PTB", "DE")
    index.declarations = [declared(impostor.certificate, "authority")]
    assert run(index, world, document=document).verdict is Verdict.SIGNER_NOT_ISSUER
    # A CA certificate declared as a signer does not vouch for what it issues.
    index.declarations = [declared(ca.certificate, "signer")]
    assert run(index, world, document=document).verdict is Verdict.SIGNER_NOT_ISSUER


def test_certificate_authority_through_an_intermediate(world, example) -> None:
    root = create_test_certificate_authority("Root CA", "Test PTB", "DE")
    intermediate = intermediate_ca(root, "Issuing CA")
    leaf = create_test_signing_identity("PTB signer 3", "Test PTB", "DE", issuer=intermediate)
    document = signed(example, leaf, "intermediate")
    index, _ = anchor(world, [document], "signer-intermediate")
    index.declarations = [declared(root.certificate, "authority")]
    assert run(index, world, document=document).verdict is Verdict.VALID
    # A leaf is no CA: a certificate its key signed is not issued under its issuer's CA.
    below_leaf = create_test_signing_identity("Made by a leaf", "Test PTB", "DE",
                                              issuer=dataclasses.replace(leaf, chain=()))
    forged = signed(example, dataclasses.replace(below_leaf, chain=(
        leaf.certificate, intermediate.certificate)), "below-leaf")
    index, _ = anchor(world, [forged], "signer-below-leaf")
    index.declarations = [declared(root.certificate, "authority")]
    assert run(index, world, document=forged).verdict is Verdict.SIGNER_NOT_ISSUER


def test_anchoring_time_is_used_without_a_signing_time(issuer_identity) -> None:
    anchored_at = NOW - dt.timedelta(days=3)
    evidence = check_signer("PTB", issuer_identity.certificate, [],
                            [declared(issuer_identity.certificate,
                                      valid_from=NOW - dt.timedelta(days=5),
                                      valid_until=NOW - dt.timedelta(days=1))],
                            signing_time=None, anchored_at=anchored_at, anchored_block=7)
    assert (evidence.status, evidence.time_used, evidence.time_source) == \
        ("declared", anchored_at, "anchoring-time")


def test_declared_bytes_that_are_no_certificate_match_nothing(issuer_identity) -> None:
    junk = dataclasses.replace(declared(issuer_identity.certificate, "authority"),
                               certificate=b"\x30\x03\x02\x01\x05")
    evidence = check_signer("PTB", issuer_identity.certificate, [], [junk], signing_time=NOW,
                            anchored_at=NOW, anchored_block=1)
    assert evidence.status == "not-declared" and evidence.matched is None
    assert "none of the 1 signing certificate(s)" in evidence.detail


def test_hostile_key_info_is_walked_within_bounds() -> None:
    root = create_test_certificate_authority("Root CA", "Test PTB", "DE")
    intermediate = intermediate_ca(root, "Issuing CA")
    leaf = create_test_signing_identity("Leaf", "Test PTB", "DE", issuer=intermediate)
    # Same-named decoys ahead of the real intermediate push it past what is looked at.
    decoys = [intermediate_ca(root, "Issuing CA").certificate
              for _ in range(MAX_KEY_INFO_CERTIFICATES)]
    assert issued_under(leaf.certificate, root.certificate, [intermediate.certificate])
    assert issued_under(leaf.certificate, root.certificate, [*decoys[:3],
                                                              intermediate.certificate])
    assert not issued_under(leaf.certificate, root.certificate,
                            [*decoys, intermediate.certificate])
