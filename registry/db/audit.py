"""Read-side queries for auditors: the audit trail (every contract event, filtered, paged
or streamed) and the projection rows `registry.audit` compares with the chain."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from registry.db.models import (
    AuditEvent,
    CertificateCitation,
    ChainAccreditation,
    ChainBatch,
    ChainDocument,
    ChainIssuer,
    ChainRevocation,
    ChainSigningCertificate,
    IndexerState,
)

STREAM_ROWS = 500  # rows fetched per round trip while streaming an export


@dataclass(frozen=True)
class AuditFilter:
    issuer_id: str | None = None  # 64 hex
    event_names: tuple[str, ...] = ()
    from_time: dt.datetime | None = None
    to_time: dt.datetime | None = None
    from_block: int | None = None
    to_block: int | None = None

    def apply(self, query: Select[tuple[AuditEvent]]) -> Select[tuple[AuditEvent]]:
        if self.issuer_id is not None:
            query = query.where(AuditEvent.issuer_id == self.issuer_id)
        if self.event_names:
            query = query.where(AuditEvent.name.in_(self.event_names))
        if self.from_time is not None:
            query = query.where(AuditEvent.block_time >= self.from_time)
        if self.to_time is not None:
            query = query.where(AuditEvent.block_time <= self.to_time)
        if self.from_block is not None:
            query = query.where(AuditEvent.block_number >= self.from_block)
        if self.to_block is not None:
            query = query.where(AuditEvent.block_number <= self.to_block)
        return query


def _ordered(audit_filter: AuditFilter, after: tuple[int, int] | None) -> Select[tuple[AuditEvent]]:
    query = audit_filter.apply(select(AuditEvent))
    if after is not None:
        block, log_index = after
        query = query.where(or_(AuditEvent.block_number > block,
                                (AuditEvent.block_number == block)
                                & (AuditEvent.log_index > log_index)))
    return query.order_by(AuditEvent.block_number, AuditEvent.log_index)


def audit_events(sessions: sessionmaker[Session], audit_filter: AuditFilter, *,
                 after: tuple[int, int] | None, limit: int) -> Sequence[AuditEvent]:
    """One page of the trail in chain order, strictly after the (block, log index) cursor."""
    with sessions() as session:
        return session.scalars(_ordered(audit_filter, after).limit(limit)).all()


def stream_audit_events(sessions: sessionmaker[Session],
                        audit_filter: AuditFilter) -> Iterator[AuditEvent]:
    """The whole filtered trail in chain order, a page per short session (keyset paging on
    block and log index): an export of millions of events never sits in memory, holds no
    transaction open while the client reads, and may be resumed on any thread."""
    after: tuple[int, int] | None = None
    while True:
        page = audit_events(sessions, audit_filter, after=after, limit=STREAM_ROWS)
        yield from page
        if len(page) < STREAM_ROWS:
            return
        after = (page[-1].block_number, page[-1].log_index)


# ------------------------------------------------------- DB vs chain (registry.audit)


def indexer_state(sessions: sessionmaker[Session]) -> IndexerState | None:
    with sessions() as session:
        return session.scalars(select(IndexerState)).first()


def chain_batches(sessions: sessionmaker[Session]) -> Sequence[ChainBatch]:
    with sessions() as session:
        return session.scalars(select(ChainBatch).order_by(ChainBatch.batch_id)).all()


def chain_revocations(sessions: sessionmaker[Session]) -> Sequence[ChainRevocation]:
    with sessions() as session:
        return session.scalars(select(ChainRevocation).order_by(
            ChainRevocation.block_number, ChainRevocation.log_index)).all()


def chain_issuers(sessions: sessionmaker[Session]) -> Sequence[ChainIssuer]:
    with sessions() as session:
        return session.scalars(select(ChainIssuer).order_by(ChainIssuer.issuer_id)).all()


def document_counts(sessions: sessionmaker[Session]) -> dict[int, int]:
    """Documents recorded per batch id."""
    with sessions() as session:
        return dict(session.execute(select(ChainDocument.batch_id, func.count())
                                    .group_by(ChainDocument.batch_id)).all())


def stream_documents(sessions: sessionmaker[Session]) -> Iterator[ChainDocument]:
    """Every recorded document, batch by batch (streamed: there may be millions)."""
    with sessions() as session:
        result = session.scalars(select(ChainDocument).order_by(
            ChainDocument.batch_id, ChainDocument.sha256).execution_options(
            yield_per=STREAM_ROWS))
        for document in result:
            yield document
            session.expunge(document)


def audit_event_rows(sessions: sessionmaker[Session]) -> Sequence[AuditEvent]:
    """Every recorded event, in chain order."""
    with sessions() as session:
        return session.scalars(select(AuditEvent).order_by(AuditEvent.block_number,
                                                           AuditEvent.log_index)).all()


def citations_by_document(sessions: sessionmaker[Session]) -> dict[int, list[dict[str, Any]]]:
    """Every recorded citation as a row dict, grouped by document id, in position order."""
    found: dict[int, list[dict[str, Any]]] = {}
    with sessions() as session:
        for row in session.execute(select(CertificateCitation).order_by(
                CertificateCitation.document_id, CertificateCitation.position)).scalars():
            found.setdefault(row.document_id, []).append(
                {column: getattr(row, column) for column in _CITATION_COLUMNS})
    return found


_CITATION_COLUMNS = ("document_id", "citing_sha256", "position", "role", "referral",
                     "referral_id", "referral_id_key", "procedure", "value", "cited_sha256")


def chain_accreditations(sessions: sessionmaker[Session]) -> Sequence[ChainAccreditation]:
    with sessions() as session:
        return session.scalars(select(ChainAccreditation).order_by(
            ChainAccreditation.issuer_id, ChainAccreditation.version)).all()


def chain_signing_certificates(sessions: sessionmaker[Session]
                               ) -> Sequence[ChainSigningCertificate]:
    with sessions() as session:
        return session.scalars(select(ChainSigningCertificate).order_by(
            ChainSigningCertificate.issuer_id, ChainSigningCertificate.id)).all()
