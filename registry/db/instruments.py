"""Instruments in the projection: the mentions the indexer records, search, an instrument's
history across issuers and kinds, and the instrument-level alerts.

An instrument id (registry.documents.instruments) `mi:<manufacturer>:<model>:<serial>`
matches the mentions with that manufacturer and serial whose model is the same or not
stated (a DCC often names no model), and, through the approval numbers those state,
its type approvals; `mi:<manufacturer>::<serial>` matches every model. `ta:<approval>:
<serial>` matches by approval number and serial.

The projection holds every registry's anchors (the indexer reads the whole contract),
so an instrument's history is the network's, whichever registry answers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, insert, or_, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from anchor.chain import IssuerKind, issuer_name
from registry.db.cascade import affected_batches
from registry.db.models import (
    CertificateCitation,
    ChainBatch,
    ChainDocument,
    ChainIssuer,
    ChainRevocation,
    DocumentIdentifier,
    InstrumentMentionRow,
)
from registry.documents.citations import CitationRole
from registry.documents.instruments import (
    INSTRUMENT,
    TYPE_OF,
    InstrumentId,
    identity_key,
    instrument_mentions,
    manufacturer_key,
)
from registry.documents.kinds import NUMBER
from registry.verify.instrument_status import (
    TYPE_APPROVAL,
    HistoryEntry,
    InstrumentStatus,
    RevocationFact,
    instrument_status,
)
from registry.verify.traceability import MEASUREMENT_AFFECTING_REASONS

MAX_TRACE_DEPTH = 64  # as the cascade: a forged manifest could loop
_APPROVING_KIND = IssuerKind.NATIONAL_METROLOGY_INSTITUTE.name.lower()
_TRACEABILITY_ROLES = [r.value for r in CitationRole if r.carries_traceability]


def mention_rows(document_id: int, metadata: Mapping[str, Any] | None,
                 encrypted: bool) -> list[dict[str, Any]]:
    """instrument_mentions rows for one document (nothing for encrypted documents)."""
    return [{"document_id": document_id, "position": position, "role": m.role,
             "serial_key": m.serial_key, "manufacturer_key": m.manufacturer_key,
             "model_key": m.model_key, "approval_key": m.approval_key,
             "classifier_key": identity_key(m.classifier_code),
             "serial": m.serial[:255], "manufacturer": m.manufacturer[:255],
             "model": m.model[:255], "approval_number": m.approval_number[:255]}
            for position, m in enumerate(instrument_mentions(metadata, encrypted))]


def record_instrument_mentions(session: Session,
                               documents: Iterable[tuple[int, Mapping[str, Any] | None, bool]]
                               ) -> None:
    """Fill instrument_mentions for documents (chain_documents id, metadata, encrypted)
    inserted just before: one bulk insert."""
    rows = [row for document_id, metadata, encrypted in documents
            for row in mention_rows(document_id, metadata, encrypted)]
    if rows:
        session.execute(insert(InstrumentMentionRow.__table__), rows)


# --------------------------------------------------------------------- search


@dataclass(frozen=True)
class InstrumentCriteria:
    """What to look for (AND); values are normalised like the mentions."""

    serial: str | None = None
    manufacturer: str | None = None
    model: str | None = None  # model or type designation
    approval_number: str | None = None
    classifier_code: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        m = InstrumentMentionRow
        given = [(m.serial_key, identity_key, self.serial),
                 (m.manufacturer_key, manufacturer_key, self.manufacturer),
                 (m.model_key, identity_key, self.model),
                 (m.approval_key, identity_key, self.approval_number),
                 (m.classifier_key, identity_key, self.classifier_code)]
        return [column == key(value) for column, key, value in given if value is not None]


@dataclass(frozen=True)
class InstrumentSummary:
    id: str
    serial: str
    manufacturer: str
    model: str
    approval_numbers: tuple[str, ...]
    documents: int
    issuers: tuple[str, ...]
    sha256s: tuple[str, ...] = ()  # the documents stating it (not in to_dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "serial": self.serial, "manufacturer": self.manufacturer,
                "model": self.model, "approval_numbers": list(self.approval_numbers),
                "documents": self.documents,
                "issuers": [issuer_name(bytes.fromhex(i)) for i in self.issuers]}


def _row_id(row: InstrumentMentionRow) -> str:
    if row.manufacturer_key:
        return f"mi:{row.manufacturer_key}:{row.model_key}:{row.serial_key}"
    return f"ta:{row.approval_key}:{row.serial_key}"


def _summaries(rows: Sequence[tuple[InstrumentMentionRow, str, str]]
               ) -> list[InstrumentSummary]:
    """Mentions grouped into instruments: a model-less mention joins the one instrument of
    its manufacturer and serial that has a model, when there is exactly one."""
    groups: dict[str, list[tuple[InstrumentMentionRow, str, str]]] = {}
    for row in rows:
        groups.setdefault(_row_id(row[0]), []).append(row)
    for key in [k for k in groups if k.startswith("mi:") and k.split(":")[2] == ""]:
        _, manufacturer, _, serial = key.split(":")
        modelled = [k for k in groups if k.startswith(f"mi:{manufacturer}:")
                    and k.endswith(f":{serial}") and k != key]
        if len(modelled) == 1:
            groups[modelled[0]] += groups.pop(key)
    found = []
    for key, members in groups.items():
        first = next((r for r, _, _ in members if r.model), members[0][0])
        found.append(InstrumentSummary(
            key, first.serial, first.manufacturer or "", first.model,
            tuple(dict.fromkeys(r.approval_number for r, _, _ in members if r.approval_number)),
            len({r.document_id for r, _, _ in members}),
            tuple(dict.fromkeys(i for _, i, _ in members)),
            tuple(dict.fromkeys(sha256 for _, _, sha256 in members))))
    return sorted(found, key=lambda s: s.id)


def search_instruments(sessions: sessionmaker[Session], criteria: InstrumentCriteria, *,
                       limit: int) -> list[InstrumentSummary]:
    """Instruments matching every criterion, by id; at most `limit`."""
    query = (select(InstrumentMentionRow, ChainDocument.issuer_id, ChainDocument.sha256)
             .join(ChainDocument, ChainDocument.id == InstrumentMentionRow.document_id)
             .where(InstrumentMentionRow.role == INSTRUMENT, *criteria.conditions())
             .order_by(InstrumentMentionRow.serial_key, InstrumentMentionRow.id)
             .limit(limit * 20))
    with sessions() as session:
        rows = [(row[0], row[1], row[2]) for row in session.execute(query).all()]
    return _summaries(rows)[:limit]


# -------------------------------------------------------------------- history


@dataclass(frozen=True)
class InstrumentHistory:
    id: str
    summary: InstrumentSummary
    entries: tuple[HistoryEntry, ...]  # in time order
    status: InstrumentStatus

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary.to_dict(), "id": self.id, "status": self.status.to_dict(),
                "history": [entry.to_dict() for entry in self.entries]}


def _matching(instrument: InstrumentId) -> ColumnElement[bool]:
    m = InstrumentMentionRow
    if not instrument.manufacturer_key:
        return and_(m.role == INSTRUMENT, m.serial_key == instrument.serial_key,
                    m.approval_key == instrument.approval_key)
    model = [] if not instrument.model_key else [
        or_(m.model_key == instrument.model_key, m.model_key == "")]
    return and_(m.role == INSTRUMENT, m.serial_key == instrument.serial_key,
                m.manufacturer_key == instrument.manufacturer_key, *model)


def _revocations(session: Session, documents: Sequence[ChainDocument]
                 ) -> dict[str, RevocationFact]:
    """Each document's revocation by its own issuer."""
    if not documents:
        return {}
    rows = session.scalars(select(ChainRevocation).where(
        ChainRevocation.document_sha256.in_({d.sha256 for d in documents}))).all()
    issuers = {d.sha256: d.issuer_id for d in documents}
    return {r.document_sha256: RevocationFact(
        r.reason.replace("_", "-"),
        dt.datetime.fromtimestamp(r.effective_from, dt.UTC).date(), r.revoked_at)
        for r in rows if issuers.get(r.document_sha256) == r.issuer_id}


