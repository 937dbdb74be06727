"""The verdict inputs over the projection: the one-statement read the verify path makes,
and the sets the indexer must recompute when events change them.

* `verdict_facts`: every indexed anchoring of a document with its batch, issuer,
  revocation, precomputed verdict inputs and the indexer's last block, in one SELECT.
* `citing_closure`: the documents whose traceability tree may contain one of the given
  documents (they cite it by hash or by number, directly or through others).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Text, bindparam, cast, select
from sqlalchemy.orm import Session

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
from registry.db.rows import chunked
from registry.db.search import NUMBER
from registry.verify.steps import IndexedAnchoring
from registry.verify.traceability import DEFAULT_MAX_DEPTH


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

    anchoring: IndexedAnchoring
    block_hash: str  # of the block the index has the batch in
    issuer_country: str | None
    issuer_kind: str | None
    issuer_status: str | None  # None: the issuer is not indexed
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


_d, _b, _i, _r, _v = (ChainDocument.__table__.c, ChainBatch.__table__.c,
                      ChainIssuer.__table__.c, ChainRevocation.__table__.c,
                      VerdictInputs.__table__.c)
# Built once, in Core (no ORM objects): this is the whole of a verification's SQL. JSON
# comes back as its text, so a row is hashable as it stands (the verify path memoises
# verdicts by the exact rows they were computed from) and is parsed only when needed.
_FACTS = (
    select(_d.sha256, _b.batch_id, _b.issuer_id, _b.root, cast(_d.proof, Text), _b.tx_hash,
           _b.block_number, _b.anchored_at, _b.manifest_cid, _d.cid, _d.document_type,
           _d.unique_identifier, _d.encrypted, cast(_d.metadata, Text), _b.block_hash,
           _i.country, _i.kind, _i.status, _r.reason, _r.revoked_at, _r.effective_from,
           _r.replacement, _v.document_id, _v.issuer_status_at_issue, _v.block_number,
           cast(_v.traceability, Text), cast(_v.scope, Text), _d.anchored_hash,
           _d.migration_binding,
           select(IndexerState.last_block).limit(1).scalar_subquery())
    .select_from(ChainDocument.__table__)
    .join(ChainBatch.__table__, _b.batch_id == _d.batch_id)
    .outerjoin(ChainIssuer.__table__, _i.issuer_id == _b.issuer_id)
    .outerjoin(ChainRevocation.__table__, (_r.issuer_id == _b.issuer_id)
               & (_r.document_sha256 == _d.sha256))
    .outerjoin(VerdictInputs.__table__, _v.document_id == _d.id)
    .where(_d.sha256 == bindparam("sha256"))
    .order_by(_b.block_number, _b.batch_id))
_AS_OF = select(IndexerState.last_block).limit(1)

FactRows = tuple[tuple[Any, ...], ...]


def verdict_rows(engine: Engine, sha256: str) -> tuple[FactRows, int | None]:
    """The projection's rows for a verdict on `sha256` (one per indexed anchoring,
    earliest first, hashable) and the indexer's last block, in one statement (two for
    a document the index does not know)."""
    with engine.connect() as connection:
        rows = connection.execute(_FACTS, {"sha256": sha256}).all()
        if not rows:
            return (), connection.scalar(_AS_OF)
    return tuple(tuple(row)[:-1] for row in rows), rows[0][-1]


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def facts_of(sha256: str, rows: FactRows, as_of: int | None) -> VerdictFacts:
    return VerdictFacts(sha256, tuple(AnchoringFacts(
        anchoring=IndexedAnchoring(
            sha256=row[0], batch_id=row[1], issuer_id=row[2], merkle_root=row[3],
            proof=tuple(_json(row[4])), transaction_hash=row[5], block_number=row[6],
            anchored_at=row[7], manifest_cid=row[8], cid=row[9], document_type=row[10],
            unique_identifier=row[11], encrypted=row[12], metadata=_json(row[13]),
            anchored_hash=row[27], migration_binding=row[28]),
        block_hash=row[14], issuer_country=row[15], issuer_kind=row[16],
        issuer_status=row[17],
        revocation=None if row[19] is None else RevocationRow(row[18], row[19], row[20],
                                                              row[21]),
        inputs_present=row[22] is not None, issuer_status_at_issue=row[23],
        inputs_block=row[24], traceability=_json(row[25]), scope=_json(row[26]))
        for row in rows), as_of)


def verdict_facts(engine: Engine, sha256: str) -> VerdictFacts:
    """What the projection holds for a verdict on `sha256`."""
    return facts_of(sha256, *verdict_rows(engine, sha256))


def citing_closure(session: Session, sha256s: Collection[str]) -> set[str]:
    """`sha256s` and every indexed document that cites one of them (any role, by hash or
    by certificate number), directly or transitively, as deep as a trace goes."""
    seen = set(sha256s)
    frontier = list(seen)
    for _ in range(DEFAULT_MAX_DEPTH + 1):
        if not frontier:
            break
        found: set[str] = set()
        for chunk in chunked(frontier):
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
        for chunk in chunked(values):
            for document, batch in session.execute(base.where(column.in_(chunk))).all():
                found[document.id] = (document, batch)
    return [found[i] for i in sorted(found)]


def document_ids(session: Session, sha256s: Collection[str]) -> set[int]:
    """Row ids of every indexed anchoring of the given documents."""
    return {document_id for chunk in chunked(sorted(sha256s))
            for document_id in session.scalars(select(ChainDocument.id).where(
                ChainDocument.sha256.in_(chunk)))}


def missing_inputs(session: Session, limit: int) -> list[int]:
    """Ids of indexed anchorings the indexer has not computed verdict inputs for."""
    return list(session.scalars(
        select(ChainDocument.id).outerjoin(VerdictInputs,
                                           VerdictInputs.document_id == ChainDocument.id)
        .join(ChainBatch, ChainBatch.batch_id == ChainDocument.batch_id)
        .where(VerdictInputs.document_id.is_(None)).order_by(ChainDocument.id).limit(limit)))
