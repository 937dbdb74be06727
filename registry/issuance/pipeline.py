"""How `Issuer.run` overlaps its stages: full batches sealed, anchored and indexed while
the workers prepare the next documents (`RunPipeline`), and each group of documents
stored on a thread while the one before it is recorded (`StoreAhead`).

Both only reorder work in time: the outbox sees the same steps in the same order as
submitting everything and then sealing, anchoring and indexing, which the differential
test of tests/registry/test_issuance_pipeline.py checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from registry.index import IndexReport
from registry.issuance.outcomes import (
    AnchoringOutcome,
    SealedBatch,
    SilentProgress,
    StoredCertificate,
    SubmissionResult,
)
from registry.preparation import SignedCertificate

if TYPE_CHECKING:
    from registry.issuance.issuer import Issuer

# Prepared documents the workers may hold while a full batch is sealed, anchored and
# indexed during submission (about 50 KB each in memory).
PIPELINE_AHEAD_MAX = 1_024


@dataclass
class RunPipeline:
    """What `run` did while submitting: full batches sealed, anchored and indexed as soon
    as they were stored, so that the workers prepare the next documents meanwhile."""

    batch_size: int
    unsealed: int = 0  # stored by this submission since the last seal
    sealed: list[SealedBatch] = field(default_factory=list)
    anchored: list[AnchoringOutcome] = field(default_factory=list)
    index_reports: list[IndexReport] = field(default_factory=list)
    receipts_written: int = 0


class StoreAhead:
    """Stores each group of prepared documents on a thread of its own while the issuing
    process records the group before it and takes in the next: writing files spends its
    time waiting on the filesystem, which the process can use.

    A group is recorded in the outbox only after its store write has returned (the
    documents are durable), in submission order, so a crash leaves exactly what storing
    then recording in line would: recorded groups complete, the others to prepare again.
    Before a full batch is sealed, anchored and indexed the store is left idle (`drain`),
    so no other use of it overlaps the thread's. The receipts of a batch indexed during
    submission are written on the same thread; `finish` waits for them.
    """

    def __init__(self, issuer: Issuer, encrypt: bool, results: list[SubmissionResult | None],
                 pipeline: RunPipeline | None) -> None:
        self.issuer = issuer
        self.encrypt = encrypt
        self.results = results
        self.pipeline = pipeline
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="certreg-store")
        self._pending: tuple[Future[list[StoredCertificate]], list[int]] | None = None
        self._receipt_writes: list[tuple[Future[None], int]] = []

    def __enter__(self) -> StoreAhead:
        return self

    def __exit__(self, *exc_info: object) -> None:
        # On an error the group in flight is written but not recorded, as after a crash.
        self._thread.shutdown(wait=True)

    def store(self, batch: Sequence[tuple[int, SignedCertificate]]) -> None:
        if not batch:
            return
        stored = self._thread.submit(self.issuer.store_documents,
                                     [signed for _, signed in batch], encrypt=self.encrypt)
        previous, self._pending = self._pending, (stored, [index for index, _ in batch])
        if previous is not None:
            self._record(*previous)
        pipeline = self.pipeline
        if pipeline is not None and pipeline.unsealed + len(batch) >= pipeline.batch_size:
            self.drain()
            sealed = anchor_full_batches(self.issuer, pipeline)
            if sealed:
                self._write_receipts_of(pipeline, sealed)

    def _write_receipts_of(self, pipeline: RunPipeline, sealed: Sequence[SealedBatch]) -> None:
        """The receipts of the documents of batches anchored and indexed just now, built
        here and written on the thread, so that `run` ends with fewer left to write."""
        issuer = self.issuer
        issuer.receipts_dir.mkdir(parents=True, exist_ok=True)
        rows = [row for row in issuer.receipt_rows([batch.root for batch in sealed])
                if not (issuer.receipts_dir / f"{row.sha256}.json").exists()]
        for files in issuer.receipt_file_chunks(rows):
            self._receipt_writes.append(
                (self._thread.submit(issuer.write_receipt_files, files), len(files)))

    def finish(self) -> None:
        """Record the group in flight and wait for every receipt written here (an error
        writing one is raised here, as writing it in line would have)."""
        self.drain()
        for written, count in self._receipt_writes:
            written.result()
            if self.pipeline is not None:
                self.pipeline.receipts_written += count
        self._receipt_writes.clear()

    def drain(self) -> None:
        """Wait for the group in flight and record it."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._record(*pending)

    def _record(self, stored: Future[list[StoredCertificate]], indexes: list[int]) -> None:
        for index, result in zip(indexes, self.issuer.record_many(stored.result()),
                                 strict=True):
            self.results[index] = result
            self.issuer.progress.advance()
        if self.pipeline is not None:
            self.pipeline.unsealed += len(indexes)


def anchor_full_batches(issuer: Issuer, pipeline: RunPipeline) -> list[SealedBatch]:
    """Seal, anchor and index every full batch of stored documents, quietly (the
    progress shown is the submission's); the batches sealed."""
    if pipeline.unsealed < pipeline.batch_size:
        return []
    shown, issuer.progress = issuer.progress, SilentProgress()
    try:
        sealed = issuer.seal_batches(pipeline.batch_size, full_only=True)
        pipeline.unsealed = max(0, pipeline.unsealed - sum(
            len(batch.document_sha256s) for batch in sealed))
        if sealed:
            pipeline.sealed.extend(sealed)
            pipeline.anchored.extend(issuer.anchor_pending())
            pipeline.index_reports.append(issuer.index())
    finally:
        issuer.progress = shown
    return sealed


def combined_index_reports(reports: Sequence[IndexReport]) -> IndexReport | None:
    """Several catch-ups of one run as one report (their blocks are consecutive)."""
    if not reports:
        return None
    first, last = reports[0], reports[-1]
    return IndexReport(first.from_block, last.to_block, sum(r.events for r in reports),
                       sum(r.batches for r in reports), sum(r.revocations for r in reports),
                       last.manifests_missing, next((r.reorg_rolled_back_to for r in reports
                                                     if r.reorg_rolled_back_to is not None),
                                                    None))
