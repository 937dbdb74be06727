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

The `Issuer` (issuer.py) is the one entry point; its methods are written in the module
of the stage they serve: submission.py (validate, sign, store, record), anchoring.py
(seal, anchor), receipts.py (index, receipt files), revocation.py (revoke, supersede).
pipeline.py overlaps those stages within `run`; outcomes.py holds the values they hand
on and report; state.py what they share.
"""

from registry.issuance.issuer import LOCK_FILE, Issuer, load_signing_identity
from registry.issuance.outcomes import (
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
from registry.issuance.pipeline import PIPELINE_AHEAD_MAX, RunPipeline, StoreAhead
from registry.issuance.receipts import RECEIPTS_DIR
from registry.issuance.state import DEFAULT_BATCH_SIZE, STORE_BATCH_SIZE, normalise_sha256
from registry.issuance.submission import RECORDED_METADATA_MAX
from registry.preparation import CertificatePreparer, DocumentSource
from registry.receipts import find_receipt

# With three names that are not issuance's own (CertificatePreparer, DocumentSource,
# find_receipt) but that its callers (the CLI, the API, the tests) take from here.
__all__ = [
    "DEFAULT_BATCH_SIZE",
    "LOCK_FILE",
    "PIPELINE_AHEAD_MAX",
    "RECEIPTS_DIR",
    "RECORDED_METADATA_MAX",
    "STORE_BATCH_SIZE",
    "AnchoringOutcome",
    "CertificatePreparer",
    "DocumentSource",
    "IssuanceReport",
    "Issuer",
    "ProgressListener",
    "RevocationOutcome",
    "RunPipeline",
    "SealedBatch",
    "SilentProgress",
    "StoreAhead",
    "StoredCertificate",
    "SubmissionResult",
    "SubmissionStatus",
    "SupersessionOutcome",
    "find_receipt",
    "load_signing_identity",
    "normalise_sha256",
]