def _day(calibrated_to: dt.date | None, calibrated_from: dt.date | None,
         issued_on: dt.date | None) -> dt.date:
    return calibrated_to or calibrated_from or issued_on or dt.date.max


def _compromised_upstream(session: Session, document: ChainDocument) -> tuple[str, ...]:
    """Revoked certificates (for a reason that affects measurements) this document relies
    on through traceability citations, by hash or by number, directly or transitively:
    the cascade (registry.db.cascade.affected_by) walked upwards, with its rule that
    every certificate on the way must be calibrated on or after the effective date (one
    calibrated before it stops the cascade: what was calibrated with it is sound)."""
    reasons = sorted({r.replace("-", "_") for r in MEASUREMENT_AFFECTING_REASONS})
    columns = (ChainDocument.id, ChainDocument.sha256, ChainDocument.calibrated_to,
               ChainDocument.calibrated_from, ChainDocument.issued_on,
               CertificateCitation.document_id)
    found: list[str] = []
    seen = {document.sha256}
    # document id -> the earliest calibration day on the path down to the instrument's
    frontier = {document.id: _day(document.calibrated_to, document.calibrated_from,
                                  document.issued_on)}
    for _ in range(MAX_TRACE_DEPTH):
        if not frontier:
            break
        citing = (select(*columns).where(CertificateCitation.document_id.in_(list(frontier)),
                                         CertificateCitation.role.in_(_TRACEABILITY_ROLES)))
        rows = list(session.execute(citing.join(
            ChainDocument, ChainDocument.sha256 == CertificateCitation.cited_sha256)))
        rows += session.execute(citing.join(
            DocumentIdentifier, and_(DocumentIdentifier.kind == NUMBER,
                                     DocumentIdentifier.value
                                     == CertificateCitation.referral_id_key))
            .join(ChainDocument, ChainDocument.id == DocumentIdentifier.document_id)
            .where(CertificateCitation.cited_sha256.is_(None),
                   CertificateCitation.referral_id_key != "")).all()
        reached: dict[str, tuple[int, dt.date]] = {}
        for row in rows:
            cited_id, sha256, citing_id = row[0], row[1], row[5]
            if sha256 in seen:
                continue
            path_day = frontier[citing_id]
            previous = reached.get(sha256)
            if previous is None or path_day > previous[1]:
                reached[sha256] = (cited_id, path_day)
        if reached:
            for revocation in session.scalars(select(ChainRevocation).where(
                    ChainRevocation.document_sha256.in_(list(reached)),
                    ChainRevocation.reason.in_(reasons))):
                effective = dt.datetime.fromtimestamp(revocation.effective_from, dt.UTC).date()
                if effective <= reached[revocation.document_sha256][1]:
                    found.append(revocation.document_sha256)
        seen.update(reached)
        days = {row[0]: _day(*row[2:5]) for row in rows}
        frontier = {cited_id: min(path_day, days[cited_id])
                    for cited_id, path_day in reached.values()}
    return tuple(dict.fromkeys(found))


