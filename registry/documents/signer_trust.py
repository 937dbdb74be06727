"""Was the signer's certificate good when it signed? PKI validity of a XAdES signer.

Two questions, answered at the signature's SigningTime:

1. Does the signer's certificate chain to a configured trust anchor (a national or
   EU-style trusted list, as PEM files), with every certificate valid then and the
   leaf's key usage fit for signing documents?
2. Had the certificate been revoked by then? Answered only from revocation data the
   signature carries (XAdES-X-L / baseline-LT `xades:RevocationValues`: OCSP responses
   and CRLs) that proves itself (registry.documents.signer_revocation). Nothing is
   fetched: without usable data the status is *unknown*, never good.

The chain is built with `cryptography.x509.verification`. Its verifiers are made for
TLS, but `PolicyBuilder.extension_policies` lets the end-entity policy be a document-
signing one: no SAN or TLS EKU demands, a KeyUsage with digitalSignature or
nonRepudiation, and an EKU (if any) meant for documents. CAs keep the web-PKI CA profile
(basic constraints, keyCertSign, key identifiers), which trusted-list CAs follow.

These modules know certificates, OCSP and CRLs; they know nothing of DCCs or of how the
signature itself verified (registry.documents.signing calls them once that has passed).
"""

from __future__ import annotations

import datetime as dt
from base64 import b64decode
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import verification as x509_verification
from cryptography.x509.oid import ExtendedKeyUsageOID
from lxml import etree

from registry.documents.signer_revocation import (
    REASONS_DOUBTING_THE_SIGNER,
    EmbeddedValidationData,
    SignerRevocation,
    SignerRevocationStatus,
    check_revocation,
    unique_certificates,
    validity_problem,
)
from registry.errors import ConfigurationError

XADES_NS = "http://uri.etsi.org/01903/v1.3.2#"
_UNSIGNED = (f"{{{XADES_NS}}}QualifyingProperties/{{{XADES_NS}}}UnsignedProperties/"
             f"{{{XADES_NS}}}UnsignedSignatureProperties")
_PEM_SUFFIXES = (".pem", ".crt", ".cer")
MAX_EMBEDDED_VALUES = 32  # of each kind: certificates, OCSP responses, CRLs
MAX_CHAIN_CANDIDATES = 64  # intermediates offered to path building, KeyInfo included

# EKUs that allow signing documents. A leaf without EKU is unrestricted (RFC 5280);
# one whose EKU lists only e.g. TLS server authentication is not a document signer.
DOCUMENT_SIGNING_EKUS = frozenset({
    x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36"),  # id-kp-documentSigning (RFC 9336)
    ExtendedKeyUsageOID.EMAIL_PROTECTION,  # what many qualified signature certificates carry
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.12"),  # Microsoft document signing
    x509.ObjectIdentifier("1.2.840.113583.1.1.5"),  # Adobe authentic documents trust
})


class SignerTrustStatus(StrEnum):
    TRUSTED = "trusted"  # chains to an anchor; not shown revoked before signing
    UNTRUSTED = "untrusted"  # no chain to an anchor, or wrong key usage/validity then
    REVOKED = "revoked"  # revoked at or before the signing time, proven by embedded data
    UNCHECKED = "unchecked"  # no trust anchors configured


@dataclass(frozen=True)
class CertificateRef:
    subject: str
    sha256_fingerprint: str

    @classmethod
    def of(cls, certificate: x509.Certificate) -> CertificateRef:
        return cls(certificate.subject.rfc4514_string(),
                   certificate.fingerprint(hashes.SHA256()).hex())


@dataclass(frozen=True)
class SignerTrust:
    status: SignerTrustStatus
    detail: str
    chain: tuple[CertificateRef, ...] = ()  # leaf first, anchor last
    anchor: CertificateRef | None = None
    revocation: SignerRevocation | None = None

    @property
    def refuses(self) -> bool:
        return self.status in (SignerTrustStatus.UNTRUSTED, SignerTrustStatus.REVOKED)


