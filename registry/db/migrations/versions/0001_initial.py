"""Initial schema: the issuance outbox and the chain projection.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=42), nullable=False),
        sa.Column("block_time", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("tx_hash", "log_index", name="uq_audit_events_tx_log"),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_actor"), ["actor"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_events_block_number"), ["block_number"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_audit_events_name"), ["name"], unique=False)

    op.create_table(
        "chain_batches",
        sa.Column("batch_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("issuer_id", sa.String(length=64), nullable=False),
        sa.Column("root", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("manifest_cid", sa.String(length=128), nullable=False),
        sa.Column("manifest_status", sa.String(length=16), nullable=False),
        sa.Column("operator", sa.String(length=42), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("anchored_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_chain_batches")),
        sa.UniqueConstraint("root", name=op.f("uq_chain_batches_root")),
    )
    with op.batch_alter_table("chain_batches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chain_batches_block_number"), ["block_number"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_chain_batches_issuer_id"), ["issuer_id"], unique=False)

    op.create_table(
        "chain_issuers",
        sa.Column("issuer_id", sa.String(length=64), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("admin", sa.String(length=42), nullable=False),
        sa.Column("metadata_cid", sa.String(length=128), nullable=False),
        sa.Column("operators", sa.JSON(), nullable=False),
        sa.Column("registered_block", sa.BigInteger(), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("issuer_id", name=op.f("pk_chain_issuers")),
    )
    op.create_table(
        "chain_revocations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("issuer_id", sa.String(length=64), nullable=False),
        sa.Column("document_sha256", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("replacement", sa.String(length=64), nullable=True),
        sa.Column("effective_from", sa.BigInteger(), nullable=False),
        sa.Column("operator", sa.String(length=42), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_revocations")),
        sa.UniqueConstraint(
            "issuer_id", "document_sha256", name="uq_chain_revocations_issuer_document"
        ),
    )
    with op.batch_alter_table("chain_revocations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chain_revocations_block_number"), ["block_number"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_chain_revocations_document_sha256"), ["document_sha256"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_chain_revocations_replacement"), ["replacement"], unique=False
        )

    op.create_table(
        "indexer_state",
        sa.Column("contract_address", sa.String(length=42), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("deployment_block", sa.BigInteger(), nullable=False),
        sa.Column("last_block", sa.BigInteger(), nullable=False),
        sa.Column("last_block_hash", sa.String(length=66), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("contract_address", name=op.f("pk_indexer_state")),
    )
    op.create_table(
        "outbox_batches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("root", sa.String(length=64), nullable=False),
        sa.Column("issuer_id", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("manifest_cid", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("signed_tx", sa.Text(), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("tx_nonce", sa.BigInteger(), nullable=True),
        sa.Column("tx_sender", sa.String(length=42), nullable=True),
        sa.Column("batch_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_batches")),
        sa.UniqueConstraint("root", name=op.f("uq_outbox_batches_root")),
    )
    with op.batch_alter_table("outbox_batches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_batches_issuer_id"), ["issuer_id"], unique=False
        )

    op.create_table(
        "chain_documents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("issuer_id", sa.String(length=64), nullable=False),
        sa.Column("cid", sa.String(length=128), nullable=False),
        sa.Column("document_type", sa.String(length=40), nullable=False),
        sa.Column("unique_identifier", sa.String(length=255), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.Column("encrypted", sa.Boolean(), nullable=False),
        sa.Column("proof", sa.JSON(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["chain_batches.batch_id"],
            name=op.f("fk_chain_documents_batch_id_chain_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_documents")),
        sa.UniqueConstraint("sha256", "batch_id", name="uq_chain_documents_sha256_batch"),
    )
    with op.batch_alter_table("chain_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chain_documents_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_chain_documents_issuer_id"), ["issuer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_chain_documents_sha256"), ["sha256"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_chain_documents_unique_identifier"), ["unique_identifier"], unique=False
        )

    op.create_table(
        "issued_documents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("issuer_id", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("cid", sa.String(length=128), nullable=False),
        sa.Column("document_type", sa.String(length=40), nullable=False),
        sa.Column("unique_identifier", sa.String(length=255), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.Column("encrypted", sa.Boolean(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("source_name", sa.String(length=1024), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("batch_root", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_root"],
            ["outbox_batches.root"],
            name=op.f("fk_issued_documents_batch_root_outbox_batches"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issued_documents")),
        sa.UniqueConstraint("issuer_id", "sha256", name="uq_issued_documents_issuer_sha256"),
        sa.UniqueConstraint(
            "issuer_id", "source_sha256", name="uq_issued_documents_issuer_source_sha256"
        ),
    )
    with op.batch_alter_table("issued_documents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_issued_documents_batch_root"), ["batch_root"], unique=False
        )
        batch_op.create_index(
            "ix_issued_documents_state", ["issuer_id", "state", "id"], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("issued_documents", schema=None) as batch_op:
        batch_op.drop_index("ix_issued_documents_state")
        batch_op.drop_index(batch_op.f("ix_issued_documents_batch_root"))

    op.drop_table("issued_documents")
    with op.batch_alter_table("chain_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chain_documents_unique_identifier"))
        batch_op.drop_index(batch_op.f("ix_chain_documents_sha256"))
        batch_op.drop_index(batch_op.f("ix_chain_documents_issuer_id"))
        batch_op.drop_index(batch_op.f("ix_chain_documents_batch_id"))

    op.drop_table("chain_documents")
    with op.batch_alter_table("outbox_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_batches_issuer_id"))

    op.drop_table("outbox_batches")
    op.drop_table("indexer_state")
    with op.batch_alter_table("chain_revocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chain_revocations_replacement"))
        batch_op.drop_index(batch_op.f("ix_chain_revocations_document_sha256"))
        batch_op.drop_index(batch_op.f("ix_chain_revocations_block_number"))

    op.drop_table("chain_revocations")
    op.drop_table("chain_issuers")
    with op.batch_alter_table("chain_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chain_batches_issuer_id"))
        batch_op.drop_index(batch_op.f("ix_chain_batches_block_number"))

    op.drop_table("chain_batches")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_name"))
        batch_op.drop_index(batch_op.f("ix_audit_events_block_number"))
        batch_op.drop_index(batch_op.f("ix_audit_events_actor"))

    op.drop_table("audit_events")
