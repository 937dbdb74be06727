"""What the stages of an `Issuer` share: the state `Issuer.__init__` sets and each
stage's methods read (registry.issuance.submission, .anchoring, .receipts, .revocation),
the sizes of issuance's writes, and how a document hash typed in by a person is read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from anchor.chain import RegistryClient
from anchor.store import ContentStore
from registry.errors import DocumentNotFoundError
from registry.index import Indexer
from registry.issuance.outcomes import ProgressListener
from registry.preparation import CertificatePreparer, StageTimings

DEFAULT_BATCH_SIZE = 256
# Documents per durable store write and per outbox transaction during submission.
STORE_BATCH_SIZE = 64


class IssuerState:
    """The attributes of an `Issuer` that its stages work with; `Issuer.__init__` sets
    them. Each stage is a class of methods on top of this state, mixed into `Issuer`."""

    client: RegistryClient
    store: ContentStore
    sessions: sessionmaker[Session]
    issuer_id: bytes
    issuer_hex: str
    data_dir: Path
    indexer: Indexer
    progress: ProgressListener
    timings: StageTimings
    workers: int
    preparer: CertificatePreparer
    # The metadata of outbox rows this object inserted and has not sealed yet, by
    # SHA-256, exactly as inserted: sealing takes it from here instead of decoding
    # the JSON column back (a fifth of the issuing process's time went to that).
    _recorded_metadata: dict[str, Any]


def normalise_sha256(text: str) -> str:
    value = text.strip().lower().removeprefix("0x")
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise DocumentNotFoundError("a document hash is 64 hex digits (optionally 0x-prefixed)",
                                    value=text[:80])
    return value
