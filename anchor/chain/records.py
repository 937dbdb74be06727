"""What the registry contract stores and emits, as Python values (no web3 here).

Enums mirroring the contract's, governance actions ABI-encoded for `propose`, issuer ids,
the records reads return, chain events, and manifest CIDs as contract version 2 takes
and gives them (digest + codec).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import to_checksum_address

from anchor.cid import CODEC_DAG_PB, CODEC_RAW, HASH_SHA2_256, Cid
from anchor.errors import ChainError, CidError

ZERO32 = b"\x00" * 32
CURRENT_VERSION = 2
_MANIFEST_CODECS = (CODEC_RAW, CODEC_DAG_PB)


def manifest_cid_parts(manifest_cid: str) -> tuple[bytes, int]:
    """(SHA-256 digest, multicodec) of a manifest CID, as contract version 2 takes it.

    A CIDv0 is the same dag-pb block as the CIDv1 with its digest, so it is accepted;
    the chain gives it back in its CIDv1 form."""
    try:
        cid = Cid.parse(manifest_cid)
    except CidError as exc:
        raise ChainError(f"manifest CID {manifest_cid[:80]!r} is not a CID: {exc.message}",
                         manifest_cid=manifest_cid[:80]) from None
    if cid.hash_code != HASH_SHA2_256 or cid.codec not in _MANIFEST_CODECS:
        raise ChainError("a manifest CID must be a SHA-256 raw or dag-pb CID",
                         manifest_cid=manifest_cid[:80])
    return cid.digest, cid.codec


def manifest_cid_of(digest: bytes, codec: int) -> str:
    """The CIDv1 text of a manifest from what a version 2 `BatchAnchored` event carries."""
    return str(Cid(1, int(codec), bytes(digest)))




class IssuerStatus(IntEnum):
    NONE = 0
    ACTIVE = 1
    SUSPENDED = 2
    RETIRED = 3


class IssuerKind(IntEnum):
    NATIONAL_METROLOGY_INSTITUTE = 0
    ACCREDITED_LABORATORY = 1
    OTHER = 2


class RevocationReason(IntEnum):
    UNSPECIFIED = 0
    SUPERSEDED = 1
    WITHDRAWN = 2
    ERROR = 3
    COMPROMISED = 4
    OUT_OF_TOLERANCE = 5


class ActionKind(IntEnum):
    REGISTER_ISSUER = 0
    SET_ISSUER_STATUS = 1
    SET_ISSUER_ADMIN = 2
    SET_ISSUER_METADATA = 3
    ADD_GOVERNOR = 4
    REMOVE_GOVERNOR = 5
    SET_THRESHOLD = 6
    PAUSE = 7
    UNPAUSE = 8
    SET_ACCREDITATION = 9
    DECLARE_SIGNING_CERTIFICATE = 10
    WITHDRAW_SIGNING_CERTIFICATE = 11


class SigningCertificateKind(IntEnum):
    """What a declared certificate stands for: the signer itself, or a CA it is issued by."""

    NONE = 0
    SIGNER = 1
    AUTHORITY = 2


@dataclass(frozen=True)
class GovernanceAction:
    """One administrative action, ready to propose."""

    kind: ActionKind
    params: bytes

    @classmethod
    def register_issuer(cls, issuer_id: bytes, country: str, kind: IssuerKind, admin: str,
                        metadata_cid: str) -> GovernanceAction:
        return cls(ActionKind.REGISTER_ISSUER, abi_encode(
            ["bytes32", "bytes2", "uint8", "address", "string"],
            [issuer_id, country.encode("ascii"), int(kind), to_checksum_address(admin),
             metadata_cid]))

    @classmethod
    def set_issuer_status(cls, issuer_id: bytes, status: IssuerStatus) -> GovernanceAction:
        return cls(ActionKind.SET_ISSUER_STATUS,
                   abi_encode(["bytes32", "uint8"], [issuer_id, int(status)]))

    @classmethod
    def set_issuer_admin(cls, issuer_id: bytes, admin: str) -> GovernanceAction:
        return cls(ActionKind.SET_ISSUER_ADMIN,
                   abi_encode(["bytes32", "address"], [issuer_id, to_checksum_address(admin)]))

    @classmethod
    def set_issuer_metadata(cls, issuer_id: bytes, metadata_cid: str) -> GovernanceAction:
        return cls(ActionKind.SET_ISSUER_METADATA,
                   abi_encode(["bytes32", "string"], [issuer_id, metadata_cid]))

    @classmethod
    def add_governor(cls, governor: str) -> GovernanceAction:
        return cls(ActionKind.ADD_GOVERNOR,
                   abi_encode(["address"], [to_checksum_address(governor)]))

    @classmethod
    def remove_governor(cls, governor: str) -> GovernanceAction:
        return cls(ActionKind.REMOVE_GOVERNOR,
                   abi_encode(["address"], [to_checksum_address(governor)]))

    @classmethod
    def set_threshold(cls, threshold: int) -> GovernanceAction:
        return cls(ActionKind.SET_THRESHOLD, abi_encode(["uint256"], [threshold]))

    @classmethod
    def pause(cls) -> GovernanceAction:
        return cls(ActionKind.PAUSE, b"")

    @classmethod
    def unpause(cls) -> GovernanceAction:
        return cls(ActionKind.UNPAUSE, b"")

    @classmethod
    def set_accreditation(cls, issuer_id: bytes, document_hash: bytes | None,
                          document_cid: str, effective_from: int) -> GovernanceAction:
        """Record the issuer's accreditation document (None/empty: accreditation withdrawn)."""
        return cls(ActionKind.SET_ACCREDITATION, abi_encode(
            ["bytes32", "bytes32", "string", "uint64"],
            [issuer_id, document_hash or ZERO32, document_cid, effective_from]))

    @classmethod
    def declare_signing_certificate(cls, issuer_id: bytes, certificate_der: bytes,
                                    kind: SigningCertificateKind, valid_from: int,
                                    valid_until: int) -> GovernanceAction:
        """Declare for the issuer the certificate (DER) it signs with, or its CA."""
        return cls(ActionKind.DECLARE_SIGNING_CERTIFICATE, abi_encode(
            ["bytes32", "bytes", "uint8", "uint64", "uint64"],
            [issuer_id, certificate_der, int(kind), valid_from, valid_until]))

    @classmethod
    def withdraw_signing_certificate(cls, issuer_id: bytes,
                                     certificate_hash: bytes) -> GovernanceAction:
        return cls(ActionKind.WITHDRAW_SIGNING_CERTIFICATE,
                   abi_encode(["bytes32", "bytes32"], [issuer_id, certificate_hash]))


