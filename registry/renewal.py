"""The registry side of long-term validity: renewing anchored batches under stronger hash
trees (`certreg renew`) and migrating every batch's evidence, with its revocations, to a
new contract or chain (`certreg migrate export|import`). Formats: docs/evidence-records.md.

Renewing and importing are resumable: a renewal tree's root is anchored once (a second
run finds it on chain and reuses it), a revocation already carried over is not sent again.
Records live as files (one per document, `EvidenceDirectory`); each renewal's manifest,
listing what it covers, is in the content store and named by the anchoring transaction.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from anchor.chain import AnchoredBatch, RegistryClient, RevocationReason
from anchor.cid import Cid, raw_cid
from anchor.errors import AnchorError
from anchor.evidence import (
    DEFAULT_ALGORITHM,
    DIGEST_SIZES,
    KIND_HASH_TREE,
    KIND_MIGRATION,
    TREE_OPENZEPPELIN,
    TREE_SORTED_PAIR,
    WORD,
    Anchoring,
    EvidenceRecord,
    Renewal,
    SortedPairTree,
    renewal_leaf,
)
from anchor.merkle import MerkleBatch
from anchor.store import ContentStore
from registry.db.models import MANIFEST_OK, ChainBatch, ChainDocument
from registry.errors import EvidenceNotFoundError, MigrationError
from registry.evidence_records import IndexedContract, projected_record
from registry.index.renewal_manifest import RenewalManifest

MIGRATION_EXPORT_FORMAT = "certreg-migration-export/1"
REVOKE_MANY_LIMIT = 400  # the contract's documented per-call bound (EIP-7825 gas cap)


class EvidenceDirectory:
    """The latest evidence record of each document: `<dir>/<sha256 hex>.json`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _file(self, sha256: str) -> Path:
        return self.path / f"{sha256.lower().removeprefix('0x')}.json"

    def load(self, sha256: str) -> EvidenceRecord | None:
        file = self._file(sha256)
        return EvidenceRecord.from_json(file.read_bytes()) if file.exists() else None

    def save(self, record: EvidenceRecord) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        file = self._file(record.document_sha256)
        temporary = file.with_suffix(".tmp")
        temporary.write_text(record.to_json())
        temporary.replace(file)  # atomic: a crash leaves the old record or the new one


@dataclass(frozen=True)
class RenewalOutcome:
    anchorings: tuple[Anchoring, ...]  # one per 32-byte word of the renewal tree's root
    records: tuple[EvidenceRecord, ...]
    skipped: tuple[tuple[str, str], ...] = ()  # (document sha256, why)

    @property
    def anchoring(self) -> Anchoring:
        return self.anchorings[0]


def _anchoring(client: RegistryClient, anchored: AnchoredBatch) -> Anchoring:
    batch = anchored.batch
    header = client.block_header(batch.block_number)
    if header is None:
        raise AnchorError("the anchoring block is not on the node's chain",
                          block=batch.block_number)
    return Anchoring(chain_id=client.chain_id, contract_address=client.address,
                     batch_id=batch.batch_id, root=batch.root, issuer_id=batch.issuer_id,
                     transaction_hash=anchored.transaction_hash,
                     block_number=batch.block_number, block_hash=header.hash,
                     anchored_at=batch.anchored_at, manifest_cid=batch.manifest_cid)


def _manifest(store: ContentStore | None, kind: str, algorithm: str, root: bytes,
              covered: Iterable[tuple[EvidenceRecord, bytes, bytes | None]],
              revocations: Mapping[str, dict[str, Any]] | None = None) -> str:
    """The renewal manifest: each covered record, its leaf (and document digest). Nothing's
    validity rests on it (its CID is SHA-256 based), but with it the indexer rebuilds the
    records from chain + IPFS (registry.index.renewals)."""
    body = RenewalManifest.of(kind, algorithm, root, covered, revocations).to_bytes()
    if store is not None:
        return str(store.put(body))
    return str(raw_cid(body))


def renew_records(client: RegistryClient, records: Sequence[EvidenceRecord],
                  documents: Mapping[str, bytes], *, algorithm: str = DEFAULT_ALGORITHM,
                  store: ContentStore | None = None) -> RenewalOutcome:
    """One hash-tree renewal of `records` (RFC 4998 §5.2): a new `algorithm` tree over each
    document's bytes and previous evidence, its root anchored by `client`'s issuer."""
    leaves: list[tuple[EvidenceRecord, bytes, bytes]] = []
    skipped = []
    for record in records:
        document = documents.get(record.document_sha256)
        if document is None:
            skipped.append((record.document_sha256, "document bytes not available"))
            continue
        leaf, digest = renewal_leaf(record, KIND_HASH_TREE, algorithm, document)
        assert digest is not None
        leaves.append((record, leaf, digest))
    if not leaves:
        raise EvidenceNotFoundError("nothing to renew: no document bytes available",
                                    skipped=len(skipped))
    tree = SortedPairTree.of(algorithm, (leaf for _, leaf, _ in leaves))
    manifest = _manifest(store, KIND_HASH_TREE, algorithm, tree.root, leaves)
    # Word by word: each is its own batch (a word is as unguessable as the whole root).
    anchorings = tuple(
        _anchoring(client, client.anchor_batch(tree.root[i:i + WORD], len(leaves), manifest))
        for i in range(0, len(tree.root), WORD))
    renewed = tuple(record.renewed(Renewal(
        KIND_HASH_TREE, algorithm, digest, leaf, TREE_SORTED_PAIR, tree.path(leaf), anchorings))
        for record, leaf, digest in leaves)
    return RenewalOutcome(anchorings, renewed, tuple(skipped))


