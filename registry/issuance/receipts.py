"""Issuance's last stages, indexing and receipts: the indexer's catch-up (only it marks
documents anchored, from the chain's events) and one receipt file per anchored document,
written atomically, STORE_BATCH_SIZE per durable write. The receipts themselves are
built from the projection by registry.receipts."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from anchor.files import write_many_atomically
from anchor.receipt import Receipt
from registry.db import ChainBatch, ChainDocument, DocumentState, IssuedDocument
from registry.errors import DocumentNotAnchoredError, DocumentNotFoundError
from registry.index import IndexReport
from registry.issuance.state import STORE_BATCH_SIZE, IssuerState, normalise_sha256
from registry.receipts import _RECEIPT_DOCUMENT_COLUMNS, build_receipt, find_receipt

RECEIPTS_DIR = "receipts"


class ReceiptStage(IssuerState):
    """`Issuer.index`, `Issuer.write_receipts` and the receipt of one document."""

    @property
    def receipts_dir(self) -> Path:
        return self.data_dir / RECEIPTS_DIR

    def index(self) -> IndexReport:
        self.progress.phase("index", None)
        with self.timings.measure("index"):
            return self.indexer.catch_up()

    def write_receipts(self) -> int:
        """Write the receipt of every anchored document of this issuer that lacks one."""
        self.receipts_dir.mkdir(parents=True, exist_ok=True)
        present = {name.removesuffix(".json") for name in os.listdir(self.receipts_dir)}
        missing = [row for row in self.receipt_rows() if row.sha256 not in present]
        self.progress.phase("receipts", len(missing))
        for files in self.receipt_file_chunks(missing):
            self.write_receipt_files(files)
            self.progress.advance(len(files))
        return len(missing)

    def receipt_rows(self, batch_roots: Collection[str] | None = None) -> list[Any]:
        """Each anchored document of this issuer (of those batches only, if given) with
        its anchoring, in submission order."""
        query = (select(*_RECEIPT_DOCUMENT_COLUMNS, ChainBatch)
                 .select_from(IssuedDocument)
                 .join(ChainBatch, ChainBatch.root == IssuedDocument.batch_root)
                 .join(ChainDocument, (ChainDocument.batch_id == ChainBatch.batch_id)
                       & (ChainDocument.sha256 == IssuedDocument.sha256))
                 .where(IssuedDocument.issuer_id == self.issuer_hex,
                        IssuedDocument.state == DocumentState.ANCHORED.value)
                 .order_by(IssuedDocument.id))
        if batch_roots is not None:
            query = query.where(IssuedDocument.batch_root.in_(list(batch_roots)))
        with self.sessions() as session:
            return list(session.execute(query).all())

    def receipt_files(self, rows: Sequence[Any]) -> list[tuple[Path, bytes]]:
        with self.timings.measure("receipt"):
            return [(self.receipts_dir / f"{row.sha256}.json",
                     build_receipt(self.client, row, row.ChainBatch).to_json().encode())
                    for row in rows]

    def receipt_file_chunks(self, rows: Sequence[Any]) -> Iterator[list[tuple[Path, bytes]]]:
        """The receipt files of `rows`, STORE_BATCH_SIZE at a time: each chunk one durable
        write for `write_receipt_files` (in line or on a thread), built only when the
        caller asks for it."""
        for start in range(0, len(rows), STORE_BATCH_SIZE):
            yield self.receipt_files(rows[start:start + STORE_BATCH_SIZE])

    def write_receipt_files(self, files: Sequence[tuple[Path, bytes]]) -> None:
        # Each file is complete or absent after a crash; one sync per batch of them.
        with self.timings.measure("receipt"):
            write_many_atomically(files)

    def _receipt_or_none(self, session: Session, sha256: str,
                         issuer_hex: str | None = None) -> Receipt | None:
        return find_receipt(session, self.client, sha256, issuer_hex=issuer_hex,
                            prefer_issuer=self.issuer_hex)

    def receipt_for(self, sha256: str) -> Receipt:
        """The receipt of an anchored document (ours preferred), from the projection."""
        sha256 = normalise_sha256(sha256)
        with self.sessions() as session:
            receipt = self._receipt_or_none(session, sha256)
            if receipt is not None:
                return receipt
            issued = session.scalar(select(IssuedDocument.state).where(
                IssuedDocument.issuer_id == self.issuer_hex, IssuedDocument.sha256 == sha256))
        if issued is not None:
            raise DocumentNotAnchoredError(f"document 0x{sha256} is {issued}, not anchored yet",
                                           state=issued)
        raise DocumentNotFoundError(f"no anchored document 0x{sha256} is known",
                                    sha256=sha256)
