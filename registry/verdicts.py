"""Verification at the speed of a lookup: the same numbered steps
(registry.verify.steps), fed from facts that need not be read again for every request.

* Chain facts that cannot change: a batch's root, issuer, block and time, as the
  contract's `getBatch` returned them, cached by batch id once the batch is past the
  confirmation depth (`ConfirmedBatches`). The cache holds only what the chain said, so
  a forged database row still meets the chain's root and gets `unknown`.
* Mutable chain facts (revocations, issuer status) as the indexer projected them, with
  the block they reflect (`as_of_block`); the indexer follows every event changing them.
* The trust results (issuer status at issue, traceability, accreditation scope) kept
  current by the indexer in `verdict_inputs` (`refresh_verdict_inputs`), recomputed on
  the events that change them: a new anchoring or a revocation (for everything citing
  the document, transitively), an accreditation version of the issuer, a reorg.

`FastVerifier.verify` answers from one SQL statement plus the in-memory batch cache, and
takes the uncached path (`verify_fresh`: every fact read from chain and store) for any
document whose inputs are not computed yet. tests/registry/test_verdicts_differential.py
runs both over every certificate through revocations, supersession, suspension,
accreditation changes and a reorg.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from anchor.chain import (
    ZERO32,
    BatchRecord,
    IssuerStatus,
    OnChainVerification,
    RevocationReason,
)
from anchor.merkle import leaf_hash, process_proof
from anchor.store import ContentStore
from registry.db.models import ChainBatch, ChainDocument, IndexerState, VerdictInputs
from registry.db.queries import DatabaseIndexView, anchoring_of
from registry.db.traceability import ProjectionTraceabilityView
from registry.db.verdicts import (
    AnchoringFacts,
    VerdictFacts,
    citing_closure,
    document_rows,
    missing_inputs,
    verdict_facts,
)
from registry.trust import RegistryTrustChecks, calibration_date_of
from registry.verify import CertificateVerification, IndexedAnchoring, verify_certificate
from registry.verify.model import ScopeEvidence, TraceabilityEvidence
from registry.verify.steps import IssuerSnapshot, traceability_evidence
from registry.verify.traceability import trace

DEFAULT_HEAD_TTL_SECONDS = 1.0
DEFAULT_MAX_CACHED_BATCHES = 100_000


class BatchSource(Protocol):
    """What the cache reads from the chain (RegistryClient satisfies it)."""

    def get_batch(self, batch_id: int) -> BatchRecord | None: ...

    def head_block_number(self) -> int: ...


class ConfirmedBatches:
    """`getBatch` results kept once the batch is past the confirmation depth.

    Keyed by (batch id, the block hash the index has the batch in): after a reorg the
    indexer re-indexes the batch in its new block, so the key changes and the chain is
    asked again. The key's block hash comes from the database, but only ever selects
    which chain answer to reuse: what is cached is always what `getBatch` returned."""

    def __init__(self, chain: BatchSource, confirmations: int, *,
                 head_ttl_seconds: float = DEFAULT_HEAD_TTL_SECONDS,
                 max_entries: int = DEFAULT_MAX_CACHED_BATCHES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.chain = chain
        self.confirmations = max(1, confirmations)
        self.head_ttl_seconds = head_ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._batches: OrderedDict[tuple[int, str], BatchRecord] = OrderedDict()
        self._head: tuple[int, float] | None = None

    def head(self) -> int:
        """The chain head, read at most once per `head_ttl_seconds`."""
        now = self._clock()
        cached = self._head
        if cached is not None and now - cached[1] < self.head_ttl_seconds:
            return cached[0]
        head = self.chain.head_block_number()
        self._head = (head, now)
        return head

    def get(self, batch_id: int, block_hash: str) -> BatchRecord | None:
        key = (batch_id, block_hash)
        with self._lock:
            hit = self._batches.get(key)
            if hit is not None:
                self._batches.move_to_end(key)
                return hit
        batch = self.chain.get_batch(batch_id)
        if batch is not None and self.head() - batch.block_number + 1 >= self.confirmations:
            with self._lock:
                self._batches[key] = batch
                while len(self._batches) > self.max_entries:
                    self._batches.popitem(last=False)
        return batch

    def __len__(self) -> int:
        return len(self._batches)


def _not_anchored() -> OnChainVerification:
    """What the contract's `verify` returns when the proof does not lead to its root."""
    return OnChainVerification(False, False, ZERO32, IssuerStatus.NONE, 0, 0,
                               RevocationReason.UNSPECIFIED, 0, 0, None)


