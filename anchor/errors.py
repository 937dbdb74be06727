"""Every error the anchor library raises. Callers map these to exit codes or HTTP."""

from __future__ import annotations


class AnchorError(Exception):
    """Base of all anchor errors. `code` is stable and machine-readable."""

    code = "anchor-error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ServiceError(AnchorError):
    """A local service (anvil, Kubo) could not be started or reached."""

    code = "service-unavailable"


class CompilationError(AnchorError):
    """The Solidity compiler failed or could not be found."""

    code = "compilation-failed"


class ChainError(AnchorError):
    """The Ethereum node rejected or failed a call or transaction."""

    code = "chain-error"


class ContractRevertError(ChainError):
    """The registry contract reverted with one of its custom errors."""

    code = "contract-reverted"

    def __init__(self, error_name: str, args: tuple[object, ...] = (), message: str = "") -> None:
        super().__init__(message or f"contract reverted with {error_name}{args!r}")
        self.error_name = error_name
        self.args_ = args


class MerkleError(AnchorError):
    """A Merkle tree could not be built or a proof is malformed."""

    code = "merkle-invalid"


class CidError(AnchorError):
    """A CID string or binary CID is malformed or uses an unsupported format."""

    code = "cid-invalid"


class StorageError(AnchorError):
    """Base of content-store errors (embedded store, Kubo, spool)."""

    code = "storage-error"


class StorageUnavailableError(StorageError):
    """The store cannot be reached (Kubo daemon down, timeout, unwritable directory)."""

    code = "storage-unavailable"


class ContentNotFoundError(StorageError):
    """No content for this CID in the store (or not retrievable in time)."""

    code = "content-not-found"


class ContentIntegrityError(StorageError):
    """Bytes read for a CID do not hash to that CID: corrupted or substituted; never returned."""

    code = "content-integrity-failed"


class DecryptionError(StorageError):
    """An encrypted envelope could not be opened: wrong key, tampered or not an envelope."""

    code = "decryption-failed"


class ReceiptError(AnchorError):
    """A receipt file is malformed, of an unknown format version, or inconsistent."""

    code = "receipt-invalid"


class EvidenceError(AnchorError):
    """An evidence record or renewal is malformed, of an unknown format or algorithm."""

    code = "evidence-invalid"
