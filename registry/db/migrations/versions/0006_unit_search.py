"""Search by unit: the units of each DCC's quantities, keyed alike in D-SI and UCUM,
as `document_identifiers` rows of kind "unit".

No schema change. Documents indexed before this revision get their unit rows from their
public metadata, with the extraction the indexer uses, so no reindex is needed. Any unit
rows already there (0003's backfill uses the same extraction) are replaced, not doubled.

Revision ID: 0006_unit_search
Revises: 0005_signing_certificates
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006_unit_search"
down_revision: str | None = "0005_signing_certificates"
branch_labels: str | None = None
depends_on: str | None = None

_BACKFILL_ROWS = 1_000

_identifiers = sa.table("document_identifiers", sa.column("document_id", sa.Integer),
                        sa.column("kind", sa.String), sa.column("value", sa.String))


def upgrade() -> None:
    """Upgrade schema."""
    from registry.db.search import UNIT, search_fields

    connection = op.get_bind()
    connection.execute(_identifiers.delete().where(_identifiers.c.kind == UNIT))
    documents = sa.table("chain_documents", sa.column("id", sa.Integer),
                         sa.column("metadata", sa.JSON), sa.column("encrypted", sa.Boolean))
    rows: list[dict[str, Any]] = []
    for document_id, metadata, encrypted in connection.execute(sa.select(
            documents.c.id, documents.c.metadata, documents.c.encrypted)).all():
        rows += [{"document_id": document_id, "kind": kind, "value": value}
                 for kind, value in search_fields(metadata, bool(encrypted)).identifiers
                 if kind == UNIT]
        if len(rows) >= _BACKFILL_ROWS:
            connection.execute(_identifiers.insert(), rows)
            rows = []
    if rows:
        connection.execute(_identifiers.insert(), rows)


def downgrade() -> None:
    """Downgrade schema."""
    op.get_bind().execute(_identifiers.delete().where(_identifiers.c.kind == "unit"))
