"""The registry's tables, as SQLAlchemy 2 typed ORM models (SQLite and PostgreSQL).

Two kinds of rows:

* the issuance OUTBOX (`issued_documents`, `outbox_batches`): what this registry has
  signed, stored and sealed and still has to get onto the chain. Issuance writes it;
  the indexer moves rows to `anchored` once it has seen the chain say so.
* the chain PROJECTION (`chain_*`, `audit_events`, `indexer_state`): written only by
  the indexer, from contract events and the batch manifests on IPFS. It can be dropped
  and rebuilt from chain + IPFS at any time.

Portability: hashes are 64-character lowercase hex without 0x (easy to index and compare
on both databases), addresses checksummed 0x strings, JSON as the JSON type, times as
UTC (`UtcDateTime` stores naive UTC and hands back aware datetimes on both backends).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from registry.documents.model import CanonicalJson

HASH_HEX = 64
ADDRESS = 42
TX_HASH = 66  # 0x-prefixed, as web3 and the receipts write it
CID_LENGTH = 128

# Deterministic constraint names: Alembic migrations on SQLite need named constraints.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the registry stores UTC times only")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None,
                             dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


class PublishedJson(TypeDecorator[Any]):
    """The JSON type, except that text already encoded (`CanonicalJson`, made by the
    issuance worker that read the document) is written as it is instead of encoded again.
    Every other value is encoded by the engine's serializer, which is `canonical_json_text`
    too (registry.db.engine), so a row holds the same text whichever way it came."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        encode = super().bind_processor(dialect)
        as_is = _encoded_json_parameter(dialect)

        def process(value: Any) -> Any:
            if type(value) is CanonicalJson:
                return as_is(value)
            return value if encode is None else encode(value)

        return process


def _encoded_json_parameter(dialect: Dialect) -> Callable[[CanonicalJson], Any]:
    """How `dialect`'s driver takes JSON text for a JSON column."""
    if dialect.driver == "psycopg":
        # psycopg binds JSON through its Json wrapper; its `dumps` here is the identity.
        from psycopg.types.json import Json

        return lambda text: Json(text, dumps=str)
    if dialect.name == "sqlite":
        return str  # SQLite's JSON is TEXT
    # Any other driver: decoded and encoded again by the JSON type, as before.
    encode = JSON().bind_processor(dialect)
    return lambda text: text.decoded() if encode is None else encode(text.decoded())


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class DocumentState(StrEnum):
    STORED = "stored"  # signed, hashed, in the content store, waiting for a batch
    BATCHED = "batched"  # member of a sealed batch (manifest written)
    ANCHORED = "anchored"  # the indexer saw its batch on chain


# chain_batches.manifest_status: whether the batch's manifest could be read from IPFS.
MANIFEST_OK = "ok"
MANIFEST_MISSING = "missing"  # not retrievable now; retried on every catch-up
MANIFEST_RENEWAL = "renewal"  # a renewal manifest: evidence renewals, no new documents
MANIFEST_INVALID = "invalid"  # retrieved, but does not describe the anchored root


class BatchState(StrEnum):
    SEALED = "sealed"  # root and manifest fixed, nothing sent
    SUBMITTED = "submitted"  # signed transaction persisted (then broadcast)
    ANCHORED = "anchored"  # the indexer saw BatchAnchored for this root