class ProjectedChain:
    """registry.verify.ChainView from cached batch records plus the projection's mutable
    facts: `verify` is the contract's own logic (CertificateRegistry.verify) over them."""

    def __init__(self, batches: ConfirmedBatches, facts: VerdictFacts) -> None:
        self._batches = batches
        self._by_batch = {a.batch.batch_id: a for a in facts.anchorings}

    def get_batch(self, batch_id: int) -> BatchRecord | None:
        indexed = self._by_batch.get(batch_id)
        if indexed is None:
            return self._batches.chain.get_batch(batch_id)
        return self._batches.get(batch_id, indexed.batch.block_hash)

    def verify(self, document_hash: bytes, batch_id: int,
               proof: Sequence[bytes]) -> OnChainVerification:
        batch = self.get_batch(batch_id)
        if batch is None or process_proof(leaf_hash(document_hash), proof) != batch.root:
            return _not_anchored()
        indexed = self._by_batch[batch_id]
        if indexed.batch.issuer_id != batch.issuer_id.hex():
            # The index disagrees with the chain about the issuer: the steps fail this
            # anchoring on the issuer alone, so the mutable facts are not needed.
            return dataclasses.replace(_not_anchored(), anchored=True,
                                       issuer_id=batch.issuer_id)
        status = (IssuerStatus[indexed.issuer_status.upper()] if indexed.issuer_status
                  else IssuerStatus.NONE)
        revocation = indexed.revocation
        if revocation is None:
            return OnChainVerification(True, False, batch.issuer_id, status, batch.anchored_at,
                                       batch.block_number, RevocationReason.UNSPECIFIED, 0, 0,
                                       None)
        return OnChainVerification(
            True, True, batch.issuer_id, status, batch.anchored_at, batch.block_number,
            RevocationReason[revocation.reason.upper()], int(revocation.revoked_at.timestamp()),
            revocation.effective_from,
            None if revocation.replacement is None else bytes.fromhex(revocation.replacement))


class PrecomputedIndex:
    """registry.verify.IndexView over the facts read in one statement; what they do not
    hold (a status at a block the inputs were not computed for, signers) goes to the
    database view."""

    def __init__(self, facts: VerdictFacts, database: DatabaseIndexView) -> None:
        self._facts = facts
        self._database = database

    def anchorings(self, sha256: str) -> Sequence[IndexedAnchoring]:
        if sha256 != self._facts.sha256:
            return self._database.anchorings(sha256)
        return [anchoring_of(a.document, a.batch) for a in self._facts.anchorings]

    def issuer(self, issuer_id: str) -> IssuerSnapshot | None:
        for a in self._facts.anchorings:
            if a.batch.issuer_id == issuer_id:
                if a.issuer_status is None:
                    return None
                return IssuerSnapshot(issuer_id, a.issuer_country or "", a.issuer_kind or "",
                                      a.issuer_status)
        return self._database.issuer(issuer_id)

    def issuer_status_at(self, issuer_id: str, block_number: int) -> str | None:
        for a in self._facts.anchorings:
            if a.batch.issuer_id == issuer_id and a.inputs_block == block_number:
                return a.issuer_status_at_issue
        return self._database.issuer_status_at(issuer_id, block_number)

    def authorised_signers(self, issuer_id: str, block_number: int) -> frozenset[str] | None:
        return self._database.authorised_signers(issuer_id, block_number)


def scope_evidence(data: dict[str, Any]) -> ScopeEvidence:
    return ScopeEvidence(data["status"], data["detail"], data["accreditation"],
                         tuple(data["results"]))


class PrecomputedTrust:
    """registry.verify.steps.TrustChecks from verdict_inputs; an encrypted document
    uploaded for verification is checked against the scope live (its results are
    confidential, so nothing was precomputed from them)."""

    def __init__(self, facts: VerdictFacts, live: RegistryTrustChecks) -> None:
        self._facts = facts
        self._live = live

    def traceability(self, sha256: str) -> TraceabilityEvidence | None:
        for a in self._facts.anchorings:
            if a.document.sha256 == sha256:
                data = a.traceability
                return None if data is None else TraceabilityEvidence(**data)
        result = self._live.traceability(sha256)
        return None if result is None else traceability_evidence(result)

    def accreditation_scope(self, anchoring: IndexedAnchoring,
                            document: bytes | None) -> ScopeEvidence | None:
        if document is None or not anchoring.encrypted:
            for a in self._facts.anchorings:
                if a.batch.batch_id == anchoring.batch_id and a.scope is not None:
                    return scope_evidence(a.scope)
        return self._live.accreditation_scope(anchoring, document)


