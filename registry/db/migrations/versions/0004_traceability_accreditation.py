"""Traceability and accreditation: the certificates each document cites, and issuers'
accreditation versions.

Citations of documents indexed before this revision are backfilled from their public
metadata, with the extraction the indexer uses, so no reindex is needed after upgrading.

Revision ID: 0004_trace_accreditation
Revises: 0003_search_audit
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004_trace_accreditation"
down_revision: str | None = "0003_search_audit"
branch_labels: str | None = None
depends_on: str | None = None

_BACKFILL_ROWS = 1_000


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "certificate_citations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("citing_sha256", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("referral", sa.String(length=255), nullable=False),
        sa.Column("referral_id", sa.String(length=255), nullable=False),
        sa.Column("referral_id_key", sa.String(length=255), nullable=False),
        sa.Column("procedure", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("cited_sha256", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["document_id"], ["chain_documents.id"],
            name=op.f("fk_certificate_citations_document_id_chain_documents"),
            ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_citations")),
    )
    with op.batch_alter_table("certificate_citations", schema=None) as batch_op:
        for column in ("document_id", "citing_sha256", "referral_id_key", "cited_sha256"):
            batch_op.create_index(batch_op.f(f"ix_certificate_citations_{column}"), [column],
                                  unique=False)
    op.create_table(
        "chain_accreditations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("issuer_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document_sha256", sa.String(length=64), nullable=True),
        sa.Column("document_cid", sa.String(length=128), nullable=False),
        sa.Column("effective_from", sa.DateTime(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=True),
        sa.Column("document_status", sa.String(length=16), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_accreditations")),
        sa.UniqueConstraint("issuer_id", "version",
                            name="uq_chain_accreditations_issuer_version"),
    )
    with op.batch_alter_table("chain_accreditations", schema=None) as batch_op:
        for column in ("issuer_id", "block_number"):
            batch_op.create_index(batch_op.f(f"ix_chain_accreditations_{column}"), [column],
                                  unique=False)
    _backfill(op.get_bind())


def _backfill(connection: sa.Connection) -> None:
    from registry.db.traceability import citation_rows

    documents = sa.table("chain_documents", sa.column("id", sa.Integer),
                         sa.column("sha256", sa.String), sa.column("metadata", sa.JSON),
                         sa.column("encrypted", sa.Boolean))
    citations = sa.table("certificate_citations", *(sa.column(name) for name in (
        "document_id", "citing_sha256", "position", "role", "referral", "referral_id",
        "referral_id_key", "procedure", "value", "cited_sha256")))
    rows: list[dict[str, Any]] = []
    for document_id, sha256, metadata, encrypted in connection.execute(sa.select(
            documents.c.id, documents.c.sha256, documents.c.metadata, documents.c.encrypted)):
        rows += citation_rows(document_id, sha256, metadata, bool(encrypted))
        if len(rows) >= _BACKFILL_ROWS:
            connection.execute(citations.insert(), rows)
            rows = []
    if rows:
        connection.execute(citations.insert(), rows)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("chain_accreditations", schema=None) as batch_op:
        for column in ("issuer_id", "block_number"):
            batch_op.drop_index(batch_op.f(f"ix_chain_accreditations_{column}"))
    op.drop_table("chain_accreditations")
    with op.batch_alter_table("certificate_citations", schema=None) as batch_op:
        for column in ("document_id", "citing_sha256", "referral_id_key", "cited_sha256"):
            batch_op.drop_index(batch_op.f(f"ix_certificate_citations_{column}"))
    op.drop_table("certificate_citations")
