"""Revocation of the signer's certificate at the signing time, from the OCSP responses
and CRLs an XAdES-X-L signature carries (registry.documents.signer_revocation)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509

from registry.documents.keys import SigningIdentity
from registry.documents.signer_revocation import SignerRevocationStatus
from registry.documents.signer_trust import (
    SignerTrust,
    SignerTrustStatus,
    TrustAnchors,
    without_proof_of_existence,
)
from registry.documents.signing import SignatureStatus, verify_signature
from tests.registry.documents._pki_fixtures import (
    AFTER_SIGNING,
    EPOCH,
    SIGNED_AT,
    IssuingCA,
    create_test_pki,
    revocation_status,
    signed_by,
    trust_of,
)
from tests.registry.documents._sign_fixtures import xmlsec1_verify


def test_revoked_before_signing_per_ocsp(example: bytes, ca: IssuingCA,
                                         anchors: TrustAnchors) -> None:
    signer = ca.issue_signer("Compromised Lab")
    revoked_at = SIGNED_AT - dt.timedelta(days=2)
    ca.revoke(signer.certificate, revoked_at, x509.ReasonFlags.key_compromise)
    document = signed_by(example, signer,
                         ocsp_responses=[ca.ocsp_response(signer.certificate, AFTER_SIGNING)])
    trust = trust_of(document, anchors)

    assert trust.status is SignerTrustStatus.REVOKED and trust.refuses
    assert trust.revocation is not None
    assert trust.revocation.revoked_at == revoked_at
    assert trust.revocation.reason == "keyCompromise"
    assert "OCSP" in (trust.revocation.source or "")
    assert revoked_at.isoformat() in trust.detail and "keyCompromise" in trust.detail


def test_revoked_before_signing_per_crl(example: bytes, ca: IssuingCA,
                                        anchors: TrustAnchors) -> None:
    signer = ca.issue_signer("Superseded Lab")
    revoked_at = SIGNED_AT - dt.timedelta(hours=1)
    ca.revoke(signer.certificate, revoked_at, x509.ReasonFlags.superseded)
    trust = trust_of(signed_by(example, signer, crls=[ca.crl(AFTER_SIGNING)]), anchors)

    assert trust.status is SignerTrustStatus.REVOKED
    assert trust.revocation is not None
    assert (trust.revocation.revoked_at, trust.revocation.reason) == (revoked_at, "superseded")
    assert "CRL" in (trust.revocation.source or "")


def test_crl_without_entry_issued_after_signing_shows_not_revoked(
        example: bytes, ca: IssuingCA, anchors: TrustAnchors) -> None:
    signer = ca.issue_signer("Clean Lab")
    other = ca.issue_signer("Other Lab")
    ca.revoke(other.certificate, EPOCH)
    trust = trust_of(signed_by(example, signer, crls=[ca.crl(AFTER_SIGNING)]), anchors)
    assert trust.revocation is not None
    assert trust.revocation.status is SignerRevocationStatus.NOT_REVOKED


def test_a_partitioned_crl_is_silent_about_the_signer(example: bytes, ca: IssuingCA,
                                                      anchors: TrustAnchors) -> None:
    signer = ca.issue_signer("Outside The Partition")
    partitioned = ca.crl(AFTER_SIGNING, only_ca_certificates=True)
    trust = trust_of(signed_by(example, signer, crls=[partitioned]), anchors)
    assert revocation_status(trust) is SignerRevocationStatus.UNKNOWN
    assert "covers only part" in trust.detail


def test_revoked_after_signing_stays_trusted_and_is_noted(example: bytes, ca: IssuingCA,
                                                          anchors: TrustAnchors) -> None:
    signer = ca.issue_signer("Later Revoked Lab")
    revoked_at = SIGNED_AT + dt.timedelta(days=3)
    ca.revoke(signer.certificate, revoked_at, x509.ReasonFlags.cessation_of_operation)
    later = SIGNED_AT + dt.timedelta(days=4)
    document = signed_by(example, signer,
                         ocsp_responses=[ca.ocsp_response(signer.certificate, later)],
                         crls=[ca.crl(later)])
    trust = trust_of(document, anchors)

    assert trust.status is SignerTrustStatus.TRUSTED
    assert trust.revocation is not None
    assert trust.revocation.status is SignerRevocationStatus.REVOKED_AFTER_SIGNING
    assert trust.revocation.revoked_at == revoked_at
    assert "after it signed" in trust.detail and "cessationOfOperation" in trust.detail


def test_revoked_after_claimed_signing_needs_an_earlier_proof_of_existence(
        example: bytes, ca: IssuingCA, anchors: TrustAnchors) -> None:
    compromised = ca.issue_signer("Stolen Key Lab")
    retired = ca.issue_signer("Retired Key Lab")
    revoked_at = SIGNED_AT + dt.timedelta(days=3)
    ca.revoke(compromised.certificate, revoked_at, x509.ReasonFlags.key_compromise)
    ca.revoke(retired.certificate, revoked_at, x509.ReasonFlags.superseded)
    later = revoked_at + dt.timedelta(days=1)

    def trust_in(signer: SigningIdentity) -> SignerTrust:
        return trust_of(signed_by(example, signer, ocsp_responses=[
            ca.ocsp_response(signer.certificate, later)]), anchors)

    stolen = trust_in(compromised)
    assert stolen.revocation.status is SignerRevocationStatus.REVOKED_AFTER_SIGNING
    # Proven to exist before the revocation (e.g. anchored then): the claim is not needed.
    assert without_proof_of_existence(stolen, revoked_at - dt.timedelta(hours=1)) is stolen
    # First proven after it: a key thief could have backdated SigningTime.
    doubted = without_proof_of_existence(stolen, later)
    assert doubted.status is SignerTrustStatus.REVOKED and doubted.refuses
    assert doubted.revocation.status is SignerRevocationStatus.REVOKED
    assert "proof of existence" in doubted.detail and "keyCompromise" in doubted.detail
    # Superseded: nobody else held the key, so the claimed signing time stands.
    superseded = trust_in(retired)
    assert without_proof_of_existence(superseded, later) is superseded


def test_delegated_ocsp_responder(example: bytes, ca: IssuingCA, anchors: TrustAnchors) -> None:
    signer = ca.issue_signer("Delegated Lab")
    ca.revoke(signer.certificate, SIGNED_AT - dt.timedelta(days=1))
    delegated = ca.ocsp_response(signer.certificate, AFTER_SIGNING,
                                 responder=ca.delegated_responder())
    assert trust_of(signed_by(example, signer, ocsp_responses=[delegated]),
                    anchors).status is SignerTrustStatus.REVOKED

    # Issued by the CA, but not for OCSP signing: its answer is no evidence.
    not_delegated = ca.ocsp_response(signer.certificate, AFTER_SIGNING,
                                     responder=ca.delegated_responder(ocsp_signing=False))
    trust = trust_of(signed_by(example, signer, ocsp_responses=[not_delegated]), anchors)
    assert trust.status is SignerTrustStatus.TRUSTED
    assert revocation_status(trust) is SignerRevocationStatus.UNKNOWN
    assert any("not for OCSP signing" in why for why in trust.revocation.not_accepted)

    # A responder of another CA, however well delegated there, does not speak for this one.
    foreign = create_test_pki("Elsewhere").issuing.delegated_responder()
    by_stranger = ca.ocsp_response(signer.certificate, AFTER_SIGNING, responder=foreign)
    trust = trust_of(signed_by(example, signer, ocsp_responses=[by_stranger]), anchors)
    assert trust.status is SignerTrustStatus.TRUSTED
    assert any("neither the issuing CA nor delegated" in why
               for why in trust.revocation.not_accepted)


def test_forged_revocation_data_is_not_evidence(example: bytes, ca: IssuingCA,
                                                anchors: TrustAnchors) -> None:
    signer = ca.issue_signer("Forgery Target")
    forger = ca.impostor()  # answers in the CA's name, signs with its own key
    # A forged "good" cannot hide a revocation, a forged "revoked" cannot invent one.
    forged_good = forger.ocsp_response(signer.certificate, AFTER_SIGNING)
    forger.revoke(signer.certificate, EPOCH)
    forged_revoked = forger.ocsp_response(signer.certificate, AFTER_SIGNING)
    forged_crl = forger.crl(AFTER_SIGNING)
    trust = trust_of(signed_by(example, signer, ocsp_responses=[forged_good, forged_revoked],
                               crls=[forged_crl]), anchors)

    assert trust.status is SignerTrustStatus.TRUSTED
    assert trust.revocation is not None
    assert trust.revocation.status is SignerRevocationStatus.UNKNOWN
    assert len(trust.revocation.not_accepted) == 3
    assert all("does not verify" in why for why in trust.revocation.not_accepted)
    assert "good" not in trust.detail


def test_a_bare_basic_ocsp_response_is_read_too(example: bytes, ca: IssuingCA,
                                                 anchors: TrustAnchors) -> None:
    signer = ca.issue_signer("CAdES-minded Lab")
    ca.revoke(signer.certificate, SIGNED_AT - dt.timedelta(days=1))
    full = ca.ocsp_response(signer.certificate, AFTER_SIGNING)
    basic = _basic_ocsp_response(full)
    assert basic != full
    trust = trust_of(signed_by(example, signer, ocsp_responses=[basic]), anchors)
    assert trust.status is SignerTrustStatus.REVOKED


def test_embedded_values_are_bounded(example: bytes, ca: IssuingCA,
                                     anchors: TrustAnchors) -> None:
    signer = ca.issue_signer("Flooding Lab")
    other = ca.issue_signer("Someone Else")
    noise = [ca.ocsp_response(other.certificate, AFTER_SIGNING)] * 40
    trust = trust_of(signed_by(example, signer, ocsp_responses=noise), anchors)
    assert revocation_status(trust) is SignerRevocationStatus.UNKNOWN
    assert any("beyond the first 32 ignored" in why for why in trust.revocation.not_accepted)
    assert sum("CertID" in why for why in trust.revocation.not_accepted) == 32


def test_ocsp_about_another_certificate_is_not_evidence(example: bytes, ca: IssuingCA,
                                                        anchors: TrustAnchors) -> None:
    signer = ca.issue_signer("Asked Lab")
    other = ca.issue_signer("Other Lab")
    response = ca.ocsp_response(other.certificate, AFTER_SIGNING)
    trust = trust_of(signed_by(example, signer, ocsp_responses=[response]), anchors)
    assert revocation_status(trust) is SignerRevocationStatus.UNKNOWN
    assert any("CertID" in why for why in trust.revocation.not_accepted)


def test_good_answer_older_than_the_signature_proves_nothing(
        example: bytes, ca: IssuingCA, anchors: TrustAnchors) -> None:
    signer = ca.issue_signer("Stale Lab")
    stale = ca.ocsp_response(signer.certificate, SIGNED_AT - dt.timedelta(days=1))
    trust = trust_of(signed_by(example, signer, ocsp_responses=[stale]), anchors)
    assert trust.status is SignerTrustStatus.TRUSTED
    assert revocation_status(trust) is SignerRevocationStatus.UNKNOWN
    assert "predates the signature" in trust.revocation.detail


def test_no_revocation_data_means_status_unknown(example: bytes, ca: IssuingCA,
                                                 anchors: TrustAnchors) -> None:
    trust = trust_of(signed_by(example, ca.issue_signer("Plain BES Lab")), anchors)
    assert trust.status is SignerTrustStatus.TRUSTED
    assert revocation_status(trust) is SignerRevocationStatus.UNKNOWN
    assert "no revocation data embedded; status unknown" in trust.detail
    assert "good" not in trust.detail


def test_unsigned_properties_do_not_break_the_signature(example: bytes, ca: IssuingCA,
                                                        tmp_path: Path) -> None:
    signer = ca.issue_signer("Augmented Lab")
    document = signed_by(example, signer, certificates=[ca.certificate],
                         ocsp_responses=[ca.ocsp_response(signer.certificate, AFTER_SIGNING)],
                         crls=[ca.crl(AFTER_SIGNING)])
    assert verify_signature(document).is_valid
    # An independent verifier agrees (certificate checks off: the test PKI has expired).
    checked = xmlsec1_verify(document, tmp_path, trusted=None)
    assert checked.returncode == 0, checked.stderr
    # The revocation data is unsigned, but the signed content is not: tampering still shows.
    tampered = document.replace(b"</si:value>", b"1</si:value>", 1)
    assert tampered != document
    assert verify_signature(tampered).status is SignatureStatus.INVALID



def _basic_ocsp_response(der: bytes) -> bytes:
    """The BasicOCSPResponse inside an OCSPResponse: the OCTET STRING in responseBytes."""
    marker = bytes.fromhex("06092b0601050507300101")  # id-pkix-ocsp-basic, then the string
    start = der.index(marker) + len(marker)
    assert der[start] == 0x04
    length = der[start + 1]
    if length & 0x80:
        size = length & 0x7F
        return der[start + 2 + size:start + 2 + size
                   + int.from_bytes(der[start + 2:start + 2 + size])]
    return der[start + 2:start + 2 + length]