@dataclass
class FastVerifier:
    """Verification from cached chain facts and precomputed verdict inputs."""

    sessions: sessionmaker[Session]
    chain: Any  # RegistryClient: get_batch, verify, head_block_number
    store: ContentStore | None
    confirmations: int = 1
    batches: ConfirmedBatches = field(init=False)

    def __post_init__(self) -> None:
        self.batches = ConfirmedBatches(self.chain, self.confirmations)

    def verify(self, sha256: str | None, document: bytes | None, *,
               verify_signature: Callable[[bytes], Any] | None = None,
               metrology: bool = True) -> CertificateVerification:
        digest = (hashlib.sha256(document).hexdigest() if document is not None
                  else (sha256 or "").lower().removeprefix("0x"))
        facts = verdict_facts(self.sessions, digest)
        if not facts.complete:
            return self.verify_fresh(sha256, document, verify_signature=verify_signature,
                                     metrology=metrology)
        live = RegistryTrustChecks(self.sessions, self.store)
        result = verify_certificate(
            sha256, document, index=PrecomputedIndex(facts, DatabaseIndexView(self.sessions)),
            chain=ProjectedChain(self.batches, facts), verify_signature=verify_signature,
            trust=PrecomputedTrust(facts, live) if metrology else None)
        as_of = facts.as_of_block
        behind = None if as_of is None else max(0, self.batches.head() - as_of)
        return dataclasses.replace(result, as_of_block=as_of, blocks_behind_head=behind)

    def verify_fresh(self, sha256: str | None, document: bytes | None, *,
                     verify_signature: Callable[[bytes], Any] | None = None,
                     metrology: bool = True) -> CertificateVerification:
        """The uncached path: every chain fact read from the contract for this request,
        traceability and scope evaluated from the projection and the content store."""
        head = self.chain.head_block_number()
        result = verify_certificate(
            sha256, document, index=DatabaseIndexView(self.sessions), chain=self.chain,
            verify_signature=verify_signature,
            trust=RegistryTrustChecks(self.sessions, self.store) if metrology else None)
        return dataclasses.replace(result, as_of_block=head, blocks_behind_head=0)


# ---------------------------------------------------------------- maintenance


@dataclass
class VerdictChanges:
    """What a chunk of events changed, as far as verdict inputs are concerned."""

    documents: set[int] = field(default_factory=set)  # new chain_documents rows
    touched: set[str] = field(default_factory=set)  # documents anchored, revoked, orphaned
    # issuer -> the earliest effective date of an accreditation version recorded (or
    # dropped, or whose document became readable) for it
    accreditations: dict[str, dt.date] = field(default_factory=dict)

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
    full = {d.id: (d, b) for d, b in document_rows(session, ids=changes.documents)}
    trace_for.update(d.sha256 for d, _ in full.values())
    rows = {d.id: (d, b) for d, b in document_rows(session, sha256s=trace_for)}
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


def _write_inputs(session: Session, sessions: sessionmaker[Session],
                  store: ContentStore | None,
                  rows: dict[int, tuple[ChainDocument, ChainBatch]], trace_for: Collection[str],
                  scope_for: Collection[int], as_of_block: int) -> int:
    index = DatabaseIndexView(sessions)
    trust = RegistryTrustChecks(sessions, store)
    view = ProjectionTraceabilityView(sessions)
    traces: dict[str, dict[str, Any] | None] = {}
    for sha256 in sorted(trace_for):
        result = trace(sha256, view)
        traces[sha256] = None if result is None else dataclasses.asdict(
            traceability_evidence(result))
    existing = {row.document_id: row for row in session.scalars(
        select(VerdictInputs).where(VerdictInputs.document_id.in_(list(rows))))} if rows else {}
    written = 0
    for document_id, (document, batch) in rows.items():
        row = existing.get(document_id)
        if row is None:
            row = VerdictInputs(document_id=document_id, sha256=document.sha256,
                                issuer_id=batch.issuer_id, block_number=batch.block_number,
                                issuer_status_at_issue=index.issuer_status_at(
                                    batch.issuer_id, batch.block_number),
                                traceability=traces.get(document.sha256),
                                computed_block=as_of_block)
            row.scope = _scope(trust, document, batch)
            session.add(row)
        else:
            if document.sha256 in traces:
                row.traceability = traces[document.sha256]
            if document_id in scope_for:
                row.scope = _scope(trust, document, batch)
            row.computed_block = as_of_block
        written += 1
    session.flush()
    return written


def _scope(trust: RegistryTrustChecks, document: ChainDocument,
           batch: ChainBatch) -> dict[str, Any] | None:
    scope = trust.accreditation_scope(anchoring_of(document, batch), None)
    return None if scope is None else dataclasses.asdict(scope)


def indexed_block(sessions: sessionmaker[Session]) -> int | None:
    with sessions() as session:
        return session.scalar(select(IndexerState.last_block).limit(1))


__all__ = ["AnchoringFacts", "ConfirmedBatches", "FastVerifier", "ProjectedChain",
           "VerdictChanges", "backfill_verdict_inputs", "indexed_block",
           "refresh_verdict_inputs"]
