"""RegistryClient: deploy, govern, register issuers, anchor, revoke and read one registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.exceptions import (
    BlockNotFound,
    ContractCustomError,
)

from anchor.chain.contract import (
    RevertDecoder,
    _abi_for,
    _abi_type,
    _hex,
    connect,
    probe_version,
)
from anchor.chain.records import (
    CURRENT_VERSION,
    ZERO32,
    AccreditationRecord,
    ActionKind,
    AnchoredBatch,
    BatchRecord,
    BlockHeader,
    ChainEvent,
    Deployment,
    GovernanceAction,
    IssuerKind,
    IssuerRecord,
    IssuerStatus,
    OnChainVerification,
    ProposalRecord,
    RevocationReason,
    RevocationRecord,
    SigningCertificateKind,
    SigningCertificateRecord,
    TransactionOutcome,
    manifest_cid_of,
    manifest_cid_parts,
)
from anchor.chain.transactions import (
    SignedTransaction,
    TransactionSender,
)
from anchor.compile import load_artifact
from anchor.errors import ChainError, ContractRevertError
from anchor.merkle import MultiProof


class RegistryClient:
    """A CertificateRegistry at `address`, acting as `account` when one is given."""

    def __init__(self, w3: Web3, address: str, *, account: LocalAccount | None = None,
                 confirmations: int = 1, receipt_timeout: float = 120.0,
                 poll_interval: float = 0.05, deployment_block: int = 0,
                 sender: TransactionSender | None = None, version: int | None = None) -> None:
        self.w3 = w3
        self.address = to_checksum_address(address)
        self.version = version if version is not None else probe_version(w3, self.address)
        abi = _abi_for(self.version)
        self.contract = w3.eth.contract(address=self.address, abi=abi)
        self.deployment_block = deployment_block
        self.chain_id = w3.eth.chain_id
        self.revert_decoder = RevertDecoder(abi)
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
                     sender=sender, confirmations=confirmations, version=CURRENT_VERSION,
                     receipt_timeout=receipt_timeout, poll_interval=poll_interval)
        return client, deployment

    def as_account(self, account: LocalAccount) -> RegistryClient:
        """The same contract, acting as another account (with its own nonces)."""
        return RegistryClient(self.w3, self.address, account=account, version=self.version,
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
        if self.version == 1:
            return BatchRecord(batch_id, bytes(b[0]), bytes(b[1]), b[2], b[3], b[4], b[5], b[6])
        # Version 2 keeps the manifest CID and operator in the event only: read it from
        # the one block the batch was anchored in.
        logs = self.contract.events.BatchAnchored.get_logs(
            from_block=b[4], to_block=b[4], argument_filters={"batchId": batch_id})
        if not logs:
            raise ChainError(f"batch {batch_id} has no BatchAnchored log in its block "
                             "(does this node serve old logs?)", block=b[4])
        args = logs[0]["args"]
        return BatchRecord(batch_id, bytes(b[0]), bytes(b[1]), b[2], b[3], b[4],
                           args["operator"],
                           manifest_cid_of(args["manifestDigest"], args["manifestCodec"]),
                           _hex(logs[0]["transactionHash"]))

    def batch_count(self) -> int:
        return int(self.contract.functions.batchCount().call())

    def leaf_of(self, document_hash: bytes) -> bytes:
        return bytes(self.contract.functions.leafOf(document_hash).call())

    def anchor_batch_call(self, root: bytes, count: int, manifest_cid: str) -> Any:
        """The contract call that anchors `root` (for callers that send it themselves)."""
        if self.version == 1:
            return self.contract.functions.anchorBatch(root, count, manifest_cid)
        return self.contract.functions.anchorBatch(root, count, *manifest_cid_parts(manifest_cid))

    def prepare_anchor_batch(self, root: bytes, count: int, manifest_cid: str) -> SignedTransaction:
        """Sign (without sending) the anchoring of `root`; persist it, then `broadcast` it."""
        return self._sign(self.anchor_batch_call(root, count, manifest_cid))

    def prepare_anchor_document(self, document_hash: bytes, manifest_cid: str) -> SignedTransaction:
        if self.version == 1:
            return self._sign(self.contract.functions.anchorDocument(document_hash, manifest_cid))
        return self._sign(self.contract.functions.anchorDocument(
            document_hash, *manifest_cid_parts(manifest_cid)))

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
            if (found := self._anchored_already(root, exc)) is not None:
                return found
            raise
        return self._settle_anchoring(root, signed)

    def _anchored_already(self, root: bytes, exc: ContractRevertError) -> AnchoredBatch | None:
        """The batch a `BatchRootAlreadyAnchored` revert refers to, if the chain shows it."""
        if exc.error_name != "BatchRootAlreadyAnchored":
            return None
        return self.find_anchoring(root)

    def _settle_anchoring(self, root: bytes, signed: SignedTransaction) -> AnchoredBatch:
        try:
            self.broadcast(signed)
            receipt = self._wait_receipt(signed.transaction_hash)
        except ContractRevertError as exc:
            if (found := self._anchored_already(root, exc)) is not None:
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
        if batch.transaction_hash is not None:
            return AnchoredBatch(batch, batch.transaction_hash, already_anchored=True)
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
        return self._transact(self.revoke_call(document_hash, batch_id, proof, reason,
                                               replacement, effective_from))

    def revoke_call(self, document_hash: bytes, batch_id: int, proof: Sequence[bytes],
                    reason: RevocationReason, replacement: bytes | None = None,
                    effective_from: int = 0) -> Any:
        """The contract call; version 2 names the batch by its root (one SLOAD less)."""
        batch: Any = self._root_of(batch_id) if self.version >= 2 else batch_id
        return self.contract.functions.revoke(document_hash, batch, list(proof), int(reason),
                                              replacement or ZERO32, effective_from)

    def revoke_many(self, batch_id: int, multiproof: MultiProof, reason: RevocationReason,
                    effective_from: int = 0) -> TransactionOutcome:
        """Revoke every document of `multiproof` (all of one batch) in one transaction."""
        return self._transact(self.revoke_many_call(batch_id, multiproof, reason,
                                                    effective_from))

    def revoke_many_call(self, batch_id: int, multiproof: MultiProof, reason: RevocationReason,
                         effective_from: int = 0) -> Any:
        if self.version == 1:
            raise ChainError("contract version 1 has no revokeMany: revoke one by one")
        return self.contract.functions.revokeMany(
            self._root_of(batch_id), list(multiproof.document_digests), list(multiproof.proof),
            list(multiproof.proof_flags), int(reason), effective_from)

    def _root_of(self, batch_id: int) -> bytes:
        """The root of `batch_id`, or zero (which the contract refuses as BatchRootUnknown)."""
        b = self.contract.functions.getBatch(batch_id).call()
        return bytes(b[1])

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
        args = dict(decoded["args"])
        if decoded["event"] == "BatchAnchored" and "manifestDigest" in args:
            # Version 2: readers get the CID text under the name version 1 used.
            args["manifestCid"] = manifest_cid_of(args["manifestDigest"], args["manifestCodec"])
        return ChainEvent(decoded["event"], args, log["blockNumber"],
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




def deploy_registry(rpc_url: str, deployer: LocalAccount, governors: Iterable[str],
                    threshold: int, **kwargs: Any) -> tuple[RegistryClient, Deployment]:
    return RegistryClient.deploy(connect(rpc_url), deployer, list(governors), threshold, **kwargs)
