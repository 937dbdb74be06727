"""Projecting a batch's documents (from its batch manifest, or a migration's renewal
manifest) into chain_documents and the tables derived from them."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from registry.db.instruments import record_instrument_mentions
from registry.db.models import MANIFEST_OK, ChainBatch, ChainDocument
from registry.db.search import record_identifiers, search_fields
from registry.db.traceability import record_citations
from registry.index.manifest import ManifestMember
from registry.index.verdict_inputs import VerdictChanges


@dataclass(frozen=True)
class MigratedDocument:
    """What a migration batch adds to a document's row (docs/evidence-records.md)."""

    anchored_hash: str  # the migration leaf: the hash this contract knows it by (64 hex)
    original_anchored_at: dt.datetime  # its first anchoring, which traceability counts
    migration_binding: str  # "<algorithm>:<hex>" of the covered evidence's digest


def insert_documents(session: Session, batch: ChainBatch, members: Sequence[ManifestMember],
                     proofs: Mapping[str, Sequence[bytes]], changes: VerdictChanges, *,
                     migrated: Mapping[str, MigratedDocument] | None = None) -> None:
    """Insert the batch's documents with their proofs (by SHA-256 hex); `migrated` gives
    the migration's facts of documents a migration batch brings (in the same insert, so
    the citing facts derived from the rows are computed once, with them).

    One bulk insert per table; the documents' search fields are read once, their row ids
    once."""
    migrated = migrated or {}
    fields = [search_fields(member.metadata, member.encrypted) for member in members]
    rows = [{"sha256": member.sha256, "batch_id": batch.batch_id, "issuer_id": batch.issuer_id,
             "cid": member.cid, "document_type": member.document_type,
             "unique_identifier": member.unique_identifier,
             "metadata": (member.metadata if member.metadata_json is None
                          else member.metadata_json),
             "encrypted": member.encrypted,
             "proof": ["0x" + p.hex() for p in proofs[member.sha256]],
             **_migration_columns(migrated.get(member.sha256)),
             "block_number": batch.block_number, **searchable.columns()}
            for member, searchable in zip(members, fields, strict=True)]
    # A bulk insert of rows by column name (Core), not ORM objects: a 10,000-document
    # batch would otherwise keep 10,000 metadata trees in the session until it commits.
    session.execute(insert(ChainDocument.__table__), rows)
    # Their ids in one read (an INSERT .. RETURNING in parameter order would run row by
    # row on SQLite).
    id_of = dict(session.execute(select(ChainDocument.sha256, ChainDocument.id)
                                 .where(ChainDocument.batch_id == batch.batch_id)).all())
    ids = [id_of[member.sha256] for member in members]
    record_identifiers(session, zip(ids, fields, strict=True))
    documents = list(zip(ids, members, strict=True))
    record_citations(session, batch.batch_id,
                     [(i, m.sha256, m.metadata, m.encrypted) for i, m in documents])
    record_instrument_mentions(session, [(i, m.metadata, m.encrypted) for i, m in documents])
    batch.manifest_status = MANIFEST_OK
    changes.documents.update(ids)
    changes.touched.update(m.sha256 for m in members)
    # The rows as inserted (transient, outside the session), so that the verdict inputs
    # need not read them back and decode their JSON again.
    for document_id, member, row in zip(ids, members, rows, strict=True):
        del row["metadata"]  # the text inserted; the transient row takes the decoded value
        changes.inserted[document_id] = (
            ChainDocument(id=document_id, public_metadata=member.metadata, **row), batch)


def _migration_columns(migrated: MigratedDocument | None) -> dict[str, Any]:
    if migrated is None:  # every row of one bulk insert names the same columns
        return {field.name: None for field in dataclasses.fields(MigratedDocument)}
    return dataclasses.asdict(migrated)
