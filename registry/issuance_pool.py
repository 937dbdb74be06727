"""Validate and sign documents on every core, handing the results back in submission order.

Validation and signing are CPU-bound and independent per document; storing and recording
are not, and stay in the calling process, so the outbox remains the single source of truth
(see registry.issuance). Workers are forked from the caller, so they inherit its signing
identity: the key is loaded and decrypted once, by the caller, and never crosses a pipe.
A worker holds nothing that needs saving: killed at any point, the documents it was
preparing are simply prepared again by the next run.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias, TypeVar

from registry.documents.model import DocumentType
from registry.errors import ConfigurationError, DocumentError

if TYPE_CHECKING:  # registry.issuance imports this module
    from registry.issuance import CertificatePreparer, DocumentSource, SignedCertificate

# Results each worker may have queued ahead of the caller: enough to keep both cores busy
# while the caller stores and records, little enough that memory does not grow with N.
IN_FLIGHT_PER_WORKER = 8

T = TypeVar("T")


@dataclass(frozen=True)
class Rejection:
    """A document refused by validation or signature checks (a DocumentError, by value)."""

    code: str
    message: str


Prepared: TypeAlias = "SignedCertificate | Rejection"

_worker_preparer: CertificatePreparer | None = None


def default_workers() -> int:
    """One worker per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _install_preparer(preparer: CertificatePreparer) -> None:
    global _worker_preparer
    _worker_preparer = preparer


def _prepare_in_worker(source: DocumentSource, document_type: DocumentType | str,
                       issuer_metadata: Mapping[str, object] | None,
                       sign: bool) -> tuple[Prepared, dict[str, float]]:
    preparer = _worker_preparer
    assert preparer is not None, "the pool initialiser did not run"
    preparer.timings.seconds.clear()
    return prepare_one(preparer, source, document_type, issuer_metadata, sign), dict(
        preparer.timings.seconds)


def prepare_one(preparer: CertificatePreparer, source: DocumentSource,
                document_type: DocumentType | str,
                issuer_metadata: Mapping[str, object] | None, sign: bool) -> Prepared:
    try:
        return preparer.prepare(source, document_type, issuer_metadata, sign=sign)
    except DocumentError as exc:
        return Rejection(exc.code, exc.message)


class PreparationPool:
    """`prepare_one` over many documents, on `workers` processes (1: in this process)."""

    def __init__(self, preparer: CertificatePreparer, workers: int) -> None:
        if workers < 1:
            raise ConfigurationError("at least one worker is needed", workers=workers)
        self.preparer = preparer
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> PreparationPool:
        if self.workers > 1:
            # fork: the workers inherit the unlocked signing key instead of receiving it.
            self._executor = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("fork"),
                initializer=_install_preparer, initargs=(self.preparer,))
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def prepare(self, items: Iterable[tuple[T, DocumentSource]],
                document_type: DocumentType | str,
                issuer_metadata: Mapping[str, object] | None, *,
                sign: bool) -> Iterator[tuple[T, Prepared]]:
        """(tag, prepared) for each (tag, source), in the order given."""
        if self._executor is None:
            for tag, source in items:
                yield tag, prepare_one(self.preparer, source, document_type,
                                       issuer_metadata, sign)
            return
        executor = self._executor
        pending: deque[tuple[T, Future[tuple[Prepared, dict[str, float]]]]] = deque()
        limit = self.workers * IN_FLIGHT_PER_WORKER
        for tag, source in items:
            pending.append((tag, executor.submit(_prepare_in_worker, source, document_type,
                                                 issuer_metadata, sign)))
            while len(pending) >= limit or (pending and pending[0][1].done()):
                yield self._collect(pending)
        while pending:
            yield self._collect(pending)

    def _collect(self, pending: deque[tuple[T, Future[tuple[Prepared, dict[str, float]]]]]
                 ) -> tuple[T, Prepared]:
        tag, future = pending.popleft()
        prepared, seconds = future.result()
        for stage, spent in seconds.items():
            # Summed over the workers: CPU time per stage, not wall time.
            self.preparer.timings.seconds[stage] = (
                self.preparer.timings.seconds.get(stage, 0.0) + spent)
        return tag, prepared
