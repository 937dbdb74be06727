"""Signing certificates declared by issuers (SigningCertificateDeclared/Withdrawn).

The table is a projection: `certreg reindex` fills it from the chain. A database indexed
before this revision has no such events to project, since the contract before it had none.

Revision ID: 0005_signing_certificates
Revises: 0004_trace_accreditation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005_signing_certificates"
down_revision: str | None = "0004_trace_accreditation"
branch_labels: str | None = None
depends_on: str | None = None

_TABLE = "chain_signing_certificates"
_INDEXED = ("issuer_id", "certificate_sha256")


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        _TABLE,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("issuer_id", sa.String(length=64), nullable=False),
        sa.Column("certificate_sha256", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("certificate", sa.LargeBinary(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("valid_from", sa.DateTime(), nullable=False),
        sa.Column("valid_until", sa.DateTime(), nullable=False),
        sa.Column("declared_block", sa.BigInteger(), nullable=False),
        sa.Column("declared_at", sa.DateTime(), nullable=False),
        sa.Column("declared_by", sa.String(length=42), nullable=False),
        sa.Column("declared_tx_hash", sa.String(length=66), nullable=False),
        sa.Column("withdrawn_block", sa.BigInteger(), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=42), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_signing_certificates")),
        sa.UniqueConstraint("issuer_id", "certificate_sha256",
                            name="uq_chain_signing_certificates_issuer_cert"),
    )
    with op.batch_alter_table(_TABLE, schema=None) as batch_op:
        for column in _INDEXED:
            batch_op.create_index(batch_op.f(f"ix_{_TABLE}_{column}"), [column], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table(_TABLE, schema=None) as batch_op:
        for column in _INDEXED:
            batch_op.drop_index(batch_op.f(f"ix_{_TABLE}_{column}"))
    op.drop_table(_TABLE)
