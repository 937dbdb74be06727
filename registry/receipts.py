"""Receipts from the projection: what `certreg issue` writes beside each document and the
API returns (registry.issuance writes the files)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from anchor.chain import RegistryClient
from anchor.receipt import Receipt
from registry.db import ChainBatch, ChainDocument
from registry.db.rows import chunked

# The projection columns a receipt is made of: never the (possibly large) metadata, so a
# 10,000-document run does not hold 10,000 metadata trees in the session's identity map.
_RECEIPT_DOCUMENT_COLUMNS = (ChainDocument.sha256, ChainDocument.cid, ChainDocument.encrypted,
                             ChainDocument.proof)


class ReceiptDocument(Protocol):
    sha256: str
    cid: str
    encrypted: bool
    proof: list[str]


def build_receipt(client: RegistryClient, document: ReceiptDocument,
                  batch: ChainBatch) -> Receipt:
    """A receipt from projection rows (the proof was computed from the batch manifest)."""
    return Receipt(
        document_sha256=document.sha256, cid=document.cid, batch_id=batch.batch_id,
        merkle_root=batch.root, proof=tuple(document.proof), chain_id=client.chain_id,
        contract_address=client.address, transaction_hash=batch.tx_hash,
        block_number=batch.block_number, block_hash=batch.block_hash,
        issuer_id=batch.issuer_id, anchored_at=int(batch.anchored_at.timestamp()),
        manifest_cid=batch.manifest_cid, encrypted=document.encrypted)


def find_receipt(session: Session, client: RegistryClient, sha256: str, *,
                 issuer_hex: str | None = None, prefer_issuer: str | None = None
                 ) -> Receipt | None:
    """The receipt of an anchored document from the projection: of `issuer_hex` only if
    given, else `prefer_issuer`'s anchoring first, then the earliest batch."""
    return find_receipts(session, client, [sha256], issuer_hex=issuer_hex,
                         prefer_issuer=prefer_issuer).get(sha256)


def find_receipts(session: Session, client: RegistryClient, sha256s: Iterable[str], *,
                  issuer_hex: str | None = None, prefer_issuer: str | None = None
                  ) -> dict[str, Receipt]:
    """`find_receipt` for many documents, in one statement per 2,000 of them; documents
    without a receipt are left out."""
    found: dict[str, Receipt] = {}
    for chunk in chunked(sorted(set(sha256s))):
        query = (select(*_RECEIPT_DOCUMENT_COLUMNS, ChainBatch)
                 .join(ChainBatch, ChainBatch.batch_id == ChainDocument.batch_id)
                 .where(ChainDocument.sha256.in_(chunk)))
        if issuer_hex is not None:
            query = query.where(ChainDocument.issuer_id == issuer_hex)
        if prefer_issuer is not None:
            query = query.order_by(ChainDocument.issuer_id != prefer_issuer)
        for row in session.execute(query.order_by(ChainDocument.batch_id)):
            if row.sha256 not in found:  # the first in that order is the one
                found[row.sha256] = build_receipt(client, row, row.ChainBatch)
    return found