def issuer_id_from_name(name: str) -> bytes:
    """A stable bytes32 issuer id from a short code such as "PTB" or "DE-DAkkS-D-K-15070"."""
    raw = name.encode("utf-8")
    if not 0 < len(raw) <= 32:
        raise ValueError("an issuer code is 1 to 32 bytes of UTF-8")
    return raw.ljust(32, b"\x00")


def issuer_name(issuer_id: bytes) -> str:
    """The short code back from an id made by `issuer_id_from_name`, else hex."""
    stripped = issuer_id.rstrip(b"\x00")
    try:
        text = stripped.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + issuer_id.hex()
    return text if text.isprintable() and stripped else "0x" + issuer_id.hex()


@dataclass(frozen=True)
class BlockHeader:
    number: int
    hash: str  # 0x-hex
    timestamp: int


@dataclass(frozen=True)
class Deployment:
    address: str
    chain_id: int
    block_number: int
    transaction_hash: str


@dataclass(frozen=True)
class IssuerRecord:
    issuer_id: bytes
    country: str
    kind: IssuerKind
    status: IssuerStatus
    admin: str
    registered_at: int
    status_changed_at: int
    metadata_cid: str


@dataclass(frozen=True)
class BatchRecord:
    """A batch as the chain holds it; with version 2, `operator`, `manifest_cid` and
    `transaction_hash` come from its `BatchAnchored` event (version 1: storage, and no
    transaction hash)."""

    batch_id: int
    issuer_id: bytes
    root: bytes
    count: int
    anchored_at: int
    block_number: int
    operator: str
    manifest_cid: str
    transaction_hash: str | None = None


@dataclass(frozen=True)
class AnchoredBatch:
    """A batch on chain together with the transaction that anchored it."""

    batch: BatchRecord
    transaction_hash: str
    already_anchored: bool = False


@dataclass(frozen=True)
class RevocationRecord:
    reason: RevocationReason
    revoked_at: int
    effective_from: int
    block_number: int
    batch_id: int
    replacement: bytes | None


@dataclass(frozen=True)
class OnChainVerification:
    """What the contract's `verify` view says about a document, batch and proof."""

    anchored: bool
    revoked: bool
    issuer_id: bytes
    issuer_status_now: IssuerStatus
    anchored_at: int
    anchored_block: int
    revocation_reason: RevocationReason
    revoked_at: int
    effective_from: int
    replacement: bytes | None


@dataclass(frozen=True)
class AccreditationRecord:
    """One version of an issuer's accreditation as the contract holds it."""

    issuer_id: bytes
    version: int
    document_hash: bytes | None  # None: no accreditation from effective_from on
    effective_from: int
    recorded_at: int
    recorded_block: int
    document_cid: str


@dataclass(frozen=True)
class SigningCertificateRecord:
    """An issuer's declaration of a signing certificate as the contract holds it."""

    issuer_id: bytes
    certificate_hash: bytes  # SHA-256 of the certificate's DER
    kind: SigningCertificateKind
    valid_from: int
    valid_until: int
    withdrawn_at: int  # 0: in force


@dataclass(frozen=True)
class ProposalRecord:
    proposal_id: int
    kind: ActionKind
    executed: bool
    approvals: int
    epoch: int
    created_at: int
    proposer: str
    params: bytes


@dataclass(frozen=True)
class TransactionOutcome:
    transaction_hash: str
    block_number: int
    gas_used: int
    events: tuple[ChainEvent, ...]


@dataclass(frozen=True)
class ChainEvent:
    """A decoded contract event with its position on chain."""

    name: str
    args: dict[str, Any]
    block_number: int
    block_hash: str
    transaction_hash: str
    log_index: int


REVOCATION_EVENTS = ("DocumentRevoked", "DocumentsRevoked")


def revoked_documents(event: ChainEvent) -> list[tuple[bytes, bytes | None]]:
    """(document hash, replacement or None) for each document a revocation event revokes:
    one for `DocumentRevoked`, every hash of a `DocumentsRevoked` (`revokeMany`)."""
    if event.name == "DocumentRevoked":
        replacement = bytes(event.args["replacement"])
        return [(bytes(event.args["documentHash"]), replacement if any(replacement) else None)]
    if event.name == "DocumentsRevoked":
        return [(bytes(h), None) for h in event.args["documentHashes"]]
    return []
