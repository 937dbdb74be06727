"""Traceability, cascade and accreditation over the chain projection.

* `citation_rows` / `record_citations`: the indexer's (and migration 0004's) extraction of
  the certificates each document cites into `certificate_citations`;
  `record_citing_facts` copies the citing anchoring's facts onto those rows (the
  indexer's, and migration 0010's backfill), for the cascade.
* `ProjectionTraceabilityView`: what registry.verify.traceability asks (a certificate's
  facts, where a citation leads), answered from the projection.
* the revocation cascade is in registry.db.cascade, the alerts feed in registry.db.alerts.
* `accreditation_at`: the accreditation version of an issuer that applied on a date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Date,
    and_,
    cast,
    exists,
    func,
    insert,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from anchor.chain import issuer_name
from registry.db.models import (
    CertificateCitation,
    ChainAccreditation,
    ChainBatch,
    ChainDocument,
    ChainIssuer,
    ChainRevocation,
    DocumentIdentifier,
    UtcDateTime,
)
from registry.db.rows import chunked
from registry.db.search import NUMBER, normalise
from registry.documents.citations import Citation, CitationRole, citations_of
from registry.verify.traceability import (
    CertificateFacts,
    Resolution,
    RevocationFacts,
)

# A migrated document counts from its first anchoring (its evidence covers that time).
_ANCHORED_AT = type_coerce(func.coalesce(ChainDocument.original_anchored_at,
                                         ChainBatch.anchored_at), UtcDateTime()).label(
    "anchored_at")


def citation_rows(document_id: int, sha256: str, metadata: Mapping[str, Any] | None,
                  encrypted: bool) -> list[dict[str, Any]]:
    """certificate_citations rows for one document (nothing for encrypted documents)."""
    return [{"document_id": document_id, "citing_sha256": sha256,
             "position": c.position, "role": c.role.value, "referral": c.referral,
             "referral_id": c.referral_id, "referral_id_key": normalise(c.referral_id),
             "procedure": c.procedure, "value": c.value, "cited_sha256": c.cited_sha256}
            for c in citations_of(metadata, encrypted)]


def record_citations(session: Session, batch_id: int,
                     documents: Iterable[tuple[int, str, Mapping[str, Any] | None, bool]]
                     ) -> None:
    """Fill certificate_citations for a batch's documents (chain_documents id, sha256,
    metadata, encrypted), inserted just before, with their citing facts."""
    rows = [row for document_id, sha256, metadata, encrypted in documents
            for row in citation_rows(document_id, sha256, metadata, encrypted)]
    if rows:
        session.execute(insert(CertificateCitation.__table__), rows)
        record_citing_facts(session, batch_id)


def record_citing_facts(connection: Connection | Session, batch_id: int | None = None
                        ) -> None:
    """Copy onto certificate_citations rows the facts of their citing anchoring (its
    chain_documents row and batch): those of one batch's documents, or of every row
    (`batch_id` None: migration 0010's backfill). One set-based UPDATE: what the
    indexer and the backfill write is the same by construction."""
    citation = CertificateCitation.__table__
    document = ChainDocument.__table__
    batch = ChainBatch.__table__
    earlier = ChainDocument.__table__.alias("earlier")
    sqlite = (connection.get_bind() if isinstance(connection, Session)
              else connection).dialect.name == "sqlite"
    calibrated = func.coalesce(document.c.calibrated_to, document.c.calibrated_from,
                               document.c.issued_on)
    # anchored_at is naive UTC on every backend; SQLite keeps it as text. A migrated
    # document counts from its first anchoring (as _ANCHORED_AT), not the migration's.
    first_anchored = func.coalesce(document.c.original_anchored_at, batch.c.anchored_at)
    anchored_day = (func.date(first_anchored) if sqlite else cast(first_anchored, Date))
    statement = (
        update(citation)
        .where(citation.c.document_id == document.c.id,
               document.c.batch_id == batch.c.batch_id)
        .values(citing_block_number=document.c.block_number,
                citing_batch_id=document.c.batch_id,
                citing_issuer_id=document.c.issuer_id,
                citing_number=document.c.unique_identifier,
                citing_calibration_date=calibrated,
                citing_relied_on=func.coalesce(calibrated, anchored_day),
                citing_reanchored=exists().where(
                    earlier.c.sha256 == document.c.sha256,
                    or_(earlier.c.block_number < document.c.block_number,
                        and_(earlier.c.block_number == document.c.block_number,
                             earlier.c.batch_id < document.c.batch_id)))))
    if batch_id is not None:
        statement = statement.where(document.c.batch_id == batch_id)
    connection.execute(statement)


def revocation_reason(value: str) -> str:
    """A stored revocation reason (out_of_tolerance) as the API spells it."""
    return value.replace("_", "-")


def _revocation_facts(row: ChainRevocation | None) -> RevocationFacts | None:
    return None if row is None else RevocationFacts(
        revocation_reason(row.reason), row.revoked_at,
        dt.datetime.fromtimestamp(row.effective_from, dt.UTC))


def _citation(row: CertificateCitation) -> Citation:
    return Citation(row.position, CitationRole(row.role), row.referral, row.referral_id,
                    row.procedure, row.value, row.cited_sha256)


# What a certificate's facts are made of: plain columns, never the metadata JSON.
_FACT_COLUMNS = (ChainDocument.id, ChainDocument.sha256, ChainDocument.issuer_id,
                 ChainDocument.unique_identifier, ChainDocument.block_number,
                 ChainDocument.calibrated_to, ChainDocument.calibrated_from,
                 ChainDocument.issued_on, _ANCHORED_AT)


class ProjectionTraceabilityView:
    """registry.verify.traceability.TraceabilityView over the projection.

    `prefetch` loads the facts of many certificates in a few statements (the indexer
    traces a whole batch); `certificate` answers from them, and loads any other one
    through the same code, so both give the same facts."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._kinds: dict[str, str] | None = None
        self._prefetched: dict[str, CertificateFacts | None] = {}

    def _issuer_kind(self, session: Session, issuer_id: str) -> str | None:
        if self._kinds is None:
            self._kinds = dict(session.execute(select(ChainIssuer.issuer_id,
                                                      ChainIssuer.kind)).all())
        return self._kinds.get(issuer_id)

    def prefetch(self, sha256s: Iterable[str]) -> None:
        wanted = set(sha256s) - self._prefetched.keys()
        found = self._load(wanted)
        self._prefetched.update({sha256: found.get(sha256) for sha256 in wanted})

    def certificate(self, sha256: str) -> CertificateFacts | None:
        if sha256 in self._prefetched:
            return self._prefetched[sha256]
        return self._load({sha256}).get(sha256)

    def _load(self, sha256s: Collection[str]) -> dict[str, CertificateFacts]:
        """The facts of those of `sha256s` the projection knows: each from its first
        anchoring (chain order), with its issuer's revocation and its citations."""
        wanted = sorted(sha256s)
        if not wanted:
            return {}
        first: dict[str, Any] = {}
        revocations: dict[tuple[str, str], ChainRevocation] = {}
        citations: dict[int, list[Citation]] = {}
        with self._sessions() as session:
            for chunk in chunked(wanted):
                for row in session.execute(
                        select(*_FACT_COLUMNS)
                        .join(ChainBatch, ChainBatch.batch_id == ChainDocument.batch_id)
                        .where(ChainDocument.sha256.in_(chunk))
                        .order_by(ChainBatch.block_number, ChainBatch.batch_id)):
                    first.setdefault(row.sha256, row)
                # (issuer, document) is unique: at most one revocation per certificate.
                revocations.update(((r.issuer_id, r.document_sha256), r) for r in
                                   session.scalars(select(ChainRevocation).where(
                                       ChainRevocation.document_sha256.in_(chunk))))
            for chunk in chunked(sorted(row.id for row in first.values())):
                for citation in session.scalars(
                        select(CertificateCitation)
                        .where(CertificateCitation.document_id.in_(chunk))
                        .order_by(CertificateCitation.document_id,
                                  CertificateCitation.position)):
                    citations.setdefault(citation.document_id, []).append(
                        _citation(citation))
            kinds = {row.issuer_id: self._issuer_kind(session, row.issuer_id)
                     for row in first.values()}
        return {sha256: CertificateFacts(
            sha256=sha256, issuer_id=row.issuer_id,
            issuer_code=issuer_name(bytes.fromhex(row.issuer_id)),
            issuer_kind=kinds[row.issuer_id], unique_identifier=row.unique_identifier,
            anchored_at=row.anchored_at, anchored_block=row.block_number,
            calibration_date=row.calibrated_to or row.calibrated_from or row.issued_on,
            revocation=_revocation_facts(revocations.get((row.issuer_id, sha256))),
            citations=tuple(citations.get(row.id, ())))
            for sha256, row in first.items()}

    def resolve(self, citation: Citation, citing: CertificateFacts) -> Resolution:
        if citation.cited_sha256 is not None:
            with self._sessions() as session:
                found = session.scalar(select(ChainDocument.sha256).where(
                    ChainDocument.sha256 == citation.cited_sha256).limit(1))
            if found is not None:
                return Resolution(found, "hash", "found by its SHA-256")
            if not citation.referral_id:
                return Resolution(None, "hash", "cited by a SHA-256 no registry on this "
                                  "network has anchored")
        elif citation.value and not citation.referral_id:
            return Resolution(None, "none", f"cited by a {citation.procedure or 'non-SHA-256'}"
                              " hash, which the registry does not index")
        if not citation.referral_id:
            return Resolution(None, "none", "the citation names neither a SHA-256 nor a number")
        return self._resolve_number(citation, citing)

    def _resolve_number(self, citation: Citation, citing: CertificateFacts) -> Resolution:
        key = normalise(citation.referral_id)
        with self._sessions() as session:
            rows = session.execute(
                select(ChainDocument.sha256, ChainDocument.issuer_id, _ANCHORED_AT)
                .join(ChainBatch, ChainBatch.batch_id == ChainDocument.batch_id)
                .join(DocumentIdentifier, DocumentIdentifier.document_id == ChainDocument.id)
                .where(DocumentIdentifier.kind == NUMBER, DocumentIdentifier.value == key,
                       ChainDocument.sha256 != citing.sha256)
                .order_by(ChainBatch.block_number, ChainBatch.batch_id)).all()
        if not rows:
            return Resolution(None, "number", f"no anchored certificate is numbered "
                              f"{citation.referral_id!r}")
        issuers = list(dict.fromkeys(issuer for _, issuer, _ in rows))
        if len(issuers) > 1:
            # Several issuers use this number: the referral text must name one of them.
            named = [i for i in issuers
                     if issuer_name(bytes.fromhex(i)).casefold() in citation.referral.casefold()]
            if len(named) != 1:
                return Resolution(None, "number", f"{len(issuers)} issuers have a certificate "
                                  f"numbered {citation.referral_id!r} and the referral names "
                                  "none of them uniquely")
            rows = [r for r in rows if r[1] == named[0]]
        # A corrected certificate keeps its number: take the latest one anchored by the
        # day of use, or else the first (which the link rules then judge).
        usable = [r for r in rows if r[2].astimezone(dt.UTC).date() <= citing.use_date]
        chosen = usable[-1] if usable else rows[0]
        return Resolution(chosen[0], "number",
                          f"found by its number {citation.referral_id!r}")


# ---------------------------------------------------------------- accreditation


def accreditation_at(sessions: sessionmaker[Session], issuer_id: str,
                     day: dt.date) -> ChainAccreditation | None:
    """The accreditation version in force for `issuer_id` on `day`: the latest recorded
    version whose effective date is on or before that day (a withdrawal included)."""
    end_of_day = dt.datetime.combine(day, dt.time.max, dt.UTC)
    with sessions() as session:
        return session.scalar(
            select(ChainAccreditation)
            .where(ChainAccreditation.issuer_id == issuer_id,
                   ChainAccreditation.effective_from <= end_of_day)
            .order_by(ChainAccreditation.effective_from.desc(),
                      ChainAccreditation.version.desc()).limit(1))


def accreditation_history(sessions: sessionmaker[Session],
                          issuer_id: str) -> Sequence[ChainAccreditation]:
    with sessions() as session:
        return session.scalars(select(ChainAccreditation)
                               .where(ChainAccreditation.issuer_id == issuer_id)
                               .order_by(ChainAccreditation.version)).all()


