"""A document's evidence record (certreg-evidence-record/1) rebuilt from the projection,
i.e. from chain + IPFS alone: the latest renewal the indexer projected from a renewal
manifest (registry.index.renewals) on top of the evidence it renewed, or the plain
receipt when the document was never renewed. No file of the registry that made the
renewal is needed, so any registry indexing the same contract serves the same record.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from anchor.evidence import (
    KIND_HASH_TREE,
    TREE_OPENZEPPELIN,
    TREE_SORTED_PAIR,
    Anchoring,
    EvidenceRecord,
    Renewal,
)
from registry.db.models import (
    MANIFEST_OK,
    ChainBatch,
    ChainDocument,
    EvidenceRenewal,
    IndexerState,
)
from registry.receipts import build_receipt


@dataclass(frozen=True)
class IndexedContract:
    """The contract a projection indexes (what a receipt names), as build_receipt wants it."""

    chain_id: int
    address: str


def _anchoring(contract: IndexedContract, batch: ChainBatch) -> Anchoring:
    return Anchoring(chain_id=contract.chain_id, contract_address=contract.address,
                     batch_id=batch.batch_id, root="0x" + batch.root,
                     issuer_id="0x" + batch.issuer_id, transaction_hash=batch.tx_hash,
                     block_number=batch.block_number, block_hash=batch.block_hash,
                     anchored_at=int(batch.anchored_at.timestamp()),
                     manifest_cid=batch.manifest_cid)


def renewal_of(session: Session, contract: IndexedContract, row: EvidenceRenewal) -> Renewal:
    batches = {b.batch_id: b for b in session.scalars(
        select(ChainBatch).where(ChainBatch.batch_id.in_(row.word_batch_ids)))}
    return Renewal(row.kind, row.algorithm, row.document_digest, row.leaf,
                   TREE_SORTED_PAIR if row.kind == KIND_HASH_TREE else TREE_OPENZEPPELIN,
                   tuple(row.path), tuple(_anchoring(contract, batches[b])
                                          for b in row.word_batch_ids))


def latest_renewal(session: Session, sha256: str) -> EvidenceRenewal | None:
    return session.scalars(select(EvidenceRenewal)
                           .where(EvidenceRenewal.document_sha256 == sha256)
                           .order_by(EvidenceRenewal.block_number.desc(),
                                     EvidenceRenewal.id.desc()).limit(1)).first()


def projected_record(session: Session, contract: IndexedContract, sha256: str
                     ) -> EvidenceRecord | None:
    """The latest evidence record of `sha256` (64 hex) the projection holds, or None when
    this registry knows no anchoring of it."""
    row = latest_renewal(session, sha256)
    if row is not None:
        return _renewed(session, contract, row)
    found = session.execute(
        select(ChainDocument, ChainBatch)
        .join(ChainBatch, ChainBatch.batch_id == ChainDocument.batch_id)
        .where(ChainDocument.sha256 == sha256, ChainDocument.anchored_hash.is_(None),
               ChainBatch.manifest_status == MANIFEST_OK)
        .order_by(ChainBatch.block_number, ChainBatch.batch_id).limit(1)).first()
    if found is None:
        return None
    document, batch = found
    return EvidenceRecord(build_receipt(contract, document, batch))  # type: ignore[arg-type]


def _renewed(session: Session, contract: IndexedContract, row: EvidenceRenewal
             ) -> EvidenceRecord:
    return EvidenceRecord.from_dict(row.previous).renewed(renewal_of(session, contract, row))


def indexed_contract(session: Session) -> IndexedContract | None:
    state = session.scalars(select(IndexerState).limit(1)).first()
    return None if state is None else IndexedContract(state.chain_id, state.contract_address)


def indexed_record(session: Session, sha256: str) -> EvidenceRecord | None:
    """`projected_record` on the contract this projection indexes (None before it
    indexed any)."""
    contract = indexed_contract(session)
    return None if contract is None else projected_record(session, contract, sha256)


def renewed_record(session: Session, sha256: str) -> EvidenceRecord | None:
    """The document's evidence record if this contract holds a renewal of it, else None
    (its receipt is then its whole evidence, as far as this registry knows)."""
    row = latest_renewal(session, sha256)
    contract = None if row is None else indexed_contract(session)
    return None if row is None or contract is None else _renewed(session, contract, row)
