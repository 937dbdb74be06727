"""Instruments: the instruments (and instrument types) each anchored document states.

Mentions of documents indexed before this revision are backfilled from their public
metadata, with the extraction the indexer uses, so no reindex is needed after upgrading.

Revision ID: 0007_instruments
Revises: 0006_unit_search
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0007_instruments"
down_revision: str | None = "0006_unit_search"
branch_labels: str | None = None
depends_on: str | None = None

_BACKFILL_ROWS = 1_000
_TEXT_COLUMNS = ("role", "serial_key", "manufacturer_key", "model_key", "approval_key",
                 "classifier_key", "serial", "manufacturer", "model", "approval_number")


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "instrument_mentions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.String(length=16 if name == "role" else 255), nullable=False)
          for name in _TEXT_COLUMNS),
        sa.ForeignKeyConstraint(
            ["document_id"], ["chain_documents.id"],
            name=op.f("fk_instrument_mentions_document_id_chain_documents"),
            ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instrument_mentions")),
    )
    with op.batch_alter_table("instrument_mentions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_instrument_mentions_document_id"),
                              ["document_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_instrument_mentions_classifier_key"),
                              ["classifier_key"], unique=False)
        batch_op.create_index("ix_instrument_mentions_serial",
                              ["serial_key", "manufacturer_key"], unique=False)
        batch_op.create_index("ix_instrument_mentions_approval", ["approval_key", "role"],
                              unique=False)
        batch_op.create_index("ix_instrument_mentions_manufacturer",
                              ["manufacturer_key", "model_key"], unique=False)
    _backfill(op.get_bind())


def _backfill(connection: sa.Connection) -> None:
    from registry.db.instruments import mention_rows

    documents = sa.table("chain_documents", sa.column("id", sa.Integer),
                         sa.column("metadata", sa.JSON), sa.column("encrypted", sa.Boolean))
    mentions = sa.table("instrument_mentions", sa.column("document_id"),
                        sa.column("position"), *(sa.column(name) for name in _TEXT_COLUMNS))
    rows: list[dict[str, Any]] = []
    for document_id, metadata, encrypted in connection.execute(sa.select(
            documents.c.id, documents.c.metadata, documents.c.encrypted)):
        rows += mention_rows(document_id, metadata, bool(encrypted))
        if len(rows) >= _BACKFILL_ROWS:
            connection.execute(mentions.insert(), rows)
            rows = []
    if rows:
        connection.execute(mentions.insert(), rows)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("instrument_mentions", schema=None) as batch_op:
        for name in ("ix_instrument_mentions_manufacturer", "ix_instrument_mentions_approval",
                     "ix_instrument_mentions_serial"):
            batch_op.drop_index(name)
        batch_op.drop_index(batch_op.f("ix_instrument_mentions_classifier_key"))
        batch_op.drop_index(batch_op.f("ix_instrument_mentions_document_id"))
    op.drop_table("instrument_mentions")
