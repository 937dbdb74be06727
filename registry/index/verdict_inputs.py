"""The indexer's side of the verdict inputs (registry.db.models.VerdictInputs): which
rows a chunk of events changes, and recomputing them in the indexer's transaction, so
they always match `indexer_state.last_block`.

What changes a verdict input:
* a new anchoring: its own inputs, and the traceability of every document citing it
  (by hash or by number, transitively: a citation may now resolve);
* a revocation: the traceability of every document citing the revoked one, transitively;
* an accreditation version of an issuer (recorded, its document read, or rolled back):
  the scope of that issuer's documents calibrated on or after its effective date;
* a reorg: all of the above for what the rolled-back blocks held.
Issuer status at issue is fixed by the events up to the anchoring block, all indexed by
the end of that block's chunk.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from anchor.store import ContentStore
from registry.db.models import ChainAccreditation, ChainBatch, ChainDocument, VerdictInputs
from registry.db.queries import DatabaseIndexView, anchoring_of
from registry.db.traceability import ProjectionTraceabilityView
from registry.db.verdicts import (
    citing_closure,
    document_ids,
    document_rows,
    missing_inputs,
)
from registry.trust import RegistryTrustChecks, calibration_date_of
from registry.verify.steps import traceability_evidence
from registry.verify.traceability import trace


@dataclass
class VerdictChanges:
    """What a chunk of events changed, as far as verdict inputs are concerned."""

    documents: set[int] = field(default_factory=set)  # new chain_documents rows
    touched: set[str] = field(default_factory=set)  # documents anchored, revoked, orphaned
    # issuer -> the earliest effective date of an accreditation version recorded (or
    # dropped, or whose document became readable) for it
    accreditations: dict[str, dt.date] = field(default_factory=dict)
    # new rows (of `documents`) as their insert wrote them, with their batch: not read back
    inserted: dict[int, tuple[ChainDocument, ChainBatch]] = field(default_factory=dict)

    def accreditation(self, issuer_id: str, effective_from: dt.datetime) -> None:
        day = effective_from.astimezone(dt.UTC).date()
        known = self.accreditations.get(issuer_id)
        self.accreditations[issuer_id] = day if known is None else min(known, day)

    def __bool__(self) -> bool:
        return bool(self.documents or self.touched or self.accreditations)


def joined_sessions(session: Session) -> sessionmaker[Session]:
    """Sessions on `session`'s connection and inside its transaction, for the read-side
    helpers (which open sessions of their own) to see what the indexer just wrote."""
    session.flush()
    return sessionmaker(bind=session.connection(), expire_on_commit=False,
                        join_transaction_mode="conditional_savepoint")


def refresh_verdict_inputs(session: Session, store: ContentStore | None,
                           changes: VerdictChanges, as_of_block: int) -> int:
    """Recompute the verdict inputs `changes` affect, in the indexer's transaction (so
    they always match `indexer_state.last_block`). Returns the rows written."""
    if not changes:
        return 0
    sessions = joined_sessions(session)
    dependents = citing_closure(session, changes.touched) if changes.touched else set()
    trace_for = set(dependents)
    full = {i: changes.inserted[i] for i in changes.documents if i in changes.inserted}
    full.update((d.id, (d, b)) for d, b in document_rows(
        session, ids=changes.documents - full.keys()))
    trace_for.update(d.sha256 for d, _ in full.values())
    # Every anchoring of a traced document; the new ones (most of them) are loaded already.
    rows = {d.id: (d, b) for d, b in document_rows(
        session, ids=document_ids(session, trace_for) - full.keys())}
    scope_for: set[int] = set(full)
    if changes.accreditations:
        for document, batch in document_rows(session, issuers=set(changes.accreditations)):
            day = calibration_date_of(document.public_metadata)
            if day is not None and day >= changes.accreditations[document.issuer_id]:
                rows.setdefault(document.id, (document, batch))
                scope_for.add(document.id)
    rows.update(full)
    return _write_inputs(session, sessions, store, rows, trace_for, scope_for, as_of_block)


def backfill_verdict_inputs(session: Session, store: ContentStore | None, as_of_block: int,
                            limit: int) -> int:
    """Compute the inputs of up to `limit` anchorings that have none (indexed before
    migration 0005, or left by an interrupted catch-up)."""
    ids = missing_inputs(session, limit)
    if not ids:
        return 0
    return refresh_verdict_inputs(session, store, VerdictChanges(documents=set(ids)),
                                  as_of_block)


class _RefreshTrustChecks(RegistryTrustChecks):
    """Looks each issuer's accreditation in force on a day up once per refresh: a batch's
    documents share a few calibration dates, and nothing writes accreditations while
    the inputs are computed."""

    def __init__(self, sessions: sessionmaker[Session], store: ContentStore | None) -> None:
        super().__init__(sessions, store)
        self._in_force: dict[tuple[str, dt.date], ChainAccreditation | None] = {}

    def _accreditation_at(self, issuer_id: str, day: dt.date) -> ChainAccreditation | None:
        key = (issuer_id, day)
        if key not in self._in_force:
            self._in_force[key] = super()._accreditation_at(issuer_id, day)
        return self._in_force[key]


def _write_inputs(session: Session, sessions: sessionmaker[Session],
                  store: ContentStore | None,
                  rows: dict[int, tuple[ChainDocument, ChainBatch]], trace_for: Collection[str],
                  scope_for: Collection[int], as_of_block: int) -> int:
    index = DatabaseIndexView(sessions)
    trust = _RefreshTrustChecks(sessions, store)
    view = ProjectionTraceabilityView(sessions)
    view.prefetch(trace_for)  # the facts of every traced root in a few statements
    traces: dict[str, dict[str, Any] | None] = {}
    for sha256 in sorted(trace_for):
        result = trace(sha256, view)
        traces[sha256] = None if result is None else dataclasses.asdict(
            traceability_evidence(result))
    existing = {row.document_id: row for row in session.scalars(
        select(VerdictInputs).where(VerdictInputs.document_id.in_(list(rows))))} if rows else {}
    # A batch's documents share their issuer and block: one status lookup for them all.
    status_at: dict[tuple[str, int], str | None] = {}
    new: list[dict[str, Any]] = []
    for document_id, (document, batch) in rows.items():
        row = existing.get(document_id)
        if row is None:
            at = (batch.issuer_id, batch.block_number)
            if at not in status_at:
                status_at[at] = index.issuer_status_at(*at)
            new.append({"document_id": document_id, "sha256": document.sha256,
                        "issuer_id": batch.issuer_id, "block_number": batch.block_number,
                        "issuer_status_at_issue": status_at[at],
                        "traceability": traces.get(document.sha256),
                        "scope": _scope(trust, document, batch),
                        "computed_block": as_of_block})
        else:
            if document.sha256 in traces:
                row.traceability = traces[document.sha256]
            if document_id in scope_for:
                row.scope = _scope(trust, document, batch)
            row.computed_block = as_of_block
    if new:  # one bulk insert (Core: not an ORM object per anchoring)
        session.execute(insert(VerdictInputs.__table__), new)
    session.flush()
    return len(rows)


def _scope(trust: RegistryTrustChecks, document: ChainDocument,
           batch: ChainBatch) -> dict[str, Any] | None:
    scope = trust.accreditation_scope(anchoring_of(document, batch), None)
    return None if scope is None else dataclasses.asdict(scope)