# ------------------------------------------------------------------ from the projection

def batch_documents(session: Session, client: RegistryClient, batch_ids: Iterable[int] | None,
                    directory: EvidenceDirectory | None = None, *,
                    issuer_hex: str | None = None) -> list[tuple[EvidenceRecord, str, bool]]:
    """(latest evidence, CID, encrypted) of every document of the batches (all: None).
    The latest evidence is the projection's (chain + IPFS); a record in `directory`
    counts only when it continues that evidence (renewed, not yet indexed)."""
    query = (select(ChainDocument.sha256, ChainDocument.cid, ChainDocument.encrypted)
             .join(ChainBatch, ChainBatch.batch_id == ChainDocument.batch_id)
             .where(ChainBatch.manifest_status == MANIFEST_OK))
    if batch_ids is not None:
        query = query.where(ChainBatch.batch_id.in_(list(batch_ids)))
    if issuer_hex is not None:
        query = query.where(ChainBatch.issuer_id == issuer_hex)
    contract = IndexedContract(client.chain_id, client.address)
    found, seen = [], set()
    for sha256, cid, encrypted in session.execute(query.order_by(ChainDocument.id)).all():
        record = None if sha256 in seen else projected_record(session, contract, sha256)
        seen.add(sha256)
        if record is None:
            continue
        saved = None if directory is None else directory.load(record.document_sha256)
        if saved is not None and saved.receipt == record.receipt and \
                saved.renewals[:len(record.renewals)] == record.renewals:
            record = saved
        found.append((record, cid, encrypted))
    return found


def renew_batches(sessions: sessionmaker[Session], client: RegistryClient,
                  store: ContentStore, directory: EvidenceDirectory,
                  batch_ids: Iterable[int] | None, *,
                  algorithm: str = DEFAULT_ALGORITHM) -> RenewalOutcome:
    """`certreg renew`: renew the batches' documents, save the upgraded records."""
    with sessions() as session:
        members = batch_documents(session, client, batch_ids, directory)
    if not members:
        raise EvidenceNotFoundError("no indexed batch with documents to renew")
    documents: dict[str, bytes] = {}
    skipped = []
    for record, cid, encrypted in members:
        if encrypted:
            # The renewal rehashes the document's own bytes; the registry never holds the
            # key of a confidential one (see docs/evidence-records.md, "Not done").
            skipped.append((record.document_sha256, "confidential: plaintext not held"))
            continue
        try:
            documents[record.document_sha256] = store.get(Cid.parse(cid))
        except AnchorError as exc:
            skipped.append((record.document_sha256, exc.message))
    outcome = renew_records(client, [r for r, _, _ in members
                                     if r.document_sha256 in documents], documents,
                            algorithm=algorithm, store=store)
    for record in outcome.records:
        directory.save(record)
    return RenewalOutcome(outcome.anchorings, outcome.records, (*skipped, *outcome.skipped))


# ------------------------------------------------------------------ migration

@dataclass(frozen=True)
class CarriedRevocation:
    issuer_id: str
    document_sha256: str
    reason: str
    revoked_at: int
    effective_from: int
    replacement: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(frozen=True)
