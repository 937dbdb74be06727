"""Evidence records: a receipt made renewable, after RFC 4998 (Evidence Record Syntax).

A receipt (`certreg-receipt/1`) rests on SHA-256 (the document digest), keccak-256 (the
Merkle tree), one contract and one chain. None of them will last as long as a
calibration certificate is kept. An evidence record (`certreg-evidence-record/1`) is the
original receipt followed by an ordered list of renewals; each renewal is a new hash
tree whose leaf covers the previous evidence (receipt + earlier renewals), anchored again
while the previous algorithms were still trusted (docs/evidence-records.md):

* `hash-tree` renewal (RFC 4998 §5.2, hash-tree renewal): leaf = H(H(document bytes) ||
  H(previous evidence)), H the new algorithm (default SHA3-256), tree `certreg-sorted-pair/1`
  built with H as well; its 32-byte root is anchored with the existing `anchorBatch`.
* `migration` renewal (timestamp renewal on another contract or chain): leaf =
  H(document SHA-256 || H(previous evidence)), in the contract's own OpenZeppelin tree so
  the new contract can `verify` and `revoke` it; the leaf is the document's hash there.

`verify_evidence_record` checks a record in numbered, pure steps with nothing but RPC
endpoints and a dated algorithm trust policy. Older anchorings on chains that are gone
are covered by the later renewals (that is the point of renewing).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from eth_utils import is_address, to_checksum_address

from anchor.chain import RegistryClient, connect
from anchor.digest import canonical_json_text
from anchor.errors import AnchorError, EvidenceError, MerkleError
from anchor.merkle import leaf_hash, process_proof
from anchor.receipt import (
    Receipt,
    ReceiptVerification,
    RevocationStatus,
    StepStatus,
    Verdict,
    VerificationStep,
    _hex32,
    _StepRunner,
    load_json,
)
from anchor.renewal_tree import (
    DIGEST_SIZES,
    RENEWAL_ALGORITHMS,
    WORD,
    SortedPairTree,
    digest_of,
    sorted_pair_root,
)
from anchor.trust_policy import TrustPolicy, end_text, trusted_at

EVIDENCE_FORMAT = "certreg-evidence-record/1"
KIND_HASH_TREE = "hash-tree"
KIND_MIGRATION = "migration"
TREE_SORTED_PAIR = "certreg-sorted-pair/1"
TREE_OPENZEPPELIN = "openzeppelin-standard-merkle-tree/bytes32"
DEFAULT_ALGORITHM = "sha3-256"
RECEIPT_ALGORITHMS = ("sha256", "keccak256")  # document digest, Merkle tree

# Step names are stable: scripts key on them.
STEP_DOCUMENT_HASH = "document-hash"
STEP_RECEIPT_PROOF = "receipt-proof"
STEP_RENEWAL_LEAVES = "renewal-leaves"
STEP_RENEWAL_PATHS = "renewal-paths"
STEP_ANCHORINGS = "anchorings"
STEP_TRUST_POLICY = "trust-policy"
STEP_REVOCATION = "revocation"


def canonical_json(value: Any) -> bytes:
    """The bytes a record's hashes cover: sorted keys, no whitespace, UTF-8."""
    return canonical_json_text(value).encode()


def _hex_digest(value: bytes | str, size: int) -> str:
    """Canonical 0x-prefixed lowercase hex of exactly `size` bytes."""
    text = ("0x" + value.hex()) if isinstance(value, bytes) else str(value).lower()
    body = text.removeprefix("0x")
    if not text.startswith("0x") or len(body) != 2 * size or \
            any(c not in "0123456789abcdef" for c in body):
        raise EvidenceError(f"expected {size} bytes as 0x-prefixed hex", value=text[:140])
    return text


def _int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise EvidenceError(f"{name} must be a non-negative integer")
    return value


# ------------------------------------------------------------------ the record

@dataclass(frozen=True)
class Anchoring:
    """Where a renewal tree's root was anchored."""

    chain_id: int
    contract_address: str
    batch_id: int
    root: str
    issuer_id: str
    transaction_hash: str
    block_number: int
    block_hash: str
    anchored_at: int
    manifest_cid: str

    def __post_init__(self) -> None:
        for name in ("root", "issuer_id", "transaction_hash", "block_hash"):
            object.__setattr__(self, name, _hex32(getattr(self, name)))
        if not is_address(self.contract_address):
            raise EvidenceError("contract_address is not an Ethereum address")
        object.__setattr__(self, "contract_address", to_checksum_address(self.contract_address))
        for name in ("chain_id", "batch_id", "block_number", "anchored_at"):
            _int(getattr(self, name), name)

    def to_dict(self) -> dict[str, Any]:
        return {"chain_id": self.chain_id, "contract_address": self.contract_address,
                "batch_id": self.batch_id, "root": self.root, "issuer_id": self.issuer_id,
                "transaction_hash": self.transaction_hash, "block_number": self.block_number,
                "block_hash": self.block_hash, "anchored_at": self.anchored_at,
                "manifest_cid": self.manifest_cid}


