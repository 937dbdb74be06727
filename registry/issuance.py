"""NMI issuance: validate, sign, store, batch, anchor, index, write receipts — resumable.

A document moves through immutable stage values

    DocumentSource -> ValidatedCertificate -> SignedCertificate -> StoredCertificate
        -> (row in the outbox) -> SealedBatch -> AnchoringOutcome -> Receipt

and through persisted states, each written in one database transaction:

    issued_documents.state:  stored ──seal──> batched ──indexer──> anchored
    outbox_batches.state:    sealed ──sign, persist tx──> submitted ──indexer──> anchored

Every step is idempotent, so `run` after a crash at any point finishes the work:

* submit: the row is keyed by the SHA-256 of the bytes *as submitted* (and of the signed
  bytes), so re-submitting finds it instead of signing a second, different certificate.
  A crash between storing and recording leaves an unreferenced blob; nothing else.
* seal: the manifest is deterministic and put before the one transaction that records
  the batch and assigns its members; a crash before it leaves an unreferenced manifest.
* anchor: the signed transaction is committed BEFORE it is broadcast; afterwards only
  those bytes (same nonce, same hash) are re-sent, and the chain is asked first whether
  the root is anchored. Only if the nonce went to another transaction and the root is
  really not on chain is the batch signed again. The contract refuses a root twice.
* anchored: only the indexer marks rows anchored, from the chain's own events, so the
  database stays a projection of the chain (no anchored root without its manifest and
  recorded documents: the manifest is stored and recorded before the root is signed).
* receipts: one JSON file per document, written atomically; missing ones are rewritten.

Encrypted documents: the store holds the AES-256-GCM envelope, the anchored hash is the
SHA-256 of the signed plaintext, and the key is handed to the caller once, in the
`SubmissionResult`; it is never written to the database, the manifest or a log.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import os
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence, Sized
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from anchor.chain import (
    AnchoredBatch,
    RegistryClient,
    RevocationReason,
    SignedTransaction,
)
from anchor.encryption import encrypt_document
from anchor.errors import ChainError, ContractRevertError
from anchor.files import write_many_atomically
from anchor.merkle import MerkleBatch
from anchor.receipt import Receipt
from anchor.store import ContentStore
from registry.db import (
    BatchState,
    ChainBatch,
    ChainDocument,
    ChainRevocation,
    DocumentState,
    IssuedDocument,
    OutboxBatch,
    open_database,
    transaction,
)
from registry.db.directories import DirectoryLookup
from registry.db.rows import chunked
from registry.documents.directories import check_codes
from registry.documents.keys import (
    SigningIdentity,
    load_signing_identity_from_pem,
    load_signing_identity_from_pkcs12,
)
from registry.documents.kinds import KindMetadata
from registry.documents.model import DocumentType
from registry.documents.parse import DEFAULT_MAX_BYTES
from registry.errors import (
    ConfigurationError,
    DocumentAlreadyRevokedError,
    DocumentError,
    DocumentNotAnchoredError,
    DocumentNotFoundError,
    OperatorNotAuthorisedError,
    RegistryError,
)
from registry.index import BatchManifest, Indexer, IndexReport, ManifestCache, ManifestMember
from registry.issuance_outcomes import (
    AnchoringOutcome,
    IssuanceReport,
    ProgressListener,
    RevocationOutcome,
    SealedBatch,
    SilentProgress,
    StoredCertificate,
    SubmissionResult,
    SubmissionStatus,
    SupersessionOutcome,
)
from registry.issuance_pipeline import (
    PIPELINE_AHEAD_MAX,
    STORE_BATCH_SIZE,
    RunPipeline,
    StoreAhead,
    combined_index_reports,
)
from registry.preparation import (
    CertificatePreparer,
    DocumentSource,
    PreparationPool,
    Rejection,
    SignedCertificate,
    StageTimings,
    default_workers,
)
from registry.receipts import _RECEIPT_DOCUMENT_COLUMNS, build_receipt, find_receipt, find_receipts
from registry.settings import Settings

DEFAULT_BATCH_SIZE = 256
RECEIPTS_DIR = "receipts"
LOCK_FILE = "issuance.lock"


# ------------------------------------------------------------------- helpers


class _SealedMeanwhile(Exception):
    """Rolls back a seal whose members another process assigned first."""


def normalise_sha256(text: str) -> str:
    value = text.strip().lower().removeprefix("0x")
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise DocumentNotFoundError("a document hash is 64 hex digits (optionally 0x-prefixed)",
                                    value=text[:80])
    return value


def load_signing_identity(settings: Settings, chain_id: int) -> SigningIdentity | None:
    """The institute's signing identity from CERTREG_SIGNING_*; without them, the TEST
    identity `certreg up` made in the data directory (on the development chain only);
    None if there is neither."""
    if settings.signing_key is None:
        from registry.devnet import load_dev_signing_identity

        return load_dev_signing_identity(settings, chain_id)
    if settings.signing_password is None:
        raise ConfigurationError("CERTREG_SIGNING_PASSWORD is required to unlock "
                                 "CERTREG_SIGNING_KEY")
    password = settings.signing_password.get_secret_value()
    if settings.signing_key.suffix.lower() in (".p12", ".pfx"):
        return load_signing_identity_from_pkcs12(settings.signing_key, password=password)
    if settings.signing_certificate is None:
        raise ConfigurationError("CERTREG_SIGNING_CERTIFICATE is required with a PEM "
                                 "CERTREG_SIGNING_KEY")
    return load_signing_identity_from_pem(settings.signing_key, settings.signing_certificate,
                                          password=password)


# What `_known` reads of an outbox row.
_SEALED_COLUMNS = (IssuedDocument.id, IssuedDocument.sha256, IssuedDocument.cid,
                   IssuedDocument.document_type, IssuedDocument.encrypted,
                   IssuedDocument.unique_identifier)
# Documents whose metadata one Issuer holds for sealing at most (beyond them, sealing
# reads the database): about 23 KB of Python objects each, so under 100 MB.
RECORDED_METADATA_MAX = 4_096
_KNOWN_COLUMNS = (IssuedDocument.sha256, IssuedDocument.source_sha256, IssuedDocument.cid,
                  IssuedDocument.encrypted, IssuedDocument.state, IssuedDocument.source_name)

def _awaits_receipt(result: SubmissionResult) -> bool:
    return result.sha256 is not None and result.receipt is None and result.status in (
        SubmissionStatus.ACCEPTED, SubmissionStatus.ALREADY_PENDING)


# -------------------------------------------------------------------- issuer


class Issuer:
    """Issues documents for the issuer that `client`'s operator account serves on chain."""

    def __init__(self, *, client: RegistryClient, store: ContentStore,
                 sessions: sessionmaker[Session], issuer_id: bytes, data_dir: Path,
                 signing_identity: SigningIdentity | None, indexer: Indexer,
                 progress: ProgressListener | None = None,
                 max_document_bytes: int = DEFAULT_MAX_BYTES,
                 workers: int | None = None) -> None:
        """`workers`: processes validating and signing (default: one per core)."""
        self.client = client
        self.store = store
        self.sessions = sessions
        self.issuer_id = issuer_id
        self.issuer_hex = issuer_id.hex()
        self.data_dir = Path(data_dir)
        self.indexer = indexer
        self.progress = progress or SilentProgress()
        self.timings = StageTimings()
        self._lock_depth = 0
        # The metadata of outbox rows this object inserted and has not sealed yet, by
        # SHA-256, exactly as inserted: sealing takes it from here instead of decoding
        # the JSON column back (a fifth of the issuing process's time went to that).
        self._recorded_metadata: dict[str, Any] = {}
        self.workers = default_workers() if workers is None else workers
        self.preparer = CertificatePreparer(signing_identity,
                                            max_document_bytes=max_document_bytes,
                                            timings=self.timings)

    @classmethod
    def from_settings(cls, settings: Settings, *, progress: ProgressListener | None = None,
                      workers: int | None = None) -> Issuer:
        from registry.context import content_store, operator_account, registry_client

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        sessions = open_database(settings.effective_database_url)
        reader = registry_client(settings)
        client = reader.as_account(operator_account(settings, reader.chain_id))
        assert client.account is not None
        issuer_id = client.issuer_of_operator(client.account.address)
        if issuer_id is None:
            raise OperatorNotAuthorisedError(
                f"operator {client.account.address} serves no issuer on the registry at "
                f"{client.address}; an issuer admin must add it (`certreg issuer add-operator`)",
                operator=client.account.address)
        store = content_store(settings)
        indexer = Indexer(client, sessions, store, settings.confirmations,
                          manifests=ManifestCache(capacity=1))
        return cls(client=client, store=store, sessions=sessions, issuer_id=issuer_id,
                   data_dir=settings.data_dir,
                   signing_identity=load_signing_identity(settings, client.chain_id),
                   indexer=indexer, progress=progress,
                   max_document_bytes=settings.max_document_bytes, workers=workers)

    @property
    def receipts_dir(self) -> Path:
        return self.data_dir / RECEIPTS_DIR

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """One issuance process per data directory (the kernel drops the lock on SIGKILL).
        Re-entrant within this object (`supersede` runs `run` and `revoke`)."""
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.data_dir / LOCK_FILE, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ConfigurationError(f"another certreg issuance is running on "
                                         f"{self.data_dir}") from None
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0
                fcntl.flock(handle, fcntl.LOCK_UN)

    def prepare(self, source: DocumentSource, document_type: DocumentType | str,
                issuer_metadata: Mapping[str, object] | None = None, *,
                sign: bool = True) -> SignedCertificate:
        validated = self.preparer.validate(source, document_type, issuer_metadata)
        if isinstance(validated.document.metadata, KindMetadata):
            # Cited classifier codes must exist in the directory version in force.
            check_codes(validated.document.metadata, DirectoryLookup(self.sessions))
        return self.preparer.sign(validated, sign=sign)

    def _check_codes(self, prepared: SignedCertificate) -> Rejection | None:
        """Cited classifier codes must exist in the directory version in force. Checked
        here, not in the workers, because it reads the projection."""
        if prepared.kind_metadata is None:
            return None
        try:
            check_codes(prepared.kind_metadata, DirectoryLookup(self.sessions))
        except DocumentError as error:
            return Rejection(error.code, str(error))
        return None

    # ------------------------------------------------------------------- submit

    def submit(self, sources: Iterable[DocumentSource | Path | bytes],
               document_type: DocumentType | str = DocumentType.DCC, *,
               encrypt: bool = False, sign: bool = True,
               issuer_metadata: Mapping[str, object] | None = None,
               pipeline: RunPipeline | None = None) -> list[SubmissionResult]:
        """Validate, sign, store and record each document; report each one's outcome.

        Validation and signing run on `workers` processes; storing and recording stay
        here, in submission order, `STORE_BATCH_SIZE` documents per durable store write
        and per outbox transaction. A crash loses at most the batch being written, which
        the next run prepares again (nothing of it was recorded). With `pipeline` (from
        `run`), every full batch is sealed, anchored and indexed as soon as it is stored,
        while the workers go on preparing: the same outbox steps as after submission, in
        the same order, so the batches are the same ones."""
        # Sources are read one at a time: a run over 10,000 files holds a few in memory.
        total = len(sources) if isinstance(sources, Sized) else None
        self.progress.phase("submit", total)
        results: list[SubmissionResult | None] = []
        names: list[str] = []
        first_seen: dict[str, int] = {}
        repeats: list[tuple[int, int, str]] = []  # (index, index first seen, source SHA-256)

        def triage(group: list[tuple[int, DocumentSource]]
                   ) -> Iterator[tuple[int, DocumentSource]]:
            digests = [source.sha256 for _, source in group]  # each hashed once here
            known = self._known_many(digests)
            for (index, source), sha256 in zip(group, digests, strict=True):
                results.append(known.get(sha256))
                names.append(source.name)
                if results[index] is not None:
                    self.progress.advance()
                elif sha256 in first_seen:
                    repeats.append((index, first_seen[sha256], sha256))
                    self.progress.advance()
                else:
                    first_seen[sha256] = index
                    yield index, source

        def unknown_sources() -> Iterator[tuple[int, DocumentSource]]:
            # Looked up STORE_BATCH_SIZE at a time: one query for them, not one each.
            group: list[tuple[int, DocumentSource]] = []
            for index, item in enumerate(sources):
                group.append((index, self._as_source(item, index)))
                if len(group) >= STORE_BATCH_SIZE:
                    yield from triage(group)
                    group = []
            yield from triage(group)

        batch: list[tuple[int, SignedCertificate]] = []
        # While a store batch is written and recorded (and, pipelined, a full batch
        # anchored and indexed) the workers prepare the next ones.
        ahead = STORE_BATCH_SIZE if pipeline is None else STORE_BATCH_SIZE + min(
            pipeline.batch_size, PIPELINE_AHEAD_MAX)
        with PreparationPool(self.preparer, self.workers, ahead=ahead) as pool, \
                StoreAhead(self, encrypt, results, pipeline) as writer:
            for index, prepared in pool.prepare(unknown_sources(), document_type,
                                                issuer_metadata, sign=sign):
                if not isinstance(prepared, Rejection):
                    prepared = self._check_codes(prepared) or prepared
                if isinstance(prepared, Rejection):
                    results[index] = SubmissionResult(names[index], SubmissionStatus.REJECTED,
                                                      error_code=prepared.code,
                                                      error=prepared.message)
                    self.progress.advance()
                    continue
                batch.append((index, prepared))
                if len(batch) >= STORE_BATCH_SIZE:
                    writer.store(batch)
                    batch = []
            writer.store(batch)
            writer.finish()
        for index, first, sha256 in repeats:
            # The same bytes twice in one run: the first occurrence's outcome, as a later
            # run would report it.
            earlier = results[first]
            assert earlier is not None
            results[index] = (self._known(sha256) if earlier.status is not
                              SubmissionStatus.REJECTED else None) or dataclasses.replace(
                earlier, source_name=names[index], key=None)
        assert all(result is not None for result in results)
        return [result for result in results if result is not None]

    @staticmethod
    def _as_source(item: DocumentSource | Path | bytes, index: int) -> DocumentSource:
        if isinstance(item, DocumentSource):
            return item
        if isinstance(item, Path):
            return DocumentSource.from_path(item)
        return DocumentSource(f"<bytes #{index}>", bytes(item))

    def _known(self, sha256: str) -> SubmissionResult | None:
        """The outcome for bytes we issued before (as submitted, or as signed)."""
        return self._known_many([sha256]).get(sha256)

    def _known_many(self, sha256s: Sequence[str]) -> dict[str, SubmissionResult]:
        """`_known` for many digests, in one query (per 2,000); unknown ones left out."""
        wanted = set(sha256s)
        if not wanted:
            return {}
        with self.sessions() as session:
            # One lookup per unique index, not one OR over both: SQLite answers the OR by
            # scanning every row of the issuer, which made a run quadratic in the outbox.
            found_rows = {row.id: row for chunk in chunked(sorted(wanted))
                          for column in (IssuedDocument.source_sha256, IssuedDocument.sha256)
                          for row in session.execute(
                              select(IssuedDocument.id, *_KNOWN_COLUMNS).where(
                                  IssuedDocument.issuer_id == self.issuer_hex,
                                  column.in_(chunk)))}
            rows: dict[str, Any] = {}
            for _, row in sorted(found_rows.items()):
                for digest in (row.source_sha256, row.sha256):
                    if digest in wanted:
                        rows.setdefault(digest, row)  # the earliest row for it
            anchored = {row.sha256 for row in rows.values()
                        if row.state == DocumentState.ANCHORED.value}
            receipts = find_receipts(session, self.client, anchored,
                                     prefer_issuer=self.issuer_hex) if anchored else {}
        found = {}
        for digest, row in rows.items():
            if row.state == DocumentState.ANCHORED.value:
                found[digest] = SubmissionResult(
                    row.source_name or "", SubmissionStatus.ALREADY_ANCHORED, row.sha256,
                    row.cid, row.encrypted, receipt=receipts.get(row.sha256))
            else:
                found[digest] = SubmissionResult(
                    row.source_name or "", SubmissionStatus.ALREADY_PENDING, row.sha256,
                    row.cid, row.encrypted)
        return found

    def store_documents(self, documents: Sequence[SignedCertificate], *,
                        encrypt: bool) -> list[StoredCertificate]:
        """Put the documents (or their AES-256-GCM envelopes) in one durable store write."""
        with self.timings.measure("store"):
            if encrypt:
                envelopes = [encrypt_document(signed.data) for signed in documents]
                cids = self.store.put_many([envelope for envelope, _ in envelopes])
                return [StoredCertificate(signed, str(cid), True, key) for signed, cid, (_, key)
                        in zip(documents, cids, envelopes, strict=True)]
            cids = self.store.put_many([signed.data for signed in documents])
            return [StoredCertificate(signed, str(cid), False)
                    for signed, cid in zip(documents, cids, strict=True)]

    def record_many(self, stored: Sequence[StoredCertificate]) -> list[SubmissionResult]:
        """Insert the outbox rows in one transaction; if any of them was recorded meanwhile
        (another process, same bytes), one transaction each so that one is reported."""
        try:
            with self.timings.measure("record"), transaction(self.sessions) as session:
                # One executemany of plain rows (Core), not ORM objects through a flush.
                rows = [self._outbox_row(item) for item in stored]
                session.execute(insert(IssuedDocument.__table__), rows)
        except IntegrityError:
            return [self.record(item) for item in stored]
        if len(self._recorded_metadata) < RECORDED_METADATA_MAX:
            self._recorded_metadata.update((row["sha256"], row["metadata"]) for row in rows)
        return [self._accepted(item) for item in stored]

    def record(self, stored: StoredCertificate) -> SubmissionResult:
        """Insert the outbox row (one transaction): from now on the document is pending."""
        try:
            with self.timings.measure("record"), transaction(self.sessions) as session:
                session.execute(insert(IssuedDocument.__table__), [self._outbox_row(stored)])
        except IntegrityError:
            # Recorded meanwhile (another process, same bytes): report that row instead.
            known = self._known(stored.signed.sha256)
            if known is not None:
                return known
            raise
        return self._accepted(stored)

    def _outbox_row(self, stored: StoredCertificate) -> dict[str, Any]:
        """The issued_documents row of a stored document, by column name (its id and
        created_at are the table's defaults)."""
        signed = stored.signed
        return {"issuer_id": self.issuer_hex, "sha256": signed.sha256,
                "source_sha256": signed.source_sha256, "cid": stored.cid,
                "document_type": signed.document_type.value,
                "unique_identifier": None if stored.encrypted else signed.unique_identifier,
                "metadata": None if stored.encrypted else signed.public_metadata,
                "encrypted": stored.encrypted, "size": len(signed.data),
                "source_name": signed.source_name[-1024:],
                "state": DocumentState.STORED.value}

    @staticmethod
    def _accepted(stored: StoredCertificate) -> SubmissionResult:
        signed = stored.signed
        return SubmissionResult(signed.source_name, SubmissionStatus.ACCEPTED, signed.sha256,
                                stored.cid, stored.encrypted, key=stored.key,
                                warnings=signed.warnings)

    # --------------------------------------------------------------------- seal

    def seal_batches(self, batch_size: int = DEFAULT_BATCH_SIZE, *,
                     full_only: bool = False) -> list[SealedBatch]:
        """Group stored documents, in submission order, into batches of `batch_size` (the
        last may be smaller, unless `full_only`): manifest to the content store, then one
        transaction."""
        if batch_size < 1:
            raise ConfigurationError("the batch size is at least 1")
        with self.sessions() as session:
            pending = session.scalar(select(func.count()).select_from(IssuedDocument).where(
                IssuedDocument.issuer_id == self.issuer_hex,
                IssuedDocument.state == DocumentState.STORED.value))
        self.progress.phase("seal", pending)
        sealed: list[SealedBatch] = []
        lost_race_on: int | None = None
        while True:
            with self.sessions() as session:
                members = session.execute(
                    select(*_SEALED_COLUMNS).where(
                        IssuedDocument.issuer_id == self.issuer_hex,
                        IssuedDocument.state == DocumentState.STORED.value)
                    .order_by(IssuedDocument.id).limit(batch_size)).all()
                if not members or (full_only and len(members) < batch_size):
                    return sealed
                metadata = self._metadata_of(session, members)
            batch = self._seal(members, metadata)
            if batch is None:
                if lost_race_on == members[0].id:
                    raise ConfigurationError("cannot seal: the same documents keep being "
                                             "taken by another process")
                lost_race_on = members[0].id
                continue
            sealed.append(batch)
            self.progress.advance(len(batch.document_sha256s))

    def _metadata_of(self, session: Session, members: Sequence[Any]) -> list[Any]:
        """The members' metadata column, in order: as this object inserted it where it
        did, from the database for the rest (rows of an earlier run or another process)."""
        cached = self._recorded_metadata
        missing = [m.id for m in members if m.sha256 not in cached]
        stored = {row.id: row.metadata for chunk in chunked(missing) for row in session.execute(
            select(IssuedDocument.id, IssuedDocument.public_metadata.label("metadata"))
            .where(IssuedDocument.id.in_(chunk)))}
        return [cached.pop(m.sha256) if m.sha256 in cached else stored[m.id]
                for m in members]

    def _seal(self, members: Sequence[Any], metadata: Sequence[Any]) -> SealedBatch | None:
        with self.timings.measure("batch"):
            tree = MerkleBatch.of(bytes.fromhex(m.sha256) for m in members)
            root = tree.root.hex()
            manifest = BatchManifest(self.issuer_hex, root, tuple(
                ManifestMember(sha256=m.sha256, cid=m.cid, document_type=m.document_type,
                               encrypted=m.encrypted, unique_identifier=m.unique_identifier,
                               metadata=value)
                for m, value in zip(members, metadata, strict=True)))
            manifest_cid = str(self.store.put(manifest.to_bytes()))
            ids = [m.id for m in members]
            try:
                with transaction(self.sessions) as session:
                    session.add(OutboxBatch(root=root, issuer_id=self.issuer_hex,
                                            count=len(members), manifest_cid=manifest_cid,
                                            state=BatchState.SEALED.value))
                    session.flush()
                    assigned = session.execute(
                        update(IssuedDocument)
                        .where(IssuedDocument.id.in_(ids),
                               IssuedDocument.state == DocumentState.STORED.value)
                        .values(state=DocumentState.BATCHED.value, batch_root=root)).rowcount
                    if assigned != len(ids):
                        raise _SealedMeanwhile
            except (_SealedMeanwhile, IntegrityError):
                # Another process sealed some of them first: nothing was written; go on.
                return None
        if self.indexer.store is self.store:  # the bytes the indexer would read for the CID
            self.indexer.manifests.remember(manifest_cid, manifest, tree)
        return SealedBatch(root, manifest_cid, tuple(m.sha256 for m in members))

    # ------------------------------------------------------------------- anchor

    def anchor_pending(self) -> list[AnchoringOutcome]:
        """Get every sealed or submitted batch onto the chain, exactly once each."""
        with self.sessions() as session:
            batches = session.scalars(select(OutboxBatch).where(
                OutboxBatch.issuer_id == self.issuer_hex,
                OutboxBatch.state.in_([BatchState.SEALED.value, BatchState.SUBMITTED.value]))
                .order_by(OutboxBatch.id)).all()
        self.progress.phase("anchor", len(batches))
        outcomes = []
        for batch in batches:
            with self.timings.measure("anchor"):
                outcomes.append(self._anchor(batch))
            self.progress.advance()
        return outcomes

    def _anchor(self, batch: OutboxBatch) -> AnchoringOutcome:
        root = bytes.fromhex(batch.root)
        if batch.signed_tx is None:
            found = self.client.find_anchoring(root)
            if found is not None:
                return self._outcome(batch, found)
            signed = self._sign_and_persist(batch)
            if signed is None:
                return self._outcome(batch, self.client.complete_anchoring(root, None))
            return self._outcome(batch, self.client.complete_anchoring(root, signed))
        persisted = SignedTransaction(bytes.fromhex(batch.signed_tx), batch.tx_hash or "",
                                      batch.tx_nonce or 0, batch.tx_sender or "")
        try:
            return self._outcome(batch, self.client.complete_anchoring(root, persisted))
        except ContractRevertError:
            raise
        except ChainError as exc:
            if not exc.message.startswith("nonce already used"):
                raise
        # The persisted transaction can never be mined (its nonce went to another
        # transaction). Sign again only if the root is really not on chain.
        found = self.client.find_anchoring(root)
        if found is not None:
            return self._outcome(batch, found)
        signed = self._sign_and_persist(batch, replace=True)
        assert signed is not None
        return dataclasses.replace(
            self._outcome(batch, self.client.complete_anchoring(root, signed)), re_signed=True)

    def _sign_and_persist(self, batch: OutboxBatch, *,
                          replace: bool = False) -> SignedTransaction | None:
        """Sign the anchoring and commit it before anything is sent; None if the root
        turned out to be anchored already."""
        root = bytes.fromhex(batch.root)
        try:
            signed = self.client.prepare_anchor_batch(root, batch.count, batch.manifest_cid)
        except ContractRevertError as exc:
            if exc.error_name == "BatchRootAlreadyAnchored":
                return None
            raise
        with transaction(self.sessions) as session:
            condition = [OutboxBatch.id == batch.id]
            if not replace:
                condition.append(OutboxBatch.signed_tx.is_(None))
            stored = session.execute(update(OutboxBatch).where(*condition).values(
                signed_tx=signed.raw.hex(), tx_hash=signed.transaction_hash,
                tx_nonce=signed.nonce, tx_sender=signed.sender,
                state=BatchState.SUBMITTED.value,
                submitted_at=dt.datetime.now(dt.UTC))).rowcount
        if stored != 1:
            raise ConfigurationError("another process is anchoring this batch")
        return signed

    @staticmethod
    def _outcome(batch: OutboxBatch, anchored: AnchoredBatch) -> AnchoringOutcome:
        return AnchoringOutcome(batch.root, anchored.batch.batch_id, anchored.transaction_hash,
                                anchored.already_anchored)

    # ------------------------------------------------------------ index+receipts

    def index(self) -> IndexReport:
        self.progress.phase("index", None)
        with self.timings.measure("index"):
            return self.indexer.catch_up()

    def write_receipts(self) -> int:
        """Write the receipt of every anchored document of this issuer that lacks one."""
        self.receipts_dir.mkdir(parents=True, exist_ok=True)
        present = {name.removesuffix(".json") for name in os.listdir(self.receipts_dir)}
        missing = [row for row in self.receipt_rows() if row.sha256 not in present]
        self.progress.phase("receipts", len(missing))
        for start in range(0, len(missing), STORE_BATCH_SIZE):
            chunk = missing[start:start + STORE_BATCH_SIZE]
            self.write_receipt_files(self.receipt_files(chunk))
            self.progress.advance(len(chunk))
        return len(missing)

    def receipt_rows(self, batch_roots: Collection[str] | None = None) -> list[Any]:
        """Each anchored document of this issuer (of those batches only, if given) with
        its anchoring, in submission order."""
        query = (select(*_RECEIPT_DOCUMENT_COLUMNS, ChainBatch)
                 .select_from(IssuedDocument)
                 .join(ChainBatch, ChainBatch.root == IssuedDocument.batch_root)
                 .join(ChainDocument, (ChainDocument.batch_id == ChainBatch.batch_id)
                       & (ChainDocument.sha256 == IssuedDocument.sha256))
                 .where(IssuedDocument.issuer_id == self.issuer_hex,
                        IssuedDocument.state == DocumentState.ANCHORED.value)
                 .order_by(IssuedDocument.id))
        if batch_roots is not None:
            query = query.where(IssuedDocument.batch_root.in_(list(batch_roots)))
        with self.sessions() as session:
            return list(session.execute(query).all())

    def receipt_files(self, rows: Sequence[Any]) -> list[tuple[Path, bytes]]:
        with self.timings.measure("receipt"):
            return [(self.receipts_dir / f"{row.sha256}.json",
                     build_receipt(self.client, row, row.ChainBatch).to_json().encode())
                    for row in rows]

    def write_receipt_files(self, files: Sequence[tuple[Path, bytes]]) -> None:
        # Each file is complete or absent after a crash; one sync per batch of them.
        with self.timings.measure("receipt"):
            write_many_atomically(files)

    def _receipt_or_none(self, session: Session, sha256: str,
                         issuer_hex: str | None = None) -> Receipt | None:
        return find_receipt(session, self.client, sha256, issuer_hex=issuer_hex,
                            prefer_issuer=self.issuer_hex)

    def receipt_for(self, sha256: str) -> Receipt:
        """The receipt of an anchored document (ours preferred), from the projection."""
        sha256 = normalise_sha256(sha256)
        with self.sessions() as session:
            receipt = self._receipt_or_none(session, sha256)
            if receipt is not None:
                return receipt
            issued = session.scalar(select(IssuedDocument.state).where(
                IssuedDocument.issuer_id == self.issuer_hex, IssuedDocument.sha256 == sha256))
        if issued is not None:
            raise DocumentNotAnchoredError(f"document 0x{sha256} is {issued}, not anchored yet",
                                           state=issued)
        raise DocumentNotFoundError(f"no anchored document 0x{sha256} is known",
                                    sha256=sha256)

    # ---------------------------------------------------------------------- run

    def run(self, sources: Iterable[DocumentSource | Path | bytes],
            document_type: DocumentType | str = DocumentType.DCC, *,
            batch_size: int = DEFAULT_BATCH_SIZE, encrypt: bool = False, sign: bool = True,
            issuer_metadata: Mapping[str, object] | None = None) -> IssuanceReport:
        """submit + seal + anchor + index + receipts; re-running after a crash finishes."""
        if batch_size < 1:
            raise ConfigurationError("the batch size is at least 1")
        with self.exclusive():
            pipeline = RunPipeline(batch_size)
            submissions = self.submit(sources, document_type, encrypt=encrypt, sign=sign,
                                      issuer_metadata=issuer_metadata, pipeline=pipeline)
            return self._finish(submissions, batch_size, pipeline)

    def resume(self, batch_size: int = DEFAULT_BATCH_SIZE) -> IssuanceReport:
        """Finish whatever earlier runs left pending, without submitting anything new."""
        with self.exclusive():
            return self._finish([], batch_size)

    def _finish(self, submissions: list[SubmissionResult], batch_size: int,
                pipeline: RunPipeline | None = None) -> IssuanceReport:
        pipeline = pipeline or RunPipeline(batch_size)
        sealed = [*pipeline.sealed, *self.seal_batches(batch_size)]
        anchored = [*pipeline.anchored, *self.anchor_pending()]
        index_report = combined_index_reports([*pipeline.index_reports, self.index()])
        written = pipeline.receipts_written + self.write_receipts()
        with self.sessions() as session:
            pending = len(session.scalars(select(IssuedDocument.id).where(
                IssuedDocument.issuer_id == self.issuer_hex,
                IssuedDocument.state != DocumentState.ANCHORED.value)).all())
            # The receipts of the documents accepted or pending, in one query.
            waiting = [r.sha256 for r in submissions if _awaits_receipt(r) and r.sha256]
            receipts = find_receipts(session, self.client, waiting,
                                     issuer_hex=self.issuer_hex,
                                     prefer_issuer=self.issuer_hex) if waiting else {}
            final = [dataclasses.replace(r, receipt=receipts[r.sha256])
                     if _awaits_receipt(r) and r.sha256 in receipts else r
                     for r in submissions]
        self.progress.phase("done", None)
        return IssuanceReport(tuple(final), tuple(sealed), tuple(anchored), index_report,
                              written, pending)

    # --------------------------------------------------------------- revocation

    def revoke(self, sha256: str, reason: RevocationReason,
               replacement: str | None = None,
               effective_from: int | None = None) -> RevocationOutcome:
        """Revoke one of this issuer's anchored documents (proof from the projection)."""
        sha256 = normalise_sha256(sha256)
        replacement_hex = None if replacement is None else normalise_sha256(replacement)
        self.indexer.catch_up()
        with self.sessions() as session:
            document = session.scalars(select(ChainDocument).where(
                ChainDocument.sha256 == sha256, ChainDocument.issuer_id == self.issuer_hex)
                .order_by(ChainDocument.batch_id)).first()
            revoked = session.scalars(select(ChainRevocation).where(
                ChainRevocation.issuer_id == self.issuer_hex,
                ChainRevocation.document_sha256 == sha256)).first()
            issued_state = session.scalar(select(IssuedDocument.state).where(
                IssuedDocument.issuer_id == self.issuer_hex, IssuedDocument.sha256 == sha256))
        if document is None:
            if issued_state is not None:
                raise DocumentNotAnchoredError(
                    f"document 0x{sha256} is {issued_state}; run `certreg issue` to finish "
                    "anchoring it before revoking", state=issued_state)
            raise DocumentNotFoundError(f"this issuer has no anchored document 0x{sha256}",
                                        sha256=sha256)
        if revoked is not None:
            if revoked.reason == reason.name.lower() and revoked.replacement == replacement_hex:
                # Same request again (e.g. a re-run of `supersede`): done already.
                return RevocationOutcome(sha256, revoked.batch_id, reason, revoked.replacement,
                                         None, revoked.block_number)
            raise DocumentAlreadyRevokedError(
                f"document 0x{sha256} was revoked already ({revoked.reason}); revocation is "
                "irreversible", reason=revoked.reason)
        try:
            outcome = self.client.revoke(
                bytes.fromhex(sha256), document.batch_id,
                [bytes.fromhex(p[2:]) for p in document.proof], reason,
                None if replacement_hex is None else bytes.fromhex(replacement_hex),
                effective_from or 0)
        except ContractRevertError as exc:
            if exc.error_name == "RevocationAlreadyRevoked":
                raise DocumentAlreadyRevokedError(
                    f"document 0x{sha256} was revoked already", sha256=sha256) from None
            raise
        self.indexer.catch_up()
        return RevocationOutcome(sha256, document.batch_id, reason, replacement_hex,
                                 outcome.transaction_hash, outcome.block_number)

    def supersede(self, old_sha256: str, new_document: DocumentSource | Path,
                  document_type: DocumentType | str = DocumentType.DCC, *,
                  encrypt: bool = False, batch_size: int = DEFAULT_BATCH_SIZE
                  ) -> SupersessionOutcome:
        """Issue the corrected certificate, then revoke the old one as SUPERSEDED by it.

        Re-running after a crash finds the new document issued (by its input hash) and
        completes the revocation; the old one is never revoked before the new one is
        anchored.
        """
        with self.exclusive():
            return self._supersede(normalise_sha256(old_sha256), new_document, document_type,
                                   encrypt, batch_size)

    def _supersede(self, old: str, new_document: DocumentSource | Path,
                   document_type: DocumentType | str, encrypt: bool,
                   batch_size: int) -> SupersessionOutcome:
        self.indexer.catch_up()
        with self.sessions() as session:
            if session.scalar(select(ChainDocument.id).where(
                    ChainDocument.sha256 == old,
                    ChainDocument.issuer_id == self.issuer_hex).limit(1)) is None:
                raise DocumentNotFoundError(
                    f"this issuer has no anchored document 0x{old} to supersede", sha256=old)
        report = self.run([new_document], document_type, batch_size=batch_size,
                          encrypt=encrypt)
        (new,) = report.submissions
        if new.status is SubmissionStatus.REJECTED:
            raise DocumentError(f"the replacement was rejected: {new.error}",
                                rejected_with=new.error_code)
        if new.sha256 is None or new.receipt is None:
            raise DocumentNotAnchoredError("the replacement is not anchored yet; run again")
        if new.sha256 == old:
            raise RegistryError("a document cannot supersede itself")
        revocation = self.revoke(old, RevocationReason.SUPERSEDED, replacement=new.sha256)
        return SupersessionOutcome(old, new, revocation)