class IssuedDocument(Base):
    """One document this registry issued (outbox). Never holds a key or private metadata."""

    __tablename__ = "issued_documents"
    __table_args__ = (
        UniqueConstraint("issuer_id", "sha256", name="uq_issued_documents_issuer_sha256"),
        UniqueConstraint("issuer_id", "source_sha256",
                         name="uq_issued_documents_issuer_source_sha256"),
        Index("ix_issued_documents_state", "issuer_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    issuer_id: Mapped[str] = mapped_column(String(HASH_HEX))
    # SHA-256 of the exact signed bytes: the anchored value.
    sha256: Mapped[str] = mapped_column(String(HASH_HEX))
    # SHA-256 of the bytes as submitted (before we signed them): re-submitting the same
    # input after a crash must find this row, not sign a second, different certificate.
    source_sha256: Mapped[str] = mapped_column(String(HASH_HEX))
    cid: Mapped[str] = mapped_column(String(CID_LENGTH))
    document_type: Mapped[str] = mapped_column(String(40))
    unique_identifier: Mapped[str | None] = mapped_column(String(255))
    # Public metadata only: None for encrypted documents (their metadata is confidential).
    public_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", PublishedJson)
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    size: Mapped[int] = mapped_column(BigInteger)
    source_name: Mapped[str | None] = mapped_column(String(1024))
    state: Mapped[str] = mapped_column(String(16), default=DocumentState.STORED.value)
    batch_root: Mapped[str | None] = mapped_column(
        String(HASH_HEX), ForeignKey("outbox_batches.root"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)


class OutboxBatch(Base):
    """A sealed batch and, once prepared, its signed anchoring transaction (outbox)."""

    __tablename__ = "outbox_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    root: Mapped[str] = mapped_column(String(HASH_HEX), unique=True)
    issuer_id: Mapped[str] = mapped_column(String(HASH_HEX), index=True)
    count: Mapped[int] = mapped_column(Integer)
    manifest_cid: Mapped[str] = mapped_column(String(CID_LENGTH))
    state: Mapped[str] = mapped_column(String(16), default=BatchState.SEALED.value)
    # The signed transaction is persisted BEFORE it is broadcast: after a crash the very
    # same bytes (same nonce, same hash) are re-sent, so no second anchoring can happen.
    signed_tx: Mapped[str | None] = mapped_column(Text)
    tx_hash: Mapped[str | None] = mapped_column(String(TX_HASH))
    tx_nonce: Mapped[int | None] = mapped_column(BigInteger)
    tx_sender: Mapped[str | None] = mapped_column(String(ADDRESS))
    batch_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


# ----------------------------------------------------------------- projection


class IndexerState(Base):
    """How far the indexer got, per contract: resume point and reorg check."""

    __tablename__ = "indexer_state"

    contract_address: Mapped[str] = mapped_column(String(ADDRESS), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    deployment_block: Mapped[int] = mapped_column(BigInteger)
    last_block: Mapped[int] = mapped_column(BigInteger)  # deployment_block - 1 before any
    last_block_hash: Mapped[str | None] = mapped_column(String(TX_HASH))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)


class ChainBatch(Base):
    __tablename__ = "chain_batches"

    batch_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    issuer_id: Mapped[str] = mapped_column(String(HASH_HEX), index=True)
    root: Mapped[str] = mapped_column(String(HASH_HEX), unique=True)
    count: Mapped[int] = mapped_column(Integer)
    manifest_cid: Mapped[str] = mapped_column(String(CID_LENGTH))
    # ok | missing (not retrievable yet: retried on every catch-up) | invalid (wrong root).
    manifest_status: Mapped[str] = mapped_column(String(16))
    operator: Mapped[str] = mapped_column(String(ADDRESS))
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    block_hash: Mapped[str] = mapped_column(String(TX_HASH))
    tx_hash: Mapped[str] = mapped_column(String(TX_HASH))
    log_index: Mapped[int] = mapped_column(Integer)
    anchored_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ChainDocument(Base):
    """A document as its batch manifest lists it, with its proof against the batch root."""

    __tablename__ = "chain_documents"
    __table_args__ = (UniqueConstraint("sha256", "batch_id",
                                       name="uq_chain_documents_sha256_batch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(HASH_HEX), index=True)
    batch_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("chain_batches.batch_id", ondelete="CASCADE"), index=True)
    issuer_id: Mapped[str] = mapped_column(String(HASH_HEX), index=True)
    cid: Mapped[str] = mapped_column(String(CID_LENGTH), index=True)
    document_type: Mapped[str] = mapped_column(String(40), index=True)
    unique_identifier: Mapped[str | None] = mapped_column(String(255), index=True)
    public_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", PublishedJson)
    encrypted: Mapped[bool] = mapped_column(Boolean)
    proof: Mapped[list[str]] = mapped_column(JSON)  # 0x-hex siblings, leaf to root
    block_number: Mapped[int] = mapped_column(BigInteger)
    # Searchable dates, copied out of the public metadata at index time (registry.db.search)
    # so that search is indexed SQL, not a scan of JSON. None for encrypted documents.
    issued_on: Mapped[dt.date | None] = mapped_column(Date, index=True)
    calibrated_from: Mapped[dt.date | None] = mapped_column(Date, index=True)
    calibrated_to: Mapped[dt.date | None] = mapped_column(Date, index=True)
    # The hash the contract knows the document by, when it is not its SHA-256: a migrated
    # document's migration leaf (docs/evidence-records.md, "Mapping"). None otherwise.
    anchored_hash: Mapped[str | None] = mapped_column(String(HASH_HEX), index=True)
    # What binds a migrated document's SHA-256 to that leaf: "<algorithm>:<hex>" of the
    # digest of the evidence the migration covers (leaf = H(sha256 || that digest)), so
    # verification recomputes the leaf rather than trusting the row's claim of one.
    migration_binding: Mapped[str | None] = mapped_column(String(80))
    # When a migrated document was first anchored (its receipt's time, which its evidence
    # covers): what traceability compares, not the migration's time. None otherwise.
    original_anchored_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class DocumentIdentifier(Base):
    """One searchable value of a document's public metadata (serial number, manufacturer,
    model, identification, certificate number), normalised (registry.db.search)."""

    __tablename__ = "document_identifiers"
    __table_args__ = (Index("ix_document_identifiers_kind_value", "kind", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("chain_documents.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(255))


class CertificateCitation(Base):
    """A certificate a document cites (registry.documents.citations), for traceability
    trees (citing -> cited) and the revocation cascade (cited -> citing)."""

    __tablename__ = "certificate_citations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("chain_documents.id", ondelete="CASCADE"), index=True)
    citing_sha256: Mapped[str] = mapped_column(String(HASH_HEX), index=True)
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(32))
    referral: Mapped[str] = mapped_column(String(255))
    referral_id: Mapped[str] = mapped_column(String(255))
    # normalised (registry.db.search.normalise) for lookups by certificate number
    referral_id_key: Mapped[str] = mapped_column(String(255), index=True)
    procedure: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(255))
    cited_sha256: Mapped[str | None] = mapped_column(String(HASH_HEX), index=True)
    # The citing anchoring's own facts (its chain_documents row and batch), copied here by
    # registry.db.traceability.record_citing_facts so that the cascade walks this table
    # alone: at a million citations, joining the wide chain_documents rows was most of its
    # time. Immutable once written (an anchoring's facts never change); rebuilt by reindex.
    citing_block_number: Mapped[int | None] = mapped_column(BigInteger)
    citing_batch_id: Mapped[int | None] = mapped_column(BigInteger)
    citing_issuer_id: Mapped[str | None] = mapped_column(String(HASH_HEX))
    citing_number: Mapped[str | None] = mapped_column(String(255))  # unique_identifier
    citing_calibration_date: Mapped[dt.date | None] = mapped_column(Date)
    # What the cascade compares with a revocation's effective date: the calibration date,
    # else (undated) the UTC day the anchoring's batch was anchored.
    citing_relied_on: Mapped[dt.date | None] = mapped_column(Date)
    # Another anchoring of the same digest came before this one (chain order): only then
    # can the cascade meet the digest twice at different blocks.
    citing_reanchored: Mapped[bool | None] = mapped_column(Boolean)


# chain_accreditations.document_status, like chain_batches.manifest_status (plus "none"
# for a withdrawal, which has no document).
ACCREDITATION_NONE = "none"


class ChainAccreditation(Base):
    """One accreditation version of an issuer (AccreditationRecorded) with its document."""

    __tablename__ = "chain_accreditations"
    __table_args__ = (UniqueConstraint("issuer_id", "version",
                                       name="uq_chain_accreditations_issuer_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    issuer_id: Mapped[str] = mapped_column(String(HASH_HEX), index=True)
    version: Mapped[int] = mapped_column(Integer)
    document_sha256: Mapped[str | None] = mapped_column(String(HASH_HEX))
    document_cid: Mapped[str] = mapped_column(String(CID_LENGTH))
    effective_from: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # The document as read from IPFS and checked against its on-chain hash.
    document: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    document_status: Mapped[str] = mapped_column(String(16))
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    block_hash: Mapped[str] = mapped_column(String(TX_HASH))
    tx_hash: Mapped[str] = mapped_column(String(TX_HASH))
    log_index: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ChainRevocation(Base):
    __tablename__ = "chain_revocations"
    __table_args__ = (UniqueConstraint("issuer_id", "document_sha256",
                                       name="uq_chain_revocations_issuer_document"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    issuer_id: Mapped[str] = mapped_column(String(HASH_HEX))
    document_sha256: Mapped[str] = mapped_column(String(HASH_HEX), index=True)
    batch_id: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(32))
    replacement: Mapped[str | None] = mapped_column(String(HASH_HEX), index=True)
    effective_from: Mapped[int] = mapped_column(BigInteger)
    operator: Mapped[str] = mapped_column(String(ADDRESS))
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    block_hash: Mapped[str] = mapped_column(String(TX_HASH))
    tx_hash: Mapped[str] = mapped_column(String(TX_HASH))
    log_index: Mapped[int] = mapped_column(Integer)
    revoked_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ChainIssuer(Base):
    """An issuer as its events describe it (replayed from audit_events after a reorg)."""

    __tablename__ = "chain_issuers"

    issuer_id: Mapped[str] = mapped_column(String(HASH_HEX), primary_key=True)
    country: Mapped[str] = mapped_column(String(2))
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))
    admin: Mapped[str] = mapped_column(String(ADDRESS))
    metadata_cid: Mapped[str] = mapped_column(String(CID_LENGTH))
    operators: Mapped[list[str]] = mapped_column(JSON, default=list)
    registered_block: Mapped[int] = mapped_column(BigInteger)
    updated_block: Mapped[int] = mapped_column(BigInteger)


class ChainSigningCertificate(Base):
    """An issuer's declaration of a signing certificate or CA, as its latest
    SigningCertificateDeclared and its SigningCertificateWithdrawn events leave it
    (replayed from audit_events after a reorg; the events are the history)."""

    __tablename__ = "chain_signing_certificates"
    __table_args__ = (UniqueConstraint("issuer_id", "certificate_sha256",
                                       name="uq_chain_signing_certificates_issuer_cert"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    issuer_id: Mapped[str] = mapped_column(String(HASH_HEX), index=True)
    certificate_sha256: Mapped[str] = mapped_column(String(HASH_HEX), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # signer | authority
    certificate: Mapped[bytes] = mapped_column(LargeBinary)  # DER, from the event
    # Read from the DER for display; None when the declared bytes are not a certificate.
    subject: Mapped[str | None] = mapped_column(Text)
    valid_from: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    valid_until: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    declared_block: Mapped[int] = mapped_column(BigInteger)
    declared_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    declared_by: Mapped[str] = mapped_column(String(ADDRESS))
    declared_tx_hash: Mapped[str] = mapped_column(String(TX_HASH))
    withdrawn_block: Mapped[int | None] = mapped_column(BigInteger)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    withdrawn_by: Mapped[str | None] = mapped_column(String(ADDRESS))


class AuditEvent(Base):
    """Every contract event, as emitted: the raw trail issue 5's audit builds on."""

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index",
                                       name="uq_audit_events_tx_log"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    args: Mapped[dict[str, Any]] = mapped_column(JSON)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    block_hash: Mapped[str] = mapped_column(String(TX_HASH))
    tx_hash: Mapped[str] = mapped_column(String(TX_HASH))
    log_index: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(ADDRESS), index=True)  # the transaction's sender
    block_time: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # The issuer the event concerns (its `issuerId` argument), for filtering without JSON.
    issuer_id: Mapped[str | None] = mapped_column(String(HASH_HEX), index=True)


class VerdictInputs(Base):
    """What a verdict needs beyond the chain, kept current by the indexer for one indexed
    anchoring (a chain_documents row): the issuer's status at the anchoring block, the
    traceability summary (step 9) and the accreditation-scope result (step 10).

    Derived from the projection alone, so `reindex` rebuilds it. The chain facts (root,
    issuer, block of the batch) are never taken from here: the verify path reads them
    from the chain (cached by batch id once confirmed)."""

    __tablename__ = "verdict_inputs"

    document_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("chain_documents.id", ondelete="CASCADE"), primary_key=True,
        autoincrement=False)
    sha256: Mapped[str] = mapped_column(String(HASH_HEX), index=True)
    issuer_id: Mapped[str] = mapped_column(String(HASH_HEX), index=True)
    block_number: Mapped[int] = mapped_column(BigInteger)  # the anchoring block it was for
    issuer_status_at_issue: Mapped[str | None] = mapped_column(String(16))
    # registry.verify.model.TraceabilityEvidence / ScopeEvidence as dicts (None: none).
    traceability: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    scope: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    computed_block: Mapped[int] = mapped_column(BigInteger)  # indexer_state.last_block then


class EvidenceRenewal(Base):
    """One document's renewal as a renewal manifest (`certreg-renewal-manifest/2`) on IPFS
    and its anchoring on chain say: with the evidence it renewed, enough to rebuild the
    document's evidence record from chain + IPFS alone (registry.evidence_records)."""

    __tablename__ = "evidence_renewals"
    __table_args__ = (UniqueConstraint("document_sha256", "batch_id",
                                       name="uq_evidence_renewals_document_batch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_sha256: Mapped[str] = mapped_column(String(HASH_HEX), index=True)
    # The batch of the renewal's last word (the renewal exists from it on) ...
    batch_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("chain_batches.batch_id", ondelete="CASCADE"), index=True)
    # ... and every word's batch, in order (two for a SHA-512 root).
    word_batch_ids: Mapped[list[int]] = mapped_column(JSON)
    kind: Mapped[str] = mapped_column(String(16))  # hash-tree | migration
    algorithm: Mapped[str] = mapped_column(String(16))
    leaf: Mapped[str] = mapped_column(String(130))  # 0x-hex
    document_digest: Mapped[str | None] = mapped_column(String(130))
    path: Mapped[list[str]] = mapped_column(JSON)
    # The certreg-evidence-record/1 this renewal covers (P_i), as the manifest lists it.
    previous: Mapped[dict[str, Any]] = mapped_column(JSON)
    # A migration's: the revocation the old contract held ({reason, revoked_at,
    # effective_from, replacement}), whose original time the new contract cannot state.
    carried_revocation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)


PROJECTION_TABLES = (VerdictInputs, EvidenceRenewal, CertificateCitation, DocumentIdentifier,
                     ChainDocument,
                     ChainAccreditation, ChainBatch, ChainRevocation, ChainIssuer,
                     ChainSigningCertificate, AuditEvent, IndexerState)


class InstrumentMentionRow(Base):
    """An instrument (or, role "type", an instrument type by approval number) a document
    states, as written and as normalised keys (registry.documents.instruments)."""

    __tablename__ = "instrument_mentions"
    __table_args__ = (
        Index("ix_instrument_mentions_serial", "serial_key", "manufacturer_key"),
        Index("ix_instrument_mentions_approval", "approval_key", "role"),
        Index("ix_instrument_mentions_manufacturer", "manufacturer_key", "model_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("chain_documents.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    serial_key: Mapped[str] = mapped_column(String(255))
    manufacturer_key: Mapped[str] = mapped_column(String(255))
    model_key: Mapped[str] = mapped_column(String(255))
    approval_key: Mapped[str] = mapped_column(String(255))
    classifier_key: Mapped[str] = mapped_column(String(255), index=True)
    serial: Mapped[str] = mapped_column(String(255))
    manufacturer: Mapped[str] = mapped_column(String(255))
    model: Mapped[str] = mapped_column(String(255))
    approval_number: Mapped[str] = mapped_column(String(255))


class ProjectionGeneration(Base):
    """One row counting changes to what verdicts, lookups and search read: database
    triggers (migration 0011) add one in the transaction of every write to those tables,
    whoever makes it, so an API worker keeps responses by generation
    (registry.db.generation) and a commit it has been told of never meets a stale one."""

    __tablename__ = "projection_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(BigInteger)