@dataclass(frozen=True)
class Renewal:
    kind: str
    algorithm: str
    document_digest: str | None  # H(document bytes) for hash-tree renewals
    leaf: str
    tree: str
    path: tuple[str, ...]
    # One anchoring per 32-byte word of the tree's root, in order (two for SHA-512).
    anchorings: tuple[Anchoring, ...]

    def __post_init__(self) -> None:
        if self.kind not in (KIND_HASH_TREE, KIND_MIGRATION):
            raise EvidenceError(f"unknown renewal kind {self.kind!r}")
        if self.algorithm not in RENEWAL_ALGORITHMS:
            raise EvidenceError(f"unsupported renewal algorithm {self.algorithm!r}",
                                supported=sorted(RENEWAL_ALGORITHMS))
        expected = TREE_SORTED_PAIR if self.kind == KIND_HASH_TREE else TREE_OPENZEPPELIN
        if self.tree != expected:
            raise EvidenceError(f"a {self.kind} renewal uses the {expected} tree")
        if (self.document_digest is None) != (self.kind == KIND_MIGRATION):
            raise EvidenceError("document_digest is given for hash-tree renewals only")
        size = DIGEST_SIZES[self.algorithm]
        if self.kind == KIND_MIGRATION and size != WORD:
            raise EvidenceError("a migration's leaves are the new contract's document hashes: "
                                "its algorithm must give 32 bytes")
        if self.document_digest is not None:
            object.__setattr__(self, "document_digest",
                               _hex_digest(self.document_digest, size))
        object.__setattr__(self, "leaf", _hex_digest(self.leaf, size))
        node = WORD if self.kind == KIND_MIGRATION else size
        object.__setattr__(self, "path", tuple(_hex_digest(p, node) for p in self.path))
        object.__setattr__(self, "anchorings", tuple(self.anchorings))
        if len(self.anchorings) != node // WORD:
            raise EvidenceError(f"a {node}-byte root is anchored as {node // WORD} word(s)")

    @property
    def root(self) -> str:
        return "0x" + "".join(a.root[2:] for a in self.anchorings)

    @property
    def anchored_at(self) -> int:
        """When the renewal was complete: its last word's anchoring."""
        return max(a.anchored_at for a in self.anchorings)

    def relies_on(self, document_algorithm: str) -> frozenset[str]:
        """The algorithms this renewal's evidence depends on."""
        if self.kind == KIND_HASH_TREE:
            return frozenset({self.algorithm})
        return frozenset({self.algorithm, "keccak256", document_algorithm})

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "algorithm": self.algorithm,
                "document_digest": self.document_digest, "leaf": self.leaf,
                "tree": self.tree, "path": list(self.path),
                "anchorings": [a.to_dict() for a in self.anchorings]}

    @classmethod
    def from_dict(cls, value: Any) -> Renewal:
        if not isinstance(value, dict) or not isinstance(value.get("anchorings"), list) \
                or not all(isinstance(a, dict) for a in value["anchorings"]):
            raise EvidenceError("a renewal is an object with a list of anchorings")
        try:
            fields = dict(value)
            fields["anchorings"] = tuple(Anchoring(**a) for a in value["anchorings"])
            if not isinstance(fields.get("path"), list):
                raise EvidenceError("a renewal's path is a list")
            fields["path"] = tuple(fields["path"])
            return cls(**fields)
        except (TypeError, AttributeError) as exc:
            raise EvidenceError(f"malformed renewal: {exc}") from None


