"""The values issuance hands on and reports (registry.issuance): each stage's immutable
outcome, the run's report, and the progress a caller may listen to."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from anchor.chain import RevocationReason
from anchor.encryption import DocumentKey
from anchor.receipt import Receipt
from registry.index import IndexReport
from registry.preparation import SignedCertificate


@dataclass(frozen=True)
class StoredCertificate:
    signed: SignedCertificate
    cid: str
    encrypted: bool
    key: DocumentKey | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SealedBatch:
    root: str
    manifest_cid: str
    document_sha256s: tuple[str, ...]


@dataclass(frozen=True)
class AnchoringOutcome:
    root: str
    batch_id: int
    transaction_hash: str
    already_anchored: bool  # found on chain (e.g. sent before a crash), nothing new sent
    re_signed: bool = False  # the persisted transaction's nonce went elsewhere


class SubmissionStatus(StrEnum):
    ACCEPTED = "accepted"
    ALREADY_PENDING = "already-pending"
    ALREADY_ANCHORED = "already-anchored"
    REJECTED = "rejected"
    DRY_RUN = "dry-run"


@dataclass(frozen=True)
class SubmissionResult:
    source_name: str
    status: SubmissionStatus
    sha256: str | None = None
    cid: str | None = None
    encrypted: bool = False
    # Shown to the caller once; never persisted. repr hides it (results end up in logs).
    key: DocumentKey | None = field(default=None, repr=False)
    receipt: Receipt | None = None
    error_code: str | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class IssuanceReport:
    submissions: tuple[SubmissionResult, ...]
    sealed: tuple[SealedBatch, ...]
    anchored: tuple[AnchoringOutcome, ...]
    index: IndexReport | None
    receipts_written: int
    pending_documents: int  # of this issuer, not anchored when the run ended


@dataclass(frozen=True)
class RevocationOutcome:
    document_sha256: str
    batch_id: int
    reason: RevocationReason
    replacement: str | None
    transaction_hash: str | None  # None when it was revoked like this already
    block_number: int | None


@dataclass(frozen=True)
class SupersessionOutcome:
    old_sha256: str
    new: SubmissionResult
    revocation: RevocationOutcome


class ProgressListener(Protocol):
    def phase(self, name: str, total: int | None = None) -> None: ...

    def advance(self, count: int = 1) -> None: ...


class SilentProgress:
    def phase(self, name: str, total: int | None = None) -> None:
        return None

    def advance(self, count: int = 1) -> None:
        return None
