"""Does the document's signer belong to the issuer that anchored it? (step 8)

Each issuer declares on chain the certificates it signs with (`signer`) or the CAs its
signing certificates are issued by (`authority`), each for a period. The signer belongs
to the issuer when a declaration in force covers the time of signing:

* the time is the XAdES SigningTime when the signature has one (claimed by the signer:
  XAdES-BES has no timestamp token), else the time the batch was anchored;
* a withdrawal stops a declaration for documents anchored from the withdrawal's block on
  (earlier anchorings stay proven to predate it);
* a `signer` declaration matches the signer certificate by the SHA-256 of its DER;
* an `authority` declaration matches when the signer certificate was issued by that CA,
  directly or through the intermediate CA certificates in the signature's KeyInfo: each
  issuing signature is verified with its issuer's key, and each issuer must be a CA
  (basicConstraints), so a leaf cannot pass off a certificate it made itself.

Full path validation (validity of intermediates, key usage, OCSP/CRL) is the trust
check's business, not this one's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes

from registry.verify.model import DeclaredSignerEvidence, SignerEvidence

KIND_SIGNER = "signer"
KIND_AUTHORITY = "authority"
TIME_SIGNING = "signing-time"
TIME_ANCHORING = "anchoring-time"

STATUS_DECLARED = "declared"
STATUS_NOT_DECLARED = "not-declared"
STATUS_NONE_DECLARED = "issuer-declares-none"
STATUS_UNCHECKED = "unchecked"


@dataclass(frozen=True)
class DeclaredSigningCertificate:
    """A declaration as the index holds it (what `IndexView.signing_certificates` returns)."""

    certificate_sha256: str  # 64 hex
    kind: str  # signer | authority
    certificate: bytes  # DER
    subject: str | None
    valid_from: dt.datetime
    valid_until: dt.datetime
    withdrawn_block: int | None = None
    withdrawn_at: dt.datetime | None = None

    def evidence(self) -> DeclaredSignerEvidence:
        return DeclaredSignerEvidence(
            certificate_sha256=self.certificate_sha256, kind=self.kind, subject=self.subject,
            valid_from=self.valid_from, valid_until=self.valid_until,
            withdrawn_block=self.withdrawn_block, withdrawn_at=self.withdrawn_at)


def fingerprint(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex()


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    """`issuer` is a CA whose key made `certificate`'s signature."""
    try:
        constraints = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    if not constraints.ca:
        return False
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


# A hostile KeyInfo may carry thousands of certificates with the right names: the walk
# looks at a bounded number of them, over a bounded path (real paths have 1 to 3 CAs).
MAX_KEY_INFO_CERTIFICATES = 16
MAX_PATH_LENGTH = 8


def issued_under(signer: x509.Certificate, authority: x509.Certificate,
                 intermediates: Sequence[x509.Certificate]) -> bool:
    """Whether `signer` was issued by `authority`, directly or via `intermediates`."""
    current, remaining = signer, list(intermediates[:MAX_KEY_INFO_CERTIFICATES])
    for _ in range(MAX_PATH_LENGTH):
        if _issued_by(current, authority):
            return True
        parent = next((c for c in remaining if c != current
                       and c.subject == current.issuer and _issued_by(current, c)), None)
        if parent is None:
            return False
        remaining.remove(parent)  # a certificate is used once, so no cycle
        current = parent
    return False


def _covers(declaration: DeclaredSigningCertificate, at: dt.datetime,
            anchored_block: int) -> str | None:
    """Why the declaration does not apply to a document signed `at`, or None if it does."""
    if declaration.withdrawn_block is not None and anchored_block >= declaration.withdrawn_block:
        return (f"withdrawn at block {declaration.withdrawn_block}, before the document "
                f"was anchored (block {anchored_block})")
    if not declaration.valid_from <= at <= declaration.valid_until:
        return (f"declared for {declaration.valid_from.isoformat()} to "
                f"{declaration.valid_until.isoformat()}, not {at.isoformat()}")
    return None


def _matches(declaration: DeclaredSigningCertificate, signer: x509.Certificate,
             intermediates: Sequence[x509.Certificate]) -> bool:
    if declaration.kind == KIND_SIGNER:
        return declaration.certificate_sha256 == fingerprint(signer)
    try:
        authority = x509.load_der_x509_certificate(declaration.certificate)
    except ValueError:
        return False
    return issued_under(signer, authority, intermediates)


def check_signer(issuer_code: str, signer: x509.Certificate,
                 intermediates: Sequence[x509.Certificate],
                 declarations: Sequence[DeclaredSigningCertificate], *,
                 signing_time: dt.datetime | None, anchored_at: dt.datetime,
                 anchored_block: int) -> SignerEvidence:
    """Judge one signer against the anchoring issuer's declarations."""
    at, source = ((signing_time, TIME_SIGNING) if signing_time is not None
                  else (anchored_at, TIME_ANCHORING))
    subject, signer_fingerprint = signer.subject.rfc4514_string(), fingerprint(signer)
    declared = tuple(d.evidence() for d in declarations)

    def result(status: str, detail: str,
               matched: DeclaredSigningCertificate | None = None) -> SignerEvidence:
        return SignerEvidence(status=status, detail=detail, signer_subject=subject,
                              signer_fingerprint=signer_fingerprint, time_used=at,
                              time_source=source,
                              matched=None if matched is None else matched.evidence(),
                              declared=declared)

    if not declarations:
        return result(STATUS_NONE_DECLARED,
                      f"issuer {issuer_code} declares no signing certificates: the signer "
                      f"{subject} is not checked against it")
    reasons: list[str] = []
    for declaration in declarations:
        if not _matches(declaration, signer, intermediates):
            continue
        why_not = _covers(declaration, at, anchored_block)
        if why_not is None:
            how = ("is the declared signing certificate" if declaration.kind == KIND_SIGNER
                   else f"was issued under the declared CA {declaration.subject}")
            return result(STATUS_DECLARED,
                          f"the signer {subject} {how} of issuer {issuer_code}, in force at "
                          f"{at.isoformat()} ({source})", declaration)
        reasons.append(f"{declaration.kind} {declaration.certificate_sha256[:16]}…: {why_not}")
    if reasons:
        detail = (f"the signer {subject} is declared by issuer {issuer_code}, but not for "
                  f"this document: " + "; ".join(reasons))
    else:
        detail = (f"the signer {subject} (SHA-256 {signer_fingerprint}) is none of the "
                  f"{len(declarations)} signing certificate(s) or CA(s) issuer "
                  f"{issuer_code} declared")
    return result(STATUS_NOT_DECLARED, detail)