@dataclass(frozen=True)
class EvidenceRecord:
    receipt: Receipt
    renewals: tuple[Renewal, ...] = ()
    format: str = EVIDENCE_FORMAT

    def to_dict(self, upto: int | None = None) -> dict[str, Any]:
        renewals = self.renewals if upto is None else self.renewals[:upto]
        return {"format": self.format, "receipt": self.receipt.to_dict(),
                "renewals": [r.to_dict() for r in renewals]}

    def previous_evidence(self, index: int) -> bytes:
        """What renewal `index` covers: the record as it was before it (canonical JSON)."""
        return canonical_json(self.to_dict(upto=index))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @property
    def document_sha256(self) -> str:
        return self.receipt.document_sha256

    def document_algorithm(self, upto: int | None = None) -> str:
        """The algorithm the document's own bytes were last hashed with (before `upto`)."""
        renewals = self.renewals if upto is None else self.renewals[:upto]
        return next((r.algorithm for r in reversed(renewals) if r.kind == KIND_HASH_TREE),
                    "sha256")

    def renewed(self, renewal: Renewal) -> EvidenceRecord:
        return replace(self, renewals=(*self.renewals, renewal))

    @classmethod
    def from_dict(cls, value: Any) -> EvidenceRecord:
        if not isinstance(value, dict) or value.get("format") != EVIDENCE_FORMAT:
            raise EvidenceError(f"not a {EVIDENCE_FORMAT} record")
        if set(value) != {"format", "receipt", "renewals"}:
            raise EvidenceError("evidence record fields differ from the format")
        if not isinstance(value["renewals"], list):
            raise EvidenceError("renewals is a list")
        try:
            receipt = Receipt.from_dict(value["receipt"])
        except AnchorError as exc:
            raise EvidenceError(f"the record's receipt: {exc.message}") from None
        return cls(receipt, tuple(Renewal.from_dict(r) for r in value["renewals"]))

    @classmethod
    def from_json(cls, text: str | bytes) -> EvidenceRecord:
        return cls.from_dict(load_json(text, EvidenceError, "an evidence record"))


def renewal_leaf(record: EvidenceRecord, kind: str, algorithm: str,
                 document_bytes: bytes | None = None) -> tuple[bytes, bytes | None]:
    """(leaf value, document digest) of the next renewal of `record`."""
    previous = digest_of(algorithm, record.previous_evidence(len(record.renewals)))
    if kind == KIND_MIGRATION:
        return digest_of(algorithm, record.receipt.document_digest() + previous), None
    if document_bytes is None:
        raise EvidenceError("a hash-tree renewal rehashes the document: its bytes are needed")
    if hashlib.sha256(document_bytes).digest() != record.receipt.document_digest():
        raise EvidenceError("document bytes do not match the receipt",
                            document=record.document_sha256)
    document_digest = digest_of(algorithm, document_bytes)
    return digest_of(algorithm, document_digest + previous), document_digest


# ------------------------------------------------------------------ verification

def _clients(rpc: str | RegistryClient | Sequence[str | RegistryClient]) -> dict[int, Any]:
    """Web3 connections by chain id; endpoints that do not answer are left out (a chain
    that is gone is what renewals are for)."""
    items = [rpc] if isinstance(rpc, str | RegistryClient) else list(rpc)
    found: dict[int, Any] = {}
    for item in items:
        try:
            w3 = item.w3 if isinstance(item, RegistryClient) else connect(item, timeout=10)
            found.setdefault(int(w3.eth.chain_id), w3)
        except (AnchorError, OSError, ValueError):  # requests' errors are OSErrors
            continue
    return found


def verify_evidence_record(record: EvidenceRecord, document: bytes | str | None,
                           rpc: str | RegistryClient | Sequence[str | RegistryClient], *,
                           policy: TrustPolicy | None = None,
                           now: dt.datetime | None = None) -> ReceiptVerification:
    """Check `record` with RPC endpoints only.

    Steps: 1 the document (bytes, or its SHA-256 in hex) matches the receipt and every
    hash-tree renewal's digest; 2 the receipt's proof leads to its root; 3 every renewal's
    leaf is recomputed from the evidence before it; 4 every renewal's path leads to its
    root; 5 every anchoring on a chain the endpoints serve has that root (the latest one
    must be served: it carries the rest); 6 the trust policy: each renewal was anchored
    while what it renews was still trusted, and the latest evidence is trusted now;
    7 revocation, asked of the latest migration's contract (or the receipt's).
    """
    policy = policy or TrustPolicy.default()
    now = now or dt.datetime.now(dt.UTC)
    runner = _StepRunner()
    receipt = record.receipt
    document_bytes = document if isinstance(document, bytes) else None
    runner.run(STEP_DOCUMENT_HASH, lambda: _check_document(record, document), needs_chain=False)
    runner.run(STEP_RECEIPT_PROOF, lambda: _check_receipt_proof(receipt), needs_chain=False)
    leaves_ok = runner.run(STEP_RENEWAL_LEAVES, lambda: _check_leaves(record),
                           needs_chain=False)
    paths_ok = runner.run(STEP_RENEWAL_PATHS, lambda: _check_paths(record), needs_chain=False)
    if not (leaves_ok and paths_ok):
        runner.blocked = "the renewals do not hold together"
    connections = _clients(rpc)
    runner.run(STEP_ANCHORINGS, lambda: _check_anchorings(record, connections))
    runner.run(STEP_TRUST_POLICY, lambda: _check_policy(record, policy, now,
                                                        document_bytes is not None),
               needs_chain=False)
    revocation: RevocationStatus | None = None

    def check_revocation() -> tuple[bool, str]:
        nonlocal revocation
        passed, detail, revocation = _check_revocation(record, connections)
        return passed, detail

    runner.run(STEP_REVOCATION, check_revocation)
    failed = [s for s in runner.steps if s.status is StepStatus.FAILED]
    skipped_revocation = runner.steps[-1].status is StepStatus.SKIPPED
    if any(s.name != STEP_REVOCATION for s in failed) or skipped_revocation:
        verdict = Verdict.INVALID
    elif revocation is not None:
        verdict = Verdict.REVOKED
    elif failed:
        verdict = Verdict.INVALID
    else:
        verdict = Verdict.VALID
    return ReceiptVerification(verdict, tuple(runner.steps), revocation)