@dataclass(frozen=True)
class TrustAnchors:
    """The configured trust anchors (CERTREG_TRUST_ANCHORS)."""

    certificates: tuple[x509.Certificate, ...]
    source: str

    @classmethod
    def from_path(cls, path: Path | str) -> TrustAnchors:
        """Every PEM certificate in a file, or in the .pem/.crt/.cer files of a directory."""
        path = Path(path)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in _PEM_SUFFIXES)
        elif path.is_file():
            files = [path]
        else:
            raise ConfigurationError(f"trust anchors: {path} is neither a file nor a directory")
        certificates: list[x509.Certificate] = []
        for file in files:
            try:
                certificates.extend(x509.load_pem_x509_certificates(file.read_bytes()))
            except (OSError, ValueError) as exc:
                raise ConfigurationError(
                    f"trust anchors: {file} holds no readable PEM certificate ({exc})") from None
        if not certificates:
            raise ConfigurationError(f"trust anchors: no PEM certificate found in {path}")
        return cls(tuple(certificates), str(path))


def read_validation_data(signature: etree._Element) -> EmbeddedValidationData:
    """The certificates, OCSP responses and CRLs in a ds:Signature's unsigned properties."""
    properties = signature.find(f"{{http://www.w3.org/2000/09/xmldsig#}}Object/{_UNSIGNED}")
    if properties is None:
        return EmbeddedValidationData()
    unreadable: list[str] = []

    def values(path: str) -> list[bytes]:
        found = []
        for count, element in enumerate(properties.iterfind(path)):
            if count == MAX_EMBEDDED_VALUES:
                # Each one costs a signature check: a hostile document must not buy unbounded work.
                unreadable.append(f"{etree.QName(element).localname} beyond the first "
                                  f"{MAX_EMBEDDED_VALUES} ignored")
                break
            try:
                found.append(b64decode("".join((element.text or "").split()), validate=True))
            except ValueError:
                unreadable.append(f"{etree.QName(element).localname} is not base64")
        return found

    certificates = []
    for der in values(f"{{{XADES_NS}}}CertificateValues/{{{XADES_NS}}}EncapsulatedX509Certificate"):
        try:
            certificates.append(x509.load_der_x509_certificate(der))
        except ValueError:
            unreadable.append("an EncapsulatedX509Certificate is not a certificate")
    revocation = f"{{{XADES_NS}}}RevocationValues/"
    return EmbeddedValidationData(
        certificates=tuple(certificates),
        ocsp_responses=tuple(values(
            f"{revocation}{{{XADES_NS}}}OCSPValues/{{{XADES_NS}}}EncapsulatedOCSPValue")),
        crls=tuple(values(
            f"{revocation}{{{XADES_NS}}}CRLValues/{{{XADES_NS}}}EncapsulatedCRLValue")),
        unreadable=tuple(unreadable))


def build_chain(leaf: x509.Certificate, intermediates: Sequence[x509.Certificate],
                anchors: Sequence[x509.Certificate], at: dt.datetime
                ) -> tuple[list[x509.Certificate] | None, str]:
    """The chain leaf -> ... -> anchor valid at `at` under the document-signing policy,
    or None with the reason there is none."""
    if not anchors:
        return None, "no trust anchors were given"
    if leaf in anchors:
        # A pinned certificate (e.g. an institute's self-signed one) is its own anchor.
        if not leaf.not_valid_before_utc <= at <= leaf.not_valid_after_utc:
            return None, validity_problem(leaf, at)
        return [leaf], "the signer certificate itself is a trust anchor"
    ee_policy = (x509_verification.ExtensionPolicy.permit_all()
                 .require_present(x509.KeyUsage, x509_verification.Criticality.AGNOSTIC,
                                  _require_signing_key_usage)
                 .may_be_present(x509.ExtendedKeyUsage, x509_verification.Criticality.AGNOSTIC,
                                 _require_document_signing_eku))
    verifier = (
        x509_verification.PolicyBuilder()
        .store(x509_verification.Store(list(anchors)))
        .time(at)
        .extension_policies(ee_policy=ee_policy,
                            ca_policy=x509_verification.ExtensionPolicy.webpki_defaults_ca())
        .build_client_verifier())
    try:
        verified = verifier.verify(leaf, list(intermediates))
    except x509_verification.VerificationError as exc:
        # cryptography's message says "not valid at validation time" without the dates.
        expired = [validity_problem(cert, at) for cert in [leaf, *intermediates]
                   if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc]
        return None, f"no chain to a trust anchor at {at.isoformat()}: " + (
            "; ".join(expired) if expired and "validation time" in str(exc) else str(exc))
    return list(verified.chain), f"chains to {verified.chain[-1].subject.rfc4514_string()}"


