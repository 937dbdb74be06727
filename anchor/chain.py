"""The registry contract client: the only module that talks to Ethereum (web3).

Deploy, govern, register issuers, anchor, revoke and read. Transactions are
signed locally with an explicit nonce so several can be in flight at once
(`prepare_*` + `broadcast` + `wait`), and anchoring is idempotent by Merkle
root: before sending, and whenever a send fails in an ambiguous way, the client
asks the chain whether the root is already anchored and, if so, returns that
batch instead of sending a second transaction.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.exceptions import (
    BlockNotFound,
    ContractCustomError,
    ContractLogicError,
    TimeExhausted,
    TransactionNotFound,
)
from web3.middleware import ExtraDataToPOAMiddleware

from anchor.compile import load_artifact
from anchor.errors import ChainError, ContractRevertError

ZERO32 = b"\x00" * 32


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
    batch_id: int
    issuer_id: bytes
    root: bytes
    count: int
    anchored_at: int
    block_number: int
    operator: str
    manifest_cid: str


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


@dataclass(frozen=True)
class SignedTransaction:
    """A transaction signed with a fixed nonce: re-broadcasting it can never make a second one."""

    raw: bytes
    transaction_hash: str
    nonce: int
    sender: str


@dataclass
class NonceManager:
    """Hands out consecutive nonces for one account without a round trip per transaction."""

    fetch: Callable[[], int]
    _next: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> int:
        with self._lock:
            if self._next is None:
                self._next = self.fetch()
            nonce = self._next
            self._next += 1
            return nonce

    def resync(self) -> None:
        with self._lock:
            self._next = None


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


class RevertDecoder:
    """Turns revert data into the contract's custom error name and arguments."""

    def __init__(self, abi: list[dict]) -> None:
        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for item in abi:
            if item["type"] != "error":
                continue
            types = [_abi_type(i) for i in item["inputs"]]
            selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
            self._errors[selector] = (item["name"], types, [i["name"] for i in item["inputs"]])
        # OpenZeppelin Pausable's errors are in the ABI too; add Solidity's builtins.
        self._errors[keccak(text="Error(string)")[:4]] = ("Error", ["string"], ["message"])
        self._errors[keccak(text="Panic(uint256)")[:4]] = ("Panic", ["uint256"], ["code"])

    def decode(self, data: str | bytes | None) -> ContractRevertError:
        if isinstance(data, dict):  # some nodes nest the data
            data = data.get("data")
        raw = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else (data or b"")
        entry = self._errors.get(raw[:4])
        if entry is None:
            return ContractRevertError("UnknownRevert", (_hex(raw),))
        name, types, _ = entry
        args = tuple(abi_decode(types, raw[4:])) if types else ()
        return ContractRevertError(name, args)