def _entry(document: ChainDocument, batch: ChainBatch, revocation: RevocationFact | None,
           compromised: tuple[str, ...]) -> HistoryEntry:
    metadata = document.public_metadata or {}
    facts = {str(p[0]): str(p[1]) for p in metadata.get("facts") or []
             if isinstance(p, list) and len(p) == 2}
    valid_until = metadata.get("valid_until")
    event = document.calibrated_to or document.calibrated_from
    if document.document_type == TYPE_APPROVAL and isinstance(metadata.get("valid_from"), str):
        event = dt.date.fromisoformat(metadata["valid_from"])
    return HistoryEntry(
        sha256=document.sha256, issuer_id=document.issuer_id,
        issuer=issuer_name(bytes.fromhex(document.issuer_id)),
        document_type=document.document_type, number=document.unique_identifier,
        event_date=event, issued_on=document.issued_on, anchored_at=batch.anchored_at,
        valid_until=dt.date.fromisoformat(valid_until) if isinstance(valid_until, str)
        else None,
        conformity=facts.get("conformity"), revocation=revocation, compromised_by=compromised)


def _authoritative(instrument_documents: list[int]) -> ColumnElement[bool]:
    """Which type approvals count for an instrument: those of an issuer governance
    registered as a national metrology institute, or cited by SHA-256 by one of the
    instrument's own documents. Anyone may anchor a document numbered like an approval;
    without this, a laboratory could "withdraw" every instrument of a type."""
    approving = select(ChainIssuer.issuer_id).where(ChainIssuer.kind == _APPROVING_KIND)
    cited = select(CertificateCitation.cited_sha256).where(
        CertificateCitation.document_id.in_(instrument_documents),
        CertificateCitation.role == CitationRole.TYPE_APPROVAL.value,
        CertificateCitation.cited_sha256.is_not(None))
    return or_(ChainDocument.issuer_id.in_(approving), ChainDocument.sha256.in_(cited))


