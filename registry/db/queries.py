"""Read-side queries over the chain projection, for verification and the API.

`DatabaseIndexView` answers the questions `registry.verify` asks of the index. It only
reads: the projection is written by the indexer alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from anchor.chain import IssuerStatus
from registry.db.lookup import signing_certificate_rows
from registry.db.models import (
    AuditEvent,
    ChainBatch,
    ChainDocument,
    ChainIssuer,
    ChainSigningCertificate,
)
from registry.verify.signer import DeclaredSigningCertificate
from registry.verify.steps import IndexedAnchoring, IssuerSnapshot

_STATUS_EVENTS = ("IssuerRegistered", "IssuerStatusChanged")


class DatabaseIndexView:
    """The IndexView of `registry.verify`, backed by the projection tables."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    def anchorings(self, sha256: str) -> Sequence[IndexedAnchoring]:
        with self._sessions() as session:
            rows = session.execute(
                select(ChainDocument, ChainBatch)
                .join(ChainBatch, ChainBatch.batch_id == ChainDocument.batch_id)
                .where(ChainDocument.sha256 == sha256.lower().removeprefix("0x"))
                .order_by(ChainBatch.block_number, ChainBatch.batch_id)).all()
            return [anchoring_of(document, batch) for document, batch in rows]

    def issuer(self, issuer_id: str) -> IssuerSnapshot | None:
        with self._sessions() as session:
            row = session.get(ChainIssuer, issuer_id)
            if row is None:
                return None
            return IssuerSnapshot(row.issuer_id, row.country, row.kind, row.status)

    def issuer_status_at(self, issuer_id: str, block_number: int) -> str | None:
        """The issuer's status after the last status event at or before `block_number`."""
        wanted = "0x" + issuer_id.lower().removeprefix("0x")
        with self._sessions() as session:
            events = session.scalars(
                select(AuditEvent)
                .where(AuditEvent.name.in_(_STATUS_EVENTS),
                       AuditEvent.block_number <= block_number)
                .order_by(AuditEvent.block_number, AuditEvent.log_index)).all()
        status: str | None = None
        for event in events:
            if str(event.args.get("issuerId", "")).lower() != wanted:
                continue
            if event.name == "IssuerRegistered":
                status = IssuerStatus.ACTIVE.name.lower()
            else:
                status = IssuerStatus(int(event.args["newStatus"])).name.lower()
        return status

    def signing_certificates(self, issuer_id: str) -> Sequence[DeclaredSigningCertificate]:
        with self._sessions() as session:
            return [declared_signing_certificate(row)
                    for row in signing_certificate_rows(session, issuer_id)]


def declared_signing_certificate(row: ChainSigningCertificate) -> DeclaredSigningCertificate:
    return DeclaredSigningCertificate(
        certificate_sha256=row.certificate_sha256, kind=row.kind, certificate=row.certificate,
        subject=row.subject, valid_from=row.valid_from, valid_until=row.valid_until,
        withdrawn_block=row.withdrawn_block, withdrawn_at=row.withdrawn_at)


def anchoring_of(document: ChainDocument, batch: ChainBatch) -> IndexedAnchoring:
    return IndexedAnchoring(
        sha256=document.sha256, batch_id=batch.batch_id, issuer_id=batch.issuer_id,
        merkle_root=batch.root, proof=tuple(document.proof), transaction_hash=batch.tx_hash,
        block_number=batch.block_number, anchored_at=batch.anchored_at,
        manifest_cid=batch.manifest_cid, cid=document.cid, document_type=document.document_type,
        unique_identifier=document.unique_identifier, encrypted=document.encrypted,
        metadata=document.public_metadata, anchored_hash=document.anchored_hash,
        migration_binding=document.migration_binding)