class MigrationExport:
    """`certreg-migration-export/1`: every document's evidence and its revocation state."""

    chain_id: int
    contract_address: str
    records: tuple[EvidenceRecord, ...]
    revocations: tuple[CarriedRevocation, ...]

    def to_json(self) -> str:
        return json.dumps({"format": MIGRATION_EXPORT_FORMAT, "chain_id": self.chain_id,
                           "contract_address": self.contract_address,
                           "records": [r.to_dict() for r in self.records],
                           "revocations": [r.to_dict() for r in self.revocations]},
                          indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> MigrationExport:
        try:
            value = json.loads(text)
            if value.get("format") != MIGRATION_EXPORT_FORMAT:
                raise ValueError(f"not a {MIGRATION_EXPORT_FORMAT} file")
            return cls(int(value["chain_id"]), str(value["contract_address"]),
                       tuple(EvidenceRecord.from_dict(r) for r in value["records"]),
                       tuple(CarriedRevocation(**r) for r in value["revocations"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise MigrationError(f"unreadable migration export: {exc}") from None
        except AnchorError as exc:
            raise MigrationError(f"unreadable migration export: {exc.message}") from None


def export_registry(client: RegistryClient, records: Sequence[EvidenceRecord]
                    ) -> MigrationExport:
    """The records with their revocations as the old contract holds them now."""
    revocations = []
    for record in records:
        receipt = record.receipt
        revocation = client.get_revocation(bytes.fromhex(receipt.issuer_id[2:]),
                                           receipt.document_digest())
        if revocation is not None:
            revocations.append(CarriedRevocation(
                receipt.issuer_id, receipt.document_sha256,
                revocation.reason.name.lower(), revocation.revoked_at,
                revocation.effective_from,
                None if revocation.replacement is None else "0x" + revocation.replacement.hex()))
    return MigrationExport(client.chain_id, client.address, tuple(records), tuple(revocations))


def export_from_projection(sessions: sessionmaker[Session], client: RegistryClient,
                           directory: EvidenceDirectory) -> MigrationExport:
    with sessions() as session:
        records = [r for r, _, _ in batch_documents(session, client, None, directory)]
    return export_registry(client, records)


def import_export(target: RegistryClient, export: MigrationExport, *,
                  algorithm: str = DEFAULT_ALGORITHM, store: ContentStore | None = None
                  ) -> RenewalOutcome:
    """Anchor the records of `target`'s issuer on the new contract as one migration
    renewal (the new contract's documents are the renewal leaves) and carry their
    revocations over. Other issuers' records are left for their own operators."""
    issuer = target.issuer_of_operator(target.account.address)  # type: ignore[union-attr]
    if issuer is None:
        raise MigrationError("the signing account is no issuer's operator on the new contract")
    if DIGEST_SIZES.get(algorithm) != WORD:
        raise MigrationError("a migration's leaves become the new contract's document "
                             "hashes: choose a 32-byte algorithm", algorithm=algorithm)
    issuer_hex = "0x" + issuer.hex()
    mine = [r for r in export.records if r.receipt.issuer_id == issuer_hex]
    if not mine:
        raise MigrationError("the export holds no record of this operator's issuer",
                             issuer=issuer_hex)
    leaves = {r.document_sha256: renewal_leaf(r, KIND_MIGRATION, algorithm)[0] for r in mine}
    tree = MerkleBatch.of(leaves.values())
    carried = {v.document_sha256: {"reason": v.reason, "revoked_at": v.revoked_at,
                                   "effective_from": v.effective_from,
                                   "replacement": v.replacement}
               for v in export.revocations if v.issuer_id == issuer_hex}
    manifest = _manifest(store, KIND_MIGRATION, algorithm, tree.root,
                         ((r, leaves[r.document_sha256], None) for r in mine), carried)
    anchoring = _anchoring(target, target.anchor_batch(tree.root, len(mine), manifest))
    records = tuple(r.renewed(Renewal(
        KIND_MIGRATION, algorithm, None, leaves[r.document_sha256], TREE_OPENZEPPELIN,
        tuple("0x" + p.hex() for p in tree.proof(leaves[r.document_sha256])), (anchoring,)))
        for r in mine)
    _carry_revocations(target, anchoring.batch_id, tree, leaves,
                       [v for v in export.revocations if v.issuer_id == issuer_hex])
    return RenewalOutcome((anchoring,), records)


def _carry_revocations(target: RegistryClient, batch_id: int, tree: MerkleBatch,
                       leaves: Mapping[str, bytes],
                       revocations: Sequence[CarriedRevocation]) -> None:
    """Revoke the renewal leaves on the new contract: same reason, same effective date,
    the replacement's original SHA-256 (what verifiers compare with). Already carried
    ones are not sent again."""
    issuer = target.issuer_of_operator(target.account.address)  # type: ignore[union-attr]
    assert issuer is not None
    pending = [v for v in revocations if v.document_sha256 in leaves
               and target.get_revocation(issuer, leaves[v.document_sha256]) is None]
    grouped: dict[tuple[str, int], list[bytes]] = defaultdict(list)
    for v in pending:
        leaf = leaves[v.document_sha256]
        reason = RevocationReason[v.reason.upper()]
        if v.replacement is not None:
            target.revoke(leaf, batch_id, tree.proof(leaf), reason,
                          bytes.fromhex(v.replacement[2:]), v.effective_from)
        else:
            grouped[(v.reason, v.effective_from)].append(leaf)
    for (reason, effective_from), group in grouped.items():
        for start in range(0, len(group), REVOKE_MANY_LIMIT):
            target.revoke_many(batch_id, tree.multiproof(group[start:start + REVOKE_MANY_LIMIT]),
                               RevocationReason[reason.upper()], effective_from)
