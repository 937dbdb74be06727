"""Traceability, cascade and accreditation over the chain projection.

* `citation_rows` / `record_citations`: the indexer's (and migration 0004's) extraction of
  the certificates each document cites into `certificate_citations`.
* `ProjectionTraceabilityView`: what registry.verify.traceability asks (a certificate's
  facts, where a citation leads), answered from the projection.
* `affected_by` / `TraceabilityAlerts`: the revocation cascade, derived on demand from the
  projection (so `reindex` reproduces it exactly): every certificate that relies on a
  revoked one, directly or transitively, with a calibration date on or after the
  revocation's effective date.
* `accreditation_at`: the accreditation version of an issuer that applied on a date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, Select, String, func, insert, literal, or_, select
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
)
from registry.db.search import NUMBER, normalise
from registry.documents.citations import Citation, CitationRole, citations_of
from registry.verify.traceability import (
    MEASUREMENT_AFFECTING_REASONS,
    CertificateFacts,
    Resolution,
    RevocationFacts,
)

_IN_CHUNK = 2_000  # members of one SQL IN (...) list


def citation_rows(document_id: int, sha256: str, metadata: Mapping[str, Any] | None,
                  encrypted: bool) -> list[dict[str, Any]]:
    """certificate_citations rows for one document (nothing for encrypted documents)."""
    return [{"document_id": document_id, "citing_sha256": sha256,
             "position": c.position, "role": c.role.value, "referral": c.referral,
             "referral_id": c.referral_id, "referral_id_key": normalise(c.referral_id),
             "procedure": c.procedure, "value": c.value, "cited_sha256": c.cited_sha256}
            for c in citations_of(metadata, encrypted)]


def record_citations(session: Session, batch_id: int,
                     members: Iterable[tuple[str, Mapping[str, Any] | None, bool]]) -> None:
    """Fill certificate_citations for a batch's documents, inserted just before."""
    ids = dict(session.execute(select(ChainDocument.sha256, ChainDocument.id)
                               .where(ChainDocument.batch_id == batch_id)).all())
    rows = [row for sha256, metadata, encrypted in members
            for row in citation_rows(ids[sha256], sha256, metadata, encrypted)]
    if rows:
        session.execute(insert(CertificateCitation), rows)


def _reason(value: str) -> str:
    return value.replace("_", "-")


def _calibration_date(document: ChainDocument) -> dt.date | None:
    return document.calibrated_to or document.calibrated_from or document.issued_on


def _citation(row: CertificateCitation) -> Citation:
    return Citation(row.position, CitationRole(row.role), row.referral, row.referral_id,
                    row.procedure, row.value, row.cited_sha256)


