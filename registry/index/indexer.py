"""The event indexer: projects the registry contract's events (plus the batch manifests on
IPFS) into the database, and marks the issuance outbox anchored.

The projection is a pure function of the chain and the content store, so it can be
dropped and rebuilt (`rebuild`). `catch_up` is

* idempotent: every event is keyed by (tx_hash, log_index) and re-indexing skips it;
* resumable: each chunk of blocks commits together with `indexer_state.last_block`, so a
  crash loses at most the chunk in progress, which is simply indexed again;
* reorg-aware: only blocks with `confirmations` blocks on top are indexed, and the hash
  of the last indexed block is kept. When the chain no longer has that hash, the rows
  of the orphaned blocks are rolled back to the newest block we recorded that is still
  on the chain, and indexing resumes from there.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from anchor.chain import (
    REVOCATION_EVENTS,
    BlockHeader,
    ChainEvent,
    IssuerKind,
    IssuerStatus,
    RegistryClient,
    RevocationReason,
    revoked_documents,
)
from anchor.cid import Cid
from anchor.errors import (
    CidError,
    ContentIntegrityError,
    ContentNotFoundError,
    MerkleError,
    StorageUnavailableError,
)
from anchor.merkle import MerkleBatch
from anchor.store import ContentStore
from registry.db.generation import settle
from registry.db.models import (
    ACCREDITATION_NONE,
    MANIFEST_INVALID,
    MANIFEST_MISSING,
    MANIFEST_OK,
    PROJECTION_TABLES,
    AuditEvent,
    BatchState,
    ChainAccreditation,
    ChainBatch,
    ChainDocument,
    ChainIssuer,
    ChainRevocation,
    DocumentState,
    EvidenceRenewal,
    IndexerState,
    IssuedDocument,
    OutboxBatch,
)
from registry.db.verdicts import citing_closure
from registry.errors import DatabaseStateError, ManifestInvalidError
from registry.index.documents import insert_documents
from registry.index.manifest import BatchManifest, ManifestCache
from registry.index.renewal_manifest import is_renewal_manifest
from registry.index.renewals import (
    load_renewal,
    original_revocation_time,
    projected_document_hash,
)
from registry.index.signing_certificates import (
    SIGNING_CERTIFICATE_EVENTS,
    apply_signing_certificate_event,
    replay_signing_certificates,
)
from registry.index.verdict_inputs import (
    VerdictChanges,
    backfill_verdict_inputs,
    refresh_verdict_inputs,
)

DEFAULT_CHUNK_BLOCKS = 2_000
# Anchorings indexed before verdict inputs existed get theirs this many per catch-up.
BACKFILL_PER_CATCH_UP = 5_000


_ISSUER_EVENTS = frozenset({"IssuerRegistered", "IssuerStatusChanged", "IssuerAdminChanged",
                            "IssuerMetadataUpdated", "OperatorAdded", "OperatorRemoved"})


@dataclass(frozen=True)
class IndexReport:
    """What one catch-up did."""

    from_block: int
    to_block: int  # last block indexed (safe head), or from_block - 1 if nothing to do
    events: int
    batches: int
    revocations: int
    manifests_missing: int
    reorg_rolled_back_to: int | None = None  # the fork point, when a reorg was found


def _hex(value: bytes) -> str:
    return bytes(value).hex()


def _issuer_of(args: dict[str, Any]) -> str | None:
    """The issuer an event concerns (64 hex), from its `issuerId` argument if it has one."""
    issuer = args.get("issuerId")
    return issuer.lower().removeprefix("0x") if isinstance(issuer, str) else None


def _json_arg(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return [_json_arg(v) for v in value]
    return value


class Indexer:
    """Keeps the projection of one registry contract up to date."""

    def __init__(self, client: RegistryClient, session_factory: sessionmaker[Session],
                 store: ContentStore, confirmations: int = 1, *,
                 chunk_blocks: int = DEFAULT_CHUNK_BLOCKS,
                 manifests: ManifestCache | None = None) -> None:
        self.client = client
        self.sessions = session_factory
        self.store = store
        # Manifests sealed by this process (the issuer's), taken instead of read back.
        self.manifests = manifests or ManifestCache(capacity=0)
        # Same meaning as the transaction sender's: 1 = mined, n = n-1 blocks on top.
        self.confirmations = max(1, confirmations)
        self.chunk_blocks = chunk_blocks
        self._block_cache: dict[int, BlockHeader] = {}
        self._sender_cache: dict[str, str] = {}

    # ------------------------------------------------------------------ public

    def catch_up(self) -> IndexReport:
        """Index every confirmed block not indexed yet; roll back orphaned blocks first."""
        self._block_cache.clear()
        state = self._load_state()
        rolled_back = self._handle_reorg(state)
        if rolled_back is not None:
            state = self._load_state()
        start = state.last_block + 1
        safe_head = self.client.head_block_number() - self.confirmations + 1
        events = batches = revocations = 0
        chunk_start = start
        while chunk_start <= safe_head:
            chunk_end = min(chunk_start + self.chunk_blocks - 1, safe_head)
            counts = self._index_chunk(chunk_start, chunk_end)
            if counts is None:
                break  # the chain moved while reading: the next catch-up goes on
            events += counts[0]
            batches += counts[1]
            revocations += counts[2]
            chunk_start = chunk_end + 1
        missing = self._retry_missing_manifests()
        with self.sessions() as session, session.begin():
            state = session.get(IndexerState, self.client.address)
            assert state is not None
            backfill_verdict_inputs(session, self.store, state.last_block,
                                    BACKFILL_PER_CATCH_UP)
        # API workers in this process answer from what it committed from now on.
        settle(self.sessions.kw["bind"])
        return IndexReport(start, max(start - 1, safe_head), events, batches, revocations,
                           missing, rolled_back)

    def rebuild(self) -> IndexReport:
        """Drop the projection and index again from the deployment block."""
        with self.sessions() as session, session.begin():
            for model in PROJECTION_TABLES:  # dependants first
                session.execute(delete(model))
        return self.catch_up()

    # ------------------------------------------------------------------- state

    def _load_state(self) -> IndexerState:
        with self.sessions() as session, session.begin():
            states = session.scalars(select(IndexerState)).all()
            for state in states:
                if state.contract_address != self.client.address:
                    raise DatabaseStateError(
                        f"this database indexes contract {state.contract_address}, not "
                        f"{self.client.address}; use another database",
                        indexed_contract=state.contract_address)
                if state.chain_id != self.client.chain_id:
                    raise DatabaseStateError(
                        f"this database indexes chain {state.chain_id}, the endpoint serves "
                        f"chain {self.client.chain_id}")
                return state
            state = IndexerState(contract_address=self.client.address,
                                 chain_id=self.client.chain_id,
                                 deployment_block=self.client.deployment_block,
                                 last_block=self.client.deployment_block - 1,
                                 last_block_hash=None)
            session.add(state)
            return state

    def _block(self, number: int) -> BlockHeader | None:
        if number not in self._block_cache:
            header = self.client.block_header(number)
            if header is None:
                return None
            self._block_cache[number] = header
        return self._block_cache[number]

    def _block_hash(self, number: int) -> str | None:
        block = self._block(number)
        return None if block is None else block.hash

    # -------------------------------------------------------------------- reorg

    def _handle_reorg(self, state: IndexerState) -> int | None:
        """Roll back to the fork point if the last indexed block was orphaned."""
        if state.last_block_hash is None or self._block_hash(state.last_block) == \
                state.last_block_hash:
            return None
        with self.sessions() as session, session.begin():
            recorded = session.execute(
                select(AuditEvent.block_number, AuditEvent.block_hash)
                .where(AuditEvent.block_number <= state.last_block)
                .distinct().order_by(AuditEvent.block_number.desc())).all()
            # Every row we hold comes from a block in `recorded`; the newest of them still
            # on the chain bounds what survives. Blocks without events hold no rows.
            fork_point = state.deployment_block - 1
            for number, block_hash in recorded:
                if self._block_hash(number) == block_hash:
                    fork_point = number
                    break
            self._delete_after(session, fork_point)
            row = session.get(IndexerState, state.contract_address)
            assert row is not None
            row.last_block = fork_point
            row.last_block_hash = (self._block_hash(fork_point)
                                   if fork_point >= state.deployment_block else None)
            row.updated_at = dt.datetime.now(dt.UTC)
        return fork_point

    def _delete_after(self, session: Session, block: int) -> None:
        orphaned_roots = session.scalars(
            select(ChainBatch.root).where(ChainBatch.block_number > block)).all()
        orphaned_ids = select(ChainBatch.batch_id).where(ChainBatch.block_number > block)
        changes = self._orphaned_changes(session, block, orphaned_ids)
        session.execute(delete(EvidenceRenewal).where(
            EvidenceRenewal.batch_id.in_(orphaned_ids)))
        session.execute(delete(ChainDocument).where(ChainDocument.batch_id.in_(orphaned_ids)))
        session.execute(delete(ChainBatch).where(ChainBatch.block_number > block))
        session.execute(delete(ChainRevocation).where(ChainRevocation.block_number > block))
        session.execute(delete(ChainAccreditation)
                        .where(ChainAccreditation.block_number > block))
        session.execute(delete(AuditEvent).where(AuditEvent.block_number > block))
        # The outbox forgets "anchored" for orphaned roots: issuance re-sends the same
        # signed transaction (or finds it re-mined) and the indexer marks them again.
        if orphaned_roots:
            session.execute(update(OutboxBatch).where(OutboxBatch.root.in_(orphaned_roots))
                            .values(state=BatchState.SUBMITTED.value, batch_id=None))
            session.execute(update(IssuedDocument)
                            .where(IssuedDocument.batch_root.in_(orphaned_roots))
                            .values(state=DocumentState.BATCHED.value))
        self._replay_issuers(session)
        replay_signing_certificates(session)
        refresh_verdict_inputs(session, self.store, changes, block)

    def _orphaned_changes(self, session: Session, block: int,
                          orphaned_ids: Any) -> VerdictChanges:
        """What rolling back past `block` changes for verdict inputs, taken before the
        rows go: documents citing an orphaned one (found through its number too) or a
        document whose revocation is orphaned, and issuers whose accreditation changes."""
        changes = VerdictChanges()
        touched = set(session.scalars(select(ChainDocument.sha256).where(
            ChainDocument.batch_id.in_(orphaned_ids))))
        touched.update(session.scalars(select(ChainRevocation.document_sha256).where(
            ChainRevocation.block_number > block)))
        changes.touched = citing_closure(session, touched) if touched else set()
        for issuer_id, effective_from in session.execute(
                select(ChainAccreditation.issuer_id, ChainAccreditation.effective_from)
                .where(ChainAccreditation.block_number > block)):
            changes.accreditation(issuer_id, effective_from)
        return changes

    def _replay_issuers(self, session: Session) -> None:
        session.execute(delete(ChainIssuer))
        session.flush()
        for event in session.scalars(select(AuditEvent).where(AuditEvent.name.in_(
                _ISSUER_EVENTS)).order_by(AuditEvent.block_number, AuditEvent.log_index)):
            self._apply_issuer_event(session, event.name, event.args, event.block_number)

    # ---------------------------------------------------------------- indexing

    def _index_chunk(self, first: int, last: int) -> tuple[int, int, int] | None:
        """Index blocks first..last in one transaction; None if the chain reorganised
        while they were read (nothing is written then)."""
        last_hash_before = self._block_hash(last)
        chain_events = self.client.events(first, last)
        self._block_cache.pop(last, None)
        if last_hash_before is None or self._block_hash(last) != last_hash_before:
            return None
        events = batches = revocations = 0
        changes = VerdictChanges()
        with self.sessions() as session, session.begin():
            for event in chain_events:
                if session.scalar(select(AuditEvent.id).where(
                        AuditEvent.tx_hash == event.transaction_hash,
                        AuditEvent.log_index == event.log_index)) is not None:
                    continue  # indexed already (idempotent re-run)
                events += 1
                args = {k: _json_arg(v) for k, v in event.args.items()}
                block = self._block(event.block_number)
                assert block is not None
                block_time = dt.datetime.fromtimestamp(block.timestamp, dt.UTC)
                recorded = AuditEvent(name=event.name, args=args,
                                      block_number=event.block_number,
                                      block_hash=event.block_hash,
                                      tx_hash=event.transaction_hash,
                                      log_index=event.log_index,
                                      actor=self._sender(event.transaction_hash),
                                      block_time=block_time, issuer_id=_issuer_of(args))
                session.add(recorded)
                if event.name == "BatchAnchored":
                    self._index_batch(session, event, block_time, changes)
                    batches += 1
                elif event.name in REVOCATION_EVENTS:
                    revoked = self._index_revocations(session, event, block_time)
                    changes.touched.update(revoked)
                    revocations += len(revoked)
                elif event.name == "AccreditationRecorded":
                    accreditation = self._index_accreditation(session, event, block_time)
                    changes.accreditation(accreditation.issuer_id,
                                          accreditation.effective_from)
                elif event.name in _ISSUER_EVENTS:
                    self._apply_issuer_event(session, event.name, args, event.block_number)
                elif event.name in SIGNING_CERTIFICATE_EVENTS:
                    apply_signing_certificate_event(session, recorded)
            refresh_verdict_inputs(session, self.store, changes, last)
            state = session.get(IndexerState, self.client.address)
            assert state is not None
            state.last_block = last
            state.last_block_hash = last_hash_before
            state.updated_at = dt.datetime.now(dt.UTC)
        return events, batches, revocations

    def _sender(self, tx_hash: str) -> str:
        if tx_hash not in self._sender_cache:
            self._sender_cache[tx_hash] = self.client.transaction_sender(tx_hash)
        return self._sender_cache[tx_hash]

    def _index_batch(self, session: Session, event: ChainEvent, block_time: dt.datetime,
                     changes: VerdictChanges) -> None:
        args = event.args
        root = _hex(args["root"])
        batch = ChainBatch(batch_id=int(args["batchId"]), issuer_id=_hex(args["issuerId"]),
                           root=root, count=int(args["count"]),
                           manifest_cid=args["manifestCid"], manifest_status=MANIFEST_MISSING,
                           operator=args["operator"], block_number=event.block_number,
                           block_hash=event.block_hash, tx_hash=event.transaction_hash,
                           log_index=event.log_index, anchored_at=block_time)
        session.add(batch)
        session.flush()
        self._load_manifest(session, batch, changes)
        session.execute(update(OutboxBatch).where(OutboxBatch.root == root)
                        .values(state=BatchState.ANCHORED.value, batch_id=batch.batch_id))
        session.execute(update(IssuedDocument).where(IssuedDocument.batch_root == root)
                        .values(state=DocumentState.ANCHORED.value))

    def _load_manifest(self, session: Session, batch: ChainBatch,
                       changes: VerdictChanges) -> None:
        """Fill chain_documents from the batch's manifest, checked against the root."""
        sealed_here = self.manifests.take(batch.manifest_cid)
        if sealed_here is not None:
            self._insert_manifest(session, batch, *sealed_here, changes)
            return
        try:
            data = self.store.get(Cid.parse(batch.manifest_cid))
        except (ContentNotFoundError, StorageUnavailableError):
            batch.manifest_status = MANIFEST_MISSING
            return
        except (CidError, ContentIntegrityError):
            batch.manifest_status = MANIFEST_INVALID
            return
        if is_renewal_manifest(data):
            try:
                load_renewal(session, batch, data, self.store, changes)
            except (ContentNotFoundError, StorageUnavailableError):
                batch.manifest_status = MANIFEST_MISSING  # an original manifest: retried
            except ManifestInvalidError:
                batch.manifest_status = MANIFEST_INVALID
            return
        try:
            manifest = BatchManifest.from_bytes(data)
        except (ManifestInvalidError, ValueError):
            batch.manifest_status = MANIFEST_INVALID
            return
        self._insert_manifest(session, batch, manifest, None, changes)

    def _insert_manifest(self, session: Session, batch: ChainBatch, manifest: BatchManifest,
                         tree: MerkleBatch | None, changes: VerdictChanges) -> None:
        """`tree`: MerkleBatch.of the members, when known already."""
        try:
            if manifest.issuer_id != batch.issuer_id or manifest.root != batch.root \
                    or len(manifest.documents) != batch.count:
                raise ManifestInvalidError("manifest does not describe the anchored batch")
            if tree is None:
                tree = MerkleBatch.of(bytes.fromhex(d.sha256) for d in manifest.documents)
            if tree.root.hex() != batch.root:
                raise ManifestInvalidError("manifest members do not hash to the anchored root")
        except (ManifestInvalidError, MerkleError, ValueError):
            batch.manifest_status = MANIFEST_INVALID
            return
        insert_documents(session, batch, manifest.documents,
                         {m.sha256: tree.proof(bytes.fromhex(m.sha256))
                          for m in manifest.documents}, changes)

    def _retry_missing_manifests(self) -> int:
        changes = VerdictChanges()
        with self.sessions() as session, session.begin():
            missing = session.scalars(select(ChainBatch).where(
                ChainBatch.manifest_status == MANIFEST_MISSING)).all()
            for batch in missing:
                self._load_manifest(session, batch, changes)
            for accreditation in session.scalars(select(ChainAccreditation).where(
                    ChainAccreditation.document_status == MANIFEST_MISSING)):
                self._load_accreditation_document(accreditation)
                if accreditation.document_status != MANIFEST_MISSING:
                    changes.accreditation(accreditation.issuer_id,
                                          accreditation.effective_from)
            state = session.get(IndexerState, self.client.address)
            if changes and state is not None:
                refresh_verdict_inputs(session, self.store, changes, state.last_block)
            return sum(1 for b in missing if b.manifest_status == MANIFEST_MISSING)

    def _index_accreditation(self, session: Session, event: ChainEvent,
                             block_time: dt.datetime) -> ChainAccreditation:
        args = event.args
        document_hash = bytes(args["documentHash"])
        accreditation = ChainAccreditation(
            issuer_id=_hex(args["issuerId"]), version=int(args["version"]),
            document_sha256=document_hash.hex() if any(document_hash) else None,
            document_cid=args["documentCid"],
            effective_from=dt.datetime.fromtimestamp(int(args["effectiveFrom"]), dt.UTC),
            document=None, document_status=ACCREDITATION_NONE,
            block_number=event.block_number, block_hash=event.block_hash,
            tx_hash=event.transaction_hash, log_index=event.log_index, recorded_at=block_time)
        if accreditation.document_sha256 is not None:
            self._load_accreditation_document(accreditation)
        session.add(accreditation)
        return accreditation

    def _load_accreditation_document(self, accreditation: ChainAccreditation) -> None:
        """Read the accreditation document from IPFS; it must hash to the on-chain value."""
        try:
            data = self.store.get(Cid.parse(accreditation.document_cid))
        except (ContentNotFoundError, StorageUnavailableError):
            accreditation.document_status = MANIFEST_MISSING
            return
        except (CidError, ContentIntegrityError):
            accreditation.document_status = MANIFEST_INVALID
            return
        try:
            if hashlib.sha256(data).hexdigest() != accreditation.document_sha256:
                raise ValueError("the document does not hash to the recorded SHA-256")
            document = json.loads(data)
            if not isinstance(document, dict):
                raise ValueError("not a JSON object")
        except ValueError:
            accreditation.document_status = MANIFEST_INVALID
            return
        accreditation.document = document
        accreditation.document_status = MANIFEST_OK

    def _index_revocations(self, session: Session, event: ChainEvent,
                           block_time: dt.datetime) -> list[str]:
        """Project a DocumentRevoked or DocumentsRevoked event; the revoked digests (hex)."""
        args = event.args
        revoked = []
        reason = RevocationReason(int(args["reason"])).name.lower()
        effective_from = int(args["effectiveFrom"])
        for document_hash, replacement in revoked_documents(event):
            # A migrated document is revoked under its migration leaf: projected under its
            # SHA-256, at the time the migration says it was first revoked.
            sha256, migration = projected_document_hash(session, _hex(args["issuerId"]),
                                                        document_hash)
            replacement_hex = None if replacement is None else replacement.hex()
            revoked.append(sha256)
            session.add(ChainRevocation(
                issuer_id=_hex(args["issuerId"]), document_sha256=sha256,
                batch_id=int(args["batchId"]), reason=reason, replacement=replacement_hex,
                effective_from=effective_from, operator=args["operator"],
                block_number=event.block_number, block_hash=event.block_hash,
                tx_hash=event.transaction_hash, log_index=event.log_index,
                revoked_at=original_revocation_time(migration, reason, effective_from,
                                                    replacement_hex, block_time)))
        return revoked

    def _apply_issuer_event(self, session: Session, name: str, args: dict[str, Any],
                            block_number: int) -> None:
        issuer_id = str(args["issuerId"]).removeprefix("0x")
        issuer = session.get(ChainIssuer, issuer_id)
        if name == "IssuerRegistered":
            country = bytes.fromhex(str(args["country"]).removeprefix("0x")).decode(
                "ascii", "replace")
            session.add(ChainIssuer(
                issuer_id=issuer_id, country=country,
                kind=IssuerKind(int(args["kind"])).name.lower(),
                status=IssuerStatus.ACTIVE.name.lower(), admin=args["admin"],
                metadata_cid=args["metadataCid"], operators=[],
                registered_block=block_number, updated_block=block_number))
            session.flush()
            return
        if issuer is None:
            return  # an event for an issuer registered before the indexed range
        if name == "IssuerStatusChanged":
            issuer.status = IssuerStatus(int(args["newStatus"])).name.lower()
        elif name == "IssuerAdminChanged":
            issuer.admin = args["newAdmin"]
        elif name == "IssuerMetadataUpdated":
            issuer.metadata_cid = args["metadataCid"]
        elif name == "OperatorAdded":
            issuer.operators = sorted({*issuer.operators, args["operator"]})
        elif name == "OperatorRemoved":
            issuer.operators = sorted(set(issuer.operators) - {args["operator"]})
        issuer.updated_block = block_number

