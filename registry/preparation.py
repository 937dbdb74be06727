"""Everything before a document is stored: validate, sign (unless signed already), hash
(`CertificatePreparer`), on every core (`PreparationPool`), handing the results back in
submission order.

Validation and signing are CPU-bound and independent per document; storing and recording
are not, and stay in the calling process, so the outbox remains the single source of truth
(see registry.issuance). Workers are forked from the caller, so they inherit its signing
identity: the key is loaded and decrypted once, by the caller, and never crosses a pipe.
A worker holds nothing that needs saving: killed at any point, the documents it was
preparing are simply prepared again by the next run.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import itertools
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

from registry.documents.keys import SigningIdentity
from registry.documents.kinds import KindMetadata
from registry.documents.metadata import DccMetadata
from registry.documents.model import CanonicalJson, DocumentType, ValidatedDocument
from registry.documents.parse import DEFAULT_MAX_BYTES
from registry.documents.signing import SignatureStatus, sign_document, verify_signature
from registry.documents.validate import load_document
from registry.errors import (
    ConfigurationError,
    DocumentAlreadySignedError,
    DocumentError,
    SignatureInvalidError,
)

# ------------------------------------------------------------------ stage values


@dataclass(frozen=True)
class DocumentSource:
    """Bytes as submitted, with a name for reports (a file path, or what the caller says)."""

    name: str
    data: bytes = field(repr=False)

    @classmethod
    def from_path(cls, path: Path) -> DocumentSource:
        return cls(str(path), path.read_bytes())

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


# The warning on every document signed here by a TEST identity (`certreg up`'s, or one
# from `certreg keys signing new`): its signature vouches for nobody.
TEST_SIGNER_WARNING = "signed-by-test-identity"


@dataclass(frozen=True)
class ValidatedCertificate:
    source: DocumentSource
    document: ValidatedDocument


@dataclass(frozen=True)
class SignedCertificate:
    """The exact bytes that get stored and anchored, and what we publish about them."""

    source_name: str
    source_sha256: str
    data: bytes = field(repr=False)
    sha256: str
    document_type: DocumentType
    unique_identifier: str | None
    # Encoded once, here (in the worker): see CanonicalJson.
    public_metadata_json: CanonicalJson | None
    signed_here: bool  # False: arrived signed (signature verified) or was anchored unsigned
    warnings: tuple[str, ...] = ()
    # A typed document's metadata, for the checks that need the projection (codes).
    kind_metadata: KindMetadata | None = field(default=None, repr=False, compare=False)

    @property
    def public_metadata(self) -> dict[str, Any] | None:
        """What is published about the document, as a JSON value."""
        return None if self.public_metadata_json is None else self.public_metadata_json.decoded()


def _public_metadata(document: ValidatedDocument) -> tuple[str | None, CanonicalJson]:
    metadata = document.metadata
    if isinstance(metadata, DccMetadata):
        return metadata.unique_identifier, CanonicalJson(metadata.to_json())
    return metadata.identifier, CanonicalJson.of(metadata.to_json())


@dataclass
class StageTimings:
    """Seconds spent per stage (for the benchmark and the summary)."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def measure(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start


# ------------------------------------------------------------------ preparer


class CertificatePreparer:
    """Validate, sign (unless signed already), hash: no chain, store or database needed."""

    def __init__(self, signing_identity: SigningIdentity | None, *,
                 max_document_bytes: int = DEFAULT_MAX_BYTES,
                 timings: StageTimings | None = None) -> None:
        self.signing_identity = signing_identity
        self.max_document_bytes = max_document_bytes
        self.timings = timings or StageTimings()

    def validate(self, source: DocumentSource, document_type: DocumentType | str,
                 issuer_metadata: Mapping[str, object] | None = None) -> ValidatedCertificate:
        with self.timings.measure("validate"):
            document = load_document(source.data, document_type, issuer_metadata,
                                     max_bytes=self.max_document_bytes)
        return ValidatedCertificate(source, document)

    def sign(self, validated: ValidatedCertificate, *, sign: bool = True) -> SignedCertificate:
        """Sign with the institute's identity unless already signed (then it must verify)."""
        document = validated.document
        # Both hashes were taken already: of the submitted bytes by validation, of the
        # signed bytes by signing; the document keeps the submitted bytes unless signed here.
        data, sha256, signed_here = document.raw, document.sha256, False
        if document.media_type == "application/xml":
            with self.timings.measure("sign"):
                data, sha256, signed_here = self._sign_xml(document, sign)
        unique_identifier, metadata = _public_metadata(document)
        return SignedCertificate(
            source_name=validated.source.name, source_sha256=document.sha256,
            data=data, sha256=sha256, document_type=document.document_type,
            unique_identifier=unique_identifier, public_metadata_json=metadata,
            signed_here=signed_here, warnings=tuple(w.code for w in document.warnings) + (
                (TEST_SIGNER_WARNING,) if signed_here and self._signs_as_test else ()),
            kind_metadata=(document.metadata if isinstance(document.metadata, KindMetadata)
                           else None))

    @property
    def _signs_as_test(self) -> bool:
        return (self.signing_identity is not None
                and self.signing_identity.certificate_info.test_only)

    def _sign_xml(self, document: ValidatedDocument, sign: bool) -> tuple[bytes, str, bool]:
        """(bytes to store, their SHA-256, whether signed here)."""
        data = document.raw
        if sign:
            if self.signing_identity is None:
                raise ConfigurationError(
                    "no signing identity: set CERTREG_SIGNING_KEY, CERTREG_SIGNING_CERTIFICATE "
                    "and CERTREG_SIGNING_PASSWORD, or run `certreg up` on this data directory "
                    "for a TEST one on the development chain")
            try:
                signed = sign_document(data, self.signing_identity, parsed=document.tree)
                return signed.data, signed.sha256, True
            except DocumentAlreadySignedError:
                pass  # verified below and kept byte for byte
        verification = verify_signature(data)
        if verification.status is SignatureStatus.INVALID:
            raise SignatureInvalidError(
                f"the document's own signature does not verify: {verification.reason}")
        return data, document.sha256, False

    def prepare(self, source: DocumentSource, document_type: DocumentType | str,
                issuer_metadata: Mapping[str, object] | None = None, *,
                sign: bool = True) -> SignedCertificate:
        """Validate, sign, hash: everything before anything is stored (`--dry-run`)."""
        return self.sign(self.validate(source, document_type, issuer_metadata), sign=sign)


