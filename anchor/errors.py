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
