"""The signer certificate's PKI validity at the signing time: chain to the configured
anchors, key usage, validity, and the revocation data an XAdES-X-L signature carries."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, SignatureConstructionMethod, SignatureMethod

from registry.documents.keys import SigningIdentity
from registry.documents.signer_trust import (
    SignerRevocationStatus,
    SignerTrust,
    SignerTrustStatus,
    TrustAnchors,
    without_proof_of_existence,
)
from registry.documents.signing import (
    SignatureStatus,
    _FixedTimeXAdESSigner,
    sign_document,
    verify_signature,
)
from registry.errors import ConfigurationError
from tests.registry.documents._pki_fixtures import (
    EPOCH,
    CertificateHierarchy,
    IssuingCA,
    create_test_pki,
    with_validation_data,
    write_anchor,
)
from tests.registry.documents._sign_fixtures import xmlsec1_verify

EXAMPLE = "examples/dcc_gp_temperature_simplified_v12.xml"
PYDCC_SIGNED = "signed/dcc_gp_temperature_typical_v12_signed.xml"
SIGNED_AT = EPOCH + dt.timedelta(days=30)
AFTER_SIGNING = SIGNED_AT + dt.timedelta(minutes=5)


@pytest.fixture(scope="module")
def pki() -> CertificateHierarchy:
    return create_test_pki()


@pytest.fixture(scope="module")
def anchors(pki: CertificateHierarchy) -> TrustAnchors:
    return TrustAnchors((pki.anchor,), "the test trusted list")


@pytest.fixture
def ca(pki: CertificateHierarchy) -> IssuingCA:
    # Each test revokes what it likes without touching the others' CA state.
    pki.issuing.revoked.clear()
    return pki.issuing


@pytest.fixture(scope="module")
def example(shared_dcc: Path) -> bytes:
    return (shared_dcc / EXAMPLE).read_bytes()


def _trust(document: bytes, anchors: TrustAnchors | None) -> SignerTrust:
    verdict = verify_signature(document, anchors=anchors)
    assert verdict.status is SignatureStatus.VALID, verdict.reason
    assert verdict.signer_trust is not None
    return verdict.signer_trust


def _revocation_status(trust: SignerTrust) -> SignerRevocationStatus | None:
    return trust.revocation.status if trust.revocation is not None else None


def _signed(example: bytes, signer: SigningIdentity, **validation: object) -> bytes:
    signed = sign_document(example, signer, signing_time=SIGNED_AT).data
    return with_validation_data(signed, **validation) if validation else signed  # type: ignore[arg-type]


def _sign_at(example: bytes, signer: SigningIdentity, signing_time: dt.datetime) -> bytes:
    """Signed at a time sign_document refuses (outside the certificate's validity)."""
    xades = _FixedTimeXAdESSigner(
        signing_time, method=SignatureConstructionMethod.enveloped,
        signature_algorithm=SignatureMethod.ECDSA_SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    root = xades.sign(etree.fromstring(example), key=signer.private_key,
                      cert=[signer.certificate, *signer.chain], always_add_key_value=False)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# --- the chain -------------------------------------------------------------------------------

def test_good_chain_with_fresh_ocsp_is_trusted(example: bytes, ca: IssuingCA,
                                               anchors: TrustAnchors) -> None:
    signer = ca.issue_signer("Pressure Lab")
    document = _signed(example, signer,
                       ocsp_responses=[ca.ocsp_response(signer.certificate, AFTER_SIGNING)])
    trust = _trust(document, anchors)

    assert trust.status is SignerTrustStatus.TRUSTED, trust.detail
    assert [ref.subject for ref in trust.chain] == [
        signer.certificate.subject.rfc4514_string(), ca.certificate.subject.rfc4514_string(),
        anchors.certificates[0].subject.rfc4514_string()]
    assert trust.chain[0].sha256_fingerprint == signer.certificate.fingerprint(
        hashes.SHA256()).hex()
    assert trust.anchor == trust.chain[-1]
    assert trust.revocation is not None
    assert trust.revocation.status is SignerRevocationStatus.NOT_REVOKED
    assert "OCSP" in (trust.revocation.source or "")
    assert trust.revocation.issued_at == AFTER_SIGNING


def test_intermediates_from_certificate_values(example: bytes, ca: IssuingCA,
                                               anchors: TrustAnchors) -> None:
    signer = ca.issue_signer("Flow Lab", with_chain=False)  # KeyInfo holds the leaf only
    bare = _signed(example, signer)
    assert _trust(bare, anchors).status is SignerTrustStatus.UNTRUSTED

    augmented = with_validation_data(bare, certificates=[signer.certificate, ca.certificate])
    assert _trust(augmented, anchors).status is SignerTrustStatus.TRUSTED


def test_unknown_ca_is_untrusted(example: bytes, ca: IssuingCA) -> None:
    elsewhere = create_test_pki("Elsewhere")
    signer = ca.issue_signer("Mass Lab")
    trust = _trust(_signed(example, signer), TrustAnchors((elsewhere.anchor,), "another list"))
    assert trust.status is SignerTrustStatus.UNTRUSTED
    assert trust.refuses
    assert "does not chain to a trust anchor of another list" in trust.detail
    assert trust.anchor is None


def test_issuing_ca_expired_at_signing_time_is_untrusted(example: bytes, anchors: TrustAnchors,
                                                         pki: CertificateHierarchy) -> None:
    short_lived = pki.root.issue_subordinate("Short-lived CA",
                                            not_after=EPOCH + dt.timedelta(days=10))
    signer = short_lived.issue_signer("Length Lab")  # valid for a year, its CA for ten days
    trust = _trust(_signed(example, signer), anchors)
    assert trust.status is SignerTrustStatus.UNTRUSTED
    assert "Short-lived CA" in trust.detail and SIGNED_AT.isoformat() in trust.detail


def test_signer_expired_at_signing_time(example: bytes, ca: IssuingCA,
                                        anchors: TrustAnchors) -> None:
    signer = ca.issue_signer("Retired Lab", not_after=EPOCH + dt.timedelta(days=20))
    document = _sign_at(example, signer, SIGNED_AT)

    trust = _trust(document, anchors)
    assert trust.status is SignerTrustStatus.UNTRUSTED
    assert "Retired Lab" in trust.detail and "not at " + SIGNED_AT.isoformat() in trust.detail
    # Without anchors, as before: the certificate's validity is part of the signature check.
    assert verify_signature(document).status is SignatureStatus.INVALID


def test_key_usage_must_allow_signing(example: bytes, ca: IssuingCA,
                                      anchors: TrustAnchors) -> None:
    encipher_only = x509.KeyUsage(digital_signature=False, content_commitment=False,
                                  key_encipherment=True, data_encipherment=False,
                                  key_agreement=False, key_cert_sign=False, crl_sign=False,
                                  encipher_only=False, decipher_only=False)
    wrong_usage = ca.issue_signer("Encryption Key", key_usage=encipher_only)
    assert _trust(_signed(example, wrong_usage), anchors).status is SignerTrustStatus.UNTRUSTED

    no_usage_stated = ca.issue_signer("Unrestricted Key", key_usage=False)
    assert _trust(_signed(example, no_usage_stated),
                  anchors).status is SignerTrustStatus.UNTRUSTED

    tls_only = ca.issue_signer("Web Server", eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    trust = _trust(_signed(example, tls_only), anchors)
    assert trust.status is SignerTrustStatus.UNTRUSTED, trust.detail

    document_signer = ca.issue_signer("Document Signer",
                                      eku=[x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")])
    assert _trust(_signed(example, document_signer), anchors).status is SignerTrustStatus.TRUSTED


def test_no_anchors_checks_nothing_and_says_so(example: bytes, ca: IssuingCA) -> None:
    trust = _trust(_signed(example, ca.issue_signer("Any Lab")), None)
    assert trust.status is SignerTrustStatus.UNCHECKED
    assert "not checked" in trust.detail and not trust.refuses


# --- revocation ------------------------------------------------------------------------------

def test_revoked_before_signing_per_ocsp(example: bytes, ca: IssuingCA,
                                         anchors: TrustAnchors) -> None:
    signer = ca.issue_signer("Compromised Lab")
    revoked_at = SIGNED_AT - dt.timedelta(days=2)
    ca.revoke(signer.certificate, revoked_at, x509.ReasonFlags.key_compromise)
    document = _signed(example, signer,
                       ocsp_responses=[ca.ocsp_response(signer.certificate, AFTER_SIGNING)])
    trust = _trust(document, anchors)

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
    trust = _trust(_signed(example, signer, crls=[ca.crl(AFTER_SIGNING)]), anchors)

    assert trust.status is SignerTrustStatus.REVOKED
    assert trust.revocation is not None
    assert (trust.revocation.revoked_at, trust.revocation.reason) == (revoked_at, "superseded")
    assert "CRL" in (trust.revocation.source or "")


def test_crl_without_entry_issued_after_signing_shows_not_revoked(
        example: bytes, ca: IssuingCA, anchors: TrustAnchors) -> None:
    signer = ca.issue_signer("Clean Lab")
    other = ca.issue_signer("Other Lab")
    ca.revoke(other.certificate, EPOCH)
    trust = _trust(_signed(example, signer, crls=[ca.crl(AFTER_SIGNING)]), anchors)
    assert trust.revocation is not None
    assert trust.revocation.status is SignerRevocationStatus.NOT_REVOKED


def test_a_partitioned_crl_is_silent_about_the_signer(example: bytes, ca: IssuingCA,
                                                      anchors: TrustAnchors) -> None:
    signer = ca.issue_signer("Outside The Partition")
    trust = _trust(_signed(example, signer, crls=[ca.crl(AFTER_SIGNING,
                                                         only_ca_certificates=True)]), anchors)
    assert _revocation_status(trust) is SignerRevocationStatus.UNKNOWN
    assert "covers only part" in trust.detail


def test_revoked_after_signing_stays_trusted_and_is_noted(example: bytes, ca: IssuingCA,
                                                          anchors: TrustAnchors) -> None:
    signer = ca.issue_signer("Later Revoked Lab")
    revoked_at = SIGNED_AT + dt.timedelta(days=3)
    ca.revoke(signer.certificate, revoked_at, x509.ReasonFlags.cessation_of_operation)
    later = SIGNED_AT + dt.timedelta(days=4)
    document = _signed(example, signer,
                       ocsp_responses=[ca.ocsp_response(signer.certificate, later)],
                       crls=[ca.crl(later)])
    trust = _trust(document, anchors)

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

    def trust_of(signer: SigningIdentity) -> SignerTrust:
        return _trust(_signed(example, signer, ocsp_responses=[
            ca.ocsp_response(signer.certificate, later)]), anchors)

    stolen = trust_of(compromised)
    assert stolen.revocation.status is SignerRevocationStatus.REVOKED_AFTER_SIGNING
    # Proven to exist before the revocation (e.g. anchored then): the claim is not needed.
    assert without_proof_of_existence(stolen, revoked_at - dt.timedelta(hours=1)) is stolen
    # First proven after it: a key thief could have backdated SigningTime.
    doubted = without_proof_of_existence(stolen, later)
    assert doubted.status is SignerTrustStatus.REVOKED and doubted.refuses
    assert doubted.revocation.status is SignerRevocationStatus.REVOKED
    assert "proof of existence" in doubted.detail and "keyCompromise" in doubted.detail
    # Superseded: nobody else held the key, so the claimed signing time stands.
    superseded = trust_of(retired)
    assert without_proof_of_existence(superseded, later) is superseded


def test_delegated_ocsp_responder(example: bytes, ca: IssuingCA, anchors: TrustAnchors) -> None:
    signer = ca.issue_signer("Delegated Lab")
    ca.revoke(signer.certificate, SIGNED_AT - dt.timedelta(days=1))
    delegated = ca.ocsp_response(signer.certificate, AFTER_SIGNING,
                                 responder=ca.delegated_responder())
    assert _trust(_signed(example, signer, ocsp_responses=[delegated]),
                  anchors).status is SignerTrustStatus.REVOKED

    # Issued by the CA, but not for OCSP signing: its answer is no evidence.
    not_delegated = ca.ocsp_response(signer.certificate, AFTER_SIGNING,
                                     responder=ca.delegated_responder(ocsp_signing=False))
    trust = _trust(_signed(example, signer, ocsp_responses=[not_delegated]), anchors)
    assert trust.status is SignerTrustStatus.TRUSTED
    assert _revocation_status(trust) is SignerRevocationStatus.UNKNOWN
    assert any("not for OCSP signing" in why for why in trust.revocation.not_accepted)

    # A responder of another CA, however well delegated there, does not speak for this one.
    foreign = create_test_pki("Elsewhere").issuing.delegated_responder()
    by_stranger = ca.ocsp_response(signer.certificate, AFTER_SIGNING, responder=foreign)
    trust = _trust(_signed(example, signer, ocsp_responses=[by_stranger]), anchors)
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
    trust = _trust(_signed(example, signer, ocsp_responses=[forged_good, forged_revoked],
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
    trust = _trust(_signed(example, signer, ocsp_responses=[basic]), anchors)
    assert trust.status is SignerTrustStatus.REVOKED


def test_embedded_values_are_bounded(example: bytes, ca: IssuingCA,
                                     anchors: TrustAnchors) -> None:
    signer = ca.issue_signer("Flooding Lab")
    other = ca.issue_signer("Someone Else")
    noise = [ca.ocsp_response(other.certificate, AFTER_SIGNING)] * 40
    trust = _trust(_signed(example, signer, ocsp_responses=noise), anchors)
    assert _revocation_status(trust) is SignerRevocationStatus.UNKNOWN
    assert any("beyond the first 32 ignored" in why for why in trust.revocation.not_accepted)
    assert sum("CertID" in why for why in trust.revocation.not_accepted) == 32


def test_ocsp_about_another_certificate_is_not_evidence(example: bytes, ca: IssuingCA,
                                                        anchors: TrustAnchors) -> None:
    signer = ca.issue_signer("Asked Lab")
    other = ca.issue_signer("Other Lab")
    response = ca.ocsp_response(other.certificate, AFTER_SIGNING)
    trust = _trust(_signed(example, signer, ocsp_responses=[response]), anchors)
    assert _revocation_status(trust) is SignerRevocationStatus.UNKNOWN
    assert any("CertID" in why for why in trust.revocation.not_accepted)


def test_good_answer_older_than_the_signature_proves_nothing(
        example: bytes, ca: IssuingCA, anchors: TrustAnchors) -> None:
    signer = ca.issue_signer("Stale Lab")
    stale = ca.ocsp_response(signer.certificate, SIGNED_AT - dt.timedelta(days=1))
    trust = _trust(_signed(example, signer, ocsp_responses=[stale]), anchors)
    assert trust.status is SignerTrustStatus.TRUSTED
    assert _revocation_status(trust) is SignerRevocationStatus.UNKNOWN
    assert "predates the signature" in trust.revocation.detail


def test_no_revocation_data_means_status_unknown(example: bytes, ca: IssuingCA,
                                                 anchors: TrustAnchors) -> None:
    trust = _trust(_signed(example, ca.issue_signer("Plain BES Lab")), anchors)
    assert trust.status is SignerTrustStatus.TRUSTED
    assert _revocation_status(trust) is SignerRevocationStatus.UNKNOWN
    assert "no revocation data embedded; status unknown" in trust.detail
    assert "good" not in trust.detail


def test_unsigned_properties_do_not_break_the_signature(example: bytes, ca: IssuingCA,
                                                        tmp_path: Path) -> None:
    signer = ca.issue_signer("Augmented Lab")
    document = _signed(example, signer, certificates=[ca.certificate],
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


# --- PyDCC's signed vectors (XAdES-BES: a leaf, no chain, no revocation data) ---------------

def test_pydcc_vector_under_anchors(read_corpus: Callable[[str], bytes],
                                    anchors: TrustAnchors) -> None:
    document = read_corpus(PYDCC_SIGNED)
    untrusted = _trust(document, anchors)
    assert untrusted.status is SignerTrustStatus.UNTRUSTED  # its CA is on no list of ours

    leaf = x509.load_pem_x509_certificate(_pem_of_first_certificate(document))
    pinned = _trust(document, TrustAnchors((leaf,), "a pinned certificate"))
    # Valid when it signed (2022-10-21), though expired now (2024-12-02).
    assert pinned.status is SignerTrustStatus.TRUSTED
    assert pinned.revocation is not None
    assert pinned.revocation.status is SignerRevocationStatus.UNKNOWN
    assert "status unknown" in pinned.detail


# --- configuration ---------------------------------------------------------------------------

def test_trust_anchors_from_a_directory_or_file(tmp_path: Path, pki: CertificateHierarchy) -> None:
    write_anchor(pki.anchor, tmp_path / "root.pem")
    (tmp_path / "notes.txt").write_text("not a certificate")
    assert TrustAnchors.from_path(tmp_path).certificates == (pki.anchor,)
    assert TrustAnchors.from_path(tmp_path / "root.pem").certificates == (pki.anchor,)

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigurationError):
        TrustAnchors.from_path(empty)
    (empty / "broken.pem").write_text("-----BEGIN CERTIFICATE-----\nAAAA\n")
    with pytest.raises(ConfigurationError):
        TrustAnchors.from_path(empty)
    with pytest.raises(ConfigurationError):
        TrustAnchors.from_path(tmp_path / "missing")


# --- helpers ---------------------------------------------------------------------------------

def _pem_of_first_certificate(document: bytes) -> bytes:
    match = re.search(rb"<ds:X509Certificate>(.*?)</ds:X509Certificate>", document, re.S)
    assert match is not None
    body = b"".join(match.group(1).split())
    return b"-----BEGIN CERTIFICATE-----\n" + body + b"\n-----END CERTIFICATE-----\n"


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
