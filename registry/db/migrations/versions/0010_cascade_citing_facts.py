"""Citing facts on certificate_citations: the citing anchoring's block, batch, issuer,
number, calibration date, the date the cascade compares and whether the digest was
anchored before, so that the revocation cascade walks certificate_citations alone.

Backfilled here from chain_documents and chain_batches (registry.db.traceability.
record_citing_facts, what the indexer runs for each batch it indexes).

Revision ID: 0010_cascade_citing_facts
Revises: 0009_evidence_renewals
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010_cascade_citing_facts"
down_revision: str | None = "0009_evidence_renewals"
branch_labels: str | None = None
depends_on: str | None = None

_COLUMNS = (
    ("citing_block_number", sa.BigInteger()),
    ("citing_batch_id", sa.BigInteger()),
    ("citing_issuer_id", sa.String(length=64)),
    ("citing_number", sa.String(length=255)),
    ("citing_calibration_date", sa.Date()),
    ("citing_relied_on", sa.Date()),
    ("citing_reanchored", sa.Boolean()),
)


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("certificate_citations", schema=None) as batch_op:
        for name, type_ in _COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))
    from registry.db.traceability import record_citing_facts

    record_citing_facts(op.get_bind())


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("certificate_citations", schema=None) as batch_op:
        for name, _ in reversed(_COLUMNS):
            batch_op.drop_column(name)
