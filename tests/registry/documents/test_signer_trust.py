"""The signer certificate's PKI validity at the signing time (registry.documents.
signer_trust): chain to the configured anchors, key usage, validity, configuration."""

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
from registry.documents.signer_revocation import SignerRevocationStatus
from registry.documents.signer_trust import (
    SignerTrustStatus,
    TrustAnchors,
)
from registry.documents.signing import SignatureStatus, verify_signature
from registry.documents.xmldsig import _FixedTimeXAdESSigner
from registry.errors import ConfigurationError
from tests.registry.documents._pki_fixtures import (
    AFTER_SIGNING,
    EPOCH,
    SIGNED_AT,
    CertificateHierarchy,
    IssuingCA,
    create_test_pki,
    signed_by,
    trust_of,
    with_validation_data,
    write_anchor,
)

PYDCC_SIGNED = "signed/dcc_gp_temperature_typical_v12_signed.xml"


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
    document = signed_by(example, signer,
                         ocsp_responses=[ca.ocsp_response(signer.certificate, AFTER_SIGNING)])
    trust = trust_of(document, anchors)

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
    bare = signed_by(example, signer)
    assert trust_of(bare, anchors).status is SignerTrustStatus.UNTRUSTED

    augmented = with_validation_data(bare, certificates=[signer.certificate, ca.certificate])
    assert trust_of(augmented, anchors).status is SignerTrustStatus.TRUSTED


def test_unknown_ca_is_untrusted(example: bytes, ca: IssuingCA) -> None:
    elsewhere = create_test_pki("Elsewhere")
    signer = ca.issue_signer("Mass Lab")
    trust = trust_of(signed_by(example, signer), TrustAnchors((elsewhere.anchor,), "another list"))
    assert trust.status is SignerTrustStatus.UNTRUSTED
    assert trust.refuses
    assert "does not chain to a trust anchor of another list" in trust.detail
    assert trust.anchor is None


def test_issuing_ca_expired_at_signing_time_is_untrusted(example: bytes, anchors: TrustAnchors,
                                                         pki: CertificateHierarchy) -> None:
    short_lived = pki.root.issue_subordinate("Short-lived CA",
                                            not_after=EPOCH + dt.timedelta(days=10))
    signer = short_lived.issue_signer("Length Lab")  # valid for a year, its CA for ten days
    trust = trust_of(signed_by(example, signer), anchors)
    assert trust.status is SignerTrustStatus.UNTRUSTED
    assert "Short-lived CA" in trust.detail and SIGNED_AT.isoformat() in trust.detail


def test_signer_expired_at_signing_time(example: bytes, ca: IssuingCA,
                                        anchors: TrustAnchors) -> None:
    signer = ca.issue_signer("Retired Lab", not_after=EPOCH + dt.timedelta(days=20))
    document = _sign_at(example, signer, SIGNED_AT)

    trust = trust_of(document, anchors)
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
    assert trust_of(signed_by(example, wrong_usage), anchors).status is SignerTrustStatus.UNTRUSTED

    no_usage_stated = ca.issue_signer("Unrestricted Key", key_usage=False)
    assert trust_of(signed_by(example, no_usage_stated),
                    anchors).status is SignerTrustStatus.UNTRUSTED

    tls_only = ca.issue_signer("Web Server", eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    trust = trust_of(signed_by(example, tls_only), anchors)
    assert trust.status is SignerTrustStatus.UNTRUSTED, trust.detail

    document_signer = ca.issue_signer("Document Signer",
                                      eku=[x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")])
    trust = trust_of(signed_by(example, document_signer), anchors)
    assert trust.status is SignerTrustStatus.TRUSTED


def test_no_anchors_checks_nothing_and_says_so(example: bytes, ca: IssuingCA) -> None:
    trust = trust_of(signed_by(example, ca.issue_signer("Any Lab")), None)
    assert trust.status is SignerTrustStatus.UNCHECKED
    assert "not checked" in trust.detail and not trust.refuses


# --- PyDCC's signed vectors (XAdES-BES: a leaf, no chain, no revocation data) ---------------

def test_pydcc_vector_under_anchors(read_corpus: Callable[[str], bytes],
                                    anchors: TrustAnchors) -> None:
    document = read_corpus(PYDCC_SIGNED)
    untrusted = trust_of(document, anchors)
    assert untrusted.status is SignerTrustStatus.UNTRUSTED  # its CA is on no list of ours

    leaf = x509.load_pem_x509_certificate(_pem_of_first_certificate(document))
    pinned = trust_of(document, TrustAnchors((leaf,), "a pinned certificate"))
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
