"""Indexing renewal batches (`certreg renew`, `certreg migrate import`) from their renewal
manifests (registry.index.renewal_manifest).

* Every renewal becomes one `evidence_renewals` row per document once its last word is
  anchored: the evidence it renewed, its leaf, path and word batches. With the chain's
  batch rows that rebuilds the document's evidence record (registry.evidence_records).
* A migration batch also brings its documents into this registry: each is listed under
  its original SHA-256 with the migration leaf as the hash this contract knows it by
  (`anchored_hash`), and the public metadata its original batch manifest on IPFS gives
  (bound by the receipt's root, which the migration covers). So verification,
  traceability and the revocation cascade work on the new contract as on the old one.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from anchor.cid import Cid
from anchor.errors import CidError, ContentIntegrityError, MerkleError
from anchor.evidence import KIND_MIGRATION
from anchor.merkle import MerkleBatch
from anchor.renewal_tree import digest_of
from anchor.store import ContentStore
from registry.db.models import MANIFEST_RENEWAL, ChainBatch, ChainDocument, EvidenceRenewal
from registry.errors import ManifestInvalidError
from registry.index.documents import MigratedDocument, insert_documents
from registry.index.manifest import BatchManifest, ManifestMember
from registry.index.renewal_manifest import RenewalManifest
from registry.index.verdict_inputs import VerdictChanges


def projected_document_hash(session: Session, issuer_id: str, document_hash: bytes
                            ) -> tuple[str, EvidenceRenewal | None]:
    """The SHA-256 (hex) of the document the contract knows as `document_hash`: a migrated
    document's original one (with its migration), else the hash itself."""
    row = session.execute(select(ChainDocument.sha256, EvidenceRenewal).join(
        EvidenceRenewal, (EvidenceRenewal.batch_id == ChainDocument.batch_id)
        & (EvidenceRenewal.document_sha256 == ChainDocument.sha256)).where(
        ChainDocument.anchored_hash == document_hash.hex(),
        ChainDocument.issuer_id == issuer_id).limit(1)).first()
    return (document_hash.hex(), None) if row is None else (row[0], row[1])


def original_revocation_time(migration: EvidenceRenewal | None, reason: str,
                             effective_from: int, replacement: str | None,
                             revoked_at: dt.datetime) -> dt.datetime:
    """When a revocation carried over by a migration was first made, if the migration's
    manifest recorded the same revocation (never later than the carrying one)."""
    carried = None if migration is None else migration.carried_revocation
    if carried is None or (carried["reason"], carried["effective_from"]) != (
            reason, effective_from) or carried["replacement"] != (
            None if replacement is None else "0x" + replacement):
        return revoked_at
    return min(revoked_at, dt.datetime.fromtimestamp(carried["revoked_at"], dt.UTC))


def load_renewal(session: Session, batch: ChainBatch, data: bytes, store: ContentStore,
                 changes: VerdictChanges) -> None:
    """Project a renewal batch. ManifestInvalidError when the manifest does not describe
    it; ContentNotFoundError / StorageUnavailableError (the batch stays `missing`, retried)
    when a migrated document's original manifest cannot be read yet."""
    manifest = RenewalManifest.from_bytes(data)
    if bytes.fromhex(batch.root) not in manifest.words or batch.count != len(manifest.covers):
        raise ManifestInvalidError("the renewal manifest does not describe the anchored batch")
    if manifest.kind == KIND_MIGRATION and any(
            c.record.receipt.issuer_id != "0x" + batch.issuer_id for c in manifest.covers):
        # Whoever anchors a migration takes over the revocations: only the issuer itself.
        raise ManifestInvalidError("a migration batch covers another issuer's records")
    words = _word_batches(session, batch, manifest)
    if manifest.kind == KIND_MIGRATION:
        _insert_migrated(session, batch, manifest, store, changes)  # status `ok`
    else:
        batch.manifest_status = MANIFEST_RENEWAL
    if words is None:
        return  # a later word's batch completes the renewal
    last = words[-1]
    paths = manifest.paths()
    session.execute(insert(EvidenceRenewal), [
        {"document_sha256": c.document_sha256[2:], "batch_id": last.batch_id,
         "word_batch_ids": [w.batch_id for w in words], "kind": manifest.kind,
         "algorithm": manifest.algorithm, "leaf": "0x" + c.leaf.hex(),
         "document_digest": None if c.document_digest is None
         else "0x" + c.document_digest.hex(),
         "path": ["0x" + p.hex() for p in paths[c.leaf]], "previous": c.record.to_dict(),
         "carried_revocation": c.revocation, "block_number": last.block_number}
        for c in manifest.covers])


def _word_batches(session: Session, batch: ChainBatch, manifest: RenewalManifest
                  ) -> list[ChainBatch] | None:
    """The batches of every word of the root, in word order; None while one is missing.
    A word anchored again (a resumed run) counts once, at its first anchoring."""
    session.flush()
    found = []
    for word in manifest.words:
        row = session.scalars(select(ChainBatch).where(
            ChainBatch.root == word.hex(), ChainBatch.manifest_cid == batch.manifest_cid)
            .order_by(ChainBatch.block_number, ChainBatch.batch_id).limit(1)).first()
        if row is None:
            return None
        found.append(row)
    if found[-1].batch_id != batch.batch_id:
        return None  # the renewal was completed by another batch
    return found


def _insert_migrated(session: Session, batch: ChainBatch, manifest: RenewalManifest,
                     store: ContentStore, changes: VerdictChanges) -> None:
    members: list[ManifestMember] = []
    originals: dict[str, BatchManifest] = {}
    for cover in manifest.covers:
        receipt = cover.record.receipt
        if receipt.manifest_cid not in originals:
            originals[receipt.manifest_cid] = _original_manifest(store, receipt.manifest_cid,
                                                                 receipt.merkle_root)
        sha256 = receipt.document_sha256[2:]
        member = next((m for m in originals[receipt.manifest_cid].documents
                       if m.sha256 == sha256), None)
        if member is None or member.cid != receipt.cid or member.encrypted != receipt.encrypted:
            raise ManifestInvalidError("a migrated document is not in its original manifest",
                                       document=receipt.document_sha256)
        members.append(member)
    paths = manifest.paths()
    migrated = {}
    for cover in manifest.covers:
        record = cover.record
        covered = digest_of(manifest.algorithm, record.previous_evidence(len(record.renewals)))
        migrated[cover.document_sha256[2:]] = MigratedDocument(
            anchored_hash=cover.leaf.hex(),
            original_anchored_at=dt.datetime.fromtimestamp(record.receipt.anchored_at, dt.UTC),
            migration_binding=f"{manifest.algorithm}:{covered.hex()}")
    insert_documents(session, batch, members,
                     {c.document_sha256[2:]: paths[c.leaf] for c in manifest.covers}, changes,
                     migrated=migrated)


def _original_manifest(store: ContentStore, cid: str, root: str) -> BatchManifest:
    """The migrated documents' original batch manifest: content addressed, and its members
    must hash to the receipt's root (which the migration leaf covers)."""
    try:
        original = BatchManifest.from_bytes(store.get(Cid.parse(cid)))
        tree = MerkleBatch.of(bytes.fromhex(d.sha256) for d in original.documents)
    except (CidError, ContentIntegrityError, MerkleError, ValueError):
        raise ManifestInvalidError("a migrated document's original manifest is unreadable",
                                   cid=cid) from None
    if "0x" + tree.root.hex() != root:
        raise ManifestInvalidError("an original manifest does not lead to its receipt's root",
                                   cid=cid)
    return original
