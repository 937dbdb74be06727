"""Had the signer's certificate been revoked when it signed? Read from the OCSP responses
and CRLs an XAdES-X-L / baseline-LT signature carries, and only from those that prove
themselves: an OCSP response signed by the issuing CA or a responder it delegated
(OCSPSigning EKU) whose CertID names the certificate, a CRL signed by the issuer.

A revocation is permanent, so a "not revoked" answer counts only when it was issued at
or after the signing time; an older one, a forged one, one about another certificate,
or none at all leaves the status *unknown* — never good. Nothing is fetched.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, SignatureAlgorithmOID

NO_REVOCATION_DATA = "no revocation data embedded; status unknown"
NOT_FETCHED_NOTE = "{} (this registry does not fetch OCSP responses or CRLs)"

# Revocation reasons after which a signature is only as good as its proof of existence
# (RFC 5280 CRLReason names; None: the revocation gives no reason).
REASONS_DOUBTING_THE_SIGNER = frozenset({"keyCompromise", "cACompromise", "aACompromise",
                                         "unspecified", None})


class SignerRevocationStatus(StrEnum):
    NOT_REVOKED = "not-revoked"  # proven by data issued at or after the signing time
    REVOKED = "revoked"  # revoked at or before the signing time
    REVOKED_AFTER_SIGNING = "revoked-after-signing"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class SignerRevocation:
    """What the embedded revocation data says about the signer certificate."""

    status: SignerRevocationStatus
    detail: str
    source: str | None = None  # "OCSP response by ..." | "CRL of ..."
    revoked_at: dt.datetime | None = None
    reason: str | None = None  # RFC 5280 CRLReason, e.g. keyCompromise
    issued_at: dt.datetime | None = None  # the OCSP thisUpdate / CRL thisUpdate relied on
    not_accepted: tuple[str, ...] = ()  # embedded items refused as evidence, and why


@dataclass(frozen=True)
class EmbeddedValidationData:
    """`xades:CertificateValues` and `xades:RevocationValues` of a signature (unsigned)."""

    certificates: tuple[x509.Certificate, ...] = ()
    ocsp_responses: tuple[bytes, ...] = ()  # DER OCSPResponse
    crls: tuple[bytes, ...] = ()  # DER CertificateList
    unreadable: tuple[str, ...] = ()


def check_revocation(leaf: x509.Certificate, issuer: x509.Certificate | None,
                     embedded: EmbeddedValidationData, at: dt.datetime,
                     known_certificates: Sequence[x509.Certificate] = ()) -> SignerRevocation:
    """The revocation status of `leaf` at `at` from the embedded OCSP responses and CRLs."""
    if not embedded.ocsp_responses and not embedded.crls:
        return SignerRevocation(SignerRevocationStatus.UNKNOWN,
                                NOT_FETCHED_NOTE.format(NO_REVOCATION_DATA),
                                not_accepted=embedded.unreadable)
    if issuer is None:
        return SignerRevocation(SignerRevocationStatus.UNKNOWN,
                                "the signer certificate is itself the trust anchor, so no "
                                "issuer can vouch for its revocation status; status unknown",
                                not_accepted=embedded.unreadable)
    findings: list[SignerRevocation] = []
    refused = list(embedded.unreadable)
    for der in embedded.ocsp_responses:
        try:
            findings.extend(_ocsp_findings(der, leaf, issuer, at, known_certificates))
        except _NotEvidence as exc:
            refused.append(f"OCSP response not accepted: {exc}")
    for der in embedded.crls:
        try:
            findings.append(_crl_finding(der, leaf, issuer, at))
        except _NotEvidence as exc:
            refused.append(f"CRL not accepted: {exc}")
    not_accepted = tuple(refused)
    for status in (SignerRevocationStatus.REVOKED, SignerRevocationStatus.REVOKED_AFTER_SIGNING,
                   SignerRevocationStatus.NOT_REVOKED):
        decisive = [f for f in findings if f.status is status]
        if decisive:
            # The earliest revocation counts; for "not revoked", the freshest proof.
            best = (max(decisive, key=lambda f: f.issued_at or at)
                    if status is SignerRevocationStatus.NOT_REVOKED
                    else min(decisive, key=lambda f: f.revoked_at or at))
            return SignerRevocation(best.status, best.detail, best.source, best.revoked_at,
                                    best.reason, best.issued_at, not_accepted)
    reasons = [f.detail for f in findings] + list(not_accepted)
    return SignerRevocation(SignerRevocationStatus.UNKNOWN,
                            "status unknown: the embedded revocation data does not show the "
                            "status at the signing time (" + "; ".join(reasons) + ")",
                            not_accepted=not_accepted)


def unique_certificates(certificates: Iterable[x509.Certificate]) -> list[x509.Certificate]:
    """First occurrences, in order (linear: a hostile KeyInfo may repeat thousands)."""
    unique: dict[bytes, x509.Certificate] = {}
    for certificate in certificates:
        unique.setdefault(certificate.fingerprint(hashes.SHA256()), certificate)
    return list(unique.values())


def validity_problem(certificate: x509.Certificate, at: dt.datetime) -> str:
    return (f"{certificate.subject.rfc4514_string()} is valid from "
            f"{certificate.not_valid_before_utc.isoformat()} to "
            f"{certificate.not_valid_after_utc.isoformat()}, not at {at.isoformat()}")


# --- internals -------------------------------------------------------------------------------

class _NotEvidence(Exception):
    """Embedded revocation data that proves nothing about this certificate."""


def _reason(value: x509.ReasonFlags | None) -> str | None:
    return None if value is None else value.value


def _revocation_finding(source: str, revoked_at: dt.datetime, reason: str | None,
                        issued_at: dt.datetime, at: dt.datetime) -> SignerRevocation:
    because = f" ({reason})" if reason else ""
    if revoked_at <= at:
        return SignerRevocation(
            SignerRevocationStatus.REVOKED, f"revoked at {revoked_at.isoformat()}{because}, before "
            f"it signed at {at.isoformat()}, per {source}", source, revoked_at, reason, issued_at)
    return SignerRevocation(
        SignerRevocationStatus.REVOKED_AFTER_SIGNING,
        f"revoked at {revoked_at.isoformat()}{because}, after it signed at {at.isoformat()} "
        f"(the signing time is the signer's claim), per {source}",
        source, revoked_at, reason, issued_at)


def _not_revoked_finding(source: str, issued_at: dt.datetime,
                         at: dt.datetime) -> SignerRevocation:
    # A revocation is permanent, so a "not revoked" answer issued after the signing
    # time covers it; an older one says nothing about what happened since.
    if issued_at >= at:
        return SignerRevocation(SignerRevocationStatus.NOT_REVOKED,
                                f"not revoked as of {issued_at.isoformat()}, after the signing "
                                f"time, per {source}", source, issued_at=issued_at)
    return SignerRevocation(SignerRevocationStatus.UNKNOWN,
                            f"{source} says not revoked as of {issued_at.isoformat()}, which "
                            "predates the signature", source, issued_at=issued_at)


def _verify_signed_bytes(public_key: Any, signature: bytes, data: bytes,
                         algorithm: hashes.HashAlgorithm | None,
                         algorithm_oid: x509.ObjectIdentifier) -> None:
    if isinstance(public_key, rsa.RSAPublicKey) and algorithm is not None:
        if algorithm_oid == SignatureAlgorithmOID.RSASSA_PSS:
            raise _NotEvidence("RSA-PSS signed responses are not supported")
        public_key.verify(signature, data, padding.PKCS1v15(), algorithm)
    elif isinstance(public_key, ec.EllipticCurvePublicKey) and algorithm is not None:
        public_key.verify(signature, data, ec.ECDSA(algorithm))
    elif isinstance(public_key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        public_key.verify(signature, data)
    else:
        raise _NotEvidence(f"signature algorithm {algorithm_oid.dotted_string} not supported")


def _key_hash(certificate: x509.Certificate) -> bytes:
    # RFC 6960 ResponderID byKey: SHA-1 of the subjectPublicKey bits, the RFC 5280 key id.
    return x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest


def _ocsp_responder(response: ocsp.OCSPResponse, issuer: x509.Certificate,
                    known: Sequence[x509.Certificate]) -> x509.Certificate:
    def is_responder(certificate: x509.Certificate) -> bool:
        if response.responder_name is not None:
            return certificate.subject == response.responder_name
        return _key_hash(certificate) == response.responder_key_hash

    if is_responder(issuer):
        return issuer
    for candidate in unique_certificates([*response.certificates, *known]):
        if not is_responder(candidate):
            continue
        try:
            candidate.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            continue
        try:
            ekus = candidate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            ekus = x509.ExtendedKeyUsage([])
        if ExtendedKeyUsageOID.OCSP_SIGNING not in ekus:
            raise _NotEvidence(f"responder {candidate.subject.rfc4514_string()} was issued by "
                               "the CA but not for OCSP signing")
        produced = response.produced_at_utc
        if not candidate.not_valid_before_utc <= produced <= candidate.not_valid_after_utc:
            raise _NotEvidence(validity_problem(candidate, produced))
        return candidate
    raise _NotEvidence("signed by a responder that is neither the issuing CA nor delegated by it")


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    octets = (size.bit_length() + 7) // 8
    return bytes([tag, 0x80 | octets]) + size.to_bytes(octets) + content


_ID_PKIX_OCSP_BASIC = bytes.fromhex("06092b0601050507300101")  # OID 1.3.6.1.5.5.7.48.1.1


def _as_ocsp_response(basic: bytes) -> bytes:
    """OCSPResponse { successful, responseBytes { id-pkix-ocsp-basic, basic } } (RFC 6960)."""
    response_bytes = _der(0x30, _ID_PKIX_OCSP_BASIC + _der(0x04, basic))
    return _der(0x30, bytes.fromhex("0a0100") + _der(0xA0, response_bytes))


def _ocsp_findings(der: bytes, leaf: x509.Certificate, issuer: x509.Certificate,
                   at: dt.datetime, known: Sequence[x509.Certificate]) -> list[SignerRevocation]:
    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError:
        try:
            # XAdES wants the whole OCSPResponse; some tools embed the BasicOCSPResponse
            # alone, as CAdES does. It carries the same signed data, so accept it too.
            response = ocsp.load_der_ocsp_response(_as_ocsp_response(der))
        except ValueError as exc:
            raise _NotEvidence(f"not an OCSP response ({exc})") from None
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise _NotEvidence(f"the responder answered {response.response_status.name}")
    responder = _ocsp_responder(response, issuer, known)
    try:
        _verify_signed_bytes(responder.public_key(), response.signature,
                             response.tbs_response_bytes, response.signature_hash_algorithm,
                             response.signature_algorithm_oid)
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        raise _NotEvidence(f"its signature does not verify with the key of "
                           f"{responder.subject.rfc4514_string()}") from None
    findings = []
    for single in response.responses:
        if single.serial_number != leaf.serial_number:
            continue
        try:
            expected = ocsp.OCSPRequestBuilder().add_certificate(
                leaf, issuer, single.hash_algorithm).build()
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
        if (single.issuer_name_hash, single.issuer_key_hash) != (
                expected.issuer_name_hash, expected.issuer_key_hash):
            continue
        source = (f"embedded OCSP response by {responder.subject.rfc4514_string()} produced "
                  f"{response.produced_at_utc.isoformat()}")
        if single.next_update_utc is not None and single.next_update_utc < single.this_update_utc:
            raise _NotEvidence("its nextUpdate precedes its thisUpdate")
        if single.certificate_status is ocsp.OCSPCertStatus.REVOKED:
            findings.append(_revocation_finding(source, single.revocation_time_utc,
                                                _reason(single.revocation_reason),
                                                single.this_update_utc, at))
        elif single.certificate_status is ocsp.OCSPCertStatus.GOOD:
            findings.append(_not_revoked_finding(source, single.this_update_utc, at))
        else:
            findings.append(SignerRevocation(SignerRevocationStatus.UNKNOWN,
                                             f"{source} answers 'unknown'", source))
    if not findings:
        raise _NotEvidence("it is not about the signer certificate (no matching CertID)")
    return findings


def _crl_finding(der: bytes, leaf: x509.Certificate, issuer: x509.Certificate,
                 at: dt.datetime) -> SignerRevocation:
    try:
        crl = x509.load_der_x509_crl(der)
    except ValueError as exc:
        raise _NotEvidence(f"not a CRL ({exc})") from None
    if crl.issuer != issuer.subject:
        raise _NotEvidence(f"issued by {crl.issuer.rfc4514_string()}, not by the signer's CA")
    try:
        key_usage = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
        if not key_usage.crl_sign:
            raise _NotEvidence("the issuing CA's KeyUsage does not allow cRLSign")
    except x509.ExtensionNotFound:
        pass
    try:
        signed = crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    except (TypeError, ValueError, UnsupportedAlgorithm):
        signed = False
    if not signed:
        raise _NotEvidence(f"its signature does not verify with the key of "
                           f"{issuer.subject.rfc4514_string()}")
    if crl.next_update_utc is not None and crl.next_update_utc < crl.last_update_utc:
        raise _NotEvidence("its nextUpdate precedes its thisUpdate")
    source = (f"embedded CRL of {crl.issuer.rfc4514_string()} issued "
              f"{crl.last_update_utc.isoformat()}")
    entry = crl.get_revoked_certificate_by_serial_number(leaf.serial_number)
    if entry is not None:
        try:
            reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            reason = None
        return _revocation_finding(source, entry.revocation_date_utc, _reason(reason),
                                   crl.last_update_utc, at)
    try:
        scope = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
    except x509.ExtensionNotFound:
        scope = None
    if scope is not None and (scope.only_contains_ca_certs or scope.only_contains_attribute_certs
                              or scope.only_some_reasons or scope.indirect_crl):
        # A partitioned CRL's silence says nothing about certificates outside its part.
        return SignerRevocation(SignerRevocationStatus.UNKNOWN,
                                f"{source} covers only part of the CA's certificates", source)
    return _not_revoked_finding(source, crl.last_update_utc, at)
