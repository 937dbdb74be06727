"""The verdict inputs over the projection: the one-statement read the verify path makes,
and the sets the indexer must recompute when events change them.

* `verdict_facts`: every indexed anchoring of a document with its batch, issuer,
  revocation, precomputed verdict inputs and the indexer's last block, in one SELECT.
* `citing_closure`: the documents whose traceability tree may contain one of the given
  documents (they cite it by hash or by number, directly or through others).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, true
from sqlalchemy.orm import Session, sessionmaker

from registry.db.models import (
    CertificateCitation,
    ChainBatch,
    ChainDocument,
    ChainIssuer,
    ChainRevocation,
    DocumentIdentifier,
    IndexerState,
    VerdictInputs,
)
from registry.db.search import NUMBER
from registry.verify.traceability import DEFAULT_MAX_DEPTH

_IN_CHUNK = 2_000  # members of one SQL IN (...) list


@dataclass(frozen=True)
class RevocationRow:
    reason: str  # as the index spells it, e.g. "superseded"
    revoked_at: dt.datetime
    effective_from: int
    replacement: str | None


@dataclass(frozen=True)
class AnchoringFacts:
    """One indexed anchoring of a document, with everything the verdict needs from the
    projection. `inputs_present` is False when the indexer has not computed them yet."""

    document: ChainDocument
    batch: ChainBatch
    issuer_country: str | None
    issuer_kind: str | None
    issuer_status: str | None
    revocation: RevocationRow | None
    inputs_present: bool
    issuer_status_at_issue: str | None
    inputs_block: int | None  # the anchoring block the inputs were computed for
    traceability: dict[str, Any] | None
    scope: dict[str, Any] | None


@dataclass(frozen=True)
class VerdictFacts:
    sha256: str
    anchorings: tuple[AnchoringFacts, ...]  # earliest first
    as_of_block: int | None  # the indexer's last indexed block

    @property
    def complete(self) -> bool:
        return all(a.inputs_present for a in self.anchorings)


def verdict_facts(sessions: sessionmaker[Session], sha256: str) -> VerdictFacts:
    """What the projection holds for a verdict on `sha256`, read in one statement."""
    query = (
        select(ChainDocument, ChainBatch, ChainIssuer.country, ChainIssuer.kind,
               ChainIssuer.status, ChainRevocation.reason, ChainRevocation.revoked_at,
               ChainRevocation.effective_from, ChainRevocation.replacement,
               VerdictInputs.document_id, VerdictInputs.issuer_status_at_issue,
               VerdictInputs.block_number, VerdictInputs.traceability, VerdictInputs.scope,
               IndexerState.last_block)
        .join(ChainBatch, ChainBatch.batch_id == ChainDocument.batch_id)
        .outerjoin(ChainIssuer, ChainIssuer.issuer_id == ChainBatch.issuer_id)
        .outerjoin(ChainRevocation, (ChainRevocation.issuer_id == ChainBatch.issuer_id)
                   & (ChainRevocation.document_sha256 == ChainDocument.sha256))
        .outerjoin(VerdictInputs, VerdictInputs.document_id == ChainDocument.id)
        .outerjoin(IndexerState, true())
        .where(ChainDocument.sha256 == sha256)
        .order_by(ChainBatch.block_number, ChainBatch.batch_id))
    with sessions() as session:
        rows = session.execute(query).all()
        if not rows:
            as_of = session.scalar(select(IndexerState.last_block).limit(1))
            return VerdictFacts(sha256, (), as_of)
    anchorings = tuple(AnchoringFacts(
        document=row[0], batch=row[1], issuer_country=row[2], issuer_kind=row[3],
        issuer_status=row[4],
        revocation=None if row[6] is None else RevocationRow(row[5], row[6], row[7], row[8]),
        inputs_present=row[9] is not None, issuer_status_at_issue=row[10],
        inputs_block=row[11], traceability=row[12], scope=row[13]) for row in rows)
    return VerdictFacts(sha256, anchorings, rows[0][14])


def citing_closure(session: Session, sha256s: Collection[str]) -> set[str]:
    """`sha256s` and every indexed document that cites one of them (any role, by hash or
    by certificate number), directly or transitively, as deep as a trace goes."""
    seen = set(sha256s)
    frontier = list(seen)
    for _ in range(DEFAULT_MAX_DEPTH + 1):
        if not frontier:
            break
        found: set[str] = set()
        for start in range(0, len(frontier), _IN_CHUNK):
            chunk = frontier[start:start + _IN_CHUNK]
            numbers = session.scalars(
                select(DocumentIdentifier.value)
                .join(ChainDocument, ChainDocument.id == DocumentIdentifier.document_id)
                .where(ChainDocument.sha256.in_(chunk), DocumentIdentifier.kind == NUMBER)
            ).all()
            found.update(session.scalars(select(CertificateCitation.citing_sha256).where(
                CertificateCitation.cited_sha256.in_(chunk))))
            if numbers:
                found.update(session.scalars(select(CertificateCitation.citing_sha256).where(
                    CertificateCitation.referral_id_key.in_(set(numbers)))))
        frontier = sorted(found - seen)
        seen.update(frontier)
    return seen


def document_rows(session: Session, *, sha256s: Collection[str] = (),
                  issuers: Collection[str] = (), ids: Collection[int] = ()
                  ) -> Sequence[tuple[ChainDocument, ChainBatch]]:
    """Indexed anchorings (document row, batch) of the given documents, of the given
    issuers' documents, or with the given row ids."""
    found: dict[int, tuple[ChainDocument, ChainBatch]] = {}
    base = select(ChainDocument, ChainBatch).join(
        ChainBatch, ChainBatch.batch_id == ChainDocument.batch_id)
    for column, values in ((ChainDocument.sha256, sorted(sha256s)),
                           (ChainDocument.issuer_id, sorted(issuers)),
                           (ChainDocument.id, sorted(ids))):
        for start in range(0, len(values), _IN_CHUNK):
            for document, batch in session.execute(
                    base.where(column.in_(values[start:start + _IN_CHUNK]))).all():
                found[document.id] = (document, batch)
    return [found[i] for i in sorted(found)]


def missing_inputs(session: Session, limit: int) -> list[int]:
    """Ids of indexed anchorings the indexer has not computed verdict inputs for."""
    return list(session.scalars(
        select(ChainDocument.id).outerjoin(VerdictInputs,
                                           VerdictInputs.document_id == ChainDocument.id)
        .join(ChainBatch, ChainBatch.batch_id == ChainDocument.batch_id)
        .where(VerdictInputs.document_id.is_(None)).order_by(ChainDocument.id).limit(limit)))
