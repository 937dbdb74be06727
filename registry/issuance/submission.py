"""Issuance's first stage, submission: validate and sign each document (on the worker
processes), store it (or its AES-256-GCM envelope) and record it in the outbox, in
submission order; bytes issued before are recognised by their hash and reported as
they stand instead of being signed again."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence, Sized
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from anchor.encryption import encrypt_document
from registry.db import DocumentState, IssuedDocument, transaction
from registry.db.directories import DirectoryLookup
from registry.db.rows import chunked
from registry.documents.directories import check_codes
from registry.documents.kinds import KindMetadata
from registry.documents.model import DocumentType
from registry.errors import DocumentError
from registry.issuance.outcomes import StoredCertificate, SubmissionResult, SubmissionStatus
from registry.issuance.pipeline import PIPELINE_AHEAD_MAX, RunPipeline, StoreAhead
from registry.issuance.state import STORE_BATCH_SIZE, IssuerState
from registry.preparation import DocumentSource, PreparationPool, Rejection, SignedCertificate
from registry.receipts import find_receipts

# Documents whose metadata one Issuer holds for sealing at most (beyond them, sealing
# reads the database): about 23 KB of Python objects each, so under 100 MB.
RECORDED_METADATA_MAX = 4_096
# What `_known` reads of an outbox row.
_KNOWN_COLUMNS = (IssuedDocument.sha256, IssuedDocument.source_sha256, IssuedDocument.cid,
                  IssuedDocument.encrypted, IssuedDocument.state, IssuedDocument.source_name)


class SubmissionStage(IssuerState):
    """`Issuer.submit` and the steps it is made of (with a pipeline from `Issuer.run`,
    `StoreAhead` also seals, anchors and indexes through the Issuer's other stages), and
    `Issuer.prepare` for one document."""

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
                "metadata": None if stored.encrypted else signed.public_metadata_json,
                "encrypted": stored.encrypted, "size": len(signed.data),
                "source_name": signed.source_name[-1024:],
                "state": DocumentState.STORED.value}

    @staticmethod
    def _accepted(stored: StoredCertificate) -> SubmissionResult:
        signed = stored.signed
        return SubmissionResult(signed.source_name, SubmissionStatus.ACCEPTED, signed.sha256,
                                stored.cid, stored.encrypted, key=stored.key,
                                warnings=signed.warnings)
