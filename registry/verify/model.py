"""The verification result: a verdict, the checks that ran, and the evidence behind it."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from registry.documents.signer_trust import SignerTrust


class Verdict(StrEnum):
    VALID = "valid"
    REVOKED = "revoked"
    UNKNOWN = "unknown"
    ISSUER_NOT_AUTHORISED_AT_ISSUE = "issuer-not-authorised-at-issue"
    SIGNATURE_INVALID = "signature-invalid"
    # Authentic and not revoked, but a reference standard it relies on was revoked for a
    # reason that affects measurements, effective on or before its calibration (the cascade).
    TRACEABILITY_COMPROMISED = "traceability-compromised"
    # The signature verifies, but its signer is none of the certificates (or CAs) the
    # anchoring issuer declared for the signing time.
    SIGNER_NOT_ISSUER = "signer-not-issuer"
    # The signature verifies, but its signer's certificate had been revoked when it signed
    # (per revocation data the signature carries), or does not chain to a configured trust
    # anchor with a key usage and validity fit for signing at the signing time.
    SIGNER_CERTIFICATE_REVOKED = "signer-certificate-revoked"
    SIGNER_UNTRUSTED = "signer-untrusted"


class CheckStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Check:
    """One numbered step: what was checked, with what outcome, and why."""

    number: int
    name: str
    status: CheckStatus
    detail: str


@dataclass(frozen=True)
class IssuerEvidence:
    issuer_id: str  # 0x-hex bytes32
    code: str  # the readable issuer code, e.g. "PTB"
    country: str | None
    kind: str | None
    status_now: str | None
    status_at_issue: str | None


@dataclass(frozen=True)
class AnchoringEvidence:
    batch_id: int
    merkle_root: str
    proof: tuple[str, ...]
    transaction_hash: str
    block_number: int
    anchored_at: dt.datetime
    manifest_cid: str
    cid: str
    document_type: str
    unique_identifier: str | None
    encrypted: bool
    # True only when the proof led to the root the contract holds, read from the chain
    # for this verification; the database's copy of the root is never trusted for it.
    proof_checked_against_chain_root: bool


@dataclass(frozen=True)
class RevocationEvidence:
    reason: str
    revoked_at: dt.datetime
    effective_from: dt.datetime
    replacement: str | None


@dataclass(frozen=True)
class SignatureEvidence:
    status: str  # valid | invalid | unsigned
    reason: str
    signer_subject: str | None
    signer_fingerprint: str | None
    signing_time: dt.datetime | None
    # Chain (subjects, SHA-256 fingerprints), anchor and revocation status of the signer at
    # the signing time; status `unchecked` when no trust anchors are configured.
    signer_trust: SignerTrust | None = None
    # The signer's certificate is a certreg TEST identity (e.g. `certreg up`'s): a valid
    # signature by it says nothing about who issued the certificate.
    signer_test_only: bool = False


@dataclass(frozen=True)
class TraceabilityEvidence:
    """The traceability check in brief; GET /v1/certificates/{id}/traceability has the tree."""

    status: str  # complete | broken | incomplete
    compromised: bool
    certificates: int
    links: int
    truncated: bool
    first_problem: dict[str, Any] | None


@dataclass(frozen=True)
class ScopeEvidence:
    """The accreditation-scope check: each result against the scope valid at calibration."""

    status: str  # within-scope | outside-scope | unchecked | not-accredited
    detail: str
    accreditation: dict[str, Any] | None
    results: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class DeclaredSignerEvidence:
    """One signing certificate (or CA) the anchoring issuer declared on chain."""

    certificate_sha256: str  # SHA-256 of the certificate's DER, 64 hex
    kind: str  # signer | authority
    subject: str | None
    valid_from: dt.datetime
    valid_until: dt.datetime
    withdrawn_block: int | None
    withdrawn_at: dt.datetime | None


@dataclass(frozen=True)
class SignerEvidence:
    """Whether the document's signer belongs to the anchoring issuer at signing time."""

    status: str  # declared | not-declared | issuer-declares-none | unchecked
    detail: str
    signer_subject: str | None
    signer_fingerprint: str | None
    time_used: dt.datetime | None
    time_source: str | None  # signing-time (XAdES, signer-claimed) | anchoring-time
    matched: DeclaredSignerEvidence | None
    declared: tuple[DeclaredSignerEvidence, ...]


@dataclass(frozen=True)
class CertificateVerification:
    verdict: Verdict
    document_sha256: str  # 0x-prefixed, like every hash the API returns
    checks: tuple[Check, ...]
    issuer: IssuerEvidence | None = None
    anchoring: AnchoringEvidence | None = None
    revocation: RevocationEvidence | None = None
    signature: SignatureEvidence | None = None
    metadata: dict[str, Any] | None = None
    traceability: TraceabilityEvidence | None = None
    accreditation_scope: ScopeEvidence | None = None
    # What a verifier should know of the uploaded bytes that does not decide the verdict:
    # {"code", "message"} each (e.g. schema-version-inferred, signature-outside-schema).
    warnings: tuple[dict[str, str], ...] = ()
    signer: SignerEvidence | None = None
    # The chain block the verdict reflects (the indexer's last indexed block, or the head
    # for a fresh verification that read every fact from the chain) and how many blocks
    # the chain head is ahead of it.
    as_of_block: int | None = None
    blocks_behind_head: int | None = None

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    @property
    def checks_run(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.checks if c.status is not CheckStatus.SKIPPED)

    def to_dict(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, dt.datetime):
                return value.isoformat()
            if isinstance(value, StrEnum):
                return value.value
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [plain(v) for v in value]
            return value

        return plain(asdict(self))