def instrument_history(sessions: sessionmaker[Session], instrument_id: str,
                       today: dt.date) -> InstrumentHistory | None:
    """Everything the projection knows of one instrument, in time order, and its status
    on `today`; None when no document states it (or the id is not a normalised id)."""
    instrument = InstrumentId.parse(instrument_id)
    if instrument is None:
        return None
    with sessions() as session:
        mentions = [(row[0], row[1], row[2]) for row in session.execute(
            select(InstrumentMentionRow, ChainDocument.issuer_id, ChainDocument.sha256)
            .join(ChainDocument, ChainDocument.id == InstrumentMentionRow.document_id)
            .where(_matching(instrument))).all()]
        if not mentions:
            return None
        approvals = {row.approval_key for row, _, _ in mentions if row.approval_key}
        document_ids = {row.document_id for row, _, _ in mentions}
        if approvals:
            document_ids |= set(session.scalars(
                select(InstrumentMentionRow.document_id)
                .join(ChainDocument, ChainDocument.id == InstrumentMentionRow.document_id)
                .where(InstrumentMentionRow.role == TYPE_OF,
                       InstrumentMentionRow.approval_key.in_(approvals),
                       _authoritative(list(document_ids)))))
        rows = session.execute(select(ChainDocument, ChainBatch)
                               .join(ChainBatch, ChainBatch.batch_id == ChainDocument.batch_id)
                               .where(ChainDocument.id.in_(document_ids))).all()
        revocations = _revocations(session, [row[0] for row in rows])
        entries = [_entry(document, batch, revocations.get(document.sha256),
                          () if document.document_type == TYPE_APPROVAL
                          else _compromised_upstream(session, document))
                   for document, batch in rows]
    entries.sort(key=lambda e: (e.day, e.anchored_at, e.sha256))
    summaries = _summaries(mentions)
    summary = next((s for s in summaries if s.id == str(instrument)), summaries[0])
    summary = InstrumentSummary(str(instrument), summary.serial, summary.manufacturer,
                                summary.model, tuple(dict.fromkeys(
                                    a for s in summaries for a in s.approval_numbers)),
                                len(entries), tuple(dict.fromkeys(
                                    e.issuer_id for e in entries)))
    return InstrumentHistory(str(instrument), summary, tuple(entries),
                             instrument_status(entries, today))


# --------------------------------------------------------------------- alerts


@dataclass(frozen=True)
class InstrumentAlert:
    """An instrument a revocation affects: its type approval withdrawn, a verification or
    calibration of it revoked, or a reference standard behind one revoked."""

    status: str
    instrument: InstrumentSummary
    document_sha256: str  # the instrument's document affected (or the type approval)
    revocation: ChainRevocation

    @property
    def cursor(self) -> str:
        return f"{self.revocation.block_number}:{self.revocation.log_index}"

    def to_dict(self) -> dict[str, Any]:
        r = self.revocation
        return {"cursor": self.cursor, "kind": "instrument", "status": self.status,
                "instrument": self.instrument.to_dict(),
                "document": {"sha256": "0x" + self.document_sha256},
                "cause": {"sha256": "0x" + r.document_sha256, "issuer_id": "0x" + r.issuer_id,
                          "issuer": issuer_name(bytes.fromhex(r.issuer_id)),
                          "reason": r.reason.replace("_", "-"),
                          "effective_from": dt.datetime.fromtimestamp(
                              r.effective_from, dt.UTC).isoformat(),
                          "revoked_at": r.revoked_at.isoformat(),
                          "block_number": r.block_number, "transaction_hash": r.tx_hash}}


