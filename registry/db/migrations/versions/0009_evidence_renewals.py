"""Evidence renewals: what renewal manifests on IPFS and their anchorings say, so an
evidence record is rebuilt from chain + IPFS alone; and the hash a migrated document
is anchored under on this contract (its migration leaf).

Renewal batches indexed before this revision were marked `invalid`; `certreg reindex`
projects them.

Revision ID: 0009_evidence_renewals
Revises: 0008_verdict_inputs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009_evidence_renewals"
down_revision: str | None = "0008_verdict_inputs"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "evidence_renewals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("document_sha256", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("word_batch_ids", sa.JSON(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("leaf", sa.String(length=130), nullable=False),
        sa.Column("document_digest", sa.String(length=130), nullable=True),
        sa.Column("path", sa.JSON(), nullable=False),
        sa.Column("previous", sa.JSON(), nullable=False),
        sa.Column("carried_revocation", sa.JSON(), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["chain_batches.batch_id"],
            name=op.f("fk_evidence_renewals_batch_id_chain_batches"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_renewals")),
        sa.UniqueConstraint("document_sha256", "batch_id",
                            name="uq_evidence_renewals_document_batch"),
    )
    with op.batch_alter_table("evidence_renewals", schema=None) as batch_op:
        for column in ("document_sha256", "batch_id", "block_number"):
            batch_op.create_index(batch_op.f(f"ix_evidence_renewals_{column}"), [column],
                                  unique=False)
    with op.batch_alter_table("chain_documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("anchored_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("original_anchored_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("migration_binding", sa.String(length=80),
                                      nullable=True))
        batch_op.create_index(batch_op.f("ix_chain_documents_anchored_hash"),
                              ["anchored_hash"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("chain_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chain_documents_anchored_hash"))
        batch_op.drop_column("migration_binding")
        batch_op.drop_column("original_anchored_at")
        batch_op.drop_column("anchored_hash")
    with op.batch_alter_table("evidence_renewals", schema=None) as batch_op:
        for column in ("block_number", "batch_id", "document_sha256"):
            batch_op.drop_index(batch_op.f(f"ix_evidence_renewals_{column}"))
    op.drop_table("evidence_renewals")