def assess_signer(leaf: x509.Certificate, key_info_certificates: Sequence[x509.Certificate],
                  embedded: EmbeddedValidationData, anchors: TrustAnchors | None,
                  signing_time: dt.datetime | None) -> SignerTrust:
    """Judge the signer certificate at the signing time (now, if the signature claims none)."""
    if anchors is None:
        return SignerTrust(SignerTrustStatus.UNCHECKED,
                           "certificate chain and revocation not checked: no trust anchors "
                           "configured (CERTREG_TRUST_ANCHORS)")
    at = signing_time or dt.datetime.now(dt.UTC)
    when = (f"at the signing time {at.isoformat()}" if signing_time
            else f"now ({at.isoformat()}; the signature claims no SigningTime)")
    # Path building is bounded by what it is offered: a hostile KeyInfo may hold thousands.
    candidates = unique_certificates(
        c for c in [*key_info_certificates, *embedded.certificates] if c != leaf
    )[:MAX_CHAIN_CANDIDATES]
    chain, chain_detail = build_chain(leaf, candidates, anchors.certificates, at)
    if chain is None:
        return SignerTrust(SignerTrustStatus.UNTRUSTED,
                           f"the signer certificate does not chain to a trust anchor of "
                           f"{anchors.source} {when}: {chain_detail}",
                           chain=(CertificateRef.of(leaf),))
    refs = tuple(CertificateRef.of(c) for c in chain)
    issuer = chain[1] if len(chain) > 1 else None
    revocation = check_revocation(leaf, issuer, embedded, at, [*candidates, *chain])
    summary = f"{chain_detail} {when}; revocation: {revocation.detail}"
    status = (SignerTrustStatus.REVOKED if revocation.status is SignerRevocationStatus.REVOKED
              else SignerTrustStatus.TRUSTED)
    return SignerTrust(status, summary, chain=refs, anchor=refs[-1], revocation=revocation)


def without_proof_of_existence(trust: SignerTrust, existed_by: dt.datetime) -> SignerTrust:
    """`trust` reconsidered once the document is proven to exist by `existed_by` (its
    anchoring): a certificate revoked after its claimed signing time, for a reason that
    casts doubt on who held the key, but before that proof, counts as revoked then.
    The SigningTime is the signer's claim, which whoever holds a compromised key can
    backdate; without a proof of existence from before the revocation (ETSI EN 319 102-1
    "REVOKED_NO_POE") only that claim places the signature before it."""
    revocation = trust.revocation
    if (revocation is None or revocation.status is not SignerRevocationStatus.REVOKED_AFTER_SIGNING
            or revocation.revoked_at is None or existed_by < revocation.revoked_at
            or revocation.reason not in REASONS_DOUBTING_THE_SIGNER):
        return trust
    detail = (f"revoked at {revocation.revoked_at.isoformat()} "
              f"({revocation.reason or 'no reason given'}), per {revocation.source}; the "
              f"signature claims an earlier signing time, but the document's first proof of "
              f"existence, its anchoring at {existed_by.isoformat()}, is later")
    revoked = replace(revocation, status=SignerRevocationStatus.REVOKED, detail=detail)
    return replace(trust, status=SignerTrustStatus.REVOKED, detail=detail, revocation=revoked)


# --- internals -------------------------------------------------------------------------------


def _require_signing_key_usage(policy: Any, certificate: x509.Certificate,
                               key_usage: x509.KeyUsage) -> None:
    if not (key_usage.digital_signature or key_usage.content_commitment):
        raise ValueError("the signer's KeyUsage allows neither digitalSignature nor "
                         "nonRepudiation")


def _require_document_signing_eku(policy: Any, certificate: x509.Certificate,
                                  eku: x509.ExtendedKeyUsage | None) -> None:
    if eku is not None and not DOCUMENT_SIGNING_EKUS.intersection(eku):
        raise ValueError("the signer's ExtendedKeyUsage does not allow signing documents")