def _revocations_after(session: Session, after: tuple[int, int] | None,
                       limit: int) -> Sequence[ChainRevocation]:
    query = select(ChainRevocation).where(ChainRevocation.reason != "superseded")
    if after is not None:
        block, log_index = after
        query = query.where(or_(ChainRevocation.block_number > block,
                                (ChainRevocation.block_number == block)
                                & (ChainRevocation.log_index > log_index)))
    return session.scalars(query.order_by(ChainRevocation.block_number,
                                          ChainRevocation.log_index).limit(limit)).all()


def _instruments_of(session: Session, condition: ColumnElement[bool]
                    ) -> list[InstrumentSummary]:
    rows = session.execute(
        select(InstrumentMentionRow, ChainDocument.issuer_id, ChainDocument.sha256)
        .join(ChainDocument, ChainDocument.id == InstrumentMentionRow.document_id)
        .where(InstrumentMentionRow.role == INSTRUMENT, condition)).all()
    return _summaries([(row[0], row[1], row[2]) for row in rows])


def instrument_alerts(sessions: sessionmaker[Session], *, after: tuple[int, int] | None,
                      revocations: int = 100) -> Iterator[InstrumentAlert]:
    """Instrument-level consequences of revocations, in chain order after the cursor.

    A separate generator from the certificate alerts (registry.db.traceability) so the
    two feeds can be chained without changing the lines of either."""
    with sessions() as session:
        batch = _revocations_after(session, after, revocations)
    for revocation in batch:
        with sessions() as session:
            document = session.scalar(select(ChainDocument).where(
                ChainDocument.sha256 == revocation.document_sha256,
                ChainDocument.issuer_id == revocation.issuer_id).limit(1))
            if document is None:
                continue
            if document.document_type == TYPE_APPROVAL:
                approvals = select(InstrumentMentionRow.approval_key).where(
                    InstrumentMentionRow.document_id == document.id,
                    InstrumentMentionRow.role == TYPE_OF)
                condition = InstrumentMentionRow.approval_key.in_(approvals)
                approving = session.scalar(select(ChainIssuer.kind).where(
                    ChainIssuer.issuer_id == document.issuer_id)) == _APPROVING_KIND
                if not approving:  # then only for instruments citing it by hash
                    condition = condition & InstrumentMentionRow.document_id.in_(
                        select(CertificateCitation.document_id).where(
                            CertificateCitation.cited_sha256 == document.sha256,
                            CertificateCitation.role == CitationRole.TYPE_APPROVAL.value))
                affected = [("type-approval-withdrawn", s) for s in _instruments_of(
                    session, condition)]
            else:
                status = ("verification-revoked"
                          if document.document_type == "verification-certificate"
                          else "calibration-revoked")
                affected = [(status, s) for s in _instruments_of(
                    session, InstrumentMentionRow.document_id == document.id)]
        for status, summary in affected:
            yield InstrumentAlert(status, summary, revocation.document_sha256, revocation)
        if revocation.reason.replace("_", "-") not in MEASUREMENT_AFFECTING_REASONS:
            continue
        effective = dt.datetime.fromtimestamp(revocation.effective_from, dt.UTC).date()
        # The cascade streams: instruments are looked up one fetched batch at a time, each
        # reported once however many of its documents the cascade reaches.
        reported: set[str] = set()
        for downstream in affected_batches(sessions, revocation.document_sha256, effective):
            with sessions() as session:
                for summary in _instruments_of(session, InstrumentMentionRow.document_id.in_(
                        select(ChainDocument.id).where(
                            ChainDocument.sha256.in_([a.sha256 for a in downstream])))):
                    if summary.id not in reported:
                        reported.add(summary.id)
                        yield InstrumentAlert("reference-standard-revoked", summary,
                                              summary.sha256s[-1], revocation)


__all__ = ["InstrumentAlert", "InstrumentCriteria", "InstrumentHistory", "InstrumentSummary",
           "instrument_alerts", "instrument_history", "mention_rows",
           "record_instrument_mentions", "search_instruments"]