class ProjectionTraceabilityView:
    """registry.verify.traceability.TraceabilityView over the projection."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._kinds: dict[str, str] | None = None

    def _issuer_kind(self, session: Session, issuer_id: str) -> str | None:
        if self._kinds is None:
            self._kinds = dict(session.execute(select(ChainIssuer.issuer_id,
                                                      ChainIssuer.kind)).all())
        return self._kinds.get(issuer_id)

    def certificate(self, sha256: str) -> CertificateFacts | None:
        with self._sessions() as session:
            row = session.execute(
                select(ChainDocument, ChainBatch.anchored_at)
                .join(ChainBatch, ChainBatch.batch_id == ChainDocument.batch_id)
                .where(ChainDocument.sha256 == sha256)
                .order_by(ChainBatch.block_number, ChainBatch.batch_id).limit(1)).first()
            if row is None:
                return None
            document, anchored_at = row
            revocation = session.scalar(select(ChainRevocation).where(
                ChainRevocation.document_sha256 == sha256,
                ChainRevocation.issuer_id == document.issuer_id).limit(1))
            citations = session.scalars(select(CertificateCitation).where(
                CertificateCitation.document_id == document.id)
                .order_by(CertificateCitation.position)).all()
            kind = self._issuer_kind(session, document.issuer_id)
        return CertificateFacts(
            sha256=sha256, issuer_id=document.issuer_id,
            issuer_code=issuer_name(bytes.fromhex(document.issuer_id)), issuer_kind=kind,
            unique_identifier=document.unique_identifier, anchored_at=anchored_at,
            anchored_block=document.block_number, calibration_date=_calibration_date(document),
            revocation=None if revocation is None else RevocationFacts(
                _reason(revocation.reason), revocation.revoked_at,
                dt.datetime.fromtimestamp(revocation.effective_from, dt.UTC)),
            citations=tuple(_citation(c) for c in citations))

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
                select(ChainDocument.sha256, ChainDocument.issuer_id, ChainBatch.anchored_at)
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


# --------------------------------------------------------------------- cascade


@dataclass(frozen=True)
class AffectedCertificate:
    sha256: str
    issuer_id: str
    unique_identifier: str | None
    calibration_date: dt.date | None
    depth: int  # 1 = cites the revoked certificate directly
    via: str  # the certificate it cites on the way (64 hex)


MAX_CASCADE_DEPTH = 64


def _citations_by_number_exist(session: Session) -> bool:
    return session.scalar(select(CertificateCitation.id).where(
        CertificateCitation.cited_sha256.is_(None),
        CertificateCitation.referral_id_key != "").limit(1)) is not None


def affected_by(sessions: sessionmaker[Session], revoked_sha256: str,
                effective_from: dt.date, *, limit: int | None = None
                ) -> list[AffectedCertificate]:
    """Every certificate relying on `revoked_sha256` (by hash, or by number) through
    reference-standard citations, directly or transitively, calibrated on or after
    `effective_from`; each once, at its shortest distance. A certificate calibrated
    before that date stops the cascade: what was calibrated with it is sound.

    When every citation names its hash, one recursive query walks the graph (PostgreSQL
    hash-joins it: a million certificates in seconds); citations by number need the
    level-by-level walk, which resolves numbers as it goes."""
    with sessions() as session:
        if _citations_by_number_exist(session):
            by_number = True
        else:
            by_number = False
            rows = session.execute(_cascade_query(revoked_sha256, effective_from)).all()
    if by_number:
        return _affected_level_by_level(sessions, revoked_sha256, effective_from, limit=limit)
    found: dict[str, AffectedCertificate] = {}
    for sha256, depth, via, issuer_id, number, cal_to, cal_from, issued in rows:
        if sha256 not in found and sha256 != revoked_sha256:
            found[sha256] = AffectedCertificate(sha256, issuer_id, number,
                                                cal_to or cal_from or issued, depth, via)
    ordered = sorted(found.values(), key=lambda a: a.depth)  # stable: SQL order within
    return ordered if limit is None else ordered[:limit]


def _cascade_query(revoked_sha256: str, effective_from: dt.date) -> Select[Any]:
    roles = [r.value for r in CitationRole if r.carries_traceability]
    calibrated = func.coalesce(ChainDocument.calibrated_to, ChainDocument.calibrated_from,
                               ChainDocument.issued_on)
    start = select(literal(revoked_sha256, String).label("sha256"),
                   literal(0, Integer).label("depth"),
                   literal("", String).label("via")).cte("affected", recursive=True)
    step = (select(ChainDocument.sha256, (start.c.depth + 1).label("depth"),
                   start.c.sha256.label("via"))
            .select_from(start)
            .join(CertificateCitation, CertificateCitation.cited_sha256 == start.c.sha256)
            .join(ChainDocument, ChainDocument.id == CertificateCitation.document_id)
            .join(ChainBatch, ChainBatch.batch_id == ChainDocument.batch_id)
            .where(CertificateCitation.role.in_(roles),
                   start.c.depth < MAX_CASCADE_DEPTH,  # a forged manifest could loop
                   or_(calibrated >= effective_from,
                       calibrated.is_(None) & (ChainBatch.anchored_at >= dt.datetime.combine(
                           effective_from, dt.time(), dt.UTC)))))
    affected = start.union(step)
    return (select(affected.c.sha256, affected.c.depth, affected.c.via,
                   ChainDocument.issuer_id, ChainDocument.unique_identifier,
                   ChainDocument.calibrated_to, ChainDocument.calibrated_from,
                   ChainDocument.issued_on)
            .join(ChainDocument, ChainDocument.sha256 == affected.c.sha256)
            .order_by(affected.c.depth, ChainDocument.block_number, affected.c.sha256))


def _affected_level_by_level(sessions: sessionmaker[Session], revoked_sha256: str,
                             effective_from: dt.date, *, limit: int | None = None
                             ) -> list[AffectedCertificate]:
    """Every certificate relying on `revoked_sha256` (by hash, or by number) through
    reference-standard citations, directly or transitively, calibrated on or after
    `effective_from`. Breadth first, each certificate once, level by level in SQL.

    Each level is two indexed lookups per chunk (citations by cited SHA-256; citations
    by number, only when some citation names no hash): one OR over both columns makes
    PostgreSQL scan the whole table for every chunk."""
    found: list[AffectedCertificate] = []
    seen = {revoked_sha256}
    frontier = [revoked_sha256]
    depth = 0
    roles = [r.value for r in CitationRole if r.carries_traceability]
    columns = (ChainDocument.sha256, ChainDocument.issuer_id, ChainDocument.unique_identifier,
               ChainDocument.calibrated_to, ChainDocument.calibrated_from,
               ChainDocument.issued_on, ChainBatch.anchored_at)
    with sessions() as session:
        by_number = _citations_by_number_exist(session)
        while frontier and (limit is None or len(found) < limit):
            depth += 1
            next_frontier: list[str] = []
            for start in range(0, len(frontier), _IN_CHUNK):
                chunk = frontier[start:start + _IN_CHUNK]
                citing = (select(*columns, CertificateCitation.cited_sha256)
                          .join(ChainDocument,
                                ChainDocument.id == CertificateCitation.document_id)
                          .join(ChainBatch, ChainBatch.batch_id == ChainDocument.batch_id)
                          .where(CertificateCitation.role.in_(roles)))
                rows = list(session.execute(citing.where(
                    CertificateCitation.cited_sha256.in_(chunk))).all())
                if by_number:
                    numbers = dict(session.execute(
                        select(DocumentIdentifier.value, ChainDocument.sha256)
                        .join(ChainDocument, ChainDocument.id == DocumentIdentifier.document_id)
                        .where(ChainDocument.sha256.in_(chunk),
                               DocumentIdentifier.kind == NUMBER)).all())
                    if numbers:
                        rows += [(*row[:-1], numbers[row[-1]]) for row in session.execute(
                            citing.with_only_columns(*columns,
                                                     CertificateCitation.referral_id_key)
                            .where(CertificateCitation.cited_sha256.is_(None),
                                   CertificateCitation.referral_id_key.in_(list(numbers))))]
                for (sha256, issuer_id, number, cal_to, cal_from, issued, anchored_at,
                     via) in rows:
                    if sha256 in seen:
                        continue
                    use = cal_to or cal_from or issued or anchored_at.astimezone(dt.UTC).date()
                    if use < effective_from:
                        continue
                    seen.add(sha256)
                    next_frontier.append(sha256)
                    found.append(AffectedCertificate(sha256, issuer_id, number,
                                                     cal_to or cal_from or issued, depth, via))
            frontier = next_frontier
    return found if limit is None else found[:limit]


@dataclass(frozen=True)
class TraceabilityAlert:
    """One certificate whose traceability a revocation compromised."""

    revocation: ChainRevocation
    revoked_number: str | None
    affected: AffectedCertificate

    @property
    def cursor(self) -> str:
        return f"{self.revocation.block_number}:{self.revocation.log_index}"

    def to_dict(self) -> dict[str, Any]:
        r, a = self.revocation, self.affected
        return {
            "cursor": self.cursor,
            "status": "traceability-compromised",
            "certificate": {"sha256": "0x" + a.sha256, "issuer_id": "0x" + a.issuer_id,
                            "issuer": issuer_name(bytes.fromhex(a.issuer_id)),
                            "certificate_number": a.unique_identifier,
                            "calibration_date": None if a.calibration_date is None
                            else a.calibration_date.isoformat(),
                            "depth": a.depth, "via": "0x" + a.via},
            "cause": {"sha256": "0x" + r.document_sha256, "issuer_id": "0x" + r.issuer_id,
                      "issuer": issuer_name(bytes.fromhex(r.issuer_id)),
                      "certificate_number": self.revoked_number,
                      "reason": _reason(r.reason),
                      "effective_from": dt.datetime.fromtimestamp(
                          r.effective_from, dt.UTC).isoformat(),
                      "revoked_at": r.revoked_at.isoformat(), "block_number": r.block_number,
                      "transaction_hash": r.tx_hash},
        }


def cascading_revocations(sessions: sessionmaker[Session], *, since_block: int | None,
                          since_time: dt.datetime | None, after: tuple[int, int] | None,
                          limit: int) -> Sequence[ChainRevocation]:
    """Revocations for reasons that affect measurements, in chain order after `after`."""
    reasons = sorted({r.replace("-", "_") for r in MEASUREMENT_AFFECTING_REASONS})
    query = select(ChainRevocation).where(ChainRevocation.reason.in_(reasons))
    if since_block is not None:
        query = query.where(ChainRevocation.block_number >= since_block)
    if since_time is not None:
        query = query.where(ChainRevocation.revoked_at >= since_time)
    if after is not None:
        block, log_index = after
        query = query.where(or_(ChainRevocation.block_number > block,
                                (ChainRevocation.block_number == block)
                                & (ChainRevocation.log_index > log_index)))
    with sessions() as session:
        return session.scalars(query.order_by(ChainRevocation.block_number,
                                              ChainRevocation.log_index).limit(limit)).all()


def traceability_alerts(sessions: sessionmaker[Session], *, issuer_id: str | None,
                        since_block: int | None, since_time: dt.datetime | None,
                        after: tuple[int, int] | None, revocations: int = 100
                        ) -> Iterator[TraceabilityAlert]:
    """The alerts feed: for each cascading revocation after the cursor, the certificates
    it compromised (of `issuer_id` only, when given: a laboratory's recall list)."""
    for revocation in cascading_revocations(sessions, since_block=since_block,
                                            since_time=since_time, after=after,
                                            limit=revocations):
        effective = dt.datetime.fromtimestamp(revocation.effective_from, dt.UTC).date()
        with sessions() as session:
            number = session.scalar(select(ChainDocument.unique_identifier).where(
                ChainDocument.sha256 == revocation.document_sha256).limit(1))
        for affected in affected_by(sessions, revocation.document_sha256, effective):
            if issuer_id is None or affected.issuer_id == issuer_id:
                yield TraceabilityAlert(revocation, number, affected)


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


