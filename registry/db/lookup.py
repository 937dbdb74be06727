"""Read-side lookups over the chain projection for the registry API: certificates by hash,
CID or number, their revocations and replacements, issuers with their history, and the
revocations feed. Only reads; rows come back detached (the session factory does not
expire them), ready to be turned into responses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session, sessionmaker

from registry.db.models import (
    AuditEvent,
    ChainBatch,
    ChainDocument,
    ChainIssuer,
    ChainRevocation,
    ChainSigningCertificate,
    IndexerState,
)
from registry.db.rows import instance, labelled_columns
from registry.db.search import NUMBER, identifier_matches, normalise

ISSUER_HISTORY_EVENTS = ("IssuerRegistered", "IssuerStatusChanged", "IssuerAdminChanged",
                         "IssuerMetadataUpdated", "OperatorAdded", "OperatorRemoved")


@dataclass(frozen=True)
class Anchoring:
    """One anchoring of a document: its manifest entry and the batch that anchored it."""

    document: ChainDocument
    batch: ChainBatch


@dataclass(frozen=True)
class CertificateRecord:
    sha256: str
    anchorings: tuple[Anchoring, ...]  # earliest first
    revocations: tuple[ChainRevocation, ...]  # of this document, by any of its issuers
    superseded_by: tuple[ChainRevocation, ...]  # revocations naming a replacement
    supersedes: tuple[ChainRevocation, ...]  # revocations of documents it replaced
    issuer: ChainIssuer | None = None  # of the earliest anchoring's document


# A certificate lookup: its anchorings (earliest first) with the issuer of each
# document, and the revocations of it or naming it as replacement, in chain order.
_ANCHORINGS = (
    select(*labelled_columns(ChainDocument, "d_"), *labelled_columns(ChainBatch, "b_"),
           *labelled_columns(ChainIssuer, "i_"))
    .select_from(ChainDocument.__table__)
    .join(ChainBatch.__table__, ChainBatch.batch_id == ChainDocument.batch_id)
    .outerjoin(ChainIssuer.__table__, ChainIssuer.issuer_id == ChainDocument.issuer_id)
    .where(ChainDocument.sha256 == bindparam("sha256"))
    .order_by(ChainBatch.block_number, ChainBatch.batch_id))
_RELATED = (
    select(*labelled_columns(ChainRevocation, ""))
    .where(or_(ChainRevocation.document_sha256 == bindparam("sha256"),
               ChainRevocation.replacement == bindparam("sha256")))
    .order_by(ChainRevocation.block_number, ChainRevocation.log_index))


class ProjectionReader:
    """Lookups the API needs; every method opens and closes its own session."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self._sessions

    # ------------------------------------------------------------ certificates

    def certificate(self, sha256: str) -> CertificateRecord | None:
        """Everything the projection knows about a document hash; None if not anchored.
        Two Core statements (anchorings with the issuer; revocations both ways)."""
        engine = self._sessions.kw["bind"]
        with engine.connect() as connection:
            rows = connection.execute(_ANCHORINGS, {"sha256": sha256}).mappings().all()
            if not rows:
                return None
            related = [instance(ChainRevocation, "", row) for row in connection.execute(
                _RELATED, {"sha256": sha256}).mappings()]
        anchorings = tuple(Anchoring(instance(ChainDocument, "d_", row),
                                     instance(ChainBatch, "b_", row)) for row in rows)
        issuer = (instance(ChainIssuer, "i_", rows[0]) if rows[0]["i_issuer_id"] is not None
                  else None)
        revocations = tuple(r for r in related if r.document_sha256 == sha256)
        return CertificateRecord(
            sha256, anchorings, revocations,
            tuple(r for r in revocations if r.replacement is not None),
            tuple(r for r in related if r.replacement == sha256), issuer)

    def sha256_of_cid(self, cid: str) -> str | None:
        with self._sessions() as session:
            return session.scalar(select(ChainDocument.sha256).where(ChainDocument.cid == cid)
                                  .order_by(ChainDocument.batch_id).limit(1))

    def sha256s_by_number(self, issuer_id: str, number: str) -> list[str]:
        """Documents of an issuer carrying this certificate number (a corrected certificate
        often keeps its number, so there may be several), earliest anchored first."""
        with self._sessions() as session:
            found = session.scalars(
                select(ChainDocument.sha256)
                .where(ChainDocument.issuer_id == issuer_id,
                       identifier_matches(NUMBER, normalise(number)))
                .order_by(ChainDocument.block_number, ChainDocument.batch_id,
                          ChainDocument.sha256)).all()
        return list(dict.fromkeys(found))

    def anchoring(self, sha256: str) -> Anchoring | None:
        """The earliest anchoring of a document (the one receipts and verification use)."""
        with self._sessions() as session:
            row = session.execute(
                select(ChainDocument, ChainBatch)
                .join(ChainBatch, ChainBatch.batch_id == ChainDocument.batch_id)
                .where(ChainDocument.sha256 == sha256)
                .order_by(ChainBatch.block_number, ChainBatch.batch_id).limit(1)).first()
        return None if row is None else Anchoring(row[0], row[1])

    # ----------------------------------------------------------------- issuers

    def issuers(self) -> Sequence[ChainIssuer]:
        with self._sessions() as session:
            return session.scalars(select(ChainIssuer).order_by(
                ChainIssuer.registered_block, ChainIssuer.issuer_id)).all()

    def issuer(self, issuer_id: str) -> ChainIssuer | None:
        with self._sessions() as session:
            return session.get(ChainIssuer, issuer_id)

    def issuer_events(self, issuer_id: str) -> Sequence[AuditEvent]:
        """The issuer's directory events (registration, status, admin, metadata,
        operators) in chain order."""
        with self._sessions() as session:
            return session.scalars(
                select(AuditEvent).where(AuditEvent.issuer_id == issuer_id,
                                         AuditEvent.name.in_(ISSUER_HISTORY_EVENTS))
                .order_by(AuditEvent.block_number, AuditEvent.log_index)).all()

    def signing_certificates(self, issuer_id: str) -> Sequence[ChainSigningCertificate]:
        """The signing certificates and CAs the issuer declared, withdrawn ones included."""
        with self._sessions() as session:
            return signing_certificate_rows(session, issuer_id)

    # ------------------------------------------------------------- revocations

    def revocations(self, *, since_block: int | None, since_time: dt.datetime | None,
                    issuer_id: str | None, after: tuple[int, int] | None,
                    limit: int) -> Sequence[ChainRevocation]:
        """Revocations in chain order (block, log index), strictly after `after`."""
        query = select(ChainRevocation)
        if since_block is not None:
            query = query.where(ChainRevocation.block_number >= since_block)
        if since_time is not None:
            query = query.where(ChainRevocation.revoked_at >= since_time)
        if issuer_id is not None:
            query = query.where(ChainRevocation.issuer_id == issuer_id)
        if after is not None:
            block, log_index = after
            # Row-value comparison spelled out: portable to every backend.
            query = query.where(or_(ChainRevocation.block_number > block,
                                    (ChainRevocation.block_number == block)
                                    & (ChainRevocation.log_index > log_index)))
        with self._sessions() as session:
            return session.scalars(query.order_by(ChainRevocation.block_number,
                                                  ChainRevocation.log_index)
                                   .limit(limit)).all()

    def indexed_block(self) -> int | None:
        """The last block the indexer has indexed; None before the first catch-up."""
        with self._sessions() as session:
            return session.scalar(select(IndexerState.last_block).limit(1))


def signing_certificate_rows(session: Session, issuer_id: str) -> Sequence[ChainSigningCertificate]:
    """The issuer's declarations, in order of (latest) declaration."""
    return session.scalars(
        select(ChainSigningCertificate)
        .where(ChainSigningCertificate.issuer_id == issuer_id.lower().removeprefix("0x"))
        .order_by(ChainSigningCertificate.declared_block, ChainSigningCertificate.id)).all()
