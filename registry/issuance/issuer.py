"""The `Issuer`: issuance's one entry point. Its methods come from the stage each serves
(registry.issuance.submission, .anchoring, .receipts, .revocation); here it is built
from settings, takes the data directory's lock, and `run`/`resume` drive the stages
in order."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from anchor.chain import RegistryClient
from anchor.store import ContentStore
from registry.db import DocumentState, IssuedDocument, open_database
from registry.documents.keys import (
    SigningIdentity,
    load_signing_identity_from_pem,
    load_signing_identity_from_pkcs12,
)
from registry.documents.model import DocumentType
from registry.documents.parse import DEFAULT_MAX_BYTES
from registry.errors import ConfigurationError, OperatorNotAuthorisedError
from registry.index import Indexer, ManifestCache
from registry.issuance.anchoring import AnchoringStage
from registry.issuance.collector import paced_garbage_collection
from registry.issuance.outcomes import (
    IssuanceReport,
    ProgressListener,
    SilentProgress,
    SubmissionResult,
    SubmissionStatus,
)
from registry.issuance.pipeline import RunPipeline, combined_index_reports
from registry.issuance.receipts import ReceiptStage
from registry.issuance.revocation import RevocationStage
from registry.issuance.state import DEFAULT_BATCH_SIZE
from registry.issuance.submission import SubmissionStage
from registry.preparation import CertificatePreparer, DocumentSource, StageTimings, default_workers
from registry.receipts import find_receipts
from registry.settings import Settings

LOCK_FILE = "issuance.lock"


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


def _awaits_receipt(result: SubmissionResult) -> bool:
    return result.sha256 is not None and result.receipt is None and result.status in (
        SubmissionStatus.ACCEPTED, SubmissionStatus.ALREADY_PENDING)


class Issuer(SubmissionStage, AnchoringStage, ReceiptStage, RevocationStage):
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
        self._recorded_metadata = {}  # see IssuerState._recorded_metadata
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

    def run(self, sources: Iterable[DocumentSource | Path | bytes],
            document_type: DocumentType | str = DocumentType.DCC, *,
            batch_size: int = DEFAULT_BATCH_SIZE, encrypt: bool = False, sign: bool = True,
            issuer_metadata: Mapping[str, object] | None = None) -> IssuanceReport:
        """submit + seal + anchor + index + receipts; re-running after a crash finishes."""
        if batch_size < 1:
            raise ConfigurationError("the batch size is at least 1")
        with self.exclusive(), paced_garbage_collection():
            pipeline = RunPipeline(batch_size)
            submissions = self.submit(sources, document_type, encrypt=encrypt, sign=sign,
                                      issuer_metadata=issuer_metadata, pipeline=pipeline)
            return self._finish(submissions, batch_size, pipeline)

    def resume(self, batch_size: int = DEFAULT_BATCH_SIZE) -> IssuanceReport:
        """Finish whatever earlier runs left pending, without submitting anything new."""
        with self.exclusive(), paced_garbage_collection():
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