def _check_document(record: EvidenceRecord, document: bytes | str | None) -> tuple[bool, str]:
    if document is None:
        return True, "no document given: its binding is the record's own digests"
    if isinstance(document, str):
        given = "0x" + document.lower().removeprefix("0x")
        return given == record.document_sha256, f"given SHA-256 {given}"
    actual = "0x" + hashlib.sha256(document).hexdigest()
    if actual != record.document_sha256:
        return False, f"SHA-256 of the document is {actual}, the receipt says otherwise"
    for number, renewal in enumerate(record.renewals, 1):
        if renewal.document_digest is not None and \
                "0x" + digest_of(renewal.algorithm, document).hex() != renewal.document_digest:
            return False, f"{renewal.algorithm} of the document differs from renewal {number}"
    algorithms = sorted({"sha256", *(r.algorithm for r in record.renewals
                                     if r.kind == KIND_HASH_TREE)})
    return True, f"the document's {', '.join(algorithms)} digests match the record"


def _check_receipt_proof(receipt: Receipt) -> tuple[bool, str]:
    try:
        computed = process_proof(leaf_hash(receipt.document_digest()), receipt.proof_bytes())
    except MerkleError as exc:
        return False, exc.message
    if computed != receipt.root_bytes():
        return False, f"the receipt's proof leads to 0x{computed.hex()}, not to its root"
    return True, f"{len(receipt.proof)} proof step(s) lead to the receipt's root"


def _check_leaves(record: EvidenceRecord) -> tuple[bool, str]:
    for number, renewal in enumerate(record.renewals, 1):
        previous = digest_of(renewal.algorithm, record.previous_evidence(number - 1))
        bound = (bytes.fromhex(renewal.document_digest[2:])
                 if renewal.document_digest is not None else record.receipt.document_digest())
        if "0x" + digest_of(renewal.algorithm, bound + previous).hex() != renewal.leaf:
            return False, f"renewal {number}'s leaf does not cover the evidence before it"
    return True, f"{len(record.renewals)} renewal leaf/leaves cover the evidence before them"


def _check_paths(record: EvidenceRecord) -> tuple[bool, str]:
    for number, renewal in enumerate(record.renewals, 1):
        leaf = bytes.fromhex(renewal.leaf[2:])
        path = [bytes.fromhex(p[2:]) for p in renewal.path]
        if renewal.kind == KIND_HASH_TREE:
            root = sorted_pair_root(renewal.algorithm, leaf, path)
        else:
            root = process_proof(leaf_hash(leaf), path)
        if "0x" + root.hex() != renewal.root:
            return False, f"renewal {number}'s path does not lead to its anchored root"
    return True, f"{len(record.renewals)} renewal path(s) lead to their roots"


def _entries(record: EvidenceRecord) -> list[tuple[str, Anchoring | Receipt]]:
    entries: list[tuple[str, Anchoring | Receipt]] = [("the receipt", record.receipt)]
    for n, renewal in enumerate(record.renewals, 1):
        words = len(renewal.anchorings)
        entries += [(f"renewal {n}" + (f" word {w}" if words > 1 else ""), a)
                    for w, a in enumerate(renewal.anchorings, 1)]
    return entries


