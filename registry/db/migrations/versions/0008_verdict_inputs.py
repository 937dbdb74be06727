"""Verdict inputs: what verification needs beyond the chain, kept current by the indexer
(issuer status at issue, traceability summary, accreditation-scope result per anchoring).

Rows for documents indexed before this revision are computed by the indexer on its next
catch-up (it fills every anchoring that has none); until then verification of those
documents takes the uncached path, which gives the same verdict.

Revision ID: 0008_verdict_inputs
Revises: 0007_instruments
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008_verdict_inputs"
down_revision: str | None = "0007_instruments"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "verdict_inputs",
        sa.Column("document_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("issuer_id", sa.String(length=64), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("issuer_status_at_issue", sa.String(length=16), nullable=True),
        sa.Column("traceability", sa.JSON(), nullable=True),
        sa.Column("scope", sa.JSON(), nullable=True),
        sa.Column("computed_block", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"], ["chain_documents.id"],
            name=op.f("fk_verdict_inputs_document_id_chain_documents"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("document_id", name=op.f("pk_verdict_inputs")),
    )
    with op.batch_alter_table("verdict_inputs", schema=None) as batch_op:
        for column in ("sha256", "issuer_id"):
            batch_op.create_index(batch_op.f(f"ix_verdict_inputs_{column}"), [column],
                                  unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("verdict_inputs", schema=None) as batch_op:
        for column in ("issuer_id", "sha256"):
            batch_op.drop_index(batch_op.f(f"ix_verdict_inputs_{column}"))
    op.drop_table("verdict_inputs")