def _abi_type(item: dict) -> str:
    if item["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in item["components"])
        return f"({inner}){item['type'][5:]}"
    return item["type"]


def connect(rpc_url: str, *, timeout: float = 30.0) -> Web3:
    """A Web3 for `rpc_url`, with the proof-of-authority middleware when the chain needs it."""
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    try:
        w3.eth.chain_id  # noqa: B018 - fail fast with a clear error
    except Exception as exc:
        raise ChainError(f"cannot reach Ethereum node at {rpc_url}: {type(exc).__name__}",
                         rpc_url=rpc_url) from None
    try:
        w3.eth.get_block("latest")
    except Exception:
        # Clique (geth) blocks carry 97 bytes of extraData, which web3 rejects without this.
        w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return w3


class RegistryClient:
    """A CertificateRegistry at `address`, acting as `account` when one is given."""

    def __init__(self, w3: Web3, address: str, *, account: LocalAccount | None = None,
                 confirmations: int = 1, receipt_timeout: float = 120.0,
                 poll_interval: float = 0.05, deployment_block: int = 0,
                 sender: TransactionSender | None = None) -> None:
        artifact = load_artifact()
        self.w3 = w3
        self.address = to_checksum_address(address)
        self.contract = w3.eth.contract(address=self.address, abi=artifact["abi"])
        self.deployment_block = deployment_block
        self.chain_id = w3.eth.chain_id
        self.revert_decoder = RevertDecoder(artifact["abi"])
        self._sender_options = {"confirmations": confirmations,
                                "receipt_timeout": receipt_timeout, "poll_interval": poll_interval}
        if sender is None and account is not None:
            sender = TransactionSender(w3, account, self.revert_decoder, **self._sender_options)
        self.sender = sender
        self._topics: dict[bytes, Any] | None = None

    @property
    def account(self) -> LocalAccount | None:
        return self.sender.account if self.sender else None

    # ----------------------------------------------------------------- deploy

    @classmethod
    def deploy(cls, w3: Web3, account: LocalAccount, governors: Sequence[str], threshold: int,
               *, confirmations: int = 1, receipt_timeout: float = 120.0,
               poll_interval: float = 0.05) -> tuple[RegistryClient, Deployment]:
        artifact = load_artifact()
        sender = TransactionSender(w3, account, RevertDecoder(artifact["abi"]),
                                   confirmations=confirmations, receipt_timeout=receipt_timeout,
                                   poll_interval=poll_interval)
        factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        signed = sender.sign(factory.constructor([to_checksum_address(g) for g in governors],
                                                 threshold))
        sender.broadcast(signed)
        receipt = sender.wait_receipt(signed.transaction_hash)
        deployment = Deployment(address=receipt["contractAddress"], chain_id=sender.chain_id,
                                block_number=receipt["blockNumber"],
                                transaction_hash=signed.transaction_hash)
        client = cls(w3, deployment.address, deployment_block=deployment.block_number,
                     sender=sender, confirmations=confirmations,
                     receipt_timeout=receipt_timeout, poll_interval=poll_interval)
        return client, deployment

    def as_account(self, account: LocalAccount) -> RegistryClient:
        """The same contract, acting as another account (with its own nonces)."""
        return RegistryClient(self.w3, self.address, account=account,
                              deployment_block=self.deployment_block, **self._sender_options)

    # ------------------------------------------------------------- governance

    def propose(self, action: GovernanceAction) -> tuple[int, TransactionOutcome]:
        outcome = self._transact(self.contract.functions.propose(int(action.kind), action.params))
        created = next(e for e in outcome.events if e.name == "ProposalCreated")
        return int(created.args["proposalId"]), outcome

    def approve(self, proposal_id: int) -> TransactionOutcome:
        return self._transact(self.contract.functions.approve(proposal_id))

    def get_proposal(self, proposal_id: int) -> ProposalRecord:
        p = self.contract.functions.getProposal(proposal_id).call()
        return ProposalRecord(proposal_id, ActionKind(p[0]), p[1], p[2], p[3], p[4], p[5], p[6])

    def governors(self) -> list[str]:
        return list(self.contract.functions.governors().call())

    def threshold(self) -> int:
        return int(self.contract.functions.threshold().call())

    def paused(self) -> bool:
        return bool(self.contract.functions.paused().call())

    # ---------------------------------------------------------------- issuers

    def add_operator(self, issuer_id: bytes, operator: str) -> TransactionOutcome:
        return self._transact(self.contract.functions.addOperator(
            issuer_id, to_checksum_address(operator)))

    def remove_operator(self, issuer_id: bytes, operator: str) -> TransactionOutcome:
        return self._transact(self.contract.functions.removeOperator(
            issuer_id, to_checksum_address(operator)))

    def get_issuer(self, issuer_id: bytes, block: int | str = "latest") -> IssuerRecord:
        r = self.contract.functions.getIssuer(issuer_id).call(block_identifier=block)
        return IssuerRecord(issuer_id, r[0].decode("ascii", "replace").strip("\x00"),
                            IssuerKind(r[1]), IssuerStatus(r[2]), r[3], r[4], r[5], r[6])

    def issuer_of_operator(self, operator: str, block: int | str = "latest") -> bytes | None:
        issuer_id = self.contract.functions.issuerOfOperator(to_checksum_address(operator)).call(
            block_identifier=block)
        return None if issuer_id == ZERO32 else bytes(issuer_id)

    def accreditation_count(self, issuer_id: bytes, block: int | str = "latest") -> int:
        return int(self.contract.functions.accreditationCount(issuer_id).call(
            block_identifier=block))

    def get_accreditation(self, issuer_id: bytes, version: int,
                          block: int | str = "latest") -> AccreditationRecord:
        try:
            r = self.contract.functions.getAccreditation(issuer_id, version).call(
                block_identifier=block)
        except ContractCustomError as exc:
            raise self.revert_decoder.decode(exc.data) from None
        return AccreditationRecord(issuer_id, version,
                                   None if bytes(r[0]) == ZERO32 else bytes(r[0]),
                                   r[1], r[2], r[3], r[4])

    # --------------------------------------------------- signing certificates

    def declare_signing_certificate(self, issuer_id: bytes, certificate_der: bytes,
                                    kind: SigningCertificateKind, valid_from: int,
                                    valid_until: int) -> TransactionOutcome:
        """As the issuer's admin: declare a certificate the issuer signs with (or its CA)."""
        return self._transact(self.contract.functions.declareSigningCertificate(
            issuer_id, certificate_der, int(kind), valid_from, valid_until))

    def withdraw_signing_certificate(self, issuer_id: bytes,
                                     certificate_hash: bytes) -> TransactionOutcome:
        return self._transact(self.contract.functions.withdrawSigningCertificate(
            issuer_id, certificate_hash))

    def get_signing_certificate(self, issuer_id: bytes, certificate_hash: bytes,
                                block: int | str = "latest") -> SigningCertificateRecord | None:
        """The declaration of `certificate_hash` by the issuer, or None if never declared."""
        r = self.contract.functions.getSigningCertificate(issuer_id, certificate_hash).call(
            block_identifier=block)
        if r[0] == SigningCertificateKind.NONE:
            return None
        return SigningCertificateRecord(issuer_id, bytes(certificate_hash),
                                        SigningCertificateKind(r[0]), r[1], r[2], r[3])

    def signing_certificates(self, issuer_id: bytes,
                             block: int | str = "latest") -> list[SigningCertificateRecord]:
        """Every declaration of the issuer, in order of first declaration (one call each)."""
        functions = self.contract.functions
        count = int(functions.signingCertificateCount(issuer_id).call(block_identifier=block))
        records = []
        for position in range(1, count + 1):
            certificate_hash = bytes(functions.signingCertificateAt(issuer_id, position).call(
                block_identifier=block))
            record = self.get_signing_certificate(issuer_id, certificate_hash, block)
            assert record is not None  # listed means declared
            records.append(record)
        return records

    # -------------------------------------------------------------- anchoring

    def batch_id_of_root(self, root: bytes) -> int:
        return int(self.contract.functions.batchIdOfRoot(root).call())

    def get_batch(self, batch_id: int, block: int | str = "latest") -> BatchRecord | None:
        b = self.contract.functions.getBatch(batch_id).call(block_identifier=block)
        if bytes(b[1]) == ZERO32:
            return None
        return BatchRecord(batch_id, bytes(b[0]), bytes(b[1]), b[2], b[3], b[4], b[5], b[6])

    def batch_count(self) -> int:
        return int(self.contract.functions.batchCount().call())

    def leaf_of(self, document_hash: bytes) -> bytes:
        return bytes(self.contract.functions.leafOf(document_hash).call())

    def prepare_anchor_batch(self, root: bytes, count: int, manifest_cid: str) -> SignedTransaction:
        """Sign (without sending) the anchoring of `root`; persist it, then `broadcast` it."""
        return self._sign(self.contract.functions.anchorBatch(root, count, manifest_cid))

    def prepare_anchor_document(self, document_hash: bytes, manifest_cid: str) -> SignedTransaction:
        return self._sign(self.contract.functions.anchorDocument(document_hash, manifest_cid))

    def anchor_batch(self, root: bytes, count: int, manifest_cid: str) -> AnchoredBatch:
        """Anchor `root` once: returns the existing batch when the root is already on chain."""
        existing = self.find_anchoring(root)
        if existing is not None:
            return existing
        return self._anchor_once(root, lambda: self.prepare_anchor_batch(root, count,
                                                                          manifest_cid))

    def anchor_document(self, document_hash: bytes, manifest_cid: str) -> AnchoredBatch:
        root = self.leaf_of(document_hash)
        existing = self.find_anchoring(root)
        if existing is not None:
            return existing
        return self._anchor_once(root, lambda: self.prepare_anchor_document(document_hash,
                                                                             manifest_cid))

    def complete_anchoring(self, root: bytes, signed: SignedTransaction | None) -> AnchoredBatch:
        """Resume an anchoring that may or may not have reached the chain.

        Re-broadcasts the very same signed transaction (same nonce, same hash) when the
        root is not on chain yet, so a crash between signing and mining never yields
        a second anchoring transaction.
        """
        existing = self.find_anchoring(root)
        if existing is not None:
            return existing
        if signed is None:
            raise ChainError("root is not anchored and no signed transaction was kept")
        return self._settle_anchoring(root, signed)

    def _anchor_once(self, root: bytes, prepare: Callable[[], SignedTransaction]) -> AnchoredBatch:
        try:
            signed = prepare()
        except ContractRevertError as exc:
            if exc.error_name == "BatchRootAlreadyAnchored":
                found = self.find_anchoring(root)
                if found is not None:
                    return found
            raise
        return self._settle_anchoring(root, signed)

    def _settle_anchoring(self, root: bytes, signed: SignedTransaction) -> AnchoredBatch:
        try:
            self.broadcast(signed)
            receipt = self._wait_receipt(signed.transaction_hash)
        except ContractRevertError as exc:
            if exc.error_name == "BatchRootAlreadyAnchored":
                found = self.find_anchoring(root)
                if found is not None:
                    return found
            raise
        batch_id = self._events_of(receipt, "BatchAnchored")[0].args["batchId"]
        batch = self.get_batch(int(batch_id))
        assert batch is not None  # the receipt says it was just stored
        return AnchoredBatch(batch, signed.transaction_hash)

    def find_anchoring(self, root: bytes) -> AnchoredBatch | None:
        """The batch that anchored `root` and its transaction, read from the chain."""
        batch_id = self.batch_id_of_root(root)
        if batch_id == 0:
            return None
        batch = self.get_batch(batch_id)
        assert batch is not None
        logs = self.contract.events.BatchAnchored.get_logs(
            from_block=batch.block_number, to_block=batch.block_number,
            argument_filters={"batchId": batch_id})
        if not logs:
            raise ChainError(f"batch {batch_id} has no BatchAnchored log in its block",
                             block=batch.block_number)
        return AnchoredBatch(batch, _hex(logs[0]["transactionHash"]), already_anchored=True)

    # ------------------------------------------------------------- revocation

    def revoke(self, document_hash: bytes, batch_id: int, proof: Sequence[bytes],
               reason: RevocationReason, replacement: bytes | None = None,
               effective_from: int = 0) -> TransactionOutcome:
        return self._transact(self.contract.functions.revoke(
            document_hash, batch_id, list(proof), int(reason), replacement or ZERO32,
            effective_from))

    def get_revocation(self, issuer_id: bytes, document_hash: bytes,
                       block: int | str = "latest") -> RevocationRecord | None:
        r = self.contract.functions.getRevocation(issuer_id, document_hash).call(
            block_identifier=block)
        if r[1] == 0:
            return None
        return RevocationRecord(RevocationReason(r[0]), r[1], r[2], r[3], r[4],
                                None if bytes(r[5]) == ZERO32 else bytes(r[5]))

    def verify(self, document_hash: bytes, batch_id: int,
               proof: Sequence[bytes], block: int | str = "latest") -> OnChainVerification:
        """The contract's own check of a receipt (an eth_call; needs only an RPC endpoint)."""
        v = self.contract.functions.verify(document_hash, batch_id, list(proof)).call(
            block_identifier=block)
        return OnChainVerification(
            anchored=v[0], revoked=v[1], issuer_id=bytes(v[2]),
            issuer_status_now=IssuerStatus(v[3]),
            anchored_at=v[4], anchored_block=v[5], revocation_reason=RevocationReason(v[6]),
            revoked_at=v[7], effective_from=v[8],
            replacement=None if bytes(v[9]) == ZERO32 else bytes(v[9]))

    # ------------------------------------------------------------------ blocks

    def head_block_number(self) -> int:
        return int(self.w3.eth.block_number)

    def block_header(self, number: int) -> BlockHeader | None:
        """The block at `number` on the node's current chain, or None past its head."""
        try:
            block = self.w3.eth.get_block(number)
        except BlockNotFound:
            return None
        return BlockHeader(int(block["number"]), _hex(block["hash"]), int(block["timestamp"]))

    def transaction_sender(self, transaction_hash: str) -> str:
        return str(self.w3.eth.get_transaction(transaction_hash)["from"])

    # ----------------------------------------------------------------- events

    def events(self, from_block: int, to_block: int | str) -> list[ChainEvent]:
        """Every registry event in the block range, in chain order."""
        logs = self.w3.eth.get_logs({"address": self.address, "fromBlock": from_block,
                                     "toBlock": to_block})
        return [e for e in map(self._decode_log, logs) if e is not None]

    def _decode_log(self, log: Any) -> ChainEvent | None:
        topic = bytes(log["topics"][0]) if log["topics"] else b""
        event = self._event_by_topic().get(topic)
        if event is None:
            return None
        decoded = event.process_log(log)
        return ChainEvent(decoded["event"], dict(decoded["args"]), log["blockNumber"],
                          _hex(log["blockHash"]), _hex(log["transactionHash"]), log["logIndex"])

    def _event_by_topic(self) -> dict[bytes, Any]:
        if self._topics is None:
            self._topics = {}
            for item in self.contract.abi:
                if item["type"] == "event":
                    signature = f"{item['name']}({','.join(_abi_type(i) for i in item['inputs'])})"
                    self._topics[keccak(text=signature)] = getattr(self.contract.events,
                                                                   item["name"])()
        return self._topics

    # ----------------------------------------------------------- transactions

    def _sign(self, call: Any) -> SignedTransaction:
        if self.sender is None:
            raise ChainError("this client is read-only: no account to sign with")
        return self.sender.sign(call)

    def broadcast(self, signed: SignedTransaction) -> str:
        return self._require_sender().broadcast(signed)

    def wait(self, signed: SignedTransaction) -> TransactionOutcome:
        return self._outcome(self._wait_receipt(signed.transaction_hash))

    def send(self, call: Any) -> SignedTransaction:
        """Sign and broadcast without waiting (pipelining); `wait` on the result later."""
        signed = self._sign(call)
        self.broadcast(signed)
        return signed

    def _transact(self, call: Any) -> TransactionOutcome:
        return self.wait(self.send(call))

    def _wait_receipt(self, tx_hash: str) -> Any:
        return self._require_sender().wait_receipt(tx_hash)

    def _require_sender(self) -> TransactionSender:
        if self.sender is None:
            raise ChainError("this client is read-only: no account to sign with")
        return self.sender

    def _events_of(self, receipt: Any, name: str | None = None) -> list[ChainEvent]:
        events = [e for e in (self._decode_log(log) for log in receipt["logs"]
                              if log["address"] == self.address) if e is not None]
        return [e for e in events if name is None or e.name == name]

    def _outcome(self, receipt: Any) -> TransactionOutcome:
        return TransactionOutcome(_hex(receipt["transactionHash"]), receipt["blockNumber"],
                                  receipt["gasUsed"], tuple(self._events_of(receipt)))


class TransactionSender:
    """Signs locally with explicit nonces, broadcasts idempotently, waits for confirmations."""

    def __init__(self, w3: Web3, account: LocalAccount, revert_decoder: RevertDecoder, *,
                 confirmations: int = 1, receipt_timeout: float = 120.0,
                 poll_interval: float = 0.05) -> None:
        self.w3 = w3
        self.account = account
        self.chain_id = w3.eth.chain_id
        self.revert_decoder = revert_decoder
        self.confirmations = max(1, confirmations)
        self.receipt_timeout = receipt_timeout
        self.poll_interval = poll_interval
        self.nonces = NonceManager(lambda: w3.eth.get_transaction_count(account.address,
                                                                         "pending"))
        self._fees: dict[str, int] | None = None
        self._fees_at = 0.0

    def _fee_params(self) -> dict[str, int]:
        """EIP-1559 fees, refreshed at most once a second: two RPC round trips per
        transaction saved when pipelining, and the base fee cannot move faster than blocks."""
        now = time.monotonic()
        if self._fees is None or now - self._fees_at > 1.0:
            latest = self.w3.eth.get_block("latest")
            base_fee = latest.get("baseFeePerGas")
            if base_fee is None:  # a pre-London chain: legacy pricing
                self._fees = {"gasPrice": int(self.w3.eth.gas_price)}
            else:
                priority = int(self.w3.eth.max_priority_fee)
                self._fees = {"maxPriorityFeePerGas": priority,
                              "maxFeePerGas": 2 * int(base_fee) + priority}
            self._fees_at = now
        return self._fees

    def sign(self, call: Any) -> SignedTransaction:
        params = {"from": self.account.address, "chainId": self.chain_id, **self._fee_params()}
        try:
            tx = call.build_transaction(params)  # estimates gas: reverts surface here
        except ContractCustomError as exc:
            raise self.revert_decoder.decode(exc.data) from None
        except ContractLogicError as exc:
            raise ContractRevertError("Revert", (str(exc),)) from None
        tx["nonce"] = self.nonces.take()
        # Headroom: state may change between estimation and mining (e.g. a longer proof path).
        tx["gas"] = int(tx["gas"] * 1.2) + 10_000
        signed = self.account.sign_transaction(tx)
        return SignedTransaction(bytes(signed.raw_transaction), _hex(signed.hash), tx["nonce"],
                                 self.account.address)

    def broadcast(self, signed: SignedTransaction, attempts: int = 5) -> str:
        """Send a signed transaction; safe to repeat (same bytes, same hash)."""
        for attempt in range(attempts):
            try:
                self.w3.eth.send_raw_transaction(signed.raw)
                return signed.transaction_hash
            except Exception as exc:  # web3 raises Web3RPCError / requests errors
                text = str(exc).lower()
                if "already known" in text or "already imported" in text:
                    return signed.transaction_hash
                if "nonce too low" in text or "nonce is too low" in text:
                    # Mined already (ours), or the nonce was used by another transaction.
                    if self.receipt_or_none(signed.transaction_hash) is not None:
                        return signed.transaction_hash
                    self.nonces.resync()
                    raise ChainError("nonce already used by another transaction",
                                     nonce=signed.nonce) from None
                if attempt == attempts - 1 or not _transient(exc):
                    raise ChainError(f"could not send transaction: {type(exc).__name__}: {exc}",
                                     transaction_hash=signed.transaction_hash) from None
                time.sleep(0.2 * 2**attempt)
        raise AssertionError("unreachable")

    def receipt_or_none(self, tx_hash: str) -> Any:
        try:
            return self.w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            return None

    def wait_receipt(self, tx_hash: str) -> Any:
        """The receipt once it has `confirmations` blocks on top; reverts raise decoded."""
        deadline = time.monotonic() + self.receipt_timeout
        while True:
            receipt = self.receipt_or_none(tx_hash)
            if receipt is not None:
                if receipt["status"] != 1:
                    raise self._revert_reason(receipt)
                if self.confirmations == 1:
                    return receipt
                if self.w3.eth.block_number - receipt["blockNumber"] + 1 >= self.confirmations:
                    # Re-read: a reorg may have moved or dropped it while we waited.
                    final = self.receipt_or_none(tx_hash)
                    if final is not None and final["blockHash"] == receipt["blockHash"]:
                        return final
                    continue
            if time.monotonic() > deadline:
                raise ChainError(f"transaction {tx_hash} not confirmed within "
                                 f"{self.receipt_timeout:.0f}s", transaction_hash=tx_hash)
            time.sleep(self.poll_interval)

    def _revert_reason(self, receipt: Any) -> ContractRevertError:
        tx = self.w3.eth.get_transaction(receipt["transactionHash"])
        call = {k: tx[k] for k in ("from", "to", "data", "value") if tx.get(k) is not None}
        try:
            self.w3.eth.call(call, receipt["blockNumber"] - 1)
        except ContractCustomError as exc:
            return self.revert_decoder.decode(exc.data)
        except ContractLogicError as exc:
            return ContractRevertError("Revert", (str(exc),))
        return ContractRevertError("Revert", (), "transaction reverted (out of gas?)")


def _transient(exc: Exception) -> bool:
    name = type(exc).__name__
    return any(word in name for word in ("Timeout", "Connection", "HTTPError")) or isinstance(
        exc, (TimeoutError, ConnectionError, TimeExhausted))


def account_from_key(private_key: str | bytes) -> LocalAccount:
    return Account.from_key(private_key)


def deploy_registry(rpc_url: str, deployer: LocalAccount, governors: Iterable[str],
                    threshold: int, **kwargs: Any) -> tuple[RegistryClient, Deployment]:
    return RegistryClient.deploy(connect(rpc_url), deployer, list(governors), threshold, **kwargs)