def _check_anchorings(record: EvidenceRecord, connections: dict[int, Any]) -> tuple[bool, str]:
    checked, covered = [], []
    entries = _entries(record)
    for number, renewal in enumerate(record.renewals, 1):
        # Whoever anchors a migration keeps the revocations: only the issuer itself may.
        if renewal.kind == KIND_MIGRATION and \
                renewal.anchorings[0].issuer_id != record.receipt.issuer_id:
            return False, f"renewal {number} migrates the record under another issuer"
    last_renewal = len(record.renewals[-1].anchorings) if record.renewals else 1
    for position, (label, entry) in enumerate(entries):
        root = entry.merkle_root if isinstance(entry, Receipt) else entry.root
        w3 = connections.get(entry.chain_id)
        if w3 is None:
            if position >= len(entries) - last_renewal:
                return False, f"no endpoint serves chain {entry.chain_id} of {label}, " \
                              "the latest renewal"
            covered.append(label)
            continue
        batch = RegistryClient(w3, entry.contract_address).get_batch(entry.batch_id)
        if batch is None or "0x" + batch.root.hex() != root:
            return False, f"{label}: contract has no batch {entry.batch_id} with root {root}"
        if "0x" + batch.issuer_id.hex() != entry.issuer_id:
            return False, f"{label}: batch {entry.batch_id} belongs to another issuer"
        if batch.anchored_at != entry.anchored_at or batch.block_number != entry.block_number:
            return False, f"{label}: batch {entry.batch_id} was anchored at another time"
        header = RegistryClient(w3, entry.contract_address).block_header(entry.block_number)
        if header is None or header.hash != entry.block_hash:
            return False, f"{label}: block {entry.block_number} is not the record's block"
        checked.append(label)
    detail = f"on chain: {', '.join(checked)}"
    if covered:
        detail += f"; covered by later renewals (chain not served): {', '.join(covered)}"
    return True, detail


def _check_policy(record: EvidenceRecord, policy: TrustPolicy, now: dt.datetime,
                  have_bytes: bool) -> tuple[bool, str]:
    relied = [frozenset(RECEIPT_ALGORITHMS)]
    for number, renewal in enumerate(record.renewals, 1):
        expiry = policy.expiry(relied[-1])
        made = dt.datetime.fromtimestamp(renewal.anchored_at, dt.UTC)
        if not trusted_at(expiry, made):
            return False, (f"renewal {number} was made {made.date()}, after the evidence it "
                           f"renews stopped being trusted ({end_text(expiry)})")
        relied.append(renewal.relies_on(record.document_algorithm(number - 1)))
    latest = set(relied[-1])
    if not have_bytes:
        latest.add("sha256")  # the caller named the document by its SHA-256 only
    expiry = policy.expiry(latest)
    if not trusted_at(expiry, now):
        return False, (f"the latest evidence rests on {', '.join(sorted(latest))}, not "
                       f"trusted since {end_text(expiry)}: renew it")
    return True, (f"each renewal made in time; latest evidence rests on "
                  f"{', '.join(sorted(latest))}, trusted until {end_text(expiry)}")


def _check_revocation(record: EvidenceRecord, connections: dict[int, Any]
                      ) -> tuple[bool, str, RevocationStatus | None]:
    migration = next((r for r in reversed(record.renewals) if r.kind == KIND_MIGRATION), None)
    receipt = record.receipt
    if migration is None:
        chain_id, address, document, batch_id, proof = (
            receipt.chain_id, receipt.contract_address, receipt.document_digest(),
            receipt.batch_id, receipt.proof_bytes())
    else:
        a = migration.anchorings[0]
        chain_id, address, document, batch_id, proof = (
            a.chain_id, a.contract_address, bytes.fromhex(migration.leaf[2:]), a.batch_id,
            [bytes.fromhex(p[2:]) for p in migration.path])
    w3 = connections.get(chain_id)
    if w3 is None:
        return False, f"no endpoint serves chain {chain_id}, which keeps the revocations", None
    on_chain = RegistryClient(w3, address).verify(document, batch_id, proof)
    if not on_chain.anchored:
        return False, "the revocation contract does not show the document anchored", None
    if not on_chain.revoked:
        return True, f"not revoked (asked contract {address} on chain {chain_id})", None
    status = RevocationStatus(on_chain.revocation_reason.name.lower(), on_chain.revoked_at,
                              on_chain.effective_from,
                              None if on_chain.replacement is None
                              else "0x" + on_chain.replacement.hex())
    detail = f"revoked ({status.reason}), effective from {status.effective_from}"
    if status.replacement:
        detail += f", replaced by {status.replacement}"
    return False, detail, status


__all__ = ["DIGEST_SIZES", "EVIDENCE_FORMAT", "RENEWAL_ALGORITHMS", "WORD", "Anchoring",
           "EvidenceRecord", "Renewal", "SortedPairTree", "TrustPolicy", "VerificationStep",
           "canonical_json", "renewal_leaf", "verify_evidence_record"]
