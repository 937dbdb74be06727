"""Anchoring receipts: what a holder keeps to prove a document was anchored, and the check.

A receipt names the document (SHA-256 of its exact bytes), where it is stored (CID),
the batch that anchored it (id, Merkle root, inclusion proof) and where that happened
(chain id, contract, transaction, block). `verify_receipt` replays it against any RPC
endpoint in numbered steps, sigstore style: each step says what it checked, whether it
passed, and why; the verdict is `valid`, `revoked` or `invalid`. Nothing here needs
the registry's database, IPFS or the issuer: the chain is the authority.

The JSON form is versioned (`"format": "certreg-receipt/1"`) with a fixed key order, so
the same receipt always serialises to the same bytes.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from eth_utils import is_address, to_checksum_address
from web3.exceptions import TransactionNotFound

from anchor.chain import RegistryClient, connect
from anchor.errors import AnchorError, MerkleError, ReceiptError
from anchor.merkle import leaf_hash, process_proof

RECEIPT_FORMAT = "certreg-receipt/1"
LEAF_ENCODING = "OpenZeppelin StandardMerkleTree [bytes32]"
_HEX32 = re.compile(r"^0x[0-9a-f]{64}$")


def _hex32(value: bytes | str) -> str:
    """Canonical 0x-prefixed lowercase hex of 32 bytes."""
    text = ("0x" + value.hex()) if isinstance(value, bytes) else "0x" + value.removeprefix(
        "0x").lower()
    if not _HEX32.match(text):
        raise ReceiptError("expected 32 bytes as 0x-prefixed hex", value=text[:80])
    return text


@functools.lru_cache(maxsize=64)
def _checksummed(address: str) -> str:
    # A registry writes thousands of receipts naming one contract: its checksum (a
    # keccak) is computed once, not per receipt.
    if not is_address(address):
        raise ReceiptError("contract_address is not an Ethereum address")
    return to_checksum_address(address)


def load_json(text: str | bytes, error: type[AnchorError], what: str) -> Any:
    """JSON of a versioned format (receipt, evidence record); `error` if it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        raise error(f"{what} is JSON; this is not") from None


@dataclass(frozen=True)
class Receipt:
    """Proof that one document is in one anchored batch. All hashes are 0x-prefixed hex."""

    document_sha256: str
    cid: str
    batch_id: int
    merkle_root: str
    proof: tuple[str, ...]
    chain_id: int
    contract_address: str
    transaction_hash: str
    block_number: int
    block_hash: str
    issuer_id: str
    anchored_at: int  # unix seconds: the block timestamp of the anchoring
    manifest_cid: str
    encrypted: bool
    leaf_encoding: str = LEAF_ENCODING
    format: str = RECEIPT_FORMAT

    def __post_init__(self) -> None:
        # Normalise once so equal receipts compare and serialise equally.
        for name in ("document_sha256", "merkle_root", "transaction_hash", "block_hash",
                     "issuer_id"):
            object.__setattr__(self, name, _hex32(getattr(self, name)))
        object.__setattr__(self, "proof", tuple(_hex32(p) for p in self.proof))
        object.__setattr__(self, "contract_address", _checksummed(self.contract_address))
        if self.format != RECEIPT_FORMAT:
            raise ReceiptError(f"unsupported receipt format {self.format!r}",
                               supported=RECEIPT_FORMAT)
        if self.leaf_encoding != LEAF_ENCODING:
            raise ReceiptError(f"unsupported leaf encoding {self.leaf_encoding!r}")
        if self.batch_id < 1 or self.block_number < 0 or self.chain_id < 1:
            raise ReceiptError("batch_id, block_number and chain_id must be positive")

    @property
    def anchored_at_iso(self) -> str:
        return dt.datetime.fromtimestamp(self.anchored_at, dt.UTC).isoformat().replace(
            "+00:00", "Z")

    def document_digest(self) -> bytes:
        return bytes.fromhex(self.document_sha256[2:])

    def root_bytes(self) -> bytes:
        return bytes.fromhex(self.merkle_root[2:])

    def proof_bytes(self) -> list[bytes]:
        return [bytes.fromhex(p[2:]) for p in self.proof]

    def to_dict(self) -> dict[str, Any]:
        """The JSON object, keys in a fixed, documented order (not alphabetical: readable)."""
        return {
            "format": self.format,
            "document_sha256": self.document_sha256,
            "cid": self.cid,
            "encrypted": self.encrypted,
            "issuer_id": self.issuer_id,
            "batch_id": self.batch_id,
            "merkle_root": self.merkle_root,
            "leaf_encoding": self.leaf_encoding,
            "proof": list(self.proof),
            "manifest_cid": self.manifest_cid,
            "chain_id": self.chain_id,
            "contract_address": self.contract_address,
            "transaction_hash": self.transaction_hash,
            "block_number": self.block_number,
            "block_hash": self.block_hash,
            "anchored_at": self.anchored_at,
            "anchored_at_iso": self.anchored_at_iso,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Receipt:
        if not isinstance(value, dict):
            raise ReceiptError("a receipt is a JSON object")
        if value.get("format") != RECEIPT_FORMAT:
            raise ReceiptError(f"not a {RECEIPT_FORMAT} receipt", format=value.get("format"))
        fields = {k: v for k, v in value.items() if k != "anchored_at_iso"}
        expected = set(cls.__dataclass_fields__)
        if set(fields) != expected:
            raise ReceiptError("receipt fields differ from the format",
                               missing=sorted(expected - set(fields)),
                               unknown=sorted(set(fields) - expected))
        try:
            fields["proof"] = tuple(fields["proof"])
            for name in ("batch_id", "chain_id", "block_number", "anchored_at"):
                if isinstance(fields[name], bool) or not isinstance(fields[name], int):
                    raise ReceiptError(f"{name} must be an integer")
            if not isinstance(fields["encrypted"], bool):
                raise ReceiptError("encrypted must be true or false")
            return cls(**fields)
        except (TypeError, AttributeError) as exc:
            raise ReceiptError(f"malformed receipt: {exc}") from None

    @classmethod
    def from_json(cls, text: str | bytes) -> Receipt:
        return cls.from_dict(load_json(text, ReceiptError, "a receipt"))


class StepStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


class Verdict(StrEnum):
    VALID = "valid"  # anchored as the receipt says, not revoked
    REVOKED = "revoked"  # anchored as the receipt says, revoked by its issuer since
    INVALID = "invalid"  # some step failed: the receipt proves nothing


@dataclass(frozen=True)
class VerificationStep:
    number: int
    name: str
    status: StepStatus
    detail: str

    @property
    def passed(self) -> bool:
        return self.status is StepStatus.PASSED


@dataclass(frozen=True)
class RevocationStatus:
    reason: str
    revoked_at: int
    effective_from: int
    replacement: str | None


@dataclass(frozen=True)
class ReceiptVerification:
    verdict: Verdict
    steps: tuple[VerificationStep, ...]
    revocation: RevocationStatus | None = None

    @property
    def first_failure(self) -> VerificationStep | None:
        return next((s for s in self.steps if s.status is StepStatus.FAILED), None)

    def step(self, name: str) -> VerificationStep:
        return next(s for s in self.steps if s.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict.value,
                "steps": [{"number": s.number, "name": s.name, "status": s.status.value,
                           "detail": s.detail} for s in self.steps],
                "revocation": None if self.revocation is None else vars(self.revocation)}


# Step names are stable: scripts and the API key on them.
STEP_DOCUMENT_HASH = "document-hash"
STEP_MERKLE_PROOF = "merkle-proof"
STEP_CHAIN_ID = "chain-id"
STEP_BATCH_ROOT = "batch-root"
STEP_CONTRACT_VERIFY = "contract-verify"
STEP_TRANSACTION = "transaction"
STEP_REVOCATION = "revocation"
_REVOCATION_STEP_NUMBER = 7


@dataclass
class _StepRunner:
    """Runs the numbered steps; after a failure the chain-dependent ones are skipped."""

    steps: list[VerificationStep] = field(default_factory=list)
    blocked: str | None = None

    def run(self, name: str, check: Callable[[], tuple[bool, str]], *,
            needs_chain: bool = True) -> bool:
        number = len(self.steps) + 1
        if needs_chain and self.blocked is not None:
            self.steps.append(VerificationStep(number, name, StepStatus.SKIPPED,
                                               f"not checked: {self.blocked}"))
            return False
        passed, detail = check()
        self.steps.append(VerificationStep(number, name,
                                           StepStatus.PASSED if passed else StepStatus.FAILED,
                                           detail))
        return passed

    def skip(self, name: str, detail: str) -> None:
        self.steps.append(VerificationStep(len(self.steps) + 1, name, StepStatus.SKIPPED, detail))


def verify_receipt(receipt: Receipt, chain: str | RegistryClient,
                   document_bytes: bytes | None = None, *,
                   check_transaction: bool = True) -> ReceiptVerification:
    """Check `receipt` against the chain at `chain` (an RPC URL or a client).

    Steps: 1 document bytes hash to the receipt's digest (when bytes are given);
    2 the proof leads from the document's leaf to the receipt's root (offline);
    3 the endpoint serves the receipt's chain; 4 the contract's batch has the
    receipt's root; 5 the contract's `verify` says the document is anchored for the
    receipt's issuer; 6 the transaction and block exist and carry the BatchAnchored
    log (optional); 7 revocation status. RPC failures raise ChainError: no verdict
    is better than a wrong one.
    """
    runner = _StepRunner()
    digest = receipt.document_digest()
    root = receipt.root_bytes()
    proof = receipt.proof_bytes()

    if document_bytes is None:
        runner.skip(STEP_DOCUMENT_HASH, "no document bytes given")
    else:
        actual = hashlib.sha256(document_bytes).hexdigest()
        runner.run(STEP_DOCUMENT_HASH, lambda: (
            ("0x" + actual) == receipt.document_sha256,
            f"SHA-256 of the document is 0x{actual}"), needs_chain=False)

    def check_proof() -> tuple[bool, str]:
        try:
            computed = process_proof(leaf_hash(digest), proof)
        except MerkleError as exc:
            return False, exc.message
        if computed != root:
            return False, f"proof leads to 0x{computed.hex()}, not to the receipt's root"
        return True, f"{len(proof)} proof step(s) lead from the leaf to the root"

    runner.run(STEP_MERKLE_PROOF, check_proof, needs_chain=False)

    client = chain if isinstance(chain, RegistryClient) else RegistryClient(
        connect(chain), receipt.contract_address)
    if client.address != receipt.contract_address:
        client = RegistryClient(client.w3, receipt.contract_address)
    if not runner.run(STEP_CHAIN_ID, lambda: (
            client.chain_id == receipt.chain_id,
            f"endpoint serves chain {client.chain_id}, receipt is for chain "
            f"{receipt.chain_id}"), needs_chain=False):
        runner.blocked = "the endpoint serves another chain"

    def check_batch_root() -> tuple[bool, str]:
        batch = client.get_batch(receipt.batch_id)
        if batch is None:
            return False, f"contract has no batch {receipt.batch_id}"
        if batch.root != root:
            return False, (f"batch {receipt.batch_id} has root 0x{batch.root.hex()}, "
                           f"receipt says {receipt.merkle_root}")
        if "0x" + batch.issuer_id.hex() != receipt.issuer_id:
            return False, f"batch {receipt.batch_id} belongs to issuer 0x{batch.issuer_id.hex()}"
        return True, f"batch {receipt.batch_id} has the receipt's root and issuer"

    runner.run(STEP_BATCH_ROOT, check_batch_root)

    on_chain = None

    def check_contract() -> tuple[bool, str]:
        nonlocal on_chain
        on_chain = client.verify(digest, receipt.batch_id, proof)
        if not on_chain.anchored:
            return False, "contract says the document is not in this batch by this proof"
        if "0x" + on_chain.issuer_id.hex() != receipt.issuer_id:
            return False, f"contract names issuer 0x{on_chain.issuer_id.hex()}"
        return True, (f"anchored in block {on_chain.anchored_block}; issuer status now "
                      f"{on_chain.issuer_status_now.name.lower()}")

    runner.run(STEP_CONTRACT_VERIFY, check_contract)

    if check_transaction:
        runner.run(STEP_TRANSACTION, lambda: _check_transaction(client, receipt))
    else:
        runner.skip(STEP_TRANSACTION, "not requested")

    revocation: RevocationStatus | None = None
    if on_chain is None or not on_chain.anchored:
        runner.skip(STEP_REVOCATION, "not checked: the document is not shown anchored")
    elif on_chain.revoked:
        revocation = RevocationStatus(
            on_chain.revocation_reason.name.lower(), on_chain.revoked_at,
            on_chain.effective_from,
            None if on_chain.replacement is None else "0x" + on_chain.replacement.hex())
        detail = f"revoked ({revocation.reason}) at {revocation.revoked_at}"
        if revocation.effective_from:
            detail += f", effective from {revocation.effective_from}"
        if revocation.replacement:
            detail += f", replaced by {revocation.replacement}"
        runner.run(STEP_REVOCATION, lambda: (False, detail))
    else:
        runner.run(STEP_REVOCATION, lambda: (True, "not revoked"))

    failed = [s for s in runner.steps if s.status is StepStatus.FAILED]
    if any(s.number != _REVOCATION_STEP_NUMBER for s in failed):
        verdict = Verdict.INVALID
    elif failed:
        verdict = Verdict.REVOKED
    else:
        verdict = Verdict.VALID
    return ReceiptVerification(verdict, tuple(runner.steps), revocation)


def _check_transaction(client: RegistryClient, receipt: Receipt) -> tuple[bool, str]:
    try:
        tx_receipt = client.w3.eth.get_transaction_receipt(receipt.transaction_hash)
    except TransactionNotFound:
        return False, f"transaction {receipt.transaction_hash} is not on this chain"
    if tx_receipt["status"] != 1:
        return False, "the transaction reverted"
    if tx_receipt["blockNumber"] != receipt.block_number:
        return False, f"transaction is in block {tx_receipt['blockNumber']}, not " \
                      f"{receipt.block_number}"
    block_hash = "0x" + bytes(tx_receipt["blockHash"]).hex()
    if block_hash != receipt.block_hash:
        return False, f"block {receipt.block_number} is now {block_hash}: reorganised?"
    anchored = [e for e in client._events_of(tx_receipt, "BatchAnchored")
                if int(e.args["batchId"]) == receipt.batch_id
                and bytes(e.args["root"]) == receipt.root_bytes()]
    if not anchored:
        return False, "the transaction has no BatchAnchored log for this batch and root"
    return True, (f"transaction {receipt.transaction_hash} in block {receipt.block_number} "
                  f"anchored batch {receipt.batch_id}")


def proof_from_hex(values: Sequence[str]) -> tuple[bytes, ...]:
    return tuple(bytes.fromhex(_hex32(v)[2:]) for v in values)