# ----------------------------------------------------------------------- pool

# Documents each worker may have queued or finished ahead of the caller when the caller
# asks for no more (`ahead`): little enough that memory does not grow with N.
IN_FLIGHT_PER_WORKER = 16
# Documents per task given to a worker (its results come back together).
TASK_DOCUMENTS = 4

T = TypeVar("T")


@dataclass(frozen=True)
class Rejection:
    """A document refused by validation or signature checks (a DocumentError, by value)."""

    code: str
    message: str


Prepared: TypeAlias = SignedCertificate | Rejection

_worker_preparer: CertificatePreparer | None = None


def default_workers() -> int:
    """One worker per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _install_preparer(preparer: CertificatePreparer, caller: int) -> None:
    global _worker_preparer
    _die_with(caller)
    _worker_preparer = preparer


_PR_SET_PDEATHSIG = 1


def _die_with(caller: int) -> None:
    """A worker must not outlive its caller: after a SIGKILL of the caller alone it would
    wait forever and keep the issuance lock (an inherited flock) held, so the next run
    could not start. Linux kills it with its parent (prctl PR_SET_PDEATHSIG)."""
    try:
        prctl = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).prctl
    except (OSError, AttributeError, TypeError):
        return
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != caller:
        os._exit(1)  # the caller died before the request took effect


def _prepare_in_worker(sources: Sequence[DocumentSource], document_type: DocumentType | str,
                       issuer_metadata: Mapping[str, object] | None,
                       sign: bool) -> tuple[list[Prepared], dict[str, float]]:
    preparer = _worker_preparer
    assert preparer is not None, "the pool initialiser did not run"
    preparer.timings.seconds.clear()
    return [prepare_one(preparer, source, document_type, issuer_metadata, sign)
            for source in sources], dict(preparer.timings.seconds)


def prepare_one(preparer: CertificatePreparer, source: DocumentSource,
                document_type: DocumentType | str,
                issuer_metadata: Mapping[str, object] | None, sign: bool) -> Prepared:
    try:
        return preparer.prepare(source, document_type, issuer_metadata, sign=sign)
    except DocumentError as exc:
        return Rejection(exc.code, exc.message)


class PreparationPool:
    """`prepare_one` over many documents, on `workers` processes (1: in this process)."""

    def __init__(self, preparer: CertificatePreparer, workers: int, *, ahead: int = 0) -> None:
        """`ahead`: documents the caller consumes in a burst (e.g. a store batch); the
        workers keep preparing that many more meanwhile instead of waiting for it."""
        if workers < 1:
            raise ConfigurationError("at least one worker is needed", workers=workers)
        self.preparer = preparer
        self.workers = workers
        self.ahead = ahead
        self._executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> PreparationPool:
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
        items = iter(items)
        first = list(itertools.islice(items, 2))
        if self.workers == 1 or len(first) < 2:
            # One document (an API request, `supersede`) is not worth starting processes.
            for tag, source in itertools.chain(first, items):
                yield tag, prepare_one(self.preparer, source, document_type,
                                       issuer_metadata, sign)
            return
        if self._executor is None:
            # fork: the workers inherit the unlocked signing key instead of receiving it.
            self._executor = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("fork"),
                initializer=_install_preparer, initargs=(self.preparer, os.getpid()))
        executor = self._executor
        pending: deque[tuple[list[T], Future[tuple[list[Prepared], dict[str, float]]]]] = deque()
        limit = self.workers * IN_FLIGHT_PER_WORKER + self.ahead  # documents
        in_flight = 0
        # TASK_DOCUMENTS to a task: each task costs this process as much as a document's
        # bytes do (queues, futures, the feeder and result threads), so fewer of them.
        for chunk in _chunks(itertools.chain(first, items), TASK_DOCUMENTS):
            pending.append(([tag for tag, _ in chunk], executor.submit(
                _prepare_in_worker, [source for _, source in chunk], document_type,
                issuer_metadata, sign)))
            in_flight += len(chunk)
            while pending and (in_flight >= limit or pending[0][1].done()):
                collected = self._collect(pending)
                in_flight -= len(collected)
                yield from collected
        while pending:
            yield from self._collect(pending)

    def _collect(self, pending: deque[tuple[list[T], Future[tuple[list[Prepared],
                                                                   dict[str, float]]]]]
                 ) -> list[tuple[T, Prepared]]:
        tags, future = pending.popleft()
        prepared, seconds = future.result()
        for stage, spent in seconds.items():
            # Summed over the workers: time per worker, not the run's wall time.
            self.preparer.timings.seconds[stage] = (
                self.preparer.timings.seconds.get(stage, 0.0) + spent)
        return list(zip(tags, prepared, strict=True))


def _chunks(items: Iterator[tuple[T, DocumentSource]], size: int
            ) -> Iterator[list[tuple[T, DocumentSource]]]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk
